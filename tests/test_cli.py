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
# the tiny random detector's 20 boxes all score alike: these plumbing runs take the highest score on purpose
FAST_ARGS = ["--steps", str(FAST["steps"]), "--resolution", str(FAST["resolution"]), "--box-threshold", "0",
             "--on-ambiguous", "best"]


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


@pytest.mark.parametrize("size", [(1, 300), (3000, 2)])
def test_extreme_aspect_ratios_are_edited(tmp_path, tiny_env, size):
    """A 1x300 strip or a 3000x2 line: every model input keeps at least one pixel per side (the processors'
    size rules give 0 there), and the output has the input's size."""
    src = tmp_path / "strip.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(src)
    out = tmp_path / "out.png"
    r = run(["edit", str(src), "replace the cat with a tiger", "-o", str(out), *FAST_ARGS], env=tiny_env)
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == size


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


@pytest.mark.parametrize("how", [["--debug"], "REFEDIT_DEBUG=1", "REFEDIT_DEBUG=yes"])
def test_debug_shows_traceback_and_keeps_the_exit_code(tmp_path, how):
    env = dict([how.split("=")]) if isinstance(how, str) else {}
    r = CliRunner().invoke(main, [*(how if isinstance(how, list) else []), "edit", str(tmp_path / "nope.jpg"),
                                  "remove the cat"], env=env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and "Traceback" in r.stderr, r.output
    assert r.stderr.splitlines()[-1].startswith("refedit: error: ")


@pytest.mark.parametrize("value,code,traceback", [("0", BadInput.exit_code, False), ("false", BadInput.exit_code, False),
                                                  ("", BadInput.exit_code, False), ("maybe", BadInput.exit_code, False)])  # fmt: skip
def test_debug_off_values_are_off_and_a_bad_one_is_named(tmp_path, value, code, traceback):
    r = CliRunner().invoke(main, ["edit", str(tmp_path / "nope.jpg"), "remove the cat"], env={"REFEDIT_DEBUG": value})
    assert r.exit_code == code and ("Traceback" in r.output) is traceback, r.output
    if value == "maybe":
        assert "invalid REFEDIT_DEBUG 'maybe'" in r.stderr


@pytest.mark.parametrize("where,needle", [("nope.toml", "does not exist"), (".", "is a folder")])
def test_a_config_file_that_is_not_there_is_named(tmp_path, where, needle):
    r = CliRunner().invoke(main, ["edit", str(CAT), "remove the cat", "-o", str(tmp_path / "o.png")],
                           env={"REFEDIT_CONFIG": str(tmp_path / where)})  # fmt: skip
    assert r.exit_code == BadInput.exit_code and f"(REFEDIT_CONFIG) {needle}" in r.stderr, r.output
    assert not (tmp_path / "o.png").exists()


def test_an_option_given_twice_says_how():
    r = CliRunner().invoke(main, ["edit", str(CAT), "remove the cat", "-O", "steps=7", "-O", "steps=8"])
    assert r.exit_code == BadInput.exit_code and "steps is given twice (by two -O)" in r.stderr, r.output
    r = CliRunner().invoke(main, ["edit", str(CAT), "remove the cat", "--steps", "7", "-O", "steps=8"])
    assert r.exit_code == BadInput.exit_code and "steps is given twice (by its flag and by -O)" in r.stderr, r.output


def test_parse_command_json():
    r = run(["parse", "Please remove the second car from the left.", "--json"])
    plan = json.loads(r.stdout)
    assert plan["action"] == "remove" and plan["target"]["ordinal"] == 2 and plan["target"]["spatial"] == "left"


# --------------------------------------------------------------------------- refused before any work (issue 10)
import os  # noqa: E402
import socket  # noqa: E402

from refedit.errors import ModelUnavailable, TargetNotFound  # noqa: E402
from refedit.pipeline.stages import registry  # noqa: E402

from .conftest import ROOT  # noqa: E402

EDIT = ["edit", str(CAT), "replace the cat with a tiger"]
#: runs the CLI in a fresh process and reports what it imported: a refusal must come before torch and spaCy
PROBE = (
    "import sys\nfrom refedit.cli import main\ncode = 0\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code or 0\n"
    "print('IMPORTED', 'torch' in sys.modules, 'spacy' in sys.modules, 'EXIT', code, file=sys.stderr)"
)


def refused(stderr: str, stdout: str = "") -> str:
    """The one error line of a refusal (asserting there is exactly one, with no traceback, and no stdout)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("refedit: error: "), stderr
    assert "Traceback" not in stderr and stdout == ""
    return lines[0]


def probe(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, bool]:
    """(exit code, the error line, whether torch or spaCy were imported) of one CLI run in a fresh process."""
    r = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, **(env or {})})  # fmt: skip
    *lines, last = r.stderr.strip().splitlines()
    _, torch_seen, spacy_seen, _, code = last.split()
    return int(code), refused("\n".join(lines), r.stdout), "True" in (torch_seen, spacy_seen)


def snapshot(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.parametrize(
    "extra,env,needle",
    [(["-O", "steps=abc"], {}, "steps must be an integer in [1, 1000], got 'abc'"),
     (["-O", "stepz=2"], {}, "unknown option 'stepz'; did you mean 'steps'?"),
     (["-O", "alpha=0.2"], {}, "'alpha' is not used by the chosen stages (rules, grounded-sam, diffedit)"),
     (["--strength", "0.5"], {}, "it is an option of editor inpaint, editor kontext, editor qwen-edit, editor sdedit"),
     (["--seed", "99999999999999999999999"], {}, "seed must be an integer in [0, 9223372036854775807]"),
     (["--steps", "1000000"], {}, "steps must be an integer in [1, 1000], got 1000000"),
     (["--encode-ratio", "0"], {}, "encode_ratio must be a number in (0, 1], got 0.0"),
     ([], {"REFEDIT_MAX_PIXELS": "abc"}, "REFEDIT_MAX_PIXELS must be an integer >= 1, got 'abc'"),
     ([], {"REFEDIT_DEVICE": "tpu"}, "invalid device 'tpu'")],
)  # fmt: skip
def test_bad_values_are_refused_before_any_import(tmp_path, tiny_env, extra, env, needle):
    out = tmp_path / "out.png"
    code, line, heavy = probe([*EDIT, "-o", str(out), *extra], {**tiny_env, **env})
    assert code == BadInput.exit_code and needle in line, line
    assert not heavy and not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["-o", "--save-mask"])
@pytest.mark.parametrize("where", ["proc", "missing-parent", "parent-is-a-file"])
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, tiny_env, flag, where):
    (tmp_path / "file").write_text("x")
    target = {"proc": Path("/proc/refedit-out.png"), "missing-parent": tmp_path / "no" / "such" / "out.png",
              "parent-is-a-file": tmp_path / "file" / "out.png"}[where]  # fmt: skip
    args = ["-o", str(target)] if flag == "-o" else ["-o", str(tmp_path / "ok.png"), "--save-mask", str(target)]
    before = snapshot(tmp_path)
    code, line, heavy = probe([*EDIT, *args], tiny_env)
    assert code == BadInput.exit_code and str(target.parent) in line and not heavy, line
    assert snapshot(tmp_path) == before and not target.exists()


def test_attention_output_is_checked_before_any_work(tmp_path, tiny_env):
    code, line, heavy = probe(["segment", str(CAT), "the cat", "--segmenter", "refdiff", "--attention",
                               "/proc/attention.png"], tiny_env)  # fmt: skip
    assert code == BadInput.exit_code and "/proc" in line and not heavy


@pytest.mark.parametrize(
    "role,value,needle",
    [("REFEDIT_SD_MODEL", "/no/such/sd-folder", "the folder '/no/such/sd-folder' does not exist"),
     ("REFEDIT_GROUNDING_MODEL", "nobody/no-such-detector", "not in the local cache and the hub cannot be reached")],
)  # fmt: skip
def test_missing_model_is_reported_before_parsing(tmp_path, tiny_env, role, value, needle):
    """HF_HUB_OFFLINE is set by the test harness: the hub is out of reach, so the model cannot be fetched."""
    out = tmp_path / "out.png"
    code, line, heavy = probe([*EDIT, "-o", str(out)], {**tiny_env, role: value})
    assert code == ModelUnavailable.exit_code and needle in line and not heavy, line
    assert list(tmp_path.iterdir()) == []


def test_non_utf8_instruction_bytes_are_bad_input():
    r = subprocess.run([sys.executable, "-m", "refedit", "parse", b"replace the \xff cat with a tiger"],
                       capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert r.returncode == BadInput.exit_code
    assert "not UTF-8 text (byte 0xff at position 12)" in refused(r.stderr, r.stdout)


def test_empty_user_mask_is_target_not_found(tmp_path, tiny_env):
    black = tmp_path / "black.png"
    Image.new("L", Image.open(CAT).size, 0).save(black)
    before = snapshot(tmp_path)
    r = run([*EDIT, "-o", str(tmp_path / "out.png"), "--mask", str(black), *FAST_ARGS], env=tiny_env)
    assert r.exit_code == TargetNotFound.exit_code and "the mask is empty" in refused(r.stderr, r.stdout)
    assert snapshot(tmp_path) == before


def test_empty_segmenter_result_stops_before_diffusion(tmp_path, tiny_env, tiny_settings):
    """A segmenter (registered through the real registry) that finds no pixels: exit 4 through the CLI, and
    in the chain the editor's UNet is never loaded."""
    from refedit.pipeline.artifacts import EditRequest, Hints, Segmentation
    from refedit.pipeline.chain import Pipeline
    from refedit.pipeline.models import ModelStore

    class Nothing:
        def segment(self, *, image, plan, hints):
            return Segmentation(mask=np.zeros((image.height, image.width), bool), reason="none", segmenter="nothing")

    registry.register("segmenter", "nothing", lambda context: Nothing())
    try:
        out = tmp_path / "out.png"
        r = run([*EDIT, "-o", str(out), "--segmenter", "nothing", "--steps", "4", "--resolution", "64"], env=tiny_env)
        assert r.exit_code == TargetNotFound.exit_code and not out.exists()
        assert "the mask is empty: the nothing segmenter found no pixels of 'cat'" in refused(r.stderr, r.stdout)
        store = ModelStore(tiny_settings)
        pipe = Pipeline.build(tiny_settings, segmenter="nothing", options={"steps": 4, "resolution": 64}, store=store)
        with pytest.raises(TargetNotFound, match="the mask is empty"):
            pipe.run(EditRequest(Image.open(CAT).convert("RGB"), "replace the cat with a tiger", Hints()))
        assert not [c for _, c in store.loads if c == "unet"], store.loads
    finally:
        registry.unregister("segmenter", "nothing")


def test_interrupt_while_importing_is_one_line():
    """Ctrl-C while the CLI is still being imported (the start-up window): one line, exit 130."""
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'click':\n            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\nsys.argv = ['refedit', '--help']\n"
        "from refedit.__main__ import run\nrun()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 130 and r.stderr == "refedit: error: interrupted\n", r.stderr


def test_interrupt_while_parsing_arguments_is_one_line(monkeypatch):
    def interrupted(value):  # Ctrl-C lands while click converts --seed
        raise KeyboardInterrupt

    monkeypatch.setattr("refedit.cli.options.check_seed", interrupted)
    r = CliRunner().invoke(main, [*EDIT, "--seed", "3"])
    assert r.exit_code == 130 and refused(r.stderr, r.stdout) == "refedit: error: interrupted"


def test_usage_errors_are_one_line():
    r = CliRunner().invoke(main, [*EDIT, "--stepz", "3"])
    assert r.exit_code == 2 and "No such option '--stepz'" in refused(r.stderr, r.stdout)


def test_llm_fallback_warning_is_one_line():
    with socket.socket() as s:  # a port nothing listens on: the endpoint refuses the connection
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = CliRunner().invoke(main, ["parse", "remove the cat", "--parser", "llm", "--llm-base-url",
                                  f"http://127.0.0.1:{port}/v1", "--llm-retries", "0", "--json"],
                           env={"OPENAI_API_KEY": "test"})  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["parser"] == "rules"
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("refedit: warning: LLM parser failed (cannot connect"), r.stderr


@pytest.mark.parametrize("command", ["edit", "segment", "eval-segment"])
def test_detections_that_are_no_file_are_refused_up_front(command, tmp_path, tiny_env):
    """A folder (or a missing path) given as --detections is one line, exit 2, before any model or item runs."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"image": str(EXAMPLES / "cat.jpg"), "expression": "the cat"}) + "\n")
    args = {"edit": ["edit", str(EXAMPLES / "cat.jpg"), "remove the cat", "-o", str(tmp_path / "o.png")],
            "segment": ["segment", str(EXAMPLES / "cat.jpg"), "the cat"],
            "eval-segment": ["eval", "segment", str(manifest), "-o", str(tmp_path / "run")]}[command]  # fmt: skip
    for dets, word in ((tmp_path, "is a folder"), (tmp_path / "nope.json", "is not there")):
        r = CliRunner().invoke(main, [*args, "--detections", str(dets)], env=tiny_env)
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and word in lines[0] and "Traceback" not in r.output
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "run").exists()


def test_parse_text_output_shows_relations_and_placements():
    r = run(["parse", "make the cup on the table to the left of the sofa blue"])
    assert "relation:    on 'table to the left of the sofa'" in r.output and "relation:    left-of 'sofa'" in r.output
    r = run(["parse", "add a cup to the left of the book"])
    assert "placement:   left-of the target" in r.output and "target:      book" in r.output


@pytest.mark.parametrize("command", ["edit", "segment"])
def test_an_instruction_and_another_plan_are_refused(tmp_path, tiny_env, command):
    """`edit IMG "remove the dog" --plan p.json` where p.json is another edit: which was meant? Refused before any
    work (exit 2); the same instruction as the plan's is fine."""
    plan = tmp_path / "p.json"
    r = run(["parse", "replace the cat with a tiger", "--json"])
    plan.write_text(r.stdout)
    out = tmp_path / ("o.png" if command == "edit" else "m.png")
    r = CliRunner().invoke(main, [command, str(CAT), "remove the dog", "--plan", str(plan), "-o", str(out),
                                  *FAST_ARGS], env=tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and "not both" in r.stderr and not out.exists(), r.output
    r = run([command, str(CAT), "replace the cat with a tiger", "--plan", str(plan), "-o", str(out), *FAST_ARGS],
            env=tiny_env)  # fmt: skip
    assert r.exit_code == 0 and out.exists(), r.output


def test_error_lines_are_one_safe_line_and_parse_refuses_an_empty_instruction():
    """An instruction with a newline or an escape sequence is echoed escaped (one line, nothing sent to the
    terminal); an empty one is bad input (exit 2) for parse as for edit."""
    r = CliRunner().invoke(main, ["parse", "\x1b[31mhello\nworld"])
    assert r.exit_code == UnclearInstruction.exit_code and len(r.stderr.splitlines()) == 1, r.output
    assert "\x1b" not in r.stderr and "\\x1b[31mhello\\nworld" in r.stderr
    for empty in ("", "   "):
        r = CliRunner().invoke(main, ["parse", empty])
        assert r.exit_code == BadInput.exit_code and "the instruction is empty" in r.stderr, r.output


def test_help_shows_percent_signs_as_written():
    r = CliRunner().invoke(main, ["edit", "--help"], terminal_width=200)
    assert "N% per side" in r.output and "%%" not in r.output
