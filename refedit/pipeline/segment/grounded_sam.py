"""Grounded-SAM (InstructEdit Sec. 3.3): GroundingDINO proposes boxes for the head noun, the referring
resolver picks the referred one(s), SAM turns boxes into masks with one image embedding per image.
Models (and torch) load on first use, so given detections with ``box_mask`` need neither."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from refedit.errors import BadInput, TargetNotFound
from refedit.pipeline.artifacts import Candidate, EditPlan, Hints, Segmentation
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment import masks as mk
from refedit.pipeline.segment.attributes import ClipScorer, score_attributes
from refedit.pipeline.segment.hints import hint_prompts, select_by_hints
from refedit.pipeline.segment.resolve import Resolution, nms, resolve
from refedit.pipeline.stages import StageOptions


@dataclass(frozen=True)
class GroundedSamOptions(StageOptions):
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



class GroundedSamSegmenter:
    """GroundingDINO boxes -> referring resolver -> SAM masks."""

    name = "grounded-sam"

    def __init__(
        self, store: ModelStore, options: GroundedSamOptions, detector: Any = None, scorer: Any = None
    ) -> None:
        self.options = options
        self.store = store
        self._detector = detector
        self._sam: Any = None
        self.scorer = scorer or ClipScorer(store)

    @property
    def detector(self) -> Any:
        """GroundingDINO unless detections were given (imported on first use: torch stays unloaded)."""
        if self._detector is None:
            from refedit.pipeline.segment.grounding import GroundingDino

            self._detector = GroundingDino(self.store)
        return self._detector

    @property
    def sam(self) -> Any:
        """SAM: the transformers model, or the original package for a ``.pth`` checkpoint."""
        if self._sam is None:
            from refedit.pipeline.segment.sam_original import sam_backend

            self._sam = sam_backend(self.store)
        return self._sam

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
            cand_masks = self.sam.masks(image, [c.box for c in cands])
        cands = [Candidate(c.box, c.score, c.label, m) for c, m in zip(cands, cand_masks, strict=True)]
        choice = select_by_hints(cands, hints, shape) or self.resolve(image, cands, plan)
        if not choice.chosen:
            raise TargetNotFound(f"cannot resolve '{plan.target.expression}': {choice.reason}")
        if not self.options.box_mask:  # clean up only what will be used
            for i in choice.chosen:
                cand_masks[i] = mk.clean(cand_masks[i])
                cands[i] = Candidate(cands[i].box, cands[i].score, cands[i].label, cand_masks[i])
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
