"""The mutation catalogue stays runnable: every mutant still applies to this checkout and
names tests that exist. A refactor that moves a mutated line fails here, in the default
run, instead of turning the mutant `stale` in the next nightly."""

import pytest

from nasrepro import mutants
from nasrepro.claims.references import all_claims
from nasrepro.errors import ConfigError
from nasrepro.paths import repo_root


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_mutant_applies_once_and_names_existing_tests(mutant):
    text = (repo_root() / mutant.path).read_text(encoding="utf-8")
    assert text.count(mutant.old) == 1, f"{mutant.name}: stale; fix its text in mutants.py"
    assert mutant.old != mutant.new
    for t in mutant.tests:
        if t.startswith("--claim="):
            assert t.removeprefix("--claim=") in all_claims(), t
        else:
            assert (repo_root() / t.split("::")[0]).is_file(), t


def test_names_are_unique():
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) == len(set(names))


def test_apply_refuses_text_that_is_not_there_once(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\nx = 1\n")
    twice = mutants.Mutant("t", "m.py", "x = 1", "x = 2", (), "test")
    with pytest.raises(ConfigError, match="found 2 times"):
        mutants.apply(twice, tmp_path)
    once = mutants.Mutant("t", "m.py", "x = 1\nx = 1", "x = 2", (), "test")
    mutants.apply(once, tmp_path)
    assert (tmp_path / "m.py").read_text() == "x = 2\n"


def test_report_names_catalogue_mutants_the_shown_run_did_not_include(tmp_path, monkeypatch):
    """A committed run of 40 mutants kept reading '40/40 = 100%' after mutants were added
    that it never ran; the section now names them."""
    from nasrepro.files import atomic_write_json
    from nasrepro.report.mutation import section

    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    names = [m.name for m in mutants.MUTANTS]
    run = {"summary": {"killed": 2, "judged": 2, "score": 1.0, "survivors": [], "stale": []},
           "mutants": [{"name": n} for n in names[:-2]], "finished_at": "t", "env": {}}
    atomic_write_json(mutants.mutants_path(), run)
    text = " ".join(section())
    assert f"Not in that run (added to the catalogue since; `nasrepro mutants` runs them): " \
           f"{names[-2]}, {names[-1]}." in text
    run["mutants"] = [{"name": n} for n in names]
    atomic_write_json(mutants.mutants_path(), run)
    assert "Not in that run" not in " ".join(section())
