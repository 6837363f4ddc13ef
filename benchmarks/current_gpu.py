"""Issue 13's current models at their published sizes (random weights) on a GPU: the ``sam3`` segmenter and the
``qwen-edit`` / ``kontext`` editors -- warm time, peak VRAM per ``--offload`` mode, and overhead over a replay of
their model calls. Measures what ``benchmarks/results/current-editors.md`` could only compute.

Models (:mod:`refedit.testing.fullsize_current`): SAM 3 is written in the standard layout (1.7 GB) and loaded
through ``from_pretrained``. The editors' weights (58 GB Qwen, 34 GB Kontext) would not fit the lent machine's
64 GiB disk, and writing then reading them would eat the device time; so their folders hold every file refedit
reads except the weights (configs, tokenizer, processor, scheduler), their modules are built in memory directly
on the GPU in bf16, and :func:`inject` puts them into the :class:`ModelStore` under the very keys
``ModelStore.get`` fills after ``from_pretrained``, through the store's own placement (``_place``: the memory
plan of ``--offload``; for ``model``/``group``/``sequential`` the modules first go to the CPU, where ``from_pretrained``
leaves them). From there the editor code is the product's: preflight, crop, rewrite, the diffusers pipeline with
its offload hooks, paste-back.

Per editor and offload mode (in the order none, model, group, sequential, the modules reused; each mode's hooks
removed before the next):
- ``none``: a cold edit (kernels, allocator), a warm edit (timed, no instrumentation, peak VRAM reset before it),
  an edit recorded by forward hooks (which also times each transformer call: the per-step time), and the replay of
  exactly the recorded model calls alone (``current_editors``' snapshot recorder); overhead = warm / replay;
- ``model`` / ``group`` / ``sequential``: one edit (kernels are warm from ``none``; weight transfers, the cost of these modes,
  are the same every edit), transformer calls timed the same way; ``sequential`` at ``--seq-steps`` steps (the
  weights stream from the CPU every step: peak memory does not depend on the step count).
An out-of-memory error is a result ("OOM"), not a crash. Times at the published step counts (Qwen-Image-Edit-2509:
40, with true CFG: two transformer calls a step; Kontext [dev]: 28) and refedit's default 28 are *extrapolated*:
the run's total minus its steps plus N steps at the measured per-step time.

SAM 3: the ``sam3`` segmenter at 1008 px ("left cat"; random weights score every query alike, so the detections
are cut to the 3 best as for a photo with 3 cats, as ``benchmarks/fullsize.py`` does): cold (load included), warm
(min of ``--repeat``, image cache cleared each time: a new photo), peak VRAM, replay of its model calls.

Run on the lent GPU: ``GPU_SH_ONLY=current bash benchmarks/gpu.sh``; smoke test on a CPU with tiny models:
``python benchmarks/current_gpu.py --tiny --device cpu``. Always exits 0 unless the harness itself fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("REFEDIT_CONFIG", os.devnull)
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from current_editors import hook_editor, scene  # noqa: E402
from current_segmenters import forget_image, hook_models  # noqa: E402
from fullsize import Meter  # noqa: E402
from modelcalls import Call, Recorder, keep_top_detections, plan_for, snapshot  # noqa: E402

from refedit.config import Settings  # noqa: E402
from refedit.errors import RefEditError  # noqa: E402
from refedit.pipeline.artifacts import EditPlan, Hints  # noqa: E402
from refedit.pipeline.models import COMPONENTS, ModelStore  # noqa: E402
from refedit.pipeline.stages import StageContext, registry  # noqa: E402

INSTRUCTION = "replace the left cat with a tiger"
#: step counts to extrapolate to: refedit's default (28) and the model cards' (Qwen-Image-Edit-2509 40, Kontext 28)
PUBLISHED_STEPS = {"qwen-edit": (28, 40), "kontext": (28,)}
TRANSFORMER = {"qwen-edit": "qwen_transformer", "kontext": "flux_transformer"}
GIB = 2**30


@dataclass
class Row:
    """One measured configuration; seconds are wall, synchronised; memory in GiB."""

    model: str
    offload: str = "none"
    steps: int = 0
    status: str = "ok"
    cold_s: float | None = None
    warm_s: float | None = None
    per_step_s: float | None = None
    calls_per_step: float | None = None
    extrapolated_s: dict[int, float] = field(default_factory=dict)
    peak_gib: float | None = None
    resident_gib: float | None = None
    replay_s: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.warm_s / self.replay_s if self.warm_s and self.replay_s else None


# ---------------------------------------------------------------------------------------------- plumbing
def make_plan() -> EditPlan:
    """The rules parser's plan for :data:`INSTRUCTION` (stored where spaCy is missing: the GPU machine)."""
    return plan_for(INSTRUCTION)[0]


def settings_for(role: str, folder: Path, opts: argparse.Namespace, offload: str = "none") -> Settings:
    return Settings(models={**Settings().models, role: str(folder)}, device=opts.device, dtype=opts.dtype, offload=offload)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_oom(err: BaseException) -> bool:
    text = f"{type(err).__name__}: {err}"
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in text.lower()


def failure(err: BaseException) -> str:
    if is_oom(err):
        return "OOM"
    line = (str(err).strip().splitlines() or [""])[0][:160]
    return f"error: {type(err).__name__}: {line}"


def inject(store: ModelStore, role: str, modules: dict[str, torch.nn.Module]) -> None:
    """Put built ``modules`` (ModelStore component -> module) into ``store`` as if ``from_pretrained`` had loaded
    them for ``role``: on the CPU for the offload modes, then the store's own placement for its memory plan, cached
    under the key :meth:`ModelStore.get` looks up. A benchmark-only path (disk and device time, see the docstring)."""
    model_id = store.model_id(role)
    for component, module in modules.items():
        if store.settings.offload != "none":
            module.to("cpu")
        placed = store._place(model_id, component, module.eval().requires_grad_(False), tag=component)  # noqa: SLF001
        store._cache[(model_id, component, str(store.device), str(store.dtype))] = placed  # noqa: SLF001
        store.loads.append((model_id, f"{component} (built in memory)"))


def unhook(modules: dict[str, torch.nn.Module]) -> None:
    """Remove the offload hooks a mode left (accelerate's, diffusers' group offloading), the weights on the CPU."""
    from accelerate.hooks import remove_hook_from_module

    for module in modules.values():
        remove_hook_from_module(module, recurse=True)
        for m in module.modules():  # group offloading hooks the leaves (and a tracker on the top module)
            registry = getattr(m, "_diffusers_hook", None)
            for name in ("group_offloading", "layer_execution_tracker", "lazy_prefetch_group_offloading"):
                if registry is not None and registry.get_hook(name) is not None:
                    registry.remove_hook(name, recurse=False)
        module.to("cpu")


class CallTimer:
    """Synchronised wall time of every call into one module (forward hooks; the offload hooks' weight moves,
    which run inside the call, included)."""

    def __init__(self, module: torch.nn.Module, meter: Meter) -> None:
        self.times: list[float] = []
        self._start = 0.0
        self._handles = [module.register_forward_pre_hook(lambda *a: self._begin()),
                         module.register_forward_hook(lambda *a: self._end())]  # fmt: skip
        self.meter = meter

    def _begin(self) -> None:
        self._start = self.meter.now()

    def _end(self) -> None:
        self.times.append(self.meter.now() - self._start)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def replay_wall(calls: list[Call], meter: Meter) -> float:
    """The recorded calls alone, in order (list arguments fresh each time, as ``current_editors.replay``)."""
    start = meter.now()
    with torch.inference_mode():
        for call in calls:
            call.module(*(snapshot(a) for a in call.args), **{k: snapshot(v) for k, v in call.kwargs.items()})
    return meter.now() - start


def memory(meter: Meter) -> float | None:
    return torch.cuda.memory_allocated() / GIB if meter.cuda else None


# ---------------------------------------------------------------------------------------------- SAM 3
def measure_sam3(folder: Path, opts: argparse.Namespace, meter: Meter) -> Row:
    settings = settings_for("sam3", folder, opts)
    store = ModelStore(settings)
    seg = registry.create("segmenter", "sam3", StageContext(settings=settings, store=store,
                                                            options={"box_threshold": 0.0, "on_ambiguous": "best"}))  # fmt: skip
    keep_top_detections(seg, 3)
    image, _ = scene(opts.size)
    plan = make_plan()

    def run() -> Any:
        forget_image(seg)
        return seg.segment(image=image, plan=plan, hints=Hints())

    row = Row("sam3", steps=0)
    start = meter.now()
    run()
    row.cold_s = meter.now() - start
    row.resident_gib = memory(meter)
    warm = []
    meter.reset_peak()
    for _ in range(opts.repeat):
        start = meter.now()
        run()
        warm.append(meter.now() - start)
    row.warm_s, row.peak_gib = min(warm), meter.peak_mib() / 1024
    if opts.replay:
        recorder = Recorder()
        hook_models(store, recorder)
        run()
        recorder.remove()
        row.replay_s = min(replay_wall(recorder.calls, meter) for _ in range(opts.repeat))
        row.note = "calls: " + ", ".join(sorted({c.name for c in recorder.calls}))
    return row


# ---------------------------------------------------------------------------------------------- editors
def build_modules(role: str, opts: argparse.Namespace, tiny_folder: Path | None, to_cpu: bool) -> dict[str, torch.nn.Module]:
    """The editor's modules built on the device in the dtype (tiny: loaded from the tiny checkpoint through the
    store's own loaders), each moved to the CPU right away when ``to_cpu`` (never two full copies anywhere)."""
    from refedit.testing.fullsize_current import current_modules

    dtype = getattr(torch, opts.dtype)
    if tiny_folder is not None:
        from refedit.testing.fullsize_current import MODULES

        made = ((c, COMPONENTS[c].loader(str(tiny_folder), dtype, local_files_only=True).to(opts.device))
                for c in MODULES[role])  # fmt: skip
    else:
        made = ((c, m) for c, _, m in current_modules(role, device=opts.device, dtype=dtype))
    out = {}
    for component, module in made:
        out[component] = module.to("cpu") if to_cpu else module
        free_memory()
    return out


def edit_once(editor: Any, image: Any, plan: EditPlan, seg: Any, meter: Meter) -> float:
    start = meter.now()
    editor.edit(image=image, plan=plan, segmentation=seg, seed=0)
    return meter.now() - start


def measure_mode(role: str, folder: Path, modules: dict[str, torch.nn.Module], offload: str,
                 opts: argparse.Namespace, meter: Meter) -> Row:  # fmt: skip
    steps = opts.seq_steps if offload == "sequential" else opts.steps
    row = Row(role, offload=offload, steps=steps)
    settings = settings_for(role, folder, opts, offload)
    store = ModelStore(settings)
    options = {"steps": steps, "resolution": opts.resolution, "mask_aware": True}
    editor = registry.create("editor", role, StageContext(settings=settings, store=store, options=options))
    image, seg = scene(opts.size)
    plan = make_plan()
    try:
        inject(store, role, modules)
        editor.check()
        row.resident_gib = memory(meter)
        if offload == "none":
            row.cold_s = edit_once(editor, image, plan, seg, meter)
            meter.reset_peak()
            row.warm_s = edit_once(editor, image, plan, seg, meter)
            row.peak_gib = meter.peak_mib() / 1024
        else:  # kernels are warm from "none"; the transfers are this mode's cost, the same every edit
            meter.reset_peak()
        timer = CallTimer(modules[TRANSFORMER[role]], meter)
        recorder = Recorder(snapshot=True)
        if offload == "none" and opts.replay:
            hook_editor(store, recorder)
        try:
            total = edit_once(editor, image, plan, seg, meter)
        finally:
            recorder.remove()
            timer.remove()
        if offload != "none":
            row.warm_s, row.peak_gib = total, meter.peak_mib() / 1024
            row.note = "one edit after the none runs (kernels warm)"
        row.calls_per_step = len(timer.times) / steps
        row.per_step_s = statistics.median(timer.times) * row.calls_per_step
        fixed = row.warm_s - steps * row.per_step_s
        row.extrapolated_s = {n: fixed + n * row.per_step_s for n in PUBLISHED_STEPS[role]}
        if recorder.calls:
            row.replay_s = replay_wall(recorder.calls, meter)
            del recorder
        from_disk = [c for _, c in store.loads if c in COMPONENTS and COMPONENTS[c].module]
        if from_disk:  # the injection missed: the store loaded a module of its own
            row.status = f"error: loaded from the folder, not the built modules: {', '.join(from_disk)}"
    except (RefEditError, RuntimeError, torch.cuda.OutOfMemoryError) as err:
        row.status = failure(err)
        if not is_oom(err) or opts.debug:
            traceback.print_exc()
        row.peak_gib = meter.peak_mib() / 1024
    finally:
        pipe = getattr(editor, "_pipe", None)
        if pipe is not None and offload == "model":
            pipe.remove_all_hooks()
        del editor, store
        free_memory()
    return row


def measure_editor(role: str, folder: Path, opts: argparse.Namespace, meter: Meter, tiny_folder: Path | None,
                   emit: Callable[[Row], None]) -> None:  # fmt: skip
    modes = [m for m in ("none", "model", "group", "sequential") if m in opts.offload]
    start = meter.now()
    try:
        modules = build_modules(role, opts, tiny_folder, to_cpu=modes[0] != "none")
    except (RuntimeError, torch.cuda.OutOfMemoryError) as err:  # the whole model does not fit: build it on the CPU side
        if "none" not in modes or not is_oom(err):
            raise
        free_memory()
        emit(Row(role, "none", opts.steps, status="OOM while building on the GPU"))
        modes.remove("none")
        modules = build_modules(role, opts, tiny_folder, to_cpu=True)
    built = meter.now() - start
    params = sum(p.numel() for m in modules.values() for p in m.parameters())
    size = f"{params / 1e9:.2f} B" if params >= 1e8 else f"{params / 1e6:.2f} M"
    print(f"=== {role}: {size} parameters built in {built:.1f} s", flush=True)
    for mode in modes:
        if mode in ("group", "sequential"):
            unhook(modules)
        row = measure_mode(role, folder, modules, mode, opts, meter)
        row.note = (row.note + "; " if row.note else "") + f"{size} params, built in {built:.0f} s"
        emit(row)


# ---------------------------------------------------------------------------------------------- report
def fmt(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def report(rows: list[Row], header: str) -> str:
    lines = [header, "", "| model | offload | steps run | status | cold s | warm s | per step s (calls/step) | "
             "extrapolated s (steps) | peak GiB (VRAM; CPU: RSS) | resident before GiB | replay s | warm / replay | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ext = ", ".join(f"{v:.1f} ({n})" for n, v in r.extrapolated_s.items()) or "-"
        step = f"{fmt(r.per_step_s)} ({fmt(r.calls_per_step, 0)})" if r.per_step_s is not None else "-"
        lines.append(f"| {r.model} | {r.offload if r.model != 'sam3' else '-'} | {r.steps or '-'} | {r.status} | "
                     f"{fmt(r.cold_s)} | {fmt(r.warm_s)} | {step} | {ext} | {fmt(r.peak_gib, 1)} | "
                     f"{fmt(r.resident_gib, 1)} | {fmt(r.replay_s)} | {fmt(r.ratio, 3)} | {r.note} |")  # fmt: skip
    lines += ["", "Extrapolated: the measured total minus its steps plus N steps at the measured per-step time (median "
              "transformer call x calls per step); not measured at N steps. Random weights: time and memory only."]
    return "\n".join(lines) + "\n"


def environment(opts: argparse.Namespace) -> str:
    import diffusers
    import transformers

    device = torch.cuda.get_device_name() if opts.device.startswith("cuda") else platform.processor() or "CPU"
    kind = "tiny random-weight models" if opts.tiny else "published sizes, random weights"
    return (f"{kind}; {device}; torch {torch.__version__}, diffusers {diffusers.__version__}, transformers "
            f"{transformers.__version__}; {opts.dtype}; input {opts.size[0]}x{opts.size[1]}, editors at ~{opts.resolution}^2 "
            f"px, {opts.steps} steps ({opts.seq_steps} under sequential offload)")  # fmt: skip


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--models", type=Path, default=Path(os.environ.get("REFEDIT_FULLSIZE_DIR", "/tmp/refedit-fullsize")))
    ap.add_argument("--only", default="sam3,kontext,qwen-edit", help="comma-separated: sam3, kontext, qwen-edit")
    ap.add_argument("--offload", default="none,model,group,sequential", help="the editors' modes (run in the order "
                    "none, model, group, sequential)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--seq-steps", type=int, default=1, help="steps under --offload sequential")
    ap.add_argument("--resolution", type=int, default=None, help="editors' working side (default 1024; tiny 64)")
    ap.add_argument("--size", default=None, help="input WxH (default 2048x1536; tiny 256x192)")
    ap.add_argument("--repeat", type=int, default=3, help="SAM 3 warm runs and replays (minimum kept)")
    ap.add_argument("--no-replay", dest="replay", action="store_false")
    ap.add_argument("--tiny", action="store_true", help="tiny models (a smoke test of this script, e.g. on a CPU)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=None, help="Markdown table (rewritten after every row)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--debug", action="store_true")
    opts = ap.parse_args()
    opts.resolution = opts.resolution or (64 if opts.tiny else 1024)
    opts.size = tuple(int(v) for v in (opts.size or ("256x192" if opts.tiny else "2048x1536")).lower().split("x"))
    opts.offload = [m.strip() for m in opts.offload.split(",") if m.strip()]
    opts.only = [m.strip() for m in opts.only.split(",") if m.strip()]
    return opts


def folders(opts: argparse.Namespace) -> dict[str, Path]:
    """role -> checkpoint folder: tiny ones with weights, or the full-size ones (SAM 3 with weights, built on the
    device; the editors' configs only)."""
    if opts.tiny:
        from refedit.testing.tiny_editors import build_tiny_kontext, build_tiny_qwen_edit
        from refedit.testing.tiny_segmenters import build_tiny_sam3

        root = Path(tempfile.mkdtemp(prefix="refedit-current-gpu-"))
        make = {"sam3": build_tiny_sam3, "qwen-edit": build_tiny_qwen_edit, "kontext": build_tiny_kontext}
        return {role: make[role](root / role) for role in opts.only}
    from refedit.testing.fullsize_current import build_current

    dtype = getattr(torch, opts.dtype)
    return {role: build_current(opts.models, role, device=opts.device, dtype=dtype, weights=role == "sam3")
            for role in opts.only}  # fmt: skip


def main() -> int:
    opts = parse_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    meter = Meter(torch.device(opts.device))
    header = environment(opts)
    print(header, flush=True)
    rows: list[Row] = []

    def emit(row: Row) -> None:
        rows.append(row)
        text = report(rows, header)
        print(f"=== {row.model} offload {row.offload}: {row.status}, warm {fmt(row.warm_s)} s, peak "
              f"{fmt(row.peak_gib, 1)} GiB", flush=True)  # fmt: skip
        if opts.out:
            opts.out.write_text(text)
        if opts.json:
            opts.json.write_text(json.dumps([asdict(r) | {"ratio": r.ratio} for r in rows], indent=2))

    for role in opts.only:
        start = time.perf_counter()
        folder = folders(SimpleNamespace(**{**vars(opts), "only": [role]}))[role]
        print(f"=== {role}: folder {folder} ready in {time.perf_counter() - start:.1f} s", flush=True)
        try:
            if role == "sam3":
                emit(measure_sam3(folder, opts, meter))
            else:
                measure_editor(role, folder, opts, meter, folder if opts.tiny else None, emit)
        except Exception as err:  # noqa: BLE001 - a report: the next model still runs
            traceback.print_exc()
            emit(Row(role, status=failure(err)))
        free_memory()
    print(report(rows, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
