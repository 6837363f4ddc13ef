"""The ROOT token's attention map c (Eq. 5) drawn over the image (``refedit segment --attention``)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def overlay_heatmap(
    image: Image.Image, heat: np.ndarray, opacity: float = 0.5
) -> Image.Image:
    """``heat`` (HxW in [0, 1], the image's size) rendered as a blue→red colour map over ``image``."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    rgb = np.stack([np.clip(1.5 - np.abs(4 * h - k), 0, 1) for k in (3, 2, 1)], axis=-1)
    colour = Image.fromarray((rgb * 255).astype(np.uint8), mode="RGB")
    if colour.size != image.size:
        colour = colour.resize(image.size, Image.BILINEAR)
    return Image.blend(image.convert("RGB"), colour, opacity)
