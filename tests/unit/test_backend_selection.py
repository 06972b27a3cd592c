"""The backend is chosen explicitly, and a ``hunyuan`` endpoint never serves anything else.

``/ping`` is what SageMaker checks before sending traffic: it answers 200 only once the
configured model is loaded, with the backend, the model version (``MODEL_VERSION`` or the
one derived from the weights digest) and the weights digest; and non-200 with the reason
when the configured model cannot load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest
from flask.testing import FlaskClient

from foley_server.app import create_app
from foley_server.backend import BackendUnavailable, load_backend
from foley_server.config import ServerConfig
from foley_server.s3_objects import S3Objects

REPO = Path(__file__).resolve().parents[2]
NO_S3 = cast(S3Objects, object())  # nothing here reaches S3


def client(config: ServerConfig | None = None) -> FlaskClient:
    return create_app(config, s3=NO_S3, load_in_background=False).test_client()


def ping(test_client: FlaskClient) -> tuple[int, dict[str, Any]]:
    response = test_client.get("/ping")
    return response.status_code, cast(dict[str, Any], response.get_json())


def stand_in_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """An importable ``hunyuanvideo_foley`` (readiness only asks whether it is installed)."""
    monkeypatch.setitem(sys.modules, "hunyuanvideo_foley", ModuleType("hunyuanvideo_foley"))


# --- hunyuan that cannot load --------------------------------------------------------------


def test_hunyuan_without_its_package_cuda_or_weights_refuses_ping(tmp_path: Path) -> None:
    config = ServerConfig(backend="hunyuan", model_dir=tmp_path / "no-model", model_version="v9")
    test_client = client(config)
    status, body = ping(test_client)
    assert status == 500
    assert body["status"] == "error" and body["backend"] == "hunyuan"
    reason = body["error"]
    assert "never serves another model" in reason
    assert "hunyuanvideo_foley package is not installed" in reason
    assert f"{tmp_path / 'no-model'} does not exist" in reason
    # It serves nothing at all: no reference model behind its back.
    response = test_client.post("/invocations", data=b"{}")
    assert response.status_code == 503
    assert test_client.get("/stats").get_json()["backend"] is None


def test_hunyuan_names_every_missing_file_of_the_artefact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in_package(monkeypatch)
    model = tmp_path / "model"
    model.mkdir()
    (model / "hunyuanvideo_foley.pth").write_bytes(b"xxl")
    (model / "siglip2").mkdir()
    (model / "siglip2" / "config.json").write_text("{}")
    config = ServerConfig(backend="hunyuan", model_dir=model, hunyuan_device="cpu")
    status, body = ping(client(config))
    assert status == 500
    reason = body["error"]
    for missing in (
        "vae_128d_48k.pth",
        "synchformer_state_dict.pth",
        "google/siglip2-base-patch16-512 in",  # folder there, weights not
        "laion/larger_clap_general is missing",
        "no config YAML for model size xxl",
    ):
        assert missing in reason, (missing, reason)
    assert "hunyuanvideo_foley.pth" not in reason  # present, so not named
    assert "package is not installed" not in reason


def test_hunyuan_needs_cuda_when_told_to_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    stand_in_package(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendUnavailable, match="no CUDA GPU is visible"):
        load_backend(ServerConfig(backend="hunyuan", model_dir=tmp_path))


def test_hunyuan_refuses_windows_longer_than_it_scores() -> None:
    with pytest.raises(ValueError, match="longer than the 15 s"):
        ServerConfig(backend="hunyuan", window_s=20.0)
    with pytest.raises(ValueError, match="longer than the 15 s"):
        ServerConfig.from_env({"FOLEY_BACKEND": "hunyuan", "FOLEY_WINDOW_S": "16"})


# --- auto is gone ----------------------------------------------------------------------------


def test_auto_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="FOLEY_BACKEND=auto is no longer supported") as err:
        ServerConfig.from_env({"FOLEY_BACKEND": "auto"})
    assert "FOLEY_BACKEND=reference or FOLEY_BACKEND=hunyuan" in str(err.value)
    with pytest.raises(ValueError, match="must be one of"):
        ServerConfig.from_env({"FOLEY_BACKEND": "gpu"})


def test_auto_in_the_environment_keeps_ping_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLEY_BACKEND", "auto")
    status, body = ping(client())
    assert status == 500
    assert "configuration refused" in body["error"] and "auto" in body["error"]


def test_the_local_server_will_not_start_with_auto() -> None:
    env = {**os.environ, "FOLEY_BACKEND": "auto"}
    proc = subprocess.run(
        [sys.executable, "-m", "foley_server", "--port", "0"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "FOLEY_BACKEND=auto is no longer supported" in proc.stderr


# --- the reference backend and its identity --------------------------------------------------


def test_reference_reports_backend_version_and_digest() -> None:
    status, body = ping(client(ServerConfig(backend="reference")))
    assert status == 200
    assert body["status"] == "ok" and body["backend"] == "reference"
    assert body["weights_digest"].startswith("sha256:") and len(body["weights_digest"]) == 71
    assert body["derived_model_version"].startswith("reference-")
    # No MODEL_VERSION: the derived version is the one served (and accepted).
    assert body["model_version"] == body["derived_model_version"]
    assert body["model_version_source"] == "derived"
    assert body["settings"]["windows"] == {
        "window_s": 10.0,
        "overlap_s": 1.0,
        "max_duration_s": 600.0,
        "crossfade": "equal-power",
    }


def test_model_version_when_set_is_served_alongside_the_derived_one() -> None:
    _, derived = ping(client(ServerConfig()))
    status, body = ping(client(ServerConfig(model_version="foley-ref-1")))
    assert status == 200
    assert body["model_version"] == "foley-ref-1"
    assert body["model_version_source"] == "MODEL_VERSION"
    assert body["derived_model_version"] == derived["derived_model_version"]
    assert body["weights_digest"] == derived["weights_digest"]


def test_the_derived_version_is_stable_and_follows_what_shapes_the_sound() -> None:
    first = load_backend(ServerConfig()).identity
    again = load_backend(ServerConfig()).identity
    other_windows = load_backend(ServerConfig(window_s=8.0)).identity
    assert first.derived_version == again.derived_version
    assert other_windows.weights_digest == first.weights_digest
    assert other_windows.derived_version != first.derived_version


def test_no_backend_in_the_environment_means_the_reference_model() -> None:
    assert ServerConfig.from_env({}).backend == "reference"
    assert ServerConfig.from_env({"FOLEY_BACKEND": " Hunyuan "}).backend == "hunyuan"


def test_settings_errors_are_named() -> None:
    with pytest.raises(ValueError, match="FOLEY_WINDOW_OVERLAP_S"):
        ServerConfig.from_env({"FOLEY_WINDOW_OVERLAP_S": "5"})
    with pytest.raises(ValueError, match="HUNYUAN_MODEL_SIZE"):
        ServerConfig.from_env({"HUNYUAN_MODEL_SIZE": "xxxl"})
    with pytest.raises(ValueError, match="HUNYUAN_ENABLE_OFFLOAD"):
        ServerConfig.from_env({"HUNYUAN_ENABLE_OFFLOAD": "maybe"})
    assert ServerConfig.from_env({"HUNYUAN_ENABLE_OFFLOAD": "true"}).hunyuan_offload
