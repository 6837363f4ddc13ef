"""Bring-your-own detections: boxes from any external detector, as a stand-in for GroundingDINO."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from PIL import Image

from refedit.errors import BadInput
from refedit.pipeline.artifacts import Candidate


def load_detections(path: str | Path) -> list[Candidate]:
    """Read a JSON list of ``{"box": [x0, y0, x1, y1], "score": s, "label": l}`` (pixels, xyxy)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read detections {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise BadInput(f"detections {path} is not valid JSON: {err}") from None
    if not isinstance(data, list):
        raise BadInput(f"detections {path} must be a JSON list of {{box, score, label}} objects")
    out = []
    for i, item in enumerate(data):
        try:
            out.append(Candidate(box=tuple(item["box"]), score=float(item.get("score", 1.0)), label=str(item.get("label", ""))))
        except (KeyError, TypeError, ValueError) as err:
            raise BadInput(f"detections {path}, item {i}: {err}") from None
    return out


class GivenDetections:
    """A detector that returns fixed detections, keeping those whose label matches the prompt's head noun
    (all of them when none has a label)."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        self.candidates = list(candidates)

    def detect(self, image: Image.Image, prompt: str, *, text_threshold: float) -> list[Candidate]:
        w, h = image.size
        for c in self.candidates:
            if c.box[2] > w + 1 or c.box[3] > h + 1:
                raise BadInput(f"detection box {list(c.box)} lies outside the {w}x{h} image")
        head = prompt.strip().lower().split()[-1] if prompt.strip() else ""
        labelled = [c for c in self.candidates if c.label]
        if not labelled:
            return list(self.candidates)
        return [c for c in labelled if head and (head in c.label.lower() or c.label.lower() in prompt.lower())]

    def detect_phrases(self, image: Image.Image, phrases: list[str], *, text_threshold: float) -> list[list[Candidate]]:
        """Per phrase, the given detections whose label matches it (no model call)."""
        return [self.detect(image, p, text_threshold=text_threshold) for p in phrases]
