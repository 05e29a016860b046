"""The whole OPSUB pipeline resumes: a run SIGKILLed in the middle of a fine-tune epoch is
restarted, skips its finished stages, resumes the interrupted one from its last epoch, and
returns exactly the results of an uninterrupted run (conftest.py's tiny budget, real
CIFAR-10, CPU; the uninterrupted run is the session's shared one, computed in the test
process, which test_stage_runner.py also compares against)."""

import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.data("cifar10")

SCRIPT = r"""
import os, pickle, signal, sys
import nasrepro.experiments.opsub as o
from nasrepro.train.checkpoint import StageStore

store, out, kill_stage, tier = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with open(tier, "rb") as fh:
    o.TIERS["smoke"] = pickle.load(fh)
real = o.train_classifier

def train_classifier(*args, **kw):
    # 3 steps an epoch: killed after the second of epoch 2
    if kw.get("stage") == kill_stage:
        kw["on_step"] = lambda e, i: (e, i) == (2, 1) and os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kw)

o.train_classifier = train_classifier
r = o.run_opsub("smoke", store=StageStore(store), log=print)
keep = {k: v for k, v in r.items() if k not in ("stage_seconds", "wall_seconds",
                                                 "cpu_seconds", "store")}
with open(out, "wb") as fh:
    pickle.dump(keep, fh)
"""


def _start(store: Path, out: Path, tier: Path, kill_stage: str = "") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(store), str(out), kill_stage,
                             str(tier)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_killed_pipeline_resumes_to_identical_results(tmp_path, tiny_opsub_tier, request):
    tier = tmp_path / "tier.pkl"
    tier.write_bytes(pickle.dumps(tiny_opsub_tier))
    started = _start(tmp_path / "a", tmp_path / "a.pkl", tier, kill_stage="finetune/p7/c4/s0")
    # meanwhile, on the other core: the uninterrupted run of the same budget (the session's
    # shared one, computed here unless an earlier test asked for it)
    try:
        clean = request.getfixturevalue("tiny_opsub_clean_run")[0]
    finally:
        killed = _finish(started)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert "[finetune/p7/c4/s0] epoch 1/2" in killed.stdout      # died inside epoch 2
    resumed = _finish(_start(tmp_path / "a", tmp_path / "a.pkl", tier))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert re.search(r"\[OPSUB stages\] \d+ of \d+ done earlier, read from .*; \d+ to compute",
                     resumed.stdout)                              # one line, not one per stage
    assert "] done earlier: skipped" not in resumed.stdout
    assert "[finetune/p7/c4/s0] resuming after epoch 1/2" in resumed.stdout
    assert "[finetune/p7/c4/s0] epoch 1/2" not in resumed.stdout  # only epoch 2 was redone
    a = pickle.loads((tmp_path / "a.pkl").read_bytes())
    for key in ("cells", "c1", "baseline_acc", "finetune_train_loss", "distill"):
        assert a[key] == clean[key], key
