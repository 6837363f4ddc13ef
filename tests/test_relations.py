"""Relations, pronouns, regions and placements (issue 18) on hand-made scenes: detections given as JSON (the
users' ``--detections``), masks from the boxes, so every decision is the resolver's geometry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.errors import Ambiguous, TargetNotFound
from refedit.pipeline.artifacts import Hints
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment import relations as rel

W, H = 600, 400
IMAGE = Image.new("RGB", (W, H), (120, 130, 140))
PARSER = RulesParser()


def segment(tmp_path, settings, detections, instruction, **options):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"box": b, "score": s, "label": lab} for lab, b, s in detections]))
    seg = build_stage("segmenter", "grounded-sam", settings, detections=str(path), box_mask=True, **options)
    return seg.segment(image=IMAGE, plan=PARSER.parse(instruction=instruction), hints=Hints())


def chosen_boxes(result):
    return sorted(tuple(result.candidates[i].box) for i in result.chosen)


# --------------------------------------------------------------------------- pure geometry
@pytest.mark.parametrize("direction,box,ok", [
    ("left-of", (100, 150, 160, 250), True), ("left-of", (400, 150, 460, 250), False),
    ("right-of", (400, 150, 460, 250), True), ("right-of", (100, 150, 160, 250), False),
    ("above", (250, 20, 300, 80), True), ("above", (250, 320, 300, 380), False),
    ("below", (250, 320, 300, 380), True), ("below", (250, 20, 300, 80), False),
    ("left-of", (230, 10, 260, 60), False),  # far above, barely left: above, not left of
    ("next-to", (360, 150, 420, 250), True), ("next-to", (560, 10, 590, 40), False),
    ("on", (260, 110, 300, 160), True), ("on", (260, 320, 300, 380), False),
    ("in", (260, 160, 300, 220), True), ("in", (100, 150, 160, 250), False),
    ("of", (260, 160, 300, 220), True),
    ("in-front-of", (240, 200, 320, 300), True), ("in-front-of", (240, 100, 320, 240), False),
    ("behind", (240, 100, 320, 240), True), ("behind", (240, 200, 320, 300), False),
])  # fmt: skip
def test_relation_cost_by_direction(direction, box, ok):
    """Anchor (200, 150, 350, 250): a sofa in the middle of a 600x400 picture."""
    assert (rel.relation_cost(direction, box, (200, 150, 350, 250)) is not None) is ok


def test_between_needs_the_centre_between_the_two_anchors():
    a, b = (0, 100, 100, 200), (400, 100, 500, 200)
    assert rel.relation_cost("between", (200, 120, 260, 180), a, b) is not None
    assert rel.relation_cost("between", (520, 120, 580, 180), a, b) is None
    assert rel.relation_cost("between", (200, 120, 260, 180), a, None) is None


def test_placement_box_sits_beside_the_anchor_and_fits_the_image():
    book = (300.0, 200.0, 400.0, 300.0)
    left = rel.placement_box("left-of", book, (W, H), "coffee cup")
    assert left is not None and left[2] <= book[0] and left[3] == book[3]  # left of it, on the same ground line
    assert (left[2] - left[0]) == pytest.approx(rel.TYPICAL_SIZE["cup"] * 100)  # a cup is half a book wide
    above = rel.placement_box("above", book, (W, H), "helicopter")
    assert above is not None and above[3] <= book[1]
    assert rel.placement_box("left-of", (0.0, 200.0, 50.0, 300.0), (W, H), "cup") is None  # no room at the edge


# --------------------------------------------------------------------------- resolver on scenes
CHAIRS = [("chair", [10, 150, 60, 260], 0.9), ("sofa", [200, 150, 350, 250], 0.8),
          ("chair", [120, 150, 180, 260], 0.6), ("chair", [420, 150, 480, 260], 0.95)]  # fmt: skip


def test_chair_left_of_the_sofa_is_the_nearest_one_not_the_left_most(tmp_path, tiny_settings):
    r = segment(tmp_path, tiny_settings, CHAIRS, "make the chair on the left of the sofa red")
    assert chosen_boxes(r) == [(120.0, 150.0, 180.0, 260.0)]
    assert "left of 'sofa'" in r.reason and r.mask[200, 150] and not r.mask[200, 30]
    r = segment(tmp_path, tiny_settings, CHAIRS, "make the chair on the right of the sofa red")
    assert chosen_boxes(r) == [(420.0, 150.0, 480.0, 260.0)]
    r = segment(tmp_path, tiny_settings, CHAIRS, "make the chairs on the left of the sofa red")
    assert chosen_boxes(r) == [(10.0, 150.0, 60.0, 260.0), (120.0, 150.0, 180.0, 260.0)]


def test_a_relation_nobody_satisfies_is_reported_not_replaced_by_a_position(tmp_path, tiny_settings):
    dets = [("chair", [420, 150, 480, 260], 0.9), ("sofa", [200, 150, 350, 250], 0.8)]
    with pytest.raises(TargetNotFound, match="none of the 1 'chair' detections is left of 'sofa'"):
        segment(tmp_path, tiny_settings, dets, "make the chair on the left of the sofa red")


def test_missing_anchor_names_the_anchor(tmp_path, tiny_settings):
    dets = [*CHAIRS, ("lamp", [270, 40, 300, 90], 0.9)]
    with pytest.raises(TargetNotFound, match="the anchor 'table' was not found"):
        segment(tmp_path, tiny_settings, dets, "remove the lamp above the table")


@pytest.mark.parametrize("instruction,want", [
    ("remove the lamp above the table", ("lamp", (270, 40, 300, 90))),
    ("make the ball under the table red", ("ball", (280, 330, 310, 360))),
    ("remove the dog next to the car", ("dog", (400, 250, 440, 300))),
    ("remove the cat in front of the table", ("cat", (240, 230, 280, 290))),
    ("make the cup on the table blue", ("cup", (300, 120, 320, 150))),
    ("make the apple in the bowl red", ("apple", (80, 330, 100, 350))),
    ("remove the vase between the car and the table", ("vase", (380, 200, 400, 240))),
])  # fmt: skip
def test_every_direction_on_one_scene(tmp_path, tiny_settings, instruction, want):
    """One scene, each object once with a decoy of the same kind where the relation does not hold."""
    dets = [("table", [200, 150, 350, 250], 0.9), ("car", [450, 200, 600, 320], 0.9), ("bowl", [50, 300, 150, 380], 0.9),
            ("lamp", [270, 40, 300, 90], 0.5), ("lamp", [10, 40, 40, 90], 0.9),
            ("ball", [280, 330, 310, 360], 0.5), ("ball", [20, 20, 50, 50], 0.9),
            ("dog", [400, 250, 440, 300], 0.5), ("dog", [10, 150, 50, 200], 0.9),
            ("cat", [240, 230, 280, 290], 0.5), ("cat", [100, 20, 140, 60], 0.9),
            ("cup", [300, 120, 320, 150], 0.5), ("cup", [560, 20, 580, 50], 0.9),
            ("apple", [80, 330, 100, 350], 0.5), ("apple", [560, 350, 580, 370], 0.9),
            ("vase", [380, 200, 400, 240], 0.5), ("vase", [100, 100, 120, 140], 0.9)]  # fmt: skip
    r = segment(tmp_path, tiny_settings, dets, instruction)
    assert chosen_boxes(r) == [tuple(float(v) for v in want[1])], r.reason


def test_nested_anchors_resolve_inside_out(tmp_path, tiny_settings):
    """"the cup on the table to the left of the sofa": the table left of the sofa, then the cup on it."""
    dets = [("sofa", [250, 150, 350, 250], 0.9), ("table", [50, 200, 200, 300], 0.6), ("table", [400, 200, 550, 300], 0.9),
            ("cup", [100, 160, 130, 205], 0.5), ("cup", [450, 160, 480, 205], 0.9)]  # fmt: skip
    r = segment(tmp_path, tiny_settings, dets, "remove the cup on the table to the left of the sofa")
    assert chosen_boxes(r) == [(100.0, 160.0, 130.0, 205.0)]
    assert "'table'" in r.reason and "'sofa'" in r.reason


def test_possessive_is_a_part_inside_its_owner(tmp_path, tiny_settings):
    dets = [("dog", [50, 100, 250, 350], 0.9), ("dog", [350, 100, 550, 350], 0.8),
            ("collar", [400, 150, 450, 180], 0.9), ("collar", [100, 150, 150, 180], 0.4)]  # fmt: skip
    r = segment(tmp_path, tiny_settings, dets, "make the collar of the dog on the left red")
    assert chosen_boxes(r) == [(100.0, 150.0, 150.0, 180.0)]


HORSES = [("horse", [20, 100, 160, 300], 0.8), ("horse", [200, 120, 330, 300], 0.7), ("horse", [380, 110, 560, 310], 0.9),
          ("tree", [500, 0, 600, 100], 0.5), ("person", [250, 50, 280, 120], 0.4)]  # fmt: skip


def test_them_is_every_instance_of_the_main_subject(tmp_path, tiny_settings):
    r = segment(tmp_path, tiny_settings, HORSES, "make them zebras")
    assert len(r.chosen) == 3 and {r.candidates[i].label for i in r.chosen} == {"horse"}
    assert "main subject" in r.reason


@pytest.mark.parametrize("instruction,box", [
    ("make the left one white", (20.0, 100.0, 160.0, 300.0)),
    ("remove the one on the right", (380.0, 110.0, 560.0, 310.0)),
    ("replace the second one from the left with a cow", (200.0, 120.0, 330.0, 300.0)),
    ("make the biggest one brown", (380.0, 110.0, 560.0, 310.0)),
])  # fmt: skip
def test_one_is_an_instance_of_the_main_subject_picked_by_its_qualifier(tmp_path, tiny_settings, instruction, box):
    """"the left one" names no noun: the image's main subject (the horses, not the tree or the person), the
    qualifier picking among them."""
    r = segment(tmp_path, tiny_settings, HORSES, instruction)
    assert chosen_boxes(r) == [box] and "main subject" in r.reason


def test_bare_one_is_read_as_it(tmp_path, tiny_settings):
    """"this one" without a qualifier is "it": the most prominent instance, and with two horses of similar
    prominence an ambiguity to settle, as "remove it" is."""
    with pytest.raises(Ambiguous, match="could be any of 2 'horse'"):
        segment(tmp_path, tiny_settings, HORSES, "remove this one")
    with pytest.raises(Ambiguous, match="could be any of 2 'horse'"):
        segment(tmp_path, tiny_settings, HORSES, "remove it")


def test_her_with_one_woman_and_with_two(tmp_path, tiny_settings):
    one = [("person", [200, 50, 330, 390], 0.9), ("dog", [400, 250, 500, 350], 0.9)]
    r = segment(tmp_path, tiny_settings, one, "give her a hat")
    assert chosen_boxes(r) == [(200.0, 50.0, 330.0, 390.0)]
    two = [("person", [50, 50, 200, 390], 0.9), ("person", [350, 50, 500, 390], 0.85)]
    with pytest.raises(Ambiguous, match="could be any of 2 people"):
        segment(tmp_path, tiny_settings, two, "give her a hat")
    near_far = [("person", [50, 20, 300, 390], 0.9), ("person", [450, 200, 500, 300], 0.9)]  # one clearly in front
    assert chosen_boxes(segment(tmp_path, tiny_settings, near_far, "give her a hat")) == [(50.0, 20.0, 300.0, 390.0)]


def test_her_shirt_is_inside_her(tmp_path, tiny_settings):
    dets = [("person", [200, 50, 330, 390], 0.9), ("shirt", [210, 120, 320, 230], 0.8), ("shirt", [450, 50, 550, 150], 0.9)]
    r = segment(tmp_path, tiny_settings, dets, "make her shirt red")
    assert chosen_boxes(r) == [(210.0, 120.0, 320.0, 230.0)]


def test_regions_of_the_image_and_of_an_object(tmp_path, tiny_settings):
    r = segment(tmp_path, tiny_settings, CHAIRS, "make the right side snowy")
    assert r.mask[:, 300:].all() and not r.mask[:, :300].any()
    r = segment(tmp_path, tiny_settings, CHAIRS, "make the bottom of the sofa blue")
    ys, xs = np.nonzero(r.mask)
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (200, 250, 200, 350)
    r = segment(tmp_path, tiny_settings, CHAIRS, "blur the background")
    assert not r.mask[200, 30] and r.mask[50, 550] and "all but the" in r.reason


def test_an_addition_between_two_objects_paints_the_space_between_them(tmp_path, tiny_settings):
    """"add a lamp between the sofa and the chair": the detector was asked for a 'region' (the target's head) and
    the edit always failed (exit 4); the space between the two anchors is the region now."""
    dets = [("chair", [420, 150, 480, 260], 0.9), ("sofa", [200, 150, 350, 250], 0.8)]
    r = segment(tmp_path, tiny_settings, dets, "add a lamp between the sofa and the chair")
    ys, xs = np.nonzero(r.mask)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (350, 420, 150, 260)
    assert r.reason.startswith("the space between the sofa and the chair")
    two = [("chair", [20, 150, 80, 260], 0.9), ("chair", [420, 150, 480, 260], 0.9)]
    r = segment(tmp_path, tiny_settings, two, "add a lamp between the two chairs")
    ys, xs = np.nonzero(r.mask)
    assert (xs.min(), xs.max() + 1) == (80, 420)
    assert rel.space_between((0, 0, 10, 10), (5, 5, 20, 20)) is None  # overlapping: no space between
    assert rel.space_between((0, 0, 10, 10), (2, 30, 12, 40)) == (2, 10, 10, 30)  # one above the other


@pytest.mark.parametrize("segmenter", ["grounded-sam", "sam3"])
@pytest.mark.parametrize("instruction,half", [("make the right side snowy", (slice(None), slice(300, None))),
                                              ("darken the top half", (slice(None, 200), slice(None))),
                                              ("add a watermark to the bottom right corner", (slice(200, None), slice(300, None)))])
def test_an_image_region_runs_through_the_real_detector(segmenter, instruction, half, tiny_settings):
    """A region alone names nothing to detect: GroundingDINO was asked for no phrase and crashed ('stack expects a
    non-empty TensorList', exit 1) on every region instruction without --detections."""
    seg = build_stage("segmenter", segmenter, tiny_settings, box_threshold=0.0)
    r = seg.segment(image=IMAGE, plan=PARSER.parse(instruction=instruction), hints=Hints())
    outside = np.ones((H, W), bool)
    outside[half] = False
    assert r.mask[half].all() and not r.mask[outside].any()


def test_placement_for_an_addition_is_beside_the_anchor(tmp_path, tiny_settings):
    dets = [("book", [300, 200, 400, 300], 0.9), ("book", [450, 50, 500, 100], 0.3)]
    r = segment(tmp_path, tiny_settings, dets, "add a cup to the left of the book")
    ys, xs = np.nonzero(r.mask)
    assert xs.max() < 300 and ys.max() < 300 and xs.min() > 200  # left of the book, about half its size
    assert "a place for cup left of 'book'" in r.reason


def test_end_to_end_cup_left_of_the_book_is_filled_by_the_inpaint_editor(tmp_path, tiny_env):
    """``refedit edit`` with ``--detections``: the placement is the mask the inpainting editor fills."""
    img = tmp_path / "desk.png"
    Image.new("RGB", (W, H), (90, 110, 140)).save(img)
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"box": [300, 200, 400, 300], "score": 0.9, "label": "book"}]))
    out, mask = tmp_path / "out.png", tmp_path / "mask.png"
    r = CliRunner().invoke(main, ["edit", str(img), "add a coffee cup to the left of the book", "--detections", str(dets),
                                  "--box-mask", "--editor", "inpaint", "--steps", "3", "--resolution", "64", "-o", str(out),
                                  "--save-mask", str(mask), "--json"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    m = np.asarray(Image.open(mask)) > 127
    ys, xs = np.nonzero(m)
    assert xs.max() < 300 and xs.min() > 200
    before, after = np.asarray(Image.open(img)), np.asarray(Image.open(out))
    assert (before[m] != after[m]).any() and np.array_equal(before[~m & (np.arange(W)[None, :] > 420)],
                                                            after[~m & (np.arange(W)[None, :] > 420)])  # fmt: skip
    assert json.loads(r.stdout)["plan"]["placement"] == "left-of"


def test_additions_go_to_the_inpaint_editor_when_the_editor_is_left_to_choose(tmp_path, tiny_settings, tiny_models):
    """DiffEdit cannot create objects in empty regions: with no editor named, an addition is painted by the
    inpainting editor (its checkpoint is there); without an inpainting checkpoint DiffEdit tries, with a warning;
    an editor the user names is always used."""
    import warnings

    from refedit.config import Settings
    from refedit.errors import RefEditWarning
    from refedit.pipeline.chain import Pipeline

    plan = PARSER.parse(instruction="add a cup to the left of the book")
    pipe = Pipeline.build(tiny_settings, options={"steps": 2, "resolution": 64})
    assert pipe.editor.name == "diffedit" and pipe.editor_for(plan).name == "inpaint"
    assert pipe.editor_for(PARSER.parse(instruction="remove the book")).name == "diffedit"
    named = Pipeline.build(tiny_settings, editor="diffedit", options={"steps": 2, "resolution": 64})
    assert named.editor_for(plan).name == "diffedit"
    missing = Settings(models={**tiny_settings.models, "inpaint": str(tmp_path / "no-inpaint-here")}, device="cpu")
    pipe = Pipeline.build(missing, options={"steps": 2, "resolution": 64})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert pipe.editor_for(plan).name == "diffedit"
    assert any(issubclass(w.category, RefEditWarning) and "cannot create an object" in str(w.message) for w in seen)


def test_an_ambiguous_anchor_is_exit_7_and_a_qualified_one_is_not(tmp_path, tiny_settings):
    dets = [("sofa", [200, 150, 300, 250], 0.8), ("sofa", [450, 150, 550, 250], 0.78),
            ("chair", [120, 150, 180, 260], 0.9), ("chair", [380, 150, 430, 260], 0.9)]  # fmt: skip
    with pytest.raises(Ambiguous, match="the anchor 'sofa' could be any of 2"):
        segment(tmp_path, tiny_settings, dets, "make the chair on the left of the sofa red")
    r = segment(tmp_path, tiny_settings, dets, "make the chair on the left of the right sofa red")
    assert chosen_boxes(r) == [(380.0, 150.0, 430.0, 260.0)]
    r = segment(tmp_path, tiny_settings, [*dets[:1], ("sofa", [450, 150, 550, 250], 0.4), *dets[2:]],
                "make the chair on the left of the sofa red")  # one sofa clearly the better detection
    assert chosen_boxes(r) == [(120.0, 150.0, 180.0, 260.0)]


def test_grounding_dino_detects_target_and_anchor_phrases_in_one_call(tiny_settings):
    """The tiny GroundingDINO through from_pretrained: one forward for "chair . sofa", each box given to one phrase."""
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.grounding import GroundingDino

    store = ModelStore(tiny_settings)
    detector = GroundingDino(store, floor=0.0)
    model = store.get("grounding", "detector")
    calls = []
    hook = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        per = detector.detect_phrases(IMAGE, ["chair", "sofa"], text_threshold=0.25)
    finally:
        hook.remove()
    assert len(calls) == 1 and len(per) == 2
    assert {c.label for c in per[0]} == {"chair"} and {c.label for c in per[1]} == {"sofa"}
    boxes = [c.box for c in per[0] + per[1]]
    assert len(boxes) == len(set(boxes))  # no box given to both phrases
    assert all(0 <= b[0] < b[2] <= W and 0 <= b[1] < b[3] <= H for b in boxes)


def segment_cli(tmp_path, env, detections, expression, *extra):  # type: ignore[no-untyped-def]
    """``refedit segment IMAGE EXPRESSION --detections D.json -o mask.png --json`` on :data:`IMAGE`: the record's
    segmentation, its chosen boxes and the mask written."""
    img, dets, mask = tmp_path / "scene.png", tmp_path / "dets.json", tmp_path / "mask.png"
    IMAGE.save(img)
    dets.write_text(json.dumps([{"box": b, "score": s, "label": lab} for lab, b, s in detections]))
    r = CliRunner().invoke(main, ["segment", str(img), expression, "--detections", str(dets), *extra, "-o", str(mask),
                                  "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    return seg, [seg["candidates"][i]["box"] for i in seg["chosen"]], np.asarray(Image.open(mask)) > 127


def test_end_to_end_segment_picks_the_chair_left_of_the_sofa_not_the_left_most(tmp_path, tiny_env):
    """``refedit segment --detections`` on the tiny models: the relation, not an absolute position, decides."""
    seg, chosen, m = segment_cli(tmp_path, tiny_env, CHAIRS, "the chair on the left of the sofa")
    assert chosen == [[120.0, 150.0, 180.0, 260.0]]
    assert m[200, 150] and not m[200, 30] and "left of 'sofa'" in seg["reason"]


# --------------------------------------------------------------------------- what the target holds, wears or rides
def test_with_cost_is_the_part_of_the_anchor_outside_the_target():
    man = (350.0, 100.0, 500.0, 380.0)
    assert rel.relation_cost("with", man, (400, 110, 450, 150)) == 0.0  # a hat on his head: all inside
    held = rel.relation_cost("with", man, (330, 40, 480, 150))  # an umbrella over him: partly inside
    assert held is not None and 0.0 < held < 1.0
    near = rel.relation_cost("with", man, (520, 350, 590, 390))  # a dog on a lead a little way off
    assert near is not None and near > 1.0
    assert rel.relation_cost("with", man, (20, 20, 60, 60)) is None  # across the picture: not his


MEN = [("man", [50, 100, 200, 380], 0.9), ("man", [350, 100, 500, 380], 0.8),
       ("umbrella", [330, 40, 480, 150], 0.7), ("umbrella", [520, 350, 590, 390], 0.9)]  # fmt: skip


@pytest.mark.parametrize("instruction", ["replace the man holding an umbrella with a robot",
                                         "turn the man who's holding an umbrella into a statue",
                                         "remove the man with the umbrella"])  # fmt: skip
def test_the_man_holding_an_umbrella_is_the_one_under_it(tmp_path, tiny_settings, instruction):
    """Two men, two umbrellas (one held over the right man, one closed on the ground): no ambiguity, whichever
    umbrella it is; the man whose box covers most of one."""
    r = segment(tmp_path, tiny_settings, MEN, instruction)
    assert chosen_boxes(r) == [(350.0, 100.0, 500.0, 380.0)], r.reason
    assert "with 'umbrella'" in r.reason and "the best fit of the 2 'man' detections" in r.reason


def test_the_woman_wearing_a_hat_and_the_lady_with_the_stroller_on_the_left(tmp_path, tiny_settings):
    women = [("woman", [50, 100, 200, 380], 0.8), ("woman", [350, 100, 500, 380], 0.9), ("hat", [90, 80, 160, 130], 0.6)]
    assert chosen_boxes(segment(tmp_path, tiny_settings, women, "remove the woman wearing a hat")) == [(50.0, 100.0, 200.0, 380.0)]
    ladies = [("lady", [50, 100, 150, 380], 0.9), ("lady", [250, 100, 350, 380], 0.9), ("lady", [450, 100, 550, 380], 0.9),
              ("stroller", [140, 250, 230, 380], 0.8), ("stroller", [530, 250, 599, 380], 0.8)]  # fmt: skip
    r = segment(tmp_path, tiny_settings, ladies, "remove the lady with the stroller on the left")
    assert chosen_boxes(r) == [(50.0, 100.0, 150.0, 380.0)], r.reason  # of the two with a stroller, the left one


def test_a_lone_target_needs_no_anchor_and_two_without_one_are_reported(tmp_path, tiny_settings):
    one = [("man", [350, 100, 500, 380], 0.8)]
    r = segment(tmp_path, tiny_settings, one, "remove the man holding an umbrella")
    assert chosen_boxes(r) == [(350.0, 100.0, 500.0, 380.0)] and "'umbrella' not needed to tell it apart" in r.reason
    with pytest.raises(TargetNotFound, match="the anchor 'umbrella' was not found"):
        segment(tmp_path, tiny_settings, MEN[:2], "remove the man holding an umbrella")
    apart = [("man", [50, 200, 120, 380], 0.9), ("man", [400, 200, 470, 380], 0.8), ("umbrella", [230, 0, 290, 40], 0.9)]
    with pytest.raises(TargetNotFound, match="none of the 2 'man' detections has 'umbrella' on or beside it"):
        segment(tmp_path, tiny_settings, apart, "remove the man holding an umbrella")


def test_end_to_end_segment_picks_the_man_holding_the_umbrella(tmp_path, tiny_env):
    _, chosen, m = segment_cli(tmp_path, tiny_env, MEN, "the man holding an umbrella", "--box-mask")
    assert chosen == [[350.0, 100.0, 500.0, 380.0]]
    assert m[300, 420] and not m[300, 120]


def test_two_who_hold_one_just_as_well_are_ambiguous(tmp_path, tiny_settings):
    """Two girls, each wearing a dress the detector found: 'the girl in the dress' does not say which (exit 7, or
    --pick); it was the first by cost order, silently."""
    dets = [("girl", [20, 20, 140, 280], 0.9), ("girl", [200, 20, 320, 280], 0.85),
            ("dress", [30, 100, 130, 260], 0.8), ("dress", [210, 100, 310, 260], 0.8)]  # fmt: skip
    with pytest.raises(Ambiguous, match="each has 'dress' on it as much as the other"):
        segment(tmp_path, tiny_settings, dets, "remove the girl in the dress")
    r = segment(tmp_path, tiny_settings, dets, "remove the girl in the dress", pick=2)
    assert chosen_boxes(r) == [(200.0, 20.0, 320.0, 280.0)]
    assert len(segment(tmp_path, tiny_settings, dets, "remove the girls in dresses").chosen) == 2


def test_a_thing_on_a_road_stands_anywhere_inside_it(tmp_path, tiny_settings):
    """"the cone on the road": on a ground seen in perspective a thing stands anywhere inside its outline (the 'on'
    of a table, whose top edge it stands on, found none: exit 4); "on the left side of the road" is its left side."""
    dets = [("road", [0, 200, 600, 400], 0.9), ("cone", [80, 300, 120, 360], 0.8), ("cone", [450, 300, 490, 360], 0.9)]
    r = segment(tmp_path, tiny_settings, dets, "remove the cone on the left side of the road")
    assert chosen_boxes(r) == [(80.0, 300.0, 120.0, 360.0)]
    r = segment(tmp_path, tiny_settings, dets, "remove the cone on the right side of the road")
    assert chosen_boxes(r) == [(450.0, 300.0, 490.0, 360.0)]
    r = segment(tmp_path, tiny_settings, [dets[0], dets[2], ("cone", [450, 80, 490, 140], 0.95)], "remove the cone on the road")
    assert chosen_boxes(r) == [(450.0, 300.0, 490.0, 360.0)]  # inside the road's outline, not the one in the sky
    two = [dets[0], dets[1], dets[2]]  # both cones inside the road: which one is the user's to say
    with pytest.raises(Ambiguous, match="each is on 'road' as much as the other"):
        segment(tmp_path, tiny_settings, two, "remove the cone on the road")
