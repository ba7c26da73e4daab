"""Files that survive a power cut: written whole or not at all, and their renames synced too.

A rename lives in its directory: until the directory is synced, a crash may bring back the old
name (or none). Every place that puts a file in place for good (documents, keys, recorded
segments, the retention tombstone) does it through here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """`path` holds `data` durably, or is as it was: a temp file beside it, fsync, rename, directory fsync.

    The temp file is created with `mode` from the start (a key is never readable by others, not
    even for a moment)."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    sync_directory(path.parent)
