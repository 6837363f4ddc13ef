"""SDEdit with mask blending, iEdit's inference (iEdit Sec. 3.4, Eq. 13): noise the source latent z_0 to
the sampling ratio s, denoise with the edited caption on any fine-tuned SD checkpoint, and at every DDIM
step replace the latents outside the mask by the source noised to that step, z̃_t = M̄ ⊙ z_t + M ⊙ z̃_t."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from PIL import Image

from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.pipeline.edit import ddim
from refedit.pipeline.edit.base import CheckpointEditor, EditorOptions, check_fraction, noise_like


@dataclass(frozen=True)
class SDEditOptions(EditorOptions):
    """``strength``: the sampling ratio s (0 keeps the input, 1 starts from pure noise; iEdit uses 0.6-0.8)."""

    strength: float = 0.7

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("strength", self.strength)



class SDEditEditor(CheckpointEditor):
    """SDEdit + mask blending on a plain (4-channel) SD checkpoint, e.g. iEdit's fine-tuned weights."""

    name, kind, role = "sdedit", "sd", "sd"
    options: SDEditOptions

    @torch.inference_mode()
    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        opts, sd = self.options, self.sd
        region = self.region(image, segmentation)
        z0 = sd.encode_image(region.image, sd.generator(seed))
        noise = noise_like(z0, seed)
        mask = region.latent_mask(tuple(z0.shape[-2:]), z0)
        sched = sd.ddim_schedule(opts.steps, opts.strength)
        text = sd.encode_text(["", plan.edited_caption])
        x = ddim.noised(z0, noise, sched.alphas[0])
        for k, t in enumerate(sched.timesteps):
            eps_u, eps_c = sd.eps(torch.cat([x, x]), t, text).chunk(2)
            self.unet_calls += 1
            x = ddim.ddim_step(x, ddim.cfg(eps_u, eps_c, opts.guidance), sched.alphas[k], sched.alphas_prev[k])
            source = ddim.noised(z0, noise, sched.alphas_prev[k]) if k + 1 < len(sched.timesteps) else z0
            x = ddim.blend_latents(x, source, mask)
        return self.result(image=image, latents=x, region=region, plan=plan, segmentation=segmentation, seed=seed,
                           prompt=plan.edited_caption)  # fmt: skip
