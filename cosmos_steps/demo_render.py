"""A procedural example render folder: color, depth, segmentation and edge passes.

A setting sun over a horizon, a red box sliding along the ground, a bouncing blue ball and a
tree, named like Houdini output (``color.0001.png``). Everything is computed from the frame
number with numpy, so the same arguments give the same bytes on every run. Depth is
"near = bright" (like Cosmos' own depth estimator): 0 at the horizon and in the sky, 255
(65535 with ``--depth16``) at the bottom edge of the ground.

    python -m cosmos_steps.demo_render OUTDIR [--frames 121] [--size 160x88] [--depth16]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

LABEL_COLORS = np.array(
    [
        (0, 0, 0),  # unused
        (70, 130, 180),  # sky
        (107, 142, 35),  # ground
        (250, 170, 30),  # sun
        (220, 20, 60),  # box
        (0, 0, 142),  # ball
        (152, 251, 152),  # tree
    ],
    dtype=np.uint8,
)
"""Segmentation colour of each label (flat colours, one per object)."""

SKY, GROUND, SUN, BOX, BALL, TREE = range(1, 7)
HORIZON = 0.6
"""Height of the horizon, as a fraction of the frame height."""


def scene(t: int, frames: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels (uint8) and depth as disparity in 0..1 (float) of frame t of frames."""
    u = t / max(frames - 1, 1)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    horizon = HORIZON * height
    ground = np.clip((yy - horizon) / (height - horizon), 0.0, 1.0)
    labels = np.where(yy < horizon, SKY, GROUND).astype(np.uint8)
    disparity = ground.copy()

    def place(mask: np.ndarray, label: int, contact_y: float) -> None:
        labels[mask] = label
        disparity[mask] = max(0.0, (contact_y - horizon) / (height - horizon))

    sun_x, sun_y, sun_r = (0.15 + 0.2 * u) * width, (0.2 + 0.3 * u) * height, 0.1 * height
    labels[((xx - sun_x) ** 2 + (yy - sun_y) ** 2 < sun_r**2) & (yy < horizon)] = SUN
    tree_x = 0.75 * width
    trunk = (np.abs(xx - tree_x) < 0.02 * width) & (yy >= 0.45 * height) & (yy < 0.75 * height)
    canopy = (xx - tree_x) ** 2 + (yy - 0.42 * height) ** 2 < (0.14 * height) ** 2
    place(trunk | canopy, TREE, 0.75 * height)
    box_x = (-0.2 + 1.2 * u) * width
    box = (xx >= box_x) & (xx < box_x + 0.18 * width)
    place(box & (yy >= 0.68 * height) & (yy < 0.82 * height), BOX, 0.82 * height)
    ball_x, ball_r = (0.9 - 0.8 * u) * width, 0.07 * height
    ball_y = 0.9 * height - ball_r - abs(math.sin(3 * math.pi * u)) * 0.3 * height
    place((xx - ball_x) ** 2 + (yy - ball_y) ** 2 < ball_r**2, BALL, 0.9 * height)
    return labels, disparity


def render_frame(
    t: int, frames: int, width: int, height: int, depth16: bool = False
) -> dict[str, np.ndarray]:
    """The four passes of frame t: color (RGB), depth (grey), segmentation (RGB), edge (grey)."""
    labels, disparity = scene(t, frames, width, height)
    depth_max = 65535 if depth16 else 255
    return {
        "color": _shade(labels, height),
        "depth": np.round(disparity * depth_max).astype(np.uint16 if depth16 else np.uint8),
        "segmentation": LABEL_COLORS[labels],
        "edge": _edges(labels),
    }


def write_demo_render(
    outdir: str | Path, frames: int = 121, size: tuple[int, int] = (160, 88), depth16: bool = False
) -> list[Path]:
    """Write frames 1..frames of every pass into outdir; return the files written."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for t in range(frames):
        for modality, pixels in render_frame(t, frames, *size, depth16=depth16).items():
            path = outdir / f"{modality}.{t + 1:04d}.png"
            save_png(path, pixels)
            written.append(path)
    return written


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Save an RGB, 8-bit or 16-bit grey array as a compact PNG."""
    Image.fromarray(pixels).save(path, optimize=True)


def _shade(labels: np.ndarray, height: int) -> np.ndarray:
    """The color pass: flat object colours over a sky and a ground gradient (per row)."""
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    sky = (1 - rows) * np.array([40, 90, 170]) + rows * np.array([250, 190, 140])
    ground = (1 - rows) * np.array([120, 150, 60]) + rows * np.array([40, 80, 30])
    palette = {SUN: (255, 225, 120), BOX: (200, 40, 40), BALL: (40, 80, 220), TREE: (30, 110, 50)}
    image = np.where((labels == SKY)[..., None], sky, ground)
    for label, rgb in palette.items():
        image[labels == label] = rgb
    return np.round(image).astype(np.uint8)


def _edges(labels: np.ndarray) -> np.ndarray:
    """White where the label changes to the right or below, black elsewhere."""
    edge = np.zeros(labels.shape, dtype=bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge.astype(np.uint8) * 255


def _size(text: str) -> tuple[int, int]:
    """Parse WIDTHxHEIGHT."""
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    """Command line: write the demo render folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--size", type=_size, default=(160, 88), help="WIDTHxHEIGHT")
    parser.add_argument("--depth16", action="store_true", help="write 16-bit depth PNGs")
    args = parser.parse_args(argv)
    written = write_demo_render(args.outdir, args.frames, args.size, args.depth16)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} PNGs ({total / 1e6:.2f} MB) to {args.outdir}")


if __name__ == "__main__":
    main()
