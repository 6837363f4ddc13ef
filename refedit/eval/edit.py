"""``refedit eval edit`` and ``refedit eval score``: produce edits with refedit's chain (the batch machinery:
one pipeline, outputs written atomically, existing outputs skipped) or take any tool's outputs, then score each
against its sample (:class:`~refedit.eval.score.Scorer`), one record per sample (per encoding ratio when a run
sweeps r). A sample already in the log is neither edited nor scored again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from refedit.errors import BadInput, ModelUnavailable
from refedit.eval.samples import Sample
from refedit.eval.segment import reference_kinds, safe_name

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def record_key(sample: Sample, ratio: float | None) -> str:
    return sample.id if ratio is None else f"{sample.id}@r={ratio:g}"


def edited_path(out_dir: Path, sample: Sample, ratio: float | None) -> Path:
    """Where ``eval edit`` writes the sample's edited image at ``ratio``."""
    return out_dir / "images" / f"{safe_name(sample.id)}{'' if ratio is None else f'_r{ratio:g}'}.png"


# --------------------------------------------------------------------------- finding a tool's outputs
def read_mapping(path: Path, outputs: Path) -> dict[str, Path]:
    """A ``{sample id: output path}`` JSON file, paths relative to ``outputs``."""
    from refedit.batch import read_text
    from refedit.eval.samples import inside

    try:
        data = json.loads(read_text(path, "mapping file"))
    except json.JSONDecodeError as err:
        raise BadInput(f"mapping file {path} is not valid JSON: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise BadInput(f"mapping file {path} must map sample ids to output paths (strings)")
    return {str(k): inside(outputs, v, f"mapping file {path.name}: output") for k, v in data.items()}


def find_output(sample: Sample, outputs: Path, mapping: Mapping[str, Path], unique_names: bool) -> Path | None:
    """Where a tool put ``sample``'s edit: the mapping's entry; else ``OUTPUTS/<name>`` (the sample's relative
    file name, any image extension) when names are unique; else one of the benchmark's own result names
    (``sample.aliases``); else ``OUTPUTS/<id>.<ext>``."""
    if sample.id in mapping:
        return mapping[sample.id]
    stems = [outputs / safe_name(sample.id)]
    if unique_names:
        stems.insert(0, (outputs / sample.name).with_suffix(""))
        exact = outputs / sample.name
        if exact.is_file():
            return exact
    for alias in sample.aliases:
        if (outputs / alias).is_file():
            return outputs / alias
    for stem in stems:
        for ext in IMAGE_EXTS:
            candidate = stem.with_name(stem.name + ext)
            if candidate.is_file():
                return candidate
    return None


def locate_outputs(samples: Sequence[Sample], outputs: Path, mapping: Mapping[str, Path],
                   allow_missing: bool) -> dict[str, Path]:  # fmt: skip
    """Each sample's output; missing ones (a mapped output that is no file too: a typo in the mapping, found only
    when its sample was scored) are one :class:`BadInput` (naming the first) unless ``allow_missing``."""
    unique = len({s.name for s in samples}) == len(samples)
    found = {s.id: find_output(s, outputs, mapping, unique) for s in samples}
    found = {sid: None if p is None or (sid in mapping and not p.is_file()) else p for sid, p in found.items()}
    missing = [sid for sid, p in found.items() if p is None]
    shared = "" if unique else (
        f" (samples share image files, {_shared_example(samples)}: an output named after one cannot say whose edit it "
        "is, so outputs are looked for by sample id)")  # fmt: skip
    if samples and len(missing) == len(samples):  # nothing to score: a wrong folder, even with --allow-missing
        raise BadInput(f"none of the {len(samples)} samples has an output in {outputs} (first: {missing[0]}){shared}; "
                       "name outputs as the samples' files or ids, or give --mapping")  # fmt: skip
    if missing and not allow_missing:
        raise BadInput(f"{len(missing)} of {len(samples)} samples have no output in {outputs} (first: {missing[0]}){shared}; "
                       "name outputs as the samples' files or ids, give --mapping, or --allow-missing to score the rest")  # fmt: skip
    return {sid: p for sid, p in found.items() if p is not None}


def _shared_example(samples: Sequence[Sample]) -> str:
    """"img.png: a, b": the first image file two samples share, with their ids."""
    by_name: dict[str, list[str]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample.id)
    name, ids = next((n, i) for n, i in by_name.items() if len(i) > 1)
    return f"{name}: {', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}"


def score_outputs(scorer: Any, samples: Sequence[Sample], outputs: Mapping[str, Path], log: Any,
                  done: Mapping[str, Any], on_record: Callable[[dict[str, Any]], None] | None = None) -> int:  # fmt: skip
    """Score each sample's output (not those in ``done``); the number scored."""
    n = 0
    for sample in samples:
        if sample.id in done or sample.id not in outputs:
            continue
        record = {"key": sample.id, "id": sample.id, "text": sample.text, "category": sample.category,
                  "output": str(outputs[sample.id])}  # fmt: skip
        record.update(_score(scorer, sample, outputs[sample.id]))
        log.write(record)
        n += 1
        if on_record:
            on_record(record)
    return n


def _score(scorer: Any, sample: Sample, output: Path) -> dict[str, Any]:
    from refedit.batch import failure
    from refedit.pipeline.imageio import load_image

    try:
        source = np.asarray(load_image(sample.image).rgb)
        edited = np.asarray(load_image(output, what="output").rgb)
        return {"status": "done", **scorer.score(sample, source, edited)}
    except ModelUnavailable:
        raise
    except Exception as err:  # noqa: BLE001 - one unreadable output must not stop the scoring
        return failure(err)


# --------------------------------------------------------------------------- editing with refedit
def gt_mask_file(sample: Sample, folder: Path) -> Path:
    """The sample's ground-truth mask as a PNG the editor can take (``--gt-mask``); a PNG mask is used as it is."""
    from PIL import Image

    from refedit.pipeline.imageio import save_mask

    if sample.mask is not None and sample.mask.kind == "png" and not sample.mask.invert_alpha:
        return Path(sample.mask.value)
    with Image.open(sample.image) as img:
        size = img.size
    truth = sample.truth(size)
    if truth is None:
        raise BadInput(f"sample {sample.id}: --gt-mask needs a ground-truth mask")
    folder.mkdir(parents=True, exist_ok=True)
    return save_mask(truth, folder / f"{safe_name(sample.id)}.png")


def _with_plan_captions(sample: Sample, plan: Mapping[str, Any], record: dict[str, Any]) -> Sample:
    """A sample without a caption pair takes the one refedit's parser wrote (InstructEdit's language processor
    gives the input and edited captions its CLIP score and directional similarity use); the record says so."""
    from dataclasses import replace

    if sample.source_caption and sample.edited_caption:
        return sample
    record["captions"] = "plan"
    return replace(sample, source_caption=sample.source_caption or plan.get("source_caption"),
                   edited_caption=sample.edited_caption or plan.get("edited_caption"))  # fmt: skip


def _item_options(sample: Sample, ratio: float | None, detections: bool) -> dict[str, Any]:
    options: dict[str, Any] = {} if ratio is None else {"encode_ratio": ratio}
    if detections and sample.detections is not None:
        options["detections"] = sample.detections
    return options


def edit_and_score(runner: Any, scorer: Any, samples: Sequence[Sample], out_dir: Path, log: Any,
                   done: Mapping[str, Any], *, ratios: Sequence[float | None] = (None,), seed: int = 0,
                   gt_mask: bool = False, use_detections: bool = True,
                   on_record: Callable[[dict[str, Any]], None] | None = None, engine: Any = None) -> int:  # fmt: skip
    """Edit each sample with ``runner`` (a :class:`refedit.batch.BatchRunner`) at each encoding ratio and score the
    result; samples in ``done`` are skipped, an output already on disk is scored without editing again. A sample's
    own detections file replaces the detector (``use_detections``). The edits run on ``engine`` (a
    :class:`refedit.batch.Engine`: this process by default, or Ray's workers), the scoring here, as each edit
    arrives. A model that cannot be loaded stops the run."""
    from refedit.batch import BatchItem, LocalEngine

    todo: dict[int, tuple[Sample, float | None, str]] = {}
    items: list[BatchItem] = []
    for index, sample in enumerate(samples):
        for ratio in ratios:
            key = record_key(sample, ratio)
            if key in done:
                continue
            items.append(BatchItem(index=len(items), image=sample.image, instruction=sample.text, seed=seed,
                                   output=edited_path(out_dir, sample, ratio),
                                   mask=gt_mask_file(sample, out_dir / "gt_masks") if gt_mask else None,
                                   options=_item_options(sample, ratio, use_detections and not gt_mask)))  # fmt: skip
            todo[items[-1].index] = (sample, ratio, key)
    n = 0
    stream = (engine or LocalEngine()).records(runner, items)
    try:
        for edit in stream:
            if edit.get("exit_code") == ModelUnavailable.exit_code:
                raise ModelUnavailable(edit["error"])
            sample, ratio, key = todo[edit["index"]]
            record = _edit_record(scorer, sample, ratio, key, edit)
            log.write(record)
            n += 1
            if on_record:
                on_record(record)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # an engine's workers stop with its iterator
    return n


def _edit_record(scorer: Any, sample: Sample, ratio: float | None, key: str, edit: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluation's record of one edit: the edit's outcome and, when it produced an image, its scores."""
    record: dict[str, Any] = {"key": key, "id": sample.id, "text": sample.text, "category": sample.category,
                              "encode_ratio": ratio, "output": None if edit["status"] == "failed" else edit["output"],
                              "edit_status": edit["status"],
                              "reason": edit.get("reason"), "edit_seconds": edit.get("seconds")}  # fmt: skip
    scored = sample
    if edit.get("plan"):
        from refedit.pipeline.artifacts import Target

        record["kinds"] = list(reference_kinds(Target.from_dict(edit["plan"]["target"])))
        scored = _with_plan_captions(sample, edit["plan"], record)
    if edit["status"] == "failed":
        record.update(status="failed", error=edit.get("error"), error_type=edit.get("error_type"),
                      exit_code=edit.get("exit_code"))  # fmt: skip
    else:
        record.update(_score(scorer, scored, Path(edit["output"])))
    return record
