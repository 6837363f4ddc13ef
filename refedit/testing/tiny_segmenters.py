"""Tiny random-weight instances of the newer segmentation parts (SAM 3, SAM 2, MM-Grounding-DINO, OWLv2,
Florence-2), built offline, saved with ``save_pretrained`` in the standard layout and loaded back by refedit through
the ordinary ``from_pretrained`` paths. Configs follow the libraries' own tests (``tests/models/<name>/``).

The image processors of SAM 2 and SAM 3 exist only with torchvision; their settings are written as the
checkpoints ship them (``processor_config.json``'s ``image_processor``), which is what refedit reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import (
    BartTokenizer,
    BertConfig,
    BertTokenizer,
    CLIPImageProcessorPil,
    CLIPTokenizer,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2Processor,
    GroundingDinoImageProcessorPil,
    GroundingDinoProcessor,
    MMGroundingDinoConfig,
    MMGroundingDinoForObjectDetection,
    Owlv2Config,
    Owlv2ForObjectDetection,
    Owlv2ImageProcessorPil,
    Owlv2Processor,
    Sam2Config,
    Sam2Model,
    Sam3Config,
    Sam3Model,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode
from transformers.models.sam2.configuration_sam2 import (
    Sam2HieraDetConfig,
    Sam2MaskDecoderConfig,
    Sam2PromptEncoderConfig,
    Sam2VisionConfig,
)
from transformers.models.sam3.configuration_sam3 import (
    Sam3DETRDecoderConfig,
    Sam3DETREncoderConfig,
    Sam3GeometryEncoderConfig,
    Sam3MaskDecoderConfig,
    Sam3VisionConfig,
    Sam3ViTConfig,
)

from refedit.testing.tiny_models import DEFAULT_WORDS, tiny_clip_tokenizer

#: the tiny SAM 3's square input (8 x 8 patches of 14 px) and its number of queries
SAM3_SIZE, SAM3_QUERIES = 112, 8
#: the tiny SAM 2's square input
SAM2_SIZE = 128


def _prepare(path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_image_processor(path: Path, processor_class: str, image_processor: dict[str, Any]) -> None:
    """``processor_config.json`` as transformers 5 writes it (the image processor's settings nested)."""
    data = {"processor_class": processor_class, "image_processor": image_processor}
    (path / "processor_config.json").write_text(json.dumps(data, indent=2))


def build_tiny_sam3(path: str | Path, seed: int = 0, queries: int = SAM3_QUERIES) -> Path:
    """Save a tiny Sam3Model (112 px input, ``queries`` DETR queries), its CLIP tokenizer (byte-level, offline) and
    its processor settings."""
    path = _prepare(path)
    tok = tiny_clip_tokenizer()
    backbone = Sam3ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             image_size=SAM3_SIZE, patch_size=14, window_size=4, global_attn_indexes=[1])  # fmt: skip
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=1,
                num_attention_heads=4, max_position_embeddings=32, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)  # fmt: skip
    config = Sam3Config(
        vision_config=Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=32, scale_factors=[2.0, 1.0]),
        text_config=text,
        geometry_encoder_config=Sam3GeometryEncoderConfig(hidden_size=32, num_layers=1, num_attention_heads=4,
                                                          intermediate_size=64, mask_fuser_hidden_size=32,
                                                          mask_fuser_num_layers=1),  # fmt: skip
        detr_encoder_config=Sam3DETREncoderConfig(hidden_size=32, num_layers=1, num_attention_heads=4, intermediate_size=64),
        detr_decoder_config=Sam3DETRDecoderConfig(hidden_size=32, num_layers=1, num_queries=queries,
                                                  num_attention_heads=4, intermediate_size=64),  # fmt: skip
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=32, num_upsampling_stages=2),
    )
    torch.manual_seed(seed)
    Sam3Model(config).save_pretrained(path)
    tok.save_pretrained(path)
    _write_image_processor(path, "Sam3Processor", {
        "image_processor_type": "Sam3ImageProcessor", "size": {"height": SAM3_SIZE, "width": SAM3_SIZE},
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "rescale_factor": 1 / 255,
    })  # fmt: skip
    return path


def build_tiny_sam2(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny Sam2Model (128 px input, Hiera with 4 small stages) and its processor settings."""
    path = _prepare(path)
    backbone = Sam2HieraDetConfig(hidden_size=12, num_channels=3, image_size=SAM2_SIZE, patch_stride=4, patch_kernel_size=7,
                                  patch_padding=3, blocks_per_stage=[1, 1, 1, 1], embed_dim_per_stage=[12, 24, 48, 96])  # fmt: skip
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[96, 48, 24, 12],
                              backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], fpn_hidden_size=32)  # fmt: skip
    config = Sam2Config(
        vision_config=vision,
        prompt_encoder_config=Sam2PromptEncoderConfig(hidden_size=32, image_size=SAM2_SIZE, patch_size=16, mask_input_channels=8),
        mask_decoder_config=Sam2MaskDecoderConfig(hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=4,
                                                  iou_head_hidden_dim=32),  # fmt: skip
        memory_attention_hidden_size=12, memory_encoder_hidden_size=32, image_size=SAM2_SIZE,
        mask_downsampler_embed_dim=32, memory_fuser_embed_dim=32, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=32,
    )  # fmt: skip
    torch.manual_seed(seed)
    Sam2Model(config).save_pretrained(path)
    _write_image_processor(path, "Sam2Processor", {
        "image_processor_type": "Sam2ImageProcessor", "size": {"height": SAM2_SIZE, "width": SAM2_SIZE},
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "rescale_factor": 1 / 255,
    })  # fmt: skip
    return path


def _bert_tokenizer(words: Sequence[str]) -> tuple[BertTokenizer, int]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."]
    tokens = list(dict.fromkeys(specials + [w.lower() for w in words]))
    return BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True), len(tokens)


def build_tiny_mm_grounding_dino(path: str | Path, words: Sequence[str] = DEFAULT_WORDS, seed: int = 0) -> Path:
    """Save a tiny MMGroundingDinoForObjectDetection and its GroundingDinoProcessor (the same processor as GroundingDINO)."""
    path = _prepare(path)
    tokenizer, vocab = _bert_tokenizer(words)
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 128, "longest_edge": 128})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    config = MMGroundingDinoConfig(
        backbone_config={"model_type": "swin", "embed_dim": 32, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 1, 1],
                         "window_size": 7, "image_size": 224, "out_features": ["stage2", "stage3", "stage4"],
                         "out_indices": [2, 3, 4]},
        text_config=BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=37).to_dict(),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
        decoder_attention_heads=2, num_queries=20, num_feature_levels=4, use_timm_backbone=False,
    )  # fmt: skip
    torch.manual_seed(seed)
    MMGroundingDinoForObjectDetection(config).save_pretrained(path)
    return path


def build_tiny_owlv2(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny Owlv2ForObjectDetection (64 px input, 8 x 8 patches: 64 boxes) and its Owlv2Processor (CLIP
    byte-level tokenizer, PIL image processor)."""
    path = _prepare(path)
    tok = tiny_clip_tokenizer()
    tok.model_max_length = 16
    config = Owlv2Config(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_attention_heads=4,
                         num_hidden_layers=2, max_position_embeddings=16, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                           image_size=64, patch_size=8),
        projection_dim=32,
    )  # fmt: skip
    torch.manual_seed(seed)
    Owlv2ForObjectDetection(config).save_pretrained(path)
    Owlv2Processor(image_processor=Owlv2ImageProcessorPil(size={"height": 64, "width": 64}), tokenizer=tok).save_pretrained(path)
    return path


def tiny_bart_tokenizer() -> BartTokenizer:
    """A byte-level BPE BartTokenizer with no merges (one token per byte), built offline, plus Florence-2's
    location tokens ``<loc_0>``..``<loc_999>`` and its special tokens."""
    chars = list(bytes_to_unicode().values())
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = {t: i for i, t in enumerate(specials + chars)}
    # transformers 5 takes the vocabulary in memory (vocab_file/merges_file would be ignored); Florence2Processor
    # reads tokenizer.image_token, a named extra special token as Florence-2's tokenizer has
    tok = BartTokenizer(vocab=vocab, merges=[], extra_special_tokens={"image_token": "<image>"})
    tok.add_tokens([f"<loc_{i}>" for i in range(1000)] + ["<od>", "</od>", "<ocr>", "</ocr>", "<poly>", "</poly>", "<sep>"])
    return tok


def build_tiny_florence2(path: str | Path, seed: int = 0) -> Path:
    """Save a tiny Florence2ForConditionalGeneration (DaViT of one stage, one-layer BART) and its Florence2Processor."""
    path = _prepare(path)
    tok = tiny_bart_tokenizer()
    image_token_id = tok.convert_tokens_to_ids("<image>")
    text = dict(model_type="bart", vocab_size=len(tok), max_position_embeddings=256, encoder_layers=1, encoder_ffn_dim=16,
                decoder_layers=1, decoder_ffn_dim=16, encoder_attention_heads=1, decoder_attention_heads=1, d_model=16,
                eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id,
                decoder_start_token_id=tok.eos_token_id, forced_bos_token_id=tok.bos_token_id)  # fmt: skip
    vision = dict(patch_size=[7], depths=[1], patch_stride=[4], patch_padding=[3], patch_prenorm=[False], embed_dim=[16],
                  num_heads=[1], num_groups=[1], window_size=4, projection_dim=16)  # fmt: skip
    config = Florence2Config(text_config=text, vision_config=vision, image_token_id=image_token_id)
    torch.manual_seed(seed)
    Florence2ForConditionalGeneration(config).save_pretrained(path)
    # one token per cell of the 8 x 8 feature map (32 px / stride 4) plus the pooled one
    image_processor = CLIPImageProcessorPil(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32},
                                            do_center_crop=False, image_seq_length=65)  # fmt: skip
    parsing = {"phrase_grounding": {"banned_grounding_tokens": []}, "pure_text": {}, "description_with_bboxes": {}}
    processor = Florence2Processor(image_processor=image_processor, tokenizer=tok, post_processor_config=parsing)
    processor.save_pretrained(path)
    return path


def build_all(root: str | Path) -> dict[str, Path]:
    """Build every tiny segmentation part under ``root``; return name -> directory."""
    root = Path(root)
    return {
        "sam3": build_tiny_sam3(root / "sam3"),
        "sam2": build_tiny_sam2(root / "sam2"),
        "mm-grounding-dino": build_tiny_mm_grounding_dino(root / "mm-grounding-dino"),
        "owlv2": build_tiny_owlv2(root / "owlv2"),
        "florence2": build_tiny_florence2(root / "florence2"),
    }
