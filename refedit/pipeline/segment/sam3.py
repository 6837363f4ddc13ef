"""SAM 3 (transformers ``Sam3Model``): one text prompt ("green bus") gives every instance's mask, box and score.

The ``sam3`` segmenter is Grounded-SAM's machinery (referring resolver, relations, CLIP attribute filter, hints,
ambiguity policy) with SAM 3 in both of its slots: :class:`Sam3Detector` returns SAM 3's instances as the
detections, :class:`Sam3Masks` hands back their own masks for the kept boxes (made only for those), and answers
the hints that touch no instance: a hint box is SAM 3's positive exemplar box (its geometric prompt; the geometry
encoder needs torchvision's ``roi_align``, so without torchvision the box picks the instance it overlaps best among
all of SAM 3's queries), a hint point picks the best-scoring query whose mask holds it.

The image processor of transformers' SAM 3 exists only with torchvision; :func:`preprocess` does its work
(resize to the checkpoint's square size, rescale, normalize) with torch on the model's device, from the checkpoint's own
processor config; the post-processing is that of ``Sam3ImageProcessor.post_process_instance_segmentation``
(score = sigmoid(logit) x sigmoid(presence); masks: sigmoid, bilinear to the image size, > mask threshold), run
only on the queries that are kept.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refedit.core.geometry import box_iou
from refedit.pipeline.artifacts import Box, Candidate
from refedit.pipeline.imagekeys import ImageKey, image_key
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.pixels import above, clean_planes, normalized, resize_uint8, uint8_image
from refedit.pipeline.segment.tokens import text_inputs

#: Sam3ImageProcessor's defaults, used where the checkpoint's processor config says nothing
DEFAULT_SIZE, DEFAULT_MEAN, DEFAULT_STD = 1008, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
#: Sam3Processor pads every text prompt to this many tokens
TEXT_LENGTH = 32


@dataclass(frozen=True)
class Preprocessing:
    """What SAM 3's image processor does: resize to ``height`` x ``width`` (bilinear), x ``rescale``, normalize."""

    height: int = DEFAULT_SIZE
    width: int = DEFAULT_SIZE
    mean: tuple[float, ...] = DEFAULT_MEAN
    std: tuple[float, ...] = DEFAULT_STD
    rescale: float = 1 / 255

    @classmethod
    def of(cls, config: dict[str, Any] | None) -> "Preprocessing":
        """From a ``processor_config.json`` (its ``image_processor`` part) or ``preprocessor_config.json``."""
        c = (config or {}).get("image_processor", config or {})
        size = c.get("size") or {}
        return cls(int(size.get("height", DEFAULT_SIZE)), int(size.get("width", DEFAULT_SIZE)),
                   tuple(c.get("image_mean", DEFAULT_MEAN)), tuple(c.get("image_std", DEFAULT_STD)),
                   float(c.get("rescale_factor", 1 / 255)))  # fmt: skip


def preprocess(image: Image.Image, how: Preprocessing, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:  # fmt: skip
    """(1, 3, H, W) pixel values of ``image`` as SAM 3's (torchvision) image processor makes them, made on ``device``
    (:mod:`~refedit.pipeline.segment.pixels`: the photo crosses as uint8, the resize runs there)."""
    x = resize_uint8(uint8_image(image, device), (how.height, how.width), "bilinear")
    return normalized(x, how.rescale, how.mean, how.std, dtype)


@dataclass(frozen=True)
class Queries:
    """Every query of one SAM 3 call: ``scores`` (n,), ``boxes`` (n, 4) xyxy pixels, clamped to the image, and the
    low-resolution mask probabilities ``probs`` (n, h, w), on the model's device."""

    scores: torch.Tensor
    boxes: torch.Tensor
    probs: torch.Tensor


def queries_of(outputs: Any, size: tuple[int, int]) -> Queries:
    """SAM 3's outputs for one image of ``size`` (W, H) as :class:`Queries` (the library's scoring and box scaling)."""
    w, h = size
    scores = outputs.pred_logits[0].float().sigmoid()
    if outputs.presence_logits is not None:
        scores = scores * outputs.presence_logits[0].float().sigmoid()
    scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=scores.device)
    boxes = (outputs.pred_boxes[0].float() * scale).clamp(min=0)
    boxes = torch.minimum(boxes, scale)
    return Queries(scores, boxes, outputs.pred_masks[0].float().sigmoid())


def full_masks(probs: torch.Tensor, size: tuple[int, int], threshold: float) -> list[np.ndarray]:
    """Low-res mask probabilities (k, h, w) -> k HxW bool masks (cleaned on their own grid, :func:`~.pixels.
    clean_planes`; bilinear to ``size`` (W, H), > ``threshold``)."""
    if not len(probs):
        return []
    w, h = size
    return list(above(clean_planes(probs, threshold), (h, w), threshold).cpu().numpy())


class Sam3Backend:
    """The shared SAM 3 model calls: the vision features once per image, then one decoder call per prompt."""

    def __init__(self, store: ModelStore, mask_threshold: float = 0.5) -> None:
        self.store = store
        self.mask_threshold = mask_threshold
        self.vision_calls = 0
        self._vision: tuple[Any, Any] | None = None  # (image key, vision features)
        self._queries: dict[tuple[Any, ...], Queries] = {}
        self.prompts: dict[Any, str] = {}  # image key -> the last text prompt run on it
        self.found: dict[Box, torch.Tensor] = {}  # the current image's instances' low-res mask probabilities, by box

    @staticmethod
    def key(image: Image.Image) -> ImageKey:
        return image_key(image)

    def _preprocessing(self) -> Preprocessing:
        def make() -> Preprocessing:
            for name in ("processor_config.json", "preprocessor_config.json"):
                config = self.store.config("sam3", name, required=False)
                if config:
                    return Preprocessing.of(config)
            return Preprocessing()

        return self.store.cached(("sam3-preprocessing", self.store.model_id("sam3")), make)

    def vision(self, image: Image.Image) -> Any:
        """SAM 3's vision features of ``image`` (computed once per image)."""
        key = self.key(image)
        if self._vision is None or self._vision[0] != key:
            model = self.store.get("sam3", "sam3")
            pixels = preprocess(image, self._preprocessing(), self.store.device, self.store.dtype)
            with torch.inference_mode():
                features = model.get_vision_features(pixel_values=pixels)
            self.vision_calls += 1
            self._vision, self._queries, self.found = (key, features), {}, {}
        return self._vision[1]

    def tokens(self, prompt: str) -> dict[str, torch.Tensor]:
        """The prompt's token ids and attention mask, padded as Sam3Processor pads them."""
        tokenizer = self.store.get("sam3", "text_tokenizer")
        enc = text_inputs(tokenizer, self.store.device, text=[prompt], padding="max_length", max_length=TEXT_LENGTH,
                          truncation=True)  # fmt: skip
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def queries(self, image: Image.Image, prompt: str, boxes: Sequence[Box] = ()) -> Queries:
        """All of SAM 3's queries for ``prompt`` on ``image``, with ``boxes`` (xyxy pixels) as positive exemplars."""
        features = self.vision(image)
        qkey = (prompt, tuple(boxes))
        if qkey not in self._queries:
            model = self.store.get("sam3", "sam3")
            extra: dict[str, torch.Tensor] = {}
            if boxes:
                w, h = image.size
                b = torch.tensor(boxes, dtype=torch.float32) / torch.tensor([w, h, w, h])
                cxcywh = torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], -1)
                extra = {"input_boxes": cxcywh[None].to(self.store.device, self.store.dtype),
                         "input_boxes_labels": torch.ones(1, len(boxes), dtype=torch.long, device=self.store.device)}  # fmt: skip
            with torch.inference_mode():
                outputs = model(vision_embeds=features, **self.tokens(prompt), **extra)
            self._queries[qkey] = queries_of(outputs, image.size)
        self.prompts[self.key(image)] = prompt
        return self._queries[qkey]

    def instances(self, image: Image.Image, prompt: str, floor: float) -> list[Candidate]:
        """The instances scoring at least ``floor`` and always the best one (for messages), best first; boxes that
        are empty once clamped to the image are dropped. Their full-resolution masks are made by :meth:`masks` for
        the instances the caller keeps (after its threshold and NMS): upsampling every query's mask would cost more
        than SAM 3's decoder on small models."""
        q = self.queries(image, prompt)
        if not len(q.scores):
            return []
        keep = (q.scores >= floor).nonzero().flatten()
        best = int(q.scores.argmax())
        if best not in keep.tolist():
            keep = torch.cat([keep, torch.tensor([best], device=keep.device)])
        keep = keep[q.scores[keep].argsort(descending=True)]
        scores, boxes = q.scores[keep].tolist(), q.boxes[keep].tolist()  # one transfer each
        out = []
        for s, b, i in zip(scores, boxes, keep.tolist(), strict=True):
            if b[2] > b[0] and b[3] > b[1]:
                out.append(Candidate(box=(b[0], b[1], b[2], b[3]), score=s, label=prompt))
                self.found[out[-1].box] = q.probs[i]
        return out

    def masks(self, image: Image.Image, boxes: Sequence[Box]) -> list[np.ndarray]:
        """The full-resolution masks of the instances with these ``boxes`` (as :meth:`instances` returned them on
        ``image``), upsampled in one call."""
        self.vision(image)  # a new image forgets the last one's instances
        return full_masks(torch.stack([self.found[tuple(b)] for b in boxes]), image.size, self.mask_threshold) if boxes else []  # type: ignore[index]


def exemplars_available() -> bool:
    """SAM 3's box prompts run through torchvision's ``roi_align``: only with torchvision installed."""
    return importlib.util.find_spec("torchvision") is not None


class Sam3Detector:
    """SAM 3's instances for a text prompt as detections (the detector slot of Grounded-SAM's machinery); their
    masks come through :class:`Sam3Masks`."""

    def __init__(self, backend: Sam3Backend, floor: float = 0.0) -> None:
        self.backend = backend
        self.floor = floor

    def detect(self, image: Image.Image, prompt: str, *, text_threshold: float = 0.0) -> list[Candidate]:
        """The instances of ``prompt`` scoring at least ``floor``, and always the best (``text_threshold``: unused,
        SAM 3 scores whole phrases)."""
        return self.backend.instances(image, prompt.strip().lower().rstrip(".").strip(), self.floor)

    def detect_phrases(self, image: Image.Image, phrases: list[str], *, text_threshold: float = 0.0) -> list[list[Candidate]]:
        """:meth:`detect` for each phrase: one decoder call per phrase over the image's vision features, computed once."""
        return [self.detect(image, p) for p in phrases]


class Sam3Masks:
    """The mask slot: the instances' own masks for their boxes; hints that touch no instance prompt SAM 3."""

    def __init__(self, backend: Sam3Backend) -> None:
        self.backend = backend

    def _prompt(self, image: Image.Image) -> str:
        return self.backend.prompts.get(self.backend.key(image), "object")

    def masks(self, image: Image.Image, boxes: Sequence[Box]) -> list[np.ndarray]:
        """One HxW bool mask per xyxy pixel box: an instance's own mask when the box is one of SAM 3's, else SAM 3
        prompted with the box as its exemplar (see the module docstring)."""
        if not boxes:
            return []
        self.backend.vision(image)  # a new image forgets the last one's instances
        known = [tuple(b) for b in boxes if tuple(b) in self.backend.found]
        own = dict(zip(known, self.backend.masks(image, known), strict=True))  # type: ignore[arg-type]
        return [own[tuple(b)] if tuple(b) in own else self._at_box(image, tuple(b)) for b in boxes]  # type: ignore[index]

    def _at_box(self, image: Image.Image, box: Box) -> np.ndarray:
        """The mask of the query best matching ``box``: with exemplar prompting, the best-scoring query of SAM 3
        prompted with the box; else, of the text prompt's queries, the one whose box overlaps ``box`` most."""
        prompt = self._prompt(image)
        if exemplars_available():
            q = self.backend.queries(image, prompt, boxes=(box,))
            i = int(q.scores.argmax())
        else:
            q = self.backend.queries(image, prompt)
            ious = [box_iou(tuple(b), box) for b in q.boxes.tolist()]
            i = int(np.argmax(ious))
        return full_masks(q.probs[i : i + 1], image.size, self.backend.mask_threshold)[0]

    def mask_from_points(self, image: Image.Image, points: Sequence[tuple[float, float]], box: Sequence[float] | None = None) -> np.ndarray:
        """The mask of the best-scoring query (of ``box`` as exemplar when given) whose mask holds every point; an
        empty mask when none does."""
        q = self.backend.queries(image, self._prompt(image), boxes=(tuple(box),) if box is not None and exemplars_available() else ())  # type: ignore[arg-type]
        w, h = image.size
        grid = torch.tensor([[(2 * x / w - 1, 2 * y / h - 1) for x, y in points]], dtype=torch.float32, device=q.probs.device)
        at = F.grid_sample(q.probs[:, None], grid[None].expand(len(q.probs), -1, -1, -1), mode="bilinear", align_corners=False)
        holds = (at[:, 0, 0] > self.backend.mask_threshold).all(dim=1)
        if not holds.any():
            return np.zeros((h, w), dtype=bool)
        i = int(torch.where(holds, q.scores, torch.tensor(-1.0, device=q.scores.device)).argmax())
        return full_masks(q.probs[i : i + 1], image.size, self.backend.mask_threshold)[0]
