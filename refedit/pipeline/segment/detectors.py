"""The open-set detectors behind ``--grounding-model``, one adapter per family, all with the interface Grounded-SAM
uses: ``detect(image, prompt, text_threshold=)`` -> candidates (xyxy pixel boxes, scores, labels) and
``detect_phrases(image, phrases, text_threshold=)`` -> candidates per phrase. The family comes from the checkpoint's
config.json ``model_type`` (:data:`~refedit.pipeline.models.DETECTOR_CLASSES`, checked when the pipeline is built):

- GroundingDINO and MM-Grounding-DINO (same processor and outputs): :class:`~refedit.pipeline.segment.grounding.GroundingDino`;
- OWLv2 and OWL-ViT: :class:`Owl` (one query per phrase; per box, the best phrase's sigmoid score);
- Florence-2: :class:`Florence2` (the ``<CAPTION_TO_PHRASE_GROUNDING>`` task, greedy decoding; Florence-2 gives
  boxes without scores, so each box scores 1.0 and only the resolver tells them apart).
"""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from refedit.pipeline.artifacts import Candidate
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.pixels import fixed_inputs, owlv2_inputs, with_text
from refedit.pipeline.segment.tokens import remember


def clean(phrase: str) -> str:
    """A phrase as the detectors get it: lower case, no trailing period."""
    return phrase.strip().lower().rstrip(".").strip()


def family(store: ModelStore) -> str:
    """The ``model_type`` of the configured grounding checkpoint."""
    return str((store.config("grounding", "config.json") or {}).get("model_type"))


def detector_for(store: ModelStore, floor: float = 0.0) -> Any:
    """The adapter for the configured ``--grounding-model``'s family."""
    kind = family(store)
    if kind in ("owlv2", "owlvit"):
        return Owl(store, floor)
    if kind == "florence2":
        return Florence2(store, floor)
    from refedit.pipeline.segment.grounding import GroundingDino

    return GroundingDino(store, floor=floor)


def _candidates(boxes: list[list[float]], scores: list[float], label: str, size: tuple[int, int]) -> list[Candidate]:
    """Candidates of xyxy pixel boxes clamped to the image (empty ones dropped), best score first."""
    w, h = size
    out = []
    for box, score in sorted(zip(boxes, scores, strict=True), key=lambda p: -p[1]):
        x0, y0, x1, y1 = (min(max(v, 0.0), lim) for v, lim in zip(box, (w, h, w, h), strict=True))
        if x1 > x0 and y1 > y0:
            out.append(Candidate(box=(x0, y0, x1, y1), score=float(score), label=label))
    return out


class Owl:
    """OWLv2 / OWL-ViT: every image patch predicts a box, scored against each text query."""

    def __init__(self, store: ModelStore, floor: float = 0.0) -> None:
        self.store = store
        self.floor = floor

    def detect(self, image: Image.Image, prompt: str, *, text_threshold: float = 0.0) -> list[Candidate]:
        """The boxes for ``prompt`` scoring at least ``floor``, and always the best one."""
        return self.detect_phrases(image, [prompt], text_threshold=text_threshold)[0]

    @torch.inference_mode()
    def detect_phrases(self, image: Image.Image, phrases: list[str], *, text_threshold: float = 0.0) -> list[list[Candidate]]:
        """One model call for all phrases: each box goes to the phrase it scores highest (sigmoid of its logit), kept
        when that score reaches ``floor`` (plus each phrase's best box). OWLv2 pads the image to a square at the
        bottom and right, so its normalized boxes scale by the longer side (OWL-ViT's by each side)."""
        model = self.store.get("grounding", "detector")
        processor = self.store.get("grounding", "processor")
        texts = [clean(p) for p in phrases]
        dev, dt = self.store.device, self.store.dtype
        pixels = owlv2_inputs(processor, image, dev, dt) if model.config.model_type == "owlv2" else None
        inputs = with_text(processor, None if pixels is None else {"pixel_values": pixels}, image, dev, dt,
                           text=[texts])  # OWL-ViT's pixels: its processor's
        outputs = model(**inputs)
        probs = outputs.logits[0].float().sigmoid()  # (patches, phrases)
        score, which = probs.max(dim=1)
        w, h = image.size
        sx, sy = (max(w, h), max(w, h)) if model.config.model_type == "owlv2" else (w, h)
        cx, cy, bw, bh = outputs.pred_boxes[0].float().unbind(-1)
        boxes = torch.stack([(cx - bw / 2) * sx, (cy - bh / 2) * sy, (cx + bw / 2) * sx, (cy + bh / 2) * sy], -1)
        boxes, score, which, probs = boxes.cpu(), score.cpu(), which.cpu(), probs.cpu()  # one transfer
        out = []
        for k, phrase in enumerate(phrases):
            mine = (which == k).nonzero().flatten()
            keep = mine[score[mine] >= self.floor].tolist()
            if len(mine) and (best := int(mine[probs[mine, k].argmax()])) not in keep:
                keep.append(best)
            out.append(_candidates(boxes[keep].tolist(), probs[keep, k].tolist(), phrase, image.size))
        return out


#: Florence-2's phrase-grounding task token
GROUNDING_TASK = "<CAPTION_TO_PHRASE_GROUNDING>"


class Florence2:
    """Florence-2 phrase grounding: the model writes each phrase followed by its boxes as location tokens."""

    def __init__(self, store: ModelStore, floor: float = 0.0, max_new_tokens: int = 256) -> None:
        self.store = store
        self.floor = floor
        self.max_new_tokens = max_new_tokens

    def inputs(self, image: Image.Image, caption: str) -> dict[str, Any]:
        """The keyword arguments of ``model.generate`` for the grounding task on ``caption`` (greedy, one beam):
        the pixels made on the device (:func:`fixed_inputs`) and the text laid out as the processor lays it out
        (:meth:`text_inputs`, once per caption); the processor itself where either is not reproduced."""
        processor = self.store.get("grounding", "processor")
        dev, dt = self.store.device, self.store.dtype
        text = remember(processor, dev, ("florence2", caption), lambda: self.text_inputs(processor, caption) or {})
        pixels = fixed_inputs(processor, image, dev, dt) if text else None
        if pixels is None or not text:
            inputs = with_text(processor, None, image, dev, dt, text=GROUNDING_TASK + caption)
        else:
            inputs = {**text, "pixel_values": pixels}
        return {**inputs, "max_new_tokens": self.max_new_tokens, "num_beams": 1, "do_sample": False}

    @staticmethod
    def text_inputs(processor: Any, caption: str) -> dict[str, torch.Tensor] | None:
        """``input_ids`` and ``attention_mask`` as ``Florence2Processor`` makes them with an image: the task prompt
        expanded (its ``_construct_prompts``), after its image tokens and BOS, then EOS, tokenized without further
        special tokens; ``None`` when the processor lacks one of those parts (another version: use it whole)."""
        construct = getattr(processor, "_construct_prompts", None)
        count, token = getattr(processor, "num_image_tokens", None), getattr(processor, "image_token", None)
        tok = getattr(processor, "tokenizer", None)
        if not callable(construct) or not isinstance(count, int) or not isinstance(token, str) or tok is None:
            return None
        prompt = construct([GROUNDING_TASK + caption])[0]
        enc = tok(token * count + tok.bos_token + prompt + tok.eos_token, add_special_tokens=False, return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    @torch.inference_mode()
    def generate(self, image: Image.Image, caption: str) -> str:
        """Florence-2's raw answer to the grounding task for ``caption``."""
        model = self.store.get("grounding", "detector")
        ids = model.generate(**self.inputs(image, caption))
        return self.store.get("grounding", "processor").batch_decode(ids, skip_special_tokens=False)[0]

    def parse(self, answer: str, size: tuple[int, int]) -> list[tuple[str, list[float]]]:
        """(phrase, xyxy pixel box) pairs of Florence-2's answer (its processor's own parser), one per box."""
        processor = self.store.get("grounding", "processor")
        found = processor.post_process_generation(answer, task=GROUNDING_TASK, image_size=size)[GROUNDING_TASK]
        return list(zip(found.get("labels", []), found.get("bboxes", []), strict=True))

    def detect(self, image: Image.Image, prompt: str, *, text_threshold: float = 0.0) -> list[Candidate]:
        """Every box Florence-2 grounds ``prompt`` to (score 1.0 each)."""
        return self.detect_phrases(image, [prompt])[0]

    def detect_phrases(self, image: Image.Image, phrases: list[str], *, text_threshold: float = 0.0) -> list[list[Candidate]]:
        """One generation per phrase (a caption of several phrases would let Florence-2 merge or skip some)."""
        out = []
        for phrase in phrases:
            boxes = [box for _, box in self.parse(self.generate(image, clean(phrase)), image.size)]
            out.append(_candidates(boxes, [1.0] * len(boxes), phrase, image.size))
        return out
