"""The rules for recording.segment and recording.gap: what the log will bind as the ceremony's recording.

Each track's segments are logged in order, one by one, with nothing skipped and
nothing twice, and its media timeline is continuous: a span where a hall's media
did not arrive stays in the file (as a slate) and is stated as a gap, never cut
out. So the log alone says how long each track is and where every byte belongs,
and a cut, reordered or replaced segment cannot be made to fit afterwards.
"""

from __future__ import annotations

import math
import re

from .commands import RecordGap, RecordSegment
from .errors import CommandRefused, InvalidCommand
from .events import GAP_REASONS, RecordingGap, SegmentRecorded
from .recording import HALL_PREFIX, PROGRAMME, segment_name
from .state import CeremonyState

CONTINUITY = 0.001  # seconds a segment may start off its predecessor's end (timestamp rounding, not gaps)
MAX_SEGMENT = 60.0  # seconds: segments are a few seconds; a longer one is a recorder fault
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
NOT_RECORDED = "this ceremony is not recorded (its definition has recording off)"


def decide_record_segment(state: CeremonyState, command: RecordSegment) -> list[SegmentRecorded]:
    _recorded(state)
    _track(state, command.track)
    if isinstance(command.index, bool) or not isinstance(command.index, int) or command.index < 0:
        raise InvalidCommand(f"a segment's index is a whole number from 0, not {command.index!r}")
    expected_name = segment_name(command.track, command.index)
    if command.name != expected_name:
        raise InvalidCommand(f"segment {command.index} of track '{command.track}' must be named '{expected_name}'")
    if not isinstance(command.sha256, str) or not _SHA256.match(command.sha256):
        raise InvalidCommand(f"segment '{command.name}' needs its SHA-256 as 64 lower-case hex digits")
    if isinstance(command.size, bool) or not isinstance(command.size, int) or command.size <= 0:
        raise InvalidCommand(f"segment '{command.name}' needs its size in bytes, more than 0")
    media_start = _seconds(command.media_start, f"segment '{command.name}': media_start")
    duration = _seconds(command.duration, f"segment '{command.name}': duration")
    if command.index == 0 and duration != 0:
        raise InvalidCommand(f"'{command.name}' is the init segment: its duration is 0, not {duration}")
    if command.index > 0 and not 0 < duration <= MAX_SEGMENT:
        raise InvalidCommand(f"segment '{command.name}' needs a duration above 0 and at most {MAX_SEGMENT:g} s")
    if command.wall_start.tzinfo is None:
        raise InvalidCommand(f"segment '{command.name}': wall_start needs a UTC offset")
    track = state.recording.track(command.track)
    expected = len(track.segments)
    if command.index != expected:
        said = "already recorded" if command.index < expected else f"expected segment {expected} first"
        raise CommandRefused(
            f"segment {command.index} of track '{command.track}' is out of order: {said} "
            f"({expected} recorded so far, index 0 being init.mp4)"
        )
    # The init segment sets where the track's timeline begins; every media segment continues it.
    if command.index > 0 and abs(media_start - track.media_end) > CONTINUITY:
        raise CommandRefused(
            f"segment '{command.name}' starts at {media_start:.6f} s, but the track's media ends at "
            f"{track.media_end:.6f} s: the timeline is continuous (state a gap, do not cut it out)"
        )
    return [
        SegmentRecorded(
            track=command.track,
            index=command.index,
            name=command.name,
            sha256=command.sha256,
            size=command.size,
            media_start=media_start,
            duration=duration,
            wall_start=command.wall_start,
        )
    ]


def decide_record_gap(state: CeremonyState, command: RecordGap) -> list[RecordingGap]:
    _recorded(state)
    _track(state, command.track)
    if command.reason not in GAP_REASONS:
        raise InvalidCommand(f"a gap's reason is one of {', '.join(GAP_REASONS)}, not {command.reason!r}")
    media_start = _seconds(command.media_start, "a gap's media_start")
    media_end = _seconds(command.media_end, "a gap's media_end")
    if media_end <= media_start:
        raise InvalidCommand(f"a gap ends after it starts (media {media_start:.6f} s to {media_end:.6f} s)")
    if command.wall_start.tzinfo is None or command.wall_end.tzinfo is None:
        raise InvalidCommand("a gap's wall times need a UTC offset")
    if command.wall_end < command.wall_start:
        raise InvalidCommand("a gap's wall_end is before its wall_start")
    gaps = state.recording.track(command.track).gaps
    if command.track == PROGRAMME:
        # The programme shows both halls: each hall's gap is stated on it too (its half shows the
        # slate), so two halls' gaps may overlap there; the same span stated twice may not.
        if any(_same_span(g, media_start, media_end) and g.reason == command.reason for g in gaps):
            raise CommandRefused(
                f"the programme's gap from {media_start:.6f} s to {media_end:.6f} s "
                f"({command.reason}) is stated already"
            )
    elif gaps and media_start < gaps[-1].media_end - CONTINUITY:
        raise CommandRefused(
            f"a gap of track '{command.track}' from {media_start:.6f} s overlaps or precedes the gap "
            f"stated before it (to {gaps[-1].media_end:.6f} s): gaps are stated in order, once"
        )
    return [
        RecordingGap(
            track=command.track,
            media_start=media_start,
            media_end=media_end,
            wall_start=command.wall_start,
            wall_end=command.wall_end,
            reason=command.reason,
        )
    ]


def _same_span(gap: RecordingGap, media_start: float, media_end: float) -> bool:
    return abs(gap.media_start - media_start) <= CONTINUITY and abs(gap.media_end - media_end) <= CONTINUITY


def _recorded(state: CeremonyState) -> None:
    if not state.definition.recording:
        raise CommandRefused(f"cannot record: {NOT_RECORDED}")


def _track(state: CeremonyState, track: str) -> None:
    venue = track.removeprefix(HALL_PREFIX) if track.startswith(HALL_PREFIX) else None
    if track != PROGRAMME and (venue is None or not state.definition.has_venue(venue)):
        known = [PROGRAMME, *(f"{HALL_PREFIX}{v.id}" for v in state.definition.venues)]
        raise InvalidCommand(f"no track '{track}' in this ceremony (have: {', '.join(known)})")


def _seconds(value: float, what: str) -> float:
    """A media time as the log keeps it: finite, not negative, rounded to the microsecond so its JSON is stable."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidCommand(f"{what} must be a finite number of seconds, not negative ({value!r})")
    return round(float(value), 6)
