"""Where the default segmenter's time goes outside its model calls: one warm ``segment()`` of Grounded-SAM
(GroundingDINO-base, SAM ViT-H, CLIP ViT-B/16 at their published sizes, random weights, as ``fullsize.py``
builds them) under ``torch.profiler``, on a 512x512 photo with the detector's 3 best boxes kept.

Prints the operators by self CPU time, and the count of host-device synchronisations and copies (each one stops
Python until the GPU has caught up: on an H100 the stage's overhead over its model calls is mostly these and the
Python between the kernels). ``--tiny`` profiles the tiny models instead (a smoke test on a CPU).

Run: ``python benchmarks/profile_segment.py --device cuda [--rows 30]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("REFEDIT_CONFIG", os.devnull)
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from refedit.config import Settings  # noqa: E402
from refedit.pipeline.artifacts import Hints  # noqa: E402
from refedit.pipeline.models import ModelStore  # noqa: E402
from refedit.pipeline.stages import StageContext, registry  # noqa: E402

from modelcalls import forget_image, keep_top_detections, plan_for  # noqa: E402

#: the Python-level steps of one segment(), each wrapped in a ``record_function`` range for the profile:
#: (module, attribute path) -> range name; module-level functions are patched where the caller looks them up
STEPS = {
    ("refedit.pipeline.segment.grounding", "GroundingDino.inputs"): "detect: inputs (pixels + tokens)",
    ("refedit.pipeline.segment.grounding", "post_process"): "detect: post_process",
    ("refedit.pipeline.segment.grounding", "decode_labels"): "detect: decode_labels",
    ("refedit.pipeline.segment.grounded_sam", "nms"): "nms",
    ("refedit.pipeline.segment.sam", "sam_inputs"): "sam: inputs",
    ("refedit.pipeline.segment.sam", "upscale_masks"): "sam: upscale_masks",
    ("refedit.pipeline.segment.sam", "Sam._predict"): "sam: _predict (all of it)",
    ("refedit.pipeline.segment.grounded_sam", "score_attributes"): "clip: score_attributes (all of it)",
    ("refedit.pipeline.segment.attributes", "crops"): "clip: crops",
    ("refedit.pipeline.segment.grounded_sam", "resolve"): "resolve",
    ("refedit.pipeline.segment.grounded_sam", "settle"): "settle",
    ("refedit.core.masks", "clean"): "masks.clean",
    ("refedit.core.masks", "dilate"): "masks.dilate",
}


def annotate() -> None:
    """Wrap each of :data:`STEPS` in a ``record_function`` range named ``step: ...``."""
    import importlib

    for (module, path), name in STEPS.items():
        owner: Any = importlib.import_module(module)
        *parents, attr = path.split(".")
        for p in parents:
            owner = getattr(owner, p)
        fn = getattr(owner, attr)

        def wrapped(*a: Any, _fn: Any = fn, _name: str = f"step: {name}", **k: Any) -> Any:
            with torch.profiler.record_function(_name):
                return _fn(*a, **k)

        setattr(owner, attr, wrapped)


def model_ranges(models: dict[str, Any]) -> None:
    """A ``record_function`` range around each model's forward (``model: <role>``)."""
    for role, model in models.items():
        def pre(_m: Any, _a: Any, _role: str = role) -> None:
            rf = torch.profiler.record_function(f"model: {_role}")
            rf.__enter__()
            _m._refedit_rf = rf

        def post(_m: Any, _a: Any, _o: Any) -> None:
            _m._refedit_rf.__exit__(None, None, None)

        model.register_forward_pre_hook(pre)
        model.register_forward_hook(post)


SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "aten::_local_scalar_dense",
         "aten::item", "cudaMemcpyAsync", "aten::to", "aten::_to_copy", "aten::nonzero")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", type=Path, default=Path(os.environ.get("REFEDIT_FULLSIZE_DIR", "/tmp/refedit-fullsize")))
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--rows", type=int, default=30)
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    if args.tiny:
        from refedit.testing import tiny_models as tm

        paths = {"grounding": tm.build_tiny_grounding_dino(args.models / "tiny-grounding"),
                 "sam": tm.build_tiny_sam(args.models / "tiny-sam"), "clip": tm.build_tiny_clip(args.models / "tiny-clip")}  # fmt: skip
    else:
        from refedit.testing.fullsize import build_fullsize

        paths = build_fullsize(args.models, device=str(device), dtype=dtype, roles=("grounding", "sam", "clip"))
    settings = Settings(models={**Settings().models, **{r: str(p) for r, p in paths.items()}}, device=str(device),
                        dtype=str(dtype).replace("torch.", ""))  # fmt: skip
    store = ModelStore(settings)
    seg = registry.create("segmenter", "grounded-sam",
                          StageContext(settings=settings, store=store, options={"box_threshold": 0.0, "on_ambiguous": "best"}))  # fmt: skip
    keep_top_detections(seg, 3)
    plan = plan_for("replace the left black cat with a tiger")[0]
    image = Image.open(ROOT / "examples" / "cat.jpg").convert("RGB").resize((512, 512), Image.Resampling.LANCZOS)

    def once() -> float:
        forget_image(seg)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        seg.segment(image=image, plan=plan, hints=Hints())
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    warm = min(once() for _ in range(3))
    annotate()
    model_ranges({"grounding": store.get("grounding", "detector"), "sam vision encoder": store.get("sam", "sam").vision_encoder,
                  "sam mask decoder": store.get("sam", "sam").mask_decoder, "clip": store.get("clip", "clip")})  # fmt: skip
    once()  # the wrapped functions warm too
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=activities, record_shapes=False) as prof:
        once()
    events = prof.key_averages()
    counts = Counter({e.key: e.count for e in events if e.key in SYNCS})
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"
    print(f"### segment() of Grounded-SAM, 512x512, 3 boxes kept, {where}, {'tiny' if args.tiny else 'published-size'} models\n")
    print(f"warm segment(): {warm * 1e3:.1f} ms (min of 3, unprofiled)\n")
    print("host-device synchronisations and copies in one segment(): "
          + ", ".join(f"{k} x{v}" for k, v in counts.most_common()) + "\n")  # fmt: skip
    ranges = ("step: ", "model: ")
    if device.type == "cuda":  # the operators' own device time (the ranges' device-side copies left out)
        kernels = sum(getattr(e, "self_device_time_total", 0.0) for e in events if not e.key.startswith(ranges)) / 1e3
        print(f"GPU kernels and copies in the profiled segment(): {kernels:.1f} ms\n")
    print("| step (Python range) | calls | CPU total ms | GPU total ms |\n|---|---:|---:|---:|")
    # a range also appears on the device's timeline, with no CPU time: that copy is left out
    for e in sorted((e for e in events if e.key.startswith(ranges) and e.cpu_time_total > 0), key=lambda e: -e.cpu_time_total):
        gpu = getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0.0))
        print(f"| {e.key} | {e.count} | {e.cpu_time_total / 1e3:.2f} | {gpu / 1e3:.2f} |")
    print()
    print("```")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=60))
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
