"""The files an edit writes beyond one image, shared by the command line and batches: the numbered candidates
of an ambiguous instruction (``*_candidates.png``) and the several results of one edit (``*_r0.30.png``,
``*_2.png``) with their contact sheet (``*_sheet.png``). Light at import: PIL and the pipeline load when a
function runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from refedit.pipeline.artifacts import Ambiguity, EditResult, Variant

CANDIDATES_SUFFIX = "_candidates.png"
SHEET_SUFFIX = "_sheet.png"


def candidates_path(output: Path | None, image: Path | None = None) -> Path | None:
    """Where an ambiguous run draws its candidates: beside ``output`` (:func:`companion`: ``out_candidates.png``,
    ``out_jpg_candidates.png`` for ``out.jpg``), else beside the input ``image`` (``cat_candidates.png``); None when
    neither is a file."""
    if output is not None and str(output) != "-":
        return companion(output, CANDIDATES_SUFFIX)
    if image is not None and str(image) != "-":
        return image.with_name(image.stem + CANDIDATES_SUFFIX)
    return None


def companion(path: Path, suffix: str) -> Path:
    """A PNG written beside ``path`` (its stem + ``suffix``), the stem marked with ``path``'s own extension when that
    is not .png: ``cat.jpg`` and ``cat.png`` (``--name '{stem}_edited.{ext}'`` on a folder holding both) get
    ``cat_jpg_candidates.png`` and ``cat_candidates.png``, not one file for two."""
    ext = path.suffix.lower().lstrip(".")
    return path.with_name(f"{path.stem}{'' if ext in ('png', '') else '_' + ext}{suffix}")


def check_candidates_path(path: Path | None, *inputs: Path | str | None) -> None:
    """Before any work: the drawing an ambiguous run would write must not be one of its inputs."""
    from refedit.pipeline.imageio import check_not_inputs

    check_not_inputs([path], *inputs, what="the candidates drawing of an ambiguous instruction,")


def write_candidates(ambiguity: "Ambiguity", image: "Image.Image", path: Path | None,
                     *inputs: Path | str | None) -> Path | None:  # fmt: skip
    """Draw the candidates, numbered as ``--pick`` counts them, at ``path`` (when there is one; never over one of
    the ``inputs``)."""
    if path is None:
        return None
    from refedit.core.figures import numbered_candidates
    from refedit.pipeline.imageio import check_not_inputs, save_image

    check_not_inputs([path], *inputs)  # save_image checks the rest of the path
    figure = numbered_candidates(image, [c.box for c in ambiguity.candidates], [c.mask for c in ambiguity.candidates])
    return save_image(figure, path)


def variant_path(output: Path, label: str) -> Path:
    """``out.png`` -> ``out_r0.30.png`` / ``out_2.png``."""
    return output.with_name(f"{output.stem}_{label}{output.suffix}")


def sheet_path(output: Path) -> Path:
    """The contact sheet beside ``output``: ``out_sheet.png`` (``out_jpg_sheet.png`` for ``out.jpg``)."""
    return companion(output, SHEET_SUFFIX)


def planned_outputs(output: Path, options: Mapping[str, Any]) -> list[Path]:
    """The files an edit with these stage options writes for ``output``: the output itself, or, for a sweep or
    several outputs, one file per result plus the contact sheet (``--auto-ratio`` writes the one it keeps)."""
    from refedit.pipeline.edit.options import planned_labels

    labels = planned_labels(options)
    if not labels:
        return [output]
    return [variant_path(output, label) for label in labels] + [sheet_path(output)]


def several(options: Mapping[str, Any]) -> bool:
    """Whether these stage options make one edit write several files."""
    from refedit.pipeline.edit.options import planned_labels

    return bool(planned_labels(options))


def writes_variants(result: "EditResult") -> bool:
    """Whether ``result`` is written as its variants and a sheet (a sweep or several outputs, not --auto-ratio)."""
    return bool(result.variants) and result.ratio_choice is None


def write_variants(result: "EditResult", output: Path, *, source: Any,
                   metadata: Mapping[str, str]) -> tuple[list[Path], Path]:  # fmt: skip
    """Save every variant of ``result`` beside ``output`` and a labelled contact sheet (input, mask, each result),
    all of them or none (:func:`~refedit.core.files.all_or_nothing`); return their paths. ``source`` is the loaded
    input (:class:`~refedit.pipeline.imageio.LoadedImage`)."""
    from refedit.core.figures import contact_sheet, mask_overlay
    from refedit.core.files import all_or_nothing
    from refedit.pipeline.imageio import check_not_inputs, save_image

    check_not_inputs([*(variant_path(output, v.label) for v in result.variants), sheet_path(output)],
                     getattr(source, "file", None), what="output")  # (the sheet has no source to check it by)
    paths = []
    with all_or_nothing():
        for v in result.variants:
            meta = {**metadata, "refedit_variant": json.dumps({"label": v.label, "encode_ratio": v.encode_ratio,
                                                               "variant": v.variant})}  # fmt: skip
            paths.append(save_image(v.image, variant_path(output, v.label), source=source, metadata=meta))
        tiles = [(source.rgb, "input"), (mask_overlay(source.rgb, result.segmentation.mask), "mask")]
        tiles += [(v.image, sheet_label(v)) for v in result.variants]
        sheet = save_image(contact_sheet(tiles), sheet_path(output))
    return paths, sheet


def edit_metadata(instruction: str, seed: int | None, result: "EditResult") -> dict[str, str]:
    """The text an edited PNG carries (key ``refedit``): the instruction, the seed, the editor's parameters, the
    plan, and where the mask came from (the segmenter and its reason, the mask's area and SHA-256 of its packed
    bits): two edits through different masks (``--mask a.png``, ``--mask b.png``) carried the same text."""
    import hashlib

    import numpy as np

    seg = result.segmentation
    mask = np.asarray(seg.mask, dtype=bool)
    digest = hashlib.sha256(np.packbits(mask).tobytes() + repr(mask.shape).encode()).hexdigest()
    record = {"instruction": instruction, "seed": seed, "parameters": dict(result.parameters),
              "plan": result.plan.to_dict(),
              "segmentation": {"segmenter": seg.segmenter, "reason": seg.reason, "area": int(mask.sum()),
                               "mask_sha256": digest}}  # fmt: skip
    return {"refedit": json.dumps(record, default=str)}


def write_result(result: "EditResult", output: Path, *, source: Any, metadata: Mapping[str, str],
                 mask_out: Path | None = None) -> tuple[list[Path], Path | None]:  # fmt: skip
    """Write ``result`` at ``output`` as one (:func:`~refedit.core.files.all_or_nothing`): the image, or every
    variant and the contact sheet (:func:`write_variants`), and the mask at ``mask_out``; return the image files
    and the sheet. ``source``: the loaded input, whose alpha channel and colour profile the images get back and
    which is never written over (None: neither)."""
    from refedit.core.files import all_or_nothing
    from refedit.errors import BadInput
    from refedit.pipeline.imageio import check_mask_output, save_image, save_mask

    if mask_out is not None:  # before anything is written: never over the input, nor over the image itself
        check_mask_output(mask_out, None if source is None else source.file)
        if Path(mask_out).resolve() == Path(output).resolve():
            raise BadInput(f"the mask and the edited image must be different files (both {output})")
    sheet = None
    with all_or_nothing():
        if writes_variants(result):
            written, sheet = write_variants(result, output, source=source, metadata=metadata)
        else:
            written = [save_image(result.image, output, source=source, metadata=dict(metadata))]
        if mask_out is not None:
            save_mask(result.segmentation.mask, mask_out)
    return written, sheet


def sheet_label(v: "Variant") -> str:
    """A result's caption on the contact sheet: "r=0.30", "#2" or "r=0.30 #2", with its CLIP score when scored."""
    ratio, number = v.label.startswith("r"), not v.label.startswith("r") or "_" in v.label
    text = " ".join(p for p in (f"r={v.encode_ratio:.2f}" if ratio else "", f"#{v.variant}" if number else "") if p)
    return text + (f" (CLIP dir {v.score:.3f})" if v.score is not None else "")
