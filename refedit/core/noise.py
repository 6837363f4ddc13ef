"""Seeded noise: every random draw of an edit comes from its own stream of the user's seed."""

from __future__ import annotations

import hashlib

import torch


def derived_seed(seed: int, stream: str) -> int:
    """An independent seed for the named random ``stream`` of one edit (the first 63 bits of
    BLAKE2b(``"{seed}:{stream}"``)): two draws of one edit never share a generator state, and the same seed
    still gives the same image."""
    digest = hashlib.blake2b(f"{seed}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def noise_like(latents: torch.Tensor, seed: int) -> torch.Tensor:
    """Seeded standard normal noise of ``latents``' shape (drawn on the CPU so every device agrees)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(latents.shape, generator=g, dtype=torch.float32).to(latents.device, latents.dtype)
