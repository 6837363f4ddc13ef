"""SDEdit with mask blending, iEdit's inference (iEdit Sec. 3.4, Eq. 13): noise the source latent z_0 to
the sampling ratio s, denoise with the edited caption on any fine-tuned SD checkpoint, and at every DDIM
step replace the latents outside the mask by the source noised to that step, z̃_t = M̄ ⊙ z_t + M ⊙ z̃_t."""

from __future__ import annotations

import torch
from PIL import Image

from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.core import ddim
from refedit.pipeline.edit.base import CheckpointEditor
from refedit.core.noise import derived_seed, noise_like
from refedit.pipeline.edit.options import SDEditOptions


class SDEditEditor(CheckpointEditor):
    """SDEdit + mask blending on a plain (4-channel) SD checkpoint, e.g. iEdit's fine-tuned weights."""

    name, unet_type, role = "sdedit", "sd", "sd"
    options: SDEditOptions

    @torch.inference_mode()
    def start(self, work: Image.Image, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """z_0, a VAE posterior sample drawn with ``seed``, and the forward-process noise ε drawn from the
        independent stream ``derived_seed(seed, "noise")`` (one generator state for both would make ε the
        very draw that sampled z_0)."""
        z0 = self.sd.encode_image(work, self.sd.generator(seed))
        return z0, noise_like(z0, derived_seed(seed, "noise"))

    @torch.inference_mode()
    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        opts, sd = self.options, self.sd
        region = self.region(image, segmentation)
        z0, noise = self.start(region.image, seed)
        mask = region.latent_mask(tuple(z0.shape[-2:]), z0)
        sched = sd.ddim_schedule(opts.steps, opts.strength)
        text = sd.encode_text(["", plan.edited_caption])

        def eps(x: torch.Tensor, t: int) -> torch.Tensor:
            self.unet_calls += 1
            return ddim.cfg(*sd.eps(torch.cat([x, x]), t, text).chunk(2), opts.guidance)

        def blend(k: int, x: torch.Tensor) -> torch.Tensor:  # outside the mask: the input, noised to this step
            source = ddim.noised(z0, noise, sched.alphas_prev[k]) if k + 1 < len(sched.timesteps) else z0
            return ddim.blend_latents(x, source, mask)

        x = ddim.sample(ddim.noised(z0, noise, sched.alphas[0]), sched, eps, blend)
        return self.result(image=image, latents=x, region=region, plan=plan, segmentation=segmentation, seed=seed,
                           prompt=plan.edited_caption)  # fmt: skip
