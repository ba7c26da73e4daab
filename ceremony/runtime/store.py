"""The storage interface: deliberately narrow so another database can implement it.

An adapter stores already-linked rows (see chain.py) and hands them back in
order; it knows nothing of ceremonies beyond their ids. Its one real duty is
durability: `append` returns only after the rows are on disk, and it refuses
rows that would not directly follow the last stored sequence number.

Operator tokens (the server-wide credential that may create ceremonies) live
beside the log because they, too, must survive restarts; they are not events of
any ceremony. Nor are browser sessions (what a capability cookie names): they
are kept beside the log, durably, but are no part of the record.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..chain import StoredEvent
from ..errors import StoreError


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


@runtime_checkable
class GroupAppend(Protocol):
    """A store that can commit the appends of several ceremonies in one transaction (group commit).

    Optional: the service falls back to one `append` per transaction on a store without it.
    """

    append_commits: int  # transactions committed by `append` and `append_group`, counted since opening

    def append_group(self, group: Sequence[tuple[str, Sequence[StoredEvent]]]) -> list[StoreError | None]:
        """Durably append each ceremony's rows in ONE transaction, each under `append`'s rule.

        One outcome per entry, in order: None (committed) or the error `append` would have raised
        for it alone (SequenceConflict); such an entry wrote nothing and the others are not
        affected. If the transaction itself fails (the COMMIT, the connection), StoreError is
        raised and nothing of the group was applied, unless the COMMIT's answer was what got lost.
        """


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's session: what its capability cookie names, for one link (an invitation or an operator token).

    The cookie holds a random id; only the id's SHA-256 is kept. The session ends at
    `expires_at`, when revoked (sign-out), or when its link is revoked.
    """

    id_sha256: str
    created_at: datetime
    expires_at: datetime
    ceremony: str | None = None  # with `invitation`: a ceremony link's session
    invitation: str | None = None
    operator_token_sha256: str | None = None  # else: an operator link's session
    revoked_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def same_link(self, other: Session) -> bool:
        return (self.ceremony, self.invitation, self.operator_token_sha256) == (
            other.ceremony,
            other.invitation,
            other.operator_token_sha256,
        )


class Sessions(Protocol):
    def add_session(self, session: Session) -> None:
        """Durably keep a new session."""

    def sessions(self, now: datetime) -> list[Session]:
        """The sessions neither revoked nor expired at `now`."""

    def revoke_sessions(self, ids_sha256: Collection[str], at: datetime) -> int:
        """Mark these sessions revoked at `at` (those that were not); how many were."""


class OperatorTokens(Protocol):
    def add_operator_token(self, token_sha256: str, at: datetime) -> None: ...

    def operator_tokens(self) -> set[str]:
        """Hashes of the operator tokens not revoked."""

    def revoke_operator_tokens(self, at: datetime) -> int:
        """Revoke every operator token, and every session opened with one; how many tokens were live."""


class Store(EventStore, OperatorTokens, Sessions, Protocol):
    """What the service needs of a database: the log, the operator tokens and the browser sessions."""


@dataclass(frozen=True, slots=True)
class OperatorTokenRow:
    token_sha256: str
    created_at: datetime
    revoked_at: datetime | None


class PortableStore(Store, Protocol):
    """A store whose every row can be read out and written into another (`ceremony store copy`).

    The log itself moves through `read` and `append`; these carry the rest, revoked rows included.
    """

    def operator_token_rows(self) -> list[OperatorTokenRow]: ...

    def restore_operator_token(self, row: OperatorTokenRow) -> None: ...

    def session_rows(self) -> list[Session]: ...

    def restore_session(self, session: Session) -> None: ...


class DocumentStore(Protocol):
    """Content-addressed bytes (the MOU's revisions), kept durably before an event names them."""

    def put(self, data: bytes) -> str:
        """Store `data` durably; its SHA-256 (hex)."""

    def read(self, sha256: str) -> bytes:
        """The bytes with this SHA-256, checked; StoreError if missing or altered."""

    def names(self) -> list[str]:
        """The SHA-256 of every document kept."""


class Records(Protocol):
    """Sealed records (zip bytes), one per ceremony, written whole or not at all."""

    def read(self, ceremony: str) -> bytes | None:
        """The ceremony's record, or None before it is sealed."""

    def size(self, ceremony: str) -> int | None:
        """The record's size in bytes, or None before it is sealed."""

    def write(self, ceremony: str, data: bytes) -> None: ...

    def sealed(self) -> list[str]:
        """Ids of the ceremonies that have a record."""
