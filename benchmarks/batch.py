"""Batch steadiness on the tiny models: no per-item reloading, no memory growth.

Goals (issue 7): the per-image wall time over a batch of N=20 is <= 1.10 x the steady-state per-image
time, and peak RSS after 50 items is within 5 % of peak RSS after 10. The one-time model load happens
on the first item and is reported apart. Run: python benchmarks/batch.py
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def tiny_batch(n: int) -> tuple[Path, "Settings", Path]:
    """A temporary folder with the tiny models, the settings that point at them (CPU), and ``n`` 128x96 photos
    (the example photos in turn) in ``<tmp>/in``."""
    from refedit.config import Settings
    from refedit.testing.tiny_models import build_all

    tmp = Path(tempfile.mkdtemp())
    models = build_all(tmp / "models")
    settings = Settings(models={"sd": str(models["sd"]), "grounding": str(models["grounding-dino"]),
                                "sam": str(models["sam"]), "clip": str(models["clip"])}, device="cpu")  # fmt: skip
    src = tmp / "in"
    src.mkdir()
    photos = ["cat.jpg", "coffee.jpg", "coins.jpg", "rocket.jpg"]
    for i in range(n):
        Image.open(ROOT / "examples" / photos[i % 4]).convert("RGB").resize((128, 96)).save(src / f"{i:02d}.png")
    return tmp, settings, src


def main() -> int:
    from refedit.batch import BatchRunner, JsonlLog, items_from_folder
    from refedit.pipeline.models import ModelStore

    tmp, settings, src = tiny_batch(50)
    items = items_from_folder(src, "replace the cat with a tiger", tmp / "out")
    store = ModelStore(settings)
    runner = BatchRunner(settings, options={"steps": 10, "resolution": 128, "box_threshold": 0.0}, store=store)
    log = JsonlLog(tmp / "out" / "log.jsonl")
    times: list[float] = []
    rss: dict[int, float] = {}
    start = time.perf_counter()
    for n, item in enumerate(items, 1):
        t = time.perf_counter()
        record = runner.run_item(item)
        times.append(time.perf_counter() - t)
        assert record["status"] == "done", record
        log.write(record)
        if n in (10, 50):
            rss[n] = peak_rss_mb()
        if n == 20:
            batch20 = time.perf_counter() - start
    first = times[0]
    steady = statistics.median(times[20:50])
    per_image_20 = (batch20 - first) / 19  # the 19 items after the one that loaded the models
    ratio = per_image_20 / steady
    growth = rss[50] / rss[10] - 1.0
    print(f"{len(items)} items, tiny SD + GroundingDINO + SAM, 128x96, 10 DDIM steps, CPU")
    print(f"  from_pretrained calls        {len(store.loads)} (each component once: {len(set(store.loads)) == len(store.loads)})")
    print(f"  first item (loads models)    {first:7.3f} s")
    print(f"  steady state per image      {steady:7.3f} s (median of items 21-50)")
    print(f"  batch of 20, per image      {per_image_20:7.3f} s (items 2-20)  ratio {ratio:.3f}  "
          f"(goal <= 1.10: {'met' if ratio <= 1.10 else 'NOT met'})")  # fmt: skip
    print(f"  peak RSS after 10 items      {rss[10]:7.1f} MiB")
    print(f"  peak RSS after 50 items      {rss[50]:7.1f} MiB  growth {100 * growth:+.2f} %  "
          f"(goal within 5 %: {'met' if abs(growth) <= 0.05 else 'NOT met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
