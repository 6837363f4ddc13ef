"""Figures people would rather look at than read (matplotlib, the ``eval`` extra; imported only here and only
when a plot is drawn): per-kind IoU bars, and background fidelity against edit faithfulness per encoding ratio."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping

from refedit.errors import RefEditWarning


def _pyplot() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn(RefEditWarning("matplotlib is not installed (pip install 'refedit[eval]'): no plots drawn"),
                      stacklevel=3)  # fmt: skip
        return None
    return plt


def _save(fig: Any, path: Path) -> Path:
    """Draw to a temporary file and rename it, as every result file is written."""
    from refedit.core.files import atomic_write

    return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120, bbox_inches="tight"))


def kind_bars(summary: Mapping[str, Any], path: Path, title: str = "") -> Path | None:
    """Grouped bars of mIoU and oIoU (%) overall and per reference kind, each labelled with its sample count."""
    plt = _pyplot()
    if plt is None:
        return None
    groups = [("overall", summary["overall"]), *summary.get("by_kind", {}).items()]
    names = [f"{k}\n(n={v['n']})" for k, v in groups]
    fig, ax = plt.subplots(figsize=(1.3 * len(groups) + 2, 3.6))
    xs = range(len(groups))
    for offset, key, colour in ((-0.2, "mIoU", "#4c72b0"), (0.2, "oIoU", "#dd8452")):
        vals = [100 * v[key] for _, v in groups]
        bars = ax.bar([x + offset for x in xs], vals, width=0.4, label=key, color=colour)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(list(xs), names, fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "IoU by reference kind", fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


FIDELITY = ("psnr_bg", "ssim_bg", "lpips_bg", "l2_bg")
FAITHFULNESS = ("clip_score", "clip_dir", "clip_score_edit")


def _points(ratios: Mapping[str, Any], x: str, y: str) -> list[tuple[float, float, float]]:
    pts = [(float(r), b.get(x), b.get(y)) for r, b in ratios.items()]
    return sorted(p for p in pts if p[1] is not None and p[2] is not None and abs(p[2]) != float("inf"))  # type: ignore[misc]


def fidelity_vs_faithfulness(summary: Mapping[str, Any], path: Path) -> Path | None:
    """One point per encoding ratio r: background fidelity (y: PSNR_bg, else SSIM_bg, LPIPS_bg or L2_bg -- PSNR is
    infinite where the background is bit-identical) against edit faithfulness (x: CLIP score, else CLIP
    directional similarity), joined in order of r; None when the run did not sweep r or lacks the figures."""
    ratios = summary.get("by_encode_ratio", {})
    pairs = [(x, y) for x in FAITHFULNESS for y in FIDELITY if len(_points(ratios, x, y)) >= 2]
    if not pairs:
        return None
    faithfulness, fidelity = pairs[0]
    points = _points(ratios, faithfulness, fidelity)
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    ax.plot([p[1] for p in points], [p[2] for p in points], "-o", color="#4c72b0")
    for r, x, y in points:
        ax.annotate(f"r={r:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(faithfulness)
    ax.set_ylabel(fidelity)
    ax.set_title("background fidelity vs edit faithfulness", fontsize=10)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
