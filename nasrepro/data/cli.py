"""`nasrepro data verify [DATASET|all]` and `nasrepro data download DATASET`.

Each module in DATASET_MODULES exposes `verify(root=None) -> dict[str, str]` (file ->
sha256, DataError on a missing/corrupt file); modules not written yet are skipped.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from nasrepro.errors import ConfigError, DataError

DATASET_MODULES: tuple[str, ...] = ("nasrepro.data.mnist", "nasrepro.data.cifar")


def available() -> dict[str, ModuleType]:
    """{short name: module} of the dataset modules that exist in this checkout."""
    out = {}
    for mod in DATASET_MODULES:
        try:
            out[mod.rsplit(".", 1)[1]] = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:  # the module exists but one of its imports is missing
                raise
    return out


def _selected(name: str) -> dict[str, ModuleType]:
    mods = available()
    if name == "all":
        return mods
    if name not in mods:
        raise ConfigError(f"unknown dataset {name!r}: use one of {', '.join(mods)} or all")
    return {name: mods[name]}


def _cmd_verify(args: argparse.Namespace) -> int:
    failed = 0
    for name, mod in _selected(args.dataset).items():
        try:
            for fname, sha in mod.verify(args.root).items():
                print(f"{name}: ok  {fname}  sha256 {sha}")
        except DataError as exc:
            failed += 1
            print(f"{name}: FAILED  {exc}")
    return 1 if failed else 0


def _cmd_download(args: argparse.Namespace) -> int:
    mod = _selected(args.dataset)[args.dataset]
    if not hasattr(mod, "download"):
        raise ConfigError(f"dataset {args.dataset!r} has no downloader")
    for fname, sha in mod.download(args.root).items():
        print(f"{args.dataset}: ok  {fname}  sha256 {sha}")
    return 0


ROOT_HELP = "data root (default: $NASREPRO_DATA, else ~/.cache/nasrepro/data)"


def register(subparsers) -> None:
    """Add `data verify` and `data download` to the nasrepro CLI."""
    p = subparsers.add_parser("data", help="verify or download datasets (checksums)")
    sub = p.add_subparsers(dest="data_command", required=True)
    sp = sub.add_parser("verify", help="check every file's checksum")
    sp.add_argument("dataset", nargs="?", default="all",
                    help="mnist, cifar or all (default: all); the NAS-Bench-201 sources "
                         "in nb201/ are checked by `nasrepro nb201 build-table`, which reads "
                         "them")
    sp.add_argument("--root", default=None, help=ROOT_HELP)
    sp.set_defaults(func=_cmd_verify)
    sp = sub.add_parser("download", help="fetch missing files from official mirrors")
    sp.add_argument("dataset", help="mnist or cifar")
    sp.add_argument("--root", default=None, help=ROOT_HELP)
    sp.set_defaults(func=_cmd_download)
