"""Attribute filtering with CLIP: pure decisions with an injected scorer, plumbing with the tiny CLIP."""

import numpy as np
import pytest
from PIL import Image

from refedit.pipeline.artifacts import Candidate, Hints
from refedit.pipeline.models import ModelStore
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment.attributes import ClipScorer, PilCrops, contrast_prompts, match_attributes
from refedit.pipeline.segment.detections import GivenDetections
from refedit.pipeline.segment.grounded_sam import GroundedSamOptions, GroundedSamSegmenter

IMG = Image.new("RGB", (300, 200), (90, 90, 90))
BUSES = [Candidate((10, 50, 90, 150), 0.9, "bus"), Candidate((110, 60, 190, 140), 0.8, "bus"),
         Candidate((210, 40, 290, 190), 0.7, "bus")]  # fmt: skip


class ColourOracle(PilCrops):
    """A stand-in scorer: candidate i 'is' the colour COLOURS[i] (by crop position); crops as PIL images."""

    COLOURS = ("red", "green", "green")

    def __init__(self):
        self.calls = 0

    def probabilities(self, images, texts):
        self.calls += 1
        rows = []
        for i, _ in enumerate(images):
            row = np.array([5.0 if self.COLOURS[i] in t.split()[3:4] or f" {self.COLOURS[i]} " in t else 0.0
                            for t in texts])  # fmt: skip
            rows.append(np.exp(row) / np.exp(row).sum())
        return np.stack(rows)


def segmenter(scorer):
    return GroundedSamSegmenter(ModelStore(), GroundedSamOptions(box_mask=True), detector=GivenDetections(BUSES),
                                scorer=scorer)  # fmt: skip


@pytest.mark.parametrize(
    "instruction,chosen,reason",
    [("make the green buses yellow", {1, 2}, "2 of 3 look green"),
     ("remove the red bus", {0}, "most red-looking of 3 'bus' detections"),
     ("remove the green bus on the right", {2}, "right-most of 2 'bus' detections; 2 of 3 look green"),
     ("remove the bus on the left", {0}, "left-most of 3")],
)  # fmt: skip
def test_attribute_decides_among_detections(instruction, chosen, reason):
    oracle = ColourOracle()
    seg = segmenter(oracle).segment(image=IMG, plan=RulesParser().parse(instruction=instruction), hints=Hints())
    assert set(seg.chosen) == chosen and reason in seg.reason
    assert oracle.calls == (1 if "green" in instruction or "red" in instruction else 0)


def test_match_and_contrasts():
    m = match_attributes([np.array([[0.7, 0.3], [0.2, 0.8]]), np.array([[0.6, 0.4], [0.9, 0.1]])])
    assert m.matches == (True, False) and m.probability == pytest.approx((0.42, 0.18))
    prompts = contrast_prompts("green", "bus")
    assert prompts[0] == "a photo of a green bus" and "a photo of a red bus" in prompts
    assert contrast_prompts("wooden", "chair")[1] == "a photo of a metal chair"


@pytest.mark.parametrize("attribute,never", [
    ("gray", {"grey"}), ("grey", {"gray"}), ("navy", {"blue"}), ("teal", {"green", "blue"}), ("violet", {"purple"}),
    ("wood", {"wooden"}), ("metallic", {"metal"}), ("oak", {"wooden"}), ("marble", {"stone"}), ("pinstriped", {"striped"}),
])  # fmt: skip
def test_a_look_is_never_contrasted_with_its_own_family(attribute, never):
    """The asked crop must win against every contrast: a synonym ("grey" for "gray") or the family a shade belongs to
    ("blue" for "navy") would take about half of CLIP's vote from a crop that is exactly what was asked."""
    contrasts = [p.removeprefix("a photo of ").split()[-2] for p in contrast_prompts(attribute, "car")[1:]]
    assert contrasts and not never & set(contrasts) and attribute not in contrasts
    assert contrast_prompts("striped", "shirt")[1:] == ["a photo of a plain shirt"]


def test_tiny_clip_plumbing(tiny_settings):
    scorer = ClipScorer(ModelStore(tiny_settings))
    probs = scorer.probabilities([IMG.crop((0, 0, 50, 60)), IMG.crop((10, 10, 100, 40))], contrast_prompts("red", "car"))
    assert probs.shape == (2, len(contrast_prompts("red", "car"))) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_clip_scorer_crops_on_the_device_are_the_pil_crops(tiny_settings):
    """ClipScorer.crops cuts the candidates from the photo's device copy, greyed outside their masks: the same
    pixels as crops() makes with PIL, so the same CLIP inputs and probabilities."""
    import numpy as np
    import torch
    from PIL import Image

    from refedit.pipeline.artifacts import Candidate
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.attributes import ClipScorer, crops
    from refedit.pipeline.segment.pixels import uint8_image

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8))
    mask = np.zeros((60, 90), bool)
    mask[10:40, 20:50] = rng.random((30, 30)) > 0.3
    cands = [Candidate((19.6, 9.4, 50.5, 40.49), 0.9, "cup", mask), Candidate((0.0, 0.0, 90.0, 60.0), 0.8, "cup"),
             Candidate((60.2, 30.7, 89.5, 59.5), 0.7, "cup", np.ones((60, 90), bool))]  # fmt: skip
    scorer = ClipScorer(ModelStore(tiny_settings))
    mine, pil = scorer.crops(image, cands), crops(image, cands)
    assert all(torch.equal(a, uint8_image(b, "cpu")) for a, b in zip(mine, pil, strict=True))
    texts = ["a photo of a red cup", "a photo of a blue cup"]
    assert np.array_equal(scorer.probabilities(mine, texts), scorer.probabilities(pil, texts))
