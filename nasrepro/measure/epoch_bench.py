"""Epoch time of the OPSUB fine-tune recipe on one device, packed and unpacked.

For each concurrency k (default 1, 2, 4, 8) it starts k worker processes on the device, each
holding CIFAR-10 on the device and training its own WRN (default WRN-40-2) with the full
tier's fine-tune recipe (batch 128, crop+flip+cutout 16) through `train_classifier` with the
device's execution choices (bf16 autocast + channels_last on CUDA); the workers set up
(import, data, model), report ready, start together and time every epoch. The first epoch
pays the warm-up, so the last one is the steady state. Then the k = 1 worker, warm, runs one
epoch through a conventional per-sample DataLoader (`conventional_epoch`) for the speed
ratio of the same run. The JSON (written after every round, so a timeout keeps what
finished) is what docs/gpu.md asks to commit:

  python -m nasrepro.measure.epoch_bench --device cuda --out $OUT/epoch_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

READY, GO, RESULT, CONV = "EPOCH_BENCH_READY", "GO", "EPOCH_BENCH_RESULT ", "EPOCH_BENCH_CONV "


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m nasrepro.measure.epoch_bench",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda if present)")
    ap.add_argument("--depth", type=int, default=40)
    ap.add_argument("--widen", type=int, default=2)
    ap.add_argument("--per-class", type=int, default=None,
                    help="train on the first N images of each class (default: all 50,000)")
    ap.add_argument("--batch", type=int, default=None,
                    help="batch size (default: the full tier's fine-tune batch, 128)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per worker (>= 2: the "
                    "first is warm-up)")
    ap.add_argument("--concurrency", default="1,2,4,8",
                    help="comma-separated worker counts, one round each")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads per "
                    "worker (default: torch's; use 1 on a CPU)")
    ap.add_argument("--loader-workers", type=int, default=None,
                    help="DataLoader workers of the conventional epoch (default min(8, cpus))")
    ap.add_argument("--no-conventional", action="store_true",
                    help="skip the per-sample DataLoader epoch")
    ap.add_argument("--compile", action="store_true", help="torch.compile the step")
    ap.add_argument("--out", type=Path, default=None, help="JSON file to write")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--with-conventional", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error("--epochs must be >= 1")
    batch = _recipe(args).batch_size
    if args.per_class is not None and args.per_class * 10 < batch:
        ap.error(f"--per-class {args.per_class} gives {args.per_class * 10} images, fewer "
                 f"than one batch of {batch}: raise --per-class or lower --batch")
    return args


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _recipe(args: argparse.Namespace):
    from nasrepro.experiments.opsub import TIERS

    ft = TIERS["full"]["finetune"]
    batch = args.batch or ft.batch_size
    return type(ft)(**{**ft.as_dict(), "epochs": args.epochs, "eval_at": (),
                       "batch_size": batch, "compile": args.compile})


def _worker(args: argparse.Namespace) -> None:
    """One training process: set up, say READY, wait for GO, train, print the result."""
    import torch

    from nasrepro.data import cifar
    from nasrepro.models.wrn import WideResNet
    from nasrepro.train.loop import conventional_epoch, train_classifier

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(_device(args.device))
    data = cifar.load("train", per_class=args.per_class).to(dev)
    cfg = _recipe(args)
    torch.manual_seed(args.seed)
    model = WideResNet(args.depth, args.widen).to(dev)
    print(READY, flush=True)
    if sys.stdin.readline().strip() != GO:
        return
    hist = train_classifier(model, data, data, cfg, seed=args.seed, log=None)
    mem = (torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None)
    print(RESULT + json.dumps({"seed": args.seed, "images": len(data),
                               "epoch_s": hist.epoch_time, "train_loss": hist.train_loss,
                               "max_memory_gib": mem}), flush=True)
    if args.with_conventional:
        torch.manual_seed(args.seed)
        fresh = WideResNet(args.depth, args.widen).to(dev)
        workers = args.loader_workers
        if workers is None:
            workers = min(8, os.cpu_count() or 1)
        secs = conventional_epoch(fresh, data, cfg, seed=args.seed, device=dev,
                                  num_workers=workers)
        print(CONV + json.dumps({"epoch_s": secs, "loader_workers": workers}), flush=True)


def _worker_argv(args: argparse.Namespace, seed: int, conventional: bool) -> list[str]:
    argv = [sys.executable, "-m", "nasrepro.measure.epoch_bench", "--worker",
            "--device", args.device, "--depth", str(args.depth), "--widen", str(args.widen),
            "--epochs", str(args.epochs), "--seed", str(seed)]
    for flag, value in (("--per-class", args.per_class), ("--batch", args.batch),
                        ("--threads", args.threads), ("--loader-workers", args.loader_workers)):
        if value is not None:
            argv += [flag, str(value)]
    if args.compile:
        argv.append("--compile")
    if conventional:
        argv.append("--with-conventional")
    return argv


def _expect(proc: subprocess.Popen, prefix: str) -> str:
    """The payload of the next stdout line of `proc` that starts with `prefix`."""
    for line in proc.stdout:
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise RuntimeError(f"epoch_bench worker exited with {proc.wait()} before {prefix.strip()}"
                       " (its error is on stderr above)")


def run_round(args: argparse.Namespace, k: int, conventional: bool) -> dict[str, Any]:
    """k workers started together; per-worker epoch times, steady-state throughput."""
    procs = [subprocess.Popen(_worker_argv(args, seed, conventional and seed == 0),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for seed in range(k)]
    try:
        for p in procs:
            _expect(p, READY)
        t0 = time.perf_counter()
        for p in procs:
            p.stdin.write(GO + "\n")
            p.stdin.flush()
        workers = [json.loads(_expect(p, RESULT)) for p in procs]
        wall = time.perf_counter() - t0
        conv = json.loads(_expect(procs[0], CONV)) if conventional else None
        for p in procs:
            p.stdin.close()
            if p.wait() != 0:
                raise RuntimeError(f"epoch_bench worker exited with {p.returncode}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    steady = [w["epoch_s"][-1] for w in workers]
    images = workers[0]["images"]
    out = {"concurrency": k, "images": images, "wall_s": wall, "workers": workers,
           "steady_epoch_s": sum(steady) / k}
    out["images_per_s"] = sum(images / s for s in steady)
    out["effective_epoch_s"] = images / out["images_per_s"]  # device time per epoch
    if conv is not None:
        out["conventional"] = conv
    return out


def _meta(args: argparse.Namespace, device: str) -> dict[str, Any]:
    import torch

    from nasrepro.measure.environment import fingerprint
    from nasrepro.train.perf import Perf

    cfg = _recipe(args)
    return {"device": device, "environment": fingerprint(device),
            "network": f"WRN-{args.depth}-{args.widen}",
            "batch": cfg.batch_size, "epochs_per_worker": args.epochs,
            "recipe": cfg.as_dict(), "perf": Perf.for_device(device).as_dict(),
            # the training loops set these (nasrepro.train.perf.deterministic_kernels)
            "cudnn": {"deterministic": True, "benchmark": False,
                      "version": torch.backends.cudnn.version()},
            "torch": torch.__version__, "cpu_count": os.cpu_count(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    """Run the benchmark (or, with --worker, one worker); return and write the JSON."""
    args = parse_args(argv)
    if args.worker:
        _worker(args)
        return None
    before = signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))  # reap the workers
    try:
        return _bench(args)
    finally:
        signal.signal(signal.SIGTERM, before)


def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from nasrepro.files import atomic_write_json

    args.device = _device(args.device)
    ks = [int(k) for k in args.concurrency.split(",") if k.strip()]
    result = _meta(args, args.device)
    result["rounds"] = []
    t_start = time.perf_counter()
    for i, k in enumerate(ks):
        try:
            rnd = run_round(args, k, conventional=(i == 0 and not args.no_conventional))
        except RuntimeError as exc:  # e.g. out of memory at this k: larger k would fail too
            result.setdefault("errors", []).append({"concurrency": k, "error": str(exc)})
            if args.out:
                atomic_write_json(args.out, result)
            print(f"[epoch_bench] k={k}: {exc}; no larger k tried", flush=True)
            break
        conv = rnd.pop("conventional", None)
        result["rounds"].append(rnd)
        result["images"] = rnd["images"]
        if conv is not None:
            resident = rnd["steady_epoch_s"]
            result["conventional"] = {**conv, "resident_epoch_s": resident,
                                      "concurrency_of_resident": k,
                                      "speedup": conv["epoch_s"] / resident}
        result["seconds"] = time.perf_counter() - t_start
        _summarise(result)
        if args.out:
            atomic_write_json(args.out, result)
        print(f"[epoch_bench] k={k}: steady epoch {rnd['steady_epoch_s']:.2f} s per worker, "
              f"{rnd['images_per_s']:.0f} images/s together, device time per epoch "
              f"{rnd['effective_epoch_s']:.2f} s" + (
                  f"; DataLoader epoch {conv['epoch_s']:.2f} s "
                  f"(x{result['conventional']['speedup']:.2f})" if conv else ""), flush=True)
    return result


def _summarise(result: dict[str, Any]) -> None:
    """The goal figures of issue 14 (meaningful on the GPU only; stated, not judged, here)."""
    one = next((r for r in result["rounds"] if r["concurrency"] == 1), None)
    best = min(result["rounds"], key=lambda r: r["effective_epoch_s"])
    result["summary"] = {
        "epoch_s_alone": one["steady_epoch_s"] if one else None,
        "best_effective_epoch_s": best["effective_epoch_s"],
        "best_concurrency": best["concurrency"],
        "speedup_vs_dataloader": (result["conventional"]["speedup"]
                                  if "conventional" in result else None),
        "goals": "WRN-40-2 epoch <= 2 s alone on one H200 (bf16, channels_last, resident "
                 "data); >= 3x the per-sample DataLoader epoch of the same run",
    }


if __name__ == "__main__":
    res = main()
    if res is not None and not res["rounds"]:  # a failure at a larger k still measured some
        sys.exit(f"epoch_bench: nothing measured: {res['errors'][0]['error']}")
