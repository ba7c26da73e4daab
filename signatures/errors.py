"""Errors of the signatures package.

SignatureError
├── BadSubmission       what a client sent cannot be used: a missing field, a proof or a
│                       signature that does not verify (400; nothing was recorded)
├── PkiError            keys and certificates cannot be made, loaded or matched
│   └── KeyRetired      a key's use period is over: the server must restart to replace it
├── TimestampError      a time-stamp request is malformed or refused, or a TSA failed
├── PdfSigningError     a PAdES signature cannot be made from what was given (the caller may retry)
├── PdfSigningFailed    our side failed to store a good signature; nothing was recorded
├── NotARecord          the bytes given to the verifier are not a ceremony record at all
├── TurnTaken           another signer holds the ceremony's signing turn for too long
└── AlreadySigning      this signatory already has a PDF signature waiting or in hand (409)

BadKey (signatures/keys.py) is a SignatureError for a key or signature that cannot
even be decoded. Rules about the ceremony's state are the core's: the desks let
ceremony.errors.CommandRefused and InvalidCommand through unchanged.
"""

from __future__ import annotations


class SignatureError(Exception):
    """Root of the signatures package's errors."""


class BadSubmission(SignatureError):
    """A browser's submission is unusable as sent; the reason says which part and why."""


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


class AlreadySigning(SignatureError):
    """One unfinished PDF-signing session per signatory: a second is refused until the first ends."""


class TurnTaken(SignatureError):
    """Someone else holds the ceremony's signing turn for too long; the caller may retry shortly."""
