"""``refedit batch`` on the local engine against the Ray engine with 2 workers (issue 16), on the tiny models.

16 items, the same BatchRunner and options for both. The local engine runs in this process, once per
``--threads`` value (torch intra-op threads; default 1 and 2); the Ray engine starts a local Ray of 2 CPUs (timed
apart: ``ray.init``) and runs the items on 2 one-CPU actors (Ray gives each one torch thread), each with its own
models.

What is measured, and where (wall clock, ``time.time()``, one machine so one clock):
- model time per item: the actor's own time for ``run_item`` (``ItemStat.call_seconds``), and the local engine's
  record ``seconds``; the first item of each worker includes loading its models and is reported apart.
- Ray's scheduling overhead per item, two ways: (a) the gap an actor sits idle between finishing one item and
  starting the next (dispatch of the next block through Ray Data), and (b) the delivery latency from the actor
  finishing an item to the driver receiving its record (through the object store and ``iter_rows``). (a) costs
  throughput, (b) only latency, as it overlaps the next item's work; their sum is an upper bound of the
  per-item cost.
- actor start: from the start of the Ray Data execution to each actor's constructor finishing (worker process,
  imports, BatchRunner built; models are loaded lazily by the first item).
- end to end: the wall time of each engine for all 16 items, with and without the one-time costs.

Run: ``python benchmarks/batch_ray.py`` (on a shared machine: ``nice -n 19``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from batch import tiny_batch  # noqa: E402


def mean(xs: list[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads of the local engine runs")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    import ray
    import torch

    from refedit.batch import BatchRunner, JsonlLog, items_from_folder
    from refedit.batch_ray import RayEngine

    tmp, settings, src = tiny_batch(args.items)
    options = {"steps": args.steps, "resolution": args.resolution, "box_threshold": 0.0, "on_ambiguous": "best"}

    load = os.getloadavg()[0]  # other processes of a shared machine
    # ---- local engine, at each thread count
    local_runs = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        out = tmp / f"local-{threads}"
        items = items_from_folder(src, "replace the cat with a tiger", out)
        runner = BatchRunner(settings, options=options)
        t0 = time.time()
        local = runner.run(items, JsonlLog(out / "log.jsonl"))
        wall = time.time() - t0
        assert local.done == args.items, local
        records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        local_runs[threads] = (wall, [rec["seconds"] for rec in records])

    # ---- ray engine
    items = items_from_folder(src, "replace the cat with a tiger", tmp / "ray")
    runner = BatchRunner(settings, options=options)
    t0 = time.time()
    ray.init(address="local", num_cpus=args.workers, object_store_memory=200 * 1024**2, include_dashboard=False,
             log_to_driver=False)  # fmt: skip
    ray_init = time.time() - t0
    engine = RayEngine(workers=args.workers)
    with engine:
        t1 = time.time()
        rsum = runner.run(items, JsonlLog(tmp / "ray" / "log.jsonl"), engine=engine)
        ray_wall = time.time() - t1
    ray.shutdown()
    assert rsum.done == args.items, rsum
    stats = engine.stats
    workers: dict[int, list] = {}
    for st in sorted(stats, key=lambda s: s.started_at):
        workers.setdefault(st.worker, []).append(st)
    first_calls = [w[0].call_seconds for w in workers.values()]
    steady_calls = [st.call_seconds for w in workers.values() for st in w[1:]]
    gaps = [b.started_at - a.finished_at for w in workers.values() for a, b in zip(w, w[1:])]
    delivery = [st.received_at - st.finished_at for st in stats]
    actor_start = [w[0].ready_at - engine.started_at for w in workers.values()]
    warm = max(w[0].finished_at for w in workers.values())  # every actor has loaded its models
    warm_items = [st for st in stats if st.started_at >= warm]
    last = max(st.received_at for st in stats)

    print(f"{args.items} items, tiny SD + GroundingDINO + SAM, 128x96 inputs, {args.steps} DDIM steps at "
          f"{args.resolution}, CPU ({os.cpu_count()} cores), load average {load:.1f} at start")  # fmt: skip
    for threads, (wall, secs) in local_runs.items():
        print(f"local engine (this process, torch threads: {threads})")
        print(f"  first item (loads models)         {secs[0]:7.3f} s")
        print(f"  per item, items 2-{args.items} (median)     {median(secs[1:]):7.3f} s   mean {mean(secs[1:]):.3f} s")
        print(f"  wall, all items                   {wall:7.3f} s   ({wall / args.items:.3f} s per item)")
    print(f"ray engine ({len(workers)} workers x 1 CPU; items per worker: {[len(w) for w in workers.values()]})")
    print(f"  ray.init (local Ray, started once) {ray_init:7.3f} s")
    print(f"  actor start (process + imports)   {', '.join(f'{a:.3f}' for a in actor_start)} s")
    print(f"  first item per actor (loads)      {', '.join(f'{c:.3f}' for c in first_calls)} s")
    print(f"  per item in the actor (median)    {median(steady_calls):7.3f} s   mean {mean(steady_calls):.3f} s")
    print(f"  (a) idle gap between items        {median(gaps) * 1000:7.1f} ms median, {mean(gaps) * 1000:.1f} ms mean, "
          f"{max(gaps) * 1000:.1f} ms max  ({len(gaps)} gaps)")  # fmt: skip
    print(f"  (b) delivery to the driver        {median(delivery) * 1000:7.1f} ms median, "
          f"{mean(delivery) * 1000:.1f} ms mean, {max(delivery) * 1000:.1f} ms max")  # fmt: skip
    overhead = mean(gaps) + mean(delivery)
    print(f"  overhead per item, (a)+(b) means  {overhead * 1000:7.1f} ms = "
          f"{100 * overhead / median(steady_calls):.1f} % of the per-item model time")  # fmt: skip
    print(f"  wall, execution (after ray.init)  {ray_wall:7.3f} s")
    if warm_items:
        span = last - warm
        print(f"  wall once every actor had models  {span:7.3f} s for the {len(warm_items)} items started after "
              f"({span / len(warm_items):.3f} s per item, {len(workers)} at a time)")  # fmt: skip
    print(f"  loads per worker                  {engine.summary_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
