"""What a run costs, and what it ran with: memory, disk, parameters, versions."""

from __future__ import annotations

import platform
import resource
import sys
from importlib import metadata


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (ru_maxrss is KB on Linux)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes there
        kb /= 1024
    return round(kb / 1024, 1)


def peak_gpu_mem_mb(device) -> float | None:
    """Peak memory allocated by torch on a CUDA device, in MB; None elsewhere."""
    import torch

    if getattr(device, "type", str(device)) != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    """The software a run used, cnncompare's own version first (its provenance)."""
    from cnncompare import __version__

    return {
        "cnncompare": __version__,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "numpy": _version("numpy"),
        "snakemake": _version("snakemake"),
    }


def device_name(device) -> str:
    """A readable name: the GPU model on CUDA, the processor otherwise."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
