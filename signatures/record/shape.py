"""The shape of evidence.json, checked before anything reads it: a hostile file gets one clear line, not a crash.

Each rule is a type, a list of one rule, or a dict of key -> rule (every key
required, no others); `OPTIONAL(rule)` allows null, and `ADDED(rule)` a key
that records sealed before it was added lack. Values are then read freely by
the checks, which only need to judge their meaning.
"""

from __future__ import annotations

from typing import Any

from .report import Mismatch


class OPTIONAL:
    def __init__(self, rule: Any) -> None:
        self.rule = rule


class ADDED:
    """A key added to the format later: a record sealed before it may lack the key altogether."""

    def __init__(self, rule: Any) -> None:
        self.rule = rule


TEXT = {"ko": str, "zh": str, "en": str}
CERTIFICATE = {"fingerprint_sha256": str, "subject": str}
STAMPS = [{"token": str, "time": str}]
MANIFEST = [{"name": str, "size": int, "sha256": str}]
APPROVAL = {
    "enrollment": str,
    "key_fingerprint": str,
    "safety_code": str,
    "enrolled_through": {"invitation": str, "label": OPTIONAL(str)},
    "requested_at": str,
    "approved_by": {"actor": str, "invitation": OPTIONAL(str), "label": OPTIONAL(str)},
    "approved_at": str,
    "code_confirmed": bool,
}

SECONDS = float  # a JSON number: an int where canonical JSON wrote 2.0 as 2
RECORDING = {
    "tracks": [
        {
            "track": str,
            "recorded_seconds": SECONDS,
            "segments": [
                {
                    "index": int,
                    "name": str,
                    "sha256": str,
                    "size": int,
                    "media_start": SECONDS,
                    "duration": SECONDS,
                    "wall_start": str,
                }
            ],
            "gaps": [{"media_start": SECONDS, "media_end": SECONDS, "wall_start": str, "wall_end": str, "reason": str}],
        }
    ]
}

EVIDENCE: dict[str, Any] = {
    "type": str,
    "ceremony": {"id": str, "title": TEXT, "frozen_at": OPTIONAL(str), "sealed_at": str},
    "venues": [{"id": str, "name": TEXT, "city": TEXT, "country": str, "timezone": str}],
    "parties": [{"id": str, "name": TEXT, "country": str}],
    "signatories": [
        {
            "id": str,
            "name": TEXT,
            "title": TEXT,
            "party": str,
            "venue": str,
            "status": str,
            "certificate": OPTIONAL({"serial": str, "fingerprint_sha256": str, "not_after": str, "der": str}),
            "approval": ADDED(OPTIONAL(APPROVAL)),
        }
    ],
    "consents": [
        {
            "signatory": str,
            "decision": str,
            "statement": dict,
            "signature": str,
            "certificate_serial": str,
            "timestamps": STAMPS,
            "recorded_at": str,
            "address": str,
            "device": str,
            "device_summary": ADDED(OPTIONAL(str)),
        }
    ],
    "pdf_signatures": [
        {"signatory": str, "field": str, "sha256": str, "size": int, "certificate_serial": str, "timestamps": STAMPS}
    ],
    "documents": {"original": {"sha256": str, "size": int}, "signed": {"sha256": str, "size": int, "file": str}},
    "document_timestamps": [{"field": str, "time": str}],
    "log": {"length": int, "head": str},
    "trust": {"root": CERTIFICATE, "seal": CERTIFICATE, "timestamping": [CERTIFICATE]},
    "manifest": MANIFEST,
    "recording": ADDED(RECORDING),  # only in a recorded ceremony's record
}

RENEWAL: dict[str, Any] = {
    "type": str,
    "ceremony": str,
    "sequence": int,
    "document_timestamps": [{"field": str, "time": str}],
    "manifest": MANIFEST,
}


def check_shape(value: Any, rule: Any = None, path: str = "evidence") -> None:
    """Mismatch naming the first place where `value` departs from `rule` (default: evidence.json's)."""
    rule = EVIDENCE if rule is None else rule
    if isinstance(rule, ADDED):
        check_shape(value, rule.rule, path)
        return
    if isinstance(rule, OPTIONAL):
        if value is not None:
            check_shape(value, rule.rule, path)
        return
    if isinstance(rule, dict):
        if not isinstance(value, dict):
            raise Mismatch(f"{path} must be an object")
        required = {key for key, sub in rule.items() if not isinstance(sub, ADDED)}
        missing, extra = sorted(required - set(value)), sorted(set(value) - set(rule))
        if missing:
            raise Mismatch(f"{path} lacks {', '.join(missing)}")
        if extra:
            raise Mismatch(f"{path} has fields a record does not have: {', '.join(extra)}")
        for key, sub in rule.items():
            if key in value:
                check_shape(value[key], sub, f"{path}.{key}")
        return
    if isinstance(rule, list):
        if not isinstance(value, list):
            raise Mismatch(f"{path} must be a list")
        for i, item in enumerate(value):
            check_shape(item, rule[0], f"{path}[{i}]")
        return
    if rule is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise Mismatch(f"{path} must be a whole number")
    if rule is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Mismatch(f"{path} must be a number")
        return
    if not isinstance(value, rule):
        raise Mismatch(f"{path} must be {rule.__name__}")
