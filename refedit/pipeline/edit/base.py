"""What every Stable Diffusion editor shares: validated common options, the working region (a crop at the
model's resolution) and the paste-back into an :class:`EditResult` with metrics and parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from refedit.pipeline.adapters import parse_loras
from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.core import ddim
from refedit.pipeline.edit.composite import blend_alpha, outside_metrics, paste_back
from refedit.core.geometry import CropPlan, plan_crop
from refedit.pipeline.edit.options import EditorOptions
from refedit.pipeline.imagekeys import image_array
from refedit.pipeline.sd import StableDiffusion

O = TypeVar("O", bound="EditorOptions")


@dataclass(frozen=True, eq=False)
class WorkRegion:
    """The crop of the input an editor works on: ``image`` at ``size`` (the model's resolution), the
    full-resolution paste-back ``alpha`` and the mask at latent size (1, 1, h, w)."""

    crop: CropPlan
    size: tuple[int, int]
    image: Image.Image
    alpha: np.ndarray

    def latent_mask(self, latent_hw: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        x0, y0, x1, y1 = self.crop.box
        m = ddim.downsample_mask(torch.from_numpy(self.alpha[y0:y1, x0:x1] > 0), latent_hw)
        return m.to(like.device, like.dtype)


def work_region(sd: StableDiffusion, image: Image.Image, mask: np.ndarray, options: EditorOptions) -> WorkRegion:
    """Plan the crop, resize it to the model's working size, and build the paste-back alpha."""
    crop = plan_crop(mask, resolution=options.resolution)
    size = sd.working_size(crop.size, options.resolution)
    work = image.crop(crop.box).resize(size, Image.Resampling.LANCZOS)
    alpha = blend_alpha(mask, dilate_px=options.paste_dilate, feather_px=options.feather)
    return WorkRegion(crop=crop, size=size, image=work, alpha=alpha)


def finish(
    *,
    editor: str,
    sd: StableDiffusion,
    image: Image.Image,
    edited_work: Image.Image,
    region: WorkRegion,
    plan: EditPlan,
    segmentation: Segmentation,
    options: EditorOptions,
    seed: int,
    prompt: str,
) -> EditResult:
    """Paste the edited crop back at full resolution and record metrics and the parameters used."""
    out = paste_back(image, edited_work, region.crop, region.alpha)
    edited = Image.fromarray(out, mode="RGB")
    metrics = outside_metrics(image_array(image), out, region.alpha, segmentation.mask)
    parameters = {
        "editor": editor,
        "model": sd.model_id,
        **sd.provenance(),
        **asdict(options),
        "seed": seed,
        "crop": list(region.crop.box),
        "working_size": list(region.size),
        "device": str(sd.store.device),
        "dtype": str(sd.store.dtype).replace("torch.", ""),
        "offload": sd.store.settings.offload,
        "compile": sd.store.settings.compile,
        "cuda_graphs": sd.store.settings.graphs_on(sd.store.device.type),
        "prompt": prompt,
    }
    return EditResult(image=edited, plan=plan, segmentation=segmentation, parameters=parameters, metrics=metrics)


class CheckpointEditor:
    """What the editors on one Stable Diffusion-family checkpoint share: the checkpoint (the ``role``'s, or
    ``model`` from ``--editor-model``), typed options, a UNet call counter, the checkpoint check, the working
    region and the paste-back. Subclasses set ``name``, ``unet_type`` ("sd", "inpaint", "instruct": the checkpoint the editor runs) and ``role``."""

    name: str
    unet_type: str
    role: str

    def __init__(self, store: Any, options: EditorOptions, model: str | None = None) -> None:
        self.sd = StableDiffusion(store, self.role, model, original_config=options.editor_config,
                                  adapters=parse_loras(options.lora), fuse_adapters=options.lora_fuse)
        self.options = options
        self.unet_calls = 0

    def check(self) -> None:
        """Preflight, run when the pipeline is built: the checkpoint is one this editor runs (see
        :meth:`StableDiffusion.check`). Reads config files only: milliseconds, no weight loads."""
        self.sd.check(self.unet_type, self.name)

    def region(self, image: Image.Image, segmentation: Segmentation) -> WorkRegion:
        """Check the checkpoint (cached after the first time), then plan the working crop."""
        self.check()
        return work_region(self.sd, image, segmentation.mask, self.options)

    def result(self, *, image: Image.Image, latents: torch.Tensor, region: WorkRegion, plan: EditPlan,
               segmentation: Segmentation, seed: int, prompt: str) -> EditResult:  # fmt: skip
        """Decode ``latents`` and paste them back (see :func:`finish`)."""
        return finish(editor=self.name, sd=self.sd, image=image, edited_work=self.sd.decode(latents), region=region,
                      plan=plan, segmentation=segmentation, options=self.options, seed=seed, prompt=prompt)  # fmt: skip


