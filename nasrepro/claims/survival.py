"""Times-to-event with right censoring (settling sample, samples to feasibility).

Over scipy.stats: CensoredData, ecdf (Kaplan-Meier), logrank, bootstrap. A run is a pair
(time, observed): `observed` False means the event did not happen by `time` (the run was
censored there, e.g. at the 5000-sample horizon). A censored run is never given a value:
the KM median is "not reached" when the curve stays above 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from nasrepro.claims.stats import bootstrap_ci


def as_arrays(times: Sequence[float], observed: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Validated float times and bool event flags of equal length."""
    t = np.asarray(times, dtype=np.float64)
    o = np.asarray(observed, dtype=bool)
    if t.shape != o.shape or t.ndim != 1 or t.size == 0:
        raise ValueError("survival: times and observed must be equal-length, non-empty 1-D")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("survival: times must be finite and >= 0")
    return t, o


def from_coded(values: Sequence[float], censored: Sequence[bool], horizon: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """(times, observed) from coded per-seed values: censored runs -> censored at horizon."""
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(censored, dtype=bool)
    return as_arrays(np.where(c, horizon, v), ~c)


def censored_data(times: Sequence[float], observed: Sequence[bool]) -> sps.CensoredData:
    """scipy.stats.CensoredData: observed times uncensored, the others right-censored."""
    t, o = as_arrays(times, observed)
    return sps.CensoredData(uncensored=t[o], right=t[~o])


def km(times: Sequence[float], observed: Sequence[bool]) -> dict[str, np.ndarray]:
    """Kaplan-Meier survival (scipy.stats.ecdf): step points t and S(t) just after each."""
    sf = sps.ecdf(censored_data(times, observed)).sf
    return {"t": np.asarray(sf.quantiles, dtype=np.float64),
            "survival": np.asarray(sf.probabilities, dtype=np.float64)}


def survival_at(times: Sequence[float], observed: Sequence[bool],
                at: float | Sequence[float]) -> np.ndarray:
    """KM S(at): the estimated fraction of runs whose event has not happened by `at`."""
    return np.asarray(sps.ecdf(censored_data(times, observed)).sf.evaluate(at), dtype=float)


def fraction_by(times: Sequence[float], observed: Sequence[bool], at: float) -> float:
    """KM estimate of the fraction of runs whose event happened by `at` (1 - S(at))."""
    return float(1.0 - survival_at(times, observed, at))


def km_median(times: Sequence[float], observed: Sequence[bool]) -> float | None:
    """Smallest t with S(t) <= 0.5; None where the curve never reaches 0.5 (not reached)."""
    curve = km(times, observed)
    hit = np.nonzero(curve["survival"] <= 0.5 + 1e-12)[0]
    return float(curve["t"][hit[0]]) if hit.size else None


def rmst(times: Sequence[float], observed: Sequence[bool], horizon: float) -> float:
    """Restricted mean time to event: area under the KM survival curve on [0, horizon]."""
    curve = km(times, observed)
    edges = np.concatenate([[0.0], np.clip(curve["t"], 0.0, horizon), [horizon]])
    levels = np.concatenate([[1.0], curve["survival"]])
    return float(np.sum(levels * np.diff(edges)))


def _encode(times: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """One number per run for the bootstrap: time + 1 if observed, -(time + 1) if not."""
    return np.where(observed, times + 1.0, -(times + 1.0))


def _decode(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.abs(z) - 1.0, z > 0


def rmst_ci(times: Sequence[float], observed: Sequence[bool], horizon: float,
            confidence: float = 0.95) -> dict[str, float]:
    """RMST with a percentile bootstrap interval (runs resampled with their flags)."""
    t, o = as_arrays(times, observed)
    est = rmst(t, o, horizon)
    lo, hi = bootstrap_ci((_encode(t, o),), lambda z: rmst(*_decode(z), horizon), confidence)
    return {"rmst": est, "low": lo, "high": hi}


def rmst_difference_ci(x_times: Sequence[float], x_observed: Sequence[bool],
                       y_times: Sequence[float], y_observed: Sequence[bool], horizon: float,
                       confidence: float = 0.95) -> dict[str, float]:
    """RMST(y) - RMST(x) (how much sooner x is, in time units) with a bootstrap interval."""
    xt, xo = as_arrays(x_times, x_observed)
    yt, yo = as_arrays(y_times, y_observed)
    est = rmst(yt, yo, horizon) - rmst(xt, xo, horizon)
    lo, hi = bootstrap_ci((_encode(xt, xo), _encode(yt, yo)),
                          lambda a, b: rmst(*_decode(b), horizon) - rmst(*_decode(a), horizon),
                          confidence)
    return {"difference": est, "low": lo, "high": hi}


def logrank_sooner(x_times: Sequence[float], x_observed: Sequence[bool],
                   y_times: Sequence[float], y_observed: Sequence[bool]) -> dict[str, float]:
    """One-sided log-rank test of H1 'x's events come sooner than y's' (x's event hazard
    higher: scipy.stats.logrank(x, y, alternative='greater')); z > 0 favours H1."""
    if not (np.any(x_observed) or np.any(y_observed)):
        return {"z": 0.0, "p": 1.0}  # no event in either group: no evidence either way
    with np.errstate(invalid="ignore", divide="ignore"):
        res = sps.logrank(censored_data(x_times, x_observed),
                          censored_data(y_times, y_observed), alternative="greater")
    if not np.isfinite(res.statistic):
        return {"z": 0.0, "p": 1.0}  # zero variance (no event with both groups at risk)
    return {"z": float(res.statistic), "p": float(res.pvalue)}


def non_inferior_sooner(x_times: Sequence[float], x_observed: Sequence[bool],
                        y_times: Sequence[float], y_observed: Sequence[bool],
                        margin: float) -> dict[str, float]:
    """Non-inferiority of x's time to event vs y's with a margin: the one-sided log-rank
    test of H1 'x comes sooner than y + margin' (H0: x is at least `margin` slower).
    y's times, censoring times included, are shifted up by the margin: the same ordering
    of all times, hence the same test, as shifting x down, without negative times."""
    yt, yo = as_arrays(y_times, y_observed)
    return logrank_sooner(x_times, x_observed, yt + margin, yo)


def describe(times: Sequence[float], observed: Sequence[bool], horizon: float,
             unit: str = "") -> str:
    """'median 4750 (k/n reached by 5000)' or 'not reached within 5000 (k/n by 5000)'."""
    t, o = as_arrays(times, observed)
    med = km_median(t, o)
    k = int((o & (t <= horizon)).sum())
    u = f" {unit}" if unit else ""
    if med is None:
        return f"not reached within {horizon:g}{u} ({k}/{t.size} by {horizon:g})"
    return f"{med:g}{u} ({k}/{t.size} reached by {horizon:g})"


def summary(times: Sequence[float], observed: Sequence[bool], horizon: float
            ) -> dict[str, Any]:
    """KM median (None = not reached), fraction reached by the horizon, RMST with CI."""
    t, o = as_arrays(times, observed)
    r = rmst_ci(t, o, horizon)
    return {"n": int(t.size), "events": int(o.sum()), "median": km_median(t, o),
            "fraction_by_horizon": fraction_by(t, o, horizon), "rmst": r["rmst"],
            "rmst_low": r["low"], "rmst_high": r["high"], "text": describe(t, o, horizon)}
