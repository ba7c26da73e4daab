"""SQLite adapter of the event store (the default): one file, WAL, synchronous=FULL.

In WAL mode synchronous=FULL fsyncs the write-ahead log at every commit, so a
committed append survives a process kill and a power cut; that is what lets
the shell acknowledge a command only after `append` returns.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from ..chain import StoredEvent
from ..errors import SequenceConflict, StoreError
from ..events import format_time, parse_time
from .store import OperatorTokenRow, Session

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    ceremony  TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    body      BLOB    NOT NULL,
    prev_hash BLOB    NOT NULL,
    hash      BLOB    NOT NULL,
    PRIMARY KEY (ceremony, seq)
) WITHOUT ROWID;
-- The log is append-only; these make an accidental UPDATE/DELETE fail loudly.
-- (A deliberate tamperer can drop them, which is why the chain exists.)
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE IF NOT EXISTS ceremony_order (
    ceremony TEXT PRIMARY KEY,
    created  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS operator_tokens (
    token_sha256 TEXT PRIMARY KEY,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);
-- Browser sessions (store.Session): not events, no part of the record. Times are
-- format_time() text, which sorts as the instants do.
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256             TEXT PRIMARY KEY,
    ceremony              TEXT,
    invitation            TEXT,
    operator_token_sha256 TEXT,
    created_at            TEXT NOT NULL,
    expires_at            TEXT NOT NULL,
    revoked_at            TEXT,
    CHECK ((invitation IS NULL) != (operator_token_sha256 IS NULL))
);
"""

DB_NAME = "ceremony.sqlite3"


class SqliteStore:
    """EventStore, OperatorTokens and Sessions over one SQLite file in `data_dir`.

    Not thread-safe by itself: the async shell calls it from one worker thread.
    """

    def __init__(self, data_dir: Path, name: str = DB_NAME) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = data_dir / name
        # Create the file private *before* SQLite opens it: its -wal and -shm
        # files copy this mode, and the WAL holds the newest events.
        os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the event store {self.path}: {exc}") from exc
        self.append_commits = 0

    def append(self, ceremony: str, rows: Sequence[StoredEvent]) -> None:
        outcome = self.append_group([(ceremony, rows)])
        if outcome and outcome[0] is not None:
            raise outcome[0]

    def append_group(self, group: Sequence[tuple[str, Sequence[StoredEvent]]]) -> list[StoreError | None]:
        """Group commit: every ceremony's rows in one transaction, one synced COMMIT for all.

        BEGIN IMMEDIATE takes the file's write lock first, so the seq check cannot be overtaken:
        a ceremony that fails it has written nothing, and the others go on.
        """
        if any(not rows for _, rows in group):  # nothing to write for those: one outcome per entry all the same
            written = iter(self.append_group([(ceremony, rows) for ceremony, rows in group if rows]))
            return [next(written) if rows else None for _, rows in group]
        if not group:
            return []
        db = self._db
        outcomes: list[StoreError | None] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for ceremony, rows in group:
                (last,) = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE ceremony = ?", (ceremony,)
                ).fetchone()
                if rows[0].seq != last + 1:
                    outcomes.append(
                        SequenceConflict(f"ceremony {ceremony}: expected seq {last + 1}, got {rows[0].seq}")
                    )
                    continue
                if last == 0:
                    db.execute(
                        "INSERT INTO ceremony_order (ceremony, created)"
                        " VALUES (?, (SELECT COUNT(*) FROM ceremony_order))",
                        (ceremony,),
                    )
                db.executemany(
                    "INSERT INTO events (ceremony, seq, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
                    [(r.ceremony, r.seq, r.body, r.prev_hash, r.hash) for r in rows],
                )
                outcomes.append(None)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            names = ", ".join(sorted({ceremony for ceremony, _ in group}))
            raise StoreError(f"cannot append to ceremony {names}: {exc}") from exc
        self.append_commits += 1
        return outcomes

    def read(self, ceremony: str, after_seq: int = 0) -> Iterator[StoredEvent]:
        cursor = self._db.execute(
            "SELECT ceremony, seq, body, prev_hash, hash FROM events WHERE ceremony = ? AND seq > ? ORDER BY seq",
            (ceremony, after_seq),
        )
        for c, seq, body, prev, digest in cursor:
            yield StoredEvent(ceremony=c, seq=seq, body=bytes(body), prev_hash=bytes(prev), hash=bytes(digest))

    def ceremonies(self) -> list[str]:
        # Also list ceremonies whose rows exist but whose order row was lost, so
        # verification sees every chain in the file.
        rows = self._db.execute(
            "SELECT ceremony FROM ceremony_order UNION SELECT DISTINCT ceremony FROM events ORDER BY 1"
        ).fetchall()
        order = dict(self._db.execute("SELECT ceremony, created FROM ceremony_order").fetchall())
        return sorted((r[0] for r in rows), key=lambda c: (order.get(c, 1 << 62), c))

    def add_operator_token(self, token_sha256: str, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO operator_tokens (token_sha256, created_at) VALUES (?, ?)", (token_sha256, format_time(at))
        )

    def operator_tokens(self) -> set[str]:
        rows = self._db.execute("SELECT token_sha256 FROM operator_tokens WHERE revoked_at IS NULL").fetchall()
        return {r[0] for r in rows}

    def revoke_operator_tokens(self, at: datetime) -> int:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            cursor = db.execute(
                "UPDATE operator_tokens SET revoked_at = ? WHERE revoked_at IS NULL", (format_time(at),)
            )
            db.execute(
                "UPDATE sessions SET revoked_at = ? WHERE operator_token_sha256 IS NOT NULL AND revoked_at IS NULL",
                (format_time(at),),
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot revoke the operator links: {exc}") from exc
        return cursor.rowcount

    def operator_token_rows(self) -> list[OperatorTokenRow]:
        rows = self._db.execute("SELECT token_sha256, created_at, revoked_at FROM operator_tokens ORDER BY created_at")
        return [OperatorTokenRow(t, parse_time(c), None if r is None else parse_time(r)) for t, c, r in rows]

    def restore_operator_token(self, row: OperatorTokenRow) -> None:
        revoked = None if row.revoked_at is None else format_time(row.revoked_at)
        self._db.execute(
            "INSERT INTO operator_tokens (token_sha256, created_at, revoked_at) VALUES (?, ?, ?)",
            (row.token_sha256, format_time(row.created_at), revoked),
        )

    def add_session(self, session: Session) -> None:
        self.restore_session(session)

    def restore_session(self, session: Session) -> None:
        self._db.execute(
            "INSERT INTO sessions (id_sha256, ceremony, invitation, operator_token_sha256, created_at, expires_at,"
            " revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                session.id_sha256,
                session.ceremony,
                session.invitation,
                session.operator_token_sha256,
                format_time(session.created_at),
                format_time(session.expires_at),
                None if session.revoked_at is None else format_time(session.revoked_at),
            ),
        )

    def session_rows(self) -> list[Session]:
        return self._sessions(None)

    def sessions(self, now: datetime) -> list[Session]:
        return self._sessions(format_time(now))

    def _sessions(self, live_at: str | None) -> list[Session]:
        """The sessions live at `live_at`, or (None) every session ever opened."""
        rows = self._db.execute(
            "SELECT id_sha256, ceremony, invitation, operator_token_sha256, created_at, expires_at, revoked_at"
            " FROM sessions WHERE ?1 IS NULL OR (revoked_at IS NULL AND expires_at > ?1) ORDER BY created_at",
            (live_at,),
        ).fetchall()
        return [
            Session(
                id_sha256=i,
                ceremony=c,
                invitation=inv,
                operator_token_sha256=op,
                created_at=parse_time(created),
                expires_at=parse_time(expires),
                revoked_at=None if revoked is None else parse_time(revoked),
            )
            for i, c, inv, op, created, expires, revoked in rows
        ]

    def revoke_sessions(self, ids_sha256: Collection[str], at: datetime) -> int:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            count = 0
            for digest in ids_sha256:
                cursor = db.execute(
                    "UPDATE sessions SET revoked_at = ? WHERE id_sha256 = ? AND revoked_at IS NULL",
                    (format_time(at), digest),
                )
                count += cursor.rowcount
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StoreError(f"cannot revoke sessions: {exc}") from exc
        return count

    def data_version(self) -> int:
        """Changes whenever *another* connection commits (SQLite's PRAGMA data_version)."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        return int(version)

    def close(self) -> None:
        self._db.close()
