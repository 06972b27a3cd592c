"""Compare two video files end to end (what ``foleycache match A B --json`` prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from foleycache.fingerprint.decision import decide
from foleycache.fingerprint.extract import fingerprint_video


def match_files(a: Path, b: Path) -> dict[str, Any]:
    """Fingerprint both files and decide: ``{hamming, similarity, same, reason}``."""
    d = decide(fingerprint_video(Path(a)), fingerprint_video(Path(b)))
    return {
        "hamming": d.hamming,
        "similarity": round(d.similarity, 4),
        "same": d.same,
        "reason": d.reason,
    }
