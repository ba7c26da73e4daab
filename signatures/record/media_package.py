"""record-media.zip, the recording beside the record, and its deletion per retention.

The record (record.zip) stays small: it carries the recording's manifest, bound
into the log segment by segment. The media travels beside it, in a zip that an
archivist downloads and checks with `ceremony verify RECORD.zip --media`. Once the
retention period is over the media is deleted and a tombstone, MEDIA-DELETED.json,
says when and under which policy; the manifest in the record still stands.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ceremony.events import format_time
from ceremony.runtime.durable import sync_directory, write_durably

from ..errors import SignatureError
from .verify_media import README, TOMBSTONE

MEDIA_ZIP = "record-media.zip"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry times: the same media gives the same zip

README_TEXT = """\
The recording of a signing ceremony, beside its record (record.zip).

Each file is a segment of one track: "programme" (both halls side by side, as
broadcast) or "hall-<venue>" (one hall as received). A track is a fragmented MP4:
<track>/init.mp4, then <track>/000001.m4s, 000002.m4s, ... of about two seconds each.

Every segment's name, size and SHA-256 were appended to the ceremony's hash-chained
log as it was recorded, and the sealed record's evidence.json lists them all under
"recording", covered by its evidence timestamp and seal. So a segment that is cut,
reordered or replaced no longer matches.

To check these files against the record:

    ceremony verify record.zip --trust ROOT.pem --media record-media.zip

It names any missing, altered, out-of-order or extra segment, and gives each
track's recorded time and its stated gaps (spans where a hall's media did not
arrive; the video shows a "signal lost" slate there).

By hand: compare each file's hash with evidence.json's "recording" entries,

    sha256sum programme/000001.m4s

and play or inspect a segment by putting it after its track's init segment:

    cat programme/init.mp4 programme/000001.m4s | ffprobe -
    cat programme/init.mp4 programme/*.m4s > programme.mp4
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaPackage:
    path: Path
    segments: int  # files packed
    missing: tuple[str, ...]  # manifest entries with no file under the root (verify --media names them too)
    deleted: bool  # the media was deleted per retention: the zip holds the tombstone only


def manifest_names(evidence_recording: Mapping[str, Any]) -> list[str]:
    """Every segment the manifest names, track by track, in order."""
    return [str(s["name"]) for t in evidence_recording["tracks"] for s in t["segments"]]


def build_media_zip(evidence_recording: Mapping[str, Any], root: Path, out: Path) -> MediaPackage:
    """Write `out` (record-media.zip) from the media `root`: the manifest's segments, stored (media does not
    compress), and README.txt; or only the tombstone once the media was deleted. Replaces `out` in one rename."""
    tombstone = root / TOMBSTONE
    deleted = tombstone.is_file()
    names = [] if deleted else manifest_names(evidence_recording)
    present = [n for n in names if _safe(n) and (root / n).is_file()]
    missing = tuple(n for n in names if n not in present)
    try:
        handle, partial_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    except OSError as exc:
        raise SignatureError(f"cannot write {out}: {exc.strerror}") from None
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as file:
            with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                archive.writestr(_info(README), README_TEXT.encode("utf-8"))
                if deleted:
                    archive.writestr(_info(TOMBSTONE), tombstone.read_bytes())
                for name in present:
                    with (root / name).open("rb") as source, archive.open(_info(name), "w", force_zip64=True) as dest:
                        while chunk := source.read(1 << 20):
                            dest.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        partial.chmod(0o644)
        os.replace(partial, out)
    except OSError as exc:
        raise SignatureError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return MediaPackage(path=out, segments=len(present), missing=missing, deleted=deleted)


def delete_media(root: Path, *, now: datetime, policy: str, by: str = "retention") -> dict[str, str]:
    """Delete a ceremony's media per retention, leaving MEDIA-DELETED.json; returns the tombstone.

    The tombstone is written (and synced) first, then the segments removed: a deletion cut
    short leaves the tombstone beside the rest, which verify --media reports, and running
    this again finishes it. Only the files in the tracks' folders go; nothing else under `root`.
    """
    if now.tzinfo is None:
        raise ValueError("delete_media needs an aware time")
    stone = {"deleted_at": format_time(now), "policy": policy, "by": by}
    path = root / TOMBSTONE
    if path.is_file():
        stone = json.loads(path.read_text("utf-8"))  # a deletion resumed: the first time stands
    else:
        write_durably(path, (json.dumps(stone, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    for track in sorted(p for p in root.iterdir() if p.is_dir()):
        for segment in sorted(track.iterdir()):
            # Every file of a track folder is media or the recorder's scratch (its playlist): all go.
            if segment.is_file():
                segment.unlink()
        sync_directory(track)
        if not any(track.iterdir()):
            track.rmdir()
    sync_directory(root)
    return {key: str(value) for key, value in stone.items()}


def _safe(name: str) -> bool:
    """A manifest name that stays under the media root (the manifest is checked, but a path is a path)."""
    parts = name.split("/")
    return len(parts) == 2 and all(p and p not in (".", "..") and "\\" not in p for p in parts)


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info
