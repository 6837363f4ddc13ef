"""refedit's own JSONL manifest: one JSON object per line, paths relative to the manifest's folder.

    {"id": "cat-1", "image": "images/cats.jpg", "expression": "the cat on the left",   # or "instruction"
     "mask": "masks/cat-1.png",               # or {"size": [h, w], "counts": "..."} (COCO RLE, string or list)
                                              # or {"polygons": [[x0, y0, x1, y1, ...], ...]} (COCO polygons)
     "box": [x0, y0, x1, y1], "boxes": [[...], ...],
     "source_caption": "a photo of a cat", "edited_caption": "a photo of a tiger",
     "target": "targets/cat-1.png", "target_caption": "a tiger", "fg_text": "a tiger",
     "detections": "dets/cats.json", "category": "spatial", "output": "cat-1.png"}

Only ``image`` and one of ``expression`` / ``instruction`` are required; ``id`` defaults to the line number and
``output`` (the file name ``eval score`` looks for) to the image's path. Paths leaving the folder are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from refedit.errors import BadInput
from refedit.eval.samples import MaskRef, Sample, inside

KEYS = frozenset({"id", "image", "expression", "instruction", "mask", "box", "boxes", "source_caption", "edited_caption",
                  "target", "target_caption", "fg_text", "detections", "category", "output"})  # fmt: skip


def read_manifest(path: Path, *, allow_outside: bool = False) -> list[Sample]:
    """The samples of a JSONL manifest; any bad line is :class:`BadInput` naming it."""
    from refedit.batch import read_text

    base = path.resolve().parent
    samples = []
    for n, line in enumerate(read_text(path, "data manifest").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise BadInput(f"{where}: not valid JSON ({err})") from None
        if not isinstance(row, dict):
            raise BadInput(f"{where}: each line must be a JSON object")
        try:
            samples.append(_sample(row, base, str(n), allow_outside))
        except BadInput as err:
            raise BadInput(f"{where}: {err}") from None
    return samples


def _text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{key!r} must be a string, got {value!r}")
    return value


def box_of(value: Any, what: str = "box") -> tuple[float, float, float, float]:
    """An xyxy box of four finite numbers with x0 < x1, y0 < y1."""
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):  # fmt: skip
        raise BadInput(f"{what} must be [x0, y0, x1, y1], got {value!r}")
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (x0 < x1 and y0 < y1):
        raise BadInput(f"{what} {list(value)} must have x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def mask_of(value: Any, base: Path, allow_outside: bool) -> MaskRef:
    """A manifest's ``mask``: a PNG path, a COCO RLE object, or polygons."""
    if isinstance(value, str):
        return MaskRef("png", inside(base, value, "mask", allow_outside=allow_outside))
    if isinstance(value, dict) and "counts" in value:
        return MaskRef("rle", value)
    if isinstance(value, dict) and "polygons" in value:
        return MaskRef("polygon", value["polygons"])
    if isinstance(value, list):
        return MaskRef("polygon", value)
    raise BadInput(f"mask must be a PNG path, a COCO RLE {{size, counts}} or {{polygons: [...]}}, got {str(value)[:60]}")


def _sample(row: Mapping[str, Any], base: Path, line: str, allow_outside: bool) -> Sample:
    unknown = sorted(set(row) - KEYS)
    if unknown:
        from refedit.config import close_matches

        raise BadInput(f"unknown key {unknown[0]!r}{close_matches(unknown[0], KEYS)}")
    image_text = _text(row, "image")
    if not image_text:
        raise BadInput("missing 'image'")
    text = _text(row, "expression") or _text(row, "instruction")
    if not text or not text.strip():
        raise BadInput("missing 'expression' or 'instruction'")
    sid = row.get("id", line)
    if not isinstance(sid, (str, int)) or isinstance(sid, bool) or not str(sid).strip():
        raise BadInput(f"'id' must be a string or an integer, got {sid!r}")

    def path(key: str) -> Path | None:
        value = _text(row, key)
        return inside(base, value, key, allow_outside=allow_outside) if value else None

    boxes = row.get("boxes") or ([] if row.get("box") is None else [row["box"]])
    if not isinstance(boxes, list):
        raise BadInput(f"'boxes' must be a list of [x0, y0, x1, y1], got {boxes!r}")
    return Sample(
        id=str(sid), image=inside(base, image_text, "image", allow_outside=allow_outside), text=text,
        name=_text(row, "output") or image_text,
        mask=None if row.get("mask") is None else mask_of(row["mask"], base, allow_outside),
        box=box_of(row["box"]) if row.get("box") is not None else None,
        boxes=tuple(box_of(b, "boxes item") for b in boxes),
        source_caption=_text(row, "source_caption"), edited_caption=_text(row, "edited_caption"),
        target=path("target"), target_caption=_text(row, "target_caption"), fg_text=_text(row, "fg_text"),
        detections=path("detections"), category=_text(row, "category"),
    )  # fmt: skip
