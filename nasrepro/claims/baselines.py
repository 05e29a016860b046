"""Accepted baselines: the distribution of our own earlier runs of a claim, and the rule that
says whether a new run moved.

What a baseline is keyed by (the regression gate's first question):
- hardware-independent claims (reward tables, NB201 look-ups and searches) keep one baseline
  per tier, `baselines/<tier>/<CLAIM>.json`, and must match on every machine;
- hardware-dependent claims (times, memory, CPU training numerics) keep one per machine class
  (`nasrepro.measure.environment.machine_class`: CPU capability, cores, torch version, GPU),
  `baselines/<tier>/<class>/<CLAIM>.json`. On a class with none the claim is judged and
  recorded, and the gate says "no baseline for machine class X" with the command that
  records one; it does not fail.

What a baseline holds: the config it ran, and one entry per accepted run (`runs`: seeds x
CPU code-path variants x repeats, pooled by `nasrepro baseline record`), each with its
verdict and every measurement's value (per-seed list or scalar). The comparison rule
(RULE below) is statistical and written into every baseline file.

A baseline changes only by an explicit accept; a config that changed in code, a verdict that
changed, or a measurement that left its band is news a reviewer must see.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasrepro.claims.records import number
from nasrepro.errors import ConfigError
from nasrepro.files import atomic_write_json, read_json
from nasrepro.paths import reference_dir

SCHEMA = 2
ALPHA = 0.01  # significance level of the rank test that confirms a move (asv-style)
RULE = (
    "A measurement has moved when its central value (median over seeds) lies outside "
    "[min, max] of the accepted runs' central values widened by the measurement's band (the "
    "smallest change that matters, with its rationale at the claim), AND, when the sample "
    "sizes let a two-sided Mann-Whitney test reach its level at all (2 / C(n+m, n) <= "
    f"{ALPHA}), that test of the new per-seed values against the accepted runs' pooled values "
    f"finds a difference at alpha {ALPHA} (asv's rule: larger than the noise floor and "
    "significant; with fewer values the range decides alone). The accepted runs span the "
    "seeds and the CPU code paths recorded for the class, so the band grows only with "
    "measured spread. A value that is not a finite number (none, NaN, inf) has moved unless an "
    "accepted run had the same kind of non-value, and so has a value where every accepted run "
    "had none. The verdict, and each item's verdict, must equal the accepted one when all "
    "accepted runs agree; when they disagree the verdict is hardware-dependent (on a knife "
    "edge) and is reported, not gated. A timing claim's verdict is also reported, not gated, "
    "when the accepted values of a measurement do not clear the bound where its verdict flips "
    "by at least their own range (run-to-run timing noise could carry the next run across it)."
)

# Statuses of a comparison and whether the test passes with it.
OK_STATUSES = ("match", "no-baseline-for-class", "not-compared", "accepted")
STATUSES = (*OK_STATUSES, "changed", "config-changed", "missing", "invalid")


class BaselineError(ConfigError):
    """An accepted baseline file that cannot be used (empty, partial, malformed)."""


# ----------------------------------------------------------------------------- where


def baseline_path(tier: str, claim: str, machine_class: str | None = None) -> Path:
    """baselines/<tier>/<CLAIM>.json, or baselines/<tier>/<class>/<CLAIM>.json."""
    base = reference_dir() / "baselines" / tier
    return (base / machine_class / f"{claim}.json") if machine_class else base / f"{claim}.json"


def baseline_key(record: dict[str, Any]) -> str | None:
    """The machine class a record's baseline is keyed by (None: hardware-independent)."""
    if record.get("hardware", "independent") == "independent":
        return None
    return record["env"]["machine_class"]


MIXED_CLASS_NOTE = (
    "ATen and the CPU math libraries ran at different levels (one of them capped alone), a "
    "mix no `nasrepro baseline record` run makes, so none is recorded for it; to check a "
    "lower class, cap ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS "
    "together, as `nasrepro baseline record --class` does (docs/gate.md)")


def is_mixed_class(record: dict[str, Any]) -> bool:
    """Whether a record's CPU class is a mix of levels ('...-default+mkl.avx512+...')."""
    return "+" in str(record.get("env", {}).get("machine_class", ""))


def record_command(tier: str, claims: Iterable[str], option: str = "") -> str:
    """The `nasrepro baseline record` command for these claim IDs or paper prefixes (`option`:
    e.g. ' --class avx2', from `class_option`)."""
    return (f"nasrepro baseline record --tier {tier} "
            + " ".join(f"--claim {c}" for c in claims) + option)


def class_option(record: dict[str, Any]) -> str:
    """' --class CAP' for a record whose CPU code path was capped (ATEN_CPU_CAPABILITY, the
    emulated lower class): `baseline record` without it would record this machine's native
    class, not the one the record was judged against."""
    cap = str(record.get("env", {}).get("code_path_env", {}).get("ATEN_CPU_CAPABILITY", ""))
    return f" --class {cap.lower()}" if cap.lower() in ("avx512", "avx2", "default") else ""


def path_for(record: dict[str, Any]) -> Path:
    """Where the baseline that a record is compared with lives."""
    return baseline_path(record["tier"], record["claim"], baseline_key(record))


# ----------------------------------------------------------------------------- load


def validate(base: Any, path: Path,
             command: str = "nasrepro baseline record --claim CLAIM") -> dict[str, Any]:
    """Check a baseline's schema; a bad one stops the claim with one line naming file + fix
    (`command`: the `baseline record` command that records it anew)."""
    fix = f"restore it (`git checkout -- {path}`) or record it anew (`{command}`)"

    def bad(what: str) -> BaselineError:
        return BaselineError(f"{path}: not a usable baseline ({what}); {fix}")

    if not isinstance(base, dict) or not base:
        raise bad("empty or not an object")
    if base.get("schema") != SCHEMA:
        raise bad(f"schema {base.get('schema')!r}, expected {SCHEMA}")
    for key, kind in (("claim", str), ("tier", str), ("config", dict), ("runs", list),
                      ("measurements", list)):
        if not isinstance(base.get(key), kind):
            raise bad(f"field {key!r} missing or not a {kind.__name__}")
    if not base["runs"]:
        raise bad("no accepted runs")
    names = []
    for m in base["measurements"]:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or "band" not in m:
            raise bad(f"measurement entry {m!r} lacks name/band")
        names.append(m["name"])
    for i, run in enumerate(base["runs"]):
        if not isinstance(run, dict) or not isinstance(run.get("verdict"), str) \
                or not isinstance(run.get("values"), dict):
            raise bad(f"run {i} lacks verdict/values")
        missing = [n for n in names if n not in run["values"]]
        if missing:
            raise bad(f"run {i} lacks values of {missing[:3]}")
    return base


def load_baseline(tier: str, claim: str, machine_class: str | None = None
                  ) -> dict[str, Any] | None:
    """The validated baseline, or None when there is no file."""
    path = baseline_path(tier, claim, machine_class)
    if not path.exists():
        return None
    if path.is_dir():
        raise BaselineError(f"{path}: a folder where a baseline file belongs; remove it")
    return validate(read_json(path), path, record_command(tier, [claim]))


def load_for(record: dict[str, Any]) -> dict[str, Any] | None:
    """The baseline a record is compared with (its class's, for hardware-dependent claims)."""
    return load_baseline(record["tier"], record["claim"], baseline_key(record))


# ----------------------------------------------------------------------------- accept


def _run_entry(record: dict[str, Any]) -> dict[str, Any]:
    env = record.get("env", {})
    return {
        "verdict": record["verdict"],
        "variant": _variant_name(env.get("code_path_env", {})),
        "emulated": "ATEN_CPU_CAPABILITY" in env.get("code_path_env", {}),
        "cpu_model": env.get("cpu_model"),
        "device_name": env.get("device_name"),
        "git_sha": env.get("git_sha"),
        "finished_at": record.get("finished_at"),
        "values": {m["name"]: m["ours"] for m in record.get("measurements", [])},
        "p_values": {m["name"]: m["p_value"] for m in record.get("measurements", [])
                     if m.get("p_value") is not None},
        # each item's verdict: an item that flips while the claim's verdict stays (a PARTIAL
        # claim, or a widened tolerance) is news too
        "item_verdicts": {m["name"]: m.get("verdict") for m in record.get("measurements", [])},
    }


def _variant_name(code_path_env: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(code_path_env.items())) or "native"


def build_baseline(records: list[dict[str, Any]], *, force: bool = False) -> dict[str, Any]:
    """Pool records of one claim, tier, config (and machine class) into a baseline."""
    if not records:
        raise ConfigError("no records to accept")
    first = records[0]
    claim, tier = first["claim"], first["tier"]
    for r in records:
        if r.get("verdict") == "NOT RUN" and not r.get("measurements"):
            raise ConfigError(f"{claim}: a NOT RUN record without measurements cannot be a "
                              f"baseline ({r.get('not_run_reason', '')})")
        if (r["claim"], r["tier"]) != (claim, tier):
            raise ConfigError(f"cannot pool {r['claim']} [{r['tier']}] with {claim} [{tier}]")
        if r.get("overrides") and not force:
            raise ConfigError(
                f"{claim}: the record was made with user overrides {r['overrides']} (not the "
                "tier's configuration); a baseline of it would switch the regression check "
                "off for normal runs. Rerun without them, or pass --force")
        diffs = config_diff(first["config"], r["config"])
        if diffs:
            raise ConfigError(f"{claim}: records ran different configs ({'; '.join(diffs)})")
        if baseline_key(r) != baseline_key(first):
            raise ConfigError(f"{claim}: records of machine classes {baseline_key(first)} and "
                              f"{baseline_key(r)} cannot be pooled")
        names = [m["name"] for m in r.get("measurements", [])]
        if names != [m["name"] for m in first.get("measurements", [])]:
            raise ConfigError(f"{claim}: records measured different quantities")
    return {
        "schema": SCHEMA,
        "claim": claim,
        "tier": tier,
        "paper": first.get("paper"),
        "hardware": first.get("hardware", "independent"),
        "machine_class": baseline_key(first),
        "config": first["config"],
        "config_hash": first.get("config_hash"),
        "rule": RULE,
        "measurements": [{"name": m["name"], "band": m.get("band"), "unit": m.get("unit", ""),
                          "paper": m.get("paper")} for m in first.get("measurements", [])],
        "runs": [_run_entry(r) for r in records],
        # the first accepted run's tables (per-seed values behind its tests), so a reader can
        # recompute a p-value from the committed baseline alone
        "tables": first.get("tables", []),
    }


def upgrade_schema1(old: dict[str, Any], hardware: str) -> dict[str, Any]:
    """A schema-1 baseline (one accepted record with its measurements) as a schema-2 baseline
    of that one run: the same values, nothing re-run."""
    record = {k: v for k, v in old.items() if k not in ("baseline",)}
    record["hardware"] = hardware
    record.setdefault("overrides", {})
    return build_baseline([record])


def accept(record: dict[str, Any] | list[dict[str, Any]], *, force: bool = False,
           add: bool = False) -> Path:
    """Store one record (or several, pooled) as the accepted baseline of its claim; `add`
    pools them with the runs already accepted."""
    records = record if isinstance(record, list) else [record]
    base = build_baseline(records, force=force)
    path = path_for(records[0])
    if add:
        old = load_for(records[0])
        if old is not None:
            diffs = config_diff(old["config"], base["config"])
            if diffs:
                raise ConfigError(f"{base['claim']}: cannot add runs of another config to the "
                                  f"accepted one ({'; '.join(diffs)})")
            base["runs"] = old["runs"] + base["runs"]
    atomic_write_json(path, base)
    return path


def accept_from_results(claim: str, tier: str, *, force: bool = False,
                        reports: list[Path] | None = None, add: bool = False) -> Path:
    """Accept the latest record(s) of a claim (the CLI's `baseline accept`): from this
    checkout's reports, or pooled from several reports folders."""
    from nasrepro.claims.records import read_record, record_path

    sources = [record_path(tier, claim, Path(r)) for r in reports] if reports \
        else [record_path(tier, claim)]
    records = []
    for src in sources:
        if not src.is_file():
            raise ConfigError(f"no record for {claim} in tier {tier} at {src}; run the claim "
                              f"first (nasrepro run --tier {tier} --claim {claim})")
        records.append(read_record(src))
    return accept(records, force=force, add=add)


# ----------------------------------------------------------------------------- compare


@dataclass
class Comparison:
    """Outcome of comparing a record with its accepted baseline."""

    status: str
    problems: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    baseline_file: str = ""
    emulated_only: bool = False  # a timing claim whose class was recorded by emulation only

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_dict(self) -> dict[str, Any]:
        out = {"status": self.status, "problems": self.problems, "info": self.info,
               "baseline_file": self.baseline_file}
        return {**out, "emulated_only": True} if self.emulated_only else out


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(cfg, dict):
        out: dict[str, Any] = {}
        for k, v in cfg.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(cfg, (list, tuple)):
        return {prefix: list(cfg)}
    return {prefix: cfg}


def _as_json(cfg: Any) -> Any:
    """The config as it reads back from a JSON file (tuples -> lists, numpy -> plain)."""
    from nasrepro.files import _json_default

    return json.loads(json.dumps(cfg, sort_keys=True, default=_json_default))


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'key: old -> new' for every flattened key that differs (added/removed keys too)."""
    a, b = _flatten(_as_json(old)), _flatten(_as_json(new))
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, "<absent>"), b.get(k, "<absent>")
        if va != vb:
            out.append(f"{k}: {va!r} -> {vb!r}")
    return out


def _center(value: Any) -> float | None:
    import numpy as np

    if value is None:
        return None
    if isinstance(value, (int, float, str)):
        return number(value)
    arr = [number(v) for v in value]
    return float(np.median(arr)) if arr else None


def _samples(value: Any) -> list[float]:
    if value is None:
        return []
    if isinstance(value, (int, float, str)):
        return [number(value)]
    return [number(v) for v in value]


def rank_test_can_confirm(n: int, m: int) -> bool:
    """Whether a two-sided rank test of n vs m values can reach ALPHA at all: its smallest
    possible p is 2 / C(n+m, n) (complete separation), e.g. 0.024 for 3 vs 6 values."""
    return n >= 1 and m >= 1 and 2.0 / math.comb(n + m, n) <= ALPHA


def _no_value_kind(center: float | None) -> str | None:
    """What a central value that is not a finite number is ('no value', 'NaN', '+inf',
    '-inf'); None for a finite number."""
    if center is None:
        return "no value"
    if math.isnan(center):
        return "NaN"
    return None if math.isfinite(center) else ("+inf" if center > 0 else "-inf")


def measurement_moved(name: str, new: Any, accepted: list[Any], band: float
                      ) -> tuple[bool, str]:
    """Apply RULE to one measurement: (moved?, one-line explanation). A value that is not a
    finite number (none, NaN, inf) now or in every accepted run moves unless an accepted run
    had the same kind of non-value: a claim whose number goes missing or NaN, or appears
    where the accepted runs had none, is news."""
    c = _center(new)
    values = [_center(v) for v in accepted]
    centers = [x for x in values if _no_value_kind(x) is None]
    odd = {_no_value_kind(x) for x in values} - {None}
    kind = _no_value_kind(c)
    if kind is not None or not centers:
        if kind in odd or not values:
            return False, ""
        had = (f"[{min(centers):.6g}, {max(centers):.6g}]" if centers
               else " or ".join(sorted(odd)))
        now = kind or f"{c:.6g}"
        return True, f"{name}: {now} now, the accepted runs had {had}"
    lo, hi = min(centers) - band, max(centers) + band
    if lo <= c <= hi:
        return False, ""
    rng = (f"{min(centers):.6g}" if min(centers) == max(centers)
           else f"[{min(centers):.6g}, {max(centers):.6g}]")
    what = (f"{name}: {c:.6g} left the accepted {rng} ± {band:.3g} "
            f"({len(centers)} accepted run(s))")
    new_s = _samples(new)
    pooled = [x for v in accepted for x in _samples(v)]
    if rank_test_can_confirm(len(new_s), len(pooled)):
        from nasrepro.claims.stats import mann_whitney_two_sided

        p = mann_whitney_two_sided(new_s, pooled)["p"]
        if p > ALPHA:
            return False, (f"{what}, but a rank test of {len(new_s)} vs {len(pooled)} values "
                           f"finds no difference (p = {p:.3g} > {ALPHA}): noise, not gated")
        what += f"; rank test p = {p:.3g}"
    return True, what


def verdict_bounds(measurement: dict[str, Any]) -> list[float]:
    """The values at which a recorded measurement's verdict flips (from its tolerance and
    reference); empty where the verdict is a test's p-value or depends on our seed std."""
    from nasrepro.claims.tolerances import Tolerance

    tol = measurement.get("tolerance")
    ref = measurement.get("threshold")
    ref = measurement.get("paper") if ref is None else ref
    if not tol or ref is None:
        return []
    return Tolerance.from_dict(tol).bounds(float(ref))


def knife_edges(record: dict[str, Any], baseline: dict[str, Any]) -> dict[str, str]:
    """The measurements whose accepted central values (2 runs or more) do not clear a verdict
    bound by at least their own range, one line each. For a timing claim these make the
    verdict the noise's call, as LENET-2 was on an Intel VM (accepted 0.125-0.231, bound 0.1:
    the next run measured 0.035). {measurement name: the line}."""
    out = {}
    for m in record.get("measurements", []):
        centers = [c for r in baseline["runs"]
                   if (c := _center(r["values"].get(m["name"]))) is not None]
        if len(centers) < 2:
            continue
        lo, hi = min(centers), max(centers)
        width = hi - lo
        for b in verdict_bounds(m):
            if lo - width <= b <= hi + width:
                out[m["name"]] = (f"{m['name']}: accepted [{lo:.3g}, {hi:.3g}] is within its "
                                  f"own range ({width:.3g}) of the bound {b:.3g} where the "
                                  "verdict flips")
    return out


def compare(record: dict[str, Any], baseline: dict[str, Any] | None,
            *, path: Path | None = None) -> Comparison:
    """Judge a record against its accepted baseline (see RULE and the module docstring)."""
    claim, tier = record["claim"], record["tier"]
    where = str(path or path_for(record))
    key = baseline_key(record)
    if record.get("overrides"):
        return Comparison("not-compared", [], [
            f"run with user overrides {record['overrides']}: the accepted configuration did "
            "not run, so there is nothing to compare with"], where)
    if baseline is None:
        cmd = record_command(tier, [claim], class_option(record))
        if key is not None:
            how = MIXED_CLASS_NOTE if is_mixed_class(record) else f"record one with `{cmd}`"
            return Comparison("no-baseline-for-class", [], [
                f"no baseline for machine class {key}: this hardware-dependent claim was "
                f"judged but not regression-checked; {how}"], where)
        return Comparison("missing", [
            f"no accepted {tier} baseline for {claim} at {where}: review the record, then "
            f"record one with `{cmd}`"], [], where)
    if record.get("timing") and all(r.get("emulated") for r in baseline["runs"]):
        cpu = baseline["runs"][0].get("cpu_model")
        return Comparison("no-baseline-for-class", [], [
            f"the accepted runs of machine class {key} emulated its CPU code path on a "
            f"{cpu} (ATEN_CPU_CAPABILITY); times depend on the real microarchitecture, so "
            "this timing claim is judged and recorded but not gated until it is recorded on "
            f"a real machine of the class (`{record_command(tier, [claim])}`)"], where,
            emulated_only=True)
    dev_then, dev_now = baseline["config"].get("device"), record["config"].get("device")
    if dev_then != dev_now:
        return Comparison("not-compared", [], [
            f"accepted on device {dev_then}, this run on {dev_now} (--device): a baseline of "
            "one device says nothing about the other"], where)
    diffs = config_diff(baseline["config"], record["config"])
    if diffs:
        return Comparison("config-changed", [
            f"configuration differs from the accepted one: {'; '.join(diffs)}; review and "
            f"accept (`{record_command(tier, [claim], class_option(record))}`)"], [], where)
    problems, info = [], []
    verdicts = sorted({r["verdict"] for r in baseline["runs"]})
    edges = knife_edges(record, baseline) if record.get("timing") else {}
    if len(verdicts) == 1 and edges:
        info.append(f"verdict is on a timing knife edge (accepted {verdicts[0]}, this run "
                    f"{record['verdict']}; reported, not gated): {'; '.join(edges.values())}")
    elif len(verdicts) == 1:
        if verdicts[0] != record["verdict"]:
            problems.append(f"verdict changed: accepted {verdicts[0]}, now {record['verdict']}")
    else:
        counts = ", ".join(f"{v}: {sum(r['verdict'] == v for r in baseline['runs'])}"
                           for v in verdicts)
        info.append(f"verdict is hardware-dependent: the accepted runs disagree ({counts}); "
                    f"this run: {record['verdict']} (reported, not gated)")
    base_m = {m["name"]: m for m in baseline["measurements"]}
    for m in record.get("measurements", []):
        b = base_m.get(m["name"])
        if b is None:
            problems.append(f"measurement {m['name']!r} is new (not in the baseline)")
            continue
        if b.get("band") is None:  # a timing: its verdict is gated, not its value
            continue
        accepted = [r["values"][m["name"]] for r in baseline["runs"]]
        moved, why = measurement_moved(m["name"], m["ours"], accepted, float(b["band"]))
        (problems if moved else info).extend([why] if why else [])
    missing = set(base_m) - {m["name"] for m in record.get("measurements", [])}
    problems.extend(f"measurement {n!r} disappeared" for n in sorted(missing))
    gated, reported = item_verdict_changes(record, baseline, edges)
    problems.extend(gated)
    info.extend(reported)
    return Comparison("changed" if problems else "match", problems, info, where)


def item_verdict_changes(record: dict[str, Any], baseline: dict[str, Any],
                         edges: Iterable[str]) -> tuple[list[str], list[str]]:
    """(gated, reported) lines for the items whose verdict differs from the accepted one.
    Gated like the claim's verdict: when every accepted run gave the item one verdict and the
    item is not on a timing knife edge (`edges`); accepted runs that disagree make it
    hardware-dependent (not gated). Baselines accepted before runs stored item verdicts
    compare the claim's verdict only, and say so."""
    runs = baseline["runs"]
    if not all("item_verdicts" in r for r in runs):
        return [], ["the accepted runs predate per-item verdicts: only the claim's verdict is "
                    "compared (re-record the baseline to gate each item's)"]
    edge_names = set(edges)
    gated, reported = [], []
    for m in record.get("measurements", []):
        accepted = {r["item_verdicts"].get(m["name"]) for r in runs}
        if m["name"] not in runs[0]["item_verdicts"] or len(accepted) != 1:
            continue  # new (flagged above) or hardware-dependent
        then, now = accepted.pop(), m.get("verdict")
        if then == now:
            continue
        line = f"{m['name']}: verdict changed: accepted {then}, now {now}"
        if m["name"] in edge_names:
            reported.append(line + " (on a timing knife edge: reported, not gated)")
        else:
            gated.append(line)
    return gated, reported
