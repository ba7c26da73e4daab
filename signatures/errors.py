"""Errors of the signatures package.

SignatureError
├── PkiError            keys and certificates cannot be made, loaded or matched
└── TimestampError      a time-stamp request is malformed or refused, or a TSA failed
"""

from __future__ import annotations


class SignatureError(Exception):
    """Root of the signatures package's errors."""


class PkiError(SignatureError):
    pass


class TimestampError(SignatureError):
    pass
