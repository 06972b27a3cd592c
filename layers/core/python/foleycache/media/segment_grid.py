"""Predict the ABR segments ffmpeg's packagers will cut from a given keyframe layout.

Both packagers used here cut on a fixed grid: a new segment starts at the
first keyframe at or after ``origin + k * segment_s`` (ffmpeg's ``hls`` muxer
always; its ``dash`` muxer with ``-use_template 1 -use_timeline 0``, which is
how ``package.py`` runs it). Keyframes between grid lines are ignored, so a
source is deliverable exactly when the segments predicted here are right.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SegmentLayout:
    """Segment start times and durations as the grid cutter would produce them."""

    starts: tuple[float, ...]
    durations: tuple[float, ...]

    @property
    def longest_s(self) -> float:
        return max(self.durations)

    def max_lateness_s(self, segment_s: float) -> float:
        """How far the latest segment start falls behind its grid line."""
        origin = self.starts[0]
        return max(start - (origin + i * segment_s) for i, start in enumerate(self.starts))


def predict_segments(
    keyframe_times: Sequence[float], duration_s: float, segment_s: float
) -> SegmentLayout:
    """Segments cut from keyframes at ``keyframe_times`` of a stream lasting ``duration_s``.

    ``keyframe_times`` must be ascending; the first one is the grid's origin
    (the packagers measure from the first packet, which is a keyframe).
    """
    origin = keyframe_times[0]
    end = max(duration_s, keyframe_times[-1])
    starts = [origin]
    for time in keyframe_times[1:]:
        if time >= origin + len(starts) * segment_s - 1e-6:
            starts.append(time)
    bounds = [*starts, end]
    durations = tuple(b - a for a, b in itertools.pairwise(bounds))
    return SegmentLayout(starts=tuple(starts), durations=durations)
