"""Write one track as fragmented MP4 (CMAF-style): an init segment and ``moof``+``mdat`` segments.

Every segment starts with ``styp`` and carries one ``traf`` whose ``tfdt``
gives its decode time and whose ``trun`` lists each sample's duration,
size, flags and composition offset, so a player needs no other file to place
it. The init segment copies the source track's sample description, display
matrix (rotation) and edit-list shift, exactly what ffmpeg's own ``dash``
muxer keeps, except the matrix, which it resets to identity.
"""

from __future__ import annotations

import struct

from foleycache.media.isobmff import Buffer, make_box, make_full_box
from foleycache.media.mp4_track import Track

TRACK_ID = 1
IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
#: trun sample flags: a sync sample depends on nothing; others depend on earlier ones.
SYNC_FLAGS = 0x02000000
NON_SYNC_FLAGS = 0x01010000
TRUN_DATA_OFFSET, TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO = 0x1, 0x100, 0x200, 0x400, 0x800
TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
HANDLERS = {"video": b"vide", "audio": b"soun"}


def init_segment(track: Track, label: str) -> bytes:
    """``ftyp`` + ``moov`` with an empty sample table and ``mvex``, for one track as track 1."""
    ftyp = make_box(b"ftyp", b"iso5", struct.pack(">I", 512), b"iso5iso6mp41")
    mvhd = make_full_box(
        b"mvhd", 0, 0,
        struct.pack(">IIIIIH10x", 0, 0, track.timescale, 0, 0x10000, 0x0100),
        IDENTITY_MATRIX, bytes(24), struct.pack(">I", TRACK_ID + 1),
    )  # fmt: skip
    trak = make_box(b"trak", _tkhd(track), _edts(track), _mdia(track, label))
    trex = make_full_box(b"trex", 0, 0, struct.pack(">IIIII", TRACK_ID, 1, 0, 0, 0))
    return ftyp + make_box(b"moov", mvhd, trak, make_box(b"mvex", trex))


def media_segment(track: Track, sequence: int, first: int, stop: int, data: bytes) -> bytes:
    """``styp`` + ``moof`` + ``mdat`` for samples ``first:stop`` (``data``: their bytes)."""
    styp = make_box(b"styp", b"msdh", struct.pack(">I", 0), b"msdhmsix")
    moof = _moof(track, sequence, first, stop, data_offset=0)
    moof = _moof(track, sequence, first, stop, data_offset=len(moof) + 8)
    return styp + moof + make_box(b"mdat", data)


def sample_bytes(buf: Buffer, track: Track, first: int, stop: int) -> bytes:
    """Samples ``first:stop`` of ``track`` read from ``buf``, adjacent samples read as one slice."""
    parts: list[bytes] = []
    run_start = run_end = -1
    for offset, size in zip(track.offsets[first:stop], track.sizes[first:stop], strict=True):
        if offset != run_end:
            if run_end > run_start:
                parts.append(bytes(buf[run_start:run_end]))
            run_start = offset
        run_end = offset + size
    if run_end > run_start:
        parts.append(bytes(buf[run_start:run_end]))
    return b"".join(parts)


def _tkhd(track: Track) -> bytes:
    return make_full_box(
        b"tkhd", 0, 0x3,  # enabled, in movie
        struct.pack(">IIIII8xhhh2x", 0, 0, TRACK_ID, 0, 0, 0, 0, track.volume),
        track.matrix, struct.pack(">II", track.tkhd_width, track.tkhd_height),
    )  # fmt: skip


def _edts(track: Track) -> bytes:
    """The source's start shift (B-frame delay, AAC priming) as one edit, as ffmpeg writes it."""
    shift = track.edit_shift
    if shift == 0:
        return b""
    # A negative shift is an empty edit that delays the start (mvhd's timescale is the track's).
    entries = [(0, shift)] if shift > 0 else [(-shift, -1), (0, 0)]
    wide = any(abs(v) >= 2**31 for pair in entries for v in pair)
    fmt = ">Qqhh" if wide else ">Iihh"
    body = b"".join(struct.pack(fmt, duration, media, 1, 0) for duration, media in entries)
    return make_box(
        b"edts", make_full_box(b"elst", int(wide), 0, struct.pack(">I", len(entries)), body)
    )


def _mdia(track: Track, label: str) -> bytes:
    mdhd = make_full_box(
        b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, track.timescale, 0, track.language, 0)
    )
    hdlr = make_full_box(
        b"hdlr", 0, 0, struct.pack(">I", 0), HANDLERS[track.kind], bytes(12),
        label.encode("utf-8") + b"\0",
    )  # fmt: skip
    return make_box(
        b"mdia", mdhd, hdlr, make_box(b"minf", track.media_header, _dinf(track), _stbl(track))
    )


def _dinf(track: Track) -> bytes:
    if track.dinf:
        return track.dinf
    url = make_full_box(b"url ", 0, 1)
    return make_box(b"dinf", make_full_box(b"dref", 0, 0, struct.pack(">I", 1), url))


def _stbl(track: Track) -> bytes:
    empty = struct.pack(">I", 0)
    return make_box(
        b"stbl",
        track.stsd,
        make_full_box(b"stts", 0, 0, empty),
        make_full_box(b"stsc", 0, 0, empty),
        make_full_box(b"stsz", 0, 0, empty, empty),
        make_full_box(b"stco", 0, 0, empty),
    )


def _moof(track: Track, sequence: int, first: int, stop: int, *, data_offset: int) -> bytes:
    mfhd = make_full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))
    tfhd = make_full_box(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, struct.pack(">I", TRACK_ID))
    tfdt = make_full_box(b"tfdt", 1, 0, struct.pack(">Q", track.dts[first]))
    return make_box(
        b"moof", mfhd, make_box(b"traf", tfhd, tfdt, _trun(track, first, stop, data_offset))
    )


def _trun(track: Track, first: int, stop: int, data_offset: int) -> bytes:
    """Per-sample duration, size, flags and composition offset (version 1 if any is negative)."""
    ctos = track.cto[first:stop]
    has_cto = any(ctos)
    version = 1 if any(c < 0 for c in ctos) else 0
    flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | (TRUN_CTO if has_cto else 0)
    values: list[int] = []
    for i in range(first, stop):
        values += (
            track.durations[i],
            track.sizes[i],
            SYNC_FLAGS if track.sync[i] else NON_SYNC_FLAGS,
        )
        if has_cto:
            values.append(track.cto[i])
    per_sample = ("III" + ("i" if version else "I")) if has_cto else "III"
    table = struct.pack(">" + per_sample * (stop - first), *values)
    return make_full_box(
        b"trun", version, flags, struct.pack(">Ii", stop - first, data_offset), table
    )
