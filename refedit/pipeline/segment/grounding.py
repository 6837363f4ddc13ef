"""GroundingDINO open-set detection through transformers (boxes for a text prompt)."""

from __future__ import annotations

import re
import string
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
        one (so a caller can say how close the best came), xyxy in pixels, labelled with their phrase
        (:func:`post_process`: transformers' post-processing with one device transfer instead of a few per box)."""
        model = self.store.get("grounding", "detector")
        processor = self.store.get("grounding", "processor")
        text = prompt.strip().lower().rstrip(".") + "."
        inputs = self.inputs(image, text)
        outputs = model(**inputs)
        kept = post_process(outputs.logits[0], outputs.pred_boxes[0], inputs["input_ids"][0], floor=self.floor,
                            text_threshold=text_threshold, size=image.size)  # fmt: skip
        labels = decode_labels(processor.tokenizer, [ids for _, _, ids in kept])
        cleaned = {label: clean_label(label, prompt) for label in set(labels)}  # a few distinct labels, many boxes
        return [Candidate(box=box, score=score, label=cleaned[label])
                for (box, score, _), label in zip(kept, labels, strict=True)]  # fmt: skip

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
        boxes = corners(outputs.pred_boxes[0], image.size)
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


def corners(pred_boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """GroundingDINO's (centre x, centre y, width, height) boxes, relative to the image, as (x0, y0, x1, y1) in
    pixels of ``size`` (w, h), float32, on their device."""
    w, h = size
    cx, cy, bw, bh = pred_boxes.float().unbind(-1)
    return torch.stack([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h], dim=-1)


def post_process(logits: torch.Tensor, pred_boxes: torch.Tensor, input_ids: torch.Tensor, *, floor: float,
                 text_threshold: float, size: tuple[int, int]) -> list[tuple[tuple[float, float, float, float], float, tuple[int, ...]]]:  # fmt: skip
    """One image's GroundingDINO output -> ``(box, score, label token ids)`` per kept query, in query order.

    What ``GroundingDinoProcessor.post_process_grounded_object_detection`` returns, computed on the device with one
    transfer: a query's score is its best token's probability, σ(logit) (fp16 logits are taken in float32: fp16
    saturates at 1.0 and ties), kept when it reaches ``floor`` (the best query always, so a caller can say how close
    it came); its box, centre-size to corners, in pixels of ``size`` (w, h), clipped to the image (empty boxes
    dropped); its label, the prompt's tokens whose probability exceeds ``text_threshold``, [CLS] and the last
    position excluded, as the library's ``get_phrases_from_posmap``. The library makes a device sync per box and
    per token, which for the 900 queries a low threshold keeps cost as much as the model on a GPU."""
    probs = logits.float().sigmoid()  # (queries, 256)
    n = input_ids.shape[-1]
    posmap = probs[:, :n] > text_threshold
    posmap[:, 0] = False  # [CLS]
    posmap[:, probs.shape[-1] - 1 :] = False  # the library's right_idx (the last of the 256 positions)
    tokens = torch.where(posmap, input_ids[None, :n].to(probs.dtype), -1.0)  # the label's token ids, -1 elsewhere
    packed = torch.cat([probs.amax(dim=-1, keepdim=True), corners(pred_boxes, size), tokens], dim=1).cpu().numpy()
    w, h = size
    scores, boxes, tokens = packed[:, 0], np.clip(packed[:, 1:5], 0, np.array([w, h, w, h], packed.dtype)), packed[:, 5:]
    keep = (scores >= min(scores.max(), np.float32(floor))) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not keep.any():
        return []
    kept = np.ascontiguousarray(tokens[keep])
    # a label's ids once, not once per box: the rows' distinct patterns (each row one opaque value: a 1-D unique)
    patterns, which = np.unique(kept.view(np.dtype((np.void, kept.itemsize * kept.shape[1])))[:, 0], return_inverse=True)
    labels = [tuple(int(t) for t in row if t >= 0) for row in patterns.view(kept.dtype).reshape(len(patterns), -1).tolist()]
    rows = np.concatenate([boxes[keep], scores[keep, None]], axis=1).tolist()
    return [((x0, y0, x1, y1), score, labels[k]) for (x0, y0, x1, y1, score), k in zip(rows, which.tolist(), strict=True)]


def decode_labels(tokenizer: Any, token_ids: list[tuple[int, ...]]) -> list[str]:
    """The text of each label's tokens (each distinct label decoded once: a few, whatever the number of boxes)."""
    unique = list(dict.fromkeys(token_ids))
    text = dict(zip(unique, tokenizer.batch_decode([list(u) for u in unique]), strict=True)) if unique else {}
    return [str(text[t]) for t in token_ids]


#: the tokenizer's special tokens ([SEP], [CLS], [PAD], ...; <s>, </s>, <pad> of other tokenizers)
SPECIAL_TOKENS = re.compile(r"\[(?:CLS|SEP|PAD|MASK|UNK)\]|</?s>|<pad>|<unk>|<mask>", re.IGNORECASE)


def clean_label(label: str, prompt: str) -> str:
    """A detection's label as the user reads it: the decoded tokens without special tokens and stray punctuation
    (the phrase separator "." the posmap also catches: "cat. [SEP]" -> "cat"); ``prompt`` (the detector's prompt,
    the plan's segmentation prompt) when nothing is left."""
    words = (w.strip(string.punctuation) for w in SPECIAL_TOKENS.sub(" ", label).split())
    return " ".join(w for w in words if w) or prompt.strip()


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
