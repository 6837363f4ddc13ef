"""Mask encodings of the public benchmarks, decoded in numpy exactly as their reference code decodes them.

- COCO run-length encoding (RefCOCO's crowd annotations, any COCO-style tool's output): counts of alternating
  0 and 1 runs over the mask flattened **column-major**, starting with 0s; either a list of integers
  ("uncompressed") or pycocotools' compact string (6 bits per character, each count after the second stored as
  the difference to the count two before; ``maskApi.c``: ``rleToString`` / ``rleFrString``).
- COCO polygons (RefCOCO's annotations): ``[[x0, y0, x1, y1, ...], ...]``, rasterised as pycocotools'
  ``rleFrPoly`` does (boundary walked at 5x resolution, pixel ``(x, y)`` inside when its centre is), parts merged.
- PIE-Bench's run-length masks (``mapping_file.json``): pairs ``start, length`` over the 512x512 mask flattened
  **row-major**, then the outer rows and columns set to 1, as ``mask_decode`` in the PnP-Inversion evaluation code.

Malformed input raises :class:`BadInput` with what is wrong (the reference code would crash or read garbage).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from refedit.errors import BadInput

#: the side of PIE-Bench's masks (``mask_decode``'s default ``image_shape``)
PIE_SIZE = (512, 512)


def _size(value: Any, what: str) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):  # fmt: skip
        raise BadInput(f"{what}: 'size' must be [height, width] (positive integers), got {value!r}")
    return int(value[0]), int(value[1])


def counts_from_string(text: str) -> list[int]:
    """pycocotools' compact RLE string -> run lengths (``rleFrString``)."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            if p >= len(text):
                raise BadInput("RLE string ends inside a count")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise BadInput(f"RLE string has a character outside '0'..'o': {text[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def counts_to_string(counts: Sequence[int]) -> str:
    """Run lengths -> pycocotools' compact RLE string (``rleToString``)."""
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def counts_from_mask(mask: np.ndarray) -> list[int]:
    """Run lengths of an HxW bool mask, column-major, starting with the 0s (``rleEncode``)."""
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    return ([0] + runs) if flat.size and flat[0] else runs


def mask_from_counts(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """HxW bool mask of column-major run lengths; the counts must cover the mask exactly."""
    runs = np.asarray(counts, dtype=np.int64)
    if runs.size and runs.min() < 0:
        raise BadInput("RLE has a negative count")
    if int(runs.sum()) != height * width:
        raise BadInput(f"RLE counts sum to {int(runs.sum())}, not {height}x{width} = {height * width} pixels")
    values = np.arange(runs.size) % 2 == 1
    flat = np.repeat(values, runs)
    return flat.reshape((width, height)).T.copy()


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE ``{"size": [h, w], "counts": "..."}`` of an HxW bool mask."""
    h, w = mask.shape
    return {"size": [h, w], "counts": counts_to_string(counts_from_mask(mask))}


def decode_rle(rle: Any, what: str = "RLE") -> np.ndarray:
    """HxW bool mask of a COCO RLE (compressed string or uncompressed list of counts)."""
    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        raise BadInput(f"{what} must be an object with 'size' [h, w] and 'counts', got {str(rle)[:60]!r}")
    h, w = _size(rle["size"], what)
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    try:
        if isinstance(counts, str):
            runs = counts_from_string(counts)
        elif isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            runs = counts
        else:
            raise BadInput("'counts' must be a string or a list of integers")
        return mask_from_counts(runs, h, w)
    except BadInput as err:
        raise BadInput(f"{what}: {err}") from None


def _c_int(values: np.ndarray) -> np.ndarray:
    """C's ``(int)`` cast of doubles: truncation toward zero."""
    return np.trunc(values).astype(np.int64)


def _boundary(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points ``rleFrPoly`` walks along the closed polygon (x, y at 5x scale, integers)."""
    us, vs = [], []
    for j in range(len(x) - 1):
        xs, xe, ys, ye = int(x[j]), int(x[j + 1]), int(y[j]), int(y[j + 1])
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            s = (ye - ys) / dx if dx else 0.0  # dx = dy = 0: one point, whose v is never read
            d = np.arange(dx + 1)
            t = dx - d if flip else d
            us.append(t + xs)
            vs.append(_c_int(ys + s * t + 0.5))
        else:
            s = (xe - xs) / dy
            d = np.arange(dy + 1)
            t = dy - d if flip else d
            vs.append(t + ys)
            us.append(_c_int(xs + s * t + 0.5))
    return np.concatenate(us), np.concatenate(vs)


def _poly_counts(xy: Sequence[float], height: int, width: int) -> list[int]:
    """``rleFrPoly``: run lengths of one polygon."""
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    scale = 5.0
    x = _c_int(scale * pts[:, 0] + 0.5)
    y = _c_int(scale * pts[:, 1] + 0.5)
    u, v = _boundary(np.append(x, x[0]), np.append(y, y[0]))
    j = np.flatnonzero(u[1:] != u[:-1]) + 1
    xd = np.where(u[j] < u[j - 1], u[j], u[j] - 1).astype(np.float64)
    xd = (xd + 0.5) / scale - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= width - 1)
    yd = np.minimum(v[j], v[j - 1]).astype(np.float64)
    yd = np.ceil(np.clip((yd + 0.5) / scale - 0.5, 0, height))
    a = np.sort(np.append(xd[keep].astype(np.int64) * height + yd[keep].astype(np.int64), height * width))
    a = np.diff(np.concatenate([[0], a])).tolist()
    counts = [a[0]]
    i = 1
    while i < len(a):
        if a[i] > 0:
            counts.append(a[i])
            i += 1
        else:
            i += 1
            if i < len(a):
                counts[-1] += a[i]
                i += 1
    return counts


def decode_polygons(polygons: Any, height: int, width: int, what: str = "polygon") -> np.ndarray:
    """HxW bool mask of COCO polygons ``[[x0, y0, x1, y1, ...], ...]`` (a flat list is one polygon), the parts
    merged (their union), as pycocotools' ``frPyObjects`` + ``merge`` + ``decode``."""
    if isinstance(polygons, list) and polygons and all(isinstance(v, (int, float)) for v in polygons):
        polygons = [polygons]
    if not isinstance(polygons, list) or not polygons:
        raise BadInput(f"{what} must be a list of [x0, y0, x1, y1, ...] lists")
    mask = np.zeros((height, width), dtype=bool)
    for part in polygons:
        if (not isinstance(part, list) or len(part) < 6 or len(part) % 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in part)):  # fmt: skip
            raise BadInput(f"{what}: each polygon needs an even number (>= 6) of finite coordinates, got "
                           f"{str(part)[:60]}")  # fmt: skip
        mask |= mask_from_counts(_poly_counts(part, height, width), height, width)
    return mask


def decode_pie(encoded: Any, size: tuple[int, int] = PIE_SIZE, what: str = "mask") -> np.ndarray:
    """HxW bool mask of a PIE-Bench ``mask`` list (``mask_decode``: ``start, length`` pairs, row-major, border
    rows and columns set)."""
    h, w = size
    n = h * w
    if (not isinstance(encoded, list) or len(encoded) % 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in encoded)):  # fmt: skip
        raise BadInput(f"{what} must be a list of non-negative start, length pairs")
    flat = np.zeros(n, dtype=bool)
    for start, length in zip(encoded[0::2], encoded[1::2]):
        if start >= n:
            raise BadInput(f"{what}: run start {start} lies beyond the {h}x{w} mask")
        flat[start : start + min(length, n - start)] = True
    mask = flat.reshape(h, w)
    mask[0, :] = mask[-1, :] = True
    mask[:, 0] = mask[:, -1] = True
    return mask
