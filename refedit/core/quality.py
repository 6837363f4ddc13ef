"""Image-quality figures of an edit (PSNR outside the mask: the pixels that must not change)."""

from __future__ import annotations

import math

import numpy as np


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
