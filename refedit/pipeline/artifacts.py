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
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, get_args

import numpy as np
from PIL import Image

from refedit.errors import Ambiguous, BadInput

if TYPE_CHECKING:  # pragma: no cover
    from refedit.pipeline.imageio import LoadedImage

Action = Literal["replace", "modify", "remove", "add", "global"]
Spatial = Literal["left", "right", "top", "bottom", "middle", "front", "back",
                  "top-left", "top-right", "bottom-left", "bottom-right"]  # fmt: skip
Size = Literal["largest", "smallest"]
#: where a target lies relative to its anchor object; ``of`` is a part or possession ("her shirt", "the dog's
#: collar", "the dress of the girl"): the target lies inside the anchor; ``with`` the converse, what the target
#: holds, wears, rides or has ("the man holding an umbrella", "the girl in the red dress", "the car with the open
#: door"): the anchor overlaps or touches the target
Direction = Literal["left-of", "right-of", "above", "below", "next-to", "in-front-of", "behind", "between", "on",
                    "in", "of", "with"]  # fmt: skip
#: a pronoun's canonical form (he/him/his -> him, she/her/hers -> her, they/them/their -> them, it/its -> it)
Pronoun = Literal["him", "her", "them", "it"]
#: a part of the image named without an object noun ("the left side", "the top half", "the background")
Region = Literal["left", "right", "top", "bottom", "center", "top-left", "top-right", "bottom-left", "bottom-right",
                 "background", "foreground"]
Box = tuple[float, float, float, float]
Point = tuple[float, float]

ACTIONS: tuple[str, ...] = get_args(Action)
SPATIALS: tuple[str, ...] = get_args(Spatial)
SIZES: tuple[str, ...] = get_args(Size)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
#: where an added object can go relative to the target (``with`` describes an object, it places nothing)
PLACEMENTS: tuple[str, ...] = tuple(d for d in DIRECTIONS if d != "with")
PRONOUNS: tuple[str, ...] = get_args(Pronoun)
REGIONS: tuple[str, ...] = get_args(Region)


# --------------------------------------------------------------------------- mask codecs
def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """Encode an HxW bool mask as COCO's uncompressed RLE ``{"size": [H, W], "counts": [...]}``: runs of False and
    True alternating, starting with False (possibly 0), over the mask flattened **column-major** (it was row-major
    under COCO's very keys: a mask copied from ``segment --json`` into a manifest decoded as another mask)."""
    flat = np.asarray(mask, dtype=bool).flatten(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Inverse of :func:`mask_to_rle` (COCO's uncompressed RLE)."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = np.asarray(rle["counts"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as err:
        raise BadInput(f"malformed mask encoding: {err}") from None
    if counts.ndim != 1 or counts.sum() != h * w or (counts < 0).any():
        raise BadInput(f"malformed mask encoding: counts sum to {counts.sum()}, expected {h * w}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(w, h).T.copy()


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
    :data:`SIZES`; ``all`` selects every match (plurals, "all"); ``count`` how many it names when it says so ("the
    two cups on the left", "the first three books", "both chairs": that many, see ``resolve``), else ``None``.

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
    count: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.attributes, str) or not all(isinstance(a, str) for a in self.attributes):
            raise ValueError(f"attributes must be a list of words, got {self.attributes!r}")  # ("red": r, e, d)
        object.__setattr__(self, "attributes", tuple(self.attributes))
        if not isinstance(self.head, str) or not self.head.strip():
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
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 2):
            raise ValueError(f"count must be an integer of at least 2 (how many the target names), got {self.count!r}")
        if self.ordinal is not None and (not isinstance(self.ordinal, int) or self.ordinal == 0):
            raise ValueError(f"ordinal must be a positive integer or a negative one counted from the end (-1: "
                             f"last, -2: second last), got {self.ordinal!r}")  # fmt: skip

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
        if self.placement is not None and (self.placement not in PLACEMENTS or self.action != "add"):
            raise ValueError(f"placement must be one of {PLACEMENTS} and only for 'add', got {self.placement!r} "
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
        try:  # hints are the user's: a bad one is BadInput (exit 2), as on the command line
            for name, one in (("boxes", "(x0, y0, x1, y1)"), ("points", "(x, y)")):
                given = getattr(self, name)
                if isinstance(given, np.ndarray):
                    given = given.tolist()
                if not isinstance(given, (list, tuple)) or any(not isinstance(v, (list, tuple)) for v in given):
                    raise ValueError(f"hint {name} must be a list of {one}, e.g. {name}=[{one}], got {given!r}")
            object.__setattr__(self, "boxes", tuple(check_box(b, "hint box") for b in self.boxes))
            if bad := [p for p in self.points if len(p) != 2]:
                raise ValueError(f"a hint point must be 2 numbers x,y, got {list(bad[0])}")
            object.__setattr__(self, "points", tuple((float(x), float(y)) for x, y in self.points))
            for name in ("hint_mask", "mask"):
                if (m := getattr(self, name)) is not None:
                    check_mask(m, name)
        except (ValueError, TypeError) as err:
            raise BadInput(str(err)) from None

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
            got = f"a {self.image.mode} image" if isinstance(self.image, Image.Image) else type(self.image).__name__
            raise ValueError(f"EditRequest.image must be an RGB PIL image, not {got} (refedit.pipeline.imageio."
                           "load_image or image_in_memory makes one of a file or any picture)")  # fmt: skip
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
class Ambiguity:
    """A choice the referring resolver could not make on its own criteria.

    ``candidates`` are the comparable detections of ``expression`` (the target, an ``anchor`` of a relation, or a
    ``pronoun``), numbered 1.. in this order, which is left to right by box centre (then top to bottom): the
    numbers ``--pick N`` and the ``*_candidates.png`` overlay use. ``whys`` says, per candidate, why it fits;
    ``reason`` why none of them wins ("no qualifier; scores 0.98 to 0.97, within the 0.10 margin").
    ``resolved_by`` is how the run went on ("--pick 2", "--on-ambiguous best") or None when it stopped (exit 7);
    ``picked`` the 1-based numbers it then used. Candidate masks stay in memory (the overlay tints them) but are
    not written by :meth:`to_dict`: the boxes identify the candidates.
    """

    expression: str
    head: str
    candidates: tuple[Candidate, ...]
    whys: tuple[str, ...]
    reason: str
    role: Literal["target", "anchor", "pronoun"] = "target"
    resolved_by: str | None = None
    picked: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))
        object.__setattr__(self, "whys", tuple(self.whys))
        object.__setattr__(self, "picked", tuple(int(i) for i in self.picked))
        if len(self.candidates) < 2 or len(self.whys) != len(self.candidates):
            raise ValueError("an ambiguity needs two or more candidates, each with a why")
        if any(not 1 <= i <= len(self.candidates) for i in self.picked):
            raise ValueError(f"picked numbers {self.picked} out of range 1..{len(self.candidates)}")
        if self.role not in ("target", "anchor", "pronoun"):
            raise ValueError(f"role must be target, anchor or pronoun, got {self.role!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "head": self.head,
            "role": self.role,
            "reason": self.reason,
            "candidates": [{"number": n, **replace(c, mask=None).to_dict(), "why": why}
                           for n, (c, why) in enumerate(zip(self.candidates, self.whys), 1)],  # fmt: skip
            "resolved_by": self.resolved_by,
            "picked": list(self.picked),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Ambiguity":
        cands = data.get("candidates", ())
        return cls(expression=str(data["expression"]), head=str(data["head"]), role=data.get("role", "target"),
                   candidates=tuple(Candidate.from_dict(c) for c in cands), whys=tuple(str(c.get("why", "")) for c in cands),
                   reason=str(data.get("reason", "")), resolved_by=data.get("resolved_by"),
                   picked=tuple(data.get("picked", ())))  # fmt: skip


class AmbiguousTarget(Ambiguous):
    """:class:`~refedit.errors.Ambiguous` (exit code 7) with the :class:`Ambiguity` that stopped the run, so a
    caller can list the candidates, draw them, and rerun with a pick; ``plan``, when known, what was asked."""

    def __init__(self, message: str, ambiguity: Ambiguity, plan: "EditPlan | None" = None) -> None:
        super().__init__(message)
        self.ambiguity = ambiguity
        self.plan = plan  # the plan being segmented (set by the pipeline), for the caller's record


@dataclass(frozen=True, eq=False)
class Segmentation:
    """The referred object(s) as an HxW bool ``mask`` at image resolution.

    ``candidates`` are every instance considered, ``chosen`` the indices (into ``candidates``) whose
    masks form ``mask``, ``reason`` a one-line human-readable explanation ("right-most of 2 'dog'
    detections"), ``segmenter`` the stage that made it. ``ambiguity`` is set when the resolver found several
    candidates equally good and the run settled it by ``--pick`` or ``--on-ambiguous`` (see :class:`Ambiguity`);
    ``ambiguous`` says whether it did.
    """

    mask: np.ndarray
    candidates: tuple[Candidate, ...] = ()
    chosen: tuple[int, ...] = ()
    reason: str = ""
    segmenter: str = ""
    ambiguity: Ambiguity | None = None

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

    @property
    def ambiguous(self) -> bool:
        """Whether the choice was ambiguous (and settled by a pick or the policy)."""
        return self.ambiguity is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mask": mask_to_rle(self.mask),
            "area": int(self.mask.sum()),
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": list(self.chosen),
            "reason": self.reason,
            "segmenter": self.segmenter,
            "ambiguous": self.ambiguous,
            "ambiguity": None if self.ambiguity is None else self.ambiguity.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Segmentation":
        return cls(
            mask=rle_to_mask(data["mask"]),
            candidates=tuple(Candidate.from_dict(c) for c in data.get("candidates", ())),
            chosen=tuple(data.get("chosen", ())),
            reason=str(data.get("reason", "")),
            segmenter=str(data.get("segmenter", "")),
            ambiguity=None if data.get("ambiguity") is None else Ambiguity.from_dict(data["ambiguity"]),
        )


# --------------------------------------------------------------------------- result
def _load_rgb(path: str) -> Image.Image:
    from refedit.pipeline.imageio import load_image

    return load_image(path).rgb


@dataclass(frozen=True, eq=False)
class Variant:
    """One of several results of one edit (an encoding-ratio sweep, ``--num-outputs``, or both): the RGB
    ``image`` (the input's size) denoised from ``encode_ratio`` r of the one shared inversion, as output number
    ``variant`` (1-based: its η-noise stream, see :class:`~refedit.pipeline.edit.options.DiffEditOptions`);
    ``label`` names it in file names ("r0.30", "2", "r0.30_2"); ``metrics`` as :attr:`EditResult.metrics`;
    ``score`` the CLIP directional similarity of its edited region when ``--auto-ratio`` scored it."""

    image: Image.Image
    label: str
    encode_ratio: float
    variant: int = 1
    metrics: Mapping[str, float] = field(default_factory=dict)
    score: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.image, Image.Image) or self.image.mode != "RGB":
            raise ValueError("Variant.image must be an RGB PIL image")
        if not self.label or "/" in self.label:
            raise ValueError(f"variant label must be a non-empty file-name part, got {self.label!r}")
        if not 0.0 < self.encode_ratio <= 1.0 or self.variant < 1:
            raise ValueError(f"bad variant: encode_ratio {self.encode_ratio}, number {self.variant}")

    def to_dict(self, image_path: str | Path | None = None) -> dict[str, Any]:
        return {"image": None if image_path is None else str(image_path), "label": self.label,
                "encode_ratio": self.encode_ratio, "variant": self.variant,
                "metrics": {k: _json_float(v) for k, v in self.metrics.items()}, "score": self.score}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], image: Image.Image | None = None) -> "Variant":
        return cls(image=image if image is not None else _load_rgb(data["image"]), label=str(data["label"]),
                   encode_ratio=float(data["encode_ratio"]), variant=int(data.get("variant", 1)),
                   metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
                   score=None if data.get("score") is None else float(data["score"]))  # fmt: skip


@dataclass(frozen=True)
class RatioChoice:
    """``--auto-ratio``'s decision: ``ratio``, the smallest encoding ratio whose edited region reached
    ``threshold`` of CLIP directional similarity towards the edited caption (when none did, the best-scoring
    one, and ``reached`` is False); ``scores`` (ratio, similarity) for every ratio tried, ascending (the search
    stops at the first ratio that reaches the threshold); ``reason`` one line saying which and why."""

    ratio: float
    threshold: float
    scores: tuple[tuple[float, float], ...]
    reached: bool
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple((float(r), float(v)) for r, v in self.scores))
        if self.ratio not in {r for r, _ in self.scores}:
            raise ValueError(f"the chosen ratio {self.ratio} is not among the scored ones")

    def to_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "threshold": self.threshold, "reached": self.reached, "reason": self.reason,
                "scores": [{"encode_ratio": r, "directional_similarity": v} for r, v in self.scores]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RatioChoice":
        return cls(ratio=float(data["ratio"]), threshold=float(data["threshold"]), reached=bool(data["reached"]),
                   reason=str(data.get("reason", "")),
                   scores=tuple((s["encode_ratio"], s["directional_similarity"]) for s in data.get("scores", ())))  # fmt: skip


@dataclass(frozen=True, eq=False)
class EditResult:
    """The edited RGB ``image`` (the input's size), with everything needed to reproduce it.

    ``parameters`` are the values actually used (model ids, steps, encoding ratio, guidance, seed, device,
    dtype); ``metrics`` measured facts such as ``outside_psnr`` (dB, ``inf`` when the outside of the mask
    is bit-identical); ``timings`` per-stage wall time in seconds. An edit with several results (an
    encoding-ratio sweep, ``--num-outputs``) has them all in ``variants``, in ratio then output order; ``image``
    is then the one ``ratio_choice`` picked (``--auto-ratio``), else the first variant.
    """

    image: Image.Image
    plan: EditPlan
    segmentation: Segmentation
    parameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    ratio_choice: RatioChoice | None = None
    #: the loaded input (alpha channel, colour profile, path) that :meth:`save` gives the written images back and
    #: never writes over; :func:`refedit.edit` sets it, a pipeline run alone leaves it None
    source: "LoadedImage | None" = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.image, Image.Image) or self.image.mode != "RGB":
            raise ValueError("EditResult.image must be an RGB PIL image")
        if self.image.size != self.segmentation.size:
            raise ValueError(f"result image {self.image.size} and mask {self.segmentation.size} differ in size")
        object.__setattr__(self, "variants", tuple(self.variants))
        if any(v.image.size != self.image.size for v in self.variants):
            raise ValueError("every variant must have the result's size")
        if len({v.label for v in self.variants}) != len(self.variants):
            raise ValueError("variant labels must be unique")

    def with_timings(self, timings: Mapping[str, float]) -> "EditResult":
        return replace(self, timings=dict(timings))

    def save(self, path: str | Path, *, mask: str | Path | None = None) -> list[Path]:
        """Write the result as ``refedit edit -o PATH [--save-mask MASK]`` does and return the files written (the
        images, the contact sheet, the mask): the format from the extension, the input's alpha channel and colour
        profile put back (:attr:`source`), the instruction, seed and parameters in a PNG's ``refedit`` text,
        atomically and never over the input; a sweep or several outputs write each result beside ``path`` and a
        contact sheet."""
        from refedit.outputs import edit_metadata, write_result

        meta = edit_metadata(self.plan.instruction, self.parameters.get("seed"), self)
        written, sheet = write_result(self, Path(path), source=self.source, metadata=meta,
                                      mask_out=None if mask is None else Path(mask))  # fmt: skip
        return written + [p for p in (sheet, None if mask is None else Path(mask)) if p is not None]

    def to_dict(self, image_path: str | Path | None = None,
                variant_paths: Sequence[str | Path | None] | None = None) -> dict[str, Any]:  # fmt: skip
        """JSON form; the image itself is referenced by ``image_path`` (where the caller saved it), the
        variants' by ``variant_paths`` (one per variant). ``ambiguous`` repeats the segmentation's."""
        paths = list(variant_paths) if variant_paths is not None else [None] * len(self.variants)
        if len(paths) != len(self.variants):
            raise ValueError(f"{len(paths)} variant paths for {len(self.variants)} variants")
        return {
            "image": None if image_path is None else str(image_path),
            "size": list(self.image.size),
            "plan": self.plan.to_dict(),
            "segmentation": self.segmentation.to_dict(),
            "ambiguous": self.segmentation.ambiguous,
            "parameters": dict(self.parameters),
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "timings": dict(self.timings),
            "variants": [v.to_dict(p) for v, p in zip(self.variants, paths, strict=True)],
            "ratio_choice": None if self.ratio_choice is None else self.ratio_choice.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], image: Image.Image | None = None,
                  variant_images: Sequence[Image.Image] | None = None) -> "EditResult":  # fmt: skip
        """Rebuild a result; the image is ``image`` or loaded from ``data["image"]`` (the first variant's when
        that is null), the variants' from ``variant_images`` or their paths."""
        rows = list(data.get("variants", ()))
        images = list(variant_images) if variant_images is not None else [None] * len(rows)
        variants = tuple(Variant.from_dict(v, im) for v, im in zip(rows, images, strict=True))
        if image is None and not data.get("image") and not variants:
            raise ValueError("the record names no image file ('image' is null and there are no variants): "
                             "pass image= to EditResult.from_dict")  # fmt: skip
        if image is None:
            image = _load_rgb(data["image"]) if data.get("image") else variants[0].image
        choice = data.get("ratio_choice")
        return cls(
            image=image,
            plan=EditPlan.from_dict(data["plan"]),
            segmentation=Segmentation.from_dict(data["segmentation"]),
            parameters=dict(data.get("parameters", {})),
            metrics={k: float(v) for k, v in data.get("metrics", {}).items()},
            timings={k: float(v) for k, v in data.get("timings", {}).items()},
            variants=variants,
            ratio_choice=None if choice is None else RatioChoice.from_dict(choice),
        )


def _json_float(value: float) -> float | str:
    """JSON has no infinity: write ``"inf"`` (``float("inf")`` reads it back)."""
    return "inf" if value == float("inf") else float(value)
