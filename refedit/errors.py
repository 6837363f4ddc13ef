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
