"""``refedit eval`` end to end on tiny models: segment and edit over a 6-sample set in every supported format, a
killed run resumed without rescoring, the synthetic benchmark through Grounded-SAM with noisy-oracle detections,
``score`` of another tool's outputs, the VLM judge against a loopback server, and bad data refused (exit 2, one
line, nothing written)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main

SEG = ["--box-threshold", "0"]
FAST = [*SEG, "--resolution", "64", "--steps", "2"]
FORMATS = ["manifest", "manifest-rle", "manifest-polygon", "refcoco", "piebench", "magicbrush"]


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from refedit.testing.tiny_eval import write_sample_sets

    return write_sample_sets(tmp_path_factory.mktemp("eval-sets"))


@pytest.fixture(scope="module")
def eval_env(tiny_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from refedit.testing.tiny_eval import build_eval_models

    models = build_eval_models(tmp_path_factory.mktemp("eval-models"))
    return {**tiny_env, **{f"REFEDIT_{role.upper()}_MODEL": str(p) for role, p in models.items()}}


def run(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def truth_area(data: Path, sample_id: str) -> int:
    from refedit.eval.formats import read_dataset

    sample = next(s for s in read_dataset(data).samples if s.id == sample_id)
    with Image.open(sample.image) as img:
        return int(sample.truth(img.size).sum())


# --------------------------------------------------------------------------- segment / edit in every format
@pytest.mark.parametrize("fmt", FORMATS)
def test_eval_segment_end_to_end(fmt: str, sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run(["eval", "segment", sets[fmt], "-o", out, "--save-masks", "--json", *SEG], eval_env)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["overall"]["n"] == 6 and summary["data"]["samples"] == 6
    recs = records(out)
    assert len(recs) == 6 and len({x["key"] for x in recs}) == 6
    for rec in recs:  # the figures are the counts of the written mask against the ground truth
        pred = np.asarray(Image.open(rec["mask"])) > 127
        assert rec["union"] >= max(truth_area(sets[fmt], rec["id"]), int(pred.sum()))
        assert 0 <= rec["intersection"] <= min(rec["union"], int(pred.sum()))
        assert rec["kinds"] and set(rec["kinds"]) <= {"plain", "spatial", "ordinal", "size", "attribute", "all", "relation"}
    ious = [x["intersection"] / x["union"] for x in recs]
    assert summary["overall"]["mIoU"] == pytest.approx(sum(ious) / 6)
    assert summary["overall"]["oIoU"] == pytest.approx(sum(x["intersection"] for x in recs) / sum(x["union"] for x in recs))
    assert "spatial" in summary["by_kind"]
    assert (out / "iou_by_kind.png").is_file() and (out / "summary.md").read_text().startswith("| subset |")
    seconds = sorted(x["seconds"] for x in recs)  # the time per sample is summarised (the median: loading is in one)
    assert summary["timing"] == {"median_seconds": pytest.approx((seconds[2] + seconds[3]) / 2),
                                 "max_seconds": seconds[-1], "timed": 6}  # fmt: skip
    assert "time per sample: median" in (out / "summary.md").read_text()


def test_eval_segment_with_refdiff(sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path) -> None:
    """The README's Ref-Diff command on the tiny models: the same chain with the Ref-Diff segmenter."""
    out = tmp_path / "run"
    r = run(["eval", "segment", sets["refcoco"], "--segmenter", "refdiff", "-O", "refdiff_resolution=64",
             "-O", "refdiff_steps=2", "-O", "sam_grid=3", "--limit", "2", "-o", out, "--json"], eval_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["stages"]["segmenter"] == "refdiff"
    assert [x["id"] for x in records(out)] == ["1000", "1001"] and all(x["union"] > 0 for x in records(out))


@pytest.mark.parametrize("fmt", FORMATS)
def test_eval_edit_end_to_end(fmt: str, sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path) -> None:
    """The manifests' samples are segmented (their detections, SAM), the others edited in their ground-truth masks."""
    out = tmp_path / "run"
    gt = [] if fmt.startswith("manifest") else ["--gt-mask"]
    gt += ["--instruction", "make {text} blue"] if fmt == "refcoco" else []  # RefCOCO's texts are expressions
    r = run(["eval", "edit", sets[fmt], "-o", out, "--json", *gt, *FAST], eval_env)
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert len(recs) == 6
    done = [x for x in recs if x["status"] == "done"]
    assert done, recs
    for rec in done:
        edited = np.asarray(Image.open(rec["output"]).convert("RGB"))
        assert edited.shape == (96, 96, 3)
        assert rec["psnr_bg"] == "inf" or rec["psnr_bg"] > 0
        assert 0 <= rec["lpips"] and -1 <= rec["ssim_m"] <= 1 and rec["clip_score"] >= 0
        assert -1 <= rec["clip_dir"] <= 1 and "clip_sim_fg" in rec and rec["l2_bg"] >= 0
        if fmt.startswith("manifest") or fmt == "magicbrush":  # these sets have target images
            assert {"clip_i", "clip_t", "dino", "l1"} <= set(rec)
        # sets without a caption pair are scored with the one refedit's parser wrote
        assert rec.get("captions") == ("plan" if fmt in ("refcoco", "magicbrush") else None)
    summary = json.loads(r.stdout)
    assert summary["overall"]["n"] == len(done)
    assert summary["overall"]["lpips"] == pytest.approx(sum(x["lpips"] for x in done) / len(done))
    assert summary["timing"]["timed"] == len(done) and summary["timing"]["max_seconds"] >= summary["timing"]["median_seconds"]


def test_eval_edit_sweeps_the_encoding_ratio(sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = run(["eval", "edit", sets["manifest"], "-o", out, "--limit", "2", "--gt-mask", "--sweep-ratios", "0.5,1",
             "--metrics", "pixels,clip", *FAST], eval_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert sorted(x["key"] for x in recs) == ["scene_00000@r=0.5", "scene_00000@r=1", "scene_00001@r=0.5", "scene_00001@r=1"]
    assert all("lpips" not in x and "psnr_bg" in x for x in recs)  # only the asked figures
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["by_encode_ratio"]) == {"0.5", "1"}
    assert (out / "fidelity_vs_faithfulness.png").is_file() and "no fidelity_vs_faithfulness" not in r.stderr
    out = tmp_path / "pixels-only"  # no faithfulness figure: the plot cannot be drawn, and that is said
    r = run(["eval", "edit", sets["manifest"], "-o", out, "--limit", "1", "--gt-mask", "--sweep-ratios", "0.5,1",
             "--metrics", "pixels", *FAST], eval_env)  # fmt: skip
    assert r.exit_code == 0 and not (out / "fidelity_vs_faithfulness.png").exists()
    assert "refedit: note: no fidelity_vs_faithfulness.png: it plots a fidelity figure" in r.stderr, r.stderr


# --------------------------------------------------------------------------- resuming
def test_a_killed_eval_segment_resumes_without_rescoring(tmp_path: Path) -> None:
    """SIGKILL a real run (box masks from the given detections: no model) mid-way, rerun: the samples in the log
    keep their records, the rest are scored once."""
    from refedit.eval.synth import SynthOptions, generate

    data = generate(tmp_path / "synth", SynthOptions(n=100, seed=1, size=96))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "refedit", "eval", "segment", str(data), "-o", str(out), "--box-mask",
           "-O", "attribute_filter=false"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.is_file() or len(log.read_text().splitlines()) < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = log.read_text().splitlines()
    assert 5 <= len(first) < 100, "the run must be killed mid-way"
    with log.open("a") as fh:  # a write cut short by the kill
        fh.write('{"key": "scene_000')
    r = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"{len(first)} of 100 samples already in the log" in r.stderr
    lines = log.read_text().splitlines()
    assert lines[: len(first)] == first  # untouched, not rescored
    keys = [json.loads(line)["key"] for line in lines]
    assert len(keys) == 100 and len(set(keys)) == 100
    assert json.loads(r.stdout)["overall"]["n"] == 100


def test_a_run_folder_holding_another_runs_results_is_not_reused(tmp_path: Path) -> None:
    """Other settings or other data into the same RUN: the samples already there were made otherwise, so they are
    not reported as the new run's (exit 2, nothing written); the same run resumes; --overwrite starts afresh."""
    from refedit.eval.synth import SynthOptions, generate

    data = generate(tmp_path / "synth", SynthOptions(n=4, seed=1, size=96))
    other = generate(tmp_path / "synth2", SynthOptions(n=4, seed=2, size=96))
    out = tmp_path / "run"
    base = ["eval", "segment", data, "-o", out, "--box-mask", "-O", "attribute_filter=false", "--json"]
    assert run(base).exit_code == 0
    before = (out / "samples.jsonl").read_bytes()
    for args, needle in (([*base, "--box-threshold", "0.9"], "box_threshold"), ([*base[:2], other, *base[3:]], "data")):
        r = run(args)
        assert r.exit_code == 2 and "holds results of another run" in r.stderr and needle in r.stderr, r.output
        assert (out / "samples.jsonl").read_bytes() == before
    r = run(base)
    assert r.exit_code == 0 and "4 of 4 samples already in the log" in r.stderr, r.output
    r = run([*base, "--box-threshold", "0.9", "--overwrite"])
    assert r.exit_code == 0 and json.loads((out / "run.json").read_text())["options"]["box_threshold"] == 0.9


def test_a_sample_changed_since_it_was_logged_runs_again(tmp_path: Path, eval_env: dict[str, str]) -> None:
    """A label fixed in place (a PNG mask redrawn, an expression reworded, same id) was reported with its old result
    ('4 of 4 samples already in the log'); now the changed samples run again, the others resume, and eval edit's old
    image of a changed sample is edited again, not scored again."""
    from refedit.eval.synth import SynthOptions, generate

    data = generate(tmp_path / "synth", SynthOptions(n=4, seed=1, size=96))
    out = tmp_path / "run"
    base = ["eval", "segment", data, "-o", out, "--box-mask", "-O", "attribute_filter=false", "--json"]
    assert run(base).exit_code == 0
    first = {r["id"]: r for r in records(out)}
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    mask = data.parent / rows[0]["mask"]
    corner = np.zeros((96, 96), np.uint8)
    corner[:4, :4] = 1  # the first sample's mask redrawn (a corner the prediction misses; a 0/1 mask)
    Image.fromarray(corner).save(mask)
    rows[1]["expression"] = rows[1]["expression"] + " please"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run(base)
    assert r.exit_code == 0 and "2 logged sample(s) changed since" in r.stderr and "2 of 4 samples already" in r.stderr
    again = {x["id"]: x for x in records(out)}
    a, b = again[rows[0]["id"]], first[rows[0]["id"]]
    assert (a["intersection"], a["union"]) != (b["intersection"], b["union"])
    assert again[rows[1]["id"]]["text"].endswith(" please")
    assert all(again[x["id"]] == first[x["id"]] for x in rows[2:])  # untouched
    assert len((out / "samples.jsonl").read_text().splitlines()) == 4  # the superseded rows are gone from the log
    assert "4 of 4 samples already in the log" in run(base).stderr  # the new records hold the new digests
    rows = rows[1:]  # a sample dropped from the data leaves the log (and the summary) too
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run(base)
    assert r.exit_code == 0 and json.loads(r.stdout)["overall"]["n"] == 3
    assert sorted(x["id"] for x in records(out)) == sorted(x["id"] for x in rows)
    assert json.loads((out / "summary.json").read_text())["stages"]["options"]["box_mask"] is True  # not "True"

    from refedit.testing.tiny_eval import write_sample_sets

    manifest = write_sample_sets(tmp_path / "sets")["manifest"]  # its own copy: one row is changed in place
    out = tmp_path / "edit"
    args = ["eval", "edit", manifest, "-o", out, "--metrics", "pixels", "--gt-mask", *FAST]
    assert run(args, eval_env).exit_code == 0
    sample = records(out)[0]
    image = Path(sample["output"])
    image.write_bytes(b"stale")  # an image that must not be scored again once its sample changed
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["instruction"] += " please"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in rows))
    r = run(args, eval_env)
    assert r.exit_code == 0 and "1 logged sample(s) changed since" in r.stderr, r.output
    redone = {x["id"]: x for x in records(out)}[sample["id"]]
    assert redone["status"] == "done" and redone["text"].endswith(" please") and image.read_bytes() != b"stale"


def test_an_interrupted_eval_edit_resumes_without_editing_or_scoring_again(
    sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from refedit.batch import BatchRunner
    from refedit.eval.score import Scorer

    calls = {"edit": 0, "score": 0}
    real_run, real_score = BatchRunner.run_item, Scorer.score

    def edit(self, item):  # type: ignore[no-untyped-def]
        calls["edit"] += 1
        if calls["edit"] == 4:
            raise KeyboardInterrupt
        return real_run(self, item)

    def score(self, *a):  # type: ignore[no-untyped-def]
        calls["score"] += 1
        return real_score(self, *a)

    monkeypatch.setattr(BatchRunner, "run_item", edit)
    monkeypatch.setattr(Scorer, "score", score)
    out = tmp_path / "run"
    args = ["eval", "edit", sets["manifest"], "-o", out, "--metrics", "pixels", "--gt-mask", *FAST]
    r = CliRunner().invoke(main, [str(a) for a in args], env=eval_env)
    assert r.exit_code == 130 and len(records(out)) == 3
    calls.update(edit=0, score=0)
    r = run(args, eval_env)
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert len(recs) == 6 and calls["edit"] == 3  # the three logged samples are neither edited nor scored again
    assert calls["score"] == sum(1 for x in recs[3:] if x["status"] == "done")


# --------------------------------------------------------------------------- the synthetic benchmark
def test_synth_with_a_perfect_oracle_the_resolver_picks_every_geometric_target(tmp_path: Path) -> None:
    """No miss, no jitter, no false box: every expression whose answer is geometric (plain, spatial, ordinal, size,
    all) must pick exactly the target boxes, and a box mask then covers the whole shape."""
    data = tmp_path / "synth"
    r = run(["eval", "synth", data, "--n", "40", "--seed", "3", "--size", "128", "--miss", "0", "--jitter", "0",
             "--spurious", "0"])  # fmt: skip
    assert r.exit_code == 0, r.output
    out = tmp_path / "run"
    r = run(["eval", "segment", data / "manifest.jsonl", "-o", out, "--box-mask", "-O", "attribute_filter=false",
             "-O", "box_expand=0"])  # fmt: skip
    assert r.exit_code == 0, r.output
    for rec in records(out):
        if rec["category"] in ("plain", "spatial", "ordinal", "size", "all"):
            assert rec["box_correct"] is True, rec
            assert rec["intersection"] == truth_area(data / "manifest.jsonl", rec["id"])  # the box holds the shape


def test_synth_through_grounded_sam_with_noisy_detections(eval_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "synth"
    assert run(["eval", "synth", data, "--n", "8", "--seed", "0", "--size", "96"]).exit_code == 0
    out = tmp_path / "run"
    r = run(["eval", "segment", data / "manifest.jsonl", "-o", out, "--json"], eval_env)  # SAM masks, CLIP attributes
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["overall"]["n"] == 8 and {"plain", "attribute", "all"} <= set(summary["by_kind"])
    assert all(x.get("box_correct") in (True, False) for x in records(out))


def test_synth_is_deterministic_and_refuses_a_used_folder(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run(["eval", "synth", tmp_path / name, "--n", "5", "--seed", "7", "--size", "96"]).exit_code == 0
    for sub in ("manifest.jsonl", "detections/scene_00004.json", "images/scene_00004.png", "masks/scene_00004.png"):
        assert (tmp_path / "a" / sub).read_bytes() == (tmp_path / "b" / sub).read_bytes()
    r = run(["eval", "synth", tmp_path / "a", "--n", "5"])
    assert r.exit_code == 2 and "already exists" in r.output


# --------------------------------------------------------------------------- scoring another tool's outputs
def _tool_outputs(data: Path, folder: Path) -> None:
    """A stand-in tool: paint each sample's ground-truth region blue, named as the samples' image paths."""
    from refedit.eval.formats import read_dataset

    for s in read_dataset(data).samples:
        img = np.asarray(Image.open(s.image).convert("RGB")).copy()
        img[s.truth((img.shape[1], img.shape[0]))] = (40, 78, 215)
        path = folder / s.name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)


def test_figures_no_sample_can_have_are_named_with_what_they_need(sets: dict[str, Path], tmp_path: Path) -> None:
    """Samples without a mask, scored for pixels: the warning said the data lacked 'a target image, or source and
    edited captions' — what those figures need is the ground-truth mask."""
    outputs = tmp_path / "tool"
    _tool_outputs(sets["manifest"], outputs)
    manifest = _bad(tmp_path, sets, "none")
    rows = [json.loads(x) for x in manifest.read_text().splitlines()]
    manifest.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "mask"}) + "\n" for r in rows))
    r = run(["eval", "score", outputs, manifest, "-o", tmp_path / "run", "--metrics", "pixels"])
    assert r.exit_code == 0, r.output
    assert ("refedit: warning: measured on no sample: psnr_bg, mse_bg, ssim_bg, l2_bg, ssim_m, ssim_m_bar (no "
            "sample has what they need; psnr_bg, mse_bg, ssim_bg, l2_bg, ssim_m, ssim_m_bar: a ground-truth mask)\n"
            ) in r.stderr, r.stderr  # (l1 is measured: the samples have target images)


def test_eval_score_scores_another_tools_outputs(sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path) -> None:
    outputs = tmp_path / "tool"
    _tool_outputs(sets["piebench"], outputs)
    out = tmp_path / "run"
    r = run(["eval", "score", outputs, sets["piebench"], "-o", out, "--json"], eval_env)
    assert r.exit_code == 0, r.output
    recs = records(out)
    assert len(recs) == 6
    for rec in recs:  # only the masked region changed: the background is untouched
        assert rec["psnr_bg"] == "inf" and rec["mse_bg"] == 0 and rec["l2_bg"] == 0 and rec["lpips_bg"] == 0
        assert rec["ssim_m"] < rec["ssim_m_bar"] < 1  # SSIM's 11-pixel window sees the edit from just outside the mask
    summary = json.loads(r.stdout)
    # PSNR is the mean over the edits that changed the background: none here, so none; all 6 identical, as said
    assert "psnr_bg" not in summary["overall"] and summary["overall"]["psnr_bg_identical"] == 6
    assert "measured on no sample: psnr_bg" not in r.stderr and "psnr_bg, " not in r.stderr
    assert set(summary["by_category"]) == {"0", "1"}


def test_eval_score_reads_magicbrush_results_named_as_its_evaluation_script_names_them(
    sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path
) -> None:
    """MagicBrush's ``image_eval.py`` reads a tool's single-turn results as ``<id>/<id>_1.png`` and
    ``<id>/<id>_inde_<turn>.png``: results laid out for it score here without a mapping."""
    from refedit.eval.formats import read_dataset

    outputs, painted = tmp_path / "tool", tmp_path / "painted"
    _tool_outputs(sets["magicbrush"], painted)
    samples = read_dataset(sets["magicbrush"]).samples
    for s in samples:
        session, turn = s.id.rsplit("-", 1)
        name = f"{session}/{session}_1.png" if turn == "1" else f"{session}/{session}_inde_{turn}.png"
        (outputs / session).mkdir(parents=True, exist_ok=True)
        (painted / s.name).rename(outputs / name)
    assert len({s.id.rsplit("-", 1)[1] for s in samples}) > 1  # the set has later turns (the _inde_ names)
    out = tmp_path / "run"
    r = run(["eval", "score", outputs, sets["magicbrush"], "-o", out, "--metrics", "pixels", "--json"], eval_env)
    assert r.exit_code == 0, r.output
    assert sorted(x["id"] for x in records(out)) == sorted(s.id for s in samples)
    assert all(x["psnr_bg"] == "inf" for x in records(out))  # each output was matched with its own sample


def test_eval_score_with_a_mapping_and_missing_outputs(sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path) -> None:
    outputs = tmp_path / "tool"
    outputs.mkdir()
    from refedit.eval.formats import read_dataset

    samples = read_dataset(sets["refcoco"]).samples
    Image.open(samples[0].image).save(outputs / "first.png")
    (tmp_path / "map.json").write_text(json.dumps({samples[0].id: "first.png"}))
    out = tmp_path / "run"
    r = run(["eval", "score", outputs, sets["refcoco"], "-o", out, "--metrics", "pixels"], eval_env)
    assert r.exit_code == 2 and "none of the 6 samples has an output" in r.output and not out.exists()
    r = run(["eval", "score", outputs, sets["refcoco"], "-o", out, "--metrics", "pixels", "--allow-missing"], eval_env)
    assert r.exit_code == 2 and "none of the 6 samples" in r.output  # nothing to score: not 'n: 0', exit 0
    r = run(["eval", "score", outputs, sets["refcoco"], "-o", out, "--metrics", "pixels", "--mapping",
             tmp_path / "map.json", "--allow-missing", "--json"], eval_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert [x["id"] for x in records(out)] == [samples[0].id] and records(out)[0]["psnr_bg"] == "inf"
    assert "5 of the 6 samples have no output" in r.stderr  # the table's n says only what was scored
    # a mapped output that is not there is missing up front (it failed its sample at run time, exit 0)
    (tmp_path / "map.json").write_text(json.dumps({samples[0].id: "first.png", samples[1].id: "typo.png"}))
    r = run(["eval", "score", outputs, sets["refcoco"], "-o", tmp_path / "run2", "--metrics", "pixels", "--mapping",
             tmp_path / "map.json", "--limit", "2"], eval_env)  # fmt: skip
    assert r.exit_code == 2 and f"1 of 2 samples have no output in {outputs} (first: {samples[1].id})" in r.stderr
    assert not (tmp_path / "run2").exists()


# --------------------------------------------------------------------------- the VLM judge
def test_judge_against_a_loopback_server(sets: dict[str, Path], eval_env: dict[str, str], tmp_path: Path) -> None:
    from tests.test_llm_parser import FakeOpenAI

    server = FakeOpenAI()
    server.mode = "custom"
    answers = iter(['{"score": [8, 6], "reasoning": "ok"}', '```json\n{"score": [9, 4]}\n```'] * 2 + ["no json"] * 20)
    real = server.completion
    server.completion = lambda body, content: real(body, next(answers))  # type: ignore[method-assign]
    try:
        outputs = tmp_path / "tool"
        _tool_outputs(sets["piebench"], outputs)
        out = tmp_path / "run"
        r = run(["eval", "score", outputs, sets["piebench"], "-o", out, "--metrics", "pixels", "--limit", "3",
                 "--judge", "--judge-base-url", f"http://127.0.0.1:{server.port}/v1", "--judge-model", "vlm"], eval_env)  # fmt: skip
    finally:
        server.close()
    assert r.exit_code == 0, r.output
    recs = records(out)
    # VIEScore: SC = min(8, 6), PQ = min(9, 4), O = sqrt(SC * PQ)
    assert recs[0]["vie_sc"] == 6 and recs[0]["vie_pq"] == 4 and recs[0]["vie_o"] == pytest.approx(math.sqrt(24))
    assert "judge_error" in recs[2] and "vie_sc" not in recs[2] and recs[2]["mse_bg"] == 0  # the rest stands
    assert "refedit: warning: the judge failed on 1 of 3 samples" in r.stderr  # said, not only in samples.jsonl
    first = server.requests[0]["body"]
    assert first["model"] == "vlm"
    images = [c for c in first["messages"][0]["content"] if c["type"] == "image_url"]
    assert len(images) == 2 and images[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "make " in first["messages"][0]["content"][-1]["text"]  # the instruction is in the SC prompt


# --------------------------------------------------------------------------- bad data
def _bad(tmp_path: Path, sets: dict[str, Path], case: str) -> Path:
    import shutil

    data = tmp_path / "data"
    src = sets["manifest"].parent
    shutil.copytree(src, data)
    manifest = data / "manifest-png.jsonl"
    rows = [json.loads(x) for x in manifest.read_text().splitlines()]
    if case == "missing image":
        (data / rows[2]["image"]).unlink()
    elif case == "mask of the wrong size":
        Image.new("L", (50, 40)).save(data / rows[3]["mask"])
    elif case == "malformed JSON":
        manifest.write_text(manifest.read_text() + '{"image": "images/scene_00000.png", \n')
    elif case == "malformed RLE":
        rows[1]["mask"] = {"size": [96, 96], "counts": [5, 7]}
    elif case == "path outside the data folder":
        rows[0]["image"] = "../../etc/passwd"
    elif case == "ids naming the same file":  # "a/b" and "a_b" wrote one a_b.png (one sample scored on the other's edit)
        rows[0]["id"], rows[1]["id"] = "a/b", "a_b"
    if case in ("malformed RLE", "path outside the data folder", "ids naming the same file"):
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


@pytest.mark.parametrize("case", ["missing image", "mask of the wrong size", "malformed JSON", "malformed RLE",
                                  "path outside the data folder", "ids naming the same file"])  # fmt: skip
@pytest.mark.parametrize("command", ["segment", "edit", "score"])
def test_bad_data_is_one_line_exit_2_and_nothing_written(case: str, command: str, sets: dict[str, Path],
                                                         eval_env: dict[str, str], tmp_path: Path) -> None:  # fmt: skip
    manifest = _bad(tmp_path, sets, case)
    out = tmp_path / "run"
    args = {"segment": ["eval", "segment", manifest], "edit": ["eval", "edit", manifest],
            "score": ["eval", "score", tmp_path, manifest]}[command]  # fmt: skip
    r = run([*args, "-o", out, *{"segment": SEG, "edit": FAST, "score": []}[command]], eval_env)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refedit: error: "), r.stderr
    assert not out.exists()


def test_a_mask_of_zeros_and_ones_is_read_and_an_empty_one_is_refused(sets: dict[str, Path], tmp_path: Path) -> None:
    """A bool array saved as a 0/1 PNG was an empty ground truth (pixels > 127 are the object): every sample IoU 0,
    exit 0. It is read as the mask it is; a mask with no object pixel is refused up front (exit 2, nothing run)."""
    manifest = _bad(tmp_path, sets, "none")
    rows = [json.loads(x) for x in manifest.read_text().splitlines()]
    png = manifest.parent / rows[0]["mask"]
    truth = np.asarray(Image.open(png).convert("L")) > 127
    Image.fromarray(truth.astype(np.uint8)).save(png)  # 0 and 1
    out = tmp_path / "run"
    assert run(["eval", "segment", manifest, "-o", out, "--box-mask", "--limit", "1", "--json"]).exit_code == 0
    assert records(out)[0]["intersection"] > 0  # read as empty, no prediction would meet it
    Image.fromarray(np.zeros_like(truth, np.uint8)).save(png)
    r = run(["eval", "segment", manifest, "-o", tmp_path / "run2", "--box-mask"])
    assert r.exit_code == 2 and r.stderr.startswith(f"refedit: error: sample {rows[0]['id']}: the ground-truth mask ("), r.output
    assert "is empty" in r.stderr and not (tmp_path / "run2").exists()


def test_an_untrusted_refs_pickle_is_refused(sets: dict[str, Path], tmp_path: Path) -> None:
    import pickle
    import shutil

    data = tmp_path / "refcoco"
    shutil.copytree(sets["refcoco"], data)
    refs = json.loads((data / "refs(unc).json").read_text())
    (data / "refs(unc).json").unlink()
    (data / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    out = tmp_path / "run"
    r = run(["eval", "segment", data, "-o", out, "--box-mask"])
    assert r.exit_code == 2 and "pickle" in r.stderr and "--trust-pickle" in r.stderr
    assert not out.exists() and not (data / "refs(unc).json").exists()


def test_overwrite_edits_again_and_a_run_where_every_sample_failed_is_exit_6(sets: dict[str, Path],
                                                                            eval_env: dict[str, str], tmp_path: Path) -> None:  # fmt: skip
    """`--overwrite` with another instruction scored the earlier run's images again (every record 'skipped: output
    exists', the figures the old edits'); and a run in which every sample failed printed n 0 and exited 0."""
    import hashlib

    out = tmp_path / "run"

    def images() -> dict[str, str]:
        return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted((out / "images").iterdir())}

    base = ["eval", "edit", sets["manifest"], "-o", out, "--limit", "2", "--metrics", "pixels", *FAST]
    assert run([*base, "--instruction", "make {text} blue"], eval_env).exit_code == 0
    blue = images()
    r = run([*base, "--instruction", "make {text} red", "--overwrite"], eval_env)
    assert r.exit_code == 0, r.output
    assert {rec["edit_status"] for rec in records(out)} == {"done"} and images().keys() == blue.keys()
    assert all(images()[k] != blue[k] for k in blue)
    r = run([*base, "--instruction", "move {text} to the left", "--overwrite"], eval_env)  # refused by the parser
    assert r.exit_code == 6 and "every sample failed (2)" in r.stderr, r.output
    assert all(rec["output"] is None for rec in records(out))  # no image: none is named
    assert not (out / "images").exists() or not any((out / "images").iterdir())  # the earlier run's went


def test_eval_segment_where_every_sample_failed_is_exit_6(tmp_path: Path) -> None:
    """Segmentation counts a failure as a miss in n (IoU 0), so its 'every sample failed' check never fired (exit 0)."""
    from refedit.eval.synth import SynthOptions, generate

    data = generate(tmp_path / "synth", SynthOptions(n=3, seed=1, size=96))
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    data.write_text("".join(json.dumps({**r, "expression": "make it nicer"}) + "\n" for r in rows))  # unclear: refused
    r = run(["eval", "segment", data, "-o", tmp_path / "run", "--box-mask"])
    assert r.exit_code == 6 and "every sample failed (3)" in r.stderr, r.output


def test_an_overwrite_stopped_early_leaves_no_earlier_report_behind(tmp_path: Path) -> None:
    """--overwrite removed the old log but kept the old summary: a run killed before its end left a folder whose
    summary no log supported."""
    from refedit.eval.synth import SynthOptions, generate

    data = generate(tmp_path / "synth", SynthOptions(n=100, seed=1, size=96))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "refedit", "eval", "segment", str(data), "-o", str(out), "--box-mask", "--save-masks",
           "-O", "attribute_filter=false"]  # fmt: skip
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    assert (out / "summary.json").is_file() and (out / "summary.md").is_file() and len(list((out / "masks").iterdir())) == 100
    proc = subprocess.Popen([*cmd, "--overwrite"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "samples.jsonl"
    deadline, restarted = time.time() + 120, False
    while time.time() < deadline:  # the old log (100 lines) goes first, then the new one grows
        n = len(log.read_text().splitlines()) if log.is_file() else 0
        restarted = restarted or n < 100
        if restarted and n >= 5:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 5 <= len(log.read_text().splitlines()) < 100, "the run must be killed mid-way"
    assert not (out / "summary.json").exists() and not (out / "summary.md").exists()
    assert len(list((out / "masks").iterdir())) < 100  # the earlier run's masks went with its log


@pytest.mark.parametrize("command", ["edit", "score"])
@pytest.mark.parametrize("flag,wrong", [("--dino-model", "clipscore"), ("--clipscore-model", "dino")])
def test_a_metric_model_of_the_wrong_family_is_refused_before_any_edit(command: str, flag: str, wrong: str,
                                                                       sets: dict[str, Path], eval_env: dict[str, str],
                                                                       tmp_path: Path) -> None:  # fmt: skip
    """A CLIP checkpoint as the DINO model was refused only when the first edit was scored: after the edit had run
    and `run.json` was written."""
    out = tmp_path / "run"
    model = eval_env[f"REFEDIT_{wrong.upper()}_MODEL"]
    if command == "score":
        _tool_outputs(sets["piebench"], tmp_path / "tool")
    args = {"edit": ["eval", "edit", sets["magicbrush"], *FAST],
            "score": ["eval", "score", tmp_path / "tool", sets["piebench"]]}[command]  # fmt: skip
    r = run([*args, "-o", out, "--metrics", "clip,dino", flag, model], eval_env)
    assert r.exit_code == 5, r.output
    assert f"is not a {'DINO (ViT)' if wrong == 'clipscore' else 'CLIP'} checkpoint" in r.stderr and flag in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_outputs_named_after_a_shared_image_are_refused_saying_why(tmp_path: Path) -> None:
    """Two samples of one photo, the tool's output named after the photo: 'name outputs as the samples' files' was the
    advice, which is what was done; the refusal now says the name cannot tell the two edits apart."""
    from types import SimpleNamespace

    from refedit.errors import BadInput
    from refedit.eval.edit import locate_outputs

    (tmp_path / "img.png").write_bytes(b"")
    samples = [SimpleNamespace(id=i, name="img.png", aliases=()) for i in ("a", "b")]
    with pytest.raises(BadInput, match=r"samples share image files, img.png: a, b: an output named after one cannot "
                                       r"say whose edit it is"):
        locate_outputs(samples, tmp_path, {}, allow_missing=False)  # type: ignore[arg-type]
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"")
    assert set(locate_outputs(samples, tmp_path, {}, allow_missing=False)) == {"a", "b"}  # type: ignore[arg-type]
