"""The GPU-path code runs on the CPU too (tiny models): channels-last, the memory plans with their device moves
recorded, the tiled VAE, settings from flag/env/file, and the full-size configs' published parameter counts."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.config import Settings
from refedit.errors import BadInput
from refedit.pipeline.artifacts import EditRequest
from refedit.pipeline.chain import Pipeline
from refedit.pipeline.models import ModelStore
from refedit.pipeline.sd import StableDiffusion

from .conftest import EXAMPLES, FAST, ROOT

CAT = EXAMPLES / "cat.jpg"
OPTIONS = {**FAST, "steps": 4}


def run_chain(settings: Settings, instruction: str = "replace the black cat with a tiger") -> tuple[Pipeline, np.ndarray]:
    store = ModelStore(settings)
    pipe = Pipeline.build(settings, options=OPTIONS, store=store)
    image = Image.open(CAT).convert("RGB").resize((96, 64))
    result = pipe.run(EditRequest(image=image, instruction=instruction, seed=3))
    return pipe, np.asarray(result.image)


def test_full_size_configs_have_the_published_parameter_counts():
    from transformers import CLIPModel, GroundingDinoForObjectDetection, SamModel

    from refedit.testing import fullsize as fs

    counts = {name: fs.parameter_count(m) for name, m in fs.sd_modules("meta").items()}
    with torch.device("meta"):
        counts["grounding"] = fs.parameter_count(GroundingDinoForObjectDetection(fs.grounding_dino_config()[0]))
        counts["sam"] = fs.parameter_count(SamModel(fs.sam_config()))
        counts["clip"] = fs.parameter_count(CLIPModel(fs.clip_config()))
    for name, published in fs.PUBLISHED_MILLIONS.items():
        assert counts[name] / 1e6 == pytest.approx(published, rel=0.005), name
    assert fs.SD15_UNET["cross_attention_dim"] == fs.SD15_TEXT["hidden_size"] == 768


def test_channels_last_on_cpu_gives_the_same_edit(tiny_settings):
    _, plain = run_chain(tiny_settings)
    pipe, fast = run_chain(replace(tiny_settings, channels_last="on"))
    store = pipe.editor.sd.store
    conv = store.get("sd", "unet").conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert store.get("sd", "vae").encoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    # the same arithmetic in another memory order: equal up to float rounding
    assert np.abs(plain.astype(int) - fast.astype(int)).max() <= 2


def test_model_offload_moves_detector_and_sam_out_before_the_unet_runs(tiny_settings):
    _, plain = run_chain(tiny_settings)
    settings = replace(tiny_settings, offload="model")
    store = ModelStore(settings)
    pipe = Pipeline.build(settings, options=OPTIONS, store=store)
    seen: list[dict] = []
    image = Image.open(CAT).convert("RGB").resize((96, 64))
    request = EditRequest(image=image, instruction="replace the black cat with a tiger", seed=3)
    first = np.asarray(pipe.run(request).image)
    unet = store.get("sd", "unet")
    unet.register_forward_pre_hook(lambda *_: seen.append(dict(store._where)))
    second = np.asarray(pipe.run(request).image)  # everything loaded: only moves now
    assert np.array_equal(first, plain) and np.array_equal(second, plain)  # offloading changes no pixel
    sd_id = settings.model("sd")
    for where in seen:  # at every UNet call: SD's modules on the device, every other model's on the CPU
        assert where and all((v == "device") == (k[0] == sd_id) for k, v in where.items()), where
    moved_out = {(mid, comp) for mid, comp, to in store.moves if to == "cpu"}
    assert (settings.model("grounding"), "detector") in moved_out and (settings.model("sam"), "sam") in moved_out
    assert (settings.model("clip"), "clip") in moved_out
    # the second run brought the detector back and sent SD out, then SD back for the edit
    assert (sd_id, "unet", "cpu") in store.moves and store.moves[-1][0] == sd_id


def test_sequential_offload_streams_weights_and_changes_no_pixel(tiny_settings):
    _, plain = run_chain(tiny_settings)
    pipe, streamed = run_chain(replace(tiny_settings, offload="sequential"))
    store = pipe.editor.sd.store
    assert {comp for _, comp, to in store.moves if to == "sequential"} == {"unet", "vae", "text_encoder"}
    assert (pipe.editor.sd.store.settings.model("sam"), "sam", "cpu") in store.moves  # the others move whole
    assert hasattr(store.get("sd", "unet"), "_hf_hook")  # accelerate's hooks move the weights per layer
    assert np.array_equal(plain, streamed)


def test_group_offload_streams_the_sd_weights_and_changes_no_pixel(tiny_settings):
    """diffusers' group offloading on the UNet, VAE and text encoder (leaf by leaf; on CUDA from pinned memory on a
    side stream): the same pixels as every model resident; the detector, SAM and CLIP move whole, as under model."""
    _, plain = run_chain(tiny_settings)
    pipe, streamed = run_chain(replace(tiny_settings, offload="group"))
    store = pipe.editor.sd.store
    assert {comp for _, comp, to in store.moves if to == "group"} == {"unet", "vae", "text_encoder"}
    assert (store.settings.model("sam"), "sam", "cpu") in store.moves
    assert any(m._diffusers_hook.get_hook("group_offloading") for m in store.get("sd", "unet").modules()
               if hasattr(m, "_diffusers_hook"))  # fmt: skip
    assert not store.settings.graphs_on("cuda")  # streamed weights: no CUDA graphs
    assert np.array_equal(plain, streamed)


def test_tiled_vae_runs_diffusers_tiles_and_keeps_the_image(tiny_settings):
    """A 192x128 crop with 64 px tiles: the decoder runs once per overlapping tile, the output has the crop's size
    and follows the untiled one far more than another image's decode does. (With random weights each tile's
    GroupNorm statistics differ, so the tiles do not agree as a trained VAE's do: no tighter claim here.)"""
    image = Image.open(CAT).convert("RGB").resize((192, 128))
    other = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((192, 128))
    out, calls = {}, {}
    for mode in ("off", "on"):
        sd = StableDiffusion(ModelStore(replace(tiny_settings, vae_tiling=mode)))
        assert sd.vae_tiled(128, 192) is (mode == "on")
        vae = sd.vae
        vae.tile_sample_min_size, vae.tile_latent_min_size = 64, 32
        n = []
        handle = vae.decoder.register_forward_pre_hook(lambda *_: n.append(1))
        out[mode] = np.asarray(sd.decode(sd.encode_image(image))).astype(np.float64)
        handle.remove()
        calls[mode] = len(n)
        assert not vae.use_tiling  # the shared VAE is left as it was
        if mode == "off":
            out["other"] = np.asarray(sd.decode(sd.encode_image(other))).astype(np.float64)
    assert calls == {"off": 1, "on": 12}  # 4 x 3 tiles of 32 latents, starting every 24, over 96 x 64
    assert out["on"].shape == out["off"].shape == (128, 192, 3)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert corr(out["on"], out["off"]) > 0.4 > 2 * corr(out["other"], out["off"])
    auto = StableDiffusion(ModelStore(replace(tiny_settings, vae_tiling="auto")))
    assert not auto.vae_tiled(512, 512) and auto.vae_tiled(1536, 1024)  # auto: only above 1024 px


def test_compile_flag_compiles_the_unet_in_place(tiny_settings):
    store = ModelStore(replace(tiny_settings, compile=True))
    unet = store.get("sd", "unet")
    assert type(unet).__name__ == "UNet2DConditionModel" and unet._compiled_call_impl is not None
    assert store.get("sd", "vae")._compiled_call_impl is None


def test_gpu_settings_from_flag_env_and_file(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('offload = "model"\ncompile = true\n')
    s = Settings.resolve(environ={}, config_file=cfg)
    assert (s.offload, s.compile, s.vae_tiling, s.channels_last) == ("model", True, "auto", "auto")
    s = Settings.resolve(environ={"REFEDIT_OFFLOAD": "sequential", "REFEDIT_COMPILE": "0"}, config_file=cfg)
    assert (s.offload, s.compile) == ("sequential", False)
    assert Settings.resolve(environ={"REFEDIT_OFFLOAD": "group"}, config_file=cfg).offload == "group"
    s = Settings.resolve(offload="none", compile=True, environ={"REFEDIT_OFFLOAD": "model"}, config_file=cfg)
    assert (s.offload, s.compile) == ("none", True)
    with pytest.raises(BadInput, match="offload"):
        Settings.resolve(environ={"REFEDIT_OFFLOAD": "gpu"}, config_file=Path(os.devnull))
    with pytest.raises(BadInput, match="compile"):
        Settings.resolve(environ={"REFEDIT_COMPILE": "maybe"}, config_file=Path(os.devnull))


def test_cli_offload_flag_reaches_the_record(tmp_path, tiny_env):
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cat with a tiger", "-o", str(out), "--json",
                                  "--offload", "model", "--steps", "4", "--resolution", "64", "--box-threshold", "0",
                                  "--on-ambiguous", "best"],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert out.exists()
    import json

    record = json.loads(r.stdout)
    assert record["parameters"]["offload"] == "model" and record["parameters"]["compile"] is False
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cat", "-o", str(out), "--offload", "gpu"], env=tiny_env)
    assert r.exit_code == 2 and "gpu" in r.output


def test_fullsize_benchmark_runs_on_tiny_models(tmp_path):
    """benchmarks/fullsize.py end to end (tiny models, 2 steps): the report has every stage and the replay."""
    out = tmp_path / "table.md"
    env = {**os.environ, "REFEDIT_CONFIG": os.devnull}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fullsize.py"), "--tiny", "--models", str(tmp_path),
                        "--device", "cpu", "--size", "96x64", "--steps", "2", "--repeat", "1", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    table = out.read_text()
    for row in ("**parse**", "**segment**", "detect (GroundingDINO)", "SAM image embedding", "DiffEdit invert",
                "DiffEdit denoise", "VAE decode", "**end to end**"):  # fmt: skip
        assert row in table, row
    assert "same seed, same image over the warm runs: yes" in table


def test_the_benchmarks_stored_plans_are_the_rules_parsers(monkeypatch):
    """The GPU machine has no spaCy: the benchmarks read the plans the rules parser makes from
    benchmarks/data/plans.json, which must stay what the parser says (session 8's segmenters run stopped on
    this)."""
    import json

    from refedit.pipeline.artifacts import EditPlan
    from refedit.pipeline.parse.rules import RulesParser

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import modelcalls

    stored = json.loads(modelcalls.PLANS.read_text())
    for instruction, plan in stored.items():
        assert EditPlan.from_dict(plan) == RulesParser().parse(instruction=instruction), instruction
    # each benchmark's instruction is stored
    for script, instruction in (("fullsize.py", "replace the left black cat with a tiger"),
                                ("sweeps.py", "replace the cup with a bowl"),
                                ("current_segmenters.py", "remove the white cup on the right"),
                                ("current_gpu.py", "replace the left cat with a tiger")):  # fmt: skip
        assert instruction in (ROOT / "benchmarks" / script).read_text() and instruction in stored, script
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy -> ImportError, as on the GPU machine
    plan, note = modelcalls.plan_for("replace the cup with a bowl")
    assert note.startswith("given") and plan == EditPlan.from_dict(stored["replace the cup with a bowl"])
    with pytest.raises(SystemExit, match="no plan"):
        modelcalls.plan_for("paint the sky green")


def test_a_cpu_store_flushes_denormals(tiny_settings):
    """Denormal floats cost x86 CPUs up to 100x: SAM ViT-H on a zero-padded 4000x3000 photo took 15 minutes
    instead of 45 s. A CPU store flushes them to zero (a 1e-39 float32 reads as 0 after it chose its device)."""
    store = ModelStore(replace(tiny_settings, device="cpu"))
    assert store.device.type == "cpu"
    tiny = torch.tensor([1e-39], dtype=torch.float32)
    assert (tiny * 1.0).item() == 0.0
