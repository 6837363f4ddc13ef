"""Inpainting with a 9-channel SD inpainting checkpoint: the UNet sees [z_t, mask, E(masked image)] and
regenerates the masked region from noise with the edited caption; the natural editor for ``remove``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image

from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.core import ddim
from refedit.pipeline.edit.base import CheckpointEditor
from refedit.core.noise import noise_like
from refedit.pipeline.edit.options import InpaintOptions


class InpaintEditor(CheckpointEditor):
    """SD inpainting (9-channel UNet) with the edited caption."""

    name, unet_type, role = "inpaint", "inpaint", "inpaint"
    options: InpaintOptions

    @torch.inference_mode()
    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        opts, sd = self.options, self.sd
        region = self.region(image, segmentation)
        pixels = sd.pixels(region.image)
        x0, y0, x1, y1 = region.crop.box
        inside = torch.from_numpy(region.alpha[y0:y1, x0:x1] > 0).float()[None, None]
        inside = F.interpolate(inside, size=pixels.shape[-2:], mode="nearest").to(pixels.device, pixels.dtype)
        masked_latents = sd.encode_image(pixels * (1.0 - inside))
        z0 = sd.encode_image(pixels)
        mask = F.interpolate(inside, size=z0.shape[-2:], mode="nearest")
        noise = noise_like(z0, seed)
        sched = sd.ddim_schedule(opts.steps, opts.strength)
        x = noise if opts.strength >= 1.0 else ddim.noised(z0, noise, sched.alphas[0])
        text = sd.encode_text(["", plan.edited_caption])
        cond = torch.cat([mask, masked_latents], dim=1).repeat(2, 1, 1, 1)

        def eps(x: torch.Tensor, t: int) -> torch.Tensor:
            self.unet_calls += 1
            return ddim.cfg(*sd.eps(torch.cat([torch.cat([x, x]), cond], dim=1), t, text).chunk(2), opts.guidance)

        x = ddim.sample(x, sched, eps)
        return self.result(image=image, latents=x, region=region, plan=plan, segmentation=segmentation, seed=seed,
                           prompt=plan.edited_caption)  # fmt: skip


