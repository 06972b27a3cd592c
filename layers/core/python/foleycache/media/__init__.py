"""Media stage: probe, plan delivery before inference, mux the Foley track, repackage for ABR.

Talks to ffmpeg/ffprobe executables only (no AWS, no Redis), so it runs the
same in Lambda, the local stack and the tests.
"""

from foleycache.media.limits import MediaLimits, check_limits
from foleycache.media.mux import MuxResult, mux_foley
from foleycache.media.package import PackageResult, package_abr
from foleycache.media.preflight import AUDIO_MODES, Preflight, Rung, plan_delivery, preflight
from foleycache.media.probe import MediaInfo, probe

__all__ = [
    "AUDIO_MODES",
    "MediaInfo",
    "MediaLimits",
    "MuxResult",
    "PackageResult",
    "Preflight",
    "Rung",
    "check_limits",
    "mux_foley",
    "package_abr",
    "plan_delivery",
    "preflight",
    "probe",
]
