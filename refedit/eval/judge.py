"""An optional VLM judge in the manner of VIEScore (Ku et al. 2024), as GEdit-Bench and RefEdit-Bench use it,
through any OpenAI-compatible chat endpoint that takes images.

Two questions, each answered with two 0-10 scores: **semantic consistency** (the original and the edited image
with the instruction: instruction following, over-editing) and **perceptual quality** (the edited image alone:
naturalness, artifacts). As in VIEScore, SC is the minimum of its two scores, PQ the minimum of its two, and the
overall score O = sqrt(SC * PQ). The prompts are ``refedit/prompts/judge_sc.txt`` and ``judge_pq.txt``. An
endpoint that fails or answers nonsense leaves the sample's judge figures empty (``judge_error`` says why); the
other figures stand."""

from __future__ import annotations

import base64
import io
import math
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

#: images are sent at most this many pixels on the long side (keeps requests small; the judge needs no more)
MAX_SIDE = 512


def load_judge_prompt(name: str) -> str:
    return resources.files("refedit.prompts").joinpath(name).read_text(encoding="utf-8")


def data_url(image: np.ndarray) -> str:
    """A PNG data URL of an HxWx3 uint8 image, shrunk to :data:`MAX_SIDE`."""
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def two_scores(answer: str | None) -> tuple[float, float]:
    """The two 0-10 scores of a judge's answer (``{"score": [a, b], ...}``); ValueError when unusable."""
    from refedit.pipeline.parse.llm import extract_json

    data = extract_json(answer)
    score = data.get("score")
    if (not isinstance(score, list) or len(score) != 2
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 <= s <= 10 for s in score)):  # fmt: skip
        raise ValueError(f"the answer's score must be two numbers from 0 to 10, got {score!r}")
    return float(score[0]), float(score[1])


def viescore(sc: tuple[float, float], pq: tuple[float, float]) -> dict[str, float]:
    """VIEScore's SC = min, PQ = min, O = sqrt(SC * PQ)."""
    s, p = min(sc), min(pq)
    return {"vie_sc": s, "vie_pq": p, "vie_o": math.sqrt(s * p)}


@dataclass(frozen=True)
class JudgeOptions:
    """Endpoint (``base_url`` None: ``OPENAI_BASE_URL``), key (None: ``OPENAI_API_KEY``), model, per-request
    timeout in seconds and retries on transient failures."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 1


class VLMJudge:
    """Asks the endpoint the two VIEScore questions for each edit."""

    def __init__(self, options: JudgeOptions) -> None:
        self.options = options
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=self.options.base_url or os.environ.get("OPENAI_BASE_URL") or None,
                                         api_key=self.options.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
                                         timeout=self.options.timeout, max_retries=self.options.retries)  # fmt: skip
        return self._client

    def ask(self, prompt: str, images: list[np.ndarray]) -> tuple[float, float]:
        content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in images]
        content.append({"type": "text", "text": prompt})
        response = self.client().chat.completions.create(
            model=self.options.model, temperature=0, messages=[{"role": "user", "content": content}])
        if not response.choices:
            raise ValueError("the answer has no choices")
        return two_scores(response.choices[0].message.content)

    def assess(self, source: np.ndarray, edited: np.ndarray, instruction: str) -> dict[str, Any]:
        """``vie_sc``, ``vie_pq``, ``vie_o`` for one edit, or ``judge_error`` when the endpoint fails."""
        try:
            sc = self.ask(load_judge_prompt("judge_sc.txt").replace("{instruction}", instruction), [source, edited])
            pq = self.ask(load_judge_prompt("judge_pq.txt"), [edited])
        except Exception as err:  # noqa: BLE001 - the endpoint's failures and unusable answers alike
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return {"judge_error": text[:200]}
        return viescore(sc, pq)
