"""User hints (FlexEdit): rough boxes, points or a free-shape scribble that pick among detected
candidates, or prompt SAM directly when the text names no detectable object. Pure functions."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from refedit.errors import BadInput
from refedit.pipeline.artifacts import Box, Candidate, Hints, Point
from refedit.pipeline.segment.masks import box_mask, mask_box
from refedit.pipeline.segment.resolve import Resolution, area, box_iou, center


def _contains(box: Box, p: Point) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def pick_by_point(candidates: Sequence[Candidate], p: Point) -> int:
    """The smallest candidate whose box contains ``p`` (the most specific), else the nearest centre."""
    inside = [i for i, c in enumerate(candidates) if _contains(c.box, p)]
    if inside:
        return min(inside, key=lambda i: (area(candidates[i].box), -candidates[i].score))
    return min(range(len(candidates)),
               key=lambda i: (center(candidates[i].box)[0] - p[0]) ** 2 + (center(candidates[i].box)[1] - p[1]) ** 2)  # fmt: skip


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def select_by_hints(candidates: Sequence[Candidate], hints: Hints, shape: tuple[int, int]) -> Resolution | None:
    """Choose candidates with the hints: each box picks the candidate of highest IoU, each point the
    candidate containing it, a free-shape mask the candidate whose mask (or box) it overlaps best (IoU).
    ``None`` when there are no hints or no candidates."""
    if not candidates or (not hints.boxes and not hints.points and hints.hint_mask is None):
        return None
    chosen: list[int] = []
    why: list[str] = []
    for b in hints.boxes:
        i = max(range(len(candidates)), key=lambda i: (box_iou(candidates[i].box, b), candidates[i].score))
        chosen.append(i)
        why.append(f"IoU {box_iou(candidates[i].box, b):.2f} with the hint box")
    for p in hints.points:
        i = pick_by_point(candidates, p)
        chosen.append(i)
        why.append("contains the hint point" if _contains(candidates[i].box, p) else "nearest the hint point")
    if hints.hint_mask is not None:
        def overlap(c: Candidate) -> float:
            return mask_iou(c.mask if c.mask is not None else box_mask(c.box, shape), hints.hint_mask)

        i = max(range(len(candidates)), key=lambda i: (overlap(candidates[i]), candidates[i].score))
        chosen.append(i)
        why.append(f"IoU {overlap(candidates[i]):.2f} with the hint mask")
    unique = tuple(dict.fromkeys(chosen))
    return Resolution(unique, f"{'; '.join(why)} ({len(candidates)} candidates)")


def hint_prompts(hints: Hints) -> tuple[list[Box], list[Point]]:
    """Boxes and points to prompt SAM with when no candidate is chosen by text: the hint boxes, the
    bounding box of a free-shape hint, and the hint points."""
    boxes = list(hints.boxes)
    if hints.hint_mask is not None and (b := mask_box(hints.hint_mask)) is not None:
        boxes.append(tuple(float(v) for v in b))  # type: ignore[arg-type]
    return boxes, list(hints.points)


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

    w, h = size
    for b in boxes:
        if len(b) != 4 or not (0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h):
            raise BadInput(f"box {','.join(f'{v:g}' for v in b)} is not inside the {w}x{h} image with x0<x1, y0<y1")
    for p in points:
        if len(p) != 2 or not (0 <= p[0] < w and 0 <= p[1] < h):
            raise BadInput(f"point {','.join(f'{v:g}' for v in p)} is outside the {w}x{h} image")
    return Hints(
        boxes=tuple(tuple(float(v) for v in b) for b in boxes),  # type: ignore[misc]
        points=tuple((float(p[0]), float(p[1])) for p in points),
        hint_mask=load_mask(hint_mask, size, what="hint mask") if hint_mask else None,
        mask=load_mask(mask, size, what="mask") if mask else None,
    )
