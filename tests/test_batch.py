"""Batch editing and shell pipelines on the tiny models."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.batch import BatchRunner, JsonlLog, Rejected, items_from_folder, items_from_manifest, render_name
from refedit.cli import main
from refedit.errors import BadInput, BatchFailed
from refedit.pipeline.models import ModelStore

from .conftest import EXAMPLES, ROOT

# the tiny random detector's 20 boxes all score alike: these plumbing runs take the highest score on purpose
FAST = ["--steps", "4", "--resolution", "64", "--box-threshold", "0", "--on-ambiguous", "best"]
PHOTOS = ["cat.jpg", "coffee.jpg", "coins.jpg", "rocket.jpg"]


def make_images(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        img = Image.open(EXAMPLES / PHOTOS[i % 4]).convert("RGB").resize((96 + 8 * (i % 3), 64))
        path = sub / f"img{i:02d}.png"
        img.save(path)
        paths.append(path)
    return paths


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_twenty_items_three_bad(tmp_path, tiny_env):
    src = tmp_path / "in"
    images = make_images(src, 17)
    (src / "corrupt.jpg").write_bytes((EXAMPLES / "cat.jpg").read_bytes()[:1500])
    (src / "notes.png").write_text("this is not an image")
    Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((96, 64)).save(src / "nothing.png")
    rows = [{"image": str(p.relative_to(src)), "instruction": "replace the cat with a tiger"} for p in images]
    rows += [{"image": "corrupt.jpg", "instruction": "remove the cat"},
             {"image": "notes.png", "instruction": "remove the cat"},
             {"image": "nothing.png", "instruction": "remove the cup", "box_threshold": 1.0}]  # fmt: skip
    manifest = src / "items.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["batch", str(manifest), "-o", str(out), *FAST], env=tiny_env)
    assert r.exit_code == BatchFailed.exit_code, r.output
    assert "batch: 17 done, 0 skipped, 3 failed" in r.stderr
    outputs = sorted(out.rglob("*_edited.png"))
    assert len(outputs) == 17 and len(r.stdout.split()) == 17
    log = read_log(out / "refedit-batch.jsonl")
    failed = {Path(rec["input"]).name: rec for rec in log if rec["status"] == "failed"}
    assert set(failed) == {"corrupt.jpg", "notes.png", "nothing.png"}
    assert failed["corrupt.jpg"]["error_type"] == "BadInput" and "corrupt or truncated" in failed["corrupt.jpg"]["error"]
    assert failed["notes.png"]["error_type"] == "BadInput" and "not an image" in failed["notes.png"]["error"]
    assert failed["nothing.png"]["error_type"] == "TargetNotFound"
    done = [rec for rec in log if rec["status"] == "done"]
    assert all(rec["parameters"]["seed"] == rec["seed"] and rec["timings"]["total"] > 0 for rec in done)
    meta = json.loads(Image.open(outputs[0]).text["refedit"])
    assert meta["parameters"]["steps"] == 4


def test_folder_mirrors_tree_and_models_load_once(tmp_path, tiny_settings):
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 5)
    items = items_from_folder(src, "replace the cat with a tiger", out, name="{stem}_{index}_{seed}.png", seed=7)
    assert [i.output.relative_to(out).as_posix() for i in items][:2] == ["a/img01_0_7.png", "a/img03_1_7.png"]
    store = ModelStore(tiny_settings)
    runner = BatchRunner(tiny_settings, options={"steps": 3, "resolution": 64, "box_threshold": 0.0,
                                                 "on_ambiguous": "best"}, store=store)  # fmt: skip
    summary = runner.run(items, JsonlLog(out / "log.jsonl"))
    assert summary.done == 5 and all(i.output.exists() for i in items)
    assert len(store.loads) == len(set(store.loads)) == 9  # unet vae text_encoder tokenizer scheduler, dino+proc, sam+proc
    again = BatchRunner(tiny_settings, options={"steps": 3}, store=store).run(items, JsonlLog(out / "log.jsonl"))
    assert (again.done, again.skipped) == (0, 5) and len(store.loads) == 9


def test_dry_run_writes_masks_and_overlays_only(tmp_path, tiny_env):
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 3)
    r = CliRunner().invoke(main, ["batch", str(src), "-i", "remove the cat", "-o", str(out), "--dry-run", *FAST],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert len(list(out.rglob("*_mask.png"))) == 3 and len(list(out.rglob("*_overlay.png"))) == 3
    assert not [p for p in out.rglob("*_edited.png")]


def test_an_animation_in_a_folder_is_logged_with_its_note(tmp_path, tiny_env):
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 1)
    frames = [Image.new("RGB", (96, 64), c) for c in ((200, 40, 40), (40, 200, 40))]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
    r = CliRunner().invoke(main, ["batch", str(src), "-i", "remove the cat", "-o", str(out), "--dry-run", *FAST],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    notes = {Path(rec["input"]).name: rec.get("notes") for rec in read_log(out / "refedit-batch.jsonl")}
    assert notes.pop("anim.gif") == [f"{src / 'anim.gif'} has 2 frames: the first is edited, the output is a still image"]
    assert set(notes.values()) == {None}


def test_manifest_paths_may_not_escape(tmp_path):
    (tmp_path / "m").mkdir()
    manifest = tmp_path / "m" / "x.csv"
    manifest.write_text("image,instruction,steps\n../secret.png,remove the cat,3\n")
    [rejected] = items_from_manifest(manifest, tmp_path / "out")
    assert isinstance(rejected, Rejected) and "x.csv:2: image '../secret.png' lies outside the manifest's" in rejected.error
    items = items_from_manifest(manifest, tmp_path / "out", allow_outside=True)
    assert items[0].options == {"steps": 3} and items[0].image == (tmp_path / "secret.png").resolve()
    with pytest.raises(BadInput, match="template"):
        render_name("{nope}.png", stem="a", index=0, seed=0, ext=".png")
    with pytest.raises(BadInput, match="'{stem}' gives 'a', which has no image extension"):
        render_name("{stem}", stem="a", index=0, seed=0, ext=".png")


def test_a_manifest_on_stdin_jsonl_or_csv(tmp_path, tiny_env, monkeypatch):
    """``refedit batch -`` reads the manifest from a pipe (JSONL when it starts with '{', else CSV), its relative
    paths from the current folder, which they may not leave; its rows are named <stdin>:N."""
    src = tmp_path / "in"
    images = four_images(src)
    monkeypatch.chdir(src)
    jsonl = "\n".join(json.dumps({"image": p.name, "instruction": "remove the cat"}) for p in images[:2])
    r = CliRunner().invoke(main, ["batch", "-", "-o", str(tmp_path / "a"), "--dry-run", *FAST], input=jsonl, env=tiny_env)
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "a").glob("*_mask.png"))) == 2
    csv_text = f"image,instruction\n{images[2].name},remove the cat\n../escape.png,remove the cat\n"
    r = CliRunner().invoke(main, ["batch", "-", "-o", str(tmp_path / "b"), "--dry-run", *FAST], input=csv_text, env=tiny_env)
    assert r.exit_code == BatchFailed.exit_code, r.output
    log = read_log(tmp_path / "b" / "refedit-batch.jsonl")
    assert [rec["status"] for rec in log] == ["done", "failed"]
    assert log[1]["error"] == "<stdin>:3: image '../escape.png' lies outside the current folder (use --allow-outside to permit it)"
    r = CliRunner().invoke(main, ["batch", "-", "-o", str(tmp_path / "c")], input="")
    assert r.exit_code == BadInput.exit_code and r.stderr == "refedit: error: the manifest on stdin has no rows\n"
    r = CliRunner().invoke(main, ["batch", "-", "-o", str(tmp_path / "c")], input=b"\xff{}")
    assert r.exit_code == BadInput.exit_code and "not UTF-8" in r.stderr and not (tmp_path / "c").exists()


def test_killed_batch_resumes_without_redoing_items(tmp_path, tiny_env):
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 12)
    cmd = [sys.executable, "-m", "refedit.cli", "batch", str(src), "-i", "replace the cat with a tiger", "-o",
           str(out), "--steps", "12", "--resolution", "64", "--box-threshold", "0", "--on-ambiguous", "best"]  # fmt: skip
    env = {**os.environ, **tiny_env}
    log = out / "refedit-batch.jsonl"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(read_log(log)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = read_log(log)
    assert 3 <= len(first) < 12, "the batch must be killed part-way"
    for p in out.rglob("*.png"):  # whatever exists is a whole image
        Image.open(p).load()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    records = read_log(log)
    done = [rec["output"] for rec in records if rec["status"] == "done"]
    assert len(done) == len(set(done)) == 12  # every item done exactly once over both runs
    assert not list(out.rglob("*.part"))
    assert f"{12 - len(first)} done, {len(first)} skipped, 0 failed" in r.stderr


def test_three_stage_shell_pipeline_equals_edit(tmp_path, tiny_env):
    cat = EXAMPLES / "cat.jpg"
    env = {**os.environ, **tiny_env}
    opts = "--steps 4 --resolution 64 --box-threshold 0"
    mask, piped, direct = tmp_path / "mask.png", tmp_path / "piped.png", tmp_path / "direct.png"
    script = (
        f'refedit parse "replace the cat on the left with a tiger" --json'
        f" | refedit segment {cat} --plan - --json -o {mask} {opts}"
        f" | refedit edit {cat} --plan - --mask {mask} -o {piped} --seed 5 {opts}"
    )
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["refedit", "edit", str(cat), "replace the cat on the left with a tiger", "-o", str(direct),
                        "--seed", "5", *opts.split()], env=env, capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(piped)), np.asarray(Image.open(direct)))


def test_images_through_stdin_and_stdout(tmp_path, tiny_env):
    cat = EXAMPLES / "cat.jpg"
    env = {**os.environ, **tiny_env}
    opts = "--steps 3 --resolution 64 --box-threshold 0 --seed 2 --on-ambiguous best"
    script = f'cat {cat} | refedit edit - "replace the cat with a tiger" {opts} > {tmp_path}/piped.png'
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["refedit", "edit", str(cat), "replace the cat with a tiger", "-o", str(tmp_path / "file.png"),
                        *opts.split()], env=env, capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "piped.png")), np.asarray(Image.open(tmp_path / "file.png")))
    script = f'cat {cat} | refedit segment - "the cat" -o - --box-threshold 0 --pick best > {tmp_path}/mask.png'
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "mask.png").size == Image.open(cat).size
    r = CliRunner().invoke(main, ["edit", "-", "remove the cat", "--plan", "-"], input=b"")
    assert r.exit_code == BadInput.exit_code and "stdin cannot carry both" in r.stderr


# --------------------------------------------------------------------------- issue 10: no item stops the batch
from refedit.errors import INTERRUPTED_EXIT_CODE  # noqa: E402
from refedit.pipeline.builtins import grounded_sam_segmenter  # noqa: E402
from refedit.pipeline.stages import registry  # noqa: E402

STAGES = {"parser": "rules", "segmenter": "grounded-sam", "editor": "diffedit"}


def refused(r) -> str:  # type: ignore[no-untyped-def]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("refedit: error: ") and "Traceback" not in r.output, r.stderr
    return lines[0]


@pytest.fixture
def failing_segmenter():  # type: ignore[no-untyped-def]
    """Grounded-SAM on the tiny models, registered through the real registry as "flaky", except that on the
    image whose width is in ``fail_on`` it raises what ``raising`` says (a library bug, an OOM, a Ctrl-C)."""
    state = {"fail_on": set(), "raising": RuntimeError("CUDA out of memory (injected)")}

    def flaky(context):  # type: ignore[no-untyped-def]
        inner = grounded_sam_segmenter(context)

        class Flaky:
            def segment(self, *, image, plan, hints):  # type: ignore[no-untyped-def]
                if image.width in state["fail_on"]:
                    raise state["raising"]
                return inner.segment(image=image, plan=plan, hints=hints)

        return Flaky()

    flaky.spec = grounded_sam_segmenter.spec  # type: ignore[attr-defined]
    registry.register("segmenter", "flaky", flaky)
    yield state
    registry.unregister("segmenter", "flaky")


def four_images(folder: Path) -> list[Path]:
    """Four images of distinct widths (the failing one is picked by width)."""
    folder.mkdir(parents=True)
    paths = []
    for i, width in enumerate((96, 104, 112, 120)):
        path = folder / f"img{i}.png"
        Image.open(EXAMPLES / PHOTOS[i]).convert("RGB").resize((width, 64)).save(path)
        paths.append(path)
    return paths


def test_runtime_error_in_one_item_does_not_stop_the_batch(tmp_path, tiny_env, failing_segmenter):
    src, out = tmp_path / "in", tmp_path / "out"
    four_images(src)
    failing_segmenter["fail_on"] = {112}
    r = CliRunner().invoke(main, ["batch", str(src), "-i", "replace the cat with a tiger", "-o", str(out),
                                  "--segmenter", "flaky", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == BatchFailed.exit_code, r.output
    assert "batch: 3 done, 0 skipped, 1 failed" in r.stderr and "Traceback" not in r.output
    log = read_log(out / "refedit-batch.jsonl")
    failed = [rec for rec in log if rec["status"] == "failed"]
    assert len(log) == 4 and len(failed) == 1
    assert Path(failed[0]["input"]).name == "img2.png" and failed[0]["error_type"] == "PluginError"
    assert "the segmenter 'flaky' registered in this process failed in segment(): RuntimeError" in failed[0]["error"]
    assert failed[0]["error"].endswith("CUDA out of memory (injected) (a bug of that stage's code)")
    assert failed[0]["exit_code"] == 1
    assert "traceback" not in failed[0]
    assert sorted(p.name for p in out.glob("*_edited.png")) == ["img0_edited.png", "img1_edited.png", "img3_edited.png"]


def test_debug_keeps_the_failed_items_traceback(tmp_path, tiny_settings, failing_segmenter):
    src, out = tmp_path / "in", tmp_path / "out"
    items = items_from_folder(src if four_images(src) else src, "remove the cat", out)[:3]
    failing_segmenter["fail_on"] = {104}
    failing_segmenter["raising"] = KeyError("a library bug")
    runner = BatchRunner(tiny_settings, segmenter="flaky", options={"box_threshold": 0.0, "on_ambiguous": "best"},
                         dry_run=True, debug=True)  # fmt: skip
    summary = runner.run(items, JsonlLog(out / "log.jsonl"))
    [failed] = [rec for rec in read_log(out / "log.jsonl") if rec["status"] == "failed"]
    assert (summary.done, summary.failed) == (2, 1) and failed["error_type"] == "PluginError"
    assert "failed in segment(): KeyError" in failed["error"]
    assert "Traceback" in failed["traceback"] and "a library bug" in failed["traceback"]


def test_ctrl_c_still_stops_the_batch(tmp_path, tiny_env, failing_segmenter):
    src, out = tmp_path / "in", tmp_path / "out"
    four_images(src)
    failing_segmenter["fail_on"] = {104}
    failing_segmenter["raising"] = KeyboardInterrupt()
    r = CliRunner().invoke(main, ["batch", str(src), "-i", "remove the cat", "-o", str(out), "--dry-run",
                                  "--segmenter", "flaky", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == INTERRUPTED_EXIT_CODE and "Traceback" not in r.output
    assert r.stderr.splitlines()[-1] == "refedit: error: interrupted"  # after the progress line of item 1
    assert [Path(rec["input"]).name for rec in read_log(out / "refedit-batch.jsonl")] == ["img0.png"]


def test_a_csv_row_with_more_cells_than_columns_fails_itself(tmp_path, tiny_env):
    """An unquoted comma in an instruction ("make the cat red, and blue") put the rest under no column and the row
    ran as "make the cat red"."""
    src, out = tmp_path / "in", tmp_path / "out"
    images = four_images(src)
    manifest = src / "items.csv"
    manifest.write_text(f"image,instruction\n{images[0].name},make the cat red, and blue\n"
                        f'{images[1].name},"make the cat red, please"\n')  # fmt: skip
    r = CliRunner().invoke(main, ["batch", str(manifest), "-o", str(out), "--dry-run", *FAST], env=tiny_env)
    assert r.exit_code == BatchFailed.exit_code, r.output
    log = {rec["index"]: rec for rec in read_log(out / "refedit-batch.jsonl")}
    assert log[0]["error"] == "items.csv:2: 3 cells but the header names 2 columns (quote a cell that holds a comma)"
    assert log[1]["status"] == "done" and log[1]["plan"]["instruction"] == "make the cat red, please"


def test_an_existing_output_of_another_edit_is_not_skipped_as_this_one(tmp_path, tiny_env):
    """The resume skipped any existing output: a row whose instruction changed, or a file another edit put there,
    was logged 'skipped' and the old picture stood for the new request. Such an output fails its row with why."""
    src, out = tmp_path / "in", tmp_path / "out"
    images = four_images(src)
    args = ["batch", str(src), "-o", str(out), *FAST]
    assert CliRunner().invoke(main, [*args, "-i", "make the cat red"], env=tiny_env).exit_code == 0
    r = CliRunner().invoke(main, [*args, "-i", "make the cat red"], env=tiny_env)
    assert r.exit_code == 0 and "0 done, 4 skipped" in r.stderr  # the same request: resumed
    Image.open(images[1]).save(out / "img0_edited.png")  # another photo's picture under img0's name
    r = CliRunner().invoke(main, [*args, "-i", "make the cat blue"], env=tiny_env)
    assert r.exit_code == BatchFailed.exit_code, r.output
    log = {Path(x["input"]).name: x for x in read_log(out / "refedit-batch.jsonl")[-4:]}
    assert log["img0.png"]["error"].endswith("exists but is 104x64, the input 96x64: --overwrite to edit it "
                                             "again, or another --name / output")  # fmt: skip
    assert "exists but is the edit of another instruction ('make the cat red')" in log["img1.png"]["error"]


def test_bad_manifest_rows_fail_only_themselves(tmp_path, tiny_env):
    src, out = tmp_path / "in", tmp_path / "out"
    images = four_images(src)
    rows = [{"image": images[0].name, "seed": None},  # null: the default seed
            {"image": images[1].name, "seed": "abc"}, {"image": images[2].name, "output": 5},
            {"image": images[3].name, "stepz": 2}, {"image": images[3].name, "alpha": 0.2, "output": "x.png"},
            {"image": images[2].name, "steps": "many", "output": "y.png"}]  # fmt: skip
    manifest = src / "items.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    r = CliRunner().invoke(main, ["batch", str(manifest), "-i", "remove the cat", "-o", str(out), "--dry-run",
                                  "--seed", "7", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == BatchFailed.exit_code, r.output
    log = {rec["index"]: rec for rec in read_log(out / "refedit-batch.jsonl")}
    assert [log[i]["status"] for i in range(7)] == ["done", "failed", "failed", "failed", "done", "failed", "failed"]
    assert log[0]["seed"] == 7 and log[4]["plan"]["action"] == "remove"  # alpha is refdiff's: dropped, and said
    warned = [ln for ln in r.stderr.splitlines() if ln.startswith("refedit: warning: column 'alpha'")]
    assert warned == ["refedit: warning: column 'alpha' is not used by the chosen stages (rules, grounded-sam, diffedit): "
                      "it is an option of segmenter refdiff, and this run ignores its values"], r.stderr
    assert "items.jsonl:2: seed must be an integer in [0, 9223372036854775807], got 'abc'" == log[1]["error"]
    assert "items.jsonl:3: output must be a string, got 5" == log[2]["error"]
    assert "items.jsonl:4: unknown column 'stepz'; did you mean 'steps'?" == log[3]["error"]
    assert "steps must be an integer in [1, 999], got 'many'" in log[5]["error"]
    assert "items.jsonl:7: not a JSON object" in log[6]["error"] and log[6]["exit_code"] == BadInput.exit_code
    # a refused row names its photo and output as the rows that ran do (it was the manifest's relative path, no output)
    assert log[5]["input"] == str(images[2].resolve()) and log[5]["output"] == str(out / "y.png")
    assert log[1]["input"] == log[0]["input"].replace(images[0].name, images[1].name)


@pytest.mark.parametrize("case", ["all-rows-bad", "not-utf8", "unwritable-output", "unwritable-log", "name-no-ext",
                                  "bad-option", "missing-model", "wrong-checkpoint-kind", "sam-at-a-clip-folder"])  # fmt: skip
def test_doomed_batch_is_refused_up_front_without_a_log(tmp_path, tiny_env, tiny_models, case):
    src = tmp_path / "in"
    images = four_images(src)
    manifest = src / "items.csv"
    manifest.write_text("image,instruction,stepz\n" + "".join(f"{p.name},remove the cat,2\n" for p in images[:2]))
    out, args, env = tmp_path / "out", [], dict(tiny_env)
    if case == "not-utf8":
        manifest.write_bytes(b"image,instruction\nimg0.png,remove the \xff cat\n")
    elif case != "all-rows-bad":
        manifest.write_text("image,instruction\n" + "".join(f"{p.name},remove the cat\n" for p in images))
    if case == "unwritable-output":
        out = Path("/proc/refedit-batch-out")
    elif case == "unwritable-log":
        args = ["--log", "/proc/refedit.jsonl"]
    elif case == "name-no-ext":
        args = ["--name", "{stem}"]
    elif case == "bad-option":
        args = ["-O", "encode_ratio=abc"]
    elif case == "missing-model":
        env["REFEDIT_SAM_MODEL"] = str(tmp_path / "no-sam-here")
    elif case == "wrong-checkpoint-kind":  # an inpainting UNet for DiffEdit
        args = ["--editor-model", str(tiny_models["sd-inpaint"])]
    elif case == "sam-at-a-clip-folder":
        env["REFEDIT_SAM_MODEL"] = str(tiny_models["clip"])
    before = snapshot(tmp_path)
    r = CliRunner().invoke(main, ["batch", str(manifest), "-o", str(out), *args, *FAST], env=env)
    line = refused(r)
    expected = {"all-rows-bad": "unknown column 'stepz'; did you mean 'steps'? (and the other 1 rows are invalid",
                "not-utf8": "is not UTF-8 text (byte 0xff", "unwritable-output": "/proc", "unwritable-log": "/proc",
                "name-no-ext": "no image extension", "bad-option": "got 'abc'", "missing-model": "does not exist",
                "wrong-checkpoint-kind": "9-channel UNet", "sam-at-a-clip-folder": "is not a SAM checkpoint"}[case]  # fmt: skip
    assert expected in line, line
    model_cases = ("missing-model", "wrong-checkpoint-kind", "sam-at-a-clip-folder")
    assert r.exit_code == (5 if case in model_cases else BadInput.exit_code)
    assert snapshot(tmp_path) == before and not out.exists()  # no log, no output folder, nothing touched


def snapshot(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_the_name_template_says_ext_has_no_dot():
    """{ext} is the input's extension without its dot: the refusal of a name with no extension and --help say
    so, and '{stem}.{ext}' keeps the input's format."""
    assert render_name("{stem}.{ext}", stem="a", index=0, seed=0, ext=".jpg") == "a.jpg"
    with pytest.raises(BadInput, match=r"gives 'ajpg', .* or in \.\{ext\} for the input's own extension \(\{ext\} has no "
                                       r"dot\)"):
        render_name("{stem}{ext}", stem="a", index=0, seed=0, ext=".jpg")
    r = CliRunner().invoke(main, ["batch", "--help"], terminal_width=200)
    assert "{ext} (the input's extension without the dot: '{stem}_edited.{ext}')" in " ".join(r.output.split())


def test_a_batch_without_editor_sends_additions_to_inpaint(tmp_path, tiny_env):
    """As `refedit edit`: with no --editor, a folder's "add ..." items are painted by the inpainting editor."""
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 1)
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"box": [50, 10, 90, 50], "score": 0.9, "label": "cat"}]))
    args = ["batch", str(src), "-i", "add a coffee cup to the left of the cat", "--detections", str(dets), "--box-mask",
            "--steps", "2", "--resolution", "64", "--json"]  # fmt: skip
    for extra, editor in (([], "inpaint"), (["--editor", "diffedit", "--overwrite"], "diffedit")):
        r = CliRunner().invoke(main, [*args, "-o", str(out), *extra], env=tiny_env)
        assert r.exit_code == 0, r.output
        [record] = [json.loads(line) for line in r.stdout.splitlines()]
        assert record["status"] == "done" and record["parameters"]["editor"] == editor


def test_batch_outputs_carry_their_inputs_colour_profile(tmp_path, tiny_env):
    """Each item's output carries its own input's ICC profile (byte for byte); an untagged input's output none."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    photo = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((96, 64))
    photo.save(src / "tagged.jpg", icc_profile=profile)
    photo.save(src / "plain.jpg")
    r = CliRunner().invoke(main, ["batch", str(src), "-i", "replace the cat with a tiger", "-o", str(out),
                                  "--name", "{stem}_edited.jpg", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert Image.open(out / "tagged_edited.jpg").info.get("icc_profile") == profile
    assert "icc_profile" not in Image.open(out / "plain_edited.jpg").info


def test_fail_fast_refuses_an_invalid_manifest_row_before_any_edit(tmp_path, monkeypatch):
    """With --fail-fast, a row that fails its checks (here an unknown column) stops the run before row 1 is edited:
    nothing is written (without the flag the valid rows run and the invalid one is logged as failed)."""
    monkeypatch.setenv("REFEDIT_CONFIG", os.devnull)
    Image.new("RGB", (32, 32), "white").save(tmp_path / "a.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"image": "a.png", "instruction": "remove the cup"}\n'
                        '{"image": "a.png", "instruction": "remove the cup", "stepz": 3}\n')
    r = CliRunner().invoke(main, ["batch", str(manifest), "-o", str(tmp_path / "out"), "--fail-fast"])
    assert r.exit_code == 2 and "unknown column 'stepz'" in r.stderr and "nothing was run" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_instruction_for_every_image_that_names_nothing_fails_once(tmp_path, monkeypatch):
    monkeypatch.setenv("REFEDIT_CONFIG", os.devnull)
    for k in range(3):
        Image.new("RGB", (32, 32), "white").save(tmp_path / f"{k}.png")
    r = CliRunner().invoke(main, ["batch", str(tmp_path), "-i", "make it nicer", "-o", str(tmp_path / "out")])
    assert r.exit_code == 3 and len(r.stderr.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_log_cuts_a_torn_last_line_before_appending(tmp_path):
    """A kill mid-write left a last line without its newline; the next run's first record was glued onto it and
    lost (one line that is no JSON). The torn line is cut, every line after is whole, long records too."""
    log_path = tmp_path / "log.jsonl"
    log_path.write_text('{"key": "a", "status": "done"}\n{"key": "b", "sta')
    log = JsonlLog(log_path)
    log.write({"key": "c", "status": "done", "notes": "x" * 20000})  # over a text buffer: one write
    log.write({"key": "d", "status": "failed"})
    log.close()
    lines = log_path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c", "d"]


def test_a_rows_encoding_ratios_replace_the_runs(tmp_path, tiny_env):
    """A row's ``encode_ratio`` wins over the command line's ``--encode-ratio 0.4,0.6`` sweep (it was overridden: the
    row asking for 0.7 got the sweep), and a list in a row's ``encode_ratio`` is a sweep, as on the command line (it
    was refused as no number); ``encode_ratios`` sweeps too, and a row giving no ratio keeps the run's sweep."""
    Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((96, 64)).save(tmp_path / "cat.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text('image,instruction,encode_ratio,encode_ratios,output\n'
                        'cat.png,make the cat blue,0.7,,one.png\n'
                        'cat.png,make the cat blue,"0.3,0.5",,list.png\n'
                        'cat.png,make the cat blue,,0.2:0.4:0.2,range.png\n'
                        'cat.png,make the cat blue,,,run.png\n'
                        'cat.png,make the cat blue,"0.3,0.4","0.3,0.5",both.png\n')  # fmt: skip
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["batch", str(manifest), "-o", str(out), "--encode-ratio", "0.4,0.6", *FAST],
                           env=tiny_env)  # fmt: skip
    records = read_log(out / "refedit-batch.jsonl")
    log = {Path(rec["output"]).name: rec for rec in records if rec["status"] == "done"}
    assert log["one.png"]["status"] == "done" and not log["one.png"].get("variants"), log["one.png"]
    assert log["one.png"]["parameters"]["encode_ratio"] == 0.7 and (out / "one.png").is_file()
    ratios = {name: [v["encode_ratio"] for v in log[name]["variants"]] for name in ("list.png", "range.png", "run.png")}
    assert ratios == {"list.png": [0.3, 0.5], "range.png": [0.2, 0.4], "run.png": [0.4, 0.6]}
    assert (out / "list_r0.30.png").is_file() and (out / "run_r0.60.png").is_file()
    [failed] = [rec for rec in records if rec["status"] == "failed"]
    assert "m.csv:6: give the encoding ratios once" in failed["error"], failed
    assert r.exit_code == BatchFailed.exit_code and "4 done, 0 skipped, 1 failed" in r.stderr


def test_a_batch_never_writes_a_file_it_reads(tmp_path, tiny_env, monkeypatch):
    """With --overwrite, row 1's output b.jpg replaced row 2's photo before row 2 read it; --log pointing at the manifest
    or at a photo appended JSON to it (the next run failed on the manifest, the photo was corrupt); --log naming a
    folder was an internal error. Each is refused before anything runs, nothing written."""
    monkeypatch.chdir(tmp_path)
    for name, photo in (("a.jpg", "cat.jpg"), ("b.jpg", "coffee.jpg")):
        (tmp_path / name).write_bytes((EXAMPLES / photo).read_bytes())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    chained = tmp_path / "chain.jsonl"
    chained.write_text('{"image": "a.jpg", "instruction": "make the cat blue", "output": "b.jpg"}\n'
                       '{"image": "b.jpg", "instruction": "make the cup blue", "output": "c.png"}\n')  # fmt: skip
    one = tmp_path / "one.jsonl"
    one.write_text('{"image": "a.jpg", "instruction": "make the cat blue", "output": "x.png"}\n')
    (tmp_path / "logs").mkdir()
    cases = [
        (["batch", "chain.jsonl", "-o", ".", "--overwrite"], "item 1 writes b.jpg, which item 2 reads"),
        (["batch", "one.jsonl", "-o", "out", "--log", "one.jsonl"], "--log one.jsonl is the manifest"),
        (["batch", "one.jsonl", "-o", "out", "--log", "a.jpg"], "--log a.jpg is a file item 1 reads"),
        (["batch", "one.jsonl", "-o", "out", "--log", "logs"], "--log logs is a folder"),
    ]
    (tmp_path / "out").mkdir()
    for args, says in cases:
        r = CliRunner().invoke(main, [*args, *FAST], env=tiny_env)
        assert r.exit_code == BadInput.exit_code and says in r.stderr, (args, r.stderr)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == {**before, "chain.jsonl": chained.read_bytes(),
                                                                                 "one.jsonl": one.read_bytes()}
    assert not list((tmp_path / "out").iterdir()) and not list((tmp_path / "logs").iterdir())


@pytest.mark.parametrize("command", ["batch", "eval"])
def test_one_run_at_a_time_in_an_output_folder(tmp_path, tiny_env, command):
    """Two `eval edit` runs into one folder mixed their records (the summary's figures came from both), two batches
    their logs. A second run while the first is alive is refused (exit 2, nothing written); a lock left by a killed
    run (its process gone) is taken over, and a finished run leaves no lock."""
    from refedit.core.files import LOCK_NAME

    out = tmp_path / "out"
    out.mkdir()
    src = tmp_path / "in"
    make_images(src, 1)
    if command == "batch":
        args = ["batch", str(src), "-i", "make the cat blue", "-o", str(out), *FAST]
    else:
        from refedit.testing.tiny_eval import write_sample_sets

        sets = write_sample_sets(tmp_path / "sets")
        args = ["eval", "edit", str(sets["manifest"]), "-o", str(out), "--limit", "1", "--metrics", "pixels", *FAST]
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_NAME).write_text(f"{alive.pid}\n")
        r = CliRunner().invoke(main, args, env=tiny_env)
        assert r.exit_code == BadInput.exit_code, r.output
        assert f"another refedit run (process {alive.pid}) is writing in {out}" in r.stderr
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    finally:
        alive.kill()
        alive.wait()
    r = CliRunner().invoke(main, args, env=tiny_env)  # the lock's process is gone: taken over
    assert r.exit_code == 0, r.output
    assert not (out / LOCK_NAME).exists()


def test_a_jpg_and_a_png_of_one_stem_get_their_own_outputs_and_drawings(tmp_path, tiny_env):
    """'--name {stem}_edited.{ext}', the template for a folder holding photo.jpg and photo.png, was refused as 'two
    items write out/photo_edited.png': their candidates drawings were one file (photo_edited_candidates.png)."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.open(EXAMPLES / "cat.jpg").save(src / "photo.jpg")
    Image.open(EXAMPLES / "cat.jpg").save(src / "photo.png")
    r = CliRunner().invoke(main, ["batch", str(src), "-i", "replace the cat with a tiger", "-o", str(out), "--name",
                                  "{stem}_edited.{ext}", "--dry-run", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code in (0, 7), r.output
    from refedit.outputs import candidates_path

    assert candidates_path(out / "photo_edited.jpg") != candidates_path(out / "photo_edited.png")


def test_a_full_or_read_only_disk_stops_the_batch_at_the_first_item_it_fails():
    """A full disk let every later item run its whole edit only to fail writing it (hours on a GPU batch); now the
    first such failure stops the batch, one line and exit 2, the items before it kept and logged."""
    import errno

    from refedit.batch import Summary, failure, log_records
    from refedit.core.files import _cannot_write

    full = _cannot_write(Path("out/a.png"), OSError(errno.ENOSPC, "No space left on device"))
    try:
        raise full from OSError(errno.ENOSPC, "No space left on device")
    except BadInput as err:
        record = failure(err)
    assert record["stops_batch"] and "No space left on device" in record["error"]
    assert "stops_batch" not in failure(BadInput("output a.png is the input file a.png"))

    class Log:
        def __init__(self) -> None:
            self.records: list[dict] = []

        def write(self, r: dict) -> None:
            self.records.append(r)

    log = Log()
    later = iter([{"status": "done"}, {**record, "index": 1}, {"status": "done"}])
    with pytest.raises(BadInput, match=r"stopped after 2 item\(s\): cannot write out/a.png: No space left on device"):
        log_records(later, log)  # type: ignore[arg-type]
    assert [r["status"] for r in log.records] == ["done", "failed"] and next(later) == {"status": "done"}
    assert isinstance(log_records(iter([{"status": "done"}]), Log()), Summary)  # type: ignore[arg-type]
