"""Where an instruction editor may paint, and what it sees: the mask mode and the context crop. Pure functions
over numpy masks and xyxy pixel boxes (x to the right, y down, end exclusive); no torch, no model.

- :func:`parse_mask_mode` / :func:`default_mask_mode`: ``object`` (the segmented silhouette), ``box`` (its
  bounding box) or ``expand:N`` (the box grown by N % of its width and height on every side: room for a tiger
  where a cat was), with the plan's action choosing when the user does not.
- :func:`edit_mask`: that region as a mask, minus every other detected instance (the other cat stays untouched).
- :func:`context_box`: the crop the model gets: the region's box with a context margin, near the model's aspect,
  inside the image, and cut back so no other detected instance lies in it where that is possible.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from refedit.core.masks import mask_box
from refedit.errors import BadInput

Box = tuple[int, int, int, int]
MASK_MODES = ("object", "box", "expand")
#: the most an ``expand:N`` may grow the box, in percent of its size per side
MAX_EXPAND = 200
#: the mask mode each action gets when none is given: a replacement may change the shape (room around the box), a
#: recolour keeps the silhouette, a removal needs the object's edge and shadow, an addition a box to paint in
DEFAULT_MASK_MODES = {"replace": "expand:15", "modify": "object", "remove": "expand:5", "add": "box", "global": "box"}


@dataclass(frozen=True)
class MaskMode:
    """``kind`` object | box | expand; ``percent`` the growth of ``expand`` (0 for the others)."""

    kind: str
    percent: int = 0

    def __str__(self) -> str:
        return f"expand:{self.percent}" if self.kind == "expand" else self.kind


def parse_mask_mode(value: str) -> MaskMode:
    """``object``, ``box`` or ``expand:N`` (N an integer percent, 0..MAX_EXPAND); anything else is BadInput."""
    text = str(value).strip().lower()
    kind, sep, arg = text.partition(":")
    bad = f"mask mode must be object, box or expand:N (N a percent 0-{MAX_EXPAND}), got {value!r}"
    if kind in ("object", "box") and not sep:
        return MaskMode(kind)
    if kind != "expand" or not sep or not re.fullmatch(r"[0-9]+", arg) or int(arg) > MAX_EXPAND:  # ("²".isdigit())
        raise BadInput(bad)
    return MaskMode("expand", int(arg))


def default_mask_mode(action: str) -> MaskMode:
    """The mask mode for ``action`` when the user gives none (:data:`DEFAULT_MASK_MODES`)."""
    return parse_mask_mode(DEFAULT_MASK_MODES.get(action, "box"))


def grow_box(box: Box, fraction: float, size: tuple[int, int]) -> Box:
    """``box`` grown by ``fraction`` of its width (left and right) and height (top and bottom), clamped to the
    image ``size`` (W, H)."""
    x0, y0, x1, y1 = box
    dx, dy = math.ceil(fraction * (x1 - x0)), math.ceil(fraction * (y1 - y0))
    return max(0, x0 - dx), max(0, y0 - dy), min(size[0], x1 + dx), min(size[1], y1 + dy)


def edit_mask(mask: np.ndarray, mode: MaskMode, others: Sequence[np.ndarray] = ()) -> np.ndarray:
    """The region the editor repaints: ``mask`` itself, its box, or its box grown by ``mode.percent``; in the
    box modes minus every mask of ``others`` (other detected instances), never minus ``mask`` itself."""
    box = mask_box(mask)
    if mode.kind == "object" or box is None:
        return mask.copy()
    h, w = mask.shape
    x0, y0, x1, y1 = grow_box(box, mode.percent / 100.0, (w, h))
    region = np.zeros_like(mask)
    region[y0:y1, x0:x1] = True
    for other in others:
        region &= ~other
    return region | mask


def context_box(box: Box, size: tuple[int, int], *, margin: float = 0.5, aspect: float = 1.0,
                avoid: Sequence[Box] = ()) -> Box:  # fmt: skip
    """The crop an editor gets around ``box`` (the region it repaints) in an image of ``size`` (W, H).

    The box is grown by ``margin`` of its longer side on every side (context for the model), then widened along
    its short axis towards ``aspect`` (W/H; 1.0 square), shifted back inside the image where it overflows and
    clamped. Then each ``avoid`` box (another instance) that does not overlap ``box`` is cut out by moving the one
    crop edge that separates them (the edge that keeps the larger crop); the crop always contains ``box``."""
    W, H = size
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"context_box needs a non-empty box, got {box}")
    pad = margin * max(x1 - x0, y1 - y0)
    cw, ch = (x1 - x0) + 2 * pad, (y1 - y0) + 2 * pad
    if cw / ch < aspect:
        cw = ch * aspect
    else:
        ch = cw / aspect
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    crop = [_fit(cx - cw / 2.0, cx + cw / 2.0, W), _fit(cy - ch / 2.0, cy + ch / 2.0, H)]
    cx0, cx1 = crop[0]
    cy0, cy1 = crop[1]
    for ax0, ay0, ax1, ay1 in avoid:
        if ax0 >= x1 or ax1 <= x0 or ay0 >= y1 or ay1 <= y0:  # separable from the region: cut it out
            if ax1 <= cx0 or ax0 >= cx1 or ay1 <= cy0 or ay0 >= cy1:
                continue  # already outside the crop
            cuts = []
            if ax0 >= x1:
                cuts.append(((cy1 - cy0) * (int(ax0) - cx0), ("x1", int(ax0))))
            if ax1 <= x0:
                cuts.append(((cy1 - cy0) * (cx1 - math.ceil(ax1)), ("x0", math.ceil(ax1))))
            if ay0 >= y1:
                cuts.append(((cx1 - cx0) * (int(ay0) - cy0), ("y1", int(ay0))))
            if ay1 <= y0:
                cuts.append(((cx1 - cx0) * (cy1 - math.ceil(ay1)), ("y0", math.ceil(ay1))))
            side, value = max(cuts)[1]
            if side == "x1":
                cx1 = min(cx1, value)
            elif side == "x0":
                cx0 = max(cx0, value)
            elif side == "y1":
                cy1 = min(cy1, value)
            else:
                cy0 = max(cy0, value)
    return cx0, cy0, cx1, cy1


def _fit(lo: float, hi: float, limit: int) -> tuple[int, int]:
    """[lo, hi) rounded outwards, shifted inside [0, limit) where it overflows one side, clamped."""
    lo_i, hi_i = math.floor(lo), math.ceil(hi)
    if lo_i < 0:
        hi_i, lo_i = hi_i - lo_i, 0
    if hi_i > limit:
        lo_i, hi_i = max(0, lo_i - (hi_i - limit)), limit
    return lo_i, hi_i


def working_size(crop_size: tuple[int, int], area: int, multiple: int) -> tuple[int, int]:
    """The model's working (W, H) for a crop of ``crop_size``: the crop's aspect at about ``area`` pixels, each
    side a multiple of ``multiple`` (the VAE factor times the transformer's patch), at least ``multiple``."""
    w, h = crop_size
    scale = math.sqrt(area / float(w * h))
    return (max(multiple, round(w * scale / multiple) * multiple), max(multiple, round(h * scale / multiple) * multiple))
