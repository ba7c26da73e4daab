"""PDF signatures and the seal: the last part of the state machine, without I/O.

The shell makes each PAdES signature and, at the end, the record; the core
decides whether they may happen. Signatures form a chain of PDF revisions: each
one must be made over the revision the log says is current, which is what
keeps a later signer from silently dropping an earlier signature.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from .commands import Seal, SignDocument
from .consent import Decision
from .errors import AbsentSignatories, CommandRefused, InvalidCommand
from .events import CeremonySealed, DocumentSigned, Event
from .state import CeremonyState, Enrollment, PdfSignature, Phase, current_pdf, enrollment_with_serial, roll


def check_may_sign(state: CeremonyState, signatory: str) -> Enrollment:
    """The enrollment whose certificate signs `signatory`'s PDF signature, or why none may start.

    The PDF desk asks this before it takes the signing turn or asks a TSA, and
    `decide_sign_document` asks it again at the end: one rule, stated once.
    """
    if state.phase is not Phase.SIGNING:
        raise CommandRefused(f"the MOU can no longer be signed: the ceremony is {state.phase.value}")
    if not state.definition.has_signatory(signatory):
        raise InvalidCommand(f"no signatory '{signatory}' in this ceremony")
    consent = state.consents.get(signatory)
    if consent is None or consent.event.decision is not Decision.CONSENT:
        raise CommandRefused("only a signatory who has consented signs the MOU; give consent first")
    if signatory in state.pdf_signatures:
        raise CommandRefused("this signatory has already signed the MOU")
    enrollment = enrollment_with_serial(state, consent.event.certificate_serial)
    if enrollment is None or enrollment.certificate is None:
        raise CommandRefused("no certificate of this signatory matches the one the consent was given with")
    if enrollment.revoked:
        raise CommandRefused(
            "the certificate this consent was given with has been revoked; it signs nothing more "
            "(ask the host about a new key)"
        )
    return enrollment


def decide_sign_document(state: CeremonyState, c: SignDocument) -> list[Event]:
    enrollment = check_may_sign(state, c.signatory)
    if c.certificate_serial != enrollment.serial:
        raise CommandRefused("the PDF must be signed with the certificate the consent was given with")
    base, _ = current_pdf(state)
    if c.base_sha256 != base:
        raise CommandRefused("the signature was made over an older revision of the MOU; sign the current one")
    if any(p.event.field == c.field for p in state.pdf_signatures.values()) or not c.field:
        raise InvalidCommand(f"signature field '{c.field}' is empty or already used")
    if len(c.sha256) != 64 or c.size <= 0:
        raise InvalidCommand("a signed revision needs its SHA-256 and size")
    return [
        DocumentSigned(
            signatory=c.signatory,
            field=c.field,
            base_sha256=c.base_sha256,
            sha256=c.sha256,
            size=c.size,
            certificate_serial=c.certificate_serial,
            timestamp=c.timestamp,
            timestamp_token=c.timestamp_token,
            extra_timestamp_tokens=c.extra_timestamp_tokens,
        )
    ]


def decide_seal(state: CeremonyState, c: Seal) -> list[Event]:
    now = roll(state)
    if now.absent and not c.absent_ok:
        raise AbsentSignatories(now.absent)
    if c.log_length and c.log_length != state.seq:
        raise CommandRefused("the log moved on while the record was being built; seal again")
    return [
        CeremonySealed(
            signed=now.signed,
            declined=now.declined,
            absent=now.absent,
            signed_sha256=c.signed_sha256,
            signed_size=c.signed_size,
            evidence_sha256=c.evidence_sha256,
            record_sha256=c.record_sha256,
        )
    ]


def evolve_document_signed(state: CeremonyState, event: DocumentSigned) -> CeremonyState:
    signature = PdfSignature(event=event, recorded_at=state.updated_at)  # the envelope's time, set by evolve
    return replace(state, pdf_signatures=MappingProxyType({**state.pdf_signatures, event.signatory: signature}))
