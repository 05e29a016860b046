"""The NAS-Bench-201 benchmark table: accuracy and measured latencies for the 15625 cells.

The compact table ships inside the package (nasrepro/data/tables/nb201_table.npz, with its
provenance in nb201_table.provenance.json), so the NB201 claims run with no download.
`build_table(sources)` rebuilds it from the shared data folder (checksums verified);
`export_official(path)` builds the same format from a user's official NAS-Bench-201 file
through the real `nas_201_api.NASBench201API` (adds the latency column `nb201`).

File format (an .npz, i.e. a zip of .npy arrays, written with fixed zip timestamps so a
rebuild is byte-identical; read with allow_pickle=False):
  index        int32  [N]     NB201 architecture index of each row (row i = index i when
                              the table is complete)
  ops          uint8  [N, 6]  op id per edge (nasrepro.nas.search_space order); the arch
                              string is ops_to_arch_str(ops[i]) (checked against the source
                              strings when the table is built)
  acc_cifar100 float64 [N]    CIFAR-100 test accuracy (%) after 200 epochs
  params_m, flops_m float64 [N]  (shipped table only) parameters / FLOPs in millions of the
                              CIFAR-100 network (C=16, N=5), COMPUTED BY NASREPRO with
                              nasrepro/models/nb201.py: not NB201's own numbers
  lat__<name>  float32/64 [N] latency in ms per forward pass (HELP devices: batch size in
                              the suffix; `nb201`: NB201's own latency, s/batch-256 x 1000)
The provenance JSON holds the table's sha256; load_table() refuses a file whose checksum
differs (a corrupt or truncated table never gives a wrong answer).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasrepro.errors import DataError
from nasrepro.files import (
    atomic_write_bytes,
    atomic_write_json,
    file_digest,
    read_json,
    sha256_file,
)
from nasrepro.nas.search_space import N_EDGES, N_OPS, arch_str_to_ops, ops_code, ops_to_arch_str

TABLES_DIR = Path(__file__).resolve().parent / "tables"
SHIPPED_TABLE = TABLES_DIR / "nb201_table.npz"
N_ARCHS = N_OPS**N_EDGES  # 15625
LAT_PREFIX = "lat__"
COST_COLUMNS = ("params_m", "flops_m")

# Shared-data files (relative to the nb201 sources folder) and their sha256 (SOURCES.md).
CSV_NAME = "nats_bench.csv"
CSV_SHA256 = "cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e"
HELP_DIR = "help_nb201_latency"
ARCH2IDX_NAME = "str_arch2idx.pt"
HELP_SHA256: dict[str, str] = {
    "1080ti_1": "4028f52b2c2441da126932e3827ae11a7f76d39818c4374c1b9ab9df236e23f4",
    "1080ti_256": "435af0ccfab01f5dc55dc9f2e8b90ca37b396b2656e327bba5ee0b6eb9c24464",
    "1080ti_32": "affce4fcdcf6f28622365995ef2ec018bb07d448add59f80633c0978c393cdea",
    "2080ti_1": "38cf0e8f698abf8696c69b41a358fe9ddedf5d54cb1ae6f85b04dd8a8f89a1b3",
    "2080ti_256": "daee655c44c46955d8318ddf0fa39254e70bab1ae723a6abc53d7b7e4e1561ae",
    "2080ti_32": "ebc603ad325850663fc56c8e0fde52fadea28e585a8405864baa20f986eaf29d",
    "essential_ph_1": "a97165c8669a216b9ca046041c83a07352bd07f2a42e2d8fea8b51e7ddbcabf0",
    "eyeriss": "6f1dd2f8c0442289a09ab78e63e49bde96489f6d455cc33d5fa5aed37edb5d03",
    "fpga": "6a0333c1476a3ab039d8c39e5d42ac99efe9e7f3ff521289569013fa84233b28",
    "gold_6226": "6a00f63d14f67f8007ec04519f638a90aa6ed5357cf5c0e60c391df37f186c99",
    "gold_6240": "ac6dd41f183de69bba21dec3954ac73333b7dec871e0defbcce0572d82536890",
    "pixel2": "051845ddefc2bc138f21e2217f6c7827fe280c78375cbfb4b5bd252a888cb950",
    "pixel3": "cf1387da12e06b1d4541ce85f3ca4869d551084e09daf4acf024b6e21a80d465",
    "raspi4": "2fae425c50bcaef7aacc5391244cd0af98bfc7fba689a8741e461cb18192f57c",
    "samsung_a50": "0872cb4ec8ecc7ea1b3bd8c98dd705f2d0f6e4940f3af833b313e484de39b155",
    "samsung_s7": "dbae32364b882022adb044b2aa1af77b66f43a180930d9be4d4c13532429f0ea",
    "silver_4114": "0cce9dc9ba62ad81c21275298a88cb0e4534db6474a878f089df0abb13293421",
    "silver_4210r": "f976049bda39abde94b8f8cac90140cb78a5069fc145c462d6d6bc2f8450727a",
    "titan_rtx_1": "a854dac331e2a37d7dcd6ee1f63d1bc6d73ead3aeb0a86f803f45ea1b294859e",
    "titan_rtx_256": "cff1fba40b1743d3716cfb74c86ac2463d0682c146f356fa9095ac0d02dfb2a5",
    "titan_rtx_32": "1258bee5501fe191530b9898a4f55a122ab30beec9c6ea74598c47a0173babed",
    "titanx_1": "3461cc686263bd0ce4d4cd915bfc2fe067deb139cc68da387741bd6443434cb0",
    "titanx_256": "04ddb80719515687bd3d722235cd5da821b50bd453a9e580b1e9d321dfb92941",
    "titanx_32": "9c4ca69131e34451fb1e104caa47efbe12ffec3cc47bf051613674d7af044ff2",
    "titanxp_1": "935aa0041c6592bed90f2f94ff3b4d40e892c066467864b704e6583682a57b20",
    "titanxp_256": "9f03206bc62b0dcfc882820de07f55dc1fb7f43f57dfc977e4f0f4b019cb5041",
    "titanxp_32": "4b6db63c7a9fb55177aa2649d70031dd86d2ed1609467ef5803dc1089a73cb1b",
}
ARCH2IDX_SHA256 = "e1d7b7cc7cf51d7c3cd6f9e726e7395bea87d7ba674e26202fb8633f963aef0d"
_HOW_TO_GET = ("rebuild it with `nasrepro nb201 build-table --sources DIR` (DIR = the shared "
               "data's nb201 folder) or restore it from git")


def provenance_path(table_path: Path) -> Path:
    """The provenance sidecar of a table: <name>.provenance.json beside <name>.npz."""
    table_path = Path(table_path)
    return table_path.with_name(table_path.stem + ".provenance.json")


def official_table_path() -> Path:
    """Where `nasrepro nb201 export` writes the table of a user's official file."""
    from nasrepro.paths import data_root

    return data_root() / "nb201" / "nb201_official_table.npz"


@dataclass
class NB201Table:
    """The benchmark as tensors: one row per architecture.

    index [N] long, ops [N, 6] long, acc [N] float64 (CIFAR-100 test accuracy, %),
    latency {source: [N] float64 ms}, provenance (the sidecar JSON), costs {params_m,
    flops_m: [N] float64} (computed by nasrepro; absent in exported tables). `row_of_code` maps
    the base-5 op code (search_space.ops_code) to the row, -1 where absent.
    """

    index: torch.Tensor
    ops: torch.Tensor
    acc: torch.Tensor
    latency: dict[str, torch.Tensor]
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    costs: dict[str, torch.Tensor] = field(default_factory=dict)  # params_m, flops_m
    row_of_code: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        code = ops_code(self.ops)
        self.row_of_code = torch.full((N_ARCHS,), -1, dtype=torch.long, device=self.ops.device)
        self.row_of_code[code] = torch.arange(len(code), device=self.ops.device)

    def __len__(self) -> int:
        return int(self.index.numel())

    @property
    def sources(self) -> list[str]:
        """Names of the latency columns."""
        return sorted(self.latency)

    def latency_ms(self, source: str) -> torch.Tensor:
        """One latency column [N] in ms; the error lists the available sources."""
        try:
            return self.latency[source]
        except KeyError:
            raise DataError(f"NB201 table {self.path}: no latency source {source!r}; "
                            f"available: {', '.join(self.sources)}") from None

    def rows(self, ops: torch.Tensor) -> torch.Tensor:
        """Row of each op tuple ([..., 6] -> [...] long); DataError for cells not in the
        table (possible only for partial, e.g. exported-fixture, tables)."""
        rows = self.row_of_code[ops_code(ops)]
        if bool((rows < 0).any()):
            bad = ops.reshape(-1, N_EDGES)[(rows < 0).reshape(-1)][0]
            raise DataError(f"NB201 table {self.path}: architecture "
                            f"{ops_to_arch_str(bad.tolist())} is not in the table")
        return rows

    def arch_str(self, row: int) -> str:
        """The NB201 arch string of a row."""
        return ops_to_arch_str(self.ops[row].tolist())

    def row_of_arch(self, arch: str) -> int:
        """Row of an arch string (validated: a malformed string names the bad part)."""
        ops = torch.tensor(arch_str_to_ops(arch), dtype=torch.long, device=self.ops.device)
        return int(self.rows(ops))

    def to(self, device: str | torch.device) -> NB201Table:
        """A copy with every tensor on `device`."""
        return NB201Table(self.index.to(device), self.ops.to(device), self.acc.to(device),
                          {k: v.to(device) for k, v in self.latency.items()},
                          self.provenance, self.path,
                          {k: v.to(device) for k, v in self.costs.items()})


# ----------------------------------------------------------------------------- file format

def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An .npz (zip of .npy) with fixed timestamps and sorted members: deterministic bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()


def write_table(path: Path, arrays: Mapping[str, np.ndarray], provenance: dict[str, Any]) -> str:
    """Write a table and its provenance sidecar atomically; returns the table's sha256."""
    _check_arrays(arrays, Path(path))
    blob = _npz_bytes(arrays)
    atomic_write_bytes(Path(path), blob)
    digest = sha256_file(Path(path))
    atomic_write_json(provenance_path(Path(path)),
                      {**provenance, "table_file": Path(path).name, "table_sha256": digest,
                       "table_bytes": len(blob)})
    return digest


def _check_arrays(arrays: Mapping[str, np.ndarray], path: Path) -> None:
    for key in ("index", "ops", "acc_cifar100"):
        if key not in arrays:
            raise DataError(f"NB201 table {path}: missing array {key!r}")
    n = len(arrays["index"])
    if arrays["ops"].shape != (n, N_EDGES):
        raise DataError(f"NB201 table {path}: ops has shape {arrays['ops'].shape}, "
                        f"expected ({n}, {N_EDGES})")
    for k, v in arrays.items():
        if k != "ops" and v.shape != (n,):
            raise DataError(f"NB201 table {path}: array {k!r} has shape {v.shape}, "
                            f"expected ({n},)")


def _verified_table_sha(path: Path) -> tuple[str, dict[str, Any]]:
    """(sha256, provenance) of a table whose bytes match its sidecar checksum, else
    DataError naming the file, both checksums and how to get it (hash memoized)."""
    side = provenance_path(path)
    if not path.is_file():
        raise DataError(f"NB201 table {path} is missing; {_HOW_TO_GET}")
    if not side.is_file():
        raise DataError(f"NB201 table provenance {side} is missing (it holds the table's "
                        f"checksum); {_HOW_TO_GET}")
    prov = read_json(side)
    expected = prov.get("table_sha256")
    actual = file_digest(path)
    if actual != expected:
        raise DataError(f"NB201 table {path} is corrupt or truncated: sha256 {actual} != "
                        f"expected {expected} (from {side.name}); {_HOW_TO_GET}")
    return actual, prov


def fingerprint(path: Path | None = None) -> dict[str, str]:
    """{'nb201/<table file>': sha256} of a verified table (default: the shipped one), for
    the cache keys of experiments that read it; DataError like load_table()."""
    path = Path(path) if path is not None else SHIPPED_TABLE
    return {f"nb201/{path.name}": _verified_table_sha(path)[0]}


def load_table(path: Path | None = None, device: str | torch.device = "cpu") -> NB201Table:
    """Load a table (default: the shipped one), verifying its sha256 against the sidecar.

    Raises DataError naming the file and both checksums when the bytes differ (corrupt or
    truncated), or naming the missing file and how to get it.
    """
    path = Path(path) if path is not None else SHIPPED_TABLE
    actual, prov = _verified_table_sha(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"NB201 table {path} (sha256 {actual}) cannot be read: {exc}; "
                        f"{_HOW_TO_GET}") from exc
    _check_arrays(arrays, path)
    latency = {k[len(LAT_PREFIX):]: torch.from_numpy(v.astype(np.float64))
               for k, v in arrays.items() if k.startswith(LAT_PREFIX)}
    table = NB201Table(
        index=torch.from_numpy(arrays["index"].astype(np.int64)),
        ops=torch.from_numpy(arrays["ops"].astype(np.int64)),
        acc=torch.from_numpy(arrays["acc_cifar100"].astype(np.float64)),
        latency=latency, provenance=prov, path=path,
        costs={k: torch.from_numpy(arrays[k]) for k in COST_COLUMNS if k in arrays})
    return table.to(device) if str(device) != "cpu" else table


# ----------------------------------------------------------------------------- build (shared data)

def read_help_list(path: Path) -> list:
    """A HELP latency/index file: a zip-format torch save of a plain list or dict, read with
    zipfile + pickle (no torch.load: nothing but builtins is unpickled)."""
    try:
        with zipfile.ZipFile(path) as zf:
            member = next(n for n in zf.namelist() if n.endswith("/data.pkl"))
            return _BuiltinsOnly(io.BytesIO(zf.read(member))).load()
    except (zipfile.BadZipFile, StopIteration, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"{path}: not a readable HELP torch-save file ({exc})") from exc


class _BuiltinsOnly(pickle.Unpickler):
    """Unpickler that refuses any class: HELP files hold only lists, dicts and numbers."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _verified(path: Path, sha: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path} is missing (expected sha256 {sha}); see "
                        "shared/data/SOURCES.md, section nb201/")
    actual = sha256_file(path)
    if actual != sha:
        raise DataError(f"{path}: sha256 {actual} != expected {sha}; the file is corrupt or "
                        "not the one in SOURCES.md")
    return path


def build_arrays(sources: Path, devices: list[str] | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and provenance of the shipped table from the shared nb201 folder.

    Verifies every source checksum, that CSV row i is the arch HELP's str_arch2idx maps to
    i, and that every arch string round-trips through the 6-op encoding.
    """
    sources = Path(sources)
    devices = sorted(HELP_SHA256) if devices is None else devices
    csv_path = _verified(sources / CSV_NAME, CSV_SHA256)
    idx_path = _verified(sources / HELP_DIR / ARCH2IDX_NAME, ARCH2IDX_SHA256)
    import csv

    with open(csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != N_ARCHS:
        raise DataError(f"{csv_path}: {len(rows)} rows, expected {N_ARCHS}")
    arch2idx = read_help_list(idx_path)
    archs = [r["ArchitectureString"] for r in rows]
    mismatched = [i for i, a in enumerate(archs) if arch2idx.get(a) != i]
    if mismatched:
        i = mismatched[0]
        raise DataError(f"{csv_path}: row {i} ({archs[i]}) is index {arch2idx.get(archs[i])} "
                        f"in {idx_path.name}; {len(mismatched)} rows disagree")
    ops = np.array([arch_str_to_ops(a) for a in archs], dtype=np.uint8)
    bad = [i for i, a in enumerate(archs) if ops_to_arch_str(ops[i].tolist()) != a]
    if bad:
        raise DataError(f"{csv_path}: arch string of row {bad[0]} does not round-trip")
    arrays: dict[str, np.ndarray] = {
        "index": np.arange(N_ARCHS, dtype=np.int32),
        "ops": ops,
        "acc_cifar100": np.array([float(r["CIFAR100TestAccuracy200Epochs"]) for r in rows]),
    }
    from nasrepro.models.nb201 import all_costs

    params_m, flops_m = all_costs(torch.from_numpy(ops.astype(np.int64)), num_classes=100)
    arrays["params_m"], arrays["flops_m"] = params_m.numpy(), flops_m.numpy()
    prov_sources = {
        CSV_NAME: {"sha256": CSV_SHA256, "origin": "v-tao/nats-bench-landscape@b307ae5fe6e8",
                   "columns": {"acc_cifar100": "CIFAR100TestAccuracy200Epochs (%)"}},
        f"{HELP_DIR}/{ARCH2IDX_NAME}": {"sha256": ARCH2IDX_SHA256,
                                        "origin": "HayeonLee/HELP@45f70eb92d0d",
                                        "use": "row order check (row i = NB201 index i)"},
    }
    for dev in devices:
        if dev not in HELP_SHA256:
            raise DataError(f"unknown HELP device {dev!r}; known: {', '.join(HELP_SHA256)}")
        p = _verified(sources / HELP_DIR / f"{dev}.pt", HELP_SHA256[dev])
        values = np.asarray(read_help_list(p), dtype=np.float64)
        if values.shape != (N_ARCHS,) or not np.all(np.isfinite(values)) or values.min() <= 0:
            raise DataError(f"{p}: expected {N_ARCHS} positive latencies, got shape "
                            f"{values.shape}, min {np.nanmin(values):g}")
        f32 = values.astype(np.float32)
        # HELP stores float32 measurements (as Python floats); keep float32 when lossless.
        arrays[LAT_PREFIX + dev] = f32 if np.array_equal(f32.astype(np.float64), values) \
            else values
        prov_sources[f"{HELP_DIR}/{dev}.pt"] = {
            "sha256": HELP_SHA256[dev], "origin": "HayeonLee/HELP@45f70eb92d0d (MIT)",
            "columns": {LAT_PREFIX + dev: "ms per forward pass, batch size = name suffix "
                                         "(_1/_32/_256); HW-NAS-Bench devices as given"}}
    provenance = {
        "format": "nasrepro NB201 table v1 (npz, see nasrepro/data/nb201.py)",
        "rows": N_ARCHS,
        "row_order": "row i = NAS-Bench-201 index i (checked against HELP str_arch2idx.pt)",
        "units": {"acc_cifar100": "percent, CIFAR-100 test accuracy after 200 epochs "
                                  "(NATS-Bench tss, hp=200, mean over seeds)",
                  "lat__*": "milliseconds per forward pass (HELP measurements)"},
        "computed_by_nasrepro": {
            "params_m": "parameters in millions (all trainable tensors) of the CIFAR-100 "
                        "network C=16, N=5, counted by nasrepro/models/nb201.py; NOT from "
                        "NAS-Bench-201 (not in the shared data)",
            "flops_m": "millions of conv/linear multiply-accumulates + pooling window "
                       "operations for one 32x32 image, counted by nasrepro/models/nb201.py; "
                       "NOT from NAS-Bench-201"},
        "sources": prov_sources,
    }
    return arrays, provenance


def build_table(sources: Path, out: Path = SHIPPED_TABLE) -> str:
    """Rebuild the table from the shared nb201 folder; returns the table's sha256."""
    arrays, provenance = build_arrays(sources)
    return write_table(out, arrays, provenance)


# ----------------------------------------------------------------------------- official export

OFFICIAL_KEYS = ("meta_archs", "arch2infos", "evaluated_indexes")
_OFFICIAL_EXPECTED = ("expected the official NAS-Bench-201 file (NAS-Bench-201-v1_1-096897.pth "
                      "or v1_0-e61699.pth from the authors): a torch-saved dict with keys "
                      + ", ".join(OFFICIAL_KEYS))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_official(path: Path) -> Any:
    """A NASBench201API over the user's own official .pth file.

    The official files are full pickles: torch >= 2.6 refuses them with weights_only=True,
    so the file is loaded with weights_only=False. Only do this for a file you trust
    (the one you downloaded from the NAS-Bench-201 authors). Anything else (a folder, a
    truncated file, another object) is a DataError saying what the file is and what was
    expected.
    """
    from nas_201_api import NASBench201API

    path = Path(path)
    if path.is_dir():
        raise DataError(f"official NAS-Bench-201 file {path} is a directory; "
                        + _OFFICIAL_EXPECTED)
    if not path.is_file():
        raise DataError(f"official NAS-Bench-201 file {path} is missing; download "
                        "NAS-Bench-201-v1_1-096897.pth (or v1_0-e61699) from the authors")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)  # user's own file
    except Exception as exc:
        raise DataError(f"{path} (sha256 {sha256_file(path)}) is not a readable torch file "
                        f"({_first_line(exc)}); {_OFFICIAL_EXPECTED}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path} holds a {type(data).__name__}, not a dict; "
                        + _OFFICIAL_EXPECTED)
    missing = [k for k in OFFICIAL_KEYS if k not in data]
    if missing:
        found = ", ".join(map(repr, list(data)[:8])) or "none"
        raise DataError(f"{path} is a dict without {', '.join(missing)} (its keys: {found}); "
                        + _OFFICIAL_EXPECTED)
    try:
        return NASBench201API(data, verbose=False)
    except Exception as exc:
        raise DataError(f"{path}: nas_201_api cannot read it ({_first_line(exc)}); "
                        + _OFFICIAL_EXPECTED) from exc


def export_arrays(api: Any, dataset: str = "cifar100", hp: str = "200"
                  ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Table arrays from a NASBench201API: test accuracy at hp='200' and the latency
    column `nb201` = get_cost_info(...)['latency'] (seconds per batch) x 1000 in ms."""
    indices = sorted(int(i) for i in api.evaluated_indexes)
    if not indices:
        raise DataError("the NAS-Bench-201 file holds no evaluated architectures "
                        "(evaluated_indexes is empty); export the complete official file")
    ops, acc, lat = [], [], []
    for i in indices:
        arch = api.arch(i)
        ops.append(arch_str_to_ops(arch))
        info = api.get_more_info(i, dataset, iepoch=None, hp=hp, is_random=False)
        acc.append(float(info["test-accuracy"]))
        cost = api.get_cost_info(i, dataset, hp=hp)
        lat.append(float(cost["latency"]) * 1000.0)
    arrays = {"index": np.asarray(indices, dtype=np.int32),
              "ops": np.asarray(ops, dtype=np.uint8).reshape(-1, N_EDGES),
              "acc_cifar100": np.asarray(acc, dtype=np.float64),
              LAT_PREFIX + "nb201": np.asarray(lat, dtype=np.float64)}
    lat_arr = arrays[LAT_PREFIX + "nb201"]
    if not np.all(np.isfinite(lat_arr)) or (lat_arr <= 0).any():
        raise DataError("official NB201 latency has non-positive or non-finite values; "
                        "is this the right dataset name?")
    provenance = {
        "format": "nasrepro NB201 table v1 (npz, see nasrepro/data/nb201.py)",
        "rows": len(indices),
        "row_order": "ascending NB201 index (column `index`)",
        "units": {"acc_cifar100": f"percent, {dataset} test accuracy, hp={hp}, mean over seeds",
                  "lat__nb201": "milliseconds per evaluation batch (NB201 get_cost_info "
                                "'latency', seconds, x 1000)"},
    }
    return arrays, provenance


def export_official(source: Path, out: Path | None = None) -> tuple[Path, str]:
    """Export a user's official NAS-Bench-201 file into the table format; returns the
    output path and its sha256."""
    source = Path(source)
    out = Path(out) if out is not None else official_table_path()
    api = load_official(source)
    try:
        arrays, provenance = export_arrays(api)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from exc
    except Exception as exc:  # the API's asserts and KeyErrors on a malformed file
        raise DataError(f"{source}: its records cannot be read through nas_201_api "
                        f"({_first_line(exc)}); {_OFFICIAL_EXPECTED} whose records hold "
                        "cifar100 results at hp=200 with latency") from exc
    provenance["sources"] = {source.name: {"sha256": sha256_file(source),
                                           "origin": "user's official NAS-Bench-201 file"}}
    return out, write_table(out, arrays, provenance)
