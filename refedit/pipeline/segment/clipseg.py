"""The CLIPSeg segmenter (Lüddecke & Ecker 2022; the text-prompted masks iEdit Sec. 3 uses): one forward of
``CLIPSegForImageSegmentation`` with the segmentation prompt gives a per-pixel probability, thresholded and
cleaned with the shared mask tools. Its connected components are the candidates: a qualifier ("the left cat",
"the second cup", "the biggest dog", "the cats") goes through the referring resolver on them; without one the
whole mask is the answer when it holds one object (one component of at least :data:`COMPARABLE_AREA` of the
largest, plus fragments). Several such parts are several objects: the clearly most probable one (mean
probability) is the answer, and parts within the resolver's margin of each other are ambiguous like any other
choice (``--pick``, ``--on-ambiguous``, exit 7). Relations, pronouns and regions are handed to
CLIPSeg as the whole referring expression, which it was trained on (PhraseCut)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from refedit.core import masks
from refedit.errors import TargetNotFound
from refedit.pipeline.artifacts import Candidate, EditPlan, Hints, Segmentation, Target
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.hints import pick_by_coverage, select_by_hints
from refedit.pipeline.segment.options import ClipSegOptions
from refedit.pipeline.segment.resolve import AMBIGUITY_MARGIN, Resolution, comparable, resolve, settle

#: a component smaller than this fraction of the largest is a fragment, never a second object of its own
COMPARABLE_AREA = 0.25


def probability_map(store: ModelStore, image: Image.Image, prompt: str) -> np.ndarray:
    """CLIPSeg's sigmoid probability of ``prompt`` at every pixel of ``image``, as an (H, W) float32 array
    (the model's square output resized back to the image, which its processor had stretched)."""
    import torch
    import torch.nn.functional as F

    model = store.get("clipseg", "clipseg")
    processor = store.get("clipseg", "processor")
    inputs = processor(text=[prompt], images=[image], padding=True, return_tensors="pt").to(store.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(store.dtype)
    with torch.inference_mode():
        logits = model(**inputs).logits
    logits = logits.reshape(-1, *logits.shape[-2:])[:1, None].float()
    prob = torch.sigmoid(F.interpolate(logits, size=(image.height, image.width), mode="bilinear", align_corners=False))
    return prob[0, 0].cpu().numpy()


def components(prob: np.ndarray, mask: np.ndarray, label: str) -> list[Candidate]:
    """The connected components of ``mask`` as candidates: tight box, mean probability as the score."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    out = []
    for k, where in enumerate(ndimage.find_objects(labels), 1):
        if where is None:
            continue
        part = labels == k
        ys, xs = where
        out.append(Candidate((xs.start, ys.start, xs.stop, ys.stop), float(prob[part].mean()), label, part))
    return out


def qualified(target: Target) -> bool:
    """Whether the target says which of several ("left", "second", "biggest", "all")."""
    return bool(target.spatial or target.ordinal is not None or target.size or target.all)


class ClipSegSegmenter:
    """CLIPSeg probability -> threshold -> clean -> components -> resolver."""

    name = "clipseg"

    def __init__(self, store: ModelStore, options: ClipSegOptions) -> None:
        self.store = store
        self.options = options
        self.calls = 0

    def prompt(self, plan: EditPlan) -> str:
        """What CLIPSeg is asked: the segmentation prompt, or the whole expression for relations, pronouns and
        regions (which no component resolver can settle)."""
        t = plan.target
        return t.expression if (t.relation or t.pronoun or t.region) else plan.segmentation_prompt

    def segment(self, *, image: Image.Image, plan: EditPlan, hints: Hints) -> Segmentation:
        """The mask of the referred object(s); :class:`TargetNotFound` when no pixel reaches the threshold."""
        shape = (image.height, image.width)
        if plan.action == "global" and hints.empty:
            return Segmentation(mask=np.ones(shape, dtype=bool), reason="global edit: the whole image", segmenter=self.name)
        prompt = self.prompt(plan)
        prob = probability_map(self.store, image, prompt)
        self.calls += 1
        th = self.options.clipseg_threshold
        found = masks.clean(prob >= th)
        if not found.any():
            raise TargetNotFound(f"CLIPSeg found no '{prompt}' in the image (highest probability {prob.max():.2f} < "
                                 f"threshold {th:.2f}); try a lower -O clipseg_threshold or another wording")  # fmt: skip
        cands = components(prob, found, plan.target.head)
        res = self.choose(cands, plan, hints, shape)
        mask = np.zeros(shape, dtype=bool)
        for i in res.chosen:
            mask |= cands[i].mask  # type: ignore[arg-type]
        return Segmentation(mask=masks.dilate(mask, self.options.dilate), candidates=tuple(cands), chosen=res.chosen,
                            reason=res.reason, segmenter=self.name, ambiguity=res.ambiguity)  # fmt: skip

    def choose(self, cands: list[Candidate], plan: EditPlan, hints: Hints, shape: tuple[int, int]) -> Resolution:
        """Which components: the ones the hints touch, the resolver's for a qualified target, else CLIPSeg's whole
        mask when it holds one object, the clearly most probable of several, or (comparable ones) settled as an
        ambiguous choice."""
        t = plan.target
        n = len(cands)
        what = f"{n} CLIPSeg component{'s' * (n != 1)} of '{self.prompt(plan)}'"
        picked = select_by_hints(cands, hints, shape)
        if picked is not None:  # no SAM to prompt: a box on part of a component is in it, other misses are said
            chosen, why = list(picked.chosen), [picked.reason] if picked.reason else []
            missed = picked.unmatched
            covering = [pick_by_coverage(cands, b) for b in missed.boxes]
            for i in covering:
                if i is not None:
                    chosen.append(i)
                    why.append(f"most of the hint box lies in the one at [{', '.join(f'{v:.0f}' for v in cands[i].box)}]")
            rest = [b for b, i in zip(missed.boxes, covering, strict=True) if i is None]
            if rest or missed.points or missed.hint_mask is not None:
                hint = ("a hint box" if rest else "a hint point" if missed.points else "the hint mask")
                raise TargetNotFound(f"{hint} touches none of the {what}" if chosen else f"the hints touch none of the {what}")
            return Resolution(tuple(dict.fromkeys(chosen)), f"{'; '.join(why)} ({what})")
        if qualified(t) and not (t.relation or t.pronoun or t.region):
            res = resolve(cands, t, (shape[1], shape[0]))
            if not res.chosen:
                raise TargetNotFound(f"cannot resolve '{t.expression}': {res.reason}")
            return res
        everything = Resolution(tuple(range(n)), f"CLIPSeg's mask of '{self.prompt(plan)}' ({what}, threshold "
                                                 f"{self.options.clipseg_threshold:.2f})")  # fmt: skip
        if t.relation or t.pronoun or t.region:
            return everything
        areas = [float(c.mask.sum()) for c in cands]  # type: ignore[union-attr]
        big = [i for i in range(n) if areas[i] >= COMPARABLE_AREA * max(areas)]
        if len(big) == 1:  # one object, perhaps with fragments: CLIPSeg's mask as it is
            return everything
        best = max(big, key=lambda i: cands[i].score)
        tied = comparable([c.score for c in cands], [c.box for c in cands], among=big)
        if len(tied) < 2:
            return Resolution((best,), f"the most probable of {len(big)} separate parts of {what} (mean probability "
                                       f"{cands[best].score:.2f}, clearly above the others)")  # fmt: skip
        why = (f"CLIPSeg's mask has {len(tied)} separate parts of similar size and mean probability (within the "
               f"{AMBIGUITY_MARGIN:.2f} margin) and no qualifier says which")  # fmt: skip
        res = Resolution((best,), f"most probable of {what}", comparable=tied, tie_reason=why)
        policy = self.options.policy(self.store.settings.on_ambiguous)
        settled = settle(res, cands, t, policy=policy, pick=self.options.pick, policy_from=self.options.policy_from())
        if settled.chosen == tied and len(tied) < n:  # "all": every part of the mask, fragments included
            settled = replace(settled, chosen=tuple(range(n)))
        return settled
