"""How the commands report what :mod:`refedit.outputs` writes: an ambiguous instruction's candidates listed on
stderr with exit code 7, and the refusal of several results on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NoReturn

import click

from refedit.errors import BadInput
from refedit.outputs import several, write_candidates

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from refedit.pipeline.artifacts import AmbiguousTarget


def ambiguity_lines(err: "AmbiguousTarget", overlay: Path | None, unwritten: str | None = None) -> list[str]:
    """The stderr report: the error line, one line per candidate (number, box, score, why), where they are drawn
    (or why they could not be: ``unwritten``)."""
    amb = err.ambiguity
    lines = [f"refedit: error: {str(err).splitlines()[0]}"]
    for n, (c, why) in enumerate(zip(amb.candidates, amb.whys, strict=True), 1):
        box = ", ".join(f"{v:.0f}" for v in c.box)
        lines.append(f"  {n}: box [{box}] score {c.score:.2f} - {why}")
    if unwritten is not None:
        lines.append(f"  no drawing of them ({unwritten}; give -o FILE elsewhere); rerun with --pick N to choose one")
    elif overlay is not None:
        lines.append(f"  candidates drawn in {overlay}; rerun with --pick N to choose one")
    else:  # the image came from stdin and the result would go to stdout: no file to draw beside
        lines.append("  no drawing of them (no file to put it beside: give -o FILE); rerun with --pick N to choose one")
    return lines


def candidates_drawing(image: Path, output: Path | None, *read: Path | str | None) -> tuple[Path | None, tuple[Any, ...]]:
    """Where an ambiguous run would draw its candidates (beside ``output``, else beside ``image``; None for the
    standard streams), and the files the run reads (``image`` and ``read``, "-" dropped); refused before any work
    when the drawing would be one of them."""
    from refedit.cli.streams import is_std
    from refedit.outputs import candidates_path, check_candidates_path

    inputs = tuple(None if r is None or str(r) == "-" else r for r in (image, *read))
    where = candidates_path(None if output is None or is_std(output) else output, inputs[0])
    check_candidates_path(where, *inputs)
    return where, inputs


def exit_ambiguous(err: "AmbiguousTarget", image: "Image.Image", overlay: Path | None, as_json: bool,
                   plan: Any = None, inputs: tuple[Path | str | None, ...] = ()) -> NoReturn:  # fmt: skip
    """Write the candidates overlay (never over one of the ``inputs``), list the candidates on stderr (and the
    record on stdout with ``--json``), and exit 7. Nothing else is written."""
    try:
        written = write_candidates(err.ambiguity, image, overlay, *inputs)
        unwritten = None
    except BadInput as cannot:  # a read-only photo folder: the candidates are still reported, exit 7
        written, unwritten = None, str(cannot)
    for line in ambiguity_lines(err, written, unwritten):
        click.echo(line, err=True)
    if as_json:
        plan = plan or err.plan  # the parsed plan when the pipeline parsed it
        record = {"ambiguous": True, "ambiguity": err.ambiguity.to_dict(),
                  "candidates_overlay": None if written is None else str(written),
                  "plan": None if plan is None else plan.to_dict(), "exit_code": err.exit_code}  # fmt: skip
        click.echo(json.dumps(record))
    sys.exit(err.exit_code)


def refuse_stdout_for_several(output: Path, options: Mapping[str, Any]) -> None:
    """Several results need files: ``-o -`` with a sweep or ``--num-outputs`` is :class:`BadInput`."""
    if str(output) == "-" and several(options):
        raise BadInput("a sweep or --num-outputs writes several images; give -o FILE (they go beside it)")
