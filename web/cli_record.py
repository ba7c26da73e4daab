"""`ceremony verify` and `ceremony renew`: the archivist's commands, offline but for renewal's TSA and CRLs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import warnings
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from signatures.errors import SignatureError
from signatures.record.container import open_archive
from signatures.record.pins import Pins, parse_fingerprint
from signatures.record.renew import distribution_points, fetch_crls, renew_record
from signatures.record.verifier import record_material, verify_record
from signatures.timestamping import RemoteTimestamper, TimestampSet


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = sub.add_parser("verify", help="check a sealed record (.zip) offline: every signature, token, hash, chain")
    verify.add_argument("record", type=Path, help="the record zip downloaded from the archive")
    _trust_options(verify)
    verify.add_argument(
        "--at", metavar="TIME", help="verify as of this moment (ISO 8601, e.g. 2046-12-31T00:00:00Z); default: now"
    )
    verify.add_argument(
        "--receipt",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a signatory's receipt to check it by",
    )

    renew = sub.add_parser("renew", help="add an archive timestamp and fresh validation data (docs/record.md)")
    renew.add_argument("record", type=Path)
    _trust_options(renew)
    renew.add_argument(
        "--tsa-url", action="append", required=True, metavar="URL", help="an RFC 3161 TSA to stamp with (repeatable)"
    )
    renew.add_argument(
        "--crl", type=Path, action="append", default=[], metavar="FILE", help="a current CRL (DER), instead of fetching"
    )
    renew.add_argument("--out", type=Path, help="where to write the renewed record (default: beside it, -renewed.zip)")


def _trust_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trust",
        metavar="ROOT",
        help="the ceremony root you trust: its PEM file, or its SHA-256 fingerprint (64 hex digits)",
    )
    parser.add_argument(
        "--tsa-trust",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="an external TSA's CA certificate(s), obtained independently (repeatable)",
    )


def read_file(path: Path) -> bytes:
    """The file's bytes, or a SignatureError a person can act on (the CLI prints it and exits 2)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SignatureError(f"cannot read {exc.filename}: {exc.strerror}") from None


def _pins(args: argparse.Namespace) -> Pins:
    tsa = tuple(read_file(p) for p in args.tsa_trust)
    if args.trust is None:
        return Pins(tsa_pems=tsa)
    fingerprint = parse_fingerprint(args.trust)
    if fingerprint is not None:
        return Pins(root_fingerprint=fingerprint, tsa_pems=tsa)
    return Pins(root_pem=read_file(Path(args.trust)), tsa_pems=tsa)


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SignatureError(f"--at {text!r} is not an ISO 8601 time such as 2046-12-31T00:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def quiet() -> None:
    """Only our own lines: libraries' log records and warnings are for their developers, not the archivist."""
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")


def run_verify(args: argparse.Namespace) -> int:
    """One line per check; exit 0 only when every check passes under a pinned root (2: not a record)."""
    quiet()
    data = read_file(args.record)
    pins, at = _pins(args), _moment(args.at)
    report = verify_record(data, pins, at=at, receipts=[read_file(p) for p in args.receipt])
    for line in report.lines():
        print(line)
    failed = len(report.failed)
    if report.ok:
        verdict = f"VALID at {at.isoformat(timespec='seconds')}"
    elif not report.pinned and not failed:
        verdict = "NOT VALID: no root pinned (--trust)"
    else:
        verdict = f"NOT VALID: {failed} of {len(report.checks)} checks failed"
    print(f"{args.record}: {verdict}")
    return 0 if report.ok else 1


def run_renew(args: argparse.Namespace) -> int:
    quiet()
    data = read_file(args.record)
    out = args.out or args.record.with_name(args.record.stem + "-renewed.zip")
    renewed = asyncio.run(_renew(data, _pins(args), args.tsa_url, [read_file(p) for p in args.crl]))
    out.write_bytes(renewed)
    print(f"renewed: {out} ({len(renewed) // 1024} KiB); check it with: ceremony verify {out} --trust …")
    return 0


async def _renew(data: bytes, pins: Pins, urls: list[str], crls: list[bytes]) -> bytes:
    async with aiohttp.ClientSession() as session:
        if not crls:
            files = open_archive(data).files
            crls = await fetch_crls(distribution_points(record_material(files).certificates), session)
        tsas = TimestampSet([RemoteTimestamper(url, session) for url in urls])
        return await renew_record(data, pins, tsas, datetime.now(UTC), crls=crls, fetch=False)
