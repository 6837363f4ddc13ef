"""``refedit batch --engine ray`` (issue 16) on a local Ray with 2 CPU workers and the tiny models: the same outputs,
log and exit codes as the local engine, a killed driver resumed with nothing redone, and a one-line refusal
without Ray installed."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.errors import BatchFailed, ModelUnavailable

from .conftest import EXAMPLES, ROOT

FAST = ["--steps", "4", "--resolution", "64", "--box-threshold", "0", "--on-ambiguous", "best", "--seed", "3"]
INSTRUCTION = "replace the cat with a tiger"
PHOTOS = ["cat.jpg", "coffee.jpg", "coins.jpg", "rocket.jpg"]
BAD = {"corrupt.jpg": "BadInput", "notes.png": "BadInput"}  # a truncated JPEG and a text file named .png
#: log fields that measure time, not results
TIMED = {"seconds", "timings", "output"}


def eight_items(folder: Path) -> Path:
    """A folder of 8 inputs: 6 images of 3 sizes and the 2 bad files of :data:`BAD`."""
    folder.mkdir(parents=True)
    for i in range(6):
        Image.open(EXAMPLES / PHOTOS[i % 4]).convert("RGB").resize((96 + 8 * (i % 3), 64)).save(folder / f"img{i}.png")
    (folder / "corrupt.jpg").write_bytes((EXAMPLES / "cat.jpg").read_bytes()[:1500])
    (folder / "notes.png").write_text("this is not an image")
    return folder


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_input(records: list[dict]) -> dict[str, dict]:
    return {Path(r["input"]).name: r for r in records}


@pytest.fixture(scope="module")
def local_ray():  # type: ignore[no-untyped-def]
    """A local Ray of 2 CPUs (and no GPU, on any machine) with a small object store, shut down after the module."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, num_gpus=0, object_store_memory=200 * 1024**2, include_dashboard=False,
             log_to_driver=False)  # fmt: skip
    yield ray
    ray.shutdown()


@pytest.fixture
def one_thread():  # type: ignore[no-untyped-def]
    """torch on 1 intra-op thread, as in a 1-CPU Ray actor (Ray sets OMP_NUM_THREADS=1 there): float sums split
    over another number of threads may differ in the last bit, so bit-identity needs the same thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_cli(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "refedit.cli", *args], env={**os.environ, **env}, capture_output=True,
                          text=True, cwd=ROOT, timeout=300, **kw)  # fmt: skip


def test_ray_engine_gives_the_local_engines_outputs_and_log(tmp_path, tiny_env, one_thread):
    """The command starts (and stops) its own local Ray; the local engine runs in this process on 1 thread."""
    src = eight_items(tmp_path / "in")
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    r = CliRunner().invoke(main, ["batch", str(src), "-i", INSTRUCTION, "-o", str(local), *FAST], env=tiny_env)
    assert r.exit_code == BatchFailed.exit_code, r.output
    r = run_cli(["batch", str(src), "-i", INSTRUCTION, "-o", str(ray_out), "--engine", "ray", "--workers", "2", *FAST],
                {**tiny_env, "RAY_USAGE_STATS_ENABLED": "0"})  # fmt: skip
    assert r.returncode == BatchFailed.exit_code, r.stderr
    assert "batch: 6 done, 0 skipped, 2 failed" in r.stderr and "Traceback" not in r.stderr
    local_log = by_input(read_log(local / "refedit-batch.jsonl"))
    ray_log = by_input(read_log(ray_out / "refedit-batch.jsonl"))
    assert len(ray_log) == 8 and sorted(rec["status"] for rec in ray_log.values()) == ["done"] * 6 + ["failed"] * 2
    assert {n: rec["error_type"] for n, rec in ray_log.items() if rec["status"] == "failed"} == BAD
    for name, rec in ray_log.items():  # the same record, field for field, but for the times and the folder
        same = {k: v for k, v in local_log[name].items() if k not in TIMED}
        assert {k: v for k, v in rec.items() if k not in TIMED} == same, name
        assert Path(rec["output"]).relative_to(ray_out) == Path(local_log[name]["output"]).relative_to(local)
    outputs = sorted(p.name for p in local.glob("*_edited.png"))
    assert len(outputs) == 6 and sorted(p.name for p in ray_out.glob("*_edited.png")) == outputs
    for name in outputs:  # bit-identical files (pixels and the PNG's refedit metadata) for the same seeds
        assert (ray_out / name).read_bytes() == (local / name).read_bytes(), name
    assert sorted(Path(line).name for line in r.stdout.split()) == outputs
    found = re.search(r"ray: 8 items on 2 workers \((\d+) items, (\d+) model loads; (\d+) items, (\d+) model loads\)",
                      r.stderr)  # fmt: skip
    assert found, r.stderr  # both actors worked; each loaded its models once ("loaded again" would follow)
    assert int(found[1]) + int(found[3]) == 8 and found[2] == found[4] and int(found[2]) > 0


def test_killed_ray_driver_resumes_without_redoing_items(tmp_path, tiny_env, local_ray):
    """Drivers joining a running cluster (--address); SIGKILL of the first after 3 logged items, then a rerun."""
    src, out = eight_items(tmp_path / "in"), tmp_path / "out"
    address = local_ray.get_runtime_context().gcs_address
    args = ["batch", str(src), "-i", INSTRUCTION, "-o", str(out), "--engine", "ray", "--address", address,
            "--workers", "2", *FAST]  # fmt: skip
    env = {**os.environ, **tiny_env, "RAY_USAGE_STATS_ENABLED": "0"}
    log = out / "refedit-batch.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "refedit.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and (not log.exists() or len(read_log(log)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    while time.time() < deadline and local_ray.available_resources().get("CPU", 0) < 2:
        time.sleep(0.1)  # the cluster ends the dead driver's actors: after that no file of its run changes
    first = read_log(log)
    assert 3 <= len(first) < 8, "the driver must be killed part-way"
    made = {p: p.stat().st_mtime_ns for p in out.rglob("*_edited.png")}
    for p in made:  # whatever exists is a whole image
        Image.open(p).load()
    r = run_cli(args, tiny_env | {"RAY_USAGE_STATS_ENABLED": "0"})
    assert r.returncode == BatchFailed.exit_code, r.stderr
    second = read_log(log)[len(first):]
    assert {p: p.stat().st_mtime_ns for p in made} == made  # nothing written before the rerun was rewritten
    # an item an actor finished after its driver died is on disk but not in the log: the rerun skips it too
    assert {rec["output"] for rec in first if rec["status"] == "done"} <= {str(p) for p in made}
    assert {Path(rec["output"]) for rec in second if rec["status"] == "skipped"} == set(made)
    rerun = [Path(rec["output"]) for rec in second if rec["status"] == "done"]
    assert len(rerun) == len(set(rerun)) and not set(rerun) & set(made)
    assert set(rerun) | set(made) == set(out.rglob("*_edited.png")) and len(set(rerun) | set(made)) == 6
    assert sorted(Path(rec["input"]).name for rec in second if rec["status"] == "failed") == sorted(BAD)
    assert f"{6 - len(made)} done, {len(made)} skipped, 2 failed" in r.stderr
    assert not list(out.rglob("*.part"))


def test_ray_engine_without_ray_says_how_to_install(tmp_path, tiny_env, monkeypatch):
    src, out = eight_items(tmp_path / "in"), tmp_path / "out"
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    r = CliRunner().invoke(main, ["batch", str(src), "-i", INSTRUCTION, "-o", str(out), "--engine", "ray", *FAST],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == ModelUnavailable.exit_code
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refedit: error: ") and "pip install 'refedit[ray]'" in lines[0]
    assert not out.exists()


def test_ray_options_need_the_ray_engine(tmp_path, tiny_env):
    src = eight_items(tmp_path / "in")
    r = CliRunner().invoke(main, ["batch", str(src), "-i", INSTRUCTION, "-o", str(tmp_path / "out"), "--workers", "2"],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == 2 and r.stderr.strip() == "refedit: error: --workers only work with --engine ray"
    assert not (tmp_path / "out").exists()


def test_gpus_the_cluster_lacks_are_refused_before_the_log(tmp_path, tiny_env, local_ray):
    src, out = eight_items(tmp_path / "in"), tmp_path / "out"
    r = CliRunner().invoke(main, ["batch", str(src), "-i", INSTRUCTION, "-o", str(out), "--engine", "ray",
                                  "--gpus-per-worker", "1", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 2 and r.stderr.strip() == "refedit: error: --gpus-per-worker 1 but the Ray cluster has 0 GPUs"
    assert not out.exists() and local_ray.is_initialized()  # a Ray this command did not start is left running


def test_eval_edit_runs_its_edits_on_the_ray_engine(tmp_path, tiny_env, local_ray, one_thread):
    """``refedit eval edit --engine ray``: the edits on Ray's actors, the scoring in the driver; the same images and
    the same scores as the local engine, and a rerun scores nothing again."""
    from refedit.testing.tiny_eval import build_eval_models, write_sample_sets

    data = write_sample_sets(tmp_path / "sets")["manifest"]
    env = {**tiny_env, **{f"REFEDIT_{r.upper()}_MODEL": str(p) for r, p in build_eval_models(tmp_path / "m").items()}}
    args = ["eval", "edit", str(data), "--metrics", "pixels,clip", "--json", *FAST]
    runs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        r = CliRunner().invoke(main, [*args, "-o", str(out), "--engine", engine], env=env, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        runs[engine] = {rec["id"]: rec for rec in read_log(out / "samples.jsonl")}
    assert len(runs["ray"]) == 6 and set(runs["ray"]) == set(runs["local"])
    assert sum(rec["edit_status"] == "done" for rec in runs["ray"].values()) >= 4  # (one set text is unclear)
    for sid, rec in runs["ray"].items():
        local = runs["local"][sid]
        assert rec["edit_status"] == local["edit_status"]
        if rec["edit_status"] == "done":
            assert Path(rec["output"]).read_bytes() == Path(local["output"]).read_bytes()
        scores = {k: v for k, v in rec.items() if k not in {"output", "edit_seconds"}}
        assert scores == {k: v for k, v in local.items() if k not in {"output", "edit_seconds"}}
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "ray"), "--engine", "ray"], env=env, catch_exceptions=False)
    assert r.exit_code == 0 and len(read_log(tmp_path / "ray" / "samples.jsonl")) == 6  # resumed: nothing appended


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_gpu_count_that_is_no_number_is_refused_before_ray_starts(tmp_path, tiny_env, value):
    src, out = eight_items(tmp_path / "in"), tmp_path / "out"
    r = CliRunner().invoke(main, ["batch", str(src), "-i", INSTRUCTION, "-o", str(out), "--engine", "ray",
                                  "--gpus-per-worker", value, *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 2 and r.stderr.strip().startswith("refedit: error: --gpus-per-worker must be a finite"), r.output
    assert not out.exists()


def test_an_unreachable_cluster_is_one_line_in_seconds(tmp_path, tiny_env):
    """Nothing listens at the address: one line naming it (Ray itself retries for minutes, logging each try)."""
    import socket

    with socket.socket() as s:  # a port just freed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src, out = eight_items(tmp_path / "in"), tmp_path / "out"
    start = time.monotonic()
    r = CliRunner().invoke(main, ["batch", str(src), "-i", INSTRUCTION, "-o", str(out), "--engine", "ray",
                                  "--address", f"127.0.0.1:{port}", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 2 and time.monotonic() - start < 30, r.output
    assert r.stderr.strip().splitlines()[-1].startswith(f"refedit: error: cannot reach the Ray cluster at 127.0.0.1:{port}")
    assert not out.exists()
