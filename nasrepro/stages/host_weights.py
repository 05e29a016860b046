"""An optional committed host: the trained WRN state dict in bf16 (<= 5 MB for WRN-40-2)
with its provenance (hardware, recipe, test accuracy, sha256) under
reference_results/opsub_stages/<tier>/, the starting point of the substitution stages on a
machine that cannot afford the 200-epoch baseline. The baseline stage's key then names the
file's sha256 (a bf16-rounded host is another host), so its downstream stages never mix
with those of a locally trained host."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nasrepro.errors import ConfigError, DataError
from nasrepro.files import atomic_write_json, read_json, sha256_file
from nasrepro.stages.committed import committed_dir
from nasrepro.train.checkpoint import StageStore, atomic_torch_save
from nasrepro.train.loop import TrainHistory

HOST_FILE = "host_bf16.pt"
PROVENANCE = "host_bf16.json"
MAX_BYTES = 5 * 1024 * 1024


def _recipe(tier: str) -> dict[str, Any]:
    from nasrepro.experiments.opsub import tier_config

    t = tier_config(tier)
    return {k: t[k] for k in ("depth", "widen", "stem", "baseline", "train_per_class")}


def host_sha256(tier: str, folder: Path | None = None) -> str | None:
    """The sha256 the provenance names, or None when no committed host exists (cheap: the
    file itself is verified when loaded)."""
    prov = (folder or committed_dir(tier)) / PROVENANCE
    return read_json(prov)["sha256"] if prov.is_file() else None


def write_host_weights(tier: str, state: dict[str, torch.Tensor], test_acc: float,
                       epoch_s: float, device: str, folder: Path | None = None,
                       rounded_acc: Callable[[dict[str, torch.Tensor]], float] | None = None
                       ) -> Path:
    """Save a trained host as bf16 (integer buffers kept) with its provenance JSON;
    DataError when the file would exceed MAX_BYTES. Returns the provenance path.
    rounded_acc(state) evaluates the host as a checkout loads it (bf16-rounded, as fp32) on
    the tier's test split: that is the host the later stages fine-tune, so its accuracy is
    the provenance's `test_acc`, the trained fp32 host's `test_acc_fp32`. Without it (a
    caller with no test split) `test_acc` is the fp32 host's and the provenance says so."""
    from nasrepro.measure.environment import fingerprint

    folder = folder or committed_dir(tier)
    small = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}
    accs = {"test_acc_fp32": test_acc}
    if rounded_acc is not None:
        accs["test_acc"] = rounded_acc(_as_loaded(small))
        accs["test_acc_of"] = "the bf16 host as loaded (fp32 from these bf16 weights)"
    else:
        accs["test_acc"] = test_acc
        accs["test_acc_of"] = "the fp32 host before rounding (the bf16 host was not evaluated)"
    path = folder / HOST_FILE
    atomic_torch_save(small, path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        path.unlink()
        raise DataError(f"host state dict is {size / 2**20:.1f} MB in bf16, over the "
                        f"{MAX_BYTES / 2**20:.0f} MB limit for a committed file")
    hw = fingerprint(device)
    prov = {"tier": tier, "recipe": _recipe(tier), **accs, "epoch_s": epoch_s,
            "sha256": sha256_file(path), "bytes": size, "dtype": "bfloat16",
            "hardware": {k: hw.get(k) for k in ("device_name", "cpu_model", "torch", "git_sha",
                                                "cuda", "machine_class") if k in hw},
            "device": device,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(folder / PROVENANCE, prov)
    return folder / PROVENANCE


def load_host_weights(tier: str, folder: Path | None = None
                      ) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """(fp32 state dict, provenance) of the committed host, verified: sha256 and size of
    the file (DataError naming it), recipe equal to this checkout's (ConfigError saying
    what differs), keys and shapes loading strictly into this tier's WRN. None if absent."""
    from nasrepro.experiments.opsub import TIERS
    from nasrepro.models.wrn import WideResNet

    folder = folder or committed_dir(tier)
    prov_path, path = folder / PROVENANCE, folder / HOST_FILE
    if not prov_path.is_file():
        return None
    prov = read_json(prov_path)
    if not path.is_file():
        raise DataError(f"{prov_path} names {HOST_FILE}, which is missing; restore or remove it")
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path}: {path.stat().st_size} bytes, over the {MAX_BYTES} limit")
    got = sha256_file(path)
    if got != prov["sha256"]:
        raise DataError(f"{path}: sha256 {got[:16]}... but its provenance says "
                        f"{prov['sha256'][:16]}...: corrupt or replaced; restore it from git")
    here = json.loads(json.dumps(_recipe(tier), default=str))
    if prov["recipe"] != here:
        diff = sorted(k for k in here if prov["recipe"].get(k) != here[k])
        raise ConfigError(f"{prov_path}: the host was trained with another {', '.join(diff)} "
                          "than this checkout's tier; remove it or retrain")
    state = _as_loaded(torch.load(path, map_location="cpu", weights_only=True))
    t = TIERS[tier]
    WideResNet(t["depth"], t["widen"], stem=t["stem"]).load_state_dict(state)  # strict check
    return state, prov


def _as_loaded(small: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A bf16 state dict as the stages use it: floating tensors back to fp32."""
    return {k: v.float() if v.is_floating_point() else v for k, v in small.items()}


def seed_baseline(store: StageStore, tier: str, baseline_id: str,
                  folder: Path | None = None) -> bool:
    """Store the committed host as the baseline stage's result when one exists and the
    stage is not stored yet; True when it did."""
    if store.done(baseline_id):
        return False
    loaded = load_host_weights(tier, folder)
    if loaded is None:
        return False
    state, prov = loaded
    from nasrepro.experiments.opsub import TIERS

    epochs = TIERS[tier]["baseline"].epochs
    hist = TrainHistory(epoch_time=[prov["epoch_s"]], test_acc={epochs: prov["test_acc"]})
    store.save_result(baseline_id, {"state": state, "hist": hist, "test_acc": prov["test_acc"],
                                    "seconds": 0.0, "host_weights": prov["sha256"]})
    return True
