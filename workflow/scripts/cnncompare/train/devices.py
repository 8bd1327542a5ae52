"""The training device and how it is used: which GPU a job takes, mixed
precision, memory format, torch.compile, determinism, and timing.

Snakemake counts GPUs (`--resources gpu=N`) but hands out no device ids
(snakemake/snakemake#281), so on a machine with several GPUs each job claims
one itself: it takes an exclusive, non-blocking `flock` on one lock file per
GPU (or, with performance.runs_per_gpu N, on one of N slot lock files per
GPU). The kernel releases a flock when the process ends in any way, SIGKILL
included, so a killed job never leaves its GPU claimed.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

# Open lock files of the GPUs this process holds: kept referenced so that they
# stay locked until the process exits.
_HELD: list = []


def default_lock_dir() -> Path:
    """Node-local (GPU indices mean nothing on another node), one per user."""
    return Path(tempfile.gettempdir()) / f"cnncompare-gpu-locks-{os.getuid()}"


def physical_gpu_ids(count: int, visible: str | None = None) -> list[str]:
    """Names of the `count` GPUs this process sees, as the machine knows them.

    CUDA_VISIBLE_DEVICES renumbers GPUs from 0 in each process; two jobs that
    see different subsets must still lock by the machine's own id.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    if visible:
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        if len(ids) >= count:
            return ids[:count]
    return [str(i) for i in range(count)]


def performance_default(key: str):
    """The schema's default of performance.<key>, for a caller that left it out
    (a test, a benchmark, a user's script); a workflow job is given every value
    as the plan resolved it. Imported only then: reading the schema takes PyYAML
    and jsonschema, which the jobs' environment (torch.yaml) does not hold."""
    from cnncompare.plan.defaults import PERFORMANCE

    return PERFORMANCE[key]


def slot_lock_name(gpu_id: str, slot: int) -> str:
    """The lock file of one of a GPU's slots (slot 0 keeps the name of the one-job-per-GPU lock)."""
    return f"gpu-{gpu_id}.lock" if slot == 0 else f"gpu-{gpu_id}.slot{slot}.lock"


def claim_gpu(count: int, lock_dir=None, visible: str | None = None, runs_per_gpu: int | None = None) -> int:
    """Index (among the `count` visible GPUs) of a GPU with a slot no other job holds, now held by this process.

    Each GPU has `runs_per_gpu` slots (performance.runs_per_gpu; None takes the
    schema's default). The first
    slot of every GPU is tried before a second one of any, so jobs spread over
    the GPUs before they share one. With one GPU there is nothing to share out
    and no lock is taken (Snakemake's gpu_slot resource limits how many jobs
    share it). Raises RuntimeError when every slot is held: more jobs than
    slots, i.e. --resources gpu=N with N above the GPU count.
    """
    if count <= 1:
        return 0
    if runs_per_gpu is None:
        runs_per_gpu = performance_default("runs_per_gpu")
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    ids = physical_gpu_ids(count, visible)
    for slot in range(max(1, runs_per_gpu)):
        for index, gpu_id in enumerate(ids):
            handle = open(lock_dir / slot_lock_name(gpu_id, slot), "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")  # who holds it, for a person looking
            handle.flush()
            _HELD.append(handle)
            return index
    slots = "" if runs_per_gpu <= 1 else f" x {runs_per_gpu} slots (performance.runs_per_gpu)"
    raise RuntimeError(
        f"all {count} GPUs{slots} are held by other jobs (lock files in {lock_dir}): run Snakemake with "
        f"--resources gpu=N where N is at most the number of GPUs ({count})"
    )


def why_no_cuda() -> str:
    """Why torch sees no CUDA device here, in words, for the messages below."""
    host = f"host {socket.gethostname()}"
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is a build without CUDA, on {host}"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU, on {host}"
    return f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but finds no GPU or driver on {host}"


def choose_device(setting: str, lock_dir=None, runs_per_gpu: int | None = None) -> torch.device:
    """The device of setting 'auto', 'cpu' or 'cuda'; on several GPUs, one this
    job claims (a slot of one, with runs_per_gpu above 1).

    'cuda' without a CUDA device fails here, before any data is read, rather
    than train on the CPU for hours.
    """
    if setting == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device: cuda is set in the config, but torch sees no CUDA device: {why_no_cuda()}. "
            "Stopping instead of running on the CPU; run where a GPU is visible, or set device: auto "
            "to fall back to the CPU"
        )
    if setting == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    index = claim_gpu(torch.cuda.device_count(), lock_dir, runs_per_gpu=runs_per_gpu)
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def gpu_expected(setting: str, gpus_requested: int) -> bool:
    """Whether a job expects a GPU: it asked for one by its resources (the
    `gpu` resource, `--gpus` on SLURM) and the config does not choose the CPU."""
    return gpus_requested > 0 and setting != "cpu"


def warn_if_gpu_missing(setting: str, gpus_requested: int, device: torch.device, rule: str) -> bool:
    """Log, as the job's first line, that a job which asked for a GPU runs on
    the CPU (device: auto found none). True when it does."""
    if not gpu_expected(setting, gpus_requested) or device.type != "cpu":
        return False
    log.warning(
        "GPU expected, CPU found: this job asked for %d GPU%s (resources.%s.gpu) but torch sees none: "
        "%s. With device: auto it runs on the CPU, often 10 to 100 times slower than planned; set "
        "device: cuda to make such a job fail instead, or resources.%s.gpu: 0 to plan for the CPU",
        gpus_requested, "" if gpus_requested == 1 else "s", rule, why_no_cuda(), rule,
    )
    return True


# --- how the device is used -----------------------------------------------------------


@dataclass(frozen=True)
class Performance:
    """The config's `performance` block, resolved for one device; a key left
    out takes the schema's default."""

    bf16: bool
    channels_last: bool
    compile: bool
    deterministic: bool

    @classmethod
    def resolve(cls, settings: dict, device: torch.device) -> "Performance":
        read = ("precision", "channels_last", "compile", "deterministic")
        settings = {key: settings[key] if key in settings else performance_default(key) for key in read}
        precision = settings["precision"]
        if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise RuntimeError(
                f"performance.precision: bf16 was asked for, but {torch.cuda.get_device_name(device)} "
                "does not support bfloat16; use fp32 or auto"
            )
        bf16 = precision == "bf16" or (
            precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()
        )
        return cls(
            bf16=bf16,
            channels_last=settings["channels_last"],
            compile=settings["compile"],
            deterministic=settings["deterministic"],
        )

    def describe(self) -> dict:
        return {
            "precision": "bf16 autocast" if self.bf16 else "fp32",
            "channels_last": self.channels_last,
            "compile": self.compile,
            "deterministic": self.deterministic,
        }

    def autocast(self, device: torch.device):
        """The forward pass's context: bf16 autocast, or nothing."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def prepare(self, model: nn.Module):
        """Set the model's memory format; return what to call for a forward pass.

        The compiled callable wraps the same module, so the module's own
        state_dict (saved in checkpoints and model.pt) keeps its plain keys.
        """
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.compile else model


def set_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels only, or the default (fastest) ones.

    cuDNN's autotuner (cudnn.benchmark) stays off: on an H200 at 32 px it made
    ResNet50 and the custom CNN no faster (10.1-10.4 s against 11.4 s, 1.9
    against 2.1 s per epoch), and its trial workspaces blur peak memory.
    """
    if device.type != "cuda":
        return
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; read when CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Seconds between start() and seconds(): CUDA events on a GPU (they time the
    device's own work, recorded in its stream), the wall clock elsewhere."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.device = device

    def start(self) -> "Stopwatch":
        synchronize(self.device)
        if self.cuda:
            self._begin = torch.cuda.Event(enable_timing=True)
            self._begin.record()
        else:
            self._begin = time.perf_counter()
        return self

    def seconds(self) -> float:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            end.synchronize()
            return self._begin.elapsed_time(end) / 1000.0
        return time.perf_counter() - self._begin
