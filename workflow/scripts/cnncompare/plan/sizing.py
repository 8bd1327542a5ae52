"""Default memory and time limits of training and evaluation jobs, scaled by
the model and the data set.

A cluster kills a job that outlives its `runtime` or outgrows its `mem_mb`,
and queues a large request longer; one figure for every job is too small for
ResNet50 at 224 px or too large for the custom CNN on digits. These are
generous estimates from measured figures, not predictions: a job that hits a
limit is retried (profiles/slurm) and resumes from its checkpoint, and any
figure set in the config's `resources` block wins.

Measured on H200s with bench/gpu_check.py (32 px, batch 128, 50,000 images):
seconds per epoch custom_cnn 1.5-1.9, vgg16 1.0-1.3 (frozen base) and 1.8-2.8
(fine-tuned), resnet50 8.3-10.4. A whole training job's peak GPU memory
(bench/gpu_workflow_check.py, fp32, the data on the GPU) was 0.55 to 0.83 GB
for all four, i.e. under 3 MB of activations per image at 32 px; on the CPU
those live in host memory. This module must stay importable without torch:
the Snakefile uses it on every dry run.
"""

from __future__ import annotations

import math

from cnncompare.data.formats import dataset_images, stored_side

# Seconds per 50,000-image epoch at 32 px on an H200, rounded up; other
# torchvision architectures are taken as ResNet50-sized.
EPOCH_SECONDS = {"custom_cnn": 2.0, "vgg16": 3.0, "resnet50": 10.0}
DEFAULT_EPOCH_SECONDS = 10.0
# Activation memory of one training image at 32 px, MB: the peaks above, with a margin.
ACTIVATION_MB = {"custom_cnn": 4.0, "vgg16": 6.0, "resnet50": 5.0}
DEFAULT_ACTIVATION_MB = 6.0

GPU_MARGIN = 10  # slower GPUs than an H200, validation, a busy node
CPU_MARGIN = 300  # the CPU path measured about 100x slower than that GPU on 2-4 threads, then a margin of 3
STARTUP_MINUTES = 10  # Python, torch, CUDA, loading the data, writing outputs
BASE_MB = 3000  # torch, CUDA context and libraries in host memory


def job_limits(rule: str, model: dict, dataset: dict, on_gpu: bool) -> dict:
    """{'mem_mb': .., 'runtime': ..} (MB, minutes) of one train_model or evaluate_model job."""
    images = dataset_images(dataset)
    side = stored_side(dataset)
    pixels = (model["image_size"] / 32) ** 2  # the model's cost scales with its input area
    data_mb = images * side * side * 3 / 2**20
    epoch_s = EPOCH_SECONDS.get(model["arch"], DEFAULT_EPOCH_SECONDS) * images / 50_000 * pixels
    image_mb = ACTIVATION_MB.get(model["arch"], DEFAULT_ACTIVATION_MB) * pixels
    margin = GPU_MARGIN if on_gpu else CPU_MARGIN
    if rule == "train_model":
        seconds = model["epochs"] * epoch_s * margin
        batch_mb = model["batch_size"] * image_mb
    else:  # one forward pass over every image, without gradients: about a third of an epoch
        seconds = epoch_s / 3 * margin
        batch_mb = model["eval_batch_size"] * image_mb / 3
    # Arrays: read, indexed and (on the CPU) used in place; activations live in host memory only on the CPU.
    mem_mb = BASE_MB + 3 * data_mb + (0 if on_gpu else batch_mb)
    return {"mem_mb": int(math.ceil(mem_mb / 500) * 500), "runtime": int(math.ceil(STARTUP_MINUTES + seconds / 60))}
