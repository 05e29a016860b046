"""GC-NAS controller: a graph convolutional network that builds an NB201 cell op by op.

Paper D (GC-NAS) proposes replacing the NAS controller's RNN with a GCN whose input is the
architecture built so far. This module is that proposal made concrete on the NAS-Bench-201
cell (6 edges x 5 ops), in plain PyTorch with dense adjacency (8 nodes), batched over S
independent seeds (the protocol of nasrepro.nas.controllers.base).

The graph ("layer composition graph", paper Fig. 6)
  NB201 puts ops on the edges of a 4-node DAG. A "layer" of the paper is one op, so the
  controller's graph is the cell's line graph plus the cell's input and output:
    node 0      the cell input (NB201 node 0)
    node 1 + e  the op on edge e (suite edge order: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3)
    node 7      the cell output (NB201 node 3)
  A directed connection a -> b means "a's output is b's input": cell input -> every edge
  leaving node 0; edge (i -> j) -> every edge leaving node j; every edge into node 3 ->
  cell output. Each node carries an integer type only (paper: "layer types mapped to
  numbers, no hyper-parameters"): one of the 5 ops, UNDECIDED, QUERY (the op being decided
  now), INPUT, OUTPUT.

Layer extraction block (paper Fig. 4), one per decision t = 0..5 (edges in suite order)
  1. Build the partial graph: edges < t carry the ops already drawn, edge t is QUERY,
     edges > t are UNDECIDED.
  2. Embed node types (a learned table, hidden size d) and run L directed graph
     convolutions  H <- relu(H W_self + mean_{pred} H W_in + mean_{succ} H W_out + b)
     (separate weights for messages from predecessors and from successors, mean
     aggregation, i.e. row-normalised adjacency). The paper gives no layer count, width,
     normalisation or node features: all of this is our choice.
  3. Read the next op's logits off the QUERY node: logits = H_L[query] W_o + b_o, shaped
     as the RNN controller's (2.5 * tanh(logits / 5), ENAS) so only the network differs.
  4. Draw the op; it becomes that node's type in the graph of decision t + 1.
  The same weights serve every decision (one GCN, six graphs), so the controller has no
  time axis: what it knows about earlier decisions it reads from the graph.
  Departures from the paper, forced by the fixed NB201 cell (also written as choices in
  reference_results/papers/d_gcnas.json): the paper adds each extracted layer as a *new*
  node of the graph built so far and speaks of a block per layer n; here the 8-node cell
  skeleton is there from decision 0 (UNDECIDED placeholders), a draw relabels the query
  node instead of adding one, one set of weights serves all six decisions, and depth is
  fixed (6 ops per cell, no stop decision).

Neighbourhood truncation (paper Fig. 8, `truncate_m`, an option; the GCNAS runs use None)
  The paper keeps only the connections to the last m layers of its parameter graph to
  bound cost. Here, when enabled, on the layer composition graph (the only graph there
  is): at decision t, every connection touching a decided op node of a decision older than
  t - m is dropped (those nodes become isolated and no longer inform the decision). None
  (the default and what nasrepro.experiments.gcnas.GCN_ARCH uses) keeps the whole graph;
  m = 0 hides every earlier decision. Not the paper's mechanism: there the dropped nodes'
  information was already carried forward by earlier convolutions; here node states are
  recomputed at each decision, so truncation erases old decisions.

Hyper-parameter prediction block (paper Fig. 5, 7)
  Predicts each new layer's hyper-parameters (kernel size, channels, ...) from a
  "parameter graph" and reconstructs the layer's connections. An NB201 cell has no free
  hyper-parameter (each op fixes its kernel and the channel count is the network's), and
  a missing connection is the 'none' op, which the layer extraction block already
  chooses; so this block has nothing left to decide and is not built.

Ablations (`adjacency`)
  "dag"       the true cell graph (the controller above)
  "shuffled"  each seed's adjacency is the DAG with its node labels permuted at random
              (same number of connections and degree sequence, wrong wiring): tests
              whether the *right* graph matters
  "empty"     no connections: every node sees only itself, so every decision gets the
              same distribution (a sanity floor)

Sampling and the gradient
  sample() draws the six ops sequentially without autograd (each decision needs the
  previous ones), then re-evaluates all six partial graphs at once with autograd
  ("teacher forcing" on the drawn ops) to get the log-probability and entropy REINFORCE
  needs. The two passes compute the same distributions; the second is one batched GCN
  call instead of six, which is what makes backward cheap.

Seeds
  Every parameter has a leading seed dimension S and is initialised from that seed's own
  torch.Generator, so S seeds batched are exactly S single-seed controllers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from nasrepro.errors import ConfigError
from nasrepro.nas.controllers.base import Controller, Sample
from nasrepro.nas.search_space import EDGES, N_EDGES, N_OPS

# Node types: 0..N_OPS-1 are the ops; then the structural markers.
UNDECIDED = N_OPS
QUERY = N_OPS + 1
INPUT = N_OPS + 2
OUTPUT = N_OPS + 3
N_TYPES = N_OPS + 4

N_NODES = N_EDGES + 2  # cell input, six op nodes, cell output
INPUT_NODE = 0
OUTPUT_NODE = N_NODES - 1
ADJACENCY_MODES = ("dag", "shuffled", "empty")


def op_node(edge: int) -> int:
    """Graph node of the op on suite edge `edge`."""
    return 1 + edge


def dag_adjacency() -> torch.Tensor:
    """[N, N] float: D[a, b] = 1 when node a's output feeds node b (line graph of the cell
    plus the cell's input and output nodes)."""
    d = torch.zeros(N_NODES, N_NODES)
    for e, (dst, src) in enumerate(EDGES):
        if src == 0:
            d[INPUT_NODE, op_node(e)] = 1.0
        if dst == 3:
            d[op_node(e), OUTPUT_NODE] = 1.0
        for f, (_, src_f) in enumerate(EDGES):
            if src_f == dst:
                d[op_node(e), op_node(f)] = 1.0
    return d


def truncation_masks(truncate_m: int | None) -> torch.Tensor:
    """[T, N, N] float: mask of the connections kept at each decision t.

    With truncation, op nodes of decisions older than t - m lose every connection (and,
    node states being recomputed per decision, their information: unlike the paper's)."""
    keep = torch.ones(N_EDGES, N_NODES, N_NODES)
    if truncate_m is None:
        return keep
    if truncate_m < 0:
        raise ConfigError(f"truncate_m must be >= 0 or None, got {truncate_m}")
    for t in range(N_EDGES):
        for k in range(max(0, t - truncate_m)):
            keep[t, op_node(k), :] = 0.0
            keep[t, :, op_node(k)] = 0.0
    return keep


def decision_states(ops: torch.Tensor) -> torch.Tensor:
    """Node types of the six partial graphs given the drawn ops.

    ops [..., 6] long -> [..., 6, N] long: graph t has edges < t decided (their op),
    edge t QUERY, edges > t UNDECIDED, plus the INPUT and OUTPUT nodes."""
    t_idx = torch.arange(N_EDGES, device=ops.device)
    decided = t_idx[None, :] < t_idx[:, None]  # [t, k]: edge k decided in graph t
    op_types = torch.where(decided, ops[..., None, :],
                           torch.full_like(ops[..., None, :], UNDECIDED))  # [..., 6, 6]
    op_types = torch.where(t_idx[:, None] == t_idx[None, :],
                           torch.full_like(op_types, QUERY), op_types)
    shape = (*op_types.shape[:-1], 1)
    return torch.cat([torch.full(shape, INPUT, dtype=op_types.dtype, device=ops.device),
                      op_types,
                      torch.full(shape, OUTPUT, dtype=op_types.dtype, device=ops.device)],
                     dim=-1)


def _row_normalise(a: torch.Tensor) -> torch.Tensor:
    """Mean aggregation: divide each row by its degree (rows with no neighbour stay 0)."""
    return a / a.sum(-1, keepdim=True).clamp(min=1.0)


class GCNController(Controller):
    """GC-NAS layer-extraction controller for S seeds (see the module docstring).

    Args:
      seeds: one integer per independent search; seed s initialises that search's
        parameters (and, for adjacency="shuffled", its permutation).
      hidden: node embedding size d.
      layers: graph convolutions per decision L (3 reaches every node of the cell graph
        from the query node, counting both directions).
      truncate_m: keep connections to the last m decisions only (None: keep all).
      adjacency: "dag" (the controller), "shuffled" or "empty" (ablations); one mode for
        all seeds or one per seed (so an ablation runs batched beside the controller).
      temperature, tanh_constant: the policy head of the RNN controller it replaces
        (ENAS / NB201-ENAS: logits -> c * tanh(logits / temperature), c = 2.5, temperature
        5), so that the comparison swaps only the network; None disables either.
      device: where parameters live.
    """

    def __init__(self, seeds: Sequence[int], hidden: int = 16, layers: int = 3,
                 truncate_m: int | None = None, adjacency: str | Sequence[str] = "dag",
                 temperature: float | None = 5.0, tanh_constant: float | None = 2.5,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        if not seeds:
            raise ConfigError("GCNController needs at least one seed")
        modes = [adjacency] * len(seeds) if isinstance(adjacency, str) else list(adjacency)
        if len(modes) != len(seeds):
            raise ConfigError(f"adjacency: one mode per seed needed, got {len(modes)} modes "
                              f"for {len(seeds)} seeds")
        for mode in modes:
            if mode not in ADJACENCY_MODES:
                raise ConfigError(f"adjacency {mode!r}: use one of {ADJACENCY_MODES}")
        if hidden < 1 or layers < 1:
            raise ConfigError(f"hidden and layers must be >= 1, got {hidden}, {layers}")
        self.seeds = [int(s) for s in seeds]
        self.n_seeds = len(self.seeds)
        self.hidden, self.layers = hidden, layers
        self.truncate_m, self.adjacency_modes = truncate_m, modes
        self.temperature, self.tanh_constant = temperature, tanh_constant

        gens = [torch.Generator().manual_seed(s) for s in self.seeds]

        def init(*shape: int, scale: float) -> nn.Parameter:
            # per-seed draws from each seed's own generator: batched == alone
            w = torch.stack([(torch.rand(*shape, generator=g) * 2 - 1) * scale for g in gens])
            return nn.Parameter(w.to(device))

        d = hidden
        self.embed = init(N_TYPES, d, scale=1.0)  # [S, types, d]
        # one weight per layer for [self | mean of predecessors | mean of successors]:
        # h' = relu([h, A_in h, A_out h] @ W + b) = relu(h W_self + A_in h W_in + A_out h W_out + b)
        bound = 1.0 / math.sqrt(3 * d)
        self.weight = nn.ParameterList([init(3 * d, d, scale=bound) for _ in range(layers)])
        self.bias = nn.ParameterList([init(1, d, scale=bound) for _ in range(layers)])
        self.w_read = init(d, N_OPS, scale=1.0 / math.sqrt(d))  # [S, d, ops]
        self.b_read = init(1, N_OPS, scale=1.0 / math.sqrt(d))

        # adjacency per seed and decision: [S, T, N, N] (from, to), truncation applied
        base = dag_adjacency()
        per_seed = []
        for g, mode in zip(gens, modes, strict=True):
            if mode == "empty":
                per_seed.append(torch.zeros_like(base))
            elif mode == "shuffled":
                per_seed.append(_shuffled(base, g))
            else:
                per_seed.append(base)
        adj = torch.stack(per_seed)[:, None] * truncation_masks(truncate_m)[None]
        # rows 0..N-1: mean over predecessors (A^T row-normalised); rows N..2N-1: mean over
        # successors (A row-normalised). One matmul gives both messages: [S, T, 2N, N].
        agg = torch.cat([_row_normalise(adj.transpose(-1, -2)), _row_normalise(adj)], dim=-2)
        self.register_buffer("agg", agg.to(device))
        self.register_buffer("_seed_index",
                             torch.arange(self.n_seeds, device=device)[:, None, None],
                             persistent=False)

    # -- the layer extraction block -------------------------------------------------------
    def logits(self, states: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        """Next-op logits of a batch of partial graphs.

        states [S, K, N] long node types; decisions [K] long, which decision t each graph
        is for (selects its query node and truncation mask). Returns [S, K, N_OPS]."""
        k = states.shape[1]
        query = 1 + decisions
        return self._read(self._convolve(states, self.agg[:, decisions]),
                          torch.arange(k, device=states.device), query)

    def _convolve(self, states: torch.Tensor, agg: torch.Tensor) -> torch.Tensor:
        """The L graph convolutions: states [S, K, N], agg [S, K, 2N, N] -> H [S, K, N, d]."""
        s, k = states.shape[:2]
        n = N_NODES
        h = self.embed[self._seed_index, states]  # [S, K, N, d]
        agg = agg.reshape(s * k, 2 * n, n)
        for w, b in zip(self.weight, self.bias, strict=True):
            msg = torch.bmm(agg, h.reshape(s * k, n, -1)).reshape(s, k, 2 * n, -1)
            x = torch.cat([h, msg[:, :, :n], msg[:, :, n:]], dim=-1)  # [S, K, N, 3d]
            h = torch.relu(torch.baddbmm(b, x.reshape(s, k * n, -1), w)).reshape(s, k, n, -1)
        return h

    def _read(self, h: torch.Tensor, graph: torch.Tensor | int, query: torch.Tensor | int
              ) -> torch.Tensor:
        """Logits off the query node of each graph: [S, K', N_OPS]."""
        q = h[:, graph, query]  # [S, K', d] (or [S, d] for an int graph index)
        if q.dim() == 2:
            q = q[:, None]
        logits = torch.baddbmm(self.b_read, q, self.w_read)  # [S, K', ops]
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def distributions(self, ops: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of all six decisions given the drawn ops (teacher forcing).

        ops [S, 6] or [S, B, 6] long -> [S, 6, N_OPS] or [S, B, 6, N_OPS] log-softmax;
        decision t depends on ops[..., :t] only."""
        batched = ops.dim() == 3
        cells = ops if batched else ops[:, None]
        s, b = cells.shape[:2]
        states = decision_states(cells).reshape(s, b * N_EDGES, N_NODES)
        decisions = torch.arange(N_EDGES, device=ops.device).repeat(b)
        logp = torch.log_softmax(self.logits(states, decisions), dim=-1)
        logp = logp.reshape(s, b, N_EDGES, N_OPS)
        return logp if batched else logp[:, 0]

    def log_prob_entropy(self, ops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log p(ops) and the summed entropy of the per-decision distributions along the
        path (differentiable); ops [S, 6] -> [S] each, or [S, B, 6] -> [S, B] each.

        The entropy sums the conditional entropies of the decisions actually taken; its
        expectation over cells is the joint entropy of the policy (chain rule)."""
        logp = self.distributions(ops)
        chosen = logp.gather(-1, ops[..., None].long()).squeeze(-1).sum(-1)
        entropy = -(logp.exp() * logp).sum(-1).sum(-1)
        return chosen, entropy

    @torch.no_grad()
    def draw(self, uniforms: torch.Tensor) -> torch.Tensor:
        """Draw ops decision by decision by inverse CDF of `uniforms` [S, 6] in [0, 1).

        The op chosen at step t enters the graph of step t + 1. Returns [S, 6] long."""
        s = self.n_seeds
        dev = uniforms.device
        ops = torch.zeros(s, N_EDGES, dtype=torch.long, device=dev)
        states = decision_states(ops)[:, :1].clone()  # graph of decision 0: [S, 1, N]
        for t in range(N_EDGES):
            h = self._convolve(states, self.agg[:, t : t + 1])  # basic slicing: a view
            probs = torch.softmax(self._read(h, 0, op_node(t))[:, 0], dim=-1)  # [S, ops]
            choice = (uniforms[:, t : t + 1] >= probs.cumsum(-1)).sum(-1).clamp(max=N_OPS - 1)
            ops[:, t] = choice
            states[:, 0, op_node(t)] = choice  # relabel the query node with the drawn op
            if t + 1 < N_EDGES:
                states[:, 0, op_node(t + 1)] = QUERY
        return ops

    def sample(self, generator: torch.Generator) -> Sample:
        """One cell per seed: sequential draw, then batched log-prob/entropy with grad."""
        u = torch.rand(self.n_seeds, N_EDGES, generator=generator,
                       device=self.embed.device)
        ops = self.draw(u)
        log_prob, entropy = self.log_prob_entropy(ops)
        return Sample(ops=ops, log_prob=log_prob, entropy=entropy)

    def n_params_per_seed(self) -> int:
        """Trainable parameters of one seed's controller."""
        return sum(p.numel() for p in self.parameters()) // self.n_seeds


def _shuffled(adj: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The adjacency with node labels permuted at random (never the identity wiring)."""
    while True:
        perm = torch.randperm(adj.shape[0], generator=generator)
        shuffled = adj[perm][:, perm]
        if not torch.equal(shuffled, adj):
            return shuffled
