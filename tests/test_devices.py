"""How jobs take GPUs and use the device: GPU claims between real processes
(with a pretended GPU count, as this machine has none), the performance
switches, and the stopwatch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from small_runs import model_block, run_data
from cnncompare.config import resolve_config
from cnncompare.devices import Performance, Stopwatch, claim_gpu, physical_gpu_ids
from cnncompare.models import build_model
from cnncompare.training import RunData, fit, seed_everything

CPU = torch.device("cpu")
SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"

# A job that claims one of `count` GPUs, says which, and holds it until killed.
CLAIMER = """
import sys, time
from cnncompare.devices import claim_gpu
count, lock_dir, visible = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print(claim_gpu(count, lock_dir, visible=visible), flush=True)
time.sleep(600)
"""


class Claimer:
    def __init__(self, count: int, lock_dir: Path, visible: str = ""):
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(count), str(lock_dir), visible],
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


def test_concurrent_jobs_each_claim_a_different_gpu(tmp_path, claimers):
    indices = [claimers(3, tmp_path).index for _ in range(3)]
    assert sorted(indices) == [0, 1, 2]


def test_a_job_beyond_the_gpu_count_fails_with_advice(tmp_path, claimers):
    claimers(2, tmp_path), claimers(2, tmp_path)
    with pytest.raises(RuntimeError, match=r"all 2 GPUs are held.*--resources gpu=N"):
        claim_gpu(2, tmp_path)


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
        "precision": "bf16", "channels_last": True, "compile": False, "deterministic": False,
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


def test_channels_last_keeps_the_numbers_and_stores_nhwc_weights(data):
    plain_model, plain = train(data, Performance.resolve({"channels_last": False}, CPU))
    nhwc_model, nhwc = train(data, Performance.resolve({"channels_last": True}, CPU))
    conv = next(m for m in nhwc_model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not next(m for m in plain_model.modules() if isinstance(m, torch.nn.Conv2d)).weight.is_contiguous(
        memory_format=torch.channels_last
    )
    np.testing.assert_allclose(losses(nhwc), losses(plain), rtol=1e-4)


def test_bf16_autocast_trains_and_stays_near_fp32(data):
    _, fp32 = train(data, Performance.resolve({"precision": "fp32"}, CPU))
    _, bf16 = train(data, Performance.resolve({"precision": "bf16"}, CPU))
    assert losses(bf16).tolist() != losses(fp32).tolist()  # autocast really ran in bf16
    assert np.isfinite(losses(bf16)).all()
    np.testing.assert_allclose(losses(bf16), losses(fp32), rtol=0.1)


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
