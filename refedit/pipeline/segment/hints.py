"""User hints (FlexEdit): rough boxes, points or a free-shape scribble that pick among detected
candidates, or prompt SAM directly when they touch no detection (or the text names no detectable
object). Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

from refedit.errors import BadInput
from refedit.pipeline.artifacts import Box, Candidate, Hints, Point
from refedit.core.masks import box_mask, fill_holes, mask_box
from refedit.core.geometry import area, box_iou, overlap_of_smaller


@dataclass(frozen=True)
class HintChoice:
    """What the hints pick: ``chosen`` candidate indices (one per hint that touches a candidate, in hint
    order, without repeats), ``reason`` one clause per picking hint, and ``unmatched`` the hints that touch
    no candidate (they prompt SAM directly instead)."""

    chosen: tuple[int, ...]
    reason: str
    unmatched: Hints

    @property
    def n_unmatched(self) -> int:
        """How many hints touch no candidate (a free-shape mask counts as one)."""
        u = self.unmatched
        return len(u.boxes) + len(u.points) + (u.hint_mask is not None)


@dataclass(frozen=True)
class SamPrompt:
    """One SAM prompt for one object: an optional xyxy pixel ``box`` and foreground pixel ``points``."""

    box: Box | None = None
    points: tuple[Point, ...] = ()


def _contains(box: Box, p: Point) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def pick_by_point(candidates: Sequence[Candidate], p: Point) -> int | None:
    """The smallest candidate that holds ``p`` (the most specific): whose mask holds it where the candidates have
    masks (a point in a box's corner, off the object, is no pick: SAM is prompted with it), else whose box contains
    it; None when none does."""
    inside = [i for i, c in enumerate(candidates) if _contains(c.box, p)]
    x, y = int(p[0]), int(p[1])
    masked = [i for i in inside if candidates[i].mask is not None]
    if masked:
        inside = [i for i in masked if 0 <= y < candidates[i].mask.shape[0] and 0 <= x < candidates[i].mask.shape[1]  # type: ignore[union-attr]
                  and candidates[i].mask[y, x]]  # type: ignore[index]  # fmt: skip
    if not inside:
        return None
    return min(inside, key=lambda i: (area(candidates[i].box), -candidates[i].score))


#: a hint box stands for a detection when at least this share of the smaller of the two lies in the other, and
#: their IoU is at least :data:`HINT_BOX_IOU`: a box drawn loosely around a detected object holds it (a box three
#: times the object's width and height: IoU 0.11); one drawn around an undetected object may graze a neighbour's
#: box, or hold a speck of a detection (IoU 0.01), and neither is what it means
HINT_BOX_OVERLAP, HINT_BOX_IOU = 0.5, 0.1


def pick_by_box(candidates: Sequence[Candidate], b: Box) -> int | None:
    """The candidate of highest IoU with the hint box among those it overlaps (:data:`HINT_BOX_OVERLAP`,
    :data:`HINT_BOX_IOU`), or None when it overlaps none so (SAM is then prompted with the box itself)."""
    overlapped = [i for i, c in enumerate(candidates)
                  if overlap_of_smaller(c.box, b) >= HINT_BOX_OVERLAP and box_iou(c.box, b) >= HINT_BOX_IOU]  # fmt: skip
    return max(overlapped, key=lambda i: (box_iou(candidates[i].box, b), candidates[i].score), default=None)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


#: a stroke is an outline (FlexEdit's "open hole" shapes) when it is this thin: its deepest pixel lies at most this
#: share of its box's shorter side from its edge (a 3 px ring around a 60 px object: 0.03; a filled disk: 0.5)
OUTLINE_DEPTH = 0.1


def hint_region(hint: np.ndarray) -> np.ndarray:
    """The region a free-shape hint stands for (FlexEdit: circles, rectangles, triangles and irregular shapes, "filled"
    or "open hole"): a closed outline's inside filled; an outline left open (a circle drawn with a gap) or another
    thin stroke, its convex hull; a filled shape as drawn. A ring drawn around an object overlaps none of it: as
    drawn it would pick whatever neighbour it grazes."""
    box = mask_box(hint)
    if box is None:
        return hint.copy()
    x0, y0, x1, y1 = box
    crop = hint[y0:y1, x0:x1]
    filled = fill_holes(crop)
    if np.count_nonzero(filled) > 1.5 * np.count_nonzero(crop):  # a closed outline
        region = filled
    elif ndimage.distance_transform_edt(np.pad(crop, 1)).max() > OUTLINE_DEPTH * min(crop.shape) or min(crop.shape) < 3:
        return hint.copy()  # filled as drawn (or a line too short to enclose anything)
    else:
        region = _convex_hull(crop)
    out = np.zeros_like(hint, dtype=bool)
    out[y0:y1, x0:x1] = region | crop
    return out


def _convex_hull(mask: np.ndarray) -> np.ndarray:
    """The filled convex hull of ``mask``'s pixels (their corners, so a one-pixel line keeps its pixels)."""
    from PIL import Image, ImageDraw
    from scipy.spatial import ConvexHull, QhullError

    ys, xs = np.nonzero(mask)
    corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)]).astype(np.float64)
    try:
        hull = corners[ConvexHull(corners).vertices]
    except QhullError:  # all on one line
        return mask.copy()
    canvas = Image.new("1", (mask.shape[1], mask.shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([(float(x) - 0.5, float(y) - 0.5) for x, y in hull], fill=1)
    return np.asarray(canvas, dtype=bool) | mask


def pick_by_mask(candidates: Sequence[Candidate], hint: np.ndarray) -> tuple[int, float] | None:
    """Among the candidates whose box the free-shape ``hint``'s region (:func:`hint_region`) overlaps (at least one
    pixel), the one whose mask (or box, without a mask) it overlaps best by IoU, then by the share of the box it
    covers, then by score; with that IoU. None when the region overlaps no candidate's box."""
    hint = hint_region(hint)
    shape = hint.shape
    boxes = [box_mask(c.box, shape) for c in candidates]
    touched = [i for i, m in enumerate(boxes) if np.logical_and(m, hint).any()]
    if not touched:
        return None

    def key(i: int) -> tuple[float, float, float]:
        c = candidates[i]
        own = c.mask if c.mask is not None else boxes[i]
        return mask_iou(own, hint), np.logical_and(boxes[i], hint).sum() / max(1, boxes[i].sum()), c.score

    best = max(touched, key=key)
    return best, key(best)[0]


def pick_by_coverage(candidates: Sequence[Candidate], b: Box, share: float = HINT_BOX_OVERLAP) -> int | None:
    """The candidate whose mask covers the largest part of the hint box, when that is at least ``share`` of it: a
    box drawn on part of a large region (CLIPSeg's one component for a cat that fills the photo) is in it; None
    otherwise, or when the candidates have no masks."""
    x0, y0, x1, y1 = (int(round(v)) for v in b)
    best, top = None, share
    for i, c in enumerate(candidates):
        if c.mask is None or x1 <= x0 or y1 <= y0:
            continue
        covered = float(c.mask[y0:y1, x0:x1].mean()) if c.mask[y0:y1, x0:x1].size else 0.0
        if covered >= top:
            best, top = i, covered
    return best


def set_aside(target: Any) -> str:
    """For a reason: the target's qualifiers that hints overrule ("the left cat" with a box on the right one picks
    what the box holds), as " ('left' set aside: the hints choose)"; "" when it has none."""
    words = [w for w in (target.spatial, None if target.ordinal is None else f"ordinal {target.ordinal}", target.size,
                         None if target.count is None else f"{target.count} of them", "all" if target.all else None) if w]  # fmt: skip
    return f" ({', '.join(repr(w) for w in words)} set aside: the hints choose)" if words else ""


def select_by_hints(candidates: Sequence[Candidate], hints: Hints, shape: tuple[int, int]) -> HintChoice | None:
    """Choose candidates with the hints. A hint only ever picks a candidate it touches: a box the candidate of
    highest IoU among the boxes it overlaps enough (:func:`pick_by_box`), a point the smallest box containing it, a
    free-shape mask the candidate it overlaps best (see :func:`pick_by_mask`). Hints that match no candidate are
    returned in ``unmatched``. ``None`` when there are no hints; ``shape`` is (H, W) of the image."""
    if not hints.boxes and not hints.points and hints.hint_mask is None:
        return None
    chosen: list[int] = []
    why: list[str] = []
    far_boxes: list[Box] = []
    far_points: list[Point] = []
    for b in hints.boxes:
        if (i := pick_by_box(candidates, b)) is None:
            far_boxes.append(b)
            continue
        chosen.append(i)
        why.append(f"IoU {box_iou(candidates[i].box, b):.2f} with the hint box")
    for p in hints.points:
        if (i := pick_by_point(candidates, p)) is None:
            far_points.append(p)
            continue
        chosen.append(i)
        why.append("contains the hint point")
    far_mask = None
    if hints.hint_mask is not None:
        if hints.hint_mask.shape != shape:
            (h, w), (ih, iw) = hints.hint_mask.shape, shape
            raise BadInput(f"the hint mask is {w}x{h}, the image {iw}x{ih}")
        picked = pick_by_mask(candidates, hints.hint_mask)
        if picked is None:
            far_mask = hints.hint_mask
        else:
            chosen.append(picked[0])
            why.append(f"IoU {picked[1]:.2f} with the hint mask")
    unique = tuple(dict.fromkeys(chosen))
    n = len(candidates)
    reason = f"{'; '.join(dict.fromkeys(why))} ({n} candidate{'s' * (n != 1)})" if why else ""
    return HintChoice(unique, reason, Hints(boxes=tuple(far_boxes), points=tuple(far_points), hint_mask=far_mask))


def interior_points(mask: np.ndarray, k: int = 3) -> tuple[Point, ...]:
    """Up to ``k`` pixel-centre points (x + 0.5, y + 0.5) well inside a rough mask, for a SAM prompt.

    The hint's region first (:func:`hint_region`: a drawn ring stands for what it encloses). The first point is the pixel
    farthest from the mask's edge (maximum of the Euclidean distance transform); the others are added by
    farthest-point sampling among the pixels at least half that deep, so they spread over the object's
    interior. Deterministic; empty for an empty mask."""
    box = mask_box(mask)
    if box is None or k <= 0:
        return ()
    x0, y0, x1, y1 = box
    crop = np.pad(hint_region(mask[y0:y1, x0:x1]), 1)  # zero border: the outside counts as background
    depth = ndimage.distance_transform_edt(crop)
    ys, xs = np.nonzero(depth >= depth.max() / 2.0)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    picked = [int(np.argmax(depth[ys, xs]))]
    nearest = ((pts - pts[picked[0]]) ** 2).sum(axis=1)
    while len(picked) < k and nearest.max() > 0:
        picked.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, ((pts - pts[picked[-1]]) ** 2).sum(axis=1))
    return tuple((float(pts[j, 0] - 1 + x0 + 0.5), float(pts[j, 1] - 1 + y0 + 0.5)) for j in picked)


def hint_prompts(hints: Hints) -> list[SamPrompt]:
    """SAM prompts for hints that pick no detection: one box prompt per hint box, one prompt with all the
    hint points (they mark one object, as in SAM's predictor), and for a free-shape hint its bounding box
    plus :func:`interior_points` sampled inside it."""
    prompts = [SamPrompt(box=b) for b in hints.boxes]
    if hints.points:
        prompts.append(SamPrompt(points=tuple(hints.points)))
    if hints.hint_mask is not None and (b := mask_box(hints.hint_mask)) is not None:
        box: Box = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
        prompts.append(SamPrompt(box=box, points=interior_points(hints.hint_mask)))
    return prompts


def _check_given(size: tuple[int, int], boxes: Sequence[Sequence[float]], points: Sequence[Sequence[float]],
                 hint_mask: bool, mask: bool) -> None:  # fmt: skip
    if mask and (boxes or points or hint_mask):  # the exact mask skips segmentation: the hints would be ignored
        given = ", ".join(n for n, v in (("a box", boxes), ("a point", points), ("a hint mask", hint_mask)) if v)
        raise BadInput(f"an exact mask (--mask) is the object itself; {given} would point at nothing: give one or the "
                       "other")  # fmt: skip
    w, h = size
    for b in boxes:
        if len(b) != 4 or not (0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h):
            raise BadInput(f"box {','.join(f'{v:g}' for v in b)} is not inside the {w}x{h} image with x0<x1, y0<y1")
        if (b[2] - b[0] < 1 or b[3] - b[1] < 1) and max(w, h) > 1:  # "0.1,0.2,0.6,0.9": fractions, taken as pixels
            raise BadInput(f"box {','.join(f'{v:g}' for v in b)} is less than a pixel across: hints are in pixels of the "
                           f"{w}x{h} image{_as_pixels(b, size)}")  # fmt: skip
    for p in points:
        if len(p) != 2 or not (0 <= p[0] < w and 0 <= p[1] < h):
            raise BadInput(f"point {','.join(f'{v:g}' for v in p)} is outside the {w}x{h} image")
        if all(0 < v < 1 for v in p) and min(w, h) > 2:  # "0.5,0.5": the middle meant, the top-left pixel taken
            raise BadInput(f"point {','.join(f'{v:g}' for v in p)} lies in the top-left pixel: hints are in pixels of the "
                           f"{w}x{h} image{_as_pixels(p, size)}")  # fmt: skip


def _as_pixels(values: Sequence[float], size: tuple[int, int]) -> str:
    """For a hint given as fractions of the image (every value in [0, 1]): the pixels it would be, as a hint."""
    if not all(0 <= v <= 1 for v in values):
        return ""
    scaled = [v * size[i % 2] for i, v in enumerate(values)]
    return f" (as fractions of it: {','.join(f'{v:.0f}' for v in scaled)})"


def check_hints(hints: Hints, size: tuple[int, int]) -> Hints:
    """The checks :func:`load_hints` makes, for :class:`Hints` a program built: boxes and points inside the
    image of ``size`` (W, H), masks of its size, no hint beside an exact mask. Returns ``hints``."""
    _check_given(size, hints.boxes, hints.points, hints.hint_mask is not None, hints.mask is not None)
    for what, m in (("hint mask", hints.hint_mask), ("mask", hints.mask)):
        if m is not None and (m.shape[1], m.shape[0]) != tuple(size):
            raise BadInput(f"{what} is {m.shape[1]}x{m.shape[0]} but the image is {size[0]}x{size[1]}")
    _check_marks(hints.hint_mask, "the hint mask")
    return hints


def _check_marks(hint_mask: np.ndarray | None, what: str) -> None:
    """A hint mask must mark something: an empty one is a wrong file, not "SAM found nothing at the hints"."""
    if hint_mask is not None and not hint_mask.any():
        raise BadInput(f"{what} has no white pixels (pixels > 127 mark the object)")


def load_hints(
    size: tuple[int, int],
    *,
    boxes: Sequence[Sequence[float]] = (),
    points: Sequence[Sequence[float]] = (),
    hint_mask: str | Path | None = None,
    mask: str | Path | None = None,
) -> Hints:
    """Build :class:`Hints` for an image of ``size`` (W, H) from user values, checking they lie inside it;
    ``hint_mask``/``mask`` are PNG paths. Raises :class:`BadInput`."""
    from refedit.pipeline.imageio import load_mask

    _check_given(size, boxes, points, bool(hint_mask), bool(mask))
    hints = Hints(
        boxes=tuple(tuple(float(v) for v in b) for b in boxes),  # type: ignore[misc]
        points=tuple((float(p[0]), float(p[1])) for p in points),
        hint_mask=load_mask(hint_mask, size, what="hint mask") if hint_mask else None,
        mask=load_mask(mask, size, what="mask") if mask else None,
    )
    _check_marks(hints.hint_mask, f"--hint-mask {hint_mask}")
    return hints
