"""REINFORCE (Williams 1992) over NAS-Bench-201 look-ups, batched across seeds.

run_reinforce(controller, lookup, reward_fn, n_samples, ...) trains any Controller (see
nasrepro.nas.controllers.base) with one architecture per update per seed, as NAS-Bench-201's
REINFORCE baseline does:
  sample ops [S, 6] -> (acc, lat) = lookup(ops) -> R = reward_fn(acc, lat)
  baseline b = bias-corrected exponential moving average of R (momentum m), updated with
  the current R before the advantage (NB201's ExponentialMovingAverage);
  loss = sum_s [-(R_s - b_s) * log_prob_s - entropy_weight * entropy_s];  Adam step.
Adam is element-wise and the loss is a sum over seeds, so each seed's search is exactly
the one it would run alone; only the random stream is shared (one generator per batch).

Search-task helpers, shared by every controller's experiment:
  TableLookup(table, sources)   row s looks up its latency in sources[s]
  GroupedReward(groups)         row s gets reward function/target of its group
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from nasrepro.data.nb201 import NB201Table
from nasrepro.nas.controllers.base import Controller
from nasrepro.nas.search_space import ops_code

Lookup = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
RewardFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Trace:
    """Per-seed history of one batched search, tensors [S, N] (N = samples per seed).

    row: NB201 table row of each sample; acc: accuracy (fraction); lat: latency (ms);
    reward: the reward the controller was trained on.
    """

    row: torch.Tensor
    acc: torch.Tensor
    lat: torch.Tensor
    reward: torch.Tensor


class TableLookup:
    """ops [S, 6] -> (row [S], acc [S] fraction, lat [S] ms) with a latency source per row."""

    def __init__(self, table: NB201Table, sources: Sequence[str]) -> None:
        self.table = table
        names = sorted(set(sources))
        self.columns = torch.stack([table.latency_ms(n) for n in names])   # [K, N]
        self.source_of_row = torch.tensor([names.index(s) for s in sources],
                                          dtype=torch.long, device=table.acc.device)
        self.acc = table.acc / 100.0

    def __call__(self, ops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = self.table.row_of_code[ops_code(ops)]
        return rows, self.acc[rows], self.columns[self.source_of_row, rows]


class GroupedReward:
    """Row-wise rewards: groups is a list of (reward_fn(acc, lat) -> R, row indices).

    Every row must belong to exactly one group; each group is evaluated vectorised.
    """

    def __init__(self, groups: Sequence[tuple[RewardFn, Sequence[int]]], n_rows: int,
                 device: str | torch.device = "cpu") -> None:
        seen = torch.zeros(n_rows, dtype=torch.long)
        self.groups = []
        for fn, rows in groups:
            idx = torch.as_tensor(list(rows), dtype=torch.long)
            seen[idx] += 1
            self.groups.append((fn, idx.to(device)))
        if not bool((seen == 1).all()):
            raise ValueError("GroupedReward: every row must be in exactly one group")

    def __call__(self, acc: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(acc)
        for fn, idx in self.groups:
            out[idx] = fn(acc[idx], lat[idx])
        return out


class EMABaseline:
    """REINFORCE baseline per seed: the bias-corrected exponential moving average of the
    rewards so far (the current reward included), so the first baseline is the first
    reward rather than (1 - momentum) times it."""

    def __init__(self, n_seeds: int, momentum: float, device: torch.device | str = "cpu"
                 ) -> None:
        self.momentum = momentum
        self.num = torch.zeros(n_seeds, dtype=torch.float64, device=device)
        self.den = torch.zeros(n_seeds, dtype=torch.float64, device=device)

    def update(self, reward: torch.Tensor) -> torch.Tensor:
        """Fold in one reward per seed; return the corrected average [S]."""
        m = self.momentum
        self.num.mul_(m).add_((1 - m) * reward.to(torch.float64))
        self.den.mul_(m).add_(1 - m)
        return self.num / self.den


Observer = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None]


def run_reinforce(controller: Controller, lookup: Lookup, reward_fn: RewardFn,
                  n_samples: int, *, lr: float, ema_momentum: float = 0.9,
                  entropy_weight: float = 0.0, generator: torch.Generator,
                  progress: Callable[[int, Trace], None] | None = None,
                  progress_every: int = 1000,
                  optimizer: torch.optim.Optimizer | None = None,
                  observe: Observer | None = None, keep_trace: bool = True) -> Trace | None:
    """Train `controller` for n_samples updates (one architecture per seed each);
    return the Trace [S, n_samples]. Deterministic for a given generator state.

    optimizer: replaces Adam(lr) (e.g. Adam with one parameter group per learning rate).
    observe(t, row, acc, lat, reward) sees every step; with keep_trace=False no [S, N]
    trace is stored (returns None): large batches reduce the samples on the fly."""
    s = controller.n_seeds
    opt = optimizer or torch.optim.Adam(controller.parameters(), lr=lr)
    dev = next(controller.parameters()).device
    width = n_samples if keep_trace else 0
    rows = torch.empty(s, width, dtype=torch.long, device=dev)
    acc_t = torch.empty(s, width, dtype=torch.float64, device=dev)
    lat_t = torch.empty_like(acc_t)
    rew_t = torch.empty_like(acc_t)
    baseline = EMABaseline(s, ema_momentum, dev)
    for t in range(n_samples):
        smp = controller.sample(generator)
        with torch.no_grad():
            row, acc, lat = lookup(smp.ops)
            reward = reward_fn(acc, lat).to(torch.float64)
            advantage = (reward - baseline.update(reward)).to(smp.log_prob.dtype)
        loss = -(advantage * smp.log_prob).sum()
        if entropy_weight:
            loss = loss - entropy_weight * smp.entropy.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if observe is not None:
            observe(t, row, acc, lat, reward)
        if keep_trace:
            rows[:, t], acc_t[:, t], lat_t[:, t], rew_t[:, t] = row, acc, lat, reward
        if progress is not None and (t + 1) % progress_every == 0:
            progress(t + 1, Trace(rows[:, : t + 1], acc_t[:, : t + 1], lat_t[:, : t + 1],
                                  rew_t[:, : t + 1]))
    return Trace(rows, acc_t, lat_t, rew_t) if keep_trace else None
