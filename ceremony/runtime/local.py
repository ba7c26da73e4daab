"""The default runtime: one data directory holding the SQLite log and the document files."""

from __future__ import annotations

from pathlib import Path

from .documents import DocumentFiles
from .service import CeremonyService, Clock
from .sqlite_store import SqliteStore

DOCUMENTS = "documents"  # the subdirectory of the data directory that holds the MOU's revisions


def on_disk(data_dir: Path, *, clock: Clock) -> CeremonyService:
    """A service over `data_dir`: its SQLite event store, and the documents beside it."""
    return CeremonyService(SqliteStore(data_dir), DocumentFiles(data_dir / DOCUMENTS), clock=clock)
