"""Small statistics used by verdicts: summaries over seeds and one-sided tests (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Median, quartiles, mean, std (ddof=1) and n of per-seed values (NaN-free input)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("summarize: no values")
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return {
        "n": int(arr.size),
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def _normal_sf(z: float) -> float:
    """Survival function of the standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_less(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """One-sided Mann-Whitney U test of H1: values in x tend to be smaller than in y.

    Uses mid-ranks for ties (so censored values set to a common worst value are handled
    as ties) and the normal approximation with tie and continuity correction.
    Returns U (count of pairs with x < y, ties 1/2), the effect size P(X < Y) and p.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    n1, n2 = xa.size, ya.size
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_less: both samples need at least one value")
    allv = np.concatenate([xa, ya])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(allv.size, dtype=np.float64)
    sorted_v = allv[order]
    # mid-ranks for ties
    i = 0
    while i < sorted_v.size:
        j = i
        while j + 1 < sorted_v.size and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    r1 = ranks[:n1].sum()
    u_x_greater = r1 - n1 * (n1 + 1) / 2.0  # pairs with x > y (ties 1/2)
    u_less = n1 * n2 - u_x_greater  # pairs with x < y
    _, counts = np.unique(allv, return_counts=True)
    n = n1 + n2
    tie_term = float(((counts**3) - counts).sum()) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    mean_u = n1 * n2 / 2.0
    if var <= 0:
        p = 1.0 if u_less <= mean_u else 0.0
    else:
        z = (u_less - mean_u - 0.5) / math.sqrt(var)
        p = _normal_sf(z)
    return {"u": float(u_less), "effect": float(u_less / (n1 * n2)), "p": float(min(1.0, p))}


def mann_whitney_two_sided(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Two-sided Mann-Whitney test of 'x and y come from the same distribution':
    p = min(1, 2 * min of the two one-sided p-values); effect = P(X < Y)."""
    less = mann_whitney_less(x, y)
    greater = mann_whitney_less(y, x)
    return {"effect": less["effect"], "p": float(min(1.0, 2.0 * min(less["p"], greater["p"])))}


def welch_t_less(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """One-sided Welch t-test of H1: mean(x) < mean(y), p from a normal approximation
    of the t distribution with Welch-Satterthwaite dof (accurate for dof >~ 10)."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.size < 2 or ya.size < 2:
        raise ValueError("welch_t_less: need at least two values per sample")
    vx, vy = xa.var(ddof=1) / xa.size, ya.var(ddof=1) / ya.size
    se = math.sqrt(vx + vy)
    diff = float(xa.mean() - ya.mean())
    if se == 0:
        return {"t": -math.inf if diff < 0 else math.inf, "dof": math.nan,
                "p": 0.0 if diff < 0 else 1.0}
    t = diff / se
    dof = (vx + vy) ** 2 / (vx**2 / (xa.size - 1) + vy**2 / (ya.size - 1))
    return {"t": t, "dof": float(dof), "p": float(_student_t_cdf(t, dof))}


def _student_t_cdf(t: float, dof: float) -> float:
    """CDF of Student's t via the regularised incomplete beta function (continued fraction)."""
    x = dof / (dof + t * t)
    tail = 0.5 * _betainc(dof / 2.0, 0.5, x)
    return tail if t < 0 else 1.0 - tail


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) (Numerical Recipes' continued fraction)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln_front) * _betacf(b, a, 1.0 - x) / b


def _betacf(a: float, b: float, x: float, iters: int = 300, eps: float = 1e-15) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, iters + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > 1e-300 else 1e-300
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > 1e-300 else 1e-300
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def linear_fit(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares line y = slope * x + intercept with R^2."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    slope, intercept = np.polyfit(xa, ya, 1)
    pred = slope * xa + intercept
    ss_res = float(((ya - pred) ** 2).sum())
    ss_tot = float(((ya - ya.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return {"slope": float(slope), "intercept": float(intercept), "r2": float(r2)}
