"""Signing the MOU PDF with the signatory's browser key, one signatory at a time.

A PAdES signature covers the whole revision it is made over, so two signers
cannot prepare over the same revision: the second to finish would have signed
a file that no longer exists. Each ceremony therefore has a *turn*: `prepare`
waits for it (a queue of waiting requests, served in order) and holds it until
`finish` or until the lease runs out (the browser went away), when the next
signer goes. Sealing takes the same turn, so no signature is half-made when
the record is built.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from ceremony.commands import SignDocument
from ceremony.decide_document import check_may_sign
from ceremony.errors import CommandRefused
from ceremony.events import format_time
from ceremony.runtime.service import CeremonyService
from ceremony.state import CeremonyState, PdfSignature, current_pdf

from . import pades
from .appearance import SignatureBox, Stamp, VisibleSignature, stamp_for
from .errors import AlreadySigning, BadSubmission, PdfSigningError
from .keys import b64, b64decode, raw_to_der
from .pki import CeremonyPki
from .timestamping import TimestampSet, imprint, timestamp_others
from .turns import Turn, Turns

# Where a signatory's visible signature goes in a revision of the MOU (None: sign invisibly).
# The renderer that drew the boxes knows; web/mou.py hands it in.
BoxLocator = Callable[[bytes, str], SignatureBox | None]

LEASE_SECONDS = 30.0  # a browser signs in milliseconds; this only covers one that vanished
# The refusal of a finish whose session is not (or no longer) here: the signing page prepares again.
NO_SESSION = "no such signing session: it expired or was used; prepare the signature again"


def signature_texts(state: CeremonyState, signatory: str, position: int) -> pades.SignatureTexts:
    """The field and texts of the signature that is `position`-th in signing order (1-based)."""
    definition = state.definition
    person = definition.signatory(signatory)
    venue = definition.venue(person.venue)
    return pades.SignatureTexts(
        field_name=f"Signature-{position}-{signatory}",
        name=f"{person.name.en} ({definition.party(person.party).name.en})",
        location=f"{venue.name.en}, {venue.city.en}",
        reason=f"Consent to the MOU of ceremony {state.id} (document SHA-256 {state.document_sha256})",
    )


def signature_stamp(state: CeremonyState, signatory: str, serial: int, now: datetime) -> Stamp:
    """What the signatory's visible signature shows: name, time (`now`) and place in their party's language."""
    definition = state.definition
    person = definition.signatory(signatory)
    party = definition.party(person.party)
    city = definition.venue(person.venue).city
    return stamp_for(person.name.as_dict(), city.as_dict(), party.country, serial, now)


@dataclass(slots=True)
class _Pending:
    ceremony: str
    signatory: str
    invitation: str
    prepared: pades.PreparedSignature
    certificate_serial: str
    expiry: asyncio.TimerHandle
    deadline: float
    turn: Turn  # held from prepare until the session ends
    busy: bool = False


class PdfDesk:
    def __init__(
        self, service: CeremonyService, pki: CeremonyPki, tsas: TimestampSet, turns: Turns, locate: BoxLocator
    ) -> None:
        self.service, self.pki, self.tsas, self.turns = service, pki, tsas, turns
        self._locate = locate
        self._pending: dict[str, _Pending] = {}
        # (ceremony, signatory) with a prepare waiting for the turn or a session not finished: one each,
        # so that one signatory's parallel requests cannot queue ahead of everyone else.
        self._unfinished: set[tuple[str, str]] = set()

    async def prepare(self, ceremony: str, signatory: str, invitation: str) -> tuple[str, pades.PreparedSignature]:
        """Wait for the turn, then prepare a signature over the newest revision: (session id, prepared)."""
        # A refusal here costs no turn, no TSA stamp and no stored revision, and a revoked key
        # cannot hold the turn; the core asks the same again when the signature is logged.
        check_may_sign(self.service.get(ceremony), signatory)
        if (ceremony, signatory) in self._unfinished:
            raise AlreadySigning(
                "a signature of yours is already being prepared or waits for your key; "
                f"finish it, or ask again once it lapses (at most {LEASE_SECONDS:.0f} s)"
            )
        self._unfinished.add((ceremony, signatory))
        try:
            turn = await self.turns.acquire(ceremony)
        except BaseException:
            self._unfinished.discard((ceremony, signatory))
            raise
        try:
            state = self.service.get(ceremony)  # fresh: the previous signer has just finished
            enrollment = check_may_sign(state, signatory)
            assert enrollment.certificate is not None and enrollment.serial is not None
            certificate = x509.load_der_x509_certificate(b64decode(enrollment.certificate, "certificate", limit=8192))
            sha, _ = current_pdf(state)
            pdf = await self.service.document(sha)
            texts = signature_texts(state, signatory, len(state.pdf_signatures) + 1)
            box = self._locate(pdf, signatory)
            # An original rendered before the MOU had signature boxes is signed invisibly.
            visible = None
            if box is not None:
                stamp = signature_stamp(state, signatory, certificate.serial_number, self.service.clock())
                visible = VisibleSignature(box, stamp)
            prepared = await pades.prepare(pdf, certificate, [*self.pki.chain, self.pki.root], texts, visible)
        except BaseException:
            turn.release()
            self._unfinished.discard((ceremony, signatory))
            raise
        session = secrets.token_urlsafe(18)
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(LEASE_SECONDS, self._expire, session)
        self._pending[session] = _Pending(
            ceremony, signatory, invitation, prepared, enrollment.serial, expiry, loop.time() + LEASE_SECONDS, turn
        )
        return session, prepared

    async def finish(self, ceremony: str, invitation: str, session: str, raw_signature: str) -> PdfSignature:
        pending = self._pending.get(session)
        if pending is None or pending.ceremony != ceremony or pending.invitation != invitation or pending.busy:
            raise BadSubmission(NO_SESSION)
        signature = raw_to_der(b64decode(raw_signature, "signature"))
        try:
            # Revoked during the lease: refused before the TSAs stamp and a revision is stored for nothing.
            check_may_sign(self.service.get(ceremony), pending.signatory)
        except CommandRefused:
            self._end(session)
            raise
        pending.busy = True  # a second finish of the same session is refused, and the lease waits for us
        try:
            signed = await pades.finish(pending.prepared, signature, self.tsas.primary)
            # Every further TSA stamps what the first did (the signature value's SHA-256), before
            # anything is stored: a TSA that fails leaves no signature behind.
            more = await timestamp_others(self.tsas, imprint(signed.token))
        except PdfSigningError as exc:
            # A wrong value leaves the session open: the same browser may try again within the lease.
            pending.busy = False
            if asyncio.get_running_loop().time() >= pending.deadline:
                self._end(session)
            raise BadSubmission(str(exc)) from exc
        except BaseException:
            self._end(session)  # the TSA failed, say: nothing was signed, the next signer goes
            raise
        try:
            await self.service.store_document(signed.data)
            command = SignDocument(
                signatory=pending.signatory,
                field=pending.prepared.field_name,
                base_sha256=pending.prepared.base_sha256,
                sha256=signed.sha256,
                size=signed.size,
                certificate_serial=pending.certificate_serial,
                timestamp=format_time(signed.timestamp.astimezone(UTC)),
                timestamp_token=b64(signed.token),
                extra_timestamp_tokens=tuple(b64(t.der) for t in more),
            )
            done = await self.service.execute(ceremony, command, f"signatory:{invitation}")
        finally:
            self._end(session)
        return done.state.pdf_signatures[pending.signatory]

    def _expire(self, session: str) -> None:
        pending = self._pending.get(session)
        if pending is not None and not pending.busy:
            self._end(session)

    def _end(self, session: str) -> None:
        """Close a session and hand the turn on."""
        pending = self._pending.pop(session)
        pending.expiry.cancel()
        self._unfinished.discard((pending.ceremony, pending.signatory))
        pending.turn.release()
