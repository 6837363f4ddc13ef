"""The mask clean-up on the model's own grid (``pixels.clean_planes``): the same masks as cleaning the upsampled
masks pixel by pixel, at the cost of the model's grid; SAM, SAM 2 and SAM 3 hand out masks cleaned so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from refedit.config import Settings
from refedit.core import masks
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.pixels import above, clean_planes

from .conftest import EXAMPLES


def blob_with_speck_and_hole(seed: int, h: int = 64, w: int = 80) -> np.ndarray:
    """Logits of a round object (positive inside, falling off over a few cells) with one to three one-cell specks
    away from it and one or two one-cell holes inside it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    cy, cx, r = rng.uniform(20, h - 20), rng.uniform(25, w - 25), rng.uniform(8, 16)
    logit = (r - np.hypot(yy - cy, xx - cx)) / 3
    for _ in range(rng.integers(1, 4)):
        y, x = rng.integers(0, h), rng.integers(0, w)
        if np.hypot(y - cy, x - cx) > r + 3:
            logit[y, x] = rng.uniform(0.2, 2.0)
    for _ in range(rng.integers(1, 3)):
        y, x = int(cy) + rng.integers(-3, 4), int(cx) + rng.integers(-3, 4)
        logit[y, x] = -rng.uniform(0.2, 2.0)
    return logit.astype(np.float32)


def upsampled(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", ["logits", "probabilities"])
def test_clean_planes_gives_the_masks_that_cleaning_every_pixel_gives(seed, kind):
    logit = torch.from_numpy(blob_with_speck_and_hole(seed))[None]
    x, t = (logit, 0.0) if kind == "logits" else (logit.sigmoid(), 0.5)
    size = (64 * 8, 80 * 8)
    raw = (upsampled(x, size) > t)[0].numpy()
    want = masks.clean(raw)
    assert not np.array_equal(raw, want)  # there was a speck or a hole to clean
    got = (upsampled(clean_planes(x, t), size) > t)[0].numpy()
    assert np.array_equal(got, want)
    assert ndimage.label(got)[1] == 1 and np.array_equal(ndimage.binary_fill_holes(got), got)


def test_clean_planes_writes_only_the_cells_it_changes_in_a_copy_within_its_region():
    logit = torch.from_numpy(blob_with_speck_and_hole(3))[None]
    before = logit.clone()
    out = clean_planes(logit, 0.0, rows=50, cols=70)
    assert torch.equal(logit, before)  # the input is not written
    changed = out != logit
    assert changed.any() and not changed[:, 50:].any() and not changed[:, :, 70:].any()
    flipped = (out > 0) != (logit > 0)
    assert torch.equal(changed, flipped)  # every changed cell moved to the other side of the threshold
    assert torch.allclose(out[changed], -logit[changed])  # by as much as it was on its side
    cleaned = clean_planes(logit, 0.0)
    assert clean_planes(cleaned, 0.0) is cleaned  # nothing left to change: the same tensor back


def flushing() -> bool:
    """Whether the CPU flushes denormal floats to zero now (no getter: a denormal times one reads 0)."""
    return float(torch.tensor([1e-44]) * 1.0) == 0.0


@pytest.mark.parametrize("flush", [False, True])
@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_a_hole_cell_exactly_at_the_threshold_is_filled(flush, threshold):
    """Also where denormal floats are flushed to zero (a CPU ModelStore does it): the next float32 above 0 is a
    denormal, which would read as 0 and leave the hole."""
    x = torch.full((1, 40, 40), threshold - 1.0)
    x[0, 10:30, 10:30] = threshold + 1.0
    x[0, 20, 20] = threshold  # not above it: a hole
    before = flushing()
    torch.set_flush_denormal(flush)
    try:
        assert flushing() == flush
        out = clean_planes(x, threshold)
        assert out[0, 20, 20] > threshold and (out > threshold).sum() == 400
        assert (upsampled(out, (160, 160)) > threshold)[0, 44:116, 44:116].all()  # no hole left at its centre
    finally:
        torch.set_flush_denormal(before)


def test_sam3_full_masks_are_cleaned():
    from refedit.pipeline.segment.sam3 import full_masks

    probs = torch.from_numpy(np.stack([blob_with_speck_and_hole(s) for s in (1, 2)])).sigmoid()
    got = full_masks(probs, (320, 256), 0.5)
    raw = above(probs, (256, 320), 0.5).numpy()
    for g, r in zip(got, raw, strict=True):
        assert not np.array_equal(r, masks.clean(r)) and np.array_equal(g, masks.clean(r))


def scripted(grid: np.ndarray):
    """A forward hook replacing SAM's (or SAM 2's) low-res masks with ``grid`` for every prompt."""

    def hook(module, args, kwargs, out):
        n = out.pred_masks.shape[1]
        out.pred_masks = torch.from_numpy(grid)[None, None, None].expand(1, n, 1, *grid.shape).to(out.pred_masks)
        return out

    return hook


def test_sam_masks_are_cleaned_on_its_grid(tiny_env):
    """The transformers SAM: the scripted 128 x 128 logits over its padded square frame; the photo (2:1) covers
    the top half of the rows, where the object, a speck and a hole lie."""
    from refedit.pipeline.segment.sam import Sam, upscale_masks

    store = ModelStore(Settings.resolve(environ=tiny_env, config_file=Path("/dev/null")))
    grid = np.full((128, 128), -4.0, dtype=np.float32)
    grid[:64, :] = blob_with_speck_and_hole(5, 64, 128)
    store.get("sam", "sam").register_forward_hook(scripted(grid), with_kwargs=True)
    sam = Sam(store)
    image = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((256, 128))
    got = sam.masks(image, [(10.0, 10.0, 200.0, 100.0)])[0]
    _, original, reshaped, padded = sam._state  # noqa: SLF001 - the geometry SAM's post-processing used
    raw = upscale_masks(torch.from_numpy(grid)[None], padded, reshaped, original)[0].numpy()
    assert not np.array_equal(raw, masks.clean(raw)) and np.array_equal(got, masks.clean(raw))
    assert np.array_equal(sam.mask_from_points(image, [(100.0, 50.0)]), got)


def test_sam2_masks_are_cleaned_on_its_grid(tiny_env, tmp_path):
    from refedit.pipeline.segment.sam2 import Sam2
    from refedit.testing.tiny_segmenters import build_tiny_sam2

    env = {**tiny_env, "REFEDIT_SAM_MODEL": str(build_tiny_sam2(tmp_path / "sam2"))}
    store = ModelStore(Settings.resolve(environ=env, config_file=Path("/dev/null")))
    grid = blob_with_speck_and_hole(7, 96, 96)
    store.get("sam", "sam").register_forward_hook(scripted(grid), with_kwargs=True)
    image = Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((300, 200))
    got = Sam2(store).masks(image, [(10.0, 10.0, 250.0, 180.0)])[0]
    raw = above(torch.from_numpy(grid)[None], (200, 300), 0.0)[0].numpy()
    assert not np.array_equal(raw, masks.clean(raw)) and np.array_equal(got, masks.clean(raw))
