"""Consent statements: the text a signatory is shown, and the statement their key signs.

A statement is a JSON object, signed as its RFC 8785 canonical bytes. It binds
the decision to the document hash, the text actually shown (by its hash) and
its language, the ceremony, party, signatory and venue, a single-use server
challenge, and the client's clock (the trusted time comes from the TSA).
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import asdict, dataclass, fields

from .canonical import canonicalize
from .errors import InvalidCommand
from .model import LANGUAGES, CeremonyDefinition, Signatory

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
            "본인 {name}({title}){ko_topic} {party}{ko_object} 대표하여, SHA-256 값이 {sha}인 "
            "「{doc}」의 내용을 읽고 이해하였으며 이에 동의하고 서명합니다."
        ),
        "zh": "本人{name}（{title}）代表{party}，已阅读并理解SHA-256值为{sha}的《{doc}》，同意并签署。",
        "en": (
            "I, {name}, {title}, on behalf of {party}, have read and understood \u201c{doc}\u201d, "
            "whose SHA-256 is {sha}, and I consent to it and sign it."
        ),
    },
    Decision.DECLINE: {
        "ko": (
            "본인 {name}({title}){ko_topic} {party}{ko_object} 대표하여, SHA-256 값이 {sha}인 「{doc}」에 "
            "서명하지 않습니다."
        ),
        "zh": "本人{name}（{title}）代表{party}，不签署SHA-256值为{sha}的《{doc}》。",
        "en": "I, {name}, {title}, on behalf of {party}, decline to sign \u201c{doc}\u201d, whose SHA-256 is {sha}.",
    },
}


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

    def to_json(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}


STATEMENT_FIELDS = frozenset(f.name for f in fields(ConsentStatement))


def consent_text(
    definition: CeremonyDefinition, signatory: Signatory, lang: str, sha256: str, decision: Decision | str
) -> str:
    """The exact sentence shown to the signatory; its SHA-256 goes into the statement."""
    party = definition.party(signatory.party)
    name, party_name = signatory.name.get(lang), party.name.get(lang)
    return _TEXTS[Decision(decision)][lang].format(
        name=name,
        title=signatory.title.get(lang),
        party=party_name,
        # Korean particles follow the name (before its parenthesised title) and the party's name.
        ko_topic=korean_particle(name, "은", "는"),
        ko_object=korean_particle(party_name, "을", "를"),
        sha=sha256,
        doc=definition.document.title.get(lang),
    )


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_statement(value: object) -> ConsentStatement:
    """Shape checks only (types, lengths); what the values must *be* is checked by the core."""
    if not isinstance(value, dict):
        raise InvalidCommand("the statement must be a JSON object")
    missing = STATEMENT_FIELDS - set(value)
    extra = set(value) - STATEMENT_FIELDS
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
    )


def statement_bytes(statement: ConsentStatement) -> bytes:
    """The bytes the signatory's key signed and the TSA stamped."""
    return canonicalize(statement.to_json())
