"""Batch editing: a folder or a manifest of items, one pipeline built before the loop, one JSON log line
per item written as it finishes, existing outputs skipped (so a killed run resumes), failures recorded
and the run carried on."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
from PIL import Image

from refedit.errors import BadInput, RefEditError
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


def render_name(template: str, *, stem: str, index: int, seed: int, ext: str) -> str:
    """Fill an output name template: ``{stem}``, ``{index}``, ``{seed}``, ``{ext}`` (input extension)."""
    try:
        name = template.format(stem=stem, index=index, seed=seed, ext=ext.lstrip("."))
    except (KeyError, IndexError, ValueError) as err:
        raise BadInput(f"bad --name template {template!r}: {err}; use {{stem}}, {{index}}, {{seed}}, {{ext}}") from None
    if not name or "/" in name or name in (".", ".."):
        raise BadInput(f"--name template {template!r} gives an invalid file name {name!r}")
    return name


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


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        for row in csv.DictReader(io.StringIO(text)):
            yield {k.strip(): v for k, v in row.items() if k and v not in (None, "")}
        return
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise BadInput(f"{path}:{n}: not a JSON object ({err})") from None
            if not isinstance(row, dict):
                raise BadInput(f"{path}:{n}: each line must be a JSON object")
            yield row


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
    if not isinstance(value, str):
        return value
    low = value.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def items_from_manifest(
    manifest: Path,
    out_dir: Path,
    *,
    instruction: str | None = None,
    name: str = DEFAULT_NAME,
    seed: int = 0,
    allow_outside: bool = False,
) -> list[BatchItem]:
    """Items of a JSONL or CSV manifest (keys: image, instruction, output, seed, mask, hint_mask, box,
    point, and any stage option such as steps or encode_ratio). Relative paths are relative to the
    manifest's folder and may not escape it unless ``allow_outside``; outputs are relative to ``out_dir``."""
    base = manifest.resolve().parent

    def resolve(value: str, what: str, n: int) -> Path:
        p = Path(value)
        full = (p if p.is_absolute() else base / p).resolve()
        if not allow_outside and base != full and base not in full.parents:
            raise BadInput(f"{manifest.name}:{n}: {what} {value!r} lies outside the manifest's folder "
                           "(use --allow-outside to permit it)")  # fmt: skip
        return full

    items = []
    for n, row in enumerate(_rows(manifest), 1):
        if "image" not in row:
            raise BadInput(f"{manifest.name}:{n}: missing 'image'")
        text = str(row.get("instruction") or instruction or "")
        if not text.strip():
            raise BadInput(f"{manifest.name}:{n}: missing 'instruction' (or give -i for all rows)")
        image = resolve(str(row["image"]), "image", n)
        item_seed = int(row.get("seed", seed))
        out_name = row.get("output") or render_name(name, stem=image.stem, index=n - 1, seed=item_seed, ext=image.suffix)
        output = Path(out_name) if Path(out_name).is_absolute() else out_dir / out_name
        if not allow_outside and out_dir.resolve() not in output.resolve().parents:
            raise BadInput(f"{manifest.name}:{n}: output {out_name!r} lies outside {out_dir}")
        items.append(BatchItem(
            index=n - 1, image=image, instruction=text, output=output, seed=item_seed,
            mask=resolve(str(row["mask"]), "mask", n) if row.get("mask") else None,
            hint_mask=resolve(str(row["hint_mask"]), "hint_mask", n) if row.get("hint_mask") else None,
            boxes=_numbers(row.get("boxes", row.get("box")), 4, "box"),
            points=_numbers(row.get("points", row.get("point")), 2, "point"),
            options={k: coerce_option(v) for k, v in row.items() if k not in ITEM_KEYS},
        ))  # fmt: skip
    return items


# --------------------------------------------------------------------------- running
@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0

    def line(self) -> str:
        return f"batch: {self.done} done, {self.skipped} skipped, {self.failed} failed"


class JsonlLog:
    """Append-only JSON-lines log, each line flushed and fsynced as the item finishes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, default=str) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def overlay(image: Image.Image, mask: np.ndarray, boxes: Iterable[tuple[float, float, float, float]] = ()) -> Image.Image:
    """The image with the mask tinted red and chosen boxes outlined (for --dry-run checks)."""
    from PIL import ImageDraw

    arr = np.asarray(image, dtype=np.float32).copy()
    arr[mask] = 0.5 * arr[mask] + 0.5 * np.array([255.0, 0.0, 0.0])
    out = Image.fromarray(arr.round().astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(out)
    for b in boxes:
        draw.rectangle(b, outline=(255, 255, 0), width=max(1, min(out.size) // 200))
    return out


class BatchRunner:
    """Runs items through one set of stages sharing one ModelStore. Items with their own stage options get
    stages built with those options on the same store (no model is loaded twice)."""

    def __init__(
        self,
        settings: Any,
        *,
        parser: str = DEFAULTS["parser"],
        segmenter: str = DEFAULTS["segmenter"],
        editor: str = DEFAULTS["editor"],
        options: Mapping[str, Any] | None = None,
        store: Any = None,
        overwrite: bool = False,
        dry_run: bool = False,
        fail_fast: bool = False,
        progress: Any = None,
    ) -> None:
        from refedit.pipeline.models import ModelStore

        self.settings = settings
        self.names = {"parser": parser, "segmenter": segmenter, "editor": editor}
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        self.store = store or ModelStore(settings)
        self.overwrite, self.dry_run, self.fail_fast = overwrite, dry_run, fail_fast
        self.progress = progress
        self._pipelines: dict[str, Any] = {}

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
        if self.dry_run:
            return [item.output.with_name(item.output.stem + "_mask.png"),
                    item.output.with_name(item.output.stem + "_overlay.png")]  # fmt: skip
        return [item.output]

    def run_item(self, item: BatchItem) -> dict[str, Any]:
        """Run one item; returns its log record (status done/failed). Never raises a RefEditError."""
        from refedit.pipeline.artifacts import EditRequest
        from refedit.pipeline.imageio import load_image, save_image, save_mask
        from refedit.pipeline.segment.hints import load_hints

        start = time.perf_counter()
        record: dict[str, Any] = {"index": item.index, "input": str(item.image), "output": str(item.output),
                                  "instruction": item.instruction, "seed": item.seed}  # fmt: skip
        try:
            source = load_image(item.image)
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
                save_mask(seg.mask, mask_path)
                save_image(overlay(source.rgb, seg.mask, [seg.candidates[i].box for i in seg.chosen]), overlay_path,
                           source=None)  # fmt: skip
                record.update(status="done", plan=plan.to_dict(), reason=seg.reason, mask=str(mask_path))
            else:
                result = pipe.run(request)
                meta = {"refedit": json.dumps({"instruction": item.instruction, "seed": item.seed,
                                               "parameters": result.parameters}, default=str)}  # fmt: skip
                save_image(result.image, item.output, source=source, metadata=meta)
                record.update(status="done", plan=result.plan.to_dict(), reason=result.segmentation.reason,
                              parameters=result.parameters, timings=result.timings,
                              metrics={k: str(v) for k, v in result.metrics.items()})  # fmt: skip
        except RefEditError as err:
            record.update(status="failed", error=str(err), error_type=type(err).__name__, exit_code=err.exit_code)
        record["seconds"] = round(time.perf_counter() - start, 4)
        return record

    def run(self, items: list[BatchItem], log: JsonlLog, on_item: Callable[[dict[str, Any]], None] | None = None) -> Summary:
        """Run every item; existing outputs are skipped unless ``overwrite``."""
        summary = Summary()
        seen: set[Path] = set()
        for item in items:
            outs = self.outputs_of(item)
            if any(o.resolve() in seen for o in outs):
                raise BadInput(f"two items write {item.output}; use a --name template with {{index}} or {{seed}}")
            seen.update(o.resolve() for o in outs)
        for item in items:
            for out in self.outputs_of(item):  # temp files a killed run left behind
                for stale in out.parent.glob(f".{out.name}.*.part") if out.parent.is_dir() else ():
                    stale.unlink(missing_ok=True)
            if not self.overwrite and all(o.exists() for o in self.outputs_of(item)):
                record = {"index": item.index, "input": str(item.image), "output": str(item.output),
                          "status": "skipped", "reason": "output exists"}  # fmt: skip
                summary.skipped += 1
            else:
                record = self.run_item(item)
                if record["status"] == "done":
                    summary.done += 1
                else:
                    summary.failed += 1
            log.write(record)
            if on_item:
                on_item(record)
            if self.fail_fast and record["status"] == "failed":
                break
        return summary
