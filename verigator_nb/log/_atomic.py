"""Write a whole file or nothing: every export the toolkit makes goes through here.

The content is written to a temporary file beside the target, flushed to disk, and renamed
over the target with ``os.replace``; the directory is then synced so the rename itself
survives a power loss. Readers see the old file or the new one, never half of one, and a
failed write leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable

__all__ = ["fsync_directory", "write_atomically"]


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    path: str | os.PathLike[str], write: Callable[[str], object], *, mode: int = 0o666
) -> None:
    """Call ``write(temp_path)`` to fill a temporary file, then move it onto ``path``.

    The file gets ``mode`` less the process umask, like any file ``open`` creates. Whatever
    ``write`` raises is raised again after the temporary file is removed.
    """
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    temp = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode))
    try:
        write(temp)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_directory(directory)
