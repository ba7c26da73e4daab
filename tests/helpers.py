"""Helpers shared by test modules, so that no test module imports another."""

from __future__ import annotations

from ceremony.consent import STATEMENT_TYPE, ConsentStatement, Decision


def statement(**values: str) -> ConsentStatement:
    """A consent statement of the right shape with placeholder values: for the core's unit tests,
    where the values' meaning (not their shape) is what a test varies."""
    fields = {
        "type": STATEMENT_TYPE,
        "decision": "consent",
        "ceremony": "c",
        "document_sha256": "0" * 64,
        "consent_text_sha256": "0" * 64,
        "language": "en",
        "party": "p",
        "signatory": "s",
        "venue": "v",
        "challenge": "challenge",
        "client_time": "2020-05-29T01:30:00Z",
        **values,
    }
    return ConsentStatement(
        type=fields["type"],
        decision=Decision(fields["decision"]),
        ceremony=fields["ceremony"],
        document_sha256=fields["document_sha256"],
        consent_text_sha256=fields["consent_text_sha256"],
        language=fields["language"],
        party=fields["party"],
        signatory=fields["signatory"],
        venue=fields["venue"],
        challenge=fields["challenge"],
        client_time=fields["client_time"],
    )
