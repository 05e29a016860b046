"""Old (hand-written, git history) vs new (scipy.stats) tests on the accepted baselines.

Usage, from the repository root: python docs/stats_old_vs_new.py > /tmp/table.md
The old module is read from git at OLD_COMMIT (the last commit with the hand-written
Mann-Whitney / Welch / incomplete beta), not copied here. For every baseline file
(reference_results/baselines/<tier>/<claim>.json) and every ordered pair of its
measurements that hold per-seed lists (`ours`), both versions test 'a < b'.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

from nasrepro.claims import stats as new

OLD_COMMIT = "d3661c5"


def old_module() -> types.ModuleType:
    """The hand-written stats.py as of OLD_COMMIT, imported from git."""
    src = subprocess.run(["git", "show", f"{OLD_COMMIT}:nasrepro/claims/stats.py"],
                         check=True, capture_output=True, text=True).stdout
    mod = types.ModuleType("old_stats")
    exec(compile(src, f"{OLD_COMMIT}:nasrepro/claims/stats.py", "exec"), mod.__dict__)
    return mod


def _rel(a: float, b: float) -> float:
    """Relative difference of two p-values (0 when both are 0)."""
    return abs(a - b) / max(abs(a), abs(b)) if max(abs(a), abs(b)) > 0 else 0.0


def main() -> None:
    """Print the comparison table (markdown)."""
    old = old_module()
    rows = []
    for path in sorted(Path("reference_results/baselines").glob("*/*.json")):
        ms = [m for m in json.loads(path.read_text())["measurements"]
              if isinstance(m.get("ours"), list) and len(m["ours"]) >= 2]
        agg = {"pairs": 0, "asym": 0, "exact": 0, "d_asym": 0.0, "d_exact": 0.0,
               "d_welch": 0.0, "d_u": 0.0, "flips": 0, "r_asym": 0.0, "r_welch": 0.0}
        for a, b in itertools.permutations(ms, 2):
            x, y = np.asarray(a["ours"], float), np.asarray(b["ours"], float)
            o, n = old.mann_whitney_less(x, y), new.mann_whitney_less(x, y)
            agg["pairs"] += 1
            agg["d_u"] = max(agg["d_u"], abs(o["u"] - n["u"]))
            key = "exact" if n["method"] == "exact" else "asym"
            agg[key] += 1
            agg[f"d_{key}"] = max(agg[f"d_{key}"], abs(o["p"] - n["p"]))
            if key == "asym":
                agg["r_asym"] = max(agg["r_asym"], _rel(o["p"], n["p"]))
            agg["flips"] += (o["p"] <= 0.05) != (n["p"] <= 0.05)
            if x.std() + y.std() > 0:
                ow, nw = old.welch_t_less(x, y), new.welch_t_less(x, y)
                agg["d_welch"] = max(agg["d_welch"], abs(ow["p"] - nw["p"]))
                agg["r_welch"] = max(agg["r_welch"], _rel(ow["p"], nw["p"]))
        if agg["pairs"]:
            rows.append((f"{path.parent.name}/{path.stem}", agg))
    print("| baseline | ordered pairs | MW asymptotic: n, max abs dp (rel) "
          "| MW exact: n, max abs dp | max abs dU | Welch max abs dp (rel) "
          "| verdict flips at 0.05 |")
    print("|---|---|---|---|---|---|---|")
    for name, a in rows:
        print(f"| {name} | {a['pairs']} | {a['asym']}, {a['d_asym']:.1e} (rel {a['r_asym']:.1e}) | "
              f"{a['exact']}, {a['d_exact']:.1e} | {a['d_u']:g} | {a['d_welch']:.1e} "
              f"(rel {a['r_welch']:.1e}) | {a['flips']} |")


if __name__ == "__main__":
    sys.exit(main())
