"""`nasrepro nb201 build-table | export | measure-latency | info`: the NB201 table commands."""

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
    from nasrepro.data.nb201_measured import measured_tables

    for name, path in measured_tables().items():
        m = nb201.load_table(path)
        print(f"  measured {name}: {len(m)} of {nb201.N_ARCHS} cells, median "
              f"{float(m.latency_ms(name).median()):.3f} ms ({path})")
    return 0


def _cmd_measure(args: argparse.Namespace) -> int:
    from nasrepro.errors import ConfigError
    from nasrepro.measure import latency_record
    from nasrepro.measure import nb201_latency as lat

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--device {args.device}: no CUDA device visible; use --device "
                              "cpu or run on a machine with a GPU")
    spec = lat.default_spec(args.device, batch=args.batch, threads=args.threads,
                            warmup=args.warmup, repeats=args.repeats, chunk=args.chunk)
    if args.indices and args.sample:
        raise ConfigError("--indices and --sample select the cells two ways: give one")
    indices = (lat.parse_indices(args.indices) if args.indices else
               lat.sample_indices(args.sample, args.seed) if args.sample else None)
    if args.limit is not None:
        indices = (indices if indices is not None else list(range(lat.N_ARCHS)))[:args.limit]
    if not args.finish:
        done = lat.measure(spec, indices, max_chunks=args.max_chunks)
        if done["remaining"]:
            print(f"paused with {done['remaining']} networks left (--max-chunks); rerun the "
                  "same command to continue (finished chunks are kept)")
    rec = latency_record.finish(spec, args.name, Path(args.out) if args.out else None)
    budget = "within" if rec["table_bytes"] <= rec["budget_bytes"] else "OVER"
    print(f"wrote {rec['table']} ({rec['table_bytes']} bytes, {budget} the "
          f"{rec['budget_bytes']}-byte budget for a committed column): column "
          f"{rec['column']}, {rec['coverage']}/{rec['total']} cells, "
          f"{rec['seconds_per_network']:.3f} s per network (full table about "
          f"{rec['estimated_full_s'] / 60:.0f} min)")
    if rec["closest"] is None:
        print("fewer than 3 cells measured: no rank correlation with HELP yet")
        return 0
    print(f"closest HELP {'CPU' if spec.device == 'cpu' else 'GPU batch-256'} device: "
          f"{rec['closest']} (Spearman rho {rec['closest_rho']:.3f} on {rec['coverage']} "
          f"cells); record {latency_record.record_dir() / (rec['name'] + '.json')}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `nasrepro nb201 ...` to the main parser."""
    p = subparsers.add_parser("nb201", help="NAS-Bench-201 table: build, export, "
                                           "measure-latency, info")
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
    sp = sub.add_parser("measure-latency", help="time every NB201 network's forward pass on "
                                                "this machine (resumable) into a latency "
                                                "column; compare it with HELP's devices")
    sp.add_argument("--device", default="cpu", help="cpu (batch 1, like HELP's CPU tables) or "
                                                    "cuda[:N] (batch 256, like NB201's column)")
    sp.add_argument("--batch", type=int, default=None, help="batch size (default 1 on the "
                                                            "CPU, 256 on a GPU)")
    sp.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    sp.add_argument("--warmup", type=int, default=None, help="untimed passes (default 3)")
    sp.add_argument("--repeats", type=int, default=None, help="timed passes; the median is "
                                                              "kept (default 10)")
    sp.add_argument("--chunk", type=int, default=None,
                    help="NB201 indices per resumable chunk file (default 250)")
    sp.add_argument("--indices", default=None, help="only these NB201 indices, e.g. 0-99,512")
    sp.add_argument("--sample", type=int, default=None,
                    help="only N indices drawn uniformly (seed --seed): a quick estimate")
    sp.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    sp.add_argument("--limit", type=int, default=None, help="only the first N selected cells")
    sp.add_argument("--max-chunks", type=int, default=None,
                    help="stop after writing N chunks (rerun to continue)")
    sp.add_argument("--finish", action="store_true",
                    help="measure nothing: write the table and record from the chunks so far")
    sp.add_argument("--name", default=None,
                    help="column name (default this_machine_<cpu|cuda>_<batch>)")
    sp.add_argument("--out", default=None, help="table file (default: $NASREPRO_DATA/nb201/"
                                                "measured/nb201_lat_<name>.npz)")
    sp.set_defaults(func=_cmd_measure)
    sp = sub.add_parser("info", help="summary of a table (default: the shipped one)")
    sp.add_argument("--table", default=None,
                    help="a table file (.npz) to summarise instead of the shipped one")
    sp.set_defaults(func=_cmd_info)
