"""How jobs take GPUs and use the device: GPU claims between real processes
(with a pretended GPU count, as this machine has none), the performance
switches, and the stopwatch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import snakemake, tiny_config, write_config
from small_runs import model_block, run_data
from cnncompare.plan.config import resolve_config
from cnncompare.train.devices import Performance, Stopwatch, choose_device, claim_gpu, gpu_expected, physical_gpu_ids
from cnncompare.train.models import build_model
from cnncompare.train.training import RunData, fit, seed_everything

CPU = torch.device("cpu")
SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"

# A job that claims one of `count` GPUs, says which, and holds it until killed.
CLAIMER = """
import sys, time
from cnncompare.train.devices import claim_gpu
count, lock_dir, visible, per_gpu = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
print(claim_gpu(count, lock_dir, visible=visible, runs_per_gpu=per_gpu), flush=True)
time.sleep(600)
"""


class Claimer:
    def __init__(self, count: int, lock_dir: Path, visible: str = "", runs_per_gpu: int = 1):
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(count), str(lock_dir), visible, str(runs_per_gpu)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(SCRIPTS)},
        )
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(self.process.stderr.read())
        self.index = int(line)

    def kill(self, sig=signal.SIGKILL):
        self.process.send_signal(sig)
        self.process.wait(timeout=30)


@pytest.fixture
def claimers():
    started = []
    yield lambda *args, **kw: started.append(Claimer(*args, **kw)) or started[-1]
    for claimer in started:
        if claimer.process.poll() is None:
            claimer.kill()


@pytest.mark.slow
def test_concurrent_jobs_each_claim_a_different_gpu(tmp_path, claimers):
    indices = [claimers(3, tmp_path).index for _ in range(3)]
    assert sorted(indices) == [0, 1, 2]


def test_a_job_beyond_the_gpu_count_fails_with_advice(tmp_path, claimers):
    claimers(2, tmp_path), claimers(2, tmp_path)
    with pytest.raises(RuntimeError, match=r"all 2 GPUs are held.*--resources gpu=N"):
        claim_gpu(2, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_job_releases_its_gpu(tmp_path, claimers, sig):
    first, second, third = (claimers(3, tmp_path) for _ in range(3))
    second.kill(sig)
    assert claimers(3, tmp_path).index == second.index


def test_gpus_are_locked_by_the_machines_ids_not_the_renumbered_ones(tmp_path, claimers):
    # A job that sees GPUs 5,6 takes 5 (its index 0); one that sees 6,5 must then take 6.
    assert claimers(2, tmp_path, "5,6").index == 0
    assert claimers(2, tmp_path, "6,5").index == 0
    with pytest.raises(RuntimeError, match="all 2 GPUs are held"):
        claim_gpu(2, tmp_path, visible="5,6")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu-5.lock", "gpu-6.lock"]


@pytest.mark.slow
def test_with_runs_per_gpu_jobs_spread_over_the_gpus_then_share_them(tmp_path, claimers):
    """performance.runs_per_gpu 2 on 2 GPUs: the first two jobs take a GPU each,
    the next two a second slot of each; a fifth finds every slot held."""
    indices = [claimers(2, tmp_path, "", 2).index for _ in range(4)]
    assert indices[:2] in ([0, 1], [1, 0]) and sorted(indices) == [0, 0, 1, 1]
    with pytest.raises(RuntimeError, match=r"all 2 GPUs x 2 slots \(performance.runs_per_gpu\) are held"):
        claim_gpu(2, tmp_path, runs_per_gpu=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu-0.lock", "gpu-0.slot1.lock", "gpu-1.lock",
                                                          "gpu-1.slot1.lock"]


def test_one_gpu_is_used_without_a_lock(tmp_path):
    assert claim_gpu(1, tmp_path / "locks") == 0
    assert not (tmp_path / "locks").exists()


def test_physical_ids_follow_cuda_visible_devices():
    assert physical_gpu_ids(2, visible="3,1") == ["3", "1"]
    assert physical_gpu_ids(2, visible="") == ["0", "1"]


# --- performance switches -------------------------------------------------------------


def test_auto_precision_is_fp32_on_the_cpu_and_bf16_can_be_asked_for():
    assert not Performance.resolve({"precision": "auto"}, CPU).bf16
    assert Performance.resolve({"precision": "bf16"}, CPU).bf16
    assert Performance.resolve({}, CPU).describe() == {
        "precision": "fp32", "channels_last": True, "compile": False, "deterministic": False,
    }


def test_the_config_fills_the_performance_defaults():
    config = resolve_config({
        "performance": {"precision": "bf16"},
        "models": {"m": {"arch": "custom_cnn"}}, "compare": {"models": ["m"]},
    })
    assert config["performance"] == {
        "precision": "bf16", "channels_last": True, "compile": False, "deterministic": False, "runs_per_gpu": 1,
    }


@pytest.fixture(scope="module")
def data() -> RunData:
    return run_data(200, seed=1)


def block(**overrides) -> dict:
    return model_block(epochs=2, batch_size=50, **overrides)


def train(data, perf: Performance, **overrides):
    seed_everything(0)
    settings = block(**overrides)
    model = build_model(settings, 10, data.mean, data.std)
    return model, fit(model, data, settings, 0, CPU, perf=perf)


def losses(result):
    return np.array([[row["train_loss"], row["val_loss"]] for row in result.history])


@pytest.mark.slow
def test_channels_last_keeps_the_numbers_and_stores_nhwc_weights(data):
    plain_model, plain = train(data, Performance.resolve({"channels_last": False}, CPU))
    nhwc_model, nhwc = train(data, Performance.resolve({"channels_last": True}, CPU))
    conv = next(m for m in nhwc_model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not next(m for m in plain_model.modules() if isinstance(m, torch.nn.Conv2d)).weight.is_contiguous(
        memory_format=torch.channels_last
    )
    np.testing.assert_allclose(losses(nhwc), losses(plain), rtol=1e-4)


# bfloat16 keeps 8 significant bits (7 stored, 1 implicit): rounding to it changes a number by at
# most half a unit in the last place, a relative 2**-8. Autocast rounds a layer's inputs and weights
# to bf16 and its output back, and accumulates the products in fp32 (CPU and CUDA kernels alike),
# so, to first order, each conv or linear layer adds at most 3 such roundings and the sum's length
# adds none.
BF16_UNIT_ROUNDOFF = 2.0**-8


def test_bf16_forward_pass_is_fp32_within_bf16_rounding(data):
    """One forward pass of the same weights: the logits differ from fp32's by no more than the
    roundings of bf16 through the net's layers (normwise), and the loss by no more than the
    logits allow (cross-entropy moves by at most 2x the largest change of a logit)."""
    seed_everything(0)
    model = build_model(block(), 10, data.mean, data.std).eval()
    layers = sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in model.modules())
    images, labels = data.parts["val"]
    x = images.permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        fp32 = model(x)
        with Performance.resolve({"precision": "bf16"}, CPU).autocast(CPU):
            bf16 = model(x)
    assert fp32.dtype == torch.float32 and bf16.dtype == torch.bfloat16  # autocast really ran in bf16
    bf16 = bf16.float()
    relative = ((bf16 - fp32).norm() / fp32.norm()).item()
    bound = 3 * layers * BF16_UNIT_ROUNDOFF
    assert 0 < relative <= bound, f"{layers} layers: normwise relative error {relative:.4f} > {bound:.4f}"
    loss_change = abs(torch.nn.functional.cross_entropy(bf16, labels) - torch.nn.functional.cross_entropy(fp32, labels))
    assert loss_change <= 2 * (bf16 - fp32).abs().max() + 1e-6


@pytest.mark.slow
def test_bf16_autocast_trains_with_fp32_weights(data):
    """Training follows another path than fp32's (rounding changes every step, and two epochs
    amplify it: the losses have differed by 11%), so what is compared is what must hold: autocast
    ran, every loss is finite, the weights stay fp32, the loss falls and the net beats chance."""
    _, fp32 = train(data, Performance.resolve({"precision": "fp32"}, CPU))
    _, bf16 = train(data, Performance.resolve({"precision": "bf16"}, CPU))
    assert losses(bf16).tolist() != losses(fp32).tolist()  # autocast really ran in bf16
    assert np.isfinite(losses(bf16)).all() and len(bf16.history) == len(fp32.history) == 2
    assert {v.dtype for v in bf16.tested_state.values() if v.is_floating_point()} == {torch.float32}
    assert bf16.history[1]["train_loss"] < bf16.history[0]["train_loss"]
    assert bf16.history[-1]["val_acc"] > 0.1  # ten balanced classes: chance is 0.1


@pytest.mark.slow
def test_compiled_model_computes_what_the_eager_one_does_trains_and_saves_plain_keys(data):
    perf = Performance.resolve({"compile": True}, CPU)
    model = build_model(block(), 10, data.mean, data.std).eval()
    x = data.parts["val"][0][:20].permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        torch.testing.assert_close(perf.prepare(model)(x), model(x), rtol=1e-4, atol=1e-4)

    _, eager = train(data, Performance.resolve({"compile": False}, CPU))
    _, compiled = train(data, perf)
    assert list(compiled.tested_state) == list(eager.tested_state)  # no "_orig_mod." prefix
    # Fused kernels round differently and dropout draws other masks, so training
    # follows another path: it must still learn as well.
    assert np.isfinite(losses(compiled)).all()
    assert compiled.history[-1]["val_acc"] >= eager.history[-1]["val_acc"] - 0.1


def test_stopwatch_measures_wall_time_on_the_cpu():
    clock = Stopwatch(CPU).start()
    time.sleep(0.2)
    assert 0.19 < clock.seconds() < 1.0


# --- GPU expected, CPU found ---------------------------------------------------------------

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")


@needs_no_cuda
def test_device_cuda_without_cuda_fails_at_once_with_the_reason():
    with pytest.raises(RuntimeError, match=r"device: cuda is set in the config, but torch sees no CUDA device: "
                                           r".+ on host .+\. Stopping instead of running on the CPU"):
        choose_device("cuda")


def test_a_gpu_is_expected_only_when_asked_for_and_the_config_allows_one():
    assert gpu_expected("auto", 1) and gpu_expected("cuda", 2)
    assert not gpu_expected("auto", 0)
    assert not gpu_expected("cpu", 1)  # device: cpu chose the CPU; the GPU resource is only held


def gpu_run(tmp_path, cifar_archive, results: str, device: str, gpu: int, epochs: int = 2):
    """One tiny training and its evaluation (three-split only) through the real Snakefile, with
    `device` and resources.<rule>.gpu as given; the run's folder and Snakemake's output."""
    config = tiny_config(
        tmp_path, cifar_archive, results_dir=str(tmp_path / results), device=device,
        compare={"datasets": ["cifar10"], "splits": ["three"], "models": ["custom_cnn"], "seeds": [0]},
        resources={"train_model": {"threads": 1, "gpu": gpu}, "evaluate_model": {"threads": 1, "gpu": gpu}},
    )
    config["models"]["custom_cnn"]["epochs"] = epochs
    run = tmp_path / results / "runs/cifar10/three/custom_cnn/seed0"
    # The run's own jobs only (its metrics.json): the tables and report after them tell nothing of devices.
    proc = snakemake(tmp_path, write_config(tmp_path / f"{results}.yaml", config), "--", str(run / "metrics.json"),
                     check=False)
    return run, proc


@pytest.mark.workflow
@needs_no_cuda
def test_device_cuda_without_cuda_fails_the_job_before_reading_data(tmp_path, cifar_archive):
    run, proc = gpu_run(tmp_path, cifar_archive, "cuda", "cuda", gpu=1)
    assert proc.returncode != 0
    log = (run / "train.log").read_text()
    assert "device: cuda is set in the config, but torch sees no CUDA device" in log
    assert "set device: auto to fall back to the CPU" in log
    assert "train images" not in log and "epoch 1/" not in log  # no data read, nothing trained
    assert not (run / "train.json").exists()
    print(next(line for line in log.splitlines() if "device: cuda" in line))


@pytest.mark.workflow
@needs_no_cuda
def test_gpu_job_on_the_cpu_starts_its_log_with_a_warning_and_records_it(tmp_path, cifar_archive):
    # Two epochs: the estimate comes after the first epoch's line, before the second's.
    run, proc = gpu_run(tmp_path, cifar_archive, "auto", "auto", gpu=1, epochs=2)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = (run / "train.log").read_text().splitlines()
    assert "WARNING GPU expected, CPU found: this job asked for 1 GPU (resources.train_model.gpu) " \
           "but torch sees none: " in lines[0]
    estimate = [line for line in lines if "GPU expected, CPU found: epoch 1 took" in line]
    assert len(estimate) == 1 and "this job's 2 epochs take about" in estimate[0], lines
    # After the first epoch's line, before the second's.
    order = [i for i, line in enumerate(lines) if "epoch 1/2" in line or "epoch 2/2" in line or line is estimate[0]]
    assert [lines[i] for i in order][1] is estimate[0]
    assert "GPU expected, CPU found" in (run / "evaluate.log").read_text().splitlines()[0]
    assert "GPU expected, CPU found: this job asked for 1 GPU" in proc.stderr  # Snakemake's output shows it
    for name in ("train.json", "metrics.json"):
        info = json.loads((run / name).read_text())
        assert info["gpu_requested"] is True and info["device"].startswith("cpu"), name
    print("\n".join([lines[0], estimate[0]]))

    # The same run planned for the CPU: no warning, gpu_requested false.
    cpu_run, proc = gpu_run(tmp_path, cifar_archive, "cpu-planned", "auto", gpu=0, epochs=2)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "GPU expected" not in (cpu_run / "train.log").read_text()
    assert json.loads((cpu_run / "metrics.json").read_text())["gpu_requested"] is False
