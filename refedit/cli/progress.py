"""Progress on stderr: per item for batches, per diffusion step for edits."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import click

from refedit.cli.app import OPEN_LINE, printable


def item_progress(total: int) -> Callable[[dict[str, Any]], None]:
    """Per-item progress on stderr: a tqdm bar with ETA on a TTY, a plain line per item otherwise."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="img", file=sys.stderr)

        def tick(record: dict[str, Any]) -> None:
            bar.update(1)
            if bar.n >= total:
                bar.close()

        return tick
    count = {"n": 0}

    def line(record: dict[str, Any]) -> None:
        count["n"] += 1
        extra = f": {record['error']}" if record["status"] == "failed" else ""
        click.echo(printable(f"[{count['n']}/{total}] {record['status']} {record['input']}{extra}"), err=True)

    return line


def gpu_only_settings(settings: Any) -> list[str]:
    """The settings given that only act on a CUDA device (offload: the CPU is where weights wait; CUDA graphs), as
    flags."""
    return [*([f"--offload {settings.offload}"] if settings.offload != "none" else []),
            *(["--cuda-graphs on"] if settings.cuda_graphs == "on" else [])]


def progress_reporter(store: Any, clock: Callable[[], float] = time.perf_counter) -> Callable[[str, int, int], None]:
    """Progress on stderr: a bar with ETA on a TTY, a plain line every 10 % otherwise. A phase's clock starts
    when it starts (its step 0 report, else its first report), so the ETA, measured from the steps already run,
    counts step 1's time; on a CPU the estimate is honest from the first step on."""
    state: dict[str, Any] = {}

    def report(task: str, done: int, total: int) -> None:
        if not state and store.device.type == "cpu":
            click.echo("refedit: no GPU in use: running on the CPU, where a full-size edit takes minutes; "
                       "the time left below is measured as it runs", err=True)  # fmt: skip
            if unused := gpu_only_settings(store.settings):
                verb = "acts" if len(unused) == 1 else "act"
                click.echo(f"refedit: note: {', '.join(unused)} only {verb} on a GPU: no effect here", err=True)
        if done == 0 or state.get("task") != task:
            state.update(task=task, start=clock(), last=-1)
        if done == 0:
            return
        elapsed = clock() - state["start"]
        eta = elapsed / done * (total - done)
        pct = int(100 * done / max(total, 1))
        if sys.stderr.isatty():
            end = "\n" if done >= total else ""
            click.echo(f"\r{task}: {done}/{total} [{elapsed:.0f}s elapsed, ~{eta:.0f}s left]   ", err=True, nl=False)
            click.echo(end, err=True, nl=False)
            OPEN_LINE["open"] = not end
        elif pct // 10 != state["last"] // 10 or done >= total:
            state["last"] = pct
            click.echo(f"{task}: {done}/{total} ({elapsed:.1f}s elapsed, ~{eta:.1f}s left)", err=True)

    return report
