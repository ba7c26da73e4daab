"""JSON views of ceremony state and events, shaped per role.

Nothing here ever includes a token or a token hash: hosts see which links
exist and whether they are revoked; only the response that issues a link
carries its token, once.
"""

from __future__ import annotations

from typing import Any

from ceremony.definition import definition_to_json
from ceremony.events import (
    CertificateRevoked,
    EnrollmentApproved,
    EnrollmentRejected,
    EnrollmentRequested,
    Envelope,
    InvitationIssued,
    InvitationRevoked,
    RecordingGap,
    Role,
    SegmentRecorded,
    format_time,
)
from ceremony.model import LocalizedText
from ceremony.safety import safety_code
from ceremony.state import CeremonyState, Consent, Enrollment, Invitation, PdfSignature, invitation_of

from .auth import Principal

# Links and enrollments (keys, devices, addresses) are the host's business; everyone sees
# signing progress (consent.recorded), without the signatory's address and device.
HOST_ONLY_EVENTS = (
    InvitationIssued,
    InvitationRevoked,
    EnrollmentRequested,
    EnrollmentApproved,
    EnrollmentRejected,
    CertificateRevoked,
)
PRIVATE_FIELDS = ("address", "device", "device_summary")


def _text(t: LocalizedText) -> dict[str, str]:
    return t.as_dict()


def summary(state: CeremonyState) -> dict[str, Any]:
    d = state.definition
    return {
        "id": state.id,
        "title": _text(d.title),
        "state": state.phase.value,
        "segment": state.segment,
        "start": d.schedule.start.isoformat(),
        "created_at": format_time(state.created_at),
        "updated_at": format_time(state.updated_at),
        "document_sha256": state.document_sha256,
    }


def detail(state: CeremonyState, principal: Principal, head: bytes) -> dict[str, Any]:
    d = definition_to_json(state.definition)
    body = summary(state)
    body.update(
        {
            "schedule": d["schedule"],
            "venues": d["venues"],
            "parties": d["parties"],
            "signatories": d["signatories"],
            "run_of_show": d["run_of_show"],
            "document_size": state.document_size,
            "cancel_reason": state.cancel_reason,
            "log": {"length": state.seq, "head": head.hex()},
            "signed_by": list(state.pdf_signatures),
            "seal": _seal_json(state),
            "you": {"role": principal.role.value if principal.role else "operator", "actor": principal.actor},
        }
    )
    if principal.invitation is not None:
        body["you"]["venue"] = principal.invitation.venue
        body["you"]["signatory"] = principal.invitation.signatory
    if sees_links(principal):
        body["invitations"] = [invitation_json(i) for i in state.invitations.values()]
    return body


def _seal_json(state: CeremonyState) -> dict[str, Any] | None:
    sealed = state.sealed
    if sealed is None or state.sealed_at is None:
        return None
    return {
        "sealed_at": format_time(state.sealed_at),
        "signed": list(sealed.signed),
        "declined": list(sealed.declined),
        "absent": list(sealed.absent),
        "signed_pdf_sha256": sealed.signed_sha256,
        "evidence_sha256": sealed.evidence_sha256,
        "record_sha256": sealed.record_sha256,
    }


def sees_links(principal: Principal) -> bool:
    return principal.is_operator or principal.role is Role.HOST


def invitation_json(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "role": invitation.role.value,
        "venue": invitation.venue,
        "signatory": invitation.signatory,
        "label": invitation.label,
        "issued_at": format_time(invitation.issued_at),
        "revoked_at": format_time(invitation.revoked_at) if invitation.revoked_at else None,
        "active": invitation.active,
    }


# The recorder's events: one per segment per track (docs/record.md, "Recording").
RECORDING_EVENTS = (SegmentRecorded, RecordingGap)


def envelope_json(envelope: Envelope, principal: Principal, *, recording: bool = False) -> dict[str, Any] | None:
    """An event for the timeline, or None if this principal may not see it.

    The recorder's events (one per segment per track, ~5,000 an hour) are left out unless
    `recording` asks for them: timelines and live pushes would drown in them, and the host
    console shows the recording from the state instead (GET .../broadcast).
    """
    event = envelope.event
    if isinstance(event, HOST_ONLY_EVENTS) and not sees_links(principal):
        return None
    if isinstance(event, RECORDING_EVENTS) and not recording:
        return None
    value = envelope.to_json()
    data = value["data"]
    data.pop("token_sha256", None)
    if not sees_links(principal):
        for name in PRIVATE_FIELDS:
            data.pop(name, None)
    if "definition" in data:
        # The timeline says that the definition changed; the definition itself is served elsewhere.
        definition = data.pop("definition")
        data["title"] = definition["title"]
    return value


def enrollment_json(enrollment: Enrollment, state: CeremonyState) -> dict[str, Any]:
    signatory = state.definition.signatory(enrollment.signatory)
    return {
        "id": enrollment.id,
        "signatory": enrollment.signatory,
        "name": signatory.name.as_dict(),
        "title": signatory.title.as_dict(),
        "party": signatory.party,
        "venue": signatory.venue,
        "fingerprint": enrollment.fingerprint,
        "device": enrollment.device,
        "device_summary": enrollment.device_summary,  # "Safari 17 on iPad"; "" when the device is not one we know
        "requested_at": format_time(enrollment.requested_at),
        "status": enrollment.status.value,
        "revoked": enrollment.revoked,
        "revoked_at": format_time(enrollment.revoked_at) if enrollment.revoked_at else None,
        "cause": enrollment.cause,
        "reason": enrollment.reason,
        "serial": enrollment.serial,
        "not_after": enrollment.not_after,
        # What the host checks before approving: the code the signatory reads aloud, and the link the key came through.
        "safety_code": safety_code(enrollment.fingerprint),
        "invitation": _link_json(state, enrollment.invitation),
        "approved_by": _actor_json(state, enrollment.approved_by) if enrollment.approved_by else None,
        "approved_at": format_time(enrollment.approved_at) if enrollment.approved_at else None,
        "code_confirmed": enrollment.code_confirmed,
    }


def _link_json(state: CeremonyState, invitation_id: str) -> dict[str, Any]:
    link = state.invitations.get(invitation_id)
    return {
        "id": invitation_id,
        "label": link.label if link else "",
        "active": link.active if link else False,
        "revoked_at": format_time(link.revoked_at) if link and link.revoked_at else None,
    }


def _actor_json(state: CeremonyState, actor: str) -> dict[str, Any]:
    link = invitation_of(state, actor)
    return {"actor": actor, "invitation": link.id if link else None, "label": link.label if link else None}


def consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "signatory": consent.event.signatory,
        "decision": consent.event.decision.value,
        "timestamp": consent.event.timestamp,
        "recorded_at": format_time(consent.recorded_at),
        "certificate_serial": consent.event.certificate_serial,
        "statement": consent.event.statement.to_json(),
        "signature": consent.event.signature,
        "timestamp_token": consent.event.timestamp_token,
    }


def pdf_signature_json(signature: PdfSignature) -> dict[str, Any]:
    return {
        "signatory": signature.event.signatory,
        "field": signature.event.field,
        "sha256": signature.event.sha256,
        "size": signature.event.size,
        "timestamp": signature.event.timestamp,
    }
