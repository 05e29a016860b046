"""The whole OPSUB pipeline resumes: a run SIGKILLed in the middle of a fine-tune epoch is
restarted, skips its finished stages, resumes the interrupted one from its last epoch, and
returns exactly the results of an uninterrupted run (tiny budget, real CIFAR-10, CPU)."""

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nasrepro.paths import data_root

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not (data_root() / "cifar10" / "train_labels.npy").exists(),
    reason="CIFAR-10 arrays not in the data root")

SCRIPT = r"""
import os, pickle, signal, sys
import nasrepro.experiments.opsub as o
from nasrepro.train.checkpoint import StageStore
from nasrepro.train.loop import TrainConfig
from nasrepro.train.distill import DistillConfig

store, out, kill_stage = sys.argv[1], sys.argv[2], sys.argv[3]
o.TIERS["smoke"] = {**o.TIERS["smoke"], "train_per_class": 10, "test_per_class": 5,
                    "finetune_per_class": 5,
                    "baseline": TrainConfig(epochs=2, batch_size=20, lr=0.05, eval_at=(2,)),
                    "distill": DistillConfig(epochs=1, batch_size=25),
                    "finetune": TrainConfig(epochs=2, batch_size=10, lr=0.01, eval_at=(1, 2))}
real = o.train_classifier

def train_classifier(*args, **kw):
    if kw.get("stage") == kill_stage:
        kw["on_step"] = lambda e, i: (e, i) == (2, 2) and os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kw)

o.train_classifier = train_classifier
r = o.run_opsub("smoke", store=StageStore(store), log=print)
keep = {k: v for k, v in r.items() if k not in ("stage_seconds", "wall_seconds",
                                                 "cpu_seconds", "store")}
with open(out, "wb") as fh:
    pickle.dump(keep, fh)
"""


def _run(store: Path, out: Path, kill_stage: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(store), str(out), kill_stage],
                          env=env, capture_output=True, text=True, timeout=600)


def test_killed_pipeline_resumes_to_identical_results(tmp_path):
    killed = _run(tmp_path / "a", tmp_path / "a.pkl", kill_stage="finetune/p7/c4/s0")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "[finetune/p7/c4/s0] epoch 1/2" in killed.stdout      # died inside epoch 2
    resumed = _run(tmp_path / "a", tmp_path / "a.pkl")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "[baseline@" in resumed.stdout and "] done earlier: skipped" in resumed.stdout
    assert "[finetune/p7/c4/s0] resuming after epoch 1/2" in resumed.stdout
    assert "[finetune/p7/c4/s0] epoch 1/2" not in resumed.stdout  # only epoch 2 was redone
    clean = _run(tmp_path / "b", tmp_path / "b.pkl")
    assert clean.returncode == 0, clean.stderr[-2000:]
    a = pickle.loads((tmp_path / "a.pkl").read_bytes())
    b = pickle.loads((tmp_path / "b.pkl").read_bytes())
    for key in ("cells", "c1", "baseline_acc", "finetune_train_loss", "distill"):
        assert a[key] == b[key], key
