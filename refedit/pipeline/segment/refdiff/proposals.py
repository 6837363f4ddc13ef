"""Ref-Diff's proposals (Sec. 3.4, "Proposals Extracting"): the weight-free proposal filter on the attention
map c (Eq. 8) and the "pre-trained segmentor" ones: SAM prompted with a point grid (segment-anything's
automatic mask generator, the paper's SAM-CLIP baseline) and Grounded-SAM's detections, taken from the
stage registry. All proposals are bool masks at the working size (the image inside the SD square)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from refedit.core import masks as mask_ops
from refedit.pipeline.artifacts import EditPlan
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.options import RefDiffOptions
from refedit.pipeline.segment.refdiff.timing import CallLog

#: Eq. 8's thresholds μ ∈ {5 %, 10 %, ..., 95 %}
PAPER_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))


def weight_free_proposals(c: np.ndarray, thresholds: Sequence[float] = PAPER_THRESHOLDS, *, min_area: float = 0.0,
                          max_area: float = 1.0, dedupe_iou: float = 0.98) -> list[np.ndarray]:  # fmt: skip
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


def stability_scores(logits: Any, threshold: float = 0.0, offset: float = 1.0) -> Any:
    """SAM's stability score of each (H, W) mask-logit map in ``logits`` (N, H, W): the IoU of the masks
    thresholded at ``threshold + offset`` and ``threshold - offset`` (segment-anything's automatic mask
    generator keeps masks scoring >= 0.95)."""
    n = len(logits)
    hi = (logits > threshold + offset).reshape(n, -1).sum(1)
    lo = (logits > threshold - offset).reshape(n, -1).sum(1)
    return hi / lo.clip(min=1)  # works on numpy arrays and torch tensors alike


def sam_point_grid(store: ModelStore, options: RefDiffOptions, work: Image.Image, timed: CallLog) -> list[np.ndarray]:
    """SAM prompted with a ``sam_grid``² grid of single foreground points on the working-size image
    (never the full-size input: memory is bounded by ``resolution``), three masks per point, filtered
    by predicted IoU, stability and area, deduplicated (IoU ≥ 0.9), best predicted IoU first."""
    import torch
    import torch.nn.functional as F

    model, processor = store.get("sam", "sam"), store.get("sam", "processor")
    inputs = processor.image_processor(images=work, return_tensors="pt")
    pixels = inputs["pixel_values"].to(store.device, store.dtype)
    with torch.inference_mode():
        emb = timed("sam_embed", (tuple(pixels.shape),), lambda: model.get_image_embeddings(pixels))
    (oh, ow), (rh, rw) = inputs["original_sizes"][0].tolist(), inputs["reshaped_input_sizes"][0].tolist()
    ph, pw = pixels.shape[-2:]
    g = options.sam_grid
    xs, ys = (np.arange(g) + 0.5) / g * ow, (np.arange(g) + 0.5) / g * oh
    pts = np.array([(x * rw / ow, y * rh / oh) for y in ys for x in xs], dtype=np.float32)
    found: list[tuple[float, np.ndarray]] = []
    lo, hi = options.min_area * oh * ow, options.max_area * oh * ow
    chunk = 64  # points per decoder call (SAM's generator uses 64 as well)
    for s in range(0, len(pts), chunk):
        p = torch.from_numpy(pts[s : s + chunk])[None, :, None, :].to(store.device, store.dtype)
        labels = torch.ones(p.shape[:3], dtype=torch.long, device=store.device)
        with torch.inference_mode():
            out = timed("sam_decode", (tuple(p.shape),), lambda p=p, labels=labels: model(
                image_embeddings=emb, input_points=p, input_labels=labels, multimask_output=True))  # fmt: skip
        low = out.pred_masks[0].float()  # (n, 3, lh, lw) logits over the padded input
        n, k, lh, lw = low.shape
        scores = out.iou_scores[0].float().reshape(-1)
        confident = torch.nonzero(scores >= options.sam_iou_thresh).flatten()
        if confident.numel() == 0:  # filter on the predicted IoU before upsampling anything
            continue
        valid = low.reshape(n * k, 1, lh, lw)[confident][..., : math.ceil(lh * rh / ph), : math.ceil(lw * rw / pw)]
        logits = F.interpolate(valid, size=(oh, ow), mode="bilinear", align_corners=False)[:, 0]
        full = logits > 0
        area = full.reshape(len(confident), -1).sum(1)
        keep = (area >= lo) & (area <= hi) & (stability_scores(logits) >= options.sam_stability_thresh)
        for j in torch.nonzero(keep).flatten().tolist():
            found.append((float(scores[confident[j]]), full[j].cpu().numpy()))
    found.sort(key=lambda t: -t[0])
    return dedupe([m for _, m in found], 0.9)[: options.sam_max]


def grounded_segmenter(store: ModelStore) -> Any:
    """The registry's Grounded-SAM segmenter with its default options, sharing ``store``."""
    from refedit.pipeline.stages import StageContext, registry

    return registry.create("segmenter", "grounded-sam", StageContext(store.settings, store))


def grounded_proposals(grounded: Any, image: Image.Image, plan: EditPlan,
                       work_size: tuple[int, int]) -> list[np.ndarray]:  # fmt: skip
    """``grounded``'s (a Grounded-SAM segmenter) detections for the plan (SAM's masks, or the boxes with its
    ``box_mask``) at ``work_size``."""
    cands, _ = grounded.candidates(image, plan)
    if not cands:
        return []
    if grounded.options.box_mask:
        full = [mask_ops.box_mask(c.box, (image.height, image.width)) for c in cands]
    else:
        full = grounded.sam.masks(image, [c.box for c in cands])
    return [np.asarray(Image.fromarray(m).resize(work_size, Image.NEAREST)) for m in full]
