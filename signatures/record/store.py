"""Sealed records on disk: one zip per ceremony under DATA/records/.

A record is written once, when the ceremony is sealed, to a temporary file that
is fsynced and then renamed, so a reader sees either no record or a whole one.
"""

from __future__ import annotations

import os
from pathlib import Path

RECORD_NAME = "record.zip"


class RecordStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "records"

    def path(self, ceremony: str) -> Path:
        return self.root / ceremony / RECORD_NAME

    def read(self, ceremony: str) -> bytes | None:
        """The ceremony's record zip, or None before it is sealed."""
        try:
            return self.path(ceremony).read_bytes()
        except FileNotFoundError:
            return None

    def size(self, ceremony: str) -> int | None:
        """The record's size in bytes, or None before it is sealed (or if the file was lost)."""
        try:
            return self.path(ceremony).stat().st_size
        except FileNotFoundError:
            return None

    def write(self, ceremony: str, data: bytes) -> Path:
        target = self.path(ceremony)
        # 0700/0600 like the documents: a record names people, their addresses and devices.
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.parent.mkdir(exist_ok=True, mode=0o700)
        temporary = target.with_suffix(".partial")
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return target
