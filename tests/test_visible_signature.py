"""Visible PAdES signatures in their signatories' boxes, and a MOU that stays PDF 1.7 and PDF/A-3b.

The demo MOU is rendered once and signed by all six signatories the way
signatures/pdf_desk.py does it (its texts, stamp and box, then pades.prepare and
finish with a P-256 key and the built-in TSA), then sealed with a document
timestamp. What is checked is the files: with poppler (pdfsig, pdffonts,
pdftoppm), pypdf and pyHanko, never with the code that wrote them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PageObject, PdfReader
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject
from weasyprint import HTML

from ceremony.model import CeremonyDefinition
from ceremony.state import CeremonyState, Phase
from signatures import pades
from signatures.appearance import SignatureBox, VisibleSignature, stamp_for
from signatures.pdf_desk import signature_stamp, signature_texts
from signatures.pki import KeyPair
from signatures.timestamping import LocalTimestamper, Timestamper, TokenSource
from signatures.tsa import TimeStampAuthority
from tests.helpers import pdfsig
from web.demo.definition import demo_definition
from web.mou import SIGNATURE_BOX_HEIGHT_MM, SIGNATURE_BOX_WIDTH_MM, render_mou_pdf, signature_box

SEAL_FIELD = "Seal-Timestamp-1"

CEREMONY_ID = "0123456789abcdef"
PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"
RDF_DESCRIPTION = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"
PRINT_FLAG, HIDDEN_FLAGS = 4, 1 | 2 | 32  # Invisible, Hidden, NoView
ZONES = {"KR": "KST", "CN": "CST"}
MM = 72 / 25.4


# ---- a ceremony CA of our own, so that only pades and the desk's texts are under test ----


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=not ca, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )  # fmt: skip


@dataclass(frozen=True)
class Authority:
    root: KeyPair
    now: dt.datetime

    @classmethod
    def create(cls, now: dt.datetime) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        root = (
            cls._builder(_name("Visible Signature Test Root"), _name("Visible Signature Test Root"), key, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(KeyPair(certificate=root, key=key), now)

    @staticmethod
    def _builder(
        subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, now: dt.datetime
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number() >> 32)
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
        )

    def issue(self, common: str, usage: x509.ObjectIdentifier) -> KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = (
            self._builder(_name(common), self.root.certificate.subject, key, self.now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=usage == ExtendedKeyUsageOID.TIME_STAMPING)
            .sign(self.root.key, hashes.SHA256())
        )
        return KeyPair(certificate=certificate, key=key)

    def timestamper(self) -> LocalTimestamper:
        tsa = self.issue("Visible Signature Test TSA", ExtendedKeyUsageOID.TIME_STAMPING)
        return LocalTimestamper(TimeStampAuthority(tsa), lambda: dt.datetime.now(dt.UTC))


async def sign(
    pdf: bytes, state: CeremonyState, signatory: str, position: int, authority: Authority, timestamper: Timestamper
) -> tuple[bytes, KeyPair, pades.PreparedSignature]:
    """One signature the way PdfDesk.prepare and finish make it, without HTTP and turns."""
    signer = authority.issue(signatory, ExtendedKeyUsageOID.EMAIL_PROTECTION)
    box = signature_box(pdf, signatory)
    visible = None
    if box is not None:
        stamp = signature_stamp(state, signatory, signer.certificate.serial_number, dt.datetime.now(dt.UTC))
        visible = VisibleSignature(box, stamp)
    texts = signature_texts(state, signatory, position)
    prepared = await pades.prepare(pdf, signer.certificate, [authority.root.certificate], texts, visible)
    value = signer.key.sign(prepared.to_sign, ec.ECDSA(hashes.SHA256()))
    signed = await pades.finish(prepared, value, timestamper)
    return signed.data, signer, prepared


@dataclass(frozen=True)
class Signed:
    original: bytes
    revisions: list[bytes]  # after each signature, then after the document timestamp
    signers: dict[str, KeyPair]
    prepared: dict[str, pades.PreparedSignature]
    authority: Authority

    @property
    def final(self) -> bytes:
        return self.revisions[-1]


def _state(definition: CeremonyDefinition) -> CeremonyState:
    now = dt.datetime.now(dt.UTC)
    return CeremonyState(
        id=CEREMONY_ID, definition=definition, phase=Phase.SIGNING, created_at=now, updated_at=now, seq=1
    )


@pytest.fixture(scope="module")
def definition() -> CeremonyDefinition:
    return demo_definition()


@pytest.fixture(scope="module")
def original(definition: CeremonyDefinition) -> bytes:
    return render_mou_pdf(definition, ceremony_id=CEREMONY_ID)


@pytest.fixture(scope="module")
def signed(definition: CeremonyDefinition, original: bytes) -> Signed:
    authority = Authority.create(dt.datetime.now(dt.UTC))
    timestamper = authority.timestamper()
    state = _state(definition)

    async def ceremony() -> Signed:
        pdf, revisions, signers, prepared = original, [], {}, {}
        for position, person in enumerate(definition.signatories, 1):
            pdf, signers[person.id], prepared[person.id] = await sign(
                pdf, state, person.id, position, authority, timestamper
            )
            revisions.append(pdf)
        # The seal's document timestamp, as pyHanko adds it (the record's own B-LTA seal is in test_record.py).
        output = io.BytesIO()
        stamper = PdfTimeStamper(TokenSource(timestamper), field_name=SEAL_FIELD)
        await stamper.async_timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), "sha256", output=output)
        return Signed(original, [*revisions, output.getvalue()], signers, prepared, authority)

    return asyncio.run(ceremony())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("visible")


# ---- helpers that read the files ----


def _widgets(pdf: bytes) -> dict[str, tuple[int, Any]]:
    """Each signature field's widget by field name, with its page index."""
    reader = PdfReader(io.BytesIO(pdf))
    found = {}
    for index, page in enumerate(reader.pages):
        for annotation in page.get("/Annots", []):
            widget = annotation.get_object()
            if widget.get("/Subtype") == "/Widget" and widget.get("/FT") == "/Sig":
                found[str(widget["/T"])] = (index, widget)
    return found


def _appearance_text(pdf: bytes, widget: Any) -> str:
    """The text of a widget's normal appearance, decoded glyph by glyph through its font's ToUnicode map.

    pypdf extracts text only from page content, so the appearance XObject is drawn on a blank page;
    pypdf ignores /ActualText, so what it reads is what the glyphs say.
    """
    reader = PdfReader(io.BytesIO(pdf))
    page = PageObject.create_blank_page(reader, 300, 100)
    xobjects = DictionaryObject({NameObject("/Stamp"): widget["/AP"].raw_get("/N")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/XObject"): xobjects})
    content = DecodedStreamObject()
    content.set_data(b"/Stamp Do")
    page[NameObject("/Contents")] = content
    return page.extract_text()


def _pdfa_ids(pdf: bytes) -> dict[str, str]:
    root: Any = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data()
    packet = re.search(rb"<rdf:RDF.*</rdf:RDF>", xmp, re.DOTALL)
    assert packet is not None
    rdf = ET.fromstring(packet.group(0))  # noqa: S314 - our own freshly made file
    return {
        key.removeprefix(PDFAID): value
        for description in rdf.iter(RDF_DESCRIPTION)
        for key, value in description.attrib.items()
        if key.startswith(PDFAID)
    }


def _grey_page(pdf: bytes, page: int, workdir: Path, name: str, dpi: int = 72) -> tuple[int, int, bytes]:
    """Page `page` (0-based) rendered by poppler as 8-bit grey: width, height, pixels (row by row)."""
    path = workdir / f"{name}.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page + 1), "-l", str(page + 1), str(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    match = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", done.stdout)
    assert match is not None
    width, height = int(match.group(1)), int(match.group(2))
    return width, height, done.stdout[match.end() :]


def _pdfsig(pdf: bytes, root: x509.Certificate, workdir: Path) -> str:
    """poppler's verdict with the test root trusted in a fresh NSS database."""
    path = workdir / "signed.pdf"
    path.write_bytes(pdf)
    return pdfsig(path, root.public_bytes(Encoding.PEM), workdir)


def _language(definition: CeremonyDefinition, signatory: str) -> tuple[str, str]:
    """The signatory's name in their party's language, and their party's zone label."""
    person = definition.signatory(signatory)
    country = definition.party(person.party).country
    return person.name.get({"KR": "ko", "CN": "zh"}[country]), ZONES[country]


# ---- the boxes ----


def test_each_signatory_has_a_box_on_the_signature_pages(definition: CeremonyDefinition, original: bytes) -> None:
    pages = len(PdfReader(io.BytesIO(original)).pages)
    boxes = {s.id: signature_box(original, s.id) for s in definition.signatories}
    assert all(box is not None for box in boxes.values())
    found = [box for box in boxes.values() if box is not None]
    for box in found:
        x1, y1, x2, y2 = box.rect
        assert pages - 2 <= box.page < pages  # the signature pages close the document
        assert x2 - x1 == pytest.approx(SIGNATURE_BOX_WIDTH_MM * MM)
        assert y2 - y1 == pytest.approx(SIGNATURE_BOX_HEIGHT_MM * MM)
        assert x1 == pytest.approx(18 * MM)  # the page's left margin: the boxes start the English column
        assert y1 > 20 * MM and y2 < (297 - 22) * MM  # between the page's footer and header
    # One box each, none overlapping another on its page.
    for a in found:
        for b in found:
            if a is not b and a.page == b.page:
                assert a.rect[3] <= b.rect[1] or b.rect[3] <= a.rect[1]
    assert signature_box(original, "nobody") is None


def test_a_box_is_found_in_a_later_revision_where_it_was_in_the_original(signed: Signed) -> None:
    for signatory in signed.signers:
        assert signature_box(signed.final, signatory) == signature_box(signed.original, signatory)


# ---- version and PDF/A ----


def test_every_revision_stays_pdf_1_7_and_pdf_a_3b(signed: Signed) -> None:
    assert len(signed.revisions) == len(signed.signers) + 1  # the signatures and the document timestamp
    for revision in [signed.original, *signed.revisions]:
        assert revision.startswith(b"%PDF-1.7\n")
        root: Any = PdfReader(io.BytesIO(revision)).trailer["/Root"]
        version = root.get("/Version")
        assert version is None or float(str(version).lstrip("/")) <= 1.7, version
        assert _pdfa_ids(revision) == {"part": "3", "conformance": "B"}
    root = PdfReader(io.BytesIO(signed.final)).trailer["/Root"]
    # PAdES is declared the PDF 1.7 way; ISO 32002 (ECDSA curves in PDF 2.0) is not claimed.
    assert set(root["/Extensions"]) == {"/ESIC"}
    assert root["/Extensions"]["/ESIC"]["/BaseVersion"] == "/1.7"


def test_every_font_of_the_signed_mou_is_embedded(signed: Signed, workdir: Path) -> None:
    path = workdir / "fonts.pdf"
    path.write_bytes(signed.final)
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True).stdout.splitlines()
    assert lines[0].split()[-5:] == ["emb", "sub", "uni", "object", "ID"]
    fonts = [line for line in lines[2:] if line.strip()]
    assert len(fonts) == 4 + len(signed.signers)  # the MOU's four, one subset per stamp
    for line in fonts:
        # Read from the right: a long font name pushes the columns out of line.
        assert line.split()[-5] == "yes", line
    assert sum("NotoSansCJKkr" in line for line in fonts) == 3
    assert sum("NotoSansCJKsc" in line for line in fonts) == 3


# ---- the widgets and what they show ----


def test_each_widget_lies_in_its_signatorys_box_and_shows_their_name_time_and_serial(
    definition: CeremonyDefinition, signed: Signed
) -> None:
    widgets = _widgets(signed.final)
    _, seal = widgets.pop(SEAL_FIELD)
    assert [float(v) for v in seal["/Rect"]] == [0, 0, 0, 0] and seal["/F"] & PRINT_FLAG  # invisible, PDF/A
    assert len(widgets) == len(signed.signers)
    for field, (page, widget) in widgets.items():
        signatory = field.split("-", 2)[2]
        box = signature_box(signed.original, signatory)
        assert box is not None and page == box.page
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
        assert box.rect[0] <= x1 < x2 <= box.rect[2] and box.rect[1] <= y1 < y2 <= box.rect[3]
        assert (x2 - x1) > box.rect[2] - box.rect[0] - 2 and (y2 - y1) > box.rect[3] - box.rect[1] - 2
        assert widget["/F"] & PRINT_FLAG and not widget["/F"] & HIDDEN_FLAGS
        assert set(widget["/AP"]) == {"/N"}  # PDF/A: the normal appearance only

        text = _appearance_text(signed.final, widget)
        name, zone = _language(definition, signatory)
        serial = format(signed.signers[signatory].certificate.serial_number, "x")
        lines = text.splitlines()
        assert name in lines, text
        assert re.search(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {zone}\b", text), text
        assert serial in text, text
        assert definition.signatory(signatory).name.en not in text  # their own language, not English


def test_the_stamp_time_is_the_signatures_time_in_the_partys_zone(
    definition: CeremonyDefinition, signed: Signed
) -> None:
    widgets = _widgets(signed.final)
    for signatory, prepared in signed.prepared.items():
        _, widget = widgets[prepared.field_name]
        moment = str(widget["/V"]["/M"])  # D:YYYYMMDDHHmmSS+00'00', the signature's own time
        assert moment.endswith(("Z", "+00'00'", "+00'00")), moment
        signed_at = dt.datetime.strptime(moment[2:16], "%Y%m%d%H%M%S")
        offset = dt.timedelta(hours=9 if _language(definition, signatory)[1] == "KST" else 8)
        text = _appearance_text(signed.final, widget)
        assert f"{signed_at + offset:%Y-%m-%d %H:%M:%S}" in text, (moment, text)


def test_the_boxes_are_blank_in_the_original_and_drawn_in_the_signed_mou_and_nothing_else_changes(
    definition: CeremonyDefinition, signed: Signed, workdir: Path
) -> None:
    boxes = [box for s in definition.signatories if (box := signature_box(signed.original, s.id)) is not None]
    last = max(box.page for box in boxes)
    width, height, before = _grey_page(signed.original, last, workdir, "original")
    _, _, after = _grey_page(signed.final, last, workdir, "final")
    page_height = 297 * MM

    def inside(box: SignatureBox, x: int, y: int, margin: int) -> bool:
        x1, y1, x2, y2 = box.rect  # points at 72 dpi are pixels; y runs down in the image
        return x1 - margin <= x < x2 + margin and page_height - y2 - margin <= y < page_height - y1 + margin

    on_page = [box for box in boxes if box.page == last]
    assert len(on_page) >= 2
    for box in on_page:
        pixels = [(x, y) for y in range(height) for x in range(width) if inside(box, x, y, -1)]
        assert all(before[y * width + x] == 255 for x, y in pixels)  # the original's box is empty
        # The signature is drawn in it: at 72 dpi its strokes are mostly grey, some dark.
        assert sum(after[y * width + x] < 255 for x, y in pixels) > 0.05 * len(pixels)
        assert sum(after[y * width + x] < 128 for x, y in pixels) > 0.01 * len(pixels)
    changed = [
        (x, y)
        for y in range(height)
        for x in range(width)
        if before[y * width + x] != after[y * width + x] and not any(inside(b, x, y, 1) for b in on_page)
    ]
    assert changed == []


# ---- validity ----


def test_poppler_reports_each_signature_valid_and_trusted(signed: Signed, workdir: Path) -> None:
    report = _pdfsig(signed.final, signed.authority.root.certificate, workdir)
    # pdfsig lists the document timestamp but does not verify it; pyHanko does, below.
    assert report.count("Signature Type: ETSI.CAdES.detached") == len(signed.signers), report
    assert report.count("Signature is Valid.") == len(signed.signers), report
    assert report.count("Certificate is Trusted.") == len(signed.signers), report
    for signatory in signed.signers:
        assert f"Signer Certificate Common Name: {signatory}\n" in report


_ALLOWED_CHANGES = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING)


async def _pyhanko_verdicts(pdf: bytes, root: x509.Certificate) -> list[str]:
    """pyHanko's judgement of each signature in `pdf`: "ok", or what is wrong with it."""
    anchor = asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))
    verdicts = []
    for embedded in PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures:
        context = ValidationContext(trust_roots=[anchor], allow_fetching=False, revocation_mode="soft-fail")
        if embedded.sig_object.get("/Type") == "/DocTimeStamp":
            stamp = await async_validate_pdf_timestamp(embedded, validation_context=context)
            whole = stamp.coverage is SignatureCoverageLevel.ENTIRE_FILE
            good = stamp.intact and stamp.valid and stamp.trusted and whole
            verdicts.append("ok" if good else stamp.summary())
            continue
        status = await async_validate_pdf_signature(embedded, context, ts_validation_context=context)
        timestamp = status.timestamp_validity
        good = (
            status.bottom_line
            and status.coverage in (SignatureCoverageLevel.ENTIRE_REVISION, SignatureCoverageLevel.ENTIRE_FILE)
            # After a signature, a later one adds a field, a widget and its appearance: form filling,
            # nothing more (not ANNOTATIONS); the seal adds the DSS and the document timestamp.
            and status.modification_level in _ALLOWED_CHANGES
            and timestamp is not None
            and timestamp.valid
            and timestamp.trusted
        )
        verdicts.append("ok" if good else f"{status.summary()} {status.modification_level}")
    return verdicts


async def test_pyhanko_accepts_each_signature_and_the_changes_after_it(signed: Signed) -> None:
    verdicts = await _pyhanko_verdicts(signed.final, signed.authority.root.certificate)
    assert verdicts == ["ok"] * (len(signed.signers) + 1)


# ---- the stamp's words ----


@pytest.mark.parametrize(
    ("country", "name", "place", "when"),
    [
        ("KR", "홍길동", "춘천", "춘천, 2020-05-29 10:21:07 KST"),
        ("CN", "洪吉童", "南京", "南京，2020-05-29 09:21:07 CST"),
        ("DE", "Hong Gildong", "Berlin", "Berlin, 2020-05-29 01:21:07 UTC"),
    ],
)
def test_the_stamp_speaks_the_partys_language_and_keeps_its_time(
    country: str, name: str, place: str, when: str
) -> None:
    names = {"ko": "홍길동", "zh": "洪吉童", "en": "Hong Gildong"}
    places = {"ko": "춘천", "zh": "南京", "en": "Berlin"}
    now = dt.datetime(2020, 5, 29, 1, 21, 7, 250000, tzinfo=dt.UTC)
    stamp = stamp_for(names, places, country, 0x1A2B, now)
    assert stamp.name == name
    assert stamp.details[0] == when
    assert stamp.details[1].endswith(" 1a2b")
    assert stamp.signed_at == now


# ---- an original from before the boxes ----


async def test_an_original_without_boxes_is_signed_invisibly(definition: CeremonyDefinition) -> None:
    old = HTML(string="<p>An MOU rendered before signatures had boxes.</p>").write_pdf(pdf_variant="pdf/a-3b")
    signatory = definition.signatories[0].id
    assert signature_box(old, signatory) is None
    authority = Authority.create(dt.datetime.now(dt.UTC))
    pdf, _, _ = await sign(old, _state(definition), signatory, 1, authority, authority.timestamper())

    ((_, widget),) = _widgets(pdf).values()
    assert [float(v) for v in widget["/Rect"]] == [0, 0, 0, 0]
    assert widget["/F"] & PRINT_FLAG
    root: Any = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    assert pdf.startswith(b"%PDF-1.7") and "/Version" not in root
    assert await _pyhanko_verdicts(pdf, authority.root.certificate) == ["ok"]
