"""Record verification, the evidence layer and the renewals: their tokens, the seal, and the times they prove.

Judged newest first: the last renewal's tokens at the verification time, each
earlier renewal's at the time the next one proves, evidence.json's tokens at the
first renewal's time (or at the verification time if there is none), and the
seal at the time evidence.json's first token proves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509

from ..cms import check_signed_data
from ..pki import SEAL, fingerprint
from .parts import EVIDENCE, token_name
from .report import Mismatch, Report
from .stamps import Stamp, check_stamp, same_tsa
from .validation import Anchors, Material, outside_key_use, validate
from .verify_files import Renewal


async def check_renewals(
    report: Report, renewals: list[Renewal], anchors: Anchors, material: Material, at: dt.datetime
) -> list[dt.datetime | None]:
    """Each renewal's proven time (its first token's), oldest first; None where its tokens fail."""
    times: list[dt.datetime | None] = [None] * len(renewals)
    judged_at = at
    for index in reversed(range(len(renewals))):
        renewal = renewals[index]
        stamps = []
        for i, token in enumerate(renewal.tokens):
            name = token_name(f"renewals/{renewal.number}", i)
            stamp = await _stamp(report, "renewal.timestamp", name, token, renewal.raw, judged_at, anchors, material)
            stamps.append(stamp)
        if stamps and stamps[0] is not None:
            times[index] = judged_at = stamps[0].time
    return times


async def _stamp(
    report: Report,
    check: str,
    name: str,
    token: bytes,
    data: bytes,
    judged_at: dt.datetime,
    anchors: Anchors,
    material: Material,
    expected: dict[str, str] | None = None,
) -> Stamp | None:
    found: list[Stamp] = []

    async def run() -> str:
        stamp = await check_stamp(token, judged_at=judged_at, anchors=anchors, material=material, data=data)
        if expected is not None:
            same_tsa(stamp, expected)
        found.append(stamp)
        return f"RFC 3161 token over {name.rsplit('.', 2)[0]}: {stamp.detail}"

    await report.run_async(check, name, run)
    return found[0] if found else None


async def check_evidence(
    report: Report,
    files: dict[str, bytes],
    evidence: dict[str, Any],
    anchors: Anchors,
    material: Material,
    judged_at: dt.datetime,
) -> tuple[dt.datetime | None, list[x509.Certificate | None]]:
    """Each configured TSA's token over evidence.json, then the seal.

    Returns evidence.json's proven time (its first token's) and the anchor each TSA's token rests
    on, by which every other item's tokens are matched to "one from each configured TSA".
    """
    body = files[EVIDENCE]
    stamps = []
    for i, expected in enumerate(evidence["trust"]["timestamping"]):
        name = token_name("evidence", i)
        stamps.append(
            await _stamp(
                report, "evidence.timestamp", name, files.get(name, b""), body, judged_at, anchors, material, expected
            )
        )
    proven = stamps[0].time if stamps and stamps[0] is not None else None
    await report.run_async("evidence.seal", "evidence.p7s", lambda: _seal(files, evidence, anchors, material, proven))
    return proven, [s.anchor if s is not None else None for s in stamps]


async def _seal(
    files: dict[str, bytes], evidence: dict[str, Any], anchors: Anchors, material: Material, at: dt.datetime | None
) -> str:
    if at is None:
        raise Mismatch("evidence.json has no valid timestamp, so there is no proven time to judge the seal at")
    signed = check_signed_data(files["evidence.p7s"], detached=files[EVIDENCE])
    anchor = await validate(signed.signer, SEAL, at, anchors, material, signed.certificates)
    period = outside_key_use(signed.signer, at)
    if period is not None:
        raise Mismatch(f"the seal's key could sign only from {period[0].isoformat()} to {period[1].isoformat()}")
    if fingerprint(signed.signer) != evidence["trust"]["seal"]["fingerprint_sha256"]:
        raise Mismatch("sealed by a certificate other than the one evidence.json names")
    return (
        f"sealed by '{signed.signer.subject.rfc4514_string()}', a seal certificate valid at {at.isoformat()} "
        f"under {anchors.describe(anchor)}"
    )
