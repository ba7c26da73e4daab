"""The default runtime: one data directory holding the SQLite log and the document files."""

from __future__ import annotations

from pathlib import Path

from .service import CeremonyService, Clock
from .stores import default_store, open_service


def on_disk(data_dir: Path, *, clock: Clock) -> CeremonyService:
    """A service over `data_dir`: its SQLite event store, and the documents beside it."""
    return open_service(default_store(data_dir), clock=clock)[0]
