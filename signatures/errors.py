"""Errors of the signatures package.

SignatureError
├── PkiError            keys and certificates cannot be made, loaded or matched
│   └── KeyRetired      a key's use period is over: the server must restart to replace it
└── TimestampError      a time-stamp request is malformed or refused, or a TSA failed
"""

from __future__ import annotations


class SignatureError(Exception):
    """Root of the signatures package's errors."""


class PkiError(SignatureError):
    pass


class KeyRetired(PkiError):
    """A key is asked to sign after its use period; nothing was done (a restart replaces it)."""


class TimestampError(SignatureError):
    pass


class PdfSigningError(SignatureError):
    """A PAdES signature or document timestamp could not be made (the input was wrong: the caller may retry)."""


class PdfSigningFailed(SignatureError):
    """Our side failed to write a signature that was itself good; nothing was recorded."""


class NotARecord(SignatureError):
    """The bytes given to the verifier are not a ceremony record at all (not a zip, or parts missing)."""


class TurnTaken(SignatureError):
    """Someone else holds the ceremony's signing turn for too long; the caller may retry shortly."""
