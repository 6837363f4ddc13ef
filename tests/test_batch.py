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

from refedit.batch import BatchRunner, JsonlLog, items_from_folder, items_from_manifest, render_name
from refedit.cli import main
from refedit.errors import BadInput, BatchFailed
from refedit.pipeline.models import ModelStore

from .conftest import EXAMPLES, ROOT

FAST = ["--steps", "4", "--resolution", "64", "--box-threshold", "0"]
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
    runner = BatchRunner(tiny_settings, options={"steps": 3, "resolution": 64, "box_threshold": 0.0}, store=store)
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


def test_manifest_paths_may_not_escape(tmp_path):
    (tmp_path / "m").mkdir()
    manifest = tmp_path / "m" / "x.csv"
    manifest.write_text("image,instruction,steps\n../secret.png,remove the cat,3\n")
    with pytest.raises(BadInput, match="outside the manifest's folder"):
        items_from_manifest(manifest, tmp_path / "out")
    items = items_from_manifest(manifest, tmp_path / "out", allow_outside=True)
    assert items[0].options == {"steps": 3} and items[0].image == (tmp_path / "secret.png").resolve()
    with pytest.raises(BadInput, match="template"):
        render_name("{nope}.png", stem="a", index=0, seed=0, ext=".png")


def test_killed_batch_resumes_without_redoing_items(tmp_path, tiny_env):
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 12)
    cmd = [sys.executable, "-m", "refedit.cli", "batch", str(src), "-i", "replace the cat with a tiger", "-o",
           str(out), "--steps", "12", "--resolution", "64", "--box-threshold", "0"]  # fmt: skip
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
    opts = "--steps 3 --resolution 64 --box-threshold 0 --seed 2"
    script = f'cat {cat} | refedit edit - "replace the cat with a tiger" {opts} > {tmp_path}/piped.png'
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["refedit", "edit", str(cat), "replace the cat with a tiger", "-o", str(tmp_path / "file.png"),
                        *opts.split()], env=env, capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "piped.png")), np.asarray(Image.open(tmp_path / "file.png")))
    script = f'cat {cat} | refedit segment - "the cat" -o - --box-threshold 0 > {tmp_path}/mask.png'
    r = subprocess.run(["bash", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "mask.png").size == Image.open(cat).size
    r = CliRunner().invoke(main, ["edit", "-", "remove the cat", "--plan", "-"], input=b"")
    assert r.exit_code == BadInput.exit_code and "stdin cannot carry both" in r.stderr
