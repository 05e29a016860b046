"""nasrepro.parallel: the executor choice, units in this process / local processes / Ray,
and the equality that makes Ray safe to use: LENET training stacks (real MNIST, real
training) and the REWARD-SENS and GCNAS search groups give bit-identical results as Ray
tasks and as local work. The Ray tests need the optional extra (`pip install
'nasrepro[ray]'`); the default tox env has no Ray and skips them, CI's Ray step runs them."""

from __future__ import annotations

import importlib.util
import operator
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrepro import parallel
from nasrepro.errors import ConfigError
from nasrepro.measure.environment import machine_class
from nasrepro.parallel import ExecutorChoice, Unit, check_choice, choice_from_env, run_units

LOCAL = ExecutorChoice("local")


HAVE_RAY = importlib.util.find_spec("ray") is not None


@given(kind=st.sampled_from(parallel.KINDS if HAVE_RAY else ("local",)),
       jobs=st.one_of(st.none(), st.integers(1, 64)),
       address=st.one_of(st.none(), st.from_regex(r"[a-z0-9.]{1,20}:[0-9]{2,5}",
                                                  fullmatch=True)))
@settings(deadline=None)  # the first example pays Ray's import (~350 ms): a value check
def test_choice_round_trips_through_the_environment(kind, jobs, address):
    if kind != "ray":
        address = None
    choice = check_choice(kind, jobs, address)
    assert choice_from_env(choice.env()) == choice


def test_unset_environment_is_local_with_each_experiments_default():
    assert choice_from_env({}) == ExecutorChoice("local", None, None)


@pytest.mark.parametrize("env, says", [
    ({parallel.EXECUTOR_ENV: "dask"}, "use one of local, ray"),
    ({parallel.JOBS_ENV: "two"}, "whole number"),
    ({parallel.JOBS_ENV: "0"}, "at least 1"),
    ({parallel.ADDRESS_ENV: "head:6379"}, "needs --executor ray"),
])
def test_bad_choice_is_one_line_that_says_what_to_do(env, says):
    with pytest.raises(ConfigError, match=says) as err:
        choice_from_env(env)
    assert "\n" not in str(err.value)


def test_ray_asked_for_and_not_installed_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'nasrepro\[ray\]'") as err:
        choice_from_env({parallel.EXECUTOR_ENV: "ray"})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_units_come_back_in_order_with_progress(jobs):
    seen = []
    out = run_units([Unit(operator.mul, (i, 3), f"u{i}") for i in range(5)], device="cpu",
                    default_jobs=jobs, choice=LOCAL,
                    on_done=lambda i, n, r: seen.append((i, n, r)))
    assert out == [0, 3, 6, 9, 12]
    assert sorted(n for _, n, _ in seen) == [1, 2, 3, 4, 5]
    assert all(r == 3 * i for i, _, r in seen)


def test_a_units_error_reaches_the_caller():
    with pytest.raises(ZeroDivisionError):
        run_units([Unit(operator.truediv, (1, 0), "div")], device="cpu", default_jobs=1,
                  choice=LOCAL)


def test_a_worker_of_another_machine_class_refuses_its_unit():
    with pytest.raises(ConfigError, match="the driver cpu-avx999") as err:
        parallel._guarded_call(operator.mul, (2, 3), "LeNet stack", "cpu-avx999-2c-torchX",
                               "cpu")
    assert "LeNet stack" in str(err.value)
    assert parallel._guarded_call(operator.mul, (2, 3), "u", machine_class("cpu"), "cpu") == 6


# ------------------------------------------------------------------------------- on Ray

RAY = ExecutorChoice("ray", 2)


@pytest.fixture(scope="module")
def ray_reports(tmp_path_factory):
    """A local Ray (2 CPUs) whose workers write their caches under a reports folder of
    their own, so nothing a Ray task computes is served from the local run's cache (or the
    other way round). The environment is fixed when Ray starts its workers."""
    ray = pytest.importorskip("ray", reason="Ray is the optional extra nasrepro[ray]; "
                              "CI's Ray step (.ci/run) runs these with it installed")
    folder = tmp_path_factory.mktemp("ray_reports")
    before = os.environ.get("NASREPRO_REPORTS")
    os.environ["NASREPRO_REPORTS"] = str(folder)
    try:
        parallel.ray_session(2, None)
        yield folder
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop("NASREPRO_REPORTS", None)
        else:
            os.environ["NASREPRO_REPORTS"] = before


@pytest.fixture
def local_reports(tmp_path, monkeypatch):
    """A fresh reports folder (and cache) for the local run; spawned workers inherit it."""
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    return tmp_path


def test_ray_units_come_back_in_order_and_errors_stay_one_line(ray_reports):
    seen = []
    out = run_units([Unit(operator.mul, (i, 3), f"u{i}") for i in range(5)], device="cpu",
                    default_jobs=1, choice=RAY, on_done=lambda i, n, r: seen.append(n))
    assert out == [0, 3, 6, 9, 12] and sorted(seen) == [1, 2, 3, 4, 5]
    assert run_units([], device="cpu", default_jobs=2, choice=RAY) == []
    with pytest.raises(ConfigError) as err:  # the unit's own error class, not Ray's
        run_units([Unit(check_choice, ("dask", None, None), "bad")], device="cpu",
                  default_jobs=1, choice=RAY)
    assert "\n" not in str(err.value)


def _lenet_study(monkeypatch):
    """The LENET study at micro scale: cases 2 (batch 32) and 3 (batch 128), 2 seeds, 40
    iterations (every one's mini-batch accuracy recorded; the full test set evaluated once,
    at the end), real MNIST and the real training loop; four training stacks."""
    from nasrepro.experiments import lenet

    micro = {**lenet.TIERS["smoke"], "iters": 40, "eval_every": 40}
    monkeypatch.setitem(lenet.TIERS, "micro", micro)
    return lenet.study([0, 1], "micro", "cpu", keys=("2", "3"))


def _same_runs(a, b):
    """Every measured curve bit-identical (block_seconds is wall time, not a result)."""
    assert a.keys() == b.keys()
    for key in a:
        for ra, rb in zip(a[key], b[key], strict=True):
            assert ra.keys() == rb.keys() and "test_acc" in ra
            for field in set(ra) - {"block_seconds"}:
                np.testing.assert_array_equal(ra[field], rb[field], err_msg=f"{key} {field}")


@pytest.mark.data("mnist")
def test_lenet_training_stacks_on_ray_equal_local_processes(ray_reports, local_reports,
                                                            monkeypatch):
    monkeypatch.setenv(parallel.EXECUTOR_ENV, "ray")
    monkeypatch.setenv(parallel.JOBS_ENV, "2")
    on_ray = _lenet_study(monkeypatch)
    assert list((ray_reports / "cache" / "lenet_run").glob("*.pkl"))  # the Ray tasks trained
    monkeypatch.setenv(parallel.EXECUTOR_ENV, "local")
    local = _lenet_study(monkeypatch)  # 2 spawned processes (the smoke tier's workers)
    assert len(list((local_reports / "cache" / "lenet_run").glob("*.pkl"))) == 4
    _same_runs(on_ray, local)
    assert float(on_ray["3"][0]["test_acc"][-1]) > 0.5  # it learned: 40 steps reach > 50 %


def test_reward_sens_search_groups_on_ray_equal_this_process(ray_reports, local_reports,
                                                             monkeypatch):
    from nasrepro.experiments import reward_sensitivity as sens

    cfg = {**sens.sens_config("smoke", seeds=2), "n_samples": 100, "block": 50,
           "workers": 2, "quantiles": (0.74,)}
    monkeypatch.setenv(parallel.EXECUTOR_ENV, "ray")
    on_ray = sens.run_map(cfg, progress=False)
    monkeypatch.setenv(parallel.EXECUTOR_ENV, "local")
    monkeypatch.setenv(parallel.JOBS_ENV, "1")
    here = sens.run_map(cfg, progress=False)
    assert on_ray["cells"] == here["cells"]
    assert on_ray["settings"].keys() == here["settings"].keys() and len(here["settings"]) == 3
    for name, s in here["settings"].items():
        for field in ("lat_blocks", "counts"):
            np.testing.assert_array_equal(on_ray["settings"][name][field], s[field])


def test_gcnas_search_groups_on_ray_equal_this_process(ray_reports, local_reports,
                                                       monkeypatch):
    from nasrepro.experiments import gcnas

    cfg = {**gcnas.experiment_config("smoke", seeds=2), "n_samples": 100}
    parts = ("gcn", "baselines")
    units = [Unit(gcnas.comparison_part, (p, cfg), f"GCNAS {p}") for p in parts]
    on_ray = run_units(units, device="cpu", default_jobs=1, choice=RAY)
    here = run_units(units, device="cpu", default_jobs=1, choice=LOCAL)
    for a, b in zip(on_ray, here, strict=True):
        assert a.keys() == b.keys()
        for ctl in a:
            for group, arrays in b[ctl]["groups"].items():
                for field, x in arrays.items():
                    np.testing.assert_array_equal(a[ctl]["groups"][group][field], x,
                                                  err_msg=f"{ctl} {group} {field}")


def test_stored_units_are_read_here_and_only_the_rest_go_to_workers(local_reports,
                                                                    monkeypatch):
    """Cached units whose results are stored are read in the driver (no worker processes
    spawned only to load a pickle: seconds per call); the rest go to real spawned workers."""
    import concurrent.futures as cf

    from nasrepro.experiments import gcnas

    sent, pools = [], []

    class RecordingPool(cf.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(1)
            super().__init__(*args, **kwargs)

        def submit(self, fn, *args, **kwargs):
            sent.append(args[0])
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(parallel.cf, "ProcessPoolExecutor", RecordingPool)
    cfgs = [{**gcnas.experiment_config("smoke", seeds=2), "n_samples": n} for n in (100, 150)]
    units = [Unit(gcnas.comparison_part, (p, cfg), f"GCNAS {p}", cached=True)
             for cfg in cfgs for p in ("gcn", "baselines")]
    first = run_units(units, device="cpu", default_jobs=1, choice=LOCAL)  # here, cached
    assert sent == [] and pools == []
    for gcn_file in (local_reports / "cache" / "gcnas_gcn").glob("*.pkl"):
        gcn_file.unlink()
    again = run_units(units, device="cpu", default_jobs=2, choice=LOCAL)
    assert sent == ["gcn", "gcn"] and pools == [1]  # only the two missing went to workers
    third = run_units(units, device="cpu", default_jobs=2, choice=LOCAL)
    assert sent == ["gcn", "gcn"] and pools == [1]  # all stored: nothing sent, no pool
    for a, b, c in zip(first, again, third, strict=True):
        for ctl in a:
            for group, arrays in a[ctl]["groups"].items():
                for field, x in arrays.items():
                    np.testing.assert_array_equal(b[ctl]["groups"][group][field], x)
                    np.testing.assert_array_equal(c[ctl]["groups"][group][field], x)


def test_an_unreachable_ray_address_is_said_once_then_fails_at_once(monkeypatch):
    # the probe: a token-authenticated cluster (Ray >= 2.59) reached by address without
    # RAY_AUTH_MODE=token; every claim test then waited 20 s again before its traceback
    pytest.importorskip("ray", reason="Ray is the optional extra nasrepro[ray]")
    said = "--address head:1: cannot connect to a Ray cluster there (...)"
    monkeypatch.setitem(parallel._UNREACHABLE, "head:1", said)
    with pytest.raises(ConfigError, match="cannot connect"):
        parallel.ray_session(2, "head:1")
