"""Standard streams and files for the commands: ``-`` for stdin/stdout, images in, PNG bytes out, plans in."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from refedit.errors import BadInput, StdoutUnwritable


def is_std(path: Path | str | None) -> bool:
    return path is not None and str(path) == "-"


def stdin(what: str) -> Any:
    """``sys.stdin`` for reading ``what`` ("the image"), :class:`BadInput` when the process started with it closed
    (``<&-``: it is None, and reading it was an internal error)."""
    if sys.stdin is None:
        raise BadInput(f"- reads {what} from stdin, which is closed; pipe it in or give a file")
    return sys.stdin


def read_image(image: Path, output: Path | None = None, segmenting: bool = False) -> Any:
    """Load IMAGE, or the bytes piped on stdin when IMAGE is ``-``; what the edit (the segmentation with
    ``segmenting``) leaves out of it (an animation's later frames, 16-bit precision, its transparency in an ``output``
    format without) is said on stderr."""
    from refedit.pipeline.imageio import image_format_for, load_image, load_image_bytes

    if is_std(image) and stdin("the image").isatty():
        raise BadInput("- reads the image from stdin, which is a terminal; pipe one in (refedit edit - ... < photo.jpg)")
    loaded = load_image_bytes(sys.stdin.buffer.read()) if is_std(image) else load_image(image)
    fmt = None if output is None else "PNG" if is_std(output) else image_format_for(output)
    for note in loaded.notes("the image on stdin" if is_std(image) else image, fmt, segmenting):
        print(f"refedit: note: {note}", file=sys.stderr)
    return loaded


def read_instruction(instruction: str | None) -> str | None:
    """The INSTRUCTION argument, or the text piped on stdin when it is ``-`` (UTF-8, surrounding blanks dropped)."""
    if not is_std(instruction):
        return instruction
    data = stdin("the instruction").buffer.read()
    try:
        return data.decode("utf-8-sig").strip()
    except UnicodeDecodeError as err:
        raise BadInput(f"the instruction on stdin is not UTF-8 text (byte 0x{data[err.start]:02x} at position "
                       f"{err.start}); write it in UTF-8") from None  # fmt: skip


def read_manifest_stdin() -> str:
    """A batch manifest piped on stdin (UTF-8 text; a terminal is refused rather than waited on)."""
    if stdin("the manifest").isatty():
        raise BadInput("- reads the manifest from stdin, which is a terminal; pipe one in (refedit batch - -o out < items.jsonl)")
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadInput(f"the manifest on stdin is not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
                       "write it in UTF-8") from None  # fmt: skip


def check_std_streams(image: Path, plan_source: str | None, output: Path | None, as_json: bool,
                      instruction: str | None = None) -> None:  # fmt: skip
    """stdin feeds one thing and stdout carries one thing; binary never goes to a terminal."""
    if is_std(image) and is_std(plan_source):
        raise BadInput("stdin cannot carry both the image and the plan; give one of them as a file")
    if is_std(instruction) and (is_std(image) or is_std(plan_source)):
        other = "image" if is_std(image) else "plan"
        raise BadInput(f"stdin cannot carry both the {other} and the instruction; give the {other} as a file or the "
                       "instruction as text")  # fmt: skip
    if is_std(output) and as_json:
        given = "-o -" if not is_std(image) else "-o -, the default for an image read from stdin"
        raise BadInput(f"stdout cannot carry both the image ({given}) and --json; write the image to a file (-o FILE)")
    if is_std(output) and sys.stdout is None:  # started with stdout closed (`>&-`)
        raise BadInput("-o - writes to stdout, which is closed; use -o FILE")
    if is_std(output) and sys.stdout.isatty():
        raise BadInput("refusing to write image bytes to a terminal; use -o FILE or pipe the output")


def write_png_stdout(img: Any, *, source: Any = None, metadata: dict[str, str] | None = None) -> None:
    """``img`` as a PNG on stdout, as ``save_image`` writes a file: the ``source``'s alpha channel and colour profile,
    the ``metadata`` text (``-o -`` dropped both)."""
    from refedit.pipeline.imageio import encode_image

    data = encode_image(img, "PNG", source=source, metadata=metadata)
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        raise
    except OSError as err:  # a full disk behind the redirection (`> /dev/full`), a closed descriptor
        raise StdoutUnwritable(f"cannot write the image to stdout: {err.strerror or err}") from None


def read_plan(source: str) -> Any:
    """An :class:`EditPlan` from a JSON file or ``-`` (stdin): a plan, or a record with a "plan" key (the
    output of ``refedit parse --json`` or ``refedit segment --json``)."""
    from refedit.pipeline.artifacts import EditPlan

    not_a_plan = f"--plan {source} is not a refedit plan (JSON from `refedit parse --json`)"
    try:
        text = stdin("the plan").read() if source == "-" else Path(source).read_text()
        if not text.strip():
            raise BadInput(f"--plan {source} is empty" + (" (did the command before it in the pipe fail?)" if
                                                          source == "-" else ""))  # fmt: skip
        data = json.loads(text)
        if isinstance(data, dict) and data.get("exit_code") not in (None, 0):  # a failed run's record: no plan to use
            why = data.get("error") or ("the target is ambiguous" if data.get("ambiguous") else data.get("status"))
            raise BadInput(f"--plan {source} is the record of a run that failed (exit {data['exit_code']}: "
                           f"{str(why or 'failed').splitlines()[0][:200]}); nothing to edit")  # fmt: skip
        if isinstance(data, dict) and data.get("segmentation") is not None:
            click.echo(f"refedit: note: --plan {source} holds a segmentation too: its plan is used and the object is "
                       "found again (to edit that very mask, save it with -o and give it as --mask)", err=True)  # fmt: skip
        plan = data["plan"] if isinstance(data, dict) and "plan" in data else data
        if (missing := missing_plan_keys(plan)) is not None:
            raise BadInput(f"{not_a_plan}: {missing}")
        return EditPlan.from_dict(plan)
    except OSError as err:
        raise BadInput(f"cannot read --plan {source}: {err}") from None
    except KeyError as err:  # the only keys read without a check: a relation's
        raise BadInput(f"{not_a_plan}: a relation in it has no {err.args[0]!r} key") from None
    except (ValueError, TypeError) as err:
        raise BadInput(f"{not_a_plan}: {err}") from None


def missing_plan_keys(plan: Any) -> str | None:
    """What keeps ``plan`` (parsed JSON) from being a plan, in words ("it has no 'target' key"): not an object, or
    a key that the plan or its target must have missing; None when nothing is missing."""
    from refedit.pipeline.artifacts import EditPlan, Target

    if not isinstance(plan, dict):
        return "it is not a JSON object"
    if lacking := _required(EditPlan) - set(plan):
        return f"it has no {_keys(lacking)}"
    if not isinstance(plan["target"], dict):
        return "its 'target' is not a JSON object"
    if lacking := _required(Target) - set(plan["target"]):
        return f"its 'target' has no {_keys(lacking)}"
    return None


def _required(cls: Any) -> set[str]:
    """The fields of the dataclass ``cls`` that have no default."""
    from dataclasses import MISSING, fields

    return {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}


def _keys(names: set[str]) -> str:
    """``{'a'}`` -> "'a' key"; ``{'a', 'b'}`` -> "'a' and 'b' keys"."""
    quoted = [repr(n) for n in sorted(names)]
    return f"{quoted[0]} key" if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]} keys"


def instruction_for(instruction: str | None, given: Any) -> str:
    """The instruction of the run: the INSTRUCTION argument, or the ``--plan``'s; both, and different, is
    :class:`BadInput` (which one was meant? the plan's edit would run under the other's name)."""
    if given is None:
        return instruction or ""
    if instruction is not None and instruction.strip() != given.instruction.strip():
        raise BadInput(f"give an INSTRUCTION or --plan, not both: {instruction.strip()!r} is not the plan's "
                       f"{given.instruction.strip()!r}")  # fmt: skip
    return given.instruction


def default_output(image: Path) -> Path:
    return image.with_name(f"{image.stem}_edited.png")
