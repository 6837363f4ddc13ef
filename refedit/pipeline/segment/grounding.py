"""GroundingDINO open-set detection through transformers (boxes for a text prompt)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from refedit.pipeline.artifacts import Candidate
from refedit.pipeline.models import ModelStore


class GroundingDino:
    """Open-set detection with transformers' GroundingDINO (lazy, from the shared store)."""

    def __init__(self, store: ModelStore, floor: float = 0.0) -> None:
        self.store = store
        self.floor = floor

    @torch.inference_mode()
    def detect(self, image: Image.Image, prompt: str, *, text_threshold: float) -> list[Candidate]:
        """The boxes for ``prompt`` scoring at least ``floor`` (the caller's box threshold), and always the best
        one (so a caller can say how close the best came), xyxy in pixels.

        Only those boxes are post-processed: transformers turns every kept query into a text label with a
        per-box device sync and a tokenizer decode, which for all 900 queries cost more than the model."""
        model = self.store.get("grounding", "detector")
        processor = self.store.get("grounding", "processor")
        text = prompt.strip().lower().rstrip(".") + "."
        inputs = processor(images=image, text=text, return_tensors="pt").to(self.store.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.store.dtype)
        outputs = model(**inputs)
        outputs.logits, outputs.pred_boxes = outputs.logits.float(), outputs.pred_boxes.float()  # fp16 ties at 1.0
        best = float(outputs.logits.sigmoid().amax())  # one sync
        # the library keeps scores strictly above its threshold: the next float32 below keeps ">= floor"
        threshold = float(np.nextafter(np.float32(min(self.floor, best)), np.float32(-np.inf)))
        result = processor.post_process_grounded_object_detection(
            outputs, inputs.input_ids, threshold=threshold, text_threshold=text_threshold,
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
