"""What the overhead benchmarks share: forward hooks that record the outermost model calls a stage makes
(module, args, kwargs), so they can be replayed alone on the same inputs, and SAM's per-image cache reset."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class Call:
    """One outermost model call: ``name`` (the hooked module's, or the label given), module, inputs."""

    name: str
    module: torch.nn.Module
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def snapshot(value: Any) -> Any:
    """A list argument copied (a call may fill it in: the Qwen VAE's feature cache and index); tensors as is."""
    return list(value) if isinstance(value, list) else value


class Recorder:
    """Forward hooks recording the outermost calls into hooked modules while ``active``; ``label`` may rename
    a call at record time (e.g. by the step it ran in); with ``snapshot`` the arguments are kept as they were
    when the call began (see :func:`snapshot`), else as they are after it."""

    def __init__(self, label: Callable[[str], str] | None = None, *, snapshot: bool = False) -> None:
        self.label = label
        self.snapshot = snapshot
        self.active = True
        self.depth = 0
        self.calls: list[Call] = []
        self._pending: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._handles: list[Any] = []

    def hook(self, module: torch.nn.Module, name: str) -> None:
        def pre(mod: Any, args: Any, kwargs: Any) -> None:
            if not self.active:
                return
            if self.depth == 0 and self.snapshot:
                self._pending.append((tuple(snapshot(a) for a in args), {k: snapshot(v) for k, v in kwargs.items()}))
            self.depth += 1

        def post(mod: Any, args: Any, kwargs: Any, out: Any) -> None:
            if not self.active:
                return
            self.depth -= 1
            if self.depth == 0:
                a, k = self._pending.pop() if self.snapshot else (tuple(args), dict(kwargs))
                self.calls.append(Call(self.label(name) if self.label else name, mod, a, k))

        self._handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
        self._handles.append(module.register_forward_hook(post, with_kwargs=True))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


class Stopwatch:
    """Forward hooks adding up the CPU time spent inside the outermost hooked model calls, during the very run
    being timed: the rest of the run's CPU time is the stage's own work, with no second run to compare against
    (one SAM ViT-H call varies by 10 % between runs on a shared machine, more than the overhead at published
    sizes). Same ``hook(module, name)`` interface as :class:`Recorder`; two clock reads a call."""

    def __init__(self) -> None:
        self.depth = 0
        self.inside = 0.0
        self._start = 0.0
        self._handles: list[Any] = []

    def enter(self) -> None:
        if self.depth == 0:
            self._start = time.process_time()
        self.depth += 1

    def leave(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.inside += time.process_time() - self._start

    def hook(self, module: torch.nn.Module, name: str) -> None:
        self._handles.append(module.register_forward_pre_hook(lambda *_: self.enter()))
        self._handles.append(module.register_forward_hook(lambda *_: self.leave()))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def hook_loaded_models(store: Any, recorder: Recorder) -> None:
    """Hook every model module the store has loaded. The VAE's encode/decode and SAM's image embedding do not
    go through the top module's forward, so their parts are hooked instead (SAM's forward is the decoder)."""
    for key, obj in list(store._cache.items()):  # noqa: SLF001 - a benchmark may look inside
        if not isinstance(obj, torch.nn.Module):
            continue
        component = key[1]
        if component == "vae":
            for part in ("encoder", "quant_conv", "post_quant_conv", "decoder"):
                if getattr(obj, part, None) is not None:
                    recorder.hook(getattr(obj, part), f"vae.{part}")
        elif component == "sam":
            recorder.hook(obj, "sam (mask decoder)")
            if hasattr(obj, "vision_encoder"):
                recorder.hook(obj.vision_encoder, "sam (image encoder)")
        else:
            recorder.hook(obj, component)


def forget_image(segmenter: Any) -> None:
    """Clear SAM's per-image embedding cache, so the next segment() costs what a new photo costs."""
    sam = getattr(segmenter, "_sam", None)
    for attr in ("_key", "_state"):
        if sam is not None and hasattr(sam, attr):
            setattr(sam, attr, None)


def keep_top_detections(segmenter: Any, k: int = 3) -> None:
    """Cut the segmenter's detector output to its ``k`` best boxes (0: all), as for a photo with k cats. Random
    weights score every query alike (tiny models at a 0 threshold pass all of them, fp16 scores saturate at 1.0),
    so without this SAM and CLIP would do the work of 20 to 60 objects, not a real photo's. After the first call the
    detector's own floor (the threshold it applies before building candidates) is raised to the k-th best score, so
    later calls of the same photo build k candidates, as a photo with k cats does at the product's box threshold,
    not the 900 a 0 threshold passes (the model calls are the same either way)."""
    if k <= 0 or not hasattr(segmenter, "detector"):
        return
    detector = segmenter.detector
    detect = detector.detect

    def top(*args: Any, **kwargs: Any) -> Any:
        found = sorted(detect(*args, **kwargs), key=lambda c: -c.score)[:k]
        if len(found) == k and hasattr(detector, "floor"):
            detector.floor = max(detector.floor, found[-1].score)
        return found

    detector.detect = top


PLANS = Path(__file__).resolve().parent / "data" / "plans.json"


def plan_for(instruction: str) -> tuple[Any, str]:
    """The rules parser's plan for ``instruction`` and where it came from: the parser where spaCy is installed,
    else the plan it made, stored in ``benchmarks/data/plans.json`` (the GPU machine has no spaCy; parsing is a
    CPU step of 2-7 ms either way, benchmarks/parser.py). ``tests/test_gpu_path.py`` keeps the file equal to the
    parser's output."""
    from refedit.pipeline.artifacts import EditPlan

    try:
        import spacy  # noqa: F401  (only whether it is installed)
    except ImportError:
        stored = json.loads(PLANS.read_text())
        if instruction not in stored:
            raise SystemExit(f"spaCy is not installed and benchmarks/data/plans.json has no plan for {instruction!r}")
        return EditPlan.from_dict(stored[instruction]), "given (spaCy not installed here)"
    from refedit.pipeline.parse.rules import RulesParser

    return RulesParser().parse(instruction=instruction), "rules (spaCy)"
