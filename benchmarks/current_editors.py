"""The current instruction editors' overhead on tiny models: ``edit()`` of ``qwen-edit`` and ``kontext`` against
a replay of the very model calls it makes.

Goal (issue 13): each editor's ``edit()`` -- crop, instruction rewrite, the diffusers pipeline's own work around
its models, and the full-resolution paste-back included -- within 1.10 x its pure model calls.

How it measures (the harness of benchmarks/segmenter.py and benchmarks/modelcalls.py):
- forward hooks on every model module the editor loaded (the transformer, the text encoder(s), the VAE's encoder,
  quant convs and decoder) record the outermost calls of one ``edit()``. The arguments are snapshotted *before*
  each call (the Qwen VAE passes its causal feature cache as a list the call fills in), so the replay runs the
  same computation. The hooks are then removed: timed runs carry no instrumentation;
- rounds interleave ``edit()`` and the replay of exactly those calls alone, in order, on the same inputs;
- CPU time of this process (``time.process_time``) and wall time, minimum over the rounds, one torch thread.

The plain Qwen edit pipeline encodes the condition image at about one megapixel (diffusers' ``VAE_IMAGE_SIZE``)
whatever the crop size; the inpaint one (the default, mask-aware) works at the crop's working size (``--resolution``:
refedit steers its ``calculate_dimensions``, which asked for ~1 MP whatever height/width said), as Kontext does.

Run: ``python benchmarks/current_editors.py [--rounds N] [--threads N] [--editors qwen-edit,kontext]
[--resolution R] [--steps T] [--plain]``. Exit code 0 when every goal is met, 1 when not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("REFEDIT_CONFIG", os.devnull)
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from modelcalls import Call, Recorder, snapshot  # noqa: E402

GOAL = 1.10
#: the parts of each VAE whose forwards are the VAE's compute (encode/decode are not module forwards)
VAE_PARTS = ("encoder", "quant_conv", "post_quant_conv", "decoder")


def hook_editor(store: Any, recorder: Recorder) -> None:
    for key, obj in list(store._cache.items()):  # noqa: SLF001 - a benchmark may look inside
        if not isinstance(obj, torch.nn.Module):
            continue
        component = key[1]
        if component in ("vae", "qwen_vae"):
            for part in VAE_PARTS:
                if getattr(obj, part, None) is not None:
                    recorder.hook(getattr(obj, part), f"{component}.{part}")
        else:
            recorder.hook(obj, component)


def replay(calls: list[Call]) -> dict[str, float]:
    """The recorded calls alone, in order (list arguments fresh each time); CPU s per model, total and wall."""
    per: OrderedDict[str, float] = OrderedDict()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for call in calls:
            args = tuple(snapshot(a) for a in call.args)
            kwargs = {k: snapshot(v) for k, v in call.kwargs.items()}
            t = time.process_time()
            call.module(*args, **kwargs)
            per[call.name] = per.get(call.name, 0.0) + time.process_time() - t
    per["total"] = time.process_time() - cpu0
    per["wall"] = time.perf_counter() - wall0
    return per


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    fn()
    return time.process_time() - cpu0, time.perf_counter() - wall0


def scene(size: tuple[int, int]) -> tuple[Image.Image, Any]:
    """Two discs; the segmentation picks the left one (the right one is the other candidate)."""
    from refedit.pipeline.artifacts import Candidate, Segmentation

    w, h = size
    img = np.full((h, w, 3), 200, np.uint8)
    yy, xx = np.mgrid[:h, :w]
    left = (xx - 0.22 * w) ** 2 + (yy - 0.5 * h) ** 2 <= (0.14 * w) ** 2
    right = (xx - 0.78 * w) ** 2 + (yy - 0.5 * h) ** 2 <= (0.14 * w) ** 2
    img[left], img[right] = (40, 40, 40), (20, 160, 40)

    def box(m: np.ndarray) -> tuple[float, float, float, float]:
        ys, xs = np.nonzero(m)
        return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))

    seg = Segmentation(mask=left, candidates=(Candidate(box(left), 0.9, "cat", left), Candidate(box(right), 0.8, "cat", right)),
                       chosen=(0,), reason="left-most of 2 'cat' detections")  # fmt: skip
    return Image.fromarray(img), seg


def refedit_own_work(editor: Any, image: Image.Image, plan: Any, seg: Any, rounds: int) -> float:
    """CPU seconds (minimum over ``rounds``) of refedit's own steps alone: the region, context crop, resize and
    rewritten instruction (:func:`prepare`) and the full-resolution paste-back of an edited crop."""
    from refedit.core.geometry import CropPlan
    from refedit.pipeline.edit.composite import paste_back
    from refedit.pipeline.edit.instruction_editors import prepare

    prep = prepare(image, plan, seg, editor.options, multiple=editor.multiple())
    edited = prep.image.rotate(180)  # any crop-sized image: the paste-back's cost does not depend on its pixels

    def own() -> None:
        p = prepare(image, plan, seg, editor.options, multiple=editor.multiple())
        paste_back(image, edited, CropPlan(p.crop), p.alpha)

    return min(timed(own)[0] for _ in range(max(3, rounds)))


def measure(name: str, path: Path, opts: argparse.Namespace) -> dict[str, Any]:
    from refedit.config import Settings
    from refedit.pipeline.chain import build_stage
    from refedit.pipeline.parse.rules import RulesParser

    settings = Settings.resolve(environ={f"REFEDIT_{name.upper().replace('-', '_')}_MODEL": str(path)},
                                config_file=Path(os.devnull), device="cpu")  # fmt: skip
    editor = build_stage("editor", name, settings, steps=opts.steps, resolution=opts.resolution,
                         mask_aware=not opts.plain)  # fmt: skip
    image, seg = scene(opts.size)
    plan = RulesParser().parse(instruction="replace the left cat with a tiger")

    def run() -> object:
        return editor.edit(image=image, plan=plan, segmentation=seg, seed=0)

    result = run()  # loads the models, warms the allocator
    recorder = Recorder(snapshot=True)
    hook_editor(editor.store, recorder)
    run()
    recorder.remove()
    calls = recorder.calls
    ed_cpu, ed_wall, rep_cpu, rep_wall, per_model = [], [], [], [], []
    for _ in range(opts.rounds):
        cpu, wall = timed(run)
        ed_cpu.append(cpu)
        ed_wall.append(wall)
        pure = replay(calls)
        rep_cpu.append(pure.pop("total"))
        rep_wall.append(pure.pop("wall"))
        per_model.append(pure)
    own = refedit_own_work(editor, image, plan, seg, opts.rounds)
    check = Recorder(snapshot=True)
    hook_editor(editor.store, check)
    run()
    check.remove()
    same = [c.name for c in check.calls] == [c.name for c in calls]
    counts: dict[str, int] = {}
    for c in calls:
        counts[c.name] = counts.get(c.name, 0) + 1
    return {"name": name, "pipeline": result.parameters["pipeline"], "working_size": result.parameters["working_size"],
            "crop": result.parameters["crop"], "prompt": result.parameters["prompt"], "counts": counts,
            "per_model": {n: min(p[n] for p in per_model) for n in counts}, "ed_cpu": min(ed_cpu),
            "rep_cpu": min(rep_cpu), "ed_wall": min(ed_wall), "rep_wall": min(rep_wall), "same": same,
            "own_cpu": own}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved edit/replay rounds (minimum kept)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: CPU time = work)")
    ap.add_argument("--editors", default="qwen-edit,kontext")
    ap.add_argument("--resolution", type=int, default=128, help="working side r (about r x r pixels)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--plain", action="store_true", help="the plain edit pipelines, not the mask-aware ones")
    ap.add_argument("--size", default="1024x768", help="input image WxH (default 1024x768; the paste-back runs there)")
    opts = ap.parse_args()
    opts.size = tuple(int(v) for v in opts.size.lower().split("x"))
    torch.set_num_threads(opts.threads)
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    from refedit.testing.tiny_editors import build_editors

    paths = build_editors(Path(tempfile.mkdtemp(prefix="refedit-bench-editors-")))
    print(f"tiny random-weight editors, torch {torch.__version__}, diffusers {diffusers.__version__}, "
          f"{torch.get_num_threads()} thread(s), CPU; input {opts.size[0]}x{opts.size[1]}, steps {opts.steps}, resolution {opts.resolution}, "
          f"{opts.rounds} interleaved rounds, minimum kept")  # fmt: skip
    met = True
    for name in [n.strip() for n in opts.editors.split(",") if n.strip()]:
        r = measure(name, paths[name], opts)
        ratio, ratio_wall = r["ed_cpu"] / r["rep_cpu"], r["ed_wall"] / r["rep_wall"]
        ok = ratio <= GOAL and r["same"]
        met &= ok
        print(f"\n{name}: {r['pipeline']}, crop {r['crop']}, working size {r['working_size']}, prompt {r['prompt']!r}")
        print("  model calls: " + ", ".join(f"{n} x{k} ({r['per_model'][n]:.3f} s)" for n, k in r["counts"].items()))
        print(f"  edit()  CPU {r['ed_cpu']:.3f} s  wall {r['ed_wall']:.3f} s")
        print(f"  replay  CPU {r['rep_cpu']:.3f} s  wall {r['rep_wall']:.3f} s")
        print(f"  refedit's own steps alone (crop, rewrite, paste-back): CPU {r['own_cpu'] * 1000:.1f} ms")
        print(f"  ratio   CPU {ratio:.3f}  wall {ratio_wall:.3f}  goal <= {GOAL}  {'MET' if ok else 'NOT MET'}"
              + ("" if r["same"] else "  (a later edit made other model calls: replay not representative)"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
