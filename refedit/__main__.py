"""``python -m refedit`` and the ``refedit`` console script.

The command line lives in :mod:`refedit.cli`; importing it is the part of start-up a Ctrl-C is most likely to
hit, so it is imported here, where an interrupt is the same one line as later: ``refedit: error:
interrupted``, exit code 130.
"""

from __future__ import annotations

import io
import os
import sys


class WholeWrites(io.RawIOBase):
    """A descriptor whose every write is whole or raises: a pipe whose reader leaves during a large write (``refedit
    edit ... -o - | head -c 10``) took part of the bytes, and Python's buffered layers dropped the rest without an
    error, so the command exited 0 with its output cut. Here the next write raises ``BrokenPipeError`` (exit 141)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except BrokenPipeError:
                raise
            except OSError as err:  # "> /dev/full": one line and exit 2, not a traceback at exit (code 120)
                from refedit.errors import StdoutUnwritable

                raise StdoutUnwritable(f"cannot write to stdout: {err.strerror or err}") from None
        return memoryview(data).nbytes


def whole_stdout() -> None:
    """``sys.stdout`` over :class:`WholeWrites`, with its encoding, error handler and line buffering kept."""
    out = sys.stdout
    if out is None or not hasattr(out, "fileno"):
        return
    try:
        fd = out.fileno()
    except (OSError, ValueError):  # closed, or no descriptor
        return
    out.flush()
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(WholeWrites(fd)), encoding=out.encoding, errors=out.errors,
                                  line_buffering=out.line_buffering)  # fmt: skip


class BestEffort(io.RawIOBase):
    """stderr, where progress and notes go: a write that fails (``2> /dev/full``, a reader gone: ``2> >(head -1)``) is
    dropped, not the work; an edit stopped at its first progress line with exit 1, a batch at its next one."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            view = memoryview(data).cast("B")
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            pass
        return memoryview(data).nbytes


def best_effort_stderr() -> None:
    """``sys.stderr`` over :class:`BestEffort`, with its encoding, error handler and line buffering kept."""
    err = sys.stderr
    if err is None or not hasattr(err, "fileno"):
        return
    try:
        fd = err.fileno()
    except (OSError, ValueError):
        return
    err.flush()
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(BestEffort(fd)), encoding=err.encoding, errors=err.errors,
                                  line_buffering=True)  # fmt: skip


def run() -> None:
    """Import the command line and run it; Ctrl-C at any point after this module loads is one line."""
    whole_stdout()
    best_effort_stderr()
    try:
        from refedit.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("refedit: error: interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":  # pragma: no cover
    run()
