"""The `ceremony` command as an operator uses it: real subprocesses, real openssl, real TLS."""

from __future__ import annotations

import signal
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from signatures.record.renew import RenewalRefused
from tests.helpers import ROOT, Server, start_server

from .conftest import Demo


def ceremony(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_console_script_is_installed() -> None:
    # `pip install -e .` must give the `ceremony` command the README promises.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ceremony"), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for command in ("serve", "invite", "operator-link", "log"):
        assert command in result.stdout


async def test_serve_prints_demo_links_once_and_never_logs_tokens(server: Server) -> None:
    token = server.token(server.host_link)
    assert len(token) == 43
    async with aiohttp.ClientSession() as http:
        r = await http.get(
            f"{server.base}/api/ceremonies/{server.demo_id}", headers={"Authorization": f"Bearer {token}"}
        )
        detail = await r.json()
        assert detail["state"] == "draft" and detail["title"]["en"]
        # A browser-style entry, which puts the token in a body, not in the URL.
        r = await http.post(f"{server.base}/c/{server.demo_id}/enter", json={"token": token})
        assert r.status == 200
        r = await http.get(f"{server.base}/api/ceremonies/{server.demo_id}?token={token}")
    assert server.stop() == 0  # SIGTERM stops it cleanly
    after_start = "\n".join(line for line in server.output if "link:" not in line)
    assert token not in after_start, "a token reached the server's log"
    assert f"GET /api/ceremonies/{server.demo_id}" in after_start  # the access log is on, just quiet

    again = start_server(server.data)
    try:
        assert not any("Host link" in line for line in again.output)  # shown once, on creation
        assert any(server.demo_id in line for line in again.output)
    finally:
        again.stop()


def test_invite_prints_a_link_and_explains_mistakes(server: Server) -> None:
    result = ceremony("invite", server.demo_id, "observer", "--data", str(server.data), "--base-url", server.base)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(f"{server.base}/c/{server.demo_id}/enter#")

    result = ceremony("invite", server.demo_id, "venue", "--venue", "chuncheon", "--data", str(server.data))
    assert result.returncode == 2 and "freeze" in result.stderr  # roster not frozen yet

    result = ceremony("invite", "0123456789abcdef", "host", "--data", str(server.data))
    assert result.returncode == 2 and "no ceremony" in result.stderr

    result = ceremony("invite", server.demo_id, "host", "--data", str(server.data / "nowhere"))
    assert result.returncode == 2 and "no event store" in result.stderr
    assert not (server.data / "nowhere").exists()


def test_log_verify_on_a_missing_store_says_so(tmp_path: Path) -> None:
    result = ceremony("log", "verify", "--data", str(tmp_path))
    assert result.returncode == 2 and "no event store" in result.stderr


async def test_serve_over_tls_with_own_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    srv = start_server(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert srv.host_link.startswith("https://127.0.0.1:")
        https = srv.base.replace("http://", "https://")
        context = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as http:
            r = await http.get(f"{https}/healthz", ssl=context)
            assert r.status == 200 and (await r.json())["ceremonies"] == 1
            r = await http.post(f"{https}/c/{srv.demo_id}/enter", json={"token": srv.token(srv.host_link)}, ssl=context)
            assert "Secure" in r.headers["Set-Cookie"]
    finally:
        assert srv.stop(signal.SIGINT) == 0


def test_verify_refuses_a_time_it_cannot_check_in_one_line(tmp_path: Path) -> None:
    record = tmp_path / "record.zip"
    record.write_bytes(b"not read: the time is refused first")
    for at in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-01-01T00:00:00Z", "soon"):
        result = ceremony("verify", str(record), "--at", at)
        assert result.returncode == 2, (at, result.stderr)
        assert result.stderr.startswith(f"ceremony: --at {at!r}") and result.stderr.count("\n") == 1, result.stderr


def test_renew_writes_nothing_where_it_cannot_write(demo: Demo, tmp_path: Path) -> None:
    """Said before any TSA or CRL is asked, as one line; no traceback."""
    for out in (tmp_path / "nowhere" / "renewed.zip", demo.trust / "renewed.zip"):
        result = ceremony("renew", str(demo.record), "--trust", str(demo.trust), "--tsa-url", "http://127.0.0.1:9/tsa",
                          "--out", str(out))  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"ceremony: cannot write {out}: ") and result.stderr.count("\n") == 1


def test_renew_replaces_its_output_in_one_step_even_when_it_is_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web import cli, cli_record

    record, trust = tmp_path / "record.zip", tmp_path / "root.pem"
    record.write_bytes(b"the record as it was")
    record.chmod(0o640)
    trust.write_bytes(b"a root")
    outcome: list[bytes | Exception] = []
    before = record.read_bytes()

    async def renewed(*_: object) -> bytes:
        assert record.read_bytes() == before  # untouched (not truncated) while the renewal runs
        result = outcome.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(cli_record, "quiet", lambda: None)  # it would silence logging for the whole test run
    monkeypatch.setattr(cli_record, "_renew", renewed)
    args = ["renew", str(record), "--trust", str(trust), "--tsa-url", "http://127.0.0.1:9/tsa"]

    outcome.append(RenewalRefused("only a record that verifies now is renewed"))
    assert cli.main([*args, "--out", str(record)]) == 2
    assert record.read_bytes() == b"the record as it was" and sorted(tmp_path.iterdir()) == [record, trust]

    outcome.append(b"the renewed record")
    assert cli.main([*args, "--out", str(record)]) == 0
    before = record.read_bytes()
    assert record.read_bytes() == b"the renewed record" and stat.S_IMODE(record.stat().st_mode) == 0o640
    assert sorted(tmp_path.iterdir()) == [record, trust]  # no temporary file left beside it

    # A place that cannot be replaced (a directory): refused in one line, and nothing left behind.
    (tmp_path / "taken").mkdir()
    outcome.append(b"the renewed record")
    assert cli.main([*args, "--out", str(tmp_path / "taken")]) == 2
    assert sorted(tmp_path.iterdir()) == [record, trust, tmp_path / "taken"]
