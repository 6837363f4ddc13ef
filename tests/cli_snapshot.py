"""A fingerprint of the command line's behaviour on the tiny models, to show that a refactoring changed nothing.

Runs a fixed list of ``refedit`` command lines (the shell pipeline, batches, every command, refusals) as real
subprocesses in a scratch folder and records, per command line, the exit code, stdout, stderr and the SHA-256
of every file it wrote. Timings (``1.2s``, ``"seconds": ...``, ``"timings": {...}``) and the scratch paths are
normalised away; everything else must match bit for bit.

    python tests/cli_snapshot.py MODELS_DIR OUT.json     # MODELS_DIR: built once with build_all, then reused
    diff <(python -m json.tool before.json) <(python -m json.tool after.json)

Run it from two checkouts (``git worktree add``) against the same MODELS_DIR.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
OPTS = "--steps 4 --resolution 64 --box-threshold 0"

COMMANDS = [
    "refedit --help",
    "refedit edit --help",
    "refedit batch --help",
    "refedit stages",
    "refedit parse 'replace the left cat with a tiger' --json",
    "refedit parse 'make the second cup from the right blue'",
    f"refedit segment {{ex}}/coffee.jpg 'the cup on the right' --json -o mask.png {OPTS}",
    f"refedit segment {{ex}}/coffee.jpg 'the cup' --box 10,10,200,200 {OPTS}",
    f"refedit edit {{ex}}/cat.jpg 'replace the cat with a tiger' -o direct.png --seed 5 {OPTS} --json",
    f"refedit parse 'replace the cat on the left with a tiger' --json"
    f" | refedit segment {{ex}}/cat.jpg --plan - --json -o pmask.png {OPTS}"
    f" | refedit edit {{ex}}/cat.jpg --plan - --mask pmask.png -o piped.png --seed 5 {OPTS}",
    f"cat {{ex}}/cat.jpg | refedit edit - 'replace the cat with a tiger' {OPTS} --seed 2 > stdout.png",
    f"refedit edit {{ex}}/coffee.jpg 'remove the cup' --editor sdedit -o sdedit.png {OPTS}",
    f"refedit edit {{ex}}/coffee.jpg 'remove the cup' --editor inpaint -o inpaint.png {OPTS}",
    f"refedit edit {{ex}}/coffee.jpg 'make the cup red' --editor instruct -o instruct.png {OPTS}",
    f"refedit segment {{ex}}/coffee.jpg 'the cup' --segmenter refdiff --json -o rd.png --resolution 64 "
    f"-O sam_grid=3 -O refdiff_steps=2",
    f"refedit batch {{ex}} -i 'replace the cat with a tiger' -o out {OPTS}",
    f"refedit batch {{ex}} -i 'remove the cup' -o dry --dry-run {OPTS}",
    # refusals
    f"refedit edit {{ex}}/cat.jpg 'replace the cat with a tiger' -O stepz=2 {OPTS}",
    f"refedit edit {{ex}}/cat.jpg 'replace the cat with a tiger' --seed 99999999999999999999999 {OPTS}",
    f"refedit edit {{ex}}/cat.jpg 'make it nicer' -o x.png {OPTS}",
    f"refedit edit nothing.png 'remove the cat' {OPTS}",
    f"refedit edit {{ex}}/cat.jpg 'remove the cat' -o /proc/x.png {OPTS}",
    "refedit parse ''",
    "refedit frobnicate",
]

_TIME = re.compile(r"\b\d+(\.\d+)?s\b")


def _clean_json(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _clean_json(v) for k, v in obj.items() if k not in ("timings", "seconds")}
    if isinstance(obj, list):
        return [_clean_json(v) for v in obj]
    return obj


def _normalise(text: str, work: Path) -> str:
    lines = []
    for line in text.replace(str(work), "<work>").replace(str(EXAMPLES), "<ex>").splitlines():
        try:
            line = json.dumps(_clean_json(json.loads(line)), sort_keys=True)
        except ValueError:
            line = _TIME.sub("<t>", line)
        lines.append(line)
    return "\n".join(lines)


def _files(work: Path) -> dict[str, str]:
    out = {}
    for p in sorted(work.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.suffix == ".jsonl":  # batch logs: timings removed
                data = _normalise(data.decode(), work).encode()
            out[str(p.relative_to(work))] = hashlib.sha256(data).hexdigest()[:16]
    return out


def snapshot(models: Path) -> dict[str, dict[str, object]]:
    env = {**os.environ, "REFEDIT_CONFIG": os.devnull, "HF_HUB_OFFLINE": "1", "REFEDIT_SD_MODEL": str(models / "sd"),
           "REFEDIT_INPAINT_MODEL": str(models / "sd-inpaint"), "REFEDIT_INSTRUCT_MODEL": str(models / "sd-instruct"),
           "REFEDIT_GROUNDING_MODEL": str(models / "grounding-dino"), "REFEDIT_SAM_MODEL": str(models / "sam"),
           "REFEDIT_CLIP_MODEL": str(models / "clip"), "REFEDIT_CAPTIONER_MODEL": str(models / "captioner"),
           "COLUMNS": "100"}  # fmt: skip
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)  # this checkout, not the editable install's
    results = {}
    for command in COMMANDS:
        work = Path(tempfile.mkdtemp())
        line = command.format(ex=EXAMPLES)
        r = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=work, env=env, capture_output=True, text=True)
        results[command] = {"exit": r.returncode, "stdout": _normalise(r.stdout, work),
                            "stderr": _normalise(r.stderr, work), "files": _files(work)}  # fmt: skip
        shutil.rmtree(work, ignore_errors=True)
    return results


def main() -> int:
    models, out = Path(sys.argv[1]), Path(sys.argv[2])
    if not (models / "sd").is_dir():
        from refedit.testing.tiny_models import build_all

        build_all(models)
    out.write_text(json.dumps(snapshot(models), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
