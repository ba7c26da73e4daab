"""The record's zip container (signatures/record/container.py).

Every hostile zip here is built the way an attacker would build it: by hand with struct and
zlib (`_pack`), or with Python's zipfile used in ways it allows; never with the code under test.
"""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import subprocess
import tracemalloc
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signatures.errors import NotARecord
from signatures.record.container import DEFAULT_LIMITS, Archive, Limits, open_archive, write_archive

FILES = {
    "mou-signed.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 64 + b"%%EOF\n",
    "evidence.json": b'{"type":"ceremony-record/1","log":{"length":57}}' * 40,
    "consents/kim-minjun.statement.json": b'{"decision":"consent"}',
    "consents/kim-minjun.sig": bytes.fromhex("3045022100") + bytes(range(64)),
    "certificates/李伟.pem": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "VERIFY.txt": b"",
}


# A hand-made zip: every field can lie.


@dataclass
class Raw:
    name: bytes
    data: bytes = b"hello, archivist\n"
    method: int = 8
    flags: int = 0
    attributes: int = (stat.S_IFREG | 0o644) << 16
    made_by: int = (3 << 8) | 20
    compressed: bytes | None = None  # what is written as the entry's data (default: data, compressed)
    crc: int | None = None
    csize: int | None = None
    usize: int | None = None
    offset: int | None = None  # the central directory's idea of where the local header is
    local_name: bytes | None = None
    local_flags: int | None = None
    local_method: int | None = None
    local_crc: int | None = None
    local_csize: int | None = None
    local_usize: int | None = None
    extra: bytes = b""
    local_extra: bytes = b""
    comment: bytes = b""
    descriptor: bytes = b""
    disk: int = 0
    before: bytes = b""  # bytes written just before the local header


@dataclass
class End:
    disk: int = 0
    cd_disk: int = 0
    on_disk: int | None = None
    entries: int | None = None
    cd_size: int | None = None
    cd_offset: int | None = None
    comment: bytes = b""
    extra_entries: bytes = b""  # raw bytes appended to the central directory
    zip64: bytes = b""  # written between the central directory and the end record


@dataclass
class Layout:
    prefix: bytes = b""
    before_cd: bytes = b""
    suffix: bytes = b""
    end: End = field(default_factory=End)


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def _pack(entries: list[Raw], layout: Layout | None = None) -> bytes:
    layout = layout or Layout()
    out = bytearray(layout.prefix)
    central = bytearray()
    for e in entries:
        out += e.before
        offset = len(out) if e.offset is None else e.offset
        body = e.compressed if e.compressed is not None else (_deflate(e.data) if e.method == 8 else e.data)
        crc = zlib.crc32(e.data) if e.crc is None else e.crc
        csize = len(body) if e.csize is None else e.csize
        usize = len(e.data) if e.usize is None else e.usize
        local_name = e.name if e.local_name is None else e.local_name
        out += _struct_local(
            e.flags if e.local_flags is None else e.local_flags,
            e.method if e.local_method is None else e.local_method,
            crc if e.local_crc is None else e.local_crc,
            csize if e.local_csize is None else e.local_csize,
            usize if e.local_usize is None else e.local_usize,
            local_name,
            e.local_extra,
        )
        out += body + e.descriptor
        central += _struct_central(e, crc, csize, usize, offset)
    out += layout.before_cd
    end = layout.end
    central += end.extra_entries
    cd_offset = len(out)
    out += central + end.zip64
    count = len(entries)
    out += struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        end.disk,
        end.cd_disk,
        count if end.on_disk is None else end.on_disk,
        count if end.entries is None else end.entries,
        len(central) if end.cd_size is None else end.cd_size,
        cd_offset if end.cd_offset is None else end.cd_offset,
        len(end.comment),
    )
    return bytes(out + end.comment + layout.suffix)


def _struct_local(flags: int, method: int, crc: int, csize: int, usize: int, name: bytes, extra: bytes) -> bytes:
    header = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc, csize, usize, len(name), len(extra)
    )
    return header + name + extra


def _struct_central(e: Raw, crc: int, csize: int, usize: int, offset: int) -> bytes:
    header = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        e.made_by,
        20,
        e.flags,
        e.method,
        0,
        0x21,
        crc,
        csize,
        usize,
        len(e.name),
        len(e.extra),
        len(e.comment),
        e.disk,
        0,
        e.attributes,
        offset,
    )
    return header + e.name + e.extra + e.comment


def _zipfile(files: dict[str, bytes], **options: object) -> bytes:
    """A zip as Python's zipfile writes it, like the sealer before write_archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
        for key, value in options.items():
            setattr(archive, key, value)
    return buffer.getvalue()


def _refused(data: bytes, *phrases: str, limits: Limits = DEFAULT_LIMITS) -> Archive:
    """Open `data`, expecting one problem sentence that holds every phrase."""
    archive = open_archive(data, limits)
    matching = [p for p in archive.problems if all(phrase in p for phrase in phrases)]
    assert matching, f"no problem says {phrases!r}: {archive.problems!r}"
    for problem in archive.problems:
        assert problem[:1].isupper() and problem.endswith("."), problem
    return archive


def _good(name: bytes = b"evidence.json", data: bytes = b"{}") -> Raw:
    return Raw(name, data)


# Round trips


def test_write_then_open_gives_the_files_back_in_order() -> None:
    archive = open_archive(write_archive(FILES))
    assert archive.problems == ()
    assert archive.files == FILES
    assert list(archive.files) == list(FILES)


def test_write_is_deterministic() -> None:
    assert write_archive(FILES) == write_archive(dict(FILES))


def test_written_archive_is_plain_for_pythons_zipfile() -> None:
    data = write_archive(FILES)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert {info.filename: archive.read(info) for info in archive.infolist()} == FILES
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3
            assert info.external_attr >> 16 == stat.S_IFREG | 0o644
            assert info.extra == b"" and info.comment == b""
            assert not info.flag_bits & 0x08
            assert bool(info.flag_bits & 0x800) == (not info.filename.isascii())
    assert archive.comment == b""


def test_written_archive_stores_what_deflate_does_not_shrink() -> None:
    noise = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(128))
    with zipfile.ZipFile(io.BytesIO(write_archive({"noise": noise, "text": b"a" * 4000, "empty": b""}))) as archive:
        methods = {info.filename: info.compress_type for info in archive.infolist()}
    assert methods == {"noise": zipfile.ZIP_STORED, "text": zipfile.ZIP_DEFLATED, "empty": zipfile.ZIP_STORED}


def test_empty_archive_round_trips() -> None:
    assert open_archive(write_archive({})) == Archive({}, ())


def test_unzip_tests_and_extracts_the_written_archive(tmp_path: Path) -> None:
    record = tmp_path / "record.zip"
    record.write_bytes(write_archive(FILES))
    subprocess.run(["unzip", "-tq", str(record)], check=True, capture_output=True)
    subprocess.run(["unzip", "-q", str(record), "-d", str(tmp_path / "out")], check=True, capture_output=True)
    pdf = tmp_path / "out" / "mou-signed.pdf"
    assert pdf.read_bytes() == FILES["mou-signed.pdf"]
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o644


def test_7zip_tests_the_written_archive(tmp_path: Path) -> None:
    record = tmp_path / "record.zip"
    record.write_bytes(write_archive(FILES))
    result = subprocess.run(["7z", "t", str(record)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Everything is Ok" in result.stdout


def test_records_sealed_by_zipfile_still_open() -> None:
    archive = open_archive(_zipfile(FILES))
    assert archive == Archive(FILES, ())


def test_a_consistent_data_descriptor_is_accepted() -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.written = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.written += data
            return len(data)

    stream = Unseekable()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in FILES.items():
            archive.writestr(name, data)
    assert struct.unpack_from("<H", stream.written, 6)[0] & 0x08  # zipfile did use descriptors
    assert open_archive(bytes(stream.written)) == Archive(FILES, ())


def test_harmless_extra_fields_from_other_zip_tools_are_accepted() -> None:
    timestamp = struct.pack("<HHBI", 0x5455, 5, 1, 0)
    owner = struct.pack("<HHBBIBI", 0x7875, 11, 1, 4, 1000, 4, 1000)
    archive = open_archive(_pack([Raw(b"evidence.json", b"{}", extra=timestamp, local_extra=timestamp + owner)]))
    assert archive == Archive({"evidence.json": b"{}"}, ())


@pytest.mark.parametrize(
    ("files", "fault"),
    [
        ({"../x": b""}, "'..' path component"),
        ({"/x": b""}, "absolute path"),
        ({"a/": b""}, "is a directory"),
        ({"evidence.json": b"", "Evidence.JSON": b""}, "names the same file"),
    ],
)
def test_write_refuses_what_open_would_refuse(files: dict[str, bytes], fault: str) -> None:
    with pytest.raises(ValueError, match=fault):
        write_archive(files)


# Not a zip at all


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"", "The file is empty"),
        (b"hello", "not a zip file"),
        (b"%PDF-1.7\n" + b"x" * 100, "not a zip file"),
        (b"\0" * 4096, "not a zip file"),
        (b"%PDF-1.7\n" + b"x" * 100 + b"PK\x05\x06" + bytes(18) + b"%%EOF", "not a zip file"),
        (b"%PDF-1.7\n" + b"x" * 100 + b"PK\x05\x06" + bytes(8) + b"\xff" * 10, "not a zip file"),
    ],
)
def test_bytes_that_are_not_a_zip_raise_not_a_record(data: bytes, phrase: str) -> None:
    with pytest.raises(NotARecord, match=phrase):
        open_archive(data)


def test_a_zip_cut_short_raises_not_a_record_saying_so() -> None:
    with pytest.raises(NotARecord, match=r"cut short.*Download the record again"):
        open_archive(write_archive(FILES)[:-30])


# Names


@pytest.mark.parametrize(
    ("name", "flags", "fault"),
    [
        (b"/etc/cron.d/evil", 0, "is an absolute path"),
        (b"C:/Windows/evil.dll", 0, "starts with a drive letter"),
        (b"C:evil", 0, "starts with a drive letter"),
        (b"consents\\a.json", 0, "has a backslash"),
        (b"consents//a.json", 0, "has an empty path component"),
        (b"./evidence.json", 0, "has a '.' path component"),
        (b"consents/./a.json", 0, "has a '.' path component"),
        (b"../../.bashrc", 0, "has a '..' path component"),
        (b"consents/../../x", 0, "has a '..' path component"),
        (b"evidence.json\0.pdf", 0, "has a NUL character"),
        (b"evidence\n.json", 0, "has a control, formatting or other unprintable character"),
        ("evidence\u202enosj.pdf".encode(), 0x800, "has a control, formatting or other unprintable character"),
        (b"", 0, "has an empty name"),
        (b"evidence\xff.json", 0x800, "declared UTF-8 (flag bit 11) that is not UTF-8"),
        ("é.json".encode("cp437"), 0, "non-ASCII bytes in its name without the UTF-8 flag"),
        ("é.json".encode(), 0, "non-ASCII bytes in its name without the UTF-8 flag"),
    ],
)
def test_unsafe_names_are_refused(name: bytes, flags: int, fault: str) -> None:
    archive = _refused(_pack([Raw(name, flags=flags), _good(b"ca.pem")]), "Entry 1 (", fault)
    assert archive.files == {"ca.pem": b"{}"}  # the sound entry is still read, for the report


def test_a_refused_name_is_shown_with_its_unprintable_characters_escaped() -> None:
    _refused(_pack([Raw(b"evidence\x1b[2J.json")]), 'Entry 1 ("evidence\\u001b[2J.json")')


def test_a_non_ascii_name_declared_utf8_is_fine() -> None:
    assert open_archive(_pack([Raw("certificates/李伟.pem".encode(), b"x", flags=0x800)])).problems == ()


# Duplicates


def test_an_exact_duplicate_name_is_refused_and_neither_copy_is_read() -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns, then writes the second copy anyway
        archive.writestr("evidence.json", b'{"genuine":true}')
        archive.writestr("mou-signed.pdf", b"%PDF")
        archive.writestr("evidence.json", b'{"forged":true}')
    refused = _refused(buffer.getvalue(), 'Entry 3 ("evidence.json")', "same name as entry 1")
    assert refused.files == {"mou-signed.pdf": b"%PDF"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("evidence.json", "./evidence.json"),
        ("consents/a.json", "consents\\a.json"),
        ("consents/a.json", "consents//a.json"),
        ("evidence.json", "Evidence.JSON"),
        (unicodedata.normalize("NFC", "certificates/José.pem"), unicodedata.normalize("NFD", "certificates/José.pem")),
    ],
)
def test_names_that_land_on_the_same_file_are_refused(first: str, second: str) -> None:
    data = _pack([Raw(first.encode(), flags=0x800), Raw(second.encode(), flags=0x800)])
    refused = _refused(data, "Entry 2 (", "names the same file as entry 1 (", "tools disagree")
    assert refused.files == {}


# Kinds of entry


def test_a_directory_entry_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.mkdir("consents")
        archive.writestr("evidence.json", b"{}")
    _refused(buffer.getvalue(), 'Entry 1 ("consents/")', "is a directory")


def test_a_directory_by_attributes_alone_is_refused() -> None:
    _refused(_pack([Raw(b"consents", b"", attributes=(stat.S_IFDIR | 0o755) << 16 | 0x10)]), "is a directory")


def test_a_symlink_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("ca.pem")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/ssl/certs/evil.pem")
    _refused(buffer.getvalue(), 'Entry 1 ("ca.pem")', "is a symbolic link")


@pytest.mark.parametrize(
    ("kind", "what"),
    [(stat.S_IFIFO, "named pipe"), (stat.S_IFCHR, "character device"), (stat.S_IFSOCK, "socket")],
)
def test_other_non_regular_files_are_refused(kind: int, what: str) -> None:
    _refused(_pack([Raw(b"ca.pem", attributes=(kind | 0o644) << 16)]), 'Entry 1 ("ca.pem")', what)


def test_set_user_id_bits_are_refused() -> None:
    mode = stat.S_IFREG | stat.S_ISUID | 0o755
    _refused(_pack([Raw(b"verify.sh", attributes=mode << 16)]), 'Entry 1 ("verify.sh")', "set-user-ID")


# Encryption, compression and extra fields


def test_an_encrypted_entry_is_refused() -> None:
    _refused(_pack([Raw(b"evidence.json", flags=0x0001)]), 'Entry 1 ("evidence.json")', "is encrypted")


def test_unknown_flags_are_refused() -> None:
    _refused(_pack([Raw(b"evidence.json", flags=0x0020)]), 'Entry 1 ("evidence.json")', "flags 0x0020")


@pytest.mark.parametrize(("method", "name"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")])
def test_compression_other_than_stored_or_deflate_is_refused(method: int, name: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr("evidence.json", b"{}" * 100)
    _refused(buffer.getvalue(), 'Entry 1 ("evidence.json")', f"compression method {method} ({name})")


def test_a_stored_entry_whose_sizes_differ_is_refused() -> None:
    _refused(_pack([Raw(b"ca.pem", b"abc", method=0, csize=3, usize=5)]), 'Entry 1 ("ca.pem")', "stored uncompressed")


def test_an_unknown_extra_field_is_refused() -> None:
    # Info-ZIP's Unicode path field: unzip and 7-Zip would extract this under another name.
    path = b"\x01" + struct.pack("<I", zlib.crc32(b"ca.pem")) + b"evidence.json"
    extra = struct.pack("<HH", 0x7075, len(path)) + path
    _refused(_pack([Raw(b"ca.pem", extra=extra)]), 'Entry 1 ("ca.pem")', "extra field 0x7075")


def test_an_oversized_harmless_extra_field_is_refused() -> None:
    extra = struct.pack("<HH", 0x5455, 200) + bytes(200)
    _refused(_pack([Raw(b"ca.pem", extra=extra)]), 'Entry 1 ("ca.pem")', "oversized extra field 0x5455 (200 bytes)")


def test_a_version_beyond_what_unzip_reads_is_refused() -> None:
    data = bytearray(_pack([Raw(b"evidence.json")]))
    struct.pack_into("<H", data, 4, 63)  # the local header's "version needed to extract"
    _refused(bytes(data), 'Entry 1 ("evidence.json") asks in its local header for zip version 63')


def test_malformed_extra_fields_are_refused() -> None:
    _refused(_pack([Raw(b"ca.pem", local_extra=b"\x55\x54\x09\x00\x01")]), "malformed extra fields")


def test_a_file_comment_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("evidence.json")
        info.comment = b"see the other evidence.json"
        archive.writestr(info, b"{}")
    _refused(buffer.getvalue(), 'Entry 1 ("evidence.json")', "has a file comment")


# Local header against central directory


@pytest.mark.parametrize(
    ("override", "what"),
    [
        ({"local_name": b"evidence.jsoN"}, 'name ("evidence.jsoN" against "evidence.json")'),
        ({"local_flags": 0x0002}, "flags (0x0002 against 0x0000)"),
        ({"local_crc": 0xDEADBEEF}, "CRC-32 (0xdeadbeef against"),
        ({"local_usize": 999}, "uncompressed size (999 bytes against 2 bytes)"),
        ({"local_method": 0}, "compression method (0 against 8)"),
    ],
)
def test_a_local_header_that_disagrees_with_the_central_directory_is_refused(
    override: dict[str, object], what: str
) -> None:
    _refused(_pack([Raw(b"evidence.json", b"{}", **override)]), 'entry 1 ("evidence.json")', what)  # type: ignore[arg-type]


def test_local_and_central_compressed_sizes_that_disagree_are_refused() -> None:
    body = _deflate(b"{}")
    entries = [Raw(b"evidence.json", b"{}", local_csize=len(body) + 100), _good(b"ca.pem")]
    _refused(_pack(entries), 'entry 1 ("evidence.json")', f"compressed size ({len(body) + 100} bytes against")


def test_a_data_descriptor_that_disagrees_is_refused() -> None:
    data = b'{"a":1}'
    lie = struct.pack("<IIII", 0x08074B50, zlib.crc32(data), len(_deflate(data)), 999)
    entry = Raw(b"evidence.json", data, flags=0x08, local_crc=0, local_csize=0, local_usize=0, descriptor=lie)
    _refused(_pack([entry]), 'data descriptor of entry 1 ("evidence.json")', "999 uncompressed")


# The data


def test_a_crc_that_does_not_match_the_data_is_refused() -> None:
    _refused(_pack([Raw(b"evidence.json", b"{}", crc=0x12345678)]), 'entry 1 ("evidence.json")', "CRC-32")


def test_a_stored_entry_with_a_wrong_crc_is_refused() -> None:
    _refused(_pack([Raw(b"ca.pem", b"PEM", method=0, crc=0)]), 'entry 1 ("ca.pem")', "does not match its CRC-32")


def test_an_entry_that_inflates_to_more_than_declared_is_refused() -> None:
    data = b"x" * 5000
    _refused(_pack([Raw(b"events.jsonl", data, usize=100)]), 'Entry 1 ("events.jsonl")', "more than the 100 bytes")


def test_an_entry_that_inflates_to_less_than_declared_is_refused() -> None:
    _refused(_pack([Raw(b"events.jsonl", b"x" * 50, usize=60)]), 'Entry 1 ("events.jsonl")', "50 bytes but declares 60")


def test_corrupt_deflate_data_is_refused() -> None:
    _refused(_pack([Raw(b"evidence.json", compressed=b"\xff\xff\xff\xff")]), 'entry 1 ("evidence.json")', "corrupt")


def test_deflate_data_cut_short_is_refused() -> None:
    body = _deflate(bytes(range(256)) * 20)
    entry = Raw(b"evidence.json", bytes(range(256)) * 20, compressed=body[: len(body) // 2])
    _refused(_pack([entry]), 'entry 1 ("evidence.json")', "cut short")


def test_bytes_hidden_after_the_deflate_stream_are_refused() -> None:
    entry = Raw(b"evidence.json", b"{}", compressed=_deflate(b"{}") + b"PK\x03\x04hidden")
    _refused(_pack([entry]), 'Entry 1 ("evidence.json")', "10 bytes after the end of its deflate data")


# Layout


def test_bytes_before_the_first_entry_are_refused() -> None:
    # A stub with the offsets adjusted to it, as `zip -A` does for self-extractors.
    _refused(_pack([_good()], Layout(prefix=b"MZ" + b"\0" * 62)), 'Entry 1 ("evidence.json") starts at byte 64')


def test_bytes_prepended_without_adjusting_offsets_are_refused() -> None:
    _refused(b"#!/bin/sh\nexit 0\n" + _zipfile(FILES), "has 17 bytes before its central directory")


def test_a_gap_between_entries_is_refused() -> None:
    data = _pack([_good(b"a"), Raw(b"b", before=b"hidden")])
    _refused(data, 'There are 6 bytes between entry 1 ("a") and entry 2 ("b")')


def test_overlapping_entries_are_refused() -> None:
    # Two central records sharing one local entry: the overlap behind non-recursive zip bombs.
    data = _pack([_good(b"a"), Raw(b"b", offset=0)])
    _refused(data, 'Entry 2 ("b") starts at byte 0, inside entry 1 ("a")')


def test_a_gap_before_the_central_directory_is_refused() -> None:
    _refused(
        _pack([_good()], Layout(before_cd=b"hidden!")),
        'There are 7 bytes between the last entry, entry 1 ("evidence.json")',
    )


def test_bytes_after_the_end_record_are_refused() -> None:
    _refused(_zipfile(FILES) + b"trailing", "has 8 bytes after its end-of-central-directory record")


def test_a_zip_comment_is_refused() -> None:
    _refused(_zipfile(FILES, comment=b"archived 2020"), "comment of 13 bytes")


@pytest.mark.parametrize("order", ["genuine first", "forged first"])
def test_two_concatenated_zips_are_refused(order: str) -> None:
    genuine = _zipfile({"evidence.json": b'{"genuine":true}'})
    forged = _zipfile({"evidence.json": b'{"forged":true}'})
    data = genuine + forged if order == "genuine first" else forged + genuine
    refused = _refused(data, "second end-of-central-directory record at byte", "two zips are joined")
    assert refused.files == {}


def test_a_second_zip_glued_before_with_adjusted_offsets_is_refused() -> None:
    forged = _zipfile({"evidence.json": b'{"forged":true}'})
    data = _pack([_good()], Layout(prefix=forged))
    _refused(data, f"second end-of-central-directory record at byte {len(forged) - 22}")


def test_zip64_from_zipfile_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, archive.open("evidence.json", "w", force_zip64=True) as member:
        member.write(b"{}")
    _refused(buffer.getvalue(), 'Entry 1 ("evidence.json") uses ZIP64')


def test_a_zip64_end_record_is_refused() -> None:
    entries = [_good()]
    plain = _pack(entries)
    cd_offset = len(plain) - 22 - (46 + len(b"evidence.json"))
    cd_size = 46 + len(b"evidence.json")
    record = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x314, 45, 0, 0, 1, 1, cd_size, cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, cd_offset + cd_size, 1)
    end = End(entries=0xFFFF, on_disk=0xFFFF, cd_offset=0xFFFFFFFF, zip64=record + locator)
    _refused(_pack(entries, Layout(end=end)), "ZIP64 extensions in its end record")


def test_a_zip64_entry_size_is_refused() -> None:
    _refused(_pack([Raw(b"evidence.json", usize=0xFFFFFFFF)]), 'Entry 1 ("evidence.json") uses ZIP64 fields')


def test_multi_disk_fields_are_refused() -> None:
    _refused(_pack([_good()], Layout(end=End(disk=1, cd_disk=1))), "span several disks")


def test_a_first_disk_number_in_an_entry_is_refused() -> None:
    _refused(_pack([Raw(b"evidence.json", disk=2)]), 'Entry 1 ("evidence.json") claims to start on disk 2')


def test_entries_hidden_past_the_declared_count_are_refused() -> None:
    data = _pack([_good(b"a"), _good(b"b")], Layout(end=End(entries=1, on_disk=1)))
    _refused(data, "bytes after the 1 entries its end record declares")


# Limits


def test_more_entries_than_allowed_are_refused_from_the_end_record() -> None:
    limits = Limits(max_entries=3, max_entry_bytes=1000, max_total_bytes=1000, max_ratio=100)
    data = _pack([_good(name.encode()) for name in "abcd"])
    _refused(data, "declares 4 entries; a record has at most 3", limits=limits)


# The flood of the report: one empty file, listed over and over in the central directory.
_EMPTY_LOCAL = _struct_local(0, 0, zlib.crc32(b""), 0, 0, b"x", b"")
_EMPTY_CENTRAL = _struct_central(Raw(b"x", b"", method=0), zlib.crc32(b""), 0, 0, 0)


def test_a_cheap_flood_of_entries_is_refused_without_walking_them() -> None:
    count = 60_000
    layout = Layout(prefix=_EMPTY_LOCAL, end=End(entries=count, on_disk=count, extra_entries=_EMPTY_CENTRAL * count))
    refused = _refused(_pack([], layout), "declares 60,000 entries; a record has at most 4,096")
    assert refused == Archive({}, (refused.problems[0],))
    # Central records of zeros would stop a walk at the first one; the count alone decides.
    zeros = bytes(len(_EMPTY_CENTRAL) * count)
    layout = Layout(prefix=_EMPTY_LOCAL, end=End(entries=count, on_disk=count, extra_entries=zeros))
    assert open_archive(_pack([], layout)).problems == refused.problems


def test_a_million_entry_zip64_flood_is_refused_naming_its_count() -> None:
    count = 1_400_000
    directory = _EMPTY_CENTRAL * count
    cd_offset = len(_EMPTY_LOCAL)
    zip64_end = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x314, 45, 0, 0, count, count, len(directory), cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, cd_offset + len(directory), 1)
    end = End(entries=0xFFFF, on_disk=0xFFFF, cd_size=0xFFFFFFFF, extra_entries=directory, zip64=zip64_end + locator)
    refused = _refused(
        _pack([], Layout(prefix=_EMPTY_LOCAL, end=end)), "declares 1,400,000 entries; a record has at most 4,096"
    )
    assert len(refused.problems) == 2 and "ZIP64" in refused.problems[0]


def test_an_entry_declared_larger_than_allowed_is_refused() -> None:
    limits = Limits(max_entries=16, max_entry_bytes=1000, max_total_bytes=10_000, max_ratio=100)
    data = _pack([Raw(b"mou-signed.pdf", b"p" * 1001, method=0)])
    _refused(data, 'Entry 1 ("mou-signed.pdf") declares 1,001 bytes', "more than the 1,000", limits=limits)


def test_entries_declared_larger_together_than_allowed_are_refused() -> None:
    limits = Limits(max_entries=16, max_entry_bytes=1000, max_total_bytes=1500, max_ratio=100)
    data = _pack([Raw(b"a", b"a" * 1000, method=0), Raw(b"b", b"b" * 1000, method=0)])
    refused = _refused(data, "declare 2,000 bytes uncompressed in total, more than the 1,500", limits=limits)
    assert refused.files == {}


def test_a_ratio_beyond_the_limit_is_refused_by_declaration() -> None:
    data = _pack([Raw(b"evidence.json", b"\0" * (1024 * 1024))])
    _refused(data, 'Entry 1 ("evidence.json") would expand', "it is a zip bomb")


def test_small_repetitive_entries_are_not_called_bombs() -> None:
    text = b" " * 60_000
    assert open_archive(_pack([Raw(b"VERIFY.txt", text)])) == Archive({"VERIFY.txt": text}, ())


def test_a_bomb_declared_small_is_inflated_no_further_than_the_cap() -> None:
    cap = 8 * 1024 * 1024
    limits = Limits(max_entries=16, max_entry_bytes=cap, max_total_bytes=2 * cap, max_ratio=100_000)
    zeros = b"\0" * (50 * 1000 * 1000)
    bomb = _pack([Raw(b"evidence.json", zeros, usize=cap)])
    del zeros
    tracemalloc.start()
    try:
        archive = open_archive(bomb, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any('Entry 1 ("evidence.json") inflates to more than the 8,388,608 bytes' in p for p in archive.problems)
    assert peak < 2 * cap


def test_an_honest_bomb_is_refused_before_inflating() -> None:
    zeros = b"\0" * (50 * 1000 * 1000)
    bomb = _pack([Raw(b"evidence.json", zeros)])
    del zeros
    tracemalloc.start()
    try:
        archive = open_archive(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any("would expand" in p and "zip bomb" in p for p in archive.problems)
    assert peak < 1024 * 1024


# Whatever an attacker does to a valid record, the reader answers with files, problems or NotARecord.

_VALID = write_archive(FILES)
_mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, len(_VALID) - 1), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, len(_VALID) - 1), st.integers(1, 64)),
    st.tuples(st.just("insert"), st.integers(0, len(_VALID)), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("truncate"), st.integers(0, len(_VALID) - 1), st.just(0)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, object]]) -> bytes:
    buffer = bytearray(data)
    for kind, at, arg in mutations:
        at = min(at, len(buffer))
        if kind == "set" and at < len(buffer):
            assert isinstance(arg, int)
            buffer[at] = arg
        elif kind == "delete":
            assert isinstance(arg, int)
            del buffer[at : at + arg]
        elif kind == "insert":
            assert isinstance(arg, bytes)
            buffer[at:at] = arg
        elif kind == "truncate":
            del buffer[at:]
    return bytes(buffer)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutation, min_size=1, max_size=4))
def test_mutations_of_a_valid_record_never_escape(mutations: list[tuple[str, int, object]]) -> None:
    data = _mutate(_VALID, mutations)
    try:
        archive = open_archive(data)
    except NotARecord:
        return
    if archive.problems:
        assert all(isinstance(p, str) and p.endswith(".") for p in archive.problems)
    else:
        assert archive.files == FILES
