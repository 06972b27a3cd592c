"""Which sound a prompt asks for, as a handful of synthesis parameters.

Keyword families cover the common Foley requests; any other prompt still gets
its own stable texture derived from ``md5(prompt)``, so two different prompts
never silently share a sound and the same prompt always gets the same one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Texture:
    """One impact (``partials`` ringing plus a noise burst) and the bed under it."""

    family: str
    partials_hz: tuple[float, ...]
    partial_decay_s: float
    noise_band_hz: tuple[float, float]
    noise_decay_s: float
    tone_mix: float
    attack_s: float = 0.002
    bed_band_hz: tuple[float, float] = (150.0, 3000.0)
    bed_level: float = 0.08
    bed_hum_hz: float = 0.0
    crackle_per_s: float = 0.0

    @property
    def impact_length_s(self) -> float:
        return min(1.5, self.attack_s + 5.0 * max(self.partial_decay_s, self.noise_decay_s))


PRESETS: dict[str, Texture] = {
    "footsteps": Texture("footsteps", (85.0, 140.0), 0.05, (200.0, 3000.0), 0.04, 0.5),
    "glass": Texture(
        "glass",
        (2100.0, 3370.0, 4920.0, 6810.0),
        0.3,
        (3000.0, 12000.0),
        0.015,
        0.8,
        bed_band_hz=(2000.0, 8000.0),
        bed_level=0.03,
    ),
    "water": Texture(
        "water",
        (),
        0.0,
        (300.0, 4000.0),
        0.12,
        0.0,
        attack_s=0.005,
        bed_band_hz=(400.0, 6000.0),
        bed_level=0.12,
    ),
    "metal": Texture(
        "metal",
        (520.0, 1310.0, 2230.0, 3470.0),
        0.5,
        (1000.0, 8000.0),
        0.01,
        0.85,
        bed_level=0.04,
    ),
    "wood": Texture("wood", (380.0, 920.0, 1750.0), 0.07, (500.0, 4000.0), 0.02, 0.7),
    "fire": Texture(
        "fire",
        (),
        0.0,
        (500.0, 8000.0),
        0.03,
        0.0,
        bed_band_hz=(80.0, 1200.0),
        bed_level=0.1,
        crackle_per_s=25.0,
    ),
    "engine": Texture(
        "engine",
        (55.0, 110.0, 165.0, 220.0),
        0.35,
        (50.0, 800.0),
        0.25,
        0.6,
        attack_s=0.02,
        bed_band_hz=(40.0, 500.0),
        bed_level=0.12,
        bed_hum_hz=55.0,
    ),
    "wind": Texture(
        "wind",
        (),
        0.0,
        (200.0, 1500.0),
        0.3,
        0.0,
        attack_s=0.02,
        bed_band_hz=(150.0, 1200.0),
        bed_level=0.14,
    ),
    "paper": Texture(
        "paper",
        (),
        0.0,
        (2000.0, 10000.0),
        0.05,
        0.0,
        attack_s=0.004,
        bed_band_hz=(3000.0, 9000.0),
        bed_level=0.05,
    ),
    "default": Texture("default", (120.0,), 0.05, (300.0, 5000.0), 0.04, 0.4),
}

#: Words that select a family; the family whose word appears first in the prompt wins.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "footsteps": ("footstep", "footsteps", "step", "steps", "walk", "walking", "run", "running"),
    "glass": ("glass", "shatter", "clink", "bottle"),
    "water": ("water", "rain", "splash", "drip", "river", "wave", "waves", "pour"),
    "metal": ("metal", "clank", "clang", "steel", "iron", "chain", "bell"),
    "wood": ("wood", "wooden", "knock", "door", "table", "bat"),
    "fire": ("fire", "crackle", "crackling", "flame", "flames", "campfire"),
    "engine": ("engine", "car", "motor", "truck", "traffic", "motorcycle"),
    "wind": ("wind", "breeze", "gust", "storm"),
    "paper": ("paper", "page", "pages", "book", "rustle"),
}

_WORD = re.compile(r"[a-z]+")


def texture_for_prompt(prompt: str) -> Texture:
    """Stable for a given prompt; case and punctuation do not matter to keyword families."""
    for word in _WORD.findall(prompt.lower()):
        for family, words in KEYWORDS.items():
            if word in words:
                return PRESETS[family]
    return _hashed_texture(prompt)


def _hashed_texture(prompt: str) -> Texture:
    """A texture spread over the whole parameter space by the prompt's md5 bytes."""
    d = hashlib.md5(prompt.encode("utf-8")).digest()

    def unit(i: int) -> float:
        return d[i] / 255.0

    base = 80.0 * (2.0 ** (6.0 * unit(0)))  # 80 Hz .. 5 kHz
    ratios = (1.0, 1.5 + unit(1), 2.6 + 2.0 * unit(2))
    low = 100.0 + 2000.0 * unit(3)
    return Texture(
        family=f"hashed-{d.hex()[:8]}",
        partials_hz=tuple(base * r for r in ratios[: 1 + d[4] % 3]),
        partial_decay_s=0.03 + 0.4 * unit(5),
        noise_band_hz=(low, low * (2.0 + 6.0 * unit(6))),
        noise_decay_s=0.01 + 0.1 * unit(7),
        tone_mix=0.15 + 0.7 * unit(8),
        attack_s=0.001 + 0.01 * unit(9),
        bed_band_hz=(100.0 + 500.0 * unit(10), 1500.0 + 5000.0 * unit(11)),
        bed_level=0.03 + 0.09 * unit(12),
        crackle_per_s=20.0 * unit(13) if d[14] % 4 == 0 else 0.0,
    )
