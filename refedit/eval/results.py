"""What an evaluation writes: one JSON line per sample (the batch machinery's fsynced :class:`JsonlLog`, so a
killed run resumes where it stopped), and the summary files, each written to a temporary file and renamed.

A rerun reads the log back (:func:`read_log`): samples already there are not run or scored again, unless the sample
changed since (its fields, or the bytes of a file it names: :func:`sample_digest`, kept in each record). A last line
cut short by a kill is dropped from the file before new lines are appended."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping

from refedit.batch import JsonlLog
from refedit.core.files import atomic_write_text, cut_torn_line
from refedit.errors import BadInput

LOG_NAME = "samples.jsonl"
#: what produced the log: the command, the data and every setting that changes a result (see :func:`check_same_run`)
RUN_NAME = "run.json"
#: the record's key for its sample's digest (:func:`sample_digest`)
DIGEST_KEY = "sample_digest"


def check_same_run(out: Path, run: Mapping[str, Any], resuming: bool) -> None:
    """Before a rerun reuses the samples already in ``out``'s log: they must come from the same data and settings
    (:data:`RUN_NAME`), else their figures would be reported under the new settings. :class:`BadInput` naming what
    differs; a log without a run file (refedit before it wrote one) is trusted."""
    path = out / RUN_NAME
    if not resuming or not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    new = _as_json(run)
    diffs = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if diffs:
        what = "; ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in diffs[:3])
        raise BadInput(f"{out} holds results of another run ({what}); give another -o, or --overwrite to start afresh")


def write_run(out: Path, run: Mapping[str, Any]) -> None:
    """Record what this run is (:func:`check_same_run` reads it back)."""
    write_json(out / RUN_NAME, _as_json(run))


def _as_json(run: Mapping[str, Any]) -> Any:
    """``run`` as it reads back from its file (tuples as lists, paths and numbers as JSON has them)."""
    return json.loads(json.dumps(clean(run), default=str))


def clean(value: Any) -> Any:
    """JSON-safe: ``inf`` -> "inf", ``nan`` -> None, numpy scalars -> Python numbers, tuples -> lists."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return clean(value.item())
    return value


def number(value: Any) -> float | None:
    """A record's figure back as a float ("inf" -> inf), None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return math.inf if value == "inf" else -math.inf if value == "-inf" else None
    return float(value)


def read_log(path: Path) -> dict[str, dict[str, Any]]:
    """Sample id -> its (last) record; an unterminated last line (a killed write) is cut off the file."""
    raw = cut_torn_line(path)
    records: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise BadInput(f"{path}:{n} is not a JSON line; move the file away to start afresh") from None
        if isinstance(rec, dict) and "key" in rec:
            records[str(rec["key"])] = rec
    return records


class SampleLog(JsonlLog):
    """The per-sample log: :class:`refedit.batch.JsonlLog` with JSON-safe records, each with its sample's digest
    (``digests``: sample id -> :func:`sample_digest`) under ``"sample_digest"``."""

    def __init__(self, *args: Any, digests: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.digests = digests or {}

    def write(self, record: Mapping[str, Any]) -> None:
        digest = self.digests.get(str(record.get("id")))
        super().write(clean(record if digest is None else {**record, DIGEST_KEY: digest}))

    def compact(self, keys: Collection[str]) -> list[dict[str, Any]]:
        """The records the summary is made of (the last one of each key in ``keys``, the current data's), and the
        log rewritten to hold exactly those (atomically): the rows a rerun superseded, and those of samples no longer
        in the data, go, so the log and the summary agree for whoever recomputes the figures from it."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        records = [r for k, r in read_log(self.path).items() if k in keys]
        if records or self.path.exists():
            atomic_write_text(self.path, "".join(json.dumps(r, default=str) + "\n" for r in records))
        return records


def sample_digest(sample: Any, files: Iterable[Path | None] = ()) -> str:
    """A digest of what a sample's result depends on: its fields (text, captions, mask, ...) and the bytes of every
    file it names (image, PNG mask, target, detections) and of ``files`` (a tool's output, for ``eval score``)."""
    fields = dataclasses.asdict(sample)
    h = hashlib.blake2b(json.dumps(fields, sort_keys=True, default=str).encode(), digest_size=16)
    mask = getattr(sample, "mask", None)
    named = [sample.image, sample.target, sample.detections, Path(mask.value) if mask and mask.kind == "png" else None]
    for path in (*named, *files):
        if path is not None and Path(path).is_file():
            h.update(Path(path).read_bytes())
    return h.hexdigest()


def changed_since_logged(done: Mapping[str, Mapping[str, Any]], digests: Mapping[str, str]) -> set[str]:
    """The ids of the samples whose records in ``done`` were made from another version of them (another digest, or
    none: a log of an earlier refedit); samples no longer in the data (not in ``digests``) are left out."""
    return {str(r.get("id")) for r in done.values()
            if str(r.get("id")) in digests and r.get(DIGEST_KEY) != digests[str(r.get("id"))]}  # fmt: skip


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` through a temporary file and an atomic rename."""
    return atomic_write_text(path, text)


def write_json(path: Path, data: Any) -> Path:
    return write_text(path, json.dumps(clean(data), indent=2) + "\n")
