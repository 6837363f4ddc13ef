"""Factories of the built-in stages, registered through entry points exactly like plugins.

This module imports nothing heavy: each factory imports its implementation when called, so listing
stages (``refedit stages``) never imports torch or loads a weight. A factory's first docstring line is
the stage's description; its ``spec`` (:class:`StageSpec`) declares the options it understands and the
model roles it loads, so the command line checks both before any work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from refedit.pipeline.edit.options import (
    DiffEditOptions,
    InpaintOptions,
    InstructOptions,
    KontextOptions,
    QwenEditOptions,
    SDEditOptions,
)
from refedit.pipeline.segment.options import (
    ClipSegOptions,
    DiffEditMaskOptions,
    GroundedSamOptions,
    RefDiffOptions,
    Sam3Options,
    refdiff_mapping,
    refdiff_option_types,
)
from refedit.pipeline.stages import StageContext, StageSpec

Options = Mapping[str, Any]


def rules_parser(context: StageContext) -> Any:
    """Offline spaCy rule parser (default; no key, no network)."""
    from refedit.pipeline.parse.rules import RulesParser

    return RulesParser()


def grounded_sam_segmenter(context: StageContext) -> Any:
    """Grounded-SAM: GroundingDINO boxes, a referring resolver (left/second/biggest/all), SAM masks."""
    from refedit.pipeline.segment.grounded_sam import GroundedSamSegmenter

    detector = None
    if context.options.get("detections"):
        from refedit.pipeline.segment.detections import GivenDetections, load_detections

        detector = GivenDetections(load_detections(context.options["detections"]))
    return GroundedSamSegmenter(context.store, GroundedSamOptions.from_mapping(context.options), detector=detector)


def sam3_segmenter(context: StageContext) -> Any:
    """SAM 3: every instance of the prompt ("green bus") with its mask; the referring resolver picks, as Grounded-SAM's."""
    from refedit.pipeline.segment.grounded_sam import GroundedSamSegmenter
    from refedit.pipeline.segment.sam3 import Sam3Backend, Sam3Detector, Sam3Masks

    options = Sam3Options.from_mapping(context.options)
    backend = Sam3Backend(context.store, mask_threshold=options.mask_threshold)
    return GroundedSamSegmenter(context.store, options, detector=Sam3Detector(backend, floor=options.box_threshold),  # type: ignore[arg-type]
                                sam=Sam3Masks(backend), name="sam3")  # fmt: skip


def diffedit_editor(context: StageContext) -> Any:
    """DiffEdit mask-guided DDIM on Stable Diffusion: invert to ratio r, denoise with the edited caption."""
    from refedit.pipeline.edit.diffedit import DiffEditEditor

    return DiffEditEditor(context.store, DiffEditOptions.from_mapping(context.options),
                          context.options.get("editor_model"), progress=context.progress)  # fmt: skip


def llm_parser(context: StageContext) -> Any:
    """LLM parser over any OpenAI-compatible endpoint (OPENAI_BASE_URL, OPENAI_API_KEY), falling back to rules."""
    from refedit.pipeline.parse.llm import LLMOptions, LLMParser

    describe = None
    if context.options.get("describe"):  # InstructEdit's BLIP-2 step: describe the image for the LLM
        from refedit.pipeline.parse.describe import Describer

        describe = Describer(context.store)
    return LLMParser(LLMOptions.from_mapping(context.options, model=context.settings.model("llm")), describe=describe)


def inpaint_editor(context: StageContext) -> Any:
    """SD inpainting (9-channel checkpoint) with the edited caption; the natural choice for remove."""
    from refedit.pipeline.edit.inpaint import InpaintEditor

    return InpaintEditor(context.store, InpaintOptions.from_mapping(context.options), context.options.get("editor_model"))


def instruct_editor(context: StageContext) -> Any:
    """InstructPix2Pix-family checkpoint (8-channel; MagicBrush, ReferDiffusion) composited through the mask."""
    from refedit.pipeline.edit.instruct import InstructEditor

    return InstructEditor(
        context.store, InstructOptions.from_mapping(context.options), context.options.get("editor_model")
    )


def sdedit_editor(context: StageContext) -> Any:
    """SDEdit + mask blending (iEdit Eq. 13) on any fine-tuned SD checkpoint."""
    from refedit.pipeline.edit.sdedit import SDEditEditor

    return SDEditEditor(context.store, SDEditOptions.from_mapping(context.options), context.options.get("editor_model"))


def qwen_edit_editor(context: StageContext) -> Any:
    """Qwen-Image-Edit-2509 (Apache-2.0) on a crop around the target, its instruction rewritten, pasted back exactly."""
    from refedit.pipeline.edit.instruction_editors import QwenEditEditor

    return QwenEditEditor(context.store, QwenEditOptions.from_mapping(context.options), context.options.get("editor_model"))


def kontext_editor(context: StageContext) -> Any:
    """FLUX.1 Kontext [dev] (non-commercial licence) on a crop around the target, pasted back exactly."""
    from refedit.pipeline.edit.instruction_editors import KontextEditor

    return KontextEditor(context.store, KontextOptions.from_mapping(context.options), context.options.get("editor_model"))


def refdiff_segmenter(context: StageContext) -> Any:
    """Ref-Diff: SD cross-attention of the ROOT token + CLIP over weight-free/SAM proposals (shares the sd model)."""
    from refedit.pipeline.segment.refdiff import RefDiffSegmenter

    options = RefDiffOptions.from_mapping(refdiff_mapping(context.options))
    if options.proposals in ("sam", "both", "all"):
        from refedit.errors import ModelUnavailable
        from refedit.pipeline.segment.sam2 import is_sam2

        if is_sam2(context.store):  # read from its config.json: refused before any weight loads or parse runs
            raise ModelUnavailable(
                f"Ref-Diff's SAM proposals (-O proposals={options.proposals}) need a SAM checkpoint, and the sam model "
                f"{context.store.model_id('sam')!r} is SAM 2 -- point --sam-model at a SAM one (facebook/sam-vit-huge) "
                "or use -O proposals=attention"
            )
    grounded = grounded_sam_segmenter(context) if options.proposals in ("grounded", "all") else None
    return RefDiffSegmenter(context.store, options, grounded)


def clipseg_segmenter(context: StageContext) -> Any:
    """CLIPSeg text-prompted mask (iEdit), thresholded and cleaned; the resolver picks among its parts."""
    from refedit.pipeline.segment.clipseg import ClipSegSegmenter

    return ClipSegSegmenter(context.store, ClipSegOptions.from_mapping(context.options))


def diffedit_mask_segmenter(context: StageContext) -> Any:
    """DiffEdit's noise-difference mask between the source and edited captions (the InstructEdit baseline)."""
    from refedit.pipeline.segment.diffedit_mask import DiffEditMaskSegmenter

    return DiffEditMaskSegmenter(context.store, DiffEditMaskOptions.from_mapping(context.options))


# --------------------------------------------------------------------------- specs
def _editor_roles(role: str) -> Any:
    return lambda o: {role: o.get("editor_model")}


def _llm_types() -> dict[str, Any]:
    from refedit.pipeline.parse.llm import LLMOptions

    return {**LLMOptions.option_types(), "describe": bool}


def _llm_check(options: Options) -> None:
    from refedit.pipeline.parse.llm import LLMOptions

    LLMOptions.from_mapping(options, model="-")


def _diffedit_roles(o: Options) -> dict[str, str | None]:
    """The SD checkpoint, and CLIP when --auto-ratio scores the ratios."""
    return {"sd": o.get("editor_model"), **({"clip": None} if o.get("auto_ratio") else {})}


def _grounded_roles(o: Options) -> dict[str, None]:
    roles: dict[str, None] = {} if o.get("detections") else {"grounding": None}
    return roles if o.get("box_mask") else {**roles, "sam": None}


def _refdiff_roles(o: Options) -> dict[str, None]:
    proposals = refdiff_mapping(o).get("proposals") or RefDiffOptions.proposals
    roles: dict[str, None] = {"sd": None, "clip": None}
    if proposals in ("sam", "both", "all"):
        roles["sam"] = None
    return {**roles, **_grounded_roles(o)} if proposals in ("grounded", "all") else roles


def _grounded_proposal_types() -> dict[str, Any]:
    """Grounded-SAM's options Ref-Diff uses for its "grounded" proposals: not the ambiguity ones (Ref-Diff chooses
    by its own fused score, so a --pick would be silently ignored)."""
    return {k: v for k, v in GroundedSamOptions.option_types().items() if k not in ("on_ambiguous", "pick")}


def _refdiff_check(options: Options) -> None:
    RefDiffOptions.from_mapping(refdiff_mapping(options))
    GroundedSamOptions.from_mapping(options)


_EDITOR_MODEL = {"editor_model": str}
#: CLIP's attribute filter, loaded for a target with attributes ("the green bus")
_ATTRIBUTES = frozenset({"clip"})
_SPECS: dict[Any, StageSpec] = {
    rules_parser: StageSpec(types=dict),
    llm_parser: StageSpec(types=_llm_types, check=_llm_check,
                          roles=lambda o: {"llm": None, **({"captioner": None} if o.get("describe") else {})}),
    grounded_sam_segmenter: StageSpec.of(GroundedSamOptions, extra={"detections": Path}, roles=_grounded_roles,
                                         optional_roles=_ATTRIBUTES),
    refdiff_segmenter: StageSpec(
        types=lambda: {**refdiff_option_types(), **_grounded_proposal_types(), "detections": Path},
        check=_refdiff_check, roles=_refdiff_roles,
    ),
    diffedit_mask_segmenter: StageSpec.of(DiffEditMaskOptions, roles=lambda o: {"sd": None}),
    clipseg_segmenter: StageSpec.of(ClipSegOptions, roles=lambda o: {"clipseg": None}),
    sam3_segmenter: StageSpec.of(Sam3Options, roles=lambda o: {"sam3": None}, optional_roles=_ATTRIBUTES),
    diffedit_editor: StageSpec.of(DiffEditOptions, extra=_EDITOR_MODEL, roles=_diffedit_roles),
    inpaint_editor: StageSpec.of(InpaintOptions, extra=_EDITOR_MODEL, roles=_editor_roles("inpaint")),
    instruct_editor: StageSpec.of(InstructOptions, extra=_EDITOR_MODEL, roles=_editor_roles("instruct")),
    sdedit_editor: StageSpec.of(SDEditOptions, extra=_EDITOR_MODEL, roles=_editor_roles("sd")),
    qwen_edit_editor: StageSpec.of(QwenEditOptions, extra=_EDITOR_MODEL, roles=_editor_roles("qwen-edit")),
    kontext_editor: StageSpec.of(KontextOptions, extra=_EDITOR_MODEL, roles=_editor_roles("kontext")),
}  # fmt: skip
for _factory, _spec in _SPECS.items():
    _factory.spec = _spec  # type: ignore[attr-defined]  # read by StageEntry.spec; the factory is not called
