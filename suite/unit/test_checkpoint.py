"""Resumable stages for real: a training process is SIGKILLed mid-epoch, restarted, and
must end with exactly the records of an uninterrupted run (CPU, same thread count)."""

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from nasrepro.train.checkpoint import StageStore

REPO = Path(__file__).resolve().parents[2]

# One stage of the real pipeline: a WRN-10-1 trained 3 epochs on 100 real CIFAR-10 images
# (or a candidate distilled 3 epochs against it). argv: kind, kill_epoch, kill_step, then one
# or more stores: the stage is run into each in turn (fresh data and networks each time), its
# output (stdout and stderr, unbuffered) after a line "== <store>".
SCRIPT = r"""
import os, signal, sys
import torch
torch.set_num_threads(1)
from nasrepro.data import cifar
from nasrepro.models.candidates import build_candidate
from nasrepro.models.wrn import WideResNet
from nasrepro.train.checkpoint import StageStore
from nasrepro.train.distill import DistillConfig, distill_block
from nasrepro.train.loop import TrainConfig, train_classifier

kind, kill_epoch, kill_step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def on_step(epoch, step):
    if (epoch, step) == (kill_epoch, kill_step):
        os.kill(os.getpid(), signal.SIGKILL)

def host():
    torch.manual_seed(0)
    return WideResNet(10, 1)

def train_stage(progress):
    m = host()
    h = train_classifier(m, train, test, TrainConfig(epochs=3, batch_size=20, lr=0.05,
                         eval_at=(2, 3)), seed=0, stage="t", progress=progress,
                         on_step=on_step)
    return {"hist": h, "state": m.state_dict()}

def distill_stage(progress):
    torch.manual_seed(1)
    cand = build_candidate(6, 16, 32, 2)
    r = distill_block(host(), 2, cand, train, DistillConfig(epochs=3, batch_size=20),
                      seed=0, stage="d", progress=progress, on_step=on_step)
    return {**r, "state": cand.state_dict()}

for store in sys.argv[4:]:
    print("==", store, flush=True)
    train, test = cifar.load("train", per_class=10), cifar.load("test", per_class=5)
    StageStore(store).run(kind, train_stage if kind == "train" else distill_stage, print)
"""


def _run(kind: str, *stores: Path, kill: tuple[int, int] = (0, 0)
         ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-u", "-c", SCRIPT, kind, *map(str, kill),
                           *map(str, stores)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)


def _same(a, b) -> bool:
    """Equal records, wall-clock times aside (tensors bit for bit)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a
                                            if k != "epoch_time")
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if hasattr(a, "__dict__"):
        return _same(vars(a), vars(b))
    return a == b


KINDS = ("train", "distill")


@pytest.fixture(scope="module")
def sigkilled(tmp_path_factory):
    """For each kind, in a folder of its own: the process SIGKILLed in epoch 2 (store a), the
    store's state right after it (done?, the stored progress's epoch), then one process (one
    cold start) that resumes the stage in store a and runs it uninterrupted in store b. The
    two kinds' processes run side by side (each is one thread, mostly a cold start)."""
    folders = {k: tmp_path_factory.mktemp(f"sigkill-{k}") for k in KINDS}
    with ThreadPoolExecutor(max_workers=len(KINDS)) as pool:
        killed = dict(zip(KINDS, pool.map(lambda k: _run(k, folders[k] / "a", kill=(2, 2)),
                                          KINDS), strict=True))
        after_kill = {}
        for k in KINDS:
            store = StageStore(folders[k] / "a")
            progress = store.load_progress(k)
            after_kill[k] = (store.done(k), progress["epoch"] if progress is not None else None)
        both = dict(zip(KINDS, pool.map(lambda k: _run(k, folders[k] / "a", folders[k] / "b"),
                                        KINDS), strict=True))
    return {k: (folders[k], killed[k], *after_kill[k], both[k]) for k in KINDS}


@pytest.mark.data("cifar10")
@pytest.mark.parametrize("kind", KINDS)
def test_sigkill_mid_epoch_then_resume_gives_identical_records(sigkilled, kind):
    tmp_path, killed, done_after_kill, epoch_after_kill, both = sigkilled[kind]
    assert killed.returncode == -signal.SIGKILL, killed.stdout
    assert not done_after_kill
    assert epoch_after_kill == 1   # epoch 2 was in flight: only it is lost
    # one process: the resume in store a, then the uninterrupted run in b
    assert both.returncode == 0, both.stdout
    resumed, clean = both.stdout.split(f"== {tmp_path / 'b'}\n")
    assert resumed.startswith(f"== {tmp_path / 'a'}\n") and "resuming" not in clean
    assert "resuming after epoch 1/3" in resumed
    store = StageStore(tmp_path / "a")
    assert store.done(kind) and not store.progress_path(kind).exists()
    assert _same(store.load_result(kind), StageStore(tmp_path / "b").load_result(kind))


def test_store_runs_each_stage_once_and_writes_atomically(tmp_path):
    store = StageStore(tmp_path)
    calls = []

    def compute(progress):
        progress.save({"epoch": 1})
        calls.append(1)
        return {"x": torch.arange(3)}

    assert torch.equal(store.run("finetune/p7/c3/s0", compute)["x"], torch.arange(3))
    assert torch.equal(store.run("finetune/p7/c3/s0", compute)["x"], torch.arange(3))
    assert calls == [1]
    assert store.completed() == ["finetune/p7/c3/s0"]
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.progress.pt"))
    with pytest.raises(ValueError):
        store.result_path("../escape")
