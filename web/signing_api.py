"""Signing routes: challenges, enrollment, approval, consent (docs/api.md, "Signing")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ceremony.commands import RevokeCertificate
from ceremony.consent import DECISIONS, BadReason, consent_text, text_sha256
from ceremony.events import Role
from ceremony.model import LANGUAGES
from ceremony.state import Invitation, current_pdf
from signatures.keys import b64
from signatures.pdf_desk import LEASE_SECONDS
from signatures.record.receipts import receipt_json

from .api import _object, read_json
from .appkeys import CONSENTS, PDFS, SERVICE
from .auth import ALL_ROLES, Principal, ceremony_state, require
from .client import observe
from .errors import BadRequest, Conflict, Forbidden
from .pdf_nodes import PDF_NODES
from .views import consent_json, enrollment_json, pdf_signature_json

routes = web.RouteTableDef()
BASE = "/api/ceremonies/{ceremony}"


class NotDecided(Conflict):
    """409 with a code of its own, so the signing page can say it in the page's language."""

    code = "not_decided"


class BadDeclineReason(BadRequest):
    """400 with a code of its own: a decline's reason too long or with characters that may not be shown."""

    code = "bad_reason"


class CodeNotConfirmed(BadRequest):
    """400 with a code of its own: an approval must say the signatory read the key's safety code aloud."""

    code = "code_not_confirmed"


def _invitation(principal: Principal) -> Invitation:
    assert principal.invitation is not None  # require() gave a signatory's link
    return principal.invitation


def _signatory(request: web.Request) -> Principal:
    return require(request, [Role.SIGNATORY])


@routes.post(BASE + "/challenges")
async def new_challenge(request: web.Request) -> web.Response:
    principal = _signatory(request)
    body = _object(await read_json(request), {"purpose"})
    challenge = await request.app[CONSENTS].challenge(
        ceremony_state(request), _invitation(principal), str(body.get("purpose"))
    )
    return web.json_response({"challenge": challenge.value, "purpose": challenge.purpose}, status=201)


@routes.get(BASE + "/consent-text")
async def get_consent_text(request: web.Request) -> web.Response:
    principal = require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    lang = request.query.get("lang", "en")
    decision = request.query.get("decision", "consent")
    signatory_id = request.query.get("signatory") or (principal.invitation.signatory if principal.invitation else None)
    if lang not in LANGUAGES or decision not in DECISIONS:
        raise BadRequest("lang must be ko, zh or en and decision consent or decline")
    if signatory_id is None or not state.definition.has_signatory(signatory_id):
        raise BadRequest("name a signatory of this ceremony")
    if state.document_sha256 is None:
        raise Conflict("the ceremony is not frozen yet; there is nothing to consent to")
    text = consent_text(
        state.definition, state.definition.signatory(signatory_id), lang, state.document_sha256, decision
    )
    return web.json_response({"text": text, "sha256": text_sha256(text), "language": lang, "decision": decision})


@routes.post(BASE + "/enrollments")
async def enroll(request: web.Request) -> web.Response:
    principal = _signatory(request)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"public_key", "challenge", "signature"})
    enrollment, after = await request.app[CONSENTS].enroll(state, _invitation(principal), body, observe(request))
    return web.json_response(enrollment_json(enrollment, after), status=201)


@routes.get(BASE + "/enrollments")
async def list_enrollments(request: web.Request) -> web.Response:
    require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    return web.json_response({"enrollments": [enrollment_json(e, state) for e in state.enrollments.values()]})


@routes.post(BASE + "/enrollments/{enrollment}/approve")
async def approve(request: web.Request) -> web.Response:
    """Approve a key once its safety code, read aloud by the signatory on camera, matched (docs/api.md)."""
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"code_confirmed"}) if request.body_exists else {}
    if body.get("code_confirmed") is not True:
        raise CodeNotConfirmed(
            "approve a key only once the signatory has read its safety code aloud on camera and it matched "
            'the code shown for this enrollment; then send {"code_confirmed": true}',
            [{"field": "code_confirmed", "reason": "must be true"}],
        )
    enrollment = request.match_info["enrollment"]
    done = await request.app[CONSENTS].approve(state, enrollment, principal.actor, code_confirmed=True)
    return web.json_response(enrollment_json(done.state.enrollments[enrollment], done.state))


@routes.post(BASE + "/enrollments/{enrollment}/reject")
async def reject(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"reason"})
    enrollment = request.match_info["enrollment"]
    done = await request.app[CONSENTS].reject(state, enrollment, str(body.get("reason") or ""), principal.actor)
    return web.json_response(enrollment_json(done.state.enrollments[enrollment], done.state))


@routes.post(BASE + "/enrollments/{enrollment}/revoke")
async def revoke(request: web.Request) -> web.Response:
    """A signatory's key reported lost or stolen: its certificate goes on the CA's CRL from now on."""
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"cause", "reason"})
    enrollment = request.match_info["enrollment"]
    cause, reason = body.get("cause", "key_compromise"), body.get("reason", "")
    if not isinstance(cause, str) or not isinstance(reason, str):
        raise BadRequest("cause and reason must be strings")
    command = RevokeCertificate(enrollment=enrollment, cause=cause, reason=reason)
    after = (await request.app[SERVICE].execute(state.id, command, principal.actor)).state
    return web.json_response(enrollment_json(after.enrollments[enrollment], after))


@routes.get(BASE + "/me")
async def me(request: web.Request) -> web.Response:
    """A signatory's own standing: their enrollments, certificate and decision."""
    principal = _signatory(request)
    state = ceremony_state(request)
    assert principal.invitation is not None and principal.invitation.signatory is not None
    signatory = principal.invitation.signatory
    mine = [e for e in state.enrollments.values() if e.signatory == signatory]
    body: dict[str, Any] = {
        "signatory": signatory,
        "enrollments": [dict(enrollment_json(e, state), certificate=e.certificate) for e in mine],
        "consent": consent_json(state.consents[signatory]) if signatory in state.consents else None,
        "pdf_signature": pdf_signature_json(state.pdf_signatures[signatory])
        if signatory in state.pdf_signatures
        else None,
        "state": state.phase.value,
        "segment": state.segment,
    }
    return web.json_response(body)


@routes.get(BASE + "/receipt")
async def receipt(request: web.Request) -> web.Response:
    """The signatory's own receipt: what they signed, with what key, when; theirs to keep."""
    principal = _signatory(request)
    state = ceremony_state(request)
    assert principal.invitation is not None and principal.invitation.signatory is not None
    signatory = principal.invitation.signatory
    named = request.query.get("signatory", signatory)
    if named != signatory:
        raise Forbidden("a signatory link reads only its own receipt")
    if signatory not in state.consents:
        raise NotDecided("there is no receipt yet: it is written when this signatory signs or declines")
    # no-store: it names the signatory's certificate; a shared proxy has no business keeping it.
    return web.json_response(receipt_json(state, signatory), headers={"Cache-Control": "no-store"})


class NotSigned(Conflict):
    """409 with a code of its own: the signatory has not signed the PDF yet, so there is nothing of theirs to keep."""

    code = "not_signed"


@routes.get(BASE + "/documents/signed")
async def signed_document(request: web.Request) -> web.Response:
    """The newest revision of the MOU, which holds this signatory's signature (and every earlier one)."""
    principal = _signatory(request)
    state = ceremony_state(request)
    assert principal.invitation is not None and principal.invitation.signatory is not None
    if principal.invitation.signatory not in state.pdf_signatures:
        raise NotSigned("there is no signed PDF of yours yet: it exists once you have signed")
    sha256, _size = current_pdf(state)
    data = await request.app[SERVICE].document(sha256)
    return web.Response(
        body=data,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="mou-signed-{state.id}.pdf"',
            "Cache-Control": "no-store",
            "X-Document-SHA256": sha256,
        },
    )


@routes.post(BASE + "/consents")
async def give_consent(request: web.Request) -> web.Response:
    principal = _signatory(request)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"statement", "signature"})
    try:
        consent = await request.app[CONSENTS].consent(state, _invitation(principal), body, observe(request))
    except BadReason as exc:
        raise BadDeclineReason(str(exc), [{"field": "statement.reason", "reason": str(exc)}]) from None
    return web.json_response(consent_json(consent), status=201)


@routes.get(BASE + "/consents")
async def list_consents(request: web.Request) -> web.Response:
    require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    return web.json_response({"consents": [consent_json(c) for c in state.consents.values()]})


@routes.post(BASE + "/pdf-signatures")
async def prepare_pdf_signature(request: web.Request) -> web.Response:
    """Wait for this ceremony's signing turn, then return the signed attributes the browser key must sign."""
    principal = _signatory(request)
    state = ceremony_state(request)
    assert principal.invitation is not None and principal.invitation.signatory is not None
    session, prepared = await request.app[PDFS].prepare(
        state.id, principal.invitation.signatory, principal.invitation.id
    )
    body = {
        "session": request.app[PDF_NODES].session_id(session),  # with a bus, it names this node
        "to_sign": b64(prepared.to_sign),
        "field": prepared.field_name,
        "revision_sha256": prepared.base_sha256,
        "expires_in": LEASE_SECONDS,
    }
    return web.json_response(body, status=201)


@routes.post(BASE + "/pdf-signatures/{session}")
async def finish_pdf_signature(request: web.Request) -> web.Response:
    principal = _signatory(request)
    state = ceremony_state(request)
    invitation = _invitation(principal)
    assert invitation.signatory is not None
    body = _object(await read_json(request), {"signature"})
    signature = body.get("signature")
    if not isinstance(signature, str) or not signature:
        raise BadRequest("'signature' must be the base64 raw r||s ECDSA signature of to_sign")
    # On this node, or carried to the node that prepared it (web/pdf_nodes.py).
    done = await request.app[PDF_NODES].finish(
        state.id, invitation.signatory, invitation.id, request.match_info["session"], signature
    )
    return web.json_response(done, status=201)


@routes.get(BASE + "/pdf-signatures")
async def list_pdf_signatures(request: web.Request) -> web.Response:
    require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    return web.json_response({"signatures": [pdf_signature_json(p) for p in state.pdf_signatures.values()]})
