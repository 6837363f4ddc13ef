"""Ref-Diff's Generative Process (Sec. 3.2): the ROOT token's cross-attention map c of the image.

The padded square image is encoded with the SD VAE and noised to the ``t_index``-th of ``steps`` DDIM steps
(Eq. 3, σ_t); the UNet then runs ``passes`` DDIM steps conditioned on the referring expression while
:mod:`.attention` records the head-averaged cross-attention ā (Eq. 4) at latent/``attention_level`` (the
coarsest cross-attention level when the UNet has none there, e.g. the tiny test UNet); the ROOT token's
map ā_k (sub-word tokens averaged) is resized to the square, cropped to the image and min-max normalised
(Eq. 5) to c.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from refedit.errors import TargetNotFound
from refedit.pipeline.segment.options import RefDiffOptions
from refedit.pipeline.segment.refdiff.geometry import Square
from refedit.pipeline.segment.refdiff.root import token_indices
from refedit.pipeline.segment.refdiff.timing import CallLog


def root_attention(sd: Any, options: RefDiffOptions, canvas: Image.Image, sq: Square, expression: str,
                   span: tuple[int, int], timed: CallLog) -> np.ndarray:  # fmt: skip
    """c (Eq. 5) at the working size (h, w) of the image inside the SD square ``canvas``, for the ROOT word
    at characters ``span`` of ``expression``; ``sd`` is the shared :class:`~refedit.pipeline.sd.StableDiffusion`."""
    import torch
    import torch.nn.functional as F

    from refedit.core import ddim
    from refedit.core.noise import noise_like
    from refedit.pipeline.segment.refdiff.attention import capture_attention, normalize_attention

    opts = options
    unet = sd.unet
    idx = token_indices(sd.component("tokenizer"), expression, *span)
    z0 = timed("vae", (tuple(canvas.size),), lambda: sd.encode_image(canvas))
    prompts = ["", expression] if opts.guidance > 1.0 else [expression]
    text = timed("sd_text", (len(prompts),), lambda: sd.encode_text(prompts))
    keep: tuple[int, ...] | None = (1,) if opts.guidance > 1.0 else None
    sched = sd.ddim_schedule(opts.steps, opts.strength)
    x = ddim.noised(z0, noise_like(z0, opts.seed), sched.alphas[0])  # Eq. 3
    passes = opts.passes or opts.t_index
    wanted = wanted_level(unet, tuple(z0.shape[-2:]), opts.attention_level)
    with torch.inference_mode(), capture_attention(unet, wanted, keep=keep) as store:
        for k in range(passes):
            t = sched.timesteps[k]
            xin = torch.cat([x] * text.shape[0])
            eps = timed("unet", (tuple(xin.shape), t), lambda xin=xin, t=t: sd.eps(xin, t, text))
            if text.shape[0] > 1:
                eps = ddim.cfg(eps[:1], eps[1:], opts.guidance)
            if k + 1 < passes:
                x = ddim.ddim_step(x, eps, sched.alphas[k], sched.alphas_prev[k])
    lh, lw = z0.shape[-2:]
    hw = level(store.resolutions, (lh, lw), opts.attention_level)
    maps = store.spatial(hw)[0]  # (L, h, w) of the conditional entry
    a_k = maps[idx].mean(dim=0)  # ROOT token, sub-words averaged
    up = F.interpolate(a_k[None, None].float(), size=(sq.resolution, sq.resolution), mode="bilinear",
                       align_corners=False)[0, 0]  # fmt: skip
    (ox, oy), (ww, wh) = sq.work_offset, sq.work
    crop = up[oy : oy + wh, ox : ox + ww]
    c = normalize_attention(crop, (wh, ww))  # Eq. 5 on the un-padded region
    return c.cpu().numpy()


def wanted_level(unet: Any, latent_hw: tuple[int, int], attention_level: int) -> tuple[int, int] | None:
    """The one query resolution worth capturing (latent/``attention_level`` if the UNet has
    cross-attention there, else its coarsest cross-attention level), read from the UNet config;
    None (capture every level) when the config does not say."""
    blocks = getattr(unet.config, "down_block_types", None)
    if not blocks:
        return None
    lh, lw = latent_hw
    factors = [2**i for i, b in enumerate(blocks) if "CrossAttn" in b]
    if not factors:
        return None
    f = attention_level if attention_level in factors else max(factors)
    return (math.ceil(lh / f), math.ceil(lw / f))


def level(token_counts: tuple[int, ...], latent_hw: tuple[int, int], attention_level: int) -> tuple[int, int]:
    """(h, w) of the attention level to use: latent/``attention_level`` when captured, else the coarsest."""
    if not token_counts:
        raise TargetNotFound("the UNet has no cross-attention layers to read Ref-Diff's attention from")
    lh, lw = latent_hw
    levels = {}
    f = 1
    while f <= max(lh, lw):
        h, w = math.ceil(lh / f), math.ceil(lw / f)
        levels.setdefault(h * w, (h, w))
        f *= 2
    want = levels.get(math.ceil(lh / attention_level) * math.ceil(lw / attention_level))
    if want is not None and want[0] * want[1] in token_counts:
        return want
    coarsest = min(n for n in token_counts if n in levels)
    return levels[coarsest]
