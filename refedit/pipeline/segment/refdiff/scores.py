"""Ref-Diff's matching (Sec. 3.4 and 3.1, Ni et al., "Ref-Diff: Zero-shot Referring Image Segmentation with
Generative Models"): scores of every proposal, fused, the best chosen. The math is pure numpy:

- Eq. 9  :func:`generative_scores`      s^G = mean(c inside M_i) − mean(c outside M_i)
- Eq. 7  :func:`visual_features`        v_i = β f_{M_i}(x⊙P) + (1−β) f(x⊙M_i)
- Eq. 10 :func:`discriminative_scores`  s^D = v_i · r, with r from :func:`text_feature`
- Eq. 1-2 :func:`fuse`, :func:`select`  s = α s^G + (1−α) s^D, the proposal with the largest s

:func:`fuse_official` is the combination the authors' code (kodenii/Ref-Diff, ``model/segmenter.py`` with
``config/refcoco*.yaml``) actually runs, which differs from the paper; see its docstring. :func:`score`
runs either on real proposals with the CLIP features of :mod:`.discriminative`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from refedit.pipeline.segment.options import RefDiffOptions
from refedit.pipeline.segment.refdiff.discriminative import ClipFeatures, direction_of, positional_bias


def generative_scores(c: np.ndarray, masks: Sequence[np.ndarray], eps: float = 1e-6) -> np.ndarray:
    """Eq. 9: s^G_i = |c ⊙ M_i| / |M_i| − |c ⊙ (1 − M_i)| / |1 − M_i|: the mean attention inside the
    proposal minus the mean outside it (in [−1, 1] for c in [0, 1]); ``eps`` guards empty sides, as the
    official code's ``+1e-6``."""
    c = np.asarray(c, dtype=np.float64)
    total = c.sum()
    out = []
    for m in masks:
        m = np.asarray(m, dtype=bool)
        n_in = m.sum()
        s_in = c[m].sum()
        out.append(s_in / (n_in + eps) - (total - s_in) / (m.size - n_in + eps))
    return np.asarray(out, dtype=np.float64)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def text_feature(sentence: np.ndarray, root: np.ndarray) -> np.ndarray:
    """r of Eq. 10: the mean of the (L2-normalised) CLIP text features of the whole sentence and of its
    ROOT (subject) word."""
    return (_unit(sentence) + _unit(root)) / 2.0


def visual_features(masked_attention: np.ndarray, masked_crop: np.ndarray, beta: float) -> np.ndarray:
    """Eq. 7: v_i = β f_{M_i}(x ⊙ P) + (1 − β) f(x ⊙ M_i), per proposal (rows), on L2-normalised features:
    ``masked_attention`` (N, d) from CLIP with [CLS] attention restricted to M_i's patches,
    ``masked_crop`` (N, d) from CLIP on the proposal's masked crop."""
    return beta * _unit(masked_attention) + (1.0 - beta) * _unit(masked_crop)


def discriminative_scores(v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Eq. 10: s^D_i = v_i · r."""
    return np.asarray(v, dtype=np.float64) @ np.asarray(r, dtype=np.float64)


def fuse(s_g: np.ndarray, s_d: np.ndarray, alpha: float) -> np.ndarray:
    """Eq. 1: s_i = α s^G_i + (1 − α) s^D_i (the paper uses α = 0.1)."""
    return alpha * np.asarray(s_g, dtype=np.float64) + (1.0 - alpha) * np.asarray(s_d, dtype=np.float64)


#: the official code's weights (config/refcoco*.yaml: hard_weight, soft_weight, diff_weight)
OFFICIAL_WEIGHTS = {"hard": 0.7, "soft": 0.3, "diff": 0.05}


def fuse_official(s_hard: np.ndarray, s_soft: np.ndarray, s_g: np.ndarray,
                  weights: dict[str, float] = OFFICIAL_WEIGHTS) -> np.ndarray:  # fmt: skip
    """The authors' released combination (``CRIS.forward`` in kodenii/Ref-Diff ``model/segmenter.py``):

        s_i = 0.7 · s_hard_i + 0.3 · s_soft_i + 0.05 · s^G_i

    where ``s_hard`` = f(x⊙P ⊙ M_i, cropped to M_i's box) · t_sentence — the masked crop of the
    *position-biased* image, against the sentence feature only (hard_text_weight 1, hard_core_weight 0);
    ``s_soft`` = f_{M_i}(x) · (0.5 t_sentence + 0.5 t_root) — masked-[CLS]-attention on the *unbiased*
    image; ``s^G`` is Eq. 9. All CLIP features are L2-normalised. This differs from Eq. 1/7 (which put P on
    the masked-attention branch, mix features with β = 0.3 and weight s^G by α = 0.1); the code also keeps
    only the 10 largest proposals above 10,000 px before the argmax (:func:`official_valid`)."""
    return (weights["hard"] * np.asarray(s_hard) + weights["soft"] * np.asarray(s_soft)
            + weights["diff"] * np.asarray(s_g))  # fmt: skip


def select(scores: Sequence[float], valid: Sequence[bool] | None = None) -> int:
    """Eq. 2: the index of the highest fused score (among ``valid`` ones when given); −1 when none."""
    s = np.asarray(scores, dtype=np.float64).copy()
    if s.size == 0:
        return -1
    if valid is not None:
        ok = np.asarray(valid, dtype=bool)
        if not ok.any():
            return -1
        s[~ok] = -np.inf
    return int(np.argmax(s))


@dataclass(frozen=True)
class Scored:
    """Every proposal's fused score s and its parts; ``valid``: the proposals Eq. 2 may choose (None: all);
    ``detail``: the reason's account of the scores, with ``{g}`` and ``{d}`` for the chosen one's s^G and
    s^D; ``direction``: the direction clue of Eq. 6 (None when the text has none)."""

    fused: np.ndarray
    s_g: np.ndarray
    s_d: np.ndarray
    valid: np.ndarray | None
    detail: str
    direction: str | None

    @property
    def best(self) -> int:
        return select(self.fused, self.valid)


#: the official code's floor, 10,000 px of a COCO photo (640x480), as a share of the image: ~3.3 %
OFFICIAL_MIN_SHARE = 10_000 / (640 * 480)


def official_valid(areas: np.ndarray, image_area: int, top: int = 10) -> np.ndarray:
    """The proposals the official code's argmax runs over: the ``top`` largest of those above its area floor
    (:data:`OFFICIAL_MIN_SHARE` of the image, as it applies 10,000 px to COCO photos); the largest alone when none
    is that large."""
    valid = np.zeros(len(areas), dtype=bool)
    if not len(areas):
        return valid
    order = np.argsort(-areas, kind="stable")
    large = order[areas[order] >= OFFICIAL_MIN_SHARE * image_area]
    valid[large[:top] if len(large) else order[:1]] = True
    return valid


def score(c: np.ndarray, work: Image.Image, props: list[np.ndarray], expression: str, word: str,
          options: RefDiffOptions, clip: ClipFeatures) -> Scored:  # fmt: skip
    """Score the working-size proposals ``props`` against ``expression`` (ROOT ``word``) on the working-size
    image ``work`` with its attention map ``c``: the paper's Eq. 1/7 (``fusion="paper"``) or the official
    code's weighting."""
    s_g = generative_scores(c, props)
    t = clip.text(expression, word)
    x = np.asarray(work, dtype=np.uint8)
    direction = direction_of(expression.replace(",", " ").split())
    if options.fusion == "paper":
        xp = (x * positional_bias(c.shape, direction)[..., None]).astype(np.uint8)
        soft = clip.soft(xp, props) if options.beta > 0 else np.zeros((len(props), t.shape[1]))
        hard = clip.hard(x, props) if options.beta < 1 else np.zeros_like(soft)
        beta = options.beta
        v = visual_features(soft, hard, beta) if 0 < beta < 1 else (soft if beta else hard)
        s_d = discriminative_scores(v, text_feature(t[0], t[1]))
        detail = f"s^G={{g:.2f}}, s^D={{d:.2f}}, alpha={options.alpha}, beta={beta}"
        return Scored(fuse(s_g, s_d, options.alpha), s_g, s_d, None, detail, direction)
    p = positional_bias(c.shape, direction if direction in ("left", "right") else None, extent=2 / 3)
    hard = clip.hard((x * p[..., None]).astype(np.uint8), props)
    soft = clip.soft(x, props)
    s_hard = hard @ t[0]  # also the s^D of the reason line
    fused = fuse_official(s_hard, soft @ (0.5 * t[0] + 0.5 * t[1]), s_g)
    valid = official_valid(np.array([m.sum() for m in props]), c.size)
    detail = "s^G={g:.2f}, hard={d:.2f}, official 0.7/0.3/0.05 weights"
    return Scored(fused, s_g, s_hard, valid, detail, direction)
