"""Box and crop geometry on xyxy pixel boxes (x to the right, y down)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from refedit.core.masks import mask_box

Box = tuple[float, float, float, float]


def center(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection(a: Box, b: Box) -> float:
    """The area two xyxy boxes share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two xyxy boxes."""
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def overlap_of_smaller(a: Box, b: Box) -> float:
    """The share of the smaller of two xyxy boxes that lies in the other (1.0: one holds the other)."""
    smaller = min(area(a), area(b))
    return intersection(a, b) / smaller if smaller > 0 else 0.0


def box_ious(a: Box, boxes: np.ndarray) -> np.ndarray:
    """:func:`box_iou` of ``a`` with each row of ``boxes`` ((n, 4) float64 xyxy), the same arithmetic vectorised:
    for float64 rows the same values, so the same decisions at any threshold."""
    ix = np.maximum(0.0, np.minimum(a[2], boxes[:, 2]) - np.maximum(a[0], boxes[:, 0]))
    iy = np.maximum(0.0, np.minimum(a[3], boxes[:, 3]) - np.maximum(a[1], boxes[:, 1]))
    inter = ix * iy
    union = area(a) + np.maximum(0.0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0.0, boxes[:, 3] - boxes[:, 1]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass(frozen=True)
class CropPlan:
    """The region (x0, y0, x1, y1) of the input the editor works on."""

    box: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        return (self.box[2] - self.box[0], self.box[3] - self.box[1])


def plan_crop(mask: np.ndarray, *, resolution: int, margin: float = 0.25, min_margin: int = 32) -> CropPlan:
    """Crop around the mask when the target is small relative to a large image, else the whole image.

    The crop is the mask's box grown by ``margin`` of its size (at least ``min_margin`` px), then widened to
    at least ``resolution`` px per side where the image allows; used when the image's long side exceeds
    1.5 × ``resolution`` and the grown box covers under half the image.
    """
    h, w = mask.shape
    whole = CropPlan((0, 0, w, h))
    box = mask_box(mask)
    if box is None or max(w, h) <= 1.5 * resolution:
        return whole
    x0, y0, x1, y1 = box
    mx = max(min_margin, math.ceil(margin * (x1 - x0)))
    my = max(min_margin, math.ceil(margin * (y1 - y0)))
    x0, y0, x1, y1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    bx = _widen(x0, x1, min(resolution, w), w)
    by = _widen(y0, y1, min(resolution, h), h)
    if (bx[1] - bx[0]) * (by[1] - by[0]) > 0.5 * w * h:
        return whole
    return CropPlan((bx[0], by[0], bx[1], by[1]))


def _widen(lo: int, hi: int, minimum: int, limit: int) -> tuple[int, int]:
    """Grow [lo, hi) symmetrically to at least ``minimum`` long, staying inside [0, limit)."""
    need = minimum - (hi - lo)
    if need > 0:
        lo -= need // 2
        hi += need - need // 2
        if lo < 0:
            hi, lo = hi - lo, 0
        if hi > limit:
            lo, hi = max(0, lo - (hi - limit)), limit
    return lo, hi
