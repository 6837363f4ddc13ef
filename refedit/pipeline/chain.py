"""The chain: parser -> segmenter -> editor, with per-stage wall time and one shared ModelStore."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from refedit.config import Settings
from refedit.pipeline.artifacts import EditPlan, EditRequest, EditResult, Segmentation
from refedit.pipeline.models import ModelStore
from refedit.pipeline.stages import DEFAULTS, Editor, Parser, Progress, Segmenter, StageContext, registry


def build_stage(kind: str, name: str, settings: Settings | None = None, **options: Any) -> Any:
    """Build one stage alone (e.g. ``refedit parse``), with its own store."""
    settings = settings or Settings.resolve()
    return registry.create(kind, name, StageContext(settings=settings, store=ModelStore(settings), options=options))


def mask_segmentation(request: EditRequest) -> Segmentation:
    """The segmentation given by an exact user mask (``--mask``): no model runs."""
    assert request.hints.mask is not None
    return Segmentation(mask=request.hints.mask, reason="exact mask given by the user", segmenter="user-mask")


@dataclass
class Pipeline:
    """``Pipeline(parser, segmenter, editor).run(request) -> EditResult``."""

    parser: Parser
    segmenter: Segmenter
    editor: Editor

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        parser: str = DEFAULTS["parser"],
        segmenter: str = DEFAULTS["segmenter"],
        editor: str = DEFAULTS["editor"],
        options: Mapping[str, Any] | None = None,
        store: ModelStore | None = None,
        progress: Progress | None = None,
    ) -> "Pipeline":
        """Build the three stages by registry name, sharing one :class:`ModelStore` (no weight loaded yet)."""
        settings = settings or Settings.resolve()
        store = store or ModelStore(settings)
        context = StageContext(settings=settings, store=store, options=dict(options or {}), progress=progress)
        return cls(
            parser=registry.create("parser", parser, context),
            segmenter=registry.create("segmenter", segmenter, context),
            editor=registry.create("editor", editor, context),
        )

    def plan(self, request: EditRequest) -> EditPlan:
        return request.plan or self.parser.parse(instruction=request.instruction, image=request.image)

    def segment(self, request: EditRequest, plan: EditPlan) -> Segmentation:
        if request.hints.mask is not None:
            return mask_segmentation(request)
        return self.segmenter.segment(image=request.image, plan=plan, hints=request.hints)

    def run(self, request: EditRequest) -> EditResult:
        """Run all stages; ``result.timings`` holds each stage's wall time in seconds."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        plan = self.plan(request)
        timings["parse"] = time.perf_counter() - start
        t = time.perf_counter()
        segmentation = self.segment(request, plan)
        timings["segment"] = time.perf_counter() - t
        t = time.perf_counter()
        result = self.editor.edit(image=request.image, plan=plan, segmentation=segmentation, seed=request.seed)
        timings["edit"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - start
        return result.with_timings(timings)
