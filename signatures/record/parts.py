"""The one table of a record's files: what each is, which layer binds it, and its order in the zip.

A record is built in layers, each binding everything before it:

- `sealed`: every file listed, with its size and SHA-256, in evidence.json's manifest;
- `evidence`: evidence.json itself and what is made over it (its RFC 3161 tokens, its CMS seal);
- `renewal`: each renewal's manifest of every file before it, and its tokens (docs/record.md).

A name matching no part is refused by the verifier, so adding a kind of file to
the record means adding one row here (and its message key for the archive page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIGNED_PDF = "mou-signed.pdf"
EVIDENCE = "evidence.json"
SEALED, EVIDENCE_LAYER, RENEWAL = "sealed", "evidence", "renewal"

# A signatory id as the definition allows it; 1-based TSA numbers; CRLs named by their issuer's key id.
_ID = r"[a-z0-9][a-z0-9-]{0,47}"
_N = r"[1-9][0-9]{0,2}"


@dataclass(frozen=True, slots=True)
class Part:
    pattern: str  # the whole name, as a regular expression
    layer: str
    key: str  # message key of its description on the archive page (web/messages.py)

    def matches(self, name: str) -> bool:
        return re.fullmatch(self.pattern, name) is not None


PARTS: tuple[Part, ...] = (
    Part(re.escape(SIGNED_PDF), SEALED, "archive.file.signed_pdf"),
    Part(re.escape(EVIDENCE), EVIDENCE_LAYER, "archive.file.evidence"),
    Part(r"evidence\.tsr", EVIDENCE_LAYER, "archive.file.evidence_tsr"),
    Part(rf"evidence\.{_N}\.tsr", EVIDENCE_LAYER, "archive.file.evidence_tsr"),
    Part(r"evidence\.p7s", EVIDENCE_LAYER, "archive.file.evidence_p7s"),
    Part(r"events\.jsonl", SEALED, "archive.file.events"),
    Part(r"completion\.pdf", SEALED, "archive.file.completion"),
    Part(r"VERIFY\.txt", SEALED, "archive.file.verify"),
    Part(r"ca\.pem", SEALED, "archive.file.ca"),
    Part(r"chain\.pem", SEALED, "archive.file.chain"),
    Part(r"tsa\.pem", SEALED, "archive.file.tsa"),
    Part(r"seal\.pem", SEALED, "archive.file.seal"),
    Part(r"tsa-ca\.pem", SEALED, "archive.file.tsa_ca"),
    Part(r"revocation/[0-9a-f]{16,64}\.crl", SEALED, "archive.file.crl"),
    Part(rf"consents/{_ID}\.statement\.json", SEALED, "archive.file.statement"),
    Part(rf"consents/{_ID}\.sig", SEALED, "archive.file.statement_sig"),
    Part(rf"consents/{_ID}\.tsr", SEALED, "archive.file.statement_tsr"),
    Part(rf"consents/{_ID}\.{_N}\.tsr", SEALED, "archive.file.statement_tsr"),
    Part(rf"certificates/{_ID}\.pem", SEALED, "archive.file.certificate"),
    Part(rf"signatures/{_ID}\.value", SEALED, "archive.file.signature_value"),
    Part(rf"signatures/{_ID}\.tsr", SEALED, "archive.file.signature_tsr"),
    Part(rf"signatures/{_ID}\.{_N}\.tsr", SEALED, "archive.file.signature_tsr"),
    Part(rf"renewals/{_N}\.json", RENEWAL, "archive.file.renewal"),
    Part(rf"renewals/{_N}\.tsr", RENEWAL, "archive.file.renewal_tsr"),
    Part(rf"renewals/{_N}\.{_N}\.tsr", RENEWAL, "archive.file.renewal_tsr"),
    Part(rf"renewals/{_N}/[0-9a-f]{{16,64}}\.crl", RENEWAL, "archive.file.crl"),
)


def part_of(name: str) -> Part | None:
    return next((part for part in PARTS if part.matches(name)), None)


def token_name(stem: str, index: int) -> str:
    """The file of the `index`-th TSA's token (0-based) over `stem`: the first TSA's has no number."""
    return f"{stem}.tsr" if index == 0 else f"{stem}.{index + 1}.tsr"


def ordered(names: list[str]) -> list[str]:
    """Names in table order (the PDF first, so a person unzipping sees it), then alphabetically."""
    rank = {part.pattern: i for i, part in enumerate(PARTS)}

    def key(name: str) -> tuple[int, str]:
        part = part_of(name)
        return (rank[part.pattern] if part else len(PARTS), name)

    return sorted(names, key=key)
