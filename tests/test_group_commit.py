"""Group commit: appends of different ceremonies waiting together share one transaction.

On both stores (the `backend` fixture) and a real PostgreSQL. Grouping is made certain, not
hoped for: the service's store thread is held busy while the commands queue, as it is under
load, then let go. That grouping happened is read from the store's own count of committed
transactions, never from timing. The failures are real: another connection holding a seq,
PostgreSQL stopped while the group's transaction waits, a COMMIT whose answer never comes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import psycopg

from ceremony.chain import StoredEvent, decode, link
from ceremony.errors import SequenceConflict, StoreError
from ceremony.events import Role
from ceremony.runtime.service import CeremonyService, IssuedLink
from ceremony.runtime.store import GroupAppend
from tests.engines import Postgres, StoreBackend, store_heads
from web.demo.definition import demo_definition
from web.settings import utc_clock


def commits(service: CeremonyService) -> int:
    store = service.store
    assert isinstance(store, GroupAppend)
    return store.append_commits


async def until(condition: Callable[[], bool], what: str, within: float = 30) -> None:
    """Poll a state (not a duration): the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.02)


async def queued_together(service: CeremonyService, commands: Sequence[Awaitable[IssuedLink]]) -> list[Any]:
    """Run `commands` while the store thread is busy, let it go once all their appends wait; their outcomes.

    What a loaded node sees: commands of other ceremonies arriving while the store is writing.
    """
    gate = threading.Event()
    busy = asyncio.ensure_future(service._in_store(gate.wait))  # the store thread, held
    group = service._group
    assert group is not None
    tasks = [asyncio.ensure_future(c) for c in commands]
    await until(lambda: len(group._waiting) == len(tasks), "every append to wait")
    gate.set()
    await busy
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def created(service: CeremonyService, count: int) -> list[str]:
    return [(await service.create(demo_definition(), "operator")).id for _ in range(count)]


def next_row(head: StoredEvent, actor: str) -> StoredEvent:
    """A row that links onto `head` (a copy of its event, one seq on): the store checks links, not meaning."""
    envelope = decode(head)
    return link(head.hash, replace(envelope, seq=envelope.seq + 1, actor=actor))


def chains(backend: StoreBackend) -> dict[str, int]:
    """Every chain's length, each verified, read with a fresh connection."""
    return {c: length for c, (length, _) in store_heads(backend).items()}


async def three_and_their_store(backend: StoreBackend) -> tuple[list[str], GroupAppend]:
    """Three new ceremonies, and the store itself opened beside (no service in front of it)."""
    service = backend.service(utc_clock)
    try:
        ids = await created(service, 3)
    finally:
        await service.close()
    store = backend.backing().store
    assert isinstance(store, GroupAppend)
    return ids, store


async def test_commands_on_many_ceremonies_share_one_commit_and_all_land(backend: StoreBackend) -> None:
    service = backend.service(utc_clock)
    try:
        ids = await created(service, 16)
        before = commits(service)
        links = await queued_together(service, [service.issue_link(c, Role.OBSERVER, "host") for c in ids])
        assert all(isinstance(done, IssuedLink) and done.envelope.seq == 2 for done in links), links
        assert commits(service) == before + 1  # sixteen acknowledged commands, one transaction
        await service.issue_link(ids[0], Role.OBSERVER, "host")  # alone: committed at once, on its own
        assert commits(service) == before + 2
        invited = {c: [i.id for i in service.get(c).invitations.values() if i.role == Role.OBSERVER] for c in ids}
    finally:
        await service.close()
    assert chains(backend) == {c: 3 if c == ids[0] else 2 for c in ids}
    again = backend.service(utc_clock)  # a restart replays every grouped command
    try:
        assert {c: [i.id for i in again.get(c).invitations.values() if i.role == Role.OBSERVER] for c in ids} == invited
    finally:
        await again.close()


async def test_a_conflict_inside_a_group_fails_only_its_own_append(backend: StoreBackend) -> None:
    (x, y, z), store = await three_and_their_store(backend)
    try:
        heads = {c: list(store.read(c))[-1] for c in (x, y, z)}
        outcomes = store.append_group(
            [(x, [next_row(heads[x], "x")]), (y, [heads[y]]), (z, [next_row(heads[z], "z")])]  # y's seq 1 is taken
        )
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], SequenceConflict), outcomes
        assert store.append_commits == 1
    finally:
        store.close()
    assert chains(backend) == {x: 2, y: 1, z: 2}


async def test_an_entry_with_nothing_to_write_keeps_every_outcome_in_its_place(backend: StoreBackend) -> None:
    (x, y, z), store = await three_and_their_store(backend)
    try:
        heads = {c: list(store.read(c))[-1] for c in (x, z)}
        # y's conflict must still be told to y, not to the entry after the empty one.
        outcomes = store.append_group(
            [(x, [next_row(heads[x], "x")]), (z, []), (y, [list(store.read(y))[-1]]), (z, [next_row(heads[z], "z")])]
        )
        assert outcomes[0] is None and outcomes[1] is None and outcomes[3] is None
        assert isinstance(outcomes[2], SequenceConflict), outcomes
    finally:
        store.close()
    assert chains(backend) == {x: 2, y: 1, z: 2}


async def test_a_node_that_lost_a_race_inside_a_group_retries_that_command_only(backend: StoreBackend) -> None:
    """Two services on one store, as two nodes: the stale one's command is decided again, the others stand."""
    a = backend.service(utc_clock)
    b = backend.service(utc_clock)
    try:
        x, y, z = await created(a, 3)
        await b.catch_up()
        await b.issue_link(y, Role.OBSERVER, "b")  # a still believes y ends at seq 1
        before = commits(a)
        done = await queued_together(a, [a.issue_link(c, Role.OBSERVER, "a") for c in (x, y, z)])
        assert [d.envelope.seq for d in done] == [2, 3, 2], done
        assert commits(a) == before + 2  # x, z and y's refused try in one transaction; y's retry in another
    finally:
        await a.close()
        await b.close()
    assert chains(backend) == {x: 2, y: 3, z: 2}


# ---- PostgreSQL only: the primary key, a stopped server, a COMMIT without an answer ----


def ceremony_backends(postgres: Postgres) -> list[tuple[str, str]]:
    rows = postgres.psql(
        "postgres",
        "SELECT datname, wait_event FROM pg_stat_activity WHERE application_name = 'ceremony' AND state = 'active'",
    )
    return [tuple(line.split("|", 1)) for line in rows.splitlines() if "|" in line]  # type: ignore[misc]


def waiting_on(postgres: Postgres, database: str, event: str) -> bool:
    return (database, event) in ceremony_backends(postgres)


def holding(url: str, row: StoredEvent) -> psycopg.Connection[Any]:
    """Another node's transaction that has inserted `row` and not committed: its seq is taken, not yet seen."""
    other = psycopg.connect(url)
    other.execute(
        "INSERT INTO events (ceremony, seq, body, prev_hash, hash) VALUES (%s, %s, %s, %s, %s)",
        (row.ceremony, row.seq, row.body, row.prev_hash, row.hash),
    )
    return other


async def test_a_seq_another_node_commits_mid_group_fails_only_that_ceremony(postgres: Postgres) -> None:
    """The check passes, the insert waits on the other node's row, which then commits: the savepoint undoes only y."""
    url = postgres.new_database()
    backend = StoreBackend("postgresql", postgres.root, url, postgres)
    (x, y, z), store = await three_and_their_store(backend)
    try:
        heads = {c: list(store.read(c))[-1] for c in (x, y, z)}
        other = holding(url, next_row(heads[y], "the other node"))
        group = [(c, [next_row(heads[c], "this node")]) for c in (x, y, z)]
        writing = asyncio.ensure_future(asyncio.to_thread(store.append_group, group))
        database = url.rsplit("/", 1)[1]
        await until(lambda: waiting_on(postgres, database, "transactionid"), "the group to wait on the other's row")
        other.commit()
        other.close()
        outcomes = await writing
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], SequenceConflict), outcomes
        assert store.append_commits == 1
        assert decode(list(store.read(y))[-1]).actor == "the other node"
    finally:
        store.close()
    assert chains(backend) == {x: 2, y: 2, z: 2}


async def test_postgresql_stopped_mid_group_fails_every_command_and_applies_none(own_postgres: Postgres) -> None:
    url = own_postgres.new_database()
    database = url.rsplit("/", 1)[1]
    backend = StoreBackend("postgresql", own_postgres.root, url, own_postgres)
    service = backend.service(utc_clock)
    try:
        ids = await created(service, 4)
        other = holding(url, next_row(list(service.store.read(ids[-1]))[-1], "the other node"))
        commands = [service.issue_link(c, Role.OBSERVER, "host") for c in ids]  # the last one waits on `other`
        outcome = asyncio.ensure_future(queued_together(service, commands))
        # The group's INSERT has written three rows and waits on the fourth: its transaction is half-way.
        await until(lambda: waiting_on(own_postgres, database, "transactionid"), "the group to be half-way")
        await asyncio.to_thread(own_postgres.stop, "fast")
        failures = await outcome
        other.close()
        assert all(isinstance(f, StoreError) for f in failures), failures
        assert len({str(f) for f in failures}) == 1  # one failure, told to each caller
        await asyncio.to_thread(own_postgres.start)
        assert chains(backend) == dict.fromkeys(ids, 1)  # none of the group was applied
        again = await service.issue_link(ids[0], Role.OBSERVER, "host")  # the node connects again
        assert again.envelope.seq == 2
    finally:
        await service.close()


async def test_a_commit_whose_answer_is_lost_fails_every_caller_and_lands_whole(own_postgres: Postgres) -> None:
    """PostgreSQL stops while the group's COMMIT waits (on a synchronous standby that never comes).

    Every caller hears StoreError (503 at the edge), as an unanswered COMMIT does today; the
    transaction is whole either way (here flushed before the wait, so all of it is there after
    the restart), never a part of it.
    """
    url = own_postgres.new_database()
    database = url.rsplit("/", 1)[1]
    backend = StoreBackend("postgresql", own_postgres.root, url, own_postgres)
    service = backend.service(utc_clock)
    try:
        ids = await created(service, 4)
        own_postgres.psql("postgres", "ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        own_postgres.psql("postgres", "SELECT pg_reload_conf()")
        commands = [service.issue_link(c, Role.OBSERVER, "host") for c in ids]
        outcome = asyncio.ensure_future(queued_together(service, commands))
        await until(lambda: waiting_on(own_postgres, database, "SyncRep"), "the group's COMMIT to wait")
        assert commits(service) == len(ids)  # the four creations; the group's is not counted yet
        await asyncio.to_thread(own_postgres.stop, "fast")
        failures = await outcome
        assert all(isinstance(f, StoreError) for f in failures), failures
        assert len({str(f) for f in failures}) == 1  # one failure, told to each caller
        await asyncio.to_thread(own_postgres.start)
        own_postgres.psql("postgres", "ALTER SYSTEM RESET synchronous_standby_names")
        own_postgres.psql("postgres", "SELECT pg_reload_conf()")
    finally:
        await service.close()
    lengths = chains(backend)
    assert set(lengths.values()) in ({1}, {2}), lengths  # all of the group, or none of it
    assert len(lengths) == len(ids)
