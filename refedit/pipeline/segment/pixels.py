"""Model inputs made with torch on the model's device, as transformers' torchvision image processors make them.

transformers 5 ships two image processors per model: a PIL/numpy one and a torchvision one (the default where
torchvision is installed). refedit cannot use the torchvision ones (torchvision does not load beside a CPU-only
torch build), and the PIL ones resize and normalise on the CPU, in numpy: for GroundingDINO's 800-pixel input that
was more time than the detector itself on a GPU (2.42x its model compute, ``benchmarks/results/gpu-h100.md``),
and OWLv2's scipy anti-aliasing cost more than all tiny models together. These functions do what the torchvision
processors do, with torch alone, on whatever device the model is on: the photo crosses to the device once as
uint8, and the resizing, padding and normalising happen there.

Each ``*_inputs`` function reads the recipe (sizes, resampling filter, mean, std, padding) from the checkpoint's
own loaded image processor, and returns ``None`` for a recipe it does not reproduce, so that the caller falls
back to the processor itself. Agreement with the PIL processors (within one uint8 level of rounding in the
resize) is tested in ``tests/test_pixels.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refedit.core import masks
from refedit.pipeline.imagekeys import image_array, memo
from refedit.pipeline.segment.tokens import text_inputs

#: PIL resampling codes -> torch interpolation modes (the ones refedit's checkpoints use)
MODES = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def uint8_image(image: Image.Image, device: torch.device | str) -> torch.Tensor:
    """(1, 3, H, W) uint8 of an RGB PIL image, on ``device`` (the only host-to-device copy: 3 bytes a pixel); made
    once per image and device inside :func:`~refedit.pipeline.imagekeys.same_images` (the detector, SAM and their
    kin share the photo's copy: 36 MB for 12 MP). Callers do not write into it."""

    def make() -> torch.Tensor:
        array = image_array(image) if image.mode == "RGB" else np.asarray(image.convert("RGB"))
        if not array.flags.writeable or not array.flags.c_contiguous:  # torch wants its own, writable memory
            array = np.array(array)
        return torch.from_numpy(array).to(device).permute(2, 0, 1)[None]

    return memo(image, f"uint8 on {torch.device(device)}", make)


@functools.lru_cache(maxsize=64)
def _per_channel(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """(1, C, 1, 1) float32 ``values`` on ``device``, made once (a copy to a GPU waits for its queue)."""
    return torch.tensor(values, dtype=torch.float32, device=device).view(1, -1, 1, 1)


def resize_uint8(x: torch.Tensor, size: tuple[int, int], mode: str, antialias: bool = True) -> torch.Tensor:
    """``torchvision.transforms.v2.functional.resize`` of a uint8 image batch: PIL's filters (antialiased,
    half-pixel centres), the result rounded and clamped back to uint8 as PIL does."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "nearest":
        return F.interpolate(x, size=size, mode="nearest-exact")
    if x.device.type == "cpu" and mode in ("bilinear", "bicubic"):  # torch's uint8 kernels: PIL's passes and rounding
        try:
            return F.interpolate(x.contiguous(memory_format=torch.channels_last), size=size, mode=mode,
                                 antialias=antialias, align_corners=False).contiguous()  # fmt: skip
        except RuntimeError:
            pass
    y = F.interpolate(x.float(), size=size, mode=mode, antialias=antialias, align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def normalized(x: torch.Tensor, scale: float | None, mean: Sequence[float] | None, std: Sequence[float] | None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:  # fmt: skip
    """``x * scale``, then ``(x - mean) / std`` per channel (either step skipped when ``None``), in ``dtype``."""
    y = x.float()
    if scale is not None:
        y = y * scale
    if mean is not None and std is not None:
        y = (y - _per_channel(tuple(mean), x.device)) / _per_channel(tuple(std), x.device)
    return y.to(dtype)


def aspect_size(height: int, width: int, shortest: int, longest: int | None) -> tuple[int, int]:
    """DETR-style size: the shorter side to ``shortest`` unless the longer would pass ``longest``
    (``transformers.image_transforms.get_size_with_aspect_ratio``, reproduced; a side it would make 0, for a photo
    hundreds of times wider than tall, is 1)."""
    size, raw = shortest, None
    if longest is not None:
        lo, hi = float(min(height, width)), float(max(height, width))
        if hi / lo * size > longest:
            raw = longest * lo / hi
            size = int(round(raw))
    if (height <= width and height == size) or (width <= height and width == size):
        return height, width
    size = max(1, size)
    if width < height:
        return (int(raw * height / width) if raw is not None else int(size * height / width)), size
    return size, max(1, int(raw * width / height) if raw is not None else int(size * width / height))


def longest_side_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """SAM's size: the longer side to ``longest``, each side rounded half up (``_get_preprocess_shape``; at least 1)."""
    scale = longest * 1.0 / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def shortest_side_size(height: int, width: int, shortest: int) -> tuple[int, int]:
    """CLIP's size: the shorter side to ``shortest``, the other scaled and truncated (torchvision's rule)."""
    short, long = (height, width) if height <= width else (width, height)
    new_short, new_long = shortest, int(shortest * long / short)
    return (new_short, new_long) if height <= width else (new_long, new_short)


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The central ``height`` x ``width`` window, offsets rounded down as transformers' ``center_crop`` rounds them
    (torchvision rounds half to even: one row apart for odd margins); zero-padded when the image is smaller."""
    h, w = x.shape[-2:]
    if h < height or w < width:
        ph, pw = max(height - h, 0), max(width - w, 0)
        x = F.pad(x, (pw // 2, (pw + 1) // 2, ph // 2, (ph + 1) // 2))
        h, w = x.shape[-2:]
    top, left = (h - height) // 2, (w - width) // 2
    return x[..., top : top + height, left : left + width]


def pad_to(x: torch.Tensor, height: int, width: int, value: float = 0.0) -> torch.Tensor:
    """Pad bottom and right to ``height`` x ``width``."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, width - w, 0, height - h), value=value) if (h, w) != (height, width) else x


def gaussian_blur(x: torch.Tensor, sigma: tuple[float, float]) -> torch.Tensor:
    """``torchvision``'s ``gaussian_blur`` of a float batch: separable kernels of size ``2 * ceil(3 sigma) + 1``,
    reflect padding; (height, width) sigmas. Each pass is a weighted sum of shifted views (PyTorch's CPU
    convolution for these shapes is 2-10x slower: 1600 x 1600 x 3 at sigma 0.33 took 566 ms, the sums 50 ms)."""
    out = x
    for axis, s in ((-2, sigma[0]), (-1, sigma[1])):
        weights = _gaussian_taps(s)
        k = len(weights)
        r, n = k // 2, out.shape[axis]
        padded = F.pad(out, (0, 0, r, r) if axis == -2 else (r, r, 0, 0), mode="reflect")
        acc = padded.narrow(axis, 0, n) * weights[0]
        for i in range(1, k):
            acc.add_(padded.narrow(axis, i, n), alpha=weights[i])
        out = acc
    return out


def _gaussian_taps(sigma: float) -> list[float]:
    """The normalised 1-D kernel of :func:`gaussian_blur`: ``2 * ceil(3 sigma) + 1`` taps."""
    k = 2 * math.ceil(3 * sigma) + 1
    half = (k - 1) * 0.5
    t = torch.linspace(-half, half, steps=k, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / sigma).pow(2))
    return (g / g.sum()).tolist()


def _bilinear_lines(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two source lines and the weight of the second for each output line of a bilinear resize from
    ``n_in`` to ``n_out`` (``align_corners=False``, no antialiasing: PyTorch's ``upsample_bilinear2d``)."""
    src = ((torch.arange(n_out, dtype=torch.float32) + 0.5) * (n_in / n_out) - 0.5).clamp_(min=0.0)
    i0 = src.floor().long().clamp_(max=n_in - 1)
    i1 = (i0 + 1).clamp_(max=n_in - 1)
    return i0, i1, src - i0


#: a dense matrix product per axis beats gathering ``k + 1`` source lines per output line while the source side is
#: below this many times ``k + 1`` (CPU, one thread: a GEMM multiply-add costs ~1/40 of a gathered element)
DENSE_BELOW = 32


@functools.lru_cache(maxsize=32)
def _axis_map(s: float, n_out: int, n: int, m: int, device: torch.device,
              dtype: torch.dtype) -> tuple[bool, torch.Tensor | None, torch.Tensor]:  # fmt: skip
    """One axis of :func:`blur_resize` (blur ``s``, ``n`` lines to ``n_out``, of which the first ``m`` exist), on
    ``device`` in ``dtype``, made once per photo size (building it cost as much as applying it to a 600x400 photo):
    ``(True, None, matrix (n_out, m))`` for a dense product, or ``(False, lines (n_out, k + 1), weights (n_out, k + 1,
    1))`` for a weighted sum of gathered lines."""
    i0, i1, frac = _bilinear_lines(n, n_out)
    taps = torch.tensor(_gaussian_taps(s) if s > 0 else [1.0], dtype=torch.float32)
    k, r = len(taps), len(taps) // 2
    if r >= n:
        raise ValueError(f"blur radius {r} >= image side {n}: reflect padding undefined")
    weights = torch.zeros(n_out, k + 1)  # over source lines i0 - r ... i0 + r + 1
    weights[:, :k] += (1 - frac)[:, None] * taps
    step = (i1 - i0)[:, None]  # 1, or 0 where the second line is clamped onto the first
    weights.scatter_add_(1, torch.arange(k)[None] + step, frac[:, None] * taps.expand(n_out, k))
    lines = i0[:, None] + torch.arange(-r, r + 2)[None]
    lines = torch.where(lines < 0, -lines, lines)
    lines = torch.where(lines > n - 1, 2 * (n - 1) - lines, lines).clamp_(0, n - 1)
    if n < DENSE_BELOW * (k + 1):  # the axis' whole linear map, (n_out, n), on the lines there are
        matrix = torch.zeros(n_out, n).scatter_add_(1, lines, weights)[:, :m]
        return True, None, matrix.to(device=device, dtype=dtype)
    weights = weights.masked_fill_(lines >= m, 0.0)
    return False, lines.clamp_(max=m - 1).to(device), weights.to(device=device, dtype=dtype)[:, :, None]


def blur_resize(x: torch.Tensor, sigma: tuple[float, float], size: tuple[int, int],
                extent: tuple[int, int] | None = None) -> torch.Tensor:  # fmt: skip
    """``F.interpolate(gaussian_blur(x, sigma), size, mode="bilinear")`` (no antialiasing) computed only where
    the resize reads: both steps are separable and linear, so each output line is one weighted sum of ``k + 1``
    source lines (the blur's ``k`` taps around the two lines the bilinear step blends). Same values within float
    rounding, at a fraction of the cost of blurring the whole photo (``benchmarks/preprocess.py``).

    ``extent``: the (height, width) of the image ``x`` stands for, zero-padded at the bottom and right (OWLv2's
    square): the padding is never made, its lines weigh nothing (a landscape photo's square is a quarter zeros)."""
    extent = extent or (x.shape[-2], x.shape[-1])
    for s, n_out, n in ((sigma[0], size[0], extent[0]), (sigma[1], size[1], extent[1])):  # rows, then columns
        dense, lines, weights = _axis_map(float(s), n_out, n, x.shape[-2], x.device, x.dtype)
        if dense:
            x = torch.matmul(weights, x)
        else:
            assert lines is not None
            acc = x.index_select(-2, lines[:, 0]).mul_(weights[:, 0])
            for t in range(1, lines.shape[1]):
                acc.addcmul_(x.index_select(-2, lines[:, t]), weights[:, t])
            x = acc
        x = x.transpose(-2, -1).contiguous()
    return x


#: below this many planes :func:`resize_planes` puts them on the batch axis: PyTorch's CPU bilinear kernel is 2-3x
#: faster so for 1-8 masks, as channels for many (measured crossover ~20 on one thread); rounding may differ by an ulp
FEW_PLANES = 16


def resize_planes(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(k, h, w) float planes (mask logits or probabilities) bilinearly to ``size`` (H, W), ``align_corners=False``."""
    if x.shape[0] < FEW_PLANES:
        return F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]


#: the float planes a mask upsampling holds at once, in bytes: a 12 MP photo's 30 candidate masks were 1.4 GB of
#: float32 at once (on the GPU too), for 360 MB of boolean masks
PLANES_BYTES = 256 << 20


def above(x: torch.Tensor, size: tuple[int, int], threshold: float,
          upsample: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
    """``upsample(x) > threshold`` for (k, h, w) planes that ``upsample`` (default :func:`resize_planes`) brings to
    ``size`` (H, W), a few planes at a time so that at most :data:`PLANES_BYTES` of float planes exist at once;
    (k, H, W) bool."""
    upsample = upsample or (lambda planes: resize_planes(planes, size))
    per = max(1, PLANES_BYTES // (4 * size[0] * size[1]))
    if x.shape[0] <= per:
        return upsample(x) > threshold
    out = torch.empty((x.shape[0], *size), dtype=torch.bool, device=x.device)
    for i in range(0, x.shape[0], per):
        out[i : i + per] = upsample(x[i : i + per]) > threshold
    return out


def clean_planes(x: torch.Tensor, threshold: float, rows: int | None = None, cols: int | None = None,
                 area: float | None = None) -> torch.Tensor:  # fmt: skip
    """(k, h, w) mask planes (logits or probabilities, a mask being ``> threshold``) cleaned on their own grid
    (:func:`~refedit.core.masks.clean` of each plane's first ``rows`` x ``cols`` cells, the photo's where the model's
    frame is padded; ``area``: the photo's area in cells), before any upsampling: the cells it changes are reflected
    about the threshold (v -> 2t - v, a cell at t just above), so that the upsampled masks come out without the
    specks and small holes while the outline elsewhere keeps its interpolated shape. A speck or hole smaller than a
    cell of the model's mask is no decision of the model, so the clean-up costs the model's grid (SAM: 256 x 256 at
    most), not the photo's pixels (an object's mask on a 12 MP photo: ~80 ms of CPU, under 1 ms on the grid;
    ``benchmarks/mask_cleanup.py``). Only bool grids cross between the device and the host; ``x`` is not written."""
    region = x[:, :rows, :cols]
    flips = masks.clean_flips((region > threshold).cpu().numpy(), area=area)
    if not flips.any():
        return x
    t = torch.tensor(threshold, dtype=x.dtype)  # the dtype's next value above t, and a normal number (refedit
    above_t = max(float(torch.nextafter(t, t + 1)), threshold + torch.finfo(x.dtype).tiny)  # flushes denormals)
    mirrored = (2 * threshold - region).masked_fill_(region == threshold, above_t)
    out = x.clone()
    out[:, :rows, :cols] = torch.where(torch.from_numpy(flips).to(x.device), mirrored, region)
    return out


def with_text(processor: Any, pixels: dict[str, torch.Tensor] | None, images: Any, device: torch.device | str,
              dtype: torch.dtype, **text: Any) -> Any:  # fmt: skip
    """A text-and-image model's inputs: the processor's text inputs (``text``: its text keyword arguments) with
    ``pixels`` made by a recipe here; where the recipe is not reproduced (``None``), the processor's own pixels
    of ``images``. On ``device``, the pixels in ``dtype``; the text's tokens made once per text
    (:func:`~refedit.pipeline.segment.tokens.text_inputs`)."""
    if pixels is None:
        inputs = processor(images=images, return_tensors="pt", **text).to(device)
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        return inputs
    return {**text_inputs(processor, device, **text), **pixels}


# --- recipes read from a loaded image processor -----------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """The steps an image processor takes, from its own attributes."""

    size: dict[str, Any]
    mode: str
    scale: float | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    pad: tuple[int, int] | None
    crop: tuple[int, int] | None

    @classmethod
    def of(cls, processor: Any) -> "Recipe | None":
        """The recipe of an image processor (or a processor holding one), or ``None`` where refedit does not
        reproduce a step (another filter, no RGB conversion)."""
        ip = getattr(processor, "image_processor", processor)
        resample = getattr(ip, "resample", 2)
        mode = MODES.get(int(getattr(resample, "value", resample) if resample is not None else 2))
        if mode is None or getattr(ip, "do_convert_rgb", True) is False:
            return None
        size = {k: v for k, v in dict(_as_dict(getattr(ip, "size", None)) if getattr(ip, "do_resize", True) else {}).items()
                if v is not None}  # fmt: skip
        pad = _as_dict(getattr(ip, "pad_size", None)) if getattr(ip, "do_pad", False) else {}
        crop = _as_dict(getattr(ip, "crop_size", None)) if getattr(ip, "do_center_crop", False) else {}
        normalize = getattr(ip, "do_normalize", False)
        return cls(
            size=size,
            mode=mode,
            scale=float(ip.rescale_factor) if getattr(ip, "do_rescale", False) else None,
            mean=_triple(ip.image_mean) if normalize else None,
            std=_triple(ip.image_std) if normalize else None,
            pad=(int(pad["height"]), int(pad["width"])) if pad.get("height") and pad.get("width") else None,
            crop=(int(crop["height"]), int(crop["width"])) if crop.get("height") and crop.get("width") else None,
        )


def _as_dict(size: Any) -> dict[str, Any]:
    if size is None:
        return {}
    if isinstance(size, dict):
        return dict(size)
    return {k: getattr(size, k) for k in ("height", "width", "shortest_edge", "longest_edge") if hasattr(size, k)}


def _triple(v: Any) -> tuple[float, ...]:
    return tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else (float(v),) * 3


def detr_inputs(processor: Any, image: Image.Image, device: torch.device | str,
                dtype: torch.dtype) -> dict[str, torch.Tensor] | None:  # fmt: skip
    """GroundingDINO / MM-Grounding-DINO ``pixel_values`` and ``pixel_mask`` of one image: resized (shorter side
    to ``shortest_edge``, longer at most ``longest_edge``, or to ``height`` x ``width``), rescaled, normalised,
    padded to ``pad_size`` when the processor says so (a batch of one is otherwise its own size)."""
    r = Recipe.of(processor)
    if r is None:
        return None
    x = uint8_image(image, device)
    h, w = x.shape[-2:]
    if "shortest_edge" in r.size:
        new = aspect_size(h, w, int(r.size["shortest_edge"]), r.size.get("longest_edge"))
    elif "height" in r.size and "width" in r.size:
        new = (int(r.size["height"]), int(r.size["width"]))
    elif not r.size:
        new = (h, w)
    else:
        return None
    pixels = normalized(resize_uint8(x, new, r.mode), r.scale, r.mean, r.std, dtype)
    mask = torch.ones((1, *new), dtype=torch.long, device=pixels.device)
    if r.pad is not None and r.pad != new:
        pixels, mask = pad_to(pixels, *r.pad), pad_to(mask, *r.pad)
    return {"pixel_values": pixels, "pixel_mask": mask}


def sam_inputs(processor: Any, image: Image.Image, device: torch.device | str,
               dtype: torch.dtype) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]] | None:  # fmt: skip
    """SAM's ``pixel_values`` (longer side to ``longest_edge``, rescaled, normalised, zero-padded bottom/right to
    ``pad_size``), the original (H, W) and the resized (h, w)."""
    r = Recipe.of(processor)
    if r is None or "longest_edge" not in r.size or r.pad is None:
        return None
    x = uint8_image(image, device)
    h, w = x.shape[-2:]
    new = longest_side_size(h, w, int(r.size["longest_edge"]))
    pixels = pad_to(normalized(resize_uint8(x, new, r.mode), r.scale, r.mean, r.std, dtype), *r.pad)
    return pixels, (int(h), int(w)), new


def fixed_inputs(processor: Any, image: Image.Image, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor | None:
    """``pixel_values`` of a processor that resizes to a fixed ``height`` x ``width`` (aspect not kept), without
    cropping or padding (Florence-2's CLIP processor: 768 x 768 bicubic), rescaled, normalised."""
    r = Recipe.of(processor)
    if r is None or set(r.size) != {"height", "width"} or r.pad is not None:
        return None
    new = (int(r.size["height"]), int(r.size["width"]))
    if r.crop is not None and r.crop != new:
        return None
    return normalized(resize_uint8(uint8_image(image, device), new, r.mode), r.scale, r.mean, r.std, dtype)


def clip_inputs(processor: Any, crops: Sequence[torch.Tensor], dtype: torch.dtype) -> torch.Tensor | None:
    """CLIP's ``pixel_values`` of (1, 3, h, w) uint8 crops: shorter side to ``shortest_edge``, centre crop,
    rescaled, normalised; stacked."""
    r = Recipe.of(processor)
    if r is None or "shortest_edge" not in r.size or r.crop is None:
        return None
    out = []
    for c in crops:
        h, w = c.shape[-2:]
        new = shortest_side_size(int(h), int(w), int(r.size["shortest_edge"]))
        out.append(center_crop(resize_uint8(c, new, r.mode), *r.crop))
    return normalized(torch.cat(out), r.scale, r.mean, r.std, dtype)


def owlv2_inputs(processor: Any, image: Image.Image, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor | None:
    """OWLv2's ``pixel_values``: rescaled to [0, 1], zero-padded bottom/right to a square, Gaussian-smoothed by
    sigma = (factor - 1) / 2 when shrinking (its original anti-aliasing), resized bilinearly to ``height`` x
    ``width`` without further antialiasing, normalised (``Owlv2ImageProcessor``'s order)."""
    r = Recipe.of(processor)
    if r is None or not ("height" in r.size and "width" in r.size) or r.mode != "bilinear":
        return None
    x = normalized(uint8_image(image, device), r.scale, None, None)
    side = max(x.shape[-2:])
    out = (int(r.size["height"]), int(r.size["width"]))
    sigma = tuple(max(0.0, (side / o - 1) / 2) for o in out)
    if all(s > 0 for s in sigma):
        x = blur_resize(x, sigma, out, extent=(side, side))  # type: ignore[arg-type]  # the padding never made
    else:
        x = F.interpolate(pad_to(x, side, side), size=out, mode="bilinear", antialias=False, align_corners=False)
    return normalized(x, None, r.mean, r.std, dtype)
