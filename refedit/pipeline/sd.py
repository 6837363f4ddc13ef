"""Stable Diffusion components from the ModelStore, and the small operations stages share on them:
text encoding, VAE encode/decode, working resolution. Used by the DiffEdit editor and Ref-Diff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from refedit.errors import ModelUnavailable
from refedit.pipeline.models import ModelStore

UNET_KINDS = {4: "sd", 9: "inpaint", 8: "instruct"}


@dataclass
class StableDiffusion:
    """Lazily loaded SD components of one model role, shared through the :class:`ModelStore`."""

    store: ModelStore
    role: str = "sd"

    @property
    def model_id(self) -> str:
        return self.store.model_id(self.role)

    @property
    def unet(self) -> Any:
        return self.store.get(self.role, "unet")

    @property
    def vae(self) -> Any:
        return self.store.get(self.role, "vae")

    @property
    def scheduler_config(self) -> Any:
        return self.store.get(self.role, "scheduler")

    @property
    def vae_scale(self) -> int:
        """Pixels per latent cell: 2 ** (number of VAE blocks − 1) (8 for SD 1.5)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this for the UNet's downsampling to divide evenly."""
        return self.vae_scale * 2 ** (len(self.unet.config.block_out_channels) - 1)

    def check_kind(self, expected: str, editor: str) -> None:
        """Raise :class:`ModelUnavailable` when the UNet's input channels do not fit ``expected``."""
        channels = int(self.unet.config.in_channels)
        kind = UNET_KINDS.get(channels, f"{channels}-channel")
        if kind != expected:
            raise ModelUnavailable(
                f"{self.model_id!r} is a {kind} checkpoint ({channels}-channel UNet) but the {editor} editor needs "
                f"a {expected} checkpoint ({ {v: k for k, v in UNET_KINDS.items()}[expected] } channels)"
            )

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """CLIP text embeddings (B, 77, D) of ``prompts``, padded to the tokenizer's max length."""
        tok = self.store.get(self.role, "tokenizer")
        enc = self.store.get(self.role, "text_encoder")
        ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
        return enc(ids.input_ids.to(self.store.device))[0].to(self.store.dtype)

    @torch.no_grad()
    def encode_image(self, image: Image.Image, generator: torch.Generator | None = None) -> torch.Tensor:
        """VAE latents z_0 = scale · E(x) of an RGB image (sampled from the posterior with ``generator``)."""
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        x = x.to(self.store.device, self.store.dtype)
        dist = self.vae.encode(x).latent_dist
        z = dist.sample(generator) if generator is not None else dist.mean
        return z * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> Image.Image:
        """Decode latents to an RGB PIL image."""
        x = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        arr = ((x[0].float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return Image.fromarray(arr, mode="RGB")

    def working_size(self, size: tuple[int, int], long_side: int) -> tuple[int, int]:
        """(W, H) with the long side ``long_side``, aspect kept, both multiples of :attr:`size_multiple`."""
        w, h = size
        scale = long_side / max(w, h)
        m = self.size_multiple
        return (max(m, round(w * scale / m) * m), max(m, round(h * scale / m) * m))

    def generator(self, seed: int) -> torch.Generator:
        device = self.store.device
        return torch.Generator(device="cpu" if device.type == "mps" else device).manual_seed(seed)
