"""Training LeNet on MNIST the Caffe way, on device-resident tensors.

The whole MNIST lives on the training device as uint8 tensors; a mini-batch is a slice of
them (Caffe's LMDB data layer reads the training set in stored order and wraps around, no
shuffling), scaled by 1/256 inside the model. Per step there is no Python data loading and
no host sync: mini-batch correct counts stay on the device until a block ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nasrepro.data.mnist import MNIST
from nasrepro.measure.timers import Stopwatch
from nasrepro.models.lenet import CaffeSGD, LeNet, StackedCaffeSGD, StackedLeNet
from nasrepro.train.schedules import caffe_inv_lr

GAMMA, POWER = 0.001, 0.75  # the paper's "inv" policy (Caffe's example uses gamma 1e-4)


@dataclass(frozen=True)
class Case:
    """One row of the paper's Table 1."""

    batch: int
    test_batch: int
    base_lr: float


def sequential_batch(images: torch.Tensor, labels: torch.Tensor, it: int, bs: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mini-batch `it`: images [it*B, (it+1)*B) modulo 60000 (Caffe's sequential read)."""
    n = images.shape[0]
    start = (it * bs) % n
    if start + bs <= n:
        return images[start:start + bs], labels[start:start + bs]
    idx = torch.arange(start, start + bs, device=images.device) % n
    return images[idx], labels[idx]


class LeNetTrainer:
    """One LeNet training run: Caffe SGD with the inv schedule over sequential mini-batches."""

    def __init__(self, data: MNIST, case: Case, seed: int, device: str = "cpu") -> None:
        self.case, self.device = case, device
        self.images = data.train_images.to(device)                 # 60000 x 28 x 28 uint8
        self.labels = data.train_labels.to(device).long()          # 60000
        self.test_images = data.test_images.to(device)             # 10000 x 28 x 28 uint8
        self.test_labels = data.test_labels.to(device).long()
        self.model = LeNet(seed).to(device)
        self.opt = CaffeSGD(self.model)
        self.iteration = 0
        self.correct: list[torch.Tensor] = []  # per-iteration correct counts (on device)

    def batch(self, it: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mini-batch `it` of this case (Caffe's sequential read, see sequential_batch)."""
        return sequential_batch(self.images, self.labels, it, self.case.batch)

    def train(self, steps: int) -> None:
        """`steps` SGD iterations; lr(iter) = Caffe inv(base_lr, gamma 0.001, power 0.75)."""
        for _ in range(steps):
            x, y = self.batch(self.iteration)
            logits = self.model(x)
            F.cross_entropy(logits, y).backward()
            self.opt.step(caffe_inv_lr(self.iteration, self.case.base_lr, GAMMA, POWER))
            self.correct.append((logits.detach().argmax(1) == y).sum())
            self.iteration += 1

    @torch.no_grad()
    def evaluate(self) -> float:
        """Accuracy on the full 10,000-image test set, in chunks of the case's test batch."""
        correct = torch.zeros((), dtype=torch.long, device=self.test_images.device)
        for xs, ys in zip(self.test_images.split(self.case.test_batch),
                          self.test_labels.split(self.case.test_batch), strict=True):
            correct += (self.model(xs).argmax(1) == ys).sum()
        return correct.item() / self.test_images.shape[0]

    def batch_accuracy(self) -> np.ndarray:
        """Mini-batch training accuracy of every iteration so far (one host sync)."""
        if not self.correct:
            return np.zeros(0)
        return torch.stack(self.correct).cpu().numpy() / self.case.batch


class StackedTrainer:
    """K training runs that share a batch size, trained together on the same mini-batches.

    Member i is (cases[i], seeds[i]): its own init (LeNet(seed)), its own lr schedule (Caffe
    inv from its base lr) and its own Caffe SGD state, stacked in one StackedLeNet. Caffe's
    sequential read makes mini-batch `it` the same images for every case of a batch size, so
    one pass over a batch serves all members; each member's loss is its own mean
    cross-entropy (the sum over members has disjoint gradients)."""

    def __init__(self, data: MNIST, cases: list[Case], seeds: list[int],
                 device: str = "cpu") -> None:
        if len({(c.batch, c.test_batch) for c in cases}) != 1 or len(cases) != len(seeds):
            raise ValueError("a stack needs one (batch, test batch) and one seed per case")
        self.cases, self.seeds, self.device = list(cases), list(seeds), device
        self.images = data.train_images.to(device)                 # 60000 x 28 x 28 uint8
        self.labels = data.train_labels.to(device).long()          # 60000
        self.test_images = data.test_images.to(device)             # 10000 x 28 x 28 uint8
        self.test_labels = data.test_labels.to(device).long()
        self.model = StackedLeNet(self.seeds).to(device)
        self.opt = StackedCaffeSGD(self.model)
        self.base_lr = [c.base_lr for c in cases]
        self.iteration = 0
        self.correct: list[torch.Tensor] = []  # per-iteration K-vectors of correct counts

    def lr(self, it: int) -> torch.Tensor:
        """Each member's Caffe inv lr at iteration `it` (K-vector, float64 like Python's)."""
        return torch.tensor([caffe_inv_lr(it, b, GAMMA, POWER) for b in self.base_lr],
                            dtype=torch.float64, device=self.device)

    def train(self, steps: int) -> None:
        """`steps` SGD iterations of every member on the shared sequential mini-batches."""
        k = self.model.k
        for _ in range(steps):
            x, y = sequential_batch(self.images, self.labels, self.iteration,
                                    self.cases[0].batch)             # B x 28 x 28, B
            logits = self.model(x)                                   # K x B x 10
            per_member = F.cross_entropy(logits.reshape(-1, 10), y.repeat(k),
                                         reduction="none").view(k, -1).mean(1)  # K
            per_member.sum().backward()
            self.opt.step(self.lr(self.iteration))
            self.correct.append((logits.detach().argmax(2) == y).sum(1))  # K
            self.iteration += 1

    @torch.no_grad()
    def evaluate(self) -> np.ndarray:
        """Each member's accuracy on the full 10,000-image test set (chunks of the test batch)."""
        tb = self.cases[0].test_batch
        correct = torch.zeros(self.model.k, dtype=torch.long, device=self.test_images.device)
        for xs, ys in zip(self.test_images.split(tb), self.test_labels.split(tb), strict=True):
            correct += (self.model(xs).argmax(2) == ys).sum(1)
        return correct.cpu().numpy() / self.test_images.shape[0]

    def batch_accuracy(self) -> np.ndarray:
        """K x iterations mini-batch training accuracy (one host sync)."""
        if not self.correct:
            return np.zeros((self.model.k, 0))
        return torch.stack(self.correct, 1).cpu().numpy() / self.cases[0].batch


def run_stack(data: MNIST, cases: list[Case], seeds: list[int], iters: int = 1000,
              eval_every: int = 100, device: str = "cpu",
              on_block: Callable[[int], None] | None = None) -> list[dict[str, np.ndarray]]:
    """Train cases of one batch size together (StackedTrainer); one run_case-shaped result
    per member. `block_seconds` is the stack's time per block, shared by its members (the
    per-case cost is measured by the interleaved timing run, not here). on_block(iterations
    done) after each block's test pass (progress)."""
    trainer = StackedTrainer(data, cases, seeds, device)
    sw = Stopwatch(device)
    test_acc = []
    for _ in range(iters // eval_every):
        with sw.measure():
            trainer.train(eval_every)
        test_acc.append(trainer.evaluate())
        if on_block is not None:
            on_block(trainer.iteration)
    batch_acc, tests = trainer.batch_accuracy(), np.stack(test_acc, 1)  # K x iters, K x ckpts
    return [{"iterations": np.arange(eval_every, iters + 1, eval_every),
             "batch_acc": batch_acc[i],
             "train_acc": batch_acc[i].reshape(-1, eval_every).mean(axis=1),
             "test_acc": tests[i],
             "block_seconds": np.asarray(sw.laps)} for i in range(len(cases))]


def run_case(data: MNIST, case: Case, seed: int, iters: int = 1000, eval_every: int = 100,
             device: str = "cpu") -> dict[str, np.ndarray]:
    """Train one case; every `eval_every` iterations record training accuracy (mean of the
    last `eval_every` mini-batch accuracies), full test accuracy, and the device-synchronised
    training time of the block (evaluation excluded)."""
    trainer = LeNetTrainer(data, case, seed, device)
    sw = Stopwatch(device)
    test_acc = []
    for _ in range(iters // eval_every):
        with sw.measure():
            trainer.train(eval_every)
        test_acc.append(trainer.evaluate())
    batch_acc = trainer.batch_accuracy()
    return {
        "iterations": np.arange(eval_every, iters + 1, eval_every),
        "batch_acc": batch_acc,
        "train_acc": batch_acc.reshape(-1, eval_every).mean(axis=1),
        "test_acc": np.asarray(test_acc),
        "block_seconds": np.asarray(sw.laps),
    }
