"""Writing the edited photo: PNG's zlib level against time and size, on a photo-like 12 MP image.

An edit on a GPU takes about a second; writing its 12 MP result as PNG at Pillow's default zlib level (6) took
longer. ``refedit.pipeline.imageio.save_image`` writes PNG at :data:`~refedit.pipeline.imageio.PNG_COMPRESS_LEVEL`;
this script shows what each level costs. The image: ``examples/coffee.jpg`` enlarged to the size with sensor-like
noise added (an enlarged photo alone is smoother than a real one, and compresses better).

Run: ``python benchmarks/png_save.py [--size 4000x3000] [--rounds 3]``; prints a Markdown table (wall time, min).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refedit.pipeline.imageio import PNG_COMPRESS_LEVEL  # noqa: E402


def photo(w: int, h: int) -> Image.Image:
    base = np.asarray(Image.open(ROOT / "examples" / "coffee.jpg").convert("RGB").resize((w, h), Image.Resampling.BICUBIC))
    noise = np.random.default_rng(0).normal(0, 2.0, base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    image = photo(w, h)
    print(f"### PNG of a {w}x{h} photo-like image: zlib level against time and size (min of {args.rounds})\n")
    print("| level | seconds | MiB |\n|---:|---:|---:|")
    for level in (1, 4, 6, 9):
        best, size = float("inf"), 0
        for _ in range(args.rounds):
            buf = io.BytesIO()
            t = time.perf_counter()
            image.save(buf, "PNG", compress_level=level)
            best, size = min(best, time.perf_counter() - t), buf.tell()
        mark = " (refedit's)" if level == PNG_COMPRESS_LEVEL else (" (Pillow's default)" if level == 6 else "")
        print(f"| {level}{mark} | {best:.2f} | {size / 2**20:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
