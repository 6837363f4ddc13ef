"""``python -m refedit`` and the ``refedit`` console script.

The command line lives in :mod:`refedit.cli`; importing it is the part of start-up a Ctrl-C is most likely to
hit, so it is imported here, where an interrupt is the same one line as later: ``refedit: error:
interrupted``, exit code 130.
"""

from __future__ import annotations

import io
import os
import sys


class _Descriptor(io.RawIOBase):
    """A raw writer over a file descriptor; subclasses say what a failed write does."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def _write_all(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(self._fd, view) :]
        return memoryview(data).nbytes


class WholeWrites(_Descriptor):
    """A descriptor whose every write is whole or raises: a pipe whose reader leaves during a large write (``refedit
    edit ... -o - | head -c 10``) took part of the bytes, and Python's buffered layers dropped the rest without an
    error, so the command exited 0 with its output cut. Here the next write raises ``BrokenPipeError`` (exit 141)."""

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self._write_all(data)
        except BrokenPipeError:
            raise
        except OSError as err:  # "> /dev/full": one line and exit 2, not a traceback at exit (code 120)
            from refedit.errors import StdoutUnwritable

            raise StdoutUnwritable(f"cannot write to stdout: {err.strerror or err}") from None


class BestEffort(_Descriptor):
    """stderr, where progress and notes go: a write that fails (``2> /dev/full``, a reader gone: ``2> >(head -1)``) is
    dropped, not the work; an edit stopped at its first progress line with exit 1, a batch at its next one."""

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            self._write_all(data)
        except OSError:
            pass
        return memoryview(data).nbytes


def _over(stream: object, raw: type[_Descriptor], line_buffering: bool | None = None) -> object:
    """``stream`` (a text stream) again over ``raw`` on its descriptor, its encoding and error handler kept; the
    stream itself when it has no descriptor (closed, or replaced)."""
    if stream is None or not hasattr(stream, "fileno"):
        return stream
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # closed, or no descriptor
        return stream
    stream.flush()  # type: ignore[attr-defined]
    return io.TextIOWrapper(io.BufferedWriter(raw(fd)), encoding=stream.encoding, errors=stream.errors,  # type: ignore[attr-defined]
                            line_buffering=stream.line_buffering if line_buffering is None else line_buffering)  # type: ignore[attr-defined]


def whole_stdout() -> None:
    """``sys.stdout`` over :class:`WholeWrites`, with its encoding, error handler and line buffering kept."""
    sys.stdout = _over(sys.stdout, WholeWrites)  # type: ignore[assignment]


def best_effort_stderr() -> None:
    """``sys.stderr`` over :class:`BestEffort`, line-buffered as Python's own stderr is."""
    sys.stderr = _over(sys.stderr, BestEffort, line_buffering=True)  # type: ignore[assignment]


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
