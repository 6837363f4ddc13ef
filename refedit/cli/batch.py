"""``refedit batch``: a folder or a manifest, models loaded once, every item logged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import click

from refedit.cli.app import debug_requested, handle_errors, main, printable
from refedit.cli.options import (
    SeedType,
    check_models,
    model_options,
    options_from,
    settings_from,
    stage_names,
    stage_options,
    utf8_text,
)
from refedit.cli.progress import item_progress
from refedit.cli.streams import is_std, read_manifest_stdin
from refedit.errors import BadInput


def engine_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Where a command's items run (``refedit batch``, ``refedit eval edit``): this process or Ray Data actors."""
    f = click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=None,
                     help="GPUs bound to each Ray actor [1 when the cluster has GPUs, else 0].")(f)  # fmt: skip
    f = click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Ray actors, each with its own models [one per GPU, else one per CPU].")(f)  # fmt: skip
    f = click.option("--address", default=None, metavar="auto|HOST:PORT|ray://HOST:PORT",
                     help="Ray cluster to join [a local Ray started for this run].")(f)  # fmt: skip
    return click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                        help="Where items run: this process, or Ray Data actors (pip install 'refedit[ray]').")(f)  # fmt: skip


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-i", "--instruction", default=None, callback=utf8_text,
              help="Instruction for every image (folder; default for a manifest).")  # fmt: skip
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), required=True, help="Where outputs go (mirrors the input tree).")
@click.option("--name", default="{stem}_edited.png", show_default=True,
              help="Output name template: {stem} (the input's name without its extension), {index}, {seed}, and {ext} "
                   "(the input's extension without the dot: '{stem}_edited.{ext}').")  # fmt: skip
@click.option("--seed", type=SeedType(), default=0, show_default=True, help="Seed (a manifest row's seed wins).")
@click.option("--overwrite", is_flag=True, help="Redo items whose output exists (default: skip them, so reruns resume).")
@click.option("--dry-run", is_flag=True, help="Parse and segment only: write masks and overlays, no editing.")
@click.option("--log", "log_path", type=click.Path(path_type=Path), default=None,
              help="JSON-lines log, one line per item [OUTPUT_DIR/refedit-batch.jsonl].")  # fmt: skip
@click.option("--allow-outside", is_flag=True, help="Allow manifest paths outside the manifest's folder (the current folder for -).")
@click.option("--continue-on-error/--fail-fast", default=True, show_default=True, help="Keep going past a failed item.")
@click.option("--json", "as_json", is_flag=True, help="Print each item's log record on stdout (else output paths).")
@engine_options
@stage_options
@model_options
@handle_errors
def batch(source: Path, instruction: str | None, output_dir: Path, name: str, seed: int, overwrite: bool, dry_run: bool,
          log_path: Path | None, allow_outside: bool, continue_on_error: bool, as_json: bool, engine: str,
          address: str | None, workers: int | None, gpus_per_worker: float | None, parser: str, segmenter: str,
          editor: str | None, **params: Any) -> None:  # fmt: skip
    """Edit every image of a folder (-i INSTRUCTION) or every row of a JSONL/CSV manifest (- reads one from stdin:
    JSONL when it starts with '{', else CSV; its paths are relative to the current folder).

    Models load once; an item that fails is logged and the run goes on (exit code 6 at the end); an item
    whose instruction fits several objects equally well is logged as ambiguous with its candidates drawn
    beside its output, and the run goes on (exit code 7 at the end when nothing failed; settle it with a
    `pick` column or --on-ambiguous); outputs that exist are skipped, so rerunning a killed batch resumes it.

    With --engine ray the items run on Ray Data actors (a local Ray, or the cluster at --address), the outputs and
    the log are the same; the output folder and the model cache must be shared by every node.
    """
    from refedit.batch import (
        STDIN_MANIFEST,
        BatchRunner,
        JsonlLog,
        Rejected,
        check_name_template,
        check_unique_outputs,
        items_from_folder,
        items_from_manifest,
    )
    from refedit.config import check_environment
    from refedit.errors import BatchFailed
    from refedit.pipeline.imageio import check_output_dir

    check_environment()
    ray_engine = ray_engine_from(engine, address, workers, gpus_per_worker)
    if params.pop("hint_boxes") or params.pop("hint_points") or params.pop("hint_mask"):
        raise BadInput("per-item hints belong in the manifest (box, point, hint_mask columns)")
    check_name_template(name)
    stages = stage_names(parser, segmenter, editor)
    options = options_from(params, stages)
    check_output_dir(output_dir, "output folder (-o)")
    if log_path is not None:
        check_output_dir(log_path.parent, "--log folder")
        if log_path.is_dir():
            raise BadInput(f"--log {log_path} is a folder; give a file such as {log_path / 'refedit-batch.jsonl'}")
    if source.is_dir() and source.resolve() == output_dir.resolve():
        raise BadInput(f"the output folder is the input folder {source}; give another -o (inputs are never overwritten)")
    if is_std(source):
        items: list[Any] = items_from_manifest(Path.cwd() / STDIN_MANIFEST, output_dir, instruction=instruction, name=name,
                                               seed=seed, allow_outside=allow_outside, stages=stages, options=options,
                                               text=read_manifest_stdin())  # fmt: skip
    elif not source.exists():
        raise BadInput(f"{source} does not exist (give a folder of images, a .jsonl/.csv manifest, or - for one on stdin)")
    elif source.is_dir():
        items = items_from_folder(source, instruction or "", output_dir, name=name, seed=seed)
    elif source.is_file() and source.suffix.lower() in (".jsonl", ".json", ".csv"):
        items = items_from_manifest(source, output_dir, instruction=instruction, name=name, seed=seed,
                                    allow_outside=allow_outside, stages=stages, options=options)  # fmt: skip
    else:
        raise BadInput(f"{source} is neither a folder nor a .jsonl/.csv manifest")
    if not items:
        raise BadInput("the manifest on stdin has no rows" if is_std(source) else f"no images found in {source}")
    rejected = [i for i in items if isinstance(i, Rejected)]
    if len(rejected) == len(items):
        more = f" (and the other {len(items) - 1} rows are invalid too)" if len(items) > 1 else ""
        raise BadInput(f"{rejected[0].error}{more}")
    if rejected and not continue_on_error:  # --fail-fast: a bad row stops the run before any item is edited
        more = f" (and {len(rejected) - 1} more invalid rows)" if len(rejected) > 1 else ""
        raise BadInput(f"{rejected[0].error}{more}; nothing was run (--fail-fast)")
    if instruction and parser == "rules" and any(getattr(i, "instruction", None) == instruction for i in items):
        from refedit.pipeline.parse.rules import RulesParser

        RulesParser().parse(instruction=instruction)  # an -i the parser refuses fails once, not once per image
    settings = settings_from(params, stages, options, editor_left=editor is None)
    runner = BatchRunner(settings, parser=parser, segmenter=segmenter, editor=editor, options=options,
                         overwrite=overwrite, dry_run=dry_run, fail_fast=not continue_on_error,
                         debug=debug_requested(click.get_current_context()))  # fmt: skip
    log_file = log_path or output_dir / "refedit-batch.jsonl"
    check_unique_outputs(items, runner.outputs_of, log=log_file, manifest=None if is_std(source) or source.is_dir() else source)
    runnable = [i for i in items if not isinstance(i, Rejected)]
    check_models(settings, {k: v for k, v in stages.items() if k != "segmenter" or any(i.mask is None for i in runnable)},
                 options)  # fmt: skip
    runner.pipeline({})  # checkpoint types checked (exit 5) before the log exists and before any item runs
    from refedit.core.files import FolderLock

    log = JsonlLog(log_file)
    bar = item_progress(len(items))

    def on_item(record: dict[str, Any]) -> None:
        bar(record)
        if as_json:
            click.echo(json.dumps(record, default=str))
        elif record["status"] == "done":
            for v in record.get("variants") or ():
                click.echo(v["image"])
            click.echo(record.get("contact_sheet") or record.get("mask") or record["output"])
        elif record["status"] == "ambiguous":
            click.echo(printable(f"refedit: item {record['index']} ({record['input']}) is ambiguous: "
                                 f"{record['error']}; candidates drawn in {record['candidates_overlay']}"), err=True)  # fmt: skip

    try:  # one run at a time in a folder (the lock taken once Ray has its workers: a refusal leaves no folder)
        if ray_engine is None:
            log.lock = FolderLock(output_dir).acquire()
            summary = runner.run(items, log, on_item)
        else:
            with ray_engine:
                log.lock = FolderLock(output_dir).acquire()
                summary = runner.run(items, log, on_item, engine=ray_engine)
            if ray_engine.stats:
                click.echo(ray_engine.summary_line(), err=True)
    finally:
        log.close()
    click.echo(f"{summary.line()} (log: {log.path})", err=True)
    if summary.failed:
        raise BatchFailed(f"{summary.failed} of {len(items)} items failed; see {log.path}")
    if summary.ambiguous:
        from refedit.errors import Ambiguous

        raise Ambiguous(f"{summary.ambiguous} of {len(items)} items were ambiguous (status 'ambiguous' in {log.path}, "
                        "candidates drawn beside their outputs); add a 'pick' column to those rows or rerun with "
                        "--on-ambiguous best|all")  # fmt: skip


def ray_engine_from(engine: str, address: str | None, workers: int | None, gpus_per_worker: float | None) -> Any:
    """The Ray engine (Ray Data checked to be installed: exit 5 with how to install it), or None for the local
    engine, which takes none of the Ray options."""
    if engine == "local":
        given = [f for f, v in (("--address", address), ("--workers", workers), ("--gpus-per-worker", gpus_per_worker))
                 if v is not None]  # fmt: skip
        if given:
            raise BadInput(f"{', '.join(given)} only work with --engine ray")
        return None
    if gpus_per_worker is not None and not math.isfinite(gpus_per_worker):
        raise BadInput(f"--gpus-per-worker must be a finite number of GPUs, not {gpus_per_worker}")
    from refedit.batch_ray import RayEngine, import_ray

    import_ray()
    return RayEngine(address=address, workers=workers, gpus_per_worker=gpus_per_worker)
