"""The verifier's report: one line per check, and the error a check raises when parts disagree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature

from ..cms import CmsError
from ..errors import SignatureError


class Mismatch(SignatureError):
    """A value in the record is not what another part of it, or its proof, says."""


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, where, and how it went."""

    name: str  # a stable id, e.g. "pdf.signature", "consent.timestamp"
    subject: str  # where: a file, a signatory, a field
    ok: bool
    detail: str


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)
    root_fingerprint: str = ""  # the root the checks rest on
    pinned: bool = False  # whether the person verifying pinned it (otherwise nothing can be VALID)

    @property
    def ok(self) -> bool:
        return self.pinned and bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def lines(self) -> list[str]:
        return [f"{'PASS' if c.ok else 'FAIL'}  {c.name:<20} {c.subject}: {c.detail}" for c in self.checks]

    def add(self, name: str, subject: str, ok: bool, detail: str) -> bool:
        # Plain str, always: pyHanko's field names are str subclasses that hold their PDF, which a
        # caller's dataclasses.asdict would deep-copy whole (a 300 ms stall in the server, once).
        self.checks.append(Check(str(name), str(subject), bool(ok), str(detail)))
        return ok

    def run(self, name: str, subject: str, check: Callable[[], str]) -> bool:
        """Run `check`; its return value is the detail of a pass, a failure's message the detail of a failure."""
        try:
            return self.add(name, subject, True, check())
        except CHECK_ERRORS as exc:
            return self.add(name, subject, False, str(exc) or type(exc).__name__)

    async def run_async(self, name: str, subject: str, check: Callable[[], Awaitable[str]]) -> bool:
        try:
            return self.add(name, subject, True, await check())
        except CHECK_ERRORS as exc:
            return self.add(name, subject, False, str(exc) or type(exc).__name__)


# What a check of hostile bytes may raise; anything else is a bug in the verifier, not a finding.
CHECK_ERRORS = (CmsError, Mismatch, ValueError, KeyError, TypeError, IndexError, InvalidSignature)
