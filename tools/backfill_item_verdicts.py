"""One-off migration (2026-12-07): give the accepted runs of committed baselines their
per-item verdicts, which `nasrepro.claims.baselines` stores for runs accepted from now on.

Each accepted run keeps every measurement's value (and p-value), so its item verdicts are
re-judged here from those values with the claim's tolerances of this commit, taken from a
record the same code wrote (`--records`: a reports/results folder of a run at this commit).
An item whose verdict a claim forces rather than judges (no tolerance, no value, or a
re-judge of the record's own value that disagrees with it) takes the record's verdict only
where it cannot depend on the value (NOT RUN in a claim not run) or where the run's value
equals the record's. A baseline is written only when every run is fully determined AND the
items of every run combine into that run's stored claim verdict (the check that the
re-judge agrees with what was accepted); the others are listed and left as they are (the
gate then compares their claim verdict only, and says so).

    python tools/backfill_item_verdicts.py --records /path/to/reports/results [--write]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from nasrepro.claims import Measurement, Tolerance
from nasrepro.claims.baselines import RULE
from nasrepro.claims.verdicts import combine
from nasrepro.files import atomic_write_json
from nasrepro.paths import reference_dir


def _judged(m: dict[str, Any], value: Any, p_value: float | None) -> str | None:
    """The verdict the record's tolerance gives `value`; None where the claim forces it."""
    if m.get("tolerance") is None or value is None:
        return None
    x = Measurement(m["name"], value, paper=m.get("paper"), threshold=m.get("threshold"),
                    tolerance=Tolerance.from_dict(m["tolerance"]), p_value=p_value)
    return str(x.evaluate())


def item_verdicts(run: dict[str, Any], record: dict[str, Any]) -> dict[str, str] | None:
    """The run's item verdicts, or None when one of them cannot be determined."""
    out = {}
    for m in record["measurements"]:
        name = m["name"]
        if name not in run["values"]:
            return None
        value, p = run["values"][name], run.get("p_values", {}).get(name)
        forced = _judged(m, m["ours"], m.get("p_value")) != m["verdict"]
        if not forced:
            out[name] = _judged(m, value, p)
        elif m["verdict"] == "NOT RUN" and run["verdict"] == "NOT RUN":
            out[name] = "NOT RUN"
        elif value == m["ours"]:
            out[name] = m["verdict"]
        else:
            return None
    if set(out) != set(run["values"]):
        return None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=Path, required=True,
                    help="reports/results folder of a run at this commit (has <tier>/<CLAIM>.json)")
    ap.add_argument("--write", action="store_true", help="write the baselines (else: dry run)")
    a = ap.parse_args()
    sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                         text=True, check=True).stdout.strip()
    for path in sorted((reference_dir() / "baselines").rglob("*.json")):
        base = json.loads(path.read_text())
        where = path.relative_to(reference_dir())
        if all("item_verdicts" in r for r in base["runs"]):
            print(f"{where}: has item verdicts")
            continue
        rec_path = a.records / base["tier"] / f"{base['claim']}.json"
        if not rec_path.is_file():
            print(f"{where}: LEFT (no {base['tier']} record of {base['claim']} to take "
                  "tolerances from)")
            continue
        record = json.loads(rec_path.read_text())
        found = [item_verdicts(r, record) for r in base["runs"]]
        bad = [i for i, (r, v) in enumerate(zip(base["runs"], found, strict=True))
               if v is None or str(combine(v.values())) != r["verdict"]]
        if bad:
            print(f"{where}: LEFT (runs {bad}: an item not determined, or items that do not "
                  "combine into the accepted claim verdict)")
            continue
        base["rule"] = RULE  # the rule these baselines are now compared by
        for r, v in zip(base["runs"], found, strict=True):
            r["item_verdicts"] = v
            r["item_verdicts_from"] = (f"re-judged from this run's stored values with the "
                                       f"tolerances of git {sha} "
                                       "(tools/backfill_item_verdicts.py)")
        print(f"{where}: {len(found)} run(s) given item verdicts")
        if a.write:
            atomic_write_json(path, base)


if __name__ == "__main__":
    main()
