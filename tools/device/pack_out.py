"""Pack a device run's reports into the device tool's $OUT limits (docs/gpu.md).

  python3 tools/device/pack_out.py REPORTS OUT

Writes OUT/results.tgz (everything under REPORTS except cache/: records, REPORT.md,
figures) and the stage store REPORTS/cache/opsub_stages as OUT/stages.tar.partK (a plain tar,
split), keeping within what comes back: at most 8 files in OUT, 16 MiB each, 64 MiB in all,
counting the files already there (the log, the bench JSON). Every finished stage result goes
first; in-flight progress files (model + optimizer state, ~18 MB each at WRN-40-2) follow,
newest first, while they fit; whatever is left out is named on stdout. Restore with
`cat stages.tar.part* | tar -x -C REPORTS/cache` (tools/device/full_tier.sh does).
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

MAX_FILES, MAX_FILE, MAX_TOTAL = 8, 16 << 20, 64 << 20
PART = 15 << 20          # under the 16 MiB per file, with room for tar headers
MARGIN = 1 << 20         # what the log may still grow by after packing


def pick_stage_files(store: Path, room: int) -> tuple[list[Path], list[Path]]:
    """(files to pack, files left out): all *.result.pt first, then *.progress.pt newest
    first, while their sizes (plus 1 KiB of tar header each) fit in `room` bytes."""
    results = sorted(store.rglob("*.result.pt"))
    progress = sorted(store.rglob("*.progress.pt"), key=lambda p: -p.stat().st_mtime)
    chosen, left, used = [], [], 0
    for f in results + progress:
        size = f.stat().st_size + 1024
        if used + size <= room:
            chosen.append(f)
            used += size
        else:
            left.append(f)
    return chosen, left


def write_parts(data: bytes, out: Path, stem: str) -> list[Path]:
    """`data` as out/stem.part1, .part2, ... of at most PART bytes each."""
    paths = []
    for k, i in enumerate(range(0, len(data), PART), start=1):
        p = out / f"{stem}.part{k}"
        p.write_bytes(data[i:i + PART])
        paths.append(p)
    return paths


def pack(reports: Path, out: Path) -> int:
    """Write results.tgz and the stage parts; return the number of stage files left out."""
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for p in sorted(reports.iterdir()) if reports.is_dir() else []:
            if p.name != "cache":
                tf.add(p, arcname=p.name)
    if buf.tell() > MAX_FILE:
        print(f"pack_out: results.tgz would be {buf.tell()} bytes (> 16 MiB); not written")
    else:
        (out / "results.tgz").write_bytes(buf.getvalue())
    existing = [p for p in out.iterdir() if p.is_file()]
    files_left = MAX_FILES - len(existing)
    room = min(MAX_TOTAL - sum(p.stat().st_size for p in existing) - MARGIN,
               files_left * PART) - 10240  # tar end-of-archive blocks
    cache = reports / "cache"
    store = cache / "opsub_stages"
    if not store.is_dir():
        print(f"pack_out: no stage store under {store}")
        return 0
    chosen, left = pick_stage_files(store, max(0, room))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for f in chosen:
            tf.add(f, arcname=str(f.relative_to(cache)))
    parts = write_parts(buf.getvalue(), out, "stages.tar") if chosen else []
    print(f"pack_out: {len(chosen)} stage files in {len(parts)} part(s) "
          f"({buf.tell() / 2**20:.1f} MiB); left out {len(left)}"
          + "".join(f"\n  left out: {f.relative_to(cache)}" for f in left))
    return len(left)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    pack(Path(sys.argv[1]), Path(sys.argv[2]))
