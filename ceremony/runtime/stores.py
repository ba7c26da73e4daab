"""Which database a node keeps its log in, named by a URL: `sqlite:///path` (the default) or `postgresql://…`.

With SQLite, the documents and the sealed records are files beside the database file: one machine.
With PostgreSQL they are rows in the same database, so several nodes share everything durable
through it and no filesystem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import StoreError
from .documents import DocumentFiles
from .records import RecordFiles
from .service import CeremonyService, Clock
from .sqlite_store import DB_NAME, SqliteStore
from .store import DocumentStore, PortableStore, Records

DOCUMENTS = "documents"  # beside the SQLite file: the MOU's revisions


@dataclass(frozen=True, slots=True)
class StoreUrl:
    text: str
    sqlite_file: Path | None  # None: PostgreSQL

    @property
    def shown(self) -> str:
        """The URL without a password, for logs and messages."""
        parts = urlsplit(self.text)
        if parts.password is None:
            return self.text
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()


def default_store(data_dir: Path) -> StoreUrl:
    return StoreUrl(f"sqlite:///{(data_dir / DB_NAME).absolute()}", (data_dir / DB_NAME).absolute())


def parse_store_url(text: str) -> StoreUrl:
    """`sqlite:///absolute/file.sqlite3`, `sqlite:relative/file.sqlite3` or `postgresql://user@host:port/db`."""
    scheme, _, rest = text.partition(":")
    if scheme == "sqlite":
        path = rest[2:] if rest.startswith("//") else rest  # sqlite:///abs/file or sqlite:rel/file
        if not path or path.endswith("/"):
            raise StoreError(f"--store {text}: name the SQLite file, e.g. sqlite:///srv/ceremony/ceremony.sqlite3")
        return StoreUrl(text, Path(path).absolute())
    if scheme in ("postgresql", "postgres"):
        parts = urlsplit(text)
        if not parts.hostname or not parts.path.strip("/"):
            raise StoreError(
                f"--store {StoreUrl(text, None).shown}: name the host and the database, "
                "e.g. postgresql://ceremony@db.example:5432/ceremony"
            )
        return StoreUrl(text, None)
    raise StoreError(f"--store {text!r}: the URL must start with sqlite:// or postgresql://")


@dataclass(slots=True)
class Backing:
    """Everything a node keeps durably: the log (with tokens and sessions), the documents, the records."""

    url: StoreUrl
    store: PortableStore
    documents: DocumentStore
    records: Records

    def close(self) -> None:
        self.store.close()


def open_backing(url: StoreUrl) -> Backing:
    if url.sqlite_file is not None:
        directory = url.sqlite_file.parent
        store = SqliteStore(directory, url.sqlite_file.name)
        return Backing(url, store, DocumentFiles(directory / DOCUMENTS), RecordFiles(directory))
    # Imported here: a single-node install never loads the PostgreSQL driver.
    from .postgres_store import PostgresDocuments, PostgresLink, PostgresRecords, PostgresStore

    link = PostgresLink(url.text)
    return Backing(url, PostgresStore(link), PostgresDocuments(link), PostgresRecords(link))


def open_service(url: StoreUrl, *, clock: Clock) -> tuple[CeremonyService, Backing]:
    """A service over the store `url` names (its state replayed from the log), and what backs it."""
    backing = open_backing(url)
    try:
        return CeremonyService(backing.store, backing.documents, clock=clock), backing
    except BaseException:
        backing.close()
        raise
