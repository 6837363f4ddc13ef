"""The DiffEdit editor (InstructEdit Sec. 3.4, Eq. 2-4): DDIM-invert the image with the source caption to
the encoding ratio r, then denoise with the edited caption and classifier-free guidance, replacing the
latents outside the mask by the inversion trajectory's latents at every step; paste back at full
resolution so the outside of the mask is bit-identical to the input.

Where diffusers' deprecated ``StableDiffusionDiffEditPipeline`` differs (see
tests/test_diffedit_reference.py): it inverts with guidance 7.5 by default (Eq. 3 uses the plain
conditional ε), and it blends after step t_i → t_{i-1} with the inverted latent at t_i, one step noisier,
never returning to z_0 outside the mask; refedit follows Eq. 4 (same noise level, ending on z_0)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from PIL import Image

from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.core import ddim
from refedit.pipeline.edit.base import CheckpointEditor
from refedit.pipeline.edit.options import DiffEditOptions
from refedit.pipeline.models import ModelStore
from refedit.pipeline.stages import Progress


@dataclass(frozen=True)
class Inversion:
    """The DDIM inversion trajectory: ``latents[k]`` is x at ``schedule.timesteps[k]``; ``start`` is z_0."""

    start: torch.Tensor
    latents: tuple[torch.Tensor, ...]
    schedule: ddim.Schedule


class DiffEditEditor(CheckpointEditor):
    """Mask-guided DDIM on a Stable Diffusion checkpoint (default editor)."""

    name, kind, role = "diffedit", "sd", "sd"
    options: DiffEditOptions

    def __init__(
        self,
        store: ModelStore,
        options: DiffEditOptions,
        model: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(store, options, model)
        self.progress = progress
        self._inversions: OrderedDict[tuple[object, ...], Inversion] = OrderedDict()

    def schedule(self) -> ddim.Schedule:
        """The partial DDIM schedule from the checkpoint's own scheduler config (SD 1.5 ships PNDM values)."""
        return self.sd.ddim_schedule(self.options.steps, self.options.encode_ratio)

    def _eps(self, x: torch.Tensor, t: int, text: torch.Tensor) -> torch.Tensor:
        self.unet_calls += 1
        return self.sd.eps(x, t, text)

    def _report(self, task: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(task, done, total)

    @torch.inference_mode()
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

    @torch.inference_mode()
    def denoise(self, inversion: Inversion, edited_caption: str, mask: torch.Tensor, guidance: float) -> torch.Tensor:
        """Denoise from x_{t_r} with CFG on the edited caption, keeping the inversion latents outside the mask
        (Eq. 2 and 4): ⌈r·T⌉ batched UNet calls."""
        sched = inversion.schedule
        text = self.sd.encode_text(["", edited_caption])

        def eps(x: torch.Tensor, t: int) -> torch.Tensor:
            return ddim.cfg(*self._eps(torch.cat([x, x]), t, text).chunk(2), guidance)

        def blend(k: int, x: torch.Tensor) -> torch.Tensor:  # outside the mask: the inversion's own latents
            keep = inversion.latents[k + 1] if k + 1 < len(inversion.latents) else inversion.start
            self._report("edit", k + 1, len(sched.timesteps))
            return ddim.blend_latents(x, keep, mask)

        return ddim.sample(inversion.latents[0], sched, eps, blend)

    def cached_inversion(self, work: Image.Image, source_caption: str, seed: int) -> Inversion:
        """:meth:`invert` once per (working image, source caption, r, T, seed, model, dtype)."""
        opts = self.options
        key = (hash(work.tobytes()), work.size, source_caption, opts.encode_ratio, opts.steps, seed,
               self.sd.model_id, str(self.sd.store.dtype))  # fmt: skip
        if key in self._inversions:
            self._inversions.move_to_end(key)
            return self._inversions[key]
        inversion = self.invert(self.sd.encode_image(work, self.sd.generator(seed)), source_caption)
        if opts.inversion_cache > 0:
            self._inversions[key] = inversion
            while len(self._inversions) > opts.inversion_cache:
                self._inversions.popitem(last=False)
        return inversion

    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        """Edit the masked region of ``image`` as ``plan`` says; the result has the input's size."""
        region = self.region(image, segmentation)
        inversion = self.cached_inversion(region.image, plan.source_caption, seed)
        mask = region.latent_mask(tuple(inversion.start.shape[-2:]), inversion.start)
        latents = self.denoise(inversion, plan.edited_caption, mask, self.options.guidance)
        return self.result(image=image, latents=latents, region=region, plan=plan, segmentation=segmentation,
                           seed=seed, prompt=f"{plan.source_caption} -> {plan.edited_caption}")  # fmt: skip
