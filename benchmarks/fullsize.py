"""The default chain at its published model sizes (random weights): per-stage wall time, peak memory, and each
stage's overhead over its pure model compute, cold and warm, on the CPU or a GPU.

Models: SD 1.5 (UNet 860 M, VAE, CLIP ViT-L/14 text), GroundingDINO-base, SAM ViT-H, CLIP ViT-B/16, built from
their published configs by :mod:`refedit.testing.fullsize` into ``--models`` (reused when there) and loaded
through the same ``from_pretrained`` code as real checkpoints. Time and memory do not depend on weight values;
quality does, so nothing here says anything about it.

How it measures (like with like, in one process):
- cold: the first edit of a fresh ModelStore (loads included; files come from the page cache after the build);
- warm: ``Pipeline.run`` again (the product path, no instrumentation), ``--repeat`` times; the minimum is kept;
- sub-stages: a separately instrumented run whose timers wrap the stages' own methods (detect, SAM, CLIP, VAE,
  invert, denoise, compositing), synchronising the GPU at their edges;
- pure model compute: forward hooks record every model call the stages make in that run (module, exact inputs);
  the calls are then replayed alone, grouped by sub-stage, on the same inputs; rounds interleave run and replay.
  The overhead of a stage is its wall time over the replay of its own calls (1.00 = no overhead at all);
- peak memory: ``torch.cuda.max_memory_allocated`` on a GPU, the resident-set high-water mark (VmHWM, reset
  per stage through /proc/self/clear_refs) on the CPU.

Random weights score every box alike, so the detector's output is cut to its 3 best boxes (a photo with three
cats), and the instruction carries a colour so the CLIP attribute filter runs, as it would for
"the left black cat". GroundingDINO still sees the real input size (800 px short side) and SAM 1024 px.

Run: ``python benchmarks/fullsize.py --size 256`` (CPU) or ``--device cuda`` (see benchmarks/gpu.sh).
Always exits 0 unless the chain itself fails: it is a report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("REFEDIT_CONFIG", os.devnull)
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from refedit.config import Settings  # noqa: E402
from refedit.pipeline.artifacts import EditPlan, EditRequest  # noqa: E402
from refedit.pipeline.chain import Pipeline  # noqa: E402
from refedit.pipeline.edit import base as editor_base  # noqa: E402
from refedit.pipeline.models import ModelStore  # noqa: E402
from refedit.testing.fullsize import build_fullsize  # noqa: E402

from modelcalls import Call, Recorder, forget_image, hook_loaded_models, keep_top_detections, plan_for  # noqa: E402

INSTRUCTION = "replace the left black cat with a tiger"


# ---------------------------------------------------------------------------------------------- measuring
def _clear_rss_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def _rss_peak_mib() -> float:
    try:
        text = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]
    except (OSError, AttributeError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter:
    """Synchronised wall clocks and peak memory for one device."""

    def __init__(self, device: torch.device, clock: str = "wall") -> None:
        self.cuda = device.type == "cuda"
        self.clock = time.process_time if clock == "cpu" else time.perf_counter

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        self.sync()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            _clear_rss_peak()

    def peak_mib(self) -> float:
        self.sync()
        return torch.cuda.max_memory_allocated() / 2**20 if self.cuda else _rss_peak_mib()

    def now(self) -> float:
        self.sync()
        return self.clock()


class Probes:
    """Timers around named methods (an instance's method, or a module-level function its class calls)."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.active = False
        self.stack: list[str] = []
        self.inner: list[float] = []
        self.current: dict[str, float] = defaultdict(float)
        self.names: list[str] = []

    def wrap(self, owner: Any, attr: str, name: str) -> None:
        original = getattr(owner, attr)
        self.names.append(name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return original(*args, **kwargs)
            start = self.meter.now()
            self.stack.append(name)
            self.inner.append(0.0)
            try:
                return original(*args, **kwargs)
            finally:
                self.stack.pop()
                elapsed = self.meter.now() - start
                self.current[name] += elapsed - self.inner.pop()  # exclusive of the timed steps inside it
                if self.inner:
                    self.inner[-1] += elapsed

        setattr(owner, attr, timed)

    def take(self) -> dict[str, float]:
        out, self.current = dict(self.current), defaultdict(float)
        return out


def replay_by_step(calls: list[Call], meter: Meter) -> dict[str, float]:
    """Each step's recorded calls, replayed alone in their order, timed as one group."""
    groups: OrderedDict[str, list[Call]] = OrderedDict()
    for call in calls:
        groups.setdefault(call.name, []).append(call)
    out = {}
    with torch.inference_mode():
        for tag, items in groups.items():
            start = meter.now()
            for call in items:
                call.module(*call.args, **call.kwargs)
            out[tag] = meter.now() - start
    return out


# ---------------------------------------------------------------------------------------------- the chain
def make_plan() -> tuple[EditPlan | None, str]:
    """None where spaCy is installed (the pipeline parses, and the parse stage is timed), else the plan the rules
    parser made (:func:`modelcalls.plan_for`), as on a GPU box without spaCy."""
    plan, note = plan_for(INSTRUCTION)
    return (None, note) if note.startswith("rules") else (plan, note)


def instrument(pipeline: Pipeline, probes: Probes) -> None:
    """Timers on the stages' steps (each timed exclusive of the timed steps it calls)."""
    seg, ed = pipeline.segmenter, pipeline.editor
    if hasattr(seg, "detector") and hasattr(seg, "sam") and getattr(seg, "_detector", 1) is not None:
        probes.wrap(seg.detector, "detect", "detect (GroundingDINO)")
        probes.wrap(seg.sam, "set_image", "SAM image embedding")
        probes.wrap(seg.sam, "_predict", "SAM mask decoding")
        probes.wrap(seg.scorer, "probabilities", "CLIP attribute filter")
        backend = sys.modules[type(seg.sam).__module__]  # the clean-up runs on SAM's grid, inside its module
        if hasattr(backend, "clean_planes"):
            probes.wrap(backend, "clean_planes", "mask clean-up")
    probes.wrap(editor_base, "work_region", "crop, resize, paste alpha")
    if hasattr(ed, "sd"):
        probes.wrap(ed.sd, "encode_image", "VAE encode")
        if hasattr(ed, "invert"):
            probes.wrap(ed, "invert", "DiffEdit invert")
            probes.wrap(ed, "denoise", "DiffEdit denoise")
        probes.wrap(ed.sd, "decode", "VAE decode")
    probes.wrap(editor_base, "finish", "paste back, metrics")


def count_syncs(owner: Any, attr: str, counts: dict[str, int]) -> None:
    """Count the host-device synchronisations inside ``owner.attr`` (CUDA's sync debug mode, as warnings)."""
    import warnings

    original = getattr(owner, attr)

    def checked(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                return original(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")
                counts[attr] = counts.get(attr, 0) + sum("synchroniz" in str(w.message) for w in caught)

    setattr(owner, attr, checked)


def staged_run(pipeline: Pipeline, request: EditRequest, meter: Meter, stage_of: list[str] | None = None) -> dict:
    """parse, segment, edit as ``Pipeline.run`` does, with each stage's wall time and peak memory."""
    out: dict[str, tuple[float, float]] = {}
    meter.reset_peak()
    t = meter.now()
    plan = pipeline.plan(request)
    out["parse"] = (meter.now() - t, meter.peak_mib())
    for stage in ("segment", "edit"):
        if stage_of is not None:
            stage_of[0] = stage
        meter.reset_peak()
        t = meter.now()
        if stage == "segment":
            segmentation = pipeline.segment(request, plan)
        else:
            result = pipeline.editor.edit(image=request.image, plan=plan, segmentation=segmentation, seed=request.seed)
        out[stage] = (meter.now() - t, meter.peak_mib())
    out["_result"] = result  # type: ignore[assignment]
    return out


# ---------------------------------------------------------------------------------------------- report
SUBSTAGES = {
    "segment": ["detect (GroundingDINO)", "SAM image embedding", "SAM mask decoding", "CLIP attribute filter",
                "mask clean-up"],
    "edit": ["crop, resize, paste alpha", "VAE encode", "DiffEdit invert", "DiffEdit denoise", "VAE decode",
             "paste back, metrics"],
}  # fmt: skip


def report(args: argparse.Namespace, info: dict[str, Any], cold: dict, warm: list[dict], sub: list[dict],
           pure: list[dict], e2e: list[float]) -> str:  # fmt: skip
    def mn(values: list[float]) -> float:
        return min(values) if values else float("nan")

    def pure_of(prefix_tags: list[str]) -> float:
        return mn([sum(p.get(t, 0.0) for t in prefix_tags) for p in pure]) if pure else float("nan")

    lines = [f"### {info['title']}", "", *[f"- {k}: {v}" for k, v in info.items() if k != "title"], ""]
    lines += ["| stage | cold s | warm s | pure model compute s | overhead | peak MiB (warm) |",
              "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    tags_by_stage: dict[str, list[str]] = defaultdict(list)
    for p in pure[:1]:
        for tag in p:
            stage = next((s for s, names in SUBSTAGES.items() if tag in names), tag.split(":")[0])
            tags_by_stage[stage].append(tag)
    for stage in ("parse", "segment", "edit"):
        w = mn([r[stage][0] for r in warm])
        p = pure_of(tags_by_stage.get(stage, [])) if stage != "parse" else float("nan")
        ratio = f"{w / p:.2f}x" if p == p and p > 0 else "-"
        lines.append(f"| **{stage}** | {cold[stage][0]:.3f} | {w:.3f} | {p:.3f} | {ratio} | "
                     f"{max(r[stage][1] for r in warm):.0f} |")  # fmt: skip
        for name in SUBSTAGES.get(stage, []):
            ws = [s[name] for s in sub if name in s]
            if not ws:
                continue
            ps = pure_of([name]) if any(name in q for q in pure) else float("nan")
            ratio = f"{mn(ws) / ps:.2f}x" if ps == ps and ps > 0 else ("(no model call)" if pure else "-")
            lines.append(f"| &nbsp;&nbsp;{name} | | {mn(ws):.3f} | {ps:.3f} | {ratio} | |")
        for tag in tags_by_stage.get(stage, []):
            if not any(tag in names for names in SUBSTAGES.values()):
                lines.append(f"| &nbsp;&nbsp;{tag} (its model calls) | | | {pure_of([tag]):.3f} | | |")
    total_cold = sum(cold[s][0] for s in ("parse", "segment", "edit"))
    peak = max(max(r[s][1] for s in ("parse", "segment", "edit")) for r in warm)
    lines.append(f"| **end to end** (`Pipeline.run`) | {total_cold:.3f} | {mn(e2e):.3f} | "
                 f"{pure_of([t for ts in tags_by_stage.values() for t in ts]):.3f} | "
                 f"{mn(e2e) / pure_of([t for ts in tags_by_stage.values() for t in ts]):.2f}x | {peak:.0f} |"
                 if pure else f"| **end to end** (`Pipeline.run`) | {total_cold:.3f} | {mn(e2e):.3f} | - | - | {peak:.0f} |")  # fmt: skip
    lines.append("")
    lines.append(f"warm end-to-end runs (s): {', '.join(f'{x:.3f}' for x in e2e)}")
    for stage in ("segment", "edit") if pure else ():  # each round's run against the replay right after it
        paired = [r[stage][0] / q for r, q in zip(warm, (sum(p.get(t, 0.0) for t in tags_by_stage.get(stage, []))
                                                         for p in pure), strict=True) if q > 0]  # fmt: skip
        if paired:
            lines.append(f"{stage} / its replay, round by round: {', '.join(f'{x:.2f}' for x in paired)} (median "
                         f"{statistics.median(paired):.2f}; the table's ratio is the fastest run over the fastest replay)")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path(os.environ.get("REFEDIT_FULLSIZE_DIR", "/tmp/refedit-fullsize")),
                    help="where the full-size random-weight models are built (reused when complete)")  # fmt: skip
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", help="auto: float16 on CUDA, float32 on the CPU")
    ap.add_argument("--size", default="512", help="input size: N (square) or WxH (default 512)")
    ap.add_argument("--resolution", type=int, default=512, help="editor working long side (capped at the input's)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--segmenter", default="grounded-sam", help="grounded-sam (default chain) or refdiff")
    ap.add_argument("--offload", default="none", choices=["none", "model", "group", "sequential"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the UNet (no replay: hooks would recompile)")
    ap.add_argument("--cuda-graphs", choices=("auto", "on", "off"), default="auto",
                    help="replay the UNet as CUDA graphs (auto: on CUDA without offload; no replay of model calls then: a "
                         "graph replay calls no forward)")
    ap.add_argument("--repeat", type=int, default=2, help="warm rounds (the minimum is reported)")
    ap.add_argument("--no-replay", action="store_true", help="skip the pure-compute replay")
    ap.add_argument("--instruction", default=INSTRUCTION)
    ap.add_argument("--detections", type=int, default=3, help="detections kept (the k best: a photo of k cats)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time (all threads), robust on a shared CPU; GPU runs need wall")
    ap.add_argument("--tiny", action="store_true", help="tiny models instead (a smoke test of this script)")
    ap.add_argument("--out", type=Path, help="also write the Markdown table here")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument("--save-image", type=Path, help="write the last warm run's edited image here (PNG): runs with other "
                                                    "settings compare it (CUDA graphs or not must give the same pixels)")
    args = ap.parse_args()

    w, h = (int(v) for v in (args.size.lower().split("x") * 2)[:2])
    settings0 = Settings(device=args.device)
    device = ModelStore(settings0).device
    dtype = torch.float16 if (args.dtype == "auto" and device.type == "cuda") else (
        torch.float32 if args.dtype == "auto" else getattr(torch, args.dtype))  # fmt: skip
    meter = Meter(device, args.clock)

    t0 = time.perf_counter()
    if args.tiny:
        from refedit.testing import tiny_models as tm

        builders = {"sd": tm.build_tiny_sd, "grounding": tm.build_tiny_grounding_dino, "sam": tm.build_tiny_sam,
                    "clip": tm.build_tiny_clip}  # fmt: skip
        paths = {role: b(args.models / f"tiny-{role}") for role, b in builders.items()}
    else:
        paths = build_fullsize(args.models, device=str(device), dtype=dtype)
    build_s = time.perf_counter() - t0
    settings = Settings(
        models={**settings0.models, **{role: str(p) for role, p in paths.items()}},
        device=str(device), dtype=str(dtype).replace("torch.", ""), offload=args.offload, compile=args.compile, cuda_graphs=args.cuda_graphs,
    )  # fmt: skip
    image = Image.open(ROOT / "examples" / "cat.jpg").convert("RGB").resize((w, h), Image.Resampling.LANCZOS)

    given_plan, parser_note = make_plan()
    options = {"steps": args.steps, "encode_ratio": args.ratio, "inversion_cache": 0, "box_threshold": 0.0,
               "resolution": min(args.resolution, max(w, h))}  # fmt: skip
    if args.segmenter == "refdiff":
        options["refdiff_resolution"] = options["resolution"]
    store = ModelStore(settings)
    pipeline = Pipeline.build(settings, segmenter=args.segmenter, options=options, store=store)
    keep_top_detections(pipeline.segmenter, args.detections)
    request = EditRequest(image=image, instruction=args.instruction, plan=given_plan, seed=0)

    probes = Probes(meter)
    stage_of = [""]  # the stage running now: names the model calls made outside every timed step

    def step_of(model: str) -> str:
        return probes.stack[-1] if probes.stack else f"{stage_of[0]}: {model}"

    graphs = settings.graphs_on(device.type)  # a graph replay calls no forward: nothing to record
    recorder = None if (args.no_replay or args.compile or graphs) else Recorder(step_of)
    if recorder is not None:
        recorder.active = False
    cold_rss0 = _rss_peak_mib() if not meter.cuda else 0.0
    instrument(pipeline, probes)  # timers now; model hooks once the cold run has loaded the models
    probes.active = True
    cold = staged_run(pipeline, request, meter)
    probes.take()
    probes.active = False
    cold_peak = max(v[1] for k, v in cold.items() if not k.startswith("_"))
    if recorder is not None:
        hook_loaded_models(pipeline.editor.sd.store, recorder)

    warm: list[dict] = []
    sub: list[dict] = []
    pure: list[dict] = []
    e2e: list[float] = []
    images = []
    for _ in range(args.repeat):
        forget_image(pipeline.segmenter)
        t = meter.now()
        result = pipeline.run(request)
        e2e.append(meter.now() - t)
        images.append(np.asarray(result.image))
        probes.active = True
        if recorder is not None:
            recorder.calls.clear()
            recorder.active = True
        forget_image(pipeline.segmenter)
        warm.append(staged_run(pipeline, request, meter, stage_of))
        sub.append(probes.take())
        probes.active = False
        if recorder is not None:
            recorder.active = False
            pure.append(replay_by_step(recorder.calls, meter))
    if os.environ.get("FULLSIZE_DEBUG") and recorder is not None:
        from collections import Counter

        print(Counter(call.name for call in recorder.calls), file=sys.stderr)
    syncs: dict[str, int] = {}
    if meter.cuda and hasattr(pipeline.editor, "denoise"):  # one more run, counting syncs in the DDIM loops
        for attr in ("invert", "denoise"):
            count_syncs(pipeline.editor, attr, syncs)
        forget_image(pipeline.segmenter)
        pipeline.run(request)
    deterministic = all(np.array_equal(images[0], im) for im in images[1:])
    n_calls = len(recorder.calls) if recorder is not None else 0
    seg = warm[-1]["_result"].segmentation

    info = {
        "title": f"{args.segmenter} + diffedit, {w}x{h}, {device.type} {str(dtype).replace('torch.', '')}"
                 f"{', compiled UNet' if args.compile else ''}{', CUDA graphs' if graphs else ''}, offload {args.offload} (random weights)",
        "machine": (torch.cuda.get_device_name(device) if meter.cuda else f"{platform.processor() or 'cpu'}, "
                    f"{torch.get_num_threads()} threads"),
        "clock": "process CPU time, all threads (seconds)" if args.clock == "cpu" else "wall time (seconds)",
        "software": f"torch {torch.__version__}, python {platform.python_version()}",
        "chain": f"parser {parser_note}; {args.segmenter} ({len(seg.candidates)} candidates); DiffEdit T={args.steps}, r={args.ratio}, working long side {options['resolution']}",
        "models": ("TINY models (smoke test)" if args.tiny else "SD 1.5 (UNet 860M), GroundingDINO-base (Swin-B), "
                   "SAM ViT-H, CLIP ViT-B/16") + f", built in {build_s:.0f} s (0 when reused)",
        "cold peak memory (MiB)": f"{cold_peak:.0f} ({'max allocated on the GPU' if meter.cuda else 'VmHWM, process'}"
                                  f"{'' if meter.cuda else f'; {cold_rss0:.0f} before the first load'})",
        "same seed, same image over the warm runs": "yes" if deterministic else "NO",
        "host-device syncs inside DiffEdit invert / denoise": (f"{syncs.get('invert', 0)} / {syncs.get('denoise', 0)}"
                                                              if syncs else "n/a (CPU)"),
        "model calls replayed": n_calls if recorder is not None else "none (compiled or --no-replay)",
    }  # fmt: skip
    if args.save_image:
        Image.fromarray(images[-1]).save(args.save_image)
    table = report(args, info, cold, warm, sub, pure, e2e)
    print(table, flush=True)
    if args.out:
        args.out.write_text(table + "\n")
    if args.json:
        raw = {"info": info, "cold": {k: v for k, v in cold.items() if not k.startswith("_")},
               "warm": [{k: v for k, v in r.items() if not k.startswith("_")} for r in warm], "sub": sub,
               "pure": pure, "e2e": e2e}  # fmt: skip
        args.json.write_text(json.dumps(raw, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
