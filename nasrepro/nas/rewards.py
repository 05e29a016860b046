"""Multi-objective NAS rewards of accuracy and latency, vectorised over numpy and torch.

All functions take accuracy as a fraction in [0, 1] and latency in milliseconds, accept
Python scalars, numpy arrays or torch tensors (broadcasting), and return the same kind
(a float for scalar inputs). The target T is a float, or a torch tensor broadcastable to
the latency (one T per row: batched searches with a different T per search; torch
inputs only). Inputs are validated: an accuracy above 1 (a percentage
passed by mistake), a non-positive or non-finite latency, or a non-positive target raise
ValueError naming the argument.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

Array = Any  # float | np.ndarray | torch.Tensor
Target = Any  # float, or a torch.Tensor of targets (with torch inputs only)

DEFAULT_TARGET_MS = 17.0


def _is_torch(*xs: Array) -> bool:
    return any(isinstance(x, torch.Tensor) for x in xs)


def _prepare(acc: Array, latency_ms: Array) -> tuple[Any, Any, Any, bool]:
    """Validate and convert inputs; returns (xp, acc, lat, scalar_out)."""
    scalar = np.isscalar(acc) and np.isscalar(latency_ms)
    if _is_torch(acc, latency_ms):
        ref = acc if isinstance(acc, torch.Tensor) else latency_ms
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        acc_t = torch.as_tensor(acc, dtype=dtype, device=ref.device)
        lat_t = torch.as_tensor(latency_ms, dtype=dtype, device=ref.device)
        _validate(torch, acc_t, lat_t)
        return torch, acc_t, lat_t, False
    acc_a = np.asarray(acc, dtype=np.float64)
    lat_a = np.asarray(latency_ms, dtype=np.float64)
    _validate(np, acc_a, lat_a)
    return np, acc_a, lat_a, scalar


def _validate(xp: Any, acc: Any, lat: Any) -> None:
    """One reduction per argument on the hot path (NaN fails every comparison, so
    0 <= acc <= 1 and 0 < lat < inf also reject NaN and inf); details only on error."""
    if not bool(((acc >= 0) & (acc <= 1)).all()):
        if bool(xp.any(xp.isnan(acc))):
            raise ValueError("acc: accuracy must be a finite fraction in [0, 1]; got NaN")
        if bool(xp.any(acc > 1)):
            raise ValueError(f"acc: accuracy must be a fraction in [0, 1]; got "
                             f"{float(acc.max()):g} — a percentage? divide by 100")
        raise ValueError(f"acc: accuracy must be a fraction in [0, 1]; got {float(acc.min()):g}")
    if not bool(((lat > 0) & (lat < math.inf)).all()):
        if bool(xp.any(xp.isnan(lat))) or bool(xp.any(xp.isinf(lat))):
            raise ValueError("latency_ms: latency must be finite and positive; got NaN or inf")
        raise ValueError(f"latency_ms: latency must be positive (ms); got {float(lat.min()):g}")


def _check_target(target_ms: float | torch.Tensor, *, above_one: bool = False
                  ) -> float | torch.Tensor:
    if isinstance(target_ms, torch.Tensor):
        low = 1.0 if above_one else 0.0
        if not bool(((target_ms > low) & (target_ms < math.inf)).all()):
            raise ValueError(f"target_ms: every latency target must be finite and > {low:g} "
                             f"ms; got min {float(target_ms.min()):g}")
        return target_ms
    t = float(target_ms)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"target_ms: the latency target must be positive and finite; got {t:g}")
    if above_one and t <= 1:
        raise ValueError(f"target_ms: the proposed reward takes log base T, so T must be "
                         f"> 1 ms; got {t:g}")
    return t


def _out(x: Any, scalar: bool) -> Array:
    return float(x) if scalar else x


def mnasnet_reward(acc: Array, latency_ms: Array, target_ms: Target = DEFAULT_TARGET_MS,
                   alpha: float = -0.07, beta: float = -0.07) -> Array:
    """MnasNet soft reward (Tan et al., CVPR 2019, eq. 2; REWARD paper eq. 2-3):
    R = ACC * (LAT / T)^w with w = alpha if LAT <= T else beta."""
    t = _check_target(target_ms)
    xp, a, lat, scalar = _prepare(acc, latency_ms)
    w = xp.where(lat <= t, alpha, beta) if xp is np else torch.where(
        lat <= t, torch.tensor(alpha, dtype=lat.dtype, device=lat.device),
        torch.tensor(beta, dtype=lat.dtype, device=lat.device))
    return _out(a * (lat / t) ** w, scalar)


def mnasnet_hard_reward(acc: Array, latency_ms: Array,
                        target_ms: Target = DEFAULT_TARGET_MS) -> Array:
    """MnasNet hard-constraint reward (Tan et al. 2019, alpha = 0, beta = -1): accuracy
    below T, accuracy * T / LAT above it."""
    return mnasnet_reward(acc, latency_ms, target_ms, alpha=0.0, beta=-1.0)


def latency_term(latency_ms: Array, target_ms: Target = DEFAULT_TARGET_MS) -> Array:
    """The proposed reward's latency term f(LAT) = log_T(max(1.5T - LAT, 1)).

    Equals log_T(1.5T - LAT) while 1.5T - LAT > 1 and 0 beyond (continuous at
    LAT = 1.5T - 1, the interpretation recorded in CLAIMS.md)."""
    t = _check_target(target_ms, above_one=True)
    log_t = torch.log(t) if isinstance(t, torch.Tensor) else math.log(t)
    if isinstance(latency_ms, torch.Tensor):
        return torch.log(torch.clamp(1.5 * t - latency_ms, min=1.0)) / log_t
    return np.log(np.maximum(1.5 * t - np.asarray(latency_ms, dtype=np.float64), 1.0)) / log_t


def proposed_reward(acc: Array, latency_ms: Array, target_ms: Target = DEFAULT_TARGET_MS,
                    x: float = 0.9, y: float = 0.1) -> Array:
    """Lim & Kim (J. IEIE 2022) proposed reward, eq. 4-5 as reconstructed in CLAIMS.md:
    R = x*ACC + y*f(LAT), f(LAT) = log_T(1.5T - LAT) while 1.5T - LAT > 1, else 0."""
    _check_target(target_ms, above_one=True)
    _, a, lat, scalar = _prepare(acc, latency_ms)
    return _out(x * a + y * latency_term(lat, target_ms), scalar)


def tunas_abs_reward(acc: Array, latency_ms: Array, target_ms: Target, beta: float) -> Array:
    """TuNAS absolute-value reward (Bender et al., CVPR 2020, eq. 3):
    R = ACC + beta * |LAT / T - 1|, beta < 0 penalising any distance from the target."""
    t = _check_target(target_ms)
    xp, a, lat, scalar = _prepare(acc, latency_ms)
    return _out(a + beta * xp.abs(lat / t - 1.0), scalar)


REWARDS = {
    "mnasnet": mnasnet_reward,
    "proposed": proposed_reward,
    "mnasnet_hard": mnasnet_hard_reward,
}
