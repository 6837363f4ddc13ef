"""The editors' typed options. Light on purpose (no torch, no numpy): the command line checks every option
value against these before anything heavy is imported. Each field's type and range are checked by
:class:`~refedit.pipeline.stages.StageOptions`; ``__post_init__`` adds what spans fields."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from refedit.errors import BadInput
from refedit.core.limits import MAX_RESOLUTION, MAX_STEPS, MIN_RESOLUTION
from refedit.pipeline.stages import StageOptions, option

@dataclass(frozen=True)
class EditorOptions(StageOptions):
    """``steps`` T, ``guidance`` w, ``resolution`` (working long side), and the paste-back mask:
    ``paste_dilate`` and ``feather`` in pixels at the input's resolution. The checkpoint: ``editor_config`` the
    original ``.yaml`` of a single-file ``--editor-model``; ``lora`` adapters ``FILE|ID[:SCALE]`` on its UNet and
    text encoder, merged into the weights when ``lora_fuse``."""

    steps: int = option(50, 1, MAX_STEPS)
    guidance: float = option(7.5, 0.0)
    resolution: int = option(512, MIN_RESOLUTION, MAX_RESOLUTION)
    paste_dilate: int = option(4, 0)
    feather: int = option(8, 0)
    editor_config: str | None = None
    lora: tuple[str, ...] = ()
    lora_fuse: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        from refedit.pipeline.adapters import parse_loras

        object.__setattr__(self, "lora", tuple(str(spec) for spec in parse_loras(self.lora)))
        if self.lora_fuse and not self.lora:  # it was taken, and there was nothing to merge
            raise BadInput("--lora-fuse merges the --lora adapters into the weights: give at least one --lora")


#: the most encoding ratios one sweep may denoise, and the most outputs per ratio
MAX_RATIOS, MAX_OUTPUTS = 20, 16
#: the ratios ``auto_ratio`` tries when no sweep is given (InstructEdit Fig. 7 / App. D.3 show r from weak to strong)
AUTO_RATIOS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def parse_ratios(value: object) -> tuple[float, ...]:
    """Encoding ratios from ``"0.3,0.5,0.7"``, a ``"START:STOP:STEP"`` sweep (STOP included when the steps land
    on it, e.g. ``0.3:0.8:0.1`` gives 0.3, 0.4, ..., 0.8), or a list of numbers: sorted, unique, each in (0, 1]."""
    if value in (None, "", (), []):
        return ()
    bad = f"encoding ratios must be R1,R2,... or START:STOP:STEP with ratios in (0, 1], got {value!r}"
    try:
        if isinstance(value, str) and ":" in value:
            start, stop, step = (float(v) for v in value.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(math.floor((stop - start) / step + 1e-6)) + 1
            ratios = [round(start + i * step, 6) for i in range(count)]
        else:
            items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
            ratios = [float(v) for v in items]
    except (TypeError, ValueError):
        raise BadInput(bad) from None
    if not ratios or any(not (0.0 < r <= 1.0 and math.isfinite(r)) for r in ratios):
        raise BadInput(bad)
    out = tuple(sorted(set(ratios)))
    if len(out) > MAX_RATIOS:
        raise BadInput(f"at most {MAX_RATIOS} encoding ratios per sweep, got {len(out)}")
    return out


#: the options that choose the encoding ratios of an edit: a manifest row giving one of them chooses them all
RATIO_OPTIONS = ("encode_ratio", "encode_ratios", "auto_ratio")


def ratio_list_as_sweep(options: dict[str, Any],
                        ways: str = "--encode-ratio R1,R2,... or --sweep START:STOP:STEP") -> dict[str, Any]:  # fmt: skip
    """``options`` with an ``encode_ratio`` given as a list (``"0.3,0.5"``) or a range (``"0.3:0.7:0.1"``) moved
    to ``encode_ratios`` (a sweep), as ``--encode-ratio 0.3,0.5`` is; a sweep given both ways is :class:`BadInput`
    (``ways``: the two ways, for the message), and so is one ratio given beside a sweep (``--encode-ratio 0.9 --sweep
    0.3:0.5:0.1`` denoised the sweep and dropped 0.9)."""
    ratio = options.get("encode_ratio")
    if ratio is not None and options.get("encode_ratios") is not None:
        raise BadInput(f"give the encoding ratios once: {ways}")
    if not (isinstance(ratio, str) and ("," in ratio or ":" in ratio)):
        return options
    return {**options, "encode_ratios": ratio, "encode_ratio": None}


def variant_label(ratio: float, number: int, sweep: bool, several: bool) -> str:
    """A result's name in file names: "r0.30" (a sweep), "2" (several outputs), "r0.30_2" (both)."""
    parts = ([f"r{ratio:.2f}"] if sweep else []) + ([str(number)] if several else [])
    return "_".join(parts) or "1"


def planned_labels(options: Mapping[str, Any]) -> list[str]:
    """The labels of the results an edit with these stage options writes as separate files (empty: one result,
    which ``--auto-ratio`` also gives): every ratio of a sweep times every output number."""
    ratios = parse_ratios(options.get("encode_ratios"))
    n = int(options.get("num_outputs") or 1)
    first = int(options.get("variant") or 1)
    if options.get("auto_ratio") or (len(ratios) <= 1 and n == 1):
        return []
    sweep = len(ratios) > 1
    return [variant_label(r, k, sweep, n > 1) for r in (ratios or (0.5,)) for k in range(first, first + n)]


@dataclass(frozen=True)
class DiffEditOptions(EditorOptions):
    """``encode_ratio`` r (InstructEdit's 0.5), the same for inversion and denoising (a mismatch is a known
    DiffEdit pitfall); ``inversion_cache`` how many inversions to keep for reuse (same image, source
    caption, T and seed, any r: a batch editing one image with several instructions inverts it once, and a
    smaller r reuses the start of a larger one's trajectory).

    Several results from one inversion: ``encode_ratios`` (a sweep, see :func:`parse_ratios`) inverts once to the
    largest and denoises from each ratio's point of that trajectory; ``num_outputs`` N denoises N outputs as one
    latent batch, numbered ``variant`` .. ``variant`` + N − 1. The DDIM inversion is deterministic, so the seed
    reaches it only through the VAE posterior sample of z_0, which all outputs share; what makes the outputs
    differ is stochastic DDIM sampling (DDIM Eq. 12, σ_t(``eta``)) inside the mask, each output with its own
    noise stream (of the seed and its number). ``eta`` None is 0 (DiffEdit's deterministic sampling) for one
    output and 1 for several, or for one of several (``variant`` given). ``auto_ratio`` tries the ratios
    (``encode_ratios``, else :data:`AUTO_RATIOS`) from the smallest and keeps the first whose edited region
    reaches ``auto_threshold`` of CLIP directional similarity towards the edited caption (InstructEdit's Table 1
    reports 0.08-0.11 over whole images)."""

    encode_ratio: float = option(0.5, 0.0, 1.0, lo_open=True)
    inversion_cache: int = option(4, 0)
    encode_ratios: tuple[float, ...] = ()
    num_outputs: int = option(1, 1, MAX_OUTPUTS)
    variant: int | None = option(None, 1)
    eta: float | None = option(None, 0.0, 1.0)
    auto_ratio: bool = False
    auto_threshold: float = option(0.1, -1.0, 1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.auto_ratio and self.num_outputs > 1:
            raise BadInput("--auto-ratio keeps one result; it cannot give --num-outputs "
                           f"{self.num_outputs} (sweep with --encode-ratio R1,R2,... to see several)")  # fmt: skip
        ratios = parse_ratios(self.encode_ratios)
        object.__setattr__(self, "encode_ratios", ratios or (AUTO_RATIOS if self.auto_ratio else ()))

    @property
    def ratios(self) -> tuple[float, ...]:
        """The encoding ratios this edit denoises, ascending (one unless sweeping)."""
        return self.encode_ratios or (self.encode_ratio,)

    @property
    def sampling_eta(self) -> float:
        """η of the denoising: the option, else 0 for one output and 1 for several, or for one of several
        (``variant`` given: "-O variant=3" redoes ``OUT_3.png`` of ``--num-outputs``, which had η 1)."""
        if self.eta is not None:
            return self.eta
        return 1.0 if self.num_outputs > 1 or self.variant is not None else 0.0

    @property
    def first_variant(self) -> int:
        """The number of the first output (``variant``, else 1)."""
        return self.variant or 1


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
    """``strength``: the sampling ratio s (near 0 keeps the input; 1 starts from the input noised to the schedule's
    first timestep, ᾱ ≈ 0.006 for SD at 50 steps, almost pure noise, as diffusers' img2img; iEdit uses 0.6-0.8)."""

    strength: float = option(0.7, 0.0, 1.0, lo_open=True)


@dataclass(frozen=True)
class InstructionEditOptions(StageOptions):
    """The instruction editors (Qwen-Image-Edit, FLUX.1 Kontext) on a crop around the target.

    ``steps`` of the flow-matching sampler; ``guidance`` the checkpoint's guidance (Qwen's true CFG scale, Kontext's
    distilled guidance); ``resolution`` r: the model works at about r x r pixels in the crop's aspect (1024: the
    ~1 MP both were trained at); ``context`` the margin around the edited region, as a fraction of its longer side,
    that the crop adds for the model to see; ``mask_mode`` object | box | expand:N (None: by the plan's action,
    see :mod:`refedit.pipeline.edit.region`); ``strength`` 1.0 regenerates the region from noise; ``mask_aware``
    runs the checkpoint's inpainting pipeline (the mask constrains every denoising step) where diffusers has one;
    ``paste_dilate`` and ``feather`` shape the paste-back mask at the input's resolution."""

    steps: int = option(28, 1, MAX_STEPS)
    guidance: float = option(4.0, 0.0)
    resolution: int = option(1024, MIN_RESOLUTION, MAX_RESOLUTION)
    context: float = option(0.5, 0.0, 4.0)
    mask_mode: str | None = None
    strength: float = option(1.0, 0.0, 1.0, lo_open=True)
    mask_aware: bool = True
    max_sequence_length: int = option(512, 16, 1024)
    paste_dilate: int = option(4, 0)
    feather: int = option(8, 0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.strength != 1.0 and not self.mask_aware:  # it was taken, recorded, and had no effect
            raise BadInput(f"strength {self.strength:g} acts on the mask-aware pipeline only (mask_aware=true); the "
                           "plain one regenerates the crop from noise")  # fmt: skip
        if self.mask_mode is not None:
            from refedit.pipeline.edit.region import parse_mask_mode

            object.__setattr__(self, "mask_mode", str(parse_mask_mode(self.mask_mode)))


@dataclass(frozen=True)
class QwenEditOptions(InstructionEditOptions):
    """Qwen-Image-Edit-2509's model card: 40 steps, true CFG 4.0 with the negative prompt " "."""

    steps: int = option(40, 1, MAX_STEPS)
    guidance: float = option(4.0, 0.0)


@dataclass(frozen=True)
class KontextOptions(InstructionEditOptions):
    """FLUX.1 Kontext [dev] in diffusers' examples: 28 steps, guidance 2.5; its T5 reads at most 512 tokens."""

    steps: int = option(28, 1, MAX_STEPS)
    guidance: float = option(2.5, 0.0)
    max_sequence_length: int = option(512, 16, 512)
