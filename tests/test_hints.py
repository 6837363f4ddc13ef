"""User hints (FlexEdit): boxes, points and free-shape scribbles pick candidates or prompt SAM."""

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage

from refedit.cli import main
from refedit.errors import BadInput, TargetNotFound
from refedit.pipeline.artifacts import Candidate, Hints
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.core.geometry import box_iou
from refedit.pipeline.segment.hints import hint_prompts, hint_region, interior_points, select_by_hints

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


def test_box_hint_touching_nothing_picks_nothing():
    far = (65, 160, 105, 195)  # below and between the boxes: IoU 0 with every candidate
    res = select_by_hints(CANDS, Hints(boxes=(far,)), SHAPE)
    assert res.chosen == () and res.unmatched.boxes == (far,) and res.n_unmatched == 1


def test_box_hint_that_grazes_a_detection_stands_for_an_undetected_object():
    """A box around something the detector missed may overlap a neighbour's box by a sliver (here 10 % of the
    hint, IoU 0.05): the neighbour is not what the box means, so SAM is prompted with the box."""
    grazing = (55, 60, 105, 140)  # left of candidate 1, overlapping candidate 0's right edge by 5 px
    assert 0 < box_iou(CANDS[0].box, grazing) < 0.1
    res = select_by_hints(CANDS, Hints(boxes=(grazing,)), SHAPE)
    assert res.chosen == () and res.unmatched.boxes == (grazing,)


def test_a_box_around_a_speck_of_a_detection_is_no_pick():
    speck = [Candidate((140, 90, 150, 100), 0.9, "cat")]  # inside the hint box, 1 % of it
    res = select_by_hints(speck, Hints(boxes=((100, 50, 200, 150),)), SHAPE)
    assert res.chosen == () and res.n_unmatched == 1


def test_a_loose_box_around_a_small_detection_picks_it():
    loose = (90, 30, 185, 170)  # holds candidate 1 whole: IoU 0.30
    res = select_by_hints(CANDS, Hints(boxes=(loose,)), SHAPE)
    assert res.chosen == (1,) and box_iou(CANDS[1].box, loose) < 0.35


def test_point_hint_picks_containing_box_only():
    assert select_by_hints(CANDS, Hints(points=((250, 100),)), SHAPE).chosen == (2,)
    between = select_by_hints(CANDS, Hints(points=((90, 100),)), SHAPE)  # between boxes 0 and 1
    assert between.chosen == () and between.unmatched.points == ((90.0, 100.0),)


def test_mixed_hints_split_into_picks_and_prompts():
    far_mask = ellipse(180, 25, 10, 8)  # above the gap between boxes 1 and 2
    res = select_by_hints(CANDS, Hints(boxes=((105, 55, 170, 150),), points=((90, 100),), hint_mask=far_mask), SHAPE)
    assert res.chosen == (1,) and res.unmatched.points == ((90.0, 100.0),) and res.unmatched.hint_mask is far_mask
    assert res.n_unmatched == 2 and res.reason.startswith("IoU")


@pytest.mark.parametrize("scribble", [ellipse(135, 100, 15, 25), ellipse(135, 100, 40, 60),  # inside / around
                                      ellipse(150, 100, 20, 20) & (np.arange(SHAPE[1]) < 150)])  # open, partial
def test_free_shape_hint_need_not_cover_the_object(scribble):
    assert select_by_hints(CANDS, Hints(hint_mask=scribble), SHAPE).chosen == (1,)


def disk_candidate(cx, cy, r, shape=(120, 200)):
    mask = ellipse(cx, cy, r, r, shape)
    ys, xs = np.nonzero(mask)
    return Candidate((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), 0.5, "cup", mask)


@pytest.mark.parametrize("gap", [0, 12])  # a closed ring; one drawn with a gap (FlexEdit's "open hole" circle)
def test_an_outline_drawn_around_an_object_picks_it_not_the_neighbour_it_grazes(gap):
    """A ring around the object overlaps none of it and grazes its neighbour: it stands for what it encloses."""
    shape = (120, 200)
    circled, neighbour = disk_candidate(60, 60, 25), disk_candidate(110, 60, 22)
    ring = ellipse(60, 60, 33, 33, shape) & ~ellipse(60, 60, 30, 30, shape)
    ring[:, 60 - gap // 2 : 60 + gap // 2] &= np.arange(shape[0])[:, None] > 60  # the gap at the top
    assert not (ring & circled.mask).any() and (ring & neighbour.mask).any()
    assert select_by_hints([circled, neighbour], Hints(hint_mask=ring), shape).chosen == (0,)
    assert all(circled.mask[int(y), int(x)] for x, y in interior_points(ring))  # SAM's points inside it too
    region = hint_region(ring)
    assert region[60, 60] and not region[60, 100] and (region >= ring).all()


def test_a_filled_shape_or_a_short_stroke_is_its_own_region():
    blob = ellipse(150, 100, 30, 20)
    assert (hint_region(blob) == blob).all()
    line = np.zeros(SHAPE, dtype=bool)
    line[100, 40:120] = True  # one straight stroke: nothing to enclose
    assert (hint_region(line) == line).all()
    assert not hint_region(np.zeros(SHAPE, dtype=bool)).any()


def test_free_shape_hint_touching_no_box_picks_nothing():
    far = ellipse(85, 30, 15, 10)  # x 70..100, y 20..40: in the gap between boxes 0 and 1
    res = select_by_hints(CANDS, Hints(hint_mask=far), SHAPE)
    assert res.chosen == () and res.unmatched.hint_mask is far


def test_no_hints_no_choice_and_prompts():
    assert select_by_hints(CANDS, Hints(), SHAPE) is None
    blob = ellipse(50, 50, 10, 10)
    prompts = hint_prompts(Hints(boxes=((1, 2, 3, 4),), points=((5, 6), (7, 8)), hint_mask=blob))
    assert [(p.box, p.points) for p in prompts[:2]] == [((1, 2, 3, 4), ()), (None, ((5.0, 6.0), (7.0, 8.0)))]
    assert prompts[2].box == (40.0, 40.0, 61.0, 61.0) and len(prompts[2].points) == 3  # the blob's box + points
    assert all(blob[int(y), int(x)] for x, y in prompts[2].points)


def test_interior_points_lie_deep_inside_and_apart():
    blob = ellipse(150, 100, 60, 30)
    pts = interior_points(blob)
    assert len(pts) == 3 and len(set(pts)) == 3
    depth = ndimage.distance_transform_edt(blob)
    assert all(depth[int(y), int(x)] >= depth.max() / 2 for x, y in pts)  # in the inner half
    assert min(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in itertools.combinations(pts, 2)) > 20  # spread
    ring = ellipse(150, 100, 40, 40) & ~ellipse(150, 100, 36, 36)  # a drawn circle stands for its inside
    assert all((x - 150) ** 2 + (y - 100) ** 2 < 36**2 for x, y in interior_points(ring))
    assert interior_points(np.zeros(SHAPE, dtype=bool)) == ()


def test_hint_overrides_detector_score_on_tiny_models(tiny_settings):
    # the tiny random detector scores its 20 boxes alike: the unhinted run takes the highest score on purpose
    seg = build_stage("segmenter", "grounded-sam", tiny_settings, box_threshold=0.0, on_ambiguous="best")
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


# --------------------------------------------------------------------------- hints that touch no detection
# cat.jpg is 451x300; the stand-in detector finds two cats, none of them in the lower middle of the image.
DETECTED = [Candidate((300, 30, 420, 200), 0.95, "cat"), Candidate((10, 20, 100, 150), 0.40, "cat")]
FAR_BOX = (150.0, 220.0, 250.0, 290.0)
FAR_POINT = (200.0, 260.0)


@pytest.fixture
def stand_in():
    """A deterministic stand-in detector registered as a segmenter through the real registry (tiny SAM)."""
    from refedit.pipeline.segment.detections import GivenDetections
    from refedit.pipeline.segment.grounded_sam import GroundedSamOptions, GroundedSamSegmenter
    from refedit.pipeline.stages import registry

    def factory(context):
        """Grounded-SAM with fixed detections (test stand-in)."""
        return GroundedSamSegmenter(context.store, GroundedSamOptions.from_mapping(context.options),
                                    detector=GivenDetections(DETECTED))  # fmt: skip

    registry.register("segmenter", "stand-in", factory)
    yield "stand-in"
    registry.unregister("segmenter", "stand-in")


def _segment(tiny_settings, name, hints):
    seg = build_stage("segmenter", name, tiny_settings)
    img = Image.open(EXAMPLES / "cat.jpg").convert("RGB")
    return seg, img, seg.segment(image=img, plan=RulesParser().parse(instruction="remove the cat"), hints=hints)


def _not_a_detection(out):
    assert out.chosen == () and len(out.candidates) == 2 and out.mask.any()
    assert all(c.mask is not None and not np.array_equal(out.mask, c.mask) for c in out.candidates)


def test_far_box_prompts_sam_with_the_box(tiny_settings, stand_in):
    seg, img, out = _segment(tiny_settings, stand_in, Hints(boxes=(FAR_BOX,)))
    assert out.reason == "the hint matches none of the 2 'cat' detections: SAM prompted with 1 box(es)"
    _not_a_detection(out)
    assert np.array_equal(out.mask, seg.sam.masks(img, [FAR_BOX])[0])  # SAM's answer to the hint box


def test_far_point_prompts_sam_with_the_point(tiny_settings, stand_in):
    seg, img, out = _segment(tiny_settings, stand_in, Hints(points=(FAR_POINT,)))
    assert out.reason == "the hint matches none of the 2 'cat' detections: SAM prompted with 1 point(s)"
    _not_a_detection(out)
    assert np.array_equal(out.mask, seg.sam.mask_from_points(img, [FAR_POINT]))


def test_far_free_shape_hint_prompts_sam_with_its_box_and_inside_points(tiny_settings, stand_in):
    scribble = ellipse(200, 255, 30, 20, shape=(300, 451))  # x 170..230, y 235..275
    seg, img, out = _segment(tiny_settings, stand_in, Hints(hint_mask=scribble))
    assert out.reason == ("the hint matches none of the 2 'cat' detections: SAM prompted with a free-shape hint "
                          "(its box and 3 points inside it)")  # fmt: skip
    _not_a_detection(out)
    prompt = hint_prompts(Hints(hint_mask=scribble))[0]
    assert prompt.box == (170.0, 235.0, 231.0, 276.0) and all(scribble[int(y), int(x)] for x, y in prompt.points)
    assert np.array_equal(out.mask, seg.sam.mask_from_points(img, prompt.points, box=prompt.box))
    box_only = seg.sam.masks(img, [prompt.box])[0]
    assert not np.array_equal(box_only, out.mask)  # the points take part in the prompt


def test_box_overlapping_a_detection_still_picks_it(tiny_settings, stand_in):
    _, _, out = _segment(tiny_settings, stand_in, Hints(boxes=((20, 30, 110, 160),)))  # over the low-scoring cat
    assert out.chosen == (1,) and out.reason.startswith("IoU 0.") and "SAM prompted" not in out.reason
    assert np.array_equal(out.mask, out.candidates[1].mask)


def test_mixed_hints_union_a_detection_and_a_sam_prompt(tiny_settings, stand_in):
    seg, img, out = _segment(tiny_settings, stand_in, Hints(boxes=((20, 30, 110, 160),), points=(FAR_POINT,)))
    assert out.chosen == (1,) and "the other hint matches none of the 2 'cat' detections" in out.reason
    prompted = seg.sam.mask_from_points(img, [FAR_POINT])
    assert np.array_equal(out.mask, out.candidates[1].mask | prompted)


def test_cli_far_box_prompts_sam(tiny_env, stand_in):
    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "remove the cat", "--segmenter", stand_in,
                                  "--box", ",".join(f"{v:g}" for v in FAR_BOX), "--json"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert seg["chosen"] == [] and len(seg["candidates"]) == 2 and seg["area"] > 0
    assert "matches none of the 2 'cat' detections: SAM prompted with 1 box(es)" in seg["reason"]


def test_cli_far_hints_with_box_mask_load_no_model():
    """examples/dets_cat.json has one cat box (0, 0, 398, 300); right of it the hints touch nothing."""
    args = ["segment", str(EXAMPLES / "cat.jpg"), "remove the cat", "--detections", str(EXAMPLES / "dets_cat.json"),
            "--box-mask", "-O", "box_expand=0", "--json"]  # fmt: skip
    r = CliRunner().invoke(main, [*args, "--box", "405,10,445,60"])
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert seg["chosen"] == [] and seg["area"] == 40 * 50 and "matches none of the 1 'cat' detections" in seg["reason"]
    r = CliRunner().invoke(main, [*args, "--point", "430,150"])
    assert r.exit_code == TargetNotFound.exit_code and "a point alone gives no box" in r.stderr


@pytest.mark.parametrize("extra,needle", [(["--box", "10,10,100,100"], "a box"), (["--point", "50,50"], "a point"),
                                          (["--hint-mask", "MASK"], "a hint mask")])  # fmt: skip
def test_an_exact_mask_with_hints_is_refused_before_any_model(tmp_path, extra, needle):
    """--mask skips segmentation, so a --box/--point/--hint-mask beside it would be silently ignored: exit 2."""
    mask = tmp_path / "m.png"
    Image.new("L", Image.open(EXAMPLES / "cat.jpg").size, 255).save(mask)
    extra = [str(mask) if v == "MASK" else v for v in extra]
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), "replace the cat with a tiger", "--mask",
                                  str(mask), *extra, "-o", str(tmp_path / "o.png")], env={"REFEDIT_SD_MODEL": "/nope"})  # fmt: skip
    assert r.exit_code == BadInput.exit_code and needle in r.stderr and "give one or the other" in r.stderr, r.output
    assert not (tmp_path / "o.png").exists()


def test_nothing_to_find_says_why_not_a_threshold_it_did_not_apply(tmp_path):
    """An empty --detections list, or none labelled as the target, said 'best score 0.00 < box threshold 0.00';
    an empty hint mask said 'SAM found nothing at the hints': each now names what the user gave."""
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.detections import GivenDetections
    from refedit.pipeline.segment.grounded_sam import GroundedSamOptions, GroundedSamSegmenter
    from refedit.pipeline.segment.hints import check_hints, load_hints

    plan = RulesParser().parse(instruction="make the cat blue")
    for given, says in (([], r"the --detections list is empty"),
                        ([Candidate((1, 1, 50, 50), 0.9, "dog")], r"none of the --detections is labelled 'cat'")):  # fmt: skip
        stage = GroundedSamSegmenter(ModelStore(), GroundedSamOptions(box_mask=True, box_threshold=0.0),
                                     detector=GivenDetections(given))  # fmt: skip
        with pytest.raises(TargetNotFound, match=says):
            stage.segment(image=Image.new("RGB", (120, 80)), plan=plan, hints=Hints())
    Image.new("L", (120, 80)).save(tmp_path / "black.png")
    with pytest.raises(BadInput, match=r"--hint-mask .*black.png has no white pixels"):
        load_hints((120, 80), hint_mask=tmp_path / "black.png")
    with pytest.raises(BadInput, match="the hint mask has no white pixels"):
        check_hints(Hints(hint_mask=np.zeros((80, 120), dtype=bool)), (120, 80))


@pytest.mark.parametrize("args", [
    ["edit", "-o", "{hint}"],
    ["edit", "-o", "{out}", "--save-mask", "{hint}"],
    ["segment", "-o", "{hint}"],
    ["segment", "--attention", "{hint}"],
    ["edit", "-o", "{dets}"],
])  # fmt: skip
def test_no_output_is_a_hint_mask_or_a_detections_file(tmp_path, args):
    """The hint mask (and the detections file) are inputs: `-o hm.png --hint-mask hm.png` replaced the user's mask with
    the edit (only the photo and --mask were checked). Refused before any work, the file kept."""
    photo = tmp_path / "c.png"
    Image.open(EXAMPLES / "cat.jpg").convert("RGB").save(photo)
    hint = tmp_path / "hm.png"
    Image.new("L", Image.open(photo).size, 255).save(hint)
    dets = tmp_path / "d.png"  # a detections file with an image name: any file the run reads is kept
    dets.write_text("[]")
    before = hint.read_bytes(), dets.read_bytes()
    paths = {"hint": str(hint), "out": str(tmp_path / "out.png"), "dets": str(dets)}
    command, *rest = args
    r = CliRunner().invoke(main, [command, str(photo), "make the cat blue" if command == "edit" else "the cat",
                                  "--hint-mask", str(hint), "--detections", str(dets),
                                  *(a.format(**paths) for a in rest)])  # fmt: skip
    assert r.exit_code == BadInput.exit_code and "never overwrites its input" in r.stderr, r.output
    assert (hint.read_bytes(), dets.read_bytes()) == before and not (tmp_path / "out.png").exists()


def test_two_hint_points_on_one_object_say_so_once():
    """Two --point hints on one cat read 'contains the hint point; contains the hint point (1 candidates)'."""
    cands = [Candidate((100, 100, 200, 200), 0.9, "cat")]
    choice = select_by_hints(cands, Hints(points=((120, 120), (150, 150))), (300, 300))
    assert choice is not None and choice.chosen == (0,) and choice.reason == "contains the hint point (1 candidate)"


@pytest.mark.parametrize("segmenter", ["refdiff", "diffedit-mask"])
@pytest.mark.parametrize("command,hint", [("segment", ["--box", "10,10,60,60"]), ("edit", ["--point", "30,30"])])
def test_a_segmenter_that_reads_no_hints_refuses_them(segmenter, command, hint, tiny_env, tmp_path):
    """Ref-Diff and DiffEdit's mask never read hints: the hinted mask was the unhinted one, exit 0."""
    out = tmp_path / "o.png"
    r = CliRunner().invoke(main, [command, str(EXAMPLES / "cat.jpg"), "make the cat blue", "--segmenter", segmenter,
                                  *hint, "-o", str(out)], env=tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and not out.exists(), r.output
    assert r.stderr.strip() == (f"refedit: error: the {segmenter} segmenter reads no hints (--box, --point, --hint-mask): "
                                "choose with them under --segmenter grounded-sam, sam3 or clipseg, or give the mask "
                                "itself (--mask)")  # fmt: skip


def test_the_library_refuses_hints_a_segmenter_does_not_read(tiny_env, monkeypatch):
    import refedit

    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    for call in (refedit.segment, refedit.edit):
        with pytest.raises(BadInput, match="the refdiff segmenter reads no hints"):
            call(EXAMPLES / "cat.jpg", "make the cat blue", segmenter="refdiff", hints=Hints(points=((30.0, 30.0),)))


@pytest.mark.parametrize("flag,value,says", [
    ("--box", "0.1,0.2,0.6,0.9", "box 0.1,0.2,0.6,0.9 is less than a pixel across: hints are in pixels of the 451x300 "
                                 "image (as fractions of it: 45,60,271,270)"),
    ("--point", "0.5,0.5", "point 0.5,0.5 lies in the top-left pixel: hints are in pixels of the 451x300 image (as "
                           "fractions of it: 226,150)"),
])  # fmt: skip
def test_hints_given_as_fractions_are_refused_with_their_pixels(flag, value, says, tiny_env, tmp_path):
    """'--box 0.1,0.2,0.6,0.9' meant fractions of the photo and became a one-pixel mask at its corner, exit 0."""
    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "the cat", flag, value, "-o",
                                  str(tmp_path / "m.png")], env=tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and r.stderr.strip() == f"refedit: error: {says}", r.output
    with pytest.raises(BadInput, match="hints are in pixels"):
        from refedit.pipeline.segment.hints import check_hints

        check_hints(Hints(boxes=((0.1, 0.2, 0.6, 0.9),)) if flag == "--box" else Hints(points=((0.5, 0.5),)), (451, 300))
    assert check_hints(Hints(points=((0.0, 0.0), (1.0, 0.5))), (451, 300))  # a corner pixel, and x=1: pixels


def test_a_point_picks_the_candidate_whose_mask_holds_it():
    """SAM 3 picked an instance for a point in its box's corner, off its mask ('contains the hint point', and the
    mask did not): with masks known, a point picks what it lies on; off every mask it prompts the model."""
    from refedit.pipeline.segment.hints import pick_by_point

    ring = np.zeros((40, 40), dtype=bool)
    ring[5:35, 5:35] = True
    ring[12:28, 12:28] = False  # a frame: its box holds the centre, its mask does not
    inner = np.zeros((40, 40), dtype=bool)
    inner[15:25, 15:25] = True
    cands = [Candidate((5, 5, 35, 35), 0.9, "cat", ring), Candidate((15, 15, 25, 25), 0.5, "cat", inner)]
    assert pick_by_point(cands, (20.0, 20.0)) == 1
    assert pick_by_point(cands, (7.0, 7.0)) == 0
    assert pick_by_point(cands, (13.0, 13.0)) is None  # in both boxes, on neither mask
    boxes_only = [Candidate(c.box, c.score, c.label) for c in cands]
    assert pick_by_point(boxes_only, (13.0, 13.0)) == 0  # no masks yet: the smallest box holding it


def test_a_box_on_part_of_a_large_region_is_in_it():
    from refedit.pipeline.segment.hints import pick_by_coverage

    big = np.zeros((100, 100), dtype=bool)
    big[:, :80] = True
    cands = [Candidate((0, 0, 80, 100), 0.9, "cat", big)]
    assert pick_by_coverage(cands, (40, 40, 50, 50)) == 0  # IoU 0.01 with its box: no box pick, but all of it inside
    assert pick_by_coverage(cands, (70, 40, 100, 50)) is None  # a third inside


def test_clipseg_takes_a_box_drawn_on_part_of_its_region(tiny_env, tmp_path):
    """CLIPSeg has no SAM to prompt: a box on part of the one large component was 'the hints touch none' (exit 4)."""
    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "the cat", "--segmenter", "clipseg", "--box",
                                  "340,130,380,190", "-o", str(tmp_path / "m.png")], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0 and "most of the hint box lies in the one at" in r.output, r.output
    mask = np.asarray(Image.open(tmp_path / "m.png")) > 127
    assert mask[130:190, 340:380].mean() >= 0.5


def test_a_box_mask_run_does_not_say_sam_was_prompted(tiny_env, tmp_path):
    dets = tmp_path / "d.json"
    dets.write_text(json.dumps([{"box": [100, 100, 200, 200], "score": 0.9, "label": "cat"}]))
    env = {**tiny_env, "REFEDIT_SAM_MODEL": str(tmp_path / "no-sam")}  # not loaded: the box is the mask
    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "the cat", "--box", "300,50,400,150",
                                  "--box-mask", "--detections", str(dets), "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    reason = json.loads(r.stdout)["segmentation"]["reason"]
    assert reason.endswith("the box mask of 1 box(es)") and "SAM" not in reason, reason


def test_a_hint_that_overrules_a_qualifier_says_so(tiny_env, tmp_path):
    """'the left cat' with a box on another cat picked the boxed one, and the reason never said 'left' was set aside."""
    from refedit.pipeline.artifacts import Target
    from refedit.pipeline.segment.hints import set_aside

    assert set_aside(Target("left cat", "cat", spatial="left")) == " ('left' set aside: the hints choose)"
    assert set_aside(Target("two cats", "cat", all=True, count=2)) == " ('2 of them', 'all' set aside: the hints choose)"
    assert set_aside(Target("cat", "cat")) == ""
    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "the left cat", "--box-threshold", "0", "--box",
                                  "397,251,420,267", "-o", str(tmp_path / "m.png")], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0 and "('left' set aside: the hints choose)" in r.output, r.output
