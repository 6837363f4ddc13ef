"""The referring resolver: pure functions that pick, among detected candidates, the one(s) the target
refers to (spatial, ordinal, size, "all"). No model is needed; the decision depends on geometry only,
never on which box the detector happened to score higher (InstructEdit's Fig. 9 failure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from refedit.core.geometry import area, box_iou, center
from refedit.pipeline.artifacts import Box, Candidate, Target

ORDINAL_NAMES = {1: "first", 2: "second", 3: "third", -1: "last"}
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


@dataclass(frozen=True)
class Resolution:
    """Chosen candidate indices and a one-line reason."""

    chosen: tuple[int, ...]
    reason: str


def corner_distance(box: Box, corner: str, image_size: tuple[int, int]) -> float:
    """How far the box centre is from an image ``corner`` ("top-left", "bottom-right", ...): the L1
    distance in coordinates normalised by the image size (W, H), i.e. ``cx/W + cy/H`` for top-left and
    ``(1 - cx/W) + (1 - cy/H)`` for bottom-right. 0 at the corner, 2 at the opposite one; both axes
    weigh the same whatever the aspect ratio."""
    vertical, horizontal = corner.split("-")
    (cx, cy), (w, h) = center(box), image_size
    fx = cx / w if horizontal == "left" else 1.0 - cx / w
    fy = cy / h if vertical == "top" else 1.0 - cy / h
    return fx + fy


def spatial_key(spatial: str, image_size: tuple[int, int]) -> Callable[[Candidate], float]:
    """Sort key: the candidate the spatial word names first sorts first.

    left/right/top/bottom by box centre; middle by distance of the centre to the image centre; front by
    the bottom edge (lowest in the picture is nearest the camera), back the reverse; a corner
    ("top-left") by :func:`corner_distance`, so two axes count at once.
    """
    w, h = image_size
    if spatial in CORNERS:
        return lambda c: corner_distance(c.box, spatial, image_size)
    keys: dict[str, Callable[[Candidate], float]] = {
        "left": lambda c: center(c.box)[0],
        "right": lambda c: -center(c.box)[0],
        "top": lambda c: center(c.box)[1],
        "bottom": lambda c: -center(c.box)[1],
        "middle": lambda c: (center(c.box)[0] - w / 2) ** 2 + (center(c.box)[1] - h / 2) ** 2,
        "front": lambda c: -c.box[3],
        "back": lambda c: c.box[3],
    }
    return keys[spatial]


def _describe(n: int, head: str) -> str:
    return f"{n} '{head}' detection{'s' if n != 1 else ''}"


def _ordinal_word(k: int) -> str:
    return ORDINAL_NAMES.get(k, f"{k}th")


def _in_region(c: Candidate, spatial: str, image_size: tuple[int, int]) -> bool:
    """For plural targets with a spatial word: is the candidate's centre in that part of the image (a
    corner: in both halves, e.g. the left half and the top half)?"""
    if spatial in CORNERS:
        return all(_in_region(c, axis, image_size) for axis in spatial.split("-"))
    w, h = image_size
    cx, cy = center(c.box)
    return {
        "left": cx < w / 2,
        "right": cx >= w / 2,
        "top": cy < h / 2,
        "bottom": cy >= h / 2,
        "middle": abs(cx - w / 2) < w / 4 and abs(cy - h / 2) < h / 4,
        "front": c.box[3] >= h / 2,
        "back": c.box[3] < h / 2,
    }[spatial]


def resolve(candidates: Sequence[Candidate], target: Target, image_size: tuple[int, int]) -> Resolution:
    """Choose the candidate(s) ``target`` refers to among ``candidates`` in an image of ``image_size`` (W, H).

    Order of precedence: ordinal (counted from the spatial side or corner, left to right by default), then
    spatial superlative (a corner: the smallest :func:`corner_distance`), then size, then "all", then the
    highest score. Ties keep the higher-scoring candidate. ``ordinal=-1`` with a side is the last counted
    from that side ("the last cat from the left" is the right-most); the parser writes "the last horse
    on the right" as ``ordinal=1, spatial="right"``.
    Returns an empty choice (and says why) when there is no candidate or the ordinal exceeds the count.
    """
    n = len(candidates)
    what = _describe(n, target.head)
    if n == 0:
        return Resolution((), f"no '{target.head}' detections")
    by_score = sorted(range(n), key=lambda i: -candidates[i].score)
    if target.ordinal is not None:
        side = target.spatial or "left"
        order = sorted(by_score, key=lambda i: spatial_key(side, image_size)(candidates[i]))
        k = target.ordinal
        if k > n:
            return Resolution((), f"asked for the {_ordinal_word(k)} from the {side} but found only {what}")
        pick = order[k - 1] if k > 0 else order[-1]
        return Resolution((pick,), f"{_ordinal_word(k)} from the {side} of {what}")
    if target.spatial is not None and target.all:
        chosen = tuple(i for i in by_score if _in_region(candidates[i], target.spatial, image_size))
        if chosen:
            return Resolution(chosen, f"{len(chosen)} of {what} in the {target.spatial} part of the image")
    if target.spatial is not None:
        pick = min(by_score, key=lambda i: spatial_key(target.spatial, image_size)(candidates[i]))  # type: ignore[arg-type]
        word = {"left": "left-most", "right": "right-most", "top": "top-most", "bottom": "bottom-most",
                "middle": "most central", "front": "front-most (lowest)", "back": "back-most (highest)",
                **{k: f"nearest the {k} corner" for k in CORNERS}}[target.spatial]  # fmt: skip
        return Resolution((pick,), f"{word} of {what}")
    if target.size is not None:
        sign = -1.0 if target.size == "largest" else 1.0
        pick = min(by_score, key=lambda i: sign * area(candidates[i].box))
        return Resolution((pick,), f"{target.size} of {what}")
    if target.all:
        return Resolution(tuple(by_score), f"all {what}")
    return Resolution((by_score[0],), f"highest-scoring of {what} (score {candidates[by_score[0]].score:.2f})")


def nms(candidates: Sequence[Candidate], iou: float) -> list[Candidate]:
    """Greedy non-maximum suppression: keep the best-scoring of boxes overlapping more than ``iou``."""
    kept: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: -c.score):
        if all(box_iou(c.box, k.box) <= iou for k in kept):
            kept.append(c)
    return kept
