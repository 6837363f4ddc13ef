"""How fast the CLI answers when no model is needed: `refedit --help`, `refedit stages`, and the up-front
refusals of a doomed edit (an output folder that takes no files, a bad `-O` value, a model that is neither
here nor downloadable).

Goals (issues 2 and 10): under 0.5 s each without importing torch, a refusal with its exit code (2 for bad
input); the missing model (exit 5) under 2 s, also without torch.
Run: python benchmarks/startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAT = str(ROOT / "examples" / "cat.jpg")
EDIT = ["edit", CAT, "replace the cat with a tiger"]
#: (label, arguments, expected exit code, goal in seconds)
CASES: list[tuple[str, list[str], int, float]] = [
    ("--help", ["--help"], 0, 0.5),
    ("stages", ["stages"], 0, 0.5),
    ("--version", ["--version"], 0, 0.5),
    ("edit -o /proc/... (unwritable)", [*EDIT, "-o", "/proc/refedit-out.png"], 2, 0.5),
    ("edit -O steps=abc", [*EDIT, "-O", "steps=abc"], 2, 0.5),
    ("edit --sd-model /missing", [*EDIT, "-o", "/tmp/refedit-startup.png", "--sd-model", "/missing/sd"], 5, 2.0),
]

PROBE = (
    "import sys\nfrom refedit.cli import main\n"
    "code = 0\n"
    "try:\n    main({args!r})\nexcept SystemExit as e:\n    code = e.code or 0\n"
    "print('TORCH_IMPORTED' if 'torch' in sys.modules else 'NO_TORCH', 'EXIT', code, file=sys.stderr)"
)


def measure(args: list[str], repeat: int) -> tuple[float, float, bool, set[int]]:
    """Median and worst wall time of ``repeat`` fresh processes, whether any imported torch, their exit codes."""
    times = []
    torch_seen = False
    codes: set[int] = set()
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
        times.append(time.perf_counter() - start)
        torch_seen |= "TORCH_IMPORTED" in out.stderr
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
        codes.add(int(last.rsplit(" ", 1)[-1]) if "EXIT" in last else -1)
    return statistics.median(times), max(times), torch_seen, codes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    opts = ap.parse_args()
    ok = True
    for label, args, expected, goal in CASES:
        median, worst, torch_seen, codes = measure(args, opts.repeat)
        verdict = ("TORCH IMPORTED" if torch_seen else f"EXIT {sorted(codes)} != {expected}" if codes != {expected}
                   else "TOO SLOW" if median >= goal else "ok")  # fmt: skip
        ok &= verdict == "ok"
        print(f"refedit {label:<32} goal {goal:.1f} s  median {median * 1000:6.0f} ms  max {worst * 1000:6.0f} ms  "
              f"torch imported: {torch_seen}  exit {sorted(codes)}  [{verdict}]")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
