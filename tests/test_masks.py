"""Mask post-processing (pure numpy/scipy)."""

import numpy as np

from refedit.core import masks


def _blob(shape=(120, 160), seed=3):
    rng = np.random.default_rng(seed)
    m = np.zeros(shape, bool)
    m[20:90, 30:120] = True
    m[40:50, 60:70] = False  # a small hole
    m[5, 5] = m[110, 150] = True  # specks
    m |= rng.random(shape) > 0.999
    return m


def test_clean_fills_small_holes_and_removes_specks():
    m = _blob()
    out = masks.clean(m, rel_area=0.01)
    assert out[45, 65] and not out[5, 5] and not out[110, 150] and out[20:90, 30:120].all()


def test_clean_on_bbox_equals_whole_image():
    m = _blob()
    limit = max(1, int(0.002 * m.size))
    whole = masks.fill_holes(masks.remove_specks(m, limit), max_area=limit)
    assert np.array_equal(masks.clean(m), whole)
    assert not masks.clean(np.zeros((5, 5), bool)).any()


def test_dilate_feather_box():
    m = np.zeros((21, 21), bool)
    m[10, 10] = True
    assert masks.dilate(m, 3).sum() == 29  # disk of radius 3
    a = masks.feather(m, 4)
    assert a[10, 10] == 1.0 and 0 < a[10, 13] < 1 and a[10, 15] == 0.0
    assert masks.box_mask((2, 3, 6, 8), (10, 10)).sum() == 4 * 5
    assert masks.mask_box(m) == (10, 10, 11, 11) and masks.mask_box(np.zeros((3, 3), bool)) is None


def _reference_fill_holes(mask: np.ndarray, max_area: int | None) -> np.ndarray:
    from scipy import ndimage

    labels, n = ndimage.label(~mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    border = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).tolist())
    holes = [k for k in range(1, n + 1) if k not in border and (max_area is None or sizes[k] <= max_area)]
    return mask | np.isin(labels, holes)


def _reference_remove_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    keep = [k + 1 for k, s in enumerate(sizes) if s >= min_area or s == sizes.max()]
    return np.isin(labels, keep) if n > 1 else mask.copy()


def test_hole_filling_and_speck_removal_agree_with_a_plain_reference_for_few_and_many_components():
    """Both branches (a comparison per label for a few labels, a lookup table for many) against the definitions."""
    rng = np.random.default_rng(11)
    for density in (0.999, 0.99, 0.9, 0.6, 0.45):  # from a few specks to hundreds of components
        for seed in range(3):
            m = _blob(seed=seed)
            m ^= rng.random(m.shape) > density
            for limit in (1, 4, 30, 10_000):
                assert np.array_equal(masks.remove_specks(m, limit), _reference_remove_specks(m, limit))
                assert np.array_equal(masks.fill_holes(m, limit), _reference_fill_holes(m, limit))
            assert np.array_equal(masks.fill_holes(m), _reference_fill_holes(m, None))


def test_clean_equals_the_definitions_on_the_whole_image_when_specks_lie_far_from_the_object():
    """clean() looks for holes in the box of what is left after the specks went: the same result as the
    definitions applied to the whole image, for objects in the middle and touching the image's edges, holes above
    and below the limit, rings, and specks far away or beside the object."""
    rng = np.random.default_rng(5)
    for seed in range(40):
        h, w = rng.integers(40, 140, size=2)
        m = np.zeros((h, w), bool)
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
        y1, x1 = rng.integers(y0 + 8, h + 1), rng.integers(x0 + 8, w + 1)
        m[y0:y1, x0:x1] = True
        for _ in range(rng.integers(0, 4)):  # holes, some big enough to stay
            hy, hx = rng.integers(y0, y1), rng.integers(x0, x1)
            s = rng.integers(1, 7)
            m[hy : hy + s, hx : hx + s] = False
        m |= rng.random((h, w)) > rng.choice([0.999, 0.995, 0.98])  # specks anywhere
        if seed % 4 == 0:  # a ring whose inside touches nothing
            m[2:12, 2:12] = True
            m[4:10, 4:10] = False
        for rel_area in (0.0005, 0.002, 0.02):
            limit = max(1, int(rel_area * m.size))
            want = _reference_fill_holes(_reference_remove_specks(m, limit), limit)
            assert np.array_equal(masks.clean(m, rel_area=rel_area), want), (seed, rel_area)


def test_dilate_within_reach_equals_the_whole_image() -> None:
    """Dilation computed on the mask's box and along its outline gives the whole image's distance transform,
    for a large object (tiles inside it, outside it and across its outline), one touching the borders, a thin line
    and speckle, with a reach under and over one tile."""
    from scipy import ndimage

    y, x = np.ogrid[:900, :1100]
    big = ((y - 450) / 380) ** 2 + ((x - 500) / 420) ** 2 <= 1
    corner = ((y - 0) / 500) ** 2 + ((x - 1100) / 600) ** 2 <= 1
    line = np.zeros((900, 1100), bool)
    line[450, 20:1000] = True
    speckle = np.random.default_rng(0).random((500, 600)) < 0.2
    for m in (big, corner, line, speckle, big ^ line):
        for pixels in (1, 5, 90):
            want = ndimage.distance_transform_edt(~m) <= pixels
            assert np.array_equal(masks.dilate(m, pixels), want), pixels


def test_along_outline_calls_the_operator_on_the_outline_tiles_only() -> None:
    y, x = np.ogrid[:1280, :1280]
    disk = ((y - 640) ** 2 + (x - 640) ** 2) <= 500**2
    sizes = []

    def op(m: np.ndarray) -> np.ndarray:
        sizes.append(m.size)
        return m.astype(np.float32)  # local with reach 0: the mask itself

    out = masks.along_outline(disk, op, reach=3)
    assert np.array_equal(out, disk.astype(np.float32))
    assert all(s <= (masks.TILE + 6) ** 2 for s in sizes)  # tiles grown by the reach, never the whole array
    assert sum(sizes) < disk.size / 2
