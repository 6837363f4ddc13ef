"""Issue 14: the CLIPSeg segmenter, end to end on a tiny random ``CLIPSegForImageSegmentation`` loaded through
``from_pretrained``, and its decisions on hand-made probability maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.core import masks
from refedit.errors import ModelUnavailable
from refedit.pipeline.artifacts import AmbiguousTarget, Hints
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment.clipseg import ClipSegSegmenter, components
from refedit.pipeline.segment.options import ClipSegOptions

from .conftest import EXAMPLES

CAT = EXAMPLES / "cat.jpg"
PARSER = RulesParser()


def reference_probability(model_dir, image: Image.Image, prompt: str) -> np.ndarray:
    """The spec, computed here with transformers alone: CLIPSeg's logits for the prompt, as probabilities,
    resized from the square model output back to the image."""
    from transformers import AutoProcessor, CLIPSegForImageSegmentation

    model = CLIPSegForImageSegmentation.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    with torch.no_grad():
        logits = model(**processor(text=[prompt], images=[image], padding=True, return_tensors="pt")).logits
    logits = logits.reshape(1, 1, *logits.shape[-2:])
    up = torch.nn.functional.interpolate(logits, size=(image.height, image.width), mode="bilinear", align_corners=False)
    return torch.sigmoid(up)[0, 0].numpy()


def test_tiny_clipseg_end_to_end_through_from_pretrained(tiny_settings, tiny_models):
    stage = build_stage("segmenter", "clipseg", tiny_settings)
    image = Image.open(CAT).convert("RGB")
    seg = stage.segment(image=image, plan=PARSER.parse(instruction="remove the cats"), hints=Hints())
    expected = masks.clean(reference_probability(tiny_models["clipseg"], image, "cat") >= 0.4)
    assert seg.segmenter == "clipseg" and seg.mask.shape == (image.height, image.width)
    assert np.array_equal(seg.mask, expected)  # "the cats": every part of the thresholded, cleaned mask
    assert len(seg.candidates) >= 1 and set(seg.chosen) == set(range(len(seg.candidates)))
    union = np.zeros_like(seg.mask)
    for c in seg.candidates:  # the candidates are the mask's connected components, disjoint
        assert not (union & c.mask).any()
        union |= c.mask
    assert np.array_equal(union, expected)
    assert [tag for _, tag in stage.store.loads] == ["clipseg", "processor"]  # one model, loaded once


def test_a_qualifier_goes_through_the_resolver_on_the_components(tiny_settings):
    stage = build_stage("segmenter", "clipseg", tiny_settings)
    image = Image.open(CAT).convert("RGB")
    seg = stage.segment(image=image, plan=PARSER.parse(instruction="remove the left cat"), hints=Hints())
    centres = [(c.box[0] + c.box[2]) / 2 for c in seg.candidates]
    assert seg.chosen == (int(np.argmin(centres)),) and seg.reason.startswith("left-most of")
    assert np.array_equal(seg.mask, seg.candidates[seg.chosen[0]].mask)


def test_cli_segment_and_edit_with_clipseg(tmp_path, tiny_env):
    out = tmp_path / "m.png"
    r = CliRunner().invoke(main, ["segment", str(CAT), "the cats", "--segmenter", "clipseg", "--json", "-o", str(out)],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert seg["segmenter"] == "clipseg" and seg["ambiguous"] is False and out.exists()
    edited = tmp_path / "e.png"
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cats with tigers", "--segmenter", "clipseg", "--steps",
                                  "3", "--resolution", "64", "-o", str(edited)], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert Image.open(edited).size == Image.open(CAT).size


def test_a_clip_folder_is_not_a_clipseg_checkpoint(tmp_path, tiny_env, tiny_models):
    env = {**tiny_env, "REFEDIT_CLIPSEG_MODEL": str(tiny_models["clip"])}
    r = CliRunner().invoke(main, ["segment", str(CAT), "the cat", "--segmenter", "clipseg"], env=env)
    assert r.exit_code == ModelUnavailable.exit_code and "is not a CLIPSeg checkpoint" in r.stderr


# --------------------------------------------------------------------------- decisions on hand-made maps
SHAPE = (100, 200)


def blobs(*specs: tuple[int, int, int, float]) -> np.ndarray:
    """A probability map with square blobs (x, y, side, probability) on 0.05."""
    prob = np.full(SHAPE, 0.05, dtype=np.float32)
    for x, y, side, p in specs:
        prob[y : y + side, x : x + side] = p
    return prob


def choose(prob: np.ndarray, instruction: str, **options):  # type: ignore[no-untyped-def]
    from refedit.pipeline.models import ModelStore

    stage = ClipSegSegmenter(ModelStore(), ClipSegOptions(**options))
    cands = components(prob, prob >= 0.4, "cat")
    return cands, stage.choose(cands, PARSER.parse(instruction=instruction), Hints(), SHAPE)


def test_two_comparable_objects_are_ambiguous_and_a_pick_settles_it():
    prob = blobs((10, 20, 50, 0.9), (130, 20, 50, 0.85))
    with pytest.raises(AmbiguousTarget) as err:
        choose(prob, "remove the cat")
    assert [c.box for c in err.value.ambiguity.candidates] == [(10, 20, 60, 70), (130, 20, 180, 70)]
    cands, res = choose(prob, "remove the cat", pick=2)
    assert [cands[i].box for i in res.chosen] == [(130, 20, 180, 70)]
    cands, res = choose(prob, "remove the cats")
    assert len(res.chosen) == 2 and res.ambiguity is None


def test_one_object_with_a_fragment_is_the_whole_mask_and_a_clear_winner_is_chosen():
    cands, res = choose(blobs((10, 20, 50, 0.9), (150, 80, 10, 0.9)), "remove the cat")  # fragment: 4 % of the area
    assert res.chosen == (0, 1) and res.ambiguity is None
    cands, res = choose(blobs((10, 20, 50, 0.9), (130, 20, 50, 0.6)), "remove the cat")  # 0.3 apart: clearly one
    assert [cands[i].box for i in res.chosen] == [(10, 20, 60, 70)] and res.ambiguity is None
