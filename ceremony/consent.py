"""Consent statements: the text a signatory is shown, and the statement their key signs.

A statement is a JSON object, signed as its RFC 8785 canonical bytes. It binds
the decision to the document hash, the text actually shown (by its hash) and
its language, the ceremony, party, signatory and venue, a single-use server
challenge, and the client's clock (the trusted time comes from the TSA). A
decline may carry the signatory's own reason (`reason`), signed with the rest.

The sentence shown names the document by its title only: a 64-digit hash in the
middle of a sentence is unreadable, and the hash is bound anyway, as the
statement's own `document_sha256` field. Sentences of records made before this
(which held the hash) are never rebuilt: the core compares a statement's
`consent_text_sha256` with the sentence only when the consent is given, and a
log is replayed without that check, so those records verify as before.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import asdict, dataclass, fields

from .canonical import canonicalize
from .errors import InvalidCommand
from .model import LANGUAGES, CeremonyDefinition, Signatory
from .text import unsafe_character

STATEMENT_TYPE = "ceremony-consent/1"


class Decision(enum.StrEnum):
    """What a signatory decided; the statement their key signs says which."""

    CONSENT = "consent"
    DECLINE = "decline"


DECISIONS = tuple(d.value for d in Decision)
HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")  # \Z, not `$`: that also matches before a final newline

_TEXTS = {
    Decision.CONSENT: {
        "ko": (
            "본인 {name}({title}){ko_topic} {party}{ko_object} 대표하여, 「{doc}」의 내용을 읽고 이해하였으며 "
            "이에 동의하고 서명합니다."
        ),
        "zh": "本人{name}（{title}）代表{party}，已阅读并理解《{doc}》，同意并签署。",
        "en": (
            "I, {name}, {title}, on behalf of {party}, have read and understood \u201c{doc}\u201d, "
            "and I consent to it and sign it."
        ),
    },
    Decision.DECLINE: {
        "ko": "본인 {name}({title}){ko_topic} {party}{ko_object} 대표하여, 「{doc}」에 서명하지 않습니다.",
        "zh": "本人{name}（{title}）代表{party}，不签署《{doc}》。",
        "en": "I, {name}, {title}, on behalf of {party}, decline to sign \u201c{doc}\u201d.",
    },
}
REASON_LIMIT = 500  # characters of a decline's reason: a few sentences, said in the signatory's words


class BadReason(InvalidCommand):
    """A decline's reason that may not be signed as it is: too long, on a consent, or with unsafe characters."""


def has_final_consonant(word: str) -> bool | None:
    """Whether a word's last Hangul syllable has a final consonant (받침); None when it ends in no Hangul syllable."""
    last = word.rstrip()[-1:]
    if not last or not "\uac00" <= last <= "\ud7a3":
        return None
    return (ord(last) - 0xAC00) % 28 != 0


def korean_particle(word: str, after_consonant: str, after_vowel: str) -> str:
    """The particle that follows `word`: 은/는, 이/가, 을/를 by its final consonant; both, as 은(는), when unknown."""
    final = has_final_consonant(word)
    if final is None:
        return f"{after_consonant}({after_vowel})"
    return after_consonant if final else after_vowel


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentStatement:
    """The JSON object a signatory's key signs, parsed once (`parse_statement`); its bytes are RFC 8785.

    Field names are the wire names: `to_json` gives back exactly the object that was signed.
    """

    type: str
    decision: Decision
    ceremony: str
    document_sha256: str
    consent_text_sha256: str
    language: str
    party: str
    signatory: str
    venue: str
    challenge: str
    client_time: str
    # A decline's reason in the signatory's words ("" when they gave none); None on a consent and on
    # statements made before it existed, whose signed bytes have no such member.
    reason: str | None = None

    def to_json(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items() if value is not None}


OPTIONAL_FIELDS = frozenset({"reason"})
STATEMENT_FIELDS = frozenset(f.name for f in fields(ConsentStatement)) - OPTIONAL_FIELDS


def consent_text(
    definition: CeremonyDefinition, signatory: Signatory, lang: str, sha256: str, decision: Decision | str
) -> str:
    """The exact sentence shown to the signatory; its SHA-256 goes into the statement.

    `sha256` (the document's) is no longer part of the sentence (see the module's docstring); it stays a
    parameter so that callers keep saying which document the sentence is about.
    """
    del sha256
    party = definition.party(signatory.party)
    name, party_name = signatory.name.get(lang), party.name.get(lang)
    return _TEXTS[Decision(decision)][lang].format(
        name=name,
        title=signatory.title.get(lang),
        party=party_name,
        # Korean particles follow the name (before its parenthesised title) and the party's name.
        ko_topic=korean_particle(name, "은", "는"),
        ko_object=korean_particle(party_name, "을", "를"),
        doc=definition.document.title.get(lang),
    )


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_statement(value: object) -> ConsentStatement:
    """Shape checks only (types, lengths); what the values must *be* is checked by the core."""
    if not isinstance(value, dict):
        raise InvalidCommand("the statement must be a JSON object")
    missing = STATEMENT_FIELDS - set(value)
    extra = set(value) - STATEMENT_FIELDS - OPTIONAL_FIELDS
    if missing or extra:
        raise InvalidCommand(
            "the statement must have exactly the fields "
            + ", ".join(sorted(STATEMENT_FIELDS))
            + (f" (missing: {', '.join(sorted(missing))})" if missing else "")
            + (f" (unknown: {', '.join(sorted(extra))})" if extra else "")
        )
    for key in STATEMENT_FIELDS:
        if not isinstance(value[key], str) or not value[key] or len(value[key]) > 200:
            raise InvalidCommand(f"statement field '{key}' must be a non-empty string")
    if value["type"] != STATEMENT_TYPE:
        raise InvalidCommand(f"statement type must be '{STATEMENT_TYPE}'")
    if value["decision"] not in DECISIONS:
        raise InvalidCommand("statement decision must be 'consent' or 'decline'")
    if value["language"] not in LANGUAGES:
        raise InvalidCommand("statement language must be ko, zh or en")
    for key in ("document_sha256", "consent_text_sha256"):
        if not HEX64.match(value[key]):
            raise InvalidCommand(f"statement field '{key}' must be 64 lowercase hex digits")
    reason = value.get("reason")
    if "reason" in value:  # present means a string: a JSON null is not "no reason", it is malformed
        _check_reason(reason, value["decision"])
    return ConsentStatement(
        type=value["type"],
        decision=Decision(value["decision"]),
        ceremony=value["ceremony"],
        document_sha256=value["document_sha256"],
        consent_text_sha256=value["consent_text_sha256"],
        language=value["language"],
        party=value["party"],
        signatory=value["signatory"],
        venue=value["venue"],
        challenge=value["challenge"],
        client_time=value["client_time"],
        reason=reason,
    )


def _check_reason(reason: object, decision: str) -> None:
    """What ceremony/text.py asks of text people read, with line breaks allowed (it comes from a textarea)."""
    if decision != Decision.DECLINE:
        raise BadReason("only a decline statement may carry a reason")
    if not isinstance(reason, str):
        raise BadReason("statement field 'reason' must be a string")
    if len(reason) > REASON_LIMIT:
        raise BadReason(f"a decline's reason is at most {REASON_LIMIT} characters, not {len(reason)}")
    if (unsafe := unsafe_character(reason, lines=True)) is not None:
        raise BadReason(f"a decline's reason {unsafe}")
    if reason != reason.strip():
        raise BadReason("a decline's reason must not begin or end with spaces or line breaks")


def statement_bytes(statement: ConsentStatement) -> bytes:
    """The bytes the signatory's key signed and the TSA stamped."""
    return canonicalize(statement.to_json())
