"""What every Stable Diffusion editor shares: validated common options, the working region (a crop at the
model's resolution) and the paste-back into an :class:`EditResult` with metrics and parameters."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

from refedit.errors import BadInput
from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.pipeline.edit import ddim
from refedit.pipeline.edit.composite import CropPlan, blend_alpha, paste_back, plan_crop, psnr
from refedit.pipeline.sd import StableDiffusion
from refedit.pipeline.stages import StageOptions

O = TypeVar("O", bound="EditorOptions")


@dataclass(frozen=True)
class EditorOptions(StageOptions):
    """``steps`` T, ``guidance`` w, ``resolution`` (working long side), and the paste-back mask:
    ``paste_dilate`` and ``feather`` in pixels at the input's resolution."""

    steps: int = 50
    guidance: float = 7.5
    resolution: int = 512
    paste_dilate: int = 4
    feather: int = 8

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise BadInput(f"--steps must be at least 1, got {self.steps}")
        if self.guidance < 0:
            raise BadInput(f"--guidance must be >= 0, got {self.guidance}")
        if self.resolution < 64:
            raise BadInput(f"--resolution must be at least 64, got {self.resolution}")
        if self.paste_dilate < 0 or self.feather < 0:
            raise BadInput("--paste-dilate and --feather must be >= 0")



def check_fraction(name: str, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise BadInput(f"--{name.replace('_', '-')} must be in (0, 1], got {value}")


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
    edited = paste_back(image, edited_work, region.crop, region.alpha)
    src, out, mask = np.asarray(image), np.asarray(edited), segmentation.mask
    metrics = {
        "outside_psnr": psnr(src, out, where=region.alpha == 0),
        "outside_mask_psnr": psnr(src, out, where=~mask),
    }
    parameters = {
        "editor": editor,
        "model": sd.model_id,
        **asdict(options),
        "seed": seed,
        "crop": list(region.crop.box),
        "working_size": list(region.size),
        "device": str(sd.store.device),
        "dtype": str(sd.store.dtype).replace("torch.", ""),
        "offload": sd.store.settings.offload,
        "compile": sd.store.settings.compile,
        "prompt": prompt,
    }
    return EditResult(image=edited, plan=plan, segmentation=segmentation, parameters=parameters, metrics=metrics)


class CheckpointEditor:
    """What the editors on one Stable Diffusion-family checkpoint share: the checkpoint (the ``role``'s, or
    ``model`` from ``--editor-model``), typed options, a UNet call counter, the kind check, the working
    region and the paste-back. Subclasses set ``name``, ``kind`` ("sd", "inpaint", "instruct") and ``role``."""

    name: str
    kind: str
    role: str

    def __init__(self, store: Any, options: EditorOptions, model: str | None = None) -> None:
        self.sd = StableDiffusion(store, self.role, model)
        self.options = options
        self.unet_calls = 0

    def region(self, image: Image.Image, segmentation: Segmentation) -> WorkRegion:
        """Check the checkpoint's kind, then plan the working crop."""
        self.sd.check_kind(self.kind, self.name)
        return work_region(self.sd, image, segmentation.mask, self.options)

    def result(self, *, image: Image.Image, latents: torch.Tensor, region: WorkRegion, plan: EditPlan,
               segmentation: Segmentation, seed: int, prompt: str) -> EditResult:  # fmt: skip
        """Decode ``latents`` and paste them back (see :func:`finish`)."""
        return finish(editor=self.name, sd=self.sd, image=image, edited_work=self.sd.decode(latents), region=region,
                      plan=plan, segmentation=segmentation, options=self.options, seed=seed, prompt=prompt)  # fmt: skip


def noise_like(latents: torch.Tensor, seed: int) -> torch.Tensor:
    """Seeded standard normal noise of ``latents``' shape (drawn on the CPU so every device agrees)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(latents.shape, generator=g, dtype=torch.float32).to(latents.device, latents.dtype)
