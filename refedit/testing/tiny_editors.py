"""Tiny random-weight instances of the current instruction editors' real architectures, saved with
``save_pretrained`` in the standard diffusers pipeline layout (``model_index.json`` plus one folder per component)
so refedit loads them through the same ``from_pretrained`` paths as ``Qwen/Qwen-Image-Edit-2509`` and
``black-forest-labs/FLUX.1-Kontext-dev``. Everything is built offline: the tokenizers are byte-level (one token
per character) over an in-memory vocabulary. Sizes follow diffusers' own pipeline tests
(tests/pipelines/qwenimage/test_qwenimage_edit_plus.py, tests/pipelines/flux/test_pipeline_flux_kontext.py), with
two changes for speed: the Qwen VAE downsamples by 16 (four spatial steps; the real one by 8), because the Qwen
edit pipelines always encode the condition image at about one megapixel; and the Qwen-VL image processor reads at
most 128x128 pixels (the real one up to 3584x3584). torchvision is not installable here, so the image processor
is transformers' PIL variant (``Qwen2VLImageProcessorPil``), which the real checkpoints also load into without
torchvision. Weights are random: outputs prove plumbing, never quality.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    FluxKontextPipeline,
    FluxTransformer2DModel,
    QwenImageEditPlusPipeline,
    QwenImageTransformer2DModel,
)
from transformers import (
    CLIPTextModel,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2Tokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

from refedit.testing.tiny_models import _tiny_clip_text_config, tiny_clip_tokenizer

__all__ = ["build_tiny_qwen_edit", "build_tiny_kontext", "build_editors", "QWEN_SPECIAL_TOKENS"]

#: the special tokens the Qwen-Image edit prompt templates and Qwen2-VL's processor use
QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                       "<|image_pad|>", "<|video_pad|>")  # fmt: skip
#: largest image the tiny Qwen-VL processor reads, in pixels (patch 14 x merge 2 = 28 px per vision token)
_QWEN_VL_MAX_PIXELS = 128 * 128


def tiny_qwen_tokenizer() -> Qwen2Tokenizer:
    """A byte-level Qwen2Tokenizer (the 256 byte characters, no merges) with Qwen's chat and vision tokens."""
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=1024)
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:])})
    tokenizer.add_tokens([QWEN_SPECIAL_TOKENS[0]], special_tokens=True)
    return tokenizer


def _save_qwen_processor(path: Path, tokenizer: Qwen2Tokenizer) -> None:
    """Write ``processor/`` as the real repository has it (image processor and tokenizer files) and name
    ``Qwen2VLProcessor`` in ``model_index.json``. The processor object itself cannot be built without torchvision
    (its video processor needs it), so the files are written part by part."""
    import json

    from transformers import Qwen2VLImageProcessorPil

    folder = path / "processor"
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=_QWEN_VL_MAX_PIXELS).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    index = json.loads((path / "model_index.json").read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    (path / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def build_tiny_qwen_edit(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny Qwen-Image-Edit(-Plus) pipeline: QwenImageTransformer2DModel (2 layers, 3x16 heads),
    AutoencoderKLQwenImage (z 4, downsampling 16), a 2-layer Qwen2.5-VL text encoder with a 2-layer vision
    tower, the byte-level tokenizer and Qwen2VLProcessor, and FlowMatchEulerDiscreteScheduler."""
    path = Path(path)
    tokenizer = tiny_qwen_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4, num_layers=2,
                                              attention_head_dim=16, num_attention_heads=3, joint_attention_dim=16,
                                              guidance_embeds=False, axes_dims_rope=(8, 4, 4))  # fmt: skip
    z_dim = 4
    vae = AutoencoderKLQwenImage(base_dim=8, z_dim=z_dim, dim_mult=[1, 1, 2, 2, 2], num_res_blocks=1,
                                 temperal_downsample=[False, False, False, False], latents_mean=[0.0] * z_dim,
                                 latents_std=[1.0] * z_dim)  # fmt: skip
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "vocab_size": len(tokenizer), "rope_theta": 1000000.0,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16,
                       "fullatt_block_indexes": [1]},
        hidden_size=16, vocab_size=len(tokenizer), image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )  # fmt: skip
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    pipe = QwenImageEditPlusPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                                     tokenizer=tokenizer, processor=None, transformer=transformer)  # fmt: skip
    pipe.save_pretrained(path)
    _save_qwen_processor(path, tokenizer)
    return path


def tiny_t5_tokenizer() -> T5Tokenizer:
    """A T5 (Unigram) tokenizer whose pieces are the printable ASCII characters and the ``▁`` word marker."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(chr(c), -2.0) for c in range(33, 127)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=512)


def build_tiny_kontext(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny FLUX.1 Kontext pipeline: FluxTransformer2DModel (1 double + 1 single block), AutoencoderKL
    (1 latent channel, no downsampling), CLIPTextModel + T5EncoderModel with byte-level tokenizers, and
    FlowMatchEulerDiscreteScheduler."""
    path = Path(path)
    clip_tok, t5_tok = tiny_clip_tokenizer(), tiny_t5_tokenizer()
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])  # fmt: skip
    text_encoder = CLIPTextModel(_tiny_clip_text_config(clip_tok))
    t5 = T5EncoderModel(T5Config(vocab_size=len(t5_tok), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                 pad_token_id=t5_tok.pad_token_id, eos_token_id=t5_tok.eos_token_id))  # fmt: skip
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=1, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)  # fmt: skip
    pipe = FluxKontextPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                               tokenizer=clip_tok, text_encoder_2=t5, tokenizer_2=t5_tok, transformer=transformer)
    pipe.save_pretrained(path)
    return path


def build_editors(root: str | Path) -> dict[str, Path]:
    """Build both tiny editor pipelines under ``root``; return role -> directory."""
    root = Path(root)
    return {"qwen-edit": build_tiny_qwen_edit(root / "qwen-edit"), "kontext": build_tiny_kontext(root / "kontext")}
