"""Standard streams and files for the commands: ``-`` for stdin/stdout, images in, PNG bytes out, plans in."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

from refedit.errors import BadInput


def is_std(path: Path | str | None) -> bool:
    return path is not None and str(path) == "-"


def read_image(image: Path) -> Any:
    """Load IMAGE, or the bytes piped on stdin when IMAGE is ``-``."""
    from refedit.pipeline.imageio import load_image, load_image_bytes

    return load_image_bytes(sys.stdin.buffer.read()) if is_std(image) else load_image(image)


def check_std_streams(image: Path, plan_source: str | None, output: Path | None, as_json: bool) -> None:
    """stdin feeds one thing and stdout carries one thing; binary never goes to a terminal."""
    if is_std(image) and is_std(plan_source):
        raise BadInput("stdin cannot carry both the image and the plan; give one of them as a file")
    if is_std(output) and as_json:
        raise BadInput("stdout cannot carry both the image (-o -) and --json; write the image to a file")
    if is_std(output) and sys.stdout.isatty():
        raise BadInput("refusing to write image bytes to a terminal; use -o FILE or pipe the output")


def write_png_stdout(img: Any) -> None:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    sys.stdout.buffer.write(buf.getvalue())
    sys.stdout.buffer.flush()


def read_plan(source: str) -> Any:
    """An :class:`EditPlan` from a JSON file or ``-`` (stdin): a plan, or a record with a "plan" key (the
    output of ``refedit parse --json`` or ``refedit segment --json``)."""
    from refedit.pipeline.artifacts import EditPlan

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        data = json.loads(text)
        return EditPlan.from_dict(data["plan"] if isinstance(data, dict) and "plan" in data else data)
    except OSError as err:
        raise BadInput(f"cannot read --plan {source}: {err}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise BadInput(f"--plan {source} is not a refedit plan (JSON from `refedit parse --json`): {err}") from None


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
