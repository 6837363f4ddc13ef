"""GroundingDINO open-set detection through transformers (boxes for a text prompt)."""

from __future__ import annotations

import torch
from PIL import Image

from refedit.pipeline.artifacts import Candidate
from refedit.pipeline.models import ModelStore


class GroundingDino:
    """Open-set detection with transformers' GroundingDINO (lazy, from the shared store)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    @torch.inference_mode()
    def detect(self, image: Image.Image, prompt: str, *, text_threshold: float) -> list[Candidate]:
        """All boxes for ``prompt`` with their scores (no box threshold applied), xyxy in pixels."""
        model = self.store.get("grounding", "detector")
        processor = self.store.get("grounding", "processor")
        text = prompt.strip().lower().rstrip(".") + "."
        inputs = processor(images=image, text=text, return_tensors="pt").to(self.store.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.store.dtype)
        outputs = model(**inputs)
        result = processor.post_process_grounded_object_detection(
            outputs, inputs.input_ids, threshold=0.0, text_threshold=text_threshold,
            target_sizes=[(image.height, image.width)],
        )[0]  # fmt: skip
        labels = result["text_labels"] if "text_labels" in result else result["labels"]
        w, h = image.size
        out = []
        for box, score, label in zip(result["boxes"].float().tolist(), result["scores"].float().tolist(), labels, strict=True):
            x0, y0, x1, y1 = (min(max(v, 0.0), lim) for v, lim in zip(box, (w, h, w, h), strict=True))
            if x1 > x0 and y1 > y0:
                out.append(Candidate(box=(x0, y0, x1, y1), score=score, label=str(label) or prompt))
        return out
