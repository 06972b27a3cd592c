"""The equal-power crossfade every join of Foley sound uses.

Why one definition: the inference server joins the windows of one run with it, and the
pipeline joins reused and generated spans with it (reuse across cuts); the same gains
keep the loudness constant through every join (``in**2 + out**2 == 1``).
"""

from __future__ import annotations

import numpy as np


def equal_power_gains(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade-in, fade-out) over ``n`` samples with ``in**2 + out**2 == 1`` at every sample."""
    x = (np.arange(n, dtype=np.float64) + 0.5) / n
    return np.sin(0.5 * np.pi * x), np.cos(0.5 * np.pi * x)
