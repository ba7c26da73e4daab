"""Renewing a record before its newest timestamp can no longer be trusted (docs/record.md, "Renewal").

A renewal adds, without changing any earlier byte:

- to the PDF, as pyHanko's `ltaupdate` does: fresh validation data for its newest
  document timestamp, and a new document timestamp from each TSA given;
- `renewals/N/*.crl`: the CRLs as they stand now, for the tokens outside the PDF;
- `renewals/N.json`: a manifest of every file before it (the grown PDF included),
  with the new document timestamps' fields and times;
- `renewals/N.tsr` (and `N.2.tsr`, … one per TSA): tokens over that manifest.

Only a record that verifies now is renewed: a renewal vouches for what it covers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aiohttp
from cryptography import x509

from ceremony.canonical import canonicalize
from ceremony.events import format_time

from ..errors import SignatureError
from ..pki import crl_urls
from ..timestamping import TimestampSet
from .container import open_archive, write_archive
from .evidence import manifest
from .lta import dss_material, renew_pdf
from .parts import EVIDENCE, SIGNED_PDF, ordered, token_name
from .pins import Pins, resolve
from .report import Report
from .validation import Anchors, Material
from .verifier import record_material, verify_record
from .verify_files import RENEWAL_TYPE, read_renewals

FETCH_SECONDS = 15.0


class RenewalRefused(SignatureError):
    """The record does not verify (or cannot be renewed); the message lists why."""


def distribution_points(certificates: Iterable[x509.Certificate]) -> list[str]:
    """Every HTTP(S) CRL distribution point the certificates name, once each."""
    return list(dict.fromkeys(url for certificate in certificates for url in crl_urls(certificate)))


async def fetch_crls(urls: Sequence[str], session: aiohttp.ClientSession) -> list[bytes]:
    """Each CRL as its distribution point serves it now; a point that fails makes the renewal fail, loudly."""
    found = []
    for url in urls:
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=FETCH_SECONDS)) as response:
                if response.status != 200:
                    raise RenewalRefused(f"the CRL at {url} answered HTTP {response.status}")
                der = await response.read()
            x509.load_der_x509_crl(der)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise RenewalRefused(f"the CRL at {url} could not be fetched: {exc or type(exc).__name__}") from exc
        found.append(der)
    return found


@dataclass(frozen=True, slots=True)
class Renewable:
    """A record that verified at the renewal's time: its files, and the anchors it verified under."""

    files: dict[str, bytes]
    anchors: Anchors


def check_renewable(data: bytes, pins: Pins, now: dt.datetime) -> Renewable:
    """RenewalRefused, listing the failed checks, unless the record verifies at `now`.

    Before anything is fetched: until it verifies, a record's certificates are the uploader's
    word, and they would choose the addresses the renewal contacts.
    """
    report = verify_record(data, pins, at=now)
    if not report.ok:
        failed = "; ".join(f"{c.name} {c.subject}: {c.detail}" for c in report.failed) or "no check ran"
        raise RenewalRefused(f"only a record that verifies now is renewed; this one does not: {failed}")
    files = dict(open_archive(data).files)
    anchors = resolve(Report(), files, pins)
    assert anchors is not None  # it verified, so its root resolved
    return Renewable(files, anchors)


async def renew_record(
    data: bytes,
    pins: Pins,
    tsas: TimestampSet,
    now: dt.datetime,
    *,
    crls: Sequence[bytes] = (),
    fetch: bool = False,
) -> bytes:
    """The record with one more renewal; RenewalRefused if it does not verify at `now`.

    `crls`: current CRLs (DER) the caller obtained; `fetch`: let the PDF's validation fetch
    what is still missing for an external TSA.
    """
    return await renew_verified(check_renewable(data, pins, now), tsas, now, crls=crls, fetch=fetch)


async def renew_verified(
    record: Renewable, tsas: TimestampSet, now: dt.datetime, *, crls: Sequence[bytes] = (), fetch: bool = False
) -> bytes:
    """`renew_record` for a record `check_renewable` has already accepted."""
    files = dict(record.files)
    sealed = record_material(files)
    fresh = [c for c in dict.fromkeys(crls) if c not in sealed.crls]
    material = sealed.plus(Material(crls=tuple(fresh)))
    pdf, stamps = await renew_pdf(files[SIGNED_PDF], record.anchors, material, tsas.members, now, fetch=fetch)
    number = len(read_renewals(Report(), files)) + 1
    added = [c for c in dict.fromkeys([*fresh, *dss_material(pdf).crls]) if c not in sealed.crls]
    files[SIGNED_PDF] = pdf
    for crl in added:
        files[f"renewals/{number}/{hashlib.sha256(crl).hexdigest()[:32]}.crl"] = crl
    evidence = files[EVIDENCE]
    body = {
        "type": RENEWAL_TYPE,
        "ceremony": _ceremony(evidence),
        "sequence": number,
        "document_timestamps": [{"field": s.field, "time": format_time(s.time)} for s in stamps],
        "manifest": manifest(files),
    }
    raw = canonicalize(body)
    files[f"renewals/{number}.json"] = raw
    for i, token in enumerate(await tsas.timestamp(raw)):
        files[token_name(f"renewals/{number}", i)] = token.der
    return write_archive({name: files[name] for name in ordered(list(files))})


def _ceremony(evidence: bytes) -> str:
    return str(json.loads(evidence)["ceremony"]["id"])
