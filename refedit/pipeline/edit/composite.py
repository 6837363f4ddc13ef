"""Working on a crop at the model's resolution and pasting back at the input's full resolution, so that
every pixel outside the dilated+feathered mask is bit-identical to the input (IOPaint-style crop)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from refedit.pipeline.segment.masks import dilate, feather, mask_box


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


def blend_alpha(mask: np.ndarray, *, dilate_px: int, feather_px: int) -> np.ndarray:
    """Float alpha in [0, 1]: the mask dilated by ``dilate_px`` then feathered outwards by ``feather_px``;
    exactly 0 outside the dilated+feathered region, exactly 1 on the mask.

    The distance transforms run on the mask's box grown by ``dilate_px + feather_px + 2`` only: every mask
    pixel lies inside it, so distances there are the same as on the whole image, and beyond it alpha is 0.
    A small object in a large photo costs what the object costs, not what the photo does."""
    alpha = np.zeros(mask.shape, dtype=np.float32)
    box = mask_box(mask)
    if box is None:
        return alpha
    h, w = mask.shape
    m = dilate_px + feather_px + 2
    x0, y0, x1, y1 = max(0, box[0] - m), max(0, box[1] - m), min(w, box[2] + m), min(h, box[3] + m)
    alpha[y0:y1, x0:x1] = feather(dilate(mask[y0:y1, x0:x1], dilate_px), feather_px)
    return alpha


def paste_back(source: Image.Image, edited_crop: Image.Image, crop: CropPlan, alpha: np.ndarray) -> Image.Image:
    """Resize the edited crop to the crop's size and composite it over ``source`` with ``alpha`` (HxW at the
    source's resolution). Pixels where alpha == 0 are copied from ``source`` bit for bit, pixels where
    alpha == 1 from the edited crop; only the feathered band in between is mixed (rounded to nearest)."""
    src = np.asarray(source, dtype=np.uint8)
    out = src.copy()
    x0, y0, x1, y1 = crop.box
    box = mask_box(alpha[y0:y1, x0:x1] > 0)
    if box is None:
        return Image.fromarray(out, mode="RGB")
    bx0, by0, bx1, by1 = box
    patch = np.asarray(edited_crop.resize(crop.size, Image.Resampling.LANCZOS))[by0:by1, bx0:bx1]
    ys, xs = slice(y0 + by0, y0 + by1), slice(x0 + bx0, x0 + bx1)
    a, region = alpha[ys, xs], out[ys, xs]
    full = a >= 1.0
    region[full] = patch[full]
    band = (a > 0) & ~full
    ab = a[band][:, None]
    mixed = ab * patch[band].astype(np.float32) + (1.0 - ab) * region[band].astype(np.float32)
    region[band] = np.rint(mixed).clip(0, 255).astype(np.uint8)
    return Image.fromarray(out, mode="RGB")


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays, over the boolean ``where`` (HxW, for HxW or
    HxWxC arrays) if given (``inf`` when identical or empty). Only differing values are converted to float."""
    if where is not None:
        count = int(np.count_nonzero(where)) * (a.size // where.size)
        ne = a != b
        changed = where & (ne if ne.ndim == where.ndim else _any_last(ne))
        a, b = a[changed], b[changed]
    else:
        count = a.size
    if count == 0:
        return float("inf")
    differ = a != b
    d = a[differ].astype(np.float64) - b[differ].astype(np.float64)
    mse = float(np.dot(d, d)) / count
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _any_last(ne: np.ndarray) -> np.ndarray:
    """``ne.any(axis=-1)`` for a short last axis, as element-wise ORs (much faster than numpy's reduce)."""
    out = ne[..., 0].copy()
    for c in range(1, ne.shape[-1]):
        out |= ne[..., c]
    return out
