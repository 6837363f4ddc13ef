"""Figures over CLIP / DINO embeddings (pure functions over feature vectors).

- **CLIP score** (Hessel et al. 2021 as torchmetrics computes it, which PIE-Bench and InstructEdit Table 1 use):
  ``max(100 * cos(E_I, E_C), 0)`` for an image and a caption.
- **CLIP directional similarity** (InstructEdit Table 1, after StyleGAN-NADA / InstructPix2Pix, as in the
  diffusers evaluation guide): ``cos(E_I(edited) - E_I(source), E_T(edited caption) - E_T(source caption))``, each
  embedding first scaled to unit length.
- **CLIP-I / DINO** (MagicBrush, Emu Edit): cosine of the edited and the target image's embeddings; **CLIP-T**
  (MagicBrush): cosine of the edited image and the target's (local) caption.
"""

from __future__ import annotations

import torch


def unit(features: torch.Tensor) -> torch.Tensor:
    """Features divided by their L2 norm (last axis), in float64."""
    f = features.to(torch.float64)
    return f / f.norm(p=2, dim=-1, keepdim=True)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two feature vectors."""
    return float((unit(a) * unit(b)).sum(dim=-1))


def clip_score(image_features: torch.Tensor, text_features: torch.Tensor) -> float:
    """``max(100 * cos, 0)`` of an image's and a caption's CLIP features."""
    return max(100.0 * cosine(image_features, text_features), 0.0)


def directional_similarity(source_image: torch.Tensor, edited_image: torch.Tensor, source_text: torch.Tensor,
                           edited_text: torch.Tensor) -> float:  # fmt: skip
    """``cos(Δimage, Δtext)`` of unit-length CLIP features (0 when either change is zero)."""
    d_img = unit(edited_image) - unit(source_image)
    d_txt = unit(edited_text) - unit(source_text)
    if float(d_img.norm()) == 0.0 or float(d_txt.norm()) == 0.0:
        return 0.0
    return cosine(d_img, d_txt)
