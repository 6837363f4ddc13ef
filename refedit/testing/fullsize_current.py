"""The current models of issue 13 at their published sizes, with random weights, for measuring time and VRAM
without a download: SAM 3 (``facebook/sam3``), Qwen-Image-Edit-2509 (``Qwen/Qwen-Image-Edit-2509``) and FLUX.1
Kontext [dev] (``black-forest-labs/FLUX.1-Kontext-dev``).

Time and memory do not depend on weight values; outputs are meaningless (random weights). Every module is built
*directly* on the target device in the target dtype (``torch.device`` context and transformers' ``dtype``
argument; diffusers models under a temporary default dtype): a 20 B-parameter transformer in bf16 is 41 GB, so
there is never a float32 copy nor a host round trip.

Two ways to hand them to refedit:

- :func:`build_current` writes the standard layout (``save_pretrained`` of every component, tokenizer, processor,
  scheduler, ``model_index.json``) and a ``.complete`` marker, like :mod:`refedit.testing.fullsize`: right for
  SAM 3 (1.7 GB);
- for the editors the weights would be 58 GB (Qwen) + 34 GB (Kontext) on a 64 GiB disk, so
  :func:`build_current` with ``weights=False`` writes the same layout *without* weight files (configs, tokenizer,
  processor, scheduler: what refedit reads without loading a weight) and :func:`current_modules` builds the
  modules in memory; ``benchmarks/current_gpu.py`` places them into the :class:`~refedit.pipeline.models.ModelStore`
  under the keys ``from_pretrained`` would have filled, so the same editor code runs on them.

Sources of the values:

- SAM 3: transformers 5's ``Sam3Config()`` defaults, which mirror ``facebook/sam3``'s ``config.json`` (ViT 1024
  wide, 32 layers, 16 heads, MLP 4736, 14 px patches, window 24, 1008 px input; CLIP-style text encoder 1024 wide,
  24 layers; DETR encoder/decoder 6+6 layers, 256 wide, 200 queries); the image processor's 1008x1008 resize and
  0.5/0.5 normalisation (``Sam3ImageProcessor`` defaults). Published total: 848 M parameters.
- Qwen-Image-Edit-2509: diffusers 0.42's defaults of ``QwenImageTransformer2DModel`` (60 layers, 24 heads x 128,
  joint dim 3584, patch 2, 64 in / 16 out channels, rope axes 16/56/56: the ``transformer/config.json`` of
  Qwen-Image, "20 B") and ``AutoencoderKLQwenImage`` (base 96, z 16, mults 1/2/4/4, the published latent mean/std);
  the text encoder is Qwen2.5-VL-7B-Instruct's published ``config.json`` (hidden 3584, 28 layers, MLP 18944, 28
  heads / 4 KV heads, vocab 152064, untied head, mrope 16/24/24; vision tower depth 32, 1280 wide, MLP 3420, 16
  heads, window 112, full attention at 7/15/23/31) -- transformers' ``Qwen2_5_VLConfig()`` defaults are the 72B
  model, so every size is set here; Qwen2-VL's image processor settings (patch 14, merge 2, 3136..12845056 px).
- FLUX.1 Kontext [dev]: ``FluxTransformer2DModel`` with FLUX.1's ``transformer/config.json`` (19 double + 38 single
  blocks, 24 heads x 128, joint dim 4096, pooled 768, guidance embedding, 64 in channels, "12 B"); FLUX's
  ``vae/config.json`` (``AutoencoderKL`` 128/256/512/512, 16 latent channels, scaling 0.3611, shift 0.1159, no quant
  convs); CLIP ViT-L/14's text tower (``text_encoder``); T5 v1.1 XXL's encoder (``text_encoder_2``: d_model 4096,
  d_ff 10240, d_kv 64, 24 layers, 64 heads, vocab 32128, gated GELU).
- Schedulers: ``FlowMatchEulerDiscreteScheduler`` with dynamic shifting as the two repositories ship it (their
  exact shift values change the sigmas, not the cost).

Tokenizers are the offline byte-level recipes of :mod:`refedit.testing.tiny_editors` (no vocabulary can be
downloaded here): prompts come out a few times more tokens than with the real BPE vocabularies (tens of tokens
against thousands of image tokens at one megapixel; T5 and CLIP pad to 512 and 77 either way).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import diffusers
import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    FluxTransformer2DModel,
    QwenImageTransformer2DModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
    Sam3Config,
    Sam3Model,
    T5Config,
    T5EncoderModel,
)

from refedit.testing.fullsize import SD15_TEXT, parameter_count
from refedit.testing.tiny_editors import QWEN_SPECIAL_TOKENS, tiny_qwen_tokenizer, tiny_t5_tokenizer
from refedit.testing.tiny_models import tiny_clip_tokenizer

__all__ = ["CURRENT", "PUBLISHED_BILLIONS", "build_current", "current_modules", "sam3_config", "qwen_text_config",
           "t5_xxl_config", "parameter_count"]  # fmt: skip

#: SAM 3's input side (Sam3ImageProcessor's default, as facebook/sam3 ships it)
SAM3_SIZE = 1008
#: Qwen-Image's ``transformer/config.json`` (diffusers' defaults of the class, set explicitly)
QWEN_TRANSFORMER: dict[str, Any] = dict(
    patch_size=2, in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128, num_attention_heads=24,
    joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56),
)  # fmt: skip
#: Qwen-Image's ``vae/config.json`` (AutoencoderKLQwenImage's defaults: the published latent statistics)
QWEN_VAE: dict[str, Any] = dict(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                temperal_downsample=[False, True, True], dropout=0.0)  # fmt: skip
#: Qwen2.5-VL-7B-Instruct's ``config.json`` (the text encoder of Qwen-Image-Edit-2509)
QWEN_TEXT: dict[str, Any] = dict(
    hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
    vocab_size=152064, max_position_embeddings=128000, rms_norm_eps=1e-6, rope_theta=1000000.0, hidden_act="silu",
    tie_word_embeddings=False, rope_scaling={"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
)  # fmt: skip
QWEN_VISION: dict[str, Any] = dict(
    depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584, patch_size=14,
    spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31],
    tokens_per_second=2, in_channels=3, hidden_act="silu",
)  # fmt: skip
#: Qwen2.5-VL's ``preprocessor_config.json``
QWEN_VL_PIXELS: dict[str, Any] = dict(min_pixels=3136, max_pixels=12845056, patch_size=14, merge_size=2,
                                      temporal_patch_size=2)  # fmt: skip
#: Qwen-Image(-Edit)'s ``scheduler/scheduler_config.json``
QWEN_SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
    base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02, time_shift_type="exponential",
)  # fmt: skip
#: FLUX.1's ``transformer/config.json`` (Kontext [dev] has the same architecture)
FLUX_TRANSFORMER: dict[str, Any] = dict(
    patch_size=1, in_channels=64, out_channels=None, num_layers=19, num_single_layers=38, attention_head_dim=128,
    num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
    axes_dims_rope=(16, 56, 56),
)  # fmt: skip
#: FLUX.1's ``vae/config.json``
FLUX_VAE: dict[str, Any] = dict(
    sample_size=1024, in_channels=3, out_channels=3, latent_channels=16, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, act_fn="silu", scaling_factor=0.3611,
    shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False, force_upcast=True, mid_block_add_attention=True,
)  # fmt: skip
#: T5 v1.1 XXL's encoder (FLUX.1's ``text_encoder_2/config.json``)
T5_XXL: dict[str, Any] = dict(
    vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, relative_attention_num_buckets=32,
    relative_attention_max_distance=128, feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6,
    tie_word_embeddings=False, dropout_rate=0.1,
)  # fmt: skip
#: FLUX.1's ``scheduler/scheduler_config.json``
FLUX_SCHEDULER: dict[str, Any] = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                      max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)  # fmt: skip

#: published parameter totals (billions) the configs must reproduce: SAM 3 "848M" (facebook/sam3 model card);
#: Qwen-Image "20B" MMDiT (20.43 B counted from the published config); Qwen2.5-VL-7B 8.29 B (the model card's
#: "8.29B" safetensors total); FLUX.1 "12B" (11.90 B); T5 v1.1 XXL encoder 4.76 B (the 11 B model's encoder half)
PUBLISHED_BILLIONS: dict[str, float] = {"sam3": 0.848, "qwen_transformer": 20.43, "qwen_text_encoder": 8.29,
                                        "flux_transformer": 11.90, "t5_encoder": 4.76}  # fmt: skip


@contextmanager
def _building(device: str | torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Modules made inside are created on ``device`` in ``dtype`` (their own init runs there: no fp32 copy)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def _diffusers_module(cls: Any, config: dict[str, Any], device: str | torch.device, dtype: torch.dtype) -> Any:
    with _building(device, dtype):
        return cls(**config).eval().requires_grad_(False)


def _transformers_module(cls: Any, config: Any, device: str | torch.device, dtype: torch.dtype) -> Any:
    with torch.device(device):
        return cls._from_config(config, dtype=dtype).eval().requires_grad_(False)  # noqa: SLF001


def sam3_config() -> Sam3Config:
    """facebook/sam3 (Sam3Config's defaults) with the offline CLIP tokenizer's special token ids."""
    tok = tiny_clip_tokenizer()
    config = Sam3Config()
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(config.text_config, name, getattr(tok, name))
    return config


def qwen_text_config(tokenizer: Any | None = None) -> Qwen2_5_VLConfig:
    """Qwen2.5-VL-7B (the published sizes above), with the offline tokenizer's vision token ids."""
    tokenizer = tokenizer or tiny_qwen_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    return Qwen2_5_VLConfig(text_config=dict(QWEN_TEXT), vision_config=dict(QWEN_VISION), hidden_size=QWEN_TEXT["hidden_size"],
                            vocab_size=QWEN_TEXT["vocab_size"], tie_word_embeddings=False,
                            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                            vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])  # fmt: skip


def t5_xxl_config() -> T5Config:
    tok = tiny_t5_tokenizer()
    return T5Config(**T5_XXL, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)


def _clip_l_text_config() -> CLIPTextConfig:
    tok = tiny_clip_tokenizer()
    return CLIPTextConfig(**SD15_TEXT, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id)  # fmt: skip


#: role -> {ModelStore component: (subfolder of the diffusers layout, builder ``(device, dtype) -> module``)}, in
#: build order
_Builder = Callable[[str | torch.device, torch.dtype], Any]
MODULES: dict[str, dict[str, tuple[str, _Builder]]] = {
    "sam3": {"sam3": ("", lambda d, t: _transformers_module(Sam3Model, sam3_config(), d, t))},
    "qwen-edit": {
        "qwen_text_encoder": ("text_encoder", lambda d, t: _transformers_module(
            Qwen2_5_VLForConditionalGeneration, qwen_text_config(), d, t)),
        "qwen_vae": ("vae", lambda d, t: _diffusers_module(AutoencoderKLQwenImage, QWEN_VAE, d, t)),
        "qwen_transformer": ("transformer", lambda d, t: _diffusers_module(QwenImageTransformer2DModel, QWEN_TRANSFORMER, d, t)),
    },
    "kontext": {
        "text_encoder": ("text_encoder", lambda d, t: _transformers_module(CLIPTextModel, _clip_l_text_config(), d, t)),
        "t5_encoder": ("text_encoder_2", lambda d, t: _transformers_module(T5EncoderModel, t5_xxl_config(), d, t)),
        "vae": ("vae", lambda d, t: _diffusers_module(AutoencoderKL, FLUX_VAE, d, t)),
        "flux_transformer": ("transformer", lambda d, t: _diffusers_module(FluxTransformer2DModel, FLUX_TRANSFORMER, d, t)),
    },
}  # fmt: skip


def current_modules(role: str, *, device: str | torch.device = "meta", dtype: torch.dtype = torch.bfloat16,
                    seed: int = 0) -> Iterator[tuple[str, str, Any]]:  # fmt: skip
    """``role``'s modules at full size, one at a time: (ModelStore component, layout subfolder, module). A
    generator, so a caller that saves and drops each one never holds two (``meta``: shapes only, no memory)."""
    for component, (folder, build) in MODULES[role].items():
        torch.manual_seed(seed)
        yield component, folder, build(device, dtype)


def _save_module(module: Any, path: Path, weights: bool) -> None:
    """``save_pretrained`` (weights) or only the config file refedit reads (``config.json``)."""
    if weights:
        module.save_pretrained(path)
    elif hasattr(module, "save_config"):  # diffusers
        module.save_config(path)
    else:
        module.config.save_pretrained(path)


def _write_index(path: Path, class_name: str, parts: dict[str, tuple[str, str]]) -> None:
    index = {"_class_name": class_name, "_diffusers_version": diffusers.__version__,
             **{k: list(v) for k, v in sorted(parts.items())}}  # fmt: skip
    (path / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def _layout_sam3(path: Path) -> None:
    tiny_clip_tokenizer().save_pretrained(path)
    data = {"processor_class": "Sam3Processor", "image_processor": {
        "image_processor_type": "Sam3ImageProcessor", "size": {"height": SAM3_SIZE, "width": SAM3_SIZE},
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "rescale_factor": 1 / 255}}  # fmt: skip
    (path / "processor_config.json").write_text(json.dumps(data, indent=2))


def _layout_qwen(path: Path) -> None:
    """Tokenizer, processor (as ``tiny_editors._save_qwen_processor``, real pixel limits), scheduler, index."""
    tokenizer = tiny_qwen_tokenizer()
    tokenizer.save_pretrained(path / "tokenizer")
    Qwen2VLImageProcessorPil(**QWEN_VL_PIXELS).save_pretrained(path / "processor")
    tokenizer.save_pretrained(path / "processor")
    FlowMatchEulerDiscreteScheduler(**QWEN_SCHEDULER).save_pretrained(path / "scheduler")
    _write_index(path, "QwenImageEditPlusPipeline", {
        "scheduler": ("diffusers", "FlowMatchEulerDiscreteScheduler"), "vae": ("diffusers", "AutoencoderKLQwenImage"),
        "text_encoder": ("transformers", "Qwen2_5_VLForConditionalGeneration"),
        "tokenizer": ("transformers", "Qwen2Tokenizer"), "processor": ("transformers", "Qwen2VLProcessor"),
        "transformer": ("diffusers", "QwenImageTransformer2DModel")})  # fmt: skip


def _layout_kontext(path: Path) -> None:
    tiny_clip_tokenizer().save_pretrained(path / "tokenizer")
    tiny_t5_tokenizer().save_pretrained(path / "tokenizer_2")
    FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER).save_pretrained(path / "scheduler")
    _write_index(path, "FluxKontextPipeline", {
        "scheduler": ("diffusers", "FlowMatchEulerDiscreteScheduler"), "vae": ("diffusers", "AutoencoderKL"),
        "text_encoder": ("transformers", "CLIPTextModel"), "tokenizer": ("transformers", "CLIPTokenizer"),
        "text_encoder_2": ("transformers", "T5EncoderModel"), "tokenizer_2": ("transformers", "T5TokenizerFast"),
        "transformer": ("diffusers", "FluxTransformer2DModel")})  # fmt: skip


#: role -> (folder name, writer of the non-weight files)
CURRENT: dict[str, tuple[str, Callable[[Path], None]]] = {
    "sam3": ("sam3", _layout_sam3),
    "qwen-edit": ("qwen-image-edit-2509", _layout_qwen),
    "kontext": ("flux1-kontext-dev", _layout_kontext),
}


def build_current(root: str | Path, role: str, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16,
                  weights: bool = True, seed: int = 0) -> Path:  # fmt: skip
    """Write ``role``'s full-size checkpoint folder under ``root`` (reused when its ``.complete`` marker is there)
    and return it. ``weights``: every component built on ``device`` in ``dtype``, saved, freed before the next;
    without: the same layout with config files only (build the modules with :func:`current_modules`)."""
    name, layout = CURRENT[role]
    folder = Path(root) / f"{name}-{str(dtype).replace('torch.', '')}{'' if weights else '-configs'}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    layout(folder)
    for _component, sub, module in current_modules(role, device=device if weights else "meta", dtype=dtype, seed=seed):
        _save_module(module, folder / sub if sub else folder, weights)
        del module
        if weights and torch.cuda.is_available():
            torch.cuda.empty_cache()
    done.write_text("ok\n")
    return folder
