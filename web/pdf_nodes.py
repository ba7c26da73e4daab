"""PDF signing across nodes (issue 14): a finish that reaches another node than its session's is carried there.

A signing session (signatures/pdf_desk.py) lives in the memory of the node that prepared it: it
holds pyHanko objects that cannot be written anywhere. With several nodes (`--bus`) its id names
that node, `<node>.<the desk's id>`, and a finish that reaches another node is carried to it over
the bus (ceremony.runtime.node_calls), run there by the same desk, and its answer returned. A
refusal there comes back as the same exception, raised again here, so this node's edge
(middleware.errors) answers with the status, code and reason the holder would have given.

A holder that is gone took its sessions with it: the finish is refused as for an expired session,
at once, and the page prepares again (the turn it held lapses with its lease). Without a bus,
session ids are the desk's own and nothing is carried.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ceremony.errors import (
    CeremonyError,
    CommandRefused,
    CorruptLog,
    InvalidCommand,
    LimitReached,
    StoreError,
    UnknownCeremony,
)
from ceremony.runtime.node_calls import CallRefused, NodeCalls, NodeGone, NodeSilent
from ceremony.runtime.service import CeremonyService
from signatures.errors import (
    AlreadySigning,
    BadSubmission,
    KeyRetired,
    NotARecord,
    PdfSigningFailed,
    SignatureError,
    TimestampError,
    TurnTaken,
)
from signatures.pdf_desk import NO_SESSION, PdfDesk

from .appkeys import BUS, PDFS, RECORDERS, SERVICE
from .errors import Busy, WebError
from .views import pdf_signature_json

Json = dict[str, Any]

FINISH = "pdf-signature.finish"
# The holder stamps with every TSA and commits: this is generous. A dead holder is noticed at once.
FINISH_SECONDS = 30.0
_NODE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # Bus node ids; anything else names no node

# The classes the edge maps errors by (middleware.errors). A refusal on the holder travels as the
# most specific of these it is an instance of, and is raised here again as that class with the same
# reason: the edge then gives the same status, code and reason. Each takes just its reason.
_CARRIED: dict[str, type[CeremonyError | SignatureError]] = {
    cls.__name__: cls
    for cls in (
        CeremonyError,
        InvalidCommand,
        CommandRefused,
        UnknownCeremony,
        LimitReached,
        StoreError,
        CorruptLog,
        SignatureError,
        BadSubmission,
        AlreadySigning,
        TurnTaken,
        TimestampError,
        KeyRetired,
        PdfSigningFailed,
        NotARecord,
    )
}


class FailedElsewhere(WebError):
    """500, as the holder answered when it failed unexpectedly (its log has the traceback)."""

    status = 500
    code = "internal"


class PdfNodes:
    """Session ids that name their node, and finishes carried to it."""

    def __init__(self, desk: PdfDesk, service: CeremonyService, calls: NodeCalls | None) -> None:
        self.desk, self.service, self.calls = desk, service, calls
        if calls is not None:
            calls.register(FINISH, self._finish_here)

    def session_id(self, session: str) -> str:
        """The id the client is given for one of this node's desk sessions."""
        return session if self.calls is None else f"{self.calls.node}.{session}"

    async def finish(self, ceremony: str, signatory: str, invitation: str, session: str, signature: str) -> Json:
        """Finish `session` where it lives; the PDF signature as the API shows it."""
        if self.calls is None:
            return pdf_signature_json(await self.desk.finish(ceremony, invitation, session, signature))
        holder, dot, own = session.rpartition(".")
        if not dot or holder == self.calls.node:
            return pdf_signature_json(await self.desk.finish(ceremony, invitation, own, signature))
        if not _NODE.fullmatch(holder):
            raise BadSubmission(NO_SESSION)
        payload = {"ceremony": ceremony, "invitation": invitation, "session": own, "signature": signature}
        try:
            return await self.calls.call(holder, FINISH, payload, FINISH_SECONDS)
        except CallRefused as exc:
            cls = _CARRIED.get(exc.kind)
            raise (FailedElsewhere(exc.reason) if cls is None else cls(exc.reason)) from None
        except NodeGone:
            return await self._holder_gone(ceremony, signatory)
        except NodeSilent as exc:
            raise Busy(f"{exc}: whether the signature was applied is not known yet; look again in a moment") from None

    async def _holder_gone(self, ceremony: str, signatory: str) -> Json:
        """The holder's sessions went with it; but had it logged this signature before it died, that is the answer."""
        await self.service.catch_up()
        signed = self.service.get(ceremony).pdf_signatures.get(signatory)
        if signed is None:
            raise BadSubmission(NO_SESSION)
        return pdf_signature_json(signed)

    async def _finish_here(self, payload: Json) -> Json:
        """A finish another node carried here, run as if its request had reached this node."""
        try:
            await self.service.catch_up()  # as every API request here does first (middleware.caught_up)
            done = await self.desk.finish(
                str(payload["ceremony"]), str(payload["invitation"]), str(payload["session"]), str(payload["signature"])
            )
        except (CeremonyError, SignatureError) as exc:
            kind = next((c.__name__ for c in type(exc).__mro__ if _CARRIED.get(c.__name__) is c), "internal")
            raise CallRefused(kind, str(exc)) from exc
        return pdf_signature_json(done)


PDF_NODES = web.AppKey("pdf_nodes", PdfNodes)


async def across_nodes(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context after the service's: with a bus, this node serves finishes and carries
    them, and serves other nodes' requests to stop a recorder it runs (web/recording.py)."""
    calls = NodeCalls(app[BUS]) if BUS in app else None
    app[PDF_NODES] = PdfNodes(app[PDFS], app[SERVICE], calls)
    if calls is not None:
        app[RECORDERS].serve_calls(calls)
        await calls.start()
    yield
    if calls is not None:
        await calls.close()
