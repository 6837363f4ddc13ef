"""One inversion for many results (issue 14) on the tiny Stable Diffusion: an encoding-ratio sweep against the same
ratios run one at a time, and ``num_outputs`` against the same outputs run one at a time.

Goals: a 5-ratio sweep takes at most 0.6 x the wall time of 5 separate runs (it inverts once, to the largest
ratio, where separate runs invert once per ratio); 4 outputs in one batch take at most 0.5 x 4 separate runs
(one inversion, one batched denoising). "Separate runs" are ``DiffEditEditor.edit`` calls on the same loaded
models with the inversion cache off (what separate ``refedit edit`` invocations cost, minus process start and
model loading, which would only widen the gap); each separate output run is ``variant=k`` with the same η, the
very result the batch gives. UNet calls are counted with a forward hook on the UNet.

Cost model (c1 / c2: one UNet call at batch 1 / 2; n_i = ⌈r_i·T⌉): separate = Σ n_i (c1 + c2); sweep = n_max c1 +
Σ n_i c2. With r = 0.3..0.7 and c2 ≈ 2 c1 (CPU, compute-bound) that is 285/375 = 0.76; with c2 ≈ c1 (a GPU
with room to spare at batch 2) 160/250 = 0.64: the 0.6 goal needs batch-2 calls cheaper than batch-1 ones, so on
a CPU it is not reachable by sharing the inversion alone. On a GPU the ratios' runs also share their denoising
calls (``DiffEditEditor.denoise_sweep``, the default there; the row "shared denoising calls" forces it here): n_max
batched calls evaluating the same latents, n_max (c1 + c_2A) with A runs under way, 2 n_max / 2 Σ n_i = 70/250 =
0.28 where a call's cost is its launch, and no gain on a compute-bound CPU. For outputs, separate = N n (c1 + c2), batched =
n (c1 + c_2N): 0.5 x needs c_8 <= 3 c1, i.e. sub-linear batching (a GPU), not a CPU.

Weights are random (a tiny model built into a temporary directory, offline). Rounds interleave the four
measurements so that machine load hits them alike; the minimum of the rounds is reported, for wall time and for
the process's CPU time. On a shared machine, wall time swings with the other processes' load (a process run
under ``nice`` gets what they leave); with one thread (``--threads 1``, the default) CPU time does not, and on a
quiet machine the two agree. Always exits 0: it is a report.
Run: python benchmarks/sweeps.py [--steps 50] [--resolution 128] [--rounds 5] [--threads 1] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("REFEDIT_CONFIG", os.devnull)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from refedit.config import Settings  # noqa: E402
from refedit.pipeline.artifacts import Segmentation  # noqa: E402
from refedit.pipeline.edit.diffedit import DiffEditEditor, DiffEditOptions  # noqa: E402
from refedit.pipeline.models import ModelStore  # noqa: E402
from refedit.pipeline.sd import StableDiffusion  # noqa: E402
from refedit.testing.tiny_models import build_tiny_sd  # noqa: E402
from modelcalls import plan_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RATIOS = (0.3, 0.4, 0.5, 0.6, 0.7)
OUTPUTS = 4


PLAN = plan_for("replace the cup with a bowl")[0]  # the rules parser's (stored where spaCy is missing)


def cup_mask(w: int, h: int) -> np.ndarray:
    y, x = np.ogrid[:h, :w]
    return ((x - 0.5 * w) / (0.36 * w)) ** 2 + ((y - 0.47 * h) / (0.42 * h)) ** 2 <= 1


def unet_calls(store: ModelStore, fn: Callable[[], None]) -> int:
    """UNet calls ``fn`` makes, counted where the editor asks for a noise prediction (``StableDiffusion.eps``): a
    CUDA-graph replay calls no ``forward``, and a capture calls it three times."""
    calls = [0]
    eps = StableDiffusion.eps

    def counted(self: StableDiffusion, *a: Any, **k: Any) -> torch.Tensor:
        calls[0] += 1
        return eps(self, *a, **k)

    StableDiffusion.eps = counted  # type: ignore[method-assign]
    try:
        fn()
    finally:
        StableDiffusion.eps = eps  # type: ignore[method-assign]
    return calls[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="T (default 50)")
    ap.add_argument("--resolution", type=int, default=128, help="working long side (default 128: 64x48 latents)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: CPU time = work done)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sd", type=Path, default=None, metavar="DIR",
                    help="an SD folder instead of the tiny one, e.g. the full-size SD 1.5 of refedit.testing.fullsize "
                         "(what a GPU's batching is measured on; the tiny UNet is launch-bound there)")  # fmt: skip
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--cuda-graphs", choices=("auto", "on", "off"), default="auto",
                    help="replay the UNet's calls as CUDA graphs (every case alike; a graph per batch size)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tmp = tempfile.TemporaryDirectory(prefix="refedit-bench-")
    path = args.sd or build_tiny_sd(Path(tmp.name) / "sd")
    store = ModelStore(Settings(models={"sd": str(path)}, device=args.device, dtype=args.dtype, cuda_graphs=args.cuda_graphs))
    image = Image.open(ROOT / "examples" / "coffee.jpg").convert("RGB").resize((512, 384))
    seg = Segmentation(cup_mask(*image.size))
    base = {"steps": args.steps, "resolution": args.resolution, "inversion_cache": 0}
    sweep = DiffEditEditor(store, DiffEditOptions(**base, encode_ratios=RATIOS))
    joint = DiffEditEditor(store, DiffEditOptions(**base, encode_ratios=RATIOS), joint_sweep=True)
    singles = [DiffEditEditor(store, DiffEditOptions(**base, encode_ratio=r)) for r in RATIOS]
    batch = DiffEditEditor(store, DiffEditOptions(**base, num_outputs=OUTPUTS))
    alone = [DiffEditEditor(store, DiffEditOptions(**base, variant=k, eta=1.0)) for k in range(1, OUTPUTS + 1)]

    def run(editors: list[DiffEditEditor]) -> Callable[[], None]:
        def go() -> None:
            for e in editors:
                e.edit(image=image, plan=PLAN, segmentation=seg, seed=0)
            if store.device.type == "cuda":
                torch.cuda.synchronize()

        return go

    cases = {"sweep (5 ratios)": run([sweep]), "sweep, shared denoising calls": run([joint]), "5 separate runs": run(singles),
             f"{OUTPUTS} outputs, one batch": run([batch]), f"{OUTPUTS} separate runs": run(alone)}  # fmt: skip
    calls = {name: unet_calls(store, fn) for name, fn in cases.items()}  # also the warm-up
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    best = {name: min(ts) for name, ts in times.items()}
    best_cpu = {name: min(ts) for name, ts in cpu.items()}
    sweep_ratio = best["sweep (5 ratios)"] / best["5 separate runs"]
    joint_ratio = best["sweep, shared denoising calls"] / best["5 separate runs"]
    joint_cpu = best_cpu["sweep, shared denoising calls"] / best_cpu["5 separate runs"]
    out_ratio = best[f"{OUTPUTS} outputs, one batch"] / best[f"{OUTPUTS} separate runs"]
    sweep_cpu = best_cpu["sweep (5 ratios)"] / best_cpu["5 separate runs"]
    out_cpu = best_cpu[f"{OUTPUTS} outputs, one batch"] / best_cpu[f"{OUTPUTS} separate runs"]

    print(f"### benchmarks/sweeps.py: {'SD at ' + str(args.sd) if args.sd else 'tiny SD'}, T={args.steps}, working long side {args.resolution}, {store.device} "
          f"{str(store.dtype).replace('torch.', '')}, {torch.get_num_threads()} threads, CUDA graphs {args.cuda_graphs}, {platform.processor() or platform.machine()}")
    print(f"\nratios {', '.join(map(str, RATIOS))}; min of {args.rounds} interleaved rounds (all rounds in s)\n")
    print("| case | UNet calls | wall s (min) | CPU s (min) | wall s, every round |")
    print("|---|---:|---:|---:|---|")
    for name in cases:
        print(f"| {name} | {calls[name]} | {best[name]:.3f} | {best_cpu[name]:.3f} | "
              f"{', '.join(f'{t:.2f}' for t in times[name])} |")
    for what, wall, cpu_ratio, goal in (("sweep / separate", sweep_ratio, sweep_cpu, 0.6),
                                        ("sweep with shared denoising calls / separate", joint_ratio, joint_cpu, 0.6),
                                        (f"{OUTPUTS} outputs / separate", out_ratio, out_cpu, 0.5)):  # fmt: skip
        print(f"\n{what}: wall {wall:.2f}x, CPU {cpu_ratio:.2f}x (goal <= {goal}x: "
              f"{'met' if min(wall, cpu_ratio) <= goal else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
