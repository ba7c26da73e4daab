"""The PKI over its years: keys replaced in time, issuing CAs changed and revoked, crashes mid-write.

The clock moves by passing `now` (or the server's clock) ahead, never by sleeping. The
commands under test run as an operator types them (`ceremony pki ...`), on directories
standing for the two machines; set-up uses the library's steps. A crash is a write that
fails half-way.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from ceremony.commands import Freeze, OpenRooms, StartSegment
from ceremony.events import Role
from signatures import pki_store
from signatures.crl import revoked_serials
from signatures.errors import PkiError
from signatures.pki import ROTATION_NOTICE, key_id, key_use_period
from signatures.pki_store import (
    create_root,
    install_issuing,
    load_or_create,
    request_issuing,
    sign_issuing,
)
from tests.helpers import Room, ceremony, ready, start_server
from web.app import _load_pki, create_app
from web.appkeys import RECORDS, SERVICE
from web.demo.definition import demo_definition
from web.demo.scripted import Api, ScriptedSignatory, ScriptError
from web.settings import Settings

NOW = dt.datetime.now(dt.UTC)
BASE = "http://127.0.0.1:8080/pki/crl"
YEAR = dt.timedelta(days=365)
DAY = dt.timedelta(days=1)
ORG = "Gangwon-Nanjing MOU Office"


def serials_in(directory: Path, pattern: str) -> set[int]:
    return {x509.load_pem_x509_certificate(p.read_bytes()).serial_number for p in directory.glob(pattern)}


def offline_root(vault: Path, data: Path, now: dt.datetime = NOW) -> x509.Certificate:
    """A root on the offline machine and a server set up under it: the installed issuing CA."""
    create_root(vault, ORG, now)
    return change_issuing(vault, data, now)


def change_issuing(vault: Path, data: Path, now: dt.datetime = NOW) -> x509.Certificate:
    """The issuing CA's change: a request on the server, certified offline, installed (the library's steps)."""
    issuing = sign_issuing(vault, request_issuing(data / "pki", ORG, now), BASE, now)
    install_issuing(data / "pki", (vault / "root.pem").read_bytes(), issuing, (vault / "root.crl").read_bytes())
    return x509.load_pem_x509_certificate(issuing)


# ---- 1. TSA and seal keys are replaced before their year is over, and never used after it ----


def test_a_restart_in_the_notice_period_replaces_the_tsa_and_seal_keys(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    first = load_or_create(directory, NOW, crl_base=BASE)
    end = key_use_period(first.seal.certificate)[1]
    early = load_or_create(directory, end - ROTATION_NOTICE - DAY, crl_base=BASE)
    assert early.tsa.certificate == first.tsa.certificate and early.seal.certificate == first.seal.certificate
    late = load_or_create(directory, end - ROTATION_NOTICE + DAY, crl_base=BASE)  # 29 days of use were left
    assert late.tsa.certificate != first.tsa.certificate and late.seal.certificate != first.seal.certificate
    assert late.issuing.certificate == first.issuing.certificate
    kept = serials_in(directory / "retired", "*.pem")
    assert {first.tsa.certificate.serial_number, first.seal.certificate.serial_number} <= kept


def test_the_start_up_log_names_the_days_in_which_a_restart_replaces_the_keys(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data", create_demo=False)
    with caplog.at_level(logging.INFO, logger="web.app"):
        pki = _load_pki(settings, NOW)
    end = key_use_period(pki.seal.certificate)[1]
    assert (
        f"the seal key signs until {end:%Y-%m-%d %H:%M} UTC: restart the server within the 30 days before"
        in caplog.text
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


class Clock:
    """The server's clock: the real time, `ahead` of it by what the test says."""

    def __init__(self) -> None:
        self.ahead = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.ahead


async def test_a_server_running_past_the_seal_keys_year_refuses_to_seal_and_writes_nothing(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    settings = Settings(data_dir=tmp_path / "data", create_demo=False)
    # A seal key made 320 days ago (45 days of use left: not replaced at this start), a TSA key made today.
    directory = settings.data_dir / "pki"
    made = load_or_create(directory, NOW - 320 * DAY, crl_base=settings.crl_base)
    for name in ("tsa.pem", "tsa.key"):
        (directory / name).unlink()
    clock = Clock()
    app = create_app(settings, clock=clock)
    client = await aiohttp_client(app)
    # The server was never restarted: the ceremony runs on the seal key's last day, the TSA's key goes on.
    end = key_use_period(made.seal.certificate)[1]
    clock.ahead = end - DAY - dt.datetime.now(dt.UTC)
    service = app[SERVICE]
    state = await service.create(demo_definition(), "operator")
    sha = await service.store_document(original_pdf)
    for command in (
        Freeze(document_sha256=sha, document_size=len(original_pdf)),
        OpenRooms(),
        StartSegment(segment="signing"),
    ):
        await service.execute(state.id, command, "test")
    base = str(client.make_url("")).rstrip("/")
    host = Api(client.session, base, state.id, (await service.issue_link(state.id, Role.HOST, "t")).token)
    who = state.definition.signatories[0].id
    link = await service.issue_link(state.id, Role.SIGNATORY, "t", signatory=who)
    room = Room(client, state.id, host, [ScriptedSignatory(Api(client.session, base, state.id, link.token), who)])
    await ready(room, room.signers[0])
    await room.signers[0].sign_pdf()

    clock.ahead = end + dt.timedelta(hours=1) - dt.datetime.now(dt.UTC)  # sealed an hour too late
    seq, documents = service.get(state.id).seq, sorted((settings.data_dir / "documents").iterdir())
    with pytest.raises(ScriptError, match=r"HTTP 503: the record seal's key may sign only .* restart the server"):
        await host.call("POST", "/seal", {"absent_ok": True})
    assert app[RECORDS].read(state.id) is None and not app[RECORDS].path(state.id).exists()
    assert service.get(state.id).seq == seq  # nothing logged
    assert sorted((settings.data_dir / "documents").iterdir()) == documents  # no sealed PDF stored


# ---- 2 and 5. The root CRL only grows; made afresh on the offline machine, installed on the server ----


def test_revocations_of_issuing_cas_accumulate_and_a_fresh_root_crl_keeps_them(tmp_path: Path) -> None:
    vault, data = tmp_path / "vault", tmp_path / "data"
    offline_root(vault, data)
    assert ceremony("pki", "revoke-issuing", "--root", str(vault), "--serial", "a1").returncode == 0
    first = revoked_serials((vault / "root.crl").read_bytes())
    done = ceremony("pki", "revoke-issuing", "--root", str(vault), "--serial", "b2")
    assert done.returncode == 0, done.stderr
    second = revoked_serials((vault / "root.crl").read_bytes())
    assert set(second) == {0xA1, 0xB2} and second[0xA1] == first[0xA1]  # a1 stays revoked, since its first date
    assert ceremony("pki", "revoke-issuing", "--root", str(vault), "--serial", "0xA1").returncode == 0
    assert revoked_serials((vault / "root.crl").read_bytes()) == second  # named again: still the first date

    # The root CRL made afresh (`pki root-crl`) lists the same, and the server takes it.
    fresh = ceremony("pki", "root-crl", "--root", str(vault))
    assert fresh.returncode == 0, fresh.stderr
    assert revoked_serials((vault / "root.crl").read_bytes()) == second
    installed = ceremony("pki", "install-crl", "--data", str(data), "--root-crl", str(vault / "root.crl"))
    assert installed.returncode == 0, installed.stderr
    assert (data / "pki" / "root.crl").read_bytes() == (vault / "root.crl").read_bytes()
    assert openssl_verifies_crl(data / "pki" / "root.crl", vault / "root.pem")

    # A CRL that would un-revoke, or one by another root, is refused on either machine.
    (tmp_path / "older.crl").write_bytes(_crl_listing_only_a1(vault))
    older = ceremony("pki", "install-crl", "--data", str(data), "--root-crl", str(tmp_path / "older.crl"))
    assert older.returncode == 2 and "no longer lists b2" in older.stderr
    stranger = tmp_path / "stranger"
    create_root(stranger, "Someone Else", NOW)
    (vault / "root.crl").write_bytes((stranger / "root.crl").read_bytes())
    refused = ceremony("pki", "revoke-issuing", "--root", str(vault), "--serial", "c3")
    assert refused.returncode == 2 and "not signed by this root" in refused.stderr


def _crl_listing_only_a1(vault: Path) -> bytes:
    from signatures.crl import Cause, Revocation, issue_crl
    from signatures.pki_store import load_pair

    root = load_pair(vault / "root.pem", vault / "root.key")
    return issue_crl(root, [Revocation(0xA1, NOW, Cause.KEY_COMPROMISE)], NOW + DAY)


def openssl_verifies_crl(crl: Path, ca: Path) -> bool:
    done = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(crl), "-CAfile", str(ca), "-noout"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.returncode == 0 and "verify OK" in done.stdout + done.stderr


# ---- 3. The five-yearly change keeps the old issuing CA publishing its CRL ----


async def test_installing_a_new_issuing_ca_keeps_the_old_one_publishing_its_crl(tmp_path: Path) -> None:
    vault, data = tmp_path / "vault", tmp_path / "data"
    old = offline_root(vault, data)
    tsa = load_or_create(data / "pki", NOW, crl_base=BASE).tsa.certificate  # a start: services under the old CA
    csr = ceremony("pki", "request", "--data", str(data))
    assert csr.returncode == 0, csr.stderr
    new_pem = sign_issuing(vault, (data / "pki" / "issuing.csr").read_bytes(), BASE, NOW)
    (tmp_path / "issuing.pem").write_bytes(new_pem)
    installed = ceremony("pki", "install", "--data", str(data), "--root-cert", str(vault / "root.pem"),
                         "--cert", str(tmp_path / "issuing.pem"), "--root-crl", str(vault / "root.crl"))  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    kept = data / "pki" / "retired" / f"issuing-{old.serial_number:x}"
    assert kept.with_suffix(".key").stat().st_mode & 0o777 == 0o600
    assert x509.load_pem_x509_certificate(kept.with_suffix(".pem").read_bytes()) == old

    server = start_server(data)
    try:
        async with aiohttp.ClientSession() as http:
            # Where the old CA's TSA certificate says its CRL is, on this server.
            (point,) = tsa.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            path = point.full_name[0].value.removeprefix(BASE)  # type: ignore[index]
            assert path == f"/{key_id(old)}.crl"
            async with http.get(f"{server.base}/pki/crl{path}") as answer:
                assert answer.status == 200, await answer.text()
                crl = x509.load_der_x509_crl(await answer.read())
            assert crl.issuer == old.subject and crl.is_signature_valid(old.public_key())  # type: ignore[arg-type]
            new = x509.load_pem_x509_certificate(new_pem)
            async with http.get(f"{server.base}/pki/crl/{key_id(new)}.crl") as answer:
                assert answer.status == 200
    finally:
        server.stop()


# ---- 4. A crash between a pair's key and its certificate is recovered at the next start ----


def test_a_replaced_file_and_its_directory_entry_are_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    seal = load_or_create(tmp_path / "pki", NOW, crl_base=BASE).seal
    monkeypatch.setattr(os, "fsync", spy)
    pki_store.save_pair(tmp_path, "seal", seal)
    assert synced == [False, True, False, True]  # the key's file and its rename, then the certificate's


def crash_writing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The machine stops as it is about to write `name` (all written before it is on disk)."""
    real = pki_store._write_private

    def write(path: Path, data: bytes) -> None:
        if path.name == name:
            raise OSError(f"power cut before {name}")
        real(path, data)

    monkeypatch.setattr(pki_store, "_write_private", write)


def test_a_service_key_replacement_cut_short_is_made_again_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "pki"
    first = load_or_create(directory, NOW, crl_base=BASE)
    later = NOW + YEAR + DAY
    crash_writing(monkeypatch, "tsa.pem")
    with pytest.raises(OSError, match="power cut"):
        load_or_create(directory, later, crl_base=BASE)
    monkeypatch.undo()
    # The new key beside the old certificate:
    assert pki_store.load_pair(directory / "seal.pem", directory / "seal.key").certificate == first.seal.certificate
    with pytest.raises(PkiError, match="does not belong"):
        pki_store.load_pair(directory / "tsa.pem", directory / "tsa.key")

    with caplog.at_level(logging.WARNING, logger="signatures.pki_store"):
        again = load_or_create(directory, later, crl_base=BASE)
    assert "tsa.key does not belong to" in caplog.text and "interrupted" in caplog.text
    assert again.tsa.certificate != first.tsa.certificate and again.seal.certificate != first.seal.certificate
    assert first.tsa.certificate.serial_number in serials_in(directory / "retired", "tsa-*.pem")
    assert load_or_create(directory, later, crl_base=BASE).tsa.certificate == again.tsa.certificate  # it stays


def test_an_interrupted_install_is_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, data = tmp_path / "vault", tmp_path / "data"
    old = offline_root(vault, data)
    load_or_create(data / "pki", NOW, crl_base=BASE)
    csr = request_issuing(data / "pki", ORG, NOW)
    new_pem = sign_issuing(vault, csr, BASE, NOW)
    root_pem, root_crl = (vault / "root.pem").read_bytes(), (vault / "root.crl").read_bytes()
    crash_writing(monkeypatch, "issuing.pem")
    with pytest.raises(OSError, match="power cut"):
        install_issuing(data / "pki", root_pem, new_pem, root_crl)
    monkeypatch.undo()
    with pytest.raises(PkiError, match=r"`ceremony pki install` was interrupted; run it again"):
        load_or_create(data / "pki", NOW, crl_base=BASE)
    install_issuing(data / "pki", root_pem, new_pem, root_crl)
    pki = load_or_create(data / "pki", NOW, crl_base=BASE)
    assert pki.issuing.certificate == x509.load_pem_x509_certificate(new_pem)
    assert [p.certificate for p in pki_store.retired_issuers(data / "pki")] == [old]


# ---- 6. The pki commands report an operator's mistake on one line ----


def test_pki_commands_report_errors_on_one_line_and_exit_2(tmp_path: Path) -> None:
    vault, data = tmp_path / "vault", tmp_path / "data"
    offline_root(vault, data)
    request_issuing(data / "pki", ORG, NOW)
    (tmp_path / "a-file").write_text("")
    (data / "pki" / "seal.pem").write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    for command, said in (
        (("revoke-issuing", "--root", str(vault), "--serial", "zz"), "--serial 'zz' is not a hexadecimal serial"),
        (("show", "--data", str(data)), "seal.pem is not a readable PEM certificate"),
        (("issue", "--root", str(vault), "--csr", str(data / "pki" / "issuing.csr"), "--crl-url", BASE,
          "--out", str(tmp_path / "a-file" / "issuing.pem")), "cannot write"),
    ):  # fmt: skip
        done = ceremony("pki", *command)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("ceremony: ") and said in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


# ---- 7. Start-up warnings: certificates made under another address, an issuing CA past its years ----


def test_start_up_warns_of_certificates_issued_under_another_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    with caplog.at_level(logging.WARNING, logger="web.app"):
        _load_pki(Settings(data_dir=data, public_url="https://old.example.org"), NOW)
        assert not caplog.records
        _load_pki(Settings(data_dir=data, public_url="https://new.example.org"), NOW + DAY)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3, warned  # the issuing CA, the seal and the TSA
    for message in warned:
        assert "issued under another address" in message and "https://old.example.org/pki/crl" in message
        assert "https://new.example.org/pki/crl" in message and "docs/deploy.md" in message


def test_start_up_warns_when_an_offline_rooted_issuing_ca_is_past_its_five_years(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vault, data = tmp_path / "vault", tmp_path / "data"
    issuing = offline_root(vault, data)
    settings = Settings(data_dir=data, crl_url=BASE)
    with caplog.at_level(logging.WARNING, logger="web.app"):
        _load_pki(settings, NOW)
        assert not caplog.records
        _load_pki(settings, key_use_period(issuing)[1] + DAY)
    (message,) = [r.getMessage() for r in caplog.records]
    assert "issuing CA's 5-year key-use period ended" in message and "ceremony pki request" in message
