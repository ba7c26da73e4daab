"""Wire messages of the signaling protocol (docs/signaling.md), parsed in this one place.

Client messages become frozen dataclasses (a tagged union on `type`); anything
else raises ProtocolError("bad_message", reason) and is never acted upon.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError

MAX_FRAME = 64 * 1024
MAX_SDP = 60 * 1024
MAX_CANDIDATE = 1024
PEER_ID = re.compile(r"^p-[0-9a-f]{12}$")
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


@dataclass(frozen=True, slots=True)
class Resume:
    session: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class Hello:
    resume: Resume | None
    client: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Relay:
    """offer / answer / candidate, addressed to one peer; `payload` is what is forwarded."""

    kind: str
    to: str
    payload: dict[str, Any]
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    nonce: str | None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Pong:
    nonce: str | None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Stage:
    segment: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Admit:
    peer: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    peer: str
    reason: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class End:
    reason: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    ref: str | None = None


ClientMessage = Hello | Relay | Ping | Pong | Stage | Admit | Reject | End | Leave

_FIELDS: dict[str, set[str]] = {
    "hello": {"resume", "client"},
    "offer": {"to", "sdp"},
    "answer": {"to", "sdp"},
    "candidate": {"to", "candidate"},
    "ping": {"nonce"},
    "pong": {"nonce"},
    "stage": {"segment"},
    "admit": {"peer"},
    "reject": {"peer", "reason"},
    "end": {"reason"},
    "leave": set(),
}


def _bad(reason: str) -> ProtocolError:
    return ProtocolError("bad_message", reason)


def _text(
    m: dict[str, Any], name: str, *, limit: int, required: bool = True, pattern: re.Pattern[str] | None = None
) -> str:
    value = m.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"'{name}' must be a non-empty string")
    if len(value) > limit:
        raise _bad(f"'{name}' is longer than {limit} characters")
    if pattern is not None and not pattern.match(value):
        raise _bad(f"'{name}' is not well-formed")
    return value


def parse(raw: str | bytes) -> ClientMessage:
    """One client frame -> a message, or ProtocolError naming what is wrong."""
    if len(raw) > MAX_FRAME:
        raise _bad(f"frame larger than {MAX_FRAME} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _bad("frame is not JSON") from None
    if not isinstance(value, dict):
        raise _bad("a message must be a JSON object")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise _bad(f"unknown message type {str(kind)[:40]!r}")
    ref = value.get("ref") if isinstance(value.get("ref"), str) and len(value["ref"]) <= 64 else None
    try:
        unknown = set(value) - _FIELDS[kind] - {"type", "ref"}
        if unknown:
            raise _bad(f"unknown fields for {kind}: {', '.join(sorted(k[:40] for k in unknown))}")
        ref = _text(value, "ref", limit=64, required=False) or None
        return _build(kind, value, ref)
    except ProtocolError as exc:
        exc.ref = ref or None  # so the client can match the error to what it sent
        raise


def _build(kind: str, m: dict[str, Any], ref: str | None) -> ClientMessage:
    match kind:
        case "hello":
            return Hello(_resume(m.get("resume")), _client(m.get("client")), ref)
        case "offer" | "answer":
            sdp = _text(m, "sdp", limit=MAX_SDP)
            return Relay(kind, _text(m, "to", limit=20, pattern=PEER_ID), {"sdp": sdp}, ref)
        case "candidate":
            return Relay("candidate", _text(m, "to", limit=20, pattern=PEER_ID), {"candidate": _candidate(m)}, ref)
        case "ping" | "pong":
            nonce = _text(m, "nonce", limit=64, required=False) or None
            return Ping(nonce, ref) if kind == "ping" else Pong(nonce, ref)
        case "stage":
            return Stage(_text(m, "segment", limit=48), ref)
        case "admit":
            return Admit(_text(m, "peer", limit=20, pattern=PEER_ID), ref)
        case "reject":
            return Reject(
                _text(m, "peer", limit=20, pattern=PEER_ID), _text(m, "reason", limit=200, required=False), ref
            )
        case "end":
            return End(_text(m, "reason", limit=200, required=False), ref)
    return Leave(ref)


def _resume(value: object) -> Resume | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"session", "last_seq"}:
        raise _bad("'resume' must be {session, last_seq}")
    session = _text(value, "session", limit=22, pattern=SESSION_ID)
    last_seq = value.get("last_seq")
    if isinstance(last_seq, bool) or not isinstance(last_seq, int) or not 0 <= last_seq < 2**31:
        raise _bad("'resume.last_seq' must be a whole number")
    return Resume(session, last_seq)


def _client(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise _bad("'client' must be an object")
    parts = [str(value.get(k, ""))[:40] for k in ("name", "version")]
    return " ".join(p for p in parts if p)


def _candidate(m: dict[str, Any]) -> dict[str, Any] | None:
    value = m.get("candidate", ...)
    if value is ...:
        raise _bad("'candidate' is required (null ends the candidates)")
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}:
        raise _bad("'candidate' must be {candidate, sdpMid, sdpMLineIndex} or null")
    line = value.get("candidate")
    if not isinstance(line, str) or len(line) > MAX_CANDIDATE:
        raise _bad("'candidate.candidate' must be a string")
    mid = value.get("sdpMid")
    if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
        raise _bad("'candidate.sdpMid' must be a short string or null")
    index = value.get("sdpMLineIndex")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 64):
        raise _bad("'candidate.sdpMLineIndex' must be a small whole number or null")
    ufrag = value.get("usernameFragment")
    if ufrag is not None and (not isinstance(ufrag, str) or len(ufrag) > 256):
        raise _bad("'candidate.usernameFragment' must be a short string or null")
    return {"candidate": line, "sdpMid": mid, "sdpMLineIndex": index, "usernameFragment": ufrag}


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(message: dict[str, Any]) -> str:
    return _ENCODER.encode(message)
