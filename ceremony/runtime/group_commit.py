"""Group commit: appends of different ceremonies waiting at the same moment share one transaction.

The leader/follower scheme, with the store's one worker thread as the leader. Each append puts
its rows on the waiting list, then queues a drain on the worker thread. The first drain to run
takes everything waiting and commits it in one transaction (`GroupAppend.append_group`), so
appends that arrived while the thread was busy share one COMMIT and one flush; the later drains
find their entries done and return. No timer: an append that finds the thread idle is drained at
once, alone. Each caller is answered only after the COMMIT that holds its rows.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from ..chain import StoredEvent
from ..errors import StoreError
from .store import GroupAppend

MAX_GROUP = 64  # ceremonies per transaction; more wait for the next drain (a bound on one COMMIT's work)


@dataclass(eq=False, slots=True)
class Waiting:
    ceremony: str
    rows: Sequence[StoredEvent]
    done: Future[None] = field(default_factory=Future)


class GroupCommitter:
    """The waiting appends of one store; `drain` runs in the store's worker thread only."""

    def __init__(self, store: GroupAppend) -> None:
        self.store = store
        self._lock = threading.Lock()  # the list is filled on the event loop and emptied on the worker thread
        self._waiting: list[Waiting] = []

    def add(self, ceremony: str, rows: Sequence[StoredEvent]) -> Waiting:
        entry = Waiting(ceremony, rows)
        with self._lock:
            self._waiting.append(entry)
        return entry

    def withdraw(self, entry: Waiting) -> bool:
        """Take back an entry no drain has taken yet (its caller was cancelled): True if it was."""
        with self._lock:
            if entry in self._waiting:
                self._waiting.remove(entry)
                return True
        return False

    def drain(self) -> None:
        """Commit what is waiting, up to MAX_GROUP appends in one transaction, and answer each."""
        with self._lock:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
        if not group:
            return  # an earlier drain took this caller's entry
        try:
            outcomes = self.store.append_group([(entry.ceremony, entry.rows) for entry in group])
        except StoreError as exc:
            failure: BaseException = exc  # the transaction failed: every caller of the group hears so
        except OSError as exc:
            failure = StoreError(str(exc))
        except Exception as exc:  # a bug must reach the callers, not end in the worker thread unseen
            failure = exc
        else:
            for entry, outcome in zip(group, outcomes, strict=True):
                if outcome is None:
                    entry.done.set_result(None)
                else:
                    entry.done.set_exception(outcome)
            return
        for entry in group:
            entry.done.set_exception(_own_copy(failure))


def _own_copy(failure: BaseException) -> BaseException:
    """A StoreError of its own for each caller (one instance raised in many tasks would pile up tracebacks)."""
    if not isinstance(failure, StoreError):
        return failure
    copy = StoreError(str(failure))
    copy.__cause__ = failure.__cause__ or failure
    return copy
