
import pytest

from refedit.config import MODEL_ROLES, Settings, env_var
from refedit.errors import BadInput


def test_defaults_are_public_ids(tmp_path):
    s = Settings.resolve(environ={}, config_file=tmp_path / "none.toml")
    assert s.model("sd") == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert s.model("grounding") == "IDEA-Research/grounding-dino-base"
    assert s.model("sam") == "facebook/sam-vit-huge"
    assert set(s.models) == set(MODEL_ROLES) and s.device == "auto"


def test_precedence_flag_env_file_default(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('device = "cpu"\n[models]\nsd = "/file/sd"\nsam = "/file/sam"\nclip = "/file/clip"\n')
    env = {env_var("sd"): "/env/sd", env_var("sam"): "/env/sam"}
    s = Settings.resolve(models={"sd": "/flag/sd"}, environ=env, config_file=cfg)
    assert s.model("sd") == "/flag/sd"
    assert s.model("sam") == "/env/sam"
    assert s.model("clip") == "/file/clip"
    assert s.model("grounding") == MODEL_ROLES["grounding"][0]
    assert s.device == "cpu"


def test_a_model_path_under_home_is_expanded(tmp_path):
    """`sd = "~/models/sd"` in the config file was 'the folder ~/models/sd does not exist'."""
    import os

    cfg = tmp_path / "c.toml"
    cfg.write_text('[models]\nsd = "~/models/sd"\n')
    assert Settings.resolve(environ={env_var("sam"): "~/sam"}, config_file=cfg).model("sd") == os.path.expanduser("~/models/sd")
    assert Settings.resolve(environ={env_var("sam"): "~/sam"}, config_file=cfg).model("sam") == os.path.expanduser("~/sam")


def test_a_missing_editor_model_names_editor_model(tiny_env, tmp_path):
    from click.testing import CliRunner

    from refedit.cli import main

    r = CliRunner().invoke(main, ["edit", "examples/cat.jpg", "remove the cat", "--editor-model", str(tmp_path / "nope"),
                                  "-o", str(tmp_path / "o.png")], env=tiny_env)  # fmt: skip
    assert r.exit_code == 5 and "point --editor-model at" in r.stderr and "--sd-model" not in r.stderr, r.stderr


@pytest.mark.parametrize("bad", [{"device": "tpu"}, {"dtype": "int8"}, {"models": {"nope": "x"}}])
def test_invalid_settings(bad, tmp_path):
    with pytest.raises(BadInput):
        Settings.resolve(environ={}, config_file=tmp_path / "none.toml", **bad)


def test_bad_config_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("device = = 3")
    with pytest.raises(BadInput, match="not valid TOML"):
        Settings.resolve(environ={}, config_file=cfg)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_config_file_that_is_no_file_is_refused_at_the_default_location(kind, tmp_path):
    """A folder (or a fifo) at $XDG_CONFIG_HOME/refedit/config.toml dropped every setting without a word."""
    import os
    from pathlib import Path

    from click.testing import CliRunner

    from refedit.cli import main

    place = tmp_path / "refedit" / "config.toml"
    place.parent.mkdir()
    place.mkdir() if kind == "folder" else os.mkfifo(place)
    env = {"XDG_CONFIG_HOME": str(tmp_path), "REFEDIT_CONFIG": None}
    r = CliRunner().invoke(main, ["segment", "examples/cat.jpg", "the cat"], env=env)
    what = "a folder" if kind == "folder" else "not a regular file"
    assert r.exit_code == 2 and r.stderr == f"refedit: error: config file {place} is {what}; make it a TOML file, or " \
        "move it away (REFEDIT_CONFIG names another)\n", r.output
    assert Settings.resolve(environ={}, config_file=Path(os.devnull)).device == "auto"


# --------------------------------------------------------------------------- one typed validation path
from typing import Literal  # noqa: E402

from refedit.config import SEED_MAX, Range, check_environment, check_seed, max_pixels, typed  # noqa: E402


@pytest.mark.parametrize(
    "value,kind,bounds,expected",
    [("4", int, Range(1, 1000), 4), (4.0, int, None, 4), ("0.25", float, Range(0, 1), 0.25), (3, float, None, 3.0),
     ("on", bool, None, True), (0, bool, None, False), ("paper", Literal["paper", "official"], None, "paper"),
     ("null", int | None, Range(1), None), ("7", int | None, Range(1), 7)],
)  # fmt: skip
def test_typed_parses_shell_csv_and_json_values(value, kind, bounds, expected):
    got = typed("x", value, kind, bounds)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "value,kind,bounds,accepted",
    [("abc", int, Range(1, 1000), "an integer in [1, 1000]"), (2.5, int, None, "an integer"),
     (True, int, None, "an integer"), ("nan", float, Range(0), "a number >= 0"), ("inf", float, None, "a number"),
     ("0", float, Range(0, 1, lo_open=True), "a number in (0, 1]"), ("maybe", bool, None, "true or false"),
     (5, str, None, "a string"), ("mean", Literal["paper", "official"], None, "one of paper, official")],
)  # fmt: skip
def test_typed_refusal_names_value_and_what_is_accepted(value, kind, bounds, accepted):
    with pytest.raises(BadInput) as err:
        typed("steps", value, kind, bounds)
    assert str(err.value) == f"steps must be {accepted}, got {value!r}"


def test_numpy_scalars_are_the_numbers_they_hold():
    """steps=np.int64(2) was 'steps must be an integer in [1, 1000], got np.int64(2)'."""
    import numpy as np

    assert typed("steps", np.int64(2), int, Range(1, 1000)) == 2 and type(typed("s", np.int64(2), int)) is int
    assert typed("r", np.float32(0.5), float, Range(0, 1)) == 0.5 and typed("b", np.bool_(True), bool) is True
    assert check_seed(np.uint32(7)) == 7
    with pytest.raises(BadInput, match=r"steps must be an integer in \[1, 1000\], got 0"):
        typed("steps", np.int16(0), int, Range(1, 1000))
    with pytest.raises(BadInput):
        typed("steps", np.array([2, 3]), int)


def test_seed_range_fits_the_generator():
    """Seeds up to SEED_MAX are accepted, and so are the small offsets stages add to them (torch's generator
    takes 64-bit unsigned seeds); one past it is refused before any work."""
    import torch

    for offset in (0, 1, 1000):
        torch.Generator().manual_seed(SEED_MAX + offset)
    with pytest.raises((RuntimeError, ValueError)):
        torch.Generator().manual_seed(2**64)
    assert check_seed(str(SEED_MAX)) == SEED_MAX and check_seed(0) == 0
    for bad in (SEED_MAX + 1, -1, "99999999999999999999999", "abc", 1.5):
        with pytest.raises(BadInput, match=r"seed must be an integer in \[0, 9223372036854775807\]"):
            check_seed(bad)


def test_max_pixels_environment_variable_is_typed():
    assert max_pixels({"REFEDIT_MAX_PIXELS": "1000"}) == 1000
    assert max_pixels({}) == max_pixels({"REFEDIT_MAX_PIXELS": ""}) > 0
    for bad in ("abc", "0", "-5", "1.5"):
        with pytest.raises(BadInput, match="REFEDIT_MAX_PIXELS must be an integer >= 1"):
            check_environment({"REFEDIT_MAX_PIXELS": bad})


@pytest.mark.parametrize(
    "text,match",
    [('devise = "cpu"', "unknown key 'devise'; did you mean 'device'"), ("device = 3", "device must be a string"),
     ('compile = "sometimes"', "compile must be true or false"), ("models = 3", r"\[models\] must be a table"),
     ('[models]\nsdd = "x"', "unknown model role 'sdd'; did you mean 'sd'"), ("[models]\nsd = 5", "must be a string"),
     (b"device = '\xff'", "not valid TOML")],
)  # fmt: skip
def test_config_file_values_are_typed(tmp_path, text, match):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(BadInput, match=match):
        Settings.resolve(environ={}, config_file=cfg)


# --------------------------------------------------------------------------- stage options, checked up front
from refedit.pipeline.stages import check_options, model_roles  # noqa: E402

DEFAULT_STAGES = {"parser": "rules", "segmenter": "grounded-sam", "editor": "diffedit"}


def test_options_are_typed_by_the_chosen_stages():
    out = check_options({"steps": "4", "encode_ratio": "0.3", "box_mask": "true", "guidance": None}, DEFAULT_STAGES)
    assert out == {"steps": 4, "encode_ratio": 0.3, "box_mask": True}


@pytest.mark.parametrize(
    "options,stages,match",
    [({"stepz": 2}, DEFAULT_STAGES, "unknown option 'stepz'; did you mean 'steps'"),
     ({"alpha": 0.2}, DEFAULT_STAGES, "'alpha' is not used by the chosen stages .*segmenter refdiff"),
     ({"strength": 0.5}, DEFAULT_STAGES, "editor inpaint, editor kontext, editor qwen-edit, editor sdedit"),
     ({"steps": "abc"}, DEFAULT_STAGES, r"steps must be an integer in \[1, 999\], got 'abc'"),
     ({"encode_ratio": 2}, DEFAULT_STAGES, r"encode_ratio must be a number in \(0, 1\]"),
     ({"refdiff_t_index": 30}, {**DEFAULT_STAGES, "segmenter": "refdiff"}, "t_index must be .* steps=20"),
     ({"llm_timeout": 0}, {"parser": "llm"}, r"llm_timeout must be a number in \(0, 600\]")],
)  # fmt: skip
def test_option_refusals_name_the_option(options, stages, match):
    with pytest.raises(BadInput, match=match):
        check_options(options, stages)


def test_steps_are_bounded_by_the_schedulers_training_steps(tiny_models):
    """T beyond the scheduler's training steps puts every DDIM step on one timestep (an edit of hours); T equal to them
    asks for a timestep past the last (the leading spacing's offset of 1), so the most is one fewer."""
    import json

    trained = json.loads((tiny_models["sd"] / "scheduler" / "scheduler_config.json").read_text())["num_train_timesteps"]
    assert check_options({"steps": trained - 1}, DEFAULT_STAGES)["steps"] == trained - 1
    with pytest.raises(BadInput, match=f"steps must be an integer in \\[1, {trained - 1}\\]"):
        check_options({"steps": trained}, DEFAULT_STAGES)


def test_model_roles_follow_the_options():
    assert model_roles(DEFAULT_STAGES, {}) == [("grounding", None), ("sam", None), ("sd", None)]
    assert model_roles(DEFAULT_STAGES, {"detections": "d.json", "box_mask": True, "editor_model": "/m"}) == [("sd", "/m")]
    assert ("captioner", None) in model_roles({"parser": "llm"}, {"describe": True})


def test_library_edit_refuses_unknown_options():
    import refedit

    from .conftest import EXAMPLES

    with pytest.raises(BadInput, match="unknown option 'stepz'; did you mean 'steps'"):
        refedit.edit(EXAMPLES / "cat.jpg", "replace the cat with a tiger", stepz=2)


@pytest.mark.parametrize("var,value,says", [
    ("REFEDIT_DTYPE", "float8", "REFEDIT_DTYPE: invalid dtype 'float8'; choose from auto, float32, float16, bfloat16"),
    ("REFEDIT_DEVICE", "tpu", "REFEDIT_DEVICE: invalid device 'tpu'"),
    ("REFEDIT_DEVICE", "cuda:x", "REFEDIT_DEVICE: invalid device 'cuda:x'"),
    ("REFEDIT_OFFLOAD", "gpu", "REFEDIT_OFFLOAD: invalid offload 'gpu'"),
    ("REFEDIT_ON_AMBIGUOUS", "maybe", "REFEDIT_ON_AMBIGUOUS: invalid on-ambiguous 'maybe'"),
])  # fmt: skip
def test_a_bad_setting_is_named_where_it_was_given(var, value, says, tmp_path):
    """An invalid REFEDIT_DTYPE said "invalid dtype 'float8'; choose from ... (or cuda:N)", naming neither the
    variable nor the config file; the dtype's list borrowed the device's "(or cuda:N)"."""
    with pytest.raises(BadInput) as err:
        Settings.resolve(environ={var: value}, config_file=tmp_path / "none.toml")
    assert str(err.value).startswith(says) and ("cuda:N" in str(err.value)) == (var == "REFEDIT_DEVICE")
    (tmp_path / "c.toml").write_text(f'{var.removeprefix("REFEDIT_").lower()} = "{value}"\n')
    with pytest.raises(BadInput, match=rf"^config file .*c.toml: {var.removeprefix('REFEDIT_').lower()}: invalid"):
        Settings.resolve(environ={}, config_file=tmp_path / "c.toml")


@pytest.mark.parametrize("env,says", [({"REFEDIT_COMPILE": "maybe"}, "REFEDIT_COMPILE: invalid compile"),
                                      ({"REFEDIT_TRUST_CHECKPOINT": "2"}, "REFEDIT_TRUST_CHECKPOINT: invalid")])
def test_a_bad_boolean_variable_is_named(env, says):
    with pytest.raises(BadInput, match=says):
        Settings.resolve(environ=env)


def test_the_on_ambiguous_flag_wins_over_a_bad_variable(tiny_env, tmp_path):
    """--on-ambiguous best with REFEDIT_ON_AMBIGUOUS=bogus was refused for the variable (--device cpu with a bad
    REFEDIT_DEVICE ran): the flag wins, as the README's precedence says."""
    from click.testing import CliRunner

    from refedit.cli import main

    args = ["segment", "examples/cat.jpg", "the cat", "--detections", "examples/dets_cat.json", "--box-mask",
            "-o", str(tmp_path / "m.png")]  # fmt: skip
    env = {**tiny_env, "REFEDIT_ON_AMBIGUOUS": "bogus"}
    r = CliRunner().invoke(main, [*args, "--on-ambiguous", "best"], env=env)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, args, env=env)
    assert r.exit_code == 2 and "REFEDIT_ON_AMBIGUOUS: invalid on-ambiguous 'bogus'" in r.stderr
    tied = ["segment", "examples/cat.jpg", "the cat", "--box-threshold", "0", "-o", str(tmp_path / "m.png")]
    r = CliRunner().invoke(main, tied, env={**tiny_env, "REFEDIT_ON_AMBIGUOUS": "best"})  # said "--on-ambiguous best"
    assert r.exit_code == 0 and "(on_ambiguous = best from the environment or config file; ambiguous" in r.output, r.output[-600:]
