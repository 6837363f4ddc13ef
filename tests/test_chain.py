"""The chain and the Python API on the tiny models."""

import numpy as np
from PIL import Image

import refedit
from refedit.pipeline.artifacts import EditRequest, Hints
from refedit.pipeline.chain import Pipeline
from refedit.pipeline.models import ModelStore

from .conftest import EXAMPLES, FAST


def test_pipeline_records_stage_timings_and_shares_one_store(tiny_settings):
    store = ModelStore(tiny_settings)
    pipe = Pipeline.build(tiny_settings, options=FAST, store=store)
    img = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((96, 64))
    result = pipe.run(EditRequest(img, "make the cup red", seed=1))
    assert set(result.timings) == {"parse", "segment", "edit", "total"}
    assert result.timings["total"] >= result.timings["edit"] > 0
    assert result.image.size == img.size and result.segmentation.mask.shape == (64, 96)
    assert pipe.segmenter.sam.embed_calls == 1  # SAM embedding once, however many candidates
    loaded = [c for _, c in store.loads]
    assert len(loaded) == len(set(store.loads))  # every component loaded once


def test_exact_mask_bypasses_segmentation(tiny_settings):
    pipe = Pipeline.build(tiny_settings, options=FAST)
    img = Image.new("RGB", (64, 64), (90, 120, 200))
    mask = np.zeros((64, 64), bool)
    mask[10:30, 20:40] = True
    result = pipe.run(EditRequest(img, "replace the box with a ball", hints=Hints(mask=mask)))
    assert result.segmentation.segmenter == "user-mask" and np.array_equal(result.segmentation.mask, mask)
    assert pipe.segmenter.sam.embed_calls == 0


def test_python_api(tiny_env, monkeypatch):
    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    result = refedit.edit(EXAMPLES / "cat.jpg", "replace the cat with a tiger", seed=2, **FAST)
    assert result.image.size == Image.open(EXAMPLES / "cat.jpg").size
    assert result.parameters["seed"] == 2 and result.plan.replacement == "tiger"


def test_segment_only_takes_bare_expressions_and_hint_only_instructions(tiny_settings):
    """The library gets ``refedit segment``'s plan fallbacks: an expression without an edit, or (with hints)
    words that name nothing; without hints those stay unclear (exit 3)."""
    import pytest

    from refedit.errors import UnclearInstruction

    pipe = Pipeline.build(tiny_settings, options=FAST)
    img = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((96, 64))
    plan, seg = pipe.segment_only(EditRequest(img, "the second cup from the left"))
    assert (plan.target.head, plan.target.ordinal, plan.target.spatial) == ("cup", 2, "left") and seg.mask.any()
    plan, seg = pipe.segment_only(EditRequest(img, "this", hints=Hints(boxes=((10, 10, 40, 40),))))
    assert plan.action == "global" and seg.mask[10:40, 10:40].any()
    with pytest.raises(UnclearInstruction):
        pipe.segment_only(EditRequest(img, "this"))
