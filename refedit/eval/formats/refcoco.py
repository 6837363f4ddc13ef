"""RefCOCO / RefCOCO+ / RefCOCOg as the ``refer`` toolkit distributes them (Ref-Diff Tables 1-2).

Layout (one folder per data set, e.g. ``refcoco/``)::

    instances.json     COCO-style {"images": [{id, file_name, height, width}], "annotations": [{id, image_id,
                       segmentation (polygons or RLE), bbox [x, y, w, h], category_id}], "categories": [...]}
    refs(unc).p        the referring expressions: a list of {ref_id, ann_id, image_id, split, category_id,
                       sentences: [{sent_id, sent, ...}]} -- RefCOCO/RefCOCO+: refs(unc); RefCOCOg: refs(umd)
                       (the "U" splits) or refs(google) (the "G" split)
    refs(unc).json     the same list as JSON (what refedit writes with --trust-pickle; then no pickle is read)

The ``refs(*).p`` files are Python pickles, and unpickling can run code. refedit reads one only with
``--trust-pickle``, and even then through an unpickler that refuses every class or function (the files hold only
lists, dicts, strings and numbers), and writes ``refs(NAME).json`` beside it so later runs read JSON. Images come
from COCO train2014 (``--images DIR``; default ``images/`` in the data folder). Each sentence is one sample, as
in the RIS evaluation protocol; its mask is the referred annotation's."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

from refedit.errors import BadInput, RefEditWarning
from refedit.eval.samples import MaskRef, Sample, inside

INSTANCES = "instances.json"


class _DataOnly(pickle.Unpickler):
    """An unpickler that loads plain data only: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"the pickle refers to {module}.{name}; only plain data is accepted")


def refs_files(root: Path) -> dict[str, Path]:
    """``name`` -> refs file (``refs(unc).json`` preferred over ``refs(unc).p``)."""
    found: dict[str, Path] = {}
    for p in sorted(root.glob("refs(*).*")):
        name = p.name[len("refs("):p.name.rfind(")")]
        if p.suffix == ".json" or (p.suffix == ".p" and name not in found):
            found[name] = p
    return found


def load_refs(root: Path, name: str | None, *, trust_pickle: bool) -> list[dict[str, Any]]:
    """The refs list of ``root`` (``name`` like ``unc``; the only one present when None)."""
    files = refs_files(root)
    if not files:
        raise BadInput(f"no refs(NAME).json or refs(NAME).p in {root}")
    if name is None:
        if len(files) > 1:
            raise BadInput(f"{root} has several refs files ({', '.join(files)}); choose one with --refs")
        name = next(iter(files))
    if name not in files:
        raise BadInput(f"no refs({name}) in {root}; found {', '.join(files)}")
    path = files[name]
    if path.suffix == ".json":
        from refedit.batch import read_text

        try:
            refs = json.loads(read_text(path, "refs file"))
        except json.JSONDecodeError as err:
            raise BadInput(f"{path} is not valid JSON: {err}") from None
    else:
        refs = _unpickle(path, trust_pickle)
        _export(refs, path.with_suffix(".json"))
    if not isinstance(refs, list):
        raise BadInput(f"{path} must hold a list of refs")
    return refs


def _unpickle(path: Path, trusted: bool) -> Any:
    if not trusted:
        raise BadInput(f"{path.name} is a Python pickle, which can run code when loaded; pass --trust-pickle to "
                       f"convert it (refedit then writes {path.with_suffix('.json').name} beside it), or convert "
                       "it yourself (see the README)")  # fmt: skip
    try:
        with path.open("rb") as fh:
            return _DataOnly(fh, encoding="utf-8", errors="replace").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise BadInput(f"cannot read {path}: {err}") from None


def _export(refs: Any, out: Path) -> None:
    """Write the refs as JSON beside the pickle (atomically); a read-only folder only warns."""
    from refedit.core.files import atomic_write

    try:
        atomic_write(out, lambda fh: json.dump(refs, fh), text=True)
    except OSError as err:
        warnings.warn(RefEditWarning(f"could not write {out} ({err.strerror or err}); the pickle will be read again "
                                     "next time"), stacklevel=2)  # fmt: skip


def read_refcoco(root: Path, *, split: str = "val", refs: str | None = None, images: Path | None = None,
                 trust_pickle: bool = False, allow_outside: bool = False) -> list[Sample]:  # fmt: skip
    """One sample per sentence of the refs in ``split``."""
    from refedit.batch import read_text

    try:
        inst = json.loads(read_text(root / INSTANCES, "COCO instances file"))
    except json.JSONDecodeError as err:
        raise BadInput(f"{root / INSTANCES} is not valid JSON: {err}") from None
    if not isinstance(inst, dict) or not all(isinstance(inst.get(k), list) for k in ("images", "annotations")):
        raise BadInput(f"{root / INSTANCES} must have 'images' and 'annotations' lists")
    image_files = {im.get("id"): im for im in inst["images"] if isinstance(im, dict)}
    anns = {a.get("id"): a for a in inst["annotations"] if isinstance(a, dict)}
    cats = {c.get("id"): c.get("name") for c in inst.get("categories", []) if isinstance(c, dict)}
    folder = images if images is not None else root / "images"
    chosen = [r for r in load_refs(root, refs, trust_pickle=trust_pickle) if isinstance(r, dict) and r.get("split") == split]
    if not chosen:
        raise BadInput(f"no refs in split {split!r} in {root}")
    samples = []
    for ref in chosen:
        where = f"ref {ref.get('ref_id')}"
        ann, im = anns.get(ref.get("ann_id")), image_files.get(ref.get("image_id"))
        if ann is None or im is None or not isinstance(im.get("file_name"), str):
            raise BadInput(f"{where}: its annotation or image is not in {INSTANCES}")
        seg = ann.get("segmentation")
        mask = MaskRef("rle", seg) if isinstance(seg, dict) else MaskRef("polygon", seg)
        x, y, w, h = (float(v) for v in ann.get("bbox", (0, 0, 1, 1)))
        image = inside(folder, im["file_name"], f"{where}: image", allow_outside=allow_outside or images is not None)
        for k, sent in enumerate(ref.get("sentences") or []):
            text = sent.get("sent") if isinstance(sent, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise BadInput(f"{where}: sentence {k} has no text")
            sid = str(sent.get("sent_id", f"{ref.get('ref_id')}-{k}"))
            samples.append(Sample(id=sid, image=image, text=text, name=f"{sid}.png", mask=mask,
                                  box=(x, y, x + w, y + h), boxes=((x, y, x + w, y + h),),
                                  category=cats.get(ref.get("category_id"))))  # fmt: skip
    return samples
