"""GroundingDINO's post-processing: transformers' ``post_process_grounded_object_detection`` against refedit's
:func:`~refedit.pipeline.segment.grounding.post_process` (same boxes, scores and labels: tests/test_grounding.py),
on a GroundingDINO-base-sized output (900 queries x 256 text positions) with 1, 3, 30 and 900 kept boxes.

The library syncs with the device per box and per token (``nonzero().tolist()``, then one tensor per token for
the decode), refedit once. On a CPU the figures are the host work alone; on a GPU (``--device cuda``, wall time
after a sync) each sync also waits for the device. Minimum over ``--rounds`` interleaved rounds.

Run: ``python benchmarks/postprocess.py [--device cuda] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refedit.pipeline.segment.grounding import decode_labels, post_process  # noqa: E402
from refedit.testing.tiny_models import build_tiny_grounding_dino  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    device = torch.device(args.device)
    import tempfile

    from transformers import AutoProcessor

    with tempfile.TemporaryDirectory() as tmp:  # the tiny checkpoint's processor: a BERT tokenizer, as the base one
        processor = AutoProcessor.from_pretrained(build_tiny_grounding_dino(Path(tmp) / "gd"))
    ids = processor.tokenizer(["a black cat."], return_tensors="pt")["input_ids"].to(device)
    n = ids.shape[-1]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(900, 256, generator=g)
    logits[:, n:] = float("-inf")
    boxes = (torch.rand(900, 4, generator=g) * 0.5 + 0.25).to(device)
    size = (512, 512)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    rows = []
    for kept in (1, 3, 30, 900):
        lg = logits.clone()
        order = lg.amax(-1).argsort(descending=True)
        lg[order[kept:], :n] = -10.0  # sigmoid 4.5e-5: below the floor
        lg = lg.to(device)
        floor = 1e-3
        best = float(lg.sigmoid().amax())
        threshold = float(np.nextafter(np.float32(min(floor, best)), np.float32(-np.inf)))

        def theirs() -> int:
            out = SimpleNamespace(logits=lg[None], pred_boxes=boxes[None])
            r = processor.post_process_grounded_object_detection(out, ids, threshold=threshold, text_threshold=0.25,
                                                                 target_sizes=[size])[0]  # fmt: skip
            r["boxes"].tolist()
            return len(r["text_labels"])

        def ours() -> int:
            k = post_process(lg, boxes, ids[0], floor=floor, text_threshold=0.25, size=size)
            return len(decode_labels(processor.tokenizer, [c[2] for c in k]))

        times: dict[str, list[float]] = {"transformers": [], "refedit": []}
        for _ in range(args.rounds):
            for name, fn in (("transformers", theirs), ("refedit", ours)):
                sync()
                t = time.perf_counter()
                count = fn()
                sync()
                times[name].append(time.perf_counter() - t)
                assert count == kept, (name, count, kept)
        rows.append((kept, min(times["transformers"]) * 1e3, min(times["refedit"]) * 1e3))
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU, 1 thread"
    print(f"### GroundingDINO post-processing, 900 queries x 256 positions, {where}, min of {args.rounds} rounds\n")
    print("| boxes kept | transformers ms | refedit ms | ratio |")
    print("|---:|---:|---:|---:|")
    for kept, a, b in rows:
        print(f"| {kept} | {a:.2f} | {b:.2f} | {b / a:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
