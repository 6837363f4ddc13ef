"""GroundingDINO open-set detection through transformers (boxes for a text prompt)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from refedit.pipeline.artifacts import Candidate
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.pixels import detr_inputs, with_text


class GroundingDino:
    """Open-set detection with transformers' GroundingDINO (lazy, from the shared store)."""

    def __init__(self, store: ModelStore, floor: float = 0.0) -> None:
        self.store = store
        self.floor = floor

    def inputs(self, image: Image.Image, text: str) -> Any:
        """The model's inputs: the text's tokens (the processor's) and the pixels made on the
        device by :func:`~refedit.pipeline.segment.pixels.detr_inputs` (the processor's own where it cannot)."""
        processor = self.store.get("grounding", "processor")
        dev, dt = self.store.device, self.store.dtype
        return with_text(processor, detr_inputs(processor, image, dev, dt), image, dev, dt, text=text)

    @torch.inference_mode()
    def detect(self, image: Image.Image, prompt: str, *, text_threshold: float) -> list[Candidate]:
        """The boxes for ``prompt`` scoring at least ``floor`` (the caller's box threshold), and always the best
        one (so a caller can say how close the best came), xyxy in pixels.

        Only those boxes are post-processed: transformers turns every kept query into a text label with a
        per-box device sync and a tokenizer decode, which for all 900 queries cost more than the model."""
        model = self.store.get("grounding", "detector")
        processor = self.store.get("grounding", "processor")
        text = prompt.strip().lower().rstrip(".") + "."
        inputs = self.inputs(image, text)
        outputs = model(**inputs)
        outputs.logits, outputs.pred_boxes = outputs.logits.float(), outputs.pred_boxes.float()  # fp16 ties at 1.0
        best = float(outputs.logits.sigmoid().amax())  # one sync
        # the library keeps scores strictly above its threshold: the next float32 below keeps ">= floor"
        threshold = float(np.nextafter(np.float32(min(self.floor, best)), np.float32(-np.inf)))
        result = processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=threshold, text_threshold=text_threshold,
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

    @torch.inference_mode()
    def detect_phrases(self, image: Image.Image, phrases: list[str], *, text_threshold: float) -> list[list[Candidate]]:
        """One model call for several phrases ("chair . sofa ."): per phrase, the boxes whose best token of that
        phrase scores at least ``floor`` and more than any other phrase's tokens (each box goes to one
        phrase, never to two), plus the best of that phrase's boxes below the floor; labelled with the phrase.
        One phrase is :meth:`detect`."""
        if len(phrases) == 1:
            return [self.detect(image, phrases[0], text_threshold=text_threshold)]
        model = self.store.get("grounding", "detector")
        processor = self.store.get("grounding", "processor")
        clean = [p.strip().lower().rstrip(".").strip() for p in phrases]
        inputs = self.inputs(image, " . ".join(clean) + " .")
        outputs = model(**inputs)
        probs = outputs.logits.float().sigmoid()[0]  # (queries, tokens)
        spans = phrase_spans(inputs["input_ids"][0].tolist(), processor.tokenizer.convert_tokens_to_ids("."), len(clean))
        per = torch.stack([probs[:, a:b].amax(dim=1) for a, b in spans], dim=1)  # (queries, phrases)
        score, which = per.max(dim=1)
        w, h = image.size
        cx, cy, bw, bh = outputs.pred_boxes.float()[0].unbind(-1)
        boxes = torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], dim=-1)
        boxes, score, which, per = boxes.cpu(), score.cpu(), which.cpu(), per.cpu()  # one transfer
        out: list[list[Candidate]] = []
        for k, phrase in enumerate(phrases):
            keep = ((which == k) & (score >= self.floor)).nonzero().flatten().tolist()
            mine = (which == k).nonzero().flatten().tolist()
            best = max(mine, key=lambda q: float(per[q, k]), default=None)  # reported even below the floor
            keep = keep if best is None or best in keep else [*keep, best]
            found = []
            for q in sorted(keep, key=lambda q: -float(per[q, k])):
                x0, y0, x1, y1 = (min(max(float(v), 0.0), lim) for v, lim in zip(boxes[q], (w, h, w, h), strict=True))
                if x1 > x0 and y1 > y0:
                    found.append(Candidate(box=(x0, y0, x1, y1), score=float(per[q, k]), label=phrase))
            out.append(found)
        return out


def phrase_spans(ids: list[int], separator: int, n: int) -> list[tuple[int, int]]:
    """The token ranges of ``n`` phrases in "[CLS] a . b . [SEP]": between the separators, after [CLS]."""
    spans, start = [], 1
    for i, t in enumerate(ids):
        if t == separator:
            spans.append((start, i))
            start = i + 1
    spans = [(a, b) for a, b in spans if b > a][:n]
    if len(spans) < n:
        raise ValueError(f"found {len(spans)} phrases in the detector's tokens, expected {n}")
    return spans
