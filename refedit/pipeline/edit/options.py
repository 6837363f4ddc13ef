"""The editors' typed options. Light on purpose (no torch, no numpy): the command line checks every option
value against these before anything heavy is imported. Each field's type and range are checked by
:class:`~refedit.pipeline.stages.StageOptions`; ``__post_init__`` adds what spans fields."""

from __future__ import annotations

from dataclasses import dataclass

from refedit.core.limits import MAX_RESOLUTION, MAX_STEPS, MIN_RESOLUTION
from refedit.pipeline.stages import StageOptions, option

@dataclass(frozen=True)
class EditorOptions(StageOptions):
    """``steps`` T, ``guidance`` w, ``resolution`` (working long side), and the paste-back mask:
    ``paste_dilate`` and ``feather`` in pixels at the input's resolution."""

    steps: int = option(50, 1, MAX_STEPS)
    guidance: float = option(7.5, 0.0)
    resolution: int = option(512, MIN_RESOLUTION, MAX_RESOLUTION)
    paste_dilate: int = option(4, 0)
    feather: int = option(8, 0)


@dataclass(frozen=True)
class DiffEditOptions(EditorOptions):
    """``encode_ratio`` r (InstructEdit's 0.5), the same for inversion and denoising (a mismatch is a known
    DiffEdit pitfall); ``inversion_cache`` how many inversions to keep for reuse (same image, source
    caption, r, T and seed: a batch editing one image with several instructions inverts it once)."""

    encode_ratio: float = option(0.5, 0.0, 1.0, lo_open=True)
    inversion_cache: int = option(4, 0)


@dataclass(frozen=True)
class InpaintOptions(EditorOptions):
    """``strength`` 1.0 regenerates the masked region from pure noise; lower keeps more of the input."""

    strength: float = option(1.0, 0.0, 1.0, lo_open=True)
    paste_dilate: int = option(8, 0)


@dataclass(frozen=True)
class InstructOptions(EditorOptions):
    """``image_guidance`` s_I (InstructPix2Pix's default 1.5); ``guidance`` is the text scale s_T.
    ReferDiffusion-style edits that change the object's shape want a larger ``paste_dilate``."""

    image_guidance: float = option(1.5, 0.0)


@dataclass(frozen=True)
class SDEditOptions(EditorOptions):
    """``strength``: the sampling ratio s (0 keeps the input, 1 starts from pure noise; iEdit uses 0.6-0.8)."""

    strength: float = option(0.7, 0.0, 1.0, lo_open=True)
