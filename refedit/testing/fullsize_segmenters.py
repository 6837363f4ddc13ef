"""The newer segmentation parts at their published sizes, random weights, for cost measurements without a download
(as :mod:`refedit.testing.fullsize` does for the default chain): SAM 2.1 Hiera-L, MM-Grounding-DINO-T, OWLv2
B/16 and Florence-2-large, saved in the standard layout and loaded through ``from_pretrained``. Outputs are
meaningless (random weights): never read quality off them.

Sources of the values:

- ``facebook/sam2.1-hiera-large``: the SAM 2 repository's ``sam2.1_hiera_l.yaml`` (Hiera trunk embed 144, 2 heads,
  stages 2-6-36-4, global attention at blocks 23/33/43, windows 8-4-16-8; FPN channels 1152-576-288-144), 1024 px;
  every other value is ``Sam2Config``'s default (which follows the same release): 216.9 M parameters in
  ``Sam2Model``, the image model; the published 224.4 M also count the video memory attention and encoder.
- ``openmmlab-community/mm_grounding_dino_tiny_o365v1_goldg_v3det``: ``MMGroundingDinoConfig``'s defaults (Swin-T,
  BERT-base text, 900 queries; transformers documents them as that checkpoint), its processor GroundingDINO's
  (800 px short side, 1333 long).
- ``google/owlv2-base-patch16-ensemble``: ``Owlv2Config``'s defaults (ViT-B/16 vision, 512-wide text) with the
  checkpoint's 960 px input (3600 patches: one box per patch), its processor 960 x 960.
- ``florence-community/Florence-2-large``: DaViT with embed 256-512-1024-2048 (heads and groups 8-16-32-64, depths
  1-1-9-1, window 12) and BART-large (1024 wide, 12 + 12 layers, vocabulary 51289); 768 x 768 input, 577 image
  tokens. Published "0.77B".

Tokenizers are the offline recipes of the tiny builders (no vocabulary can be downloaded here), with each text
model's published vocabulary size: a prompt tokenizes into a few tokens more or less than with the real vocabulary,
a negligible cost next to the image encoders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from transformers import (
    BertConfig,
    CLIPImageProcessorPil,
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
)
from transformers.models.sam2.configuration_sam2 import Sam2HieraDetConfig, Sam2VisionConfig

from refedit.testing.fullsize import _build, _save, build_fullsize
from refedit.testing.tiny_models import DEFAULT_WORDS, tiny_clip_tokenizer
from refedit.testing.tiny_segmenters import _bert_tokenizer, _write_image_processor, tiny_bart_tokenizer

__all__ = ["FULLSIZE_SEGMENTERS", "PUBLISHED_MILLIONS", "build_fullsize_segmenters", "sam2_large_config",
           "mm_grounding_dino_tiny_config", "owlv2_base_config", "florence2_large_config"]  # fmt: skip

#: published parameter counts (millions) and how close the built models come (a fraction): SAM 2.1-L 224.4 (the
#: SAM 2 README; the image model lacks the ~7.5 M of video memory modules it counts), Florence-2-large 770 ("0.77B",
#: the model card), OWLv2 B/16 155 (CLIP B/16 plus the box and class heads), MM-GDINO-T 173 (its report's "tiny")
PUBLISHED_MILLIONS: dict[str, tuple[float, float]] = {"sam2": (224.4, 0.04), "florence2": (770.0, 0.01),
                                                      "owlv2": (155.0, 0.01), "mm-grounding-dino": (173.0, 0.01)}

#: Florence-2-large's location-token vocabulary size (BART's 50265 plus its added tokens)
FLORENCE2_VOCAB = 51289


def sam2_large_config() -> Sam2Config:
    backbone = Sam2HieraDetConfig(hidden_size=144, num_attention_heads=2, blocks_per_stage=[2, 6, 36, 4],
                                  embed_dim_per_stage=[144, 288, 576, 1152], num_attention_heads_per_stage=[2, 4, 8, 16],
                                  window_size_per_stage=[8, 4, 16, 8], global_attention_blocks=[23, 33, 43],
                                  window_positional_embedding_background_size=[7, 7])  # fmt: skip
    return Sam2Config(vision_config=Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[1152, 576, 288, 144]))


def mm_grounding_dino_tiny_config() -> MMGroundingDinoConfig:
    return MMGroundingDinoConfig(text_config=BertConfig().to_dict())


def owlv2_base_config() -> Owlv2Config:
    tok = tiny_clip_tokenizer()
    text = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return Owlv2Config(text_config=text, vision_config=dict(image_size=960, patch_size=16))


def florence2_large_config(tokenizer: Any) -> Florence2Config:
    text = dict(model_type="bart", vocab_size=FLORENCE2_VOCAB, d_model=1024, encoder_layers=12, decoder_layers=12,
                encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096,
                max_position_embeddings=1024, eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                pad_token_id=tokenizer.pad_token_id, decoder_start_token_id=tokenizer.eos_token_id,
                forced_bos_token_id=tokenizer.bos_token_id)  # fmt: skip
    vision = dict(embed_dim=[256, 512, 1024, 2048], num_heads=[8, 16, 32, 64], num_groups=[8, 16, 32, 64],
                  depths=[1, 1, 9, 1], window_size=12, projection_dim=1024)  # fmt: skip
    return Florence2Config(text_config=text, vision_config=vision, image_token_id=tokenizer.convert_tokens_to_ids("<image>"))


def fullsize_sam2(path: Path, *, device: str, dtype: torch.dtype, seed: int = 0) -> Path:
    _save(_build(Sam2Model, sam2_large_config(), device, seed), path, dtype)
    _write_image_processor(path, "Sam2Processor", {
        "image_processor_type": "Sam2ImageProcessor", "size": {"height": 1024, "width": 1024},
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "rescale_factor": 1 / 255,
    })  # fmt: skip
    return path


def fullsize_mm_grounding_dino(path: Path, *, device: str, dtype: torch.dtype, seed: int = 0) -> Path:
    tokenizer, _ = _bert_tokenizer(DEFAULT_WORDS)
    GroundingDinoProcessor(image_processor=GroundingDinoImageProcessorPil(), tokenizer=tokenizer).save_pretrained(path)
    _save(_build(MMGroundingDinoForObjectDetection, mm_grounding_dino_tiny_config(), device, seed), path, dtype)
    return path


def fullsize_owlv2(path: Path, *, device: str, dtype: torch.dtype, seed: int = 0) -> Path:
    tok = tiny_clip_tokenizer()
    tok.model_max_length = 16
    _save(_build(Owlv2ForObjectDetection, owlv2_base_config(), device, seed), path, dtype)
    Owlv2Processor(image_processor=Owlv2ImageProcessorPil(size={"height": 960, "width": 960}), tokenizer=tok).save_pretrained(path)
    return path


def fullsize_florence2(path: Path, *, device: str, dtype: torch.dtype, seed: int = 0) -> Path:
    tok = tiny_bart_tokenizer()
    _save(_build(Florence2ForConditionalGeneration, florence2_large_config(tok), device, seed), path, dtype)
    image_processor = CLIPImageProcessorPil(size={"height": 768, "width": 768}, crop_size={"height": 768, "width": 768},
                                            do_center_crop=False, image_seq_length=577)  # fmt: skip
    parsing = {"phrase_grounding": {"banned_grounding_tokens": []}, "pure_text": {}, "description_with_bboxes": {}}
    Florence2Processor(image_processor=image_processor, tokenizer=tok, post_processor_config=parsing).save_pretrained(path)
    return path


#: role name -> (folder name, builder)
FULLSIZE_SEGMENTERS: dict[str, tuple[str, Callable[..., Path]]] = {
    "sam2": ("sam2.1-hiera-large", fullsize_sam2),
    "mm-grounding-dino": ("mm-grounding-dino-tiny", fullsize_mm_grounding_dino),
    "owlv2": ("owlv2-base-patch16", fullsize_owlv2),
    "florence2": ("florence-2-large", fullsize_florence2),
}


def build_fullsize_segmenters(root: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32,
                              names: tuple[str, ...] = tuple(FULLSIZE_SEGMENTERS)) -> dict[str, Path]:  # fmt: skip
    """Build (or reuse, when its folder is complete) each named part under ``root``; name -> folder."""
    return build_fullsize(root, device=device, dtype=dtype, roles=names, table=FULLSIZE_SEGMENTERS)
