"""The referring resolver on synthetic candidate sets (no model)."""

import json

import numpy as np
import pytest

from refedit.pipeline.artifacts import Candidate, Target
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment.resolve import nms, resolve
from refedit.core.geometry import box_iou, box_ious

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
        (Target("second last cat", "cat", ordinal=-2), (1,)),
        (Target("second last cat from the right", "cat", spatial="right", ordinal=-2), (1,)),
        (Target("third last cat", "cat", ordinal=-3), (0,)),
        (Target("fourth last cat", "cat", ordinal=-4), ()),  # only three: none, and says so
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
    rows = [(0, 0, 10, 10), (5, 0, 15, 10), (3, 3, 3, 9), (20, 20, 30, 30), (2.5, 1.5, 7.25, 11.0)]
    assert box_ious((0, 0, 10, 10), np.array(rows, dtype=np.float64)).tolist() == [box_iou((0, 0, 10, 10), r) for r in rows]
    assert [c.score for c in nms(dup, 0.5)] == [0.9, 0.7]


def test_nms_keeps_what_the_pairwise_definition_keeps():
    """Against the plain greedy loop over :func:`box_iou`, on many overlapping boxes (ties, empty and degenerate
    boxes, thresholds on both sides of exact overlaps)."""
    import random

    rng = random.Random(5)
    boxes = []
    for _ in range(400):
        x, y = rng.uniform(0, 300), rng.uniform(0, 200)
        boxes.append(((x, y, x + rng.choice([0.0, 1.0, rng.uniform(1, 80)]), y + rng.uniform(0, 60)), rng.choice([0.5, rng.random()])))
    boxes += [((10, 10, 50, 50), 0.9), ((10, 10, 50, 50), 0.9), ((30, 10, 70, 50), 0.8)]  # IoU 1 and exactly 1/3
    many = cands(*boxes)
    for threshold in (0.0, 1 / 3, 0.5, 0.7, 1.0):
        want: list = []
        for c in sorted(many, key=lambda c: -c.score):
            if all(box_iou(c.box, k.box) <= threshold for k in want):
                want.append(c)
        assert nms(many, threshold) == want


# --------------------------------------------------------------------------- two axes at once
def around(cx, cy, r=8):
    return (cx - r, cy - r, cx + r, cy + r)


# Box centres in a 300x200 image, placed so that no corner's answer is a one-axis extreme: the left-most
# (1), right-most (3), top-most (2) and bottom-most (4) are all elsewhere. Normalised L1 distances to each
# corner, computed by hand from the definition (cx/W + cy/H towards top-left, and so on):
#   top-left:     0: 0.20+0.20=0.40  1: 0.07+0.55=0.62  2: 0.60+0.05=0.65  (the rest > 1)
#   top-right:    6: 0.17+0.18=0.34  2: 0.40+0.05=0.45  3: 0.07+0.60=0.67
#   bottom-left:  7: 0.17+0.13=0.29  1: 0.07+0.45=0.52
#   bottom-right: 8: 0.10+0.15=0.25  4: 0.23+0.08=0.31  3: 0.07+0.40=0.47
CENTRES = [(60, 40), (20, 110), (180, 10), (280, 120), (230, 185), (150, 100), (250, 35), (50, 175), (270, 170)]
GRID = cands(*((around(*c), 0.9 - 0.05 * i) for i, c in enumerate(CENTRES)))


@pytest.mark.parametrize("spatial,chosen", [("top-left", 0), ("top-right", 6), ("bottom-left", 7), ("bottom-right", 8),
                                            ("left", 1), ("right", 3), ("top", 2), ("bottom", 4)])  # fmt: skip
def test_corner_is_not_a_one_axis_extreme(spatial, chosen):
    res = resolve(GRID, Target("cat", "cat", spatial=spatial), (W, H))
    assert res.chosen == (chosen,)
    if "-" in spatial:
        assert res.reason == f"nearest the {spatial} corner of 9 'cat' detections"


def test_corner_distance_is_normalised_by_the_image_size():
    # a wide 1000x100 image: a is 10 % across and halfway down, b 3 % across and 90 % down. Normalised,
    # a is nearer the top-left corner (0.10+0.50 < 0.03+0.90); in raw pixels b would be (30+90 < 100+50).
    wide = cands(((90, 40, 110, 60), 0.5), ((20, 80, 40, 100), 0.9))
    assert resolve(wide, Target("cat", "cat", spatial="top-left"), (1000, 100)).chosen == (0,)


def test_ordinal_and_plural_count_from_a_corner():
    second = resolve(GRID, Target("cat", "cat", spatial="top-left", ordinal=2), (W, H))
    assert second.chosen == (1,) and second.reason == "second from the top-left of 9 'cat' detections"
    # plural: the centres in both the left half (x < 150) and the bottom half (y >= 100)
    assert set(resolve(GRID, Target("cats", "cat", spatial="bottom-left", all=True), (W, H)).chosen) == {1, 7}


def test_corner_target_round_trips():
    t = Target("cat in the top left corner", "cat", spatial="top-left", ordinal=2)
    assert Target.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(ValueError, match="spatial must be one of"):
        Target("cat", "cat", spatial="top left")


# --------------------------------------------------------------------------- instructions through the parser
# Parsed instructions on GRID (expected picks from the distance table above) and on ROW (three in a row).
@pytest.mark.parametrize(
    "instruction,chosen",
    [
        ("remove the top left cat", 0),
        ("remove the cat in the bottom-right corner", 8),
        ("remove the upper right cat", 6),
        ("remove the lower left cat", 7),
        ("remove the cat at the top-right of the picture", 6),
        ("remove the left cat", 1),  # one axis is unchanged
    ],
)
def test_two_axis_instructions_resolve(instruction, chosen):
    plan = RulesParser().parse(instruction=instruction)
    assert resolve(GRID, plan.target, (W, H)).chosen == (chosen,)


@pytest.mark.parametrize(
    "instruction,chosen",
    [
        ("remove the last horse on the right", 2),  # the one at the right end
        ("remove the last horse on the left", 0),
        ("remove the first horse from the left", 0),
        ("remove the first horse on the right", 2),
        ("remove the second horse from the right", 1),
        ("remove the last horse from the left", 2),  # counted from the left, the last is the right-most
        ("remove the last horse from the right", 0),
        ("remove the last horse", 2),  # left to right by default
    ],
)
def test_first_and_last_with_a_direction(instruction, chosen):
    horses = [Candidate(c.box, c.score, "horse") for c in ROW]
    plan = RulesParser().parse(instruction=instruction)
    assert resolve(horses, plan.target, (W, H)).chosen == (chosen,)


@pytest.mark.parametrize(
    "instruction,spatial,chosen",
    [
        ("remove the horse sitting furthest to the right", "right", 2),  # a degree word leading to a side: that side
        ("remove the horse farthest left", "left", 0),
        ("remove the horse that is closest to the left", "left", 0),
        ("remove the horse nearest to the right", "right", 2),
        ("remove the furthest horse", "back", None),  # alone it still means depth
        ("remove the nearest horse", "front", None),
    ],
)
def test_degree_words_leading_to_a_side_name_that_side(instruction, spatial, chosen):
    horses = [Candidate(c.box, c.score, "horse") for c in ROW]
    plan = RulesParser().parse(instruction=instruction)
    assert plan.target.spatial == spatial
    if chosen is not None:
        assert resolve(horses, plan.target, (W, H)).chosen == (chosen,)


def test_the_looks_best_is_among_the_comparable_when_its_detection_score_is_not():
    """'the blue triangle' on a synth scene: CLIP's most-blue triangle (score 0.40) was left out of the comparable set
    (the detection scores' margin kept 0.82 and 0.76), so --on-ambiguous best, which picks the resolver's choice,
    was 'internal error: tuple.index(x): x not in tuple'. The choice is one of the comparable now."""
    from refedit.pipeline.segment.grounded_sam import GroundedSamSegmenter
    from refedit.pipeline.segment.resolve import Resolution, settle

    cands = [Candidate((2, 26, 11, 38), 0.395, "triangle"), Candidate((74, 78, 83, 88), 0.821, "triangle"),
             Candidate((36, 62, 54, 77), 0.76, "triangle")]  # fmt: skip
    res = GroundedSamSegmenter._attribute_tie(Resolution((0,), "most blue-looking"), cands, np.array([0.02, 0.018, 0.012]),
                                              [0, 1, 2], "blue")  # fmt: skip
    assert 0 in res.comparable and len(res.comparable) == 3
    target = Target(expression="blue triangle", head="triangle", attributes=("blue",))
    assert settle(res, cands, target, policy="best").chosen == (0,)
    assert settle(res, cands, target, pick=2).chosen == (res.comparable[1],)


# --------------------------------------------------------------------------- a target that says how many
#: six cups in a row, left to right (x), each 30 px wide, sizes and scores varied
SIX = [Candidate((10 + 45 * i, 80, 40 + 45 * i + 4 * (i % 3), 120 + 10 * (i % 2)), s, "cup")
       for i, s in enumerate((0.91, 0.62, 0.88, 0.75, 0.95, 0.55))]  # fmt: skip


@pytest.mark.parametrize("instruction,count,chosen", [
    ("make the two cups on the left red", 2, {0, 1}),  # the two left-most, not every cup in the left half
    ("make the two cups on the right red", 2, {4, 5}),
    ("make the first two cups red", 2, {0, 1}),
    ("make the first three cups red", 3, {0, 1, 2}),
    ("make the last three cups purple", 3, {3, 4, 5}),
    ("make the last two cups from the right purple", 2, {0, 1}),  # counted from the right, the last are left-most
    ("remove the two biggest cups", 2, {1, 5}),  # areas 1200, 1700, 1520, 1500, 1360, 1900
    ("remove the two smallest cups", 2, {0, 4}),
    ("make 2 of the cups red", 2, {0, 4}),  # no qualifier: the best-scoring two (0.95, 0.91; the next 0.88 ...)
])  # fmt: skip
def test_a_count_takes_that_many(instruction, count, chosen):
    """"the two cups on the left" took every cup in the left half (three of six), "the first two books" one book,
    "the last three candles" one candle: the number is the target's count and the resolver takes that many."""
    plan = RulesParser().parse(instruction=instruction)
    assert plan.target.count == count and plan.target.head == "cup", plan.target
    res = resolve(SIX, plan.target, (W * 2, H))
    assert set(res.chosen) == chosen and len(res.chosen) == count, res.reason
    assert str(count) in res.reason


def test_more_asked_for_than_found_is_none_and_says_so():
    res = resolve(SIX[:2], Target("three cups", "cup", all=True, count=3), (W, H))
    assert res.chosen == () and "asked for 3 'cup' but found only 2" in res.reason
    res = resolve(SIX, Target("last three cups", "cup", all=True, count=3, ordinal=-5), (W, H))
    assert res.chosen == () and "found only 6" in res.reason


def test_both_with_exactly_two_is_both_and_a_close_third_is_ambiguous():
    both = resolve(SIX[:2], Target("cups", "cup", all=True, count=2), (W, H))
    assert set(both.chosen) == {0, 1} and both.reason.startswith("both of 2") and not both.comparable
    close = resolve(SIX[:3], Target("two cups", "cup", all=True, count=2), (W, H))  # 0.91, 0.88 taken, 0.62 not close
    assert set(close.chosen) == {0, 2} and not close.comparable
    tied = resolve([*SIX[:3], Candidate((300, 10, 330, 40), 0.86, "cup")], Target("two cups", "cup", all=True, count=2), (W * 2, H))
    assert set(tied.chosen) == {0, 2} and set(tied.comparable) == {0, 2, 3} and "2 asked for" in tied.tie_reason


@pytest.mark.parametrize("instruction,count,expression,head", [
    ("make those two yellow", 2, "two", "object"),  # "those two": of the image's main subject, two of them
    ("make the two on the right purple", 2, "two on the right", "object"),
    ("remove both of them", 2, "them", "object"),
    ("make both chairs red", 2, "chairs", "chair"),
    ("make all three dogs golden", 3, "three dogs", "dog"),
    ("remove the two cups next to the laptop", 2, "two cups next to the laptop", "cup"),
    ("make the top two shelves white", 2, "top two shelves", "shelf"),
    ("remove two of the 4 bottles", 2, "two of the 4 bottles", "bottle"),
])  # fmt: skip
def test_the_parser_reads_how_many(instruction, count, expression, head):
    t = RulesParser().parse(instruction=instruction).target
    assert (t.count, t.expression, t.head, t.all) == (count, expression, head, True)


@pytest.mark.parametrize("instruction,head", [
    ("remove the 3 musketeers poster", "musketeers poster"),  # a number in a name of one thing: no count
    ("remove the 2 liter bottle", "liter bottle"),
    ("remove the cat", "cat"),
    ("remove the cats", "cat"),
])  # fmt: skip
def test_a_number_that_counts_nothing_is_no_count(instruction, head):
    t = RulesParser().parse(instruction=instruction).target
    assert t.count is None and t.head == head


def test_count_round_trips_and_is_checked():
    t = Target("two cups", "cup", all=True, count=2)
    assert Target.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    assert Target.from_dict({"expression": "cup", "head": "cup"}).count is None  # plans written before the field
    for bad in (1, 0, -2, 2.5, True, "2"):
        with pytest.raises(ValueError, match="count must be an integer of at least 2"):
            Target("cups", "cup", count=bad)


def test_a_counted_target_among_alike_scores_says_how_to_choose():
    from refedit.pipeline.artifacts import AmbiguousTarget
    from refedit.pipeline.segment.resolve import settle

    found = [*SIX[:3], Candidate((300, 10, 330, 40), 0.86, "cup")]
    target = Target("two cups", "cup", all=True, count=2)
    res = resolve(found, target, (W * 2, H))
    with pytest.raises(AmbiguousTarget) as err:
        settle(res, found, target)
    assert "which 2 of 3 'cup' detections 'two cups' means is not clear" in str(err.value)
    assert "--pick best takes the 2 best-scoring" in str(err.value)
    assert set(settle(res, found, target, policy="best").chosen) == {0, 2}
    assert set(settle(res, found, target, pick="all").chosen) == {0, 2, 3}
