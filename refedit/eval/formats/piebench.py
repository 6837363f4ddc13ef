"""PIE-Bench (Ju et al., "PnP Inversion", the benchmark PIE-Bench/PnP-Inversion evaluation code reads).

Layout: ``mapping_file.json`` beside ``annotation_images/``::

    {"000000000000": {"image_path": "0_random_140/000000000000.jpg",
                      "original_prompt": "a slanted mountain bicycle on the road in front of a building",
                      "editing_prompt": "a slanted [rusty] mountain bicycle on the road in front of a building",
                      "editing_instruction": "Make the frame of the bike rusty",
                      "editing_type_id": "0", "blended_word": "bicycle bicycle",
                      "mask": [start, length, start, length, ...]}, ...}

The prompts' brackets mark the edited words and are removed (as the evaluation code does); the mask is the
run-length list :func:`refedit.eval.formats.rle.decode_pie` decodes. A tool's outputs are found under the image's
``image_path`` (``OUTPUTS/0_random_140/000000000000.jpg``, any image extension)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from refedit.errors import BadInput
from refedit.eval.samples import MaskRef, Sample, inside

MAPPING = "mapping_file.json"
IMAGES = "annotation_images"


def _plain(prompt: Any, what: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInput(f"{what} must be a non-empty string")
    return prompt.replace("[", "").replace("]", "")


def read_piebench(mapping: Path, *, allow_outside: bool = False) -> list[Sample]:
    """The samples of a PIE-Bench ``mapping_file.json``."""
    from refedit.batch import read_text

    try:
        data = json.loads(read_text(mapping, "PIE-Bench mapping file"))
    except json.JSONDecodeError as err:
        raise BadInput(f"{mapping} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{mapping} must map sample ids to objects")
    root = mapping.resolve().parent
    images = root / IMAGES if (root / IMAGES).is_dir() else root
    samples = []
    for key, item in data.items():
        where = f"{mapping.name}: sample {key}"
        try:
            if not isinstance(item, dict):
                raise BadInput("must be an object")
            missing = [k for k in ("image_path", "original_prompt", "editing_prompt", "mask") if k not in item]
            if missing:
                raise BadInput(f"missing {', '.join(map(repr, missing))}")
            rel = item["image_path"]
            samples.append(Sample(
                id=str(key), image=inside(images, rel, "image_path", allow_outside=allow_outside),
                text=str(item.get("editing_instruction") or _plain(item["editing_prompt"], "editing_prompt")),
                name=str(rel), mask=MaskRef("pie", item["mask"]),
                source_caption=_plain(item["original_prompt"], "original_prompt"),
                edited_caption=_plain(item["editing_prompt"], "editing_prompt"),
                category=None if item.get("editing_type_id") is None else str(item["editing_type_id"]),
            ))  # fmt: skip
        except BadInput as err:
            raise BadInput(f"{where}: {err}") from None
    return samples
