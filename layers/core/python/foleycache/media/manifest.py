"""Write the DASH MPD and the HLS master and media playlists from the segments actually written.

Every duration comes from the segments' samples, never from the nominal
segment length, so a player's arithmetic matches the media: the MPD uses a
``SegmentTimeline`` (per-segment start and duration, run-length coded) and
the HLS playlists an exact ``EXTINF`` per segment. All renditions are listed:
every video rung in one adaptation set / one variant each, every audio track
in its own adaptation set / ``EXT-X-MEDIA`` entry with its label.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from foleycache.media.mp4_track import Track

DASH_MANIFEST = "manifest.mpd"
HLS_MASTER = "master.m3u8"
AUDIO_GROUP = "audio"
DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
CHANNEL_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
ROLE_SCHEME = "urn:mpeg:dash:role:2011"


@dataclass(frozen=True)
class Segment:
    name: str
    #: Presentation start and duration in the track's timescale.
    start: int
    duration: int
    size: int


@dataclass(frozen=True)
class Rendition:
    """One track's segments as written: a video rung or an audio track."""

    id: str
    track: Track
    label: str
    init: str
    segments: tuple[Segment, ...]
    frame_rate: Fraction | None

    @property
    def kind(self) -> str:
        return self.track.kind

    @property
    def playlist(self) -> str:
        return f"media_{self.id}.m3u8"

    def seconds(self, segment: Segment) -> float:
        return segment.duration / self.track.timescale

    @property
    def duration_s(self) -> float:
        return sum(s.duration for s in self.segments) / self.track.timescale

    @property
    def average_bps(self) -> int:
        return math.ceil(8 * sum(s.size for s in self.segments) / max(self.duration_s, 1e-6))

    @property
    def peak_bps(self) -> int:
        """Highest segment bit rate; a final stub under half a segment does not count."""
        segments = list(self.segments)
        if len(segments) > 1 and 2 * segments[-1].duration < max(s.duration for s in segments):
            segments.pop()
        return max(math.ceil(8 * s.size / max(self.seconds(s), 1e-6)) for s in segments)


def write_dash(out_dir: Path, renditions: Sequence[Rendition], segment_s: float) -> Path:
    """``manifest.mpd``: static, isoff-live profile, one SegmentTimeline per representation."""
    videos = [r for r in renditions if r.kind == "video"]
    audios = [r for r in renditions if r.kind == "audio"]
    longest = max(r.seconds(s) for r in renditions for s in r.segments)
    mpd = ET.Element(
        "MPD",
        {
            "xmlns": DASH_NS,
            "profiles": "urn:mpeg:dash:profile:isoff-live:2011",
            "type": "static",
            "mediaPresentationDuration": _iso_duration(videos[0].duration_s),
            "maxSegmentDuration": _iso_duration(math.ceil(longest * 1000) / 1000),
            "minBufferTime": _iso_duration(2 * segment_s),
        },
    )
    period = ET.SubElement(mpd, "Period", {"id": "0", "start": "PT0S"})
    _video_set(period, videos)
    for n, audio in enumerate(audios, start=1):
        _audio_set(period, audio, n, default=n == 1)
    ET.indent(mpd)
    path = out_dir / DASH_MANIFEST
    ET.ElementTree(mpd).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_hls(out_dir: Path, renditions: Sequence[Rendition]) -> Path:
    """``master.m3u8`` plus one VOD media playlist per rendition."""
    for rendition in renditions:
        (out_dir / rendition.playlist).write_text(_media_playlist(rendition))
    videos = [r for r in renditions if r.kind == "video"]
    audios = [r for r in renditions if r.kind == "audio"]
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for n, audio in enumerate(audios):
        default = "YES" if n == 0 else "NO"
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="{_quoted(audio.label)}",'
            f'DEFAULT={default},AUTOSELECT=YES,CHANNELS="{audio.track.channels}",'
            f'URI="{audio.playlist}"'
        )
    audio_peak = max((a.peak_bps for a in audios), default=0)
    audio_avg = max((a.average_bps for a in audios), default=0)
    for video in videos:
        codecs = ",".join([video.track.codec, *dict.fromkeys(a.track.codec for a in audios)])
        attrs = [
            f"BANDWIDTH={video.peak_bps + audio_peak}",
            f"AVERAGE-BANDWIDTH={video.average_bps + audio_avg}",
            f'CODECS="{codecs}"',
            f"RESOLUTION={video.track.width}x{video.track.height}",
            f"FRAME-RATE={float(video.frame_rate or 0):.3f}",
        ]
        if audios:
            attrs.append(f'AUDIO="{AUDIO_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), video.playlist]
    path = out_dir / HLS_MASTER
    path.write_text("\n".join(lines) + "\n")
    return path


def _media_playlist(rendition: Rendition) -> str:
    longest = max(rendition.seconds(s) for s in rendition.segments)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        # The rounded EXTINF may not exceed it (RFC 8216, 4.3.3.1).
        f"#EXT-X-TARGETDURATION:{max(1, math.floor(longest + 0.5))}",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{rendition.init}"',
    ]
    for segment in rendition.segments:
        lines += [f"#EXTINF:{rendition.seconds(segment):.6f},", segment.name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _video_set(period: ET.Element, videos: Sequence[Rendition]) -> None:
    top = videos[0]
    adaptation = ET.SubElement(
        period,
        "AdaptationSet",
        {
            "id": "0",
            "contentType": "video",
            "mimeType": "video/mp4",
            "segmentAlignment": "true",
            "startWithSAP": "1",
            "maxWidth": str(max(v.track.width for v in videos)),
            "maxHeight": str(max(v.track.height for v in videos)),
            "frameRate": _frame_rate(top.frame_rate),
        },
    )
    for video in videos:
        representation = ET.SubElement(
            adaptation,
            "Representation",
            {
                "id": video.id,
                "codecs": video.track.codec,
                "bandwidth": str(video.peak_bps),
                "width": str(video.track.width),
                "height": str(video.track.height),
            },
        )
        _segment_template(representation, video)


def _audio_set(period: ET.Element, audio: Rendition, number: int, *, default: bool) -> None:
    adaptation = ET.SubElement(
        period,
        "AdaptationSet",
        {
            "id": str(number),
            "contentType": "audio",
            "mimeType": "audio/mp4",
            "lang": _language(audio.track.language),
            "segmentAlignment": "true",
            "startWithSAP": "1",
        },
    )
    ET.SubElement(adaptation, "Label").text = audio.label
    ET.SubElement(
        adaptation,
        "Role",
        {"schemeIdUri": ROLE_SCHEME, "value": "main" if default else "alternate"},
    )
    representation = ET.SubElement(
        adaptation,
        "Representation",
        {
            "id": audio.id,
            "codecs": audio.track.codec,
            "bandwidth": str(audio.peak_bps),
            "audioSamplingRate": str(audio.track.sample_rate),
        },
    )
    ET.SubElement(
        representation,
        "AudioChannelConfiguration",
        {"schemeIdUri": CHANNEL_SCHEME, "value": str(audio.track.channels)},
    )
    _segment_template(representation, audio)


def _segment_template(parent: ET.Element, rendition: Rendition) -> None:
    template = ET.SubElement(
        parent,
        "SegmentTemplate",
        {
            "timescale": str(rendition.track.timescale),
            "initialization": rendition.init,
            "media": f"chunk-{rendition.id}-$Number%05d$.m4s",
            "startNumber": "1",
        },
    )
    timeline = ET.SubElement(template, "SegmentTimeline")
    for start, duration, repeat in _runs(rendition.segments):
        attrs = {"t": str(start), "d": str(duration)}
        if repeat:
            attrs["r"] = str(repeat)
        ET.SubElement(timeline, "S", attrs)


def _runs(segments: Sequence[Segment]) -> list[tuple[int, int, int]]:
    """(start, duration, extra repeats) runs of equal consecutive durations."""
    runs: list[tuple[int, int, int]] = []
    for segment in segments:
        if runs and runs[-1][1] == segment.duration:
            start, duration, repeat = runs[-1]
            runs[-1] = (start, duration, repeat + 1)
        else:
            runs.append((segment.start, segment.duration, 0))
    return runs


def _iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _frame_rate(rate: Fraction | None) -> str:
    if not rate:
        return "0"
    rate = rate.limit_denominator(1001)
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def _language(packed: int) -> str:
    """ISO 639-2 code from mdhd's packed 3x5 bits; 'und' if unset."""
    code = "".join(chr(((packed >> shift) & 0x1F) + 0x60) for shift in (10, 5, 0))
    return code if code.isalpha() else "und"


def _quoted(text: str) -> str:
    """HLS quoted strings cannot hold double quotes or line breaks."""
    return text.replace('"', "'").replace("\n", " ")
