"""Ref-Diff segmenter speed and memory on the tiny models (SD + SAM + CLIP, random weights, offline).

(a) ``RefDiffSegmenter.segment`` wall time against the pure compute of the model calls it makes -- the same
VAE encode, UNet call(s), CLIP text/image calls and SAM embedding/decoder calls (the segmenter logs each
call's input shapes), each replayed alone on ready-made inputs of those shapes. Goal: wall <= 1.15 x compute.
(b) Peak memory of SAM proposal generation for a 4000x3000 input: proposals run on the working-size copy
(long side = --resolution), so the growth over the full-size image itself stays small. Reported as the
tracemalloc peak (numpy/PIL allocations) and the growth of the process' max RSS.

Medians over --rounds after one warm-up. Always exits 0: it is a report.
Run: python benchmarks/refdiff.py [--resolution 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--proposals", default="both")
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    from refedit.config import Settings
    from refedit.pipeline.artifacts import EditPlan, Hints, Target
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.refdiff import RefDiffOptions, RefDiffSegmenter
    from refedit.testing.tiny_models import (
        build_tiny_clip,
        build_tiny_sam,
        build_tiny_sd,
    )

    tmp = Path(tempfile.mkdtemp(prefix="refdiff-bench-"))
    env = {"REFEDIT_SD_MODEL": str(build_tiny_sd(tmp / "sd")), "REFEDIT_SAM_MODEL": str(build_tiny_sam(tmp / "sam")),
           "REFEDIT_CLIP_MODEL": str(build_tiny_clip(tmp / "clip"))}  # fmt: skip
    store = ModelStore(Settings.resolve(environ=env, config_file=Path(os.devnull)))
    seg = RefDiffSegmenter(
        store, RefDiffOptions(resolution=args.resolution, proposals=args.proposals)
    )
    expr = "the black horse on the left"
    plan = EditPlan(f"replace {expr} with a tiger", "replace", Target(expr, "horse", spatial="left"), "tiger",
                    "horse", f"a photo of {expr}", "a photo of a tiger", "rules")  # fmt: skip
    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((480, 640, 3)) * 255).astype(np.uint8))

    seg.segment(image=image, plan=plan, hints=Hints())  # warm-up (loads every model)

    def replay(log: list) -> float:
        """The logged model calls, each alone on fresh inputs of the logged shapes."""
        total = 0.0
        sd = seg.sd
        clip, proc = seg._clip()
        sam = store.get("sam", "sam")
        dev, dt = store.device, store.dtype
        for kind, _, shapes in log:
            if kind == "vae":
                w, h = shapes[0]
                x = torch.rand(1, 3, h, w, device=dev, dtype=dt) * 2 - 1
                fn = lambda x=x: sd.vae.encode(x).latent_dist.mean
            elif kind == "unet":
                (b, c, h, w), t = shapes
                x = torch.randn(b, c, h, w, device=dev, dtype=dt)
                text = torch.randn(
                    b, 77, sd.unet.config.cross_attention_dim, device=dev, dtype=dt
                )
                fn = lambda x=x, t=t, text=text: sd.eps(x, t, text)
            elif kind == "sd_text":
                prompts = [expr] * shapes[0]
                fn = lambda prompts=prompts: sd.encode_text(prompts)
            elif kind == "clip_text":
                ids = proc.tokenizer(
                    [expr, "horse"], padding=True, return_tensors="pt"
                ).to(dev)
                fn = lambda ids=ids: clip.get_text_features(**ids)
            elif kind == "clip_image":
                (b, _, h, w), n = shapes
                x = torch.randn(b, 3, h, w, device=dev, dtype=dt)
                p = (h // clip.config.vision_config.patch_size) * (
                    w // clip.config.vision_config.patch_size
                )
                m = torch.ones(b, n, p, dtype=torch.bool)
                fn = lambda x=x, m=m: seg.mask_tokens(x, m)
            elif kind == "sam_embed":
                x = torch.randn(*shapes[0], device=dev, dtype=dt)
                fn = lambda x=x: sam.get_image_embeddings(x)
            elif kind == "sam_decode":
                emb = sam.get_image_embeddings(
                    torch.randn(
                        1,
                        3,
                        128 if sam.config.vision_config.image_size == 128 else 1024,
                        sam.config.vision_config.image_size,
                        device=dev,
                        dtype=dt,
                    )
                )
                pts = torch.rand(*shapes[0], device=dev, dtype=dt) * 100
                lab = torch.ones(pts.shape[:3], dtype=torch.long, device=dev)
                fn = lambda emb=emb, pts=pts, lab=lab: sam(
                    image_embeddings=emb,
                    input_points=pts,
                    input_labels=lab,
                    multimask_output=True,
                )
            else:
                continue
            with torch.no_grad():
                t0 = time.perf_counter()
                fn()
                total += time.perf_counter() - t0
        return total

    walls, computes, inside = [], [], []
    for _ in range(args.rounds):
        seg.call_log.clear()
        t0 = time.perf_counter()
        seg.segment(image=image, plan=plan, hints=Hints())
        walls.append(time.perf_counter() - t0)
        log = list(seg.call_log)
        inside.append(sum(d for _, d, _ in log))
        computes.append(replay(log))
    wall, comp, ins = (
        statistics.median(walls),
        statistics.median(computes),
        statistics.median(inside),
    )
    counts: dict[str, int] = {}
    for kind, _, _ in log:
        counts[kind] = counts.get(kind, 0) + 1
    print(f"Ref-Diff segment, 640x480 input, resolution {args.resolution}, proposals={args.proposals}, "
          f"{args.rounds} rounds, device {store.device}")  # fmt: skip
    print(f"  model calls per segment: {counts}")
    print(f"  wall {wall * 1000:.1f} ms | model calls replayed alone {comp * 1000:.1f} ms "
          f"| same calls timed inside segment {ins * 1000:.1f} ms")  # fmt: skip
    print(
        f"  wall / compute = {wall / comp:.2f}x (goal <= 1.15x)   wall / in-segment calls = {wall / ins:.2f}x"
    )

    # (b) SAM proposals for a 4000x3000 input
    big = Image.fromarray(np.full((3000, 4000, 3), 127, dtype=np.uint8))
    big.paste(
        Image.fromarray((rng.random((1000, 1400, 3)) * 255).astype(np.uint8)),
        (600, 900),
    )
    rss0 = _rss_mb()
    tracemalloc.start()
    t0 = time.perf_counter()
    _, sq = seg._sd_input(big)
    work = big.resize(sq.work, Image.BICUBIC)
    props = seg.sam_proposals(work)
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"SAM proposals for a 4000x3000 input (image itself {big.width * big.height * 3 / 2**20:.0f} MiB): "
          f"run on a {work.width}x{work.height} copy, {len(props)} proposals in {dt * 1000:.0f} ms, "
          f"tracemalloc peak {peak / 2**20:.1f} MiB, max-RSS growth {_rss_mb() - rss0:.1f} MiB")  # fmt: skip
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    out = seg.segment(image=big, plan=plan, hints=Hints())
    print(f"Full segment of the 4000x3000 input: {time.perf_counter() - t0:.2f} s, mask {out.mask.shape}, "
          f"{len(out.candidates)} candidates, max-RSS growth {_rss_mb() - rss0:.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
