"""Errors of the media engine (signaling.recording); one class, under the layer's root."""

from __future__ import annotations

from signaling.errors import SignalingError


class RecordingError(SignalingError):
    """The engine was misused (unknown hall, used after close) or the encoder/muxer failed."""
