"""Peak memory of upsampling SAM's candidate masks to a large photo: all at once against a few at a time.

Every candidate's low-res logits are brought to the photo's size as float planes and thresholded
(``refedit.pipeline.segment.sam.upscale_masks``; SAM 2's and SAM 3's masks likewise). At 4000x3000 a float plane is
48 MB, so a crowd's 30 candidates held 1.4 GB at once (on the GPU, in its memory) for 360 MB of boolean masks;
``pixels.above`` now upsamples at most ``PLANES_BYTES`` of them at a time. Each measurement runs in a fresh
process (peak resident memory is a high-water mark), CPU device, one torch thread.

Run: ``python benchmarks/mask_upsampling.py [--size 4000x3000] [--candidates 3 30]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time, torch
sys.path.insert(0, {root!r})
torch.set_num_threads(1)
from refedit.pipeline.segment import pixels
from refedit.pipeline.segment.sam import upscale_masks
if {whole}:
    pixels.PLANES_BYTES = 1 << 50  # everything at once, as before
low = torch.randn({n}, 256, 256, generator=torch.Generator().manual_seed(0)) * 3
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.process_time()
masks = upscale_masks(low, (1024, 1024), ({rh}, {rw}), ({h}, {w}))
cpu = time.process_time() - t
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({{"mib": grown, "cpu": cpu, "true": int(masks.sum())}}))
"""


def measure(n: int, w: int, h: int, whole: bool) -> dict[str, float]:
    scale = 1024 / max(w, h)
    code = CHILD.format(root=str(ROOT), whole=whole, n=n, rh=int(h * scale + 0.5), rw=int(w * scale + 0.5), h=h, w=w)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--candidates", type=int, nargs="*", default=[3, 30])
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"### SAM's candidate masks upsampled to a {w}x{h} photo (CPU, one thread; peak RSS growth in a fresh process)\n")
    print("| candidates | all at once MiB | a few at a time MiB | all at once CPU s | a few at a time CPU s | mask pixels set (all at once / a few at a time) |")
    print("|---:|---:|---:|---:|---:|---|")
    for n in args.candidates:
        a, b = measure(n, w, h, True), measure(n, w, h, False)
        print(f"| {n} | {a['mib']:.0f} | {b['mib']:.0f} | {a['cpu']:.2f} | {b['cpu']:.2f} | "
              f"{a['true']} / {b['true']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
