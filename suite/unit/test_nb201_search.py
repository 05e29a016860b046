"""The REWARD search experiment: reward wiring per group, latency targets, metrics."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasrepro.data.nb201 import load_table
from nasrepro.experiments import reward_search as rs

T = 17.0
accs = st.floats(0.01, 1.0)
below = st.floats(0.5, T)
above = st.floats(T + 1e-6, 40.0)


@given(accs, below, above)
def test_mnasnet_soft_and_hard_wiring(acc, lat_lo, lat_hi):
    m, h = rs.REWARD_FNS["mnasnet"], rs.REWARD_FNS["mnasnet_hard"]
    assert m(acc, lat_lo, T) == pytest.approx(acc * (lat_lo / T) ** -0.07)
    assert m(acc, lat_hi, T) == pytest.approx(acc * (lat_hi / T) ** -0.07)
    # hard constraint: accuracy below T, accuracy * T / LAT above (the LAT > T branch)
    assert h(acc, lat_lo, T) == pytest.approx(acc)
    assert h(acc, lat_hi, T) == pytest.approx(acc * T / lat_hi)


@given(accs, st.floats(0.5, 1.5 * T - 1.0001), st.floats(1.5 * T - 1, 60.0))
def test_proposed_wiring(acc, lat_in, lat_out):
    p = rs.REWARD_FNS["proposed"]
    assert p(acc, lat_in, T) == pytest.approx(0.9 * acc + 0.1 * math.log(1.5 * T - lat_in)
                                              / math.log(T))
    assert p(acc, lat_out, T) == pytest.approx(0.9 * acc)


@given(accs, st.floats(0.5, 40.0))
def test_tunas_wiring(acc, lat):
    assert rs.REWARD_FNS["tunas_abs"](acc, lat, T) == pytest.approx(
        acc - 0.07 * abs(lat / T - 1))


def test_latency_targets():
    table = load_table()
    assert rs.SOURCES["silver_4210r"].target_ms(table) == 17.0
    t = rs.SOURCES["1080ti_256"].target_ms(table)
    share = float((table.latency_ms("1080ti_256") <= t).double().mean())
    assert share == pytest.approx(0.74, abs=1e-3)
    assert rs.SOURCES["nb201"].rule == "fixed" and rs.SOURCES["nb201"].value == 17.0


def test_the_rescaled_column_puts_t_on_17_ms_and_leaves_mnasnet_as_it_was():
    """1080ti_256_x17 = 1080ti_256 x 17 / its 0.74 quantile, searched at T = 17 ms: the same
    cells are under T, MnasNet's reward (a function of LAT/T) is unchanged, the proposed
    reward's (not scale-free) is not."""
    table = rs.table_for(("1080ti_256_x17",))
    base, scaled = table.latency_ms("1080ti_256"), table.latency_ms("1080ti_256_x17")
    t = rs.SOURCES["1080ti_256"].target_ms(table)
    assert rs.latency_source("1080ti_256_x17").target_ms(table) == 17.0
    assert float(scaled.max() / base.max()) == pytest.approx(17.0 / t)
    assert abs(int((scaled <= 17.0).sum()) - int((base <= t).sum())) <= 1  # rounding at T
    acc = table.acc / 100.0
    m = rs.REWARD_FNS["mnasnet"]
    np.testing.assert_allclose(m(acc, scaled, 17.0).numpy(), m(acc, base, t).numpy(),
                               rtol=1e-9)
    p = rs.REWARD_FNS["proposed"]
    assert float((p(acc, scaled, 17.0) - p(acc, base, t)).abs().max()) > 1e-3


def test_settling_and_crossing_definitions():
    t = 10.0
    blocks = np.array([
        [12, 11, 9, 8, 9],      # falls below at block 3 and stays: settle 750, cross 750
        [9, 9, 9, 9, 9],        # always below: settle 250, no crossing
        [12, 9, 12, 9, 9],      # dips, rises, settles at block 4: settle 1000, cross 500
        [9, 9, 9, 9, 12],       # rises at the end: censored, no crossing
        [12, 12, 12, 12, 10],   # exactly T counts as <= T: settle 1250, cross 1250
    ], dtype=float)
    settle = rs.settling_sample(blocks, t, 250)
    cross = rs.first_crossing(blocks, t, 250)
    assert settle.tolist() == [750, 250, 1000, math.inf, 1250]
    assert cross.tolist() == [750, math.inf, 500, math.inf, 1250]


def test_block_means_and_counts():
    x = np.arange(1000, dtype=np.float32).reshape(2, 500)
    np.testing.assert_allclose(rs.block_means(x, 250)[0], [124.5, 374.5])
    acc = np.array([[49.9, 50.0, 59.99, 60.0, 69.9, 70.0]])
    lat = np.array([[1.0, 1.0, 1.0, 1.0, 20.0, 1.0]])
    c = rs.feasible_counts(acc, lat, 17.0)
    assert c["50-60"].tolist() == [2] and c["60-70"].tolist() == [1]


def test_tiny_search_is_deterministic_and_shaped():
    cfg = rs.search_config("smoke", seeds=2, n_samples=500)
    a, b = rs.run_search(cfg), rs.run_search(cfg)
    assert set(a["groups"]) == {f"{r}/{s}" for r in cfg["rewards"] for s in cfg["sources"]}
    for key, g in a["groups"].items():
        assert g["lat"].shape == (2, 500)
        np.testing.assert_array_equal(g["row"], b["groups"][key]["row"])
    table = load_table()
    g = a["groups"]["proposed/silver_4210r"]
    np.testing.assert_allclose(g["lat"], table.latency_ms("silver_4210r").numpy()[g["row"]],
                               rtol=1e-6)
    np.testing.assert_allclose(g["acc"], table.acc.numpy()[g["row"]], rtol=1e-6)


def test_controller_is_a_parameter():
    cfg = rs.search_config("smoke", seeds=1, n_samples=50, controller="lstm",
                           rewards=("proposed",), sources=("1080ti_256",))
    assert cfg["lr"] == rs.CONTROLLERS["lstm"].lr
    res = rs.run_search(cfg)
    assert res["groups"]["proposed/1080ti_256"]["row"].shape == (1, 50)
    from nasrepro.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown controller"):
        rs.search_config("smoke", controller="gcn-not-registered")
    with pytest.raises(ValueError, match="already registered"):
        rs.register_controller("lstm", rs.CONTROLLERS["factorized"])


def test_exported_official_table_adds_nb201_source(tmp_path, monkeypatch):
    """With an exported official table present, searches add `nb201` at T = 17 ms.
    The official latencies are not available offline: this wiring test writes a table in
    the export format whose `nb201` column is 1080ti_256 / 1.5 (labelled as a fixture)."""
    from nasrepro.data import nb201

    table = load_table()
    out = tmp_path / "nb201_official_table.npz"
    arrays = {"index": table.index.numpy().astype(np.int32),
              "ops": table.ops.numpy().astype(np.uint8),
              "acc_cifar100": table.acc.numpy(),
              "lat__nb201": table.latency_ms("1080ti_256").numpy() / 1.5}
    nb201.write_table(out, arrays, {"fixture": "wiring test only"})
    monkeypatch.setattr(rs, "official_table_path", lambda: out)
    cfg = rs.search_config("smoke", seeds=1, n_samples=250, rewards=("proposed",))
    assert cfg["sources"] == rs.TIERS["smoke"]["sources"] + ("nb201",)
    # a run that names its sources (the LSTM and rescaled sensitivity runs) searches only
    # those: the LSTM run searched nb201 rows too, which its table never showed
    assert rs.search_config("smoke", sources=("1080ti_256",))["sources"] == ("1080ti_256",)
    res = rs.run_search(cfg)
    assert res["targets"]["nb201"] == 17.0
    g = res["groups"]["proposed/nb201"]
    np.testing.assert_allclose(g["lat"], arrays["lat__nb201"][g["row"]], rtol=1e-6)
