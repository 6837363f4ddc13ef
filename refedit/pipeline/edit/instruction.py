"""The instruction an instruction-following editor (Qwen-Image-Edit, FLUX.1 Kontext) receives for its crop.

The crop holds the one referred object, so the referring part of the user's instruction ("left", "second from
the right", "the one next to the sofa") has done its work and would only confuse the model: the rewritten
instruction names the object by its head noun and attributes alone ("replace the left cat with a tiger" ->
"replace the cat with a tiger"). Pure functions of the :class:`~refedit.pipeline.artifacts.EditPlan`; no torch."""

from __future__ import annotations

from refedit.core.english import plural, with_article
from refedit.pipeline.artifacts import EditPlan, Target

#: how an addition's placement relative to the target reads in English
PLACEMENT_WORDS = {"left-of": "to the left of", "right-of": "to the right of", "above": "above", "below": "below",
                   "next-to": "next to", "in-front-of": "in front of", "behind": "behind", "between": "next to",
                   "on": "on", "in": "in", "of": "on"}  # fmt: skip


def object_phrase(target: Target) -> str:
    """"the black cat": the head noun with its attributes, no spatial, ordinal, size or relational words; a
    region or pronoun target (the image settles it) is "the object"; several objects read as plural."""
    if target.head in ("object", "region", "image"):
        return "the objects" if target.all else "the object"
    words = [*target.attributes, plural(target.head) if target.all else target.head]
    return "the " + " ".join(w for w in words if w)


def crop_instruction(plan: EditPlan) -> str:
    """The instruction for the crop around ``plan``'s target (see the module docstring):

    - replace: "replace the cat with a tiger"
    - modify (recolour, attribute): "make the car red"
    - remove: "remove the cat and fill in the background"
    - add: "add a hat to the dog" / "add a cup to the left of the book"
    - global: the user's instruction unchanged (it names no object to drop qualifiers from).
    """
    obj = object_phrase(plan.target)
    new = (plan.replacement or "").strip()
    if plan.action == "global" or (plan.action != "remove" and not new):
        return plan.instruction.strip()
    if plan.action == "replace":
        return f"replace {obj} with {with_article(new.strip())}"
    if plan.action == "modify":
        return f"make {obj} {new}"
    if plan.action == "remove":
        return f"remove {obj} and fill in the background"
    relation = plan.target.relation
    if plan.target.head == "region" and relation is not None and relation.direction == "between":  # the space
        others = [object_phrase(t) for t in (relation.anchor, relation.second) if t is not None]
        return f"add {with_article(new)} between {' and '.join(others)}"
    where = "to" if plan.placement is None else PLACEMENT_WORDS[plan.placement]
    return f"add {with_article(new.strip())} {where} {obj}"
