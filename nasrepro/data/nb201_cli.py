"""`nasrepro nb201 build-table | export | info`: the NAS-Bench-201 table commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_build(args: argparse.Namespace) -> int:
    from nasrepro.data import nb201

    out = Path(args.out) if args.out else nb201.SHIPPED_TABLE
    digest = nb201.build_table(Path(args.sources), out)
    table = nb201.load_table(out)
    print(f"wrote {out} ({out.stat().st_size} bytes, sha256 {digest}): {len(table)} rows, "
          f"latency sources: {', '.join(table.sources)}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from nasrepro.data import nb201

    out, digest = nb201.export_official(Path(args.source), Path(args.out) if args.out else None)
    table = nb201.load_table(out)
    lat = table.latency_ms("nb201")
    print(f"wrote {out} (sha256 {digest}): {len(table)} architectures, NB201 latency "
          f"median {float(lat.median()):.3f} ms; the REWARD searches now add the `nb201` "
          "source at T = 17 ms")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from nasrepro.data import nb201

    table = nb201.load_table(Path(args.table) if args.table else None)
    print(f"{table.path}: {len(table)} rows, sha256 {table.provenance['table_sha256']}")
    for src in table.sources:
        lat = table.latency_ms(src)
        print(f"  {src:<16} median {float(lat.median()):8.3f} ms  "
              f"share <= 17 ms {float((lat <= 17).double().mean()):.3f}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `nasrepro nb201 ...` to the main parser."""
    p = subparsers.add_parser("nb201", help="NAS-Bench-201 table: build, export, info")
    sub = p.add_subparsers(dest="nb201_command", required=True)
    sp = sub.add_parser("build-table", help="rebuild the shipped table from the shared data "
                                            "(checksums verified)")
    sp.add_argument("--sources", required=True, help="the shared data's nb201 folder")
    sp.add_argument("--out", default=None, help="output .npz (default: the shipped table)")
    sp.set_defaults(func=_cmd_build)
    sp = sub.add_parser("export", help="export a user's official NAS-Bench-201 .pth through "
                                       "nas_201_api into the table format (latency `nb201`)")
    sp.add_argument("--from", dest="source", required=True,
                    help="NAS-Bench-201-v1_1-096897.pth or v1_0-e61699.pth (loaded with "
                         "weights_only=False: only your own trusted file)")
    sp.add_argument("--out", default=None, help="output .npz (default: "
                                                "$NASREPRO_DATA/nb201/nb201_official_table.npz)")
    sp.set_defaults(func=_cmd_export)
    sp = sub.add_parser("info", help="summary of a table (default: the shipped one)")
    sp.add_argument("--table", default=None)
    sp.set_defaults(func=_cmd_info)
