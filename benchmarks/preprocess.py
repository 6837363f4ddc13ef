"""Image preprocessing of the segmenters' models: transformers' PIL image processors against refedit's torch
recipes (:mod:`refedit.pipeline.segment.pixels`), at the published checkpoints' input sizes.

For each model (GroundingDINO 800/1333, SAM 1024 + padding, CLIP 224 on three crops, OWLv2 960, SAM 3 1008), and
each photo size: the minimum over ``--rounds`` interleaved rounds of the time from a PIL image to the model's
``pixel_values`` on the device (the processor's, then ``.to(device)``; the recipe's, made there), and the largest
difference between the two in uint8 levels. CPU time of this process on the CPU (one torch thread), wall time
with a device sync on CUDA.

Run: ``python benchmarks/preprocess.py [--device cuda] [--rounds N] [--sizes 512x512 1600x1200]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refedit.pipeline.segment import pixels as px  # noqa: E402
from refedit.pipeline.segment.sam3 import Preprocessing, preprocess  # noqa: E402


def photo(w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 3) ** 2) * 200.0], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8))


def sam3_pil(image: Image.Image, how: Preprocessing) -> torch.Tensor:
    """What refedit did before the torch recipe (PIL resize, numpy normalise): SAM 3's processor needs torchvision."""
    rgb = image.convert("RGB").resize((how.width, how.height), Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.asarray(rgb, dtype=np.float32)).permute(2, 0, 1) * how.rescale
    return ((x - torch.tensor(how.mean).view(3, 1, 1)) / torch.tensor(how.std).view(3, 1, 1))[None]


def cases(device: str) -> list[tuple[str, Callable[[Image.Image], torch.Tensor], Callable[[Image.Image], torch.Tensor], tuple[float, ...]]]:
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import GroundingDinoImageProcessorPil
    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil
    from transformers.models.sam.image_processing_pil_sam import SamImageProcessorPil

    gd, sam, clip, owl = GroundingDinoImageProcessorPil(), SamImageProcessorPil(), CLIPImageProcessorPil(), Owlv2ImageProcessorPil()
    how = Preprocessing()
    dt = torch.float32

    def pil(ip: Any) -> Callable[[Image.Image], torch.Tensor]:
        return lambda im: torch.as_tensor(ip(images=im, return_tensors="pt")["pixel_values"]).to(device)

    def three_crops(im: Image.Image) -> list[Image.Image]:
        w, h = im.size
        return [im.crop((0, 0, w // 3, h // 2)), im.crop((w // 3, h // 4, w // 2, h)), im.crop((w // 2, 0, w, h // 3))]

    return [
        ("GroundingDINO (800/1333)", pil(gd), lambda im: px.detr_inputs(gd, im, device, dt)["pixel_values"], gd.image_std),
        ("SAM (1024, padded)", pil(sam), lambda im: px.sam_inputs(sam, im, device, dt)[0], sam.image_std),
        ("CLIP (3 crops, 224)", lambda im: pil(clip)(three_crops(im)),
         lambda im: px.clip_inputs(clip, [px.uint8_image(c, device) for c in three_crops(im)], dt), clip.image_std),
        ("OWLv2 (960)", pil(owl), lambda im: px.owlv2_inputs(owl, im, device, dt), owl.image_std),
        ("SAM 3 / SAM 2 (1008 square)", lambda im: sam3_pil(im, how).to(device), lambda im: preprocess(im, how, device, dt), how.std),
    ]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sizes", nargs="*", default=["512x512", "1600x1200"])
    opts = ap.parse_args()
    torch.set_num_threads(opts.threads)
    cuda = opts.device.startswith("cuda")

    def clock() -> float:
        if cuda:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()

    what = "wall ms (device synced)" if cuda else f"CPU ms, {opts.threads} thread(s)"
    print(f"| model input | photo | processor {what} | torch recipe {what} | speed-up | max diff (uint8 levels) |")
    print("|---|---|---:|---:|---:|---:|")
    for size in opts.sizes:
        w, h = (int(v) for v in size.split("x"))
        image = photo(w, h)
        for name, ref_fn, mine_fn, std in cases(opts.device):
            ref, mine = ref_fn(image), mine_fn(image)  # warm-up, and the comparison
            diff = float(((ref.float() - mine.float()).abs() * torch.tensor(std, device=ref.device).view(1, -1, 1, 1) * 255).max())
            t_ref, t_mine = [], []
            for _ in range(opts.rounds):
                for fn, times in ((ref_fn, t_ref), (mine_fn, t_mine)):
                    t0 = clock()
                    fn(image)
                    times.append(clock() - t0)
            a, b = min(t_ref) * 1e3, min(t_mine) * 1e3
            print(f"| {name} | {w}x{h} | {a:.1f} | {b:.1f} | {a / b:.1f}x | {diff:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
