"""LANA-style block distillation (Molchanov et al., ECCV 2022): with the trained network
frozen (eval mode), train a candidate to map the original block's input to the original
block's output, minimising the MSE between feature maps.

Each step augments a training batch, runs the frozen stem and blocks 1..p-1 to get the
block input (B, in, H, W), the frozen block p for the target (B, out, H/s, W/s), and the
candidate (in train mode, so its BN learns batch statistics) for the prediction. Adam with
a cosine schedule. The loss is recorded per step, together with the target's variance, so
curves of different positions are comparable as MSE / Var(target) (= 1 - R^2 of a
prediction by the mean). Resumable per epoch like the classifier loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasrepro.data.augment import augment, normalize
from nasrepro.data.cifar import Split
from nasrepro.measure.timers import synchronize
from nasrepro.models.wrn import WideResNet
from nasrepro.train.checkpoint import NO_PROGRESS, StageProgress
from nasrepro.train.loop import _fmt_eta, autocast, log_resumed, log_stderr
from nasrepro.train.perf import Perf, deterministic_kernels
from nasrepro.train.schedules import cosine_lr


@dataclass(frozen=True)
class DistillConfig:
    """Budget of one block distillation: epochs over the training split, Adam, batch."""

    epochs: int
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    padding: int = 4
    flip: bool = True
    channels_last: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _block_io(teacher: WideResNet, position: int, x: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        inp = teacher.forward_until(x, position)
        return inp, teacher.blocks[position - 1](inp)


def identity_mse(teacher: WideResNet, position: int, data: Split, batch: int = 500,
                 ) -> dict[str, float]:
    """MSE and target variance of the identity candidate (nothing to train) at `position`."""
    teacher.eval()
    mse, var, n = 0.0, 0.0, 0
    for i in range(0, len(data), batch):
        x = normalize(data.images[i:i + batch])
        inp, out = _block_io(teacher, position, x)
        mse += F.mse_loss(inp.float(), out.float(), reduction="sum").item()
        var += out.float().var().item() * out.numel()
        n += out.numel()
    return {"mse": mse / n, "target_var": var / n}


def distill_step(teacher: WideResNet, position: int, candidate: nn.Module,
                 opt: torch.optim.Optimizer, images: torch.Tensor, gen: torch.Generator,
                 cfg: DistillConfig, perf: Perf | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step on a uint8 batch: augment, frozen teacher -> (block input, block output),
    candidate prediction under autocast, MSE in fp32, update; returns the detached loss and
    the target's variance (both on the device)."""
    device = images.device
    x = augment(images, gen, cfg.padding, cfg.flip)
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, perf):
        inp, target = _block_io(teacher, position, x)
        pred = candidate(inp)
    loss = F.mse_loss(pred.float(), target.float())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), target.detach().float().var()


def distill_block(teacher: WideResNet, position: int, candidate: nn.Module, train: Split,
                  cfg: DistillConfig, seed: int, stage: str = "distill",
                  progress: StageProgress = NO_PROGRESS,
                  log: Callable[[str], None] | None = log_stderr,
                  on_step: Callable[[int, int], None] | None = None,
                  perf: Perf | None = None) -> dict[str, Any]:
    """Train `candidate` in place to imitate block `position` of the frozen `teacher`.

    Returns {"loss": per-step MSE list, "target_var": per-step Var(target) list,
    "epoch_time": seconds per epoch}. `on_step(epoch, step)` runs after every step.
    `perf`: the execution choices (default: the device's, nasrepro.train.perf).
    """
    device = train.images.device
    deterministic_kernels()
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    if cfg.channels_last:
        teacher.to(memory_format=torch.channels_last)
        candidate.to(memory_format=torch.channels_last)
    params = list(candidate.parameters())
    if not params:
        raise ValueError("candidate has no parameters to distill (use identity_mse)")
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    n = len(train)
    steps = n // cfg.batch_size
    total = steps * cfg.epochs
    losses: list[float] = []
    tvars: list[float] = []
    times: list[float] = []
    start = 0
    state = progress.load()
    if state is not None:
        candidate.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        losses, tvars, times, start = state["loss"], state["tvar"], state["time"], state["epoch"]
        log_resumed(log, stage, start, cfg.epochs)
    candidate.train()
    for epoch in range(start + 1, cfg.epochs + 1):
        synchronize(device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=device, generator=gen)
        ep_loss = torch.zeros(steps, device=device)
        ep_var = torch.zeros(steps, device=device)
        for i in range(steps):
            for g in opt.param_groups:
                g["lr"] = cosine_lr((epoch - 1) * steps + i, total, cfg.lr)
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            ep_loss[i], ep_var[i] = distill_step(teacher, position, candidate, opt,
                                                 train.images[idx], gen, cfg, perf)
            if on_step is not None:
                on_step(epoch, i)
        losses += ep_loss.tolist()
        tvars += ep_var.tolist()
        synchronize(device)
        times.append(time.perf_counter() - t0)
        progress.save({"model": candidate.state_dict(), "opt": opt.state_dict(),
                       "gen": gen.get_state(), "loss": losses, "tvar": tvars, "time": times,
                       "epoch": epoch})
        if log:
            eta = (cfg.epochs - epoch) * sum(times) / len(times)
            rel = sum(losses[-steps:]) / max(1e-12, sum(tvars[-steps:]))
            log(f"[{stage}] epoch {epoch}/{cfg.epochs} mse {losses[-1]:.4g} "
                f"(mse/var {rel:.3f}) time {times[-1]:.1f}s ETA {_fmt_eta(eta)}")
    return {"loss": losses, "target_var": tvars, "epoch_time": times}
