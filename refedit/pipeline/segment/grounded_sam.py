"""Grounded-SAM (InstructEdit Sec. 3.3): GroundingDINO proposes boxes for the head noun, the referring
resolver picks the referred one(s), SAM turns boxes into masks with one image embedding per image.
Models (and torch) load on first use, so given detections with ``box_mask`` need neither."""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np
from PIL import Image

from refedit.errors import TargetNotFound
from refedit.pipeline.artifacts import Candidate, EditPlan, Hints, Segmentation
from refedit.pipeline.imagekeys import same_images
from refedit.pipeline.models import ModelStore
from refedit.core import masks
from refedit.pipeline.segment.attributes import ClipScorer, ImageTextScorer, score_attributes
from refedit.pipeline.segment.hints import HintChoice, hint_prompts, select_by_hints, set_aside
from refedit.pipeline.segment.options import GroundedSamOptions
from refedit.pipeline.segment.referring import needs_referring
from refedit.pipeline.segment.resolve import AMBIGUITY_MARGIN, Resolution, comparable, nms, reading_order, resolve, settle


class MaskSlot(Protocol):
    """What fills SAM's slot (SAM, SAM 2, SAM 3's instances, the original package): masks of the photo's size for
    box or point prompts, **cleaned** (specks and small holes removed, :func:`~refedit.core.masks.clean`; the
    transformers models do it on their own low-res grid, :func:`~.pixels.clean_planes`)."""

    def masks(self, image: Image.Image, boxes: Sequence[tuple[float, float, float, float]]) -> list[np.ndarray]: ...

    def mask_from_points(self, image: Image.Image, points: Sequence[tuple[float, float]],
                         box: Sequence[float] | None = None) -> np.ndarray: ...  # fmt: skip


class GroundedSamSegmenter:
    """GroundingDINO boxes -> referring resolver -> SAM masks."""

    name = "grounded-sam"

    def __init__(
        self, store: ModelStore, options: GroundedSamOptions, detector: Any = None,
        scorer: ImageTextScorer | None = None, sam: Any = None, name: str = "grounded-sam",
    ) -> None:  # fmt: skip
        """``detector``/``sam``: other parts in GroundingDINO's and SAM's slots (given detections, SAM 3), ``name``
        the segmenter's name they make."""
        self.options = options
        self.store = store
        self.name = name
        self._detector = detector
        self._sam: Any = sam
        self.scorer = scorer or ClipScorer(store)

    @property
    def detector(self) -> Any:
        """The --grounding-model's family's detector unless detections were given (imported on first use: torch
        stays unloaded)."""
        if self._detector is None:
            from refedit.pipeline.segment.detectors import detector_for

            self._detector = detector_for(self.store, floor=self.options.box_threshold)
        return self._detector

    @property
    def sam(self) -> MaskSlot:
        """SAM: the transformers model (SAM or SAM 2), or the original package for a ``.pth`` checkpoint."""
        if self._sam is None:
            from refedit.pipeline.segment.sam2 import is_sam2, Sam2
            from refedit.pipeline.segment.sam_original import sam_backend

            self._sam = Sam2(self.store) if is_sam2(self.store) else sam_backend(self.store)
        return self._sam

    def candidates(self, image: Image.Image, plan: EditPlan) -> tuple[list[Candidate], float | None]:
        """Detections above the box threshold after NMS, and the best score seen (for error messages; None when
        nothing was detected at all)."""
        found = self.detector.detect(image, plan.segmentation_prompt, text_threshold=self.options.text_threshold)
        best = max((c.score for c in found), default=None)
        kept = [c for c in found if c.score >= self.options.box_threshold]
        return nms(kept, self.options.nms_iou), best

    def segment(self, *, image: Image.Image, plan: EditPlan, hints: Hints) -> Segmentation:
        """The mask of the referred object(s); :class:`TargetNotFound` when nothing qualifies."""
        with same_images():  # the photo's pixels are hashed once for every per-image cache
            return self._segment(image, plan, hints)

    def _segment(self, image: Image.Image, plan: EditPlan, hints: Hints) -> Segmentation:
        hinted = bool(hints.boxes or hints.points or hints.hint_mask is not None)
        if plan.action == "global":
            if hinted:
                return self.from_hints(image, hints, "the instruction names no object")
            full = np.ones((image.height, image.width), dtype=bool)
            return Segmentation(mask=full, reason="global edit: the whole image", segmenter=self.name)
        if not hinted and needs_referring(plan):  # relations, pronouns, regions, placements (hints decide alone)
            from refedit.pipeline.segment.referring import Referring

            return Referring(self, image, plan).run()
        cands, best = self.candidates(image, plan)
        if not cands and hinted:
            return self.from_hints(image, hints, f"no '{plan.segmentation_prompt}' detected")
        if not cands and best is None:  # not "best score 0.00 < box threshold 0.00"
            from refedit.pipeline.segment.detections import GivenDetections

            if not isinstance(self.detector, GivenDetections):
                why = "the detector returned no box for it"
            elif not self.detector.candidates:
                why = "the --detections list is empty"
            else:
                why = f"none of the --detections is labelled '{plan.target.head}'"
            raise TargetNotFound(f"no '{plan.segmentation_prompt}' found in the image ({why}); try another wording, or a "
                                 "--box/--point hint")
        if not cands:
            how = ".2f" if f"{best:.2f}" != f"{self.options.box_threshold:.2f}" else ".8g"  # not "1.00 < 1.00"
            raise TargetNotFound(
                f"no '{plan.segmentation_prompt}' found in the image (best score {best:{how}} < box threshold "
                f"{self.options.box_threshold:{how}}"
                + (f", text threshold {self.options.text_threshold:.2f}" if self.options.text_threshold else "")
                + "); try a lower --box-threshold, another wording, or a --box/--point hint"
            )
        shape = (image.height, image.width)
        if self.options.box_mask:
            cand_masks = [masks.box_mask(c.box, shape, self.options.box_expand) for c in cands]
        else:
            cand_masks = self.sam.masks(image, [c.box for c in cands])
        cands = [Candidate(c.box, c.score, c.label, m) for c, m in zip(cands, cand_masks, strict=True)]
        picked = select_by_hints(cands, hints, shape)
        if picked is not None and picked.n_unmatched:  # hints that touch no detection prompt SAM themselves
            return self._with_hint_prompts(image, cands, picked, plan.segmentation_prompt)
        choice = (self.resolve(image, cands, plan) if picked is None
                  else Resolution(picked.chosen, picked.reason + set_aside(plan.target)))  # fmt: skip
        if not choice.chosen:
            raise TargetNotFound(f"cannot resolve '{plan.target.expression}': {choice.reason}")
        choice = self.settle(choice, cands, plan.target)
        mask = self._chosen_mask(cands, choice.chosen, shape)
        return Segmentation(mask=masks.dilate(mask, self.options.dilate), candidates=tuple(cands), chosen=choice.chosen,
                            reason=choice.reason, segmenter=self.name, ambiguity=choice.ambiguity)  # fmt: skip

    def settle(self, res: Resolution, cands: list[Candidate], target: Any, **how: Any) -> Resolution:
        """:func:`settle` with this run's ``--pick`` and policy (the option, else the settings' default)."""
        policy = self.options.policy(self.store.settings.on_ambiguous)
        return settle(res, cands, target, policy=policy, pick=self.options.pick, policy_from=self.options.policy_from(),
                      **how)  # fmt: skip

    def _chosen_mask(self, cands: list[Candidate], chosen: tuple[int, ...], shape: tuple[int, int]) -> np.ndarray:
        """The union of the chosen candidates' masks (cleaned by the mask slot, :class:`MaskSlot`); their boxes
        when SAM found no pixel in them."""
        mask = np.zeros(shape, dtype=bool)
        for i in chosen:
            mask |= cands[i].mask  # type: ignore[arg-type]
        if not mask.any():  # SAM found no pixels in the chosen box: fall back to the box itself
            for i in chosen:
                mask |= masks.box_mask(cands[i].box, shape)
        return mask

    def _with_hint_prompts(
        self, image: Image.Image, cands: list[Candidate], picked: HintChoice, prompt: str
    ) -> Segmentation:
        """The chosen candidates' masks plus SAM's answer to the hints that match no candidate."""
        shape = (image.height, image.width)
        n = picked.n_unmatched
        whose = "the other hint" if picked.chosen else "the hint"
        verb = f"{whose}s match" if n > 1 else f"{whose} matches"  # (a box grazing a detection matches none)
        why = f"{verb} none of the {len(cands)} '{prompt}' detections"
        mask = self._chosen_mask(cands, picked.chosen, shape) if picked.chosen else np.zeros(shape, dtype=bool)
        prompted, what = self._prompt_mask(image, picked.unmatched)
        if not prompted.any():
            raise self._nothing_at_hints(why)
        reason = f"{why}: {self._prompted()} {what}"
        return Segmentation(mask=masks.dilate(mask | prompted, self.options.dilate), candidates=tuple(cands),
                            chosen=picked.chosen, reason="; ".join(r for r in (picked.reason, reason) if r),
                            segmenter=self.name)  # fmt: skip

    def resolve(self, image: Image.Image, cands: list[Candidate], plan: EditPlan) -> Resolution:
        """The resolver, after narrowing the candidates to those that look like the target's attributes."""
        target = plan.target
        if not (self.options.attribute_filter and target.attributes and len(cands) > 1):
            return resolve(cands, target, image.size)
        match = score_attributes(self.scorer, image, cands, target)
        keep = [i for i, ok in enumerate(match.matches) if ok]
        attrs = " ".join(target.attributes)
        pool = keep or list(range(len(cands)))
        wanted = target.count or 1
        if len(keep) < wanted:  # fewer clearly match than asked for ("the two red cups"): the most alike
            keep = sorted(range(len(cands)), key=lambda i: -match.probability[i])[:wanted]
            note = f"{'too few' if any(match.matches) else 'none'} clearly {attrs}; most {attrs}-looking of {len(cands)}"
        else:
            note = f"{len(keep)} of {len(cands)} look {attrs} (CLIP)"
        if not (target.spatial or target.ordinal or target.size or target.all or target.count):
            best = max(keep, key=lambda i: match.probability[i])
            reason = f"most {attrs}-looking of {len(cands)} '{target.head}' detections ({note})"
            return self._attribute_tie(Resolution((best,), reason), cands, match.probability, pool, attrs)
        sub = resolve([cands[i] for i in keep], target, image.size)
        return Resolution(tuple(keep[i] for i in sub.chosen), f"{sub.reason}; {note}")

    @staticmethod
    def _attribute_tie(res: Resolution, cands: list[Candidate], probability: Any, pool: list[int], attrs: str) -> Resolution:
        """``res`` marked ambiguous when the attribute does not separate the best candidates (CLIP probabilities
        within :data:`AMBIGUITY_MARGIN`) and neither do their detection scores."""
        boxes = [c.box for c in cands]
        by_look = comparable([float(p) for p in probability], boxes, among=pool)
        tied = comparable([c.score for c in cands], boxes, among=by_look) if len(by_look) > 1 else by_look
        if len(tied) < 2:
            return res
        # the look's best is one of them even where its detection score is not (--on-ambiguous best picks it: it was
        # left out, and picking it was an internal error)
        tied = reading_order(boxes, sorted(set(tied) | set(res.chosen)))
        probs = [float(probability[i]) for i in tied]
        whys = tuple(f"{'left-most' if k == 1 else 'right-most' if k == len(tied) else f'no. {k} from the left'}; "
                     f"looks {attrs} with probability {float(probability[i]):.2f}; score {cands[i].score:.2f}"
                     for k, i in enumerate(tied, 1))  # fmt: skip
        why = (f"'{attrs}' does not separate them (CLIP probabilities {max(probs):.2f} to {min(probs):.2f}) and "
               f"neither do their detection scores (within the {AMBIGUITY_MARGIN:.2f} margin)")  # fmt: skip
        return Resolution(res.chosen, res.reason, comparable=tied, tie_reason=why, tie_whys=whys)

    def from_hints(self, image: Image.Image, hints: Hints, why: str) -> Segmentation:
        """Prompt SAM directly with the hints (see :func:`hint_prompts`); no candidate is involved."""
        mask, what = self._prompt_mask(image, hints)
        if not mask.any():
            raise self._nothing_at_hints(why)
        reason = f"{why}: {self._prompted()} {what}"
        return Segmentation(mask=masks.dilate(mask, self.options.dilate), reason=reason, segmenter=self.name)

    def _nothing_at_hints(self, why: str) -> TargetNotFound:
        if self.options.box_mask:
            return TargetNotFound(f"{why}, and with --box-mask a point alone gives no box: add a --box or drop --box-mask")
        return TargetNotFound(f"{why}, and SAM found nothing at the hints")

    def _prompted(self) -> str:
        """How the hints that match no detection became a mask, for the reason: SAM prompted, or their boxes."""
        return "the box mask of" if self.options.box_mask else "SAM prompted with"

    def _prompt_mask(self, image: Image.Image, hints: Hints) -> tuple[np.ndarray, str]:
        """The union of SAM's masks for the hint prompts (box prompts in one batched call, each mask cleaned),
        and what SAM was prompted with; with ``box_mask`` the prompts' boxes instead (points alone then
        give nothing)."""
        shape = (image.height, image.width)
        prompts = hint_prompts(hints)
        boxes = [p.box for p in prompts if p.box is not None and not p.points]
        if self.options.box_mask:
            found = [masks.box_mask(p.box, shape, self.options.box_expand) for p in prompts if p.box is not None]
        else:
            found = self.sam.masks(image, boxes)
            found += [self.sam.mask_from_points(image, p.points, box=p.box) for p in prompts if p.points]
        mask = np.zeros(shape, dtype=bool)
        for m in found:
            mask |= m
        parts = [f"{len(hints.boxes)} box(es)" if hints.boxes else "",
                 f"{len(hints.points)} point(s)" if hints.points else ""]  # fmt: skip
        if hints.hint_mask is not None and prompts and prompts[-1].box is not None and prompts[-1].points:
            parts.append(f"a free-shape hint (its box and {len(prompts[-1].points)} points inside it)")
        return mask, ", ".join(p for p in parts if p)
