"""The core's rules for PDF signatures and the seal, without I/O (ceremony/decide_document.py).

Consents are folded in as recorded events (their own rules are tested through the
API in tests/test_signing.py); what is tested here is what the core then allows.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from ceremony.commands import Seal, SignDocument
from ceremony.consent import Decision
from ceremony.core import decide, evolve
from ceremony.errors import CommandRefused, InvalidCommand
from ceremony.events import (
    CeremonySealed,
    ConsentRecorded,
    DocumentSigned,
    EnrollmentApproved,
    EnrollmentRequested,
    Envelope,
    Event,
    SegmentStarted,
)
from ceremony.state import Phase, current_pdf, roll
from tests import helpers
from tests.helpers import CEREMONY, SHA, T0, Log, log_in

KR, CN = "signer-kr", "signer-cn"


def fold(log: Log, event: Event) -> None:
    envelope = Envelope(ceremony=CEREMONY, seq=log.state.seq + 1, at=T0 + timedelta(hours=1), actor="test", event=event)
    log.state = evolve(log.state, envelope)


def decided(log: Log, signatory: str, decision: str, serial: str) -> None:
    enrollment = f"enr-{serial}"
    fold(
        log,
        EnrollmentRequested(
            enrollment=enrollment,
            signatory=signatory,
            invitation="inv",
            public_key="a2V5",
            fingerprint="ab" * 32,
            device="UA",
            address="127.0.0.1",
        ),
    )
    fold(
        log,
        EnrollmentApproved(
            enrollment=enrollment, certificate="Y2VydA==", serial=serial, not_after="2030-01-01T00:00:00.000Z"
        ),
    )
    statement = helpers.statement(decision=decision, challenge=f"c-{serial}")
    fold(
        log,
        ConsentRecorded(
            signatory=signatory,
            decision=Decision(decision),
            statement=statement,
            signature="c2ln",
            certificate_serial=serial,
            timestamp_token="dG9r",
            timestamp="t",
            address="ip",
            device="UA",
        ),
    )


def signature(signatory: str, base: str, serial: str, n: int) -> SignDocument:
    return SignDocument(
        signatory=signatory,
        field=f"Signature-{n}",
        base_sha256=base,
        sha256=f"{n:x}" * 64,
        size=5000 + n,
        certificate_serial=serial,
        timestamp="t",
    )


def test_signatures_chain_revisions_in_order() -> None:
    log = log_in(Phase.SIGNING)
    decided(log, KR, "consent", "0a")
    decided(log, CN, "consent", "0b")
    assert current_pdf(log.state) == (SHA, 4096)
    first = signature(KR, SHA, "0a", 1)
    log.run(first)
    assert current_pdf(log.state) == (first.sha256, first.size)
    # A signature prepared over the original after another landed would drop it: refused.
    with pytest.raises(CommandRefused, match="older revision"):
        decide(log.state, signature(CN, SHA, "0b", 2), now=log.state.updated_at)
    events = log.run(signature(CN, first.sha256, "0b", 2))
    assert events == [
        DocumentSigned(
            signatory=CN,
            field="Signature-2",
            base_sha256=first.sha256,
            sha256="2" * 64,
            size=5002,
            certificate_serial="0b",
            timestamp="t",
        )
    ]
    assert list(log.state.pdf_signatures) == [KR, CN]


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        ({"signatory": "signer-jp"}, InvalidCommand, "no signatory"),
        ({"signatory": CN}, CommandRefused, "only a signatory who has consented"),
        ({"certificate_serial": "0c"}, CommandRefused, "certificate the consent was given with"),
        ({"field": ""}, InvalidCommand, "field"),
        ({"sha256": "abc"}, InvalidCommand, "SHA-256"),
    ],
)
def test_bad_signatures_are_refused_and_change_nothing(
    change: dict[str, str], error: type[Exception], reason: str
) -> None:
    log = log_in(Phase.SIGNING)
    decided(log, KR, "consent", "0a")
    decided(log, CN, "decline", "0b")
    before = log.state
    with pytest.raises(error, match=reason):
        decide(log.state, dataclasses.replace(signature(KR, SHA, "0a", 1), **change), now=log.state.updated_at)
    assert log.state is before


def test_one_signature_per_signatory_and_none_outside_signing() -> None:
    log = log_in(Phase.SIGNING)
    decided(log, KR, "consent", "0a")
    log.run(signature(KR, SHA, "0a", 1))
    with pytest.raises(CommandRefused, match="already signed"):
        decide(log.state, signature(KR, "1" * 64, "0a", 2), now=log.state.updated_at)
    for phase in (Phase.OPEN, Phase.SEALED):
        with pytest.raises(CommandRefused):
            decide(log_in(phase).state, signature(KR, SHA, "0a", 1), now=log_in(phase).state.updated_at)


def test_seal_records_who_signed_declined_or_is_absent() -> None:
    log = log_in(Phase.SIGNING)
    decided(log, KR, "consent", "0a")
    with pytest.raises(CommandRefused, match=f"not everyone has signed .*{KR}, {CN}"):
        decide(log.state, Seal(), now=log.state.updated_at)  # consented but not in the PDF yet counts as not signed
    log.run(signature(KR, SHA, "0a", 1))
    decided(log, CN, "decline", "0b")
    assert roll(log.state).absent == ()
    # Everyone has either signed or declined: no absent_ok needed.
    events = log.run(
        Seal(
            absent_ok=False,
            log_length=log.state.seq,
            signed_sha256="e" * 64,
            signed_size=9000,
            evidence_sha256="f" * 64,
            record_sha256="d" * 64,
        )
    )
    assert events == [
        CeremonySealed(
            signed=(KR,),
            declined=(CN,),
            absent=(),
            signed_sha256="e" * 64,
            signed_size=9000,
            evidence_sha256="f" * 64,
            record_sha256="d" * 64,
        )
    ]
    assert log.state.phase is Phase.SEALED and log.state.sealed == events[0]


def test_seal_refuses_a_record_built_from_an_older_log() -> None:
    log = log_in(Phase.SIGNING)
    length = log.state.seq
    fold(log, SegmentStarted(segment="closing"))  # something reached the log while the record was built
    with pytest.raises(CommandRefused, match="moved on"):
        decide(log.state, Seal(absent_ok=True, log_length=length), now=log.state.updated_at)
    assert decide(log.state, Seal(absent_ok=True, log_length=log.state.seq), now=log.state.updated_at)
