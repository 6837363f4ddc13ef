"""The newer segmentation parts at published size (shapes on the meta device: no memory, no weights)."""

from __future__ import annotations

import pytest
import torch
from transformers import Florence2ForConditionalGeneration, MMGroundingDinoForObjectDetection, Owlv2ForObjectDetection, Sam2Model

from refedit.testing import fullsize_segmenters as fs
from refedit.testing.tiny_segmenters import tiny_bart_tokenizer

MODELS = {
    "sam2": lambda: Sam2Model(fs.sam2_large_config()),
    "mm-grounding-dino": lambda: MMGroundingDinoForObjectDetection(fs.mm_grounding_dino_tiny_config()),
    "owlv2": lambda: Owlv2ForObjectDetection(fs.owlv2_base_config()),
    "florence2": lambda: Florence2ForConditionalGeneration(fs.florence2_large_config(tiny_bart_tokenizer())),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_count_matches_the_published_one(name: str) -> None:
    with torch.device("meta"):
        model = MODELS[name]()
    published, tolerance = fs.PUBLISHED_MILLIONS[name]
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(count - published) <= tolerance * published, (name, count, published)


def test_published_inputs() -> None:
    """The input sizes the costs depend on: SAM 2.1 1024 px, OWLv2 960 px in 16 px patches."""
    assert fs.sam2_large_config().vision_config.backbone_config.image_size == [1024, 1024]
    vision = fs.owlv2_base_config().vision_config
    assert (vision.image_size, vision.patch_size, vision.hidden_size) == (960, 16, 768)
