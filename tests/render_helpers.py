"""Writing small real PNG sequences for the frames and encode tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """Save an array (H x W grey, H x W x 3 RGB, H x W x 4 RGBA; uint8 or uint16 grey)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def flat(size: tuple[int, int], value: int | tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
    """A W x H image filled with value (an int gives grey, a tuple gives channels)."""
    width, height = size
    shape = (height, width) if isinstance(value, int) else (height, width, len(value))
    return np.full(shape, value, dtype=dtype)


def write_sequence(
    folder: Path,
    name: str,
    numbers: Iterable[int],
    size: tuple[int, int] = (16, 8),
    value: int | tuple[int, ...] = (90, 120, 200),
) -> list[Path]:
    """Write flat frames named by the format string name (e.g. "color.{:04d}.png")."""
    return [write_png(folder / name.format(n), flat(size, value)) for n in numbers]


def truncate(path: Path, keep: int) -> Path:
    """Cut a file to its first keep bytes (a render interrupted while writing)."""
    path.write_bytes(path.read_bytes()[:keep])
    return path
