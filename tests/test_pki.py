"""The ceremony PKI: roles, lifetimes, CRLs, key rotation, and running with the root key on another machine.

Certificates are inspected with the cryptography library and with the real
`openssl` binary; the offline-root steps run as the `ceremony pki` commands
an operator types, on two directories standing for two machines.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ceremony.commands import Freeze, OpenRooms, RevokeCertificate, SignDocument, StartSegment
from ceremony.consent import Decision
from ceremony.core import decide
from ceremony.errors import CommandRefused, InvalidCommand
from signatures.crl import Cause, Revocation, issue_crl, revoked_serials
from signatures.errors import PkiError, TimestampError
from signatures.keys import issue_signatory_certificate
from signatures.pki import SEAL, SEAL_PURPOSE, SIGNATORY, SIGNATORY_PURPOSE, TSA, key_id, make_root
from signatures.pki_store import load_or_create, save_pair
from signatures.record.report import Mismatch
from signatures.record.validation import Anchors, Material, validate
from signatures.tsa import TimeStampAuthority
from tests import helpers
from tests.helpers import ceremony, openssl, start_server
from web.demo.definition import demo_definition

NOW = dt.datetime.now(dt.UTC)
BASE = "http://127.0.0.1:8080/pki/crl"
YEAR = dt.timedelta(days=365)


def usages(certificate: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_each_role_has_its_purpose_its_lifetime_and_its_crl(tmp_path: Path) -> None:
    pki = load_or_create(tmp_path / "pki", NOW, crl_base=BASE)
    root, issuing, tsa, seal = pki.root, pki.issuing.certificate, pki.tsa.certificate, pki.seal.certificate
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert issuing.issuer == root.subject and tsa.issuer == seal.issuer == issuing.subject
    assert root.not_valid_after_utc - NOW > 49 * YEAR and issuing.not_valid_after_utc - NOW > 39 * YEAR
    for service in (tsa, seal):  # the certificate outlives the record's 20 years; its key signs for one
        assert service.not_valid_after_utc - NOW > 29 * YEAR
        period = service.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
        assert period.not_after is not None and dt.timedelta(days=364) < period.not_after.replace(tzinfo=dt.UTC) - NOW
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]  # as OpenSSL insists
    assert SEAL_PURPOSE in usages(seal) and SIGNATORY_PURPOSE not in usages(seal)
    person = issue_signatory_certificate(
        pki.issuing, ec.generate_private_key(ec.SECP256R1()).public_key(), person="Hong Gil-dong",
        organisation="Gangwon Province", country="KR", crl_base=BASE, now=NOW,
    )  # fmt: skip
    assert SIGNATORY_PURPOSE in usages(person) and SEAL_PURPOSE not in usages(person)
    assert person.not_valid_after_utc - NOW < dt.timedelta(days=8)
    for certificate, issuer in ((issuing, root), (tsa, issuing), (seal, issuing), (person, issuing)):
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert points[0].full_name[0].value == f"{BASE}/{key_id(issuer)}.crl"  # type: ignore[index]

    # Each key acts in its role only, by the same path validation the verifier runs.
    anchors = Anchors(root=root)
    material = Material(certificates=(issuing,), crls=(pki.root_crl, issue_crl(pki.issuing, (), NOW)))
    for certificate, role in ((person, SEAL), (person, TSA), (seal, SIGNATORY), (tsa, SEAL)):
        with pytest.raises(Mismatch, match=f"not a valid {role.name} certificate"):
            asyncio.run(validate(certificate, role, NOW, anchors, material))
    assert asyncio.run(validate(seal, SEAL, NOW, anchors, material)) == root
    with pytest.raises(Mismatch, match="revocation"):  # no CRL, no trust
        asyncio.run(validate(seal, SEAL, NOW, anchors, Material(certificates=(issuing,))))


def test_keys_are_private_reloaded_unchanged_and_rotated_when_their_year_is_over(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    pki = load_or_create(directory, NOW, crl_base=BASE)
    assert directory.stat().st_mode & 0o777 == 0o700
    for stem in ("root", "issuing", "tsa", "seal"):
        assert (directory / f"{stem}.key").stat().st_mode & 0o777 == 0o600
    again = load_or_create(directory, NOW + dt.timedelta(days=30), crl_base=BASE)
    assert again.tsa.certificate == pki.tsa.certificate and again.issuing.certificate == pki.issuing.certificate

    later = NOW + YEAR + dt.timedelta(days=30)
    rotated = load_or_create(directory, later, crl_base=BASE)
    assert rotated.tsa.certificate != pki.tsa.certificate and rotated.seal.certificate != pki.seal.certificate
    assert (
        rotated.issuing.certificate == pki.issuing.certificate and rotated.root == pki.root
    )  # the issuing key signs for five years
    retired = {x509.load_pem_x509_certificate(p.read_bytes()).serial_number for p in (directory / "retired").iterdir()}
    assert {pki.tsa.certificate.serial_number, pki.seal.certificate.serial_number} <= retired
    assert not any(p.suffix == ".key" for p in (directory / "retired").glob("tsa-*"))  # the old keys are gone
    # A retired TSA key stamps nothing more, even if someone still holds it.
    with pytest.raises(TimestampError, match="usage period is over"):
        TimeStampAuthority(pki.tsa, pki.chain).stamp(b"\0" * 32, later)


def test_a_pki_from_an_earlier_version_is_refused_with_a_way_out(tmp_path: Path) -> None:
    old = make_root("Earlier", NOW)
    directory = tmp_path / "pki"
    directory.mkdir()
    from cryptography.hazmat.primitives import hashes

    flat = (
        x509.CertificateBuilder()
        .subject_name(old.certificate.subject)
        .issuer_name(old.certificate.subject)
        .public_key(old.key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(old.key, hashes.SHA256())
    )
    save_pair(directory, "root", type(old)(flat, old.key))
    with pytest.raises(PkiError, match=r"earlier version.*move the pki directory aside"):
        load_or_create(directory, NOW, crl_base=BASE)


def test_crls_list_what_was_revoked_and_openssl_checks_them(tmp_path: Path) -> None:
    pki = load_or_create(tmp_path / "pki", NOW, crl_base=BASE)
    gone = Revocation(0x1234ABCD, NOW - dt.timedelta(hours=1), Cause.KEY_COMPROMISE)
    der = issue_crl(pki.issuing, [gone], NOW)
    assert revoked_serials(der) == {0x1234ABCD: gone.at.replace(microsecond=0)}
    (tmp_path / "issuing.crl").write_bytes(der)
    (tmp_path / "issuing.pem").write_bytes(pki.issuing.certificate_pem)
    done = openssl(
        "crl", "-inform", "DER", "-in", "issuing.crl", "-CAfile", "issuing.pem", "-noout", "-text", cwd=tmp_path
    )
    assert "verify OK" in done.stdout + done.stderr and "Key Compromise" in done.stdout and "1234ABCD" in done.stdout


async def test_the_server_publishes_each_crl_where_its_certificates_say(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        # The server's own certificates, as it wrote them (read, never re-made: the server owns the directory).
        issuing, tsa = (
            x509.load_pem_x509_certificate((tmp_path / "data" / "pki" / name).read_bytes())
            for name in ("issuing.pem", "tsa.pem")
        )
        async with aiohttp.ClientSession() as http:
            for certificate in (issuing, tsa):
                url = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0]
                async with http.get(url.full_name[0].value) as answer:  # type: ignore[index]
                    assert answer.status == 200 and answer.content_type == "application/pkix-crl"
                    crl = x509.load_der_x509_crl(await answer.read())
                assert crl.issuer == certificate.issuer
            async with http.get(f"{server.base}/pki/crl/{'0' * 40}.crl") as answer:
                assert answer.status == 404 and (await answer.json())["error"] == "not_found"
            async with http.get(f"{server.base}/pki/chain.pem") as answer:
                chain = x509.load_pem_x509_certificates(await answer.read())
                assert chain[0] == issuing
    finally:
        server.stop()


def test_an_offline_root_signs_the_issuing_ca_on_another_machine(tmp_path: Path) -> None:
    vault, data = tmp_path / "vault", tmp_path / "data"  # the offline machine, the server
    made = ceremony("pki", "root", "--out", str(vault), "--organisation", "Gangwon-Nanjing MOU Office")
    assert made.returncode == 0, made.stderr
    fingerprint = made.stdout.split("to pin: ")[1].strip()
    assert ceremony("pki", "request", "--data", str(data)).returncode == 0
    assert (data / "pki" / "issuing.key.pending").stat().st_mode & 0o777 == 0o600
    crl_url = "http://127.0.0.1:8080/pki/crl"
    signed = ceremony("pki", "issue", "--root", str(vault), "--csr", str(data / "pki" / "issuing.csr"),
                      "--crl-url", crl_url, "--out", str(tmp_path / "issuing.pem"))  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    installed = ceremony("pki", "install", "--data", str(data), "--root-cert", str(vault / "root.pem"),
                         "--cert", str(tmp_path / "issuing.pem"), "--root-crl", str(vault / "root.crl"))  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert not (data / "pki" / "root.key").exists()

    server = start_server(data)
    try:
        assert f"SHA-256 {fingerprint}" in ceremony("pki", "show", "--data", str(data)).stdout
        assert "root key offline" in ceremony("pki", "show", "--data", str(data)).stdout
        served = subprocess.run(["curl", "-s", f"{server.base}/ca.pem"], capture_output=True, check=True).stdout
        assert served == (vault / "root.pem").read_bytes()
        tsa = x509.load_pem_x509_certificate((data / "pki" / "tsa.pem").read_bytes())
        issuing = x509.load_pem_x509_certificate((tmp_path / "issuing.pem").read_bytes())
        assert tsa.issuer == issuing.subject  # the server issues under the installed CA, without the root key
    finally:
        server.stop()

    # Compromised? The offline root revokes the issuing CA: a new root CRL to install.
    revoked = ceremony("pki", "revoke-issuing", "--root", str(vault), "--serial", format(issuing.serial_number, "x"))
    assert revoked.returncode == 0, revoked.stderr
    assert issuing.serial_number in revoked_serials((vault / "root.crl").read_bytes())
    # And a server that never received the root key cannot make itself a new issuing CA.
    (data / "pki" / "issuing.key").unlink()
    refused = ceremony("serve", "--data", str(data), "--port", "1")
    assert refused.returncode == 2 and "offline-root" in refused.stderr + refused.stdout


def _signing(state: Any) -> Any:
    from ceremony.core import evolve
    from ceremony.events import Envelope

    def apply(s: Any, event: Any, at: dt.datetime = NOW) -> Any:
        return evolve(s, Envelope(ceremony=s.id, seq=s.seq + 1, at=at, actor="test", event=event))

    return apply


def test_the_core_revokes_an_approved_key_once_and_it_then_signs_nothing(tmp_path: Path) -> None:
    from ceremony.commands import ApproveEnrollment, IssueInvitation, RequestEnrollment
    from ceremony.core import initial_state
    from ceremony.events import CeremonyDrafted, ConsentRecorded, DocumentSigned, Envelope, Role

    state = initial_state(
        Envelope(ceremony="c" * 16, seq=1, at=NOW, actor="test", event=CeremonyDrafted(definition=demo_definition()))
    )
    apply = _signing(state)
    for command in (Freeze(document_sha256="a" * 64, document_size=10), OpenRooms(), StartSegment(segment="signing")):
        (event,) = decide(state, command, now=NOW)
        state = apply(state, event)
    who = state.definition.signatories[0].id
    link = IssueInvitation(invitation="inv", role=Role.SIGNATORY, token_sha256="1" * 64, signatory=who)
    state = apply(state, *decide(state, link, now=NOW))
    for event in decide(
        state,
        RequestEnrollment(
            enrollment="enr-1",
            signatory=who,
            invitation="inv",
            public_key="pk",
            fingerprint="fp",
            device="dev",
            address="1.2.3.4",
        ),
        now=NOW,
    ):
        state = apply(state, event)
    for event in decide(
        state,
        ApproveEnrollment(
            enrollment="enr-1", certificate="Y2VydA==", serial="abc1", not_after="2030-01-01T00:00:00.000000Z"
        ),
        now=NOW,
    ):
        state = apply(state, event)
    # The consent as the core stores it (its signature is the web layer's check, not the core's).
    consent = ConsentRecorded(
        signatory=who,
        decision=Decision.CONSENT,
        statement=helpers.statement(challenge="c1"),
        signature="sig",
        certificate_serial="abc1",
        timestamp_token="tok",
        timestamp="t",
        address="1.2.3.4",
        device="dev",
    )
    state = apply(state, consent)
    sign = SignDocument(
        signatory=who,
        field="Signature-1",
        base_sha256=state.document_sha256,
        sha256="b" * 64,
        size=20,
        certificate_serial="abc1",
        timestamp="t",
    )
    assert [type(e) for e in decide(state, sign, now=NOW)] == [DocumentSigned]  # before the revocation it would sign
    with pytest.raises(InvalidCommand, match="cause"):
        decide(state, RevokeCertificate(enrollment="enr-1", cause="bored"), now=NOW)
    with pytest.raises(InvalidCommand, match="no enrollment"):
        decide(state, RevokeCertificate(enrollment="enr-9", cause="key_compromise"), now=NOW)
    (revoked,) = decide(
        state, RevokeCertificate(enrollment="enr-1", cause="key_compromise", reason="tablet left in a taxi"), now=NOW
    )
    state = apply(state, revoked, NOW + dt.timedelta(minutes=3))
    enrollment = state.enrollments["enr-1"]
    assert enrollment.revoked and enrollment.cause == "key_compromise" and enrollment.revoked_at is not None
    with pytest.raises(CommandRefused, match="already revoked"):
        decide(state, RevokeCertificate(enrollment="enr-1", cause="key_compromise"), now=NOW)
    with pytest.raises(CommandRefused, match="has been revoked"):
        decide(state, sign, now=NOW)
