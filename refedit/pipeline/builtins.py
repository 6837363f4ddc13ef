"""Factories of the built-in stages, registered through entry points exactly like plugins.

This module imports nothing heavy: each factory imports its implementation when called, so listing
stages (``refedit stages``) never imports torch or loads a weight. A factory's first docstring line is
the stage's description.
"""

from __future__ import annotations

from typing import Any

from refedit.pipeline.stages import StageContext


def rules_parser(context: StageContext) -> Any:
    """Offline spaCy rule parser (default; no key, no network)."""
    from refedit.pipeline.parse.rules import RulesParser

    return RulesParser()


def grounded_sam_segmenter(context: StageContext) -> Any:
    """Grounded-SAM: GroundingDINO boxes, a referring resolver (left/second/biggest/all), SAM masks."""
    from refedit.pipeline.segment.grounded_sam import GroundedSamOptions, GroundedSamSegmenter

    detector = None
    if context.options.get("detections"):
        from refedit.pipeline.segment.detections import GivenDetections, load_detections

        detector = GivenDetections(load_detections(context.options["detections"]))
    return GroundedSamSegmenter(context.store, GroundedSamOptions.from_mapping(context.options), detector=detector)


def diffedit_editor(context: StageContext) -> Any:
    """DiffEdit mask-guided DDIM on Stable Diffusion: invert to ratio r, denoise with the edited caption."""
    from refedit.pipeline.edit.diffedit import DiffEditEditor, DiffEditOptions

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
    from refedit.pipeline.edit.inpaint import InpaintEditor, InpaintOptions

    return InpaintEditor(context.store, InpaintOptions.from_mapping(context.options), context.options.get("editor_model"))


def instruct_editor(context: StageContext) -> Any:
    """InstructPix2Pix-family checkpoint (8-channel; MagicBrush, ReferDiffusion) composited through the mask."""
    from refedit.pipeline.edit.instruct import InstructEditor, InstructOptions

    return InstructEditor(
        context.store, InstructOptions.from_mapping(context.options), context.options.get("editor_model")
    )


def sdedit_editor(context: StageContext) -> Any:
    """SDEdit + mask blending (iEdit Eq. 13) on any fine-tuned SD checkpoint."""
    from refedit.pipeline.edit.sdedit import SDEditEditor, SDEditOptions

    return SDEditEditor(context.store, SDEditOptions.from_mapping(context.options), context.options.get("editor_model"))


def refdiff_segmenter(context: StageContext) -> Any:
    """Ref-Diff: SD cross-attention of the ROOT token + CLIP over weight-free/SAM proposals (shares the sd model)."""
    from refedit.pipeline.segment.refdiff import RefDiffOptions, RefDiffSegmenter

    shared = ("resolution", "steps", "guidance", "dilate", "seed")  # the editor's names: only refdiff_-prefixed
    opts = {k: v for k, v in context.options.items() if k not in shared}
    opts.update({k[len("refdiff_") :]: v for k, v in context.options.items() if k.startswith("refdiff_")})
    options = RefDiffOptions.from_mapping(opts)
    grounded = grounded_sam_segmenter(context) if options.proposals in ("grounded", "all") else None
    return RefDiffSegmenter(context.store, options, grounded)


def diffedit_mask_segmenter(context: StageContext) -> Any:
    """DiffEdit's noise-difference mask between the source and edited captions (the InstructEdit baseline)."""
    from refedit.pipeline.segment.diffedit_mask import DiffEditMaskOptions, DiffEditMaskSegmenter

    return DiffEditMaskSegmenter(context.store, DiffEditMaskOptions.from_mapping(context.options))
