"""The record's zip container: read strictly, write canonically (docs/record.md).

Archivists check a record offline with whatever tools they have (Python, `unzip`, 7-Zip,
Windows Explorer), so a record is only trustworthy if every tool extracts exactly the files
the verifier checked. Zip lets one byte string mean several archives: duplicate names (Python
reads the last copy, `unzip` the first), two zips joined together, bytes hidden before, between
or after entries, a local header that disagrees with the central directory. We therefore parse
the structure ourselves and accept only the plain form a record has: entries laid end to end
from byte 0, the central directory right after them in the same order, the end record right
after that and nothing else. Two things other zip writers add are tolerated, so that records
sealed by Python's zipfile, or re-zipped with Info-ZIP or 7-Zip, still open: data descriptors
that repeat the central directory exactly, and the small timestamp and owner extra fields.
Which names a record must or may hold is the verifier's business, not the container's.

Names that differ only by Unicode normalisation (NFC) or by letter case count as duplicates:
macOS and Windows extract them onto one file, so which copy survives would depend on the tool.

Nothing a header merely claims is allocated: entries are counted, sized and ratio-checked from
their declarations first, and inflating stops one byte past the declared size, so memory stays
within `Limits` and time within the input's size times `max_ratio`.

Faults are sentences in `Archive.problems`, not exceptions: a record that fails to open is
still something to report on. Only bytes that are not a zip at all raise `NotARecord`.
"""

from __future__ import annotations

import re
import stat
import struct
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from signatures.errors import NotARecord

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class Limits:
    max_entries: int  # a record of 64 signatories with 4 TSAs and a few renewals has < 2048 files
    max_entry_bytes: int  # one uncompressed file
    max_total_bytes: int  # all uncompressed files together
    max_ratio: int  # uncompressed/compressed per entry: a PDF deflates ~1.2x, JSON ~5x, a zip bomb 1000x+


DEFAULT_LIMITS = Limits(
    # Twice the largest record we can picture; walking 4096 headers still takes about a millisecond.
    max_entries=4096,
    # The upload cap: a stored file cannot be larger, and a real PDF barely deflates.
    max_entry_bytes=64 * MIB,
    # Twice the upload cap, which covers a full-size upload of ~1.2x deflated PDFs.
    max_total_bytes=128 * MIB,
    # Twenty times the most compressible real content (JSON, ~5x), a tenth of a bomb's ratio.
    max_ratio=100,
)

# A high ratio on a small entry is just repetitive text (1 KiB of spaces deflates 60x), and
# max_total_bytes already bounds what many small entries can cost together.
RATIO_FLOOR = 64 * KIB


@dataclass(frozen=True, slots=True)
class Archive:
    # When problems is not empty, files holds only the entries that had no problem of their own
    # (none at all when the structure made reading stop): material for a report, never a record.
    files: dict[str, bytes]  # name -> bytes, in archive order
    problems: tuple[str, ...]  # each one clear sentence naming the entry and what is wrong; empty = clean


_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_DESCRIPTOR = struct.Struct("<III")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_EXTRA = struct.Struct("<HH")

_LOCAL_SIG = 0x04034B50
_CENTRAL_SIG = 0x02014B50
_END_SIG = 0x06054B50
_DESCRIPTOR_SIG = 0x08074B50
_ZIP64_LOCATOR_SIG = 0x07064B50
_ZIP64_END_SIG = 0x06064B50
_LOCAL_MAGIC = struct.pack("<I", _LOCAL_SIG)
_CENTRAL_MAGIC = struct.pack("<I", _CENTRAL_SIG)
_END_MAGIC = struct.pack("<I", _END_SIG)
_DESCRIPTOR_MAGIC = struct.pack("<I", _DESCRIPTOR_SIG)

_STORED = 0
_DEFLATED = 8
_METHOD_NAMES = {
    1: "shrink",
    6: "implode",
    9: "deflate64",
    12: "bzip2",
    14: "LZMA",
    19: "IBM TERSE",
    93: "Zstandard",
    95: "xz",
    96: "JPEG",
    97: "WavPack",
    98: "PPMd",
    99: "AES encryption",
}

_ENCRYPTED = 0x0001
_DEFLATE_OPTIONS = 0x0006  # the compressor's speed/size setting; no bearing on what comes out
_HAS_DESCRIPTOR = 0x0008
_STRONG_ENCRYPTION = 0x0040
_UTF8 = 0x0800
_MASKED_HEADERS = 0x2000
_ENCRYPTION_FLAGS = _ENCRYPTED | _STRONG_ENCRYPTION | _MASKED_HEADERS
_KNOWN_FLAGS = _ENCRYPTION_FLAGS | _DEFLATE_OPTIONS | _HAS_DESCRIPTOR | _UTF8

_DOS_VOLUME = 0x08
_DOS_DIRECTORY = 0x10
_SPECIAL_MODE_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
_FILE_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symbolic link",
    stat.S_IFIFO: "named pipe",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}

_ZIP64_EXTRA = 0x0001
# Timestamps and owners that Info-ZIP, 7-Zip and Windows add when someone re-zips a record, each
# with its largest legal size. Anything else is refused: the Info-ZIP Unicode path field (0x7075),
# for one, renames an entry in `unzip` and 7-Zip but not in Python.
_HARMLESS_EXTRAS = {0x5455: 13, 0x7875: 19, 0x000A: 32, 0x5855: 12}

_U16 = 0xFFFF
_U32 = 0xFFFFFFFF

# The zip epoch, 1980-01-01 00:00, in MS-DOS date format: the record's real times are in its tokens.
_EPOCH_DATE = (1 << 5) | 1
_EPOCH_TIME = 0
_MADE_BY_UNIX = (3 << 8) | 20
_NEEDS_DEFLATE = 20
_NEEDS_STORED = 10
_REGULAR_0644 = (stat.S_IFREG | 0o644) << 16
_DRIVE = re.compile(r"[A-Za-z]:")
_STEP = 64 * KIB
_JOINED_CANDIDATES = 32


class _Unreadable(Exception):
    """The structure is broken: past this point, no offset or size can be trusted."""


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int  # 1-based, in central directory order
    raw_name: bytes
    name: str
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    offset: int

    @property
    def label(self) -> str:
        return f"entry {self.index} ({_show(self.name)})"


@dataclass(frozen=True, slots=True)
class _End:
    at: int
    entries: int
    cd_size: int
    cd_offset: int


def open_archive(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Archive:
    """Read a record zip; NotARecord only when `data` is not a zip at all."""
    reader = _Reader(data, limits)
    try:
        files = reader.read()
    except _Unreadable:
        return Archive({}, tuple(reader.problems))
    return Archive(files, tuple(reader.problems))


class _Reader:
    def __init__(self, data: bytes, limits: Limits) -> None:
        self.data = data
        self.limits = limits
        self.problems: list[str] = []
        self.faulty: set[int] = set()  # entries kept out of `files`

    def read(self) -> dict[str, bytes]:
        end = self._end_record()
        entries = self._central_directory(end)
        declared = sum(entry.usize for entry in entries)
        if declared > self.limits.max_total_bytes:
            self._stop(
                f"The entries declare {declared:,} bytes uncompressed in total, more than the "
                f"{self.limits.max_total_bytes:,} a record may have."
            )
        spans = self._local_entries(entries, end.cd_offset)
        files: dict[str, bytes] = {}
        for entry, (start, stop) in zip(entries, spans, strict=True):
            if entry.index not in self.faulty:
                content = self._content(entry, memoryview(self.data)[start:stop])
                if content is not None:
                    files[entry.name] = content
        return files

    def _problem(self, sentence: str, entry: _Entry | None = None) -> None:
        self.problems.append(sentence)
        if entry is not None:
            self.faulty.add(entry.index)

    def _stop(self, sentence: str) -> NoReturn:
        self.problems.append(sentence)
        raise _Unreadable

    # The end record

    def _end_record(self) -> _End:
        data = self.data
        if not data:
            raise NotARecord("The file is empty; a ceremony record is the .zip downloaded from the archive.")
        # The last signature with room for a whole end record after it; a record's is the last 22 bytes.
        at = data.rfind(_END_MAGIC, 0, len(data) - _END.size + 4) if len(data) >= _END.size else -1
        if at < 0:
            if data.startswith(_LOCAL_MAGIC):
                raise NotARecord(
                    "This zip is cut short: it has no end-of-central-directory record. "
                    "Download the record again from the archive."
                )
            raise NotARecord(
                "This is not a zip file (it has no end-of-central-directory record); "
                "a ceremony record is the .zip downloaded from the archive."
            )
        _, disk, cd_disk, on_disk, entries, cd_size, cd_offset, comment = _END.unpack_from(data, at)
        # Garbage (a PDF uploaded by mistake) may hold the end signature by chance; a zip, even one with
        # bytes glued in front, starts with an entry or has its central directory where the end record says.
        directory = at - cd_size
        if not data.startswith((_LOCAL_MAGIC, _END_MAGIC)) and (
            directory < 0 or data[directory : directory + 4] != _CENTRAL_MAGIC
        ):
            raise NotARecord(
                "This is not a zip file (it has no zip entries or central directory); "
                "a ceremony record is the .zip downloaded from the archive."
            )
        self._refuse_zip64(at, on_disk, entries, cd_size, cd_offset)
        if disk or cd_disk or on_disk != entries:
            self._stop("The zip claims to span several disks (its end record has disk numbers); a record is one file.")
        if comment:
            self._joined(0, at)
            self._stop(
                f"The zip carries a comment of {comment:,} bytes after its end record; a record has none, "
                "and bytes there can hide another archive."
            )
        if at + _END.size != len(data):
            self._joined(0, at)
            self._stop(
                f"The file has {len(data) - at - _END.size:,} bytes after its end-of-central-directory record; "
                "a record ends with it."
            )
        if entries > self.limits.max_entries:
            self._stop(f"The zip declares {entries:,} entries; a record has at most {self.limits.max_entries:,}.")
        if cd_offset + cd_size < at:
            self._joined(0, at)
            self._stop(
                f"The file has {at - cd_offset - cd_size:,} bytes before its central directory that the end record "
                f"does not account for (it should start at byte {cd_offset:,} but starts at {at - cd_size:,}): bytes "
                "were added before the first entry or between entries."
            )
        if cd_offset + cd_size > at:
            self._stop(
                f"The end record places the central directory at bytes {cd_offset:,} to {cd_offset + cd_size:,}, "
                f"past its own start at byte {at:,}."
            )
        return _End(at, entries, cd_size, cd_offset)

    def _refuse_zip64(self, at: int, on_disk: int, entries: int, cd_size: int, cd_offset: int) -> None:
        data = self.data
        locator = at - _ZIP64_LOCATOR.size
        has_locator = locator >= 0 and _ZIP64_LOCATOR.unpack_from(data, locator)[0] == _ZIP64_LOCATOR_SIG
        if not has_locator and _U16 not in (on_disk, entries) and _U32 not in (cd_size, cd_offset):
            return
        self.problems.append(
            "The zip uses ZIP64 extensions in its end record; a record is far below 4 GiB and 65,535 files "
            "and never needs them."
        )
        if has_locator:
            # Said as well, so a flood of entries is named for what it is.
            where = _ZIP64_LOCATOR.unpack_from(data, locator)[2]
            if where + _ZIP64_END.size <= locator and _ZIP64_END.unpack_from(data, where)[0] == _ZIP64_END_SIG:
                declared = _ZIP64_END.unpack_from(data, where)[7]
                if declared > self.limits.max_entries:
                    self.problems.append(
                        f"The zip declares {declared:,} entries; a record has at most {self.limits.max_entries:,}."
                    )
        raise _Unreadable

    def _joined(self, start: int, stop: int) -> None:
        """Name a second end record in data[start:stop]: two zips concatenated, read differently by each tool."""
        data = self.data
        at = data.rfind(_END_MAGIC, start, stop)
        # Only the wording depends on this, not the refusal: a few candidates, so that megabytes of
        # planted signatures cannot make it slow.
        for _ in range(_JOINED_CANDIDATES):
            if at < 0:
                return
            if at + _END.size <= stop:
                _, disk, cd_disk, on_disk, entries, cd_size, cd_offset, _ = _END.unpack_from(data, at)
                if not disk and not cd_disk and on_disk == entries and cd_size <= at and cd_offset <= at:
                    self.problems.append(
                        f"The file holds a second end-of-central-directory record at byte {at:,}: two zips are "
                        "joined together, and different tools would extract different ones."
                    )
                    return
            at = data.rfind(_END_MAGIC, start, at)

    # The central directory

    def _central_directory(self, end: _End) -> list[_Entry]:
        data = self.data
        entries: list[_Entry] = []
        exact: dict[str, _Entry] = {}
        same_file: dict[str, _Entry] = {}
        pos = end.cd_offset
        for index in range(1, end.entries + 1):
            if pos + _CENTRAL.size > end.at:
                self._stop(f"Central directory entry {index} is cut short at byte {pos:,}.")
            (sig, _, needs, flags, method, _, _, crc, csize, usize, name_len, extra_len, comment_len, disk, _,
             attributes, offset) = _CENTRAL.unpack_from(data, pos)  # fmt: skip
            if sig != _CENTRAL_SIG:
                self._stop(f"Central directory entry {index} at byte {pos:,} has no header signature.")
            name_at = pos + _CENTRAL.size
            extra_at = name_at + name_len
            after = extra_at + extra_len + comment_len
            if after > end.at:
                self._stop(f"Central directory entry {index} is cut short at byte {pos:,}.")
            raw_name = data[name_at:extra_at]
            name, name_fault = _decode_name(raw_name, flags)
            entry = _Entry(index, raw_name, name, flags, method, crc, csize, usize, offset)
            extras = _read_extras(data[extra_at : extra_at + extra_len])
            if _U32 in (csize, usize, offset) or disk == _U16 or _ZIP64_EXTRA in (extras or {}):
                self._stop(f"{_cap(entry.label)} uses ZIP64 fields; a record never needs them.")
            if disk:
                self._stop(f"{_cap(entry.label)} claims to start on disk {disk}; a record is one file.")
            if name_fault is not None:
                self._problem(f"{_cap(entry.label)} {name_fault}.", entry)
            else:
                fault = _path_fault(name)
                if fault is not None:
                    self._problem(f"{_cap(entry.label)} {fault}.", entry)
            self._check_kind(entry, attributes)
            self._check_storage(entry, extras, "central directory record")
            self._check_version(entry, needs, "central directory record")
            if comment_len:
                self._problem(f"{_cap(entry.label)} has a file comment; a record has none.", entry)
            self._check_size(entry)
            self._check_duplicate(entry, exact, same_file)
            entries.append(entry)
            pos = after
        if pos != end.at:
            self._stop(
                f"The central directory has {end.at - pos:,} bytes after the {end.entries:,} entries its end "
                "record declares; they could hold entries some tools would list."
            )
        return entries

    def _check_kind(self, entry: _Entry, attributes: int) -> None:
        # Read whatever the "made by" system says: some tool honours a Unix mode wherever it appears.
        mode = attributes >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFDIR or attributes & _DOS_DIRECTORY:
            if not entry.name.endswith("/"):  # else the name's sentence says it already
                self._problem(f"{_cap(entry.label)} is a directory; a record holds only files.", entry)
        elif kind == stat.S_IFLNK:
            self._problem(f"{_cap(entry.label)} is a symbolic link; a record holds only regular files.", entry)
        elif kind not in (0, stat.S_IFREG):
            what = _FILE_KINDS.get(kind, "file of unknown type")
            self._problem(
                f"{_cap(entry.label)} is a {what} (Unix mode {mode:#o}), not a regular file; "
                "a record holds only regular files.",
                entry,
            )
        elif attributes & _DOS_VOLUME:
            self._problem(f"{_cap(entry.label)} is a volume label, not a file.", entry)
        if mode & _SPECIAL_MODE_BITS:
            self._problem(
                f"{_cap(entry.label)} has set-user-ID, set-group-ID or sticky bits (Unix mode {mode:#o}); "
                "a record's files are plain.",
                entry,
            )

    def _check_version(self, entry: _Entry, needs: int, where: str) -> None:
        # unzip skips an entry whose version is beyond its own (4.6) while Python reads it regardless.
        if needs & 0xFF > _NEEDS_DEFLATE:
            self._problem(
                f"{_cap(entry.label)} asks in its {where} for zip version {needs & 0xFF} to extract it "
                f"(a record needs {_NEEDS_DEFLATE}), and some tools would skip it.",
                entry,
            )

    def _check_storage(self, entry: _Entry, extras: dict[int, int] | None, where: str) -> None:
        if entry.flags & _ENCRYPTION_FLAGS:
            self._problem(f"{_cap(entry.label)} is encrypted; a record is never encrypted.", entry)
        unknown = entry.flags & ~_KNOWN_FLAGS
        if unknown:
            self._problem(
                f"{_cap(entry.label)} sets general-purpose flags {unknown:#06x}, which a record never uses.", entry
            )
        if entry.method not in (_STORED, _DEFLATED):
            what = _METHOD_NAMES.get(entry.method, "unknown")
            self._problem(
                f"{_cap(entry.label)} uses compression method {entry.method} ({what}); "
                "a record uses only stored (0) or deflate (8).",
                entry,
            )
        elif entry.method == _STORED and entry.csize != entry.usize:
            self._problem(
                f"{_cap(entry.label)} is stored uncompressed but declares {entry.csize:,} bytes stored "
                f"and {entry.usize:,} uncompressed.",
                entry,
            )
        fault = _extras_fault(extras, where)
        if fault is not None:
            self._problem(f"{_cap(entry.label)} {fault}.", entry)

    def _check_size(self, entry: _Entry) -> None:
        limits = self.limits
        if entry.usize > limits.max_entry_bytes:
            self._problem(
                f"{_cap(entry.label)} declares {entry.usize:,} bytes uncompressed, more than the "
                f"{limits.max_entry_bytes:,} one file of a record may have.",
                entry,
            )
        elif entry.usize > RATIO_FLOOR and entry.usize > limits.max_ratio * entry.csize:
            ratio = entry.usize // max(entry.csize, 1)
            self._problem(
                f"{_cap(entry.label)} would expand {ratio:,} times ({entry.csize:,} bytes to {entry.usize:,}), "
                f"beyond the {limits.max_ratio:,} times a record's files reach: it is a zip bomb.",
                entry,
            )

    def _check_duplicate(self, entry: _Entry, exact: dict[str, _Entry], same_file: dict[str, _Entry]) -> None:
        first = exact.get(entry.name)
        if first is not None:
            self.faulty.add(first.index)
            self._problem(
                f"{_cap(entry.label)} has the same name as entry {first.index}; tools disagree about which copy "
                "they extract.",
                entry,
            )
            return
        exact[entry.name] = entry
        key = _same_file_key(entry.name)
        first = same_file.get(key)
        if first is not None:
            self.faulty.add(first.index)
            self._problem(
                f"{_cap(entry.label)} names the same file as {first.label} once './', backslashes, Unicode "
                "normalisation and letter case are set aside; tools disagree about which copy they extract.",
                entry,
            )
            return
        same_file[key] = entry

    # The entries themselves

    def _local_entries(self, entries: list[_Entry], cd_offset: int) -> list[tuple[int, int]]:
        data = self.data
        spans: list[tuple[int, int]] = []
        pos = 0
        previous: _Entry | None = None
        for entry in entries:
            self._check_placement(entry, previous, pos)
            if pos + _LOCAL.size > cd_offset:
                self._stop(f"The local header of {entry.label} runs into the central directory.")
            sig, needs, flags, method, _, _, crc, csize, usize, name_len, extra_len = _LOCAL.unpack_from(data, pos)
            if sig != _LOCAL_SIG:
                self._stop(
                    f"{_cap(entry.label)} has no local header at byte {pos:,}, where the central directory puts it."
                )
            extra_at = pos + _LOCAL.size + name_len
            start = extra_at + extra_len
            stop = start + entry.csize
            if stop > cd_offset:
                self._stop(f"The data of {entry.label} runs into the central directory.")
            extras = _read_extras(data[extra_at:start])
            if _U32 in (csize, usize) or _ZIP64_EXTRA in (extras or {}):
                self._stop(f"{_cap(entry.label)} uses ZIP64 fields in its local header; a record never needs them.")
            sizes_later = bool(entry.flags & _HAS_DESCRIPTOR)
            local_name = data[pos + _LOCAL.size : extra_at]
            if local_name != entry.raw_name:
                self._disagree(entry, "name", _show_bytes(local_name), _show_bytes(entry.raw_name))
            if flags != entry.flags:
                self._disagree(entry, "flags", f"{flags:#06x}", f"{entry.flags:#06x}")
            if method != entry.method:
                self._disagree(entry, "compression method", str(method), str(entry.method))
            # With a data descriptor the local header may leave these zero; the descriptor must then agree.
            if crc != entry.crc and not (sizes_later and crc == 0):
                self._disagree(entry, "CRC-32", f"{crc:#010x}", f"{entry.crc:#010x}")
            for what, local, central in (("compressed", csize, entry.csize), ("uncompressed", usize, entry.usize)):
                if local != central and not (sizes_later and local == 0):
                    self._disagree(entry, f"{what} size", f"{local:,} bytes", f"{central:,} bytes")
            fault = _extras_fault(extras, "local header")
            if fault is not None:
                self._problem(f"{_cap(entry.label)} {fault}.", entry)
            self._check_version(entry, needs, "local header")
            spans.append((start, stop))
            pos = stop + (self._descriptor(entry, stop, cd_offset) if sizes_later else 0)
            previous = entry
        if pos != cd_offset:
            last = f"the last entry, {previous.label}," if previous is not None else "the start of the file"
            self._joined(pos, cd_offset)
            self._stop(f"There are {cd_offset - pos:,} bytes between {last} and the central directory.")
        return spans

    def _check_placement(self, entry: _Entry, previous: _Entry | None, pos: int) -> None:
        if entry.offset == pos:
            return
        if previous is None:
            if entry.offset > pos and entry.offset <= len(self.data):
                self._joined(0, entry.offset)
            self._stop(
                f"{_cap(entry.label)} starts at byte {entry.offset:,}, not at byte 0: bytes before the first "
                "entry are not part of a record."
            )
        if entry.offset > pos:
            self._joined(pos, min(entry.offset, len(self.data)))
            self._stop(f"There are {entry.offset - pos:,} bytes between {previous.label} and {entry.label}.")
        self._stop(
            f"{_cap(entry.label)} starts at byte {entry.offset:,}, inside {previous.label}, which ends at byte {pos:,}."
        )

    def _disagree(self, entry: _Entry, what: str, local: str, central: str) -> None:
        self._problem(
            f"The local header of {entry.label} disagrees with the central directory about its {what} "
            f"({local} against {central}); tools that read one or the other see different files.",
            entry,
        )

    def _descriptor(self, entry: _Entry, at: int, limit: int) -> int:
        """The length of the data descriptor at `at`, which must repeat the central directory's CRC and sizes."""
        data = self.data
        expected = (entry.crc, entry.csize, entry.usize)
        # The signature is optional, and a CRC may happen to equal it: try both readings.
        skips = (4, 0) if data[at : at + 4] == _DESCRIPTOR_MAGIC else (0,)
        for skip in skips:
            if at + skip + _DESCRIPTOR.size <= limit and _DESCRIPTOR.unpack_from(data, at + skip) == expected:
                return skip + _DESCRIPTOR.size
        if at + skips[0] + _DESCRIPTOR.size > limit:
            said = "is missing"
        else:
            said = "says CRC {:#010x}, {:,} bytes compressed, {:,} uncompressed".format(
                *_DESCRIPTOR.unpack_from(data, at + skips[0])
            )
        self._stop(
            f"The data descriptor of {entry.label} {said}, but the central directory says CRC {entry.crc:#010x}, "
            f"{entry.csize:,} bytes compressed, {entry.usize:,} uncompressed."
        )

    def _content(self, entry: _Entry, stored: memoryview) -> bytes | None:
        if entry.method == _DEFLATED:
            if not self._inflates_as_declared(entry, stored):
                return None
            # Known now to inflate to exactly usize bytes: one allocation of that size, no copies.
            content = zlib.decompress(stored, -zlib.MAX_WBITS, max(entry.usize, 1))
        else:
            content = bytes(stored)
        computed = zlib.crc32(content)
        if computed != entry.crc:
            self._problem(
                f"The data of {entry.label} does not match its CRC-32 (computed {computed:#010x}, declared "
                f"{entry.crc:#010x}): it was altered or damaged.",
                entry,
            )
            return None
        return content

    def _inflates_as_declared(self, entry: _Entry, stored: memoryview) -> bool:
        """Inflate in small steps, keeping only the count: never more than usize + 1 bytes come out."""
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        produced = 0
        fed = 0
        try:
            while not inflater.eof and fed < len(stored):
                pending: bytes | memoryview = stored[fed : fed + _STEP]
                fed += len(pending)
                while True:
                    # Never past usize + 1 bytes in all, however the steps fall (and 0 would mean no limit).
                    out = inflater.decompress(pending, min(_STEP, entry.usize + 1 - produced))
                    produced += len(out)
                    if produced > entry.usize:
                        self._problem(
                            f"{_cap(entry.label)} inflates to more than the {entry.usize:,} bytes it declares; "
                            "the rest was not read.",
                            entry,
                        )
                        return False
                    pending = inflater.unconsumed_tail
                    if inflater.eof or not (pending or out):
                        break
        except zlib.error as exc:
            self._problem(f"The deflate data of {entry.label} is corrupt ({exc}).", entry)
            return False
        if not inflater.eof:
            self._problem(f"The deflate data of {entry.label} is cut short: it stops before its last block.", entry)
            return False
        left = len(inflater.unused_data) + len(stored) - fed
        if left:
            self._problem(f"{_cap(entry.label)} has {left:,} bytes after the end of its deflate data.", entry)
            return False
        if produced < entry.usize:
            self._problem(f"{_cap(entry.label)} inflates to {produced:,} bytes but declares {entry.usize:,}.", entry)
            return False
        return True


def write_archive(files: Mapping[str, bytes]) -> bytes:
    """The canonical zip of `files`, in their order; the same files always give the same bytes.

    Deflate at level 9 (stored when that does not help), the zip epoch as every date, no extra
    fields, comments or data descriptors, Unix regular files with mode 0644. ValueError for a
    name or size `open_archive` would refuse. The bytes are reproducible with a given zlib;
    another deflate implementation may choose other (equally valid) bytes.
    """
    body: list[bytes] = []
    directory: list[bytes] = []
    offset = 0
    names: dict[str, str] = {}
    for name, content in files.items():
        fault = _path_fault(name)
        if fault is not None:
            raise ValueError(f"{_show(name)} {fault}")
        key = _same_file_key(name)
        if key in names:
            raise ValueError(f"{_show(name)} names the same file as {_show(names[key])}")
        names[key] = name
        raw_name = name.encode("utf-8")
        if len(raw_name) > _U16 or len(content) >= _U32:
            raise ValueError(f"{_show(name)} is too large for a zip without ZIP64")
        flags = 0 if raw_name.isascii() else _UTF8
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        packed = packer.compress(content) + packer.flush()
        method, needs, stored = (
            (_DEFLATED, _NEEDS_DEFLATE, packed) if len(packed) < len(content) else (_STORED, _NEEDS_STORED, content)
        )
        crc = zlib.crc32(content)
        common = (flags, method, _EPOCH_TIME, _EPOCH_DATE, crc, len(stored), len(content), len(raw_name), 0)
        local = _LOCAL.pack(_LOCAL_SIG, needs, *common)
        directory.append(_CENTRAL.pack(_CENTRAL_SIG, _MADE_BY_UNIX, needs, *common, 0, 0, 0, _REGULAR_0644, offset))
        directory.append(raw_name)
        body += (local, raw_name, stored)
        offset += len(local) + len(raw_name) + len(stored)
    cd = b"".join(directory)
    if len(names) > _U16 or offset + len(cd) >= _U32:
        raise ValueError("the files are too many or too large for a zip without ZIP64")
    end = _END.pack(_END_SIG, 0, 0, len(names), len(names), len(cd), offset, 0)
    return b"".join((*body, cd, end))


# Names


def _decode_name(raw: bytes, flags: int) -> tuple[str, str | None]:
    """The name, and why it cannot be trusted to mean the same to every tool (None if it can)."""
    if flags & _UTF8:
        try:
            return raw.decode("utf-8"), None
        except UnicodeDecodeError:
            return raw.decode("utf-8", "backslashreplace"), "has a name declared UTF-8 (flag bit 11) that is not UTF-8"
    if not raw.isascii():
        return raw.decode("ascii", "backslashreplace"), (
            "has non-ASCII bytes in its name without the UTF-8 flag (bit 11), so each tool would decode it "
            "in its own code page"
        )
    return raw.decode("ascii"), None


def _path_fault(name: str) -> str | None:
    """Why `name` is not a plain relative path to a file (None if it is), as the end of a sentence."""
    if not name:
        return "has an empty name"
    if "\0" in name:
        return "has a NUL character in its name, where C programs would cut it short"
    # Control, formatting (right-to-left override), unusual space and unassigned characters: a name
    # must read the same in a report as on disk. isprintable is one C loop, whatever the name's length.
    if not name.isprintable():
        return "has a control, formatting or other unprintable character in its name"
    if name.startswith("/"):
        return "is an absolute path; a record's paths are relative"
    if _DRIVE.match(name):
        return "starts with a drive letter; a record's paths are relative"
    if "\\" in name:
        return "has a backslash in its name, which Windows tools read as a folder separator"
    if name.endswith("/"):
        return "is a directory; a record holds only files"
    parts = name.split("/")
    if "" in parts:
        return "has an empty path component ('//')"
    if "." in parts:
        return "has a '.' path component"
    if ".." in parts:
        return "has a '..' path component, which would write outside the folder it is extracted to"
    return None


def _same_file_key(name: str) -> str:
    """What a lenient extractor on a case-insensitive, normalising file system would make of `name`."""
    parts = unicodedata.normalize("NFC", name.replace("\\", "/")).casefold().split("/")
    return "/".join(part for part in parts if part not in ("", "."))


def _read_extras(extra: bytes) -> dict[int, int] | None:
    """Tag -> data size of each extra field; None when they do not tile the space exactly or repeat.

    Reading stops at the first field a record never has (the entry is refused for it anyway), so a
    header packed with thousands of tiny fields costs no more than one with five.
    """
    fields: dict[int, int] = {}
    pos = 0
    while pos + _EXTRA.size <= len(extra):
        tag, size = _EXTRA.unpack_from(extra, pos)
        if tag in fields:
            return None
        fields[tag] = size
        if tag not in _HARMLESS_EXTRAS:
            return fields
        pos += _EXTRA.size + size
    return fields if pos == len(extra) else None


def _extras_fault(extras: dict[int, int] | None, where: str) -> str | None:
    if extras is None:
        return f"has malformed extra fields in its {where}"
    for tag, size in extras.items():
        if tag not in _HARMLESS_EXTRAS:
            return f"has extra field {tag:#06x} in its {where}, which a record never uses"
        if size > _HARMLESS_EXTRAS[tag]:
            return f"has an oversized extra field {tag:#06x} ({size} bytes) in its {where}"
    return None


def _show(name: str) -> str:
    """`name` quoted for a sentence, with anything unprintable escaped and length capped."""
    shown = "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in name[:120])
    return f'"{shown}…"' if len(name) > 120 else f'"{shown}"'


def _show_bytes(raw: bytes) -> str:
    return _show(raw.decode("utf-8", "backslashreplace"))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
