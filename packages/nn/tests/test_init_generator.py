"""nn.init draws from the ``generator=`` it is given (PyTorch's keyword), not from the default one."""

from __future__ import annotations

from typing import Any

import plugrad
import pytest
from plugrad.nn import init

INITS = {
    "uniform_": lambda t, g: init.uniform_(t, -0.5, 0.5, generator=g),
    "normal_": lambda t, g: init.normal_(t, 0.0, 2.0, generator=g),
    "xavier_uniform_": lambda t, g: init.xavier_uniform_(t, generator=g),
    "xavier_normal_": lambda t, g: init.xavier_normal_(t, generator=g),
    "kaiming_uniform_": lambda t, g: init.kaiming_uniform_(t, generator=g),
    "kaiming_normal_": lambda t, g: init.kaiming_normal_(t, generator=g),
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_init_uses_its_generator(name: str) -> None:
    fill: Any = INITS[name]
    a = fill(plugrad.empty(4, 5), plugrad.Generator().manual_seed(3))
    plugrad.manual_seed(0)
    state = plugrad.get_rng_state()
    b = fill(plugrad.empty(4, 5), plugrad.Generator().manual_seed(3))
    assert plugrad.equal(a, b)  # the same seed gives the same weights
    assert plugrad.equal(plugrad.get_rng_state(), state)  # and the default generator was not touched
    assert not plugrad.equal(a, fill(plugrad.empty(4, 5), plugrad.Generator().manual_seed(4)))
