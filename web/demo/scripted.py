"""Scripted parties for `ceremony demo` and the tests: a signatory's device and the host, over the real HTTP API.

A ScriptedSignatory does what the signing page does (web/static/sign.js), with
a P-256 key made by `cryptography` whose signatures are turned into WebCrypto's
raw r||s form, so the server cannot tell it from a browser.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.canonical import canonicalize
from signatures.consent_desk import possession_message
from signatures.keys import der_to_raw

from ..errors import WebError


class ScriptError(WebError):
    """A scripted step failed (the server said no, or nothing came in time); the message says which."""

    code = "script_failed"


@dataclass(frozen=True, slots=True)
class Api:
    session: aiohttp.ClientSession
    base: str  # e.g. http://127.0.0.1:8080
    ceremony: str
    token: str

    def url(self, suffix: str) -> str:
        """`suffix` under this ceremony, or under /api/ceremonies itself when the ceremony is "" (creating one)."""
        return (
            f"{self.base}/api/ceremonies/{self.ceremony}{suffix}"
            if self.ceremony
            else f"{self.base}/api/ceremonies{suffix}"
        )

    def of(self, ceremony: str, token: str | None = None) -> Api:
        """The same session for another ceremony (and, given one, another link's token)."""
        return Api(self.session, self.base, ceremony, self.token if token is None else token)

    async def link(self, role: str, label: str, **extra: str) -> dict[str, Any]:
        """A new capability link of this ceremony (as the host or the operator): its url and token."""
        answer: dict[str, Any] = await self.call("POST", "/invitations", {"role": role, "label": label, **extra})
        return answer

    async def call(self, method: str, suffix: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201)) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(method, self.url(suffix), json=body, headers=headers) as response:
            answer = await response.json(content_type=None)
            if response.status not in ok:
                reason = answer.get("reason") if isinstance(answer, dict) else answer
                raise ScriptError(f"{method} {suffix}: HTTP {response.status}: {reason}")
            return answer


class ScriptedSignatory:
    def __init__(self, api: Api, signatory: str) -> None:
        self.api, self.signatory = api, signatory
        self.key = ec.generate_private_key(ec.SECP256R1())
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(spki).decode()

    def sign(self, data: bytes) -> str:
        """ECDSA P-256 / SHA-256 as WebCrypto returns it: raw r||s, base64."""
        return base64.b64encode(der_to_raw(self.key.sign(data, ec.ECDSA(hashes.SHA256())))).decode()

    async def challenge(self, purpose: str) -> str:
        answer = await self.api.call("POST", "/challenges", {"purpose": purpose})
        return str(answer["challenge"])

    async def enroll(self) -> str:
        challenge = await self.challenge("enrollment")
        message = possession_message(self.api.ceremony, self.signatory, challenge, self.public_key)
        body = {"public_key": self.public_key, "challenge": challenge, "signature": self.sign(message)}
        return str((await self.api.call("POST", "/enrollments", body))["id"])

    async def wait_for_certificate(self, poll: float = 0.2) -> None:
        while True:
            me = await self.api.call("GET", "/me")
            if any(e["status"] == "approved" and not e["revoked"] for e in me["enrollments"]):
                return
            await asyncio.sleep(poll)

    async def decide(self, decision: str = "consent", lang: str = "en", client_time: str = "") -> dict[str, Any]:
        text = await self.api.call("GET", f"/consent-text?lang={lang}&decision={decision}")
        state = await self.api.call("GET", "")
        me = await self.api.call("GET", "/me")
        person = next(s for s in state["signatories"] if s["id"] == self.signatory)
        statement = {
            "type": "ceremony-consent/1",
            "decision": decision,
            "ceremony": self.api.ceremony,
            "document_sha256": state["document_sha256"],
            "consent_text_sha256": text["sha256"],
            "language": lang,
            "party": person["party"],
            "signatory": me["signatory"],
            "venue": person["venue"],
            "challenge": await self.challenge("consent"),
            "client_time": client_time or "2020-05-29T15:30:00+09:00",
        }
        body = {"statement": statement, "signature": self.sign(canonicalize(statement))}
        answer: dict[str, Any] = await self.api.call("POST", "/consents", body)
        return answer

    async def sign_pdf(self) -> dict[str, Any]:
        """The PAdES step: the server prepares, this key signs the signed attributes, the server finishes."""
        prepared = await self.api.call("POST", "/pdf-signatures", {})
        to_sign = base64.b64decode(prepared["to_sign"])
        answer: dict[str, Any] = await self.api.call(
            "POST", f"/pdf-signatures/{prepared['session']}", {"signature": self.sign(to_sign)}
        )
        return answer
