"""What the log says was recorded: per track, its segments and its stated gaps, in log order.

A fold over recording.segment and recording.gap events, kept apart from the rest
of the state so that the evidence, the live playlist and the host console read
one account of the recording, and the deciders check new segments against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from .events import RecordingGap, SegmentRecorded

PROGRAMME = "programme"
HALL_PREFIX = "hall-"


def hall_track(venue: str) -> str:
    """The track that records one venue's hall."""
    return f"{HALL_PREFIX}{venue}"


def init_name(track: str) -> str:
    return f"{track}/init.mp4"


def segment_name(track: str, index: int) -> str:
    """Where a track's segment lives under the ceremony's media root (index 0: the init segment)."""
    return init_name(track) if index == 0 else f"{track}/{index:06d}.m4s"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackRecording:
    segments: tuple[SegmentRecorded, ...] = ()  # index 0 (init), 1, 2, ... in order
    gaps: tuple[RecordingGap, ...] = ()

    @property
    def recorded_seconds(self) -> float:
        # Rounded like the media times themselves, so the sum is the same number on every host.
        return round(sum(s.duration for s in self.segments), 6)

    @property
    def last(self) -> SegmentRecorded | None:
        return self.segments[-1] if self.segments else None

    @property
    def media_end(self) -> float:
        """Where the next segment must start on the track's timeline (0 before any segment)."""
        last = self.last
        return 0.0 if last is None else round(last.media_start + last.duration, 6)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingState:
    tracks: Mapping[str, TrackRecording] = field(default_factory=lambda: MappingProxyType({}))

    def track(self, name: str) -> TrackRecording:
        return self.tracks.get(name) or TrackRecording()


def fold_recording(recording: RecordingState, event: SegmentRecorded | RecordingGap) -> RecordingState:
    """The recording after one more of its events (already checked by the decider, or read from a sealed log)."""
    track = recording.track(event.track)
    if isinstance(event, SegmentRecorded):
        track = replace(track, segments=(*track.segments, event))
    else:
        track = replace(track, gaps=(*track.gaps, event))
    return RecordingState(tracks=MappingProxyType({**recording.tracks, event.track: track}))
