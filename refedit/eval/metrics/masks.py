"""Referring-segmentation figures, pure numpy: mIoU, oIoU and Pr@X.

Ref-Diff (Sec. 4.2, Tables 1/2) "adopt[s] mIoU and oIoU as the evaluation metrics", following Yu et al. (Global-
Local CLIP) and TSEG: **mIoU** is the mean over samples of each sample's intersection over union; **oIoU**
(overall IoU) is the total intersection over the total union, summed over all samples, so large objects weigh
more. **Pr@X** (the RIS papers' precision at threshold X, as in the LAVT/CRIS evaluation code) is the fraction of
samples whose IoU is at least X, for X in 0.5 ... 0.9. A sample whose union is empty (an empty prediction of an
empty target) has IoU 0, as in that code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from refedit.errors import BadInput

#: Pr@X thresholds the RIS papers print
THRESHOLDS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Overlap:
    """Pixel counts of one prediction against its ground truth (both HxW bool)."""

    intersection: int
    union: int

    @property
    def iou(self) -> float:
        return self.intersection / self.union if self.union else 0.0


def overlap(pred: np.ndarray, truth: np.ndarray) -> Overlap:
    """Intersection and union pixel counts; the masks must have the same HxW shape."""
    if pred.shape != truth.shape:
        raise BadInput(f"predicted mask is {pred.shape[1]}x{pred.shape[0]} but the ground truth is "
                       f"{truth.shape[1]}x{truth.shape[0]}")  # fmt: skip
    p, t = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    return Overlap(int(np.count_nonzero(p & t)), int(np.count_nonzero(p | t)))


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two HxW masks (0 when both are empty)."""
    return overlap(pred, truth).iou


@dataclass(frozen=True)
class SegmentationFigures:
    """mIoU, oIoU and Pr@X (fractions in [0, 1]) over ``n`` samples."""

    n: int
    miou: float
    oiou: float
    precision: Mapping[float, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {"n": self.n, "mIoU": self.miou, "oIoU": self.oiou}
        out.update({f"Pr@{t:g}": p for t, p in self.precision.items()})
        return out


def figures(overlaps: Sequence[Overlap], thresholds: Iterable[float] = THRESHOLDS) -> SegmentationFigures:
    """mIoU (mean per-sample IoU), oIoU (sum of intersections / sum of unions) and Pr@X (share of samples with
    IoU >= X) of ``overlaps``; all 0 for no samples."""
    n = len(overlaps)
    if n == 0:
        return SegmentationFigures(0, 0.0, 0.0, {t: 0.0 for t in thresholds})
    ious = np.array([o.iou for o in overlaps], dtype=np.float64)
    inter = sum(o.intersection for o in overlaps)
    union = sum(o.union for o in overlaps)
    return SegmentationFigures(
        n=n,
        miou=float(ious.mean()),
        oiou=inter / union if union else 0.0,
        precision={t: float(np.count_nonzero(ious >= t)) / n for t in thresholds},
    )
