"""The stage runner on a tiny OPSUB budget (real CIFAR-10, CPU): a budgeted run stops at
epoch boundaries and its reruns finish with the results of an uninterrupted run; two local
worker processes give the same results; bundles move stages between reports folders with
sha256 and stage-key checks; committed JSON results and a committed bf16 host load and
verify."""

import itertools
import json
import tarfile

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nasrepro import progress
from nasrepro.errors import ConfigError, DataError
from nasrepro.experiments import opsub
from nasrepro.stages import budget, bundle, committed, eta, host_weights
from nasrepro.stages.executors import LocalExecutor, make_executor
from nasrepro.stages.runner import run_graph, run_opsub_stages

SAME = ("cells", "c1", "baseline_acc", "finetune_train_loss", "distill", "stage_ids")


@given(st.integers(1, 10_000), st.sampled_from("smh"))
def test_parse_duration(n, unit):
    assert budget.parse_duration(f"{n}{unit}") == n * {"s": 1, "m": 60, "h": 3600}[unit]


@pytest.mark.parametrize("bad", ["", "9", "0s", "-1m", "9 min", "1d", "m"])
def test_parse_duration_refuses(bad):
    with pytest.raises(ConfigError, match="--budget"):
        budget.parse_duration(bad)


def test_ray_address_needs_ray_executor():
    with pytest.raises(ConfigError, match="--address"):
        make_executor("local", 1, "cpu", "1.2.3.4:6379")


@pytest.mark.parametrize(("jobs", "device", "expect"), [(None, "cpu", 2), (3, "cpu", 3),
                                                         (None, "cuda", 1)])
def test_budget_without_jobs_uses_the_default_of_a_plain_run(monkeypatch, jobs, device, expect):
    """`--budget` alone ran the stages one at a time on the CPU, while the same run without
    it used two worker processes (found by a new-user walkthrough)."""
    import argparse
    import os

    from nasrepro.claims import session
    from nasrepro.stages import cli, executors, runner

    seen = {}
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(session, "resolve_device", lambda requested: device)
    monkeypatch.setitem(opsub.TIERS["smoke"], "needs_cuda", False)
    monkeypatch.setattr(executors, "make_executor", lambda kind, j, dev, addr: seen.setdefault(
        "executor_jobs", j))
    monkeypatch.setattr(runner, "run_opsub_stages", lambda tier, dev, seeds, ex, j, *a, **k:
                        seen.setdefault("jobs", j))
    args = argparse.Namespace(budget="60s", jobs=jobs, executor="local", address=None,
                              claim=["OPSUB"], device="auto", tier="smoke", seeds=None)
    assert cli.run_stages_first(args, started=0.0) is not None
    assert seen == {"executor_jobs": expect, "jobs": expect}


@pytest.fixture(scope="module")
def clean_run(tiny_opsub_clean_run, tiny_opsub_tier):
    """The uninterrupted sequential run of the tiny budget (conftest.py's tiny_opsub_tier;
    reports folder 'clean'), computed once a session and shared with
    test_checkpoint_pipeline.py; the tiny budget stays the smoke tier for the module. Yields
    (result, reports root)."""
    result, root = tiny_opsub_clean_run
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(opsub.TIERS, "smoke", tiny_opsub_tier)
        mp.setenv("NASREPRO_REPORTS", str(root / "clean"))
        yield result, root


@pytest.fixture
def tiny(clean_run, monkeypatch):
    """Switch the reports folder (`tiny('name')`); starts on the clean run's."""
    opsub.stored_result.cache_clear()

    def use(name):
        monkeypatch.setenv("NASREPRO_REPORTS", str(clean_run[1] / name))

    use("clean")
    return use


@pytest.mark.data("cifar10")
def test_budgeted_runs_stop_at_epochs_and_resume_to_identical_results(tiny, clean_run,
                                                                      monkeypatch):
    clean_run = clean_run[0]
    tiny("budgeted")
    ticks = itertools.count()
    monkeypatch.setattr(budget, "now", lambda: 10.0 * next(ticks))  # every look: +10 s
    lines: list[str] = []
    runs = 0
    while True:
        status = run_opsub_stages("smoke", "cpu", None, LocalExecutor(1), 1, 95.0,
                                  log=lines.append)
        runs += 1
        if not status.left:
            break
        assert runs < 60, lines[-5:]
        assert any(ln.startswith("budget:") for ln in lines)
        assert any("ETA" in ln for ln in lines) or any("in flight" in ln for ln in lines)
        with pytest.raises(opsub.StagesIncomplete, match="stages left; rerun to resume"):
            opsub.load_stored("smoke", "cpu")
    assert runs > 3, lines  # the budget really cut the work into pieces
    assert any("stopped after epoch 1" in ln for ln in lines)  # mid-stage, checkpointed
    again = opsub.load_stored("smoke", "cpu")
    for k in SAME:
        assert again[k] == clean_run[k], k


@pytest.mark.data("cifar10")
def test_two_worker_processes_give_the_sequential_results(tiny, clean_run):
    """A sub-graph (host, two candidates at position 18 and one baseline fine-tune) in two
    spawned worker processes: every stage result equals the sequential run's."""
    clean_run = clean_run[0]
    keep = ("baseline", "distill/p18/c3", "finetune/p18/c3/s0", "distill/p18/c4",
            "finetune/p18/c4/s0", "finetune/c1/s0")
    graph = [s for s in opsub.stage_graph("smoke", "cpu") if s.name in keep]
    clean = opsub.stage_store("smoke", "cpu")
    tiny("jobs2")
    store = opsub.stage_store("smoke", "cpu")
    lines: list[str] = []
    progress.set_writer(lines.append)  # what the driver shows (workers' own lines not here)
    try:
        status = run_graph(graph, store, "smoke", "cpu", LocalExecutor(2), 2, None,
                           log=lambda _: None)
    finally:
        progress.set_writer(None)
    assert not status.left
    assert lines and lines[-1].startswith("[OPSUB stages, 2 job(s)] 6/6 stages")
    for s in graph:
        a, b = store.load_result(s.id), clean.load_result(s.id)
        if s.kind == "finetune":
            assert (a["mid"], a["end"], a["hist"].train_loss) == (
                b["mid"], b["end"], b["hist"].train_loss), s.name
        else:
            assert all(torch.equal(a["state"][k], b["state"][k]) for k in b["state"]), s.name


@pytest.mark.data("cifar10")
@pytest.mark.parametrize("as_tar", [False, True])
def test_bundle_round_trip_and_checks(tiny, clean_run, tmp_path, as_tar):
    clean_run = clean_run[0]
    dest = tmp_path / ("b.tar" if as_tar else "b")
    m = bundle.export_stages("smoke", "cpu", dest)
    assert set(m["stage_ids"]) == {s.name for s in opsub.stage_graph("smoke", "cpu")}
    tiny(f"fresh-{as_tar}")
    with pytest.raises(opsub.StagesIncomplete):
        opsub.load_stored("smoke", "cpu")
    out = bundle.import_stages(dest)
    assert len(out["imported"]) == len(m["files"]) and not out["kept"]
    again = opsub.load_stored("smoke", "cpu")  # no training: stored stages only
    for k in SAME:
        assert again[k] == clean_run[k], k
    assert bundle.import_stages(dest)["kept"]  # a second import keeps what is there
    if as_tar:
        with tarfile.open(dest) as tar:
            tar.extractall(tmp_path / "x", filter="data")
        dest = tmp_path / "x"
    # a flipped byte: one-line error naming the file
    victim = sorted((dest / "stages").iterdir())[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"stages/{victim.name}"):
        bundle.import_stages(dest)
    data[len(data) // 2] ^= 1
    victim.write_bytes(bytes(data))
    # a bundle from a checkout whose keys differ: refused, naming the stage
    man = json.loads((dest / "manifest.json").read_text())
    man["stage_ids"]["baseline"] = "baseline@0000000000000000"
    (dest / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ConfigError, match=r"baseline \(bundle 0000000000000000"):
        bundle.import_stages(dest)


@pytest.mark.data("cifar10")
def test_report_rebuilds_records_missing_or_older_than_the_stage_results(tiny, tmp_path,
                                                                        monkeypatch):
    """`nasrepro report`'s choice (nasrepro.stages.rebuild): after an import into a fresh
    reports folder every OPSUB record is missing, so all five are rebuilt; newer records
    are left alone; a stage result newer than a record (a later import) makes it stale; an
    incomplete store rebuilds nothing (the claims would only say 'incomplete')."""
    import os

    from nasrepro.claims.records import record_path
    from nasrepro.stages.cli import import_next_step
    from nasrepro.stages.rebuild import opsub_claims, stale_records

    OPSUB_CLAIMS = opsub_claims()

    bundle.export_stages("smoke", "cpu", tmp_path / "b")
    tiny("rebuild")
    assert stale_records("smoke", "cpu") == ([], "")  # nothing stored yet
    bundle.import_stages(tmp_path / "b")
    stale, where = stale_records("smoke", "cpu")
    assert stale == list(OPSUB_CLAIMS) and "stage store" in where
    assert import_next_step("smoke", "cpu", None).startswith(
        "every stage is stored: `nasrepro report --tier smoke`")
    newest = max(f.stat().st_mtime for f in opsub.stage_store("smoke", "cpu").root.glob("*.pt"))
    for c in OPSUB_CLAIMS:
        path = record_path("smoke", c)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        os.utime(path, (newest + 5, newest + 5))
    assert stale_records("smoke", "cpu") == ([], "")
    os.utime(record_path("smoke", "OPSUB-3"), (newest - 5, newest - 5))
    assert stale_records("smoke", "cpu")[0] == ["OPSUB-3"]
    victim = next(opsub.stage_store("smoke", "cpu").root.glob("*.result.pt"))
    folder = tmp_path / "committed"
    tiny("clean")
    committed.write_committed("smoke", "cpu", folder=folder)
    tiny("rebuild")
    victim.unlink()
    assert stale_records("smoke", "cpu") == ([], "")
    n = len(opsub.stage_graph("smoke", "cpu"))
    assert import_next_step("smoke", "cpu", None) == (
        f"{n - 1} of {n} stages stored: `nasrepro run --tier smoke --claim OPSUB` computes "
        "the other 1 here (add --budget TIME to stop in time)")
    # complete committed results (a fresh clone after a GPU lease) are what the claims
    # read first: records older than them are rebuilt even with the store incomplete
    monkeypatch.setattr(committed, "committed_dir", lambda tier: folder)
    newest = max(f.stat().st_mtime for f in folder.iterdir())
    for c in OPSUB_CLAIMS:
        os.utime(record_path("smoke", c), (newest - 5, newest - 5))
    stale, where = stale_records("smoke", "cpu")
    assert stale == list(OPSUB_CLAIMS) and where == f"committed results in {folder}"


@pytest.mark.data("cifar10")
def test_committed_json_results_rebuild_the_result(tiny, clean_run, tmp_path):
    clean_run = clean_run[0]
    folder = tmp_path / "committed"
    written = committed.write_committed("smoke", "cpu", folder=folder)
    assert len(written) == len(opsub.stage_graph("smoke", "cpu"))
    assert all(f.stat().st_size < 50_000 for f in folder.iterdir())  # no weights
    # the bf16 host's provenance beside them is not read as a stage result (it once was:
    # a DataError for every claim after lease 1 committed the host)
    (folder / host_weights.PROVENANCE).write_text(json.dumps({"tier": "smoke"}))
    r, why = committed.committed_result("smoke", folder=folder)
    assert why == "" and r["store"] is None
    (folder / host_weights.PROVENANCE).unlink()
    for k in ("cells", "c1", "baseline_acc", "finetune_train_loss", "distill"):
        assert r[k] == clean_run[k], k
    assert opsub.rerun_matches(r, 18, 4)[1].startswith("not re-run")
    (folder / "finetune__c1__s2.json").unlink()
    r, why = committed.committed_result("smoke", folder=folder)
    assert r is None and "1 of" in why and "missing" in why
    assert committed.committed_result("smoke", folder=tmp_path / "none") == (None, "")
    # results computed on a GPU are checked and used on a machine without one
    ids = opsub.stage_keys("smoke", "cuda", portable=True)
    for f in folder.iterdir():
        d = json.loads(f.read_text())
        d.update(device="cuda", id=ids[d["stage"]])
        f.write_text(json.dumps(d))
    committed.write_committed("smoke", "cpu", folder=tmp_path / "c1")
    (folder / "finetune__c1__s2.json").write_text(
        (tmp_path / "c1" / "finetune__c1__s2.json").read_text().replace('"cpu"', '"cuda"')
        .replace(opsub.stage_keys("smoke", "cpu", portable=True)["finetune/c1/s2"],
                 ids["finetune/c1/s2"]))
    r, why = committed.committed_result("smoke", folder=folder)
    assert why == "" and r["device"] == "cuda" and r["c1"] == clean_run["c1"]


@pytest.mark.data("cifar10")
def test_committed_bf16_host_verifies_and_seeds_the_baseline(tiny, clean_run, tmp_path,
                                                            monkeypatch, tiny_opsub_tier):
    clean_run = clean_run[0]
    store = opsub.stage_store("smoke", "cpu")
    base = store.load_result(opsub.stage_keys("smoke", "cpu")["baseline"])
    folder = tmp_path / "host"
    # the provenance's accuracy is the bf16 host's as a checkout loads it (the host the later
    # stages fine-tune); it named the fp32 host's. host_accuracy evaluates as the stage did:
    run = opsub.OpsubRun("smoke", "cpu", log=None)
    assert run.host_accuracy(base["state"]) == base["test_acc"]
    host_weights.write_host_weights("smoke", base["state"], base["test_acc"], 0.1, "cpu",
                                    folder, rounded_acc=run.host_accuracy)
    prov = json.loads((folder / host_weights.PROVENANCE).read_text())
    assert prov["dtype"] == "bfloat16" and prov["test_acc_fp32"] == base["test_acc"]
    state, _ = host_weights.load_host_weights("smoke", folder)
    assert prov["test_acc"] == run.host_accuracy(state) and "bf16" in prov["test_acc_of"]
    for k, v in base["state"].items():  # bf16 rounding only: relative error < 2**-8
        assert torch.allclose(state[k].float(), v.float(), rtol=2**-8, atol=1e-30), k
    before = opsub.stage_keys("smoke", "cpu")
    monkeypatch.setattr(committed, "committed_dir", lambda tier: folder)
    monkeypatch.setattr(host_weights, "committed_dir", lambda tier: folder)
    after = opsub.stage_keys("smoke", "cpu")
    assert after["baseline"] != before["baseline"]  # a bf16 host is another host
    assert all(after[k] != before[k] for k in before if k.startswith(("finetune", "distill")))
    assert host_weights.seed_baseline(store, "smoke", after["baseline"])
    assert store.load_result(after["baseline"])["host_weights"] == prov["sha256"]
    raw = bytearray((folder / host_weights.HOST_FILE).read_bytes())
    raw[-10] ^= 1
    (folder / host_weights.HOST_FILE).write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"host_bf16\.pt: sha256"):
        host_weights.load_host_weights("smoke", folder)
    raw[-10] ^= 1
    (folder / host_weights.HOST_FILE).write_bytes(bytes(raw))
    monkeypatch.setitem(opsub.TIERS, "smoke", {**tiny_opsub_tier, "widen": 2})
    with pytest.raises(ConfigError, match="widen"):
        host_weights.load_host_weights("smoke", folder)


def _record(tmp, name, values, verdict="NOT RUN"):
    tmp.mkdir(exist_ok=True)
    (tmp / name).write_text(json.dumps({
        "verdict": verdict, "environment": {"t": str(tmp)},
        "measurements": [{"name": k, "ours": v, "verdict": "NOT RUN"}
                         for k, v in values.items()]}))


@pytest.mark.data("cifar10")  # the stage graph's keys hold the CIFAR-10 checksums
def test_progress_eta_comes_from_per_epoch_times():
    """The runner's progress ETA: left epochs x seconds per epoch of their kind (kinds not
    measured yet scaled from the host's by images), shared by the jobs; unknown before the
    host has an epoch; zero when every stage is done."""
    graph = opsub.stage_graph("smoke", "cpu")
    t = opsub.TIERS["smoke"]
    host_done = {"baseline"}
    assert eta.eta_seconds(graph, host_done, {}, "smoke", 1) is None
    one = eta.eta_seconds(graph, host_done, {"baseline": 2.0}, "smoke", 1)
    ratio = t["finetune_per_class"] / t["train_per_class"]
    epochs = sum(s.epochs for s in graph if s.name not in host_done)
    assert one == pytest.approx(epochs * 2.0 * ratio)
    assert eta.eta_seconds(graph, host_done, {"baseline": 2.0}, "smoke", 2) == pytest.approx(
        one / 2)
    measured = eta.eta_seconds(graph, host_done, {"baseline": 2.0, "distill": 0.1,
                                                  "finetune": 0.1}, "smoke", 1)
    assert measured == pytest.approx(epochs * 0.1)
    assert eta.eta_seconds(graph, {s.name for s in graph}, {}, "smoke", 4) == 0


def test_the_speed_stage_stops_between_its_timings_under_a_budget(tmp_path, monkeypatch):
    """The speed stage (two resident epochs, then a DataLoader epoch) had no point where a
    budget could stop it: once started it ran all three, whatever the deadline (a `--budget
    1s` rehearsal ended after 12.3 s). Now it stops after a part when another as long would
    pass the deadline, and keeps nothing (its timings are taken in one run)."""
    from types import SimpleNamespace

    from nasrepro.stages.runner import _stop_line

    clock = [0.0]

    def epoch(*args, **kwargs) -> float:
        clock[0] += 10.0
        return 10.0

    monkeypatch.setattr(opsub, "resident_epoch", epoch)
    monkeypatch.setattr(opsub, "conventional_epoch", epoch)
    monkeypatch.setattr(budget, "now", lambda: clock[0])
    run = SimpleNamespace(t={"baseline": SimpleNamespace(batch_size=8)}, new_host=lambda: None,
                          train=[0] * 16, dev="cpu", log=None)
    stage = opsub.Stage("speed", "speed@x", (), "speed", 3)

    def speed(deadline: float) -> dict:
        store = budget.BudgetedStore(tmp_path, deadline, {stage.id: stage.epochs})
        return store.run(stage.id, lambda p: opsub.OpsubRun.speed_stage(run, p))

    with pytest.raises(budget.OutOfBudget) as stop:
        speed(deadline=15.0)  # room for one part, not a second as long as the first
    assert (stop.value.epoch, stop.value.kept, clock[0]) == (1, False, 10.0)
    store = budget.StageStore(tmp_path)
    assert not store.done(stage.id) and store.load_progress(stage.id) is None
    assert "after part 1 of 3" in _stop_line(stage, {"epoch": 1, "kept": False})
    assert "checkpoint stored" in _stop_line(stage, {"epoch": 1, "kept": True})
    clock[0] = 0.0
    out = speed(deadline=40.0)  # the next run starts again and measures all three
    assert (out["resident_s"], out["conventional_s"], clock[0]) == (10.0, 10.0, 30.0)
    assert store.done(stage.id)


def test_record_comparison_ignores_environment_and_names_differences(tmp_path):
    from nasrepro.stages.compare import record_differences

    a, b = tmp_path / "a", tmp_path / "b"
    _record(a, "OPSUB-1.json", {"x": 1.0, "y": 2.0})
    _record(b, "OPSUB-1.json", {"x": 1.0, "y": 2.0})
    assert record_differences(a, b) == []
    _record(b, "OPSUB-1.json", {"x": 1.0, "y": 2.5})
    assert record_differences(a, b) == ["OPSUB-1.json: y: 2.0 vs 2.5"]
    _record(b, "OPSUB-1.json", {"x": 1.0, "y": 2.0}, verdict="PASS")
    assert record_differences(a, b) == ["OPSUB-1.json: verdict NOT RUN vs PASS"]
    _record(a, "OPSUB-2.json", {"z": 0.0})
    assert any("only in" in d for d in record_differences(a, b))
    assert record_differences(tmp_path / "none", tmp_path / "none2")  # nothing compared
    # a difference names the values as records store them ('ours'; it said 'absent vs
    # absent' for real records), or that only another field differs
    _record(b, "OPSUB-2.json", {"z": 0.0})
    _record(b, "OPSUB-1.json", {"x": 1.0, "y": [2.0, 2.5]})
    assert record_differences(a, b) == ["OPSUB-1.json: y: 2.0 vs [2.0, 2.5]"]
    rec = json.loads((b / "OPSUB-1.json").read_text())
    rec["measurements"][0].update(ours=1.0, verdict="REPRODUCED")
    (b / "OPSUB-1.json").write_text(json.dumps({**rec, "verdict": "NOT RUN"}))
    _record(a, "OPSUB-1.json", {"x": 1.0, "y": [2.0, 2.5]})
    assert record_differences(a, b) == ["OPSUB-1.json: x: same value, other fields differ"]


def test_stages_compare_of_a_folder_that_is_not_there_is_one_line(tmp_path, capsys):
    from nasrepro import cli

    assert cli.main(["stages", "compare", str(tmp_path), str(tmp_path / "nope")]) == 2
    assert "nope: no such folder" in capsys.readouterr().err


def test_determinism_rerun_waits_when_it_would_pass_the_deadline(monkeypatch):
    import time

    r = {"store": "/somewhere", "stage_seconds": {"finetune/p18/c4": 100.0}}
    assert opsub.rerun_does_not_fit(r, 18, 4) == ""  # no budget
    monkeypatch.setenv(opsub.DEADLINE_ENV, repr(time.time() + 10))
    assert "does not fit" in opsub.rerun_does_not_fit(r, 18, 4)
    monkeypatch.setenv(opsub.DEADLINE_ENV, repr(time.time() + 1000))
    assert opsub.rerun_does_not_fit(r, 18, 4) == ""


def test_incomplete_skip_lines_name_the_stages_left_once():
    """A budget-stopped run skipped OPSUB-1..5 with the same left-stages list five times."""
    said: dict[str, str] = {}
    why = "20 of 36 stages left; rerun to resume. Left: finetune/p1/c2, finetune/p1/c3 ..."
    first = opsub.incomplete_skip_line("OPSUB-1", why, said)
    assert first == f"OPSUB-1 incomplete (no verdict): {why}"
    assert opsub.incomplete_skip_line("OPSUB-2", why, said) == \
        "OPSUB-2 incomplete (no verdict): as OPSUB-1"
    # a later run of the same process (fewer stages left) says its own list again
    assert opsub.incomplete_skip_line("OPSUB-3", "3 of 36 left", said).endswith("3 of 36 left")


@pytest.mark.data("cifar10")  # the stage store is keyed by the CIFAR-10 checksums
def test_stages_status_says_where_a_cuda_tier_runs_and_what_is_committed(tmp_path,
                                                                         monkeypatch, capsys):
    from nasrepro.cli import main

    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setattr(committed, "committed_dir", lambda tier: tmp_path / "none" / tier)
    assert main(["stages", "status", "--tier", "full", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "stages: 0 of 37 done" in out
    # before any epoch is timed here, the ETA says how much work is left: the epochs of the
    # full recipe per kind (the 200-epoch host, 19 fine-tunes x 50 epochs, ...)
    per_kind: dict[str, int] = {}
    for stage in opsub.stage_graph("full", "cpu"):
        per_kind[stage.kind] = per_kind.get(stage.kind, 0) + stage.epochs
    assert per_kind["baseline"] == 200 and per_kind["finetune"] == 19 * 50
    assert ("ETA: unknown until an epoch of each kind is measured here; epochs left: "
            + ", ".join(f"{k} {v}" for k, v in per_kind.items())) in out
    assert "the full tier's stages run on CUDA only" in out
    assert f"committed results alone (none in {tmp_path / 'none' / 'full'};" in out
    assert main(["stages", "status", "--tier", "smoke", "--device", "cpu"]) == 0
    assert "CUDA only" not in capsys.readouterr().out
