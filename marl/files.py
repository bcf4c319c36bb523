"""The one atomic writer of every file a run leaves (results, arrays, checkpoints).

A file is written to a temporary file in the same directory, flushed, fsynced and
renamed over the final name (`os.replace` is atomic on POSIX), so a reader sees the
old file or the new one, never half of one. Its mode is what `open` would give a
new file under the process's umask (0644 under the usual 022), as hydra's own
files in the same run directory get: `tempfile.mkstemp` creates 0600, which hides
results from the rest of a group on a shared cluster.

This and `marl.checkpoint`'s load and save are the only filesystem code in `marl/`.
"""

from __future__ import annotations

import os
import pathlib
import tempfile


def new_file_mode() -> int:
    """0666 less the process's umask: the mode `open` gives a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: pathlib.Path, data: bytes) -> None:
    """Writes `data` to `path` atomically, with the mode of a newly opened file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
