"""The asyncio shell around the core: commands in, durable events out.

Per ceremony, commands are serialised by a lock: decide -> link -> append
(in the store's single worker thread, synced) -> evolve -> publish. Only after
the append has returned is anything acknowledged or pushed to followers, so a
crash can lose a command in flight but never one that was acknowledged.
Appends of different ceremonies that wait for that thread together are
committed in one transaction when the store can (group_commit.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TypeVar

from ..capabilities import new_ceremony_id, new_invitation_id, new_token, token_hash
from ..chain import GENESIS, StoredEvent, check_link, decode, link
from ..commands import Command, Freeze, IssueInvitation
from ..core import decide, evolve, initial_state
from ..errors import CeremonyError, CorruptLog, SequenceConflict, StoreError, UnknownCeremony
from ..events import CeremonyDrafted, Envelope, Role
from ..model import CeremonyDefinition
from ..state import CeremonyState
from .group_commit import GroupCommitter
from .store import DocumentStore, GroupAppend, Session, Store

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
Renderer = Callable[[CeremonyDefinition, str], bytes]

DECIDE_AGAIN = 4  # attempts at a command another process keeps overtaking (a conflict, a stale refusal)
WATCH_SECONDS = 0.5  # how soon links issued by the CLI work on a running server
FOLLOWER_QUEUE = 256  # events a slow follower may lag behind before it is dropped
# Live sessions one link may have (browsers that entered it); entering once more ends the oldest.
# It bounds what a link's holder can make the server keep in memory.
SESSIONS_PER_LINK = 32


class AccessChanged(Exception):
    """Raised by `Follower.next` (of followers that asked for it) when sessions or operator links were revoked.

    News, not an error: like TimeoutError, it only wakes a waiting follower.
    """


@dataclass(frozen=True, slots=True)
class Executed:
    """What a command did: its events as logged, and the state they led to (handlers need not re-read it)."""

    envelopes: tuple[Envelope, ...]
    state: CeremonyState


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A freshly issued invitation; `token` exists only here, never on disk."""

    invitation: str
    token: str
    envelope: Envelope


class CeremonyService:
    """One process's view of every ceremony: states folded from `store`, commands serialised per ceremony.

    Whoever builds it chooses the store (SQLite by default, see `local.on_disk`), where
    documents go, and the clock; tests pass their own clock: the core reads no time.
    """

    def __init__(self, store: Store, documents: DocumentStore, *, clock: Clock) -> None:
        self.clock = clock
        self.store = store
        self.documents = documents
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-store")
        self._group = GroupCommitter(store) if isinstance(store, GroupAppend) else None
        self._render = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
        self._states: dict[str, CeremonyState] = {}
        self._heads: dict[str, bytes] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._followers: dict[str, set[asyncio.Queue[Envelope | None]]] = {}
        self._operator_tokens = self.store.operator_tokens()
        self._sessions = {s.id_sha256: s for s in self.store.sessions(clock())}
        self._access_followers: set[Follower] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._data_version = 0
        self._catching = asyncio.Lock()
        self._next_catch_up: asyncio.Future[None] | None = None  # the catch-up callers arriving now will share
        self._replay()

    # ---- start-up and shutdown ----

    def _replay(self) -> None:
        """Rebuild every ceremony's state from its log (synchronously, at start-up)."""
        for ceremony in self.store.ceremonies():
            self._fold(ceremony, list(self.store.read(ceremony)))
        self._data_version = self.store.data_version()

    def _fold(self, ceremony: str, rows: list[StoredEvent]) -> None:
        """Apply rows that follow what is known of `ceremony` (replay and catch-up)."""
        state = self._states.get(ceremony)
        head = self._heads.get(ceremony, GENESIS)
        for row in rows:
            envelope, reason = check_link(ceremony, head, (state.seq if state else 0) + 1, row)
            if envelope is None:
                raise CorruptLog(f"ceremony {ceremony} event {row.seq}: {reason}; run `ceremony log verify`")
            state = initial_state(envelope) if state is None else evolve(state, envelope)
            head = row.hash
        if state is not None:
            self._states[ceremony] = state
            self._heads[ceremony] = head

    async def start(self) -> None:
        """Watch for appends by other processes (e.g. `ceremony invite` while serving)."""
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.catch_up()
            except CeremonyError:
                log.exception("could not catch up with the event store")

    async def catch_up(self) -> None:
        """Fold in rows appended by another process since we last looked.

        One at a time: a caller that finds the version unchanged must be able to trust that
        what it stands for is folded in, not still being read by a catch-up under way. And
        shared: every caller that arrives while one runs waits for the next one, which starts
        after they all arrived and so sees whatever they must see: a burst of requests (2,000
        sockets opening on a node) costs two catch-ups, not a queue of 2,000.
        """
        if self._next_catch_up is None or self._next_catch_up.done():
            self._next_catch_up = asyncio.ensure_future(self._catch_up_next())
        await asyncio.shield(self._next_catch_up)

    async def _catch_up_next(self) -> None:
        async with self._catching:
            self._next_catch_up = None  # from here on, an arriving caller needs the one after this
            await self._catch_up()

    async def _catch_up(self) -> None:
        version = await self._in_store(self.store.data_version)
        if version == self._data_version:
            return
        self._data_version = version
        now = self.clock()
        tokens, sessions = await self._in_store(lambda: (self.store.operator_tokens(), self.store.sessions(now)))
        ended = (self._operator_tokens - tokens) or (self._sessions.keys() - {s.id_sha256 for s in sessions})
        self._operator_tokens = tokens
        self._sessions = {s.id_sha256: s for s in sessions}
        if ended:
            self._access_changed()
        for ceremony in await self._in_store(self.store.ceremonies):
            async with self._locks.setdefault(ceremony, asyncio.Lock()):
                known = self._states[ceremony].seq if ceremony in self._states else 0
                rows = await self._in_store(partial(self._read_rows, ceremony, known))
                if rows:
                    self._fold(ceremony, rows)
                    self._publish(ceremony, [decode(r) for r in rows])

    async def healthy(self, within: float = 2.0) -> str | None:
        """None when the store answers within `within` seconds; else why not (for /healthz).

        The probe queues behind the commands in the store's one worker thread, so a store stuck
        on a command is reported too. A probe that times out still runs to its end in that thread:
        callers keep at most one in flight (web/health.py).
        """
        try:
            await asyncio.wait_for(self._in_store(self.store.data_version), within)
        except TimeoutError:
            return f"the event store did not answer within {within:g} s"
        except StoreError as exc:
            return str(exc)
        return None

    def stop_following(self) -> None:
        """End every follower (at shutdown), so long-lived streams return."""
        for queues in self._followers.values():
            for queue in queues:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)

    async def close(self) -> None:
        self.stop_following()
        if self._watcher is not None:
            self._watcher.cancel()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._io, self.store.close)
        self._io.shutdown(wait=True)
        self._render.shutdown(wait=True)

    # ---- queries ----

    def ceremonies(self) -> list[CeremonyState]:
        return sorted(self._states.values(), key=lambda s: (s.created_at, s.id))

    def get(self, ceremony: str) -> CeremonyState:
        try:
            return self._states[ceremony]
        except KeyError:
            raise UnknownCeremony(f"no ceremony '{ceremony}'") from None

    def head(self, ceremony: str) -> bytes:
        self.get(ceremony)
        return self._heads[ceremony]

    async def history(self, ceremony: str, after_seq: int = 0) -> list[Envelope]:
        self.get(ceremony)
        rows = await self._in_store(partial(self._read_rows, ceremony, after_seq))
        return [decode(row) for row in rows]

    async def render(self, definition: CeremonyDefinition, ceremony: str, render: Renderer) -> bytes:
        """Run a (slow, CPU-bound) renderer off the event loop, one at a time."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._render, render, definition, ceremony)

    async def document(self, sha256: str) -> bytes:
        return await self._in_store(lambda: self.documents.read(sha256))

    async def store_document(self, data: bytes) -> str:
        """Keep a PDF revision durably (before the event naming it is appended); its SHA-256."""
        return await self._in_store(lambda: self.documents.put(data))

    async def stored_events(self, ceremony: str) -> list[StoredEvent]:
        """The log rows as stored, with their hashes: what a record carries for offline checking."""
        self.get(ceremony)
        return await self._in_store(partial(self._read_rows, ceremony, 0))

    def operator_token_valid(self, token_sha256: str) -> bool:
        # Kept in memory so the check never touches SQLite from the event loop.
        return token_sha256 in self._operator_tokens

    async def issue_operator_link(self) -> str:
        token = new_token()
        digest = token_hash(token)
        await self._in_store(lambda: self.store.add_operator_token(digest, self.clock()))
        self._operator_tokens.add(digest)
        return token

    async def revoke_operator_links(self) -> int:
        """Revoke every operator link and its sessions; how many links were live.

        Other processes notice at their next catch-up.
        """
        count = await self._in_store(lambda: self.store.revoke_operator_tokens(self.clock()))
        self._operator_tokens.clear()
        for digest in [d for d, s in self._sessions.items() if s.operator_token_sha256 is not None]:
            del self._sessions[digest]
        self._access_changed()
        return count

    # ---- browser sessions (not events: no part of the record) ----

    def session(self, id_sha256: str) -> Session | None:
        """The session with this id hash while it lives (not revoked, not expired by the service's clock).

        Whether its link still holds is the caller's question. Kept in memory, like operator tokens.
        """
        session = self._sessions.get(id_sha256)
        return session if session is not None and session.live(self.clock()) else None

    async def open_session(
        self,
        expires_at: datetime,
        *,
        ceremony: str | None = None,
        invitation: str | None = None,
        operator_token_sha256: str | None = None,
    ) -> str:
        """Keep a new session for one link durably; its id (random, 256 bits), which exists only here."""
        session_id = new_token()
        now = self.clock()
        session = Session(token_hash(session_id), now, expires_at, ceremony, invitation, operator_token_sha256)
        await self._in_store(lambda: self.store.add_session(session))
        self._sessions = {d: s for d, s in self._sessions.items() if s.live(now)}
        crowd = sorted((s for s in self._sessions.values() if s.same_link(session)), key=lambda s: s.created_at)
        self._sessions[session.id_sha256] = session
        if len(crowd) >= SESSIONS_PER_LINK:
            await self.revoke_sessions([s.id_sha256 for s in crowd[: len(crowd) - SESSIONS_PER_LINK + 1]])
        return session_id

    async def revoke_sessions(self, ids_sha256: Collection[str]) -> int:
        """End these sessions (sign-out); how many were live. Followers that asked are woken."""
        ids = list(ids_sha256)
        if not ids:
            return 0
        count = await self._in_store(lambda: self.store.revoke_sessions(ids, self.clock()))
        for digest in ids:
            self._sessions.pop(digest, None)
        self._access_changed()
        return count

    # ---- commands ----

    async def create(self, definition: CeremonyDefinition, actor: str) -> CeremonyState:
        ceremony = new_ceremony_id()
        self._locks[ceremony] = lock = asyncio.Lock()
        async with lock:
            envelope = Envelope(
                ceremony=ceremony, seq=1, at=self.clock(), actor=actor, event=CeremonyDrafted(definition=definition)
            )
            row = link(GENESIS, envelope)
            await self._append(ceremony, [row])
            self._states[ceremony] = initial_state(envelope)
            self._heads[ceremony] = row.hash
            self._publish(ceremony, [envelope])
        return self._states[ceremony]

    async def execute(self, ceremony: str, command: Command, actor: str) -> Executed:
        for attempt in range(1, DECIDE_AGAIN + 1):
            try:
                async with self._lock(ceremony):
                    return await self._execute_locked(ceremony, command, actor)
            except SequenceConflict:
                # Another process appended first: learn what it wrote, then decide again (it may
                # keep appending, as a busy node does: a few times).
                if attempt == DECIDE_AGAIN:
                    raise
                self._data_version = -1
                await self.catch_up()
            except StoreError:
                raise
            except CeremonyError:
                # Refused on what this process knows. Another node (or `ceremony invite`) may have
                # written what makes it valid a moment ago (an enrollment the host approves here):
                # learn it, and decide again only if the ceremony moved on meanwhile.
                known = self.get(ceremony).seq
                self._data_version = -1
                await self.catch_up()
                if self.get(ceremony).seq == known or attempt == DECIDE_AGAIN:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def freeze(self, ceremony: str, actor: str, render: Renderer) -> Executed:
        """Render the original PDF, store it durably, then log its hash.

        The lock is held across rendering so no revision can slip in between
        the text that was rendered and the freeze that locks it.
        """
        async with self._lock(ceremony):
            state = self.get(ceremony)
            decide(
                state, Freeze(document_sha256="0" * 64, document_size=1), now=self.clock()
            )  # refuse early (409) before seconds of rendering
            pdf = await self.render(state.definition, ceremony, render)
            sha = await self._in_store(lambda: self.documents.put(pdf))
            return await self._execute_locked(ceremony, Freeze(document_sha256=sha, document_size=len(pdf)), actor)

    async def issue_link(
        self,
        ceremony: str,
        role: Role,
        actor: str,
        *,
        venue: str | None = None,
        signatory: str | None = None,
        label: str = "",
    ) -> IssuedLink:
        token = new_token()
        invitation = new_invitation_id()
        command = IssueInvitation(
            invitation=invitation,
            role=role,
            token_sha256=token_hash(token),
            label=label,
            venue=venue,
            signatory=signatory,
        )
        done = await self.execute(ceremony, command, actor)
        return IssuedLink(invitation, token, done.envelopes[0])

    # ---- following the log ----

    def follow(self, ceremony: str, after_seq: int = 0, *, access_news: bool = False) -> Follower:
        """Every event after `after_seq`, then live ones, without gaps or repeats.

        With `access_news`, `next()` also raises AccessChanged when sessions or operator
        links were revoked, so that a stream can check whether its reader may still read.
        """
        self.get(ceremony)
        return Follower(self, ceremony, after_seq, access_news=access_news)

    def _register(self, ceremony: str, queue: asyncio.Queue[Envelope | None]) -> None:
        self._followers.setdefault(ceremony, set()).add(queue)

    def _unregister(self, ceremony: str, queue: asyncio.Queue[Envelope | None]) -> None:
        self._followers.get(ceremony, set()).discard(queue)

    def _access_changed(self) -> None:
        for follower in list(self._access_followers):
            follower._news.set()

    # ---- internals ----

    def _lock(self, ceremony: str) -> asyncio.Lock:
        self.get(ceremony)
        return self._locks.setdefault(ceremony, asyncio.Lock())

    async def _execute_locked(self, ceremony: str, command: Command, actor: str) -> Executed:
        state = self.get(ceremony)
        now = self.clock()
        events = decide(state, command, now=now)
        envelopes = [
            Envelope(ceremony=ceremony, seq=state.seq + i + 1, at=now, actor=actor, event=e)
            for i, e in enumerate(events)
        ]
        rows: list[StoredEvent] = []
        head = self._heads[ceremony]
        for envelope in envelopes:
            row = link(head, envelope)
            rows.append(row)
            head = row.hash
        new_state = state
        for envelope in envelopes:
            new_state = evolve(new_state, envelope)  # fold before writing: an unfoldable event is never stored
        await self._append(ceremony, rows)
        self._states[ceremony] = new_state
        self._heads[ceremony] = head
        self._publish(ceremony, envelopes)
        return Executed(tuple(envelopes), new_state)

    def _read_rows(self, ceremony: str, after_seq: int) -> list[StoredEvent]:
        return list(self.store.read(ceremony, after_seq))

    async def _append(self, ceremony: str, rows: list[StoredEvent]) -> None:
        if not rows:
            return  # a command that decided nothing writes nothing
        if self._group is None:
            await self._in_store(lambda: self.store.append(ceremony, rows))
            return
        entry = self._group.add(ceremony, rows)
        try:
            await self._in_store(self._group.drain)
        except asyncio.CancelledError:
            self._group.withdraw(entry)  # not taken yet: never written; taken: as an append cancelled mid-way
            raise
        # The worker thread runs drains in order: by the end of ours, some drain has answered our entry.
        entry.done.result(timeout=0)

    async def _in_store(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._io, fn)
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(str(exc)) from exc

    def _publish(self, ceremony: str, envelopes: list[Envelope]) -> None:
        for queue in list(self._followers.get(ceremony, ())):
            for envelope in envelopes:
                try:
                    queue.put_nowait(envelope)
                except asyncio.QueueFull:
                    # End the slow follower; it resumes from its last seq when it reconnects.
                    log.warning(
                        "dropping a follower of ceremony %s that fell %d events behind", ceremony, FOLLOWER_QUEUE
                    )
                    self._followers[ceremony].discard(queue)
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(None)
                    break


class Follower:
    """A subscription to one ceremony's log: `async with service.follow(c) as f: await f.next(30)`.

    It registers for live events *before* reading the backlog, then skips live
    events the backlog already covered, so nothing falls between the two.
    """

    def __init__(self, service: CeremonyService, ceremony: str, after_seq: int, *, access_news: bool = False) -> None:
        self._service = service
        self._ceremony = ceremony
        self._last = after_seq
        self._queue: asyncio.Queue[Envelope | None] = asyncio.Queue(FOLLOWER_QUEUE)
        self._backlog: list[Envelope] = []
        self._access_news = access_news
        self._news = asyncio.Event()

    async def __aenter__(self) -> Follower:
        self._service._register(self._ceremony, self._queue)
        if self._access_news:
            self._service._access_followers.add(self)
        self._backlog = await self._service.history(self._ceremony, self._last)
        self._backlog.reverse()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._service._unregister(self._ceremony, self._queue)
        self._service._access_followers.discard(self)

    async def next(self, within: float | None = None) -> Envelope | None:
        """The next event; None once the service ends this follower; TimeoutError if none came;
        AccessChanged (only if asked for) when sessions or operator links were revoked meanwhile."""
        if self._news.is_set():
            self._news.clear()
            raise AccessChanged
        if self._backlog:
            envelope = self._backlog.pop()
            self._last = envelope.seq
            return envelope
        while True:
            item = await self._wait(within)
            if item is None:
                return None
            if item.seq > self._last:
                self._last = item.seq
                return item

    async def _wait(self, within: float | None) -> Envelope | None:
        if not self._access_news:
            return await asyncio.wait_for(self._queue.get(), within)
        getting = asyncio.ensure_future(self._queue.get())
        news = asyncio.ensure_future(self._news.wait())
        try:
            await asyncio.wait((getting, news), timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            news.cancel()
            getting.cancel()  # a get cancelled before it took an item leaves the item in the queue
        if getting.done() and not getting.cancelled():
            return getting.result()  # news, if any, waits for the next call
        if self._news.is_set():
            self._news.clear()
            raise AccessChanged
        raise TimeoutError
