"""Wire messages of the signaling protocol (docs/signaling.md), both directions, in this one place.

Client messages (`ClientMessage`: what browsers and bots send) are parsed by
`parse` into frozen dataclasses, a tagged union on `type`; anything else raises
ProtocolError("bad_message", reason) and is never acted upon.

Server messages (`ServerMessage` subclasses, named in the past tense, as a
client sees them happen) are built by the room, the hub and the WebSocket edge,
written by `to_wire` / `encode`, and read back by bots with
`parse_server_message`. `to_wire` is the one place their JSON field names are
spelt; browser scripts (web/static/signal.js, rtc.js) depend on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ProtocolError

MAX_FRAME = 64 * 1024  # bytes of a text frame's UTF-8 payload, this many included (docs/signaling.md)
MAX_SDP = 60 * 1024
MAX_CANDIDATE = 1024
PEER_ID = re.compile(r"^p-[0-9a-f]{12}\Z")
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22}\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")

Wire = dict[str, Any]  # one message as its JSON object


# ---------------------------------------------------------------------------
# Client -> server


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

    def delivered(self, sender: str) -> DescriptionReceived | CandidateReceived:
        """The message peer `to` receives."""
        if self.kind == "candidate":
            return CandidateReceived(sender=sender, candidate=_candidate_init(self.payload["candidate"]))
        return DescriptionReceived(
            sender=sender, kind="offer" if self.kind == "offer" else "answer", sdp=self.payload["sdp"]
        )


@dataclass(frozen=True, slots=True)
class Ping:
    nonce: str | None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Pong:
    nonce: str | None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class StartSegmentRequest:
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


@dataclass(frozen=True, slots=True)
class MediaState:
    """Whether a media peer's microphone and camera are on: what its peers show on its tile.

    A remote track's `muted` flag does not say that the sender disabled it (a disabled track
    still sends silence or black frames), so the sender says it here.
    """

    audio: bool
    video: bool

    def to_wire(self) -> Wire:
        return {"audio": self.audio, "video": self.video}


@dataclass(frozen=True, slots=True)
class SetMedia:
    """`media`: the sender's microphone and camera were switched on or off."""

    state: MediaState
    ref: str | None = None


ClientMessage = Hello | Relay | Ping | Pong | StartSegmentRequest | Admit | Reject | End | Leave | SetMedia

_FIELDS: dict[str, set[str]] = {
    "hello": {"resume", "client"},
    "offer": {"to", "sdp"},
    "answer": {"to", "sdp"},
    "candidate": {"to", "candidate"},
    "ping": {"nonce"},
    "pong": {"nonce"},
    "segment": {"segment"},
    "admit": {"peer"},
    "reject": {"peer", "reason"},
    "end": {"reason"},
    "leave": set(),
    "media": {"audio", "video"},
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


def over_limit(raw: str | bytes) -> bool:
    """More than MAX_FRAME bytes as UTF-8 (a frame of exactly MAX_FRAME bytes is within the limit)."""
    if isinstance(raw, bytes) or len(raw) > MAX_FRAME:
        return len(raw) > MAX_FRAME
    # A character is 1 to 4 bytes: most frames are decided without encoding them.
    return len(raw) * 4 > MAX_FRAME and len(raw.encode("utf-8", "surrogatepass")) > MAX_FRAME


def parse(raw: str | bytes) -> ClientMessage:
    """One client frame -> a message, or ProtocolError naming what is wrong."""
    if len(raw) > MAX_FRAME // 4 and over_limit(raw):
        raise _bad(f"frame larger than {MAX_FRAME} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _bad("frame is not JSON") from None
    if not isinstance(value, dict):
        raise _bad("a message must be a JSON object")
    ref = value.get("ref") if isinstance(value.get("ref"), str) and len(value["ref"]) <= 64 else None
    try:
        # JSON may spell a lone UTF-16 surrogate ("\\ud800"): not Unicode text, so it could never be
        # sent on (as UTF-8) to anyone; refused here, it is never relayed nor kept for a resume.
        # Only an escape can spell one in text from a UTF-8 frame; bytes and other text are walked.
        if (isinstance(raw, bytes) or "\\u" in raw or not raw.isascii()) and _poisoned(value):
            ref = None if ref is None or _SURROGATE.search(ref) else ref
            raise _bad("a string holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text")
        kind = value.get("type")
        if not isinstance(kind, str) or kind not in _FIELDS:
            raise _bad(f"unknown message type {str(kind)[:40]!r}")
        unknown = set(value) - _FIELDS[kind] - {"type", "ref"}
        if unknown:
            raise _bad(f"unknown fields for {kind}: {', '.join(sorted(k[:40] for k in unknown))}")
        ref = _text(value, "ref", limit=64, required=False) or None
        return _build(kind, value, ref)
    except ProtocolError as exc:
        exc.ref = ref or None  # so the client can match the error to what it sent
        raise


def _poisoned(value: object) -> bool:
    """Some string in `value` (keys included) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _build(kind: str, m: dict[str, Any], ref: str | None) -> ClientMessage:
    match kind:
        case "hello":
            return Hello(resume=_resume(m.get("resume")), client=_client(m.get("client")), ref=ref)
        case "offer" | "answer":
            sdp = _text(m, "sdp", limit=MAX_SDP)
            return Relay(kind=kind, to=_text(m, "to", limit=20, pattern=PEER_ID), payload={"sdp": sdp}, ref=ref)
        case "candidate":
            return Relay(
                kind="candidate",
                to=_text(m, "to", limit=20, pattern=PEER_ID),
                payload={"candidate": _candidate(m)},
                ref=ref,
            )
        case "ping" | "pong":
            nonce = _text(m, "nonce", limit=64, required=False) or None
            return Ping(nonce=nonce, ref=ref) if kind == "ping" else Pong(nonce=nonce, ref=ref)
        case "segment":
            return StartSegmentRequest(segment=_text(m, "segment", limit=48), ref=ref)
        case "admit":
            return Admit(peer=_text(m, "peer", limit=20, pattern=PEER_ID), ref=ref)
        case "reject":
            return Reject(
                peer=_text(m, "peer", limit=20, pattern=PEER_ID),
                reason=_text(m, "reason", limit=200, required=False),
                ref=ref,
            )
        case "end":
            return End(reason=_text(m, "reason", limit=200, required=False), ref=ref)
        case "media":
            return SetMedia(state=MediaState(audio=_flag(m, "audio"), video=_flag(m, "video")), ref=ref)
    return Leave(ref=ref)


def _flag(m: dict[str, Any], name: str) -> bool:
    value = m.get(name)
    if not isinstance(value, bool):
        raise _bad(f"'{name}' must be true or false")
    return value


def _resume(value: object) -> Resume | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"session", "last_seq"}:
        raise _bad("'resume' must be {session, last_seq}")
    session = _text(value, "session", limit=22, pattern=SESSION_ID)
    last_seq = value.get("last_seq")
    if isinstance(last_seq, bool) or not isinstance(last_seq, int) or not 0 <= last_seq < 2**31:
        raise _bad("'resume.last_seq' must be a whole number")
    return Resume(session=session, last_seq=last_seq)


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


# ---------------------------------------------------------------------------
# Server -> client: the values inside messages


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A media peer as the server describes it to one viewer."""

    id: str
    role: str  # a Role's value; kept a string so that a newer server's roles do not break old clients
    venue: str | None
    name: Mapping[str, str]  # {ko, zh, en}
    # From the viewer's point of view: True when *that* peer is the polite one of the
    # pair (the server computes it as "its id sorts greater than the viewer's").
    polite: bool
    # Its microphone and camera as it last said (`media`); None until it has said.
    media: MediaState | None = None

    @property
    def label(self) -> str:
        return self.venue or self.role

    def to_wire(self) -> Wire:
        return {
            "id": self.id,
            "role": self.role,
            "venue": self.venue,
            "name": dict(self.name),
            "polite": self.polite,
            "media": self.media.to_wire() if self.media is not None else None,
        }


@dataclass(frozen=True, slots=True)
class IceServer:
    """One RTCIceServer of `welcome.ice_servers`."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)

    @classmethod
    def from_wire(cls, value: object) -> IceServer:
        if not isinstance(value, dict):
            raise TypeError("an ICE server must be an object")
        urls = value["urls"]
        urls = [urls] if isinstance(urls, str) else urls
        return cls(
            urls=tuple(_str(u) for u in urls),
            username=_opt_str(value.get("username")),
            credential=_opt_str(value.get("credential")),
        )

    def to_wire(self) -> Wire:
        wire: Wire = {"urls": list(self.urls)}
        if self.username is not None:
            wire["username"] = self.username
        if self.credential is not None:
            wire["credential"] = self.credential
        return wire


@dataclass(frozen=True, slots=True)
class IceCandidateInit:
    """A trickled candidate as browsers send it (RTCIceCandidateInit)."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None
    username_fragment: str | None = None

    def to_wire(self) -> Wire:
        """As a client sends it in `candidate` (no usernameFragment when there is none)."""
        wire: Wire = {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
        }
        if self.username_fragment is not None:
            wire["usernameFragment"] = self.username_fragment
        return wire


# ---------------------------------------------------------------------------
# Server -> client: the messages


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerMessage:
    # The server sequences what it would replay after a resume (the room adds `seq`
    # when it queues a message); `welcome`, `ping` and `pong` travel outside that
    # sequence, so `seq` may be None.
    seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcomed(ServerMessage):
    session: str
    peer: str
    role: str
    venue: str | None
    admitted: bool
    resumed: bool
    ice_servers: tuple[IceServer, ...]
    peers: tuple[PeerInfo, ...]
    ceremony: Mapping[str, Any]  # the ceremony's summary, as the HTTP API shows it
    heartbeat_interval: float
    heartbeat_timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerJoined(ServerMessage):
    peer: PeerInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerBack(ServerMessage):
    peer: PeerInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerLeft(ServerMessage):
    peer: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Knocked(ServerMessage):
    peer: PeerInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmittedToRoom(ServerMessage):
    peers: tuple[PeerInfo, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DescriptionReceived(ServerMessage):
    sender: str
    kind: Literal["offer", "answer"]
    sdp: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateReceived(ServerMessage):
    sender: str
    candidate: IceCandidateInit | None  # None: the sender has no more candidates


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaChanged(ServerMessage):
    """A media peer switched its microphone or camera on or off (relayed `media`)."""

    sender: str
    state: MediaState


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyUpdated(ServerMessage):
    event: Mapping[str, Any]
    state: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledged(ServerMessage):
    ref: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused(ServerMessage):
    code: str
    reason: str
    ref: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pinged(ServerMessage):
    nonce: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ponged(ServerMessage):
    nonce: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unrecognised(ServerMessage):
    """A type this client does not know; kept, so that newer servers do not break it."""

    type: str
    body: Mapping[str, Any]


# ---------------------------------------------------------------------------
# Writing server messages

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def to_wire(message: ServerMessage) -> Wire:
    """A server message as its JSON object: `type` first, `seq` (when sequenced) last."""
    wire = _fields(message)
    if message.seq is not None:
        wire["seq"] = message.seq
    return wire


# One sequenced message for one member is its text frame, which ends in `"seq":N}`: a str and
# nothing else. A session's outbox keeps up to 512 of them for resume, and str is an object the
# garbage collector never tracks, so no message kept counts towards a collection or is walked by
# one. Kept as (seq, text) tuples, growing outboxes made a young collection every second or so
# under load; kept as dicts, they were most of what full collections walked. Both pauses were
# the signaling latency tail (docs/benchmarks.md, issue 15).
_SEQ = ',"seq":'


def encode_head(wire: Mapping[str, Any]) -> str:
    """A message's text without its closing brace: shared by every member's frame of it."""
    return _ENCODER.encode(wire)[:-1]


def frame(head: str, seq: int) -> str:
    """One member's frame of a message: the shared head and its own `seq`, last."""
    return f"{head}{_SEQ}{seq}}}"


def seq_of(text: str) -> int:
    """The `seq` a frame ends in; ProtocolError when it ends in none (a frame kept on the bus)."""
    try:
        return int(text[text.rindex(_SEQ) + len(_SEQ) : -1])
    except ValueError:
        raise ProtocolError("bad_message", "a kept message without its seq") from None


def renumber(text: str, seq: int) -> str:
    """The same message under another `seq` (a restored session's first resume, room.py)."""
    return frame(text[: text.rindex(_SEQ)], seq)


def encode(message: ServerMessage | Mapping[str, Any]) -> str:
    """One text frame of a message outside any session's sequence (welcome, ping, pong)."""
    return _ENCODER.encode(to_wire(message) if isinstance(message, ServerMessage) else message)


def _fields(message: ServerMessage) -> Wire:
    match message:
        case Welcomed():
            return {
                "type": "welcome",
                "session": message.session,
                "peer": message.peer,
                "role": message.role,
                "venue": message.venue,
                "admitted": message.admitted,
                "resumed": message.resumed,
                "ice_servers": [s.to_wire() for s in message.ice_servers],
                "peers": [p.to_wire() for p in message.peers],
                "ceremony": dict(message.ceremony),
                "heartbeat": {"interval": message.heartbeat_interval, "timeout": message.heartbeat_timeout},
            }
        case PeerJoined() | PeerBack() | Knocked():
            return {"type": _PEER_TYPES[type(message)], "peer": message.peer.to_wire()}
        case PeerLeft():
            return {"type": "peer-left", "peer": message.peer, "reason": message.reason}
        case AdmittedToRoom():
            return {"type": "admitted", "peers": [p.to_wire() for p in message.peers]}
        case DescriptionReceived():
            return {"type": message.kind, "from": message.sender, "sdp": message.sdp}
        case CandidateReceived():
            return {"type": "candidate", "from": message.sender, "candidate": _relayed_candidate(message.candidate)}
        case MediaChanged():
            return {"type": "media", "from": message.sender, **message.state.to_wire()}
        case CeremonyUpdated():
            return {"type": "ceremony", "event": dict(message.event), "state": dict(message.state)}
        case Acknowledged():
            return {"type": "ack"} | _ref(message.ref)
        case Refused():
            return {"type": "error", "code": message.code, "reason": message.reason} | _ref(message.ref)
        case Pinged() | Ponged():
            return {"type": "ping" if isinstance(message, Pinged) else "pong", "nonce": message.nonce}
        case Unrecognised():
            return dict(message.body)
    raise TypeError(f"{type(message).__name__} is not a wire message")


_PEER_TYPES: dict[type[ServerMessage], str] = {PeerJoined: "peer-joined", PeerBack: "peer-back", Knocked: "knock"}


def _ref(ref: str | None) -> Wire:
    return {"ref": ref} if ref else {}


def _relayed_candidate(candidate: IceCandidateInit | None) -> Wire | None:
    # As the server validated it (protocol._candidate): all four keys, usernameFragment null when absent.
    if candidate is None:
        return None
    return {
        "candidate": candidate.candidate,
        "sdpMid": candidate.sdp_mid,
        "sdpMLineIndex": candidate.sdp_mline_index,
        "usernameFragment": candidate.username_fragment,
    }


# ---------------------------------------------------------------------------
# Reading server messages (bots)


def parse_server_message(raw: str | bytes) -> ServerMessage:
    """One server frame -> a message, or ProtocolError("bad_message") saying what is wrong.

    Lenient where a newer server may differ (unknown types, missing optional
    fields); strict where a wrong type would mislead the client.
    """
    try:
        value = json.loads(raw)
    except ValueError:
        raise _bad("server frame is not JSON") from None
    if not isinstance(value, dict):
        raise _bad("server frame is not a JSON object")
    try:
        return _build_server(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(f"server {value.get('type')!r} message: {exc!r}") from None


def _build_server(m: dict[str, Any]) -> ServerMessage:
    kind = m.get("type")
    seq = _opt_int(m.get("seq"))
    match kind:
        case "welcome":
            beat = m["heartbeat"]
            return Welcomed(
                seq=seq,
                session=_str(m["session"]),
                peer=_str(m["peer"]),
                role=_str(m["role"]),
                venue=_opt_str(m.get("venue")),
                admitted=bool(m["admitted"]),
                resumed=bool(m["resumed"]),
                ice_servers=tuple(IceServer.from_wire(s) for s in m.get("ice_servers") or ()),
                peers=tuple(_peer(p) for p in m.get("peers") or ()),
                ceremony=dict(m.get("ceremony") or {}),
                heartbeat_interval=float(beat["interval"]),
                heartbeat_timeout=float(beat["timeout"]),
            )
        case "peer-joined":
            return PeerJoined(seq=seq, peer=_peer(m["peer"]))
        case "peer-back":
            return PeerBack(seq=seq, peer=_peer(m["peer"]))
        case "knock":
            return Knocked(seq=seq, peer=_peer(m["peer"]))
        case "peer-left":
            peer = m["peer"]
            peer_id = peer["id"] if isinstance(peer, dict) else peer  # tolerate either shape
            return PeerLeft(seq=seq, peer=_str(peer_id), reason=str(m.get("reason", "")))
        case "admitted":
            return AdmittedToRoom(seq=seq, peers=tuple(_peer(p) for p in m.get("peers") or ()))
        case "offer" | "answer":
            return DescriptionReceived(seq=seq, sender=_str(m["from"]), kind=kind, sdp=_str(m["sdp"]))
        case "candidate":
            return CandidateReceived(seq=seq, sender=_str(m["from"]), candidate=_candidate_init(m.get("candidate")))
        case "media":
            return MediaChanged(seq=seq, sender=_str(m["from"]), state=_media(m))
        case "ceremony":
            return CeremonyUpdated(seq=seq, event=dict(m.get("event") or {}), state=dict(m.get("state") or {}))
        case "ack":
            return Acknowledged(seq=seq, ref=_opt_str(m.get("ref")))
        case "error":
            return Refused(seq=seq, code=str(m["code"]), reason=str(m.get("reason", "")), ref=_opt_str(m.get("ref")))
        case "ping":
            return Pinged(seq=seq, nonce=_opt_str(m.get("nonce")))
        case "pong":
            return Ponged(seq=seq, nonce=_opt_str(m.get("nonce")))
    if not isinstance(kind, str):
        raise _bad("server message without a type")
    return Unrecognised(seq=seq, type=kind, body=m)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _opt_int(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("seq must be a whole number")
    return value


def _peer(value: object) -> PeerInfo:
    if not isinstance(value, dict):
        raise TypeError("a peer must be an object")
    name = value.get("name") or {}
    return PeerInfo(
        id=_str(value["id"]),
        role=_str(value["role"]),
        venue=_opt_str(value.get("venue")),
        name={str(k): str(v) for k, v in name.items()} if isinstance(name, dict) else {},
        polite=bool(value.get("polite", False)),
        media=_media(value["media"]) if isinstance(value.get("media"), dict) else None,
    )


def _media(value: Mapping[str, Any]) -> MediaState:
    return MediaState(audio=bool(value.get("audio", True)), video=bool(value.get("video", True)))


def _candidate_init(value: object) -> IceCandidateInit | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError("a candidate must be an object or null")
    return IceCandidateInit(
        candidate=_str(value.get("candidate", "")),
        sdp_mid=_opt_str(value.get("sdpMid")),
        sdp_mline_index=_opt_int(value.get("sdpMLineIndex")),
        username_fragment=_opt_str(value.get("usernameFragment")),
    )
