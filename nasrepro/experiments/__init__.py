"""Experiments: one module per paper (reward, lenet, opsub, gcnas), each a function of a
frozen config with its per-tier budgets in a TIERS table, plus the on-disk result cache."""

# Time budget of each suite folder in the default run (smoke tier), seconds of pytest time on
# the slowest machine class of the project's kind (2-core AVX2), quiet. Measured figures and
# the commands are in README.md ("Tiers"); the test run prints the table at its end and flags
# a folder over its budget (conftest.py).
SMOKE_BUDGET_S: dict[str, float] = {
    "unit": 150.0, "reward": 45.0, "gcnas": 90.0, "lenet": 540.0, "opsub": 150.0,
    "bench": 30.0,
}
