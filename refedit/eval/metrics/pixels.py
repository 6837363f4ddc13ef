"""Pixel figures of an edit against its source (or a target image), in float64 on images scaled to [0, 1].

- **PSNR, MSE, SSIM** as torchmetrics computes them (``data_range=1``; SSIM with an 11x11 Gaussian window of
  sigma 1.5, K1 0.01, K2 0.03, the images reflect-padded by 5 pixels and the whole map averaged, as torchmetrics
  1.x does; Wang et al. 2004; older torchmetrics releases left the map's 5-pixel border out of the mean). PIE-Bench's background versions (the PnP-Inversion evaluation code, ``calculate_psnr(src, tgt, 1 - mask,
  1 - mask)``) multiply **both** images by ``1 - mask`` and then compute the whole-image figure: :func:`masked`.
- **L1 / L2** (MagicBrush's ``eval_distance``: mean absolute / mean squared difference, [0, 1] RGB).
- **L2_bg** (ReferDiffusion Sec. 5, "L2 score of the background"): MagicBrush's L2 over the background pixels
  only (mask ``M_e`` = 0), averaged over those pixels and the three channels.
- **SSIM-M / SSIM-M̄** (iEdit Sec. 4, "the SSIM score on the edited area and on the rest of the image"): the SSIM
  map (full size, reflect-padded at the border) averaged over the pixels inside / outside the mask.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 (or HxW) -> 1xCxHxW float64 in [0, 1]."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.astype(np.float64) / 255.0).permute(2, 0, 1).unsqueeze(0)


def masked(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """PIE-Bench's masking: the pixels where ``keep`` is False set to 0 (uint8, same shape)."""
    return (np.asarray(image) * np.asarray(keep, dtype=np.uint8)[..., None]).astype(np.uint8)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference over all pixels and channels, images in [0, 1]."""
    return float(((to_tensor(a) - to_tensor(b)) ** 2).mean())


def l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference over all pixels and channels, images in [0, 1] (MagicBrush's L1)."""
    return float((to_tensor(a) - to_tensor(b)).abs().mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """10 log10(1 / MSE) in dB (``inf`` for identical images)."""
    err = mse(a, b)
    return math.inf if err == 0 else 10.0 * math.log10(1.0 / err)


def l2_region(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Mean squared difference over the pixels of ``region`` (HxW bool) and the channels (nan when empty)."""
    where = np.asarray(region, dtype=bool)
    if not where.any():
        return math.nan
    diff = to_tensor(a) - to_tensor(b)
    sel = torch.from_numpy(where)
    return float((diff[0][:, sel] ** 2).mean())


def _gaussian_window(channels: int, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    size = int(3.5 * sigma + 0.5) * 2 + 1  # torchmetrics' Gaussian window size: 11 for sigma 1.5
    dist = torch.arange((1 - size) / 2, (1 + size) / 2, 1, dtype=torch.float64)
    g = torch.exp(-((dist / sigma) ** 2) / 2)
    g = (g / g.sum()).unsqueeze(0)
    return (g.T @ g).expand(channels, 1, size, size)


def ssim_map(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """The SSIM map per channel, 1xCxHxW, the same size as the images (reflect padding at the border)."""
    x, y = to_tensor(a), to_tensor(b)
    channels = x.shape[1]
    window = _gaussian_window(channels)
    pad = (window.shape[-1] - 1) // 2
    if min(x.shape[-2:]) <= pad:
        raise ValueError(f"SSIM needs images larger than {pad} pixels on each side")
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.pad(y, (pad, pad, pad, pad), mode="reflect")
    stats = F.conv2d(torch.cat([x, y, x * x, y * y, x * y]), window, groups=channels)
    mx, my, xx, yy, xy = stats.split(1)
    mx2, my2, mxy = mx**2, my**2, mx * my
    vx = torch.clamp(xx - mx2, min=0.0)
    vy = torch.clamp(yy - my2, min=0.0)
    cov = xy - mxy
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    return ((2 * mxy + c1) * (2 * cov + c2)) / ((mx2 + my2 + c1) * (vx + vy + c2))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over the whole map and the channels (torchmetrics' ``structural_similarity_index_measure``)."""
    return float(ssim_map(a, b).mean())


def ssim_region(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """The SSIM map averaged over the pixels of ``region`` and the channels (iEdit's SSIM-M / SSIM-M̄; nan
    when the region is empty)."""
    where = np.asarray(region, dtype=bool)
    if not where.any():
        return math.nan
    full = ssim_map(a, b)[0]
    return float(full[:, torch.from_numpy(where)].mean())
