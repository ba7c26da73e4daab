"""`ceremony verify --media`: the media files held against the recording manifest a record's evidence carries.

The manifest (evidence["recording"]) is what the log bound as each segment was
closed, and the record's token and seal cover it; this checks the files beside
the record (a record-media.zip, or a folder laid out as the media root) against
it. Every finding names the segment: missing, altered, out of order (its bytes
are another entry's), or extra (a file the manifest does not list). Media
deleted per retention leaves a tombstone, MEDIA-DELETED.json, and no segments:
that is said, and is not a failure, since the manifest still stands.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import SignatureError
from .untrusted import load_json

TOMBSTONE = "MEDIA-DELETED.json"
README = "README.txt"
_NOT_MEDIA = frozenset({TOMBSTONE, README})  # files a media folder or zip may hold beside the segments
_CHUNK = 1 << 20
# What reading one file may raise: it then counts as altered (a zip entry whose CRC fails, a vanished file).
READ_ERRORS = (OSError, zipfile.BadZipFile, EOFError)


class MediaFiles(Protocol):
    """The files beside a record, by name relative to the media root: only what the check needs."""

    def names(self) -> frozenset[str]: ...

    def digest(self, name: str) -> tuple[int, str]:
        """(size, SHA-256 hex) of one of `names()`."""
        ...

    def read_small(self, name: str) -> bytes:
        """A small file's bytes (the tombstone)."""
        ...


@dataclass(frozen=True, slots=True)
class MemoryFiles:
    files: Mapping[str, bytes]

    def names(self) -> frozenset[str]:
        return frozenset(self.files)

    def digest(self, name: str) -> tuple[int, str]:
        data = self.files[name]
        return len(data), hashlib.sha256(data).hexdigest()

    def read_small(self, name: str) -> bytes:
        return self.files[name]


@dataclass(frozen=True, slots=True)
class FolderFiles:
    """A media root on disk: `<track>/init.mp4`, `<track>/000001.m4s`, ... (hours of video: hashed in chunks)."""

    root: Path

    def names(self) -> frozenset[str]:
        return frozenset(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def digest(self, name: str) -> tuple[int, str]:
        sha, size = hashlib.sha256(), 0
        with (self.root / name).open("rb") as file:
            while chunk := file.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
        return size, sha.hexdigest()

    def read_small(self, name: str) -> bytes:
        return (self.root / name).read_bytes()[:65536]


class ZipFiles:
    """A record-media.zip, read entry by entry (stored entries: no inflating, no whole-file reads)."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path)
        self._entries = {i.filename: i for i in self._zip.infolist() if not i.is_dir()}

    def close(self) -> None:
        self._zip.close()

    def names(self) -> frozenset[str]:
        return frozenset(self._entries)

    def digest(self, name: str) -> tuple[int, str]:
        sha, size = hashlib.sha256(), 0
        with self._zip.open(self._entries[name]) as file:
            while chunk := file.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
        return size, sha.hexdigest()

    def read_small(self, name: str) -> bytes:
        with self._zip.open(self._entries[name]) as file:
            return file.read(65536)


@dataclass(frozen=True, slots=True)
class MediaFinding:
    """One line of the media report; `ok` False fails the check."""

    kind: str  # segment, missing, altered, out_of_order, extra, track, gap, deleted, manifest
    subject: str  # the segment's name, a track, or the media as a whole
    ok: bool
    detail: str


@dataclass(slots=True)
class MediaReport:
    findings: list[MediaFinding] = field(default_factory=list)
    deleted: dict[str, str] | None = None  # the tombstone, when media was deleted per retention

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failed(self) -> list[MediaFinding]:
        return [f for f in self.findings if not f.ok]

    def add(self, kind: str, subject: str, ok: bool, detail: str) -> None:
        self.findings.append(MediaFinding(kind, subject, ok, detail))

    def lines(self) -> list[str]:
        return [f"{'PASS' if f.ok else 'FAIL'}  media.{f.kind:<14} {f.subject}: {f.detail}" for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "deleted": self.deleted,
            "findings": [{"kind": f.kind, "subject": f.subject, "ok": f.ok, "detail": f.detail} for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class _Entry:
    track: str
    name: str
    size: int
    sha256: str
    duration: float


def verify_media(evidence: Mapping[str, Any], files: Mapping[str, bytes] | MediaFiles) -> MediaReport:
    """Hold `files` against evidence["recording"]; each finding names its segment (pure but for `files`' reads)."""
    media: MediaFiles = MemoryFiles(files) if isinstance(files, Mapping) else files
    report = MediaReport()
    recording = evidence.get("recording")
    if not isinstance(recording, Mapping):
        report.add("manifest", "evidence.json", False, "this record has no recording: its ceremony was not recorded")
        return report
    try:
        tracks, entries = _manifest(recording)
    except (KeyError, TypeError, ValueError) as exc:
        report.add("manifest", "evidence.json", False, f"the recording manifest cannot be read: {exc}")
        return report
    names = media.names()
    segments = names - _NOT_MEDIA
    if TOMBSTONE in names and _deleted(report, media, segments):
        _totals(report, tracks)
        return report
    by_content = {(e.size, e.sha256): e.name for e in entries}
    listed = {e.name for e in entries}
    for entry in entries:
        _check_entry(report, media, entry, names, by_content)
    for name in sorted(segments - listed):
        try:
            held = by_content.get(media.digest(name))
        except READ_ERRORS as exc:
            report.add("extra", name, False, f"a file the manifest does not list, and unreadable: {exc}")
            continue
        also = f"; it holds the bytes of {held}" if held else ""
        report.add("extra", name, False, f"a file the manifest does not list{also}")
    _totals(report, tracks)
    return report


def _manifest(recording: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[_Entry]]:
    tracks = list(recording["tracks"])
    entries = [
        _Entry(str(t["track"]), str(s["name"]), int(s["size"]), str(s["sha256"]), float(s["duration"]))
        for t in tracks
        for s in t["segments"]
    ]
    return tracks, entries


def _check_entry(
    report: MediaReport,
    media: MediaFiles,
    entry: _Entry,
    names: frozenset[str],
    by_content: Mapping[tuple[int, str], str],
) -> None:
    if entry.name not in names:
        report.add("missing", entry.name, False, f"listed in the manifest ({entry.size} bytes), not among the files")
        return
    try:
        size, sha = media.digest(entry.name)
    except READ_ERRORS as exc:
        report.add("altered", entry.name, False, f"cannot be read: {exc}")
        return
    if (size, sha) == (entry.size, entry.sha256):
        report.add("segment", entry.name, True, f"{size} bytes, SHA-256 {sha[:16]}… as the log bound it")
        return
    other = by_content.get((size, sha))
    if other is not None:
        report.add("out_of_order", entry.name, False, f"holds the bytes of {other}: segments were swapped or renamed")
        return
    report.add(
        "altered",
        entry.name,
        False,
        f"{size} bytes, SHA-256 {sha[:16]}…; the log bound {entry.size} bytes, SHA-256 {entry.sha256[:16]}…",
    )


def _deleted(report: MediaReport, media: MediaFiles, segments: frozenset[str]) -> bool:
    """Whether the media is gone per retention (reported); False lets the segments be checked as usual."""
    try:
        tombstone = load_json(media.read_small(TOMBSTONE))
        stated = {key: str(tombstone[key]) for key in ("deleted_at", "policy", "by")}
    except (*READ_ERRORS, ValueError, KeyError, TypeError) as exc:
        report.add("deleted", TOMBSTONE, False, f"a retention tombstone that cannot be read: {exc}")
        return False
    if segments:
        shown = ", ".join(sorted(segments)[:3]) + (" …" if len(segments) > 3 else "")
        report.add(
            "deleted", TOMBSTONE, False, f"says the media was deleted, yet {len(segments)} files remain: {shown}"
        )
        return False
    report.deleted = stated
    report.add(
        "deleted",
        "media",
        True,
        f"media deleted per retention ({stated['deleted_at']}, {stated['policy']}, by {stated['by']}); "
        "the manifest in evidence.json still states every segment",
    )
    return True


def _totals(report: MediaReport, tracks: list[dict[str, Any]]) -> None:
    """Per track: its recorded time and each stated gap, from the manifest (the files' checks are above)."""
    for track in tracks:
        name = str(track["track"])
        media = [s for s in track["segments"] if int(s["index"]) > 0]
        gaps = track["gaps"]
        lost = sum(float(g["media_end"]) - float(g["media_start"]) for g in gaps)
        span = (
            f", media {float(media[0]['media_start']):.3f}-"
            f"{float(media[-1]['media_start']) + float(media[-1]['duration']):.3f} s"
            if media
            else ""
        )
        detail = f"{_clock(float(track['recorded_seconds']))} recorded in {len(media)} segments{span}"
        detail += f"; {len(gaps)} gaps, {lost:.3f} s without the hall's media" if gaps else "; no gaps"
        report.add("track", name, True, detail)
        for gap in gaps:
            report.add(
                "gap",
                name,
                True,
                f"media {float(gap['media_start']):.3f}-{float(gap['media_end']):.3f} s "
                f"({gap['wall_start']} to {gap['wall_end']}): {gap['reason']}",
            )


def _clock(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


@contextmanager
def open_media(path: Path) -> Iterator[MediaFiles]:
    """`path` as media files: a record-media.zip or a folder laid out as the media root."""
    if path.is_dir():
        yield FolderFiles(path)
        return
    try:
        media = ZipFiles(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise SignatureError(f"--media {path}: neither a folder nor a readable zip ({exc})") from None
    try:
        yield media
    finally:
        media.close()
