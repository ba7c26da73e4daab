"""PostgreSQL adapter of the event store, the documents and the sealed records, for several nodes.

The same promises as the SQLite store: `append` returns only once its transaction has committed
(synchronous_commit=on: the commit is flushed to the WAL before PostgreSQL answers), and it refuses
rows that do not directly follow the stored last seq. Two nodes appending to one ceremony at once
both pass the seq check, but the primary key lets only one commit; the other gets SequenceConflict
and the service catches up and decides again, as with a second process on one SQLite file.

One connection per node, shared by its store, documents and records under a lock. When PostgreSQL
goes away (restart, failover) the call in flight fails with StoreError (the web layer answers 503 and
the pages retry) and the next call connects again; nothing half-done survives a rolled-back
transaction.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from typing import TypeVar

import psycopg
from psycopg import errors as pg_errors

from ..chain import StoredEvent
from ..errors import SequenceConflict, StoreError
from .postgres_schema import CHANNEL, MIGRATION_LOCK, MIGRATIONS
from .store import OperatorTokenRow, Session

CONNECT_SECONDS = 5  # a node whose database is gone answers 503 within this, not after a TCP timeout
STATEMENT_MS = 15_000  # no statement of ours takes long; one that does is stuck behind a lock


Conn = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")


class PostgresLink:
    """The node's one connection: reconnects after a failure, counts other nodes' commits (LISTEN/NOTIFY)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._conn: Conn | None = None
        self._changes = 0  # bumped by each notification from another backend, and at each reconnect
        self.transact(_migrate, "prepare the database")

    def _connect(self) -> Conn:
        conn = psycopg.connect(
            self.url,
            autocommit=True,  # BEGIN and COMMIT are ours (transact), so we know when a commit was under way
            connect_timeout=CONNECT_SECONDS,
            options=f"-c synchronous_commit=on -c statement_timeout={STATEMENT_MS} -c TimeZone=UTC",
            application_name="ceremony",
        )
        own = conn.info.backend_pid
        conn.add_notify_handler(lambda n: self._notified(n.pid != own))
        conn.execute(f"LISTEN {CHANNEL}")
        self._changes += 1  # what was committed while we were away is news
        return conn

    def _notified(self, foreign: bool) -> None:
        if foreign:  # our own commits are already in this node's memory
            self._changes += 1

    def transact(self, work: Callable[[Conn], T], what: str) -> T:
        """`work` in one transaction; StoreError (saying `what` failed) if it cannot be done.

        A connection that broke before COMMIT was sent (PostgreSQL restarted while we were idle,
        say) wrote nothing, so the work is tried once more on a new one. One that broke during
        COMMIT may or may not have committed: that is reported, never retried here. The page
        retries, and a command whose event did land meets a SequenceConflict and catches up.
        """
        for attempt in (1, 2):
            with self._lock:
                committing = False
                try:
                    conn = self._conn if self._conn is not None and not self._conn.closed else self._connect()
                    self._conn = conn
                    conn.execute("BEGIN")
                    try:
                        result = work(conn)
                        committing = True
                        conn.execute("COMMIT")
                        return result
                    except BaseException:
                        if not committing and not conn.closed:
                            with suppress(psycopg.Error):
                                conn.execute("ROLLBACK")
                        raise
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    self._drop()
                    if committing or attempt == 2:
                        raise StoreError(f"the PostgreSQL store could not {what}: {_reason(exc)}") from exc
                except psycopg.Error as exc:
                    raise StoreError(f"the PostgreSQL store could not {what}: {_reason(exc)}") from exc
        raise AssertionError("unreachable")

    def changes(self) -> int:
        self.transact(lambda conn: conn.execute("SELECT 1"), "be reached")  # delivers pending notifications
        return self._changes

    def _drop(self) -> None:
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def _reason(exc: psycopg.Error) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _last_seq(conn: Conn, ceremony: str) -> int:
    last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE ceremony = %s", (ceremony,)).fetchone()
    return int(str(last[0] if last else 0))


def _insert(conn: Conn, ceremony: str, rows: Sequence[StoredEvent], last: int) -> None:
    """Insert rows that must follow seq `last`; SequenceConflict if they do not, or another node took the seq."""
    if rows[0].seq != last + 1:
        raise SequenceConflict(f"ceremony {ceremony}: expected seq {last + 1}, got {rows[0].seq}")
    if last == 0:
        conn.execute("INSERT INTO ceremony_order (ceremony) VALUES (%s) ON CONFLICT DO NOTHING", (ceremony,))
    try:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO events (ceremony, seq, body, prev_hash, hash) VALUES (%s, %s, %s, %s, %s)",
                [(r.ceremony, r.seq, r.body, r.prev_hash, r.hash) for r in rows],
            )
    except pg_errors.UniqueViolation as exc:
        # Another node committed the same seq between our check and our insert.
        raise SequenceConflict(f"ceremony {ceremony}: seq {rows[0].seq} was taken by another node") from exc


class _Overtaken(Exception):
    """Another node committed a seq of the group after the check: the group's transaction is void."""


def _last_seqs(conn: Conn, group: Sequence[tuple[str, Sequence[StoredEvent]]]) -> dict[str, int]:
    found = conn.execute(
        "SELECT ceremony, MAX(seq) FROM events WHERE ceremony = ANY(%s) GROUP BY ceremony",
        (list({ceremony for ceremony, _ in group}),),
    ).fetchall()
    return {str(c): int(str(seq)) for c, seq in found}


def _append_together(conn: Conn, group: Sequence[tuple[str, Sequence[StoredEvent]]]) -> list[StoreError | None]:
    """The group's rows that pass the seq check, in one INSERT; _Overtaken if the primary key refuses it."""
    lasts = _last_seqs(conn, group)
    outcomes: list[StoreError | None] = []
    passed: list[StoredEvent] = []
    for ceremony, rows in group:
        last = lasts.get(ceremony, 0)
        if rows[0].seq != last + 1:
            outcomes.append(SequenceConflict(f"ceremony {ceremony}: expected seq {last + 1}, got {rows[0].seq}"))
            continue
        lasts[ceremony] = rows[-1].seq  # the same ceremony twice in a group follows its own rows
        passed.extend(rows)
        outcomes.append(None)
    if not passed:
        return outcomes
    new = [r.ceremony for r in passed if r.seq == 1]
    if new:
        conn.execute("INSERT INTO ceremony_order (ceremony) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING", (new,))
    try:
        conn.execute(
            "INSERT INTO events (ceremony, seq, body, prev_hash, hash)"
            " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bytea[], %s::bytea[], %s::bytea[])",
            (
                [r.ceremony for r in passed],
                [r.seq for r in passed],
                [r.body for r in passed],
                [r.prev_hash for r in passed],
                [r.hash for r in passed],
            ),
        )
    except pg_errors.UniqueViolation as exc:
        raise _Overtaken from exc
    return outcomes


def _append_each(conn: Conn, group: Sequence[tuple[str, Sequence[StoredEvent]]]) -> list[StoreError | None]:
    """The group, one savepoint per ceremony: a seq taken by another node undoes that ceremony's rows only."""
    lasts = _last_seqs(conn, group)
    outcomes: list[StoreError | None] = []
    for ceremony, rows in group:
        conn.execute("SAVEPOINT one_ceremony")
        try:
            _insert(conn, ceremony, rows, lasts.get(ceremony, 0))
        except SequenceConflict as exc:
            conn.execute("ROLLBACK TO SAVEPOINT one_ceremony")
            outcomes.append(exc)
            continue
        conn.execute("RELEASE SAVEPOINT one_ceremony")
        lasts[ceremony] = rows[-1].seq
        outcomes.append(None)
    return outcomes


def _migrate(conn: Conn) -> None:
    """Apply the migrations this database lacks, one node at a time; refuse a database newer than us."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = {int(str(v)) for (v,) in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    newer = applied - {m.version for m in MIGRATIONS}
    if newer:
        raise StoreError(
            f"the database has schema version {max(newer)}, newer than this program knows"
            f" ({MIGRATIONS[-1].version}): upgrade this node before it joins"
        )
    for migration in MIGRATIONS:
        if migration.version not in applied:
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.version, migration.name)
            )


class PostgresStore:
    """EventStore, OperatorTokens and Sessions in one PostgreSQL database, shared by every node."""

    def __init__(self, link: PostgresLink) -> None:
        self.link = link
        self.append_commits = 0

    def append(self, ceremony: str, rows: Sequence[StoredEvent]) -> None:
        if not rows:
            return

        def work(conn: Conn) -> None:
            _insert(conn, ceremony, rows, _last_seq(conn, ceremony))

        self.link.transact(work, f"append to ceremony {ceremony}")
        self.append_commits += 1

    def append_group(self, group: Sequence[tuple[str, Sequence[StoredEvent]]]) -> list[StoreError | None]:
        """Group commit: every ceremony's rows in one transaction, one COMMIT (one WAL flush) for all.

        The seq check reads every ceremony's last seq at once, and the rows that pass go in as one
        INSERT: a handful of round trips for the whole group. If another node commits a seq of the
        group between the check and the insert, the primary key aborts that INSERT; the group is
        then written again with a savepoint per ceremony, so that only the overtaken ones fail.
        A lone append takes `append`'s path.
        """
        if any(not rows for _, rows in group):  # nothing to write for those: one outcome per entry all the same
            written = iter(self.append_group([(ceremony, rows) for ceremony, rows in group if rows]))
            return [next(written) if rows else None for _, rows in group]
        if len(group) == 1:
            ceremony, rows = group[0]
            try:
                self.append(ceremony, rows)
            except SequenceConflict as exc:
                return [exc]
            return [None]
        if not group:
            return []
        what = f"append to {len(group)} ceremonies"
        try:
            outcomes = self.link.transact(lambda conn: _append_together(conn, group), what)
        except _Overtaken:
            outcomes = self.link.transact(lambda conn: _append_each(conn, group), what)
        self.append_commits += 1
        return outcomes

    def read(self, ceremony: str, after_seq: int = 0) -> Iterator[StoredEvent]:
        rows = self._all(
            "SELECT ceremony, seq, body, prev_hash, hash FROM events WHERE ceremony = %s AND seq > %s ORDER BY seq",
            (ceremony, after_seq),
        )
        for c, seq, body, prev, digest in rows:
            yield StoredEvent(
                ceremony=str(c), seq=int(str(seq)), body=_bytes(body), prev_hash=_bytes(prev), hash=_bytes(digest)
            )

    def ceremonies(self) -> list[str]:
        # Also ceremonies whose rows exist without an order row, so verification sees every chain.
        rows = self._all(
            "SELECT e.ceremony FROM (SELECT DISTINCT ceremony FROM events) e"
            " LEFT JOIN ceremony_order o USING (ceremony) ORDER BY o.created NULLS LAST, e.ceremony"
        )
        return [str(c) for (c,) in rows]

    def data_version(self) -> int:
        """Changes when another node (or process) has committed to the log, the tokens or the sessions."""
        return self.link.changes()

    # ---- operator tokens ----

    def add_operator_token(self, token_sha256: str, at: datetime) -> None:
        self.restore_operator_token(OperatorTokenRow(token_sha256, at, None))

    def operator_tokens(self) -> set[str]:
        return {str(t) for (t,) in self._all("SELECT token_sha256 FROM operator_tokens WHERE revoked_at IS NULL")}

    def revoke_operator_tokens(self, at: datetime) -> int:
        def work(conn: Conn) -> int:
            cursor = conn.execute("UPDATE operator_tokens SET revoked_at = %s WHERE revoked_at IS NULL", (at,))
            conn.execute(
                "UPDATE sessions SET revoked_at = %s WHERE operator_token_sha256 IS NOT NULL AND revoked_at IS NULL",
                (at,),
            )
            return cursor.rowcount

        return self.link.transact(work, "revoke the operator links")

    def operator_token_rows(self) -> list[OperatorTokenRow]:
        rows = self._all("SELECT token_sha256, created_at, revoked_at FROM operator_tokens ORDER BY created_at")
        return [OperatorTokenRow(str(t), _time(c), None if r is None else _time(r)) for t, c, r in rows]

    def restore_operator_token(self, row: OperatorTokenRow) -> None:
        self._write(
            "INSERT INTO operator_tokens (token_sha256, created_at, revoked_at) VALUES (%s, %s, %s)",
            (row.token_sha256, row.created_at, row.revoked_at),
        )

    # ---- sessions ----

    def add_session(self, session: Session) -> None:
        self.restore_session(session)

    def restore_session(self, session: Session) -> None:
        self._write(
            "INSERT INTO sessions (id_sha256, ceremony, invitation, operator_token_sha256, created_at, expires_at,"
            " revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                session.id_sha256,
                session.ceremony,
                session.invitation,
                session.operator_token_sha256,
                session.created_at,
                session.expires_at,
                session.revoked_at,
            ),
        )

    def sessions(self, now: datetime) -> list[Session]:
        return self._sessions(now)

    def session_rows(self) -> list[Session]:
        return self._sessions(None)

    def _sessions(self, live_at: datetime | None) -> list[Session]:
        """The sessions live at `live_at`, or (None) every session ever opened."""
        rows = self._all(
            "SELECT id_sha256, ceremony, invitation, operator_token_sha256, created_at, expires_at, revoked_at"
            " FROM sessions WHERE %s::timestamptz IS NULL OR (revoked_at IS NULL AND expires_at > %s)"
            " ORDER BY created_at",
            (live_at, live_at),
        )
        return [
            Session(
                id_sha256=str(i),
                ceremony=_text(c),
                invitation=_text(inv),
                operator_token_sha256=_text(op),
                created_at=_time(created),
                expires_at=_time(expires),
                revoked_at=None if revoked is None else _time(revoked),
            )
            for i, c, inv, op, created, expires, revoked in rows
        ]

    def revoke_sessions(self, ids_sha256: Collection[str], at: datetime) -> int:
        ids = list(ids_sha256)

        def work(conn: Conn) -> int:
            sql = "UPDATE sessions SET revoked_at = %s WHERE id_sha256 = ANY(%s) AND revoked_at IS NULL"
            return conn.execute(sql, (at, ids)).rowcount

        return self.link.transact(work, "revoke sessions")

    def close(self) -> None:
        self.link.close()

    def _all(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self.link.transact(lambda conn: conn.execute(sql.encode(), params).fetchall(), "read the log")

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        self.link.transact(lambda conn: conn.execute(sql.encode(), params), "write")


def _bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise StoreError(f"expected bytes in the store, found {type(value).__name__}")
    return bytes(value)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _time(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise StoreError(f"expected a timestamp in the store, found {value!r}")
    return value


class PostgresDocuments:
    """The MOU's revisions as rows (bytea) named by their SHA-256, so nodes share no filesystem."""

    def __init__(self, link: PostgresLink) -> None:
        self.link = link

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        sql = "INSERT INTO documents (sha256, data) VALUES (%s, %s) ON CONFLICT (sha256) DO NOTHING"
        self.link.transact(lambda conn: conn.execute(sql, (sha, data)), f"store document {sha}")
        return sha

    def read(self, sha256: str) -> bytes:
        sql = "SELECT data FROM documents WHERE sha256 = %s"
        row = self.link.transact(lambda conn: conn.execute(sql, (sha256,)).fetchone(), f"read document {sha256}")
        if row is None:
            raise StoreError(f"document {sha256} is missing from the database")
        data = _bytes(row[0])
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"document {sha256} in the database does not match its hash")
        return data

    def names(self) -> list[str]:
        sql = "SELECT sha256 FROM documents ORDER BY sha256"
        return [str(s) for (s,) in self.link.transact(lambda conn: conn.execute(sql).fetchall(), "list documents")]


class PostgresRecords:
    """Sealed records (zip bytes), one row per ceremony."""

    def __init__(self, link: PostgresLink) -> None:
        self.link = link

    def read(self, ceremony: str) -> bytes | None:
        row = self._one("SELECT data FROM records WHERE ceremony = %s", ceremony)
        return None if row is None else _bytes(row[0])

    def size(self, ceremony: str) -> int | None:
        row = self._one("SELECT octet_length(data) FROM records WHERE ceremony = %s", ceremony)
        return None if row is None else int(str(row[0]))

    def write(self, ceremony: str, data: bytes) -> None:
        sql = (
            "INSERT INTO records (ceremony, data) VALUES (%s, %s)"
            " ON CONFLICT (ceremony) DO UPDATE SET data = EXCLUDED.data, written_at = now()"
        )
        self.link.transact(lambda conn: conn.execute(sql, (ceremony, data)), f"store the record of {ceremony}")

    def sealed(self) -> list[str]:
        sql = "SELECT ceremony FROM records ORDER BY ceremony"
        return [str(c) for (c,) in self.link.transact(lambda conn: conn.execute(sql).fetchall(), "list records")]

    def _one(self, sql: str, ceremony: str) -> tuple[object, ...] | None:
        return self.link.transact(lambda conn: conn.execute(sql.encode(), (ceremony,)).fetchone(), "read a record")
