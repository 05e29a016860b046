"""REPORT.md section on mutation testing (the last `nasrepro mutants` run: score, survivors,
catalogue mutants it did not include) and its per-mutant appendix."""

from __future__ import annotations

from typing import Any

APPENDIX = "appendix/mutants.md"  # relative to reports/, as REPORT.md links it


def last_run() -> tuple[dict[str, Any] | None, str]:
    """The last `nasrepro mutants` run (this reports folder's, else the committed one) and
    where it came from; None if there is none."""
    from nasrepro.files import read_json
    from nasrepro.mutants import committed_mutants_path, mutants_path

    path, where = mutants_path(), "this reports folder"
    if not path.is_file():
        path, where = committed_mutants_path(), "the run committed in reference_results/"
    return (read_json(path) if path.is_file() else None), where


def section() -> list[str]:
    """The mutation score and survivors (the per-mutant table is in the appendix)."""
    data, where = last_run()
    if data is None:
        return ["", "## Mutation testing", "", "No mutation run yet: `nasrepro mutants` "
                "(nightly) applies the curated regressions and records which tests catch "
                "them."]
    from nasrepro.mutants import MUTANTS

    s = data["summary"]
    pct = f"{s['score']:.0%}" if s["score"] is not None else "—"
    env = data.get("env", {})
    ran = {m["name"] for m in data.get("mutants", [])}
    unrun = [m.name for m in MUTANTS if m.name not in ran]
    drift = (f" Not in that run (added to the catalogue since; `nasrepro mutants` runs "
             f"them): {', '.join(unrun)}." if unrun else "")
    return ["", "## Mutation testing", "",
            f"Mutation score **{s['killed']}/{s['judged']} = {pct}** ({where}: run "
            f"{data.get('finished_at', '?')}, git {env.get('git_sha', '?')[:12]}); "
            f"survivors: {', '.join(s['survivors']) or 'none'}; stale: "
            f"{', '.join(s['stale']) or 'none'}. Per mutant: [{APPENDIX}]({APPENDIX}).{drift}"]


def appendix() -> str | None:
    """The per-mutant table of the last mutation run (None without one)."""
    from nasrepro.report.markdown import table  # markdown imports this module

    data, where = last_run()
    if data is None:
        return None
    rows = [[m["name"], m["why"], m["status"], (m.get("caught_by") or [""])[0][:90],
             f"{m.get('seconds', 0):.0f}"] for m in data["mutants"]]
    return "\n".join([
        "# Mutation testing: per mutant", "", f"From {where} (run "
        f"{data.get('finished_at', '?')}); back to [REPORT.md](../REPORT.md#mutation-testing).",
        "", table(rows, ["mutant", "regression", "status", "first failing test", "s"])]) + "\n"
