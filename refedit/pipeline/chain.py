"""The chain: parser -> segmenter -> editor, with per-stage wall time and one shared ModelStore."""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from PIL import Image

from refedit.config import Settings
from refedit.errors import BadInput, ModelUnavailable, RefEditWarning, TargetNotFound
from refedit.pipeline.artifacts import AmbiguousTarget, EditPlan, EditRequest, EditResult, Segmentation
from refedit.pipeline.imagekeys import same_images
from refedit.pipeline.models import ModelStore
from refedit.pipeline.stages import ADDING_EDITOR, DEFAULTS, Editor, Parser, Progress, Segmenter, StageContext, registry


def build_stage(kind: str, name: str, settings: Settings | None = None, *, check: bool = True,
                store: ModelStore | None = None, **options: Any) -> Any:  # fmt: skip
    """Build one stage alone (e.g. ``refedit segment``), with its own store (or ``store``, whose settings then
    count); unless ``check`` is False, the checkpoints it will load are checked for their type first, as
    :meth:`Pipeline.build` does (config files only, no weight loads)."""
    from refedit.pipeline.stages import model_roles

    store = store or ModelStore(settings or Settings.resolve())
    settings = store.settings
    stage = registry.create(kind, name, StageContext(settings=settings, store=store, options=options))
    if check:
        store.check_types(model_roles({kind: name}, options))
        preflight = getattr(stage, "check", None)
        if callable(preflight):
            preflight()
    return stage


def mask_segmentation(request: EditRequest) -> Segmentation:
    """The segmentation given by an exact user mask (``--mask``): no model runs."""
    assert request.hints.mask is not None
    return Segmentation(mask=request.hints.mask, reason="exact mask given by the user", segmenter="user-mask")


def refuse_hints(segmenter: Any, hints: Any) -> None:
    """:class:`~refedit.errors.BadInput` for a box, point or hint mask given to a segmenter that reads none
    (``takes_hints = False``: Ref-Diff, DiffEdit's mask): it returned the same mask as without them, exit 0."""
    if hints.mask is not None or not (hints.boxes or hints.points or hints.hint_mask is not None):
        return
    if not getattr(segmenter, "takes_hints", True):
        name = getattr(segmenter, "name", type(segmenter).__name__)
        raise BadInput(f"the {name} segmenter reads no hints (--box, --point, --hint-mask): choose with them under "
                       "--segmenter grounded-sam, sam3 or clipseg, or give the mask itself (--mask)")


def check_not_empty(segmentation: Segmentation, why: str) -> Segmentation:
    """``segmentation`` unless its mask is empty: then :class:`TargetNotFound` ("the mask is empty"), before
    an editor spends its diffusion steps returning the input unchanged."""
    if not segmentation.mask.any():
        raise TargetNotFound(f"the mask is empty: {why}")
    return segmentation


@dataclass
class Pipeline:
    """``Pipeline(parser, segmenter, editor).run(request) -> EditResult``.

    ``adding_context`` (set by :meth:`build` when no editor was named) lets additions go to the inpainting
    editor: DiffEdit regenerates what its inversion saw under the mask, so it cannot create an object in an
    empty region ("add a cup to the left of the book"); inpainting paints the region from noise."""

    parser: Parser
    segmenter: Segmenter
    editor: Editor
    adding_context: StageContext | None = None
    _adding: Editor | None = field(default=None, repr=False)
    #: one run at a time: the stages keep per-photo state (SAM's image embedding), so two threads running one
    #: pipeline on two photos could decode one photo's masks from the other's embedding
    _running: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        parser: str = DEFAULTS["parser"],
        segmenter: str = DEFAULTS["segmenter"],
        editor: str | None = None,
        options: Mapping[str, Any] | None = None,
        store: ModelStore | None = None,
        progress: Progress | None = None,
        check: bool = True,
    ) -> "Pipeline":
        """Build the three stages by registry name, sharing one :class:`ModelStore` (no weight loaded yet),
        then, unless ``check`` is False, check ``options`` against the chosen stages (names, types, ranges:
        :func:`~refedit.pipeline.stages.check_options`) and read the config of every checkpoint they will load: a
        checkpoint of the wrong kind (a CLIP folder as the SAM model, an SDXL or inpainting UNet for DiffEdit) is
        refused here, before parsing, segmenting or loading any weight (:meth:`check`). ``editor=None`` is the
        default editor, with additions going to the inpainting editor when its checkpoint is available
        (:meth:`editor_for`)."""
        from refedit.pipeline.stages import check_options, model_roles

        chosen, editor = editor is not None, editor or DEFAULTS["editor"]
        names = {"parser": parser, "segmenter": segmenter, "editor": editor}
        if check:  # a misspelt or another stage's option is one BadInput line, not silently ignored
            options = check_options(dict(options or {}), names)
        settings = settings or Settings.resolve()
        store = store or ModelStore(settings)
        context = StageContext(settings=settings, store=store, options=dict(options or {}), progress=progress)
        pipe = cls(
            parser=registry.create("parser", parser, context),
            segmenter=registry.create("segmenter", segmenter, context),
            editor=registry.create("editor", editor, context),
            adding_context=None if chosen or editor == ADDING_EDITOR else context,
        )
        if check:
            store.check_types(model_roles(names, context.options))
            pipe.check()
        return pipe

    def check(self) -> None:
        """Run each stage's optional preflight ``check()`` (the SD editors check their checkpoint's UNet type,
        prediction type, text-encoder width and SDXL from config files): milliseconds, no weight loads; a
        refusal is a :class:`~refedit.errors.RefEditError` (:class:`~refedit.errors.ModelUnavailable`)."""
        for stage in (self.parser, self.segmenter, self.editor):
            preflight = getattr(stage, "check", None)
            if callable(preflight):
                preflight()

    def plan(self, request: EditRequest) -> EditPlan:
        return request.plan or self.parser.parse(instruction=request.instruction, image=request.image)

    def segment(self, request: EditRequest, plan: EditPlan) -> Segmentation:
        """The user's exact mask, else the segmenter's; an empty mask is refused (nothing to edit)."""
        if request.hints.mask is not None:
            return check_not_empty(mask_segmentation(request), "--mask has no white pixels")
        with same_images():
            try:
                seg = self.segmenter.segment(image=request.image, plan=plan, hints=request.hints)
            except AmbiguousTarget as err:  # the caller's record says what was asked, not only who fits
                err.plan = err.plan or plan
                raise
        name = seg.segmenter or "chosen"
        return check_not_empty(seg, f"the {name} segmenter found no pixels of {plan.target.expression!r}")

    def segment_only(self, request: EditRequest) -> tuple[EditPlan, Segmentation]:
        """The plan and the mask without editing (``refedit segment``): the instruction may be a bare referring
        expression ("the left cat"), or name nothing when hints choose (see :func:`segmentation_plan`)."""
        from refedit.pipeline.parse.segmenting import segmentation_plan

        refuse_hints(self.segmenter, request.hints)
        plan = request.plan or segmentation_plan(self.parser, request.instruction, image=request.image,
                                                 hinted=not request.hints.empty)  # fmt: skip
        return plan, self.segment(request, plan)

    def editor_for(self, plan: EditPlan) -> Editor:
        """The editor for ``plan``: the inpainting editor for an addition when the editor was left to choose and
        an inpainting checkpoint is available (checked once, no weight loaded), else the pipeline's editor,
        with a one-line warning for an addition that DiffEdit will have to attempt."""
        if plan.action != "add" or self.adding_context is None:
            return self.editor
        if self._adding is None:
            from refedit.pipeline.models import check_available

            context = self.adding_context
            options = {k: v for k, v in context.options.items() if k != "editor_model"}  # that one is the main editor's
            try:
                check_available(context.settings, [("inpaint", None)])
                adding = registry.create("editor", ADDING_EDITOR, replace(context, options=options))
                adding.check()
                self._adding = adding
            except ModelUnavailable as err:
                warnings.warn(RefEditWarning(
                    f"DiffEdit cannot create an object in an empty region, and the inpainting editor additions go to "
                    f"is unavailable ({err}); set --inpaint-model or pick --editor"), stacklevel=2)  # fmt: skip
                self._adding = self.editor
        return self._adding

    def run(self, request: EditRequest) -> EditResult:
        """Run all stages (one call at a time: threads sharing a pipeline wait for each other); ``result.timings``
        holds each stage's wall time in seconds. The stages share one
        :func:`~refedit.pipeline.imagekeys.same_images` scope: the photo is hashed, converted to an array and copied
        to the device once per run, not once per stage (a conversion of a 12 MP photo: ~50 ms of CPU)."""
        with self._running, same_images():
            return self._run(request)

    def _run(self, request: EditRequest) -> EditResult:
        refuse_hints(self.segmenter, request.hints)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        plan = self.plan(request)
        timings["parse"] = time.perf_counter() - start
        t = time.perf_counter()
        segmentation = self.segment(request, plan)
        timings["segment"] = time.perf_counter() - t
        t = time.perf_counter()
        editor = self.editor_for(plan)
        result = in_input_colours(editor.edit(image=request.image, plan=plan, segmentation=segmentation,
                                              seed=request.seed), request.image)  # fmt: skip
        timings["edit"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - start
        return result.with_timings(timings)


def in_input_colours(result: EditResult, image: Image.Image) -> EditResult:
    """``result`` with the input ``image``'s ICC colour profile in its images' info (the image and every variant),
    so that however they are saved (``result.image.save``, ``-o -``) they show in the input's colours."""
    from refedit.core.colour import in_colours_of

    for img in (result.image, *(v.image for v in result.variants)):
        in_colours_of(img, image)
    return result
