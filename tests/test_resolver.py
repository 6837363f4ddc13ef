"""The referring resolver on synthetic candidate sets (no model)."""

import pytest

from refedit.pipeline.artifacts import Candidate, Target
from refedit.pipeline.segment.resolve import box_iou, nms, resolve

W, H = 300, 200


def cands(*boxes_scores):
    return [Candidate(b, s, "cat") for b, s in boxes_scores]


# left box scores lower than right one: geometry must win (InstructEdit Fig. 9)
ROW = cands(((10, 50, 60, 150), 0.35), ((110, 60, 160, 140), 0.9), ((210, 40, 290, 190), 0.6))


@pytest.mark.parametrize(
    "target,chosen",
    [
        (Target("left cat", "cat", spatial="left"), (0,)),
        (Target("right cat", "cat", spatial="right"), (2,)),
        (Target("middle cat", "cat", spatial="middle"), (1,)),
        (Target("second cat from the left", "cat", spatial="left", ordinal=2), (1,)),
        (Target("second cat from the right", "cat", spatial="right", ordinal=2), (1,)),
        (Target("third cat", "cat", ordinal=3), (2,)),
        (Target("last cat", "cat", ordinal=-1), (2,)),
        (Target("biggest cat", "cat", size="largest"), (2,)),
        (Target("smallest cat", "cat", size="smallest"), (1,)),
        (Target("cats", "cat", all=True), (1, 2, 0)),
        (Target("cat", "cat"), (1,)),
        (Target("front cat", "cat", spatial="front"), (2,)),
        (Target("back cat", "cat", spatial="back"), (1,)),
        (Target("top cat", "cat", spatial="top"), (1,)),  # centres of 0 and 1 tie at y=100: higher score
    ],
)
def test_qualifiers(target, chosen):
    res = resolve(ROW, target, (W, H))
    assert res.chosen == chosen and res.reason


def test_reason_names_the_rule():
    assert resolve(ROW, Target("right cat", "cat", spatial="right"), (W, H)).reason == "right-most of 3 'cat' detections"


def test_single_candidate_and_none():
    one = cands(((0, 0, 10, 10), 0.5))
    assert resolve(one, Target("left cat", "cat", spatial="left"), (W, H)).chosen == (0,)
    assert resolve([], Target("cat", "cat"), (W, H)).chosen == ()
    res = resolve(one, Target("second cat", "cat", ordinal=2), (W, H))
    assert res.chosen == () and "only 1" in res.reason


def test_ties_go_to_higher_score():
    tie = cands(((10, 10, 50, 50), 0.4), ((10, 10, 50, 50), 0.8))
    assert resolve(tie, Target("left cat", "cat", spatial="left"), (W, H)).chosen == (1,)


def test_plural_with_spatial_takes_that_side():
    res = resolve(ROW, Target("cats on the left", "cat", spatial="left", all=True), (W, H))
    assert set(res.chosen) == {0, 1}


def test_nms_and_iou():
    dup = cands(((0, 0, 10, 10), 0.9), ((0, 0, 10, 11), 0.8), ((50, 50, 60, 60), 0.7))
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0 and box_iou((0, 0, 1, 1), (5, 5, 6, 6)) == 0.0
    assert [c.score for c in nms(dup, 0.5)] == [0.9, 0.7]
