"""Cheap colour, layout and edge features of one frame (64 numbers).

Why they exist next to the CNN: they describe *where* light and edges are,
which a globally pooled CNN embedding discards, and colour, which the
greyscale CNN input deliberately ignores. Every part is made invariant to what
the evaluation edits do to a copy of the same video:

- luma is standardised per frame (brightness +-20 %, contrast, gamma-ish changes);
- every spatial grid and the edge-orientation histogram is averaged with its
  mirror image (horizontal flip);
- colour is a hue histogram weighted by saturation, so greyscale copies lose
  only this block (it has a small weight in the final vector).

Guarantee: finite values for every frame, including flat black ones.
"""

from __future__ import annotations

import cv2
import numpy as np

DIM = 64
_SIDE = 64
_GRID = 4
_ORIENT_BINS = 8
_HUE_BINS = 12
_LUMA_BINS = 10


def _grid_means(img: np.ndarray) -> np.ndarray:
    cells = img.reshape(_GRID, _SIDE // _GRID, _GRID, _SIDE // _GRID).mean(axis=(1, 3))
    symmetric: np.ndarray = ((cells + cells[:, ::-1]) / 2).ravel()
    return symmetric


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else v


def frame_features(bgr: np.ndarray) -> np.ndarray:
    """64 float32 features of one (already border-cropped) BGR frame."""
    small = cv2.resize(bgr, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    std = float(grey.std())
    z = (grey - float(grey.mean())) / max(std, 4.0)

    layout = _grid_means(z)  # 16

    gx = cv2.Sobel(z, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(z, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy)
    edges = _grid_means(mag)
    edges = edges / max(float(edges.sum()), 1e-6)  # 16, a spatial distribution of edge energy

    # Orientation in [0, pi); a flip maps theta to pi - theta, so fold the histogram.
    theta = np.mod(np.arctan2(gy, gx), np.pi)
    orient, _ = np.histogram(theta, bins=_ORIENT_BINS, range=(0, np.pi), weights=mag)
    orient = orient / max(float(orient.sum()), 1e-6)
    orient = (orient + orient[::-1]) / 2  # 8: bin i mirrors to bin 7-i

    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV).astype(np.float32)
    sat = hsv[..., 1] / 255.0
    hue_hist, _ = np.histogram(hsv[..., 0], bins=_HUE_BINS, range=(0, 180), weights=sat)
    hue_hist = hue_hist / (_SIDE * _SIDE)
    colour = np.concatenate([hue_hist, [sat.mean(), sat.std()]])  # 14

    luma, _ = np.histogram(np.clip(z, -2.5, 2.5), bins=_LUMA_BINS, range=(-2.5, 2.5))
    luma = luma / (_SIDE * _SIDE)  # 10

    parts = [
        0.5 * _unit(layout),
        0.5 * _unit(edges - 1.0 / edges.size),
        0.35 * _unit(orient - 1.0 / _ORIENT_BINS),
        0.5 * colour,
        0.35 * _unit(luma),
    ]
    return np.concatenate(parts).astype(np.float32)
