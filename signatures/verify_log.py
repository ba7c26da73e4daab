"""Record verification, the log: its hash chain, that it agrees with the evidence, and the order of the times."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ceremony.chain import verify_chain
from ceremony.evidence import parse_events_jsonl

from .report import TOLERANCE, Report
from .verify_pdf import PdfSignatureResult


def check_log(report: Report, files: dict[str, bytes], evidence: dict[str, Any]) -> dict[str, Any]:
    """Chain, head and length; that the log's decisions and signatures are the evidence's. Returns event times."""
    ceremony = evidence["ceremony"]["id"]
    try:
        rows = parse_events_jsonl(files.get("events.jsonl", b""))
    except (ValueError, KeyError, TypeError) as exc:
        report.add("log.chain", "events.jsonl", False, f"unreadable: {exc}")
        return {}
    chain = verify_chain(ceremony, rows)
    if chain.broken is not None:
        report.add("log.chain", "events.jsonl", False, f"event {chain.broken.seq}: {chain.broken.reason}")
        return {}
    log = evidence["log"]
    ok = chain.length == log["length"] and chain.head.hex() == log["head"] and len(rows) == chain.length
    detail = f"{chain.length} events, head {chain.head.hex()}"
    report.add(
        "log.chain",
        "events.jsonl",
        ok,
        detail if ok else f"{detail}; evidence.json says {log['length']} events, head {log['head']}",
    )
    events = [json.loads(r.body) for r in rows]
    return _log_matches(report, events, evidence)


def _log_matches(report: Report, events: list[dict[str, Any]], evidence: dict[str, Any]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    logged = [
        {k: e["data"][k] for k in ("signatory", "statement", "signature", "timestamp_token")}
        for e in by_type.get("consent.recorded", [])
    ]
    recorded = [
        {k: c[k] for k in ("signatory", "statement", "signature", "timestamp_token")} for c in evidence["consents"]
    ]
    signed = [{k: e["data"][k] for k in ("signatory", "field", "sha256")} for e in by_type.get("document.signed", [])]
    listed = [{k: p[k] for k in ("signatory", "field", "sha256")} for p in evidence["pdf_signatures"]]
    frozen = by_type.get("ceremony.frozen", [{}])[0]
    problems = []
    if logged != recorded:
        problems.append("the decisions in evidence.json are not the ones in the log")
    if signed != listed:
        problems.append("the PDF signatures in evidence.json are not the ones in the log")
    if frozen.get("data", {}).get("document_sha256") != evidence["documents"]["original"]["sha256"]:
        problems.append("the log froze a different original")
    detail = "; ".join(problems) or f"{len(logged)} decisions and {len(signed)} PDF signatures, as logged"
    report.add("log.evidence", "events.jsonl", not problems, detail)
    return {"frozen": frozen.get("at")}


def check_order(
    report: Report,
    evidence: dict[str, Any],
    log_times: dict[str, Any],
    consent_times: dict[str, dt.datetime],
    pdf: list[PdfSignatureResult],
    sealed: dt.datetime | None,  # the evidence token's time, None if it did not verify
) -> None:
    """frozen <= each decision <= its PDF signature, signatures in order, <= document timestamp <= evidence token."""
    problems: list[str] = []
    frozen_at = log_times.get("frozen")
    start = dt.datetime.fromisoformat(str(frozen_at).replace("Z", "+00:00")) if frozen_at else None
    for who, at in consent_times.items():
        if start is not None and at + TOLERANCE < start:
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
            problems.append(f"{result.field} is timestamped before the signature preceding it")
        previous = result.timestamp
    if sealed is None:
        problems.append("no valid evidence timestamp to order against (see evidence.timestamp)")
    elif previous is not None and sealed + TOLERANCE < previous:
        problems.append("evidence.json was timestamped before the PDF's last timestamp")
    detail = "; ".join(problems) or "freeze <= decisions <= PDF signatures <= document timestamp <= evidence"
    report.add("time.order", "record", not problems, detail)
