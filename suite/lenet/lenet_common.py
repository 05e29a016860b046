"""Shared plumbing of the LENET claim tests: tier budget, the cached study, timing, memory."""

from __future__ import annotations

import numpy as np

from nasrepro.experiments import lenet as exp
from nasrepro.measure.environment import device_name


def guard_tier(claim) -> None:
    """The full tier is meant for a GPU: without one, record NOT RUN instead of an hour of
    CPU training that would only repeat the smoke tier with more seeds."""
    if claim.tier == "full" and claim.device != "cuda":
        claim.skip_not_run("full tier runs on a CUDA GPU and none is visible; the smoke tier "
                           "runs the same nine cases at full scale on the CPU")


def budget(claim) -> dict:
    return dict(exp.TIERS[claim.tier])


def study(claim):
    """(seeds, {case: [run per seed]}) for this tier (cached runs; trains what is missing)."""
    guard_tier(claim)
    seeds = claim.seeds(budget(claim)["seeds"])
    return seeds, exp.study(seeds, claim.tier, claim.device)


def study_config(claim, seeds) -> dict:
    b = budget(claim)
    return claim.config(seeds=len(seeds), iters=b["iters"], eval_every=b["eval_every"],
                        stack=b["stack"], cases={k: vars(c) for k, c in exp.ALL_CASES.items()},
                        solver=exp.solver_settings())


def timing(claim) -> dict:
    guard_tier(claim)
    return exp.timing(claim.tier, claim.device)


def timing_config(claim) -> dict:
    b = budget(claim)
    return claim.config(timing_reps=b["timing_reps"], timing_block=b["timing_block"],
                        timing_warmup=b["timing_warmup"])


def median_time(t: dict, key: str) -> float:
    return float(np.median(t["per_case"][key]))


def at(runs, field: str, iteration: int) -> np.ndarray:
    """Per-seed value of `field` at checkpoint `iteration`."""
    idx = int(np.flatnonzero(runs[0]["iterations"] == iteration)[0])
    return exp.curve(runs, field)[:, idx]


def first_checkpoint(runs, field: str, level: float) -> int | None:
    """First checkpoint at which `field` (median over seeds) reaches `level`; None if never."""
    hit = np.flatnonzero(np.median(exp.curve(runs, field), 0) >= level)
    return int(runs[0]["iterations"][hit[0]]) if hit.size else None


def hardware(claim) -> str:
    return f"{claim.device} ({device_name(claim.device)})"


def timing_note(claim, t: dict) -> str:
    wall = {k: float(np.median(v)) for k, v in t["wall_per_case"].items()}
    return (f"Timing on {hardware(claim)}, {t['threads']} torch thread(s), clock: "
            f"{t['clock']}; training only (evaluation excluded); {t['reps']} interleaved "
            f"repeats of {t['block']} iterations per case (order rotated each repeat, "
            f"{t['warmup']} warm-up iterations), scaled to seconds per 100 iterations; medians "
            "over repeats and same-repeat ratios. Wall-clock times include any other load on the "
            "machine; "
            "median wall-clock s/100 it for reference: "
            + ", ".join(f"case {k} {v:.3g}" for k, v in wall.items()) + ".")
