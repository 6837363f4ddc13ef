"""The default models at their published sizes, with random weights, for cost measurements without a download.

Time and memory do not depend on weight values, so these architectures, built from the values of the published
``config.json`` files and saved in the standard layout, are timed through the same ``from_pretrained`` code that
real checkpoints use. Outputs are meaningless (random weights): never read quality off them.

Sources of the values (the public repositories' ``config.json`` files, and the conversion scripts that wrote them):

- ``stable-diffusion-v1-5/stable-diffusion-v1-5``: ``unet/config.json`` (859.52 M parameters), ``vae/config.json``
  (83.65 M), ``text_encoder/config.json`` (CLIP ViT-L/14 text tower, 123.06 M), ``scheduler/scheduler_config.json``.
- ``IDEA-Research/grounding-dino-base``: transformers' ``convert_grounding_dino_to_hf.py`` ("base": Swin-B, embed 128,
  depths 2-2-18-2, heads 4-8-16-32, window 12, 384 px) over ``GroundingDinoConfig``'s defaults (d_model 256, 6+6
  layers, 900 queries, BERT-base text: 12 layers, 768 wide, vocab 30522).
- ``facebook/sam-vit-huge``: ViT-H image encoder (1280 wide, 32 layers, 16 heads, global attention at 7/15/23/31,
  window 14, 1024 px, 16 px patches), 641 M parameters in all.
- ``openai/clip-vit-base-patch16``: ViT-B/16 vision (768 wide, 12 layers, 224 px) and the 512-wide text tower.

Tokenizers are the offline recipes of :mod:`refedit.testing.tiny_models` (no vocabulary can be downloaded here):
the CLIP text is padded to 77 tokens for SD as with the real tokenizer; CLIP's attribute prompts and GroundingDINO's
prompt tokenize a little differently from the real vocabularies (a few tokens either way, a negligible cost).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import diffusers
import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
from transformers import (
    BertConfig,
    BertTokenizer,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    GroundingDinoConfig,
    GroundingDinoForObjectDetection,
    GroundingDinoImageProcessor,
    GroundingDinoProcessor,
    SamConfig,
    SamImageProcessor,
    SamModel,
    SamProcessor,
)

from refedit.testing.tiny_models import DEFAULT_WORDS, tiny_clip_tokenizer

__all__ = ["FULLSIZE", "build_fullsize", "fullsize_sd", "fullsize_grounding_dino", "fullsize_sam", "fullsize_clip",
           "parameter_count"]  # fmt: skip

#: SD 1.5 ``unet/config.json``
SD15_UNET: dict[str, Any] = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, act_fn="silu", center_input_sample=False,
    downsample_padding=1, flip_sin_to_cos=True, freq_shift=0, mid_block_scale_factor=1, norm_eps=1e-5,
)  # fmt: skip
#: SD 1.5 ``vae/config.json``
SD15_VAE: dict[str, Any] = dict(
    sample_size=512, in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, act_fn="silu", scaling_factor=0.18215,
)  # fmt: skip
#: SD 1.5 ``text_encoder/config.json`` (OpenAI CLIP ViT-L/14's text tower)
SD15_TEXT: dict[str, Any] = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
    max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu", layer_norm_eps=1e-5,
)  # fmt: skip
#: SD 1.5 ``scheduler/scheduler_config.json`` (PNDM values; refedit builds DDIM from them)
SD15_SCHEDULER: dict[str, Any] = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    skip_prk_steps=True, steps_offset=1, set_alpha_to_one=False,
)  # fmt: skip
#: grounding-dino-base: Swin-B backbone over the GroundingDinoConfig defaults (BERT-base text)
GDINO_BASE_BACKBONE: dict[str, Any] = dict(
    model_type="swin", embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=12,
    image_size=384, out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4],
)  # fmt: skip
#: sam-vit-huge's vision encoder (prompt encoder and mask decoder are SamConfig's defaults, as published)
SAM_VIT_H: dict[str, Any] = dict(
    hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, mlp_dim=5120, global_attn_indexes=[7, 15, 23, 31],
    image_size=1024, patch_size=16, window_size=14, output_channels=256, num_pos_feats=128,
)  # fmt: skip
#: clip-vit-base-patch16
CLIP_B16_VISION: dict[str, Any] = dict(
    hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12, image_size=224,
    patch_size=16, projection_dim=512, hidden_act="quick_gelu",
)  # fmt: skip
CLIP_B16_TEXT: dict[str, Any] = dict(
    vocab_size=49408, hidden_size=512, intermediate_size=2048, num_attention_heads=8, num_hidden_layers=12,
    max_position_embeddings=77, projection_dim=512, hidden_act="quick_gelu",
)  # fmt: skip

#: published parameter counts (millions) the configs above must reproduce
PUBLISHED_MILLIONS: dict[str, float] = {"unet": 859.52, "vae": 83.65, "text_encoder": 123.06, "sam": 641.09, "grounding": 233.0,
                                       "clip": 149.62}  # fmt: skip


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _save(model: Any, path: Path, dtype: torch.dtype) -> None:
    model.to(dtype).to("cpu").save_pretrained(path)


def _build(cls: Any, config: Any, device: str, seed: int) -> Any:
    """Instantiate on ``device`` (a GPU initialises 860 M parameters in well under a second; no transfer)."""
    torch.manual_seed(seed)
    with torch.device(device):
        return cls(config) if not isinstance(config, dict) else cls(**config)


def sd_modules(device: str = "meta", seed: int = 0) -> dict[str, Any]:
    """SD 1.5's UNet, VAE and text encoder at full size (``meta``: shapes only, no memory)."""
    tok = tiny_clip_tokenizer()
    text_cfg = CLIPTextConfig(**SD15_TEXT, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id)  # fmt: skip
    return {
        "unet": _build(UNet2DConditionModel, SD15_UNET, device, seed),
        "vae": _build(AutoencoderKL, SD15_VAE, device, seed),
        "text_encoder": _build(CLIPTextModel, text_cfg, device, seed),
    }


def fullsize_sd(path: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0) -> Path:
    """Save SD 1.5 at full size with random weights in the diffusers layout (the subfolders refedit loads)."""
    path = Path(path)
    for name, module in sd_modules(device, seed).items():
        _save(module, path / name, dtype)
        del module
    tiny_clip_tokenizer().save_pretrained(path / "tokenizer")
    scheduler = PNDMScheduler(**SD15_SCHEDULER)
    scheduler.register_to_config(clip_sample=False)  # as SD 1.5's file: DDIM built from_config reads it
    scheduler.save_pretrained(path / "scheduler")
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": diffusers.__version__,
             "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}  # fmt: skip
    (path / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    return path


def grounding_dino_config() -> tuple[GroundingDinoConfig, BertTokenizer]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."]
    tokens = list(dict.fromkeys(specials + [w.lower() for w in DEFAULT_WORDS]))
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)
    config = GroundingDinoConfig(backbone_config=GDINO_BASE_BACKBONE, text_config=BertConfig().to_dict(),
                                 use_timm_backbone=False)  # fmt: skip
    return config, tokenizer


def fullsize_grounding_dino(path: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32,
                            seed: int = 0) -> Path:  # fmt: skip
    """Save GroundingDINO-base (Swin-B, BERT-base) with its processor (800 px short side, 1333 long, as published)."""
    path = Path(path)
    config, tokenizer = grounding_dino_config()
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(), tokenizer=tokenizer).save_pretrained(path)
    _save(_build(GroundingDinoForObjectDetection, config, device, seed), path, dtype)
    return path


def sam_config() -> SamConfig:
    return SamConfig(vision_config=SAM_VIT_H)


def fullsize_sam(path: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0) -> Path:
    """Save SAM ViT-H with its processor (longest side 1024, padded to 1024x1024)."""
    path = Path(path)
    _save(_build(SamModel, sam_config(), device, seed), path, dtype)
    SamProcessor(image_processor=SamImageProcessor()).save_pretrained(path)
    return path


def clip_config() -> CLIPConfig:
    tok = tiny_clip_tokenizer()
    text = dict(CLIP_B16_TEXT, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return CLIPConfig(text_config=text, vision_config=CLIP_B16_VISION, projection_dim=512)


def fullsize_clip(path: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0) -> Path:
    """Save CLIP ViT-B/16 with a CLIPProcessor (224 px, the offline byte-level tokenizer)."""
    path = Path(path)
    _save(_build(CLIPModel, clip_config(), device, seed), path, dtype)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 224},
                              crop_size={"height": 224, "width": 224}), tokenizer=tiny_clip_tokenizer())  # fmt: skip
    processor.save_pretrained(path)
    return path


#: role -> (folder name, builder)
FULLSIZE = {
    "sd": ("sd15", fullsize_sd),
    "grounding": ("grounding-dino-base", fullsize_grounding_dino),
    "sam": ("sam-vit-huge", fullsize_sam),
    "clip": ("clip-vit-base-patch16", fullsize_clip),
}


def build_fullsize(root: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32,
                   roles: tuple[str, ...] = tuple(FULLSIZE), table: Mapping[str, tuple[str, Any]] = FULLSIZE) -> dict[str, Path]:  # fmt: skip
    """Build (or reuse, when its folder is complete) each of ``roles``' full-size models under ``root``; role ->
    folder. ``table``: role -> (folder name, builder), the default models' (or another table's, see
    :mod:`refedit.testing.fullsize_segmenters`)."""
    root = Path(root)
    out = {}
    for role in roles:
        name, builder = table[role]
        folder = root / f"{name}-{str(dtype).replace('torch.', '')}"
        done = folder / ".complete"
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            builder(folder, device=device, dtype=dtype)
            done.write_text("ok\n")
        out[role] = folder
    return out
