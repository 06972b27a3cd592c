"""EBU R128 loudness, measured by ffmpeg's ebur128 filter, and the Foley gain for ``mix``.

Why measure: a fixed gain puts quiet Foley under loud dialogue out of
earshot and loud Foley over a quiet source. Setting the Foley's integrated
loudness a fixed number of LU under the source's keeps the relation the same
on every upload. Measuring an audio track is a decode of audio only
(~0.1 CPU s for 10 s), no video is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from foleycache.core.errors import MediaError
from foleycache.media.tool_process import run_tool

#: ebur128 reports this for digital silence (its absolute gate).
SILENCE_LUFS = -70.0
#: Where the Foley sits in ``mix`` mode: this many LU under the source audio.
MIX_FOLEY_RELATIVE_LU = -6.0
#: The Foley gain is kept in this range: beyond it the measurement, not the sound, is wrong.
MIN_GAIN_DB, MAX_GAIN_DB = -40.0, 20.0
_INTEGRATED = re.compile(r"Integrated loudness:\s*I:\s*(-?[0-9.]+|-inf) LUFS")


@dataclass(frozen=True)
class Loudness:
    """Integrated loudness in LUFS (None: silent) and the CPU the measurement cost."""

    lufs: float | None
    cpu_s: float


@dataclass(frozen=True)
class MixGain:
    """The gain applied to the Foley before mixing, with the measurements behind it."""

    gain_db: float
    source_lufs: float | None
    foley_lufs: float | None
    note: str
    cpu_s: float


def integrated_loudness(path: Path, *, stream: str = "a:0", ffmpeg: str = "ffmpeg") -> Loudness:
    """Integrated loudness of one audio stream of ``path`` (ebur128's summary)."""
    run = run_tool(
        [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-i", str(path),
         "-map", f"0:{stream}", "-af", "ebur128=framelog=verbose", "-f", "null", "-"]
    )  # fmt: skip
    match = _INTEGRATED.search(run.stderr)
    if run.returncode != 0 or match is None:
        raise MediaError(
            f"ffmpeg could not measure the loudness of {path.name}:\n{run.stderr_tail()}"
        )
    value = match.group(1)
    lufs = None if value == "-inf" or float(value) <= SILENCE_LUFS else float(value)
    return Loudness(lufs=lufs, cpu_s=run.cpu_s)


def mix_gain(
    source: Path,
    foley: Path,
    *,
    relative_lu: float = MIX_FOLEY_RELATIVE_LU,
    ffmpeg: str = "ffmpeg",
) -> MixGain:
    """The gain that puts ``foley`` ``relative_lu`` LU under ``source``'s first audio track."""
    src = integrated_loudness(source, ffmpeg=ffmpeg)
    fol = integrated_loudness(foley, ffmpeg=ffmpeg)
    cpu = src.cpu_s + fol.cpu_s
    if fol.lufs is None:
        return MixGain(0.0, src.lufs, None, "the Foley is silent: nothing to level", cpu)
    if src.lufs is None:
        return MixGain(
            0.0, None, fol.lufs, "the source audio is silent: Foley at its own level", cpu
        )
    wanted = src.lufs + relative_lu
    gain = min(MAX_GAIN_DB, max(MIN_GAIN_DB, wanted - fol.lufs))
    note = (
        f"Foley {fol.lufs:.1f} LUFS set to {fol.lufs + gain:.1f} LUFS, "
        f"{-relative_lu:g} LU under the source's {src.lufs:.1f} LUFS"
    )
    return MixGain(round(gain, 2), src.lufs, fol.lufs, note, cpu)
