"""Benchmark formats: refedit's JSONL manifest, RefCOCO/+/g (``refer`` toolkit), PIE-Bench, MagicBrush.

:func:`read_dataset` takes a file or folder, recognises its layout (or takes ``fmt``) and returns the samples;
every path a data set names must lie inside its folder (``allow_outside`` lifts that, as for batch manifests).
``rle`` decodes the mask encodings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from refedit.errors import BadInput
from refedit.eval.samples import Sample

Format = Literal["manifest", "refcoco", "piebench", "magicbrush"]
FORMATS: tuple[str, ...] = ("manifest", "refcoco", "piebench", "magicbrush")


@dataclass(frozen=True)
class Dataset:
    """The samples of one data set, its format and where it lives."""

    format: str
    root: Path
    samples: tuple[Sample, ...]


def detect(path: Path) -> tuple[str, Path]:
    """(format, file or folder to read) of ``path``, from the files it holds."""
    from refedit.eval.formats.magicbrush import SESSIONS
    from refedit.eval.formats.piebench import MAPPING
    from refedit.eval.formats.refcoco import INSTANCES

    if path.is_file():
        by_name = {MAPPING: "piebench", SESSIONS: "magicbrush", INSTANCES: "refcoco"}
        if path.name in by_name:
            fmt = by_name[path.name]
            return fmt, path if fmt == "piebench" else path.parent
        if path.suffix.lower() == ".jsonl":
            return "manifest", path
    elif path.is_dir():
        for name, fmt in ((MAPPING, "piebench"), (SESSIONS, "magicbrush"), (INSTANCES, "refcoco"),
                          ("manifest.jsonl", "manifest")):  # fmt: skip
            if (path / name).is_file():
                return fmt, path / name if fmt in ("piebench", "manifest") else path
    else:
        raise BadInput(f"data {path} does not exist")
    raise BadInput(f"cannot tell the format of {path}: expected a .jsonl manifest, a PIE-Bench {MAPPING}, a MagicBrush "
                   f"folder ({SESSIONS}) or a RefCOCO folder ({INSTANCES} + refs(NAME).json|.p)")  # fmt: skip


def _where(path: Path, fmt: str) -> Path:
    """The file or folder a format reads, for a ``path`` given with an explicit ``--format``."""
    if path.is_dir():
        return {"manifest": path / "manifest.jsonl", "piebench": path / "mapping_file.json"}.get(fmt, path)
    return path if fmt in ("manifest", "piebench") else path.parent


def read_dataset(path: Path, *, fmt: str | None = None, split: str = "val", refs: str | None = None,
                 images: Path | None = None, trust_pickle: bool = False, allow_outside: bool = False,
                 limit: int | None = None) -> Dataset:  # fmt: skip
    """Read ``path`` as ``fmt`` (detected when None); ``split``/``refs``/``images``/``trust_pickle`` are RefCOCO's;
    ``limit`` keeps the first samples."""
    if fmt is None:
        fmt, where = detect(path)
    elif not path.exists():
        raise BadInput(f"data {path} does not exist")
    else:
        where = _where(path, fmt)
    if fmt == "manifest":
        from refedit.eval.formats.manifest import read_manifest

        samples = read_manifest(where, allow_outside=allow_outside)
    elif fmt == "piebench":
        from refedit.eval.formats.piebench import read_piebench

        samples = read_piebench(where, allow_outside=allow_outside)
    elif fmt == "magicbrush":
        from refedit.eval.formats.magicbrush import read_magicbrush

        samples = read_magicbrush(where if where.is_dir() else where.parent, allow_outside=allow_outside)
    elif fmt == "refcoco":
        from refedit.eval.formats.refcoco import read_refcoco

        samples = read_refcoco(where if where.is_dir() else where.parent, split=split, refs=refs, images=images,
                               trust_pickle=trust_pickle, allow_outside=allow_outside)  # fmt: skip
    else:
        raise BadInput(f"unknown data format {fmt!r}; choose from {', '.join(FORMATS)}")
    if limit is not None:
        samples = samples[:limit]
    return Dataset(fmt, where if where.is_dir() else where.parent, tuple(samples))
