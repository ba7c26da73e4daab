"""`ceremony verify --media`: real fMP4 segments held against the manifest the core binds into the evidence.

The manifest is made the way a sealed record's is: recording commands decided by
the core, folded into the state, chained, and summarised by evidence.from_log.
The files are real (ffmpeg's fragmented MP4 for the programme) or plain bytes
where their content does not matter. Each damage must fail naming its segment.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import struct
import subprocess
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ceremony.canonical import canonicalize
from ceremony.chain import link
from ceremony.commands import Command, Freeze, OpenRooms, RecordGap, RecordSegment, StartSegment
from ceremony.core import decide, evolve, initial_state
from ceremony.events import CeremonyDrafted, Envelope, Role
from signatures.record.evidence import from_log
from signatures.record.media_package import MEDIA_ZIP, build_media_zip, delete_media
from signatures.record.verify_media import FolderFiles, MediaReport, ZipFiles, verify_media
from tests.helpers import CEREMONY, SHA, T0, ceremony, make_definition
from web.app import create_app
from web.appkeys import PKI, RECORDS, SERVICE
from web.demo.definition import demo_definition
from web.demo.scripted import Api as ScriptedApi
from web.settings import Settings

HALL = "hall-hall-kr"  # the track of venue "hall-kr" in the test definition


def _m4s_durations(playlist: Path) -> list[float]:
    return [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", playlist.read_text())]


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """Four real fMP4 segments of a test pattern, one second each, as the recorder lays them out."""
    root = tmp_path_factory.mktemp("media")
    (root / "programme").mkdir()
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "4",
            "-c:v", "libx264", "-g", "10", "-f", "hls", "-hls_time", "1", "-hls_segment_type", "fmp4",
            "-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", str(root / "programme" / "%06d.m4s"),
            "-start_number", "1", "-hls_playlist_type", "vod", str(root / "programme" / "index.m3u8"),
        ],
        check=True,
    )  # fmt: skip
    durations = _m4s_durations(root / "programme" / "index.m3u8")
    (root / "programme" / "index.m3u8").unlink()  # the playlist is the web's, made from the log: not media
    return root, durations


def _record(root: Path, durations: list[float]) -> tuple[list[RecordSegment], list[RecordGap]]:
    """Recording commands for every file under `root`: the programme's real ones, and a hall of plain bytes."""
    hall = root / HALL
    hall.mkdir(exist_ok=True)
    (hall / "init.mp4").write_bytes(b"init of the hall " * 10)
    for index in (1, 2, 3):
        (hall / f"{index:06d}.m4s").write_bytes(bytes([index]) * (500 + index))
    commands: list[RecordSegment] = []
    for track, lengths in (("programme", durations), (HALL, [2.0, 2.0, 2.0])):
        start = 0.0
        for index, duration in enumerate([0.0, *lengths]):
            name = f"{track}/init.mp4" if index == 0 else f"{track}/{index:06d}.m4s"
            data = (root / name).read_bytes()
            commands.append(
                RecordSegment(
                    track=track,
                    index=index,
                    name=name,
                    sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data),
                    media_start=start,
                    duration=duration,
                    wall_start=T0 + timedelta(seconds=start),
                )
            )
            start += duration
    gap = RecordGap(
        track=HALL,
        media_start=2.0,
        media_end=4.0,
        wall_start=T0 + timedelta(seconds=2),
        wall_end=T0 + timedelta(seconds=4),
        reason="peer_left",
    )
    return commands, [gap]


def evidence_for(root: Path, durations: list[float]) -> dict[str, Any]:
    """evidence.json's log part for a recorded ceremony that recorded everything under `root`, via the core."""
    definition = replace(make_definition(), recording=True)
    envelope = Envelope(ceremony=CEREMONY, seq=1, at=T0, actor="operator", event=CeremonyDrafted(definition=definition))
    state = initial_state(envelope)
    rows = [link(bytes(32), envelope)]
    segments, gaps = _record(root, durations)
    commands: list[Command] = [Freeze(document_sha256=SHA, document_size=4096), OpenRooms(), *segments, *gaps]
    commands.append(StartSegment(segment="signing"))
    for command in commands:
        for event in decide(state, command, now=T0):
            envelope = Envelope(ceremony=CEREMONY, seq=state.seq + 1, at=T0, actor="recorder:inv-rec", event=event)
            state = evolve(state, envelope)
            rows.append(link(rows[-1].hash, envelope))
    return from_log(state, rows)


@pytest.fixture
def media(programme: tuple[Path, list[float]], tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A fresh copy of the media root, and the evidence that names it."""
    root = tmp_path / "media"
    shutil.copytree(programme[0], root)
    return root, evidence_for(root, programme[1])


def failures(report: MediaReport) -> list[tuple[str, str]]:
    return [(f.kind, f.subject) for f in report.failed]


# ------------------------------------------------------------------ the manifest


def test_the_evidence_carries_the_manifest_only_for_a_recorded_ceremony(media: tuple[Path, dict[str, Any]]) -> None:
    _, evidence = media
    tracks = evidence["recording"]["tracks"]
    assert [t["track"] for t in tracks] == [HALL, "programme"]  # sorted by track
    programme = tracks[1]
    assert [s["name"] for s in programme["segments"]] == [
        "programme/init.mp4",
        *(f"programme/{i:06d}.m4s" for i in (1, 2, 3, 4)),
    ]
    assert programme["recorded_seconds"] == pytest.approx(4.0, abs=0.2)
    assert programme["segments"][1]["wall_start"] == "2020-05-29T01:00:00.000000Z"
    assert tracks[0]["gaps"] == [
        {
            "media_start": 2.0,
            "media_end": 4.0,
            "wall_start": "2020-05-29T01:00:02.000000Z",
            "wall_end": "2020-05-29T01:00:04.000000Z",
            "reason": "peer_left",
        }
    ]
    # An unrecorded ceremony's evidence has no recording key at all: its records stay as they were.
    plain = make_definition()
    drafted = Envelope(ceremony=CEREMONY, seq=1, at=T0, actor="operator", event=CeremonyDrafted(definition=plain))
    state, rows = initial_state(drafted), [link(bytes(32), drafted)]
    frozen = decide(state, Freeze(document_sha256=SHA, document_size=4096), now=T0)[0]
    envelope = Envelope(ceremony=CEREMONY, seq=2, at=T0, actor="operator", event=frozen)
    state, rows = evolve(state, envelope), [*rows, link(rows[0].hash, envelope)]
    assert "recording" not in from_log(state, rows)


# ------------------------------------------------------------------ a folder


def test_untouched_media_verifies_segment_by_segment_with_each_tracks_time_and_gaps(
    media: tuple[Path, dict[str, Any]],
) -> None:
    root, evidence = media
    report = verify_media(evidence, FolderFiles(root))
    assert report.ok, "\n".join(report.lines())
    checked = {f.subject for f in report.findings if f.kind == "segment"}
    assert checked == {f.relative_to(root).as_posix() for f in root.rglob("*") if f.is_file()}
    assert len(checked) == 9
    tracks = {f.subject: f.detail for f in report.findings if f.kind == "track"}
    assert tracks[HALL].startswith("0:00:06.000 recorded in 3 segments, media 0.000-6.000 s; 1 gaps, 2.000 s")
    assert "recorded in 4 segments" in tracks["programme"] and "no gaps" in tracks["programme"]
    [gap] = [f.detail for f in report.findings if f.kind == "gap"]
    assert gap == "media 2.000-4.000 s (2020-05-29T01:00:02.000000Z to 2020-05-29T01:00:04.000000Z): peer_left"


def test_the_segments_are_real_fragmented_mp4_that_decode_after_their_init_segment(
    media: tuple[Path, dict[str, Any]],
) -> None:
    root, _ = media
    data = (root / "programme" / "init.mp4").read_bytes() + (root / "programme" / "000002.m4s").read_bytes()
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width", "-of", "csv=p=0", "-"],
        input=data,
        capture_output=True,
        check=True,
    )
    assert probe.stdout.decode().strip() == "h264,160"


def test_a_flipped_byte_fails_naming_the_segment(media: tuple[Path, dict[str, Any]]) -> None:
    root, evidence = media
    path = root / "programme" / "000002.m4s"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify_media(evidence, FolderFiles(root))
    assert failures(report) == [("altered", "programme/000002.m4s")]
    assert "the log bound" in report.failed[0].detail


def test_a_removed_segment_fails_naming_it(media: tuple[Path, dict[str, Any]]) -> None:
    root, evidence = media
    (root / HALL / "000002.m4s").unlink()
    report = verify_media(evidence, FolderFiles(root))
    assert failures(report) == [("missing", f"{HALL}/000002.m4s")]


def test_swapped_segments_fail_as_out_of_order_naming_both(media: tuple[Path, dict[str, Any]]) -> None:
    root, evidence = media
    first, third = root / "programme" / "000001.m4s", root / "programme" / "000003.m4s"
    a, b = first.read_bytes(), third.read_bytes()
    first.write_bytes(b)
    third.write_bytes(a)
    report = verify_media(evidence, FolderFiles(root))
    assert failures(report) == [("out_of_order", "programme/000001.m4s"), ("out_of_order", "programme/000003.m4s")]
    assert "holds the bytes of programme/000003.m4s" in report.failed[0].detail


def test_an_extra_file_fails_naming_it(media: tuple[Path, dict[str, Any]]) -> None:
    root, evidence = media
    shutil.copy(root / "programme" / "000004.m4s", root / "programme" / "000005.m4s")
    (root / "programme" / "notes.txt").write_text("spliced in later")
    report = verify_media(evidence, FolderFiles(root))
    assert failures(report) == [("extra", "programme/000005.m4s"), ("extra", "programme/notes.txt")]
    assert "holds the bytes of programme/000004.m4s" in report.failed[0].detail


def test_media_given_for_a_record_without_a_recording_fails() -> None:
    report = verify_media({"type": "ceremony-record/2"}, {"programme/init.mp4": b"x"})
    assert failures(report) == [("manifest", "evidence.json")]


# ------------------------------------------------------------------ record-media.zip


def test_record_media_zip_is_stored_and_verifies_and_a_flipped_byte_in_it_fails(
    media: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, evidence = media
    out = tmp_path / MEDIA_ZIP
    package = build_media_zip(evidence["recording"], root, out)
    assert (package.segments, package.missing, package.deleted) == (9, (), False)
    with zipfile.ZipFile(out) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
        assert "ceremony verify" in archive.read("README.txt").decode()
        entries = {i.filename: i for i in archive.infolist()}
    assert not list(tmp_path.glob("*.partial"))
    media_files = ZipFiles(out)
    try:
        report = verify_media(evidence, media_files)
    finally:
        media_files.close()
    assert report.ok, "\n".join(report.lines())
    # The same bytes give the same zip: entry times are fixed.
    again = build_media_zip(evidence["recording"], root, tmp_path / "again.zip")
    assert again.path.read_bytes() == out.read_bytes()

    data = bytearray(out.read_bytes())
    target = entries[f"{HALL}/000001.m4s"]
    name_length, extra_length = struct.unpack("<HH", data[target.header_offset + 26 : target.header_offset + 30])
    data[target.header_offset + 30 + name_length + extra_length + 10] ^= 0xFF  # inside the stored segment's bytes
    out.write_bytes(bytes(data))
    damaged = ZipFiles(out)
    try:
        report = verify_media(evidence, damaged)
    finally:
        damaged.close()
    assert failures(report) == [("altered", f"{HALL}/000001.m4s")]


def test_a_zip_with_a_segment_missing_from_the_root_says_so(media: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, evidence = media
    (root / "programme" / "000004.m4s").unlink()
    package = build_media_zip(evidence["recording"], root, tmp_path / MEDIA_ZIP)
    assert package.missing == ("programme/000004.m4s",)
    with zipfile.ZipFile(package.path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    assert failures(verify_media(evidence, files)) == [("missing", "programme/000004.m4s")]


# ------------------------------------------------------------------ retention


def test_media_deleted_per_retention_is_reported_and_does_not_fail(
    media: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, evidence = media
    (root / "keep.txt").write_text("not media")
    stone = delete_media(root, now=datetime(2031, 6, 1, 9, 0, tzinfo=UTC), policy="5 years after the seal")
    assert stone == {"deleted_at": "2031-06-01T09:00:00.000000Z", "policy": "5 years after the seal", "by": "retention"}
    assert sorted(p.name for p in root.iterdir()) == ["MEDIA-DELETED.json", "keep.txt"]  # only media went
    assert json.loads((root / "MEDIA-DELETED.json").read_text()) == stone
    (root / "keep.txt").unlink()
    report = verify_media(evidence, FolderFiles(root))
    assert report.ok and report.deleted == stone
    [line] = [f.detail for f in report.findings if f.kind == "deleted"]
    assert line.startswith("media deleted per retention (2031-06-01T09:00:00.000000Z, 5 years after the seal")
    assert {f.kind for f in report.findings} == {"deleted", "track", "gap"}  # the manifest's account stays
    # Its zip holds the tombstone, and verifies the same way.
    package = build_media_zip(evidence["recording"], root, tmp_path / MEDIA_ZIP)
    assert package.deleted and package.segments == 0
    with zipfile.ZipFile(io.BytesIO(package.path.read_bytes())) as archive:
        assert sorted(archive.namelist()) == ["MEDIA-DELETED.json", "README.txt"]
        assert verify_media(evidence, {n: archive.read(n) for n in archive.namelist()}).ok


def test_a_deletion_cut_short_is_a_failure_and_running_it_again_finishes_it(
    media: tuple[Path, dict[str, Any]],
) -> None:
    root, evidence = media
    now = datetime(2031, 6, 1, 9, 0, tzinfo=UTC)
    delete_media(root, now=now, policy="5 years")
    (root / "programme").mkdir()
    (root / "programme" / "000003.m4s").write_bytes(b"left behind")
    report = verify_media(evidence, FolderFiles(root))
    assert ("deleted", "MEDIA-DELETED.json") in failures(report)
    again = delete_media(root, now=now + timedelta(days=1), policy="other")
    assert again["deleted_at"] == "2031-06-01T09:00:00.000000Z"  # the first deletion's tombstone stands
    assert verify_media(evidence, FolderFiles(root)).ok


# ------------------------------------------------------------------ the command


def test_ceremony_verify_media_without_a_record_that_verifies_still_names_the_media_problems(
    media: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The CLI's exit code and lines for the media part, from an (unsigned) record zip carrying the evidence."""
    root, evidence = media
    record = tmp_path / "record.zip"
    with zipfile.ZipFile(record, "w") as archive:
        archive.writestr("evidence.json", canonicalize(evidence))
        archive.writestr("mou-signed.pdf", b"%PDF-1.7\n")
    (root / "programme" / "000002.m4s").unlink()
    done = ceremony("verify", str(record), "--media", str(root))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  media.missing" in done.stdout and "programme/000002.m4s" in done.stdout
    assert f"{root}: MEDIA NOT VALID: 1 problems" in done.stdout


async def test_a_sealed_recorded_ceremony_verifies_with_its_media(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes, programme: tuple[Path, list[float]]
) -> None:
    """Through the server: segments logged while the rooms are open, the seal, the record, then the command."""
    app = create_app(Settings(data_dir=tmp_path / "data", create_demo=False))
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(replace(demo_definition(), recording=True), "operator")
    sha = await service.store_document(original_pdf)
    await service.execute(state.id, Freeze(document_sha256=sha, document_size=len(original_pdf)), "test")
    await service.execute(state.id, OpenRooms(), "test")
    root = tmp_path / "media" / state.id
    shutil.copytree(programme[0], root)
    hall = state.definition.venues[0].id
    segments, _ = _record(root, programme[1])
    (root / HALL).rename(root / f"hall-{hall}")
    for command in segments:
        if command.track == HALL:
            name = command.name.replace(HALL, f"hall-{hall}")
            command = replace(command, track=f"hall-{hall}", name=name)
        await service.execute(state.id, command, "recorder:test")
    await service.execute(state.id, StartSegment(segment="signing"), "test")
    base = str(client.make_url("")).rstrip("/")
    host = ScriptedApi(client.session, base, state.id, (await service.issue_link(state.id, Role.HOST, "t")).token)
    await host.call("POST", "/seal", {"absent_ok": True})
    record = tmp_path / "record.zip"
    data = app[RECORDS].read(state.id)
    assert data is not None
    record.write_bytes(data)
    pem = tmp_path / "root.pem"
    pem.write_bytes(app[PKI].root_pem)

    done = ceremony("verify", str(record), "--trust", str(pem), "--media", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "and so is the recording: 9 segments of 2 tracks" in done.stdout
    assert f"{root}: MEDIA VALID: 9 segments as the record's log bound them" in done.stdout

    (root / "programme" / "000003.m4s").write_bytes(b"replaced")
    done = ceremony("verify", str(record), "--trust", str(pem), "--media", str(root))
    assert done.returncode == 1
    assert re.search(r"FAIL  media\.altered +programme/000003\.m4s", done.stdout), done.stdout
    assert ": VALID at " in done.stdout  # the record itself still verifies: only the media is wrong
