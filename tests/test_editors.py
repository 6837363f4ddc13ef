"""Every editor end to end through `refedit edit --editor NAME` on a tiny checkpoint of its kind."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.errors import ModelUnavailable
from refedit.pipeline.artifacts import Segmentation
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.core.masks import dilate

from .conftest import EXAMPLES
from .hooks import ddim_timesteps, record_unet_calls

COFFEE = EXAMPLES / "coffee.jpg"
FAST = ["--steps", "6", "--resolution", "64"]
EDITORS = {"diffedit": "sd", "inpaint": "sd-inpaint", "instruct": "sd-instruct", "sdedit": "sd"}


def mask_file(tmp_path, size):
    m = np.zeros((size[1], size[0]), np.uint8)
    m[size[1] // 4 : size[1] // 2, size[0] // 3 : size[0] // 2] = 255
    path = tmp_path / "mask.png"
    Image.fromarray(m).save(path)
    return path, m > 0


@pytest.mark.parametrize("editor", sorted(EDITORS))
def test_editor_end_to_end_cli(editor, tmp_path, tiny_env):
    size = Image.open(COFFEE).size
    mpath, mask = mask_file(tmp_path, size)
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", str(COFFEE), "remove the cup", "--editor", editor, "--mask", str(mpath),
                                  "-o", str(out), "--json", "--seed", "4", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["parameters"]["editor"] == editor and record["parameters"]["seed"] == 4
    src, res = np.asarray(Image.open(COFFEE).convert("RGB")), np.asarray(Image.open(out))
    assert res.shape == src.shape
    outside = ~dilate(mask, record["parameters"]["paste_dilate"] + record["parameters"]["feather"] + 1)
    assert np.array_equal(src[outside], res[outside]) and not np.array_equal(src[mask], res[mask])
    assert record["metrics"]["outside_psnr"] == "inf"


# calls by hand: one UNet call per DDIM step from strength s down to 0, i.e. s·T of the T steps, rounded up
# (never zero steps): 0.7·10 = 7, 10, 0.45·10 = 4.5 -> 5, 8
@pytest.mark.parametrize(
    "editor,options,calls",
    [("sdedit", {"steps": 10, "strength": 0.7}, 7), ("inpaint", {"steps": 10}, 10),
     ("inpaint", {"steps": 10, "strength": 0.45}, 5), ("instruct", {"steps": 8}, 8)],
)  # fmt: skip
def test_unet_calls_and_determinism(editor, options, calls, tiny_settings):
    img = Image.open(COFFEE).convert("RGB").resize((96, 64))
    mask = np.zeros((64, 96), bool)
    mask[10:40, 20:60] = True
    plan = RulesParser().parse(instruction="replace the cup with a bowl")
    results = []
    for _ in range(2):
        stage = build_stage("editor", editor, tiny_settings, resolution=64, **options)
        with record_unet_calls(stage.sd.unet) as seen:  # real UNet forwards, not the stage's counter
            results.append(stage.edit(image=img, plan=plan, segmentation=Segmentation(mask), seed=9))
        # the last `calls` timesteps of diffusers' own T-step DDIM schedule, noisiest first
        assert [c.timestep for c in seen] == ddim_timesteps(stage.sd.scheduler_config, options["steps"])[-calls:]
        assert stage.unet_calls == len(seen)
    assert np.array_equal(np.asarray(results[0].image), np.asarray(results[1].image))


@pytest.mark.parametrize("editor,wrong", [("inpaint", "sd"), ("instruct", "sd"), ("diffedit", "sd-inpaint"),
                                          ("sdedit", "sd-instruct")])  # fmt: skip
def test_checkpoint_kind_mismatch_is_a_clear_error(editor, wrong, tiny_models, tiny_settings, tmp_path):
    with pytest.raises(ModelUnavailable, match=r"checkpoint \(\d-channel UNet\) but the .* editor needs"):
        build_stage("editor", editor, tiny_settings, editor_model=str(tiny_models[wrong]), resolution=64, steps=2)
    stage = build_stage("editor", editor, tiny_settings, editor_model=str(tiny_models[wrong]), resolution=64, steps=2,
                        check=False)  # the stage checks again when it runs (library use without the preflight)
    img = Image.new("RGB", (64, 64))
    with pytest.raises(ModelUnavailable, match=r"checkpoint \(\d-channel UNet\) but the .* editor needs"):
        stage.edit(image=img, plan=RulesParser().parse(instruction="remove the cup"),
                   segmentation=Segmentation(np.ones((64, 64), bool)), seed=0)  # fmt: skip


def test_kind_mismatch_through_cli(tiny_models, tiny_env, tmp_path):
    size = Image.open(COFFEE).size
    mpath, _ = mask_file(tmp_path, size)
    r = CliRunner().invoke(main, ["edit", str(COFFEE), "remove the cup", "--editor", "inpaint", "--editor-model",
                                  str(tiny_models["sd"]), "--mask", str(mpath), "-o", str(tmp_path / "o.png"), *FAST],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == ModelUnavailable.exit_code and "inpaint editor needs" in r.stderr
    assert not (tmp_path / "o.png").exists()


# ---------------------------------------------------------------- checkpoints checked when the pipeline is built


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    """Tiny SD checkpoints refedit must handle or refuse: v-prediction, x0-prediction ("sample"), SDXL's layout,
    and a text encoder narrower/wider than the UNet's cross-attention (32)."""
    from refedit.testing.tiny_models import build_tiny_sd

    root = tmp_path_factory.mktemp("odd-sd")
    return {
        "v": build_tiny_sd(root / "v", prediction_type="v_prediction"),
        "sample": build_tiny_sd(root / "sample", prediction_type="sample"),
        "sdxl": build_tiny_sd(root / "sdxl", sdxl=True),
        "wide-text": build_tiny_sd(root / "wide-text", text_hidden_size=48),
        "missing": root / "no-such-folder",
    }


REFUSALS = {
    "sdxl": ("diffedit", r"is an SDXL checkpoint: SDXL checkpoints are not supported yet"),
    "wide-text": ("sdedit", r"cross-attention width is 32 but its text encoder's hidden size is 48"),
    "sample": ("diffedit", r"predicts 'sample'"),
    "missing": ("diffedit", r"the folder '.*no-such-folder' does not exist"),
    "sd": ("inpaint", r"is an SD checkpoint \(4-channel UNet\) but the inpaint editor needs an inpaint checkpoint"),
}


def _model(name, tiny_models, odd_models):
    return str(tiny_models[name] if name in tiny_models else odd_models[name])


@pytest.mark.parametrize("model", sorted(REFUSALS))
def test_pipeline_build_refuses_unusable_checkpoints_without_loading_weights(model, tiny_models, odd_models,
                                                                             tiny_settings):  # fmt: skip
    from refedit.pipeline.chain import Pipeline
    from refedit.pipeline.models import ModelStore

    editor, message = REFUSALS[model]
    store = ModelStore(tiny_settings)
    with pytest.raises(ModelUnavailable, match=message) as err:
        Pipeline.build(tiny_settings, editor=editor, options={"editor_model": _model(model, tiny_models, odd_models)},
                       store=store)  # fmt: skip
    assert "\n" not in str(err.value) and store.loads == []


def test_sdxl_refusal_holds_without_the_unet_marker(tiny_models, odd_models, tmp_path, tiny_settings):
    """A second text encoder alone (SDXL's refiner and forks) is SDXL too."""
    import shutil

    from refedit.pipeline.chain import build_stage

    folder = shutil.copytree(tiny_models["sd"], tmp_path / "sd-with-te2")
    shutil.copytree(odd_models["sdxl"] / "text_encoder_2", folder / "text_encoder_2")
    with pytest.raises(ModelUnavailable, match="SDXL checkpoints are not supported yet"):
        build_stage("editor", "diffedit", tiny_settings, editor_model=str(folder))
    stage = build_stage("editor", "diffedit", tiny_settings, editor_model=str(folder), check=False)
    with pytest.raises(ModelUnavailable, match="SDXL checkpoints are not supported yet"):
        stage.check()


def test_sd_checkpoints_pass_the_check(tiny_models, odd_models, tiny_settings):
    from refedit.pipeline.chain import build_stage

    for editor, model in [("diffedit", "sd"), ("sdedit", "v"), ("inpaint", "sd-inpaint"), ("instruct", "sd-instruct")]:
        stage = build_stage("editor", editor, tiny_settings, editor_model=_model(model, tiny_models, odd_models))
        stage.check()
        assert stage.sd.store.loads == []


@pytest.fixture
def stores(monkeypatch):
    """Every ModelStore the CLI creates (its ``loads`` list records each from_pretrained call)."""
    from refedit.pipeline.models import ModelStore

    made, init = [], ModelStore.__init__

    def record(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(ModelStore, "__init__", record)
    return made


@pytest.mark.parametrize("model", sorted(REFUSALS))
def test_cli_refuses_before_parsing_or_loading(model, tiny_models, odd_models, tiny_env, tmp_path, stores):
    """Exit 5 with one line, no output file, no weight loaded, and before the parser runs: the instruction is
    one the parser refuses (exit 3), so a refusal made after parsing would exit 3."""
    editor, message = REFUSALS[model]
    out = tmp_path / "o.png"
    model_id = _model(model, tiny_models, odd_models)
    r = CliRunner().invoke(main, ["edit", str(COFFEE), "make it nicer", "--editor", editor, "--editor-model", model_id,
                                  "-o", str(out), *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == ModelUnavailable.exit_code, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("refedit: error: ") and "Traceback" not in r.output
    assert re.search(message, lines[0]) and not out.exists() and r.stdout == ""
    assert all(store.loads == [] for store in stores)  # (a refusal before any store exists loads nothing too)


@pytest.mark.parametrize("command", ["edit", "segment"])
def test_cli_sam_role_at_a_clip_folder_is_not_a_sam_checkpoint(command, tiny_models, tiny_env, tmp_path, stores):
    """Both refuse when their stages are built: before the parser (which would exit 3 on "make it nicer") and
    before any weight loads."""
    out = tmp_path / "o.png"
    env = {**tiny_env, "REFEDIT_SAM_MODEL": str(tiny_models["clip"])}
    extra = ["make it nicer", *FAST] if command == "edit" else ["make it nicer"]
    r = CliRunner().invoke(main, [command, str(COFFEE), *extra, "--box-threshold", "0", "-o", str(out)], env=env)
    assert r.exit_code == ModelUnavailable.exit_code, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "is not a SAM checkpoint" in lines[0] and "Traceback" not in r.output
    assert not out.exists() and r.stdout == ""
    assert all(store.loads == [] for store in stores)


@pytest.mark.parametrize("editor", ["diffedit", "sdedit"])
def test_v_prediction_checkpoint_is_edited_not_refused(editor, odd_models, tiny_env, tmp_path):
    size = Image.open(COFFEE).size
    mpath, mask = mask_file(tmp_path, size)
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", str(COFFEE), "replace the cup with a bowl", "--editor", editor,
                                  "--editor-model", str(odd_models["v"]), "--mask", str(mpath), "-o", str(out),
                                  "--json", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["parameters"]["model"] == str(odd_models["v"])
    src, res = np.asarray(Image.open(COFFEE).convert("RGB")), np.asarray(Image.open(out))
    outside = ~dilate(mask, record["parameters"]["paste_dilate"] + record["parameters"]["feather"] + 1)
    assert np.array_equal(src[outside], res[outside]) and not np.array_equal(src[mask], res[mask])


# ---------------------------------------------------------------- SDEdit's two random draws


def test_sdedit_vae_sample_and_forward_noise_are_independent_draws(tiny_settings):
    """z_0 = μ + σ·n_vae is the VAE posterior sample and ε the forward noise: drawn from one generator state
    they would be the same numbers (n_vae = ε), coupling the corruption to the encoding."""
    import torch

    stage = build_stage("editor", "sdedit", tiny_settings, resolution=64)
    work = Image.open(COFFEE).convert("RGB").resize((64, 64))
    z0, noise = stage.start(work, seed=7)
    with torch.inference_mode():
        dist = stage.sd.vae.encode(stage.sd.pixels(work)).latent_dist
    n_vae = (z0 / stage.sd.vae.config.scaling_factor - dist.mean) / dist.std
    corr = torch.corrcoef(torch.stack([n_vae.flatten(), noise.flatten()]))[0, 1].item()
    assert abs(corr) < 0.2, corr  # independent standard normals over 4·32·32 cells: |corr| ~ 0.016
    z0_again, noise_again = stage.start(work, seed=7)
    assert torch.equal(z0, z0_again) and torch.equal(noise, noise_again)  # still reproducible


def test_a_prompt_longer_than_the_text_encoder_reads_is_said(tiny_models, tiny_env, tmp_path):
    """CLIP reads 77 tokens: a longer caption was cut silently, and the end of the request never reached SD."""
    from transformers import AutoTokenizer

    from refedit.pipeline.sd import cut_prompts

    tok = AutoTokenizer.from_pretrained(tiny_models["sd"] / "tokenizer")
    long = "a photo of a golden trophy with " + "tiny dragons, " * 10 + "and rubies"
    (message,) = cut_prompts(tok, [long, "a photo of a cup"])
    n = len(tok(long).input_ids)
    start = tok(long, return_offsets_mapping=True).offset_mapping[tok.model_max_length - 1][0]
    assert f"is {n} tokens and the text encoder reads {tok.model_max_length}" in message
    assert f"{long[start:]!r} is not seen" in message and long.endswith(long[start:]) and start > 0
    assert cut_prompts(tok, ["a photo of a cup"]) == []
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), f"replace the cat with {long[13:]}", "-o",
                                  str(tmp_path / "o.png"), "--resolution", "64", "--steps", "2", "--pick", "best"],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "refedit: warning: the prompt 'a photo of " in r.stderr and "is not seen" in r.stderr
