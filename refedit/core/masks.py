"""Mask post-processing as pure numpy/scipy functions on HxW bool masks."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight xyxy box (x1, y1 exclusive) of the True pixels, or None when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


#: side of the tiles :func:`along_outline` works on (pixels)
TILE = 64


def along_outline(mask: np.ndarray, op: Callable[[np.ndarray], np.ndarray], reach: int) -> np.ndarray:
    """``op(mask)`` for a local ``op`` (its value at a pixel depends on the mask within ``reach`` pixels only; 0 where
    no mask pixel is that near, 1 on the mask), computed tile by tile: a :data:`TILE`-pixel tile with no mask pixel
    within ``reach`` is 0, a tile inside the mask is 1, and the others (the outline's) are ``op`` of themselves
    grown by ``reach``, which holds every pixel their values can depend on: the same values as ``op`` of the whole
    array. A large object costs its outline, not its area; the whole array at once where the outline crosses most
    tiles (a random-weight SAM's speckle) or the array is a few tiles."""
    h, w = mask.shape
    if h * w <= 16 * TILE * TILE:
        return op(mask)
    ny, nx = -(-h // TILE), -(-w // TILE)
    padded = np.zeros((ny * TILE, nx * TILE), dtype=bool)
    padded[:h, :w] = mask
    tiles = padded.reshape(ny, TILE, nx, TILE)
    k = -(-reach // TILE)  # tiles within reach
    near = ndimage.maximum_filter(tiles.any(axis=(1, 3)), size=2 * k + 1, mode="constant")
    full = tiles.all(axis=(1, 3))  # a tile over the array's edge holds padding: never full, computed instead
    todo = np.argwhere(near & ~full)
    if len(todo) * (TILE + 2 * reach) ** 2 >= h * w:
        return op(mask)
    out: np.ndarray | None = None
    for i, j in todo:
        ys, xs = i * TILE, j * TILE
        ye, xe = min(h, ys + TILE), min(w, xs + TILE)
        gy, gx = max(0, ys - reach), max(0, xs - reach)
        part = op(mask[gy : min(h, ye + reach), gx : min(w, xe + reach)])
        if out is None:
            out = np.zeros((h, w), dtype=part.dtype)
        out[ys:ye, xs:xe] = part[ys - gy : ye - gy, xs - gx : xe - gx]
    if out is None:  # no outline: every tile full or empty
        out = np.zeros((h, w), dtype=op(mask[:1, :1]).dtype)
    for i, j in np.argwhere(full):
        out[i * TILE : (i + 1) * TILE, j * TILE : (j + 1) * TILE] = 1
    return out


def within_reach(mask: np.ndarray, op: Callable[[np.ndarray], np.ndarray], reach: int) -> np.ndarray:
    """``op(mask)`` for a local ``op`` (see :func:`along_outline`), computed on the mask's box grown by ``reach``
    only (beyond it ``op`` is 0: a small object in a large photo costs what the object costs), along the outline
    inside that box."""
    box = mask_box(mask)
    if box is None:
        return op(mask)
    h, w = mask.shape
    x0, y0, x1, y1 = max(0, box[0] - reach), max(0, box[1] - reach), min(w, box[2] + reach), min(h, box[3] + reach)
    if (x1 - x0, y1 - y0) == (w, h):  # the whole array: no copy
        return along_outline(mask, op, reach)
    part = along_outline(mask[y0:y1, x0:x1], op, reach)
    out = np.zeros(mask.shape, dtype=part.dtype)
    out[y0:y1, x0:x1] = part
    return out


def _dilated(mask: np.ndarray, pixels: int) -> np.ndarray:
    return ndimage.distance_transform_edt(~mask) <= pixels if mask.any() else mask.copy()


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow the mask by ``pixels`` (Euclidean disk); 0 returns a copy. Computed within the mask's reach only
    (:func:`within_reach`)."""
    if pixels <= 0:
        return mask.copy()
    return within_reach(mask, lambda m: _dilated(m, pixels), pixels + 1)


def feather(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Float alpha: 1 on the mask, falling linearly to 0 over ``pixels`` outside it, 0 beyond."""
    if pixels <= 0 or not mask.any():
        return mask.astype(np.float32)
    dist = ndimage.distance_transform_edt(~mask)
    return np.clip(1.0 - dist / (pixels + 1), 0.0, 1.0).astype(np.float32)


#: up to this many labels, one ``labels == k`` comparison per label beats a ``bincount`` and a table lookup over
#: the whole label image (numpy's int32 -> intp casts make those ~1 ms each on a 600 x 400 mask)
FEW_LABELS = 8


def _select(labels: np.ndarray, ids: np.ndarray, n: int, keep: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Bool image of the pixels whose label is one of ``ids`` with ``keep(areas)`` true (``n``: number of labels)."""
    if len(ids) <= FEW_LABELS:
        out = np.zeros(labels.shape, dtype=bool)
        for k in ids:
            one = labels == k
            if keep(np.array([np.count_nonzero(one)]))[0]:
                out |= one
        return out
    table = np.zeros(n + 1, dtype=bool)
    table[ids] = keep(np.bincount(labels.ravel(), minlength=n + 1)[ids])
    return np.take(table, labels)


def fill_holes(mask: np.ndarray, max_area: int | None = None) -> np.ndarray:
    """Fill enclosed holes (all of them, or only those up to ``max_area`` pixels): background components
    that do not touch the border, found with one labelling pass."""
    labels, n = ndimage.label(~mask)
    if n == 0:
        return mask.copy()
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = np.setdiff1d(np.arange(1, n + 1), border, assume_unique=True)
    if not len(holes):
        return mask.copy()
    if max_area is None:
        return mask | _select(labels, holes, n, lambda areas: np.ones(len(areas), dtype=bool))
    return mask | _select(labels, holes, n, lambda areas: areas <= max_area)


#: 8-connectivity (a pixel touches its diagonal neighbours too)
EIGHT = np.ones((3, 3), dtype=bool)


def remove_specks(mask: np.ndarray, min_area: int, diagonal: bool = False) -> np.ndarray:
    """Drop connected components smaller than ``min_area`` pixels (keeps the largest one regardless); components
    4-connected, or 8-connected with ``diagonal``."""
    labels, n = ndimage.label(mask, structure=EIGHT if diagonal else None)
    if n <= 1:
        return mask.copy()
    ids = np.arange(1, n + 1)
    if n <= FEW_LABELS:
        sizes = np.array([np.count_nonzero(labels == k) for k in ids])
    else:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = (sizes >= min_area) | (sizes == sizes.max())
    if keep.all():
        return mask.copy()
    kept = ids[keep]
    if len(kept) <= FEW_LABELS:  # an object and its specks: one comparison per kept label, not a table lookup
        out = labels == kept[0]
        for k in kept[1:]:
            out |= labels == k
        return out
    return np.take(np.concatenate([[False], keep]), labels)


def _padded(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The rows and columns of an xyxy ``box`` grown by one pixel, within ``shape``."""
    h, w = shape[:2]
    return slice(max(0, box[1] - 1), min(h, box[3] + 1)), slice(max(0, box[0] - 1), min(w, box[2] + 1))


#: the clean-up's specks and holes: smaller than this share of the image
REL_AREA = 0.002


def clean(mask: np.ndarray, *, rel_area: float = REL_AREA, area: float | None = None, diagonal: bool = False) -> np.ndarray:
    """Standard clean-up: remove specks and fill holes smaller than ``rel_area`` of the image (of ``area`` pixels
    when given: the mask may hold a margin around the image). Specks are 4-connected components, or 8-connected with
    ``diagonal``; holes are 4-connected.

    Works on the mask's bounding box (padded by one pixel), which gives the same result as the whole image
    (outside it everything is background) at a fraction of the cost for small objects; the holes are then looked
    for in the box of what is left, smaller where specks far from the object went (a hole is enclosed by the mask,
    so it lies inside that box and never touches its padding)."""
    limit = max(1, int(rel_area * (mask.size if area is None else area)))
    box = mask_box(mask)
    if box is None:
        return mask.copy()
    ys, xs = _padded(box, mask.shape)
    kept = remove_specks(mask[ys, xs], limit, diagonal)
    inner = mask_box(kept)
    assert inner is not None  # remove_specks keeps the largest component
    iy, ix = _padded(inner, kept.shape)
    kept[iy, ix] = fill_holes(kept[iy, ix], max_area=limit)
    out = np.zeros_like(mask)
    out[ys, xs] = kept
    return out


def clean_flips(bits: np.ndarray, *, rel_area: float = REL_AREA, area: float | None = None) -> np.ndarray:
    """The cells :func:`clean` changes in each of the (k, h, w) bool masks ``bits`` (specks 8-connected: on a grid of
    cells that is later interpolated, diagonal neighbours may join); (k, h, w) bool."""
    out = np.zeros(bits.shape, dtype=bool)
    for i, b in enumerate(bits):
        out[i] = clean(b, rel_area=rel_area, area=area, diagonal=True) ^ b
    return out


def box_mask(box: tuple[float, float, float, float], shape: tuple[int, int], expand: float = 0.0) -> np.ndarray:
    """A filled box mask of ``shape`` (H, W), the box grown by ``expand`` of its size on each side."""
    x0, y0, x1, y1 = box
    dx, dy = expand * (x1 - x0), expand * (y1 - y0)
    h, w = shape
    m = np.zeros(shape, dtype=bool)
    m[max(0, int(np.floor(y0 - dy))) : min(h, int(np.ceil(y1 + dy))), max(0, int(np.floor(x0 - dx))) : min(w, int(np.ceil(x1 + dx)))] = True
    return m
