from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from refedit.errors import BadInput
from refedit.pipeline.artifacts import EditPlan, EditResult, Hints, Segmentation
from refedit.pipeline.chain import Pipeline
from refedit.pipeline.models import ModelStore
from refedit.pipeline.parse.rules import RulesParser
from refedit.core.masks import dilate
from refedit.pipeline.stages import GROUPS, StageContext, registry

from .conftest import EXAMPLES

ALL = [(kind, name) for kind in GROUPS for name in registry.entries(kind)]
INSTRUCTION = "replace the cat on the left with a tiger"
#: options that make the built-ins fast on the tiny models; plugins run with their defaults
TINY_OPTIONS: dict[str, dict[str, object]] = {
    "grounded-sam": {"box_threshold": 0.0},
    "sam3": {"box_threshold": 0.0},
    "refdiff": {"refdiff_resolution": 64, "sam_grid": 2},
    "diffedit-mask": {"mask_steps": 4, "num_maps": 2, "mask_resolution": 64},
    **{name: {"steps": 2, "resolution": 64} for name in ("diffedit", "inpaint", "instruct", "sdedit")},
    # the contract's paste-back region is the mask grown by paste_dilate + feather: the object mask mode; the plain
    # Qwen pipeline (the mask-aware one denoises at ~1 MP: tests/test_current_editors.py runs it)
    "qwen-edit": {"steps": 2, "resolution": 64, "mask_mode": "object", "mask_aware": False},
    "kontext": {"steps": 2, "resolution": 64, "mask_mode": "object"},
}


def test_builtins_come_from_entry_points():
    for kind, name in (("parser", "rules"), ("segmenter", "grounded-sam"), ("editor", "diffedit")):
        entry = registry.get(kind, name)
        assert entry.source == "refedit" and entry.description and "no description" not in entry.description


def test_unknown_name_lists_choices():
    with pytest.raises(BadInput, match="choose from .*diffedit"):
        registry.get("editor", "nope")


@contextmanager
def _llm_endpoint(name: str) -> Iterator[dict[str, object]]:
    """For the built-in LLM parser: an OpenAI-compatible server on loopback, and the options that reach it."""
    if name != "llm" or registry.get("parser", name).source != "refedit":
        yield {}
        return
    from .test_llm_parser import FakeOpenAI

    server = FakeOpenAI()
    try:
        yield {"llm_base_url": f"http://127.0.0.1:{server.port}/v1", "llm_api_key": "test"}
    finally:
        server.close()


def _image() -> Image.Image:
    return Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((96, 64))  # not square: catches transposes


def _check_parser(stage, name: str) -> None:  # type: ignore[no-untyped-def]
    plan = stage.parse(instruction=INSTRUCTION)
    assert isinstance(plan, EditPlan) and plan.instruction == INSTRUCTION
    assert plan.target.head and plan.target.head in INSTRUCTION  # the target is a word of the instruction
    assert plan.action == "replace" and plan.replacement and "tiger" in plan.replacement
    if registry.get("parser", name).source == "refedit":
        assert plan.parser == name  # a built-in answers itself (the LLM parser did not fall back)


def _check_segmenter(stage) -> None:  # type: ignore[no-untyped-def]
    image = _image()
    seg = stage.segment(image=image, plan=RulesParser().parse(instruction=INSTRUCTION), hints=Hints())
    assert isinstance(seg, Segmentation)
    assert seg.mask.shape == (image.height, image.width) and seg.mask.dtype == bool and seg.mask.any()
    assert all(c.mask is None or c.mask.shape == seg.mask.shape for c in seg.candidates)
    assert all(0 <= c.box[0] <= c.box[2] <= image.width and 0 <= c.box[1] <= c.box[3] <= image.height
               for c in seg.candidates)  # fmt: skip


def _check_editor(stage) -> None:  # type: ignore[no-untyped-def]
    image = _image()
    mask = np.zeros((image.height, image.width), dtype=bool)
    mask[16:48, 20:60] = True
    plan = RulesParser().parse(instruction="replace the cup with a bowl")
    result = stage.edit(image=image, plan=plan, segmentation=Segmentation(mask), seed=0)
    assert isinstance(result, EditResult) and result.image.size == image.size and result.image.mode == "RGB"
    grow = int(result.parameters.get("paste_dilate", 0)) + int(result.parameters.get("feather", 0))
    outside = ~dilate(mask, grow + 1) if grow else ~mask  # the paste-back region the editor reports
    src, out = np.asarray(image), np.asarray(result.image)
    assert np.array_equal(src[outside], out[outside])
    assert not np.array_equal(src[mask], out[mask])  # and it did edit inside


@pytest.mark.parametrize("kind,name", ALL)
def test_contract_every_registered_stage(kind, name, tiny_settings):
    """Every registered stage (plugins included) builds without loading a weight, then runs on tiny inputs
    with the tiny models and returns its artifact with the contract's invariants: a plan of the
    instruction; a mask of the image's shape; an image of the input's size, unchanged outside the mask."""
    with _llm_endpoint(name) as endpoint:
        store = ModelStore(tiny_settings)
        options = {**TINY_OPTIONS.get(name, {}), **endpoint}
        stage = registry.create(kind, name, StageContext(settings=tiny_settings, store=store, options=options))
        assert store.loads == []  # building a stage loads no weight
        {"parser": lambda: _check_parser(stage, name), "segmenter": lambda: _check_segmenter(stage),
         "editor": lambda: _check_editor(stage)}[kind]()  # fmt: skip


def test_runtime_registration_is_first_class(tiny_settings):
    class Shout:
        def parse(self, *, instruction, image=None):
            from refedit.pipeline.parse.rules import RulesParser

            return RulesParser().parse(instruction=instruction.lower())

    def shout_parser(context):
        """Lower-cases, then parses with rules."""
        return Shout()

    registry.register("parser", "shout", shout_parser)
    try:
        assert registry.get("parser", "shout").description == "Lower-cases, then parses with rules."
        pipe = Pipeline.build(tiny_settings, parser="shout")
        assert pipe.parser.parse(instruction="REMOVE THE DOG").target.head == "dog"
    finally:
        registry.unregister("parser", "shout")


@pytest.mark.parametrize("returns,says", [
    ("small", "result image (10, 10) and mask (96, 64) differ in size"), ("pil", "returned Image, not an EditResult"),
    ("raise", "failed in edit(): RuntimeError: boom"), ("oom", None)])
def test_a_stage_registered_in_this_process_is_checked_as_a_plugin_is(returns, says, tiny_settings):
    """registry.register promises "same contract as an entry point", but its stages got none of the checks: a 10x10
    result was saved as a 10x10 PNG, a PIL image or a raise was an AttributeError / bare error naming nothing."""
    import torch

    from refedit.errors import PluginError
    from refedit.pipeline.artifacts import EditRequest

    class Odd:
        def edit(self, *, image, plan, segmentation, seed=0):
            if returns == "raise":
                raise RuntimeError("boom")
            if returns == "oom":  # the machine's, not the stage's bug: as it is
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            small = Image.new("RGB", (10, 10))
            return small if returns == "pil" else EditResult(image=small, plan=plan, segmentation=segmentation)

    registry.register("editor", "odd", lambda context: Odd())
    try:
        pipe = Pipeline.build(tiny_settings, editor="odd", options={"box_threshold": 0.0, "on_ambiguous": "best"})
        photo = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((96, 64))
        if says is None:
            with pytest.raises(torch.cuda.OutOfMemoryError):
                pipe.run(EditRequest(photo, "make the cat red"))
            return
        with pytest.raises(PluginError) as err:
            pipe.run(EditRequest(photo, "make the cat red"))
        assert str(err.value).startswith("the editor 'odd' registered in this process ") and says in str(err.value)
        assert str(err.value).endswith("(a bug of that stage's code)")
    finally:
        registry.unregister("editor", "odd")
