"""Grounded-SAM (InstructEdit Sec. 3.3): GroundingDINO proposes boxes for the head noun, the referring
resolver picks the referred one(s), SAM turns boxes into masks with one image embedding per image."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from refedit.errors import BadInput, TargetNotFound
from refedit.pipeline.artifacts import Candidate, EditPlan, Hints, Segmentation
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment import masks as mk
from refedit.pipeline.segment.hints import hint_prompts, select_by_hints
from refedit.pipeline.segment.attributes import ClipScorer, score_attributes
from refedit.pipeline.segment.resolve import Resolution, nms, resolve


@dataclass(frozen=True)
class GroundedSamOptions:
    """Grounded-SAM's thresholds (box 0.30, text 0.25), NMS IoU, mask dilation in pixels, and
    ``box_mask``: use each chosen box (grown by ``box_expand``) instead of SAM's silhouette;
    ``attribute_filter``: re-score candidates with CLIP against the target's attributes ("green")."""

    box_threshold: float = 0.30
    text_threshold: float = 0.25
    nms_iou: float = 0.7
    dilate: int = 0
    box_mask: bool = False
    box_expand: float = 0.05
    attribute_filter: bool = True

    def __post_init__(self) -> None:
        for name in ("box_threshold", "text_threshold", "nms_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise BadInput(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}")
        if self.dilate < 0:
            raise BadInput(f"--dilate must be >= 0, got {self.dilate}")

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> "GroundedSamOptions":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names and v is not None})


class GroundingDino:
    """Open-set detection with transformers' GroundingDINO (lazy, from the shared store)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    @torch.no_grad()
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


class Sam:
    """SAM box prompting with the image embedding computed once per image (set once, predict many)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.embed_calls = 0
        self._key: tuple[int, bytes] | None = None
        self._state: tuple[torch.Tensor, Any] | None = None

    def set_image(self, image: Image.Image) -> None:
        """Compute (or reuse) the image embedding of ``image``."""
        key = (hash(image.tobytes()), image.size)
        if self._key == key:
            return
        model = self.store.get("sam", "sam")
        processor = self.store.get("sam", "processor")
        inputs = processor.image_processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.store.device, self.store.dtype)
        with torch.no_grad():
            embedding = model.get_image_embeddings(pixels)
        self.embed_calls += 1
        self._key, self._state = key, (embedding, inputs)

    @torch.no_grad()
    def masks(self, image: Image.Image, boxes: Sequence[tuple[float, float, float, float]]) -> list[np.ndarray]:
        """One HxW bool mask per xyxy pixel box."""
        if not boxes:
            return []
        self.set_image(image)
        assert self._state is not None
        embedding, inputs = self._state
        model = self.store.get("sam", "sam")
        processor = self.store.get("sam", "processor")
        (oh, ow), (rh, rw) = inputs["original_sizes"][0].tolist(), inputs["reshaped_input_sizes"][0].tolist()
        scale = torch.tensor([rw / ow, rh / oh, rw / ow, rh / oh])
        scaled = (torch.tensor(boxes, dtype=torch.float32) * scale)[None].to(self.store.device, self.store.dtype)
        out = model(image_embeddings=embedding, input_boxes=scaled, multimask_output=False)
        full = processor.post_process_masks(
            out.pred_masks.float().cpu(), inputs["original_sizes"], inputs["reshaped_input_sizes"]
        )[0]
        return [m[0].numpy().astype(bool) for m in full]


    @torch.no_grad()
    def mask_from_points(self, image: Image.Image, points: Sequence[tuple[float, float]]) -> np.ndarray:
        """One HxW bool mask of the object under the (foreground) pixel ``points``."""
        self.set_image(image)
        assert self._state is not None
        embedding, inputs = self._state
        model = self.store.get("sam", "sam")
        processor = self.store.get("sam", "processor")
        (oh, ow), (rh, rw) = inputs["original_sizes"][0].tolist(), inputs["reshaped_input_sizes"][0].tolist()
        pts = torch.tensor(points, dtype=torch.float32) * torch.tensor([rw / ow, rh / oh])
        out = model(image_embeddings=embedding, input_points=pts[None, None].to(self.store.device, self.store.dtype),
                    input_labels=torch.ones(1, 1, len(points), dtype=torch.long, device=self.store.device),
                    multimask_output=False)  # fmt: skip
        full = processor.post_process_masks(
            out.pred_masks.float().cpu(), inputs["original_sizes"], inputs["reshaped_input_sizes"]
        )[0]
        return full[0, 0].numpy().astype(bool)


class GroundedSamSegmenter:
    """GroundingDINO boxes -> referring resolver -> SAM masks."""

    name = "grounded-sam"

    def __init__(
        self, store: ModelStore, options: GroundedSamOptions, detector: Any = None, scorer: Any = None
    ) -> None:
        self.options = options
        self.detector = detector or GroundingDino(store)
        self.sam = Sam(store)
        self.scorer = scorer or ClipScorer(store)

    def candidates(self, image: Image.Image, plan: EditPlan) -> tuple[list[Candidate], float]:
        """Detections above the box threshold after NMS, and the best score seen (for error messages)."""
        found = self.detector.detect(image, plan.segmentation_prompt, text_threshold=self.options.text_threshold)
        best = max((c.score for c in found), default=0.0)
        kept = [c for c in found if c.score >= self.options.box_threshold]
        return nms(kept, self.options.nms_iou), best

    def segment(self, *, image: Image.Image, plan: EditPlan, hints: Hints) -> Segmentation:
        """The mask of the referred object(s); :class:`TargetNotFound` when nothing qualifies."""
        hinted = bool(hints.boxes or hints.points or hints.hint_mask is not None)
        if plan.action == "global":
            if hinted:
                return self.from_hints(image, hints, "the instruction names no object")
            full = np.ones((image.height, image.width), dtype=bool)
            return Segmentation(mask=full, reason="global edit: the whole image", segmenter=self.name)
        cands, best = self.candidates(image, plan)
        if not cands and hinted:
            return self.from_hints(image, hints, f"no '{plan.segmentation_prompt}' detected")
        if not cands:
            raise TargetNotFound(
                f"no '{plan.segmentation_prompt}' found in the image (best score {best:.2f} < box threshold "
                f"{self.options.box_threshold:.2f}, text threshold {self.options.text_threshold:.2f}); try a "
                "lower --box-threshold, another wording, or a --box/--point hint"
            )
        shape = (image.height, image.width)
        if self.options.box_mask:
            cand_masks = [mk.box_mask(c.box, shape, self.options.box_expand) for c in cands]
        else:
            cand_masks = [mk.clean(m) for m in self.sam.masks(image, [c.box for c in cands])]
        cands = [Candidate(c.box, c.score, c.label, m) for c, m in zip(cands, cand_masks, strict=True)]
        choice = select_by_hints(cands, hints, shape) or self.resolve(image, cands, plan)
        if not choice.chosen:
            raise TargetNotFound(f"cannot resolve '{plan.target.expression}': {choice.reason}")
        mask = np.zeros(shape, dtype=bool)
        for i in choice.chosen:
            mask |= cand_masks[i]
        if not mask.any():  # SAM found no pixels in the chosen box: fall back to the box itself
            for i in choice.chosen:
                mask |= mk.box_mask(cands[i].box, shape)
        mask = mk.dilate(mask, self.options.dilate)
        return Segmentation(mask=mask, candidates=tuple(cands), chosen=choice.chosen, reason=choice.reason, segmenter=self.name)

    def resolve(self, image: Image.Image, cands: list[Candidate], plan: EditPlan) -> Resolution:
        """The resolver, after narrowing the candidates to those that look like the target's attributes."""
        target = plan.target
        if not (self.options.attribute_filter and target.attributes and len(cands) > 1):
            return resolve(cands, target, image.size)
        match = score_attributes(self.scorer, image, cands, target)
        keep = [i for i, ok in enumerate(match.matches) if ok]
        attrs = " ".join(target.attributes)
        if not keep:  # nothing clearly matches: rank by the asked description's probability
            keep = [max(range(len(cands)), key=lambda i: match.probability[i])]
            note = f"none clearly {attrs}; most {attrs}-looking of {len(cands)}"
        else:
            note = f"{len(keep)} of {len(cands)} look {attrs} (CLIP)"
        if not (target.spatial or target.ordinal or target.size or target.all):
            best = max(keep, key=lambda i: match.probability[i])
            return Resolution((best,), f"most {attrs}-looking of {len(cands)} '{target.head}' detections ({note})")
        sub = resolve([cands[i] for i in keep], target, image.size)
        return Resolution(tuple(keep[i] for i in sub.chosen), f"{sub.reason}; {note}")

    def from_hints(self, image: Image.Image, hints: Hints, why: str) -> Segmentation:
        """Prompt SAM directly with the hints (boxes, the free-shape hint's box, points)."""
        shape = (image.height, image.width)
        boxes, points = hint_prompts(hints)
        if self.options.box_mask:
            masks = [mk.box_mask(b, shape, self.options.box_expand) for b in boxes]
        else:
            masks = [mk.clean(m) for m in self.sam.masks(image, boxes)]
            if points:
                masks.append(mk.clean(self.sam.mask_from_points(image, points)))
        mask = np.zeros(shape, dtype=bool)
        for m in masks:
            mask |= m
        if not mask.any():
            raise TargetNotFound(f"{why}, and SAM found nothing at the hints")
        parts = [f"{len(hints.boxes)} box(es)" if hints.boxes else "", f"{len(points)} point(s)" if points else "",
                 "a free-shape hint" if hints.hint_mask is not None else ""]  # fmt: skip
        reason = f"{why}: SAM prompted with {', '.join(p for p in parts if p)}"
        return Segmentation(mask=mk.dilate(mask, self.options.dilate), reason=reason, segmenter=self.name)
