"""`ceremony pki …`: look at the server's PKI, and run it with the root key on an offline machine (docs/deploy.md).

offline:  ceremony pki root --out ROOT_DIR --organisation NAME
server:   ceremony pki request --data DATA            -> DATA/pki/issuing.csr
offline:  ceremony pki issue --root ROOT_DIR --csr issuing.csr --crl-url URL --out issuing.pem
server:   ceremony pki install --data DATA --root-cert root.pem --cert issuing.pem --root-crl root.crl
offline:  ceremony pki revoke-issuing --root ROOT_DIR --serial HEX   (adds to the root CRL)
offline:  ceremony pki root-crl --root ROOT_DIR                      (the root CRL afresh, same entries)
server:   ceremony pki install-crl --data DATA --root-crl root.crl   (then restart the server)

Every error is a SignatureError, which `ceremony` prints on one line before exiting 2.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from signatures.errors import PkiError
from signatures.pki import fingerprint, key_use_period
from signatures.pki_store import (
    ORGANISATION,
    create_root,
    install_issuing,
    install_root_crl,
    request_issuing,
    revoke_issuing,
    sign_issuing,
)

from .cli_record import read_file as _read


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_data: Path) -> None:
    pki = sub.add_parser("pki", help="the ceremony PKI: show it, or run it with an offline root")
    steps = pki.add_subparsers(dest="pki_command", required=True)
    show = steps.add_parser("show", help="the root's fingerprint and every certificate in use, with its periods")
    show.add_argument("--data", type=Path, default=default_data)
    root = steps.add_parser("root", help="(offline machine) make a root CA and its first CRL")
    root.add_argument("--out", type=Path, required=True)
    root.add_argument("--organisation", default=ORGANISATION)
    request = steps.add_parser("request", help="(server) make the issuing CA's key and a request for the root")
    request.add_argument("--data", type=Path, default=default_data)
    request.add_argument("--organisation", default=ORGANISATION)
    issue = steps.add_parser("issue", help="(offline machine) certify the issuing CA's request with the root")
    issue.add_argument("--root", type=Path, required=True)
    issue.add_argument("--csr", type=Path, required=True)
    issue.add_argument("--crl-url", required=True, help="where the server publishes CRLs: PUBLIC_URL/pki/crl")
    issue.add_argument("--out", type=Path, required=True)
    install = steps.add_parser("install", help="(server) install the certified issuing CA, the root and its CRL")
    install.add_argument("--data", type=Path, default=default_data)
    install.add_argument("--root-cert", type=Path, required=True)
    install.add_argument("--cert", type=Path, required=True)
    install.add_argument("--root-crl", type=Path, required=True)
    revoke = steps.add_parser("revoke-issuing", help="(offline machine) revoke an issuing CA: a new root CRL")
    revoke.add_argument("--root", type=Path, required=True)
    revoke.add_argument("--serial", action="append", required=True, metavar="HEX")
    root_crl = steps.add_parser("root-crl", help="(offline machine) issue the root CRL afresh, keeping its entries")
    root_crl.add_argument("--root", type=Path, required=True)
    install_crl = steps.add_parser("install-crl", help="(server) install a root CRL made on the offline machine")
    install_crl.add_argument("--data", type=Path, default=default_data)
    install_crl.add_argument("--root-crl", type=Path, required=True)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args, datetime.now(UTC))
    except OSError as exc:  # a directory that cannot be made or written: the operator's to fix, no traceback
        raise PkiError(f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)) from None


def _run(args: argparse.Namespace, now: datetime) -> int:
    match args.pki_command:
        case "show":
            return _show(args.data / "pki")
        case "root":
            pair = create_root(args.out, args.organisation, now)
            print(f"root CA in {args.out} (key 0600): {pair.certificate.subject.rfc4514_string()}")
            print(f"SHA-256 fingerprint, to publish and to pin: {fingerprint(pair.certificate)}")
        case "request":
            request_issuing(args.data / "pki", args.organisation, now)
            print(f"request: {args.data / 'pki' / 'issuing.csr'} (the key stays on this server, 0600)")
        case "issue":
            certificate = sign_issuing(args.root, _read(args.csr), args.crl_url, now)
            try:
                args.out.write_bytes(certificate)
            except OSError as exc:
                raise PkiError(f"cannot write {args.out}: {exc.strerror}") from None
            print(f"issuing CA: {args.out}; take it to the server with {args.root / 'root.pem'} and root.crl")
        case "install":
            install_issuing(args.data / "pki", _read(args.root_cert), _read(args.cert), _read(args.root_crl))
            print(f"installed in {args.data / 'pki'}; the root key is not on this server")
        case "revoke-issuing":
            revoke_issuing(args.root, [_serial(s) for s in args.serial], now)
            print(f"new root CRL: {args.root / 'root.crl'}; install it on the server (ceremony pki install-crl …)")
        case "root-crl":
            revoke_issuing(args.root, [], now)
            print(f"new root CRL: {args.root / 'root.crl'}; install it on the server (ceremony pki install-crl …)")
        case "install-crl":
            install_root_crl(args.data / "pki", _read(args.root_crl))
            print(f"installed {args.data / 'pki' / 'root.crl'}; restart the server to publish it")
    return 0


def _serial(text: str) -> int:
    """A serial as `pki show`, openssl (with colons) or a 0x prefix write it."""
    try:
        serial = int(text.replace(":", ""), 16)
    except ValueError:
        serial = 0
    if serial <= 0:
        raise PkiError(f"--serial {text!r} is not a hexadecimal serial number")
    return serial


def _show(directory: Path) -> int:
    print(f"PKI in {directory}; root key {'ON this server' if (directory / 'root.key').exists() else 'offline'}")
    for stem in ("root", "issuing", "tsa", "seal"):
        path = directory / f"{stem}.pem"
        if not path.exists():
            print(f"{stem:8} (none)")
            continue
        try:
            certificate = x509.load_pem_x509_certificate(_read(path))
        except ValueError as exc:
            raise PkiError(f"{path} is not a readable PEM certificate ({' '.join(str(exc).split())})") from None
        start, end = key_use_period(certificate)
        print(f"{stem:8} {certificate.subject.rfc4514_string()}")
        print(f"         SHA-256 {fingerprint(certificate)}")
        valid = f"{certificate.not_valid_before_utc:%Y-%m-%d} to {certificate.not_valid_after_utc:%Y-%m-%d}"
        print(f"         valid {valid}")
        print(f"         key signs {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    return 0
