"""The papers' numbers, claims and tolerances, loaded from reference_results/papers/*.json.

One JSON file per paper:
  {"paper": "REWARD", "title": ..., "citation": ...,
   "hardware": "independent" | "dependent"   (default of the paper's claims; a claim may
                                              override it: dependent = per machine class),
   "claims": {"REWARD-1": {"statement", "interpretation", "tiers": {"smoke": .., "full": ..},
                          "test": "suite/reward/test_reward_1.py",
                          "tolerances": {"name": {kind, value, rationale}},
                          "values": {"key": {"value": 0.84334, "source": "Table 1, case a, ...",
                                     "threshold": false}}}}}
                          (threshold true: the value is the claim's bound, e.g. 'stays
                          below 0.1', not a number the paper prints; the report's paper
                          column then shows '—')
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasrepro.claims.tolerances import Tolerance
from nasrepro.errors import ConfigError
from nasrepro.files import read_json
from nasrepro.paths import reference_dir, repo_root


@dataclass(frozen=True)
class PaperValue:
    """One number from a paper with its provenance (paper, table/figure, cell)."""

    key: str
    value: float
    source: str
    threshold: bool = False  # True: a bound of the claim (ours), not a number the paper prints

    def fields(self) -> dict[str, Any]:
        """Measurement keywords: `paper` (None for a threshold), `threshold`, `source`."""
        return {"paper": None if self.threshold else self.value,
                "threshold": self.value if self.threshold else None, "source": self.source}


@dataclass
class ClaimSpec:
    """A claim of a paper: its statement, interpretation notes, tiers, values, tolerances."""

    id: str
    paper: str
    statement: str
    interpretation: str = ""
    tiers: dict[str, str] = field(default_factory=dict)
    test: str = ""
    values: dict[str, PaperValue] = field(default_factory=dict)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    hardware: str = "independent"  # "dependent": baselines per machine class (see baselines)
    timing: bool = False  # judged on measured speed: needs a real machine of the class

    def value(self, key: str) -> PaperValue:
        """A paper number by key; a clear error if the reference file lacks it."""
        try:
            return self.values[key]
        except KeyError:
            raise ConfigError(f"{self.id}: no paper value {key!r} in reference file; "
                              f"known: {sorted(self.values)}") from None

    def tolerance(self, name: str = "default") -> Tolerance:
        """A tolerance by name (each with its rationale)."""
        try:
            return self.tolerances[name]
        except KeyError:
            raise ConfigError(f"{self.id}: no tolerance {name!r}; "
                              f"known: {sorted(self.tolerances)}") from None

    @property
    def implemented(self) -> bool:
        """True when the claim's test module exists in this checkout."""
        return bool(self.test) and (repo_root() / self.test).is_file()


@dataclass
class Paper:
    """A paper's metadata and claims."""

    id: str
    title: str
    citation: str
    claims: dict[str, ClaimSpec]
    path: Path


def _parse_paper(path: Path) -> Paper:
    raw = read_json(path)
    try:
        pid = raw["paper"]
        default_hw = raw.get("hardware", "independent")
        claims = {}
        for cid, c in raw["claims"].items():
            values = {k: PaperValue(k, float(v["value"]), v["source"],
                                     bool(v.get("threshold", False)))
                      for k, v in c.get("values", {}).items()}
            tols = {k: Tolerance.from_dict(t) for k, t in c.get("tolerances", {}).items()}
            claims[cid] = ClaimSpec(
                id=cid, paper=pid, statement=c["statement"],
                interpretation=c.get("interpretation", ""), tiers=c.get("tiers", {}),
                test=c.get("test", ""), values=values, tolerances=tols,
                hardware=c.get("hardware", default_hw), timing=bool(c.get("timing", False)))
            if claims[cid].hardware not in ("independent", "dependent"):
                raise ValueError(f"{cid}: hardware must be 'independent' or 'dependent'")
        return Paper(id=pid, title=raw["title"], citation=raw.get("citation", ""),
                     claims=claims, path=path)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed paper reference file ({exc!r})") from exc


@functools.cache
def load_papers(root: Path | None = None) -> dict[str, Paper]:
    """All papers under reference_results/papers, keyed by paper ID, in file-name order."""
    folder = (root or reference_dir()) / "papers"
    return {p.id: p for p in (_parse_paper(f) for f in sorted(folder.glob("*.json")))}


def all_claims() -> dict[str, ClaimSpec]:
    """Every claim of every paper, keyed by claim ID."""
    out: dict[str, ClaimSpec] = {}
    for paper in load_papers().values():
        out.update(paper.claims)
    return out


def claim_spec(claim_id: str) -> ClaimSpec:
    """One claim by ID, with a helpful error for unknown IDs."""
    claims = all_claims()
    try:
        return claims[claim_id]
    except KeyError:
        close = difflib.get_close_matches(claim_id.upper(), list(claims), n=3, cutoff=0.5)
        hint = (f"did you mean {', '.join(close)}?" if close else
                f"papers: {', '.join(sorted({paper_of(c) for c in claims}))}")
        raise ConfigError(f"unknown claim {claim_id!r}; {hint} (`nasrepro list` shows every "
                          "claim ID)") from None


def paper_of(claim_id: str) -> str:
    """Paper ID from a claim ID ('REWARD-4' -> 'REWARD')."""
    return claim_id.rsplit("-", 1)[0]


def as_dict(spec: ClaimSpec) -> dict[str, Any]:
    """The parts of a claim spec that a record carries."""
    return {"statement": spec.statement, "interpretation": spec.interpretation,
            "hardware": spec.hardware, "timing": spec.timing}
