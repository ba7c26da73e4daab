"""Record verification, the files: every one known, every one bound by a manifest, nothing added.

The sealed layer is what evidence.json's manifest lists; the evidence layer is
evidence.json and what is made over it; each renewal's manifest lists every
file before it. A file in the zip that no layer binds was added afterwards, and
a file a manifest lists must be there with its exact size and SHA-256 (the
signed PDF may only have grown by renewals, so an earlier layer checks its start).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from .parts import EVIDENCE, EVIDENCE_LAYER, SEALED, SIGNED_PDF, part_of, token_name
from .report import Mismatch, Report
from .shape import RENEWAL as RENEWAL_SHAPE
from .shape import check_shape
from .untrusted import is_canonical, load_json

RENEWAL_TYPE = "ceremony-renewal/1"
_RENEWAL = re.compile(r"renewals/([1-9][0-9]{0,2})(?:\.json|\.tsr|\.[1-9][0-9]{0,2}\.tsr|/.*)")


@dataclass(frozen=True, slots=True)
class Renewal:
    number: int
    body: dict[str, Any]
    raw: bytes
    tokens: tuple[bytes, ...]  # one per TSA that stamped it, in order


def check_files(report: Report, files: dict[str, bytes], evidence: dict[str, Any]) -> list[Renewal]:
    """Report on every file; returns the renewals in order (those whose files are complete)."""
    unknown = [name for name in files if part_of(name) is None]
    report.add(
        "record.files",
        "record.zip",
        not unknown,
        f"not part of a record: {', '.join(sorted(unknown))}" if unknown else f"{len(files)} files, each a known part",
    )
    renewals = read_renewals(report, files)
    grown = bool(renewals)
    report.run("record.manifest", EVIDENCE, lambda: _sealed_layer(files, evidence, grown=grown))
    report.run("record.evidence", EVIDENCE, lambda: _evidence_layer(files, evidence))
    for renewal in renewals:
        check = partial(_renewal_layer, files, renewal, renewal is renewals[-1])
        report.run("renewal.manifest", f"renewals/{renewal.number}.json", check)
    return renewals


def _entries(manifest: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(manifest, list):
        raise Mismatch("there is no manifest")
    entries: dict[str, dict[str, Any]] = {}
    for entry in manifest:
        name = entry["name"]
        if name in entries:
            raise Mismatch(f"the manifest lists {name} twice")
        entries[name] = entry
    return entries


def _matches(files: dict[str, bytes], entries: dict[str, dict[str, Any]], *, grown: bool) -> list[str]:
    problems = []
    for name, entry in entries.items():
        data = files.get(name)
        if data is None:
            problems.append(f"{name} is missing")
            continue
        if name == SIGNED_PDF and grown:
            data = data[: entry["size"]]  # renewals append to the PDF; its start must be what was bound
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{name} is not the file the manifest names (size or SHA-256 differ)")
    return problems


def _sealed_layer(files: dict[str, bytes], evidence: dict[str, Any], *, grown: bool) -> str:
    entries = _entries(evidence.get("manifest"))
    wrong_layer = [n for n in entries if (part_of(n) is None or part_of(n).layer != SEALED)]  # type: ignore[union-attr]
    sealed = {n for n in files if (p := part_of(n)) is not None and p.layer == SEALED}
    unlisted = sorted(sealed - set(entries))
    problems = _matches(files, entries, grown=grown)
    if wrong_layer:
        problems.append(f"the manifest lists files that are not sealed parts: {', '.join(wrong_layer)}")
    if unlisted:
        problems.append(f"not in the manifest, so added after the seal: {', '.join(unlisted)}")
    if problems:
        raise Mismatch("; ".join(problems))
    return f"all {len(entries)} sealed files match the manifest (size and SHA-256), and no other"


def _evidence_layer(files: dict[str, bytes], evidence: dict[str, Any]) -> str:
    count = len(evidence["trust"]["timestamping"])
    expected = {EVIDENCE, "evidence.p7s", *(token_name("evidence", i) for i in range(count))}
    present = {n for n in files if (p := part_of(n)) is not None and p.layer == EVIDENCE_LAYER}
    if present != expected:
        missing, extra = sorted(expected - present), sorted(present - expected)
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else []
        )
        raise Mismatch(f"the evidence layer should be {', '.join(sorted(expected))}: {'; '.join(parts)}")
    return f"evidence.json, its seal and {count} timestamp token(s), one per TSA it names"


def read_renewals(report: Report, files: dict[str, bytes]) -> list[Renewal]:
    numbers = sorted({int(m.group(1)) for n in files if (m := _RENEWAL.fullmatch(n))})
    renewals: list[Renewal] = []
    if numbers != list(range(1, len(numbers) + 1)):
        report.add("renewal.manifest", "renewals/", False, f"renewals must be numbered 1, 2, …; found {numbers}")
        return renewals
    for number in numbers:
        name = f"renewals/{number}.json"
        try:
            raw = files[name]
            body = load_json(raw)
            if not isinstance(body, dict) or body.get("type") != RENEWAL_TYPE or body.get("sequence") != number:
                raise Mismatch(f"{name} is not renewal {number} ({RENEWAL_TYPE})")
            if not is_canonical(body, raw):
                raise Mismatch(f"{name} is not in RFC 8785 canonical form")
            check_shape(body, RENEWAL_SHAPE, name)
            count = len(body["document_timestamps"])
            tokens = tuple(files[token_name(f"renewals/{number}", i)] for i in range(count))
        except (KeyError, ValueError, TypeError, Mismatch) as exc:
            report.add("renewal.manifest", name, False, f"renewal {number} is incomplete or unreadable: {exc}")
            return renewals
        renewals.append(Renewal(number, body, raw, tokens))
    return renewals


def _renewal_layer(files: dict[str, bytes], renewal: Renewal, last: bool) -> str:
    n = renewal.number

    def later(name: str) -> bool:
        m = _RENEWAL.fullmatch(name)
        if m is None:
            return False
        j = int(m.group(1))
        own_crl = name.startswith(f"renewals/{j}/")
        return j > n or (j == n and not own_crl)

    before = {name for name in files if not later(name)}
    entries = _entries(renewal.body.get("manifest"))
    problems = _matches(files, entries, grown=not last)
    if set(entries) != before:
        missing, extra = sorted(before - set(entries)), sorted(set(entries) - before)
        if missing:
            problems.append(f"not in renewal {n}'s manifest, so added after it: {', '.join(missing)}")
        if extra:
            problems.append(f"renewal {n}'s manifest lists files the record does not hold: {', '.join(extra)}")
    if problems:
        raise Mismatch("; ".join(problems))
    return f"all {len(entries)} files before renewal {n} match its manifest"
