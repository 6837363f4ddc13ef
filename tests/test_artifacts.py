import json

import numpy as np
import pytest
from PIL import Image

from refedit.pipeline.artifacts import (
    Candidate,
    EditPlan,
    EditRequest,
    EditResult,
    Hints,
    Relation,
    Segmentation,
    Target,
    mask_to_rle,
    rle_to_mask,
)
from refedit.pipeline.imageio import load_mask, save_mask


def _mask(h=30, w=40, seed=0):
    return np.random.default_rng(seed).random((h, w)) > 0.6


def _plan():
    t = Target("left cat", "cat", ("orange",), spatial="left", ordinal=2, size=None, all=False)
    return EditPlan("replace the left cat with a tiger", "replace", t, "tiger", "cat", "a photo of a cat",
                    "a photo of a tiger", "rules")


@pytest.mark.parametrize("mask", [_mask(), np.ones((5, 7), bool), np.zeros((5, 7), bool), _mask(1, 1)])
def test_rle_round_trip(mask):
    rle = mask_to_rle(mask)
    json.dumps(rle)
    assert np.array_equal(rle_to_mask(rle), mask)


def test_the_rle_is_cocos_so_a_segment_mask_reads_the_same_in_a_manifest():
    """`segment --json` wrote row-major runs under COCO's keys: the manifest's COCO decoder read another mask."""
    from refedit.eval.formats.rle import counts_from_string, decode_rle, encode_rle

    mask = _mask()
    assert np.array_equal(decode_rle(mask_to_rle(mask)), mask)
    assert mask_to_rle(mask)["counts"] == counts_from_string(encode_rle(mask)["counts"])  # pycocotools' runs


def test_mask_png_round_trip(tmp_path):
    m = _mask()
    save_mask(m, tmp_path / "m.png")
    assert np.array_equal(load_mask(tmp_path / "m.png", (40, 30)), m)


def test_plan_round_trip():
    plan = _plan()
    again = EditPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan


def test_segmentation_and_result_round_trip(tmp_path):
    m = _mask()
    seg = Segmentation(m, (Candidate((1, 2, 10, 20), 0.9, "cat", m), Candidate((0, 0, 5, 5), 0.4, "cat")), (0,),
                       "left-most of 2 'cat' detections", "grounded-sam")
    seg2 = Segmentation.from_dict(json.loads(json.dumps(seg.to_dict())))
    assert np.array_equal(seg2.mask, m) and seg2.chosen == (0,) and seg2.reason == seg.reason
    assert np.array_equal(seg2.candidates[0].mask, m) and seg2.candidates[1].mask is None
    assert seg2.candidates[0].box == (1.0, 2.0, 10.0, 20.0)
    img = Image.new("RGB", (40, 30), (1, 2, 3))
    img.save(tmp_path / "r.png")
    res = EditResult(img, _plan(), seg, {"steps": 50, "seed": 3}, {"outside_psnr": float("inf")}, {"edit": 1.5})
    data = json.loads(json.dumps(res.to_dict(image_path=tmp_path / "r.png")))
    back = EditResult.from_dict(data)
    assert back.plan == res.plan and back.parameters == {"steps": 50, "seed": 3}
    assert back.metrics["outside_psnr"] == float("inf") and back.timings == {"edit": 1.5}
    assert np.array_equal(np.asarray(back.image), np.asarray(img))
    # a record written without an image path (the result went to stdout) needs the image given
    bare = json.loads(json.dumps(res.to_dict()))
    with pytest.raises(ValueError, match="pass image="):
        EditResult.from_dict(bare)
    assert np.array_equal(np.asarray(EditResult.from_dict(bare, image=img).image), np.asarray(img))


def test_request_round_trip(tmp_path):
    img = Image.new("RGB", (40, 30))
    img.save(tmp_path / "in.png")
    req = EditRequest(img, "remove the cat", Hints(boxes=((1, 2, 3, 4),), points=((5, 6),), hint_mask=_mask()), 7,
                      str(tmp_path / "in.png"), _plan())
    back = EditRequest.from_dict(json.loads(json.dumps(req.to_dict())))
    assert back.seed == 7 and back.plan == req.plan and back.hints.boxes == ((1.0, 2.0, 3.0, 4.0),)
    assert np.array_equal(back.hints.hint_mask, req.hints.hint_mask) and back.hints.mask is None


def test_nested_relations_round_trip_through_json():
    """"the dress of the girl to the left of the standing girl": a part of a girl placed by another girl."""
    standing = Target("standing girl", "girl", ("standing",))
    girl = Target("girl to the left of the standing girl", "girl", relation=Relation("left-of", standing))
    dress = Target("dress of the girl to the left of the standing girl", "dress", relation=Relation("of", girl))
    plan = EditPlan("make the dress of the girl to the left of the standing girl red", "modify", dress, "red",
                    "dress", "a photo of a dress", "a photo of a red dress", "rules")  # fmt: skip
    back = EditPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back == plan and back.target.relation.anchor.relation.anchor.attributes == ("standing",)
    cup = EditPlan("add a cup to the left of the book", "add", Target("book", "book"), "cup", "book",
                   "a photo of a book", "a photo of a book and a cup", "rules", placement="left-of")  # fmt: skip
    assert EditPlan.from_dict(json.loads(json.dumps(cup.to_dict()))).placement == "left-of"
    between = Target("lamp between the sofas", "lamp", relation=Relation("between", Target("sofa", "sofa"),
                                                                         Target("chair", "chair")))  # fmt: skip
    assert Target.from_dict(json.loads(json.dumps(between.to_dict()))) == between


@pytest.mark.parametrize(
    "make",
    [
        lambda: Target("cat", "cat", spatial="upward"),
        lambda: Target("cat", "cat", ordinal=0),
        lambda: Target("cat", ""),
        lambda: Candidate((10, 0, 5, 5), 1.0, "cat"),
        lambda: Segmentation(np.zeros((4, 4), np.uint8)),
        lambda: Segmentation(np.zeros((4, 4), bool), (), (0,)),
        lambda: EditRequest(Image.new("RGBA", (4, 4)), "x"),
        lambda: EditPlan("x", "explode", Target("cat", "cat"), None, "cat", "a", "b", "rules"),
        lambda: Relation("beside-ish", Target("sofa", "sofa")),
        lambda: Relation("between", Target("sofa", "sofa")),  # between needs two anchors
        lambda: Relation("left-of", Target("sofa", "sofa"), Target("lamp", "lamp")),
        lambda: Target("him", "person", pronoun="he"),
        lambda: Target("left side", "region", region="left side"),
        lambda: EditPlan("x", "remove", Target("cat", "cat"), None, "cat", "a", "b", "rules", placement="left-of"),
    ],
)
def test_post_init_checks(make):
    with pytest.raises(ValueError):
        make()


def test_result_size_must_match_mask():
    seg = Segmentation(np.zeros((30, 40), bool))
    with pytest.raises(ValueError, match="differ in size"):
        EditResult(Image.new("RGB", (41, 30)), _plan(), seg)


def test_a_plans_attributes_are_a_list_of_words():
    """A --plan with "attributes": "red" was read letter by letter ("none clearly r e d")."""
    from refedit.pipeline.artifacts import Target

    with pytest.raises(ValueError, match="attributes must be a list of words, got 'red'"):
        Target.from_dict({"expression": "car", "head": "car", "attributes": "red"})
    with pytest.raises(ValueError, match="attributes must be a list of words"):
        Target.from_dict({"expression": "car", "head": "car", "attributes": [1, 2]})
    assert Target.from_dict({"expression": "car", "head": "car", "attributes": ["red"]}).attributes == ("red",)
