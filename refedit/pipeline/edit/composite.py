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
    exactly 0 outside the dilated+feathered region, exactly 1 on the mask."""
    grown = dilate(mask, dilate_px)
    return feather(grown, feather_px)


def paste_back(source: Image.Image, edited_crop: Image.Image, crop: CropPlan, alpha: np.ndarray) -> Image.Image:
    """Resize the edited crop to the crop's size and composite it over ``source`` with ``alpha`` (HxW at the
    source's resolution). Pixels where alpha == 0 are copied from ``source`` bit for bit."""
    src = np.asarray(source, dtype=np.uint8)
    out = src.copy()
    x0, y0, x1, y1 = crop.box
    patch = np.asarray(edited_crop.resize(crop.size, Image.Resampling.LANCZOS), dtype=np.float32)
    a = alpha[y0:y1, x0:x1, None].astype(np.float32)
    mixed = np.rint(a * patch + (1.0 - a) * src[y0:y1, x0:x1].astype(np.float32)).clip(0, 255).astype(np.uint8)
    region = out[y0:y1, x0:x1]
    touched = a[..., 0] > 0
    region[touched] = mixed[touched]
    return Image.fromarray(out, mode="RGB")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays (``inf`` when identical or empty)."""
    if a.size == 0:
        return float("inf")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
