"""The full-size builders of issue 13's current models (refedit/testing/fullsize_current.py) have the published
sizes, build in the target dtype, and write layouts that refedit's own code reads.

Every big model is built on the meta device (shapes only, no memory). Expected totals are the published figures:
SAM 3 848 M (facebook/sam3 model card); Qwen-Image's MMDiT "20B" (20.4 B on its hub page); Qwen2.5-VL-7B-Instruct
8.29 B (hub page); FLUX.1 "12B" (11.9 B on the hub page); T5 v1.1 XXL's encoder 4.7-4.9 B (the encoder half of
the 11 B model, with or without its LM head's share).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from refedit.testing.fullsize_current import build_current, current_modules, parameter_count

#: ModelStore component -> (published parameters in billions, tolerance as a fraction)
PUBLISHED = {
    "sam3": (0.848, 0.02),
    "qwen_transformer": (20.4, 0.02),
    "qwen_text_encoder": (8.29, 0.02),
    "flux_transformer": (11.9, 0.02),
    "t5_encoder": (4.8, 0.1 / 4.8),  # 4.7-4.9 B
}


@pytest.fixture(scope="module")
def meta_modules() -> dict[str, torch.nn.Module]:
    return {component: module for role in ("sam3", "qwen-edit", "kontext")
            for component, _, module in current_modules(role, device="meta", dtype=torch.bfloat16)}  # fmt: skip


@pytest.mark.parametrize("component", sorted(PUBLISHED))
def test_parameter_count_matches_the_published_total(meta_modules: dict[str, torch.nn.Module], component: str) -> None:
    billions, tolerance = PUBLISHED[component]
    count = parameter_count(meta_modules[component]) / 1e9
    assert abs(count - billions) <= tolerance * billions, f"{component}: {count:.3f} B, published {billions} B"


def test_modules_are_built_in_the_target_dtype_on_the_target_device(meta_modules: dict[str, torch.nn.Module]) -> None:
    for component, module in meta_modules.items():
        assert {p.dtype for p in module.parameters()} == {torch.bfloat16}, component
        assert {p.device.type for p in module.parameters()} == {"meta"}, component
    assert torch.get_default_dtype() == torch.float32  # the builders restore the default dtype


def test_published_architecture_values(meta_modules: dict[str, torch.nn.Module]) -> None:
    """The sizes the brief lists from the published configs (Qwen2.5-VL-7B, FLUX.1, T5-XXL, Qwen-Image, SAM 3)."""
    qwen = meta_modules["qwen_text_encoder"].config
    t = qwen.text_config
    assert (t.hidden_size, t.num_hidden_layers, t.intermediate_size, t.num_attention_heads, t.num_key_value_heads,
            t.vocab_size) == (3584, 28, 18944, 28, 4, 152064)  # fmt: skip
    assert (qwen.vision_config.depth, qwen.vision_config.hidden_size) == (32, 1280)
    flux = meta_modules["flux_transformer"].config
    assert (flux.num_layers, flux.num_single_layers, flux.num_attention_heads, flux.attention_head_dim) == (19, 38, 24, 128)
    assert meta_modules["vae"].config.latent_channels == 16
    t5 = meta_modules["t5_encoder"].config
    assert (t5.d_model, t5.d_ff, t5.num_layers, t5.num_heads, t5.vocab_size) == (4096, 10240, 24, 64, 32128)
    assert meta_modules["qwen_transformer"].config.num_layers == 60
    assert meta_modules["sam3"].config.vision_config.backbone_config.image_size == 1008


@pytest.mark.parametrize("role", ["qwen-edit", "kontext"])
def test_config_only_layout_passes_the_editors_preflight_and_loads_its_light_parts(tmp_path: Path, role: str) -> None:
    """The layout the GPU benchmark uses (no weight files): refedit's editor accepts it and the store loads the
    tokenizers, processor and scheduler config from it through the ordinary paths; a second build reuses it."""
    from refedit.config import Settings
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.stages import StageContext, registry

    folder = build_current(tmp_path, role, weights=False)
    assert (folder / ".complete").is_file()
    assert not list(folder.rglob("*.safetensors")) and not list(folder.rglob("*.bin"))
    settings = Settings(models={**Settings().models, role: str(folder)}, device="cpu")
    store = ModelStore(settings)
    editor = registry.create("editor", role, StageContext(settings=settings, store=store, options={}))
    editor.check()
    parts = ("qwen_tokenizer", "qwen_processor") if role == "qwen-edit" else ("tokenizer", "t5_tokenizer")
    for part in parts:
        assert store.get(role, part) is not None
    assert store.config(role, "scheduler/scheduler_config.json")["use_dynamic_shifting"] is True
    if role == "qwen-edit":  # the VAE downsamples by 8 (3 steps) x patch 2, read from the written config
        assert editor.multiple() == 16
        size = store.get(role, "qwen_processor").image_processor.size  # Qwen2.5-VL's 3136..12845056 pixels
        assert (size.shortest_edge, size.longest_edge) == (3136, 12845056)
    else:
        assert editor.multiple() == 16
    stamp = (folder / "model_index.json").stat().st_mtime_ns
    assert build_current(tmp_path, role, weights=False) == folder
    assert (folder / "model_index.json").stat().st_mtime_ns == stamp


def test_sam3_layout_asks_for_1008_px(tmp_path: Path) -> None:
    """SAM 3's folder (configs only here) carries the published 1008 px input that the segmenter reads."""
    from refedit.pipeline.segment.sam3 import Preprocessing

    folder = build_current(tmp_path, "sam3", weights=False)
    how = Preprocessing.of(json.loads((folder / "processor_config.json").read_text()))
    assert (how.height, how.width) == (1008, 1008)
    assert json.loads((folder / "config.json").read_text())["model_type"] == "sam3"
