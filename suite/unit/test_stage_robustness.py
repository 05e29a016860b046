"""Stage machinery under misuse and damage (found by an audit, each reproduced with a real
command first): a budget with one OPSUB claim selected, corrupt stored results, Ray stage
errors, bundle paths that are not what they should be."""

import argparse

import pytest

from nasrepro.experiments import opsub


@pytest.mark.parametrize("claim", ["OPSUB-2", "OPSUB-3", "OPSUB-4", "opsub-4", "OPSUB"])
def test_budget_drives_the_stages_for_any_opsub_claim(monkeypatch, claim):
    """`nasrepro run --claim OPSUB-3 --budget 5s` said 'no OPSUB claim is selected' and the
    claim test then trained every stage, unbudgeted: only OPSUB-1 and -5 counted."""
    from nasrepro.claims import session
    from nasrepro.stages import cli, executors, runner

    seen = {}
    monkeypatch.setattr(session, "resolve_device", lambda requested: "cpu")
    monkeypatch.setitem(opsub.TIERS["smoke"], "needs_cuda", False)
    monkeypatch.setattr(executors, "make_executor", lambda *a: None)
    monkeypatch.setattr(runner, "run_opsub_stages",
                        lambda tier, dev, seeds, ex, jobs, budget_s, *a, **k:
                        seen.setdefault("budget", budget_s))
    args = argparse.Namespace(budget="5s", jobs=None, executor="local", address=None,
                              claim=[claim], device="auto", tier="smoke", seeds=None)
    env = cli.run_stages_first(args, started=0.0)
    assert env is not None and env[opsub.STAGES_ENV] == "stored"
    assert seen == {"budget": 5.0}


def test_budget_without_an_opsub_claim_has_no_effect(capsys):
    from nasrepro.stages import cli

    args = argparse.Namespace(budget="5s", jobs=None, executor="local", address=None,
                              claim=["LENET-3"], device="auto", tier="smoke", seeds=None)
    assert cli.run_stages_first(args, started=0.0) is None
    assert "no OPSUB claim is selected" in capsys.readouterr().out
