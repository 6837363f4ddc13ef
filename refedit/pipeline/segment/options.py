"""The segmenters' typed options. Light on purpose (no torch, no numpy): the command line checks every option
value against these before anything heavy is imported. Each field's type and range are checked by
:class:`~refedit.pipeline.stages.StageOptions`; ``__post_init__`` adds what spans fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Union

from refedit.config import SEED_MAX
from refedit.errors import BadInput
from refedit.core.limits import MAX_RESOLUTION, MAX_STEPS, MIN_RESOLUTION
from refedit.pipeline.stages import StageOptions, option


Policy = Literal["fail", "best", "all"]
POLICIES: tuple[str, ...] = ("fail", "best", "all")
Pick = Union[int, Literal["best", "all"]]


def parse_pick(value: object) -> Pick | None:
    """A ``--pick`` value: a number from 1, ``best`` or ``all`` (None: not given); :class:`BadInput` otherwise."""
    if value is None:
        return None
    bad = BadInput(f"pick must be a number from 1, 'best' or 'all', got {value!r}")
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise bad
    text = str(int(value) if isinstance(value, float) else value).strip().lower()
    if text in ("best", "all"):
        return text  # type: ignore[return-value]
    if not text.isdigit() or int(text) < 1:
        raise bad
    return int(text)


@dataclass(frozen=True)
class AmbiguityOptions(StageOptions):
    """What a segmenter does when several candidates fit the target equally well (see
    :func:`refedit.pipeline.segment.resolve.settle`): ``pick`` one by its number (1-based, left to right, as the
    exit-7 listing and the ``*_candidates.png`` overlay number them), ``best`` (the highest score) or ``all``;
    else ``on_ambiguous``: ``fail`` (exit 7, the default), ``best`` or ``all``. ``None`` takes the policy from
    the settings (``REFEDIT_ON_AMBIGUOUS`` or the config file's ``on_ambiguous``)."""

    on_ambiguous: Policy | None = None
    pick: Union[int, str, None] = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "pick", parse_pick(self.pick))

    def policy_from(self) -> str:
        """How the segmentation's reason names the policy ``{}``: the option, or the setting (``REFEDIT_ON_AMBIGUOUS``,
        the config file; the reason said "--on-ambiguous best" for those too)."""
        return "--on-ambiguous {}" if self.on_ambiguous else "on_ambiguous = {} from the environment or config file"

    def policy(self, default: str) -> Policy:
        """This run's policy: the option when given, else ``default`` (the settings')."""
        return self.on_ambiguous or default  # type: ignore[return-value]


@dataclass(frozen=True)
class GroundedSamOptions(AmbiguityOptions):
    """Grounded-SAM's thresholds (box 0.30, text 0.25), NMS IoU, mask dilation in pixels, and
    ``box_mask``: use each chosen box (grown by ``box_expand``) instead of SAM's silhouette;
    ``attribute_filter``: re-score candidates with CLIP against the target's attributes ("green"); and what to
    do when candidates tie (:class:`AmbiguityOptions`)."""

    box_threshold: float = option(0.30, 0.0, 1.0)
    text_threshold: float = option(0.25, 0.0, 1.0)
    nms_iou: float = option(0.7, 0.0, 1.0)
    dilate: int = option(0, 0)
    box_mask: bool = False
    box_expand: float = option(0.05, 0.0)
    attribute_filter: bool = True


@dataclass(frozen=True)
class Sam3Options(AmbiguityOptions):
    """SAM 3's instance score threshold ``box_threshold`` (0.5, SAM 3's own default; the score is the query's
    probability times the presence probability), its ``mask_threshold`` (0.5), NMS IoU, mask dilation,
    ``box_mask``/``box_expand`` and ``attribute_filter`` as for Grounded-SAM, and the ambiguity options."""

    box_threshold: float = option(0.5, 0.0, 1.0)
    mask_threshold: float = option(0.5, 0.0, 1.0)
    nms_iou: float = option(0.7, 0.0, 1.0)
    dilate: int = option(0, 0)
    box_mask: bool = False
    box_expand: float = option(0.05, 0.0)
    attribute_filter: bool = True

    @property
    def text_threshold(self) -> float:
        """SAM 3 scores whole phrases, not tokens: no text threshold."""
        return 0.0


@dataclass(frozen=True)
class ClipSegOptions(AmbiguityOptions):
    """CLIPSeg's per-pixel probability ``clipseg_threshold`` (0.4: CLIPSeg's sigmoid outputs on the refined
    checkpoint sit near 0 off the object and above 0.5 on it), the mask dilation in pixels, and what to do when
    the mask holds several comparable objects (:class:`AmbiguityOptions`)."""

    clipseg_threshold: float = option(0.4, 0.0, 1.0, lo_open=True)
    dilate: int = option(0, 0)


@dataclass(frozen=True)
class RefDiffOptions(StageOptions):
    """Ref-Diff's settings (paper values by default).

    ``resolution``: side of the square SD input (the paper pads to 1024; 512 is SD 1.5's native size);
    ``steps``/``t_index``: noise to the ``t_index``-th of ``steps`` DDIM steps, i.e. strength
    t_index/steps (paper: t = 2 of 20, strength 0.1); ``passes``: UNet calls (DDIM steps run from there,
    attention averaged over them; None = ``t_index`` as the official code, 1 = a single pass);
    ``guidance``: classifier-free guidance of those steps (1 = conditional only; the official code uses 9,
    which doubles the UNet batch); ``alpha`` (Eq. 1) and ``beta`` (Eq. 7); ``fusion``: "paper" (Eq. 1/7) or
    "official" (0.7·hard + 0.3·soft + 0.05·s^G, see :func:`refdiff.scores.fuse_official`);
    ``proposals``: "attention" (Eq. 8), "sam" (SAM point grid), "both", "grounded" (Grounded-SAM's
    detections) or "all"; ``min_area``/``max_area``: proposal area limits as fractions of the image;
    SAM's automatic-mask settings: ``sam_grid`` points per side (32), ``sam_iou_thresh`` on the predicted IoU
    (0.88) and ``sam_stability_thresh`` on the stability score (0.95); ``sam_max``: SAM proposals kept;
    ``attention_level``: latent downsampling of the attention maps used (4 = latent/4, the paper's 1024/32);
    ``max_candidates``: candidates kept in the result (the chosen one with its full-size mask, the
    runners-up with their boxes, to keep large images cheap); ``seed``: the noise of Eq. 3;
    ``dilate``: pixels added around the final mask."""

    resolution: int = option(512, 32, MAX_RESOLUTION)
    steps: int = option(20, 1, MAX_STEPS)
    t_index: int = option(2, 1)
    passes: int | None = option(None, 1)
    guidance: float = option(1.0, 1.0)
    alpha: float = option(0.1, 0.0, 1.0)
    beta: float = option(0.3, 0.0, 1.0)
    fusion: Literal["paper", "official"] = "paper"
    proposals: Literal["attention", "sam", "both", "grounded", "all"] = "both"
    min_area: float = option(0.005, 0.0, 1.0)
    max_area: float = option(0.95, 0.0, 1.0)
    sam_grid: int = option(32, 1)
    sam_max: int = option(16, 1)
    sam_iou_thresh: float = option(0.88, 0.0)
    sam_stability_thresh: float = option(0.95, 0.0)
    attention_level: int = option(4, 1)
    clip_side: int | None = option(None, 1)
    max_candidates: int = option(8, 1)
    seed: int = option(0, 0, SEED_MAX)
    dilate: int = option(0, 0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.t_index > self.steps:
            raise BadInput(f"t_index must be an integer in [1, steps={self.steps}], got {self.t_index}")
        if self.passes is not None and self.passes > self.t_index:
            raise BadInput(f"passes must be an integer in [1, t_index={self.t_index}], got {self.passes}")
        if not self.min_area < self.max_area:
            raise BadInput(f"need min_area < max_area, got {self.min_area} and {self.max_area}")

    @property
    def strength(self) -> float:
        return self.t_index / self.steps


#: the editors' option names Ref-Diff takes only with its ``refdiff_`` prefix (one --steps is the editor's)
REFDIFF_SHARED = ("resolution", "steps", "guidance", "dilate", "seed")


def refdiff_mapping(options: Mapping[str, Any]) -> dict[str, Any]:
    """The user's options as :class:`RefDiffOptions` names: ``refdiff_X`` is X; the names in
    :data:`REFDIFF_SHARED` without the prefix belong to the editor."""
    opts = {k: v for k, v in options.items() if k not in REFDIFF_SHARED}
    opts.update({k[len("refdiff_") :]: v for k, v in options.items() if k.startswith("refdiff_")})
    return opts


def refdiff_option_types() -> dict[str, Any]:
    """Every option name Ref-Diff understands, with its type (the prefixed and the unshared plain names)."""
    types = RefDiffOptions.option_types()
    return {**{k: t for k, t in types.items() if k not in REFDIFF_SHARED}, **{f"refdiff_{k}": t for k, t in types.items()}}


@dataclass(frozen=True)
class DiffEditMaskOptions(StageOptions):
    """``num_maps`` noise draws, encoding ``mask_strength``, ``threshold_ratio``, ``mask_guidance`` (CFG),
    ``mask_steps`` (the schedule the strength is taken from) and the working ``mask_resolution``."""

    num_maps: int = option(10, 1)
    mask_strength: float = option(0.5, 0.0, 1.0, lo_open=True)
    threshold_ratio: float = option(3.0, 0.0, lo_open=True)
    mask_guidance: float = option(7.5, 0.0)
    mask_steps: int = option(50, 1, MAX_STEPS)
    mask_resolution: int = option(512, MIN_RESOLUTION, MAX_RESOLUTION)
    seed: int = option(0, 0, SEED_MAX)
