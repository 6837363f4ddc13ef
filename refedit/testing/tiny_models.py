"""Tiny random-weight instances of the real model architectures refedit uses.

Each builder saves a model with ``save_pretrained`` in the standard on-disk layout, so tests load it back through
the ordinary ``from_pretrained`` paths, fully offline. Weights are random: outputs prove plumbing, not quality.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
from transformers import (
    BertConfig,
    BertTokenizer,
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2Processor,
    BlipImageProcessor,
    CLIPConfig,
    CLIPImageProcessor,
    CLIPModel,
    CLIPProcessor,
    CLIPSegConfig,
    CLIPSegForImageSegmentation,
    CLIPSegProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    GPT2Tokenizer,
    GroundingDinoConfig,
    GroundingDinoForObjectDetection,
    GroundingDinoImageProcessor,
    GroundingDinoProcessor,
    OPTConfig,
    SamConfig,
    SamImageProcessor,
    SamModel,
    SamProcessor,
    ViTImageProcessor,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

__all__ = [
    "DEFAULT_WORDS",
    "build_all",
    "build_tiny_blip2",
    "build_tiny_clip",
    "build_tiny_clipseg",
    "build_tiny_grounding_dino",
    "build_tiny_sam",
    "build_tiny_sd",
    "tiny_clip_tokenizer",
]

DEFAULT_WORDS: tuple[str, ...] = (
    "a", "the", "photo", "of", "an", "and", "on", "in", "with", "to", "is",
    "cat", "dog", "man", "woman", "person", "child", "boy", "girl", "car", "bus", "truck", "bike",
    "tree", "vase", "cup", "bottle", "chair", "table", "bed", "book", "bird", "horse", "tiger", "apple",
    "left", "right", "top", "bottom", "middle", "center", "front", "back", "near", "far",
    "big", "small", "large", "tall", "red", "blue", "green", "yellow", "white", "black", "brown",
    "sitting", "standing",
)  # fmt: skip

_CLIP_MAX_LENGTH = 77
#: the transformer width/depth every tiny text and vision tower here uses
TINY_LAYERS: dict[str, int] = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2}


def _prepare(path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A CLIPTokenizer over the 256 byte-level characters (with and without ``</w>``) and no merges.

    It tokenizes any text, one token per character; its vocabulary has 514 entries.
    """
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=_CLIP_MAX_LENGTH)


def _tiny_clip_text_config(tokenizer: CLIPTokenizer, hidden_size: int | None = None) -> CLIPTextConfig:
    layers = {**TINY_LAYERS, **({"hidden_size": hidden_size} if hidden_size else {})}
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,  # the pooled output is taken at the first EOS
        pad_token_id=tokenizer.pad_token_id,
        **layers,
        max_position_embeddings=_CLIP_MAX_LENGTH,
        projection_dim=32,
    )


#: SDXL's size-and-crop conditioning: 6 numbers, each embedded to this many channels (SDXL's: 256)
_SDXL_TIME_DIM = 8


def build_tiny_sd(
    path: str | Path,
    *,
    unet_in_channels: int = 4,
    prediction_type: str = "epsilon",
    text_hidden_size: int | None = None,
    sdxl: bool = False,
    seed: int = 0,
) -> Path:
    """Save a tiny Stable Diffusion repo (unet, vae, text_encoder, tokenizer, scheduler, model_index.json).

    ``unet_in_channels`` 9 gives an inpainting-style UNet, 8 an InstructPix2Pix-style one. The VAE downsamples by
    2 (SD 1.5's by 8); the scheduler is SD 1.5's PNDM config, as the real repository ships it, with
    ``prediction_type`` ("v_prediction": an SD 2.x 768-v-style checkpoint). ``text_hidden_size`` other than 32
    gives a text encoder that does not fit the UNet's cross-attention (a mixed-up checkpoint). ``sdxl`` gives
    SDXL's layout: a second text encoder with projection (``text_encoder_2``, ``tokenizer_2``) and a UNet with
    "text_time" added embeddings reading both encoders' concatenated hidden states.
    """
    path = _prepare(path)
    text_width = TINY_LAYERS["hidden_size"]

    torch.manual_seed(seed)
    xl = dict(addition_embed_type="text_time", addition_time_embed_dim=_SDXL_TIME_DIM,
              projection_class_embeddings_input_dim=6 * _SDXL_TIME_DIM + 32)  # fmt: skip
    UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=unet_in_channels,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=2 * text_width if sdxl else text_width,
        attention_head_dim=(2, 4),
        norm_num_groups=32,
        **(xl if sdxl else {}),
    ).save_pretrained(path / "unet")

    torch.manual_seed(seed)
    AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=32,
    ).save_pretrained(path / "vae")

    tokenizer = tiny_clip_tokenizer()
    tokenizer.save_pretrained(path / "tokenizer")
    torch.manual_seed(seed)
    CLIPTextModel(_tiny_clip_text_config(tokenizer, text_hidden_size)).save_pretrained(path / "text_encoder")
    if sdxl:
        tokenizer.save_pretrained(path / "tokenizer_2")
        CLIPTextModelWithProjection(_tiny_clip_text_config(tokenizer)).save_pretrained(path / "text_encoder_2")

    scheduler = PNDMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        skip_prk_steps=True,
        steps_offset=1,
        set_alpha_to_one=False,
        prediction_type=prediction_type,
    )
    # SD 1.5's config carries clip_sample=false, which PNDM ignores but DDIM (default True) reads from_config.
    scheduler.register_to_config(clip_sample=False)
    scheduler.save_pretrained(path / "scheduler")

    model_index: dict[str, object] = {
        "_class_name": "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    if sdxl:
        model_index.update(text_encoder_2=["transformers", "CLIPTextModelWithProjection"],
                           tokenizer_2=["transformers", "CLIPTokenizer"])  # fmt: skip
    (path / "model_index.json").write_text(json.dumps(model_index, indent=2) + "\n")
    return path


def build_tiny_grounding_dino(path: str | Path, words: Sequence[str] = DEFAULT_WORDS, seed: int = 0) -> Path:
    """Save a tiny GroundingDinoForObjectDetection and its GroundingDinoProcessor (lowercase BERT word vocab).

    Words outside ``words`` tokenize to ``[UNK]``.
    """
    path = _prepare(path)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."]
    tokens = list(dict.fromkeys(specials + [w.lower() for w in words]))
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(tokens)}, do_lower_case=True)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 128, "longest_edge": 128})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)

    config = GroundingDinoConfig(
        backbone_config={
            "model_type": "swin",
            "embed_dim": 32,
            "depths": [1, 1, 1, 1],
            "num_heads": [1, 1, 1, 1],
            "window_size": 7,
            "image_size": 224,
            "out_features": ["stage2", "stage3", "stage4"],
            "out_indices": [2, 3, 4],
        },
        text_config=BertConfig(
            vocab_size=len(tokens),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=37,
        ).to_dict(),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # 1 breaks the bbox_embed weight tying
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=20,
        num_feature_levels=4,
        use_timm_backbone=False,
    )
    torch.manual_seed(seed)
    GroundingDinoForObjectDetection(config).save_pretrained(path)
    return path


def build_tiny_sam(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny SamModel (128 px input, 8x8 embedding grid) and its SamProcessor."""
    path = _prepare(path)
    config = SamConfig(
        vision_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            image_size=128,
            patch_size=16,
            output_channels=32,
            global_attn_indexes=[1],
            window_size=4,
            mlp_dim=37,
            num_pos_feats=16,  # must be hidden_size / 2 or box prompts fail
        ),
        prompt_encoder_config=dict(hidden_size=32, image_size=128, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=37, iou_head_hidden_dim=32
        ),
    )
    torch.manual_seed(seed)
    SamModel(config).save_pretrained(path)
    image_processor = SamImageProcessor(size={"longest_edge": 128}, pad_size={"height": 128, "width": 128})
    SamProcessor(image_processor=image_processor).save_pretrained(path)
    return path


def build_tiny_clip(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny CLIPModel (32 px images, 8 px patches) and a CLIPProcessor with the byte-level tokenizer."""
    path = _prepare(path)
    tokenizer = tiny_clip_tokenizer()
    image_size = 32
    config = CLIPConfig(
        text_config=_tiny_clip_text_config(tokenizer).to_dict(),
        vision_config=dict(
            **TINY_LAYERS,
            image_size=image_size,
            patch_size=8,
            projection_dim=32,
        ),
        projection_dim=32,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(path)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


def build_tiny_clipseg(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny CLIPSegForImageSegmentation (32 px images, 8 px patches, a 4-layer vision tower whose layers
    1-3 feed the decoder, as transformers' own CLIPSeg tests shape it) and a CLIPSegProcessor (a ViT image
    processor resizing to the square input with ImageNet statistics, as CIDAS/clipseg-rd64-refined's does, and
    the byte-level tokenizer)."""
    path = _prepare(path)
    tokenizer = tiny_clip_tokenizer()
    image_size = 32
    config = CLIPSegConfig(
        text_config=_tiny_clip_text_config(tokenizer).to_dict(),
        vision_config=dict(**{**TINY_LAYERS, "num_hidden_layers": 4}, image_size=image_size, patch_size=8),
        projection_dim=32,
        reduce_dim=16,
        extract_layers=[1, 2, 3],
        decoder_num_attention_heads=2,
        decoder_intermediate_size=37,
    )
    torch.manual_seed(seed)
    CLIPSegForImageSegmentation(config).save_pretrained(path)
    image_processor = ViTImageProcessor(size={"height": image_size, "width": image_size},
                                        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])  # fmt: skip
    CLIPSegProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


def build_all(root: str | Path) -> dict[str, Path]:
    """Build every tiny model under ``root``; return role -> directory."""
    root = Path(root)
    return {
        "sd": build_tiny_sd(root / "sd"),
        "sd-inpaint": build_tiny_sd(root / "sd-inpaint", unet_in_channels=9),
        "sd-instruct": build_tiny_sd(root / "sd-instruct", unet_in_channels=8),
        "grounding-dino": build_tiny_grounding_dino(root / "grounding-dino"),
        "sam": build_tiny_sam(root / "sam"),
        "clip": build_tiny_clip(root / "clip"),
        "captioner": build_tiny_blip2(root / "captioner"),
        "clipseg": build_tiny_clipseg(root / "clipseg"),
        "sam3": _tiny_sam3(root / "sam3"),
    }


def _tiny_sam3(path: Path) -> Path:
    from refedit.testing.tiny_segmenters import build_tiny_sam3  # it builds on this module's tokenizer

    return build_tiny_sam3(path)


def build_tiny_blip2(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny Blip2ForConditionalGeneration (32 px images, 4 query tokens, 2-layer OPT) and its Blip2Processor.

    The tokenizer is an OPT-style byte-level GPT2Tokenizer (256 byte characters, no merges, ``</s>`` as BOS and
    EOS, BOS prepended); the processor adds the ``<image>`` token and puts ``num_query_tokens`` of them before
    the text, as the real checkpoints do. The LM head is not tied to the embeddings, so greedy decoding yields
    random bytes instead of repeating the BOS (which would stop generation at once).
    """
    path = _prepare(path)
    num_query_tokens, image_size = 4, 32
    chars = list(bytes_to_unicode().values())
    vocab = {token: i for i, token in enumerate(chars + ["</s>", "<pad>"])}
    tokenizer = GPT2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token="</s>",
        bos_token="</s>",
        eos_token="</s>",
        pad_token="<pad>",
        add_bos_token=True,
        model_max_length=64,
    )
    image_processor = BlipImageProcessor(size={"height": image_size, "width": image_size})
    processor = Blip2Processor(image_processor, tokenizer, num_query_tokens=num_query_tokens)
    processor.save_pretrained(path)  # the processor has added <image> to the tokenizer by now

    text_config = OPTConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        word_embed_proj_dim=32,
        ffn_dim=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = Blip2Config(
        vision_config=dict(
            **TINY_LAYERS,
            image_size=image_size,
            patch_size=8,
        ),
        qformer_config=dict(
            vocab_size=len(tokenizer),
            **TINY_LAYERS,
            cross_attention_frequency=1,
            encoder_hidden_size=32,
            max_position_embeddings=64,
        ),
        text_config=text_config.to_dict(),
        num_query_tokens=num_query_tokens,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_text_hidden_size=32,
    )
    torch.manual_seed(seed)
    Blip2ForConditionalGeneration(config).save_pretrained(path)
    return path
