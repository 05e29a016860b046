"""Fixtures shared by the unit, bench and claim folders."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def mnist_data() -> Any:
    """Real MNIST (nasrepro.data.mnist.load_mnist, checksums verified), loaded once a session.
    Missing files skip the test with the line saying how to get them; corrupt files fail it
    (a DataError): a damaged data root must not pass as 'skipped'."""
    from nasrepro import data
    from nasrepro.data.mnist import load_mnist

    why = data.missing("mnist")
    if why is not None:
        pytest.skip(why)
    return load_mnist()
