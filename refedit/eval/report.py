"""Summaries of the per-sample records (overall, per reference kind, per category, per encoding ratio) and their
Markdown tables. Figures stay fractions in JSON; the tables print the segmentation figures in percent, as
Ref-Diff's tables do."""

from __future__ import annotations

import math
import statistics
from typing import Any, Iterable, Mapping, Sequence

from refedit.eval.metrics.masks import THRESHOLDS, Overlap, figures
from refedit.eval.results import number

#: the reference kinds the segmentation figures are broken down by (a sample counts in each kind its parsed
#: target uses; "plain" = none of them)
KINDS: tuple[str, ...] = ("plain", "spatial", "ordinal", "size", "attribute", "all", "relation", "unparsed")

#: the edit figures, in table order
EDIT_METRICS: tuple[str, ...] = (
    "psnr_bg", "lpips_bg", "mse_bg", "ssim_bg", "l2_bg", "ssim_m", "ssim_m_bar",
    "clip_score", "clip_score_edit", "clip_dir", "clip_sim_fg", "lpips",
    "clip_i", "clip_t", "l1", "dino", "vie_sc", "vie_pq", "vie_o",
)  # fmt: skip


def _seg_block(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = figures([Overlap(int(r["intersection"]), int(r["union"])) for r in records]).to_dict()
    picks = [r["box_correct"] for r in records if r.get("box_correct") is not None]
    out["box_acc"] = sum(picks) / len(picks) if picks else None
    out["failed"] = sum(1 for r in records if r.get("status") == "failed")
    return out


def timing(records: Iterable[Mapping[str, Any]], key: str) -> dict[str, Any] | None:
    """The time per sample from the records' ``key`` (seconds): the median (the first sample of a run also loads the
    models, which the median does not see), the longest, and how many were timed; None when none was."""
    values = sorted(float(v) for r in records if isinstance(v := r.get(key), (int, float)) and not isinstance(v, bool))
    if not values:
        return None
    return {"median_seconds": statistics.median(values), "max_seconds": values[-1], "timed": len(values)}


def _timing_line(summary: Mapping[str, Any]) -> str:
    t = summary.get("timing")
    if not t:
        return ""
    return (f"\n(time per sample: median {t['median_seconds']:.3g} s, longest {t['max_seconds']:.3g} s — a run's first "
            f"sample also loads the models; {t['timed']} timed)\n")


def segmentation_summary(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """mIoU, oIoU, Pr@X, box accuracy and failures overall, per kind and per category."""
    recs = [r for r in records if "union" in r]
    by_kind = {k: _seg_block([r for r in recs if k in r.get("kinds", ())]) for k in KINDS}
    categories = sorted({str(r["category"]) for r in recs if r.get("category") is not None})
    errors: dict[str, int] = {}
    for r in recs:
        if r.get("status") == "failed":
            errors[str(r.get("error_type", "error"))] = errors.get(str(r.get("error_type", "error")), 0) + 1
    return {
        "overall": _seg_block(recs),
        "by_kind": {k: v for k, v in by_kind.items() if v["n"]},
        "by_category": {c: _seg_block([r for r in recs if str(r.get("category")) == c]) for c in categories},
        "failures": errors,
        "timing": timing(recs, "seconds"),
    }


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return None
    return math.inf if any(math.isinf(v) for v in vals) else sum(vals) / len(vals)


def _edit_block(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    done = [r for r in records if r.get("status") == "done"]
    block: dict[str, Any] = {"n": len(done), "failed": len(records) - len(done)}
    psnr = [number(r.get("psnr_bg")) for r in done]
    identical = sum(1 for p in psnr if p is not None and math.isinf(p))
    for m in EDIT_METRICS:  # PSNR: over the edits that changed the background (an identical one is infinite and
        value = _mean(v for r in done if (v := number(r.get(m))) is None or m != "psnr_bg" or not math.isinf(v))
        if value is not None:  # would hide every other sample's figure); how many were identical is said beside
            block[m] = value
    if identical:
        block["psnr_bg_identical"] = identical
    return block


def edit_summary(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Each figure's mean over the scored samples, overall, per category and per encoding ratio."""
    recs = list(records)
    categories = sorted({str(r["category"]) for r in recs if r.get("category") is not None})
    ratios = sorted({float(r["encode_ratio"]) for r in recs if r.get("encode_ratio") is not None})
    kinds = [k for k in KINDS if any(k in r.get("kinds", ()) for r in recs)]
    out: dict[str, Any] = {"overall": _edit_block(recs)}
    if kinds:
        out["by_kind"] = {k: _edit_block([r for r in recs if k in r.get("kinds", ())]) for k in kinds}
    if categories:
        out["by_category"] = {c: _edit_block([r for r in recs if str(r.get("category")) == c]) for c in categories}
    if ratios:
        out["by_encode_ratio"] = {f"{r:g}": _edit_block([x for x in recs if x.get("encode_ratio") == r]) for r in ratios}
    if edits := timing([r for r in recs if r.get("edit_status") != "failed"], "edit_seconds"):  # (eval score: none)
        out["timing"] = edits
    return out


def _fmt(value: Any, percent: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    v = float(value)
    if math.isinf(v):
        return "∞"
    if percent:
        return f"{100 * v:.2f}"
    return f"{v:.4f}" if v == 0 or abs(v) >= 0.01 else f"{v:.3g}"  # 0.000123, not 0.0001


def segmentation_table(summary: Mapping[str, Any]) -> str:
    """Markdown: one row overall, one per kind, one per category; figures in percent."""
    cols = ["n", "mIoU", "oIoU", *[f"Pr@{t:g}" for t in THRESHOLDS], "box_acc", "failed"]
    lines = ["| subset | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    rows = [("overall", summary["overall"])]
    rows += [(f"kind: {k}", v) for k, v in summary.get("by_kind", {}).items()]
    rows += [(f"category: {k}", v) for k, v in summary.get("by_category", {}).items()]
    for name, block in rows:
        cells = [_fmt(block.get(c), percent=c not in ("n", "failed")) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n(mIoU, oIoU, Pr@X and box accuracy in %)\n" + _timing_line(summary)


def edit_table(summary: Mapping[str, Any]) -> str:
    """Markdown: the figures present, one row overall and one per kind, category and encoding ratio."""
    blocks = [("overall", summary["overall"])]
    for key, label in (("by_kind", "kind"), ("by_category", "category"), ("by_encode_ratio", "r")):
        blocks += [(f"{label}: {k}", v) for k, v in summary.get(key, {}).items()]
    cols = ["n", "failed", *[m for m in EDIT_METRICS if any(m in b for _, b in blocks)]]
    if any("psnr_bg_identical" in b for _, b in blocks):
        cols.insert(cols.index("psnr_bg") + 1 if "psnr_bg" in cols else len(cols), "psnr_bg_identical")
    lines = ["| subset | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, block in blocks:
        lines.append(f"| {name} | " + " | ".join(_fmt(block.get(c, 0 if c == "psnr_bg_identical" else None))
                                               for c in cols) + " |")  # fmt: skip
    note = ("\n(psnr_bg: the mean over the edits whose background changed; psnr_bg_identical: how many left it "
            "bit-identical, PSNR infinite)\n" if "psnr_bg_identical" in cols else "")
    return "\n".join(lines) + "\n" + note + _timing_line(summary)
