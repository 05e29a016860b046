"""--seeds marks a record as made with overrides (not compared with the baseline) only where
the claim's experiment read it."""

import json
import os
import subprocess
import sys
from pathlib import Path

from nasrepro.claims.session import ClaimContext, RunOptions

REPO = Path(__file__).resolve().parents[2]


def test_seeds_is_an_override_only_once_the_experiment_reads_it():
    """Found 2026-12-07: `--seeds 2` marked REWARD-1 (no seeds) and the LENET timing claims
    'overrides seeds=2; not compared' although they ran their accepted configuration."""
    unread = ClaimContext("REWARD-1", RunOptions(seeds=2))
    assert unread.overrides == {}
    counted = ClaimContext("LENET-1", RunOptions(seeds=2))
    assert counted.seeds(5) == [0, 1] and counted.overrides == {"seeds": 2}
    whole = ClaimContext("OPSUB-1", RunOptions(seeds=2))
    assert whole.seed_option == 2 and whole.overrides == {"seeds": 2}
    default = ClaimContext("LENET-1", RunOptions())
    assert default.seeds(5) == list(range(5)) and default.overrides == {}


def test_a_seedless_claim_run_with_seeds_is_still_gated(tmp_path):
    """A real pytest run of REWARD-1 with --seeds 2: its record has no overrides and is
    compared with the accepted baseline like any other run."""
    env = {**os.environ, "NASREPRO_REPORTS": str(tmp_path), "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(REPO / "suite" / "reward" / "test_reward_1.py"), "--seeds", "2"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:]
    rec = json.loads((tmp_path / "results" / "smoke" / "REWARD-1.json").read_text())
    assert rec["overrides"] == {} and rec["baseline"]["status"] == "match", rec["baseline"]
