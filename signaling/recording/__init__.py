"""The recorder's media engine, free of networking: halls' frames in, fMP4 segments out.

`RecordingEngine` takes each hall's latest video frame and audio, and on every tick of
1/fps encodes one frame (and 1/fps of audio) into each hall's track (`hall-<venue id>`) and
into the `programme` (both halls side by side with the title, the run-of-show caption and
who has signed). `TrackWriter` is one track's encoder and segmenter; each closed segment is
reported as a `ClosedSegment`, each span without a hall's media as a `GapClosed`.
"""

from signaling.recording.engine import PROGRAMME, GapClosed, RecordingEngine, hall_track
from signaling.recording.errors import RecordingError
from signaling.recording.track import ClosedSegment, TrackWriter

__all__ = ["PROGRAMME", "ClosedSegment", "GapClosed", "RecordingEngine", "RecordingError", "TrackWriter", "hall_track"]
