"""The hash chain over a ceremony's log, without I/O.

    hash(n) = SHA-256(hash(n-1) || canonical(envelope n)),  hash(0) = 32 zero bytes

A stored event keeps its canonical bytes exactly as hashed, so verification
never depends on re-serialising parsed values: whatever is on disk is what is
checked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from .canonical import MAX_SAFE_INTEGER, canonicalize
from .errors import CeremonyError
from .events import Envelope

GENESIS = bytes(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """One row of the log as the storage adapter keeps it."""

    ceremony: str
    seq: int
    body: bytes  # RFC 8785 canonical JSON of the envelope
    prev_hash: bytes
    hash: bytes


def link(prev_hash: bytes, envelope: Envelope) -> StoredEvent:
    body = canonicalize(envelope.to_json())
    return StoredEvent(
        ceremony=envelope.ceremony,
        seq=envelope.seq,
        body=body,
        prev_hash=prev_hash,
        hash=hashlib.sha256(prev_hash + body).digest(),
    )


def decode(stored: StoredEvent) -> Envelope:
    return Envelope.from_json(json.loads(stored.body))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainBreak:
    """The first place a ceremony's chain does not hold, said for a person."""

    ceremony: str
    seq: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainReport:
    ceremony: str
    length: int
    head: bytes
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def check_link(ceremony: str, prev: bytes, expected_seq: int, row: StoredEvent) -> tuple[Envelope | None, str]:
    """The decoded envelope if `row` correctly follows `prev`, else (None, what is wrong).

    Shared by `log verify` and by replay at start-up, so the server never
    honours an event (say, a swapped token hash) that verification would reject.
    """
    if row.seq != expected_seq:
        what = "missing" if row.seq > expected_seq else "repeated or out of order"
        return None, f"sequence gap: expected event {expected_seq}, found {row.seq} ({what})"
    if row.prev_hash != prev:
        return None, (
            f"prev_hash {row.prev_hash.hex()[:16]}... does not match the hash of event "
            f"{row.seq - 1} ({prev.hex()[:16]}...)"
        )
    actual = hashlib.sha256(prev + row.body).digest()
    if actual != row.hash:
        return None, (
            f"stored hash {row.hash.hex()[:16]}... but the event body hashes to {actual.hex()[:16]}... "
            "(the event was altered)"
        )
    try:
        envelope = decode(row)
        recanonical = canonicalize(json.loads(row.body, parse_int=_json_int))
    except (CeremonyError, ValueError) as exc:  # an unreadable body is a break, named not raised
        return None, f"event body is unreadable: {exc}"
    if envelope.ceremony != ceremony or envelope.seq != row.seq:
        return None, f"body says ceremony {envelope.ceremony} seq {envelope.seq}"
    if recanonical != row.body:
        return None, "event body is not in RFC 8785 canonical form"
    return envelope, ""


def _json_int(text: str) -> int | float:
    # JCS writes a large whole double (1e20) as plain digits; read it back as the double it was.
    value = int(text)
    return value if abs(value) <= MAX_SAFE_INTEGER else float(value)


def verify_chain(ceremony: str, rows: Iterable[StoredEvent]) -> ChainReport:
    """Walk one ceremony's rows in sequence order; report the first broken link."""
    prev = GENESIS
    count = 0
    for row in rows:
        envelope, reason = check_link(ceremony, prev, count + 1, row)
        if envelope is None:
            seq = count + 1 if reason.startswith("sequence gap") else row.seq
            return ChainReport(
                ceremony=ceremony, length=count, head=prev, broken=ChainBreak(ceremony=ceremony, seq=seq, reason=reason)
            )
        prev = row.hash
        count += 1
    return ChainReport(ceremony=ceremony, length=count, head=prev, broken=None)
