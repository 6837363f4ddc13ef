"""Load time of an original single-file checkpoint against its diffusers folder (issue 19; goal: the file loads in
no more than 1.5x the folder's time).

Each load builds a fresh ModelStore and loads every component an editor needs (UNet, VAE, text encoder, tokenizer,
scheduler config), on the CPU in float32. Rounds alternate folder, file, folder, file, ... so that a busy machine
slows both alike, and the minimum of the rounds is reported. The file's first load (hashing it and deriving its
config into refedit's cache) is reported apart as "cold"; later loads read the cache ("warm").

    python benchmarks/single_file.py [--rounds 7]                        # the tiny models (built in a temp dir)
    python benchmarks/single_file.py --fullsize /work/fullsize/sd15-float32 --rounds 1
        # a built full-size random-weight SD 1.5 folder (refedit.testing.fullsize): writes a ~4 GB single file
        # into a temporary folder once, times one cold and --rounds warm loads of each, then deletes it
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")


def load_all(model: str, base: str) -> float:
    """Seconds to load every SD component of ``model`` (a folder or a single file; ``base`` the sd role)."""
    from refedit.config import Settings
    from refedit.pipeline.models import ModelStore

    store = ModelStore(Settings(models={"sd": base}, device="cpu", dtype="float32"))
    start = time.perf_counter()
    for component in COMPONENTS:
        store.get("sd", component, model)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--fullsize", type=Path, default=None, help="a built full-size SD folder (see the docstring)")
    opts = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from refedit.testing.single_file import write_single_file

    work = Path(tempfile.mkdtemp(prefix="refedit-single-file-"))
    os.environ["REFEDIT_CACHE_DIR"] = str(work / "cache")
    try:
        if opts.fullsize:
            folder, label = opts.fullsize, f"full-size ({opts.fullsize.name})"
        else:
            from refedit.testing.tiny_models import build_tiny_sd

            folder, label = build_tiny_sd(work / "sd"), "tiny"
        t = time.perf_counter()
        single = write_single_file(folder, work / "model.safetensors")
        written = time.perf_counter() - t
        load_all(str(folder), str(folder))  # warm the imports and the page cache for both, before timing
        cold = load_all(str(single), str(folder))
        folder_times, file_times = [], []
        for _ in range(opts.rounds):
            folder_times.append(load_all(str(folder), str(folder)))
            file_times.append(load_all(str(single), str(folder)))
        result = {
            "models": label, "rounds": opts.rounds, "file_bytes": single.stat().st_size,
            "write_single_file_s": round(written, 3), "folder_min_s": round(min(folder_times), 4),
            "file_min_s": round(min(file_times), 4), "file_cold_s": round(cold, 4),
            "ratio": round(min(file_times) / min(folder_times), 3),
        }  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    print(f"| {label} | folder {result['folder_min_s']:.3f} s | file {result['file_min_s']:.3f} s "
          f"(cold {result['file_cold_s']:.3f} s) | ratio {result['ratio']:.2f}x (goal <= 1.5x) |", file=sys.stderr)  # fmt: skip
    return 0 if result["ratio"] <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
