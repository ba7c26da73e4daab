"""Sealed records as files: one zip per ceremony under DIR/records/ (beside the SQLite store).

A record is written once, when the ceremony is sealed, to a temporary file that is fsynced and
then renamed, so a reader sees either no record or a whole one.
"""

from __future__ import annotations

from pathlib import Path

from .durable import write_durably

RECORD_NAME = "record.zip"


class RecordFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "records"

    def path(self, ceremony: str) -> Path:
        return self.root / ceremony / RECORD_NAME

    def read(self, ceremony: str) -> bytes | None:
        try:
            return self.path(ceremony).read_bytes()
        except FileNotFoundError:
            return None

    def size(self, ceremony: str) -> int | None:
        try:
            return self.path(ceremony).stat().st_size
        except FileNotFoundError:
            return None

    def write(self, ceremony: str, data: bytes) -> None:
        # 0700/0600 like the documents: a record names people, their addresses and devices.
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path(ceremony).parent.mkdir(exist_ok=True, mode=0o700)
        write_durably(self.path(ceremony), data, mode=0o600)

    def sealed(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{RECORD_NAME}"))
