"""One RFC 3161 token as the record uses it: its imprint, its TSA's path when judged, its key's period.

A token proves its data existed at its time only while its TSA's certificate
can be trusted; a later timestamp that covers it fixes that moment. So each
token is judged at the time of the next timestamp over it (or at the
verification time, for the newest), and its own time must lie within the
period in which the TSA's key was allowed to sign.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from ..cms import check_token
from ..pki import TSA, fingerprint
from .report import Mismatch
from .validation import Anchors, Material, outside_key_use, validate


@dataclass(frozen=True, slots=True)
class Stamp:
    time: dt.datetime
    tsa: x509.Certificate
    anchor: x509.Certificate
    detail: str


async def check_stamp(
    token: bytes,
    *,
    judged_at: dt.datetime,
    anchors: Anchors,
    material: Material,
    data: bytes | None = None,
    digest: bytes | None = None,
) -> Stamp:
    """The token's proven time, once its signature, imprint and TSA hold; Mismatch (or CmsError) saying why not."""
    info = check_token(token, data=data, digest=digest)
    anchor = await validate(info.tsa, TSA, judged_at, anchors, material, info.certificates)
    period = outside_key_use(info.tsa, info.gen_time)
    if period is not None:
        start, end = period
        raise Mismatch(
            f"stamped at {info.gen_time.isoformat()}, outside the period in which the TSA's key could sign "
            f"({start.isoformat()} to {end.isoformat()})"
        )
    detail = (
        f"time {info.gen_time.isoformat()} by '{info.tsa.subject.rfc4514_string()}' (certificate valid until "
        f"{info.tsa.not_valid_after_utc:%Y-%m-%d}), judged at {judged_at.isoformat()} under {anchors.describe(anchor)}"
    )
    return Stamp(info.gen_time, info.tsa, anchor, detail)


def same_tsa(stamp: Stamp, expected: dict[str, str]) -> None:
    """The token is by the TSA evidence.json lists in this position (by certificate fingerprint)."""
    if fingerprint(stamp.tsa) != expected.get("fingerprint_sha256"):
        raise Mismatch(f"stamped by '{stamp.tsa.subject.rfc4514_string()}', not the TSA evidence.json lists here")
