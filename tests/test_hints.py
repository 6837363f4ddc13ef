"""User hints (FlexEdit): boxes, points and free-shape scribbles pick candidates or prompt SAM."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.errors import BadInput
from refedit.pipeline.artifacts import Candidate, Hints
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment.hints import hint_prompts, select_by_hints

from .conftest import EXAMPLES

SHAPE = (200, 300)
CANDS = [Candidate((10, 50, 60, 150), 0.9, "cat"), Candidate((110, 60, 160, 140), 0.5, "cat"),
         Candidate((200, 40, 290, 190), 0.7, "cat")]  # fmt: skip


def ellipse(cx, cy, rx, ry, shape=SHAPE):
    y, x = np.ogrid[: shape[0], : shape[1]]
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1


def test_box_hint_picks_best_iou():
    res = select_by_hints(CANDS, Hints(boxes=((105, 55, 170, 150),)), SHAPE)
    assert res.chosen == (1,) and "IoU" in res.reason


def test_point_hint_picks_containing_or_nearest():
    assert select_by_hints(CANDS, Hints(points=((250, 100),)), SHAPE).chosen == (2,)
    assert select_by_hints(CANDS, Hints(points=((90, 100),)), SHAPE).chosen == (1,)  # between: nearest centre


@pytest.mark.parametrize("scribble", [ellipse(135, 100, 15, 25), ellipse(135, 100, 40, 60),  # inside / around
                                      ellipse(150, 100, 20, 20) & (np.arange(SHAPE[1]) < 150)])  # open, partial
def test_free_shape_hint_need_not_cover_the_object(scribble):
    assert select_by_hints(CANDS, Hints(hint_mask=scribble), SHAPE).chosen == (1,)


def test_no_hints_no_choice_and_prompts():
    assert select_by_hints(CANDS, Hints(), SHAPE) is None
    boxes, points = hint_prompts(Hints(boxes=((1, 2, 3, 4),), points=((5, 6),), hint_mask=ellipse(50, 50, 10, 10)))
    assert boxes[0] == (1, 2, 3, 4) and boxes[1] == (40.0, 40.0, 61.0, 61.0) and points == [(5.0, 6.0)]


def test_hint_overrides_detector_score_on_tiny_models(tiny_settings):
    seg = build_stage("segmenter", "grounded-sam", tiny_settings, box_threshold=0.0)
    img = Image.open(EXAMPLES / "cat.jpg").convert("RGB")
    plan = RulesParser().parse(instruction="remove the cat")
    first = seg.segment(image=img, plan=plan, hints=Hints())
    # hint the box of a candidate that is not the top-scoring one
    target = max(range(len(first.candidates)), key=lambda i: (i not in first.chosen, -first.candidates[i].score))
    box = first.candidates[target].box
    hinted = seg.segment(image=img, plan=plan, hints=Hints(boxes=(box,)))
    assert hinted.chosen == (target,) and hinted.reason.startswith("IoU 1.00")
    assert seg.sam.embed_calls == 1  # same image: SAM embedding reused across calls


def test_hints_alone_prompt_sam(tiny_settings):
    seg = build_stage("segmenter", "grounded-sam", tiny_settings)
    img = Image.open(EXAMPLES / "cat.jpg").convert("RGB")
    plan = RulesParser().parse(instruction="make it snowy")  # global: no object named
    out = seg.segment(image=img, plan=plan, hints=Hints(points=((200, 150),), boxes=((50, 20, 380, 290),)))
    assert out.mask.shape == (300, 451) and out.mask.any() and "SAM prompted with 1 box(es), 1 point(s)" in out.reason


def test_cli_hint_validation_and_hint_only_segment(tmp_path, tiny_env):
    cat = str(EXAMPLES / "cat.jpg")
    r = CliRunner().invoke(main, ["segment", cat, "the cat", "--box", "10,10,5,5"], env=tiny_env)
    assert r.exit_code == BadInput.exit_code and "box 10,10,5,5 is not inside" in r.stderr
    r = CliRunner().invoke(main, ["segment", cat, "the cat", "--point", "1,2,3"], env=tiny_env)
    assert r.exit_code == 2 and "comma-separated" in r.output
    r = CliRunner().invoke(main, ["segment", cat, "", "--hint-mask", str(EXAMPLES / "hints" / "cat_ellipse.png"),
                                  "--box-mask", "--json"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert seg["area"] > 0 and "free-shape hint" in seg["reason"]
