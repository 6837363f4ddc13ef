"""The segmenters' mask clean-up (``refedit.core.masks.clean``: specks removed, small holes filled) and the editors'
paste-back alpha (``refedit.pipeline.edit.composite.blend_alpha``: dilated, feathered) on the mask a random-weight
SAM gives and on an object's mask, at a few photo sizes. Since session 14 SAM's masks are cleaned on its 256x256
logits before upsampling (``pixels.clean_planes``), whatever the photo's size: the first table puts that beside
cleaning the upsampled mask's pixels (what ran before, and what the other mask sources still do).

Time and memory of the models do not depend on their weights; this step's time does. A random-weight SAM's mask
is speckle (its 256x256 logits are noise, upsampled and thresholded: thousands of components over the whole photo),
where a trained SAM's is one object with a few holes and specks. The benchmarks at published sizes
(``fullsize.py``, ``current_segmenters.py``) use random weights, so their clean-up row is this step's worst case;
this script shows how far it is from the usual one.

Run: ``python benchmarks/mask_cleanup.py [--rounds 7]``; prints a Markdown table (CPU time, min of the rounds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refedit.core import masks  # noqa: E402
from refedit.pipeline.edit.composite import blend_alpha  # noqa: E402
from refedit.pipeline.segment.pixels import clean_planes  # noqa: E402

SIZES = ((512, 512), (2048, 1536), (4000, 3000))


def speckle_logits(seed: int = 0) -> torch.Tensor:
    """A random-weight SAM's low-res logits: 256x256 noise, (1, 256, 256)."""
    return torch.randn(1, 256, 256, generator=torch.Generator().manual_seed(seed))


def speckle(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A random-weight SAM's mask: 256x256 noise logits upsampled bilinearly to the photo and thresholded at 0."""
    low = speckle_logits(seed)[None]
    return (F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False) > 0)[0, 0].numpy()


def object_logits(w: int, h: int) -> torch.Tensor:
    """:func:`one_object`'s shape as SAM's 256-cell grid holds it (the photo's longer side over 256 cells):
    positive inside, the holes and specks one or a few cells, (1, h', w')."""
    s = 256 / max(w, h)
    mask = one_object(max(1, round(w * s)), max(1, round(h * s)))
    return torch.from_numpy(np.where(mask, 1.0, -1.0).astype(np.float32))[None]


def one_object(w: int, h: int) -> np.ndarray:
    """An object's mask: an ellipse over a fifth of the photo, with 3 small holes and 5 specks beside it."""
    y, x = np.ogrid[:h, :w]
    cx, cy, rx, ry = 0.45 * w, 0.5 * h, 0.28 * w, 0.35 * h
    m = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1
    r = max(2, int(0.004 * min(w, h)))
    for k in range(3):  # holes
        m[int(cy) - r + 3 * k * r : int(cy) + r + 3 * k * r, int(cx) - r : int(cx) + r] = False
    for k in range(5):  # specks
        sx, sy = int(0.85 * w), int((0.1 + 0.15 * k) * h)
        m[sy : sy + r, sx : sx + r] = True
    return m


def alpha_on_box(mask: np.ndarray, dilate_px: int = 4, feather_px: int = 8) -> np.ndarray:
    """The paste-back alpha as computed before session 12: both distance transforms over the mask's whole box
    (grown by the reach); :func:`blend_alpha` equals it bit for bit (``tests/test_composite.py``)."""
    alpha = np.zeros(mask.shape, dtype=np.float32)
    box = masks.mask_box(mask)
    if box is None:
        return alpha
    m, (h, w) = dilate_px + feather_px + 2, mask.shape
    x0, y0, x1, y1 = max(0, box[0] - m), max(0, box[1] - m), min(w, box[2] + m), min(h, box[3] + m)
    box_mask = mask[y0:y1, x0:x1]
    dilated = ndimage.distance_transform_edt(~box_mask) <= dilate_px  # masks.dilate before session 12
    alpha[y0:y1, x0:x1] = masks.feather(dilated, feather_px)
    return alpha


def cpu_ms(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("### The mask clean-up: a random-weight SAM's speckle against an object's mask (CPU ms, min of "
          f"{args.rounds})\n")  # fmt: skip
    print("| photo | mask | components | clean() of the photo's pixels ms | clean_planes() on SAM's grid ms |\n"
          "|---|---|---:|---:|---:|")  # fmt: skip
    for w, h in SIZES:
        for name, m, low in (("random-weight SAM (speckle)", speckle(w, h), speckle_logits()),
                             ("one object, 3 holes, 5 specks", one_object(w, h), object_logits(w, h))):  # fmt: skip
            n = ndimage.label(m)[1]
            grid = cpu_ms(lambda low=low: clean_planes(low, 0.0), args.rounds)
            print(f"| {w}x{h} | {name} | {n} | {cpu_ms(lambda m=m: masks.clean(m), args.rounds):.1f} | {grid:.1f} |")
    print("\n### blend_alpha (dilate 4, feather 8, the defaults): distance transforms over the mask's box against along "
          f"its outline (CPU ms, min of {args.rounds})\n")  # fmt: skip
    print("| photo | mask | whole box ms | along the outline ms | ratio | same floats |\n|---|---|---:|---:|---:|---|")
    for w, h in SIZES:
        for name, m in (("random-weight SAM (speckle)", speckle(w, h)), ("one object, 3 holes, 5 specks", one_object(w, h))):
            box_ms = cpu_ms(lambda m=m: alpha_on_box(m), args.rounds)
            tiled_ms = cpu_ms(lambda m=m: blend_alpha(m, dilate_px=4, feather_px=8), args.rounds)
            same = np.array_equal(alpha_on_box(m), blend_alpha(m, dilate_px=4, feather_px=8))
            print(f"| {w}x{h} | {name} | {box_ms:.1f} | {tiled_ms:.1f} | {tiled_ms / box_ms:.2f}x | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
