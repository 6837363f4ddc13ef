"""Ref-Diff's scoring math (Ni et al., "Ref-Diff: Zero-shot Referring Image Segmentation with Generative
Models") as pure numpy functions on HxW arrays and feature vectors; no model needed.

- Eq. 8  :func:`weight_free_proposals`  binary proposals from the normalised attention map c
- Eq. 9  :func:`generative_scores`      s^G = mean(c inside M_i) − mean(c outside M_i)
- Eq. 6  :func:`positional_bias`        P: a soft 1 → 0 ramp along the direction named in the text
- Eq. 7  :func:`visual_features`        v_i = β f_{M_i}(x⊙P) + (1−β) f(x⊙M_i)
- Eq. 10 :func:`discriminative_scores`  s^D = v_i · r
- Eq. 1-2 :func:`fuse`, :func:`select`  s = α s^G + (1−α) s^D, the proposal with the largest s

:func:`fuse_official` is the combination the authors' code (kodenii/Ref-Diff, ``model/segmenter.py`` with
``config/refcoco*.yaml``) actually runs, which differs from the paper; see its docstring.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Direction = Literal["left", "right", "top", "bottom"]
DIRECTIONS: tuple[str, ...] = ("left", "right", "top", "bottom")

#: Eq. 8's thresholds μ ∈ {5 %, 10 %, ..., 95 %}
PAPER_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))


def weight_free_proposals(
    c: np.ndarray,
    thresholds: Sequence[float] = PAPER_THRESHOLDS,
    *,
    min_area: float = 0.0,
    max_area: float = 1.0,
    dedupe_iou: float = 0.98,
) -> list[np.ndarray]:
    """Eq. 8: M = {ψ(c ≥ μ) | μ ∈ thresholds} on the normalised attention map ``c`` (HxW, values in [0, 1]).

    Empty masks and masks outside [``min_area``, ``max_area``] (fractions of the image) are dropped, and a
    mask whose IoU with an already kept one is ≥ ``dedupe_iou`` is a duplicate (thresholds in a flat part of
    c give the same mask). Returned in threshold order (largest mask first)."""
    c = np.asarray(c, dtype=np.float32)
    total = c.size
    masks = []
    for mu in sorted(thresholds):
        m = c >= mu
        area = int(m.sum())
        if area and min_area * total <= area <= max_area * total:
            masks.append(m)
    return dedupe(masks, dedupe_iou)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def pairwise_iou(masks: Sequence[np.ndarray]) -> np.ndarray:
    """(n, n) IoU of every pair of same-shape bool masks, in one matrix product."""
    flat = np.stack([np.asarray(m, dtype=np.float32).ravel() for m in masks])
    inter = flat @ flat.T
    area = np.diag(inter)
    union = area[:, None] + area[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def dedupe(masks: Sequence[np.ndarray], threshold: float = 0.9) -> list[np.ndarray]:
    """Drop empty masks and masks whose IoU with an earlier kept one is ≥ ``threshold`` (keeps the first
    of each group)."""
    masks = [m for m in masks if m.any()]
    if not masks:
        return []
    duplicate = np.triu(pairwise_iou(masks) >= threshold, k=1)  # duplicate[k, i]: i repeats an earlier k
    alive = np.ones(len(masks), dtype=bool)
    for k in range(len(masks)):
        if alive[k]:
            alive &= ~duplicate[k]
    return [m for m, keep in zip(masks, alive, strict=True) if keep]


def generative_scores(
    c: np.ndarray, masks: Sequence[np.ndarray], eps: float = 1e-6
) -> np.ndarray:
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


def direction_of(words: Sequence[str]) -> Direction | None:
    """The first explicit direction clue (left/right/top/bottom; "upper"/"above" count as top, "lower"/
    "below"/"under" as bottom) among ``words``, or None."""
    synonyms = {"upper": "top", "above": "top", "lower": "bottom", "below": "bottom", "under": "bottom",
                "leftmost": "left", "rightmost": "right"}  # fmt: skip
    for w in words:
        w = w.lower()
        w = synonyms.get(w, w)
        if w in DIRECTIONS:
            return w  # type: ignore[return-value]
    return None


def positional_bias(
    shape: tuple[int, int], direction: str | None, *, extent: float = 1.0
) -> np.ndarray:
    """Eq. 6's P (HxW float32): a soft mask falling linearly from 1 to 0 along the named axis, so the side
    the text names keeps its pixels and the opposite side is dimmed ("left": 1 at the left edge, 0 at the
    right edge). No (or an unknown) direction gives all ones.

    ``extent`` is the fraction of the axis the ramp spans, zeros beyond it: 1.0 is the paper's ramp over the
    whole axis; the official code uses 2/3 for left/right (``apply_position``) and no bias for top/bottom."""
    h, w = shape
    if direction not in DIRECTIONS:
        return np.ones(shape, dtype=np.float32)
    n = w if direction in ("left", "right") else h
    k = max(1, round(n * extent))
    ramp = np.concatenate([np.linspace(1.0, 0.0, k), np.zeros(n - k)]).astype(
        np.float32
    )
    if direction in ("right", "bottom"):
        ramp = ramp[::-1]
    if direction in ("left", "right"):
        return np.broadcast_to(ramp[None, :], shape).copy()
    return np.broadcast_to(ramp[:, None], shape).copy()


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def text_feature(sentence: np.ndarray, root: np.ndarray) -> np.ndarray:
    """r of Eq. 10: the mean of the (L2-normalised) CLIP text features of the whole sentence and of its
    ROOT (subject) word."""
    return (_unit(sentence) + _unit(root)) / 2.0


def visual_features(
    masked_attention: np.ndarray, masked_crop: np.ndarray, beta: float
) -> np.ndarray:
    """Eq. 7: v_i = β f_{M_i}(x ⊙ P) + (1 − β) f(x ⊙ M_i), per proposal (rows), on L2-normalised features:
    ``masked_attention`` (N, d) from CLIP with [CLS] attention restricted to M_i's patches,
    ``masked_crop`` (N, d) from CLIP on the proposal's masked crop."""
    return beta * _unit(masked_attention) + (1.0 - beta) * _unit(masked_crop)


def discriminative_scores(v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Eq. 10: s^D_i = v_i · r."""
    return np.asarray(v, dtype=np.float64) @ np.asarray(r, dtype=np.float64)


def fuse(s_g: np.ndarray, s_d: np.ndarray, alpha: float) -> np.ndarray:
    """Eq. 1: s_i = α s^G_i + (1 − α) s^D_i (the paper uses α = 0.1)."""
    return alpha * np.asarray(s_g, dtype=np.float64) + (1.0 - alpha) * np.asarray(
        s_d, dtype=np.float64
    )


#: the official code's weights (config/refcoco*.yaml: hard_weight, soft_weight, diff_weight)
OFFICIAL_WEIGHTS = {"hard": 0.7, "soft": 0.3, "diff": 0.05}


def fuse_official(
    s_hard: np.ndarray,
    s_soft: np.ndarray,
    s_g: np.ndarray,
    weights: dict[str, float] = OFFICIAL_WEIGHTS,
) -> np.ndarray:
    """The authors' released combination (``CRIS.forward`` in kodenii/Ref-Diff ``model/segmenter.py``):

        s_i = 0.7 · s_hard_i + 0.3 · s_soft_i + 0.05 · s^G_i

    where ``s_hard`` = f(x⊙P ⊙ M_i, cropped to M_i's box) · t_sentence — the masked crop of the
    *position-biased* image, against the sentence feature only (hard_text_weight 1, hard_core_weight 0);
    ``s_soft`` = f_{M_i}(x) · (0.5 t_sentence + 0.5 t_root) — masked-[CLS]-attention on the *unbiased*
    image; ``s^G`` is Eq. 9. All CLIP features are L2-normalised. This differs from Eq. 1/7 (which put P on
    the masked-attention branch, mix features with β = 0.3 and weight s^G by α = 0.1); the code also keeps
    only the 10 largest proposals above 10,000 px before the argmax."""
    return (
        weights["hard"] * np.asarray(s_hard)
        + weights["soft"] * np.asarray(s_soft)
        + weights["diff"] * np.asarray(s_g)
    )


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


def stability_scores(logits: np.ndarray, threshold: float = 0.0, offset: float = 1.0) -> np.ndarray:
    """SAM's stability score of each (H, W) mask-logit map in ``logits`` (N, H, W): the IoU of the masks
    thresholded at ``threshold + offset`` and ``threshold - offset`` (segment-anything's automatic mask
    generator keeps masks scoring >= 0.95)."""
    n = len(logits)
    hi = (logits > threshold + offset).reshape(n, -1).sum(1)
    lo = (logits > threshold - offset).reshape(n, -1).sum(1)
    return hi / lo.clip(min=1)  # works on numpy arrays and torch tensors alike
