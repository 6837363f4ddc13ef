"""The plan for segmenting alone (``refedit segment``, :meth:`Pipeline.segment_only`): an instruction need not
say what to change there, only what to find."""

from __future__ import annotations

from typing import Any

from PIL import Image

from refedit.errors import UnclearInstruction
from refedit.pipeline.artifacts import EditPlan
from refedit.pipeline.parse.plan import clean_phrase, hint_plan, referring_plan
from refedit.pipeline.parse.rules import is_instruction, refuse_negation, two_objects


def segmentation_plan(parser: Any, instruction: str, *, image: Image.Image | None = None,
                      hinted: bool = False) -> EditPlan:  # fmt: skip
    """``parser``'s plan for an edit instruction; else the plan of a bare referring expression ("the left
    cat"); else, when the user gave hints, a plan that lets the hints alone choose. Without hints an
    instruction that names nothing stays :class:`UnclearInstruction`."""
    try:
        return parser.parse(instruction=instruction, image=image)
    except UnclearInstruction:
        if not hinted and not instruction.strip():
            raise UnclearInstruction("the instruction is empty; name what to find (e.g. 'the left cat'), or give a "
                                     "--box, --point or --hint-mask") from None
        if not hinted and is_instruction(instruction):
            raise  # an edit the parser refused ("remove the cat and the dog"): not a referring expression
        if not hinted and (two := two_objects(clean_phrase(instruction))):
            raise UnclearInstruction(f"{instruction.strip()!r} names two objects ({two[0]}; {two[1]}); segment one at a "
                                     "time, or every one of a kind ('all the cups')") from None
        if not hinted:  # "the cat that is not on the sofa": not the one on it (with hints, the hints choose)
            refuse_negation(instruction, clean_phrase(instruction))
        try:
            return referring_plan(instruction)
        except UnclearInstruction:
            if not hinted:
                raise
            return hint_plan(instruction)
