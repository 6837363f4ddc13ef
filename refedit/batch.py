"""Batch editing: a folder or a manifest of items, one pipeline built before the loop, one JSON log line
per item written as it finishes, existing outputs skipped (so a killed run resumes), failures recorded
and the run carried on. Every manifest row is checked before any model loads; a bad row, and any
exception of an item, fails that item only. An item whose instruction fits several objects equally well is
logged with status ``ambiguous``, its candidates and their numbered overlay (``*_candidates.png`` beside its
output), and the run goes on: a ``pick`` column (or ``--on-ambiguous``) settles it on a rerun."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Union

import numpy as np
from PIL import Image

from refedit.config import check_seed, close_matches, loose, typed
from refedit.core.colour import in_colours_of
from refedit.core.files import cut_torn_line
from refedit.errors import BadInput, InternalError, RefEditError, RefEditWarning
from refedit.pipeline.stages import DEFAULTS

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
DEFAULT_NAME = "{stem}_edited.png"
#: per-item manifest keys that are not stage options
ITEM_KEYS = frozenset({"image", "instruction", "output", "seed", "mask", "hint_mask", "box", "boxes", "point", "points"})


@dataclass(frozen=True)
class BatchItem:
    """One edit of a batch; paths are absolute or relative to the working directory."""

    index: int
    image: Path
    instruction: str
    output: Path
    seed: int = 0
    mask: Path | None = None
    hint_mask: Path | None = None
    boxes: tuple[tuple[float, ...], ...] = ()
    points: tuple[tuple[float, ...], ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


def made_otherwise(item: BatchItem) -> str | None:
    """What shows that the existing output of ``item`` is not its edit (so skipping it would report another edit as
    this one): another size than the input's, or a ``refedit`` PNG text naming another instruction or seed; None
    when nothing shows it (an output without the text is trusted, as before)."""
    from PIL import Image, UnidentifiedImageError

    from refedit.pipeline.imageio import shown_size

    try:
        with Image.open(item.output) as out, Image.open(item.image) as src:
            size = shown_size(src)
            if out.size != size:
                return f"{out.width}x{out.height}, the input {size[0]}x{size[1]}"
            text = out.info.get("refedit") if isinstance(out.info.get("refedit"), str) else None
    except (OSError, UnidentifiedImageError, ValueError):
        return None  # unreadable: the run's own checks say so, or the edit runs again with --overwrite
    try:
        made = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return None
    if made.get("instruction") not in (None, item.instruction):
        return f"the edit of another instruction ({str(made['instruction'])[:80]!r})"
    if made.get("seed") not in (None, item.seed):
        return f"the edit of seed {made['seed']}, not {item.seed}"
    return None


@dataclass(frozen=True)
class Rejected:
    """A manifest row refused before the run (``where`` is "file:line"): logged as a failed item, never run."""

    index: int
    where: str
    error: str
    image: str = ""
    output: str | None = None


Item = Union[BatchItem, Rejected]


def render_name(template: str, *, stem: str, index: int, seed: int, ext: str) -> str:
    """Fill an output name template: ``{stem}``, ``{index}``, ``{seed}``, ``{ext}`` (the input's extension without
    its dot: ``{stem}.{ext}``); the name must end in an image extension the output can be saved as."""
    from refedit.pipeline.imageio import image_format_for

    try:
        name = template.format(stem=stem, index=index, seed=seed, ext=ext.lstrip("."))
    except (KeyError, IndexError, ValueError, AttributeError) as err:
        raise BadInput(f"bad --name template {template!r}: {err}; use {{stem}}, {{index}}, {{seed}}, {{ext}}") from None
    if not name or "/" in name or name in (".", ".."):
        raise BadInput(f"--name template {template!r} gives an invalid file name {name!r}")
    try:
        image_format_for(name)
    except BadInput:
        raise BadInput(f"--name template {template!r} gives {name!r}, which has no image extension; "
                       "end it in .png, .jpg, .webp, ... or in .{ext} for the input's own extension ({ext} has no "
                       "dot)") from None  # fmt: skip
    return name


def check_name_template(template: str) -> str:
    """Check ``--name`` before any work by rendering it for a sample PNG input."""
    render_name(template, stem="image", index=0, seed=0, ext=".png")
    return template


def items_from_folder(
    root: Path, instruction: str, out_dir: Path, *, name: str = DEFAULT_NAME, seed: int = 0
) -> list[BatchItem]:
    """Every image under ``root`` (recursive, sorted), outputs mirroring the tree under ``out_dir``."""
    if not instruction.strip():
        raise BadInput("a folder batch needs one instruction for all images: -i \"...\"")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    out_resolved = out_dir.resolve()
    paths = [p for p in paths if out_resolved not in p.resolve().parents]  # never re-edit our own outputs
    return [
        BatchItem(i, p, instruction, out_dir / p.relative_to(root).parent / render_name(
            name, stem=p.stem, index=i, seed=seed, ext=p.suffix), seed)  # fmt: skip
        for i, p in enumerate(paths)
    ]


def read_text(path: Path, what: str = "manifest") -> str:
    """A UTF-8 text file (a BOM is allowed), or one :class:`BadInput` line saying why not."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadInput(f"{what} {path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}); "
                       "save it as UTF-8") from None  # fmt: skip
    except OSError as err:
        raise BadInput(f"cannot read {what} {path}: {err.strerror or err}") from None


#: the name a manifest read from standard input goes by in messages and log records
STDIN_MANIFEST = "<stdin>"


def manifest_is_csv(manifest: Path, text: str) -> bool:
    """CSV by the file's suffix; a manifest on stdin is JSONL when its first character is ``{``, else CSV."""
    if manifest.name == STDIN_MANIFEST:
        return not text.lstrip().startswith("{")
    return manifest.suffix.lower() == ".csv"


def _rows(name: str, text: str, is_csv: bool) -> Iterator[tuple[int, dict[str, Any] | BadInput]]:
    """(line number, row) for each row of a CSV or JSONL manifest's ``text``; a row that cannot be read is its error."""
    if is_csv:
        reader = csv.DictReader(io.StringIO(text))
        try:
            for row in reader:
                if row.get(None):  # more cells than the header names (an unquoted comma in an instruction)
                    yield reader.line_num, BadInput(f"{name}:{reader.line_num}: {len(reader.fieldnames or ()) + len(row[None])}"
                                                    f" cells but the header names {len(reader.fieldnames or ())} columns "
                                                    "(quote a cell that holds a comma)")  # fmt: skip
                    continue
                yield reader.line_num, {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
        except csv.Error as err:
            raise BadInput(f"{name}:{reader.line_num}: not valid CSV ({err})") from None
        return
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                yield n, BadInput(f"{name}:{n}: not a JSON object ({err})")
                continue
            yield n, row if isinstance(row, dict) else BadInput(f"{name}:{n}: each line must be a JSON object")


def _numbers(value: Any, n: int, what: str) -> tuple[tuple[float, ...], ...]:
    """Parse "a,b,..." / [a, b, ...] / ["a,b", ...] / [[a, b], ...] into tuples of ``n`` numbers."""
    if value in (None, "", []):
        return ()
    groups = value if isinstance(value, list) and value and isinstance(value[0], (list, str)) else [value]
    out = []
    for g in groups:
        try:
            nums = tuple(float(v) for v in (g.replace(";", ",").split(",") if isinstance(g, str) else g))
        except (TypeError, ValueError):
            nums = ()
        if len(nums) != n:
            raise BadInput(f"{what} {g!r} must be {n} numbers")
        out.append(nums)
    return tuple(out)


def coerce_option(value: Any) -> Any:
    """CSV cells are strings: turn numbers and booleans back into numbers and booleans."""
    return loose(value)


def row_options(row: Mapping[str, Any], stages: Mapping[str, str] | None, base: Mapping[str, Any]) -> dict[str, Any]:
    """A row's stage-option columns, typed and checked with the run's options ``base`` by the chosen
    ``stages``. A row giving its encoding ratios (``encode_ratio``, a list there being a sweep as on the command
    line, ``encode_ratios``, ``auto_ratio``) replaces the run's choice of them, as any other column replaces
    its option. A column another installed stage understands is dropped (a manifest may serve several
    runs), with a warning the first time it holds a value (the row asked for it, and this run will not use it);
    a column no stage understands is an error naming the close matches. Without ``stages`` the values are only
    read as numbers and booleans."""
    from refedit.pipeline.edit.options import RATIO_OPTIONS, ratio_list_as_sweep
    from refedit.pipeline.stages import all_option_types, check_options, registry

    columns = {k: v for k, v in row.items() if k not in ITEM_KEYS}
    if stages is None:
        return {k: coerce_option(v) for k, v in columns.items()}
    specs = [registry.get(kind, name).spec for kind, name in stages.items()]
    chosen = {k for spec in specs if spec is not None for k in spec.types()}
    everyone = all_option_types()
    mine: dict[str, Any] = {}
    for k, v in columns.items():
        if k in chosen or any(spec is None for spec in specs):
            mine[k] = v
        elif k not in everyone:
            raise BadInput(f"unknown column {k!r}{close_matches(k, [*everyone, *ITEM_KEYS])}")
        elif v is not None and str(v).strip() != "":
            owners = ", ".join(sorted(everyone[k]))
            warnings.warn(f"column {k!r} is not used by the chosen stages ({', '.join(stages.values())}): it is an option "
                          f"of {owners}, and this run ignores its values", RefEditWarning, stacklevel=2)  # fmt: skip
    mine = ratio_list_as_sweep(mine, "a list in the encode_ratio column or the encode_ratios column")
    typed_all = check_options({**base, **mine}, stages, what="column")
    out = {k: typed_all[k] for k in mine if k in typed_all}
    if any(out.get(k) is not None for k in RATIO_OPTIONS):  # the row's ratios replace the run's (a sweep included)
        out.update({k: None for k in RATIO_OPTIONS if out.get(k) is None and base.get(k) is not None})
    return out


def items_from_manifest(
    manifest: Path,
    out_dir: Path,
    *,
    instruction: str | None = None,
    name: str = DEFAULT_NAME,
    seed: int = 0,
    allow_outside: bool = False,
    stages: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
    text: str | None = None,
) -> list[Item]:
    """Items of a JSONL or CSV manifest (keys: image, instruction, output, seed, mask, hint_mask, box,
    point, and any stage option such as steps or encode_ratio). Relative paths are relative to the
    manifest's folder and may not escape it unless ``allow_outside``; outputs are relative to ``out_dir``.
    With ``stages`` (kind -> name) option columns are checked against them together with the run's
    ``options``. A row that fails a check is a :class:`Rejected` item; an unreadable manifest (not UTF-8,
    not CSV) is :class:`BadInput`. ``text`` is the manifest's text when it was read already (standard input:
    ``manifest`` is then :data:`STDIN_MANIFEST` in the current folder, which relative paths are relative to)."""
    items: list[Item] = []
    text = read_text(manifest) if text is None else text
    for n, row in _rows(manifest.name, text, manifest_is_csv(manifest, text)):
        where = f"{manifest.name}:{n}"
        try:
            if isinstance(row, BadInput):
                raise row
            items.append(_manifest_item(manifest, row, len(items), where, out_dir, instruction=instruction,
                                        name=name, seed=seed, allow_outside=allow_outside, stages=stages,
                                        options=options or {}))  # fmt: skip
        except BadInput as err:
            msg = str(err) if str(err).startswith(where) else f"{where}: {err}"
            image, output = ((row.get(k) if isinstance(row, dict) else None) for k in ("image", "output"))
            # spelled as the rows that run spell them (the log named one photo two ways, and no output)
            items.append(Rejected(len(items), where, msg,
                                  str(manifest.resolve().parent / image) if isinstance(image, str) and image else "",
                                  str(out_dir / output) if isinstance(output, str) and output else None))  # fmt: skip
    return items


def _text(row: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    """A string column (None when absent or null); must be UTF-8 text."""
    value = row.get(key)
    if value is None:
        if required:
            raise BadInput(f"missing {key!r}")
        return None
    text = typed(key, value, str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"{key} {text!r} is not valid UTF-8 text") from None
    return text


def _manifest_item(manifest: Path, row: Mapping[str, Any], index: int, where: str, out_dir: Path, *,
                   instruction: str | None, name: str, seed: int, allow_outside: bool,
                   stages: Mapping[str, str] | None, options: Mapping[str, Any]) -> BatchItem:  # fmt: skip
    """One checked row (raises :class:`BadInput` naming the column)."""
    base = manifest.resolve().parent

    def resolve(value: str, what: str) -> Path:
        p = Path(value)
        full = (p if p.is_absolute() else base / p).resolve()
        if not allow_outside and base != full and base not in full.parents:
            folder = "the current folder" if manifest.name == STDIN_MANIFEST else "the manifest's folder"
            raise BadInput(f"{where}: {what} {value!r} lies outside {folder} (use --allow-outside to permit it)")
        return full

    image_text = _text(row, "image", required=True) or ""
    text = _text(row, "instruction") or instruction or ""
    if not text.strip():
        raise BadInput(f"{where}: missing 'instruction' (or give -i for all rows)")
    image = resolve(image_text, "image")
    item_seed = seed if row.get("seed") is None else check_seed(row["seed"])
    out_name = _text(row, "output") or render_name(name, stem=image.stem, index=index, seed=item_seed, ext=image.suffix)
    output = Path(out_name) if Path(out_name).is_absolute() else out_dir / out_name
    if not allow_outside and out_dir.resolve() not in output.resolve().parents:
        raise BadInput(f"{where}: output {out_name!r} lies outside {out_dir}")
    from refedit.pipeline.imageio import image_format_for

    image_format_for(output)
    mask, hint_mask = _text(row, "mask"), _text(row, "hint_mask")
    return BatchItem(
        index=index, image=image, instruction=text, output=output, seed=item_seed,
        mask=resolve(mask, "mask") if mask else None,
        hint_mask=resolve(hint_mask, "hint_mask") if hint_mask else None,
        boxes=_numbers(row.get("boxes", row.get("box")), 4, "box"),
        points=_numbers(row.get("points", row.get("point")), 2, "point"),
        options=row_options(row, stages, options),
    )  # fmt: skip


def check_unique_outputs(items: Iterable[Item], outputs_of: Callable[[BatchItem], list[Path]],
                         log: Path | None = None, manifest: Path | None = None) -> None:  # fmt: skip
    """Before the run (a refusal leaves no log): no two items write the same file, no item writes a file another
    item reads (with ``--overwrite`` row 1 could replace row 2's photo before row 2 read it), and the ``log`` is
    neither the ``manifest`` nor a file an item reads or writes (appending a record to a photo corrupts it)."""
    from refedit.outputs import candidates_path
    from refedit.pipeline.imageio import same_file

    batch = [item for item in items if isinstance(item, BatchItem)]
    reads = {p.resolve(): item for item in batch for p in BatchRunner.inputs_of(item) if p is not None}
    seen: set[Path] = set()
    for item in batch:
        outs = [o.resolve() for o in [*outputs_of(item), candidates_path(item.output)]]
        if any(o in seen for o in outs):
            raise BadInput(f"two items write {item.output}; use a --name template with {{index}} or {{seed}}")
        own = {p.resolve() for p in BatchRunner.inputs_of(item) if p is not None}  # (that item fails alone, unwritten)
        if (other := next((reads[o] for o in outs if o in reads and o not in own), None)) is not None:
            raise BadInput(f"item {item.index + 1} writes {item.output}, which item {other.index + 1} reads; refedit never "
                           "overwrites its input (give another output)")
        seen.update(outs)
    if log is not None:
        clash = "the manifest" if manifest is not None and same_file(log, manifest) else next(
            (f"a file item {reads[p].index + 1} reads" for p in reads if same_file(log, p)),
            "a file an item writes" if log.resolve() in seen else None)  # fmt: skip
        if clash:
            raise BadInput(f"--log {log} is {clash}; give the log its own file")


# --------------------------------------------------------------------------- running
@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    ambiguous: int = 0

    def line(self) -> str:
        tail = f", {self.ambiguous} ambiguous" if self.ambiguous else ""
        return f"batch: {self.done} done, {self.skipped} skipped, {self.failed} failed{tail}"

    def count(self, record: Mapping[str, Any]) -> None:
        """Count one item's log record by its status (done/skipped/failed/ambiguous)."""
        setattr(self, record["status"], getattr(self, record["status"]) + 1)


class JsonlLog:
    """Append-only JSON-lines log, each line flushed and fsynced as the item finishes. The file is created
    with the first record, so a run refused before any item leaves no empty log behind."""

    def __init__(self, path: Path, lock: Any = None) -> None:
        self.path = path
        self._fh: Any = None
        self.lock = lock  # a held :class:`~refedit.core.files.FolderLock`, released with the log

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line in one unbuffered write (a buffered text write split a long record into
        several), then fsync. A torn last line a crash left is cut off first (:func:`~refedit.core.files.cut_torn_line`,
        as ``eval``'s log reader does): the next record was glued onto it and lost."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut_torn_line(self.path)
            self._fh = self.path.open("ab", buffering=0)
        data = memoryview((json.dumps(record, default=str) + "\n").encode("utf-8"))
        while data:
            data = data[self._fh.write(data) :]
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self.lock is not None:
            self.lock.release()


def overlay(image: Image.Image, mask: np.ndarray, boxes: Iterable[tuple[float, float, float, float]] = ()) -> Image.Image:
    """The image with the mask tinted red and chosen boxes outlined (for --dry-run checks)."""
    from PIL import ImageDraw

    arr = np.asarray(image, dtype=np.float32).copy()
    arr[mask] = 0.5 * arr[mask] + 0.5 * np.array([255.0, 0.0, 0.0])
    out = Image.fromarray(arr.round().astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(out)
    for b in boxes:
        draw.rectangle(b, outline=(255, 255, 0), width=max(1, min(out.size) // 200))
    return in_colours_of(out, image)  # the input's colour profile, as every output has


class BatchRunner:
    """Runs items through one set of stages sharing one ModelStore. Items with their own stage options get
    stages built with those options on the same store (no model is loaded twice). ``editor=None`` leaves the
    editor to the pipeline, as ``refedit edit`` without ``--editor`` does (:meth:`Pipeline.build`)."""

    def __init__(
        self,
        settings: Any,
        *,
        parser: str = DEFAULTS["parser"],
        segmenter: str = DEFAULTS["segmenter"],
        editor: str | None = None,
        options: Mapping[str, Any] | None = None,
        store: Any = None,
        overwrite: bool = False,
        dry_run: bool = False,
        fail_fast: bool = False,
        progress: Any = None,
        debug: bool = False,
    ) -> None:
        from refedit.pipeline.models import ModelStore

        self.settings = settings
        self.names = {"parser": parser, "segmenter": segmenter, "editor": editor}
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        self.store = store or ModelStore(settings)
        self.overwrite, self.dry_run, self.fail_fast = overwrite, dry_run, fail_fast
        self.progress = progress
        self.debug = debug  # keep each failed item's traceback in its record
        self._pipelines: dict[str, Any] = {}

    def worker_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this runner in another process (an engine's worker builds its
        own runner, with its own ModelStore, from them); the progress callback and the store stay here."""
        return {"settings": self.settings, **self.names, "options": dict(self.options), "overwrite": self.overwrite,
                "dry_run": self.dry_run, "debug": self.debug}  # fmt: skip

    def pipeline(self, item_options: Mapping[str, Any]) -> Any:
        """The pipeline for these per-item options (built once per distinct option set)."""
        from refedit.pipeline.chain import Pipeline

        options = {**self.options, **item_options}
        key = json.dumps(options, sort_keys=True, default=str)
        if key not in self._pipelines:
            self._pipelines[key] = Pipeline.build(self.settings, **self.names, options=options, store=self.store,
                                                  progress=self.progress)  # fmt: skip
        return self._pipelines[key]

    def outputs_of(self, item: BatchItem) -> list[Path]:
        """The files the item writes (every result and the contact sheet for a sweep or several outputs)."""
        from refedit.outputs import companion, planned_outputs

        if self.dry_run:
            return [companion(item.output, "_mask.png"), companion(item.output, "_overlay.png")]

        return planned_outputs(item.output, {**self.options, **item.options})

    def run_item(self, item: BatchItem) -> dict[str, Any]:
        """Run one item; returns its log record (status done/failed). Any exception of the item is its
        failure (with its type, and its traceback when ``debug``); only KeyboardInterrupt and the like stop
        the run."""
        from refedit.core.files import all_or_nothing
        from refedit.outputs import candidates_path, edit_metadata, write_candidates, write_result, writes_variants
        from refedit.pipeline.artifacts import AmbiguousTarget, EditRequest
        from refedit.pipeline.imageio import image_format_for, load_image, save_image, save_mask
        from refedit.pipeline.segment.hints import load_hints

        start = time.perf_counter()
        record: dict[str, Any] = {"index": item.index, "input": str(item.image), "output": str(item.output),
                                  "instruction": item.instruction, "seed": item.seed}  # fmt: skip
        try:
            source = load_image(item.image)
            if notes := source.notes(item.image, image_format_for(item.output)):
                record["notes"] = notes
            hints = load_hints(source.rgb.size, boxes=item.boxes, points=item.points, hint_mask=item.hint_mask,
                               mask=item.mask)  # fmt: skip
            pipe = self.pipeline(item.options)
            request = EditRequest(source.rgb, item.instruction, hints, item.seed, str(item.image))
            for out in self.outputs_of(item):
                out.parent.mkdir(parents=True, exist_ok=True)
            if self.dry_run:
                plan = pipe.plan(request)
                seg = pipe.segment(request, plan)
                mask_path, overlay_path = self.outputs_of(item)
                with all_or_nothing():  # an item's files are written all or none
                    save_mask(seg.mask, mask_path)
                    save_image(overlay(source.rgb, seg.mask, [seg.candidates[i].box for i in seg.chosen]),
                               overlay_path, source=None)  # fmt: skip
                record.update(status="done", plan=plan.to_dict(), reason=seg.reason, mask=str(mask_path),
                              ambiguous=seg.ambiguous)  # fmt: skip
            else:
                result = pipe.run(request)
                meta = edit_metadata(item.instruction, item.seed, result)
                paths, sheet = write_result(result, item.output, source=source, metadata=meta)
                if writes_variants(result):
                    record.update(variants=[dict(v.to_dict(p), metrics={k: str(x) for k, x in v.metrics.items()})
                                            for v, p in zip(result.variants, paths, strict=True)],
                                  contact_sheet=str(sheet))  # fmt: skip
                if result.ratio_choice is not None:
                    record["ratio_choice"] = result.ratio_choice.to_dict()
                record.update(status="done", plan=result.plan.to_dict(), reason=result.segmentation.reason,
                              ambiguous=result.segmentation.ambiguous, parameters=result.parameters,
                              timings=result.timings,
                              metrics={k: str(v) for k, v in result.metrics.items()})  # fmt: skip
        except AmbiguousTarget as err:  # not a failure of the run: the item needs a pick; the batch goes on
            drawn = write_candidates(err.ambiguity, source.rgb, candidates_path(item.output), *self.inputs_of(item))
            record.update(status="ambiguous", error=str(err).splitlines()[0], error_type="AmbiguousTarget",
                          exit_code=err.exit_code, ambiguity=err.ambiguity.to_dict(), candidates_overlay=str(drawn))  # fmt: skip
        except Exception as err:  # noqa: BLE001 - one item's failure, whatever it is, must not stop the batch
            record.update(failure(err))
            if self.debug:
                record["traceback"] = traceback.format_exc()
        record["seconds"] = round(time.perf_counter() - start, 4)
        return record

    def run(self, items: list[Item], log: JsonlLog, on_item: Callable[[dict[str, Any]], None] | None = None,
            engine: Engine | None = None) -> Summary:  # fmt: skip
        """Run every item on ``engine`` (default: this process, in order) and log each record as it arrives;
        existing outputs are skipped unless ``overwrite``; rejected rows are logged as failed without running;
        ambiguous items are logged (status ``ambiguous``) and counted, never written."""
        check_unique_outputs(items, self.outputs_of)
        return log_records((engine or LocalEngine()).records(self, items), log, on_item, fail_fast=self.fail_fast)

    @staticmethod
    def rejected(item: Rejected) -> dict[str, Any]:
        """The log record of a manifest row refused before the run."""
        return {"index": item.index, "input": item.image, "output": item.output, "status": "failed", "error": item.error,
                "error_type": "BadInput", "exit_code": BadInput.exit_code}  # fmt: skip

    def skipped(self, item: BatchItem) -> dict[str, Any] | None:
        """The ``skipped`` record when the item's outputs all exist (unless ``overwrite``), else None; temp files
        a killed run left beside its outputs are removed either way."""
        for out in self.outputs_of(item):  # temp files a killed run left behind
            for stale in out.parent.glob(f".{out.name}.*.part") if out.parent.is_dir() else ():
                stale.unlink(missing_ok=True)
        if not self.overwrite and all(o.exists() for o in self.outputs_of(item)):
            if not self.dry_run and (other := made_otherwise(item)) is not None:  # not this item's edit: no resume
                return {"index": item.index, "input": str(item.image), "output": str(item.output), "status": "failed",
                        "error": f"{item.output} exists but is {other}: --overwrite to edit it again, or another "
                                 "--name / output", "error_type": "BadInput", "exit_code": BadInput.exit_code}  # fmt: skip
            return {"index": item.index, "input": str(item.image), "output": str(item.output), "status": "skipped",
                    "reason": "output exists"}  # fmt: skip
        return None

    @staticmethod
    def inputs_of(item: BatchItem) -> tuple[Path | None, ...]:
        """The files the item reads (none of them is ever written)."""
        return item.image, item.mask, item.hint_mask

    def overwrites_input(self, item: BatchItem) -> dict[str, Any] | None:
        """The failed record of an item one of whose outputs (or its candidates drawing) is one of its inputs."""
        from refedit.outputs import candidates_path
        from refedit.pipeline.imageio import check_not_inputs

        try:
            check_not_inputs([*self.outputs_of(item), candidates_path(item.output)], *self.inputs_of(item))
        except BadInput as err:
            return {"index": item.index, "input": str(item.image), "output": str(item.output), "status": "failed",
                    "error": str(err), "error_type": "BadInput", "exit_code": err.exit_code}  # fmt: skip
        return None

    def precheck(self, item: BatchItem) -> dict[str, Any] | None:
        """The record of an item that does not run: it would overwrite one of its inputs (failed), or its outputs
        exist (skipped, unless ``overwrite``); None when it runs."""
        return self.overwrites_input(item) or self.skipped(item)

    def process(self, item: BatchItem) -> dict[str, Any]:
        """The item's :meth:`precheck` record, else run it."""
        return self.precheck(item) or self.run_item(item)


class Engine(Protocol):
    """Where a batch's items run: ``records`` yields one log record per item, as items finish (in any order),
    doing each item's work with ``runner.run_item`` (in this process or in workers that rebuild the runner
    from :meth:`BatchRunner.worker_config`) and the checks with ``runner.rejected`` / ``runner.precheck``."""

    def records(self, runner: BatchRunner, items: list[Item]) -> Iterator[dict[str, Any]]: ...


class LocalEngine:
    """This process, one item after another in the items' order."""

    def records(self, runner: BatchRunner, items: list[Item]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield runner.rejected(item) if isinstance(item, Rejected) else runner.process(item)


def log_records(records: Iterable[dict[str, Any]], log: JsonlLog,
                on_item: Callable[[dict[str, Any]], None] | None = None, *, fail_fast: bool = False) -> Summary:  # fmt: skip
    """Count, log and report each record as it arrives; with ``fail_fast`` stop at the first failed item (the
    engine's iterator is closed, so it stops its workers)."""
    summary = Summary()
    stream = iter(records)
    try:
        for record in stream:
            summary.count(record)
            log.write(record)
            if on_item:
                on_item(record)
            if fail_fast and record["status"] == "failed":
                break
            if record.get("stops_batch"):  # a full or read-only disk: every later item would fail the same way
                raise BadInput(f"stopped after {summary.done + summary.skipped + summary.failed + summary.ambiguous} "
                               f"item(s): {record['error']}; the items written so far are kept and logged: free space "
                               "(or make the folder writable) and rerun to go on")  # fmt: skip
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            close()
    return summary


def failure(err: BaseException) -> dict[str, Any]:
    """The log fields of a failed item: the error's first line, its type and the exit code it stands for
    (an exception that is not refedit's own is a bug: exit code 1)."""
    text = str(err).strip()
    record = {"status": "failed", "error": text.splitlines()[0] if text else type(err).__name__,
              "error_type": type(err).__name__,
              "exit_code": err.exit_code if isinstance(err, RefEditError) else InternalError.exit_code}  # fmt: skip
    cause = err if isinstance(err, OSError) else err.__cause__
    if isinstance(cause, OSError) and cause.errno in STOPPING_ERRNOS:
        record["stops_batch"] = True
    return record


#: write errors no later item can escape: the batch stops at the first (a full disk let it run every edit to fail it)
STOPPING_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
