"""The referring resolver: pure functions that pick, among detected candidates, the one(s) the target
refers to (spatial, ordinal, size, "all"). No model is needed; the decision depends on geometry only,
never on which box the detector happened to score higher (InstructEdit's Fig. 9 failure).

When nothing separates the candidates (one object named without a qualifier, "the cat", and two or more
detections scoring within :data:`AMBIGUITY_MARGIN` of the best), the resolver does not guess: its
:class:`Resolution` lists the comparable ones, and :func:`settle` applies the user's ``--pick`` or
``--on-ambiguous`` policy, or raises :class:`~refedit.pipeline.artifacts.AmbiguousTarget` (exit code 7)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Literal, Sequence

import numpy as np

from refedit.core.geometry import area, box_ious, center
from refedit.errors import BadInput
from refedit.pipeline.artifacts import Ambiguity, AmbiguousTarget, Box, Candidate, Target
from refedit.pipeline.segment.options import Pick, Policy

ORDINAL_NAMES = {1: "first", 2: "second", 3: "third", -1: "last", -2: "second last", -3: "third last"}
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")

#: Detection scores within this of the best leave an unqualified singular target ("the cat") ambiguous.
#: GroundingDINO's scores are sigmoid probabilities; with its default box threshold of 0.30, a gap under 0.10
#: (a third of the threshold) is within what the same object scores across rescales and crops, so the higher
#: score is no evidence of which object the user meant. The same margin applies to an anchor ("the sofa") and
#: to CLIPSeg's components (mean probability), and to CLIP attribute probabilities ("the green bus").
AMBIGUITY_MARGIN = 0.10


@dataclass(frozen=True)
class Resolution:
    """Chosen candidate indices and a one-line reason. ``comparable`` (indices, left to right) is set when the
    choice is a guess among equally good candidates, with ``tie_reason`` and ``tie_whys`` when the resolver
    has its own words for why none wins and why each fits; ``ambiguity`` once :func:`settle` resolved it."""

    chosen: tuple[int, ...]
    reason: str
    comparable: tuple[int, ...] = ()
    ambiguity: Ambiguity | None = None
    tie_reason: str | None = None
    tie_whys: tuple[str, ...] | None = None


def corner_distance(box: Box, corner: str, image_size: tuple[int, int]) -> float:
    """How far the box centre is from an image ``corner`` ("top-left", "bottom-right", ...): the L1
    distance in coordinates normalised by the image size (W, H), i.e. ``cx/W + cy/H`` for top-left and
    ``(1 - cx/W) + (1 - cy/H)`` for bottom-right. 0 at the corner, 2 at the opposite one; both axes
    weigh the same whatever the aspect ratio."""
    vertical, horizontal = corner.split("-")
    (cx, cy), (w, h) = center(box), image_size
    fx = cx / w if horizontal == "left" else 1.0 - cx / w
    fy = cy / h if vertical == "top" else 1.0 - cy / h
    return fx + fy


def spatial_key(spatial: str, image_size: tuple[int, int]) -> Callable[[Candidate], float]:
    """Sort key: the candidate the spatial word names first sorts first.

    left/right/top/bottom by box centre; middle by distance of the centre to the image centre; front by
    the bottom edge (lowest in the picture is nearest the camera), back the reverse; a corner
    ("top-left") by :func:`corner_distance`, so two axes count at once.
    """
    w, h = image_size
    if spatial in CORNERS:
        return lambda c: corner_distance(c.box, spatial, image_size)
    keys: dict[str, Callable[[Candidate], float]] = {
        "left": lambda c: center(c.box)[0],
        "right": lambda c: -center(c.box)[0],
        "top": lambda c: center(c.box)[1],
        "bottom": lambda c: -center(c.box)[1],
        "middle": lambda c: (center(c.box)[0] - w / 2) ** 2 + (center(c.box)[1] - h / 2) ** 2,
        "front": lambda c: -c.box[3],
        "back": lambda c: c.box[3],
    }
    return keys[spatial]


#: the candidate a spatial word picks, in words ("the left cat": the left-most of the cats)
EXTREMES = {"left": "left-most", "right": "right-most", "top": "top-most", "bottom": "bottom-most",
            "middle": "most central", "front": "front-most (lowest)", "back": "back-most (highest)",
            **{k: f"nearest the {k} corner" for k in CORNERS}}  # fmt: skip


def _counted(candidates: Sequence[Candidate], target: Target, image_size: tuple[int, int],
             by_score: list[int]) -> Resolution:  # fmt: skip
    """A target that says how many (``count``): that many, counted from its side or corner with an ordinal ("the
    first two books", "the last three candles": from the left unless a side is named), the ``count`` nearest its
    side ("the two cups on the left"), the largest or smallest ``count`` ("the two biggest"), else the ``count``
    best-scoring ("both cups", "the three dogs"): ambiguous when the next one scores within
    :data:`AMBIGUITY_MARGIN` of the last one taken. Empty (with why) when fewer are found than asked for."""
    k, n, head = target.count or 1, len(candidates), target.head
    what = _describe(n, head)
    if k > n:
        return Resolution((), f"asked for {k} '{head}' but found only {what}")
    if target.ordinal is not None:
        side = target.spatial or "left"
        order = _from_side(candidates, by_score, side, image_size)
        start = target.ordinal - 1 if target.ordinal > 0 else n + target.ordinal + 1 - k
        if start < 0 or start + k > n:
            return Resolution((), f"asked for {k} counted from the {_ordinal_word(target.ordinal)} from the {side} but "
                                  f"found only {what}")  # fmt: skip
        counted = {1: f"first {k}", -1: f"last {k}"}.get(target.ordinal, f"{k} from the {_ordinal_word(target.ordinal)}")
        return Resolution(tuple(order[start : start + k]), f"the {counted} from the {side} of {what}")
    if target.spatial is not None:
        order = _from_side(candidates, by_score, target.spatial, image_size)
        return Resolution(tuple(order[:k]), f"the {k} {EXTREMES[target.spatial]} of {what}")
    if target.size is not None:
        sign = -1.0 if target.size == "largest" else 1.0
        order = sorted(by_score, key=lambda i: sign * area(candidates[i].box))
        return Resolution(tuple(order[:k]), f"the {k} {target.size} of {what}")
    if k == n:
        return Resolution(tuple(by_score), f"{'both' if k == 2 else f'all {k}'} of {what}")
    chosen, last = tuple(by_score[:k]), candidates[by_score[k - 1]].score
    reason = f"the {k} highest-scoring of {what}"
    if last - candidates[by_score[k]].score >= AMBIGUITY_MARGIN:
        return Resolution(chosen, f"{reason} (the next {candidates[by_score[k]].score:.2f}, {last:.2f} the last taken)")
    near = [i for i in range(n) if abs(candidates[i].score - last) < AMBIGUITY_MARGIN]  # the last taken among them
    tied = reading_order([c.box for c in candidates], [i for i in range(n) if candidates[i].score > last - AMBIGUITY_MARGIN])
    return Resolution(chosen, reason, comparable=tied, tie_reason=(
        f"{k} asked for, and {len(near)} score within {AMBIGUITY_MARGIN:.2f} of the {_ordinal_word(k)} best "
        f"({last:.2f})"))  # fmt: skip


def _from_side(candidates: Sequence[Candidate], by_score: list[int], side: str, image_size: tuple[int, int]) -> list[int]:
    """The candidates' indices from the one ``side`` names first (:func:`spatial_key`); ties keep score order."""
    key = spatial_key(side, image_size)
    return sorted(by_score, key=lambda i: key(candidates[i]))


def _describe(n: int, head: str) -> str:
    return f"{n} '{head}' detection{'s' if n != 1 else ''}"


def _ordinal_word(k: int) -> str:
    return ORDINAL_NAMES.get(k, f"{k}th")


def _in_region(c: Candidate, spatial: str, image_size: tuple[int, int]) -> bool:
    """For plural targets with a spatial word: is the candidate's centre in that part of the image (a
    corner: in both halves, e.g. the left half and the top half)?"""
    if spatial in CORNERS:
        return all(_in_region(c, axis, image_size) for axis in spatial.split("-"))
    w, h = image_size
    cx, cy = center(c.box)
    return {
        "left": cx < w / 2,
        "right": cx >= w / 2,
        "top": cy < h / 2,
        "bottom": cy >= h / 2,
        "middle": abs(cx - w / 2) < w / 4 and abs(cy - h / 2) < h / 4,
        "front": c.box[3] >= h / 2,
        "back": c.box[3] < h / 2,
    }[spatial]


def resolve(candidates: Sequence[Candidate], target: Target, image_size: tuple[int, int]) -> Resolution:
    """Choose the candidate(s) ``target`` refers to among ``candidates`` in an image of ``image_size`` (W, H).

    Order of precedence: ordinal (counted from the spatial side or corner, left to right by default), then
    spatial superlative (a corner: the smallest :func:`corner_distance`), then size, then "all", then the
    highest score when it stands out: with no qualifier, candidates scoring within :data:`AMBIGUITY_MARGIN` of
    the best are returned as ``comparable`` (the choice is then a guess, for :func:`settle` to resolve or
    refuse). Geometric ties keep the higher-scoring candidate. ``ordinal=-1`` with a side is the last counted
    from that side ("the last cat from the left" is the right-most), -2 the second last; the parser writes "the
    last horse on the right" as ``ordinal=1, spatial="right"``.
    Returns an empty choice (and says why) when there is no candidate or the ordinal exceeds the count.
    """
    n = len(candidates)
    what = _describe(n, target.head)
    if n == 0:
        return Resolution((), f"no '{target.head}' detections")
    by_score = sorted(range(n), key=lambda i: -candidates[i].score)
    if target.count is not None:
        return _counted(candidates, target, image_size, by_score)
    if target.ordinal is not None:
        side = target.spatial or "left"
        order = _from_side(candidates, by_score, side, image_size)
        k = target.ordinal
        if abs(k) > n:
            return Resolution((), f"asked for the {_ordinal_word(k)} from the {side} but found only {what}")
        pick = order[k - 1] if k > 0 else order[k]  # -1: the last, -2: the second last
        return Resolution((pick,), f"{_ordinal_word(k)} from the {side} of {what}")
    if target.spatial is not None and target.all:
        chosen = tuple(i for i in by_score if _in_region(candidates[i], target.spatial, image_size))
        if chosen:
            return Resolution(chosen, f"{len(chosen)} of {what} in the {target.spatial} part of the image")
    if target.spatial is not None:
        pick = _from_side(candidates, by_score, target.spatial, image_size)[0]
        return Resolution((pick,), f"{EXTREMES[target.spatial]} of {what}")
    if target.size is not None:
        sign = -1.0 if target.size == "largest" else 1.0
        pick = min(by_score, key=lambda i: sign * area(candidates[i].box))
        return Resolution((pick,), f"{target.size} of {what}")
    if target.all:
        return Resolution(tuple(by_score), f"all {what}")
    best = by_score[0]
    tied = comparable([c.score for c in candidates], [c.box for c in candidates])
    if len(tied) > 1:
        return Resolution((best,), f"highest-scoring of {what} (score {candidates[best].score:.2f})", comparable=tied)
    runner_up = f", the next {candidates[by_score[1]].score:.2f}" if n > 1 else ""
    return Resolution((best,), f"highest-scoring of {what} (score {candidates[best].score:.2f}{runner_up})")


def reading_order(boxes: Sequence[Box], indices: Sequence[int]) -> tuple[int, ...]:
    """``indices`` left to right by box centre, then top to bottom: how candidates are numbered for a pick."""
    return tuple(sorted(indices, key=lambda i: (center(boxes[i])[0], center(boxes[i])[1], i)))


def pick_numbers(candidates: Sequence[Candidate], ambiguity: Ambiguity | None = None) -> list[int | None]:
    """The number each of ``candidates`` goes by where the user sees it: its ``--pick`` number when ``ambiguity``
    numbered them (None for a detection that was not one of its candidates), else its place in
    :func:`reading_order` (1 = left-most), as ``--pick`` counts."""
    picks = {c.box: n for n, c in enumerate(ambiguity.candidates, 1)} if ambiguity is not None else {}
    if any(c.box in picks for c in candidates):
        return [picks.get(c.box) for c in candidates]
    numbers: list[int | None] = [None] * len(candidates)
    for n, i in enumerate(reading_order([c.box for c in candidates], range(len(candidates))), 1):
        numbers[i] = n
    return numbers


def comparable(values: Sequence[float], boxes: Sequence[Box], margin: float = AMBIGUITY_MARGIN,
               among: Sequence[int] | None = None) -> tuple[int, ...]:  # fmt: skip
    """The candidates (of ``among``, default all) whose value (detection score, attribute probability) is within
    ``margin`` of the best, in :func:`reading_order`; two or more make the choice ambiguous."""
    idx = list(range(len(values)) if among is None else among)
    if not idx:
        return ()
    top = max(values[i] for i in idx)
    return reading_order(boxes, [i for i in idx if top - values[i] < margin])


def _ordinal_from_left(k: int) -> str:
    return {1: "left-most"}.get(k, f"{_ordinal_word(k)} from the left")


def default_whys(candidates: Sequence[Candidate], tied: Sequence[int]) -> tuple[str, ...]:
    """Why each comparable candidate fits: its place from the left and its score against the best."""
    top = max(candidates[i].score for i in tied)
    out = []
    for k, i in enumerate(tied, 1):
        gap = top - candidates[i].score
        rank = "right-most" if k == len(tied) else _ordinal_from_left(k)
        out.append(f"{rank}; score {candidates[i].score:.2f}" + (f", {gap:.2f} below the best" if gap > 0.005 else ", the best"))
    return tuple(out)


def settle(
    res: Resolution,
    candidates: Sequence[Candidate],
    target: Target,
    *,
    policy: Policy = "fail",
    pick: Pick | None = None,
    policy_from: str = "--on-ambiguous {}",
    role: Literal["target", "anchor", "pronoun"] = "target",
    reason: str | None = None,
    whys: Sequence[str] | None = None,
    message: str | None = None,
) -> Resolution:
    """Resolve an ambiguous :class:`Resolution` (two or more ``comparable`` candidates) as the user asked:
    ``pick`` N (1-based, left to right, as listed), ``"all"`` or ``"best"`` (the resolver's own guess) wins over
    ``policy`` (``best``, ``all``, or ``fail``: raise :class:`AmbiguousTarget` with the candidates listed).
    An unambiguous resolution is returned as it is (a ``pick`` is then not needed, and the reason says so).
    ``reason``/``whys``/``message`` override the default wording (why none wins, why each fits, the error)."""
    tied = res.comparable
    if len(tied) < 2:
        note = f" (--pick {pick} not needed: not ambiguous)" if pick is not None and role == "target" else ""
        return replace(res, reason=res.reason + note) if note else res
    k, head = len(tied), target.head
    top, low = max(candidates[i].score for i in tied), min(candidates[i].score for i in tied)
    why_none = reason or res.tie_reason or (f"no qualifier separates them; detection scores {top:.2f} to {low:.2f}, within the "
                          f"{AMBIGUITY_MARGIN:.2f} margin")  # fmt: skip
    amb = Ambiguity(expression=target.expression, head=head, candidates=tuple(candidates[i] for i in tied),
                    whys=tuple(whys or res.tie_whys or default_whys(candidates, tied)), reason=why_none,
                    role=role)  # fmt: skip
    if pick is None and policy == "fail":
        raise AmbiguousTarget(message or _message(amb, target.count), amb)
    how = f"--pick {pick}" if pick is not None else policy_from.format(policy)  # the flag, or where the setting is
    choice = pick if pick is not None else policy
    if choice == "all":
        chosen = tied
    elif choice == "best":
        chosen = res.chosen
    else:
        assert isinstance(choice, int)
        if not 1 <= choice <= k:
            raise BadInput(f"--pick {choice}: '{target.expression}' has {k} comparable candidates, numbered 1 to {k} "
                           "from the left")  # fmt: skip
        chosen = (tied[choice - 1],)
    picked = tuple(tied.index(i) + 1 for i in chosen)
    which = "all" if len(chosen) == k else ", ".join(f"no. {p}" for p in picked)
    return Resolution(chosen, f"{which} of {k} comparable '{head}' detections ({how}; ambiguous: {why_none})",
                      comparable=tied, ambiguity=replace(amb, resolved_by=how, picked=picked))  # fmt: skip


def _message(amb: Ambiguity, count: int | None = None) -> str:
    k, head, expr = len(amb.candidates), amb.head, amb.expression
    if count and amb.role == "target":  # "the two cups" among more cups that score alike
        return (f"ambiguous: which {count} of {k} '{head}' detections '{expr}' means is not clear ({amb.reason}); "
                f"--pick best takes the {count} best-scoring, --pick all takes all {k}, or say which (e.g. '{expr} on the "
                f"left')")  # fmt: skip
    if amb.role == "anchor":
        return (f"the anchor '{expr}' could be any of {k} '{head}' detections ({amb.reason}); name it more precisely "
                f"(e.g. 'the left {head}'), choose with --pick N (1-{k}, from the left), or point at the target with "
                "--point X,Y")  # fmt: skip
    what = f"the {head}" if expr == head else f"'{expr}'"
    return (f"ambiguous: {k} '{head}' detections match {what} equally well ({amb.reason}); choose with --pick N "
            f"(1-{k}, numbered from the left), --pick all or --pick best, or say which (e.g. 'the left {head}')")


def nms(candidates: Sequence[Candidate], iou: float) -> list[Candidate]:
    """Greedy non-maximum suppression: keep the best-scoring of boxes overlapping more than ``iou``. Each kept box
    is compared with all later ones at once (:func:`~refedit.core.geometry.box_ious`: the same decisions as pairwise
    :func:`~refedit.core.geometry.box_iou`), since detectors can hand over thousands of boxes at a low threshold
    (OWLv2: one per patch, 3600 at 960 px)."""
    order = sorted(candidates, key=lambda c: -c.score)
    if len(order) < 2:
        return order
    boxes = np.array([c.box for c in order], dtype=np.float64)
    alive = np.ones(len(order), dtype=bool)
    kept: list[Candidate] = []
    for i, c in enumerate(order):
        if not alive[i]:
            continue
        kept.append(c)
        alive[i + 1 :] &= box_ious(c.box, boxes[i + 1 :]) <= iou
    return kept
