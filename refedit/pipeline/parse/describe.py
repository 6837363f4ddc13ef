"""The image describer of InstructEdit's language processor (the BLIP-2 step): a one-line description of the
input image, given to the LLM parser as context (``LLMParser(describe=Describer(store))``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from refedit.pipeline.models import ModelStore

_SPACE = re.compile(r"\s+")
_TRAILING = " \t.,;:!?-_*~|/\\"


def clean_description(text: str) -> str:
    """One line: control characters dropped, whitespace collapsed, trailing punctuation removed."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return _SPACE.sub(" ", text).strip().rstrip(_TRAILING).strip()


class Describer:
    """Describe an image with the ``role`` model (BLIP-2 by default) loaded through ``store``.

    Greedy decoding of at most ``max_new_tokens``; ``prompt`` (e.g. ``"Question: what is in the picture?
    Answer:"``) conditions the model, and is not part of the returned text. ``calls`` counts descriptions made.
    """

    def __init__(
        self, store: ModelStore, role: str = "captioner", max_new_tokens: int = 30, prompt: str | None = None
    ) -> None:
        self.store = store
        self.role = role
        self.max_new_tokens = max_new_tokens
        self.prompt = prompt
        self.calls = 0

    def __call__(self, image: Image.Image) -> str:
        import torch

        model = self.store.get(self.role, "captioner")
        processor = self.store.get(self.role, "processor")
        self.calls += 1
        inputs = processor(images=image.convert("RGB"), text=self.prompt, return_tensors="pt")
        inputs = {
            k: v.to(self.store.device, self.store.dtype) if k == "pixel_values" else v.to(self.store.device)
            for k, v in inputs.items()
        }
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        ids = out[0]
        prompt_ids = inputs.get("input_ids")
        if prompt_ids is not None:  # decoder-only models return the prompt before the new tokens
            n = prompt_ids.shape[1]
            if ids.shape[0] >= n and torch.equal(ids[:n], prompt_ids[0]):
                ids = ids[n:]
        return clean_description(processor.decode(ids, skip_special_tokens=True))
