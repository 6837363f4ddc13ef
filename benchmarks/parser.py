"""Rules parser: exact-match accuracy per field on tests/data/instructions.jsonl, and parse time.

Goals (issue 3): >= 95 % on target head and action, >= 90 % on the whole plan; < 20 ms per instruction
once spaCy is loaded. The development set is the one the rules were written against; the held-out set
was written independently and never used for tuning. Run: python benchmarks/parser.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from refedit.errors import UnclearInstruction
from refedit.pipeline.artifacts import Target
from refedit.pipeline.parse.nlp import load_nlp
from refedit.pipeline.parse.rules import RulesParser

DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = {"development": DATA_DIR / "instructions.jsonl", "held-out": DATA_DIR / "instructions_heldout.jsonl"}
TARGET_FIELDS = ("expression", "head", "attributes", "spatial", "ordinal", "size", "all")


def evaluate(name: str, path: Path, parser: RulesParser) -> bool:
    """Print per-field exact-match accuracy and parse times on one labelled set; True if goals are met."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    fields = ("action", "replacement", *TARGET_FIELDS, "plan")
    hits = dict.fromkeys(fields, 0)
    times = []
    for row in rows:
        start = time.perf_counter()
        try:
            plan = parser.parse(instruction=row["instruction"])
        except UnclearInstruction:
            times.append(time.perf_counter() - start)
            continue
        times.append(time.perf_counter() - start)
        got, want = plan.target.to_dict(), Target.from_dict(row["target"]).to_dict()  # left-out fields: defaults
        hits["action"] += plan.action == row["action"]
        hits["replacement"] += plan.replacement == row["replacement"]
        for f in TARGET_FIELDS:
            hits[f] += got[f] == want[f]
        hits["plan"] += (plan.action, got, plan.replacement, plan.placement) == (
            row["action"], want, row["replacement"], row.get("placement"))  # fmt: skip
    n = len(rows)
    print(f"{name} set: {n} labelled instructions ({path.name})")
    for f in fields:
        print(f"  {f:<12} {100 * hits[f] / n:6.1f} %")
    ms = [t * 1000 for t in times]
    print(f"  parse time   median {statistics.median(ms):.1f} ms, p95 {sorted(ms)[int(0.95 * n)]:.1f} ms, "
          f"max {max(ms):.1f} ms")  # fmt: skip
    ok = hits["head"] / n >= 0.95 and hits["action"] / n >= 0.95 and hits["plan"] / n >= 0.90
    return ok and statistics.median(ms) < 20


def main() -> int:
    t0 = time.perf_counter()
    load_nlp()
    print(f"spaCy pipeline loaded in {time.perf_counter() - t0:.2f} s")
    parser = RulesParser()
    results = [evaluate(name, path, parser) for name, path in SETS.items() if path.exists()]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
