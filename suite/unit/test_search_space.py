"""Search space: arch string <-> 6 op choices <-> NB201 index (via the shipped table)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasrepro.data.nb201 import load_table
from nasrepro.errors import ConfigError
from nasrepro.nas.search_space import N_EDGES, N_OPS, arch_str_to_ops, ops_code, ops_to_arch_str

ops_lists = st.lists(st.integers(0, N_OPS - 1), min_size=N_EDGES, max_size=N_EDGES)


@given(ops_lists)
def test_arch_string_round_trip(ops):
    assert arch_str_to_ops(ops_to_arch_str(ops)) == ops


@settings(max_examples=200)
@given(ops_lists)
def test_ops_to_index_round_trip(ops):
    table = _table()
    row = int(table.rows(torch.tensor(ops)))
    assert table.ops[row].tolist() == ops
    assert table.row_of_arch(ops_to_arch_str(ops)) == row == int(table.index[row])


def test_code_is_a_bijection():
    all_ops = torch.cartesian_prod(*[torch.arange(N_OPS)] * N_EDGES)
    assert torch.equal(ops_code(all_ops).sort().values, torch.arange(N_OPS**N_EDGES))


@pytest.mark.parametrize(("arch", "part"), [
    ("|none~0|+|none~0|none~1|", "3 node groups"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|", "needs 3 input edge"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|conv~2|", "unknown op 'conv'"),
    ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "none~2"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped"),
])
def test_malformed_arch_string_names_bad_part(arch, part):
    with pytest.raises(ConfigError, match=part):
        arch_str_to_ops(arch)


_TABLE = []


def _table():
    if not _TABLE:
        _TABLE.append(load_table())
    return _TABLE[0]
