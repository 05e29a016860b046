"""Experiments: one module per paper (reward, lenet, opsub, gcnas), each a function of a
frozen config with its per-tier budgets in a TIERS table, plus the on-disk result cache."""
