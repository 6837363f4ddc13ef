"""Working on a crop at the model's resolution and pasting back at the input's full resolution, so that
every pixel outside the dilated+feathered mask is bit-identical to the input (IOPaint-style crop)."""

from __future__ import annotations


import numpy as np
from PIL import Image
from scipy import ndimage

from refedit.core.geometry import CropPlan
from refedit.core.masks import dilate, feather, mask_box
from refedit.pipeline.imagekeys import image_array


#: side of the tiles :func:`blend_alpha` works on in a large box (pixels)
TILE = 64


def blend_alpha(mask: np.ndarray, *, dilate_px: int, feather_px: int) -> np.ndarray:
    """Float alpha in [0, 1]: the mask dilated by ``dilate_px`` then feathered outwards by ``feather_px``;
    exactly 0 outside the dilated+feathered region, exactly 1 on the mask.

    A pixel's alpha depends on the mask within ``dilate_px + feather_px + 2`` pixels only, so the distance
    transforms run on the mask's box grown by that reach (beyond it alpha is 0: a small object in a large photo
    costs what the object costs), and in a large box only along the mask's outline (:func:`_along_outline`)."""
    alpha = np.zeros(mask.shape, dtype=np.float32)
    box = mask_box(mask)
    if box is None:
        return alpha
    h, w = mask.shape
    m = dilate_px + feather_px + 2
    x0, y0, x1, y1 = max(0, box[0] - m), max(0, box[1] - m), min(w, box[2] + m), min(h, box[3] + m)
    alpha[y0:y1, x0:x1] = _along_outline(mask[y0:y1, x0:x1], dilate_px, feather_px, m)
    return alpha


def _along_outline(mask: np.ndarray, dilate_px: int, feather_px: int, reach: int) -> np.ndarray:
    """``feather(dilate(mask, dilate_px), feather_px)`` tile by tile: a :data:`TILE`-pixel tile with no mask pixel
    within ``reach`` is 0, a tile inside the mask is 1, and the others (the outline's) are computed on themselves
    grown by ``reach``, which holds every pixel their distances can come from: the same distances, so the same
    floats as the whole array. A large object's alpha costs its outline, not its area (an object over a fifth of a
    4000x3000 photo: 624 -> 92 ms of CPU, ``benchmarks/mask_cleanup.py``); the whole array at once where the
    outline crosses most tiles (a random-weight SAM's speckle)."""
    h, w = mask.shape
    ny, nx = -(-h // TILE), -(-w // TILE)
    padded = np.zeros((ny * TILE, nx * TILE), dtype=bool)
    padded[:h, :w] = mask
    tiles = padded.reshape(ny, TILE, nx, TILE)
    k = -(-reach // TILE)  # tiles within reach
    near = ndimage.maximum_filter(tiles.any(axis=(1, 3)), size=2 * k + 1, mode="constant")
    full = tiles.all(axis=(1, 3))  # a tile over the array's edge holds padding: never full, computed instead
    todo = np.argwhere(near & ~full)
    if len(todo) * (TILE + 2 * reach) ** 2 >= h * w:
        return feather(dilate(mask, dilate_px), feather_px)
    out = np.zeros((h, w), dtype=np.float32)
    for i, j in np.argwhere(full):
        out[i * TILE : (i + 1) * TILE, j * TILE : (j + 1) * TILE] = 1.0
    for i, j in todo:
        ys, xs = i * TILE, j * TILE
        ye, xe = min(h, ys + TILE), min(w, xs + TILE)
        gy, gx = max(0, ys - reach), max(0, xs - reach)
        grown = mask[gy : min(h, ye + reach), gx : min(w, xe + reach)]
        out[ys:ye, xs:xe] = feather(dilate(grown, dilate_px), feather_px)[ys - gy : ye - gy, xs - gx : xe - gx]
    return out


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
    region[full] = patch[full]
    band = (a > 0) & ~full
    ab = a[band][:, None]
    mixed = ab * patch[band].astype(np.float32) + (1.0 - ab) * region[band].astype(np.float32)
    region[band] = np.rint(mixed).clip(0, 255).astype(np.uint8)
    return out


