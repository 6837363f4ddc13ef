"""The DiffEdit editor (InstructEdit Sec. 3.4, Eq. 2-4): DDIM-invert the image with the source caption to
the encoding ratio r, then denoise with the edited caption and classifier-free guidance, replacing the
latents outside the mask by the inversion trajectory's latents at every step; paste back at full
resolution so the outside of the mask is bit-identical to the input."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from refedit.errors import BadInput
from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.pipeline.edit import ddim
from refedit.pipeline.edit.composite import blend_alpha, paste_back, plan_crop, psnr
from refedit.pipeline.models import ModelStore
from refedit.pipeline.sd import StableDiffusion
from refedit.pipeline.stages import Progress


@dataclass(frozen=True)
class DiffEditOptions:
    """``steps`` T, ``encode_ratio`` r (InstructEdit's 0.5), ``guidance`` w, ``resolution`` (long side of
    the working image), ``dilate``/``feather`` (pixels, at the input's resolution) of the paste-back mask."""

    steps: int = 50
    encode_ratio: float = 0.5
    guidance: float = 7.5
    resolution: int = 512
    dilate: int = 4
    feather: int = 8

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise BadInput(f"--steps must be at least 1, got {self.steps}")
        if not 0.0 < self.encode_ratio <= 1.0:
            raise BadInput(f"--encode-ratio must be in (0, 1], got {self.encode_ratio}")
        if self.guidance < 0:
            raise BadInput(f"--guidance must be >= 0, got {self.guidance}")
        if self.resolution < 64:
            raise BadInput(f"--resolution must be at least 64, got {self.resolution}")
        if self.dilate < 0 or self.feather < 0:
            raise BadInput("--dilate and --feather must be >= 0")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> "DiffEditOptions":
        """Take the options this editor understands (others are ignored); ``None`` means default."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in options.items() if k in names and v is not None})


@dataclass(frozen=True)
class Inversion:
    """The DDIM inversion trajectory: ``latents[k]`` is x at ``schedule.timesteps[k]``; ``start`` is z_0."""

    start: torch.Tensor
    latents: tuple[torch.Tensor, ...]
    schedule: ddim.Schedule


class DiffEditEditor:
    """Mask-guided DDIM on a Stable Diffusion checkpoint (default editor)."""

    name = "diffedit"

    def __init__(
        self, store: ModelStore, options: DiffEditOptions, role: str = "sd", progress: Progress | None = None
    ) -> None:
        self.sd = StableDiffusion(store, role)
        self.options = options
        self.progress = progress
        self.unet_calls = 0

    def schedule(self) -> ddim.Schedule:
        """The partial DDIM schedule from the checkpoint's own scheduler config (SD 1.5 ships PNDM values)."""
        from diffusers import DDIMScheduler

        sched = self.sd.store.cached(
            ("ddim", self.sd.model_id), lambda: DDIMScheduler.from_config(self.sd.scheduler_config)
        )
        cfg = sched.config
        return ddim.ddim_schedule(
            sched.alphas_cumprod,
            steps=self.options.steps,
            ratio=self.options.encode_ratio,
            num_train_timesteps=cfg.num_train_timesteps,
            steps_offset=cfg.steps_offset,
            final_alpha=float(sched.final_alpha_cumprod),
        )

    def _eps(self, x: torch.Tensor, t: int, text: torch.Tensor) -> torch.Tensor:
        self.unet_calls += 1
        timestep = torch.tensor(t, device=x.device)
        return self.sd.unet(x, timestep, encoder_hidden_states=text).sample

    def _report(self, task: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(task, done, total)

    @torch.no_grad()
    def invert(self, z0: torch.Tensor, source_caption: str) -> Inversion:
        """DDIM-invert z_0 with the source caption (no guidance) to ratio r (Eq. 3): ⌈r·T⌉ UNet calls."""
        sched = self.schedule()
        text = self.sd.encode_text([source_caption])
        x = z0
        latents: list[torch.Tensor] = []
        for k in reversed(range(len(sched.timesteps))):
            eps = self._eps(x, sched.timesteps[k], text)
            x = ddim.ddim_inverse_step(x, eps, sched.alphas_prev[k], sched.alphas[k])
            latents.append(x)
            self._report("invert", len(latents), len(sched.timesteps))
        return Inversion(start=z0, latents=tuple(reversed(latents)), schedule=sched)

    @torch.no_grad()
    def denoise(self, inversion: Inversion, edited_caption: str, mask: torch.Tensor, guidance: float) -> torch.Tensor:
        """Denoise from x_{t_r} with CFG on the edited caption, keeping the inversion latents outside the mask
        (Eq. 2 and 4): ⌈r·T⌉ batched UNet calls."""
        sched = inversion.schedule
        text = self.sd.encode_text(["", edited_caption])
        x = inversion.latents[0]
        for k, t in enumerate(sched.timesteps):
            eps_u, eps_c = self._eps(torch.cat([x, x]), t, text).chunk(2)
            x = ddim.ddim_step(x, ddim.cfg(eps_u, eps_c, guidance), sched.alphas[k], sched.alphas_prev[k])
            keep = inversion.latents[k + 1] if k + 1 < len(inversion.latents) else inversion.start
            x = ddim.blend_latents(x, keep, mask)
            self._report("edit", k + 1, len(sched.timesteps))
        return x

    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        """Edit the masked region of ``image`` as ``plan`` says; the result has the input's size."""
        opts = self.options
        self.sd.check_kind("sd", self.name)
        mask = segmentation.mask
        crop = plan_crop(mask, resolution=opts.resolution)
        x0, y0, x1, y1 = crop.box
        work_size = self.sd.working_size(crop.size, opts.resolution)
        work = image.crop(crop.box).resize(work_size, Image.Resampling.LANCZOS)
        alpha = blend_alpha(mask, dilate_px=opts.dilate, feather_px=opts.feather)
        z0 = self.sd.encode_image(work, self.sd.generator(seed))
        latent_mask = ddim.downsample_mask(torch.from_numpy(alpha[y0:y1, x0:x1] > 0), tuple(z0.shape[-2:]))
        latent_mask = latent_mask.to(z0.device, z0.dtype)
        inversion = self.invert(z0, plan.source_caption)
        latents = self.denoise(inversion, plan.edited_caption, latent_mask, opts.guidance)
        edited = paste_back(image, self.sd.decode(latents), crop, alpha)
        src, out = np.asarray(image), np.asarray(edited)
        metrics = {
            "outside_psnr": psnr(src[alpha == 0], out[alpha == 0]),
            "outside_mask_psnr": psnr(src[~mask], out[~mask]),
        }
        parameters = {
            "editor": self.name,
            "model": self.sd.model_id,
            **asdict(opts),
            "seed": seed,
            "crop": list(crop.box),
            "working_size": list(work_size),
            "device": str(self.sd.store.device),
            "dtype": str(self.sd.store.dtype).replace("torch.", ""),
            "source_caption": plan.source_caption,
            "edited_caption": plan.edited_caption,
        }
        return EditResult(image=edited, plan=plan, segmentation=segmentation, parameters=parameters, metrics=metrics)
