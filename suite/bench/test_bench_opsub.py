"""Speed gates of the OPSUB training workload (pytest-benchmark; `nasrepro bench` compares
medians with this machine's stored baseline, the default run executes them once), and the
device-resident pipeline against a conventional per-sample DataLoader in the same run."""

import json
import os

import pytest
import torch

from nasrepro.data import cifar
from nasrepro.data.augment import augment
from nasrepro.experiments.opsub import TIERS
from nasrepro.models.wrn import WideResNet
from nasrepro.train.loop import TrainConfig, autocast, conventional_epoch, resident_epoch

pytestmark = pytest.mark.data("cifar10")
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
SMOKE = TIERS["smoke"]


@pytest.fixture(scope="module")
def data():
    return cifar.load("train", per_class=50).to(DEVICE)


@pytest.fixture(autouse=True)
def one_thread():
    """The smoke tier's thread pin (stable timings on a shared CPU)."""
    before = torch.get_num_threads()
    if DEVICE.type == "cpu":
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model():
    torch.manual_seed(0)
    if DEVICE.type == "cuda":
        m = WideResNet(40, 2)
    else:
        m = WideResNet(SMOKE["depth"], SMOKE["widen"], stem=SMOKE["stem"])
    return m.to(DEVICE).to(memory_format=torch.channels_last)


def test_bench_opsub_augment(benchmark, data):
    g = torch.Generator(device=DEVICE).manual_seed(0)
    out = benchmark(augment, data.images[:128], g, 4, True, 16)
    assert out.shape == (128, 3, 32, 32) and out.dtype == torch.float32


def test_bench_opsub_train_step(benchmark, data):
    """One SGD step of the tier's network on an augmented device-resident batch of 50."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    g = torch.Generator(device=DEVICE).manual_seed(0)
    x_u8, y = data.images[:50], data.labels[:50]

    def step():
        x = augment(x_u8, g).contiguous(memory_format=torch.channels_last)
        with autocast(DEVICE):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        return loss.item()

    loss = benchmark(step)
    assert loss == loss and loss < 10  # finite


def test_resident_pipeline_vs_dataloader_epoch(data):
    """Epoch time of the device-resident pipeline and of a per-sample DataLoader pipeline,
    measured alternately in this run (best of 3 each; on the CPU with one intra-op thread,
    as the smoke tier trains: with two, a CPU-bound process on the other core made the
    OpenMP threads wait on each other and flipped this comparison once in five loaded runs).
    Written to $NASREPRO_REPORTS/bench/opsub_pipeline.json when that variable is set."""
    cfg = TrainConfig(epochs=1, batch_size=50, lr=0.01)
    resident, conventional = [], []
    threads = torch.get_num_threads()
    if DEVICE.type == "cpu":
        torch.set_num_threads(1)
    try:
        for rep in range(3):
            resident.append(resident_epoch(_model(), data, cfg, seed=rep))
            conventional.append(conventional_epoch(_model(), data, cfg, seed=rep,
                                                   device=DEVICE))
    finally:
        torch.set_num_threads(threads)
    ratio = min(conventional) / min(resident)
    line = {"device": str(DEVICE), "images": len(data), "batch": cfg.batch_size,
            "resident_s": min(resident), "conventional_s": min(conventional),
            "speedup": ratio, "threads": torch.get_num_threads()}
    print("opsub pipeline epoch times:", json.dumps(line))
    if os.environ.get("NASREPRO_REPORTS"):
        from pathlib import Path

        from nasrepro.files import atomic_write_json
        atomic_write_json(Path(os.environ["NASREPRO_REPORTS"]) / "bench" /
                          "opsub_pipeline.json", line)
    assert all(0 < t < 600 for t in resident + conventional), line
    # The speed goal (>= 3x) is a GPU claim: there the resident pipeline must win. On the CPU
    # the ratio depends on the code path (measured: 0.98 on AVX-512 and 0.80 on the AVX2
    # path, both under load), so it is recorded, not asserted.
    if DEVICE.type == "cuda":
        assert ratio >= 1.0, line
