"""Issue 14: an instruction that fits several objects equally well is reported (exit 7, candidates listed and
drawn), never guessed; ``--pick``, ``--on-ambiguous`` and the config file settle it. Detections are given as
JSON (the users' ``--detections``: a deterministic stand-in for the detector's scores), masks from the boxes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.core.figures import PALETTE
from refedit.errors import Ambiguous, BadInput
from refedit.pipeline.artifacts import Ambiguity, AmbiguousTarget, Candidate, Hints, Segmentation, Target
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment.resolve import AMBIGUITY_MARGIN, resolve, settle

from .conftest import EXAMPLES

W, H = 256, 128
LEFT, RIGHT = (8.0, 16.0, 120.0, 112.0), (136.0, 16.0, 248.0, 112.0)
#: two equal cats: the same crop twice, detected with equal scores
TWO_CATS = [{"box": list(LEFT), "score": 0.9, "label": "cat"}, {"box": list(RIGHT), "score": 0.9, "label": "cat"}]
FAST = ["--steps", "4", "--resolution", "64", "--box-mask"]
PARSER = RulesParser()


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    """An image with the same cat twice, and its detections file."""
    cat = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((112, 96))
    img = Image.new("RGB", (W, H), (200, 200, 200))
    img.paste(cat, (8, 16))
    img.paste(cat, (136, 16))
    path = tmp_path / "cats.png"
    img.save(path)
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps(TWO_CATS))
    return path, dets


def snapshot(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def run(args: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, args, env=env)


# --------------------------------------------------------------------------- the command line
def test_two_equal_cats_stop_with_exit_7_listing_and_drawing_them(scene, tmp_path, tiny_env):
    image, dets = scene
    out = tmp_path / "out.png"
    before = snapshot(tmp_path)
    r = run(["edit", str(image), "replace the cat with a tiger", "--detections", str(dets), "-o", str(out), *FAST],
            tiny_env)  # fmt: skip
    assert r.exit_code == Ambiguous.exit_code == 7, r.output
    lines = r.stderr.splitlines()
    assert lines[0].startswith("refedit: error: ambiguous: 2 'cat' detections match the cat")
    assert "--pick N" in lines[0] and "Traceback" not in r.output and r.stdout == ""
    # one line per candidate, numbered from the left: index, box, score, why
    assert lines[1].startswith("  1: box [8, 16, 120, 112] score 0.90 - left-most")
    assert lines[2].startswith("  2: box [136, 16, 248, 112] score 0.90 - right-most")
    overlay = tmp_path / "out_candidates.png"
    assert str(overlay) in lines[3]
    # nothing else written: the overlay is the only new file, the output does not exist
    after = snapshot(tmp_path)
    assert set(after) - set(before) == {overlay} and all(after[p] == before[p] for p in before)
    drawn = np.asarray(Image.open(overlay).convert("RGB"))
    assert drawn.shape == (H, W, 3)
    # the numbering is the drawing's: candidate 1's outline (left box) in the first colour, 2's in the second
    assert tuple(drawn[int(LEFT[3]) - 1, 60]) == PALETTE[0] and tuple(drawn[int(RIGHT[3]) - 1, 190]) == PALETTE[1]


def test_pick_2_edits_the_second(scene, tmp_path, tiny_env):
    image, dets = scene
    out, mask = tmp_path / "out.png", tmp_path / "mask.png"
    r = run(["edit", str(image), "replace the cat with a tiger", "--detections", str(dets), "--pick", "2", "-o", str(out),
             "--save-mask", str(mask), "--json", *FAST], tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    seg = record["segmentation"]
    assert [seg["candidates"][i]["box"] for i in seg["chosen"]] == [list(RIGHT)]
    assert record["ambiguous"] is True and seg["ambiguous"] is True
    assert seg["ambiguity"]["resolved_by"] == "--pick 2" and seg["ambiguity"]["picked"] == [2]
    assert [c["box"] for c in seg["ambiguity"]["candidates"]] == [list(LEFT), list(RIGHT)]
    m = np.asarray(Image.open(mask)) > 127
    assert m[:, 140:240].any() and not m[:, :125].any()  # the right cat's box (grown by box_expand), not the left one
    src, res = np.asarray(Image.open(image).convert("RGB")), np.asarray(Image.open(out).convert("RGB"))
    assert np.array_equal(src[:, :100], res[:, :100])  # the left cat is untouched
    assert not np.array_equal(src[m], res[m])  # the right one is edited
    assert not (tmp_path / "out_candidates.png").exists()


@pytest.mark.parametrize("instruction,chosen", [("the cats", [LEFT, RIGHT]), ("the left cat", [LEFT]),
                                                ("the right cat", [RIGHT])])  # fmt: skip
def test_plural_and_qualified_targets_are_not_ambiguous(scene, tmp_path, instruction, chosen):
    image, dets = scene
    r = run(["segment", str(image), instruction, "--detections", str(dets), "--box-mask", "--json"])
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert sorted(seg["candidates"][i]["box"] for i in seg["chosen"]) == [list(b) for b in chosen]
    assert seg["ambiguous"] is False and seg["ambiguity"] is None
    assert not list(tmp_path.glob("*_candidates.png"))


def test_segment_draws_beside_the_mask_or_the_input_and_json_carries_the_candidates(scene, tmp_path):
    image, dets = scene
    r = run(["segment", str(image), "the cat", "--detections", str(dets), "--box-mask", "--json", "-o",
             str(tmp_path / "m.png")])  # fmt: skip
    assert r.exit_code == 7 and (tmp_path / "m_candidates.png").exists() and not (tmp_path / "m.png").exists()
    record = json.loads(r.stdout)
    assert record["ambiguous"] is True and len(record["ambiguity"]["candidates"]) == 2
    assert record["candidates_overlay"] == str(tmp_path / "m_candidates.png")
    r = run(["segment", str(image), "the cat", "--detections", str(dets), "--box-mask"])
    assert r.exit_code == 7 and (tmp_path / "cats_candidates.png").exists()  # no -o: beside the input


def test_an_ambiguous_edits_json_record_carries_the_plan_it_parsed(scene, tmp_path, tiny_env):
    """A script reading ``edit --json`` after exit 7 sees what was asked, not only who fits (the plan was null
    when the pipeline, not --plan, had made it)."""
    image, dets = scene
    r = run(["edit", str(image), "the cat should be a tiger", "--detections", str(dets), "-o", str(tmp_path / "o.png"),
             "--json", *FAST], tiny_env)  # fmt: skip
    assert r.exit_code == 7
    record = json.loads(r.stdout)
    assert record["plan"]["action"] == "replace" and record["plan"]["replacement"] == "tiger"
    assert record["plan"]["target"]["head"] == "cat" and len(record["ambiguity"]["candidates"]) == 2


@pytest.mark.parametrize("command", ["edit", "segment"])
def test_the_candidates_drawing_never_overwrites_the_input(scene, tmp_path, tiny_env, command):
    """An input named like the drawing of ``-o``'s candidates ("q_candidates.png" for -o q.png) is refused before
    any work (exit 2), and left as it was."""
    image, dets = scene
    named = tmp_path / "q_candidates.png"
    named.write_bytes(image.read_bytes())
    before = named.read_bytes()
    r = run([command, str(named), "the cat" if command == "segment" else "replace the cat with a tiger",
             "--detections", str(dets), "-o", str(tmp_path / "q.png"), *FAST], tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code, r.output
    assert "never overwrites its input" in r.stderr and "Traceback" not in r.output
    assert named.read_bytes() == before and not (tmp_path / "q.png").exists()


def test_an_ambiguous_image_from_stdin_says_no_drawing_was_made(scene, tmp_path):
    image, dets = scene
    r = CliRunner().invoke(main, ["segment", "-", "the cat", "--detections", str(dets), "--box-mask"],
                           input=image.read_bytes())  # fmt: skip
    assert r.exit_code == 7, r.output
    assert "no drawing of them (no file to put it beside: give -o FILE)" in r.stderr
    assert not list(tmp_path.glob("*_candidates.png"))


def test_batch_item_whose_output_is_its_input_fails_and_the_batch_goes_on(scene, tmp_path, tiny_env):
    image, dets = scene
    rows = [{"image": image.name, "instruction": "replace the left cat with a tiger", "output": image.name},
            {"image": image.name, "instruction": "replace the left cat with a tiger", "output": "b.png"}]  # fmt: skip
    manifest = tmp_path / "items.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    before = image.read_bytes()
    r = run(["batch", str(manifest), "-o", str(tmp_path), "--detections", str(dets), "--continue-on-error", *FAST],
            tiny_env)  # fmt: skip
    log = [json.loads(line) for line in (tmp_path / "refedit-batch.jsonl").read_text().splitlines()]
    assert [rec["status"] for rec in log] == ["failed", "done"], r.output
    assert "is the input file" in log[0]["error"] and log[0]["exit_code"] == BadInput.exit_code
    assert image.read_bytes() == before and (tmp_path / "b.png").exists()


@pytest.mark.parametrize("args,chosen", [(["--on-ambiguous", "all"], [LEFT, RIGHT]), (["--pick", "all"], [LEFT, RIGHT]),
                                         (["--pick", "1"], [LEFT]), (["--pick", "best"], [LEFT])])  # fmt: skip
def test_policy_and_pick_settle_it(scene, args, chosen):
    """``best`` is the resolver's own guess: the highest score, the first listed on a tie."""
    image, dets = scene
    r = run(["segment", str(image), "the cat", "--detections", str(dets), "--box-mask", "--json", *args])
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert sorted(seg["candidates"][i]["box"] for i in seg["chosen"]) == [list(b) for b in chosen]
    assert seg["ambiguity"]["resolved_by"] == " ".join(args)


def test_policy_from_the_config_file_and_the_environment(scene, tmp_path):
    image, dets = scene
    config = tmp_path / "config.toml"
    config.write_text('on_ambiguous = "all"\n')
    args = ["segment", str(image), "the cat", "--detections", str(dets), "--box-mask", "--json"]
    r = run(args, {"REFEDIT_CONFIG": str(config)})
    assert r.exit_code == 0 and len(json.loads(r.stdout)["segmentation"]["chosen"]) == 2
    r = run(args, {"REFEDIT_CONFIG": str(config), "REFEDIT_ON_AMBIGUOUS": "fail"})  # env over file
    assert r.exit_code == 7
    r = run([*args, "--on-ambiguous", "best"], {"REFEDIT_CONFIG": str(config), "REFEDIT_ON_AMBIGUOUS": "fail"})
    assert r.exit_code == 0 and len(json.loads(r.stdout)["segmentation"]["chosen"]) == 1  # flag over env
    config.write_text('on_ambiguous = "maybe"\n')
    r = run(args, {"REFEDIT_CONFIG": str(config)})
    assert r.exit_code == BadInput.exit_code and "on-ambiguous 'maybe'" in r.stderr


@pytest.mark.parametrize("pick,needle", [("3", "has 2 comparable candidates"), ("0", "pick must be a number from 1"),
                                         ("left", "pick must be a number from 1")])  # fmt: skip
def test_bad_picks_are_bad_input(scene, tmp_path, pick, needle):
    image, dets = scene
    r = run(["segment", str(image), "the cat", "--detections", str(dets), "--box-mask", "--pick", pick])
    assert r.exit_code == BadInput.exit_code and needle in r.stderr, r.output
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1


def test_a_clear_winner_is_not_ambiguous(scene, tmp_path):
    """Scores further apart than the margin: the higher one is the answer, as before."""
    image, _ = scene
    dets = tmp_path / "clear.json"
    dets.write_text(json.dumps([{**TWO_CATS[0], "score": 0.5}, TWO_CATS[1]]))
    r = run(["segment", str(image), "the cat", "--detections", str(dets), "--box-mask", "--json"])
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert [seg["candidates"][i]["box"] for i in seg["chosen"]] == [list(RIGHT)] and seg["ambiguous"] is False


def test_batch_logs_ambiguous_items_and_goes_on(scene, tmp_path, tiny_env):
    image, dets = scene
    rows = [{"image": image.name, "instruction": "replace the cat with a tiger", "output": "a.png"},
            {"image": image.name, "instruction": "replace the left cat with a tiger", "output": "b.png"},
            {"image": image.name, "instruction": "replace the cat with a tiger", "output": "c.png", "pick": 2}]  # fmt: skip
    manifest = tmp_path / "items.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    r = run(["batch", str(manifest), "-o", str(out), "--detections", str(dets), *FAST], tiny_env)
    assert r.exit_code == Ambiguous.exit_code, r.output
    assert "batch: 2 done, 0 skipped, 0 failed, 1 ambiguous" in r.stderr
    log = [json.loads(line) for line in (out / "refedit-batch.jsonl").read_text().splitlines()]
    assert [rec["status"] for rec in log] == ["ambiguous", "done", "done"]
    first = log[0]
    assert first["candidates_overlay"] == str(out / "a_candidates.png") and Path(first["candidates_overlay"]).exists()
    assert [c["box"] for c in first["ambiguity"]["candidates"]] == [list(LEFT), list(RIGHT)]
    assert not (out / "a.png").exists() and (out / "b.png").exists() and (out / "c.png").exists()
    assert log[1]["ambiguous"] is False and log[2]["ambiguous"] is True  # the pick column settled row 3


# --------------------------------------------------------------------------- the resolver, pure
def cands(*boxes_scores):
    return [Candidate(b, s, "cat") for b, s in boxes_scores]


def test_margin_boundary():
    """Comparable means a gap under the margin; the numbers are the margin's definition, not a run's output."""
    close = cands(((200, 0, 250, 50), 0.95), ((0, 0, 50, 50), 0.95 - AMBIGUITY_MARGIN + 0.01))
    apart = cands(((200, 0, 250, 50), 0.95), ((0, 0, 50, 50), 0.95 - AMBIGUITY_MARGIN - 0.01))
    target = Target("cat", "cat")
    assert resolve(close, target, (300, 100)).comparable == (1, 0)  # numbered from the left
    assert resolve(apart, target, (300, 100)).comparable == ()
    with pytest.raises(AmbiguousTarget) as err:
        settle(resolve(close, target, (300, 100)), close, target)
    assert [c.box for c in err.value.ambiguity.candidates] == [(0, 0, 50, 50), (200, 0, 250, 50)]


def test_pick_counts_from_the_left_whatever_the_scores():
    three = cands(((200, 0, 250, 50), 0.91), ((0, 0, 50, 50), 0.9), ((100, 0, 150, 50), 0.93))
    target = Target("cat", "cat")
    res = resolve(three, target, (300, 100))
    assert res.chosen == (2,)  # the guess: the highest score
    assert [settle(res, three, target, pick=k).chosen for k in (1, 2, 3)] == [(1,), (2,), (0,)]
    assert settle(res, three, target, policy="best").chosen == (2,)
    assert set(settle(res, three, target, policy="all").chosen) == {0, 1, 2}


def test_anchor_and_pronoun_ambiguity_settle_the_same_way(tmp_path, tiny_settings):
    scene = Image.new("RGB", (600, 400), (120, 130, 140))
    sofas = [("sofa", [200, 150, 300, 250], 0.8), ("sofa", [450, 150, 550, 250], 0.78),
             ("chair", [120, 150, 180, 260], 0.9), ("chair", [380, 150, 430, 260], 0.9)]  # fmt: skip

    def seg(dets, instruction, **options):  # type: ignore[no-untyped-def]
        path = tmp_path / "dets.json"
        path.write_text(json.dumps([{"box": b, "score": s, "label": lab} for lab, b, s in dets]))
        stage = build_stage("segmenter", "grounded-sam", tiny_settings, detections=str(path), box_mask=True, **options)
        return stage.segment(image=scene, plan=PARSER.parse(instruction=instruction), hints=Hints())

    with pytest.raises(AmbiguousTarget) as err:
        seg(sofas, "make the chair on the left of the sofa red")
    assert err.value.ambiguity.role == "anchor" and len(err.value.ambiguity.candidates) == 2
    r = seg(sofas, "make the chair on the left of the sofa red", pick=2)  # sofa no. 2 (the right one)
    assert [r.candidates[i].box for i in r.chosen] == [(380.0, 150.0, 430.0, 260.0)] and r.ambiguous
    people = [("person", [50, 50, 200, 390], 0.9), ("person", [350, 50, 500, 390], 0.85)]
    with pytest.raises(AmbiguousTarget, match="could be any of 2 people") as err:
        seg(people, "give her a hat")
    assert err.value.ambiguity.role == "pronoun"
    r = seg(people, "give her a hat", pick=2)
    assert [r.candidates[i].box for i in r.chosen] == [(350.0, 50.0, 500.0, 390.0)]


def test_an_attribute_that_does_not_separate_them_is_ambiguous():
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.detections import GivenDetections
    from refedit.pipeline.segment.grounded_sam import GroundedSamOptions, GroundedSamSegmenter

    from refedit.pipeline.segment.attributes import PilCrops

    class Even(PilCrops):
        """A stand-in CLIP scorer: every crop looks as green as every other."""

        def probabilities(self, images, texts):  # type: ignore[no-untyped-def]
            return np.full((len(images), len(texts)), 1.0 / len(texts))

    buses = [Candidate((10, 50, 90, 150), 0.9, "bus"), Candidate((110, 60, 190, 140), 0.88, "bus")]
    stage = GroundedSamSegmenter(ModelStore(), GroundedSamOptions(box_mask=True), detector=GivenDetections(buses),
                                 scorer=Even())  # fmt: skip
    with pytest.raises(AmbiguousTarget) as err:
        stage.segment(image=Image.new("RGB", (300, 200)), plan=PARSER.parse(instruction="remove the green bus"),
                      hints=Hints())  # fmt: skip
    assert "'green' does not separate them" in err.value.ambiguity.reason


def test_ambiguity_round_trips():
    amb = Ambiguity("cat", "cat", tuple(cands((LEFT, 0.9), (RIGHT, 0.88))), ("left-most", "right-most"),
                    "no qualifier", resolved_by="--pick 2", picked=(2,))  # fmt: skip
    seg = Segmentation(np.zeros((4, 4), dtype=bool), ambiguity=amb)
    back = Segmentation.from_dict(json.loads(json.dumps(seg.to_dict())))
    assert back.ambiguous and back.ambiguity is not None and back.ambiguity.to_dict() == amb.to_dict()
    assert Segmentation.from_dict(Segmentation(np.zeros((4, 4), dtype=bool)).to_dict()).ambiguous is False
    with pytest.raises(ValueError, match="two or more"):
        Ambiguity("cat", "cat", tuple(cands((LEFT, 0.9))), ("x",), "r")


def test_segment_lists_the_detections_numbered_as_pick_counts_them(tmp_path):
    """`segment ... --pick 3` numbered the detections 0.. by score and starred another number than the reason's
    "no. 3": the listing numbers them as --pick, the exit-7 list and the drawing do (1.. from the left among the
    comparable ones; "-" for a detection that was none of them), and without an ambiguity 1.. from the left."""
    image = tmp_path / "cats.png"
    Image.new("RGB", (W, H), (200, 200, 200)).save(image)
    boxes = [(90.0, 16.0, 140.0, 112.0), (2.0, 16.0, 40.0, 112.0), (190.0, 16.0, 250.0, 112.0), (50.0, 16.0, 80.0, 112.0)]
    scores = [0.9, 0.5, 0.88, 0.85]  # by score: middle, right, left; the 0.5 one, left-most, is not comparable
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"box": list(b), "score": s, "label": "cat"} for b, s in zip(boxes, scores)]))
    r = run(["segment", str(image), "the cat", "--detections", str(dets), "--box-mask", "--pick", "3"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == ["  1", "  2", "* 3", "  -"]
    assert "score 0.88" in lines[2] and "score 0.50" in lines[3] and lines[4].startswith("no. 3 of 3")
    r = run(["segment", str(image), "the cats", "--detections", str(dets), "--box-mask"])
    assert r.exit_code == 0, r.output
    assert [line[:5] for line in r.stdout.splitlines()[:4]] == ["* 1: ", "* 2: ", "* 3: ", "* 4: "]
    assert [line.split("score ")[1][:4] for line in r.stdout.splitlines()[:4]] == ["0.50", "0.85", "0.90", "0.88"]


def test_an_ambiguity_is_still_reported_when_its_drawing_cannot_be_written(scene, tmp_path, monkeypatch):
    """A photo in a read-only folder: the candidates drawing beside it fails (a failed file write, simulated at the
    write; not a model), and the run still lists the candidates and exits 7, saying why there is no drawing."""
    import refedit.cli.outputs as cli_outputs
    from refedit.errors import BadInput

    def cannot(*args, **kwargs):
        raise BadInput(f"cannot write to output folder {tmp_path} (Read-only file system)")

    monkeypatch.setattr(cli_outputs, "write_candidates", cannot)
    image, dets = scene
    r = run(["segment", str(image), "the cat", "--detections", str(dets), "--box-mask"])
    assert r.exit_code == 7, r.output
    assert "  1: box" in r.stderr and "  2: box" in r.stderr and "no drawing of them (cannot write" in r.stderr
    assert not (tmp_path / "cats_candidates.png").exists()
