"""Unreadable stage and cache files are moved aside (named in a warning) and recomputed;
concurrent runs on one cache key or stage compute it once (real files, real processes)."""

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nasrepro.errors import CorruptFileWarning, DataError
from nasrepro.experiments.cache import cached, cached_file
from nasrepro.train.checkpoint import StageStore, atomic_torch_save

REPO = Path(__file__).resolve().parents[2]


def _truncate(path: Path, keep: float = 0.5) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: int(len(blob) * keep)])


def _aside(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f"{name}.corrupt-*"))


# ------------------------------------------------------------------ OPSUB stage files

def test_truncated_stage_result_is_moved_aside_and_recomputed(tmp_path):
    # the probe: a truncated distill__p7__c4.result.pt failed every OPSUB test on every rerun
    store = StageStore(tmp_path)
    calls = []

    def compute(progress):
        calls.append(1)
        torch.manual_seed(0)
        return {"state": {"w": torch.randn(64, 32)}, "loss": [0.5, 0.25]}

    first = store.run("distill/p7/c4", compute)
    path = store.result_path("distill/p7/c4")
    assert path.name == "distill__p7__c4.result.pt"
    _truncate(path)
    with pytest.raises(Exception):  # noqa: B017 - the file really is unreadable as is
        torch.load(path, weights_only=False)
    with pytest.warns(CorruptFileWarning, match=r"distill__p7__c4\.result\.pt could not be "
                                                r"read .*moved aside to .*\.corrupt-"):
        again = store.run("distill/p7/c4", compute)
    assert len(calls) == 2
    assert torch.equal(again["state"]["w"], first["state"]["w"])
    assert len(_aside(tmp_path, path.name)) == 1
    # the recomputed result is good: a third run loads it without computing
    store.run("distill/p7/c4", compute)
    assert len(calls) == 2


def test_garbage_stage_result_read_directly_is_a_named_data_error(tmp_path):
    store = StageStore(tmp_path)
    store.result_path("baseline").write_bytes(b"\x00garbage")
    with pytest.warns(CorruptFileWarning):
        with pytest.raises(DataError, match=r"baseline\.result\.pt"):
            store.load_result("baseline")
    assert not store.result_path("baseline").exists()


@pytest.mark.data("cifar10")
def test_truncated_progress_restarts_the_stage_with_a_warning(tmp_path, one_thread):
    # the probe: a truncated baseline.progress.pt gave `OSError: [Errno 22] Invalid
    # argument` with no path. Real loop, real data: interrupted after epoch 1, progress
    # truncated, rerun -> warning, restart from epoch 1, same result as an uninterrupted run
    from nasrepro.data import cifar
    from nasrepro.models.wrn import WideResNet
    from nasrepro.train.loop import TrainConfig, train_classifier

    train, test = cifar.load("train", per_class=6), cifar.load("test", per_class=3)
    cfg = TrainConfig(epochs=2, batch_size=20, lr=0.05, eval_at=(2,))

    def stage(interrupt: bool):
        class Stop(Exception):
            pass

        def on_step(epoch, step):
            if interrupt and (epoch, step) == (2, 0):
                raise Stop

        def compute(progress):
            torch.manual_seed(0)
            m = WideResNet(10, 1)
            h = train_classifier(m, train, test, cfg, seed=0, stage="baseline",
                                 progress=progress, log=None, on_step=on_step)
            return {"loss": h.train_loss, "acc": h.test_acc, "w": m.state_dict()}

        return compute, Stop

    clean = StageStore(tmp_path / "clean").run("baseline", stage(False)[0])
    store = StageStore(tmp_path / "killed")
    compute, stop = stage(True)
    with pytest.raises(stop):
        store.run("baseline", compute)
    prog = store.progress_path("baseline")
    assert prog.is_file() and not store.done("baseline")
    _truncate(prog)
    with pytest.warns(CorruptFileWarning,
                      match=r"baseline\.progress\.pt could not be read .*restarting stage "
                            "baseline from its first epoch"):
        again = store.run("baseline", stage(False)[0])
    assert again["loss"] == clean["loss"] and again["acc"] == clean["acc"]
    assert all(torch.equal(again["w"][k], clean["w"][k]) for k in clean["w"])
    assert len(_aside(store.root, prog.name)) == 1


def test_progress_file_of_our_own_survives_reload(tmp_path):
    store = StageStore(tmp_path)
    atomic_torch_save({"epoch": 3}, store.progress_path("finetune/c1/s0"))
    assert store.load_progress("finetune/c1/s0") == {"epoch": 3}
    assert store.load_progress("finetune/c1/s1") is None


# ------------------------------------------------------------------ pickle caches (LeNet)

def _lenet_like_run() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"test_acc": rng.random(11), "train_loss": rng.random(1000).astype(np.float32)}


def test_truncated_pickle_cache_is_recomputed_not_unpickling_error(tmp_path):
    # the probe: the LeNet run cache raised UnpicklingError instead of recomputing
    path = tmp_path / "lenet_run" / "0123456789abcdef.pkl"
    calls = []

    def compute():
        calls.append(1)
        return _lenet_like_run()

    first = cached_file(path, compute)
    _truncate(path, 0.3)
    with pytest.raises((pickle.UnpicklingError, EOFError)):
        pickle.loads(path.read_bytes())
    with pytest.warns(CorruptFileWarning, match=r"0123456789abcdef\.pkl could not be read"):
        again = cached_file(path, compute)
    assert len(calls) == 2
    assert all(np.array_equal(again[k], first[k]) for k in first)
    assert len(_aside(path.parent, path.name)) == 1
    assert np.array_equal(cached_file(path, compute)["test_acc"], first["test_acc"])
    assert len(calls) == 2


def test_cached_key_includes_data_checksums(tmp_path, monkeypatch):
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cached("t", {"k": 1}, compute, data={"nb201/x.npz": "aa"}) == 1
    assert cached("t", {"k": 1}, compute, data={"nb201/x.npz": "aa"}) == 1
    assert cached("t", {"k": 1}, compute, data={"nb201/x.npz": "bb"}) == 2
    assert len(calls) == 2


# ------------------------------------------------------------------ two runs at once

_CACHE_WORKER = r"""
import sys, time
from pathlib import Path
from nasrepro.experiments.cache import cached_file
path, counter, go = map(Path, sys.argv[1:4])
(go.parent / f"ready-{sys.argv[4]}").touch()
while not go.exists():
    time.sleep(0.01)

def compute():
    with open(counter, "a") as fh:
        fh.write("computed\n")
    time.sleep(1.5)
    return {"value": 42}

print(cached_file(path, compute, log=lambda m: print("WAIT", m, flush=True))["value"])
"""

_STAGE_WORKER = r"""
import sys, time
from pathlib import Path
from nasrepro.train.checkpoint import StageStore
root, counter, go = map(Path, sys.argv[1:4])
(go.parent / f"ready-{sys.argv[4]}").touch()
while not go.exists():
    time.sleep(0.01)

def compute(progress):
    with open(counter, "a") as fh:
        fh.write("computed\n")
    progress.save({"epoch": 1})
    time.sleep(1.5)
    return {"value": 7}

print(StageStore(root).run("distill/p7/c4", compute, log=lambda m: print(m, flush=True)))
"""


def _race(script: str, target: Path, tmp_path: Path) -> tuple[list[str], list[str]]:
    """Start two processes on one target, release them together; (outputs, counter lines)."""
    counter, go = tmp_path / "counter.txt", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(target), str(counter), str(go),
                               str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.02)
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out + err)
    return outs, counter.read_text().splitlines()


def test_two_processes_on_one_cache_key_compute_once(tmp_path):
    outs, computed = _race(_CACHE_WORKER, tmp_path / "cache" / "k.pkl", tmp_path)
    assert computed == ["computed"]
    assert all(o.strip().splitlines()[-1] == "42" for o in outs)
    assert any("another run is computing it" in o for o in outs)


def test_two_processes_on_one_stage_compute_once(tmp_path):
    outs, computed = _race(_STAGE_WORKER, tmp_path / "stages", tmp_path)
    assert computed == ["computed"]
    assert all(o.strip().splitlines()[-1] == "{'value': 7}" for o in outs)
    assert any("done earlier: skipped" in o for o in outs)
