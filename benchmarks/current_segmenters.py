"""Overhead of the current segmentation parts on tiny models (issue 13): each new segmenter path's ``segment()``
against a replay of the very model calls it makes.

Paths: ``sam3`` (SAM 3 instances + Grounded-SAM's resolver); Grounded-SAM with SAM 2 (GroundingDINO boxes); with
MM-Grounding-DINO, OWLv2 and Florence-2 as the detector (SAM masks). Goal: segment() <= 1.10 x its model compute.

How it measures (the harness of ``benchmarks/segmenter.py``, :mod:`modelcalls`):
- forward hooks record the outermost model calls of one ``segment()`` (module, args, kwargs): every loaded model,
  SAM 2's and SAM 3's vision encoders (their image features do not go through the top forward) and CLIP; for
  Florence-2 the call recorded is ``model.generate`` with the inputs the adapter built (its decoding loop is the
  model call; the processor's tokenizing and the answer's parsing are refedit's work). Hooks are removed before
  the timed rounds;
- rounds interleave ``segment()`` and the replay of exactly those calls alone, on the same inputs;
- CPU time of this process (``time.process_time``) and wall time, minimum over the rounds, one torch thread.

Every image cache is cleared before each ``segment()`` (a new photo each round). The tiny models have random
weights; thresholds are 0 and ties go to the best score, so every path finds and resolves candidates; the detector's
output is cut to its ``--detections`` best (default 3, a photo with three cups; 0 keeps all). Florence-2's
decoding is scripted at its logits (a forward hook, present in both the segment() and the replay runs) so that it
answers "cup" with two boxes instead of random tokens up to its length limit.

Run: ``python benchmarks/current_segmenters.py [--rounds N] [--threads N] [--only NAME ...] [--md FILE]``; at the
published sizes (random weights; the folder is built once, ~9 GB): ``--fullsize DIR --size 2048x1536 --rounds 1
--no-replay --only PATH`` (one thread: a few minutes per path on a 2-core machine; the in-run measure only, see
``--no-replay``).
Exit code 0 when every path meets the goal, 1 when not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("REFEDIT_CONFIG", os.devnull)
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from modelcalls import Call, Recorder, Stopwatch, keep_top_detections, plan_for  # noqa: E402
from segmenter import replay, timed  # noqa: E402

GOAL = 1.10
#: the new paths, and the existing GroundingDINO + SAM path on the same machine and run for comparison
PATHS = ("sam3", "sam2", "mm-gdino", "owlv2", "florence2", "baseline")


@dataclass(frozen=True)
class Path_:
    """One segmenter path: the registry name and the role -> tiny part it runs on."""

    segmenter: str
    models: dict[str, str]
    label: str


def hook_models(store: Any, recorder: Recorder) -> None:
    """Hook every loaded model: vision encoders apart (SAM, SAM 2, SAM 3 embed outside their forward)."""
    for key, obj in list(store._cache.items()):  # noqa: SLF001 - a benchmark may look inside
        if not isinstance(obj, torch.nn.Module):
            continue
        component = key[1]
        if component in ("sam", "sam3"):
            recorder.hook(obj, f"{component} (decoder)")
            recorder.hook(obj.vision_encoder, f"{component} (image encoder)")
        elif type(obj).__name__ != "Florence2ForConditionalGeneration":  # recorded at generate(), see below
            recorder.hook(obj, component)


def forget_image(seg: Any) -> None:
    """Clear every per-image cache (SAM/SAM 2 embeddings, SAM 3 vision features and queries)."""
    sam = getattr(seg, "_sam", None)
    if sam is not None and hasattr(sam, "_key"):
        sam._key = None  # noqa: SLF001
    backend = getattr(sam, "backend", None)
    if backend is not None:
        backend._vision = None  # noqa: SLF001


def record_generate(seg: Any, recorder: Recorder) -> Callable[[], None]:
    """For Florence-2: record each ``model.generate`` call (with the adapter's inputs) into ``recorder``; returns
    the undo. The adapter's ``generate`` is wrapped on this instance only."""
    det = seg.detector
    if type(det).__name__ != "Florence2":
        return lambda: None
    model = seg.store.get("grounding", "detector")

    def generate(image: Image.Image, caption: str) -> str:
        kwargs = det.inputs(image, caption)
        if recorder.active:
            recorder.calls.append(Call("florence2 (generate)", model.generate, (), kwargs))
        ids = model.generate(**kwargs)
        return seg.store.get("grounding", "processor").batch_decode(ids, skip_special_tokens=False)[0]

    det.generate = generate
    return lambda: det.__dict__.pop("generate", None)  # the class's method again


def time_generate(seg: Any, watch: Stopwatch) -> Callable[[], None]:
    """For Florence-2: count each ``model.generate`` call (its decoding loop) as model time in ``watch`` (the
    model's method wrapped on this instance); returns the undo."""
    if type(seg.detector).__name__ != "Florence2":
        return lambda: None
    model = seg.store.get("grounding", "detector")
    real = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        watch.enter()
        try:
            return real(*args, **kwargs)
        finally:
            watch.leave()

    model.generate = generate
    return lambda: model.__dict__.pop("generate", None)


def script_florence(seg: Any) -> None:
    """Florence-2 answers "cup<loc..>x4 x2</s>" whatever it sees (a logits hook, in every run alike)."""
    model = seg.store.get("grounding", "detector")
    tok = seg.store.get("grounding", "processor").tokenizer
    script = [tok.bos_token_id, *tok("cup", add_special_tokens=False)["input_ids"]]
    for box in ([100, 200, 300, 600], [600, 250, 900, 700]):
        script += tok.convert_tokens_to_ids([f"<loc_{k}>" for k in box])
    script.append(tok.eos_token_id)
    step = {"n": 0}

    def scripted(module: Any, args: Any, kwargs: Any, out: Any) -> Any:
        logits = torch.full_like(out.logits, -1e4)
        logits[..., -1, script[min(step["n"], len(script) - 1)]] = 0.0
        step["n"] = 0 if step["n"] >= len(script) - 1 else step["n"] + 1
        out.logits = logits
        return out

    model.register_forward_hook(scripted, with_kwargs=True)


def measure(path: Path_, image: Image.Image, instruction: str, rounds: int, detections: int = 3,
            check: bool = True, device: str = "cpu", dtype: str = "float32", with_replay: bool = True) -> dict[str, Any]:  # fmt: skip
    """segment() vs its replayed model calls for one path."""
    from refedit.config import Settings
    from refedit.pipeline.artifacts import Hints
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.stages import StageContext, registry

    settings = Settings(models=path.models, device=device, dtype=dtype)
    store = ModelStore(settings)
    options = {"box_threshold": 0.0, "on_ambiguous": "best"}
    seg = registry.create("segmenter", path.segmenter, StageContext(settings=settings, store=store, options=options))
    plan = plan_for(instruction)[0]  # the rules parser's (stored where spaCy is missing: the GPU machine)
    keep_top_detections(seg, detections)
    if path.label.startswith("florence2"):
        store.get("grounding", "detector")
        script_florence(seg)

    def run_segment() -> Any:
        forget_image(seg)
        return seg.segment(image=image, plan=plan, hints=Hints())

    run_segment()  # loads the models, warms the allocator
    recorder = Recorder()
    hook_models(store, recorder)
    undo = record_generate(seg, recorder)
    if with_replay:
        result = run_segment()
        recorder.remove()
        recorder.active = False
    calls = recorder.calls  # without the replay: filled by the first timed round (the calls are only counted)
    seg_cpu, seg_wall, rep_cpu, rep_wall, per_model, inside = [], [], [], [], [], []
    cuda = torch.device(device).type == "cuda"
    watch = Stopwatch()
    if not cuda:  # CPU time inside the model calls of the timed run itself (two clock reads a call)
        hook_models(store, watch)
    untime = time_generate(seg, watch) if not cuda else (lambda: None)
    holder: list[Any] = [None]
    for _ in range(rounds):
        watch.inside = 0.0
        cpu, wall = timed(lambda: holder.__setitem__(0, run_segment()), device)
        seg_cpu.append(cpu)
        seg_wall.append(wall)
        inside.append(watch.inside)
        if not with_replay:  # the first round recorded the calls (to count them)
            recorder.remove()
            recorder.active = False
            continue
        pure = replay(calls, device)
        rep_cpu.append(pure.pop("total"))
        rep_wall.append(pure.pop("wall"))
        per_model.append(pure)
    if not with_replay:
        result = holder[0]
    undo()
    untime()
    watch.remove()
    best = min(range(rounds), key=lambda i: seg_cpu[i])
    same = True
    if check:  # the same calls on a later run: else the replay would not stand for segment()'s work
        again = Recorder()
        hook_models(store, again)
        undo = record_generate(seg, again)
        run_segment()
        again.remove()
        undo()
        same = [c.name for c in again.calls] == [c.name for c in calls]
    counts: OrderedDict[str, int] = OrderedDict()
    for call in calls:
        counts[call.name] = counts.get(call.name, 0) + 1
    return {"label": path.label, "candidates": len(result.candidates), "calls": counts, "same": same,
            "per_model": {n: min(p[n] for p in per_model) for n in counts} if per_model else {}, "seg_cpu": min(seg_cpu),
            "rep_cpu": min(rep_cpu, default=None), "seg_wall": min(seg_wall), "rep_wall": min(rep_wall, default=None),
            "inside_cpu": None if cuda else inside[best], "seg_cpu_best": seg_cpu[best],
            "paired_wall": [a / b for a, b in zip(seg_wall, rep_wall, strict=False) if b > 0]}  # fmt: skip


def build_fullsize_paths(root: Path, only: tuple[str, ...], device: str = "cpu", dtype: str = "float32") -> list[Path_]:
    """The same paths with every part at its published size (random weights, float32, built once under ``root``):
    GroundingDINO-B, SAM ViT-H, CLIP B/16 (:mod:`refedit.testing.fullsize`), SAM 3 (:mod:`~refedit.testing.
    fullsize_current`), SAM 2.1-L, MM-GDINO-T, OWLv2 B/16, Florence-2-L (:mod:`~refedit.testing.fullsize_segmenters`)."""
    from refedit.testing.fullsize import build_fullsize
    from refedit.testing.fullsize_current import build_current
    from refedit.testing.fullsize_segmenters import build_fullsize_segmenters

    dt = getattr(torch, dtype)
    base = {k: str(v) for k, v in build_fullsize(root, device=device, dtype=dt, roles=("grounding", "sam", "clip")).items()}
    need = {"sam2": "sam2", "mm-gdino": "mm-grounding-dino", "owlv2": "owlv2", "florence2": "florence2"}
    new = {k: str(v) for k, v in build_fullsize_segmenters(root, device=device, dtype=dt,
                                                           names=tuple(need[n] for n in only if n in need)).items()}  # fmt: skip
    clip = base["clip"]
    make: dict[str, Callable[[], Path_]] = {
        "sam3": lambda: Path_("sam3", {"sam3": str(build_current(root, "sam3", device=device, dtype=dt)), "clip": clip}, "sam3 (SAM 3, 848 M)"),
        "sam2": lambda: Path_("grounded-sam", {"grounding": base["grounding"], "sam": new["sam2"], "clip": clip},
                              "sam2 (GroundingDINO-B + SAM 2.1-L)"),
        "mm-gdino": lambda: Path_("grounded-sam", {"grounding": new["mm-grounding-dino"], "sam": base["sam"], "clip": clip},
                                  "mm-gdino (MM-GDINO-T + SAM-H)"),
        "owlv2": lambda: Path_("grounded-sam", {"grounding": new["owlv2"], "sam": base["sam"], "clip": clip}, "owlv2 (OWLv2 B/16 + SAM-H)"),
        "florence2": lambda: Path_("grounded-sam", {"grounding": new["florence2"], "sam": base["sam"], "clip": clip},
                                   "florence2 (Florence-2-L + SAM-H)"),
        "baseline": lambda: Path_("grounded-sam", {**base}, "baseline: GroundingDINO-B + SAM-H"),
    }  # fmt: skip
    return [make[name]() for name in only]


def build_paths(root: Path, only: tuple[str, ...]) -> list[Path_]:
    from refedit.testing import tiny_models as tm
    from refedit.testing import tiny_segmenters as ts

    clip = str(tm.build_tiny_clip(root / "clip"))
    gd, sam = str(tm.build_tiny_grounding_dino(root / "gd")), str(tm.build_tiny_sam(root / "sam"))
    make: dict[str, Callable[[], Path_]] = {
        "sam3": lambda: Path_("sam3", {"sam3": str(ts.build_tiny_sam3(root / "sam3")), "clip": clip}, "sam3"),
        "sam2": lambda: Path_("grounded-sam", {"grounding": gd, "sam": str(ts.build_tiny_sam2(root / "sam2")), "clip": clip}, "sam2"),
        "mm-gdino": lambda: Path_("grounded-sam", {"grounding": str(ts.build_tiny_mm_grounding_dino(root / "mm")), "sam": sam,
                                                   "clip": clip}, "mm-gdino"),
        "owlv2": lambda: Path_("grounded-sam", {"grounding": str(ts.build_tiny_owlv2(root / "owl")), "sam": sam, "clip": clip}, "owlv2"),
        "florence2": lambda: Path_("grounded-sam", {"grounding": str(ts.build_tiny_florence2(root / "fl")), "sam": sam,
                                                    "clip": clip}, "florence2"),
        "baseline": lambda: Path_("grounded-sam", {"grounding": gd, "sam": sam, "clip": clip}, "baseline: GroundingDINO + SAM"),
    }  # fmt: skip
    return [make[name]() for name in only]


def report(results: list[dict[str, Any]], header: str) -> str:
    lines = [header, "", "| path | candidates | model calls (count) | replay CPU ms | segment() CPU ms | ratio CPU | "
             "replay wall ms | segment() wall ms | ratio wall | in-run: outside model calls CPU ms | in-run ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        calls = ", ".join(f"{n} x{c}" for n, c in r["calls"].items())
        if r.get("inside_cpu") is None:
            inrun = "n/a | n/a"
        else:
            outside = r["seg_cpu_best"] - r["inside_cpu"]
            inrun = f"{outside * 1e3:.1f} | {r['seg_cpu_best'] / r['inside_cpu']:.3f}"
        if r["rep_cpu"] is None:
            rep = f"- | {r['seg_cpu'] * 1e3:.1f} | - | - | {r['seg_wall'] * 1e3:.1f} | -"
        else:
            rep = (f"{r['rep_cpu'] * 1e3:.1f} | {r['seg_cpu'] * 1e3:.1f} | {r['seg_cpu'] / r['rep_cpu']:.2f} | "
                   f"{r['rep_wall'] * 1e3:.1f} | {r['seg_wall'] * 1e3:.1f} | {r['seg_wall'] / r['rep_wall']:.2f}")
        lines.append(f"| {r['label']} | {r['candidates']} | {calls} | {rep} | {inrun} |")
    paired = [r for r in results if r.get("paired_wall")]
    if paired:  # each round's segment() over the replay right after it: read beside the fastest-over-fastest ratio
        lines += ["", "Round by round (wall, each segment() over the replay right after it): " + "; ".join(
            f"{r['label']} median {statistics.median(r['paired_wall']):.2f} ({min(r['paired_wall']):.2f}-"
            f"{max(r['paired_wall']):.2f})" for r in paired)]  # fmt: skip
    lines += ["", "Replayed alone, ms per model (min over rounds; CPU time, on a GPU the device's time between CUDA events):", ""]
    for r in results:
        lines.append(f"- {r['label']}: " + ", ".join(f"{n} {ms * 1e3:.1f}" for n, ms in r["per_model"].items()))
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9, help="interleaved segment/replay rounds (minimum kept)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: CPU time = work)")
    ap.add_argument("--instruction", default="remove the white cup on the right")
    ap.add_argument("--only", nargs="*", choices=PATHS, default=list(PATHS))
    ap.add_argument("--detections", type=int, default=3,
                    help="detections kept, the k best (a photo with k cups); 0: all the random weights give")  # fmt: skip
    ap.add_argument("--md", type=Path, default=None, help="also write the table to this markdown file")
    ap.add_argument("--fullsize", type=Path, default=None,
                    help="every part at its published size (random weights, float32), built once in this folder")
    ap.add_argument("--size", default=None, help="resize the photo to WxH first (e.g. 2048x1536)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (wall times, synchronised; the goal in wall time)")
    ap.add_argument("--dtype", default="float32", help="the models' dtype (float16 on a GPU)")
    ap.add_argument("--no-replay", dest="replay", action="store_false",
                    help="only the in-run measure (CPU time outside the model calls of the timed run): at published "
                         "sizes a model call varies by ~10 %% between runs, more than the overhead; saves two runs")
    ap.add_argument("--no-check", dest="check", action="store_false",
                    help="skip the run that checks a later segment() makes the same calls (saves a run at full size)")
    opts = ap.parse_args()
    torch.set_num_threads(opts.threads)
    image = Image.open(ROOT / "examples" / "coffee.jpg").convert("RGB")
    if opts.size:
        image = image.resize(tuple(int(v) for v in opts.size.lower().split("x")), Image.Resampling.BICUBIC)
    paths = (build_fullsize_paths(opts.fullsize, tuple(opts.only), opts.device, opts.dtype) if opts.fullsize
             else build_paths(Path(tempfile.mkdtemp()), tuple(opts.only)))  # fmt: skip
    kept = f"the {opts.detections} best detections kept" if opts.detections > 0 else "all detections kept"
    models = f"published-size models (random weights, {opts.dtype})" if opts.fullsize else "tiny models"
    cuda = torch.device(opts.device).type == "cuda"
    where = (f"{torch.cuda.get_device_name(0)}, {opts.dtype}" if cuda else f"CPU, {opts.threads} thread(s)")
    header = (f"image {image.width}x{image.height}, '{opts.instruction}', {kept}, {models}, {where}, "
              f"min of {opts.rounds} interleaved rounds; goal: segment() <= {GOAL:.2f} x replay "
              f"({'wall' if cuda else 'CPU'})")  # fmt: skip
    results = []
    for path in paths:
        r = measure(path, image, opts.instruction, opts.rounds, opts.detections, opts.check and opts.replay, opts.device,
                    opts.dtype, opts.replay)  # fmt: skip
        results.append(r)
        if not r["same"]:
            print(f"{r['label']}: segment() made other model calls on a later run: its replay does not stand for it",
                  file=sys.stderr)  # fmt: skip
        text = report(results, header)
        print(text, flush=True)
        if opts.md:
            opts.md.write_text(text)
    key = "wall" if cuda else "cpu"
    def meets(r: dict[str, Any]) -> bool:
        if r["rep_cpu"] is None:  # the in-run measure alone
            return r["inside_cpu"] is not None and r["seg_cpu_best"] / r["inside_cpu"] <= GOAL
        return r["same"] and r[f"seg_{key}"] / r[f"rep_{key}"] <= GOAL

    ok = all(meets(r) for r in results if not r["label"].startswith("baseline"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
