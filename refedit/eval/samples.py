"""One benchmark sample, whatever format it came from, and the checks every sample passes before a run.

Paths are absolute. The ground-truth mask is kept encoded (:class:`MaskRef`) and decoded on demand, so reading a
large benchmark stays cheap; :func:`check_samples` decodes each once before any work, so a bad file is refused
(exit 2) before a model loads or an output is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence

import numpy as np

from refedit.errors import BadInput

Box = tuple[float, float, float, float]
MaskKind = Literal["png", "rle", "polygon", "pie"]


@dataclass(frozen=True)
class MaskRef:
    """An encoded ground-truth mask: a PNG path (white = inside; ``invert_alpha`` for masks whose transparent
    pixels mark the region, as DALL-E 2-style edit masks do), a COCO RLE, COCO polygons, or PIE-Bench's RLE."""

    kind: MaskKind
    value: Any
    invert_alpha: bool = False

    def decode(self, size: tuple[int, int], owner: str = "mask") -> np.ndarray:
        """The HxW bool mask for an image of ``size`` (W, H); another size is :class:`BadInput` (messages name
        ``owner`` and the mask)."""
        from refedit.eval.formats import rle

        w, h = size
        what = f"{owner} {self.describe()}"
        if self.kind == "png":
            mask = _png_mask(Path(self.value), owner, self.invert_alpha)  # (its messages name the file)
        elif self.kind == "rle":
            mask = rle.decode_rle(self.value, what)
        elif self.kind == "polygon":
            mask = rle.decode_polygons(self.value, h, w, what)
        elif self.kind == "pie":
            mask = rle.decode_pie(self.value, (h, w), what)
        else:  # pragma: no cover - the dataclass admits only the kinds above
            raise BadInput(f"{what}: unknown mask kind {self.kind!r}")
        if mask.shape != (h, w):
            raise BadInput(f"{what} is {mask.shape[1]}x{mask.shape[0]} but the image is {w}x{h}")
        return mask

    def describe(self) -> str:
        return str(self.value) if self.kind == "png" else f"{self.kind} mask"


def _png_mask(path: Path, what: str, invert_alpha: bool) -> np.ndarray:
    from refedit.pipeline.imageio import load_image, load_mask

    if not invert_alpha:
        return load_mask(path, what=what)
    loaded = load_image(path, what=what)
    if loaded.alpha is not None and np.asarray(loaded.alpha).min() < 255:
        return np.asarray(loaded.alpha) < 128
    return np.asarray(loaded.rgb.convert("L")) > 127


@dataclass(frozen=True)
class Sample:
    """One benchmark item. ``text`` is the instruction (edit sets) or the referring expression (segmentation
    sets); ``name`` the sample's relative file name, by which a tool's outputs are found (``eval score``);
    ``boxes`` every target instance's xyxy box when known (the synthetic set), ``box`` the main one;
    ``source_caption`` / ``edited_caption`` the caption pair (CLIP directional similarity, CLIP score);
    ``target`` a ground-truth edited image and ``target_caption`` its caption (CLIP-I, CLIP-T, L1, DINO);
    ``fg_text`` the text CLIP-Sim_fg compares the edited region with; ``detections`` a per-sample detections
    file (``--detections`` stand-in for GroundingDINO); ``category`` the set's own grouping (PIE-Bench's edit
    type, the synthetic generator's kind); ``aliases`` the benchmark's own names for a tool's output (MagicBrush's
    ``<session>/<session>_1.png``, ``<session>_inde_<turn>.png``)."""

    id: str
    image: Path
    text: str
    name: str
    mask: MaskRef | None = None
    box: Box | None = None
    boxes: tuple[Box, ...] = ()
    source_caption: str | None = None
    edited_caption: str | None = None
    target: Path | None = None
    target_caption: str | None = None
    fg_text: str | None = None
    detections: Path | None = None
    category: str | None = None
    #: other relative file names a tool's output for this sample may have (a benchmark's own result naming)
    aliases: tuple[str, ...] = ()

    def truth(self, size: tuple[int, int]) -> np.ndarray | None:
        """The ground-truth mask for an image of ``size`` (W, H), or None."""
        return None if self.mask is None else self.mask.decode(size, f"sample {self.id}: mask")


def inside(base: Path, value: str, what: str, *, allow_outside: bool = False) -> Path:
    """``value`` (relative to ``base``, or absolute) resolved; refused when it leaves ``base`` (as batch manifests
    refuse such paths) unless ``allow_outside``."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{what} must be a non-empty path, got {value!r}")
    p = Path(value)
    full = (p if p.is_absolute() else base / p).resolve()
    base = base.resolve()
    if not allow_outside and full != base and base not in full.parents:
        raise BadInput(f"{what} {value!r} lies outside the data folder {base} (use --allow-outside to permit it)")
    return full


def check_samples(samples: Sequence[Sample], *, need_mask: bool = False, need: Iterable[str] = (),
                  progress: Callable[[int], None] | None = None) -> None:  # fmt: skip
    """Refuse bad data before any work: an image that is missing or unreadable, a mask that does not decode or
    has another size than its image, a missing target image, or (``need_mask``) a sample without a mask or with an
    empty one; ``need``
    names fields every sample must have (e.g. ``edited_caption``). Ids must be unique."""
    from PIL import Image, UnidentifiedImageError

    if not samples:
        raise BadInput("the data set has no samples")
    from refedit.eval.segment import safe_name

    seen: set[str] = set()
    files: dict[str, str] = {}  # a sample's file name (its masks, its edits) -> its id
    for i, s in enumerate(samples):
        if s.id in seen:
            raise BadInput(f"two samples have the id {s.id!r}; ids must be unique")
        seen.add(s.id)
        if (other := files.setdefault(safe_name(s.id).lower(), s.id)) != s.id:  # ("a/b" and "a_b" shared a_b.png)
            raise BadInput(f"samples {other!r} and {s.id!r} would write the same files ({safe_name(s.id)}.png); ids "
                           "must differ in more than punctuation and case")
        for field in need:
            if not getattr(s, field):
                raise BadInput(f"sample {s.id}: no {field.replace('_', ' ')} (needed for this run)")
        size = _image_size(s.image, f"sample {s.id}: image", Image, UnidentifiedImageError)
        if s.target is not None:
            _image_size(s.target, f"sample {s.id}: target image", Image, UnidentifiedImageError)
        if s.mask is not None:
            truth = s.truth(size)
            if need_mask and truth is not None and not truth.any():  # every prediction would score IoU 0 against it
                raise BadInput(f"sample {s.id}: the ground-truth mask ({s.mask.describe()}) is empty: no pixel of the "
                               "object (a PNG mask's object is white, > 127, or 1 in a 0/1 mask)")  # fmt: skip
        elif need_mask:
            raise BadInput(f"sample {s.id}: no ground-truth mask")
        if s.detections is not None and not s.detections.is_file():
            raise BadInput(f"sample {s.id}: detections file {s.detections} does not exist")
        if progress:
            progress(i + 1)


def _image_size(path: Path, what: str, image_mod: Any, unidentified: type[Exception]) -> tuple[int, int]:
    """(W, H) from the file's header (EXIF rotation applied as loading will apply it)."""
    if not path.is_file():
        raise BadInput(f"{what} {path} does not exist")
    from refedit.pipeline.imageio import shown_size

    try:
        with image_mod.open(path) as img:
            return shown_size(img)
    except (OSError, unidentified, ValueError) as err:
        raise BadInput(f"{what} {path} cannot be read as an image: {err}") from None
