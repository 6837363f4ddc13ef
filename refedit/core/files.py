"""Writing files so that a reader never sees half of one and a crash never destroys the old one; the files of
one command written all or none (:func:`all_or_nothing`)."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from refedit.errors import BadInput

#: the (temporary, final) paths written inside :func:`all_or_nothing`, renamed when it ends; None outside it
_PENDING: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar("pending", default=None)


@contextlib.contextmanager
def all_or_nothing() -> Iterator[None]:
    """Write the files of the block as one: each :func:`atomic_write` inside it only writes its temporary file,
    and the renames happen together when the block ends; when a write (or anything else in the block) fails, every
    temporary file is removed and every path is left as it was. (A rename, beside its own temporary file, fails
    only when the folder goes away: the files renamed before it stay.) A block inside another joins it."""
    if _PENDING.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    token = _PENDING.set(pending)
    try:
        yield
    except BaseException:
        _remove(tmp for tmp, _ in pending)
        raise
    finally:
        _PENDING.reset(token)
    for n, (tmp, path) in enumerate(pending):
        try:
            os.replace(tmp, path)
        except OSError as err:
            _remove(t for t, _ in pending[n:])
            raise _cannot_write(path, err) from err


def _remove(paths: Iterable[Path]) -> None:
    for tmp in paths:
        Path(tmp).unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], *, text: bool = False) -> Path:
    """Call ``write`` on a temporary file beside ``path`` (``.NAME.*.part``, ordinary permissions), flush it to
    disk and rename it over ``path``; on any failure the temporary file is removed and ``path`` is untouched.
    Inside :func:`all_or_nothing` the rename waits for the end of the block."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as err:
        raise _cannot_write(path, err) from err
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        pending = _PENDING.get()
        if pending is None:
            os.replace(tmp, path)
        else:
            pending.append((Path(tmp), path))
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _cannot_write(path, err) from err
        raise
    return path


def _cannot_write(path: Path, err: OSError) -> Exception:
    """A full disk, a quota, a read-only mount: the user's to fix, :class:`BadInput` naming the file; else ``err``."""
    return BadInput(f"cannot write {path}: {os.strerror(err.errno)}") if err.errno in _CANNOT_WRITE else err


#: errors of writing that say where the output cannot go, not that refedit is wrong
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


def atomic_write_text(path: str | os.PathLike[str], content: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text."""
    return atomic_write(path, lambda fh: fh.write(content), text=True)


def cut_torn_line(path: Path) -> bytes:
    """Truncate an append-only log after its last newline when a killed write left a line without one (the next
    record would be glued onto it), and return what the file then holds (empty when it does not exist)."""
    if not path.is_file():
        return b""
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        with path.open("r+b") as fh:
            fh.truncate(len(raw))
    return raw
