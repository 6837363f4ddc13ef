"""How fast the CLI answers when no model is needed: `refedit --help` and `refedit stages`.

Goal (issue 2): under 0.5 s each on the development machine, without importing torch.
Run: python benchmarks/startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

PROBE = (
    "import sys\nfrom refedit.cli import main\n"
    "try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
    "print('TORCH_IMPORTED' if 'torch' in sys.modules else 'NO_TORCH', file=sys.stderr)"
)


def measure(args: list[str], repeat: int) -> tuple[float, float, bool]:
    times = []
    torch_seen = False
    for _ in range(repeat):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        torch_seen |= "TORCH_IMPORTED" in out.stderr
    return statistics.median(times), max(times), torch_seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    opts = ap.parse_args()
    ok = True
    for args in (["--help"], ["stages"], ["--version"]):
        median, worst, torch_seen = measure(args, opts.repeat)
        verdict = "ok" if median < 0.5 and not torch_seen else "TOO SLOW" if median >= 0.5 else "TORCH IMPORTED"
        ok &= verdict == "ok"
        print(f"refedit {' '.join(args):<10} median {median * 1000:6.0f} ms  max {worst * 1000:6.0f} ms  "
              f"torch imported: {torch_seen}  [{verdict}]")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
