"""Geometry for what the plan says beyond one object: a target placed relative to an anchor ("the chair on the
left of the sofa"), a pronoun the image must settle ("her", "them"), a region of the image ("the right
side"), and where an added object goes ("add a cup to the left of the book"). Pure functions on xyxy pixel
boxes: no model, testable on hand-made scenes.

Relations use the boxes only: the direction of the centre offset for left/right/above/below (the nearest
such candidate wins), the gap between boxes for next-to, overlap and containment for on/in/of, the bottom
edges (nearer the camera is lower in the picture) for in-front-of/behind, the span between the two
anchors for between, and how much of the anchor the target covers for with (what it holds, wears or rides).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from refedit.core.geometry import area, center
from refedit.pipeline.artifacts import Box

#: how far apart two candidates' salience (area x score) must be for "him"/"her"/"it" to name one of them
SALIENCE_MARGIN = 1.5
#: generic detector phrases for "them"/"it" and the background: what photos are usually about
SUBJECT_PHRASES = ("person", "dog", "cat", "horse", "bird", "cow", "sheep", "car", "bicycle", "boat", "flower",
                   "building", "tree", "chair", "table", "bottle", "cup", "toy")  # fmt: skip
#: how far (in the target's larger side) what a target holds or wears may lie from it ("the man walking a dog")
WITH_REACH = 0.5
#: typical size of an object as a fraction of its anchor's (width, height), for placements; else PLACED_SIZE
TYPICAL_SIZE = {"cup": 0.5, "mug": 0.5, "glass": 0.5, "vase": 0.8, "lamp": 0.8, "book": 0.8, "cat": 0.6,
                "dog": 0.7, "bird": 0.35, "ball": 0.4, "plant": 0.8, "flower": 0.5, "candle": 0.4, "hat": 0.4,
                "helicopter": 0.6, "balloon": 0.5, "moon": 0.35, "sun": 0.35, "cloud": 0.8, "bench": 1.0,
                "chair": 0.9, "person": 1.0, "tree": 1.2, "car": 1.0}  # fmt: skip
PLACED_SIZE = 0.6


def _overlap_1d(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def contained(box: Box, outer: Box) -> float:
    """The fraction of ``box``'s area inside ``outer``."""
    inter = _overlap_1d(box[0], box[2], outer[0], outer[2]) * _overlap_1d(box[1], box[3], outer[1], outer[3])
    return inter / area(box) if area(box) > 0 else 0.0


def gap(a: Box, b: Box) -> float:
    """The distance between two boxes' nearest edges (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def relation_cost(direction: str, box: Box, anchor: Box, second: Box | None = None) -> float | None:
    """How well ``box`` stands in ``direction`` of ``anchor`` (lower is better), or None when it does not.

    left-of/right-of/above/below: the centre lies on that side of the anchor's centre, more along that axis
    than across it would need to be for another side (|along| >= |across| / 2); cost = centre distance.
    next-to: no more than one anchor size away; cost = edge gap. on: overlaps the anchor horizontally and its
    bottom edge lies in the anchor's upper part or inside it; cost = distance from the box bottom to the
    anchor top. in / of: at least half inside the anchor; cost = 1 - containment. in-front-of / behind:
    overlaps horizontally, bottom edge lower / higher than the anchor's. between: the centre lies between
    the two anchors' centres on the axis that separates them; cost = distance to their midpoint. with (the
    target holds, wears or rides the anchor): the anchor overlaps the target or lies within :data:`WITH_REACH` of
    its size; cost = the part of the anchor outside the target (0: all inside, a hat on a head) plus the gap in
    the target's sizes (a held lead to a dog a little way off).
    """
    (cx, cy), (ax, ay) = center(box), center(anchor)
    dx, dy = cx - ax, cy - ay
    dist = float(np.hypot(dx, dy))
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    sides = {"left-of": (-dx, dy), "right-of": (dx, dy), "above": (-dy, dx), "below": (dy, dx)}
    if direction in sides:
        along, across = sides[direction]
        return dist if along > 0 and along >= abs(across) / 2 else None
    if direction == "next-to":
        g = gap(box, anchor)
        return g if g <= max(aw, ah) and contained(box, anchor) < 0.5 else None
    if direction == "with":
        reach = max(box[2] - box[0], box[3] - box[1])
        g = gap(box, anchor)
        return (1.0 - contained(anchor, box)) + g / reach if reach > 0 and g <= WITH_REACH * reach else None
    horizontal = _overlap_1d(box[0], box[2], anchor[0], anchor[2]) > 0
    if direction == "on":
        bottom_in_top = anchor[1] - 0.25 * ah <= box[3] <= anchor[1] + 0.75 * ah
        return abs(box[3] - anchor[1]) if horizontal and bottom_in_top and cy < ay else None
    if direction in ("in", "of"):
        inside = contained(box, anchor)
        return 1.0 - inside if inside >= 0.5 and area(box) < area(anchor) else None
    if direction == "in-front-of":
        return dist if horizontal and box[3] > anchor[3] else None
    if direction == "behind":
        return dist if horizontal and box[3] < anchor[3] else None
    if direction == "between":
        if second is None:
            return None
        (bx, by) = center(second)
        axis = 0 if abs(bx - ax) >= abs(by - ay) else 1
        lo, hi = sorted((ax, bx) if axis == 0 else (ay, by))
        pos = (cx, cy)[axis]
        mid = ((ax + bx) / 2, (ay + by) / 2)
        return float(np.hypot(cx - mid[0], cy - mid[1])) if lo < pos < hi else None
    raise ValueError(f"unknown relation direction {direction!r}")


def salience(box: Box, score: float) -> float:
    """How much a detection is what a photo is about: its area weighted by the detector's confidence."""
    return area(box) * max(score, 1e-6)


def most_salient(boxes: Sequence[Box], scores: Sequence[float]) -> tuple[int, bool]:
    """The index of the most salient box, and whether it is clearly so (at least :data:`SALIENCE_MARGIN`
    times the runner-up); a single box is clear."""
    order = sorted(range(len(boxes)), key=lambda i: -salience(boxes[i], scores[i]))
    if len(order) == 1:
        return order[0], True
    first, second = (salience(boxes[i], scores[i]) for i in order[:2])
    return order[0], first >= SALIENCE_MARGIN * second


def main_subject(labels: Sequence[str], boxes: Sequence[Box], scores: Sequence[float]) -> str | None:
    """The label whose detections together are the most salient: what "them" and "it" refer to."""
    total: dict[str, float] = {}
    for label, box, score in zip(labels, boxes, scores, strict=True):
        total[label] = total.get(label, 0.0) + salience(box, score)
    return max(total, key=total.__getitem__) if total else None


def region_box(region: str, within: Box) -> Box:
    """The part of ``within`` (the image, or an anchor's box) a region word names: a half for
    left/right/top/bottom, a quarter for a corner (top-left: the top half's left half), the middle third (both axes)
    for center."""
    x0, y0, x1, y1 = within
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = x1 - x0, y1 - y0
    boxes = {"left": (x0, y0, mx, y1), "right": (mx, y0, x1, y1), "top": (x0, y0, x1, my), "bottom": (x0, my, x1, y1),
             "center": (x0 + w / 3, y0 + h / 3, x1 - w / 3, y1 - h / 3),
             "top-left": (x0, y0, mx, my), "top-right": (mx, y0, x1, my), "bottom-left": (x0, my, mx, y1),
             "bottom-right": (mx, my, x1, y1)}  # fmt: skip
    if region not in boxes:
        raise ValueError(f"region {region!r} is not geometric (background/foreground need the objects)")
    return boxes[region]


def space_between(a: Box, b: Box) -> Box | None:
    """The space between two objects' boxes ("add a lamp between the sofa and the chair"): side by side, the gap
    between their facing edges, from the lower top to the lower bottom (the pair's ground line); one above the other,
    the gap between them across their common width. None when they overlap on both axes (no space between)."""
    (l, r) = sorted((a, b), key=lambda box: box[0] + box[2])
    if r[0] - l[2] > 0:  # side by side
        return (l[2], max(l[1], r[1]), r[0], max(l[3], r[3]))
    (t, u) = sorted((a, b), key=lambda box: box[1] + box[3])
    if u[1] - t[3] > 0:  # one above the other
        return (max(t[0], u[0]), t[3], min(t[2], u[2]), u[1]) if min(t[2], u[2]) > max(t[0], u[0]) else (
            min(t[0], u[0]), t[3], max(t[2], u[2]), u[1])
    return None


def placement_box(direction: str, anchor: Box, image_size: tuple[int, int], new_object: str | None) -> Box | None:
    """Where an added object goes: a box beside ``anchor`` in ``direction``, sized for ``new_object`` relative
    to the anchor (:data:`TYPICAL_SIZE`, else :data:`PLACED_SIZE` of the anchor), standing on the same ground
    line for left/right/next-to, centred above or below it otherwise; clipped to the image. None when the
    image leaves less than a quarter of that size there."""
    w, h = image_size
    ax0, ay0, ax1, ay1 = anchor
    aw, ah = ax1 - ax0, ay1 - ay0
    name = (new_object or "").split()[-1] if new_object else ""
    f = TYPICAL_SIZE.get(name, PLACED_SIZE)
    bw, bh = f * aw, f * ah
    margin = 0.05 * aw
    acx = (ax0 + ax1) / 2
    if direction in ("left-of", "next-to"):
        box = (ax0 - margin - bw, ay1 - bh, ax0 - margin, ay1)
        if direction == "next-to" and box[0] < 0:  # no room on the left: the right side
            box = (ax1 + margin, ay1 - bh, ax1 + margin + bw, ay1)
    elif direction == "right-of":
        box = (ax1 + margin, ay1 - bh, ax1 + margin + bw, ay1)
    elif direction in ("above", "on"):
        gap_y = 0.0 if direction == "on" else 0.05 * ah
        box = (acx - bw / 2, ay0 - gap_y - bh, acx + bw / 2, ay0 - gap_y)
    elif direction == "below":
        box = (acx - bw / 2, ay1 + 0.05 * ah, acx + bw / 2, ay1 + 0.05 * ah + bh)
    elif direction in ("in-front-of", "behind"):
        box = (acx - bw / 2, ay1 - bh * (0.6 if direction == "behind" else 0.2), acx + bw / 2,
               ay1 + bh * (0.4 if direction == "in-front-of" else -0.4))  # fmt: skip
    elif direction in ("in", "of", "between"):
        box = (acx - bw / 2, (ay0 + ay1) / 2 - bh / 2, acx + bw / 2, (ay0 + ay1) / 2 + bh / 2)
    else:
        raise ValueError(f"unknown placement direction {direction!r}")
    clipped = (max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3]))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1] or area(clipped) < 0.25 * area(box):
        return None
    return clipped
