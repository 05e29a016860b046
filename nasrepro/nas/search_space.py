"""NAS-Bench-201 cell search space: arch string <-> 6 op choices (<-> index via the table).

Arch string: |op~0|+|op~0|op~1|+|op~0|op~1|op~2|  (node 1, node 2, node 3 inputs).
Edge order used everywhere in the suite (the order ops appear in the string):
  0: 0->1, 1: 0->2, 2: 1->2, 3: 0->3, 4: 1->3, 5: 2->3.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nasrepro.errors import ConfigError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
N_EDGES = 6
N_OPS = len(OPS)
# (target node, source node) of each edge in suite order
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_OP_INDEX = {op: i for i, op in enumerate(OPS)}


def ops_to_arch_str(ops: Sequence[int]) -> str:
    """6 op indices (suite edge order) -> NB201 arch string."""
    ops = [int(o) for o in ops]
    if len(ops) != N_EDGES or any(not 0 <= o < N_OPS for o in ops):
        raise ConfigError(f"need {N_EDGES} op indices in 0..{N_OPS - 1}, got {ops}")
    names = [OPS[o] for o in ops]
    return (f"|{names[0]}~0|+|{names[1]}~0|{names[2]}~1|+"
            f"|{names[3]}~0|{names[4]}~1|{names[5]}~2|")


def arch_str_to_ops(arch: str) -> list[int]:
    """NB201 arch string -> 6 op indices; the error names the malformed part."""
    nodes = arch.split("+")
    if len(nodes) != 3:
        raise ConfigError(f"arch string {arch!r}: expected 3 node groups joined by '+', "
                          f"got {len(nodes)}")
    ops: list[int] = []
    for node_i, group in enumerate(nodes, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ConfigError(f"arch string {arch!r}: node {node_i} part {group!r} must be "
                              "wrapped in '|'")
        parts = group[1:-1].split("|")
        if len(parts) != node_i:
            raise ConfigError(f"arch string {arch!r}: node {node_i} part {group!r} needs "
                              f"{node_i} input edge(s), got {len(parts)}")
        for src, part in enumerate(parts):
            op, sep, inp = part.partition("~")
            if not sep or inp != str(src):
                raise ConfigError(f"arch string {arch!r}: edge {part!r} of node {node_i} "
                                  f"must read 'op~{src}'")
            if op not in _OP_INDEX:
                raise ConfigError(f"arch string {arch!r}: unknown op {op!r} in {part!r}; "
                                  f"ops are {', '.join(OPS)}")
            ops.append(_OP_INDEX[op])
    return ops


def ops_code(ops: torch.Tensor) -> torch.Tensor:
    """Base-5 code of op tuples ([..., 6] long -> [...] long), edge 0 most significant.

    Not the NB201 index: the benchmark table maps code -> index (its own row order)."""
    weights = torch.tensor([N_OPS ** (N_EDGES - 1 - e) for e in range(N_EDGES)],
                           dtype=torch.long, device=ops.device)
    return (ops.long() * weights).sum(-1)
