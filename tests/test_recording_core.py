"""The recording in the core: the definition's flag, the recorder's link, recording.segment and recording.gap."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ceremony.canonical import canonicalize
from ceremony.chain import link
from ceremony.commands import (
    Cancel,
    Command,
    Freeze,
    IssueInvitation,
    OpenRooms,
    RecordGap,
    RecordSegment,
    Seal,
    StartSegment,
)
from ceremony.core import decide, evolve, initial_state
from ceremony.definition import definition_to_json, parse_definition
from ceremony.errors import CommandRefused, InvalidCommand, InvalidDefinition
from ceremony.events import (
    CeremonyDrafted,
    Envelope,
    Event,
    RecordingGap,
    Role,
    SegmentRecorded,
    event_from_json,
    event_to_json,
    type_name,
)
from ceremony.state import CeremonyState, Phase
from tests.helpers import CEREMONY, SHA, T0, TOKEN_A, make_definition

RECORDED = replace(make_definition(), recording=True)


class Recorded:
    """A recorded ceremony stepped by hand: decide at explicit times, wrap in envelopes, evolve."""

    def __init__(self, definition: Any = RECORDED) -> None:
        drafted = Envelope(
            ceremony=CEREMONY, seq=1, at=T0, actor="operator", event=CeremonyDrafted(definition=definition)
        )
        self.state: CeremonyState = initial_state(drafted)
        self.envelopes = [drafted]

    def run(self, command: Command) -> list[Event]:
        at = T0 + timedelta(minutes=len(self.envelopes))
        events = decide(self.state, command, now=at)
        for event in events:
            envelope = Envelope(ceremony=CEREMONY, seq=self.state.seq + 1, at=at, actor="recorder:inv-rec", event=event)
            self.state = evolve(self.state, envelope)
            self.envelopes.append(envelope)
        return events


def opened(definition: Any = RECORDED) -> Recorded:
    log = Recorded(definition)
    log.run(Freeze(document_sha256=SHA, document_size=4096))
    log.run(OpenRooms())
    return log


def segment(track: str = "programme", index: int = 1, *, start: float | None = None, **changes: Any) -> RecordSegment:
    """Segment `index` of `track`: init at 0 s, then two seconds each from 0 s."""
    name = f"{track}/init.mp4" if index == 0 else f"{track}/{index:06d}.m4s"
    values: dict[str, Any] = {
        "track": track,
        "index": index,
        "name": name,
        "sha256": hashlib.sha256(name.encode()).hexdigest(),
        "size": 1000 + index,
        "media_start": (2.0 * (index - 1) if index else 0.0) if start is None else start,
        "duration": 2.0 if index else 0.0,
        "wall_start": T0 + timedelta(seconds=2 * index),
    }
    return RecordSegment(**(values | changes))


def recorded(log: Recorded, track: str = "programme", count: int = 3) -> None:
    for index in range(count + 1):
        log.run(segment(track, index))


GAP = RecordGap(
    track="hall-hall-kr",
    media_start=4.0,
    media_end=7.5,
    wall_start=T0 + timedelta(seconds=4),
    wall_end=T0 + timedelta(seconds=7.5),
    reason="peer_left",
)


# ------------------------------------------------------------------ the definition


def test_recording_is_off_unless_the_definition_says_true_and_only_then_is_it_written() -> None:
    plain = definition_to_json(make_definition())
    assert "recording" not in plain  # a definition logged before the field re-serialises byte for byte
    assert parse_definition(plain).recording is False
    on = definition_to_json(RECORDED)
    assert on["recording"] is True
    assert parse_definition(on) == RECORDED
    assert parse_definition(plain | {"recording": False}).recording is False


@pytest.mark.parametrize("value", ["true", 1, 0, "yes", [], {}])
def test_a_recording_flag_that_is_not_a_json_bool_is_a_bad_flag(value: object) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(definition_to_json(make_definition()) | {"recording": value})
    assert caught.value.problems == [{"field": "recording", "code": "bad_flag", "reason": "must be true or false"}]


def test_a_recorded_ceremony_has_exactly_two_halls() -> None:
    """The programme shows both halls side by side: one hall, or three, cannot be recorded."""
    two = definition_to_json(make_definition()) | {"recording": True}
    assert len(two["venues"]) == 2 and parse_definition(two).recording
    for venues in (two["venues"][:1], [*two["venues"], {**two["venues"][0], "id": "third-hall"}]):
        with pytest.raises(InvalidDefinition) as caught:
            parse_definition(two | {"venues": venues})
        [problem] = [p for p in caught.value.problems if p["field"] == "recording"]
        assert problem["code"] == "two_halls" and problem["found"] == len(venues)
    three = [*two["venues"], {**two["venues"][0], "id": "third-hall"}]
    assert parse_definition(two | {"venues": three, "recording": False}).recording is False  # unrecorded: fine


# ------------------------------------------------------------------ the recorder's link


def test_a_recorder_link_needs_a_recorded_ceremony() -> None:
    log = opened(make_definition())
    with pytest.raises(CommandRefused, match="not recorded"):
        log.run(IssueInvitation(invitation="inv-rec", role=Role.RECORDER, token_sha256=TOKEN_A))


def test_a_recorder_link_is_issued_once_frozen_and_names_nothing() -> None:
    draft = Recorded()
    with pytest.raises(CommandRefused, match="freeze first"):
        draft.run(IssueInvitation(invitation="inv-rec", role=Role.RECORDER, token_sha256=TOKEN_A))
    log = opened()
    with pytest.raises(InvalidCommand, match="other links neither"):
        log.run(IssueInvitation(invitation="inv-rec", role=Role.RECORDER, token_sha256=TOKEN_A, venue="hall-kr"))
    log.run(IssueInvitation(invitation="inv-rec", role=Role.RECORDER, token_sha256=TOKEN_A, label="recorder"))
    assert log.state.invitations["inv-rec"].role is Role.RECORDER
    assert log.state.invitations["inv-rec"].actor == "recorder:inv-rec"


# ------------------------------------------------------------------ segments


def test_segments_fold_into_the_recording_per_track_in_order() -> None:
    log = opened()
    recorded(log, "programme", 3)
    recorded(log, "hall-hall-kr", 2)
    programme = log.state.recording.tracks["programme"]
    assert [s.index for s in programme.segments] == [0, 1, 2, 3]
    assert programme.recorded_seconds == 6.0
    assert programme.last is not None and programme.last.name == "programme/000003.m4s"
    assert log.state.recording.tracks["hall-hall-kr"].recorded_seconds == 4.0
    assert log.state.recording.track("hall-hall-cn").last is None


def test_recording_goes_on_through_signing_and_stops_at_the_seal_or_cancellation() -> None:
    log = opened()
    recorded(log, "programme", 1)
    log.run(StartSegment(segment="signing"))
    log.run(segment("programme", 2))
    log.run(Seal(absent_ok=True))
    with pytest.raises(CommandRefused, match="cannot record a segment: the ceremony is sealed"):
        log.run(segment("programme", 3))
    cancelled = opened()
    cancelled.run(Cancel(reason="the video link failed"))
    with pytest.raises(CommandRefused, match="cancelled"):
        cancelled.run(segment("programme", 0))
    with pytest.raises(CommandRefused, match="cannot record a gap"):
        cancelled.run(GAP)


def test_nothing_is_recorded_before_the_rooms_open() -> None:
    log = Recorded()
    log.run(Freeze(document_sha256=SHA, document_size=4096))
    with pytest.raises(CommandRefused, match="rooms are not open"):
        log.run(segment("programme", 0))


def test_a_ceremony_without_recording_refuses_segments_and_gaps() -> None:
    log = opened(make_definition())
    with pytest.raises(CommandRefused, match="not recorded"):
        log.run(segment("programme", 0))
    with pytest.raises(CommandRefused, match="not recorded"):
        log.run(GAP)


@pytest.mark.parametrize("track", ["hall-nowhere", "programme2", "hall-", "kr", "Programme"])
def test_an_unknown_track_is_refused(track: str) -> None:
    with pytest.raises(InvalidCommand, match=f"no track '{track}'.*have: programme, hall-hall-kr, hall-hall-cn"):
        opened().run(segment(track, 0))


def test_segments_are_numbered_one_by_one_and_never_twice() -> None:
    log = opened()
    with pytest.raises(CommandRefused, match="segment 1 of track 'programme' is out of order: expected segment 0"):
        log.run(segment("programme", 1))
    recorded(log, "programme", 2)
    with pytest.raises(CommandRefused, match=r"segment 4 .* out of order: expected segment 3 first"):
        log.run(segment("programme", 4, start=6.0))
    with pytest.raises(CommandRefused, match=r"segment 2 .* out of order: already recorded"):
        log.run(segment("programme", 2))
    with pytest.raises(CommandRefused, match="out of order: already recorded"):
        log.run(segment("programme", 0))
    assert len(log.state.recording.tracks["programme"].segments) == 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "programme/1.m4s"}, "must be named 'programme/000001.m4s'"),
        ({"name": "hall-kr/000001.m4s"}, "must be named 'programme/000001.m4s'"),
        ({"sha256": "AB" * 32}, "64 lower-case hex"),
        ({"sha256": "ab" * 31}, "64 lower-case hex"),
        ({"sha256": "zz" * 32}, "64 lower-case hex"),
        ({"size": 0}, "size in bytes"),
        ({"size": -5}, "size in bytes"),
        ({"duration": 0.0}, "duration above 0"),
        ({"duration": 600.0}, "duration above 0"),
        ({"media_start": -1.0}, "not negative"),
        ({"media_start": float("nan")}, "finite"),
        ({"wall_start": T0.replace(tzinfo=None)}, "UTC offset"),
    ],
)
def test_a_malformed_segment_is_invalid(changes: dict[str, Any], message: str) -> None:
    log = opened()
    log.run(segment("programme", 0))
    with pytest.raises(InvalidCommand, match=message):
        log.run(segment("programme", 1, **changes))


def test_a_negative_index_is_invalid() -> None:
    with pytest.raises(InvalidCommand, match="whole number from 0"):
        opened().run(replace(segment("programme", 0), index=-1))


def test_the_init_segment_is_named_init_mp4_and_lasts_nothing() -> None:
    log = opened()
    with pytest.raises(InvalidCommand, match=r"must be named 'programme/init\.mp4'"):
        log.run(segment("programme", 0, name="programme/000000.m4s"))
    with pytest.raises(InvalidCommand, match="init segment: its duration is 0"):
        log.run(segment("programme", 0, duration=2.0))


def test_the_media_timeline_is_continuous_within_a_millisecond() -> None:
    log = opened()
    recorded(log, "programme", 1)  # media 0-2 s
    with pytest.raises(CommandRefused, match=r"starts at 2\.500000 s, but the track's media ends at 2\.000000 s"):
        log.run(segment("programme", 2, start=2.5))
    with pytest.raises(CommandRefused, match="continuous"):
        log.run(segment("programme", 2, start=1.9))
    log.run(segment("programme", 2, start=2.0009))  # rounding of a timestamp, not a gap
    assert log.state.recording.tracks["programme"].media_end == 4.0009


def test_a_track_starting_later_on_its_timeline_continues_from_its_init_segment() -> None:
    log = opened()
    log.run(segment("hall-hall-cn", 0, start=12.5))
    with pytest.raises(CommandRefused, match="continuous"):
        log.run(segment("hall-hall-cn", 1, start=0.0))
    log.run(segment("hall-hall-cn", 1, start=12.5))


def test_media_times_are_rounded_to_the_microsecond() -> None:
    log = opened()
    log.run(segment("programme", 0))
    [event] = log.run(segment("programme", 1, duration=2.00000049))
    assert isinstance(event, SegmentRecorded)
    assert event.duration == 2.0


# ------------------------------------------------------------------ gaps


def test_a_gap_is_stated_on_its_track() -> None:
    log = opened()
    recorded(log, "hall-hall-kr", 4)
    log.run(GAP)
    log.run(replace(GAP, media_start=7.5, media_end=8.0, reason="no_media"))
    gaps = log.state.recording.tracks["hall-hall-kr"].gaps
    assert [(g.media_start, g.media_end, g.reason) for g in gaps] == [(4.0, 7.5, "peer_left"), (7.5, 8.0, "no_media")]
    assert log.state.recording.tracks["hall-hall-kr"].recorded_seconds == 8.0  # the slate is recorded time


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"reason": "bored"}, InvalidCommand, "one of peer_left, no_media, recorder_restart"),
        ({"media_end": 4.0}, InvalidCommand, "ends after it starts"),
        ({"media_start": -0.5}, InvalidCommand, "not negative"),
        ({"wall_end": T0}, InvalidCommand, "wall_end is before its wall_start"),
        ({"track": "hall-xx"}, InvalidCommand, "no track 'hall-xx'"),
    ],
)
def test_a_malformed_gap_is_refused(changes: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        opened().run(replace(GAP, **changes))


def test_gaps_are_stated_in_order_and_once() -> None:
    log = opened()
    log.run(GAP)
    with pytest.raises(CommandRefused, match="overlaps or precedes"):
        log.run(GAP)
    with pytest.raises(CommandRefused, match="overlaps or precedes"):
        log.run(replace(GAP, media_start=1.0, media_end=2.0))


def test_the_programme_states_each_halls_gap_even_where_they_overlap_but_not_twice() -> None:
    log = opened()
    first = replace(GAP, track="programme", media_start=0.0, media_end=2.4, wall_start=T0)  # a hall missing at first
    log.run(first)
    log.run(replace(first, media_end=2.267))  # the other hall, back a little sooner
    with pytest.raises(CommandRefused, match="stated already"):
        log.run(first)
    assert [g.media_end for g in log.state.recording.tracks["programme"].gaps] == [2.4, 2.267]


# ------------------------------------------------------------------ the wire form


def test_recording_events_round_trip_through_json_and_the_chain() -> None:
    log = opened()
    log.run(segment("programme", 0))
    log.run(segment("programme", 1, duration=1.999967))
    log.run(GAP)
    prev = bytes(32)
    for envelope in log.envelopes[-3:]:
        event = envelope.event
        data = event_to_json(event)
        stored = link(prev, envelope)
        prev = stored.hash
        body = json.loads(stored.body)  # as read back from the log: 2.0 was written as 2
        assert event_from_json(type_name(event), body["data"]) == event
        assert Envelope.from_json(body) == envelope
        assert canonicalize(event_to_json(event_from_json(type_name(event), body["data"]))) == canonicalize(data)
    first, second, gap = (e.event for e in log.envelopes[-3:])
    assert type_name(first) == "recording.segment" and type_name(gap) == "recording.gap"
    assert event_to_json(second)["wall_start"] == "2020-05-29T01:00:02.000000Z"
    assert event_to_json(second)["duration"] == 1.999967
    assert isinstance(gap, RecordingGap)
    assert event_to_json(gap)["wall_end"] == "2020-05-29T01:00:07.500000Z"
    assert type(event_from_json("recording.segment", json.loads(canonicalize(event_to_json(first))))).__name__ == (
        "SegmentRecorded"
    )


def test_a_recorded_definition_is_logged_and_replayed() -> None:
    log = opened()
    drafted = log.envelopes[0]
    again = Envelope.from_json(json.loads(canonicalize(drafted.to_json())))
    assert again.event == drafted.event
    assert isinstance(again.event, CeremonyDrafted) and again.event.definition.recording
    assert log.state.phase is Phase.OPEN
