"""Deterministic, learnable synthetic images with meaningful class names.

Each class is a shape (and, for many-class sets, a colour), drawn with random position, scale,
rotation, colour jitter, a textured background and pixel noise, so a small net learns it well
above chance but not trivially. Shapes are indexed: a *target* task and a *source* (pretraining)
task use disjoint shape sets, so a pretrained backbone transfers edges and corners, never labels.
"""
from __future__ import annotations

import numpy as np

SHAPES = [
    "disc", "square", "triangle", "ring", "cross", "horizontal bar", "vertical bar", "diamond",
    "saltire", "frame", "half disc", "ellipse", "hollow triangle", "corner", "tee", "two dots",
    "star", "crescent", "hourglass", "checker",
]
COLOURS = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230),
    "yellow": (230, 210, 40), "magenta": (210, 50, 200),
}


def _shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of a unit-size shape in rotated/scaled coordinates (u, v) ∈ [-1, 1]."""
    r = np.hypot(u, v)
    au, av = np.abs(u), np.abs(v)
    tri = (v > -0.6) & (v < 0.7) & (au < (0.7 - v) * 0.75)
    masks = {
        "disc": r < 0.7,
        "square": (au < 0.6) & (av < 0.6),
        "triangle": tri,
        "ring": (r < 0.75) & (r > 0.45),
        "cross": ((au < 0.2) & (av < 0.75)) | ((av < 0.2) & (au < 0.75)),
        "horizontal bar": (au < 0.8) & (av < 0.22),
        "vertical bar": (av < 0.8) & (au < 0.22),
        "diamond": au + av < 0.8,
        "saltire": (np.abs(au - av) < 0.2) & (r < 0.9),
        "frame": (au < 0.7) & (av < 0.7) & ~((au < 0.42) & (av < 0.42)),
        "half disc": (r < 0.75) & (v > 0),
        "ellipse": (u / 0.85) ** 2 + (v / 0.45) ** 2 < 1,
        "hollow triangle": tri & ~((v > -0.35) & (v < 0.55) & (au < (0.55 - v) * 0.55)),
        "corner": ((au < 0.7) & (v > 0.35) & (v < 0.7)) | ((u < -0.35) & (u > -0.7) & (av < 0.7)),
        "tee": ((au < 0.75) & (v < -0.4) & (v > -0.75)) | ((au < 0.18) & (av < 0.75)),
        "two dots": (np.hypot(u - 0.42, v) < 0.3) | (np.hypot(u + 0.42, v) < 0.3),
        "star": r < 0.35 + 0.35 * np.cos(5 * np.arctan2(v, u)) ** 2,
        "crescent": (r < 0.75) & (np.hypot(u - 0.35, v) > 0.6),
        "hourglass": (av < 0.75) & (au < av * 0.9 + 0.05),
        "checker": (au < 0.7) & (av < 0.7) & ((np.floor(u * 2.5) + np.floor(v * 2.5)) % 2 == 0),
    }
    return masks[name]


def class_names(n_classes: int, shape_offset: int = 0) -> list[str]:
    """Names of the classes of a synthetic task: shapes, or colour + shape beyond 20 classes."""
    if n_classes <= len(SHAPES) - shape_offset:
        return [SHAPES[shape_offset + k] for k in range(n_classes)]
    colours = list(COLOURS)
    if n_classes > len(SHAPES) * len(colours) or shape_offset:
        raise ValueError(f"synthetic tasks support up to {len(SHAPES) * len(colours)} classes")
    return [f"{colours[k // len(SHAPES)]} {SHAPES[k % len(SHAPES)]}" for k in range(n_classes)]


def render(label: int, n_classes: int, size: int, channels: int, rng: np.random.Generator,
           shape_offset: int = 0) -> np.ndarray:
    """One H×W×C uint8 image of class ``label``."""
    coloured_classes = n_classes > len(SHAPES) - shape_offset
    shape = SHAPES[shape_offset + (label % len(SHAPES) if coloured_classes else label)]
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(grid, -grid)
    cx, cy = rng.uniform(-0.25, 0.25, 2)
    scale = rng.uniform(0.55, 0.95)
    theta = np.deg2rad(rng.uniform(-15, 15))
    xs, ys = (x - cx) / scale, (y - cy) / scale
    u = np.cos(theta) * xs + np.sin(theta) * ys
    v = -np.sin(theta) * xs + np.cos(theta) * ys
    mask = _shape_mask(shape, u, v)

    if coloured_classes:
        base = np.array(list(COLOURS.values())[label // len(SHAPES)], dtype=float)
    else:
        base = rng.uniform(60, 255, 3)
    fg = np.clip(base + rng.normal(0, 20, 3), 0, 255)
    bg_level = rng.uniform(0, 90, 3)
    # low-frequency background texture: a random smooth field
    freq = rng.uniform(1, 4, 2)
    phase = rng.uniform(0, 2 * np.pi, 2)
    texture = np.sin(freq[0] * np.pi * x + phase[0]) * np.cos(freq[1] * np.pi * y + phase[1])
    img = bg_level[None, None, :] + 25 * texture[..., None]
    img = np.where(mask[..., None], fg[None, None, :] * (0.85 + 0.15 * texture[..., None]), img)
    img = img + rng.normal(0, 12, img.shape)
    if channels == 1:
        img = img.mean(axis=2, keepdims=True) * 1.3
    return np.clip(img, 0, 255).astype(np.uint8)


def generate(n: int, n_classes: int, size: int, channels: int, seed: int,
             shape_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images with balanced labels, deterministic for ``seed``."""
    class_names(n_classes, shape_offset)  # validates the class count
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    images = np.stack([render(int(c), n_classes, size, channels, rng, shape_offset) for c in labels])
    return images, labels.astype(np.int64)
