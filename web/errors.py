"""Errors of the web edge, each carrying its HTTP status.

    WebError
    ├── BadRequest        400 (malformed JSON, bad fields: `fields` lists them)
    ├── Unauthenticated   401 (no capability presented)
    ├── Forbidden         403 (wrong, revoked or insufficient capability)
    ├── NotFound          404
    ├── Conflict          409 (the ceremony's state does not allow it)
    │   └── AbsentParties 409 `absent_parties` (a seal that would record signatories as absent)
    ├── TooLarge          413
    ├── TooSlow           408 (a body that trickled past its deadline; the connection closes)
    ├── TooManyRequests   429 (one link's or one client's share is used up; Retry-After)
    ├── UnsupportedEncoding 415 (a body sent compressed where only the plain bytes are accepted)
    ├── Busy              503 (a shared resource is taken for now; retry)
    └── StoreUnavailable  503 `store_unavailable` (the database is unreachable; nothing was done; Retry-After)

ceremony.errors and signatures.errors are mapped onto statuses and codes in middleware.py,
and nowhere else (signatures' NotARecord, for instance, is 400 `not_a_record`).
"""

from __future__ import annotations


class WebError(Exception):
    status = 500
    code = "error"
    close = False  # answer with Connection: close (the body was refused unread, and cannot be skipped safely)

    def __init__(self, reason: str, fields: list[dict[str, str | int]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields or []


class BadRequest(WebError):
    status = 400
    code = "bad_request"


class Unauthenticated(WebError):
    status = 401
    code = "unauthenticated"


class Forbidden(WebError):
    status = 403
    code = "forbidden"


class NotFound(WebError):
    status = 404
    code = "not_found"


class Conflict(WebError):
    status = 409
    code = "conflict"


class TooSlow(WebError):
    """408: a body arrived too slowly; the connection is closed, since the rest cannot be skipped."""

    status = 408
    code = "too_slow"
    close = True


class TooManyRequests(WebError):
    """429: one link or one client asked for more than its share; `Retry-After` says when to ask again."""

    status = 429
    code = "too_many_requests"

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Busy(WebError):
    status = 503
    code = "busy"


class StoreUnavailable(WebError):
    status = 503
    code = "store_unavailable"

    def __init__(self, reason: str, retry_after: float = 2.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class AbsentParties(Conflict):
    code = "absent_parties"


class NotRecorded(Conflict):
    """409 with its own code: the ceremony's definition has recording off (no broadcast, no media)."""

    code = "not_recorded"


class TooLarge(WebError):
    status = 413
    code = "too_large"


class UnsupportedEncoding(WebError):
    status = 415
    code = "unsupported_encoding"
    # aiohttp would inflate the unread body to skip it, and drop the connection when it cannot:
    # a client reusing that connection for its next request would see it reset.
    close = True
