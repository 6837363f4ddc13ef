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


#: the file that marks a folder a run is writing in (a batch's outputs, an eval's RUN folder)
LOCK_NAME = ".refedit.lock"


class FolderLock:
    """One run at a time in a folder: :data:`LOCK_NAME` holds the process id of the run writing there. Two runs into
    one folder mixed their records in one log (an eval's figures then came from both). A lock whose process is gone
    (a run killed with SIGKILL) is taken over."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME

    def acquire(self) -> "FolderLock":
        """Take the lock; :class:`BadInput` naming the other run while it is alive."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = _pid_in(self.path)
                if pid is not None and pid != os.getpid() and _alive(pid):
                    raise BadInput(f"another refedit run (process {pid}) is writing in {self.path.parent}; wait for it "
                                   "to finish, or give another output folder") from None  # fmt: skip
                self.path.unlink(missing_ok=True)  # its run is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            return self
        raise BadInput(f"cannot lock {self.path.parent} for this run (another run keeps taking it)")

    def release(self) -> None:
        """Remove the lock when it is this process's."""
        if _pid_in(self.path) == os.getpid():
            self.path.unlink(missing_ok=True)


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "x")
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
