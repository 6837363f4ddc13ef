"""Two-axis positions and "last ... on the <side>": refine the one-axis spatial word and the ordinal the
plan builder found in a referring expression."""

from __future__ import annotations

import re

from refedit.pipeline.parse import lexicon

_AXIS = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom", "left": "left", "right": "right"}
_V, _H = "top|upper|bottom|lower", "left|right"
#: a vertical and a horizontal word side by side, either order, spaced or hyphenated: "top left",
#: "bottom-right", "upper right", "lower-left", "right bottom"
_TWO_AXES = re.compile(rf"\b(?:({_V})[\s-]+({_H})|({_H})[\s-]+({_V}))\b")
_SIDES = "|".join(re.escape(w) for w in lexicon.SPATIAL_WORDS)
_FROM_SIDE = re.compile(rf"\bfrom (?:the )?(?:very |far )?(?:{_SIDES})\b")
#: a degree word leading to a side ("furthest to the right", "farthest left", "closest to the top"): the extreme on
#: that side, not the one farthest back or nearest the camera
_DEGREE_TO_SIDE = re.compile(r"\b(?:furthest|farthest|nearest|closest)\s+(?:(?:to|towards?)\s+(?:the\s+)?)?"
                             r"(left|right|top|bottom)\b")


def corner(expression: str, spatial: str | None) -> str | None:
    """The corner ("top-left", ...) when the spatial word found first (``spatial``, one axis) stands side by
    side with a word of the other axis ("the top left cat", "in the bottom-right corner", "the upper right
    window", "the left top drawer"); else None."""
    for m in _TWO_AXES.finditer(expression):
        first, second = (_AXIS[w] for w in m.groups() if w)
        if first == spatial:
            vertical, horizontal = (first, second) if m.group(1) else (second, first)
            return f"{vertical}-{horizontal}"
    return None


def refine_position(expression: str, spatial: str | None, ordinal: int | None) -> tuple[str | None, int | None]:
    """(spatial, ordinal) with a degree word leading to a side read as that side ("the mug furthest to the right":
    right, not back), two axes joined into a corner (see :func:`corner`) and "last" read as the
    one at the named end when the side is not introduced by "from": "the last horse on the right" is the
    first from the right (ordinal 1), while "the last horse from the right" stays the last counted from
    the right (-1). Ordinals count from ``spatial`` (see :class:`~refedit.pipeline.artifacts.Target`)."""
    degree = _DEGREE_TO_SIDE.search(expression)
    if degree is not None and spatial in ("back", "front"):
        spatial = degree.group(1)
    spatial = corner(expression, spatial) or spatial
    if ordinal == -1 and spatial is not None and not _FROM_SIDE.search(expression):
        ordinal = 1
    return spatial, ordinal
