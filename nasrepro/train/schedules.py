"""Learning-rate schedules as pure functions of the iteration (testable with hypothesis)."""

from __future__ import annotations

import math


def caffe_inv_lr(iteration: int | float, base_lr: float, gamma: float = 0.001,
                 power: float = 0.75) -> float:
    """Caffe's "inv" policy: base_lr * (1 + gamma * iter) ** (-power)."""
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    return base_lr * (1.0 + gamma * iteration) ** (-power)


def cosine_lr(step: int | float, total_steps: int, base_lr: float, warmup_steps: int = 0,
              final_lr: float = 0.0) -> float:
    """Linear warm-up then cosine decay from base_lr to final_lr over total_steps."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_lr + 0.5 * (base_lr - final_lr) * (1.0 + math.cos(math.pi * progress))
