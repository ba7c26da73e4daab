"""Moving a node's data to another store (`ceremony store copy`): every chain verified on the way.

Each ceremony's rows are checked link by link as they are read, written with `append` (so the
target's own sequence rule applies), read back from the target and checked again: what arrives is
what left, or the copy stops and says where. The target must hold none of the source's ceremonies,
so a copy never mixes two histories of one ceremony. Documents, records, operator links and
sessions (revoked ones too) follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..chain import verify_chain
from ..errors import StoreError
from .stores import Backing

BATCH = 500  # rows per append: one transaction each on the target


@dataclass(frozen=True, slots=True)
class Copied:
    ceremonies: int
    events: int
    documents: int
    records: int
    operator_links: int
    sessions: int


def copy_store(source: Backing, target: Backing, *, progress: Callable[[str], None] = lambda _: None) -> Copied:
    ceremonies = source.store.ceremonies()
    already = set(target.store.ceremonies()) & set(ceremonies)
    if already:
        raise StoreError(
            f"the target already holds {len(already)} of these ceremonies (e.g. {sorted(already)[0]}); "
            "copy into an empty store"
        )
    # Documents and records first: an event never names bytes the target lacks.
    documents = source.documents.names()
    for sha in documents:
        target.documents.put(source.documents.read(sha))
    sealed = source.records.sealed()
    for ceremony in sealed:
        data = source.records.read(ceremony)
        if data is not None:
            target.records.write(ceremony, data)
    events = 0
    for ceremony in ceremonies:
        rows = list(source.store.read(ceremony))
        report = verify_chain(ceremony, rows)
        if report.broken is not None:
            raise StoreError(
                f"ceremony {ceremony} is broken in the source at event {report.broken.seq}: {report.broken.reason}; "
                "nothing of it was copied (run `ceremony log verify`)"
            )
        for start in range(0, len(rows), BATCH):
            target.store.append(ceremony, rows[start : start + BATCH])
        arrived = list(target.store.read(ceremony))
        check = verify_chain(ceremony, arrived)
        if arrived != rows or check.broken is not None or check.head != report.head:
            raise StoreError(f"ceremony {ceremony} did not arrive intact in the target")
        events += len(rows)
        progress(f"ok      {ceremony}  {len(rows)} events  head {report.head.hex()}")
    tokens = source.store.operator_token_rows()
    for token in tokens:
        target.store.restore_operator_token(token)
    sessions = source.store.session_rows()
    for session in sessions:
        target.store.restore_session(session)
    return Copied(len(ceremonies), events, len(documents), len(sealed), len(tokens), len(sessions))
