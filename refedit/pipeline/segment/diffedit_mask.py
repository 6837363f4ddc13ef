"""DiffEdit's own mask (Couairon et al. 2022, Sec. 3.1; the baseline InstructEdit improves on): noise the
image to strength s, compare the noise predicted under the source and the edited caption,
M = mean over draws and channels of |ε(x_t, c_edit) − ε(x_t, c_src)|, clamped at ``threshold_ratio`` times
its mean, normalised and thresholded at 0.5 (diffusers' generate_mask defaults: 10 maps, s = 0.5, 3.0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from refedit.errors import TargetNotFound
from refedit.pipeline.artifacts import EditPlan, Hints, Segmentation
from refedit.core import ddim
from refedit.core.noise import noise_like
from refedit.pipeline.models import ModelStore
from refedit.pipeline.sd import StableDiffusion
from refedit.core.masks import clean
from refedit.pipeline.segment.options import DiffEditMaskOptions


def noise_difference_mask(diffs: torch.Tensor, threshold_ratio: float) -> torch.Tensor:
    """Reduce |ε_edit − ε_src| of shape (n, C, h, w) to a {0,1} (h, w) mask: mean over draws and channels,
    clamp at ``threshold_ratio`` × its mean, normalise, threshold at 0.5 (diffusers' generate_mask)."""
    guidance = diffs.abs().float().mean(dim=(0, 1))
    clamp = guidance.mean() * threshold_ratio
    if clamp <= 0:
        return torch.zeros_like(guidance)
    return (guidance.clamp(0, clamp) / clamp > 0.5).float()


class DiffEditMaskSegmenter:
    """DiffEdit's noise-difference mask from the source and edited captions, on the shared SD."""

    #: it reads no --box/--point/--hint-mask: the pipeline refuses them (they changed nothing)
    takes_hints = False

    name = "diffedit-mask"

    def __init__(self, store: ModelStore, options: DiffEditMaskOptions) -> None:
        self.sd = StableDiffusion(store, "sd")
        self.options = options
        self.unet_calls = 0

    @torch.inference_mode()
    def segment(self, *, image: Image.Image, plan: EditPlan, hints: Hints) -> Segmentation:
        opts, sd = self.options, self.sd
        size = sd.working_size(image.size, opts.mask_resolution)
        z0 = sd.encode_image(image.resize(size, Image.Resampling.LANCZOS))
        sched = sd.ddim_schedule(opts.mask_steps, opts.mask_strength)
        t, alpha = sched.timesteps[0], sched.alphas[0]
        text = sd.encode_text(["", plan.source_caption, "", plan.edited_caption])
        diffs = []
        for k in range(opts.num_maps):
            x = ddim.noised(z0, noise_like(z0, opts.seed + k), alpha)
            u_src, c_src, u_edit, c_edit = sd.eps(torch.cat([x] * 4), t, text).chunk(4)
            self.unet_calls += 1
            g = opts.mask_guidance
            diffs.append(ddim.cfg(u_edit, c_edit, g) - ddim.cfg(u_src, c_src, g))
        latent_mask = noise_difference_mask(torch.cat(diffs), opts.threshold_ratio)
        full = F.interpolate(latent_mask[None, None], size=(image.height, image.width), mode="nearest")[0, 0]
        mask = clean(full.cpu().numpy() > 0.5)
        if not mask.any():
            raise TargetNotFound(
                f"DiffEdit found no region where {plan.source_caption!r} and {plan.edited_caption!r} differ"
            )
        reason = (f"DiffEdit noise difference of {plan.source_caption!r} vs {plan.edited_caption!r} "
                  f"({opts.num_maps} maps, strength {opts.mask_strength})")  # fmt: skip
        return Segmentation(mask=mask, reason=reason, segmenter=self.name)


