"""`nasrepro nb201 measure-latency`: timing, resumable chunks (interrupted and rerun), the
measured table, its use as a search latency source, the record and its report section."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nasrepro.data import nb201, nb201_measured
from nasrepro.errors import ConfigError, DataError
from nasrepro.experiments import reward_search as rs
from nasrepro.measure import latency_record
from nasrepro.measure import nb201_latency as lat
from nasrepro.paths import PACKAGE_DIR

TINY = lat.LatencySpec(device="cpu", batch=1, threads=1, warmup=0, repeats=1, chunk=2)


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch):
    """A fresh reports folder (chunks, records) and data root (measured tables)."""
    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("NASREPRO_DATA", str(tmp_path / "data"))
    return tmp_path


@given(st.lists(st.tuples(st.integers(0, lat.N_ARCHS - 1), st.integers(0, 30)),
                min_size=1, max_size=5))
def test_parse_indices_is_the_union_of_ranges(ranges):
    text = ",".join(f"{a}-{min(a + w, lat.N_ARCHS - 1)}" for a, w in ranges)
    expected = sorted({i for a, w in ranges for i in range(a, min(a + w, lat.N_ARCHS - 1) + 1)})
    assert lat.parse_indices(text) == expected


@pytest.mark.parametrize("bad", ["5-2", "x", "15625", "-3"])
def test_parse_indices_refuses(bad):
    with pytest.raises(ConfigError, match="--indices"):
        lat.parse_indices(bad)


def test_sample_is_fixed_and_unique():
    a = lat.sample_indices(300, seed=1)
    assert a == lat.sample_indices(300, seed=1) and len(set(a)) == 300
    assert a != lat.sample_indices(300, seed=2)


def test_work_key_separates_what_changes_the_numbers():
    assert lat.work_dir(TINY) == lat.work_dir(lat.LatencySpec(**{**TINY.__dict__}))
    for change in ({"threads": 2}, {"batch": 4}, {"repeats": 3}):
        assert lat.work_dir(lat.LatencySpec(**{**TINY.__dict__, **change})) != lat.work_dir(TINY)
    key = lat.work_key(TINY)
    assert {"machine_id", "machine_class", "torch", "network_sha"} <= set(key)


def test_default_spec_batches():
    assert lat.default_spec("cpu").batch == 1 and lat.default_spec("cuda").batch == 256
    assert lat.default_spec("cpu").default_name == "this_machine_cpu_1"
    assert lat.default_spec("cuda:0").default_name == "this_machine_cuda_256"
    with pytest.raises(ConfigError, match="device"):
        lat.default_spec("tpu")


def test_timing_sees_the_network_cost():
    """The all-conv-3x3 cell is far heavier (220 vs 8 MFLOPs) than the all-'none' cell: a
    timer that does not run the model (or times the wrong thing) cannot order them."""
    spec = lat.LatencySpec(repeats=7, warmup=1)
    x = torch.randn(1, 3, 32, 32)
    heavy = lat.time_network([3] * 6, spec, x)[0]
    light = lat.time_network([0] * 6, spec, x)[0]
    assert 0 < light < heavy


def test_interrupted_run_resumes_without_remeasuring():
    """A pause after the first chunk (max_chunks) keeps it; the rerun times only the rest and
    leaves the finished chunk's file untouched; a third run times nothing."""
    idx = [0, 1, 2, 3, 4]
    first = lat.measure(TINY, idx, max_chunks=1, progress=False)
    assert (first["measured"], first["reused"], first["remaining"]) == (2, 0, 3)
    chunk0 = lat.chunk_path(first["work"], 0)
    before = chunk0.read_bytes()
    second = lat.measure(TINY, idx, progress=False)
    assert (second["measured"], second["reused"], second["remaining"]) == (3, 2, 0)
    assert chunk0.read_bytes() == before
    assert lat.measure(TINY, idx, progress=False)["measured"] == 0
    col = lat.column(first["work"])
    assert np.isfinite(col["median_ms"][idx]).all() and np.isnan(col["median_ms"][5:]).all()
    assert (col["min_ms"][idx] <= col["median_ms"][idx]).all()


def test_partial_chunk_is_completed_not_redone():
    """Cells added to a chunk later are timed alone and merged into its file."""
    lat.measure(TINY, [0], progress=False)
    more = lat.measure(TINY, [0, 1], progress=False)
    assert (more["measured"], more["reused"]) == (1, 1)
    rec = lat.read_chunk(more["work"], 0)
    assert rec["indices"] == [0, 1]


def test_killed_process_resumes_from_its_finished_chunks(folders):
    """A real interruption: the CLI is killed (SIGKILL, no clean-up) once its first chunk is on
    disk; the rerun reuses every finished chunk and times only the others."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent)}
    args = ["--indices", "0-19", "--chunk", "1", "--repeats", "1", "--warmup", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "nasrepro.cli", "nb201", "measure-latency",
                             *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    spec = lat.default_spec("cpu", repeats=1, warmup=0, chunk=1)
    work = lat.work_dir(spec)
    deadline = time.monotonic() + 120
    while not lat.chunk_path(work, 0).exists() and time.monotonic() < deadline:
        assert proc.poll() is None, f"the measuring process exited early ({proc.returncode})"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(work.glob("chunk_*.json"))
    assert finished, "the first chunk never appeared"
    kept = {p.name: p.read_bytes() for p in finished}
    rerun = lat.measure(spec, range(20), progress=False)
    assert rerun["reused"] == len(finished) and rerun["measured"] == 20 - len(finished)
    assert all((work / name).read_bytes() == data for name, data in kept.items())


def test_finish_writes_table_record_and_report():
    idx = list(range(0, 40, 4))
    lat.measure(TINY, idx, progress=False)
    rec = latency_record.finish(TINY, "tiny_cpu")
    table = nb201.load_table(Path(rec["table"]))
    assert table.sources == ["tiny_cpu"] and table.index.tolist() == idx
    shipped = nb201.load_table()
    assert torch.isnan(table.acc).all() and torch.equal(table.ops, shipped.ops[idx])
    assert table.provenance["measured"]["spec"]["repeats"] == 1
    assert set(rec["spearman"]) == set(shipped.sources)
    assert rec["closest"] in latency_record.HELP_CPU and rec["coverage"] == len(idx)
    assert rec["closest_rho"] == max(rec["spearman"][d]["rho"] for d in latency_record.HELP_CPU)
    from scipy import stats

    ours = table.latency_ms("tiny_cpu").numpy()
    gold = shipped.latency_ms("gold_6240").numpy()[idx]
    assert rec["spearman"]["gold_6240"]["rho"] == pytest.approx(
        stats.spearmanr(ours, gold).statistic)
    from nasrepro.report.latency import section

    text = "\n".join(section())
    assert "lat__tiny_cpu" in text and rec["closest"] in text
    assert f"{rec['coverage']} of 15625 cells (partial" in text
    assert rec["load_avg_1m"] is not None and "load average during the chunks" in text


def test_committed_column_keeps_its_record_for_the_report(folders, monkeypatch):
    # a column committed with the package is reported from the record beside it, also from a
    # reports folder that never measured it (CI's)
    lat.measure(TINY, range(4), progress=False)
    tables = folders / "tables"
    tables.mkdir()
    rec = latency_record.finish(TINY, "tiny_cpu", tables / "nb201_lat_tiny_cpu.npz")
    assert latency_record.record_beside(Path(rec["table"])).is_file()
    monkeypatch.setattr(nb201, "TABLES_DIR", tables)
    monkeypatch.setenv("NASREPRO_REPORTS", str(folders / "other_reports"))
    from nasrepro.report.latency import section

    assert [r["name"] for r in latency_record.load_records()] == ["tiny_cpu"]
    assert "lat__tiny_cpu" in "\n".join(section())


def test_finish_without_chunks_is_one_line_error():
    with pytest.raises(DataError, match="measure-latency"):
        latency_record.finish(TINY, "nothing")


def test_partial_column_cannot_serve_a_search():
    lat.measure(TINY, [0, 1, 2], progress=False)
    latency_record.finish(TINY, "part_cpu")
    table = nb201.load_table()
    with pytest.raises(DataError, match="covers 3 of 15625"):
        nb201_measured.add_measured(table, "part_cpu")
    with pytest.raises(DataError, match="no measured latency column 'other'"):
        nb201_measured.load_measured("other")


def test_full_measured_column_is_a_search_source():
    """A complete column (here the FLOPs column stands in for a measured one: same shape and
    file path as a real run) is read by name, keys the cache, and sets T at its 0.74
    quantile."""
    shipped = nb201.load_table()
    col = shipped.costs["flops_m"].numpy()
    path, digest = nb201_measured.write_measured_table("full_cpu", col, {"note": "test"})
    table = rs.table_for(("1080ti_256", "full_cpu"))
    assert torch.allclose(table.latency_ms("full_cpu"), torch.from_numpy(
        col.astype(np.float32)).double())
    assert rs.data_fingerprint(("full_cpu",))[f"nb201/{path.name}"] == digest
    src = rs.latency_source("full_cpu")
    assert src.rule == "quantile" and src.value == 0.74
    cfg = rs.search_config("smoke", seeds=2, n_samples=20, block=10, rewards=("proposed",),
                           sources=("full_cpu",))
    res = rs.run_search(cfg)
    assert res["targets"]["full_cpu"] == pytest.approx(np.quantile(table.latency_ms(
        "full_cpu").numpy(), 0.74))
    lat.measure(TINY, [0, 1, 2], progress=False)
    latency_record.finish(TINY, "part_cpu")
    full = nb201.load_table()
    # the partial one is left out; columns committed with the package are added too
    committed = list(nb201_measured.committed_tables())
    assert nb201_measured.add_all_measured(full) == [*committed, "full_cpu"]
    assert "full_cpu" in full.sources and "part_cpu" not in full.sources
    lats = res["groups"]["proposed/full_cpu"]["lat"]
    rows = res["groups"]["proposed/full_cpu"]["row"]
    assert np.allclose(lats, col.astype(np.float32)[rows])


def test_cli_measures_and_resumes(capsys, monkeypatch):
    from nasrepro import progress
    from nasrepro.cli import main

    lines: list[str] = []
    monkeypatch.setattr(progress, "_writer", lines.append)

    args = ["nb201", "measure-latency", "--indices", "0-3", "--chunk", "2", "--repeats", "1",
            "--warmup", "0", "--max-chunks", "1", "--name", "cli_cpu"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "paused with 2 networks left" in out and "2/15625 cells" in out
    assert "fewer than 3 cells measured" in out
    assert main([*args[:-4], "--name", "cli_cpu"]) == 0
    out = capsys.readouterr().out
    assert any("2 of 4 networks already measured, 2 to go" in line for line in lines)
    assert "4/15625 cells" in out and "closest HELP CPU device" in out
    assert main(["nb201", "info"]) == 0
    assert "measured cli_cpu: 4 of 15625 cells" in capsys.readouterr().out


def test_full_column_file_fits_the_budget():
    """Worst case for compression: a full column of random float32 latencies (every mantissa
    bit noise) still fits MEASURED_BUDGET_BYTES, so any full measured column can ship."""
    col = np.random.default_rng(0).lognormal(1.5, 0.8, lat.N_ARCHS)
    path, _ = nb201_measured.write_measured_table("noise_cpu", col, {})
    assert path.stat().st_size <= nb201_measured.MEASURED_BUDGET_BYTES
