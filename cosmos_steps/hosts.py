"""GPU hosts from config.yaml: how to reach them and how a job is launched in each runtime.

Runtimes:
- docker:    `docker run -d --rm --name cosmos-<job> --label ...` with the host root, the cosmos
             checkout and the checkpoints mounted at the same paths inside the container;
- apptainer: `apptainer exec --nv --bind ...` under setsid;
- none:      the job script under setsid, with an optional Python env first on PATH;
- simulate:  like none, with NVIDIA's entry points replaced by cosmos_steps/simulator.

GPUs: a host's `gpus` from config.yaml, except for a `transport: local` host inside a SLURM job
(the inference rule running on a cluster's GPU node), which uses exactly the GPUs SLURM allocated
to the job (CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import sys
from collections.abc import Mapping
from typing import Any

from cosmos_steps.transport import LocalTransport, Transport

LABEL = "cosmos-workflow"
OFFLOAD_FLAGS = {
    "text_encoder": "--offload_text_encoder_model",
    "guardrail": "--offload_guardrail_models",
    "diffusion_transformer": "--offload_diffusion_transformer",
}
"""config.yaml offload keys -> NVIDIA's flags (transfer.py)."""
"""Docker label key prefix marking containers of this project."""
SLURM_NO_GPU = "NoDevFiles"
"""What SLURM puts in CUDA_VISIBLE_DEVICES when the allocated GRES has no device files."""


def slurm_gpus(environ: Mapping[str, str]) -> list[str]:
    """GPU ids SLURM allocated to the job this process runs in ([] outside a SLURM job)."""
    if not environ.get("SLURM_JOB_ID"):
        return []
    visible = environ.get("CUDA_VISIBLE_DEVICES", "")
    return [] if visible == SLURM_NO_GPU else [gpu for gpu in visible.split(",") if gpu]


@dataclasses.dataclass
class Host:
    """One configured host (schema defaults already applied)."""

    name: str
    conf: dict[str, Any]

    @property
    def runtime(self) -> str:
        return self.conf["runtime"]

    @property
    def root(self) -> str:
        root = self.conf["root"]
        if self.conf["transport"] == "local":
            return os.path.abspath(os.path.expanduser(root))
        return root.rstrip("/")

    @property
    def configured_gpu_ids(self) -> list[str]:
        """GPU ids from `gpus` in config.yaml (a count means 0..count-1)."""
        gpus = self.conf.get("gpus", 1)
        return [str(gpu) for gpu in (gpus if isinstance(gpus, list) else range(gpus))]

    @property
    def allocated_gpu_ids(self) -> list[str]:
        """For a local host inside a SLURM job, the GPUs of that job; else []."""
        return slurm_gpus(os.environ) if self.conf["transport"] == "local" else []

    @property
    def gpu_ids(self) -> list[str]:
        """The GPU ids a job uses, as CUDA_VISIBLE_DEVICES spells them."""
        return self.allocated_gpu_ids or self.configured_gpu_ids

    @property
    def num_gpus(self) -> int:
        return len(self.gpu_ids)

    def allocation_note(self) -> str | None:
        """A log line saying that the GPUs come from a SLURM allocation (None when they do not)."""
        allocated = self.allocated_gpu_ids
        if not allocated:
            return None
        note = f"SLURM job {os.environ['SLURM_JOB_ID']}: using its GPUs {','.join(allocated)}"
        wanted = len(self.configured_gpu_ids)
        if wanted != len(allocated):
            note += (
                f" ({len(allocated)}, while config.yaml asks for {wanted}: request {wanted} in the"
                " SLURM profile's set-resources for cosmos_infer)"
            )
        return note

    def connect(self) -> Transport:
        """A transport to this host (SSH connects lazily, on first use)."""
        if self.conf["transport"] == "local":
            return LocalTransport()
        from cosmos_steps.ssh_transport import SSHTransport

        return SSHTransport.from_host_config(self.name, self.conf)

    def offloads_everything(self) -> bool:
        """Are all of NVIDIA's model offload flags on already?"""
        return set(self.offload_flags("transfer")) == set(OFFLOAD_FLAGS.values())

    def offload_flags(self, task: str) -> list[str]:
        """NVIDIA offload flags for a task (the upsampler only knows its own)."""
        offload = self.conf.get("offload", {})
        if task == "enhance":
            return ["--offload_prompt_upsampler"] if offload.get("prompt_upsampler", True) else []
        defaults = {"text_encoder": True, "guardrail": True, "diffusion_transformer": False}
        return [flag for key, flag in OFFLOAD_FLAGS.items() if offload.get(key, defaults[key])]

    def container_name(self, job_id: str) -> str:
        return f"cosmos-{job_id}"

    def job_env(self, task: str, job_id: str, cosmos_dir: str) -> dict[str, str]:
        """Environment of a job's task script (paths and numbers only, never user text)."""
        env = {
            "COSMOS_DIR": cosmos_dir,
            "CHECKPOINT_DIR": self.conf.get("checkpoint_dir", f"{self.root}/checkpoints"),
            "NUM_GPUS": str(1 if task == "enhance" else self.num_gpus),
            "CUDA_VISIBLE_DEVICES": ",".join(self.gpu_ids),
            "MASTER_PORT": str(29500 + int(hashlib.sha256(job_id.encode()).hexdigest(), 16) % 2000),
            "OFFLOAD_FLAGS": " ".join(self.offload_flags(task)),
            "TOKENIZERS_PARALLELISM": "false",
        }
        if self.runtime == "none" and self.conf.get("env_prefix"):
            env["PATH_PREFIX"] = f"{self.conf['env_prefix'].rstrip('/')}/bin"
        if self.runtime == "simulate":
            env.update(self.simulator_env(cosmos_dir))
        return env

    def simulator_env(self, cosmos_dir: str) -> dict[str, str]:
        """Knobs of the simulated host, and where its python and ffmpeg are."""
        sim = self.conf.get("simulate", {})
        local = self.conf["transport"] == "local"
        if local:
            from cosmos_steps.ffmpeg import ffmpeg_exe

            ffmpeg = sim.get("ffmpeg") or ffmpeg_exe("auto")
        else:
            ffmpeg = sim.get("ffmpeg", "ffmpeg")
        return {
            "PATH_PREFIX": f"{cosmos_dir}/bin",
            "COSMOS_SIM_PYTHON": sys.executable if local else sim.get("python", "python3"),
            "COSMOS_SIM_FFMPEG": ffmpeg,
            "COSMOS_SIM_LOAD_SECONDS": str(sim.get("load_seconds", 0)),
            "COSMOS_SIM_SECONDS_PER_FRAME": str(sim.get("seconds_per_frame", 0)),
            "COSMOS_SIM_SCALE": str(sim.get("scale", 1)),
            "COSMOS_SIM_FAIL": sim.get("fail", "none"),
            "COSMOS_SIM_DROP_LINES": ",".join(map(str, sim.get("drop_lines", []))),
            "COSMOS_SIM_GPU_MEMORY_GB": str(sim.get("gpu_memory_gb", 80)),
            "COSMOS_SIM_MODEL_MEMORY_GB": str(sim.get("model_memory_gb", 0)),
        }

    def launch(self, job_dir: str, job_id: str, labels: dict[str, str]) -> list[str]:
        """jobctl.sh start arguments: `--detach CMD...` or `--direct CMD...` (docker run -d)."""
        job_script = [f"{job_dir}/job.sh", job_dir]
        if self.runtime == "docker":
            return ["--direct", *self.docker_run(job_dir, job_id, labels)]
        if self.runtime == "apptainer":
            return ["--detach", *self.apptainer_exec(job_dir)]
        return ["--detach", "bash", *job_script]

    def docker_command(self) -> list[str]:
        return ["sudo", "-n", "docker"] if self.conf["docker"].get("sudo") else ["docker"]

    def docker_run(self, job_dir: str, job_id: str, labels: dict[str, str]) -> list[str]:
        """The exact `docker run` command of a job."""
        docker = self.conf["docker"]
        gpus = docker.get("gpus") or ("device=" + ",".join(self.gpu_ids))
        argv = [*self.docker_command(), "run", "-d", "--rm", "--name", self.container_name(job_id)]
        for key, value in sorted({"job": job_id, **labels}.items()):
            argv += ["--label", f"{LABEL}.{key}={value}"]
        argv += ["--gpus", gpus]
        if docker.get("ipc_host", True):
            argv.append("--ipc=host")
        argv += ["--shm-size", docker.get("shm_size", "8g")]
        for path in self.mounts():
            argv += ["-v", f"{path}:{path}"]
        argv += ["-v", f"{docker.get('hf_cache', '~/.cache/huggingface')}:/root/.cache/huggingface"]
        argv += ["-w", job_dir, *docker.get("extra_args", []), docker["image"]]
        return [*argv, "bash", f"{job_dir}/job.sh", job_dir]

    def apptainer_exec(self, job_dir: str) -> list[str]:
        """The exact `apptainer exec` command of a job."""
        conf = self.conf["apptainer"]
        argv = ["apptainer", "exec"]
        if conf.get("nv", True):
            argv.append("--nv")
        argv += ["--bind", ",".join(f"{p}:{p}" for p in self.mounts()), "--pwd", job_dir]
        argv += [*conf.get("extra_args", []), conf["image"]]
        return [*argv, "bash", f"{job_dir}/job.sh", job_dir]

    def mounts(self) -> list[str]:
        """Host folders visible inside a container at the same path."""
        paths = [self.root, self.conf.get("cosmos_dir"), self.conf.get("checkpoint_dir")]
        return [p for p in dict.fromkeys(paths) if p]

    def liveness_args(self, job_id: str) -> list[str]:
        """How jobctl.sh tells whether a job still runs (its container, else its pid)."""
        if self.runtime != "docker":
            return []
        args = ["--container", self.container_name(job_id)]
        return [*args, "--sudo"] if self.conf["docker"].get("sudo") else args


HOME_PATHS = (
    ("root",),
    ("cosmos_dir",),
    ("checkpoint_dir",),
    ("env_prefix",),
    ("docker", "hf_cache"),
    ("apptainer", "image"),
)
"""Host settings that may start with `~` (the remote user's home, resolved on the host)."""


def needs_home(conf: dict[str, Any]) -> bool:
    """Does any path setting of a host start with `~`?"""
    return any(str(_get(conf, keys) or "").startswith("~") for keys in HOME_PATHS)


def expand_home(conf: dict[str, Any], home: str) -> dict[str, Any]:
    """A copy of a host's settings with `~` replaced by the remote home folder."""
    out = copy.deepcopy(conf)
    for keys in HOME_PATHS:
        value = _get(out, keys)
        if isinstance(value, str) and value.startswith("~"):
            _get(out, keys[:-1])[keys[-1]] = home.rstrip("/") + value[1:]
    return out


def _get(conf: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(conf, dict):
            return None
        conf = conf.get(key)
    return conf


def with_all_offloads(host: Host) -> Host:
    """The same host with every model offload flag on (escalation after CUDA out of memory)."""
    offload = {**host.conf.get("offload", {}), **{key: True for key in OFFLOAD_FLAGS}}
    return Host(host.name, {**host.conf, "offload": offload})


def get_host(config: dict[str, Any], name: str) -> Host:
    """The host called `name` in config.yaml."""
    return Host(name, config["hosts"][name])
