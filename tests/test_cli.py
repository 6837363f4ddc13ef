"""The CLI end to end on a real photo with the tiny models, and every kind of bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.errors import BadInput, UnclearInstruction
from refedit.pipeline.artifacts import EditResult

from .conftest import EXAMPLES, FAST

CAT = EXAMPLES / "cat.jpg"
FAST_ARGS = ["--steps", str(FAST["steps"]), "--resolution", str(FAST["resolution"]), "--box-threshold", "0"]


def run(args, env=None):
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_help_and_stages_do_not_import_torch():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom refedit.cli import main\n"
        "for a in (['--help'], ['stages'], ['--version'], ['edit', '--help']):\n"
        "    r = CliRunner().invoke(main, a)\n    assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch imported'\nprint('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_stages_lists_builtins():
    r = run(["stages", "--json"])
    names = {(row["kind"], row["name"]) for row in json.loads(r.output)}
    assert {("parser", "rules"), ("segmenter", "grounded-sam"), ("editor", "diffedit")} <= names


def test_edit_end_to_end(tmp_path, tiny_env):
    out, mask = tmp_path / "out.png", tmp_path / "mask.png"
    r = run(["edit", str(CAT), "replace the cat with a tiger", "-o", str(out), "--save-mask", str(mask),
             "--json", "--seed", "3", *FAST_ARGS], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    src = Image.open(CAT)
    assert Image.open(out).size == src.size
    m = np.asarray(Image.open(mask))
    assert m.shape == (src.height, src.width) and set(np.unique(m)) <= {0, 255} and m.any()
    result = EditResult.from_dict(record)
    assert result.plan.target.head == "cat" and result.plan.replacement == "tiger"
    assert result.parameters["seed"] == 3 and result.parameters["steps"] == FAST["steps"]
    assert np.array_equal(result.segmentation.mask, m > 127)
    assert result.metrics["outside_psnr"] == float("inf")
    assert set(result.timings) == {"parse", "segment", "edit", "total"}
    meta = json.loads(Image.open(out).text["refedit"])
    assert meta["seed"] == 3 and meta["instruction"] == "replace the cat with a tiger"


def _bad(tmp_path: Path, kind: str) -> tuple[list[str], Path]:
    out = tmp_path / "out.png"
    image, instruction = str(CAT), "replace the cat with a tiger"
    if kind == "missing":
        image = str(tmp_path / "nope.jpg")
    elif kind == "directory":
        image = str(tmp_path)
    elif kind == "text-as-png":
        (tmp_path / "t.png").write_text("not an image")
        image = str(tmp_path / "t.png")
    elif kind == "truncated":
        (tmp_path / "tr.jpg").write_bytes(CAT.read_bytes()[:2000])
        image = str(tmp_path / "tr.jpg")
    elif kind == "zero-bytes":
        (tmp_path / "z.jpg").write_bytes(b"")
        image = str(tmp_path / "z.jpg")
    elif kind == "empty-instruction":
        instruction = "  "
    elif kind == "unclear-instruction":
        instruction = "make it nicer"
    elif kind == "missing-out-dir":
        out = tmp_path / "no" / "such" / "dir" / "out.png"
    elif kind == "out-is-input":
        copy = tmp_path / "in.png"
        Image.open(CAT).save(copy)
        image, out = str(copy), copy
    return [image, instruction, "-o", str(out)], out


@pytest.mark.parametrize(
    "kind,code",
    [("missing", BadInput.exit_code), ("directory", BadInput.exit_code), ("text-as-png", BadInput.exit_code),
     ("truncated", BadInput.exit_code), ("zero-bytes", BadInput.exit_code),
     ("empty-instruction", BadInput.exit_code), ("unclear-instruction", UnclearInstruction.exit_code),
     ("missing-out-dir", BadInput.exit_code), ("out-is-input", BadInput.exit_code)],
)  # fmt: skip
def test_bad_input_one_line_exit_code_no_file(tmp_path, tiny_env, kind, code):
    args, out = _bad(tmp_path, kind)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    r = run(["edit", *args, *FAST_ARGS], env=tiny_env)
    assert r.exit_code == code, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("refedit: error: ") and "Traceback" not in r.output
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert after == before  # nothing written, nothing touched
    assert r.stdout == ""


def test_debug_shows_traceback(tmp_path):
    r = CliRunner().invoke(main, ["--debug", "edit", str(tmp_path / "nope.jpg"), "remove the cat"])
    assert isinstance(r.exception, BadInput)


def test_parse_command_json():
    r = run(["parse", "Please remove the second car from the left.", "--json"])
    plan = json.loads(r.stdout)
    assert plan["action"] == "remove" and plan["target"]["ordinal"] == 2 and plan["target"]["spatial"] == "left"
