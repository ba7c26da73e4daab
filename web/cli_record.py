"""`ceremony verify` and `ceremony renew`: the archivist's commands, offline but for renewal's TSA and CRLs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import stat
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from signatures.errors import SignatureError
from signatures.record.pins import Pins, parse_fingerprint, parse_moment

# The verifier and the renewal (pyHanko) load in the commands that use them: every `ceremony`
# command builds these parsers, and `ceremony venue-bot` must not pay for the PDF libraries.


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = sub.add_parser("verify", help="check a sealed record (.zip) offline: every signature, token, hash, chain")
    verify.add_argument("record", type=Path, help="the record zip downloaded from the archive")
    _trust_options(verify, required=False)
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
    verify.add_argument(
        "--media",
        type=Path,
        metavar="PATH",
        help="also check the recording: a record-media.zip, or a folder laid out as the media root",
    )

    renew = sub.add_parser("renew", help="add an archive timestamp and fresh validation data (docs/record.md)")
    renew.add_argument("record", type=Path)
    # Required: without a pinned root the record's own certificates would be taken on their word,
    # and would name the addresses renewal fetches CRLs from.
    _trust_options(renew, required=True)
    renew.add_argument(
        "--tsa-url", action="append", required=True, metavar="URL", help="an RFC 3161 TSA to stamp with (repeatable)"
    )
    renew.add_argument(
        "--crl", type=Path, action="append", default=[], metavar="FILE", help="a current CRL (DER), instead of fetching"
    )
    renew.add_argument("--out", type=Path, help="where to write the renewed record (default: beside it, -renewed.zip)")


def _trust_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--trust",
        required=required,
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
        return parse_moment(text)
    except ValueError as exc:
        raise SignatureError(f"--at {exc}") from None


def quiet() -> None:
    """Only our own lines: libraries' log records and warnings are for their developers, not the archivist."""
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")


def run_verify(args: argparse.Namespace) -> int:
    """One line per check; exit 0 only when every check passes under a pinned root (2: not a record)."""
    from signatures.record.verifier import verify_record

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
    media_ok = True if args.media is None else _verify_media(data, args.media)
    return 0 if report.ok and media_ok else 1


def _verify_media(record: bytes, path: Path) -> bool:
    """The media beside the record, held against the recording manifest in its evidence.json."""
    from signatures.record.container import DEFAULT_LIMITS, open_archive
    from signatures.record.parts import EVIDENCE
    from signatures.record.untrusted import load_json
    from signatures.record.verify_media import open_media, verify_media

    try:
        evidence = load_json(open_archive(record, DEFAULT_LIMITS).files[EVIDENCE])
    except (KeyError, ValueError):
        print(f"{path}: NOT CHECKED: the record's evidence.json cannot be read")
        return False
    if not path.exists():
        raise SignatureError(f"cannot read {path}: no such file or folder")
    with open_media(path) as media:
        report = verify_media(evidence, media)
    for line in report.lines():
        print(line)
    if report.deleted is not None:
        verdict = f"media deleted per retention ({report.deleted['deleted_at']}, {report.deleted['policy']})"
    elif report.ok:
        segments = sum(f.kind == "segment" for f in report.findings)
        verdict = f"MEDIA VALID: {segments} segments as the record's log bound them"
    else:
        verdict = f"MEDIA NOT VALID: {len(report.failed)} problems"
    print(f"{path}: {verdict}")
    return report.ok


def run_renew(args: argparse.Namespace) -> int:
    quiet()
    data = read_file(args.record)
    pins, crls = _pins(args), [read_file(p) for p in args.crl]
    out: Path = args.out or args.record.with_name(args.record.stem + "-renewed.zip")
    # Made before any TSA is asked: no stamp is spent on a renewal that could not be written.
    partial = _partial_beside(out)
    try:
        renewed = asyncio.run(_renew(data, pins, args.tsa_url, crls))
        _replace(out, partial, renewed)
    finally:
        partial.unlink(missing_ok=True)
    print(f"renewed: {out} ({len(renewed) // 1024} KiB); check it with: ceremony verify {out} --trust …")
    return 0


def _partial_beside(out: Path) -> Path:
    """An empty temporary file in `out`'s directory, so that it can replace `out` in one rename."""
    try:
        handle, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    except OSError as exc:
        raise SignatureError(f"cannot write {out}: {exc.strerror}") from None
    os.close(handle)
    return Path(name)


def _replace(out: Path, partial: Path, data: bytes) -> None:
    """`out` becomes `data` at once: never a half-written record, even when `out` is the record renewed."""
    try:
        mode = stat.S_IMODE(out.stat().st_mode) if out.exists() else 0o644  # mkstemp's 0600 is not meant
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        partial.chmod(mode)
        os.replace(partial, out)
    except OSError as exc:
        raise SignatureError(f"cannot write {out}: {exc.strerror}") from None


async def _renew(data: bytes, pins: Pins, urls: list[str], crls: list[bytes]) -> bytes:
    from signatures.record.arrival import CheckedTimestamper
    from signatures.record.renew import check_renewable, distribution_points, fetch_crls, renew_verified
    from signatures.record.verifier import record_material
    from signatures.timestamping import RemoteTimestamper, TimestampSet

    now = datetime.now(UTC)
    record = check_renewable(data, pins, now)  # before anything the record names is fetched
    async with aiohttp.ClientSession() as session:
        if not crls:
            crls = await fetch_crls(distribution_points(record_material(record.files).certificates), session)
        # A TSA's tokens are taken only under the anchors the archivist pinned (the root, --tsa-trust).
        stampers = [CheckedTimestamper(RemoteTimestamper(url, session), url, record.anchors, session) for url in urls]
        return await renew_verified(record, TimestampSet(stampers), now, crls=crls, fetch=False)
