"""GroundingDINO post-processes only the boxes the caller can use (its box threshold), plus the best one."""

from __future__ import annotations

from PIL import Image

from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.grounding import GroundingDino

from .conftest import EXAMPLES


def test_floor_keeps_the_boxes_above_it_and_the_best(tiny_settings):
    image = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((128, 96))
    store = ModelStore(tiny_settings)
    every = GroundingDino(store).detect(image, "cat", text_threshold=0.25)
    scores = sorted((c.score for c in every), reverse=True)
    assert len(every) > 3
    floor = scores[len(scores) // 2]
    some = GroundingDino(store, floor=floor).detect(image, "cat", text_threshold=0.25)
    assert sorted(c.box for c in some) == sorted(c.box for c in every if c.score >= floor)
    above_all = GroundingDino(store, floor=1.5).detect(image, "cat", text_threshold=0.25)
    assert [c.score for c in above_all] == [scores[0]]  # nothing passes: the best is still reported
