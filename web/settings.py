"""Server settings, fixed at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from signaling.hub import SignalSettings

MAX_BODY_BYTES = 1024 * 1024  # documented in docs/api.md; larger bodies get 413


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    public_url: str | None = None  # base for links, e.g. https://ceremony.example.org; else from the request
    create_demo: bool = True
    signal: SignalSettings = field(default_factory=SignalSettings)
    tsa_url: str | None = None  # an external RFC 3161 TSA; None: the built-in one
    # The operator's own CA and/or TSA (certificate, key) PEM files, instead of generated ones.
    ca_files: tuple[Path, Path] | None = None
    tsa_files: tuple[Path, Path] | None = None
    # The CA certificate(s) of the external TSA (--tsa-url), put into each record as tsa-ca.pem
    # so that its tokens can be checked offline.
    tsa_ca_files: tuple[Path, ...] = ()


def utc_clock() -> datetime:
    return datetime.now(UTC)
