"""One claim run: options (tier, seeds, device), the config it ran, and submitting its
result as a record compared with the accepted baseline. Used by the pytest plugin in
conftest.py; free of pytest so the CLI and scripts can use it too."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nasrepro.claims import baselines
from nasrepro.claims.records import ClaimResult, build_record, write_record
from nasrepro.claims.references import ClaimSpec, as_dict, claim_spec
from nasrepro.claims.verdicts import Verdict
from nasrepro.errors import ConfigError
from nasrepro.experiments.cache import config_hash
from nasrepro.measure.environment import fingerprint

TIERS = ("smoke", "full")
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; validates the choice."""
    if requested not in DEVICES:
        raise ConfigError(f"--device {requested!r}: use one of {', '.join(DEVICES)}")
    if requested == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass(frozen=True)
class RunOptions:
    """Suite-wide options of one run (from pytest's command line)."""

    tier: str = "smoke"
    seeds: int | None = None
    device: str = "cpu"
    accept_baselines: bool = False

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ConfigError(f"--tier {self.tier!r}: use one of {', '.join(TIERS)}")
        if self.seeds is not None and self.seeds < 1:
            raise ConfigError(f"--seeds {self.seeds}: need at least 1 seed")


@dataclass
class ClaimContext:
    """What a claim test needs: its spec, tier, seeds, device, and a way to submit."""

    claim: str
    options: RunOptions
    spec: ClaimSpec = field(init=False)
    started: float = field(default_factory=time.time)
    # whether the experiment read --seeds (seeds() / seed_option): only then did it change
    # what ran, and only then is the record marked as made with overrides
    seeds_read: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.spec = claim_spec(self.claim)

    @property
    def tier(self) -> str:
        return self.options.tier

    @property
    def device(self) -> str:
        return self.options.device

    def seeds(self, default: int) -> list[int]:
        """Seeds 0..n-1, n = --seeds if given, else the tier's default for this claim."""
        return list(range(self.seed_option or default))

    @property
    def seed_option(self) -> int | None:
        """--seeds as given (None: the tier's default), for an experiment that takes the
        count whole; reading it is what makes a --seeds run an override of this claim."""
        self.seeds_read = True
        return self.options.seeds

    def config(self, **budget: Any) -> dict[str, Any]:
        """The frozen config of this run (tier, device, plus the claim's budget)."""
        return {"claim": self.claim, "tier": self.tier, "device": self.device, **budget}

    @property
    def overrides(self) -> dict[str, Any]:
        """User options that replaced the tier's configuration of this claim (records are
        then not compared with the accepted baseline, and the report marks them). --seeds
        counts only where the experiment read it: a claim without seeds (REWARD-1, a LENET
        timing) ran its accepted configuration, and is compared as usual."""
        seeds = self.options.seeds
        return {"seeds": seeds} if seeds is not None and self.seeds_read else {}

    def _record(self, result: ClaimResult) -> dict[str, Any]:
        record = build_record(
            result, tier=self.tier, paper=self.spec.paper, spec=as_dict(self.spec),
            config_hash=config_hash(result.config), env=fingerprint(self.device),
            started=self.started)
        record["overrides"] = self.overrides
        return record

    def submit(self, result: ClaimResult) -> tuple[dict[str, Any], baselines.Comparison]:
        """Write the record (with baseline comparison) and accept it if asked to."""
        if result.claim != self.claim:
            raise ConfigError(f"result for {result.claim} submitted in {self.claim}'s test")
        record = self._record(result)
        path = baselines.path_for(record)
        try:
            comparison = baselines.compare(record, baselines.load_for(record), path=path)
        except baselines.BaselineError as exc:
            comparison = baselines.Comparison("invalid", [str(exc)], [], str(path))
        if self.options.accept_baselines and self.overrides:
            comparison.info.append(f"not accepted: made with user overrides {self.overrides}")
        elif self.options.accept_baselines and comparison.status != "match":
            baselines.accept(record)
            comparison = baselines.Comparison("accepted", comparison.problems,
                                              comparison.info, str(path))
        record["baseline"] = comparison.to_dict()
        write_record(record)
        return record, comparison

    def not_run(self, reason: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record a NOT RUN verdict (tier or hardware unavailable) with its reason."""
        result = ClaimResult(self.claim, verdict=Verdict.NOT_RUN, not_run_reason=reason,
                             config=config or self.config())
        record = self._record(result)
        record["baseline"] = {"status": "not-compared", "problems": [],
                              "info": [f"NOT RUN: {reason}"], "baseline_file": ""}
        write_record(record)
        return record
