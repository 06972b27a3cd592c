"""Media stage: probe uploads, mux the Foley track, repackage for ABR.

Talks to ffmpeg/ffprobe executables only (no AWS, no Redis), so it runs the
same in Lambda, the local stack and the tests.
"""

from foleycache.media.limits import check_limits
from foleycache.media.mux import MuxResult, VideoPlan, mux_foley, plan_video
from foleycache.media.package import PackageResult, package_abr
from foleycache.media.probe import MediaInfo, probe

__all__ = [
    "MediaInfo",
    "MuxResult",
    "PackageResult",
    "VideoPlan",
    "check_limits",
    "mux_foley",
    "package_abr",
    "plan_video",
    "probe",
]
