"""Finding ffmpeg (placeholder until the encode module lands)."""

from __future__ import annotations

import shutil


def ffmpeg_exe(setting: str = "auto") -> str:
    """The ffmpeg binary: imageio-ffmpeg's for "auto", else a path or command name."""
    if setting == "auto":
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    found = shutil.which(setting)
    if not found:
        raise FileNotFoundError(f"ffmpeg not found: {setting!r}")
    return found
