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


def run_ffmpeg(args: list[str], *, ffmpeg: str = "auto", log: object = None) -> object:
    """Placeholder: run ffmpeg and raise on failure."""
    import subprocess

    argv = [ffmpeg_exe(ffmpeg), "-hide_banner", "-nostdin", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, check=True)
