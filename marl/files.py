"""The one atomic writer of every file a run leaves (results, arrays, checkpoints).

A file is written to a temporary file in the same directory, flushed, fsynced and
renamed over the final name (`os.replace` is atomic on POSIX), so a reader sees the
old file or the new one, never half of one. Its mode is what `open` would give a
new file under the process's umask (0644 under the usual 022), as hydra's own
files in the same run directory get: `tempfile.mkstemp` creates 0600, which hides
results from the rest of a group on a shared cluster.

This (with the run directory's lock, `locked`) and `marl.deep.checkpoint`'s load
and save are the only filesystem code in `marl/`.

In a job of several processes (multi-controller JAX, docs/scaling.md) every process
computes the same results and only one writes them: `set_writer(False)` in the
others turns every write here (and the checkpoint pruning) into nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import tempfile
from collections.abc import Iterator

LOCK_FILE = ".lock"
"""Held (flock) by the run writing a directory; it holds the writer's pid."""


class OutputDirError(Exception):
    """A directory a run must write into cannot be made or written."""


class DirectoryLockedError(OutputDirError):
    """Another living process is writing into the directory."""


@contextlib.contextmanager
def locked(directory: pathlib.Path) -> Iterator[None]:
    """Holds `directory/.lock` (made with the directory) for the block, so that a
    second run into the same directory is refused in one line
    (`DirectoryLockedError`, naming the writer's pid) instead of replacing the
    first run's files under it. The lock is the kernel's (flock): it ends with
    the process that held it, however that ends, so a killed run leaves no stale
    lock. Nothing in a process that does not write (`set_writer`)."""
    if not writes_here():
        yield
        return
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, new_file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DirectoryLockedError(
                f"{directory} is being written by another run (process {holder}); "
                "wait for it to end or choose another directory"
            ) from None
        try:  # the file may have been released and removed under us: again
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def check_writable(directory: pathlib.Path) -> None:
    """Refuses, before any work, a directory that cannot be written: one that
    exists must take a new file (tried and removed), one that does not must be
    creatable below its nearest existing ancestor (which is not made here)."""
    directory = pathlib.Path(directory)
    try:
        if directory.is_dir():
            fd, name = tempfile.mkstemp(dir=directory, prefix=".write-check-")
            os.close(fd)
            os.unlink(name)
            return
        ancestor = directory
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise NotADirectoryError(20, "a file is in the way", str(ancestor))
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise PermissionError(13, "permission denied", str(ancestor))
    except OSError as error:
        where = f" ({error.filename}: {error.strerror})" if error.filename else ""
        raise OutputDirError(
            f"cannot write into {directory}{where or ': ' + str(error.strerror)}"
        ) from None


_WRITER = [True]


def set_writer(writes: bool) -> None:
    """Whether this process writes files: True (the default) for a process on its
    own and for process 0 of a job; False for the job's other processes."""
    _WRITER[0] = bool(writes)


def writes_here() -> bool:
    """True when this process writes files (`set_writer`)."""
    return _WRITER[0]


def new_file_mode() -> int:
    """0666 less the process's umask: the mode `open` gives a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def naming(path: pathlib.Path) -> Iterator[None]:
    """Writes in the block that fail (a full disk, a file-size limit, an I/O
    error) raise an OSError that names `path`: the kernel's errors of write and
    fsync carry no file name, so a run's last line would say `None: No space
    left on device`."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise type(error)(error.errno, error.strerror, str(path)) from None


def atomic_write_bytes(path: pathlib.Path, data: bytes) -> None:
    """Writes `data` to `path` atomically, with the mode of a newly opened file
    (nothing in a process that does not write, `set_writer`). A failed write
    leaves the old file (or none) and names `path` (`naming`)."""
    if not writes_here():
        return
    path = pathlib.Path(path)
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), new_file_mode())
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise
