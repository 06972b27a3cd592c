"""Read the tracks of a progressive MP4 (the mux step's output) into per-sample tables.

The repackager needs, per sample: where its bytes are, its decode time,
composition offset, duration and whether it is a sync sample; per track:
the boxes an init segment copies verbatim (``stsd``, the media header,
``dinf``), the display matrix (rotation) and the edit-list shift that turns
media times into presentation times. Only what ffmpeg's mp4 muxer writes is
supported (``stsz`` not ``stz2``; one sample description); anything else is
a MediaError, since these files always come from ``mux_foley``.
"""

from __future__ import annotations

import itertools
import mmap
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from foleycache.core.errors import MediaError
from foleycache.media.isobmff import Box, child, find_path, full_box_header, iter_boxes

HANDLER_KINDS = {b"vide": "video", b"soun": "audio"}


@dataclass(frozen=True)
class Track:
    """One track of a progressive MP4: header boxes and per-sample tables (decode order)."""

    kind: str
    timescale: int
    #: The 36-byte tkhd transformation matrix: the display rotation lives here.
    matrix: bytes
    tkhd_width: int
    tkhd_height: int
    volume: int
    language: int
    handler_name: str
    stsd: bytes
    media_header: bytes
    dinf: bytes
    #: Presentation time = decode time + composition offset - edit_shift (media units).
    edit_shift: int
    codec: str
    width: int
    height: int
    sample_rate: int
    channels: int
    dts: tuple[int, ...]
    cto: tuple[int, ...]
    durations: tuple[int, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    sync: tuple[bool, ...]

    def __len__(self) -> int:
        return len(self.sizes)

    def pts(self, index: int) -> int:
        return self.dts[index] + self.cto[index] - self.edit_shift

    @property
    def end_pts(self) -> int:
        """Presentation end: the latest sample end, after the edit."""
        return max(self.pts(i) + self.durations[i] for i in range(len(self)))

    @property
    def frame_rate(self) -> Fraction:
        span = sum(self.durations)
        return Fraction(len(self) * self.timescale, span) if span else Fraction(0)


@contextmanager
def open_mp4(path: Path) -> Iterator[tuple[mmap.mmap, list[Track]]]:
    """Map ``path`` read-only and parse its tracks; sample bytes are slices of the map."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        moov = next((b for b in iter_boxes(buf) if b.type == b"moov"), None)
        if moov is None:
            raise MediaError(f"{path.name} has no moov box: not a finished MP4")
        movie_timescale = _mvhd_timescale(buf, moov)
        tracks = [
            _read_track(buf, trak, movie_timescale)
            for trak in iter_boxes(buf, moov.body, moov.end)
            if trak.type == b"trak"
        ]
        yield buf, [t for t in tracks if t is not None]


def _mvhd_timescale(buf: mmap.mmap, moov: Box) -> int:
    mvhd = _need(buf, moov, b"mvhd")
    version, _ = full_box_header(buf, mvhd)
    return int(struct.unpack_from(">I", buf, mvhd.body + (20 if version else 12))[0])


def _need(buf: mmap.mmap, parent: Box, *path: bytes) -> Box:
    box = find_path(buf, parent, *path)
    if box is None:
        raise MediaError(f"MP4 track has no {b'/'.join(path).decode()} box")
    return box


def _read_track(buf: mmap.mmap, trak: Box, movie_timescale: int) -> Track | None:
    hdlr = _need(buf, trak, b"mdia", b"hdlr")
    kind = HANDLER_KINDS.get(bytes(buf[hdlr.body + 8 : hdlr.body + 12]))
    if kind is None:
        return None  # timecode, data or subtitle tracks are not delivered
    stbl = _need(buf, trak, b"mdia", b"minf", b"stbl")
    timescale, language = _mdhd(buf, _need(buf, trak, b"mdia", b"mdhd"))
    durations = _stts(buf, _need(buf, stbl, b"stts"))
    sizes = _stsz(buf, _need(buf, stbl, b"stsz"))
    count = len(sizes)
    if len(durations) != count:
        raise MediaError(f"MP4 {kind} track: stts has {len(durations)} samples, stsz {count}")
    ctts = child(buf, stbl, b"ctts")
    stss = child(buf, stbl, b"stss")
    stsd = _need(buf, stbl, b"stsd")
    entry = next(iter_boxes(buf, stsd.body + 8, stsd.end))
    tkhd = _tkhd(buf, _need(buf, trak, b"tkhd"))
    minf = _need(buf, trak, b"mdia", b"minf")
    header = child(buf, minf, b"vmhd") or child(buf, minf, b"smhd")
    edts = child(buf, trak, b"edts")
    width, height, rate, channels = _sample_entry(buf, entry, kind)
    return Track(
        kind=kind,
        timescale=timescale,
        matrix=tkhd[0],
        tkhd_width=tkhd[1],
        tkhd_height=tkhd[2],
        volume=tkhd[3],
        language=language,
        handler_name=bytes(buf[hdlr.body + 24 : hdlr.end])
        .split(b"\0")[0]
        .decode("utf-8", "replace"),
        stsd=bytes(buf[stsd.start : stsd.end]),
        media_header=bytes(buf[header.start : header.end]) if header else b"",
        dinf=bytes(buf[b.start : b.end]) if (b := child(buf, minf, b"dinf")) else b"",
        edit_shift=_edit_shift(buf, edts, timescale, movie_timescale),
        codec=_codec(buf, entry),
        width=width,
        height=height,
        sample_rate=rate,
        channels=channels,
        dts=tuple(itertools.accumulate(durations, initial=0))[:count],
        cto=_ctts(buf, ctts, count),
        durations=durations,
        sizes=sizes,
        offsets=_offsets(buf, stbl, sizes),
        sync=_sync(buf, stss, count),
    )


def _tkhd(buf: mmap.mmap, tkhd: Box) -> tuple[bytes, int, int, int]:
    """(matrix, width 16.16, height 16.16, volume 8.8)."""
    version, _ = full_box_header(buf, tkhd)
    pos = tkhd.body + 4 + (32 if version else 20) + 8  # times, ids, duration; reserved
    volume = struct.unpack_from(">h", buf, pos + 4)[0]
    matrix = bytes(buf[pos + 8 : pos + 44])
    width, height = struct.unpack_from(">II", buf, pos + 44)
    return matrix, width, height, volume


def _mdhd(buf: mmap.mmap, mdhd: Box) -> tuple[int, int]:
    version, _ = full_box_header(buf, mdhd)
    pos = mdhd.body + 4 + (16 if version else 8)
    timescale = struct.unpack_from(">I", buf, pos)[0]
    language = struct.unpack_from(">H", buf, pos + (12 if version else 8))[0]
    return int(timescale), int(language)


def _entries(buf: mmap.mmap, box: Box, fmt: str) -> Iterator[tuple[int, ...]]:
    (count,) = struct.unpack_from(">I", buf, box.body + 4)
    return struct.iter_unpack(fmt, buf[box.body + 8 : box.body + 8 + count * struct.calcsize(fmt)])


def _stts(buf: mmap.mmap, stts: Box) -> tuple[int, ...]:
    return tuple(d for n, d in _entries(buf, stts, ">II") for _ in range(n))


def _ctts(buf: mmap.mmap, ctts: Box | None, count: int) -> tuple[int, ...]:
    if ctts is None:
        return (0,) * count
    # Signed in both versions: ffmpeg and others write negative offsets in version 0 too.
    offsets = tuple(o for n, o in _entries(buf, ctts, ">Ii") for _ in range(n))
    return (offsets + (0,) * count)[:count]


def _stsz(buf: mmap.mmap, stsz: Box) -> tuple[int, ...]:
    constant, count = struct.unpack_from(">II", buf, stsz.body + 4)
    if constant:
        return (int(constant),) * int(count)
    return tuple(
        s for (s,) in struct.iter_unpack(">I", buf[stsz.body + 12 : stsz.body + 12 + 4 * count])
    )


def _offsets(buf: mmap.mmap, stbl: Box, sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Byte offset of every sample, from the chunk offsets and the sample-to-chunk runs."""
    stco, co64 = child(buf, stbl, b"stco"), child(buf, stbl, b"co64")
    if stco is not None:
        chunks = [c for (c,) in _entries(buf, stco, ">I")]
    elif co64 is not None:
        chunks = [c for (c,) in _entries(buf, co64, ">Q")]
    else:
        raise MediaError("MP4 track has no chunk offsets (stco/co64)")
    runs = list(_entries(buf, _need(buf, stbl, b"stsc"), ">III"))
    offsets: list[int] = []
    for i, (first, per_chunk, _) in enumerate(runs):
        last = runs[i + 1][0] - 1 if i + 1 < len(runs) else len(chunks)
        for chunk in range(first - 1, last):
            pos = chunks[chunk]
            for _ in range(per_chunk):
                if len(offsets) == len(sizes):
                    return tuple(offsets)
                offsets.append(pos)
                pos += sizes[len(offsets) - 1]
    if len(offsets) != len(sizes):
        raise MediaError(f"MP4 chunks hold {len(offsets)} samples, not {len(sizes)}")
    return tuple(offsets)


def _sync(buf: mmap.mmap, stss: Box | None, count: int) -> tuple[bool, ...]:
    if stss is None:
        return (True,) * count
    flags = [False] * count
    for (number,) in _entries(buf, stss, ">I"):
        if 0 < number <= count:
            flags[number - 1] = True
    return tuple(flags)


def _edit_shift(buf: mmap.mmap, edts: Box | None, timescale: int, movie_timescale: int) -> int:
    """Media time shown at presentation time 0 (negative when an empty edit delays the start)."""
    elst = child(buf, edts, b"elst") if edts is not None else None
    if elst is None:
        return 0
    version, _ = full_box_header(buf, elst)
    fmt = ">Qqhh" if version else ">Iihh"
    delay = 0
    for duration, media_time, _, _ in _entries(buf, elst, fmt):
        if media_time == -1:
            delay += duration
            continue
        return int(media_time - Fraction(delay * timescale, movie_timescale))
    return 0


def _sample_entry(buf: mmap.mmap, entry: Box, kind: str) -> tuple[int, int, int, int]:
    """(coded width, coded height, sample rate, channels) from the sample entry."""
    if kind == "video":
        width, height = struct.unpack_from(">HH", buf, entry.body + 24)
        return width, height, 0, 0
    channels = struct.unpack_from(">H", buf, entry.body + 16)[0]
    rate = struct.unpack_from(">I", buf, entry.body + 24)[0] >> 16
    return 0, 0, rate, channels


def _codec(buf: mmap.mmap, entry: Box) -> str:
    """RFC 6381 codec string (what MPD @codecs and HLS CODECS want)."""
    fourcc = entry.type.decode("latin1")
    if entry.type in (b"avc1", b"avc3"):
        avcc = next(
            (b for b in iter_boxes(buf, entry.body + 78, entry.end) if b.type == b"avcC"), None
        )
        if avcc is not None:
            return f"{fourcc}.{bytes(buf[avcc.body + 1 : avcc.body + 4]).hex()}"
    if entry.type == b"mp4a":
        esds = next(
            (b for b in iter_boxes(buf, entry.body + 28, entry.end) if b.type == b"esds"), None
        )
        if esds is not None:
            return _mp4a_codec(bytes(buf[esds.body + 4 : esds.end]))
    return fourcc


def _mp4a_codec(descriptors: bytes) -> str:
    """``mp4a.<object type>.<audio object type>`` from an esds ES_Descriptor."""
    tag, body, _ = _descriptor(descriptors, 0)
    if tag != 0x03:
        return "mp4a"
    flags = descriptors[body + 2]
    pos = body + 3 + (2 if flags & 0x80 else 0) + (2 if flags & 0x20 else 0)
    if flags & 0x40:
        pos += 1 + descriptors[pos]
    tag, body, _ = _descriptor(descriptors, pos)
    if tag != 0x04:
        return "mp4a"
    object_type = descriptors[body]
    tag, body, _ = _descriptor(descriptors, body + 13)
    if tag != 0x05 or object_type != 0x40:
        return f"mp4a.{object_type:x}"
    aot = descriptors[body] >> 3
    if aot == 31:
        aot = 32 + (((descriptors[body] & 0x07) << 3) | (descriptors[body + 1] >> 5))
    return f"mp4a.40.{aot}"


def _descriptor(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, body start, end) of an MPEG-4 descriptor with its variable-length size."""
    tag, pos, size = data[pos], pos + 1, 0
    for _ in range(4):
        byte = data[pos]
        pos += 1
        size = (size << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return tag, pos, pos + size
