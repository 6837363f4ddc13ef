"""Trained checkpoints as their authors release them (issue 19): original-layout single files written from the tiny
diffusers models by refedit's own key conversion (refedit/testing/single_file.py), loaded through diffusers'
``from_single_file`` with a config refedit derives offline; pickles refused unless trusted; LoRA adapters."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.config import Settings
from refedit.errors import BadInput
from refedit.pipeline import checkpoints
from refedit.pipeline.adapters import LoraSpec, parse_lora, parse_loras
from refedit.pipeline.models import ModelStore
from refedit.pipeline.sd import StableDiffusion
from refedit.testing.single_file import (
    TEXT_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
    text_to_ldm,
    unet_to_ldm,
    vae_to_ldm,
    write_lora,
    write_single_file,
)

from .conftest import EXAMPLES

COFFEE = EXAMPLES / "coffee.jpg"
FAST = ["--steps", "3", "--resolution", "64"]
KINDS = {"diffedit": "sd", "sdedit": "sd", "inpaint": "sd-inpaint", "instruct": "sd-instruct"}


@pytest.fixture(scope="session")
def files(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """The tiny sd / inpainting (9-channel) / InstructPix2Pix (8-channel) checkpoints as original single files."""
    root = tmp_path_factory.mktemp("single-files")
    out = {k: write_single_file(tiny_models[k], root / k / "model.safetensors") for k in set(KINDS.values())}
    out["lora"] = write_lora(tiny_models["sd"], root / "lora" / "adapter.safetensors")
    return out


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch) -> Path:
    """refedit's cache in a scratch folder (shared by the tests of this module: derived configs are reused)."""
    path = tmp_path_factory.getbasetemp() / "refedit-cache"
    monkeypatch.setenv("REFEDIT_CACHE_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def mask_path(tmp_path_factory) -> Path:
    w, h = Image.open(COFFEE).size
    m = np.zeros((h, w), np.uint8)
    m[h // 4 : h // 2, w // 3 : w // 2] = 255
    path = tmp_path_factory.mktemp("mask") / "mask.png"
    Image.fromarray(m).save(path)
    return path


def edit(tmp_path, env, mask_path, *args, editor="diffedit", name="out.png", instruction="make the cup red"):
    out = tmp_path / name
    r = CliRunner().invoke(main, ["edit", str(COFFEE), instruction, "--editor", editor, "--mask", str(mask_path),
                                  "-o", str(out), "--json", "--seed", "5", *FAST, *args], env=env)  # fmt: skip
    image = np.asarray(Image.open(out)) if out.exists() else None
    return r, image


def one_line_error(r, code: int) -> str:
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refedit: error: ") and "Traceback" not in r.output
    return lines[0]


# --------------------------------------------------------------------------- the key conversion, at full size
def test_own_ldm_writer_round_trips_through_diffusers_converters_at_sd15_size():
    """refedit's diffusers->LDM names, fed to diffusers' LDM->diffusers converters, give back every SD 1.5
    parameter name and shape (built on the meta device: shapes only, no memory)."""
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint

    from refedit.testing.fullsize import sd_modules

    mods = sd_modules("meta")
    unet, vae = mods["unet"].state_dict(), mods["vae"].state_dict()
    ldm = {UNET_PREFIX + k: v for k, v in unet_to_ldm(unet, mods["unet"].config.layers_per_block).items()}
    back = convert_ldm_unet_checkpoint(ldm, dict(mods["unet"].config))
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in unet.items()}
    ldm = {VAE_PREFIX + k: v for k, v in vae_to_ldm(vae).items()}
    back = convert_ldm_vae_checkpoint(ldm, dict(mods["vae"].config))
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in vae.items()}
    text = text_to_ldm(mods["text_encoder"].state_dict())
    assert all(k.startswith("text_model.") for k in text) and "text_model.embeddings.token_embedding.weight" in text


def _shapes(prefix, state):
    return {prefix + k: tuple(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("sd2", [False, True])
def test_architecture_from_shapes_matches_the_published_configs(sd2):
    """SD 1.5's (and an SD 2.x-style UNet's: linear projections, 1024-wide cross-attention, 64-channel heads)
    published configs are recovered from tensor shapes alone; heads follow the SD family default."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from refedit.testing.fullsize import SD15_TEXT, SD15_UNET, SD15_VAE

    config = {**SD15_UNET, **({"use_linear_projection": True, "cross_attention_dim": 1024,
                                "attention_head_dim": [5, 10, 20, 20]} if sd2 else {})}  # fmt: skip
    with torch.device("meta"):
        unet = UNet2DConditionModel(**config)
        vae = AutoencoderKL(**SD15_VAE)
    inferred = checkpoints.infer_unet(_shapes("", unet_to_ldm(unet.state_dict(), 2)))
    for key in ("in_channels", "out_channels", "layers_per_block", "cross_attention_dim"):
        assert inferred[key] == config[key]
    assert inferred["block_out_channels"] == list(config["block_out_channels"])
    assert inferred["down_block_types"] == list(config["down_block_types"])
    assert inferred["up_block_types"] == list(config["up_block_types"])
    assert inferred["use_linear_projection"] is sd2 and inferred["mid_block_type"] == "UNetMidBlock2DCrossAttn"
    configs, sources = checkpoints.derive_configs(_shapes(UNET_PREFIX, unet_to_ldm(unet.state_dict(), 2)), ("unet",),
                                                  base_config=lambda name: None, original=None)  # fmt: skip
    assert configs["unet/config.json"]["attention_head_dim"] == config["attention_head_dim"]
    assert sources["unet"] == "file shapes + SD defaults"
    assert configs["scheduler/scheduler_config.json"]["prediction_type"] == ("v_prediction" if sd2 else "epsilon")
    vae_inferred = checkpoints.infer_vae(_shapes("", vae_to_ldm(vae.state_dict())))
    for key in ("in_channels", "out_channels", "latent_channels", "layers_per_block"):
        assert vae_inferred[key] == SD15_VAE[key]
    assert vae_inferred["block_out_channels"] == list(SD15_VAE["block_out_channels"])
    from refedit.testing.fullsize import sd_modules

    text = sd_modules("meta")["text_encoder"].state_dict()
    sizes, family = checkpoints.infer_text(_shapes(TEXT_PREFIX, text_to_ldm(text)))
    assert family == "clip" and sizes == {k: SD15_TEXT[k] for k in checkpoints.TEXT_SHAPE_KEYS}


# --------------------------------------------------------------------------- same output as the folder
def same_weights(a: str | Path, b: str | Path, env: dict, trusted: bool = False) -> None:
    """The SD components loaded from ``a`` and from ``b`` hold identical tensors (the conversion is exact)."""
    stores = [ModelStore(Settings.resolve(environ={**env, "REFEDIT_SD_MODEL": str(m)}, trust_checkpoint=trusted))
              for m in (a, b)]  # fmt: skip
    for component in ("unet", "vae", "text_encoder"):
        x, y = (s.get("sd", component).state_dict() for s in stores)
        assert list(x) == list(y) and all(torch.equal(x[k], y[k]) for k in x), component


def same_edit(a: np.ndarray, b: np.ndarray) -> None:
    """The same edit up to float rounding: the same weights at other memory addresses can round differently (on
    AVX-512 CPUs a matrix product's last bit follows the weights' alignment, and a folder's and a single file's
    safetensors put a tensor at different offsets), so at most one grey level at a few pixels."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert d.max() <= 1 and (d.max(-1) > 0).mean() < 0.01, (d.max(), (d.max(-1) > 0).mean())


@pytest.mark.parametrize("editor", sorted(KINDS))
def test_single_file_holds_the_folders_weights_and_edits_like_it(editor, files, tiny_models, tiny_env, mask_path, tmp_path):
    kind = KINDS[editor]
    r1, folder = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(tiny_models[kind]), editor=editor)
    r2, single = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(files[kind]), editor=editor, name="f.png")
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    if kind == "sd":
        same_weights(tiny_models[kind], files[kind], tiny_env)
    same_edit(folder, single)
    assert not np.array_equal(folder, np.asarray(Image.open(COFFEE)))  # the edit did change something


def test_record_names_the_file_and_its_hash_and_nothing_is_written_beside_it(files, tiny_env, mask_path, tmp_path,
                                                                             cache_dir):  # fmt: skip
    beside = sorted(p.name for p in files["sd-instruct"].parent.iterdir())
    r, _ = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(files["sd-instruct"]), editor="instruct")
    record = json.loads(r.stdout)["parameters"]
    sha = hashlib.sha256(files["sd-instruct"].read_bytes()).hexdigest()
    assert record["checkpoint"]["path"] == str(files["sd-instruct"].resolve())
    assert record["checkpoint"]["sha256"] == sha and record["checkpoint"]["format"] == "safetensors"
    assert record["checkpoint"]["weights"] == "non-ema" and record["adapters"] == []
    assert sorted(p.name for p in files["sd-instruct"].parent.iterdir()) == beside
    derived = [p for p in (cache_dir / "single-file").iterdir() if sha[:16] in p.name]
    assert len(derived) == 1 and (derived[0] / "unet" / "config.json").is_file()
    assert json.loads((derived[0] / "unet" / "config.json").read_text())["in_channels"] == 8


def test_folder_records_no_checkpoint_file(tiny_env, mask_path, tmp_path):
    r, _ = edit(tmp_path, tiny_env, mask_path)
    assert r.exit_code == 0 and json.loads(r.stdout)["parameters"]["checkpoint"] is None


def test_roles_take_single_files_from_the_environment(files, tiny_env, tiny_models, mask_path, tmp_path):
    env = {**tiny_env, "REFEDIT_INPAINT_MODEL": str(files["sd-inpaint"])}
    r, single = edit(tmp_path, env, mask_path, editor="inpaint")
    r2, folder = edit(tmp_path, tiny_env, mask_path, editor="inpaint", name="f.png")
    assert r.exit_code == 0 and json.loads(r.stdout)["parameters"]["checkpoint"]["sha256"]
    assert np.array_equal(single, folder)


def test_unet_only_file_takes_vae_and_text_encoder_from_the_base(tiny_models, tiny_env, mask_path, tmp_path):
    unet_only = write_single_file(tiny_models["sd"], tmp_path / "unet-only.safetensors", parts=("unet",))
    r, single = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(unet_only), editor="sdedit")
    _, folder = edit(tmp_path, tiny_env, mask_path, editor="sdedit", name="f.png")
    assert r.exit_code == 0, r.output
    assert np.array_equal(single, folder)
    assert set(json.loads(r.stdout)["parameters"]["checkpoint"]["from_base"]) >= {"vae", "text_encoder"}


def test_ema_weights_are_loaded_when_the_file_has_them(tiny_models, tiny_settings, tmp_path):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(7)
    ema = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(tiny_models["sd"] / "unet")).state_dict()
    path = write_single_file(tiny_models["sd"], tmp_path / "train.safetensors", ema=ema)
    sd = StableDiffusion(ModelStore(tiny_settings), "sd", str(path))
    loaded = sd.unet.state_dict()
    assert all(torch.equal(loaded[k], ema[k]) for k in ema)
    assert sd.provenance()["checkpoint"]["weights"] == "ema"


def test_sd2_open_clip_text_encoder_is_converted(tiny_models, tiny_settings, tmp_path):
    """SD 2.x files store OpenCLIP (fused q/k/v, resblocks) and SD reads its penultimate layer: diffusers' converter
    gives back the text encoder's weights exactly, one block fewer than the file holds."""
    from transformers import CLIPTextModel

    path = write_single_file(tiny_models["sd"], tmp_path / "sd2-text.safetensors", open_clip=True)
    sizes, family = checkpoints.infer_text(checkpoints.read_shapes(path, trusted=False))
    assert family == "open_clip" and sizes["num_hidden_layers"] == 2  # 3 blocks in the file
    loaded = StableDiffusion(ModelStore(tiny_settings), "sd", str(path)).component("text_encoder").state_dict()
    original = CLIPTextModel.from_pretrained(tiny_models["sd"] / "text_encoder").state_dict()
    assert loaded.keys() == original.keys() and all(torch.equal(loaded[k], original[k]) for k in original)


def test_architecture_comes_from_the_file_when_the_base_disagrees(tiny_models, tmp_path, tiny_settings):
    """A UNet of three levels and two layers per block (the base has two and one): its config is derived from the
    file's shapes, with SD's default 8 heads, and it edits exactly like its own folder."""
    from diffusers import UNet2DConditionModel

    folder = tmp_path / "deeper"
    shutil.copytree(tiny_models["sd"], folder)
    shutil.rmtree(folder / "unet")
    torch.manual_seed(3)
    UNet2DConditionModel(block_out_channels=(32, 64, 64), layers_per_block=2, in_channels=4, out_channels=4,
                         down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                         cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32).save_pretrained(folder / "unet")  # fmt: skip
    path = write_single_file(folder, tmp_path / "deeper.safetensors")
    from refedit.pipeline.artifacts import Segmentation
    from refedit.pipeline.chain import build_stage
    from refedit.pipeline.parse.rules import RulesParser

    img = Image.open(COFFEE).convert("RGB").resize((96, 64))
    mask = np.zeros((64, 96), bool)
    mask[8:40, 16:64] = True
    plan = RulesParser().parse(instruction="replace the cup with a bowl")
    out = []
    for model in (folder, path):
        stage = build_stage("editor", "sdedit", tiny_settings, editor_model=str(model), resolution=64, steps=3)
        out.append(np.asarray(stage.edit(image=img, plan=plan, segmentation=Segmentation(mask), seed=2).image))
    assert np.array_equal(out[0], out[1])
    assert stage.sd.provenance()["checkpoint"]["config_sources"]["unet"] == "file shapes + SD defaults"


ORIGINAL_YAML = """model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.012
    timesteps: 1000
    parameterization: "v"
    scale_factor: 0.5
    unet_config:
      params:
        in_channels: 4
        out_channels: 4
        model_channels: 32
        attention_resolutions: [1]
        num_res_blocks: 1
        channel_mult: [{mult}]
        num_heads: 2
        transformer_depth: 1
        context_dim: 32
    first_stage_config:
      params:
        ddconfig:
          z_channels: 4
          in_channels: 3
          out_ch: 3
          ch: 32
          ch_mult: [1, 2]
          num_res_blocks: 1
"""


def test_original_yaml_beside_the_file_or_given_sets_what_shapes_cannot(files, tiny_settings, tmp_path):
    path = tmp_path / "fine-tune.safetensors"
    shutil.copy(files["sd"], path)
    path.with_suffix(".yaml").write_text(ORIGINAL_YAML.format(mult="1, 2"))
    sd = StableDiffusion(ModelStore(tiny_settings), "sd", str(path))
    assert sd.config("scheduler/scheduler_config.json")["prediction_type"] == "v_prediction"
    assert sd.config("vae/config.json")["scaling_factor"] == 0.5
    assert sd.config("unet/config.json")["attention_head_dim"] == 2
    assert sd.provenance()["checkpoint"]["original_config"] == str(path.with_suffix(".yaml"))
    bare = StableDiffusion(ModelStore(tiny_settings), "sd", str(files["sd"]))
    assert torch.equal(sd.unet.conv_in.weight, bare.unet.conv_in.weight)  # same weights, other settings
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(ORIGINAL_YAML.format(mult="1, 2, 4"))
    with pytest.raises(BadInput, match="does not match the file"):
        StableDiffusion(ModelStore(tiny_settings), "sd", str(files["sd"]), original_config=str(wrong)).config(
            "unet/config.json"
        )


def test_editor_config_flag(files, tiny_env, mask_path, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {}\n")
    r, image = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(files["sd"]), "--editor-config", str(bad))
    assert "not an original (LDM) model config" in one_line_error(r, 2) and image is None


def test_editor_config_for_a_checkpoint_folder_or_a_missing_file_is_refused(files, tiny_env, mask_path, tmp_path):
    """--editor-config with a checkpoint folder was ignored in silence (the record named the yaml); a yaml that did
    not exist was accepted."""
    yaml = tmp_path / "v.yaml"
    yaml.write_text(ORIGINAL_YAML.format(mult="1, 2"))
    r, image = edit(tmp_path, tiny_env, mask_path, "--editor-config", str(yaml))  # the sd role's folder
    assert "single-file checkpoint" in one_line_error(r, 2) and image is None
    r, image = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(files["sd"]), "--editor-config",
                    str(tmp_path / "missing.yaml"))  # fmt: skip
    assert "does not exist" in one_line_error(r, 2) and image is None


@pytest.mark.parametrize("given", ["editor-model", "lora"])
def test_a_cache_folder_that_cannot_be_made_is_one_line_before_any_work(given, files, tiny_env, mask_path, tmp_path):
    """REFEDIT_CACHE_DIR (or XDG_CACHE_HOME) naming a file was an internal error (NotADirectoryError), for a LoRA
    after the edit had run."""
    (tmp_path / "a-file").write_text("x")
    env = {**tiny_env, "REFEDIT_CACHE_DIR": str(tmp_path / "a-file")}
    args = ["--editor-model", str(files["sd"])] if given == "editor-model" else ["--lora", str(files["lora"])]
    r, image = edit(tmp_path, env, mask_path, *args)
    assert "point REFEDIT_CACHE_DIR" in one_line_error(r, 2) and image is None
    assert "invert:" not in r.stderr


# --------------------------------------------------------------------------- refusals
class _Marker:
    """Unpickling this creates a file: proof that a pickle's code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_ckpt_is_refused_without_trust_before_it_is_unpickled(files, tiny_models, tiny_env, mask_path, tmp_path):
    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "model.ckpt"
    state = checkpoints.load_tensors(files["sd"], trusted=False)
    torch.save({"state_dict": state, "callback": _Marker(str(marker))}, ckpt)
    r, image = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(ckpt))
    line = one_line_error(r, 2)
    assert "pickle" in line and "--trust-checkpoint" in line and ".safetensors" in line
    assert image is None and not marker.exists()
    with pytest.raises(BadInput):  # the library refuses too, not only the command line
        StableDiffusion(ModelStore(Settings(models={"sd": str(tiny_models["sd"])}, device="cpu")), "sd",
                        str(ckpt)).check("sd", "diffedit")  # fmt: skip
    assert not marker.exists()


def test_trusted_ckpt_edits_like_the_safetensors_file(files, tiny_env, mask_path, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": checkpoints.load_tensors(files["sd"], trusted=False), "global_step": 1}, ckpt)
    r1, from_ckpt = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(ckpt), "--trust-checkpoint")
    env = {**tiny_env, "REFEDIT_TRUST_CHECKPOINT": "1"}
    r2, from_env = edit(tmp_path, env, mask_path, "--editor-model", str(ckpt), name="e.png")
    r3, safe = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(files["sd"]), name="s.png")
    assert r1.exit_code == r2.exit_code == r3.exit_code == 0, r1.output + r2.output + r3.output
    same_weights(ckpt, files["sd"], tiny_env, trusted=True)
    assert np.array_equal(from_ckpt, from_env)  # the same file, loaded the same way
    same_edit(from_ckpt, safe)
    assert json.loads(r1.stdout)["parameters"]["checkpoint"]["format"] == "pickle"


def test_trust_from_the_config_file(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("trust_checkpoint = true\n")
    assert Settings.resolve(environ={}, config_file=cfg).trust_checkpoint is True
    assert Settings.resolve(environ={}, config_file=tmp_path / "none.toml").trust_checkpoint is False
    cfg.write_text('trust_checkpoint = "maybe"\n')
    with pytest.raises(BadInput, match="trust_checkpoint"):
        Settings.resolve(environ={}, config_file=cfg)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_truncated_file_is_one_line_exit_5(suffix, files, tiny_env, mask_path, tmp_path):
    whole = tmp_path / f"whole{suffix}"
    if suffix == ".ckpt":
        torch.save({"state_dict": checkpoints.load_tensors(files["sd"], trusted=False)}, whole)
    else:
        shutil.copy(files["sd"], whole)
    cut = tmp_path / f"cut{suffix}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    r, image = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(cut), "--trust-checkpoint")
    assert "truncated" in one_line_error(r, 5) and image is None


def test_a_pickle_named_safetensors_is_said_to_be_one(files, tiny_env, mask_path, tmp_path):
    """It was "its safetensors header runs past the end of the file (truncated?) -- download it again"."""
    named = tmp_path / "model.safetensors"
    torch.save({"state_dict": checkpoints.load_tensors(files["sd"], trusted=False)}, named)
    r, image = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(named))
    assert "is a PyTorch pickle (a .ckpt or .bin file) named .safetensors" in one_line_error(r, 5) and image is None


def test_kind_check_is_the_same_for_files(files, tiny_models, tiny_env, mask_path, tmp_path):
    r, _ = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(files["sd-inpaint"]), editor="diffedit")
    line = one_line_error(r, 5)
    assert "is an inpaint checkpoint (9-channel UNet) but the diffedit editor needs an SD checkpoint" in line
    r, _ = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(tiny_models["sd-inpaint"]), editor="diffedit")
    assert one_line_error(r, 5).split("' is an ")[1] == line.split("' is an ")[1]  # the folder's words, exactly


def test_sdxl_file_is_refused_before_loading(tiny_models, tmp_path, tiny_env, mask_path):
    from refedit.testing.tiny_models import build_tiny_sd

    xl = build_tiny_sd(tmp_path / "xl", sdxl=True)
    path = write_single_file(xl, tmp_path / "xl.safetensors", parts=("unet",))
    r, _ = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(path))
    assert "SDXL" in one_line_error(r, 5)


def test_missing_file_and_non_sd_roles(tiny_env, mask_path, tmp_path, files):
    r, _ = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(tmp_path / "absent.safetensors"))
    assert "does not exist" in one_line_error(r, 5)
    r, _ = edit(tmp_path, {**tiny_env, "REFEDIT_SAM_MODEL": str(files["sd"])}, mask_path)
    assert "single-file checkpoints work for the sd, inpaint, instruct roles" in one_line_error(r, 5)
    r, _ = edit(tmp_path, tiny_env, mask_path, "--editor-model", str(files["lora"]))
    assert "pass it with --lora" in one_line_error(r, 5)


# --------------------------------------------------------------------------- LoRA
def test_lora_parsing():
    assert parse_lora("a/b.safetensors:0.5") == LoraSpec("a/b.safetensors", 0.5)
    assert parse_lora("owner/style-lora") == LoraSpec("owner/style-lora", 1.0)
    assert parse_lora("x.safetensors:-1") == LoraSpec("x.safetensors", -1.0)
    assert parse_loras("x.safetensors:0") == (LoraSpec("x.safetensors", 0.0),)
    for bad in ("", "x.safetensors:nan", "x:inf"):
        with pytest.raises(BadInput):
            parse_lora(bad)


def test_lora_changes_the_output_and_scale_zero_leaves_it_identical(files, tiny_env, mask_path, tmp_path):
    _, none = edit(tmp_path, tiny_env, mask_path, editor="sdedit")
    lora = str(files["lora"])
    outputs = {}
    for name, args in {"one": ["--lora", lora], "zero": ["--lora", f"{lora}:0"],
                       "zero-fused": ["--lora", f"{lora}:0", "--lora-fuse"],
                       "half": ["--lora", f"{lora}:0.5"], "half-fused": ["--lora", f"{lora}:0.5", "--lora-fuse"]}.items():  # fmt: skip
        r, outputs[name] = edit(tmp_path, tiny_env, mask_path, *args, editor="sdedit", name=f"{name}.png")
        assert r.exit_code == 0, r.output
        if name == "half-fused":
            record = json.loads(r.stdout)["parameters"]["adapters"]
    assert not np.array_equal(outputs["one"], none) and not np.array_equal(outputs["half"], none)
    assert np.array_equal(outputs["zero"], none) and np.array_equal(outputs["zero-fused"], none)
    assert np.abs(outputs["half"].astype(int) - outputs["half-fused"].astype(int)).max() <= 2  # float round-off
    sha = hashlib.sha256(files["lora"].read_bytes()).hexdigest()
    path = str(files["lora"].resolve())
    assert record == [{"source": lora, "scale": 0.5, "fused": True, "path": path, "sha256": sha}]


@pytest.mark.parametrize("fuse", [False, True])
def test_lora_adds_scale_times_b_a_to_unet_and_text_encoder(fuse, files, tiny_settings):
    """Fused, each adapted weight is W + s·B·A (LoRA, Hu et al. 2021, Eq. 3, alpha = rank); unfused, the layer's
    output is W·x + s·B·A·x."""
    from safetensors.torch import load_file

    lora = load_file(str(files["lora"]))
    store = ModelStore(tiny_settings)
    bare = StableDiffusion(store, "sd")
    spec = LoraSpec(str(files["lora"]), 0.5)
    adapted = StableDiffusion(store, "sd", adapters=(spec,), fuse_adapters=fuse)
    for component, module_name in (("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"),
                                   ("text_encoder", "encoder.layers.1.self_attn.q_proj")):  # fmt: skip
        a = lora[f"{component}.{module_name}.lora_A.weight"]
        b = lora[f"{component}.{module_name}.lora_B.weight"]
        base_layer = bare.component(component).get_submodule(module_name)
        layer = adapted.component(component).get_submodule(module_name)
        expected = base_layer.weight + 0.5 * b @ a
        x = torch.randn(3, base_layer.in_features)
        if fuse:
            assert isinstance(layer, torch.nn.Linear) and torch.allclose(layer.weight, expected, atol=1e-5)
        assert torch.allclose(layer(x), torch.nn.functional.linear(x, expected, base_layer.bias), atol=1e-4)
    assert bare.unet is not adapted.unet and bare.vae is adapted.vae  # the bare UNet stays for other stages


def test_lora_folder_missing_and_pickled(files, tiny_env, mask_path, tmp_path):
    folder = tmp_path / "lora-folder"
    folder.mkdir()
    shutil.copy(files["lora"], folder / "pytorch_lora_weights.safetensors")
    r, from_folder = edit(tmp_path, tiny_env, mask_path, "--lora", str(folder), editor="sdedit")
    _, from_file = edit(tmp_path, tiny_env, mask_path, "--lora", str(files["lora"]), editor="sdedit", name="f.png")
    assert r.exit_code == 0 and np.array_equal(from_folder, from_file)
    r, _ = edit(tmp_path, tiny_env, mask_path, "--lora", str(tmp_path / "absent.safetensors"), editor="sdedit")
    assert "does not exist" in one_line_error(r, 5)
    pickled = tmp_path / "lora.bin"
    with pickled.open("wb") as fh:
        pickle.dump({}, fh)
    r, image = edit(tmp_path, tiny_env, mask_path, "--lora", str(pickled), editor="sdedit", name="p.png")
    assert "--trust-checkpoint" in one_line_error(r, 2) and image is None
    r, _ = edit(tmp_path, tiny_env, mask_path, "--lora", str(files["sd"]), editor="sdedit", name="c.png")
    assert "is not a LoRA adapter" in one_line_error(r, 5)
    r, _ = edit(tmp_path, tiny_env, mask_path, "--lora", "someone/style-lora:0.5", editor="sdedit", name="h.png")
    assert "not in the local cache" in one_line_error(r, 5)


def test_batch_log_names_checkpoint_and_adapters(files, tiny_env, mask_path, tmp_path):
    manifest = tmp_path / "items.jsonl"
    manifest.write_text(json.dumps({"image": str(COFFEE), "instruction": "make the cup red", "mask": str(mask_path)})
                        + "\n")  # fmt: skip
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["batch", str(manifest), "-o", str(out), "--editor", "instruct", "--allow-outside",
                                  "--editor-model", str(files["sd-instruct"]), "--lora", f"{files['lora']}:0.3",
                                  *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads((out / "refedit-batch.jsonl").read_text().splitlines()[0])
    assert record["parameters"]["checkpoint"]["sha256"] == hashlib.sha256(files["sd-instruct"].read_bytes()).hexdigest()
    assert [a["scale"] for a in record["parameters"]["adapters"]] == [0.3]


def test_hash_is_computed_once_per_file_version(files, tmp_path, monkeypatch):
    path = tmp_path / "copy.safetensors"
    shutil.copy(files["sd"], path)
    first = checkpoints.file_sha256(path)
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(checkpoints.files.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    assert checkpoints.file_sha256(path) == first and calls == []  # from the index
    with path.open("ab") as fh:
        fh.write(b"\0")
    os.utime(path, ns=(1, 1))
    assert checkpoints.file_sha256(path) != first and calls  # a changed file is hashed again


@pytest.mark.parametrize("tail", ["abc", "", "0x10", "1_0"])
def test_a_bad_lora_scale_after_an_existing_file_is_bad_input(tail, tmp_path):
    """'lora.safetensors:abc' was read as a file named so and reported missing (exit 5); '1_0' was Python's 10."""
    from refedit.pipeline.adapters import parse_lora

    (tmp_path / "lora.safetensors").write_bytes(b"")
    with pytest.raises(BadInput, match="the scale after the last ':' must be a number"):
        parse_lora(f"{tmp_path / 'lora.safetensors'}:{tail}")
    assert parse_lora(f"{tmp_path / 'lora.safetensors'}:0.5").scale == 0.5


def test_an_unreadable_original_config_is_bad_input(tmp_path):
    """A binary file given as --editor-config was an internal error (UnicodeDecodeError); a folder said 'does not
    exist'."""
    from refedit.pipeline.checkpoints.derived import prepare

    import torch
    from safetensors.torch import save_file

    ckpt = tmp_path / "model.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 3, 3)}, str(ckpt))
    (tmp_path / "bin.yaml").write_bytes(bytes(range(128, 256)))
    with pytest.raises(BadInput, match="cannot read the original config"):
        prepare(ckpt, base="sd", base_config=lambda name: None, trusted=False, original_config=str(tmp_path / "bin.yaml"))
    with pytest.raises(BadInput, match="is a folder"):
        prepare(ckpt, base="sd", base_config=lambda name: None, trusted=False, original_config=str(tmp_path))
