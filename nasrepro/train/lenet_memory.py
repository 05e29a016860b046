"""Per-case memory of LeNet training (LENET-3), each case measured in a fresh process.

Two measured quantities (nothing here is computed from tensor shapes):
- process RSS (psutil), sampled while training: what the paper measured;
- tensor memory: on CUDA the allocator's peak (max_memory_allocated); on the CPU the peak of
  the CPU allocator's live bytes recorded by the torch profiler (profile_memory=True: every
  allocation and free of a tensor, with the allocator's running total) over a window of
  training steps and one full test pass, plus the parameters and momentum that exist before
  the window. A leak (memory kept from step to step) shows as bytes still live at the end of
  the window and raises the peak; a buffer that depends on the batch or the lr shows in the
  peak of the cases that have it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable

import torch

from nasrepro.data.mnist import MNIST
from nasrepro.train.lenet_loop import Case, LeNetTrainer


def cpu_allocator_window(work: Callable[[], None]) -> dict[str, int]:
    """Run `work()` under the torch profiler with memory profiling; return the CPU allocator's
    peak live bytes of the tensors allocated inside the window, the bytes still live at its
    end (retained = leaked or kept on purpose) and the number of allocations recorded.

    The profiler's memory events carry the allocator's running total ("Total Allocated") of
    bytes allocated while profiling and not yet freed; its maximum is the peak."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as fh:
            events = json.load(fh)["traceEvents"]
    finally:
        os.unlink(path)
    mem = sorted((e for e in events if e.get("name") == "[memory]"
                  and e["args"].get("Device Type") == 0), key=lambda e: e["ts"])
    if not mem:
        return {"peak_bytes": 0, "retained_bytes": 0, "allocations": 0}
    # the running total is process-wide (it still counts what earlier profiled windows left
    # allocated): measure from its value before the window's first event
    start = int(mem[0]["args"]["Total Allocated"]) - int(mem[0]["args"]["Bytes"])
    totals = [int(e["args"]["Total Allocated"]) - start for e in mem]
    return {"peak_bytes": max(totals), "retained_bytes": totals[-1],
            "allocations": sum(1 for e in mem if e["args"]["Bytes"] > 0)}


def measure_memory(data: MNIST, case: Case, iters: int = 100, device: str = "cpu",
                   seed: int = 0, window_steps: int = 5) -> dict[str, float]:
    """Memory of one case in this process: RSS sampled every 5 iterations while training
    `iters` iterations and once after a test pass (mean/max), then the tensor memory over
    `window_steps` more training steps and one test pass (CUDA: allocator peak; CPU: profiler
    allocator peak + the parameters and momentum that exist before the window). Run it in a
    fresh process per case (`memory_in_subprocess`) so one case's freed memory does not
    inflate the next case's RSS."""
    from nasrepro.measure import memory as mem

    trainer = LeNetTrainer(data, case, seed, device)
    baseline = mem.rss_bytes()
    sampler = mem.RssSampler()
    for _ in range(iters // 5):
        trainer.train(5)
        sampler.sample()
    trainer.evaluate()
    sampler.sample()

    def window() -> None:
        trainer.train(window_steps)
        trainer.evaluate()

    persistent = sum(t.nbytes for t in (*trainer.opt.params, *trainer.opt.history))
    out: dict[str, float | str] = {}
    if torch.device(device).type == "cuda":
        mem.cuda_peak_reset(device)
        window()
        tensor = mem.cuda_peak_bytes(device)
        out["tensor_kind"] = "cuda max_memory_allocated"
    else:
        w = cpu_allocator_window(window)
        tensor = persistent + w["peak_bytes"]
        out.update(tensor_kind=("cpu allocator peak (torch profiler, profile_memory) over "
                                f"{window_steps} training steps + 1 test pass, plus params "
                                "and momentum"),
                   window_peak_mib=w["peak_bytes"] / mem.MIB,
                   retained_bytes=w["retained_bytes"], allocations=w["allocations"])
    s = sampler.summary()
    return {"rss_mean_mib": s["mean_mib"], "rss_max_mib": s["max_mib"],
            "rss_before_training_mib": baseline / mem.MIB, "tensor_mib": tensor / mem.MIB,
            "persistent_mib": persistent / mem.MIB, **out}


def memory_in_subprocess(case: Case, iters: int, device: str, window_steps: int = 5
                         ) -> dict[str, float]:
    """measure_memory() in a fresh Python process (as each Caffe run was its own process)."""
    import subprocess
    import sys

    arg = json.dumps({"batch": case.batch, "test_batch": case.test_batch,
                      "base_lr": case.base_lr, "iters": iters, "device": device,
                      "window_steps": window_steps})
    out = subprocess.run([sys.executable, "-m", "nasrepro.train.lenet_memory", arg],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import sys

    from nasrepro.data.mnist import load_mnist

    torch.set_num_threads(1)  # as the study runs; the probe's numbers must not depend on it
    a = json.loads(sys.argv[1])
    result = measure_memory(load_mnist(), Case(a["batch"], a["test_batch"], a["base_lr"]),
                            a["iters"], a["device"], window_steps=a["window_steps"])
    print(json.dumps(result))
