"""The paste-back alpha: computed along the mask's outline in a large box, the same floats as on the whole image."""

from __future__ import annotations

import numpy as np
import pytest

from refedit.core import masks
from refedit.pipeline.edit import composite


def whole(mask: np.ndarray, dilate_px: int, feather_px: int) -> np.ndarray:
    """The definition: the mask dilated, then feathered, over the whole image."""
    if not mask.any():
        return np.zeros(mask.shape, np.float32)
    return masks.feather(masks.dilate(mask, dilate_px), feather_px)


def ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y, x = np.ogrid[:h, :w]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    big = ellipse(700, 900, 350, 450, 300, 400)
    holed = big.copy()
    holed[300:340, 400:450] = False  # a hole inside the object
    holed[10:14, 880:884] = True  # a speck in a far corner
    edge = ellipse(700, 900, 0, 890, 420, 500)  # over the top and right borders: tiles at the edge of the array
    thin = np.zeros((700, 900), bool)
    thin[350, 30:870] = True  # a one-pixel line: every tile along it is computed
    thin[100:600, 450] = True
    speckle = rng.random((300, 400)) < 0.3  # most tiles crossed: the whole array at once
    return {"big": big, "holed": holed, "edge": edge, "thin": thin, "speckle": speckle,
            "empty": np.zeros((200, 300), bool), "small": ellipse(700, 900, 100, 100, 20, 30)}  # fmt: skip


@pytest.mark.parametrize("name", sorted(cases()))
@pytest.mark.parametrize("dilate_px,feather_px", [(4, 8), (0, 0), (0, 12), (70, 5)])
def test_the_alpha_equals_dilating_and_feathering_the_whole_image(name: str, dilate_px: int, feather_px: int) -> None:
    """Bit for bit, with a reach over one tile (70 + 5 + 2 > 64) and with neither dilation nor feathering."""
    mask = cases()[name]
    got = composite.blend_alpha(mask, dilate_px=dilate_px, feather_px=feather_px)
    assert got.dtype == np.float32
    assert np.array_equal(got, whole(mask, dilate_px, feather_px))


def test_a_large_object_is_computed_along_its_outline_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The distance transforms of a 3200x2400 object (a 12 MP photo's) see a fraction of its box: the tiles its
    outline crosses, grown by the reach."""
    seen = []
    original = masks.dilate

    def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
        seen.append(mask.size)
        return original(mask, pixels)

    monkeypatch.setattr(composite, "dilate", dilate)
    mask = ellipse(3000, 4000, 1500, 2000, 1200, 1600)
    box = masks.mask_box(mask)
    assert box is not None
    composite.blend_alpha(mask, dilate_px=4, feather_px=8)
    assert 0 < sum(seen) < (box[2] - box[0]) * (box[3] - box[1]) / 3


def test_the_metrics_check_the_whole_photo() -> None:
    """PSNR outside the alpha (inf: the paste-back left it alone) and outside the mask; a pixel changed outside the
    crop, which paste_back never does, is seen."""
    from PIL import Image

    from refedit.core.geometry import CropPlan
    from refedit.core.quality import psnr
    from refedit.pipeline.imagekeys import same_images

    rng = np.random.default_rng(3)
    source = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    mask = ellipse(300, 400, 150, 220, 40, 60)
    alpha = composite.blend_alpha(mask, dilate_px=4, feather_px=8)
    crop = CropPlan((120, 60, 330, 250))
    edited = Image.fromarray(rng.integers(0, 255, (190, 210, 3), dtype=np.uint8))
    with same_images():
        out = composite.paste_back(source, edited, crop, alpha)
        src = np.asarray(source)
        got = composite.outside_metrics(src, out, alpha, mask)
    assert got == {"outside_psnr": psnr(src, out, where=alpha == 0), "outside_mask_psnr": psnr(src, out, where=~mask)}
    assert got["outside_psnr"] == float("inf") and 0 < got["outside_mask_psnr"] < float("inf")
    out[5, 5] ^= 1  # far outside the crop
    assert composite.outside_metrics(src, out, alpha, mask)["outside_psnr"] < float("inf")
