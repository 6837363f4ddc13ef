"""Loading Qwen-Image-Edit's ``processor`` (a Qwen2-VL processor) where torchvision is missing.

transformers 5 builds ``Qwen2VLProcessor`` with a video processor, and that one requires torchvision even though
the edit pipelines never pass a video. Where torchvision is installed the real class loads; elsewhere
:class:`ImageQwen2VLProcessor` (the same class without the video part) loads the same ``processor/`` folder with
the PIL image processor, and tokenizes and expands ``<|image_pad|>`` exactly as the real one does for images."""

from __future__ import annotations

from typing import Any

from transformers import Qwen2VLProcessor


class ImageQwen2VLProcessor(Qwen2VLProcessor):
    """``Qwen2VLProcessor`` for images only (no video processor, hence no torchvision)."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any) -> None:
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)


def load_qwen_processor(model_id: str, **hub: Any) -> Any:
    """The checkpoint's ``processor`` (subfolder): ``Qwen2VLProcessor`` where it loads, else the image-only one."""
    try:
        return Qwen2VLProcessor.from_pretrained(model_id, subfolder="processor", **hub)
    except ImportError:  # "Qwen2VLVideoProcessor requires the Torchvision library"
        from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

        image_processor = Qwen2VLImageProcessorPil.from_pretrained(model_id, subfolder="processor", **hub)
        tokenizer = AutoTokenizer.from_pretrained(model_id, subfolder="processor", **hub)
        return ImageQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer)
