"""Where the image sits in Ref-Diff's square SD input (the official code pads black, centred) and the way
back from the working size to the image's size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Square:
    """Where the image sits in the padded square SD input: ``side`` pixels of the original per square side,
    ``offset`` (x, y) of the image in the square (original pixels), ``work`` (w, h): the image's size
    inside the ``resolution``-pixel square."""

    side: int
    offset: tuple[int, int]
    resolution: int
    work: tuple[int, int]

    @classmethod
    def of(cls, size: tuple[int, int], resolution: int) -> Square:
        w, h = size
        s = max(w, h)
        work = (max(1, round(w * resolution / s)), max(1, round(h * resolution / s)))
        return cls(s, ((s - w) // 2, (s - h) // 2), resolution, work)

    @property
    def work_offset(self) -> tuple[int, int]:
        return (
            (self.resolution - self.work[0]) // 2,
            (self.resolution - self.work[1]) // 2,
        )


def square_input(image: Image.Image, resolution: int, multiple: int) -> tuple[Image.Image, Square]:
    """The image downscaled into a black ``resolution``-pixel square (rounded to ``multiple``, the SD
    latent's size multiple), centred, and where it sits there. Downscaling first bounds the memory."""
    res = max(multiple, round(resolution / multiple) * multiple)
    sq = Square.of(image.size, res)
    work = image.convert("RGB").resize(sq.work, Image.BICUBIC)
    canvas = Image.new("RGB", (res, res), (0, 0, 0))
    canvas.paste(work, sq.work_offset)
    return canvas, sq


def to_image(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A working-size bool mask brought to the image's (W, H) size (pixel-centre sampling)."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask.copy()
    w, h = size
    rows = np.minimum(((np.arange(h) + 0.5) * mask.shape[0] / h).astype(np.intp), mask.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * mask.shape[1] / w).astype(np.intp), mask.shape[1] - 1)
    return mask[rows[:, None], cols[None, :]]
