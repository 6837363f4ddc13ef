"""Working on a crop at the model's resolution and pasting back at the input's full resolution, so that
every pixel outside the dilated+feathered mask is bit-identical to the input (IOPaint-style crop)."""

from __future__ import annotations


import numpy as np
from PIL import Image

from refedit.core.geometry import CropPlan
from refedit.core.masks import dilate, feather, mask_box, within_reach
from refedit.core.quality import psnr
from refedit.pipeline.imagekeys import image_array


def blend_alpha(mask: np.ndarray, *, dilate_px: int, feather_px: int) -> np.ndarray:
    """Float alpha in [0, 1]: the mask dilated by ``dilate_px`` then feathered outwards by ``feather_px``;
    exactly 0 outside the dilated+feathered region, exactly 1 on the mask.

    A pixel's alpha depends on the mask within ``dilate_px + feather_px + 2`` pixels only, so the distance
    transforms run on the mask's box grown by that reach, and in a large box only along the mask's outline
    (:func:`~refedit.core.masks.within_reach`; an object over a fifth of a 4000x3000 photo: 624 -> 92 ms of CPU,
    ``benchmarks/mask_cleanup.py``); the same floats as on the whole image."""
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.float32)
    return within_reach(mask, lambda m: feather(dilate(m, dilate_px), feather_px), dilate_px + feather_px + 2)


def paste_back(source: Image.Image, edited_crop: Image.Image, crop: CropPlan, alpha: np.ndarray) -> np.ndarray:
    """Resize the edited crop to the crop's size and composite it over ``source`` with ``alpha`` (HxW at the
    source's resolution); the (H, W, 3) uint8 result (the caller's image and metrics share it: a 12 MP photo costs
    ~50 ms of CPU per conversion). Pixels where alpha == 0 are copied from ``source`` bit for bit, pixels where alpha == 1
    from the edited crop; only the feathered band in between is mixed (rounded to nearest)."""
    out = image_array(source).copy()  # the photo's array, converted once per run (refedit.pipeline.imagekeys)
    x0, y0, x1, y1 = crop.box
    box = mask_box(alpha[y0:y1, x0:x1] > 0)
    if box is None:
        return out
    bx0, by0, bx1, by1 = box
    patch = np.asarray(edited_crop.resize(crop.size, Image.Resampling.LANCZOS))[by0:by1, bx0:bx1]
    ys, xs = slice(y0 + by0, y0 + by1), slice(x0 + bx0, x0 + bx1)
    a, region = alpha[ys, xs], out[ys, xs]
    full = a >= 1.0
    np.copyto(region, patch, where=full[..., None])  # (boolean indexing gathers, then scatters: 1.6x the time)
    band = (a > 0) & ~full
    ab = a[band][:, None]
    mixed = ab * patch[band].astype(np.float32) + (1.0 - ab) * region[band].astype(np.float32)
    region[band] = np.rint(mixed).clip(0, 255).astype(np.uint8)
    return out


def outside_metrics(source: np.ndarray, out: np.ndarray, alpha: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """PSNR of the pasted-back result against the input outside the paste-back ``alpha`` (``inf``: untouched, as
    :func:`paste_back` promises) and outside the ``mask``, over the whole photo: a check of the promise, so it does
    not assume it (compared within the crop only, it would check nothing)."""
    return {"outside_psnr": psnr(source, out, where=alpha == 0), "outside_mask_psnr": psnr(source, out, where=~mask)}
