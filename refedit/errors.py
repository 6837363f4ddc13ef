"""One exception hierarchy for refedit; each class carries the CLI exit code it maps to.

Exit codes (documented in README.md):
    0  success
    1  internal error (a bug: please report it with ``--debug`` output)
    2  bad input (missing/unreadable/corrupt file, bad option value, unsafe output path)
    3  unclear instruction (no identifiable target or action)
    4  target not found in the image
    5  model unavailable (not downloaded, no network, incompatible checkpoint)
    6  a batch finished with at least one failed item
    7  ambiguous: the instruction fits more than one object equally well (say which, e.g. with --point)
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar


class RefEditError(Exception):
    """Base class: a failure the user can act on. ``str(err)`` is one line."""

    exit_code: int = 1


class InternalError(RefEditError):
    """Something refedit did not expect (a bug)."""

    exit_code = 1


class PluginError(RefEditError):
    """A third-party stage (a plugin) failed: its bug, named, not refedit's."""

    exit_code = 1


class BadInput(RefEditError):
    """An input file, option value or output path is unusable."""

    exit_code = 2


class StdoutUnwritable(BadInput):
    """Standard output refused bytes (a full disk behind ``> file``, ``> /dev/full``, a closed descriptor): one
    line, exit code 2, like any output that cannot be written; a reader that left is ``BrokenPipeError`` (141)."""


class UnclearInstruction(RefEditError):
    """The instruction names no object (or no action) refedit can act on."""

    exit_code = 3


class OutOfScope(UnclearInstruction):
    """The instruction is clear but asks for what one edit of one object cannot do: two edits, an object picked or
    changed by what it is not, everything except something, motion, another viewpoint... (the rules parser's
    refusals that the LLM parser's plan is checked against: a plan doing half of it, or the opposite, is refused)."""


class TargetNotFound(RefEditError):
    """The referred object was not found in the image."""

    exit_code = 4


class Ambiguous(RefEditError):
    """The instruction fits several objects equally well ("her" with two women in the photo)."""

    exit_code = 7


class ModelUnavailable(RefEditError):
    """A checkpoint cannot be loaded (not cached, no network, wrong kind)."""

    exit_code = 5


class BatchFailed(RefEditError):
    """A batch completed but some items failed."""

    exit_code = 6


class RefEditWarning(RuntimeWarning):
    """Something the user should know that does not stop the run (e.g. the LLM parser fell back to rules);
    the CLI prints it as one line, ``refedit: warning: ...``."""


#: exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED_EXIT_CODE = 130

EXIT_CODES: dict[int, str] = {
    0: "success",
    InternalError.exit_code: "internal error",
    BadInput.exit_code: "bad input",
    UnclearInstruction.exit_code: "unclear instruction",
    TargetNotFound.exit_code: "target not found",
    ModelUnavailable.exit_code: "model unavailable",
    BatchFailed.exit_code: "batch had failures",
    Ambiguous.exit_code: "ambiguous",
    INTERRUPTED_EXIT_CODE: "interrupted",
}


_F = TypeVar("_F", bound=Callable[..., Any])
#: command-line hints as the library's ``hints=`` takes them
_HINT_WORDS = {"point": "points", "box": "boxes", "hint-mask": "hint_mask", "mask": "mask"}
#: a flag's value said in a message: a placeholder, a number or a choice ("--pick N", "--on-ambiguous best")
_FLAG = re.compile(r"--(?P<flag>[a-z][a-z0-9-]*)(?P<value> (?:[A-Z][A-Z0-9,.]*|\d[\d.]*|best|all|fail|model|sequential|"
                   r"none|auto|bf16|fp16|fp32)\b)?")


def library_wording(message: str) -> str:
    """``message`` with the command line's flags said as :func:`refedit.edit`'s arguments: "--pick N" ->
    "pick=N", "--point X,Y" -> "hints=Hints(points=[X,Y])", "--sam-model" -> "models={'sam': ...}"."""

    def said(m: re.Match[str]) -> str:
        flag, value = m["flag"], (m["value"] or "").strip()
        if flag in _HINT_WORDS:
            return f"hints=Hints({_HINT_WORDS[flag]}={f'[{value}]' if value else '...'})"
        if flag.endswith("-model") and flag != "editor-model":
            return f"models={{'{flag.removesuffix('-model')}': ...}}"
        name = flag.replace("-", "_")
        return f"{name}={value!r}" if value and not value[0].isdigit() and value.islower() else f"{name}={value or '...'}"

    return _FLAG.sub(said, message)


def in_library_terms(func: _F) -> _F:
    """Re-raise ``func``'s :class:`RefEditError` with its message in :func:`library_wording` (same class, same
    ``exit_code`` and attributes): a Python caller is told ``pick=2``, not ``--pick 2``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RefEditError as err:
            if err.args and isinstance(err.args[0], str):
                err.args = (library_wording(err.args[0]), *err.args[1:])
            raise

    return wrapper  # type: ignore[return-value]
