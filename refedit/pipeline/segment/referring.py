"""Grounded-SAM for plans that say more than one object: relations to an anchor ("the chair on the left of the
sofa", nested), pronouns the image settles ("her", "them"), regions ("the right side", "the background") and
placements of added objects ("add a cup to the left of the book").

One detector call covers the target's phrase and every anchor's (and the generic subject phrases a pronoun or
the background needs). Anchors are resolved first, with their own qualifiers, then the target among the
boxes that stand in the relation to them (:mod:`~refedit.pipeline.segment.relations`); the reason names the
anchor and why. An anchor that is not found is :class:`TargetNotFound` naming it; an anchor, a pronoun or a target
that fits two objects equally is ambiguous, settled as every choice of the resolver is (``--pick``,
``--on-ambiguous``, else :class:`~refedit.pipeline.artifacts.AmbiguousTarget`, exit 7, see
:func:`~refedit.pipeline.segment.resolve.settle`); a relation no candidate satisfies is reported, never turned
into an absolute position.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from refedit.core import english, masks
from refedit.core.geometry import box_iou
from refedit.errors import TargetNotFound
from refedit.pipeline.artifacts import Ambiguity, Box, Candidate, EditPlan, Segmentation, Target
from refedit.pipeline.segment import relations as rel
from refedit.pipeline.segment.resolve import AMBIGUITY_MARGIN, Resolution, nms, reading_order

WORDS = {"left-of": "left of", "right-of": "right of", "above": "above", "below": "below", "next-to": "next to",
         "in-front-of": "in front of", "behind": "behind", "between": "between", "on": "on", "in": "in",
         "of": "of", "with": "with"}  # fmt: skip


def _ground(anchor: Target) -> bool:
    """True for an anchor things stand on anywhere inside its outline: a ground ("the road", "the lawn") or a part of
    one ("the left side of the road")."""
    while anchor.head == "region" and anchor.relation is not None:
        anchor = anchor.relation.anchor
    return anchor.head.split()[-1] in english.GROUNDS


#: "with" costs (the part of the anchor outside the target, see relations.relation_cost) this close are a tie
WITH_TIE = 0.05
#: detection scores closer than this leave an unqualified anchor ambiguous (the resolver's margin, for every choice)
ANCHOR_MARGIN = AMBIGUITY_MARGIN


def needs_referring(plan: EditPlan) -> bool:
    """True when the plan has a relation, pronoun, region or placement (the plain path does the rest)."""
    t = plan.target
    return bool(t.relation or t.pronoun or t.region or plan.placement)


def is_space_between(t: Target) -> bool:
    """A target that is the space between two objects (the parser's "space between the sofa and the chair")."""
    return t.head == "region" and t.region is None and t.relation is not None and t.relation.direction == "between"


@dataclass(frozen=True)
class Found:
    """One target resolved: its phrase's candidates, the chosen ones, why, and (regions) a ready mask."""

    candidates: tuple[Candidate, ...]
    chosen: tuple[int, ...]
    reason: str
    mask: np.ndarray | None = None

    def box(self) -> Box:
        """The union box of the chosen candidates (or of the region mask)."""
        if self.mask is not None:
            b = masks.mask_box(self.mask)
            assert b is not None
            return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
        boxes = [self.candidates[i].box for i in self.chosen]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))

    def outermost(self, expression: str) -> tuple[Box, Box]:
        """The left-most and the right-most chosen boxes: what "between the two chairs" is between (one plural
        ``expression`` as the two anchors); fewer than two is :class:`TargetNotFound`."""
        boxes = sorted((self.candidates[i].box for i in self.chosen), key=lambda b: b[0]) if self.mask is None else []
        if len(boxes) < 2:
            raise TargetNotFound(f"'between' needs two of '{expression}', found {len(boxes)}")
        return boxes[0], boxes[-1]


class Referring:
    """Resolves one plan with relations, pronouns, regions or placements on one image."""

    def __init__(self, segmenter: Any, image: Image.Image, plan: EditPlan) -> None:
        self.seg, self.image, self.plan = segmenter, image, plan
        self.size = image.size
        self.shape = (image.height, image.width)
        phrases = self._phrases(plan.target, main=True)
        opts = segmenter.options
        # a region alone ("the right side") names nothing to detect: the detector is not run on no phrase
        found = segmenter.detector.detect_phrases(image, phrases, text_threshold=opts.text_threshold) if phrases else []
        self.found = {p: nms([c for c in f if c.score >= opts.box_threshold], opts.nms_iou) for p, f in
                      zip(phrases, found, strict=True)}  # fmt: skip
        self.settled: list[Ambiguity] = []  # ambiguous choices settled by --pick / --on-ambiguous, in order

    # ------------------------------------------------------------------ phrases
    def _phrase(self, t: Target, main: bool) -> str:
        if t.pronoun in ("him", "her"):
            return "person"
        return self.plan.segmentation_prompt if main else " ".join([*t.attributes, t.head])

    def _phrases(self, t: Target, main: bool = False) -> list[str]:
        out: list[str] = []
        if t.pronoun in ("them", "it") or t.region in ("background", "foreground"):
            out += rel.SUBJECT_PHRASES
        elif t.region is None and not is_space_between(t):  # (a space names no object: its anchors are found)
            out.append(self._phrase(t, main))
        if t.relation is not None:
            out += self._phrases(t.relation.anchor)
            if t.relation.second is not None:
                out += self._phrases(t.relation.second)
        return list(dict.fromkeys(out))

    # ------------------------------------------------------------------ resolution
    def run(self) -> Segmentation:
        """The segmentation of the plan's target, or of the placement next to it for an addition."""
        target = self.plan.target
        found = self.find(target, main=True)
        if self.plan.placement is not None:
            return self._placed(found)
        if found.mask is not None:
            mask, cands, chosen = found.mask, (), ()
        else:
            cands = self._with_masks(found.candidates)
            chosen = found.chosen
            mask = self.seg._chosen_mask(cands, chosen, self.shape)
        return Segmentation(mask=masks.dilate(mask, self.seg.options.dilate), candidates=tuple(cands), chosen=chosen,
                            reason=found.reason, segmenter=self.seg.name, ambiguity=self._ambiguity())  # fmt: skip

    def _ambiguity(self) -> Ambiguity | None:
        """The last ambiguous choice the run settled (the target's when it had one), for the segmentation."""
        return self.settled[-1] if self.settled else None

    def _settle(self, res: Resolution, cands: list[Candidate], t: Target, role: str, **how: object) -> Resolution:
        settled = self.seg.settle(res, cands, t, role=role, **how)
        if settled.ambiguity is not None:
            self.settled.append(settled.ambiguity)
        return settled

    def find(self, t: Target, main: bool = False) -> Found:
        """Resolve ``t``: anchors first, then ``t`` among its phrase's candidates."""
        if t.region is not None:
            return self._region(t)
        if is_space_between(t):
            return self._space_between(t)
        if t.pronoun is not None:
            return self._pronoun(t)
        phrase = self._phrase(t, main)
        cands = self.found.get(phrase, [])
        role = "" if main else "the anchor "
        if t.relation is not None and t.relation.direction == "with":
            return self._having(t, list(cands), main)
        if t.relation is not None:  # the anchor first: a missing anchor is named as such
            return self._related(t, list(cands), self.find(t.relation.anchor))
        if not cands:
            raise TargetNotFound(f"{role}'{t.expression}' was not found in the image (no '{phrase}' detected above "
                                 f"the box threshold {self.seg.options.box_threshold:.2f})")  # fmt: skip
        r = self.seg.resolve(self.image, list(cands), replace(self.plan, target=t))
        if not r.chosen:
            raise TargetNotFound(f"cannot resolve {role}'{t.expression}': {r.reason}")
        # an anchor named without a qualifier ("the sofa") must be one object: two detections scoring within the
        # margin would make the relation depend on a coin toss
        r = self._settle(r, list(cands), t, "target" if main else "anchor")
        return Found(tuple(cands), r.chosen, r.reason)

    def _related(self, t: Target, cands: list[Candidate], anchor: Found) -> Found:
        relation = t.relation
        assert relation is not None
        second_box = self.find(relation.second).box() if relation.second is not None else None
        anchor_box = anchor.box()
        if relation.direction == "between" and second_box is None:  # one plural anchor: its two outermost
            anchor_box, second_box = anchor.outermost(relation.anchor.expression)
        anchor_boxes = [anchor.candidates[i].box for i in anchor.chosen] if anchor.mask is None else []
        costs = {}
        for i, c in enumerate(cands):
            if any(box_iou(c.box, a) > 0.9 for a in anchor_boxes):  # the anchor itself ("the girl left of the girl")
                continue
            cost = rel.relation_cost(relation.direction, c.box, anchor_box, second_box)
            if cost is None and relation.direction == "on" and _ground(relation.anchor):
                cost = rel.relation_cost("in", c.box, anchor_box)  # "the car on the road": anywhere inside it
            if cost is not None:
                costs[i] = cost
        return self._nearest(t, cands, costs, anchor.reason)

    def _having(self, t: Target, cands: list[Candidate], main: bool) -> Found:
        """"the man holding an umbrella", "the girl in the red dress": the target's detection that covers one of the
        anchor's best (:func:`~.relations.relation_cost` ``with``). Any detection of the anchor will do (two umbrellas
        are no ambiguity: whichever a man holds); one that names more ("the umbrella on the left") is resolved first.
        A target that is alone in the image needs no anchor: what it holds only tells it apart from others."""
        relation = t.relation
        assert relation is not None
        own = replace(t, relation=None)
        if len(cands) == 1 and not own.count:
            found = self.find(own, main)
            return replace(found, reason=f"{found.reason} ('{relation.anchor.expression}' not needed to tell it apart)")
        a = relation.anchor
        if a.relation or a.pronoun or a.region or a.spatial or a.ordinal or a.size or a.count:
            anchor = self.find(a)
            boxes, why = [anchor.candidates[i].box for i in anchor.chosen] or [anchor.box()], anchor.reason
        else:  # every detection of it, narrowed to the attributes it names ("the red dress")
            found = self.found.get(self._phrase(a, False), [])
            if not found:
                self.find(a)  # raises: the anchor not found, named as every missing anchor is
            r = self.seg.resolve(self.image, list(found), replace(self.plan, target=replace(a, all=True))) if a.attributes \
                else Resolution(tuple(range(len(found))), "")  # fmt: skip
            boxes = [found[i].box for i in r.chosen] or [c.box for c in found]
            why = f"{len(boxes)} '{a.expression}' detection{'s' * (len(boxes) > 1)}"
        costs = {}
        for i, c in enumerate(cands):
            fits = [cost for b in boxes if box_iou(c.box, b) <= 0.9
                    and (cost := rel.relation_cost("with", c.box, b)) is not None]  # fmt: skip
            if fits:
                costs[i] = min(fits)
        return self._nearest(t, cands, costs, why)

    def _nearest(self, t: Target, cands: list[Candidate], costs: dict[int, float], anchor_reason: str) -> Found:
        """The target among ``cands`` by its relation ``costs`` (index -> cost, only those in the relation), and
        its own qualifiers, count or plural."""
        relation = t.relation
        assert relation is not None
        words = WORDS[relation.direction]
        what = f"'{relation.anchor.expression}'" + (f" and '{relation.second.expression}'" if relation.second else "")
        if not cands:
            raise TargetNotFound(f"'{t.expression}' was not found in the image (no '{t.head}' detected above the box "
                                 f"threshold {self.seg.options.box_threshold:.2f})")  # fmt: skip
        if not costs:
            how = f"has {what} on or beside it" if relation.direction == "with" else f"is {words} {what}"
            raise TargetNotFound(f"none of the {len(cands)} '{t.head}' detections {how}; "
                                 f"try another wording or a --point hint")  # fmt: skip
        keep = sorted(costs, key=costs.__getitem__)
        own = replace(t, relation=None)
        if own.spatial or own.ordinal or own.size or own.attributes:
            sub = self.seg.resolve(self.image, [cands[i] for i in keep], replace(self.plan, target=own))
            sub = self._settle(sub, [cands[i] for i in keep], own, "target")  # e.g. an attribute that does not separate
            chosen, why = tuple(keep[i] for i in sub.chosen), sub.reason
        elif own.count:  # "the two cups next to the laptop": the nearest that many
            if len(keep) < own.count:
                raise TargetNotFound(f"asked for {own.count} '{t.head}' {words} {what}, and only {len(keep)} of the "
                                     f"{len(cands)} '{t.head}' detections are")  # fmt: skip
            chosen, why = tuple(keep[: own.count]), f"the {own.count} nearest"
        elif own.all:
            chosen, why = tuple(keep), f"all {len(keep)}"
        else:
            best = "the best fit" if relation.direction == "with" else "the nearest"
            chosen, why = (keep[0],), best if len(keep) > 1 else "the only one"
            # two who hold one just as well (both dresses could be the red one), two cones inside the road's outline:
            # the user says which
            ground = relation.direction == "on" and _ground(relation.anchor)
            tied = [i for i in keep if costs[i] - costs[keep[0]] <= WITH_TIE] if relation.direction == "with" or ground else []
            if len(tied) > 1:
                tie = f"each is on {what} as much as the other" if ground else f"each has {what} on it as much as the other"
                res = Resolution(chosen, why, comparable=reading_order([c.box for c in cands], tied), tie_reason=tie)
                res = self._settle(res, cands, own, "target")
                chosen, why = res.chosen, res.reason
        reason = (f"{why} of the {len(keep)} '{t.head}' detections {words} {what} "
                  f"({what}: {anchor_reason})")  # fmt: skip
        return Found(tuple(cands), chosen, reason)

    def _pronoun(self, t: Target) -> Found:
        if t.pronoun in ("him", "her"):
            cands = self.found.get("person", [])
            if not cands:
                raise TargetNotFound(f"'{t.pronoun}' needs a person in the image, and none was detected")
            i, clear = rel.most_salient([c.box for c in cands], [c.score for c in cands])
            n = len(cands)
            res = Resolution((i,), f"'{t.pronoun}': the most prominent of {n} person detection{'s' * (n > 1)}")
            if not clear:
                res = self._salience_tie(res, list(cands), t, "people of similar size", "--point X,Y or --box")
            return Found(tuple(cands), res.chosen, res.reason)
        pairs = [(p, c) for p in rel.SUBJECT_PHRASES for c in self.found.get(p, [])]
        subject = rel.main_subject([p for p, _ in pairs], [c.box for _, c in pairs], [c.score for _, c in pairs])
        if subject is None:
            raise TargetNotFound(f"cannot tell what '{t.pronoun}' refers to: no usual subject detected")
        cands = self.found[subject]
        if t.spatial or t.ordinal or t.size or t.attributes or t.count:  # "the left one", "those two": qualified
            own = replace(t, head=subject, pronoun=None)
            r = self._settle(self.seg.resolve(self.image, list(cands), replace(self.plan, target=own)), list(cands),
                             own, "target")  # fmt: skip
            if not r.chosen:
                raise TargetNotFound(f"cannot resolve '{t.expression}': {r.reason}")
            return Found(tuple(cands), r.chosen, f"'{t.expression}': {r.reason}; '{subject}' is the image's main subject")
        if t.pronoun == "them":
            n = len(cands)
            return Found(tuple(cands), tuple(range(n)), f"'them': all {n} '{subject}' detections, the image's main subject")
        i, clear = rel.most_salient([c.box for c in cands], [c.score for c in cands])
        res = Resolution((i,), f"'it': the most prominent '{subject}', the image's main subject")
        if not clear:
            res = self._salience_tie(res, list(cands), replace(t, head=subject), f"'{subject}' detections", "--point X,Y")
        return Found(tuple(cands), res.chosen, res.reason)

    def _salience_tie(self, res: Resolution, cands: list[Candidate], t: Target, what: str, hint: str) -> Resolution:
        """A pronoun that fits several objects: those within :data:`relations.SALIENCE_MARGIN` of the most salient
        are comparable; settled like any ambiguous choice."""
        sal = [rel.salience(c.box, c.score) for c in cands]
        tied = reading_order([c.box for c in cands], [j for j, v in enumerate(sal) if v * rel.SALIENCE_MARGIN > max(sal)])
        k = len(tied)
        whys = tuple(f"{'left-most' if n == 1 else 'right-most' if n == k else f'no. {n} from the left'}; "
                     f"salience {sal[j]:.3g} (area x score)" for n, j in enumerate(tied, 1))  # fmt: skip
        why = f"none is {rel.SALIENCE_MARGIN:g}x more salient (box area x score) than the next"
        message = (f"'{t.pronoun}' could be any of {k} {what}; choose with --pick N (1-{k}, from the left), or say "
                   f"which with {hint}")  # fmt: skip
        tie = Resolution(res.chosen, res.reason, comparable=tied) if k > 1 else res
        return self._settle(tie, cands, t, "pronoun", reason=why, whys=whys, message=message)

    def _space_between(self, t: Target) -> Found:
        """"the space between the sofa and the chair" (where "add a lamp between ..." paints): the gap between the
        two anchors (:func:`~.relations.space_between`); one plural anchor ("between the two chairs"): its two
        outermost."""
        relation = t.relation
        assert relation is not None
        first = self.find(relation.anchor)
        if relation.second is not None:
            second = self.find(relation.second)
            a, b, why = first.box(), second.box(), f"{first.reason}; {second.reason}"
        else:
            (a, b), why = first.outermost(relation.anchor.expression), first.reason
        box = rel.space_between(a, b)
        if box is None:
            raise TargetNotFound(f"no space between the two objects of '{t.expression}': their boxes overlap ({why})")
        return Found((), (), f"the {t.expression} ({why})", masks.box_mask(box, self.shape))

    def _region(self, t: Target) -> Found:
        region = t.region
        assert region is not None
        w, h = self.size
        within: Box = (0.0, 0.0, float(w), float(h))
        where = "of the image"
        if t.relation is not None:
            anchor = self.find(t.relation.anchor)
            within, where = anchor.box(), f"of '{t.relation.anchor.expression}' ({anchor.reason})"
        if region in ("background", "foreground"):
            objects = [c for p in rel.SUBJECT_PHRASES for c in self.found.get(p, [])]
            if not objects:
                raise TargetNotFound(f"found no object to tell the {region} from")
            fg = np.zeros(self.shape, dtype=bool)
            for c in self._with_masks(tuple(objects)):
                fg |= c.mask  # type: ignore[arg-type]
            inside = masks.box_mask(within, self.shape)
            mask = (fg if region == "foreground" else ~fg) & inside
            return Found((), (), f"the {region} {where}: {'the' if region == 'foreground' else 'all but the'} "
                                 f"{len(objects)} detected objects", mask)  # fmt: skip
        box = rel.region_box(region, within)
        half = "middle third" if region == "center" else f"{region} quarter" if "-" in region else f"{region} half"
        return Found((), (), f"the {half} {where}", masks.box_mask(box, self.shape))

    def _placed(self, found: Found) -> Segmentation:
        direction = self.plan.placement
        assert direction is not None
        anchor = found.box()
        if direction == "between" and found.mask is None and len(found.chosen) >= 2:  # "between the two chairs"
            box = rel.space_between(*found.outermost(self.plan.target.expression))
        else:
            box = rel.placement_box(direction, anchor, self.size, self.plan.replacement)
        what = self.plan.replacement or "the new object"
        if box is None:
            raise TargetNotFound(f"no room {WORDS[direction]} '{self.plan.target.expression}' for {what} in the image")
        mask = masks.box_mask(box, self.shape)
        cands = self._with_masks(found.candidates) if found.mask is None else ()
        reason = f"a place for {what} {WORDS[direction]} '{self.plan.target.expression}' ({found.reason})"
        return Segmentation(mask=mask, candidates=tuple(cands), chosen=found.chosen if cands else (), reason=reason,
                            segmenter=self.seg.name, ambiguity=self._ambiguity())  # fmt: skip

    def _with_masks(self, cands: tuple[Candidate, ...] | list[Candidate]) -> list[Candidate]:
        """The candidates with SAM's masks (one batched call), or their boxes with ``box_mask``."""
        if not cands:
            return []
        if self.seg.options.box_mask:
            found = [masks.box_mask(c.box, self.shape, self.seg.options.box_expand) for c in cands]
        else:
            found = self.seg.sam.masks(self.image, [c.box for c in cands])
        return [Candidate(c.box, c.score, c.label, m) for c, m in zip(cands, found, strict=True)]
