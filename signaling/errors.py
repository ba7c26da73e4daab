"""Errors of the signaling layer; the WebSocket edge maps them to `error` messages or close codes.

SignalingError
├── ProtocolError     a message is malformed or not allowed (-> `error` message, code inside)
├── AccessRefused     the gate refused the socket: no ceremony, no capability, or not this
│                     one (-> close with `close_code` and reason)
└── RelayUnavailable  several nodes: the room's node cannot be reached or claimed now
                      (-> close TRY_AGAIN; the client reconnects)
"""

from __future__ import annotations


class SignalingError(Exception):
    """Root of the signaling layer's errors."""


class ProtocolError(SignalingError):
    def __init__(self, code: str, reason: str, ref: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.ref = ref  # the client's ref, when the message got far enough to have one


class AccessRefused(SignalingError):
    """Raised by the gate (hub.Gate) with NO_CEREMONY, UNAUTHENTICATED or FORBIDDEN."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason


class RelayUnavailable(SignalingError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Close codes (docs/signaling.md).
TOO_BIG = 1009  # RFC 6455's "message too big"
MOVED = 1012  # RFC 6455's "service restart": the room moved to another node; reconnect and resume
TRY_AGAIN = 1013  # RFC 6455's "try again later": this node cannot take the socket now
ENDED_BY_HOST = 4000
PROTOCOL_VIOLATION = 4400
UNAUTHENTICATED = 4401
FORBIDDEN = 4403
NO_CEREMONY = 4404
TIMEOUT = 4408
REPLACED = 4409
RATE_LIMITED = 4429
