"""The plan for segmenting alone (``refedit segment``, :meth:`Pipeline.segment_only`): an instruction need not
say what to change there, only what to find."""

from __future__ import annotations

from typing import Any

from PIL import Image

from refedit.errors import UnclearInstruction
from refedit.pipeline.artifacts import EditPlan
from refedit.pipeline.parse.plan import hint_plan, referring_plan


def segmentation_plan(parser: Any, instruction: str, *, image: Image.Image | None = None,
                      hinted: bool = False) -> EditPlan:  # fmt: skip
    """``parser``'s plan for an edit instruction; else the plan of a bare referring expression ("the left
    cat"); else, when the user gave hints, a plan that lets the hints alone choose. Without hints an
    instruction that names nothing stays :class:`UnclearInstruction`."""
    try:
        return parser.parse(instruction=instruction, image=image)
    except UnclearInstruction:
        try:
            return referring_plan(instruction)
        except UnclearInstruction:
            if not hinted:
                raise
            return hint_plan(instruction)
