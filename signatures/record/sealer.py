"""Sealing: the B-LTA PDF, evidence.json, its tokens and CMS seal, the record zip on disk, then the log.

Order matters as it does at the signing desk: every file is made and written
durably first, and `ceremony.sealed` (which names their hashes) is appended
last, so the log never points at a record that a crash lost. The ceremony's
signing turn is held throughout, so no PDF signature is half-made meanwhile;
if anything else reaches the log while the record is built, the core refuses
the seal and the record is built again from the new log. A seal key past its
use period is refused before any of this (`check_seal_key`): the host is told
to restart the server, which replaces the key, instead of getting a record
whose seal could never be verified.
"""

from __future__ import annotations

import asyncio
import hashlib

from ceremony.commands import Seal
from ceremony.core import decide
from ceremony.errors import CommandRefused
from ceremony.runtime.service import CeremonyService
from ceremony.runtime.store import Records
from ceremony.state import CeremonyState, current_pdf

from ..turns import Turns
from .build import Record, SealKit, assemble, seal_document

ATTEMPTS = 3


class Sealer:
    def __init__(self, service: CeremonyService, kit: SealKit, turns: Turns, records: Records) -> None:
        self.service, self.kit, self.turns, self.records = service, kit, turns, records

    async def seal(self, ceremony: str, actor: str, *, absent_ok: bool) -> CeremonyState:
        decide(
            self.service.get(ceremony), Seal(absent_ok=absent_ok), now=self.service.clock()
        )  # refuse now, before any work
        lock = await self.turns.acquire(ceremony)
        try:
            for attempt in range(ATTEMPTS):
                record = await self.build(self.service.get(ceremony))
                await asyncio.to_thread(self.records.write, ceremony, record.zip)
                command = Seal(
                    absent_ok=absent_ok,
                    log_length=record.log_length,
                    signed_sha256=record.signed_sha256,
                    signed_size=record.signed_size,
                    evidence_sha256=record.evidence_sha256,
                    record_sha256=hashlib.sha256(record.zip).hexdigest(),
                )
                try:
                    return (await self.service.execute(ceremony, command, actor)).state
                except CommandRefused:
                    if attempt == ATTEMPTS - 1 or self.service.get(ceremony).seq == record.log_length:
                        raise  # refused for a reason other than the log moving on
        finally:
            lock.release()
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def build(self, state: CeremonyState) -> Record:
        """The record of `state` (the log as it is now), with fresh validation data and document timestamps."""
        sha, _ = current_pdf(state)
        pdf = await self.service.document(sha)
        sealed = await seal_document(pdf, state, self.kit, self.service.clock())
        await self.service.store_document(sealed.data)
        # Events may have come meanwhile (a link issued, a segment started; not a PDF signature: we hold
        # the turn). The record describes the newest state; its rows are stored before it is
        # published, so reading them after taking it finds them all (and perhaps newer ones, cut).
        state = self.service.get(state.id)
        rows = [row for row in await self.service.stored_events(state.id) if row.seq <= state.seq]
        return await assemble(state, rows, sealed, self.kit)
