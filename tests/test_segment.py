"""Grounded-SAM and `refedit segment` on the tiny models and with injected detections."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.errors import TargetNotFound
from refedit.pipeline.artifacts import Candidate, Hints
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser

from .conftest import EXAMPLES

CAT = EXAMPLES / "cat.jpg"
DETS = [
    {"box": [300, 30, 420, 200], "score": 0.95, "label": "cat"},  # right, scored highest
    {"box": [10, 20, 100, 150], "score": 0.40, "label": "cat"},  # left
    {"box": [150, 40, 260, 180], "score": 0.70, "label": "cat"},
    {"box": [0, 0, 50, 50], "score": 0.99, "label": "dog"},
]


@pytest.fixture
def dets_file(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(DETS))
    return path


def test_left_cat_is_left_even_when_right_scores_higher(dets_file, tmp_path, tiny_env):
    out = tmp_path / "mask.png"
    r = CliRunner().invoke(main, ["segment", str(CAT), "replace the left cat with a tiger", "--detections",
                                  str(dets_file), "-o", str(out), "--json"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    chosen = [seg["candidates"][i]["box"] for i in seg["chosen"]]
    assert chosen == [[10.0, 20.0, 100.0, 150.0]] and seg["reason"] == "left-most of 3 'cat' detections"
    mask = np.asarray(Image.open(out)) > 127
    assert mask.shape == (300, 451) and mask.any()  # SAM (tiny) ran on the chosen box


def test_box_mask_needs_no_model(dets_file):
    r = CliRunner().invoke(main, ["segment", str(CAT), "the second cat from the right", "--detections",
                                  str(dets_file), "--box-mask", "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert seg["reason"] == "second from the right of 3 'cat' detections"
    assert [seg["candidates"][i]["box"] for i in seg["chosen"]] == [[150.0, 40.0, 260.0, 180.0]]


def test_tiny_grounding_dino_and_sam_segment_end_to_end(tiny_settings):
    seg = build_stage("segmenter", "grounded-sam", tiny_settings, box_threshold=0.0)
    img = Image.open(CAT).convert("RGB")
    plan = RulesParser().parse(instruction="remove the cat on the right")
    result = seg.segment(image=img, plan=plan, hints=Hints())
    assert result.mask.shape == (img.height, img.width) and result.mask.any()
    assert len(result.chosen) == 1 and "right-most" in result.reason
    assert all(c.mask is not None and c.mask.shape == result.mask.shape for c in result.candidates)
    assert seg.sam.embed_calls == 1  # one SAM image embedding for every candidate box


def test_nothing_detected_is_target_not_found(tiny_settings):
    seg = build_stage("segmenter", "grounded-sam", tiny_settings, box_threshold=1.0)
    plan = RulesParser().parse(instruction="remove the cat")
    with pytest.raises(TargetNotFound, match=r"best score [\d.]+ < box threshold 1(?:\.00)?\b"):
        seg.segment(image=Image.open(CAT).convert("RGB"), plan=plan, hints=Hints())


def test_not_found_exit_code(dets_file):
    r = CliRunner().invoke(main, ["segment", str(CAT), "remove the horse", "--detections", str(dets_file),
                                  "--box-mask"])  # fmt: skip
    assert r.exit_code == TargetNotFound.exit_code and r.stderr.startswith("refedit: error: no 'horse' found")


def test_stand_in_detector_registered_through_the_registry(tiny_settings, tiny_env, tmp_path):
    """A deterministic stand-in detector, registered as a segmenter through the real registry, with the
    tiny SAM: "the left cat" picks the left box although the right one scores higher."""
    from refedit.pipeline.segment.detections import GivenDetections
    from refedit.pipeline.segment.grounded_sam import GroundedSamOptions, GroundedSamSegmenter
    from refedit.pipeline.stages import registry

    def stand_in(context):
        """Grounded-SAM with fixed detections (test stand-in)."""
        boxes = [Candidate((300, 30, 420, 200), 0.95, "cat"), Candidate((10, 20, 100, 150), 0.40, "cat")]
        return GroundedSamSegmenter(context.store, GroundedSamOptions.from_mapping(context.options),
                                    detector=GivenDetections(boxes))  # fmt: skip

    registry.register("segmenter", "stand-in", stand_in)
    try:
        r = CliRunner().invoke(main, ["segment", str(CAT), "remove the left cat", "--segmenter", "stand-in", "--json",
                                      "-o", str(tmp_path / "m.png")], env=tiny_env)  # fmt: skip
    finally:
        registry.unregister("segmenter", "stand-in")
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert [seg["candidates"][i]["box"] for i in seg["chosen"]] == [[10.0, 20.0, 100.0, 150.0]]
    assert seg["reason"] == "left-most of 2 'cat' detections" and seg["candidates"][seg["chosen"][0]]["mask"]


@pytest.mark.parametrize("low,pad", [(256, 1024), (32, 128), (64, 1024)])
@pytest.mark.parametrize("size", [(400, 600), (600, 400), (333, 777), (1024, 1024), (1500, 2000), (17, 5)])
@pytest.mark.parametrize("n", [5, 17])  # masks on the batch axis, and as channels
def test_sam_mask_upscaling_equals_the_processors(low, pad, size, n):
    """Our post-processing computes only the rows and columns the crop keeps: it must give exactly the masks of
    transformers' ``post_process_masks`` (the reference implementation of segment-anything's)."""
    import torch
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    from refedit.pipeline.segment.sam import upscale_masks

    oh, ow = size
    scale = pad / max(oh, ow)
    reshaped = (int(oh * scale + 0.5), int(ow * scale + 0.5))
    logits = torch.randn(n, 1, low, low, generator=torch.Generator().manual_seed(low + oh)) * 3
    want = SamImageProcessorPil().post_process_masks([logits], [size], [reshaped], pad_size={"height": pad, "width": pad})
    got = upscale_masks(logits[:, 0], (pad, pad), reshaped, size)
    assert got.dtype == torch.bool and torch.equal(got, want[0][:, 0])


@pytest.mark.parametrize("n", [5, 17, 40])
def test_mask_upsampling_a_few_planes_at_a_time_gives_the_same_masks(n, monkeypatch):
    """A large photo's many candidate masks are upsampled a few at a time (PLANES_BYTES of float planes): SAM's,
    SAM 2's and SAM 3's masks are those of the whole batch at once (and SAM's still transformers')."""
    import torch
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    from refedit.pipeline.segment import pixels
    from refedit.pipeline.segment.sam import upscale_masks
    from refedit.pipeline.segment.sam3 import full_masks

    size, reshaped = (300, 400), (768, 1024)
    logits = torch.randn(n, 256, 256, generator=torch.Generator().manual_seed(n)) * 3
    whole = upscale_masks(logits, (1024, 1024), reshaped, size)
    probs = logits.sigmoid()
    whole3 = full_masks(probs, (size[1], size[0]), 0.5)
    resized = pixels.above(logits, size, 0.0)
    monkeypatch.setattr(pixels, "PLANES_BYTES", 3 * 4 * size[0] * size[1])  # 3 planes at a time
    chunked = upscale_masks(logits, (1024, 1024), reshaped, size)
    want = SamImageProcessorPil().post_process_masks([logits[:, None]], [size], [reshaped],
                                                     pad_size={"height": 1024, "width": 1024})[0][:, 0]  # fmt: skip
    assert torch.equal(chunked, whole) and torch.equal(chunked, want)
    assert all((a == b).all() for a, b in zip(full_masks(probs, (size[1], size[0]), 0.5), whole3, strict=True))
    assert torch.equal(pixels.above(logits, size, 0.0), resized)


@pytest.mark.parametrize("item,needle", [
    ({"box": [1, 1, 50, 50], "score": float("nan")}, "not a probability"),
    ({"box": [1, 1, 50, 50], "score": 5}, "not a probability"),
    ({"box": [50, 1, 10, 50], "score": 0.5}, "x0 < x1"),
    ({"box": [1, 1, 50], "score": 0.5}, "four finite numbers"),
    ({"box": [1, 1, "inf", 50], "score": 0.5}, "four finite numbers"),
])  # fmt: skip
def test_given_detections_are_checked(tmp_path, item, needle):
    from refedit.errors import BadInput
    from refedit.pipeline.segment.detections import load_detections

    path = tmp_path / "d.json"
    path.write_text(json.dumps([item]))  # NaN and "inf" as Python's json writes and reads them
    with pytest.raises(BadInput, match=needle):
        load_detections(path)


def test_given_boxes_reaching_past_the_border_are_clipped_and_outside_ones_refused():
    from refedit.errors import BadInput
    from refedit.pipeline.segment.detections import GivenDetections

    img = Image.new("RGB", (100, 80))
    found = GivenDetections([Candidate((-50.0, -50.0, 9000.0, 9000.0), 0.9, "cat")]).detect(img, "cat", text_threshold=0.25)
    assert [c.box for c in found] == [(0.0, 0.0, 100.0, 80.0)]
    with pytest.raises(BadInput, match="entirely outside the 100x80 image"):
        GivenDetections([Candidate((200.0, 10.0, 300.0, 50.0), 0.9, "cat")]).detect(img, "cat", text_threshold=0.25)


def test_a_score_just_under_the_threshold_is_not_written_as_equal(tiny_env, tmp_path):
    """'best score 1.00 < box threshold 1.00' (0.9999996 rounded): the digits that tell them apart are shown."""
    from click.testing import CliRunner

    from refedit.cli import main

    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "the cat", "--box-threshold", "1.0", "-o",
                                  str(tmp_path / "m.png")], env=tiny_env)  # fmt: skip
    assert r.exit_code == 4 and "< box threshold 1," in r.stderr and "1.00 < box threshold 1.00" not in r.stderr, r.stderr
