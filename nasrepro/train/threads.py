"""torch's intra-op CPU thread count, set for a block of work and restored after.

CPU float results depend on the thread count (reduction order), so experiments pin it while
they run; restoring it keeps the pin from leaking into whatever runs next in the process
(a pytest session runs every paper in one process)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None or 0: leave it)."""
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
