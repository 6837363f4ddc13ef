"""The typed artifacts passed between stages (see DESIGN.md).

Conventions used by every artifact:
    * images are ``PIL.Image.Image`` in mode ``"RGB"``;
    * masks are ``numpy.ndarray`` of dtype ``bool`` and shape ``(H, W)`` at the image's resolution;
    * boxes are ``(x0, y0, x1, y1)`` in pixels (xyxy, x to the right, y down, x0 <= x1, y0 <= y1);
    * points are ``(x, y)`` in pixels.

Every artifact has ``to_dict()`` (plain JSON types) and ``from_dict()``. Masks travel in JSON as
run-length encodings (:func:`mask_to_rle`), so a plan, a segmentation or a result can be piped between
shell commands without side files; :func:`refedit.pipeline.imageio.save_mask` writes them as PNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence, get_args

import numpy as np
from PIL import Image

from refedit.errors import BadInput

Action = Literal["replace", "modify", "remove", "add", "global"]
Spatial = Literal["left", "right", "top", "bottom", "middle", "front", "back",
                  "top-left", "top-right", "bottom-left", "bottom-right"]  # fmt: skip
Size = Literal["largest", "smallest"]
#: where a target lies relative to its anchor object; ``of`` is a part or possession ("her shirt", "the dog's
#: collar", "the dress of the girl"): the target lies inside the anchor
Direction = Literal["left-of", "right-of", "above", "below", "next-to", "in-front-of", "behind", "between", "on",
                    "in", "of"]  # fmt: skip
#: a pronoun's canonical form (he/him/his -> him, she/her/hers -> her, they/them/their -> them, it/its -> it)
Pronoun = Literal["him", "her", "them", "it"]
#: a part of the image named without an object noun ("the left side", "the top half", "the background")
Region = Literal["left", "right", "top", "bottom", "center", "background", "foreground"]
Box = tuple[float, float, float, float]
Point = tuple[float, float]

ACTIONS: tuple[str, ...] = get_args(Action)
SPATIALS: tuple[str, ...] = get_args(Spatial)
SIZES: tuple[str, ...] = get_args(Size)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
PRONOUNS: tuple[str, ...] = get_args(Pronoun)
REGIONS: tuple[str, ...] = get_args(Region)


# --------------------------------------------------------------------------- mask codecs
def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Encode an HxW bool mask as ``{"size": [H, W], "counts": [...]}``.

    Counts alternate runs of False and True in row-major order, starting with False (possibly 0).
    """
    flat = np.asarray(mask, dtype=bool).ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Inverse of :func:`mask_to_rle`."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = np.asarray(rle["counts"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as err:
        raise BadInput(f"malformed mask encoding: {err}") from None
    if counts.sum() != h * w or (counts < 0).any():
        raise BadInput(f"malformed mask encoding: counts sum to {counts.sum()}, expected {h * w}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(h, w)


def check_mask(mask: np.ndarray, what: str = "mask") -> None:
    """Raise ``ValueError`` unless ``mask`` is a 2-D bool array."""
    if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.ndim != 2:
        got = getattr(mask, "dtype", type(mask).__name__), getattr(mask, "shape", None)
        raise ValueError(f"{what} must be an HxW bool numpy array, got {got}")


def check_box(box: Sequence[float], what: str = "box") -> Box:
    """Validate an xyxy pixel box and return it as a tuple of floats."""
    if len(box) != 4:
        raise ValueError(f"{what} must have 4 numbers x0,y0,x1,y1, got {len(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x0 <= x1 and y0 <= y1):
        raise ValueError(f"{what} must satisfy x0 <= x1 and y0 <= y1, got {(x0, y0, x1, y1)}")
    return (x0, y0, x1, y1)


def _opt_mask_to_json(mask: np.ndarray | None) -> dict[str, Any] | None:
    return None if mask is None else mask_to_rle(mask)


def _opt_mask_from_json(data: Mapping[str, Any] | None) -> np.ndarray | None:
    return None if data is None else rle_to_mask(data)


# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Target:
    """The referred object(s).

    ``expression`` is the referring expression without leading determiners ("left cat",
    "man in the blue jacket"); ``head`` the singular head noun incl. compounds ("cat", "wine glass");
    ``attributes`` adjectives of the head that are not qualifiers ("red"); ``spatial`` one of
    :data:`SPATIALS` (a corner such as ``"top-left"`` for two axes at once); ``ordinal`` 1-based
    (-1 = last) counted from ``spatial`` (left to right when ``spatial`` is None); ``size`` one of
    :data:`SIZES`; ``all`` selects every match (plurals, "all").

    ``relation`` places the target relative to another object ("the chair on the left of the sofa": a chair,
    ``left-of`` the sofa; "her shirt": a shirt ``of`` her), which nests. ``pronoun`` marks a target the image
    must settle ("him", "them": ``head`` is ``person`` for him/her and ``object`` for them/it, to be replaced
    by the image's main subject class). ``region`` marks a part of the image named without an object
    ("the right side": ``head`` ``region``).
    """

    expression: str
    head: str
    attributes: tuple[str, ...] = ()
    spatial: Spatial | None = None
    ordinal: int | None = None
    size: Size | None = None
    all: bool = False
    relation: "Relation | None" = None
    pronoun: Pronoun | None = None
    region: Region | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", tuple(self.attributes))
        if not self.head.strip():
            raise ValueError("target head noun must not be empty")
        if self.relation is not None and not isinstance(self.relation, Relation):
            raise ValueError(f"relation must be a Relation, got {type(self.relation).__name__}")
        if self.pronoun is not None and self.pronoun not in PRONOUNS:
            raise ValueError(f"pronoun must be one of {PRONOUNS}, got {self.pronoun!r}")
        if self.region is not None and self.region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {self.region!r}")
        if self.spatial is not None and self.spatial not in SPATIALS:
            raise ValueError(f"spatial must be one of {SPATIALS}, got {self.spatial!r}")
        if self.size is not None and self.size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {self.size!r}")
        if self.ordinal is not None and (not isinstance(self.ordinal, int) or self.ordinal == 0 or self.ordinal < -1):
            raise ValueError(f"ordinal must be a positive integer or -1 (last), got {self.ordinal!r}")

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
        data["relation"] = None if self.relation is None else self.relation.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Target":
        kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        if kwargs.get("relation") is not None:
            kwargs["relation"] = Relation.from_dict(kwargs["relation"])
        return cls(**kwargs)


@dataclass(frozen=True)
class Relation:
    """Where a target lies relative to an ``anchor`` object, itself a :class:`Target` with its own qualifiers
    (so relations nest: "the girl to the left of the standing girl"). ``between`` has a ``second`` anchor, or
    one plural anchor (``all``: "between the two trees")."""

    direction: Direction
    anchor: Target
    second: Target | None = None

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"relation direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if not isinstance(self.anchor, Target):
            raise ValueError(f"relation anchor must be a Target, got {type(self.anchor).__name__}")
        if self.second is not None and self.direction != "between":
            raise ValueError("only a 'between' relation has a second anchor")
        if self.direction == "between" and self.second is None and not self.anchor.all:
            raise ValueError("a 'between' relation needs a second anchor or a plural one ('the two trees')")

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "anchor": self.anchor.to_dict(),
                "second": None if self.second is None else self.second.to_dict()}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Relation":
        second = data.get("second")
        return cls(direction=data["direction"], anchor=Target.from_dict(data["anchor"]),
                   second=None if second is None else Target.from_dict(second))  # fmt: skip


@dataclass(frozen=True)
class EditPlan:
    """What to edit and how (the InstructEdit language processor's output).

    ``segmentation_prompt`` is what the segmenter looks for; ``source_caption`` describes the input
    image and ``edited_caption`` the wanted result ("a photo of a cat" / "a photo of a tiger").
    ``replacement`` is the new object or attribute phrase (None for ``remove``). ``placement`` (``add`` only)
    is where the new object goes relative to the target ("add a cup to the left of the book": target the book,
    placement ``left-of``); None puts it on the target itself ("add a hat to the dog").
    """

    instruction: str
    action: Action
    target: Target
    replacement: str | None
    segmentation_prompt: str
    source_caption: str
    edited_caption: str
    parser: str
    placement: Direction | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {self.action!r}")
        if self.placement is not None and (self.placement not in DIRECTIONS or self.action != "add"):
            raise ValueError(f"placement must be one of {DIRECTIONS} and only for 'add', got {self.placement!r} "
                             f"for {self.action!r}")  # fmt: skip
        for name in ("segmentation_prompt", "source_caption", "edited_caption"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise ValueError(f"{name} must be a non-empty string")

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["target"] = self.target.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EditPlan":
        kwargs = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        kwargs["target"] = Target.from_dict(data["target"])
        return cls(**kwargs)


# --------------------------------------------------------------------------- request
@dataclass(frozen=True, eq=False)
class Hints:
    """User hints (FlexEdit): rough boxes, points, a free-shape mask, or an exact mask.

    ``hint_mask`` is a rough HxW bool scribble that need not cover the object; ``mask`` is an exact HxW
    bool mask that bypasses segmentation.
    """

    boxes: tuple[Box, ...] = ()
    points: tuple[Point, ...] = ()
    hint_mask: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", tuple(check_box(b, "hint box") for b in self.boxes))
        points = tuple((float(x), float(y)) for x, y in self.points)
        object.__setattr__(self, "points", points)
        for name in ("hint_mask", "mask"):
            if (m := getattr(self, name)) is not None:
                check_mask(m, name)

    @property
    def empty(self) -> bool:
        return not self.boxes and not self.points and self.hint_mask is None and self.mask is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "boxes": [list(b) for b in self.boxes],
            "points": [list(p) for p in self.points],
            "hint_mask": _opt_mask_to_json(self.hint_mask),
            "mask": _opt_mask_to_json(self.mask),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Hints":
        return cls(
            boxes=tuple(tuple(b) for b in data.get("boxes", ())),
            points=tuple(tuple(p) for p in data.get("points", ())),
            hint_mask=_opt_mask_from_json(data.get("hint_mask")),
            mask=_opt_mask_from_json(data.get("mask")),
        )


@dataclass(frozen=True, eq=False)
class EditRequest:
    """One edit to run: an RGB image, the instruction, optional hints and plan, and the seed.

    ``image_path`` is where the image came from (informational; used by ``to_dict``). A given ``plan``
    skips the parser.
    """

    image: Image.Image
    instruction: str
    hints: Hints = field(default_factory=Hints)
    seed: int = 0
    image_path: str | None = None
    plan: EditPlan | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.image, Image.Image) or self.image.mode != "RGB":
            raise ValueError("EditRequest.image must be an RGB PIL image (use imageio.load_image)")
        for name in ("hint_mask", "mask"):
            m = getattr(self.hints, name)
            if m is not None and m.shape != (self.image.height, self.image.width):
                raise BadInput(
                    f"{name} is {m.shape[1]}x{m.shape[0]} but the image is {self.image.width}x{self.image.height}"
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_path": self.image_path,
            "image_size": [self.image.width, self.image.height],
            "instruction": self.instruction,
            "hints": self.hints.to_dict(),
            "seed": self.seed,
            "plan": None if self.plan is None else self.plan.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], image: Image.Image | None = None) -> "EditRequest":
        """Rebuild a request; the image is ``image`` or loaded from ``data["image_path"]``."""
        if image is None:
            from refedit.pipeline.imageio import load_image

            image = load_image(data["image_path"]).rgb
        plan = data.get("plan")
        return cls(
            image=image,
            instruction=data["instruction"],
            hints=Hints.from_dict(data.get("hints") or {}),
            seed=int(data.get("seed", 0)),
            image_path=data.get("image_path"),
            plan=None if plan is None else EditPlan.from_dict(plan),
        )


# --------------------------------------------------------------------------- segmentation
@dataclass(frozen=True, eq=False)
class Candidate:
    """One detected instance: an xyxy pixel ``box``, a detector ``score``, its ``label`` and optionally
    its HxW bool ``mask``."""

    box: Box
    score: float
    label: str
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", check_box(self.box, "candidate box"))
        object.__setattr__(self, "score", float(self.score))
        if self.mask is not None:
            check_mask(self.mask, "candidate mask")

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "score": self.score, "label": self.label, "mask": _opt_mask_to_json(self.mask)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Candidate":
        return cls(
            box=tuple(data["box"]),
            score=float(data.get("score", 1.0)),
            label=str(data.get("label", "")),
            mask=_opt_mask_from_json(data.get("mask")),
        )


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The referred object(s) as an HxW bool ``mask`` at image resolution.

    ``candidates`` are every instance considered, ``chosen`` the indices (into ``candidates``) whose
    masks form ``mask``, ``reason`` a one-line human-readable explanation ("right-most of 2 'dog'
    detections"), ``segmenter`` the stage that made it.
    """

    mask: np.ndarray
    candidates: tuple[Candidate, ...] = ()
    chosen: tuple[int, ...] = ()
    reason: str = ""
    segmenter: str = ""

    def __post_init__(self) -> None:
        check_mask(self.mask)
        object.__setattr__(self, "candidates", tuple(self.candidates))
        object.__setattr__(self, "chosen", tuple(int(i) for i in self.chosen))
        for i in self.chosen:
            if not 0 <= i < len(self.candidates):
                raise ValueError(f"chosen index {i} out of range for {len(self.candidates)} candidates")
        for c in self.candidates:
            if c.mask is not None and c.mask.shape != self.mask.shape:
                raise ValueError(f"candidate mask shape {c.mask.shape} differs from mask shape {self.mask.shape}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the mask."""
        return (self.mask.shape[1], self.mask.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "mask": mask_to_rle(self.mask),
            "area": int(self.mask.sum()),
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": list(self.chosen),
            "reason": self.reason,
            "segmenter": self.segmenter,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Segmentation":
        return cls(
            mask=rle_to_mask(data["mask"]),
            candidates=tuple(Candidate.from_dict(c) for c in data.get("candidates", ())),
            chosen=tuple(data.get("chosen", ())),
            reason=str(data.get("reason", "")),
            segmenter=str(data.get("segmenter", "")),
        )


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class EditResult:
    """The edited RGB ``image`` (the input's size), with everything needed to reproduce it.

    ``parameters`` are the values actually used (model ids, steps, encoding ratio, guidance, seed, device,
    dtype); ``metrics`` measured facts such as ``outside_psnr`` (dB, ``inf`` when the outside of the mask
    is bit-identical); ``timings`` per-stage wall time in seconds.
    """

    image: Image.Image
    plan: EditPlan
    segmentation: Segmentation
    parameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.image, Image.Image) or self.image.mode != "RGB":
            raise ValueError("EditResult.image must be an RGB PIL image")
        if self.image.size != self.segmentation.size:
            raise ValueError(f"result image {self.image.size} and mask {self.segmentation.size} differ in size")

    def with_timings(self, timings: Mapping[str, float]) -> "EditResult":
        return replace(self, timings=dict(timings))

    def to_dict(self, image_path: str | Path | None = None) -> dict[str, Any]:
        """JSON form; the image itself is referenced by ``image_path`` (where the caller saved it)."""
        return {
            "image": None if image_path is None else str(image_path),
            "size": list(self.image.size),
            "plan": self.plan.to_dict(),
            "segmentation": self.segmentation.to_dict(),
            "parameters": dict(self.parameters),
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "timings": dict(self.timings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], image: Image.Image | None = None) -> "EditResult":
        """Rebuild a result; the image is ``image`` or loaded from ``data["image"]``."""
        if image is None:
            from refedit.pipeline.imageio import load_image

            image = load_image(data["image"]).rgb
        return cls(
            image=image,
            plan=EditPlan.from_dict(data["plan"]),
            segmentation=Segmentation.from_dict(data["segmentation"]),
            parameters=dict(data.get("parameters", {})),
            metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
            timings={k: float(v) for k, v in data.get("timings", {}).items()},
        )


def _json_float(value: float) -> float | str:
    """JSON has no infinity: write ``"inf"`` (``float("inf")`` reads it back)."""
    return "inf" if value == float("inf") else float(value)
