"""The observers' HLS playlist, written from the log's `recording.segment` events (pure: no I/O).

The playlist is never a file the recorder writes: it is derived from the hash-chained log, so
a segment reaches observers only once it is bound into the record, and a name that the log
does not list cannot be asked for (web/watch.py serves only names found here).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Protocol

INIT_NAME = "init.mp4"
# What may follow /c/{id}/watch/: the init segment or a six-digit media segment, nothing else
# (no dots, slashes or NULs can reach the file system).
SEGMENT_FILE = re.compile(r"(?:init\.mp4|[0-9]{6}\.m4s)\Z")
WINDOW = 6  # segments in the live playlist: ~12 s of 2 s segments, as players want 3+ to hold back


class SegmentLike(Protocol):
    """What the playlist needs of a `recording.segment` event (ceremony.events.SegmentRecorded)."""

    @property
    def track(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def media_start(self) -> float: ...
    @property
    def wall_start(self) -> datetime: ...


def file_name(segment: SegmentLike) -> str:
    """The segment's file name inside its track folder (`programme/000003.m4s` -> `000003.m4s`)."""
    return segment.name.rsplit("/", 1)[-1]


def media_segments(segments: Sequence[SegmentLike]) -> list[SegmentLike]:
    """The media segments (index 1, 2, ...), without the init segment (index 0)."""
    return [s for s in segments if s.index > 0]


def has_init(segments: Sequence[SegmentLike]) -> bool:
    return any(s.index == 0 for s in segments)


def listed(segments: Sequence[SegmentLike], name: str) -> bool:
    """Whether `name` (a file name in the track folder) is one of the logged segments."""
    return any(file_name(s) == name for s in segments)


def live_playlist(
    segments: Sequence[SegmentLike], *, ended: bool, window: int = WINDOW, restarts: Collection[float] = ()
) -> str:
    """An HLS media playlist (version 7, fMP4) of the last `window` media segments.

    `#EXT-X-MEDIA-SEQUENCE` is the first listed segment's index, so it grows with the log and
    players keep their place across reloads; `#EXT-X-ENDLIST` once `ended` (sealed or
    cancelled): players stop reloading. Each segment carries its wall-clock start
    (`#EXT-X-PROGRAM-DATE-TIME`), which lets a player, or the delay benchmark, place it in time.

    `restarts` are the media times at which a restarted recorder went on (its `recorder_restart`
    gaps): the new process's encoder starts its timestamps again, so the segment there gets
    `#EXT-X-DISCONTINUITY`, and `#EXT-X-DISCONTINUITY-SEQUENCE` counts those that left the window.
    """
    media = media_segments(segments)
    shown = media[-window:] if window > 0 else media
    # Every EXTINF rounded to the nearest integer must be <= the target duration (RFC 8216 4.3.3.1).
    target = max((math.ceil(s.duration - 1e-6) for s in shown), default=2)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        f"#EXT-X-MEDIA-SEQUENCE:{shown[0].index if shown else 1}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{sum(_restarts_at(s, restarts) for s in media[: len(media) - len(shown)])}",
        "#EXT-X-INDEPENDENT-SEGMENTS",  # each segment starts with a keyframe
        f'#EXT-X-MAP:URI="{INIT_NAME}"',
    ]
    previous: SegmentLike | None = None
    for segment in shown:
        if previous is not None and (segment.index != previous.index + 1 or _restarts_at(segment, restarts)):
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_date_time(segment.wall_start)}")
        lines.append(f"#EXTINF:{segment.duration:.3f},")
        lines.append(file_name(segment))
        previous = segment
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _restarts_at(segment: SegmentLike, restarts: Collection[float]) -> bool:
    return any(abs(segment.media_start - at) < 1e-3 for at in restarts)


def _date_time(moment: datetime) -> str:
    """ISO 8601 with milliseconds and Z, as HLS players parse it."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
