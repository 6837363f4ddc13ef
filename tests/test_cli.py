"""The CLI end to end on a real photo with the tiny models, and every kind of bad input."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage

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
    # where the mask came from: two edits through different masks carried the same text
    import hashlib

    digest = hashlib.sha256(np.packbits(m > 127).tobytes() + repr(m.shape).encode()).hexdigest()
    assert meta["segmentation"] == {"segmenter": "grounded-sam", "reason": result.segmentation.reason,
                                    "area": int((m > 127).sum()), "mask_sha256": digest}  # fmt: skip
    assert meta["plan"] == record["plan"]


def test_an_animation_is_edited_as_its_first_frame_with_a_note(tmp_path, tiny_env):
    frames = [Image.new("RGB", (96, 64), c) for c in ((200, 40, 40), (40, 200, 40))]
    gif, out = tmp_path / "anim.gif", tmp_path / "out.png"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    r = run(["edit", str(gif), "make the cup blue", "-o", str(out), *FAST_ARGS], env=tiny_env)
    assert r.exit_code == 0, r.output
    assert f"refedit: note: {gif} has 2 frames: the first is edited, the output is a still image" in r.stderr
    assert Image.open(out).size == (96, 64)


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
    [(["-O", "steps=abc"], {}, "steps must be an integer in [1, 999], got 'abc'"),
     (["-O", "stepz=2"], {}, "unknown option 'stepz'; did you mean 'steps'?"),
     (["-O", "alpha=0.2"], {}, "'alpha' is not used by the chosen stages (rules, grounded-sam, diffedit)"),
     (["-O", "seed=5"], {}, "option 'seed' is no stage option: give it as --seed"),  # (was diffedit-mask's)
     (["--strength", "0.5"], {}, "--strength is not used by the chosen stages (rules, grounded-sam, diffedit); it is an "
                                 "option of editor inpaint, editor kontext, editor qwen-edit, editor sdedit"),
     (["--editor", "inpaint", "--sweep", "0.3:0.7:0.2"], {}, "--sweep is not used by the chosen stages (rules, "
                                                             "grounded-sam, inpaint)"),
     (["--editor", "inpaint", "--encode-ratio", "0.3,0.5"], {}, "--encode-ratio is not used by the chosen stages"),
     (["--seed", "99999999999999999999999"], {}, "seed must be an integer in [0, 9223372036854775807]"),
     (["--steps", "1000000"], {}, "error: --steps must be an integer in [1, 999], got 1000000"),
     (["--steps", "1000"], {}, "error: --steps must be an integer in [1, 999], got 1000"),  # SD has no timestep 1000
     (["--encode-ratio", "0"], {}, "error: --encode-ratio must be a number in (0, 1], got 0.0"),
     (["-O", "encode_ratio=0"], {}, "error: encode_ratio must be a number in (0, 1], got '0'"),
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


@pytest.mark.parametrize("args,needle", [
    (["--llm-timeout", "5"], "--llm-timeout is not used by the chosen stages (rules); it is an option of parser llm"),
    (["--parser", "llm", "--llm-retries", "-1"], "--llm-retries must be an integer in [0, 10], got -1")])
def test_parse_names_an_option_by_the_flag_that_gave_it(args, needle):
    r = CliRunner().invoke(main, ["parse", "remove the cat", *args])
    assert r.exit_code == 2 and r.stderr == f"refedit: error: {needle}\n", r.output


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


def test_progress_clock_starts_when_the_phase_starts(tiny_settings, capsys):
    """Each phase's clock starts at its step-0 report (before step 1), so step 1's time counts: the first line is
    no longer "1/N (0.0s elapsed, ~0.0s left)". A phase of the same name run again (a sweep's ratios) restarts it."""
    from refedit.cli.progress import progress_reporter
    from refedit.pipeline.models import ModelStore

    now = [0.0]
    report = progress_reporter(ModelStore(tiny_settings), clock=lambda: now[0])
    for t, task, done, total in [(10, "invert", 0, 4), (12, "invert", 1, 4), (14, "invert", 2, 4),
                                 (20, "edit", 0, 2), (23, "edit", 1, 2), (26, "edit", 2, 2),
                                 (30, "edit", 0, 2), (31, "edit", 1, 2)]:  # fmt: skip
        now[0] = float(t)
        report(task, done, total)
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("refedit:")]
    assert lines == ["invert: 1/4 (2.0s elapsed, ~6.0s left)", "invert: 2/4 (4.0s elapsed, ~4.0s left)",
                     "edit: 1/2 (3.0s elapsed, ~3.0s left)", "edit: 2/2 (6.0s elapsed, ~0.0s left)",
                     "edit: 1/2 (1.0s elapsed, ~1.0s left)"]  # fmt: skip


def test_the_reason_line_is_on_stderr_when_stdout_carries_the_image(tiny_env):
    """With -o - (or an image read from stdin) the line saying which object was chosen, and the time, was missing."""
    r = CliRunner().invoke(main, ["edit", str(CAT), "make the cat red", "-o", "-", *FAST_ARGS], env=tiny_env)
    assert r.exit_code == 0 and r.stdout_bytes.startswith(b"\x89PNG")
    assert r.stderr.splitlines()[-1].endswith("s") and "detection" in r.stderr.splitlines()[-1], r.stderr


def test_gpu_only_settings_are_said_to_do_nothing_on_the_cpu(tiny_settings, capsys):
    """--offload model and --cuda-graphs on ran on the CPU without a word (the JSON even recorded the offload)."""
    from dataclasses import replace

    from refedit.cli.progress import progress_reporter
    from refedit.pipeline.models import ModelStore

    progress_reporter(ModelStore(replace(tiny_settings, offload="model", cuda_graphs="on")))("edit", 0, 2)
    assert "refedit: note: --offload model, --cuda-graphs on only act on a GPU: no effect here" in capsys.readouterr().err
    progress_reporter(ModelStore(tiny_settings))("edit", 0, 2)
    assert "note" not in capsys.readouterr().err


# --------------------------------------------------------------------------- new-user trial
import errno  # noqa: E402


def error_line(r) -> str:  # type: ignore[no-untyped-def]
    """The one ``refedit: error:`` line of a run that failed after progress lines, asserting there is no traceback."""
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("refedit: error: ")]
    assert len(errors) == 1 and "Traceback" not in r.output, r.output
    return errors[0]


def test_additions_go_to_the_inpaint_editor_when_no_editor_is_given(tmp_path, tiny_env):
    """With no --editor, "add ..." is painted by the inpainting editor (its checkpoint is available); an editor
    named on the command line is used as named; without an inpainting checkpoint DiffEdit tries, with a warning."""
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"box": [250, 100, 350, 200], "score": 0.9, "label": "cat"}]))
    args = ["edit", str(CAT), "add a coffee cup to the left of the cat", "--detections", str(dets), "--box-mask",
            "-o", str(tmp_path / "o.png"), "--json", "--steps", "3", "--resolution", "64"]  # fmt: skip
    no_inpaint = {**tiny_env, "REFEDIT_INPAINT_MODEL": str(tmp_path / "no-inpaint-here")}
    for extra, env, editor in (([], tiny_env, "inpaint"), (["--editor", "diffedit"], tiny_env, "diffedit"),
                               ([], no_inpaint, "diffedit")):  # fmt: skip
        r = run([*args, *extra], env=env)
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["parameters"]["editor"] == editor
        warned = [ln for ln in r.stderr.splitlines() if ln.startswith("refedit: warning: ")]
        assert bool(warned) is (env is no_inpaint) and all("cannot create an object" in w for w in warned), r.stderr
    assert "additions ('add a cup ...') go to inpaint" in " ".join(run(["edit", "--help"]).output.split())


@pytest.mark.parametrize("sweep", [False, True])
def test_a_failed_mask_write_writes_no_output(tmp_path, tiny_env, monkeypatch, sweep):
    """A full disk while --save-mask is written: one error line naming the mask (exit 2), and nothing written: the
    new image (or a sweep's images and sheet) not there, the old output as it was, no temporary file left."""
    import refedit.pipeline.imageio as imageio

    out, mask = tmp_path / "out.png", tmp_path / "mask.png"
    out.write_bytes(b"old output")
    real = imageio.atomic_write

    def full_disk_for_the_mask(path, write, **kw):  # type: ignore[no-untyped-def]
        def fail(fh):  # type: ignore[no-untyped-def]
            fh.write(b"\0" * 64)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return real(path, fail if Path(path) == mask else write, **kw)

    monkeypatch.setattr(imageio, "atomic_write", full_disk_for_the_mask)
    r = run([*EDIT, "-o", str(out), "--save-mask", str(mask), *FAST_ARGS,
             *(["--encode-ratio", "0.3,0.6"] if sweep else [])], env=tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and r.stdout == "", r.output
    assert error_line(r) == f"refedit: error: cannot write {mask}: No space left on device"
    assert out.read_bytes() == b"old output" and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


@pytest.mark.parametrize("args", [[], ["eval"]])
def test_a_group_without_a_command_shows_its_help(args):
    """Bare `refedit` (or `refedit eval`): the usage and help text as click shows it (on stderr, exit 2), not one
    error line with the newlines written as '\\n'."""
    r = CliRunner().invoke(main, args, prog_name="refedit")
    assert r.exit_code == 2 and r.stdout == "", r.output
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"Usage: {' '.join(['refedit', *args])} [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in lines
    assert "refedit: error" not in r.stderr and "\\n" not in r.stderr


def test_the_instruction_can_come_from_stdin(tmp_path, tiny_env):
    """INSTRUCTION `-` reads it from stdin (`echo "..." | refedit edit cat.jpg - -o x.png`, `refedit parse -`)."""
    text = "replace the cat with a tiger"
    r = CliRunner().invoke(main, ["parse", "-", "--json"], input=f"{text}\n")
    assert r.exit_code == 0 and json.loads(r.stdout) == json.loads(run(["parse", text, "--json"]).stdout), r.output
    out = tmp_path / "x.png"
    r = CliRunner().invoke(main, [*EDIT[:2], "-", "-o", str(out), *FAST_ARGS], env=tiny_env, input=f"{text}\n")
    assert r.exit_code == 0 and r.stdout == f"{out}\n", r.output
    assert json.loads(Image.open(out).text["refedit"])["instruction"] == text
    r = CliRunner().invoke(main, ["parse", "-"], input=b"remove the \xff cat")
    assert r.exit_code == BadInput.exit_code
    assert "the instruction on stdin is not UTF-8 text (byte 0xff at position 11)" in refused(r.stderr, r.stdout)


@pytest.mark.parametrize("command", ["edit", "segment"])
@pytest.mark.parametrize("other", ["image", "plan"])
def test_stdin_carries_the_instruction_or_the_image_not_both(tmp_path, tiny_env, command, other):
    args = [command, "-", "-"] if other == "image" else [command, str(CAT), "-", "--plan", "-"]
    before = snapshot(tmp_path)
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o.png")], env=tiny_env, input=CAT.read_bytes())
    assert r.exit_code == BadInput.exit_code
    assert f"stdin cannot carry both the {other} and the instruction" in refused(r.stderr, r.stdout)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["edit", "segment"])
@pytest.mark.parametrize("drop,words", [("target", "it has no 'target' key"),
                                        ("head", "its 'target' has no 'head' key")])  # fmt: skip
def test_a_plan_without_a_key_says_which(tmp_path, command, drop, words):
    """--plan JSON that lacks a key a plan needs names it in words, not as a bare KeyError ("...: 'target'")."""
    plan = json.loads(run(["parse", "replace the cat with a tiger", "--json"]).stdout)
    del (plan if drop == "target" else plan["target"])[drop]
    (tmp_path / "p.json").write_text(json.dumps(plan))
    r = CliRunner().invoke(main, [command, str(CAT), "--plan", str(tmp_path / "p.json"), "-o", str(tmp_path / "o.png")])
    assert r.exit_code == BadInput.exit_code
    not_a_plan = f"--plan {tmp_path / 'p.json'} is not a refedit plan (JSON from `refedit parse --json`)"
    assert refused(r.stderr, r.stdout) == f"refedit: error: {not_a_plan}: {words}"


def test_a_failed_runs_record_given_as_plan_is_refused(tmp_path, tiny_env):
    """`parse | segment --json | edit --plan -` with segment failing (exit 7, ambiguous): edit took the record's plan,
    wrote its image (with a mask left over from an earlier run) and exited 0. A failed run's record, and an empty
    stdin, are refused; a segmentation record's mask is said not to be used."""
    record = {"ambiguous": True, "exit_code": 7, "plan": json.loads(run(["parse", "remove the cat", "--json"]).stdout)}
    r = CliRunner().invoke(main, ["edit", str(CAT), "--plan", "-", "-o", str(tmp_path / "o.png")],
                           input=json.dumps(record), env=tiny_env)  # fmt: skip
    assert r.exit_code == 2 and r.stderr == ("refedit: error: --plan - is the record of a run that failed (exit 7: the "
                                             "target is ambiguous); nothing to edit\n"), r.output  # fmt: skip
    r = CliRunner().invoke(main, ["edit", str(CAT), "--plan", "-", "-o", str(tmp_path / "o.png")], input="", env=tiny_env)
    assert r.exit_code == 2 and "--plan - is empty (did the command before it in the pipe fail?)" in r.stderr
    assert not (tmp_path / "o.png").exists()
    seg = run(["segment", str(CAT), "the cat", "--box-threshold", "0", "--pick", "3", "--json"], env=tiny_env)
    r = CliRunner().invoke(main, ["segment", str(CAT), "--plan", "-", "--box-threshold", "0", "--pick", "3"],
                           input=seg.stdout, env=tiny_env)  # fmt: skip
    assert r.exit_code == 0 and "refedit: note: --plan - holds a segmentation too: its plan is used" in r.stderr


def test_an_edit_carries_the_inputs_colour_profile(tmp_path, tiny_env):
    """A photo tagged sRGB or Display P3 came out untagged, so viewers showed every pixel, the unchanged ones too,
    in other colours: each output (PNG, JPEG, WebP, TIFF; a sweep's results and sheet; ``-o -``) carries the
    input's ICC profile byte for byte, and an untagged input gives untagged outputs."""
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = Image.open(CAT).convert("RGB").resize((96, 72))
    photo.save(tmp_path / "tagged.jpg", icc_profile=profile)
    photo.save(tmp_path / "plain.png")
    edit = ["edit", str(tmp_path / "tagged.jpg"), "replace the cat with a tiger", *FAST_ARGS]
    for name in ("out.png", "out.jpg", "out.webp", "out.tif"):
        r = run([*edit, "-o", str(tmp_path / name)], env=tiny_env)
        assert r.exit_code == 0 and Image.open(tmp_path / name).info.get("icc_profile") == profile, (name, r.output)
    r = run([*edit, "-o", str(tmp_path / "sweep.jpg"), "--encode-ratio", "0.3,0.6"], env=tiny_env)
    assert r.exit_code == 0, r.output
    for name in ("sweep_r0.30.jpg", "sweep_r0.60.jpg", "sweep_jpg_sheet.png"):  # (sweep.png's sheet: its own)
        assert Image.open(tmp_path / name).info.get("icc_profile") == profile, name
    r = CliRunner().invoke(main, [*edit, "-o", "-"], env=tiny_env)
    assert r.exit_code == 0 and Image.open(io.BytesIO(r.stdout_bytes)).info.get("icc_profile") == profile
    r = run(["edit", str(tmp_path / "plain.png"), "replace the cat with a tiger", "-o", str(tmp_path / "p.jpg"),
             *FAST_ARGS], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0 and "icc_profile" not in Image.open(tmp_path / "p.jpg").info


def test_the_png_on_stdout_is_the_file_a_path_gets(tmp_path, tiny_env):
    """``-o -`` wrote the bare RGB image: a transparent PNG lost its alpha channel and the ``refedit`` text."""
    rgba = Image.open(CAT).convert("RGBA").resize((96, 72))
    alpha = np.full((72, 96), 255, np.uint8)
    alpha[:, :30] = 0
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "clear.png")
    edit = ["edit", str(tmp_path / "clear.png"), "replace the cat with a tiger", *FAST_ARGS]
    r = CliRunner().invoke(main, [*edit, "-o", "-"], env=tiny_env)
    assert r.exit_code == 0, r.output
    piped = Image.open(io.BytesIO(r.stdout_bytes))
    assert run([*edit, "-o", str(tmp_path / "out.png")], env=tiny_env).exit_code == 0
    filed = Image.open(tmp_path / "out.png")
    assert piped.mode == filed.mode == "RGBA" and np.array_equal(np.asarray(piped), np.asarray(filed))
    assert piped.info["refedit"] == filed.info["refedit"]


@pytest.mark.parametrize("ext,out_ext", [("png", "png"), ("webp", "webp"), ("png", "webp"), ("tif", "tif"),
                                         ("tga", "tga")])  # fmt: skip
def test_a_transparent_photo_is_unchanged_outside_the_edit(tmp_path, tiny_env, ext, out_ext):
    """Semi-transparent pixels outside the mask came back composited twice (the models' RGB on white, the alpha put
    back on it): all 126,638 of a test image's changed, by up to 246 levels. Outside the mask every RGBA pixel is the
    input's now; inside, the edit composited on white with the input's alpha is what the editor made. A lossless
    WebP was written lossy (every pixel a little off), and lossless it dropped the colour of fully transparent
    pixels (a PNG's, written as WebP)."""
    rng = np.random.default_rng(0)
    rgba = np.dstack([rng.integers(0, 256, (48, 64, 3)), np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))])
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(tmp_path / f"in.{ext}", **({"lossless": True} if ext == "webp" else {}))
    source = np.asarray(Image.open(tmp_path / f"in.{ext}").convert("RGBA"))
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:44] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    r = run(["edit", str(tmp_path / f"in.{ext}"), "make the cat blue", "--mask", str(tmp_path / "m.png"), "-o",
             str(tmp_path / f"out.{out_ext}"), *FAST_ARGS], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / f"out.{out_ext}").convert("RGBA"))
    near = ndimage.binary_dilation(mask > 0, np.ones((3, 3)), iterations=16)  # the paste-back's dilation and feather
    assert np.array_equal(out[~near], source[~near]) and np.array_equal(out[..., 3], source[..., 3])
    assert not np.array_equal(out[mask > 0], source[mask > 0])


def test_a_format_without_transparency_says_it_drops_it(tmp_path, tiny_env):
    clear = Image.open(CAT).convert("RGBA").resize((64, 48))
    clear.putalpha(Image.new("L", clear.size, 200))  # see-through (an all-opaque alpha is not called transparent)
    clear.save(tmp_path / "clear.png")
    r = run(["edit", str(tmp_path / "clear.png"), "make the cat blue", "-o", str(tmp_path / "out.jpg"), *FAST_ARGS],
            env=tiny_env)  # fmt: skip
    assert r.exit_code == 0 and "holds no transparency: the output is the image on white" in r.stderr, r.output


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_killed_edit_leaves_nothing_behind(tmp_path, tiny_env, sig):
    """SIGTERM or SIGHUP (a kill, a closed terminal) during an edit left its temporary file ('.out.png.*.part', up to
    2 MB) beside the output; the command stops as Ctrl-C does now: one line, exit 128 + the signal, no file."""
    import signal
    import time

    cmd = [sys.executable, "-m", "refedit.cli", "edit", str(CAT), "make the cat blue", "-o", str(tmp_path / "out.png"),
           "--resolution", "64", "--steps", "400", "--box-threshold", "0", "--on-ambiguous", "best"]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**os.environ, **tiny_env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    while "edit: " not in seen and proc.poll() is None:  # the denoising has started
        seen += proc.stderr.readline()
    time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, sig), seen + err
    assert f"refedit: error: terminated ({sig})" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_stdout_that_cannot_take_the_image_is_a_clear_error(tmp_path, tiny_env):
    """`-o - > /dev/full` was 'internal error: OSError' (exit 1), a closed stdout 'AttributeError: NoneType ...'."""
    cmd = [sys.executable, "-m", "refedit.cli", "edit", str(CAT), "make the cat blue", "-o", "-", *FAST_ARGS]
    with open("/dev/full", "wb") as full:
        r = subprocess.run(cmd, env={**os.environ, **tiny_env}, stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == BadInput.exit_code and "to stdout: No space left on device" in r.stderr, r.stderr
    r = subprocess.run(cmd, env={**os.environ, **tiny_env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       preexec_fn=lambda: os.close(1))  # fmt: skip
    assert r.returncode == BadInput.exit_code and "writes to stdout, which is closed" in r.stderr, r.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["parse", "remove the cat"], ["parse", "remove the cat", "--json"],
                                  ["segment", str(CAT), "the cat", "--json", *FAST_ARGS]])  # fmt: skip
def test_text_stdout_that_cannot_be_written_is_one_line_exit_2(args, tmp_path, tiny_env):
    """Paths, plans and JSON on a full stdout: 'Exception ignored ... Traceback' at the interpreter's exit and code
    120 (a code refedit does not document), or 'internal error' (exit 1) for --json."""
    if args[0] == "segment":
        args = [*args, "-o", str(tmp_path / "m.png")]
    with open("/dev/full", "wb") as full:
        r = subprocess.run([sys.executable, "-m", "refedit", *args], env={**os.environ, **tiny_env}, stdout=full,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith(("refedit: no GPU", "refedit: note"))]
    assert r.returncode == BadInput.exit_code, r.stderr
    assert lines == ["refedit: error: cannot write to stdout: No space left on device"], r.stderr


def test_a_reader_leaving_during_a_large_stdout_write_is_a_broken_pipe_not_a_cut_success(tmp_path, tiny_env):
    """`refedit edit ... -o - | (sleep 1; head -c 10)`: the pipe took 64 KiB, Python's buffered stdout returned that
    partial count when the reader left and the rest was dropped without an error, so the command exited 0 with its
    output cut. Every write of the CLI's stdout is whole or raises: exit 141, quietly, as `head` expects."""
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (500, 500, 3), dtype=np.uint8)).save(noise)
    cmd = (f"{sys.executable} -m refedit edit {noise} 'remove the left cat' -o - --resolution 64 --steps 2 "
           "--box-threshold 0 --on-ambiguous best 2>err.txt | (sleep 1; head -c 10 > /dev/null); echo ${PIPESTATUS[0]}")
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path, env={**os.environ, **tiny_env})
    assert r.stdout.strip() == "141", (r.stdout, (tmp_path / "err.txt").read_text())
    assert "Traceback" not in (tmp_path / "err.txt").read_text()


def test_the_console_script_writes_large_stdout_whole():
    """The wrapped stdout keeps the encoding and gets every byte through a pipe (the one-line JSON of a long plan)."""
    code = ("import sys; from refedit.__main__ import whole_stdout; whole_stdout(); "
            "sys.stdout.write('\\u00e9' * 300000); sys.stdout.flush()")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert r.returncode == 0 and r.stdout.decode("utf-8") == "\u00e9" * 300000, r.stderr


@pytest.mark.parametrize("args,says", [
    (["--encode-ratio", "0.9", "--sweep", "0.3:0.5:0.1"], "give the encoding ratios once"),  # 0.9 was dropped
    (["--lora-fuse"], "--lora-fuse merges the --lora adapters into the weights: give at least one --lora"),
])  # fmt: skip
def test_an_option_that_would_do_nothing_is_refused(args, says, tmp_path, tiny_env):
    out = tmp_path / "o.png"
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cat with a tiger", *FAST_ARGS, *args, "-o", str(out)],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and says in r.stderr and not out.exists(), r.output


def test_segmenter_options_beside_a_given_mask_are_said_to_do_nothing(tmp_path, tiny_env):
    """--mask gives the mask: --dilate 30, --box-threshold 0.9 and --pick 3 changed nothing, and nothing said so."""
    mask = np.zeros((300, 451), dtype=np.uint8)
    mask[100:250, 50:250] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cat with a tiger", "--mask", str(tmp_path / "m.png"),
                                  "--dilate", "30", "--pick", "3", "--steps", "1", "--resolution", "64", "-o",
                                  str(tmp_path / "o.png")], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "refedit: note: --dilate, --pick tune the segmenter, and --mask gives the mask: no effect here" in r.stderr
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cat with a tiger", "--mask", str(tmp_path / "m.png"),
                                  "--steps", "1", "--resolution", "64", "-o", str(tmp_path / "o2.png")], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0 and "tune the segmenter" not in r.stderr, r.stderr


def _shell(cmd: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_closed_standard_streams_are_not_internal_errors(tmp_path, tiny_env):
    """Found by an exploratory process test: `refedit stages >&-` and `refedit parse - <&-` were 'internal error:
    AttributeError: NoneType ...' (exit 1, documented as a bug)."""
    r = _shell(f"{sys.executable} -m refedit stages >&-", tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr  # nothing to say it to: done all the same
    for args, what in (("parse -", "the instruction"), (f"edit {CAT} - -o x.png", "the instruction"),
                       ("edit - 'remove the cat' -o x.png", "the image"), ("batch - -o out", "the manifest"),
                       (f"edit {CAT} --plan - -o x.png", "the plan")):  # fmt: skip
        r = _shell(f"{sys.executable} -m refedit {args} <&-", tmp_path, tiny_env)
        assert r.returncode == BadInput.exit_code, (args, r.stderr)
        assert r.stderr.strip().endswith(f"- reads {what} from stdin, which is closed; pipe it in or give a file"), r.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_help_and_version_into_a_full_disk_or_a_closed_pipe(tmp_path):
    """`refedit --help > /dev/full` was a traceback (exit 120); `refedit --help | true` exit 1 (documented as a bug)."""
    for flag in ("--help", "--version"):
        r = _shell(f"{sys.executable} -m refedit {flag} > /dev/full", tmp_path)
        assert r.returncode == BadInput.exit_code and r.stderr == (
            "refedit: error: cannot write to stdout: No space left on device\n"), r.stderr
    r = _shell(f"{sys.executable} -m refedit edit --help | true; echo ${{PIPESTATUS[0]}}", tmp_path)
    assert r.stdout.strip() in ("141", "0") and "Traceback" not in r.stderr, (r.stdout, r.stderr)


def test_a_file_name_with_a_newline_is_named_whole_in_the_error(tmp_path, tiny_env):
    """'refedit: error: image no' (the rest of the name and the reason cut at the newline)."""
    r = CliRunner().invoke(main, ["segment", "no\nsuch.jpg", "the cat"], env=tiny_env)
    assert r.exit_code == BadInput.exit_code and "image no\\nsuch.jpg does not exist" in r.stderr, r.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_stderr_that_cannot_be_written_does_not_stop_the_work(tmp_path, tiny_env):
    """Progress and notes are best effort: `2> /dev/full` stopped the edit at its first progress line (exit 1, no
    output)."""
    r = _shell(f"{sys.executable} -m refedit edit {CAT} 'make the cat blue' -o out.png {' '.join(FAST_ARGS)} 2>/dev/full",
               tmp_path, tiny_env)  # fmt: skip
    assert r.returncode == 0 and (tmp_path / "out.png").is_file(), r.stdout


def test_a_signal_after_the_work_is_committed_exits_0():
    """A Ctrl-C during the interpreter's teardown (the models being freed) reported 'interrupted', exit 130, for an
    edit whose output was complete."""
    code = ("import os, signal, time; from refedit.cli.app import done_on_signal; done_on_signal(); "
            "os.kill(os.getpid(), signal.SIGINT); time.sleep(10)")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
