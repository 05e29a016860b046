"""The per-folder time budgets of the default run add up to less than the brief's limit for
the whole default run (15 minutes on 2 cores), with the tox setup on top."""

from nasrepro.experiments import SMOKE_BUDGET_S

DEFAULT_RUN_LIMIT_S = 15 * 60
TOX_SETUP_S = 60  # measured 31 s (AMD) and 55 s (Intel): fresh venv, torch from the local wheel


def test_folder_budgets_fit_the_default_run_limit():
    assert set(SMOKE_BUDGET_S) == {"unit", "reward", "gcnas", "lenet", "opsub", "bench"}
    assert sum(SMOKE_BUDGET_S.values()) + TOX_SETUP_S <= DEFAULT_RUN_LIMIT_S
