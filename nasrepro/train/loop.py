"""Classification training and evaluation on device-resident uint8 tensors.

The whole split lives on the device; each step gathers a batch by index, augments it in one
batched call (nasrepro.data.augment), and runs forward/backward in bf16 autocast on CUDA
(fp32 on CPU; nasrepro.train.perf, which a test can force to bf16 on the CPU), channels_last,
optionally torch.compile'd. Loss and accuracy accumulate on
the device and synchronise once per epoch. Progress is checkpointed after every epoch
(model, optimizer, RNG state, history) through a StageProgress, so a killed run resumes at
the last finished epoch and, on the CPU, produces bit-identical results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasrepro.data.augment import augment, normalize
from nasrepro.data.cifar import Split
from nasrepro.measure.timers import synchronize
from nasrepro.train.checkpoint import NO_PROGRESS, StageProgress
from nasrepro.train.perf import Perf, deterministic_kernels, resolve
from nasrepro.train.schedules import cosine_lr


@dataclass(frozen=True)
class TrainConfig:
    """One training recipe (SGD + cosine schedule + crop/flip/cutout augmentation)."""

    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: int = 0
    padding: int = 4
    flip: bool = True
    cutout: int = 0
    label_smoothing: float = 0.0
    eval_at: tuple[int, ...] = ()        # epochs after which test accuracy is measured
    eval_batch: int = 1000
    channels_last: bool = True
    compile: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def log_stderr(line: str) -> None:
    """Progress line of a training loop (reaches the terminal under pytest too)."""
    from nasrepro.progress import emit

    emit(line)


def autocast(device: torch.device, perf: Perf | None = None):
    """The autocast context of `perf` (default: bf16 on CUDA, a no-op on the CPU)."""
    return resolve(perf, device).autocast(device)


def log_resumed(log: Callable[[str], None] | None, stage: str, epoch: int, epochs: int
                ) -> None:
    """The line a resumable stage logs when it continues from a stored epoch (one wording for
    every loop: tests and users grep for it)."""
    if log:
        log(f"[{stage}] resuming after epoch {epoch}/{epochs}")


def _fmt_eta(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


@torch.no_grad()
def evaluate(model: nn.Module, data: Split, batch: int = 1000, channels_last: bool = True,
             perf: Perf | None = None) -> float:
    """Top-1 accuracy (%) of `model` in eval mode on a device-resident split."""
    device = data.images.device
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(0, len(data), batch):
        x = normalize(data.images[i:i + batch])
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, perf):
            logits = model(x)
        correct += (logits.argmax(1) == data.labels[i:i + batch]).sum()
    model.train(was_training)
    return 100.0 * correct.item() / len(data)


@dataclass
class TrainHistory:
    """Per-epoch train loss/accuracy and times; test accuracy at the eval epochs."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    test_acc: dict[int, float] = field(default_factory=dict)


def prepare_model(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    """Put `model` in the recipe's memory format; return the module the step calls (the
    torch.compile'd wrapper when cfg.compile, sharing the model's parameters)."""
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return torch.compile(model) if cfg.compile else model


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD of the recipe; weight decay on weight matrices/kernels only (not BN, biases)."""
    params_decay = [p for p in model.parameters() if p.ndim > 1]
    params_other = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.SGD([{"params": params_decay, "weight_decay": cfg.weight_decay},
                            {"params": params_other, "weight_decay": 0.0}],
                           lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def train_step(net: nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor,
               labels: torch.Tensor, gen: torch.Generator, cfg: TrainConfig,
               perf: Perf | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a uint8 batch (augment, memory format, autocast forward,
    backward, update); returns the detached loss and logits (kept on the device)."""
    device = images.device
    x = augment(images, gen, cfg.padding, cfg.flip, cfg.cutout)
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, perf):
        logits = net(x)
        loss = F.cross_entropy(logits, labels, label_smoothing=cfg.label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), logits.detach()


def train_classifier(model: nn.Module, train: Split, test: Split, cfg: TrainConfig, seed: int,
                     stage: str = "train", progress: StageProgress = NO_PROGRESS,
                     log: Callable[[str], None] | None = log_stderr,
                     on_step: Callable[[int, int], None] | None = None,
                     perf: Perf | None = None) -> TrainHistory:
    """Train `model` in place on device-resident `train`; evaluate on `test` at cfg.eval_at.

    Resumes from `progress` if it holds an end-of-epoch state of this stage. Returns the
    history (the model holds the final weights). `on_step(epoch, step)` runs after every
    optimizer step (the resume test uses it to kill the process mid-epoch). `perf`: the
    execution choices (default: the device's, nasrepro.train.perf).
    """
    device = train.images.device
    deterministic_kernels()
    net = prepare_model(model, cfg)
    opt = make_optimizer(model, cfg)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    n = len(train)
    steps = n // cfg.batch_size
    if steps < 1:
        raise ValueError(f"batch size {cfg.batch_size} exceeds the {n} training images")
    total = steps * cfg.epochs
    hist, start = TrainHistory(), 0
    state = progress.load()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        hist, start = state["hist"], state["epoch"]
        log_resumed(log, stage, start, cfg.epochs)
    model.train()
    for epoch in range(start + 1, cfg.epochs + 1):
        synchronize(device)
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=device, generator=gen)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for i in range(steps):
            step = (epoch - 1) * steps + i
            lr = cosine_lr(step, total, cfg.lr, cfg.warmup_epochs * steps)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            y = train.labels[idx]
            loss, logits = train_step(net, opt, train.images[idx], y, gen, cfg, perf)
            loss_sum += loss.float()
            correct += (logits.argmax(1) == y).sum()
            if on_step is not None:
                on_step(epoch, i)
        hist.train_loss.append(loss_sum.item() / steps)
        hist.train_acc.append(100.0 * correct.item() / (steps * cfg.batch_size))
        synchronize(device)
        hist.epoch_time.append(time.perf_counter() - t0)
        if epoch in cfg.eval_at:
            hist.test_acc[epoch] = evaluate(model, test, cfg.eval_batch, cfg.channels_last,
                                            perf)
        progress.save({"model": model.state_dict(), "opt": opt.state_dict(),
                       "gen": gen.get_state(), "hist": hist, "epoch": epoch})
        if log:
            eta = (cfg.epochs - epoch) * sum(hist.epoch_time) / len(hist.epoch_time)
            acc = (f" test {hist.test_acc[epoch]:.2f}%" if epoch in hist.test_acc else "")
            log(f"[{stage}] epoch {epoch}/{cfg.epochs} loss {hist.train_loss[-1]:.4f} "
                f"acc {hist.train_acc[-1]:.2f}%{acc} time {hist.epoch_time[-1]:.1f}s "
                f"ETA {_fmt_eta(eta)}")
    return hist


# ---- the conventional pipeline, for the side-by-side epoch-time comparison ----------------

class PerSampleCIFAR(torch.utils.data.Dataset):
    """A conventional per-sample dataset: one image at a time, augmented on the CPU
    (pad 4 + random crop, flip, normalise), collated by a DataLoader, copied to the device
    per batch. Used only to measure how much the device-resident pipeline saves."""

    def __init__(self, split: Split, padding: int = 4) -> None:
        self.images = split.images.cpu()
        self.labels = split.labels.cpu()
        self.padding = padding
        self.mean = torch.tensor((0.49139968, 0.48215841, 0.44653091)).view(3, 1, 1) * 255
        self.std = torch.tensor((0.24703223, 0.24348513, 0.26158784)).view(3, 1, 1) * 255

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.padding
        img = F.pad(self.images[i].float(), (p, p, p, p))
        dy, dx = torch.randint(0, 2 * p + 1, (2,)).tolist()
        img = img[:, dy:dy + 32, dx:dx + 32]
        if torch.rand(()) < 0.5:
            img = img.flip(2)
        return (img - self.mean) / self.std, self.labels[i]


def conventional_epoch(model: nn.Module, train: Split, cfg: TrainConfig, seed: int,
                       device: torch.device, num_workers: int = 0,
                       perf: Perf | None = None) -> float:
    """Seconds for one training epoch through a per-sample DataLoader (same model/step)."""
    torch.manual_seed(seed)
    perf = resolve(perf, device)
    deterministic_kernels()  # the same kernels as the resident pipeline it is compared with
    loader = torch.utils.data.DataLoader(PerSampleCIFAR(train, cfg.padding),
                                         batch_size=cfg.batch_size, shuffle=True,
                                         drop_last=True, num_workers=num_workers,
                                         pin_memory=perf.pin_memory)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    model.train()
    synchronize(device)
    t0 = time.perf_counter()
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with perf.autocast(device):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    synchronize(device)
    return time.perf_counter() - t0


def resident_epoch(model: nn.Module, train: Split, cfg: TrainConfig, seed: int,
                   perf: Perf | None = None) -> float:
    """Seconds for one training epoch of the device-resident pipeline (no eval, no save)."""
    one = TrainConfig(**{**cfg.as_dict(), "epochs": 1, "eval_at": ()})
    hist = train_classifier(model, train, train, one, seed, log=None, perf=perf)
    return hist.epoch_time[0]
