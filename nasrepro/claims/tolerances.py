"""Tolerances as data: a kind, a value and a written rationale, and how each is checked.

Kinds
- absolute:      |ours - paper| <= value
- relative:      |ours - paper| <= value * |paper|
- std_multiple:  |ours - paper| <= value * std, std measured over our seeds (or given,
                 e.g. the paper's own std when `std` is set in the tolerance)
- one_sided:     a one-sided test of the claim's direction passes at level value (= alpha):
                 the measurement supplies the p-value
- at_most / at_least: ours <= paper + value  /  ours >= paper - value (one-sided bound)
- no_difference: for "X does not change Y" claims: a two-sided test for a difference at
                 level value (= alpha) finds none (p > alpha); the measurement supplies p
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from nasrepro.claims.verdicts import Verdict
from nasrepro.errors import ConfigError

KINDS = ("absolute", "relative", "std_multiple", "one_sided", "at_most", "at_least",
         "no_difference")


@dataclass(frozen=True)
class Tolerance:
    """How close our value must be to the paper's, and why that band."""

    kind: str
    value: float
    rationale: str
    std: float | None = None  # fixed std for std_multiple (e.g. the paper's); None = ours

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"tolerance kind {self.kind!r} unknown; use one of {KINDS}")
        if not self.rationale.strip():
            raise ConfigError("every tolerance needs a written rationale")
        if not math.isfinite(self.value) or self.value < 0:
            raise ConfigError(f"tolerance value must be finite and >= 0, got {self.value}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tolerance:
        """Build from the JSON form used in reference_results/papers/*.json."""
        try:
            return cls(kind=d["kind"], value=float(d["value"]), rationale=d["rationale"],
                       std=d.get("std"))
        except KeyError as exc:
            raise ConfigError(f"tolerance {d!r} lacks field {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self, reference: str = "paper") -> str:
        """Short human form for the report, e.g. '±1e-04 (abs)'; `reference` names what the
        bound is relative to (e.g. 'threshold 0' when a claim's threshold is checked)."""
        if self.kind == "absolute":
            return f"±{self.value:g} (abs)"
        if self.kind == "relative":
            return f"±{self.value:.0%} (rel)"
        if self.kind == "std_multiple":
            src = f"std={self.std:g}" if self.std is not None else "our seed std"
            return f"±{self.value:g}×{src}"
        if self.kind == "one_sided":
            return f"one-sided test, α={self.value:g}"
        if self.kind == "at_most":
            return f"≤ {reference}" + (f" + {self.value:g}" if self.value else "")
        if self.kind == "no_difference":
            return f"no difference at α={self.value:g} (two-sided test)"
        return f"≥ {reference}" + (f" − {self.value:g}" if self.value else "")

    def bounds(self, reference: float) -> list[float]:
        """The values of ours at which check() flips, for the kinds with fixed bounds
        (at_most, at_least, absolute, relative); empty for test-based kinds and std_multiple
        with our seed std (its bound moves with every run)."""
        v = self.value
        if self.kind == "at_most":
            return [reference + v]
        if self.kind == "at_least":
            return [reference - v]
        if self.kind == "absolute":
            return [reference - v, reference + v]
        if self.kind == "relative":
            return [reference - v * abs(reference), reference + v * abs(reference)]
        return []

    def check(self, ours: float, paper: float | None = None, *, std: float | None = None,
              p_value: float | None = None) -> tuple[Verdict, str]:
        """Compare a central value of ours with the paper's; return a verdict and a detail."""
        if self.kind == "one_sided":
            if p_value is None:
                raise ConfigError("one_sided tolerance needs the test's p_value")
            ok = p_value <= self.value
            return _v(ok), f"p = {p_value:.3g} {'<=' if ok else '>'} α = {self.value:g}"
        if self.kind == "no_difference":
            if p_value is None:
                raise ConfigError("no_difference tolerance needs the test's p_value")
            ok = p_value > self.value
            return _v(ok), (f"p = {p_value:.3g} > α = {self.value:g}: no difference found" if ok
                            else f"p = {p_value:.3g} <= α = {self.value:g}: a difference")
        if paper is None:
            raise ConfigError(f"{self.kind} tolerance needs a paper value")
        diff = ours - paper
        if self.kind == "absolute":
            band = self.value
        elif self.kind == "relative":
            band = self.value * abs(paper)
        elif self.kind == "std_multiple":
            s = self.std if self.std is not None else std
            if s is None:
                raise ConfigError("std_multiple tolerance needs a std (ours over seeds)")
            band = self.value * s
        elif self.kind == "at_most":
            ok = ours <= paper + self.value
            slack = f" + {self.value:g}" if self.value else ""
            return _v(ok), f"{ours:.6g} {'<=' if ok else '>'} {paper:g}{slack}"
        else:  # at_least
            ok = ours >= paper - self.value
            slack = f" − {self.value:g}" if self.value else ""
            return _v(ok), f"{ours:.6g} {'>=' if ok else '<'} {paper:g}{slack}"
        ok = abs(diff) <= band
        return _v(ok), f"|Δ| = {abs(diff):.3g} {'<=' if ok else '>'} {band:.3g}"


def _v(ok: bool) -> Verdict:
    return Verdict.REPRODUCED if ok else Verdict.NOT_REPRODUCED
