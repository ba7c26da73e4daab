"""The storage interface: deliberately narrow so another database can implement it.

An adapter stores already-linked rows (see chain.py) and hands them back in
order; it knows nothing of ceremonies beyond their ids. Its one real duty is
durability: `append` returns only after the rows are on disk, and it refuses
rows that would not directly follow the last stored sequence number.

Operator tokens (the server-wide credential that may create ceremonies) live
beside the log because they, too, must survive restarts; they are not events of
any ceremony.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from ..chain import StoredEvent


class EventStore(Protocol):
    def append(self, ceremony: str, rows: Sequence[StoredEvent]) -> None:
        """Durably append `rows` (consecutive seqs); raise SequenceConflict if the
        first seq is not one past the stored last."""

    def read(self, ceremony: str, after_seq: int = 0) -> Iterator[StoredEvent]:
        """Rows of one ceremony with seq > after_seq, in order."""

    def ceremonies(self) -> list[str]:
        """Ids of every ceremony with at least one row, oldest first."""

    def data_version(self) -> int:
        """A number that changes when another process has appended (polled to catch up)."""

    def close(self) -> None: ...


class OperatorTokens(Protocol):
    def add_operator_token(self, token_sha256: str, at: datetime) -> None: ...

    def operator_tokens(self) -> set[str]:
        """Hashes of the operator tokens not revoked."""

    def revoke_operator_tokens(self, at: datetime) -> int: ...


class Store(EventStore, OperatorTokens, Protocol):
    """What the service needs of a database: the log and the operator tokens."""


class DocumentStore(Protocol):
    """Content-addressed bytes (the MOU's revisions), kept durably before an event names them."""

    def put(self, data: bytes) -> str:
        """Store `data` durably; its SHA-256 (hex)."""

    def read(self, sha256: str) -> bytes:
        """The bytes with this SHA-256, checked; StoreError if missing or altered."""
