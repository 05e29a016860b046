"""OPSUB stages are keyed by what they compute: unrelated edits keep finished stages, a recipe
change re-keys only the stages downstream of it."""

import dataclasses

import pytest

from nasrepro.experiments import opsub
from nasrepro.experiments.cache import source_fingerprint

CODE = '''"""Module doc."""


def f(x):
    """What f does."""
    # a comment
    return x + 1
'''


def test_docstring_and_comment_edits_keep_the_source_fingerprint(tmp_path):
    (tmp_path / "m.py").write_text(CODE)
    before = source_fingerprint(tmp_path, ("m.py",))
    (tmp_path / "m.py").write_text(CODE.replace("What f does.", "Adds one.")
                                   .replace("# a comment", "# another"))
    assert source_fingerprint(tmp_path, ("m.py",)) == before
    (tmp_path / "m.py").write_text(CODE.replace("x + 1", "x + 2"))
    assert source_fingerprint(tmp_path, ("m.py",)) != before


@pytest.mark.data("cifar10")
def test_recipe_change_rekeys_only_downstream_stages(monkeypatch):
    before = opsub.stage_keys("smoke", "cpu")
    smoke = dict(opsub.TIERS["smoke"])
    smoke["finetune"] = dataclasses.replace(smoke["finetune"], lr=0.02)
    monkeypatch.setitem(opsub.TIERS, "smoke", smoke)
    after = opsub.stage_keys("smoke", "cpu")
    assert after["baseline"] == before["baseline"]
    assert all(after[k] == before[k] for k in before if k.startswith("distill/"))
    assert all(after[k] != before[k] for k in before if k.startswith("finetune/"))
    smoke["distill"] = dataclasses.replace(smoke["distill"], lr=1e-2)
    again = opsub.stage_keys("smoke", "cpu")
    assert again["baseline"] == before["baseline"]
    assert all(again[k] != before[k] for k in before if k.startswith("distill/"))
    # a fine-tune from a distilled candidate consumes that distillation: re-keyed with it;
    # the unsubstituted fine-tunes (finetune/c1) start from the host alone
    assert all(again[k] != after[k] for k in before if k.startswith("finetune/p"))
    assert all(again[k] == after[k] for k in before if k.startswith("finetune/c1/"))


@pytest.mark.data("cifar10")
def test_host_recipe_change_rekeys_every_stage(monkeypatch):
    # every stage consumes the host (the speed stage times its recipe)
    before = opsub.stage_keys("smoke", "cpu")
    smoke = dict(opsub.TIERS["smoke"])
    smoke["baseline"] = dataclasses.replace(smoke["baseline"], lr=smoke["baseline"].lr * 2)
    monkeypatch.setitem(opsub.TIERS, "smoke", smoke)
    after = opsub.stage_keys("smoke", "cpu")
    assert all(after[k] != before[k] for k in before)


@pytest.mark.data("cifar10")
def test_protocol_version_rekeys_every_stage(monkeypatch):
    before = opsub.stage_keys("smoke", "cpu")
    monkeypatch.setattr(opsub, "PROTOCOL_VERSION", opsub.PROTOCOL_VERSION + 1)
    after = opsub.stage_keys("smoke", "cpu")
    assert all(after[k] != before[k] for k in before)


def test_cache_and_stage_keys_follow_the_machine_class(monkeypatch, tmp_path):
    # regression: ATEN_CPU_CAPABILITY=default on a warm AVX-512 reports folder was served
    # the AVX-512 results (keys named the device, not the code path)
    from nasrepro.experiments import cache

    monkeypatch.setenv("NASREPRO_REPORTS", str(tmp_path))
    a = cache.cache_path("x", {"k": 1})
    monkeypatch.setattr("nasrepro.measure.environment.machine_class",
                        lambda device="cpu": "cpu-default-2c-torchX")
    assert cache.cache_path("x", {"k": 1}) != a
