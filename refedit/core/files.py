"""Writing files so that a reader never sees half of one and a crash never destroys the old one."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from refedit.errors import BadInput


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], None], *, text: bool = False) -> Path:
    """Call ``write`` on a temporary file beside ``path`` (``.NAME.*.part``, ordinary permissions), flush it to
    disk and rename it over ``path``; on any failure the temporary file is removed and ``path`` is untouched."""
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
        os.replace(tmp, path)
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
