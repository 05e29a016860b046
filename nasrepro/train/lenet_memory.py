"""Per-case memory of LeNet training (LENET-3), each case measured in a fresh process.

See nasrepro.measure.memory for what "process RSS" and "tensor memory" mean here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nasrepro.data.mnist import MNIST
from nasrepro.train.lenet_loop import Case, LeNetTrainer


def measure_memory(data: MNIST, case: Case, iters: int = 100, device: str = "cpu",
                   seed: int = 0) -> dict[str, float]:
    """Memory of one case in this process: RSS sampled every 5 iterations while training
    `iters` iterations and once after a test pass (mean/max), plus the tensor memory (CUDA:
    peak allocated over the same work; CPU: measured live bytes at a step's peak, see
    nasrepro.measure.memory). Run it in a fresh process per case (`memory_in_subprocess`)
    so one case's freed memory does not inflate the next case's RSS."""
    from nasrepro.measure import memory as mem

    trainer = LeNetTrainer(data, case, seed, device)
    baseline = mem.rss_bytes()
    sampler = mem.RssSampler()
    mem.cuda_peak_reset(device)
    for _ in range(iters // 5):
        trainer.train(5)
        sampler.sample()
    trainer.evaluate()
    sampler.sample()
    if torch.device(device).type == "cuda":
        tensor = mem.cuda_peak_bytes(device)
        kind = "cuda max_memory_allocated"
    else:
        x, y = trainer.batch(trainer.iteration)
        tensor = mem.cpu_step_tensor_bytes(
            lambda: F.cross_entropy(trainer.model(x), y),
            [*trainer.opt.params, *[p.grad if p.grad is not None else torch.zeros_like(p)
                                    for p in trainer.opt.params], *trainer.opt.history],
            [x, y])
        kind = "cpu live tensor bytes at step peak (params+grads+momentum+batch+saved)"
    s = sampler.summary()
    return {"rss_mean_mib": s["mean_mib"], "rss_max_mib": s["max_mib"],
            "rss_before_training_mib": baseline / mem.MIB, "tensor_mib": tensor / mem.MIB,
            "tensor_kind": kind}


def memory_in_subprocess(case: Case, iters: int, device: str) -> dict[str, float]:
    """measure_memory() in a fresh Python process (as each Caffe run was its own process)."""
    import json
    import subprocess
    import sys

    arg = json.dumps({"batch": case.batch, "test_batch": case.test_batch,
                      "base_lr": case.base_lr, "iters": iters, "device": device})
    out = subprocess.run([sys.executable, "-m", "nasrepro.train.lenet_memory", arg],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import json
    import sys

    from nasrepro.data.mnist import load_mnist

    a = json.loads(sys.argv[1])
    result = measure_memory(load_mnist(), Case(a["batch"], a["test_batch"], a["base_lr"]),
                            a["iters"], a["device"])
    print(json.dumps(result))
