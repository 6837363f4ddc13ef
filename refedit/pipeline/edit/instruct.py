"""InstructPix2Pix-family editors (InstructPix2Pix, MagicBrush, ReferDiffusion): an 8-channel UNet
conditioned on the unscaled latents of the input and on the whole instruction, with text and image
classifier-free guidance, ε = ε(∅,∅) + s_T(ε(c_T,c_I) − ε(∅,c_I)) + s_I(ε(∅,c_I) − ε(∅,∅)); the result
is composited through the mask so the rest of the photo stays untouched."""

from __future__ import annotations

import torch
from PIL import Image

from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.core import ddim
from refedit.pipeline.edit.base import CheckpointEditor
from refedit.core.noise import noise_like
from refedit.pipeline.edit.options import InstructOptions


def dual_cfg(eps_text: torch.Tensor, eps_image: torch.Tensor, eps_uncond: torch.Tensor, s_t: float, s_i: float) -> torch.Tensor:
    """InstructPix2Pix's two-scale classifier-free guidance (Brooks et al. 2023, Eq. 3)."""
    return eps_uncond + s_t * (eps_text - eps_image) + s_i * (eps_image - eps_uncond)


class InstructEditor(CheckpointEditor):
    """InstructPix2Pix-family checkpoint (8-channel UNet) with the whole instruction as prompt."""

    name, unet_type, role = "instruct", "instruct", "instruct"
    options: InstructOptions

    @torch.inference_mode()
    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        opts, sd = self.options, self.sd
        region = self.region(image, segmentation)
        image_latents = sd.encode_image(region.image, scaled=False)
        image_cond = torch.cat([image_latents, image_latents, torch.zeros_like(image_latents)])
        text = sd.encode_text([plan.instruction, "", ""])
        sched = sd.ddim_schedule(opts.steps, 1.0)

        def eps(x: torch.Tensor, t: int) -> torch.Tensor:
            self.unet_calls += 1
            e_text, e_image, e_uncond = sd.eps(torch.cat([torch.cat([x, x, x]), image_cond], dim=1), t, text).chunk(3)
            return dual_cfg(e_text, e_image, e_uncond, opts.guidance, opts.image_guidance)

        x = ddim.sample(noise_like(image_latents, seed), sched, eps)
        return self.result(image=image, latents=x, region=region, plan=plan, segmentation=segmentation, seed=seed,
                           prompt=plan.instruction)  # fmt: skip
