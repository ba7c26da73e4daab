"""The verifier's report: one line per check, and the error a check raises when parts disagree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from .cms import CmsError
from .errors import SignatureError

TOLERANCE = dt.timedelta(seconds=1)  # our TSA's stated accuracy, for ordering checks


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, where, and how it went."""

    name: str  # a stable id, e.g. "pdf.signature", "consent.token"
    subject: str  # where: a file, a signatory, a field
    ok: bool
    detail: str


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)
    root_fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def lines(self) -> list[str]:
        return [f"{'PASS' if c.ok else 'FAIL'}  {c.name:<20} {c.subject}: {c.detail}" for c in self.checks]

    def add(self, name: str, subject: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, subject, ok, detail))
        return ok

    def run(self, name: str, subject: str, check: Callable[[], str]) -> bool:
        """Run `check`; its return value is the detail of a pass, any error the detail of a failure."""
        try:
            return self.add(name, subject, True, check())
        except (CmsError, Mismatch, ValueError, KeyError, TypeError, InvalidSignature) as exc:
            return self.add(name, subject, False, str(exc) or type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Trust:
    """The anchors: the ceremony root for everything, plus an external TSA's own CA(s) for tokens."""

    root: x509.Certificate
    tsa: tuple[x509.Certificate, ...]  # the root first, then any external TSA anchors


class Mismatch(SignatureError):
    """A value in the record is not what another part of it says."""
