"""Bring-your-own detections: boxes from any external detector, as a stand-in for GroundingDINO."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from PIL import Image

from refedit.errors import BadInput
from refedit.pipeline.artifacts import Candidate


def load_detections(path: str | Path) -> list[Candidate]:
    """Read a JSON list of ``{"box": [x0, y0, x1, y1], "score": s, "label": l}`` (pixels, xyxy; the score a
    probability, 1 when absent)."""
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
            box, score = tuple(float(v) for v in item["box"]), float(item.get("score", 1.0))
            if len(box) != 4 or not all(map(math.isfinite, box)) or not (box[0] < box[2] and box[1] < box[3]):
                raise ValueError(f"box {item['box']} is not four finite numbers x0 < x1, y0 < y1")
            if not 0.0 <= score <= 1.0:  # NaN fails this too
                raise ValueError(f"score {item.get('score')} is not a probability in [0, 1]")
            out.append(Candidate(box=box, score=score, label=str(item.get("label", ""))))  # type: ignore[arg-type]
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
        inside = []
        for c in self.candidates:  # a detector's box may reach past the border: the part in the image counts
            x0, y0, x1, y1 = max(0.0, c.box[0]), max(0.0, c.box[1]), min(float(w), c.box[2]), min(float(h), c.box[3])
            if not (x0 < x1 and y0 < y1):
                raise BadInput(f"detection box {list(c.box)} lies entirely outside the {w}x{h} image")
            inside.append(Candidate((x0, y0, x1, y1), c.score, c.label, c.mask))
        head = prompt.strip().lower().split()[-1] if prompt.strip() else ""
        labelled = [c for c in inside if c.label]
        if not labelled:
            return inside
        return [c for c in labelled if head and (head in c.label.lower() or c.label.lower() in prompt.lower())]

    def detect_phrases(self, image: Image.Image, phrases: list[str], *, text_threshold: float) -> list[list[Candidate]]:
        """Per phrase, the given detections whose label matches it (no model call)."""
        return [self.detect(image, p, text_threshold=text_threshold) for p in phrases]
