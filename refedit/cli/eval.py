"""``refedit eval``: the seed papers' metrics over public benchmarks (``segment``, ``edit``, ``score``) and an offline
synthetic benchmark (``synth``). Results go to ``-o OUT``: ``samples.jsonl`` (one line per sample; a rerun skips
the samples already there), ``summary.json``, ``summary.md`` and plots; the Markdown table (or, with ``--json``, the
summary) goes to stdout, progress with an ETA to stderr. Bad data is refused before any work (exit 2)."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import click

from refedit.cli.app import handle_errors, main
from refedit.cli.batch import engine_options, ray_engine_from
from refedit.cli.options import (
    SeedType,
    check_models,
    metric_model_options,
    model_options,
    options_from,
    settings_from,
    stage_names,
    stage_options,
)
from refedit.errors import BadInput

F = TypeVar("F", bound=Callable[..., Any])


@main.group(name="eval")
def eval_group() -> None:
    """Measure segmenters and editors with the seed papers' metrics (mIoU/oIoU, PSNR/LPIPS/SSIM, CLIP scores ...).

    \b
    refedit eval segment refcoco/ --split val --images coco/train2014 -o runs/refcoco
    refedit eval edit PIE-Bench/ -o runs/pie
    refedit eval score my_tool_outputs/ PIE-Bench/ -o runs/my_tool
    refedit eval synth synth/ --n 200 --seed 0
    """


def data_options(fn: F) -> F:
    """Where the data is and how to read it."""
    opts = [
        click.option("-o", "--output-dir", type=click.Path(path_type=Path), required=True,
                     help="Results folder: samples.jsonl, summary.json, summary.md, plots."),  # fmt: skip
        click.option("--format", "fmt", type=click.Choice(["manifest", "refcoco", "piebench", "magicbrush"]),
                     default=None, help="Data format [detected from DATA]."),  # fmt: skip
        click.option("--split", default="val", show_default=True, help="RefCOCO split (val, testA, testB, test)."),
        click.option("--refs", "refs_name", default=None, metavar="NAME",
                     help="RefCOCO refs file refs(NAME): unc (RefCOCO/+), umd or google (RefCOCOg)."),  # fmt: skip
        click.option("--images", type=click.Path(path_type=Path), default=None,
                     help="RefCOCO images folder (COCO train2014) [DATA/images]."),  # fmt: skip
        click.option("--trust-pickle", is_flag=True,
                     help="Read a RefCOCO refs(NAME).p pickle (it could run code) and write refs(NAME).json beside it."),  # fmt: skip
        click.option("--allow-outside", is_flag=True, help="Allow data paths outside the data folder."),
        click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N samples."),
        click.option("--overwrite", is_flag=True, help="Start afresh: drop OUT's earlier per-sample results."),
        click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (else a Markdown table)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def metric_options(fn: F) -> F:
    """Which figures, and the optional VLM judge."""
    opts = [
        click.option("--metrics", default="all", show_default=True,
                     help="Figures: all, groups (pixels, lpips, clip, dino) or names (psnr_bg, clip_dir, ...)."),  # fmt: skip
        click.option("--judge", is_flag=True, help="Also ask a VLM judge (VIEScore SC/PQ/O) on an OpenAI-compatible endpoint."),
        click.option("--judge-base-url", default=None, metavar="URL", help="Judge endpoint [env OPENAI_BASE_URL]."),
        click.option("--judge-model", default=None, metavar="NAME", help="Judge model [the llm role: REFEDIT_LLM_MODEL]."),
        click.option("--judge-timeout", type=click.FloatRange(min=0.1, max=600), default=60.0, show_default=True,
                     help="Seconds per judge request."),  # fmt: skip
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


# --------------------------------------------------------------------------- shared steps
def _dataset(data: Path, params: dict[str, Any], *, need_mask: bool = False) -> Any:
    """The data set, every sample checked (images, masks, sizes) before any work."""
    from refedit.eval.formats import read_dataset
    from refedit.eval.samples import check_samples

    ds = read_dataset(data, fmt=params.pop("fmt"), split=params.pop("split"), refs=params.pop("refs_name"),
                      images=params.pop("images"), trust_pickle=params.pop("trust_pickle"),
                      allow_outside=params.pop("allow_outside"), limit=params.pop("limit"))  # fmt: skip
    check_samples(ds.samples, need_mask=need_mask)
    return ds


def _prepare_out(out: Path, overwrite: bool, run: dict[str, Any], digests: Mapping[str, str],
                 what: str) -> tuple[Path, dict[str, Any], set[str]]:  # fmt: skip
    """The log path, the records already in it (none with ``overwrite``), which must come from the same ``run``
    (data and settings), and the ids of the samples changed since they were logged (``digests``: sample id ->
    :func:`~refedit.eval.results.sample_digest`): their records are dropped, so they run again (a label fixed in
    place was reported with its old result). The folder is checked, not created."""
    from refedit.eval.results import LOG_NAME, changed_since_logged, check_same_run, read_log
    from refedit.pipeline.imageio import check_output_dir

    check_output_dir(out, "output folder (-o)")
    log = out / LOG_NAME
    done = {} if overwrite else read_log(log)
    check_same_run(out, run, resuming=bool(done))
    changed = changed_since_logged(done, digests)
    if changed:
        click.echo(f"{what}: {len(changed)} logged sample(s) changed since (their fields or the files they name): "
                   "run again", err=True)  # fmt: skip
    return log, {k: r for k, r in done.items() if str(r.get("id")) not in changed}, changed


def _run(command: str, data: Path, settings: Any, **what: Any) -> dict[str, Any]:
    """What makes a run's results: the command, the data, the models and the given settings."""
    return {"command": command, "data": str(data.resolve()), "models": dict(sorted(settings.models.items())), **what}


def _start_log(out: Path, log_path: Path, overwrite: bool, run: dict[str, Any], digests: Mapping[str, str]) -> Any:
    """The run's log (each record with its sample's digest), the folder locked for this run (two runs into one
    folder mixed their records), the earlier log removed with ``overwrite``, ``run.json`` written."""
    from refedit.core.files import FolderLock
    from refedit.eval.results import SampleLog, write_run

    out.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(out).acquire()
    try:
        if overwrite:  # the earlier run's log, reports and images: a run stopped early leaves none of them behind
            _remove_earlier_run(out, log_path)
        write_run(out, run)
    except BaseException:
        lock.release()
        raise
    return SampleLog(log_path, lock=lock, digests=digests)


#: what a run writes beside its log (the summary, the plots) and the folders of its images and masks
REPORT_FILES = ("summary.json", "summary.md", "fidelity_vs_faithfulness.png", "iou_by_kind.png")
RUN_FOLDERS = ("images", "masks")


def _remove_earlier_run(out: Path, log_path: Path) -> None:
    """``--overwrite``: the earlier run's log and reports, and (in a folder a run made: its run file is there) its
    images and masks."""
    import shutil

    from refedit.eval.results import RUN_NAME

    log_path.unlink(missing_ok=True)
    for name in REPORT_FILES:
        (out / name).unlink(missing_ok=True)
    if (out / RUN_NAME).is_file():
        for name in RUN_FOLDERS:
            if (out / name).is_dir() and not (out / name).is_symlink():
                shutil.rmtree(out / name)


def _as_json_values(options: Mapping[str, Any]) -> dict[str, Any]:
    """Stage options as the record writes them: JSON's own types kept (``true``, not ``"True"``), others as text."""
    return {k: v if isinstance(v, (bool, int, float, str)) or v is None else str(v) for k, v in options.items()}


def progress(total: int, done: int, what: str) -> Callable[[dict[str, Any]], None]:
    """Per-sample progress on stderr with the time left: a tqdm bar on a TTY, else a line per sample."""
    todo = total - done
    if done:
        click.echo(f"{what}: {done} of {total} samples already in the log; {todo} to go", err=True)
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=done, unit="sample", file=sys.stderr)

        def tick(record: dict[str, Any]) -> None:
            bar.update(1)
            if bar.n >= total:
                bar.close()

        return tick
    state = {"n": 0, "start": time.perf_counter()}

    def line(record: dict[str, Any]) -> None:
        state["n"] += 1
        n = state["n"]
        eta = (time.perf_counter() - state["start"]) / n * (todo - n)
        extra = f" ({record.get('error')})" if record.get("status") == "failed" else ""
        click.echo(f"[{done + n}/{total}] {record.get('key')} {record.get('status')}{extra}; ~{eta:.0f}s left", err=True)

    return line


def _finish(out: Path, summary: dict[str, Any], table: str, as_json: bool, plots: list[Path | None],
            asked: tuple[str, ...] = (), failed_in_n: bool = False) -> None:  # fmt: skip
    """Write the summary and the table, print one of them; :class:`BatchFailed` (exit 6) when every sample failed
    (``failed_in_n``: the summary's ``n`` counts the failed samples too, as segmentation's does)."""
    from refedit.eval.results import clean, write_json, write_text

    overall = summary.get("overall", {})
    measured_as = {"psnr_bg": "psnr_bg_identical"}  # every background identical: no finite PSNR, yet measured
    if overall.get("n") and (missing := [m for m in asked if m not in overall and measured_as.get(m) not in overall]):
        from refedit.errors import RefEditWarning

        from refedit.eval.score import NEEDS

        by_need: dict[str, list[str]] = {}
        for m in missing:
            by_need.setdefault(NEEDS.get(m, "what it compares with"), []).append(m)
        lacks = "; ".join(f"{', '.join(ms)}: {need}" for need, ms in by_need.items())
        warnings.warn(f"measured on no sample: {', '.join(missing)} (no sample has what they need; {lacks})",
                      RefEditWarning, stacklevel=2)  # fmt: skip
    write_json(out / "summary.json", summary)
    write_text(out / "summary.md", table)
    for p in plots:
        if p is not None:
            click.echo(f"plot: {p}", err=True)
    click.echo(json.dumps(clean(summary), default=str) if as_json else table.rstrip("\n"))
    measured = overall.get("n", 0) - (overall.get("failed", 0) if failed_in_n else 0)
    if not measured and overall.get("failed"):  # nothing measured: a script's `set -e` must see it
        from refedit.errors import BatchFailed

        raise BatchFailed(f"every sample failed ({overall['failed']}); the reasons are in {out / 'samples.jsonl'}")


def _warn_judge_failures(records: list[dict[str, Any]]) -> None:
    """Say when the judge failed (an endpoint that is down leaves the VIEScore columns out of the summary)."""
    failed = [r["judge_error"] for r in records if r.get("judge_error")]
    if failed:
        from refedit.errors import RefEditWarning

        warnings.warn(f"the judge failed on {len(failed)} of {len(records)} samples (first: {failed[0]}); their "
                      "VIEScore figures are missing from the summary", RefEditWarning, stacklevel=2)  # fmt: skip


def _judge(params: dict[str, Any], settings: Any) -> Any:
    if not params.pop("judge"):
        for k in ("judge_base_url", "judge_model", "judge_timeout"):
            params.pop(k)
        return None
    from refedit.eval.judge import JudgeOptions, VLMJudge

    return VLMJudge(JudgeOptions(model=params.pop("judge_model") or settings.model("llm"),
                                 base_url=params.pop("judge_base_url"), timeout=params.pop("judge_timeout")))  # fmt: skip


def _scorer(params: dict[str, Any], settings: Any, judge: Any, metrics: tuple[str, ...]) -> Any:
    from refedit.eval.models import check_metric_models, metric_store
    from refedit.eval.score import Scorer, roles_for

    check_metric_models(settings, roles_for(metrics))
    return Scorer(metric_store(settings), metrics=metrics, judge=judge)


def _edit_plots(out: Path, summary: dict[str, Any]) -> list[Path | None]:
    from refedit.eval.plots import FAITHFULNESS, FIDELITY, fidelity_vs_faithfulness

    plot = fidelity_vs_faithfulness(summary, out / "fidelity_vs_faithfulness.png")
    if plot is None and len(summary.get("by_encode_ratio", {})) >= 2:  # a sweep: the plot was asked for
        click.echo(f"refedit: note: no fidelity_vs_faithfulness.png: it plots a fidelity figure ({', '.join(FIDELITY)}) "
                   f"against a faithfulness one ({', '.join(FAITHFULNESS)}) over the ratios; --metrics must measure "
                   "one of each (e.g. pixels,clip)", err=True)  # fmt: skip
    return [plot]


# --------------------------------------------------------------------------- commands
@eval_group.command("segment")
@click.argument("data", type=click.Path(path_type=Path))
@data_options
@click.option("--save-masks", is_flag=True, help="Also write each predicted mask to OUT/masks/ID.png.")
@click.option("--ignore-detections", is_flag=True, help="Run the detector even where samples carry detections files.")
@stage_options
@model_options
@handle_errors
def eval_segment(data: Path, output_dir: Path, overwrite: bool, as_json: bool, save_masks: bool,
                 ignore_detections: bool, parser: str, segmenter: str, editor: str | None,
                 **params: Any) -> None:  # fmt: skip
    """Run the parser and segmenter over DATA's referring expressions: mIoU, oIoU, Pr@0.5-0.9, overall and per kind
    of reference (plain, spatial, ordinal, size, attribute, all, relation)."""
    from refedit.config import check_environment

    check_environment()
    if params.pop("hint_boxes") or params.pop("hint_points") or params.pop("hint_mask"):
        raise BadInput("hints have no place in an evaluation (each sample is its own question)")
    stages = {"parser": parser, "segmenter": segmenter}
    options = options_from(params, stages)
    _ambiguity_default(segmenter, options)
    ds = _dataset(data, params, need_mask=True)
    settings = settings_from(params)
    run = _run("segment", data, settings, stages=stages, options=options, ignore_detections=ignore_detections)
    from refedit.eval.results import sample_digest

    digests = {s.id: sample_digest(s) for s in ds.samples}
    log_path, done, _ = _prepare_out(output_dir, overwrite, run, digests, "eval segment")
    any_dets = not ignore_detections and all(s.detections for s in ds.samples)
    check_models(settings, stages, {**options, "detections": True} if any_dets else options)
    from refedit.eval.report import segmentation_summary, segmentation_table
    from refedit.eval.segment import SegmentRunner, run_all

    runner = SegmentRunner(settings, parser, segmenter, options, use_detections=not ignore_detections)
    runner.pipeline(None if not any_dets else ds.samples[0].detections)  # checkpoint types checked before the log exists
    log = _start_log(output_dir, log_path, overwrite, run, digests)
    try:
        run_all(runner, ds.samples, log, done, masks_dir=output_dir / "masks" if save_masks else None,
                on_record=progress(len(ds.samples), len([s for s in ds.samples if s.id in done]), "eval segment"))  # fmt: skip
        records = log.compact({s.id for s in ds.samples})
    finally:
        log.close()
    from refedit.eval.plots import kind_bars

    summary = segmentation_summary(records)
    summary["data"] = {"path": str(data), "format": ds.format, "samples": len(ds.samples)}
    summary["stages"] = {"parser": parser, "segmenter": segmenter, "options": _as_json_values(options)}
    _finish(output_dir, summary, segmentation_table(summary), as_json,
            [kind_bars(summary, output_dir / "iou_by_kind.png", f"{segmenter} on {data.name}")],
            failed_in_n=True)  # fmt: skip


def _ambiguity_default(segmenter: str, options: dict[str, Any]) -> None:
    """An evaluation wants an answer for every sample: ties go to the best-scoring candidate unless asked otherwise."""
    from refedit.pipeline.stages import registry

    spec = registry.get("segmenter", segmenter).spec
    if "on_ambiguous" not in options and spec is not None and "on_ambiguous" in spec.types():
        options["on_ambiguous"] = "best"


def _ratios(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        ratios = tuple(dict.fromkeys(float(v) for v in value.split(",") if v.strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r} must be comma-separated numbers in (0, 1]") from None
    if not ratios or not all(0 < r <= 1 for r in ratios):
        raise click.BadParameter(f"{value!r} must be comma-separated numbers in (0, 1]")
    return ratios


@eval_group.command("edit")
@click.argument("data", type=click.Path(path_type=Path))
@data_options
@click.option("--sweep-ratios", "sweep_ratios", callback=_ratios, default=None, metavar="R1,R2,...",
              help="Sweep the encoding ratio r: one edit per sample per r, and a fidelity-vs-faithfulness plot.")  # fmt: skip
@click.option("--gt-mask", is_flag=True, help="Give the editor each sample's ground-truth mask (no segmentation).")
@click.option("--ignore-detections", is_flag=True, help="Run the detector even where samples carry detections files.")
@click.option("--instruction", "template", default=None, metavar="TEMPLATE",
              help="Build each instruction from the sample's text, e.g. 'make {text} blue' (for referring-"
                   "segmentation sets, whose texts are expressions).")  # fmt: skip
@click.option("--seed", type=SeedType(), default=0, show_default=True, help="Seed of every edit.")
@engine_options
@metric_options
@stage_options
@model_options
@metric_model_options
@handle_errors
def eval_edit(data: Path, output_dir: Path, overwrite: bool, as_json: bool, sweep_ratios: tuple[float, ...] | None,
              gt_mask: bool, ignore_detections: bool, template: str | None, seed: int, engine: str,
              address: str | None, workers: int | None, gpus_per_worker: float | None, metrics: str, parser: str,
              segmenter: str, editor: str | None, **params: Any) -> None:  # fmt: skip
    """Edit every sample of DATA with refedit's chain (OUT/images/) and score the edits as the papers do.

    With --engine ray the edits run on Ray Data actors (as `refedit batch --engine ray`); the scoring runs here,
    as each edit arrives."""
    from refedit.config import check_environment
    from refedit.eval.score import parse_metrics

    check_environment()
    if params.pop("hint_boxes") or params.pop("hint_points") or params.pop("hint_mask"):
        raise BadInput("hints have no place in an evaluation (each sample is its own question)")
    for name, flag in (("encode_ratios", "--sweep"), ("num_outputs", "--num-outputs"), ("auto_ratio", "--auto-ratio")):
        if params.get(name):
            raise BadInput(f"{flag} makes several outputs per edit; to sweep r in an evaluation use --sweep-ratios")
    if isinstance(params.get("encode_ratio"), str):
        raise BadInput("one --encode-ratio per evaluation; to sweep r use --sweep-ratios R1,R2,...")
    if sweep_ratios and params.get("encode_ratio") is not None:
        raise BadInput("give --encode-ratio or --sweep-ratios, not both")
    chosen = parse_metrics(metrics)
    ray_engine = ray_engine_from(engine, address, workers, gpus_per_worker)
    stages = stage_names(parser, segmenter, editor)
    options = options_from(params, stages)
    _ambiguity_default(segmenter, options)
    if sweep_ratios:
        from refedit.pipeline.stages import check_options

        check_options({**options, "encode_ratio": sweep_ratios[0]}, stages)  # the editor must take r
    ds = _dataset(data, params, need_mask=gt_mask)
    samples = _instructions(ds.samples, template)
    settings = settings_from(params)
    run = _run("edit", data, settings, stages=stages, options=options, sweep_ratios=sweep_ratios, gt_mask=gt_mask,
               ignore_detections=ignore_detections, instruction=template, seed=seed, metrics=metrics)  # fmt: skip
    from refedit.eval.results import sample_digest

    digests = {s.id: sample_digest(s) for s in samples}
    log_path, done, changed = _prepare_out(output_dir, overwrite, run, digests, "eval edit")
    any_dets = not ignore_detections and not gt_mask and all(s.detections for s in ds.samples)
    check_models(settings, {k: v for k, v in stages.items() if k != "segmenter" or not gt_mask},
                 {**options, "detections": True} if any_dets else options)  # fmt: skip
    judge = _judge(params, settings)
    scorer = _scorer(params, settings, judge, chosen)
    from refedit.batch import BatchRunner
    from refedit.eval.edit import edit_and_score, edited_path
    from refedit.eval.report import edit_summary, edit_table

    runner = BatchRunner(settings, parser=parser, segmenter=segmenter, editor=editor, options=options,
                         overwrite=overwrite)  # (--overwrite re-edits: an earlier run's images were scored again)
    runner.pipeline({})  # checkpoint types checked (exit 5) before the log exists
    ratios: tuple[float | None, ...] = sweep_ratios or (None,)
    total = len(samples) * len(ratios)
    with ray_engine if ray_engine is not None else contextlib.nullcontext():  # Ray is reached before the log exists
        log = _start_log(output_dir, log_path, overwrite, run, digests)
        try:
            for sample in (s for s in samples if s.id in changed):  # its old images would be scored again
                for ratio in ratios:
                    edited_path(output_dir, sample, ratio).unlink(missing_ok=True)
            edit_and_score(runner, scorer, samples, output_dir, log, done, ratios=ratios, seed=seed, gt_mask=gt_mask,
                           use_detections=not ignore_detections, on_record=progress(total, len(done), "eval edit"),
                           engine=ray_engine)  # fmt: skip
            from refedit.eval.edit import record_key

            scored = log.compact({record_key(s, r) for s in samples for r in ratios})
        finally:
            log.close()
    _warn_judge_failures(scored)
    summary = edit_summary(scored)
    summary["data"] = {"path": str(data), "format": ds.format, "samples": len(ds.samples)}
    summary["stages"] = {**stages, "options": _as_json_values(options)}
    _finish(output_dir, summary, edit_table(summary), as_json, _edit_plots(output_dir, summary), chosen)


def _instructions(samples: Any, template: str | None) -> Any:
    """The samples with ``template`` ("make {text} blue") applied to their texts."""
    if template is None:
        return samples
    if "{text}" not in template:
        raise BadInput(f"--instruction {template!r} must contain {{text}} (the sample's text)")
    from dataclasses import replace

    return tuple(replace(s, text=template.replace("{text}", s.text)) for s in samples)


@eval_group.command("score")
@click.argument("outputs", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@data_options
@click.option("--mapping", type=click.Path(path_type=Path), default=None,
              help="JSON {sample id: output path} (paths relative to OUTPUTS) when names differ.")  # fmt: skip
@click.option("--allow-missing", is_flag=True, help="Score the samples that have outputs; skip the others.")
@metric_options
@metric_model_options
@click.option("--device", default=None, metavar="auto|cpu|cuda|cuda:N|mps", help="Where the metric models run.")
@handle_errors
def eval_score(outputs: Path, data: Path, output_dir: Path, overwrite: bool, as_json: bool, mapping: Path | None,
               allow_missing: bool, metrics: str, **params: Any) -> None:  # fmt: skip
    """Score any tool's edited images in OUTPUTS against DATA (same file names or ids as the samples, or --mapping)."""
    from refedit.config import check_environment
    from refedit.eval.edit import locate_outputs, read_mapping, score_outputs
    from refedit.eval.score import parse_metrics

    check_environment()
    chosen = parse_metrics(metrics)
    if not outputs.is_dir():
        raise BadInput(f"outputs folder {outputs} {'is not a folder' if outputs.exists() else 'does not exist'}")
    ds = _dataset(data, params)
    found = locate_outputs(ds.samples, outputs, read_mapping(mapping, outputs) if mapping else {}, allow_missing)
    if len(found) < len(ds.samples):  # (--allow-missing): the table's n is the scored ones, and says no more
        click.echo(f"refedit: note: {len(ds.samples) - len(found)} of the {len(ds.samples)} samples have no output in "
                   f"{outputs} and are not scored (--allow-missing)", err=True)  # fmt: skip
    settings = settings_from(params)
    run = _run("score", data, settings, outputs=str(outputs.resolve()), mapping=None if mapping is None else
               str(mapping.resolve()), metrics=metrics)  # fmt: skip
    from refedit.eval.results import sample_digest

    digests = {s.id: sample_digest(s, [found[s.id]]) for s in ds.samples if s.id in found}  # the output's bytes too
    log_path, done, _ = _prepare_out(output_dir, overwrite, run, digests, "eval score")
    scorer = _scorer(params, settings, _judge(params, settings), chosen)
    from refedit.eval.report import edit_summary, edit_table

    log = _start_log(output_dir, log_path, overwrite, run, digests)
    try:
        todo = [s for s in ds.samples if s.id in found]
        score_outputs(scorer, todo, found, log, done,
                      on_record=progress(len(todo), len([s for s in todo if s.id in done]), "eval score"))  # fmt: skip
        scored = log.compact(set(found))
    finally:
        log.close()
    _warn_judge_failures(scored)
    summary = edit_summary(scored)
    summary["data"] = {"path": str(data), "format": ds.format, "samples": len(ds.samples), "outputs": str(outputs),
                       "scored": len(found)}  # fmt: skip
    _finish(output_dir, summary, edit_table(summary), as_json, [], chosen)


@eval_group.command("synth")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--n", type=int, default=200, show_default=True, help="Number of scenes.")
@click.option("--seed", type=SeedType(), default=0, show_default=True, help="Seed of the generator.")
@click.option("--size", type=int, default=256, show_default=True, help="Image side in pixels (96 to 2048).")
@click.option("--miss", type=float, default=0.1, show_default=True, help="Noisy oracle: chance a true box is missed.")
@click.option("--jitter", type=float, default=0.05, show_default=True,
              help="Noisy oracle: box jitter (std. dev. as a share of the box size).")  # fmt: skip
@click.option("--spurious", type=float, default=0.5, show_default=True, help="Noisy oracle: mean false boxes per scene.")
@handle_errors
def eval_synth(out: Path, n: int, seed: int, size: int, miss: float, jitter: float, spurious: float) -> None:
    """Generate an offline referring-segmentation benchmark in OUT (scenes, exact masks, noisy-oracle detections);
    print its manifest's path. Measure it with `refedit eval segment OUT/manifest.jsonl --box-mask -o RUN`."""
    from refedit.eval.synth import SynthOptions, generate
    from refedit.pipeline.imageio import check_output_dir

    opts = SynthOptions(n=n, seed=seed, size=size, miss=miss, jitter=jitter, spurious=spurious)
    check_output_dir(out.parent, "output folder")
    click.echo(generate(out, opts))


def _evaluation_ambiguity_help() -> None:
    """An evaluation settles ties its own way (:func:`_ambiguity_default`): its ``--on-ambiguous`` help says so, not
    the edit's environment and config defaults, which it does not read."""
    for command in (eval_segment, eval_edit):
        for param in command.params:
            if param.name == "on_ambiguous" and isinstance(param, click.Option):
                param.help = ("When several objects fit equally well: fail (counted as a miss), best (highest score) "
                              "or all [in an evaluation: best; REFEDIT_ON_AMBIGUOUS and the config are not read].")


_evaluation_ambiguity_help()
