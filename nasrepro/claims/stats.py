"""Statistics used by verdicts: summaries over seeds, rank and t tests, bootstrap intervals.

A thin layer over scipy.stats: each function names the scipy call it makes and returns the
small dict the claim tests read. Censored times-to-event live in `claims.survival`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: Mann-Whitney uses the exact null distribution of U when neither sample is larger than
#: this and there are no ties (scipy computes it in milliseconds at this size, and the
#: normal approximation is at its worst for small samples); the normal approximation with
#: tie and continuity correction otherwise (the exact distribution assumes no ties).
MW_EXACT_MAX_N = 50

#: Bootstrap settings shared by every interval in the records: fixed generator seed so a
#: record is reproducible bit for bit; percentile intervals (BCa's jackknife degenerates
#: on the many ties of block-resolution sample counts).
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


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


def mw_method(x: Sequence[float], y: Sequence[float]) -> str:
    """'exact' for small samples without ties, else 'asymptotic' (see MW_EXACT_MAX_N)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    allv = np.concatenate([xa, ya])
    ties = np.unique(allv).size < allv.size
    return "exact" if not ties and max(xa.size, ya.size) <= MW_EXACT_MAX_N else "asymptotic"


def mann_whitney_less(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """One-sided Mann-Whitney U test of H1 'x tends to be smaller than y' (scipy.stats).

    Returns U (pairs with x < y, ties 1/2), the effect size P(X < Y), p and the method
    used (mw_method). Ties get mid-ranks, so censored values coded as a common worst value
    are ties; prefer claims.survival for censored data."""
    from scipy import stats as sps  # lazy: ~1 s to import
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    n1, n2 = xa.size, ya.size
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney_less: both samples need at least one value")
    method = mw_method(xa, ya)
    u_less = n1 * n2 - float(sps.mannwhitneyu(xa, ya, method=method).statistic)
    if np.unique(np.concatenate([xa, ya])).size == 1:
        p = 1.0  # all values tied: no evidence either way (scipy's z is undefined)
    else:
        p = float(sps.mannwhitneyu(xa, ya, alternative="less", method=method,
                                   use_continuity=True).pvalue)
    return {"u": float(u_less), "effect": float(u_less / (n1 * n2)),
            "p": float(min(1.0, p)), "method": method}


def mann_whitney_two_sided(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Two-sided Mann-Whitney test of 'x and y come from the same distribution'
    (scipy.stats.mannwhitneyu, method as mw_method); effect = P(X < Y)."""
    from scipy import stats as sps  # lazy: ~1 s to import
    less = mann_whitney_less(x, y)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.unique(np.concatenate([xa, ya])).size == 1:
        p = 1.0
    else:
        p = float(sps.mannwhitneyu(xa, ya, alternative="two-sided",
                                   method=less["method"]).pvalue)
    return {"effect": less["effect"], "p": float(min(1.0, p)), "method": less["method"]}


def welch_t_less(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """One-sided Welch t-test of H1 mean(x) < mean(y): scipy.stats.ttest_ind(equal_var=False,
    alternative='less'), Welch-Satterthwaite dof."""
    from scipy import stats as sps  # lazy: ~1 s to import
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.size < 2 or ya.size < 2:
        raise ValueError("welch_t_less: need at least two values per sample")
    diff = float(xa.mean() - ya.mean())
    if xa.var(ddof=1) + ya.var(ddof=1) == 0:
        return {"t": -np.inf if diff < 0 else np.inf, "dof": np.nan,
                "p": 0.0 if diff < 0 else 1.0}
    res = sps.ttest_ind(xa, ya, equal_var=False, alternative="less")
    return {"t": float(res.statistic), "dof": float(res.df), "p": float(res.pvalue)}


def _student_t_cdf(t: float, dof: float) -> float:
    """CDF of Student's t (scipy.stats.t)."""
    from scipy import stats as sps  # lazy: ~1 s to import
    return float(sps.t.cdf(t, dof))


def bootstrap_ci(data: tuple[np.ndarray, ...], statistic: Callable[..., float],
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of statistic(*data) (scipy.stats.bootstrap; samples
    resampled independently; fixed seed and resample count, see BOOTSTRAP_*)."""
    from scipy import stats as sps  # lazy: ~1 s to import
    arrays = tuple(np.asarray(d, dtype=np.float64) for d in data)
    if any(a.size < 2 for a in arrays):
        return (float("nan"), float("nan"))
    if all(np.unique(a).size == 1 for a in arrays):
        v = float(statistic(*arrays))
        return (v, v)
    res = sps.bootstrap(arrays, statistic, n_resamples=BOOTSTRAP_RESAMPLES,
                        confidence_level=confidence, method="percentile", vectorized=False,
                        rng=np.random.default_rng(BOOTSTRAP_SEED))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def median_ci(x: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Median of x with a percentile bootstrap interval."""
    xa = np.asarray(x, dtype=np.float64)
    lo, hi = bootstrap_ci((xa,), lambda a: float(np.median(a)), confidence)
    return {"median": float(np.median(xa)), "low": lo, "high": hi}


def median_difference_ci(x: Sequence[float], y: Sequence[float],
                         confidence: float = 0.95) -> dict[str, float]:
    """median(x) - median(y) with a percentile bootstrap interval (independent samples)."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    lo, hi = bootstrap_ci((xa, ya), lambda a, b: float(np.median(a) - np.median(b)),
                          confidence)
    return {"difference": float(np.median(xa) - np.median(ya)), "low": lo, "high": hi}


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
