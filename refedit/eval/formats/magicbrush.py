"""MagicBrush (Zhang et al. 2023) dev/test release: multi-turn edit sessions with masks and ground-truth outputs.

Layout (the release's ``test/`` or ``dev/`` folder)::

    edit_sessions.json        {"327726": [{"input": "327726-input.png", "mask": "327726-mask1.png",
                                           "output": "327726-output1.png", "instruction": "..."}, ...], ...}
    images/327726/327726-input.png, 327726-mask1.png, 327726-output1.png, ...
    global_descriptions.json  {"327726": {"327726-input.png": "...", "327726-output1.png": "..."}}   (optional)
    local_descriptions.json   {"327726": {"327726-output1.png": "..."}}                              (optional)

Each turn is one sample (its input is the previous turn's ground truth, as the release lists it); the target is the
turn's ground-truth output, CLIP-T's caption its local description. The masks are DALL-E 2-style edit masks: the
transparent pixels mark the region (an opaque mask's white pixels do). A tool's outputs are found as
``OUTPUTS/<session>/<output file name>``, or under the names MagicBrush's own evaluation script
(``evaluation/image_eval.py``) reads for the single-turn ("independent") setting: ``<session>/<session>_1.png`` for
the first turn, ``<session>/<session>_inde_<turn>.png`` for the later ones (their input is the previous turn's
ground truth, as here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from refedit.errors import BadInput
from refedit.eval.samples import MaskRef, Sample, inside

SESSIONS = "edit_sessions.json"


def official_result_name(session: str, turn: int, ext: str = ".png") -> str:
    """MagicBrush's evaluation script's name for a tool's output of ``turn`` (single-turn setting)."""
    return f"{session}/{session}_1{ext}" if turn == 1 else f"{session}/{session}_inde_{turn}{ext}"


def _json(path: Path, required: bool = True) -> Any:
    from refedit.batch import read_text

    if not path.is_file() and not required:
        return {}
    try:
        return json.loads(read_text(path, "MagicBrush file"))
    except json.JSONDecodeError as err:
        raise BadInput(f"{path} is not valid JSON: {err}") from None


def read_magicbrush(root: Path, *, allow_outside: bool = False) -> list[Sample]:
    """The samples (one per turn) of a MagicBrush split folder."""
    sessions = _json(root / SESSIONS)
    global_desc = _json(root / "global_descriptions.json", required=False)
    local_desc = _json(root / "local_descriptions.json", required=False)
    if not isinstance(sessions, dict):
        raise BadInput(f"{root / SESSIONS} must map session ids to lists of turns")
    samples = []
    for sid, turns in sessions.items():
        if not isinstance(turns, list):
            raise BadInput(f"{SESSIONS}: session {sid} must be a list of turns")
        for k, turn in enumerate(turns, 1):
            where = f"{SESSIONS}: session {sid} turn {k}"
            if not isinstance(turn, dict) or any(not isinstance(turn.get(f), str) for f in ("input", "mask", "output", "instruction")):
                raise BadInput(f"{where}: needs input, mask, output and instruction strings")

            def at(name: str, what: str) -> Path:
                return inside(root, str(Path("images") / str(sid) / name), f"{where}: {what}", allow_outside=allow_outside)

            out = turn["output"]
            samples.append(Sample(
                id=f"{sid}-{k}", image=at(turn["input"], "input"), text=turn["instruction"], name=f"{sid}/{out}",
                mask=MaskRef("png", at(turn["mask"], "mask"), invert_alpha=True), target=at(out, "output"),
                target_caption=_desc(local_desc, sid, out) or _desc(global_desc, sid, out),
                source_caption=_desc(global_desc, sid, turn["input"]), edited_caption=_desc(global_desc, sid, out),
                category=f"turn {k}",
                aliases=tuple(official_result_name(str(sid), k, ext) for ext in (".png", ".jpg")),
            ))  # fmt: skip
    return samples


def _desc(table: Any, sid: str, name: str) -> str | None:
    entry = table.get(str(sid)) if isinstance(table, dict) else None
    value = entry.get(name) if isinstance(entry, dict) else None
    return value if isinstance(value, str) and value.strip() else None
