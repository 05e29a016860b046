"""REWARD paper (Lim & Kim 2022) experiments for REWARD-1..3: the reward table and shape.

REWARD-4/5 (the NAS-Bench-201 searches) live in nasrepro.experiments.reward_search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasrepro.nas.rewards import DEFAULT_TARGET_MS, mnasnet_reward, proposed_reward

T = DEFAULT_TARGET_MS

# Table 1: case -> ((acc1, lat1), (acc2, lat2)); ACC as a fraction, LAT in ms.
TABLE1_CASES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "a": ((0.80, 8.0), (0.84, 16.0)),
    "b": ((0.80, 12.0), (0.84, 24.0)),
    "c": ((0.80, 8.0), (0.83, 16.0)),
}

# Per-tier budget of the REWARD-3 accuracy grid (points over (0, 1]).
TIERS = {"smoke": {"acc_grid": 1000}, "full": {"acc_grid": 100_000}}


def table1() -> dict[str, float]:
    """Both rewards for every Table 1 cell, keyed 'case/reward/R1|R2'."""
    out = {}
    for case, pair in TABLE1_CASES.items():
        acc = np.array([pair[0][0], pair[1][0]])
        lat = np.array([pair[0][1], pair[1][1]])
        for name, fn in (("mnasnet", mnasnet_reward), ("proposed", proposed_reward)):
            r1, r2 = fn(acc, lat, T)
            out[f"{case}/{name}/R1"] = float(r1)
            out[f"{case}/{name}/R2"] = float(r2)
    return out


@dataclass(frozen=True)
class ShapeMargins:
    """Margins of the three REWARD-3 shape statements (positive = statement holds).

    mnasnet_gain: gap(15/5) - gap(20/10) of MnasNet (> 0: gain grows as latency falls)
    proposed_gain: gap(20/10) - gap(15/5) of the proposed reward (> 0: gain shrinks)
    above_t: min over LAT in (T, 40] of drop_proposed(T->LAT) - drop_mnasnet(T->LAT)
    """

    mnasnet_gain: np.ndarray
    proposed_gain: np.ndarray
    above_t: np.ndarray


def gap(fn, acc: np.ndarray, low_ms: float, high_ms: float) -> np.ndarray:
    """Reward gained by moving from high_ms down to low_ms at accuracy acc."""
    return fn(acc, np.full_like(acc, low_ms), T) - fn(acc, np.full_like(acc, high_ms), T)


def shape_margins(acc: np.ndarray, above_grid: int = 400) -> ShapeMargins:
    """Evaluate the REWARD-3 statements at each accuracy in `acc` (vectorised)."""
    acc = np.asarray(acc, dtype=np.float64)
    m_gain = gap(mnasnet_reward, acc, 5, 15) - gap(mnasnet_reward, acc, 10, 20)
    p_gain = gap(proposed_reward, acc, 10, 20) - gap(proposed_reward, acc, 5, 15)
    lat = np.linspace(T, 40.0, above_grid + 1)[1:]  # (T, 40]
    a2, l2 = np.meshgrid(acc, lat, indexing="ij")
    drop_p = proposed_reward(a2, np.full_like(l2, T), T) - proposed_reward(a2, l2, T)
    drop_m = mnasnet_reward(a2, np.full_like(l2, T), T) - mnasnet_reward(a2, l2, T)
    return ShapeMargins(m_gain, p_gain, (drop_p - drop_m).min(axis=1))


def reward_curves(acc: float = 0.5, lat_max: float = 40.0, n: int = 400) -> dict[str, np.ndarray]:
    """Both rewards against latency at a fixed accuracy (the paper's Fig. 3 at ACC = 0.5)."""
    lat = np.linspace(0.25, lat_max, n)
    a = np.full_like(lat, acc)
    return {"latency_ms": lat, "mnasnet": mnasnet_reward(a, lat, T),
            "proposed": proposed_reward(a, lat, T)}
