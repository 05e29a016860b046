"""Portable stage bundles: `nasrepro stages export` copies a tier's finished stage results
(they hold the weights later stages consume: host, distilled candidates) and in-flight
checkpoints into a folder or .tar with a manifest of sha256 per file; `import` verifies
every file and that the bundle's stage keys are this checkout's before copying anything."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nasrepro.errors import ConfigError, DataError
from nasrepro.experiments.opsub import TIERS, stage_keys, stage_store
from nasrepro.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_with,
    brief,
    read_json,
    sha256_file,
)
from nasrepro.train.checkpoint import StageStore

FORMAT = "nasrepro-stage-bundle/1"
MANIFEST = "manifest.json"


def _stage_files(store: StageStore, ids: dict[str, str]) -> dict[str, tuple[str, Path]]:
    """{bundle path: (stage id, store file)} of every stored result, and checkpoint of unfinished
    stages, whose id is one of this checkout's (stale ids in the store are left out). Each
    is read first: an unreadable one is moved aside (a warning), never bundled."""
    out = {}
    for sid in ids.values():
        res, prog = store.result_path(sid), store.progress_path(sid)
        if store.result_or_none(sid) is not None:
            out[f"stages/{res.name}"] = (sid, res)
        elif store.load_progress(sid) is not None:
            out[f"stages/{prog.name}"] = (sid, prog)
    return out


def _read_each(files: dict[str, tuple[str, Path]]) -> Iterator[tuple[str, bytes]]:
    """(bundle path, bytes) of each file, read once: the manifest's sha256 is of the bytes
    bundled even when a run beside the export replaces a checkpoint meanwhile, and a
    checkpoint gone since (its stage finished) is left out."""
    for p, (_, f) in sorted(files.items()):
        try:
            yield p, f.read_bytes()
        except FileNotFoundError:
            continue


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(time.time())
    tar.addfile(info, io.BytesIO(data))


def export_stages(tier: str, device: str, dest: Path, seeds: int | None = None) -> dict[str, Any]:
    """Write the bundle of (tier, device) to `dest` (a new folder, or a file ending .tar);
    returns the manifest. The manifest is written last: a bundle without one is partial."""
    dest = Path(dest)
    store = stage_store(tier, device, seeds)
    ids = stage_keys(tier, device, seeds)
    files = _stage_files(store, ids)
    if not files:
        raise DataError(f"nothing to export: no {tier} stage of this checkout is stored under "
                        f"{store.root}; run `nasrepro run --tier {tier} --claim OPSUB` first")
    is_tar = dest.suffix == ".tar"
    if not is_tar and dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ConfigError(f"export: {dest} exists and is not an empty folder; give a new "
                          "folder or a path ending in .tar")
    if is_tar and dest.exists():  # as a folder is: another bundle is not replaced unasked
        raise ConfigError(f"export: {dest} exists; give a new path, or remove it first")
    from nasrepro.measure.environment import machine_class

    hashes: dict[str, str] = {}
    manifest = {"format": FORMAT, "tier": tier, "device": device, "seeds": seeds,
                "machine_class": machine_class(device),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "stage_ids": {}, "files": hashes}

    def put(add: Callable[[str, bytes], None]) -> None:
        for p, data in _read_each(files):
            add(p, data)
            hashes[p] = hashlib.sha256(data).hexdigest()
        bundled = {files[p][0] for p in hashes}
        manifest["stage_ids"] = {n: i for n, i in ids.items() if i in bundled}

    if is_tar:
        def write(tmp: Path) -> None:
            with tarfile.open(tmp, "w") as tar:
                put(lambda p, data: _tar_add(tar, p, data))
                _tar_add(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
        atomic_write_with(dest, write)
    else:
        put(lambda p, data: atomic_write_bytes(dest / p, data))
        atomic_write_json(dest / MANIFEST, manifest)
    return manifest


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise DataError(f"import: no {MANIFEST} in {folder} (not a stage bundle, or a partial "
                        "export); export it again")
    m = read_json(path)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        got = m.get("format") if isinstance(m, dict) else None
        raise DataError(f"import: {path} has format {got!r}, expected {FORMAT}")
    files, ids = m.get("files"), m.get("stage_ids")
    if (m.get("tier") not in TIERS or not isinstance(m.get("device"), str)
            or not isinstance(files, dict) or not isinstance(ids, dict)
            or any(not str(rel).startswith("stages/") or ".." in str(rel) for rel in files)):
        raise DataError(f"import: {path} is not a complete {FORMAT} manifest (tier, device, "
                        "stage_ids, files under stages/); export the bundle again")
    return m


def verify_bundle(folder: Path) -> dict[str, Any]:
    """The manifest, after checking every listed file's sha256 (DataError naming the first
    missing or mismatching file) and that the stage keys are this checkout's (ConfigError
    naming the stages whose keys differ)."""
    m = _read_manifest(folder)
    if m["device"].startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"import: the bundle was computed on {m['device']} "
                              f"({m.get('machine_class', '?')}); its stage keys name that GPU "
                              "class, so import it on such a machine (committed JSON results, "
                              "`nasrepro stages commit`, serve machines without a GPU)")
    for rel, want in m["files"].items():
        f = folder / rel
        if not f.is_file():
            raise DataError(f"import: bundle file {rel} is missing; export the bundle again")
        got = sha256_file(f)
        if got != want:
            raise DataError(f"import: bundle file {rel} has sha256 {got[:16]}..., manifest "
                            f"says {want[:16]}...: corrupt copy; export or copy it again")
    here = stage_keys(m["tier"], m["device"], m.get("seeds"))
    differ = [f"{n} (bundle {i.split('@')[1]}, here {here[n].split('@')[1]})"
              if n in here else f"{n} (not a stage here)"
              for n, i in m["stage_ids"].items() if here.get(n) != i]
    if differ:
        raise ConfigError(f"import: {len(differ)} stage key(s) of the bundle differ from this "
                          f"checkout's: {', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''}"
                          " - code, recipe, data or machine class differ; recompute instead")
    return m


def import_stages(src: Path) -> dict[str, Any]:
    """Verify a bundle (folder or .tar) and copy its stages into this checkout's store;
    a stage already stored here is kept. Returns {'tier', 'device', 'seeds', 'imported',
    'kept', 'store'}."""
    src = Path(src)
    if src.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with tarfile.open(src) as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, EOFError) as exc:
                raise DataError(f"import: {src} is not a readable .tar bundle ({brief(exc)}); "
                                "export or copy it again") from None
            return _import_folder(Path(tmp))
    if not src.is_dir():
        raise DataError(f"import: {src} is neither a bundle folder nor a .tar file")
    return _import_folder(src)


def _import_folder(folder: Path) -> dict[str, Any]:
    m = verify_bundle(folder)
    store = stage_store(m["tier"], m["device"], m.get("seeds"))
    store.root.mkdir(parents=True, exist_ok=True)
    imported, kept = [], []
    for rel in m["files"]:
        name = Path(rel).name
        target = store.root / name
        stem = name.rsplit(".", 2)[0]
        # kept only when readable here: an unreadable local file is moved aside (a warning)
        # and replaced by the bundle's verified copy
        if store.result_or_none(stem) is not None or (
                name.endswith(".progress.pt") and store.load_progress(stem) is not None):
            kept.append(stem)
            continue
        atomic_write_with(target, lambda tmp, f=folder / rel: shutil.copyfile(f, tmp))
        if name.endswith(".result.pt"):
            (store.root / f"{stem}.progress.pt").unlink(missing_ok=True)
        imported.append(stem)
    return {"tier": m["tier"], "device": m["device"], "seeds": m.get("seeds"),
            "imported": imported, "kept": kept, "store": str(store.root)}
