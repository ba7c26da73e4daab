"""Errors of the ceremony core. Every exception this package raises derives from
CeremonyError; the web edge maps the leaves to HTTP status codes.

    CeremonyError
    ├── InvalidDefinition      a definition failed validation (400; lists each field)
    ├── InvalidCommand         a command's arguments make no sense here (400)
    ├── CommandRefused         the ceremony's state does not allow it (409)
    │   └── AbsentSignatories  a seal while some have not signed, without absent_ok (409, names them)
    ├── LimitReached           one link or ceremony asks for more than its share (429)
    ├── UnknownCeremony        no ceremony with that id (404)
    └── StoreError             the event store cannot do what was asked
        ├── SequenceConflict   another writer appended first (optimistic check)
        └── CorruptLog         replay met an event it cannot read
"""

from __future__ import annotations


class CeremonyError(Exception):
    """Root of the ceremony core's errors."""


class InvalidDefinition(CeremonyError):
    """`problems`: each {"field": path, "code": code, "reason": English, **parameters} (docs/definition.md)."""

    def __init__(self, problems: list[dict[str, str | int]]) -> None:
        self.problems = problems
        self.errors = [(str(p["field"]), str(p["reason"])) for p in problems]  # (path, reason), as logs read them
        summary = "; ".join(f"{path}: {reason}" for path, reason in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"invalid ceremony definition: {summary}{more}")


class InvalidCommand(CeremonyError):
    pass


class CommandRefused(CeremonyError):
    pass


class AbsentSignatories(CommandRefused):
    """Sealing would record these signatories as absent, and the host has not said so."""

    def __init__(self, absent: tuple[str, ...]) -> None:
        self.absent = absent
        super().__init__(f"not everyone has signed ({', '.join(absent)}); seal with absent_ok to record them as absent")


class LimitReached(CeremonyError):
    """A per-link or per-ceremony limit: nothing was done; the same request works later."""


class UnknownCeremony(CeremonyError):
    pass


class StoreError(CeremonyError):
    pass


class SequenceConflict(StoreError):
    pass


class CorruptLog(StoreError):
    pass
