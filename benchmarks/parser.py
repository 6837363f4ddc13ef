"""Rules parser: exact-match accuracy per field on tests/data/instructions.jsonl, and parse time.

Goals (issue 3): >= 95 % on target head and action, >= 90 % on the whole plan; < 20 ms per instruction
once spaCy is loaded. Run: python benchmarks/parser.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from refedit.errors import UnclearInstruction
from refedit.pipeline.parse.nlp import load_nlp
from refedit.pipeline.parse.rules import RulesParser

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "instructions.jsonl"
TARGET_FIELDS = ("expression", "head", "attributes", "spatial", "ordinal", "size", "all")


def main() -> int:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    t0 = time.perf_counter()
    load_nlp()
    load_s = time.perf_counter() - t0
    parser = RulesParser()
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
        got = plan.target.to_dict()
        hits["action"] += plan.action == row["action"]
        hits["replacement"] += plan.replacement == row["replacement"]
        for f in TARGET_FIELDS:
            hits[f] += got[f] == row["target"][f]
        hits["plan"] += (plan.action, got, plan.replacement) == (row["action"], row["target"], row["replacement"])
    n = len(rows)
    print(f"rules parser on {n} labelled instructions (spaCy load {load_s:.2f} s)")
    for f in fields:
        print(f"  {f:<12} {100 * hits[f] / n:6.1f} %")
    ms = [t * 1000 for t in times]
    print(f"  parse time   median {statistics.median(ms):.1f} ms, p95 {sorted(ms)[int(0.95 * n)]:.1f} ms, "
          f"max {max(ms):.1f} ms")  # fmt: skip
    ok = hits["head"] / n >= 0.95 and hits["action"] / n >= 0.95 and hits["plan"] / n >= 0.90
    ok &= statistics.median(ms) < 20
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
