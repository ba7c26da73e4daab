"""Record verification, the log: its hash chain, a replay through the ceremony core, and the order of the times.

The log is the source of every summary evidence.json gives: the roster, each
decision with its address and device and the time it was recorded, each PDF
signature, who signed, declined or was absent. So the verifier replays
events.jsonl through the same state machine the server runs, rebuilds those
parts of evidence.json from the replayed state, and compares them exactly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ceremony.chain import verify_chain
from ceremony.core import evolve, initial_state
from ceremony.errors import CeremonyError
from ceremony.events import Envelope, format_time, parse_time
from ceremony.state import CeremonyState

from .evidence import FROM_LOG, from_log, parse_events_jsonl
from .report import Report
from .untrusted import load_json
from .validation import TOLERANCE
from .verify_pdf import PdfResult

SKEW = dt.timedelta(minutes=2)  # between a TSA's clock and the server's, whose times the log records


@dataclass(frozen=True, slots=True)
class LogFacts:
    state: CeremonyState
    frozen_at: dt.datetime | None
    last_at: dt.datetime  # the last event before the seal


def check_log(report: Report, files: dict[str, bytes], evidence: dict[str, Any]) -> LogFacts | None:
    """Chain, head and length; then the replay, compared with evidence.json. None if the log is unusable."""
    ceremony = evidence["ceremony"]["id"]
    try:
        rows = parse_events_jsonl(files.get("events.jsonl", b""))
    except (ValueError, KeyError, TypeError) as exc:
        report.add("log.chain", "events.jsonl", False, f"unreadable: {exc}")
        return None
    chain = verify_chain(ceremony, rows)
    if chain.broken is not None:
        report.add("log.chain", "events.jsonl", False, f"event {chain.broken.seq}: {chain.broken.reason}")
        return None
    log = evidence["log"]
    ok = chain.length == log["length"] and chain.head.hex() == log["head"] and len(rows) == chain.length
    detail = f"{chain.length} events, head {chain.head.hex()}"
    report.add(
        "log.chain",
        "events.jsonl",
        ok,
        detail if ok else f"{detail}; evidence.json says {log['length']} events, head {log['head']}",
    )
    try:
        envelopes = [Envelope.from_json(load_json(row.body)) for row in rows]
        state = initial_state(envelopes[0])
        for envelope in envelopes[1:]:
            state = evolve(state, envelope)
        expected = from_log(state, rows)
    except (CeremonyError, ValueError, KeyError, TypeError, IndexError) as exc:
        report.add("log.replay", "events.jsonl", False, f"the ceremony core does not accept this log: {exc}")
        return None
    # Each key's approval has a check of its own (log.approvals), so a reader sees who approved which key.
    approvals = {s["id"]: s.pop("approval") for s in expected["signatories"]}
    stated = {k: evidence[k] for k in FROM_LOG if k in evidence}
    projected = _project(stated, expected)
    # A part the log does not give (a recording manifest in the record of an unrecorded ceremony) is a
    # difference too, not something the projection may drop.
    projected.update({k: v for k, v in stated.items() if k not in expected})
    differences = list(_differences(expected, projected))
    shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
    report.add(
        "log.evidence",
        "events.jsonl",
        not differences,
        shown
        or (
            f"replayed through the ceremony core: the roster, {len(state.consents)} decisions with their times, "
            f"addresses and devices, {len(state.pdf_signatures)} PDF signatures and every status "
            "are as evidence.json says" + _recorded(expected)
        ),
    )
    check_approvals(report, evidence, approvals)
    frozen = expected["ceremony"]["frozen_at"]
    return LogFacts(state, parse_time(frozen) if frozen else None, envelopes[-1].at)


def _recorded(expected: dict[str, Any]) -> str:
    tracks = expected.get("recording", {}).get("tracks", [])
    if not tracks:
        return ""
    count = sum(len(t["segments"]) for t in tracks)
    return f", and so is the recording: {count} segments of {len(tracks)} tracks, in order, with their hashes"


def check_approvals(report: Report, evidence: dict[str, Any], replayed: dict[str, dict[str, Any] | None]) -> None:
    """Per signatory with a decision: the link the key came through, who approved it, whether the safety code
    was confirmed; what evidence.json states of it must be what the replayed log gives.

    A record sealed before approvals were stated has none at all; its lines then give the log's own account.
    """
    stated = {s["id"]: s for s in evidence["signatories"]}
    told = any("approval" in s for s in stated.values())
    for who, expected in replayed.items():
        claimed = stated.get(who, {}).get("approval") if told else expected
        if expected is None and claimed is None:
            continue  # no decision, so no key to account for
        differences = _differences(expected, claimed, "approval")
        if differences:
            report.add("log.approvals", who, False, "; ".join(differences[:4]))
            continue
        assert expected is not None
        note = "" if told else " (evidence.json, sealed before approvals were stated, says nothing of this)"
        report.add("log.approvals", who, True, describe_approval(expected) + note)


def describe_approval(approval: dict[str, Any]) -> str:
    """One line a reader can hold against the recording: which link, who approved, and the code's fate."""
    through, by = approval["enrolled_through"], approval["approved_by"]
    code = approval["safety_code"]
    spoken = f"{code[:4]} {code[4:]}"
    confirmed = (
        f"who confirmed the signatory read the safety code {spoken} aloud"
        if approval["code_confirmed"]
        else f"WITHOUT confirming that the safety code {spoken} was read aloud"
    )
    by_link = f" ('{by['label']}')" if by["label"] is not None else ""
    return (
        f"key {approval['key_fingerprint'][:16]}… enrolled through link {through['invitation']} "
        f"('{through['label'] or ''}') at {approval['requested_at']}, approved at {approval['approved_at']} "
        f"by {by['actor']}{by_link}, {confirmed}"
    )


def _project(actual: Any, expected: Any) -> Any:
    """`actual` cut to the keys `expected` has: evidence.json's shape is checked already, and the parts
    that come from the PDF (sealed_at, the signed document) are compared with the PDF, not the log."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return {k: _project(actual.get(k), expected[k]) for k in expected}
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [_project(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def _differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` departs from `expected`, as readable paths (signatories[2].status: …)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(set(expected) | set(actual)):
            found += _differences(expected.get(key), actual.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            d for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for d in _differences(e, a, f"{path}[{i}]")
        ]
    if expected != actual:
        shown = repr(actual)
        return [f"{path}: evidence.json says {shown[:80]}, the log gives {str(expected)[:80]!r}"]
    return []


def check_order(
    report: Report,
    evidence: dict[str, Any],
    facts: LogFacts | None,
    consent_times: dict[str, dt.datetime],
    pdf: list[PdfResult],
    evidence_time: dt.datetime | None,
    renewal_times: list[dt.datetime | None],
) -> None:
    """freeze <= decisions <= PDF signatures <= the seal's timestamps = sealed_at <= evidence <= renewals."""
    problems: list[str] = []
    if facts is not None and facts.frozen_at is not None:
        for who, at in consent_times.items():
            if at + SKEW < facts.frozen_at:
                problems.append(f"{who} decided before the document was frozen")
    by_field = {p["field"]: p["signatory"] for p in evidence["pdf_signatures"]}
    previous: dt.datetime | None = None
    for result in pdf:
        if result.timestamp is None:
            continue
        signer = by_field.get(result.field, "")
        if signer in consent_times and result.timestamp + TOLERANCE < consent_times[signer]:
            problems.append(f"{result.field} is timestamped before {signer}'s consent")
        if previous is not None and result.timestamp + TOLERANCE < previous:
            problems.append(f"{result.field} is timestamped before what precedes it in the file")
        previous = result.timestamp
    sealed = [r for r in pdf if r.is_document_timestamp][: len(evidence["document_timestamps"])]
    sealed_at: dt.datetime | None = sealed[-1].timestamp if sealed else None
    if sealed_at is None or evidence["ceremony"].get("sealed_at") != format_time(sealed_at):
        problems.append("sealed_at is not the time of the seal's last document timestamp")
    elif facts is not None and sealed_at + SKEW < facts.last_at:
        problems.append("the log records events after the time the record says it was sealed")
    if evidence_time is None:
        problems.append("no valid evidence timestamp to order against (see evidence.timestamp)")
    elif sealed_at is not None and evidence_time + TOLERANCE < sealed_at:
        problems.append("evidence.json was timestamped before the PDF was sealed")
    for number, renewed in enumerate(renewal_times, start=1):
        if renewed is not None and evidence_time is not None and renewed + TOLERANCE < evidence_time:
            problems.append(f"renewal {number} is timestamped before evidence.json")
    detail = "; ".join(problems) or "freeze <= decisions <= PDF signatures <= seal = sealed_at <= evidence <= renewals"
    report.add("time.order", "record", not problems, detail)
