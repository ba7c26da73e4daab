"""Server settings, fixed at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from ceremony.runtime.stores import StoreUrl, default_store
from signaling.hub import SignalSettings

from .limits import Limits

MAX_BODY_BYTES = 1024 * 1024  # documented in docs/api.md; larger bodies get 413
MAX_JSON_DEPTH = 32  # arrays and objects within each other in a JSON body; deeper gets 400 (docs/api.md)

ProxyNetwork = IPv4Network | IPv6Network


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """The recorder of recorded ceremonies (web/recording.py) and the broadcast (web/rtmp.py)."""

    # Where the recorder process reaches this server (its own listener); None: recorders are not run.
    local_url: str | None = None
    rtmp_urls: tuple[str, ...] = ()  # --rtmp-url: the programme is pushed to each
    media_retention_days: int | None = None  # --media-retention: media deleted this long after the seal
    fps: int = 15
    width: int = 640
    height: int = 360
    segment_seconds: float = 2.0


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    public_url: str | None = None  # base for links, e.g. https://ceremony.example.org; else from the request
    create_demo: bool = True
    signal: SignalSettings = field(default_factory=SignalSettings)
    # The RFC 3161 TSAs every timestamp comes from, in order (the first is embedded in PDF
    # signatures); BUILTIN names our own. Empty: the built-in one alone.
    tsa_urls: tuple[str, ...] = ()
    # The operator's own CA and/or TSA (certificate, key) PEM files, instead of generated ones.
    ca_files: tuple[Path, Path] | None = None
    tsa_files: tuple[Path, Path] | None = None
    # The CA certificate(s) of the external TSA (--tsa-url), put into each record as tsa-ca.pem
    # so that its tokens can be checked offline.
    tsa_ca_files: tuple[Path, ...] = ()
    # Where certificates say their CRLs are published (…/pki/crl); default: public_url + /pki/crl.
    crl_url: str | None = None
    # Per-client limits of the public routes (POST /tsa, POST /api/verify).
    limits: Limits = field(default_factory=Limits)
    # Reverse proxies (--trusted-proxy) whose X-Forwarded-For / Forwarded name the client (web/client.py).
    trusted_proxies: tuple[ProxyNetwork, ...] = ()
    # Served over TLS (--tls-cert): every response says Strict-Transport-Security.
    tls: bool = False
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    # --store: the log, documents and records; None: SQLite in data_dir (one node).
    store: StoreUrl | None = None
    # --bus: Redis shared by several nodes (signaling between them, challenges, limits, the signing turn);
    # None: one node, everything in its memory.
    bus_url: str | None = None

    @property
    def store_url(self) -> StoreUrl:
        return self.store if self.store is not None else default_store(self.data_dir)

    @property
    def crl_base(self) -> str:
        if self.crl_url:
            return self.crl_url.rstrip("/")
        return f"{(self.public_url or 'http://127.0.0.1:8080').rstrip('/')}/pki/crl"


BUILTIN = "builtin"  # in --tsa-url: the server's own TSA, beside an external one


def utc_clock() -> datetime:
    return datetime.now(UTC)
