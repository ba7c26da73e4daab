"""`ceremony serve` hygiene: HSTS under TLS, the plain-HTTP redirect listener, no version banner, --links-file.

Live servers (tests/helpers.start_server), spoken to as any client would: http.client over
TLS with a certificate made here, and plain HTTP.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yarl import URL

from tests.helpers import Server, ceremony, free_port, start_server
from web.app import create_app
from web.redirect import https_location
from web.settings import Settings

HSTS = "max-age=31536000"


def _self_signed(into: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, key_file = into / "cert.pem", into / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert, key_file


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int, ssl.SSLContext]]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = _self_signed(where)
    port, redirect = free_port(), free_port()
    server = start_server(
        where / "data",
        "--no-demo",
        *("--tls-cert", str(cert), "--tls-key", str(key), "--redirect-http", str(redirect)),
        *("--public-url", f"https://127.0.0.1:{port}"),
        port=port,
    )
    context = ssl.create_default_context(cafile=str(cert))
    try:
        yield server, redirect, context
    finally:
        server.stop()


def _port(server: Server) -> int:
    return int(server.base.rsplit(":", 1)[1])


def _https(server: Server, context: ssl.SSLContext, method: str, path: str, body: bytes | None = None) -> Any:
    connection = http.client.HTTPSConnection("127.0.0.1", _port(server), context=context, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def _plain(port: int, method: str, path: str, body: bytes | None = None, host: str | None = None) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Host": host} if host else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.body = response.read()
        return response
    finally:
        connection.close()


def test_every_https_response_says_strict_transport_security_and_names_no_versions(
    tls_server: tuple[Server, int, ssl.SSLContext],
) -> None:
    server, _, context = tls_server
    assert any(line.startswith("Serving on https://") for line in server.output)
    for method, path, body, status in (
        ("GET", "/healthz", None, 200),
        ("GET", "/", None, 200),
        ("GET", "/static/no-such-file.js", None, 404),
        ("GET", "/api/ceremonies", None, 401),
        ("POST", "/console/enter", b"[" * 10_000, 400),
        ("DELETE", "/healthz", None, 405),
    ):
        response = _https(server, context, method, path, body)
        assert response.status == status, (method, path, response.status)
        assert response.getheader("Strict-Transport-Security") == HSTS, (method, path)
        banner = response.getheader("Server") or ""
        assert "Python" not in banner and "aiohttp" not in banner, banner


def test_the_plain_http_listener_only_redirects_to_https(tls_server: tuple[Server, int, ssl.SSLContext]) -> None:
    server, redirect, context = tls_server
    https = f"https://127.0.0.1:{_port(server)}"
    for method, path, status in (
        ("GET", "/c/0123456789abcdef/enter?lang=ko&x=%20y", 301),
        ("HEAD", "/healthz", 301),
        ("GET", "/", 301),
        ("POST", "/api/ceremonies", 308),
        ("PUT", "/anything/at/all?q=1", 308),
        ("DELETE", "/healthz", 308),
    ):
        response = _plain(redirect, method, path, b"{}" if method in ("POST", "PUT") else None)
        assert response.status == status, (method, path, response.status)
        assert response.getheader("Location") == https + path, response.getheader("Location")
        assert response.body == b""  # nothing is served here, not even /healthz
        assert "aiohttp" not in (response.getheader("Server") or "")
    # With an https --public-url, the Host header does not choose where the redirect goes: the links' origin does.
    response = _plain(redirect, "GET", "/healthz", host="evil.example")
    assert response.getheader("Location") == https + "/healthz"
    # Where it points works.
    assert _https(server, context, "GET", "/healthz").status == 200


def test_without_a_public_url_the_redirect_keeps_the_host_the_request_named() -> None:
    target = URL("/c/0123456789abcdef/enter?lang=zh")
    assert https_location("ceremony.example.org", target, 443, None) == (
        "https://ceremony.example.org/c/0123456789abcdef/enter?lang=zh"
    )
    assert https_location("203.0.113.10:80", target, 8443, None).startswith("https://203.0.113.10:8443/c/")
    assert https_location("[2001:db8::1]:80", URL("/"), 8443, None) == "https://[2001:db8::1]:8443/"
    assert https_location("a b\u202e", URL("/"), 8443, None) == "https://localhost:8443/"
    assert https_location("x", URL("/p"), 8443, "https://ceremony.example.org") == "https://ceremony.example.org/p"


def test_redirect_needs_tls() -> None:
    result = ceremony("serve", "--redirect-http", "8081", "--port", str(free_port()))
    assert result.returncode == 2 and "--tls-cert" in result.stderr


async def test_without_tls_no_hsts_and_no_banner(aiohttp_client: Any, tmp_path: Path) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(Settings(data_dir=tmp_path, create_demo=False)))
    r = await client.get("/healthz")
    assert r.status == 200 and "Strict-Transport-Security" not in r.headers and "Server" not in r.headers
    client = await aiohttp_client(create_app(Settings(data_dir=tmp_path / "tls", create_demo=False, tls=True)))
    r = await client.get("/no-such-page")
    assert r.status == 404 and r.headers["Strict-Transport-Security"] == HSTS and "Server" not in r.headers


def test_links_file_holds_the_first_links_and_stdout_does_not(tmp_path: Path) -> None:
    links = tmp_path / "secrets" / "first-links.txt"
    links.parent.mkdir()
    server = start_server(tmp_path / "data", "--links-file", str(links))
    try:
        written = links.read_text(encoding="utf-8")
        assert stat.S_IMODE(links.stat().st_mode) == 0o600
        assert [p.name for p in links.parent.iterdir()] == [links.name]  # no temporary file left beside it
        host_link = next(line.split()[-1] for line in written.splitlines() if "Host link:" in line)
        operator_link = next(line.split()[-1] for line in written.splitlines() if "Operator link:" in line)
        output = "\n".join(server.output)
        for link in (host_link, operator_link):
            token = server.token(link)
            assert len(token) == 43 and token not in output
        assert str(links) in output and "Host link:" not in output

        # The links work: the operator's opens the console, the host's reads its ceremony.
        port = _port(server)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"token": server.token(operator_link)})
        connection.request("POST", "/console/enter", body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["role"] == "operator"
        ceremony_id = host_link.split("/c/", 1)[1].split("/", 1)[0]
        headers = {"Authorization": f"Bearer {server.token(host_link)}"}
        connection.request("GET", f"/api/ceremonies/{ceremony_id}", headers=headers)
        answer = connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["you"]["role"] == "host"
        connection.close()
    finally:
        server.stop()
    # A second start creates no links, and leaves the file as it was.
    again = start_server(tmp_path / "data", "--links-file", str(links))
    again.stop()
    assert links.read_text(encoding="utf-8") == written
