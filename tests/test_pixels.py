"""Model inputs made with torch (refedit.pipeline.segment.pixels) against transformers' own PIL image processors,
with the published checkpoints' recipes (GroundingDINO 800/1333, SAM 1024 + padding, CLIP 224 + centre crop,
OWLv2 960 with its Gaussian anti-aliasing) and the tiny test models'."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.grounding_dino.image_processing_pil_grounding_dino import GroundingDinoImageProcessorPil
from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil
from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

from refedit.pipeline.segment import pixels as px


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """Smooth shapes plus noise: both the gentle gradients of a photo and the worst case for rounding."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 3) ** 2) * 200.0], -1)
    noisy = base + rng.normal(0, 25, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def levels(ref: torch.Tensor, mine: torch.Tensor, std: list[float]) -> torch.Tensor:
    """|difference| in uint8 levels of the input (undoing the normalisation's division by std)."""
    assert ref.shape == mine.shape, (ref.shape, mine.shape)
    return (ref.float() - mine.float()).abs() * torch.tensor(std).view(1, -1, 1, 1) * 255


IMAGES = [photo(600, 400), photo(301, 457, seed=1), photo(97, 61, seed=2)]


@pytest.mark.parametrize("image", IMAGES, ids=lambda im: f"{im.width}x{im.height}")
def test_groundingdino_inputs_match_the_processor(image: Image.Image) -> None:
    for ip in (GroundingDinoImageProcessorPil(), GroundingDinoImageProcessorPil(size={"shortest_edge": 128, "longest_edge": 128})):
        ref = ip(images=image, return_tensors="pt")
        mine = px.detr_inputs(ip, image, "cpu", torch.float32)
        assert mine is not None
        assert levels(ref["pixel_values"], mine["pixel_values"], ip.image_std).max() <= 1.01
        assert torch.equal(ref["pixel_mask"], mine["pixel_mask"])


@pytest.mark.parametrize("image", IMAGES, ids=lambda im: f"{im.width}x{im.height}")
def test_sam_inputs_match_the_processor(image: Image.Image) -> None:
    for ip in (SamImageProcessorPil(), SamImageProcessorPil(size={"longest_edge": 128}, pad_size={"height": 128, "width": 128})):
        ref = ip(images=image, return_tensors="pt")
        made = px.sam_inputs(ip, image, "cpu", torch.float32)
        assert made is not None
        pixels, original, reshaped = made
        assert levels(ref["pixel_values"], pixels, ip.image_std).max() <= 1.01
        assert original == tuple(ref["original_sizes"][0].tolist())
        assert reshaped == tuple(ref["reshaped_input_sizes"][0].tolist())
        h, w = reshaped
        assert not pixels[..., h:, :].any() and not pixels[..., :, w:].any()  # zero padding after normalising


def test_clip_inputs_match_the_processor_for_crops_of_any_shape() -> None:
    ip = CLIPImageProcessorPil()
    crops = [photo(w, h, seed=w) for w, h in ((300, 200), (40, 90), (224, 224), (13, 500))]
    ref = ip(images=crops, return_tensors="pt")["pixel_values"]
    mine = px.clip_inputs(ip, [px.uint8_image(c, "cpu") for c in crops], torch.float32)
    assert mine is not None and mine.shape == (4, 3, 224, 224)
    assert levels(ref, mine, ip.image_std).max() <= 1.01


def test_owlv2_inputs_follow_its_torchvision_processor() -> None:
    """OWLv2's two processors themselves differ along edges (scipy's mirror-mode zoom against torch's resize of
    the reflect-blurred image): all but a few values agree within a level with the PIL/scipy one."""
    ip = Owlv2ImageProcessorPil()
    for image in IMAGES[:2]:
        ref = ip(images=image, return_tensors="pt")["pixel_values"]
        mine = px.owlv2_inputs(ip, image, "cpu", torch.float32)
        assert mine is not None
        d = levels(ref, mine, ip.image_std)
        assert (d > 1.01).float().mean() < 0.005
        assert d.mean() < 0.05


@pytest.mark.parametrize("shape,sigma,size", [((1, 3, 600, 600), (4.2, 4.2), (64, 64)), ((2, 3, 97, 131), (1.3, 0.4), (31, 50)),
                                              ((1, 1, 40, 40), (0.0, 2.0), (40, 13)), ((1, 3, 50, 60), (0.5, 0.5), (49, 61)),
                                              ((1, 3, 400, 300), (0.4, 0.6), (150, 120))])  # fmt: skip
def test_blur_resize_equals_blurring_then_resizing(shape: tuple[int, ...], sigma: tuple[float, float],
                                                   size: tuple[int, int]) -> None:  # fmt: skip
    """Blurring only the lines a bilinear resize reads gives the blur-then-resize result (float rounding apart),
    shrinking or not, with either sigma zero (no blur on that axis), by a dense matrix or by gathered lines (the
    last case: sides of at least ``DENSE_BELOW * (k + 1)``)."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))
    blurred = px.gaussian_blur(x, (sigma[0] or 1e-6, sigma[1] or 1e-6))  # a 1e-6 sigma: the identity kernel
    want = F.interpolate(blurred, size=size, mode="bilinear", antialias=False, align_corners=False)
    got = px.blur_resize(x, sigma, size)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape,extent,sigma,size", [((1, 3, 400, 600), (600, 600), (4.2, 4.2), (64, 64)),
                                                     ((1, 3, 300, 200), (300, 300), (0.6, 0.6), (140, 140)),
                                                     ((1, 3, 240, 400), (400, 400), (0.1, 0.1), (399, 399))])  # fmt: skip
def test_blur_resize_of_a_padded_image_never_makes_the_padding(shape: tuple[int, ...], extent: tuple[int, int],
                                                               sigma: tuple[float, float], size: tuple[int, int]) -> None:  # fmt: skip
    """OWLv2's square: the photo with ``extent`` stated gives what the zero-padded photo gives (dense matrix,
    gathered lines, and the padding reached by the blur's reflection at the far edge)."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))
    want = px.blur_resize(px.pad_to(x, *extent), sigma, size)
    got = px.blur_resize(x, sigma, size, extent=extent)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5, rtol=0)


def test_gaussian_blur_is_a_separable_reflect_padded_convolution() -> None:
    """Against a direct 2-D convolution in numpy with the same kernel and reflect padding."""
    rng = np.random.default_rng(3)
    x = rng.random((1, 3, 23, 31)).astype(np.float32)
    sy, sx = 1.3, 0.7
    got = px.gaussian_blur(torch.from_numpy(x), (sy, sx)).numpy()

    def kernel(s: float) -> np.ndarray:
        k = 2 * int(np.ceil(3 * s)) + 1
        t = np.linspace(-(k - 1) / 2, (k - 1) / 2, k)
        g = np.exp(-0.5 * (t / s) ** 2)
        return g / g.sum()

    ky, kx = kernel(sy), kernel(sx)
    k2 = np.outer(ky, kx)
    padded = np.pad(x, ((0, 0), (0, 0), (len(ky) // 2,) * 2, (len(kx) // 2,) * 2), mode="reflect")
    want = np.zeros_like(x)
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            want[0, :, i, j] = (padded[0, :, i : i + len(ky), j : j + len(kx)] * k2).sum(axis=(1, 2))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_sizes_follow_the_processors_rules() -> None:
    assert px.aspect_size(400, 600, 800, 1333) == (800, 1200)
    assert px.aspect_size(400, 1200, 800, 1333) == (444, 1333)  # the longer side caps the scale
    assert px.longest_side_size(400, 600, 1024) == (683, 1024)
    assert px.shortest_side_size(90, 40, 224) == (504, 224)


def test_an_unreproduced_recipe_falls_back_to_the_processor() -> None:
    """A filter refedit does not reproduce (LANCZOS) gives None: the caller then uses the processor itself."""
    ip = GroundingDinoImageProcessorPil(resample=1)
    assert px.Recipe.of(ip) is None
    assert px.detr_inputs(ip, IMAGES[2], "cpu", torch.float32) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run by benchmarks/gpu.sh)")
def test_the_recipes_on_cuda_agree_with_the_cpu():
    """On CUDA the resize runs in float (as torchvision's does there) and rounds once; on the CPU torch's uint8
    kernels round between the two passes, as PIL does: bilinear agrees within a level; bicubic's overshoot,
    clamped between the passes on the CPU and not on CUDA, moves a few values of this noisy picture by up to 7
    levels, on average well under one."""
    image = IMAGES[0]
    gd, sam, clip, owl = (GroundingDinoImageProcessorPil(), SamImageProcessorPil(), CLIPImageProcessorPil(),
                          Owlv2ImageProcessorPil())  # fmt: skip
    pairs = [
        (px.detr_inputs(gd, image, "cuda", torch.float32)["pixel_values"], px.detr_inputs(gd, image, "cpu", torch.float32)["pixel_values"], gd.image_std, 1.01),
        (px.sam_inputs(sam, image, "cuda", torch.float32)[0], px.sam_inputs(sam, image, "cpu", torch.float32)[0], sam.image_std, 1.01),
        (px.clip_inputs(clip, [px.uint8_image(image, "cuda")], torch.float32), px.clip_inputs(clip, [px.uint8_image(image, "cpu")], torch.float32), clip.image_std, 10.0),
        (px.owlv2_inputs(owl, image, "cuda", torch.float32), px.owlv2_inputs(owl, image, "cpu", torch.float32), owl.image_std, 0.01),
    ]  # fmt: skip
    for on_gpu, on_cpu, std, most in pairs:
        assert on_gpu.is_cuda
        d = levels(on_cpu, on_gpu.cpu(), std)
        assert d.max() <= most and d.mean() < 0.5


def test_sizes_keep_a_pixel_per_side_for_extreme_aspect_ratios() -> None:
    """The processors' size rules would give a 0-pixel side for a 1x300 strip; refedit's keep 1 (and agree with
    them wherever theirs is positive)."""
    from refedit.pipeline.segment.pixels import aspect_size, longest_side_size

    assert aspect_size(300, 1, 800, 1333) == (1333, 4) and aspect_size(2, 3000, 800, 1333) == (1, 1333)
    assert longest_side_size(300, 1, 1024) == (1024, 3) and longest_side_size(2, 3000, 1024) == (1, 1024)
    assert aspect_size(480, 640, 800, 1333) == (800, 1066) and longest_side_size(480, 640, 1024) == (768, 1024)
