"""The simulated GPU host: stand-ins for NVIDIA's entry points, laid out like their checkout.

`TREE` maps each file of the fake checkout to its source here; the simulate runtime uploads that
tree to the host and puts its `bin/` (torchrun) first on PATH, so the gpu_scripts run unchanged.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent
_INFERENCE = "cosmos_transfer1/diffusion/inference"
_UPSAMPLER = "cosmos_transfer1/auxiliary/upsampler/inference"

TREE: dict[str, Path] = {
    f"{_INFERENCE}/transfer.py": HERE / "transfer.py",
    f"{_INFERENCE}/sim_media.py": HERE / "sim_media.py",
    f"{_UPSAMPLER}/upsampler_pipeline.py": HERE / "upsampler_pipeline.py",
    f"{_UPSAMPLER}/sim_media.py": HERE / "sim_media.py",
    "bin/torchrun": HERE / "torchrun",
}
