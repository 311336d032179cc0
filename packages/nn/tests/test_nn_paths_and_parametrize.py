"""PyTorch's module paths under plugrad.nn, nn.utils.parametrize and parameters_to_vector."""

from __future__ import annotations

import importlib

import plugrad
import plugrad.nn as nn
import pytest
from plugrad.nn.utils import parametrize as P

MODULE_PATHS = [
    "plugrad.nn.modules.module",
    "plugrad.nn.modules.linear",
    "plugrad.nn.modules.activation",
    "plugrad.nn.modules.loss",
    "plugrad.nn.modules.container",
    "plugrad.nn.modules.dropout",
    "plugrad.nn.modules.sparse",
    "plugrad.nn.modules.rnn",
    "plugrad.nn.modules.conv",
    "plugrad.nn.modules.pooling",
    "plugrad.nn.modules.normalization",
    "plugrad.nn.modules.transformer",
    "plugrad.nn.parallel",
    "plugrad.nn.utils.rnn",
    "plugrad.nn.utils.clip_grad",
    "plugrad.nn.utils.parametrize",
]


@pytest.mark.parametrize("path", MODULE_PATHS)
def test_pytorch_module_paths_import(path):
    importlib.import_module(path)


def test_dropout_lives_at_its_pytorch_path():
    from plugrad.nn.modules.dropout import Dropout

    assert Dropout is nn.Dropout


class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)

    def right_inverse(self, a):
        return a.triu()


class Scale(nn.Module):
    def forward(self, x):
        return 2 * x

    def right_inverse(self, a):
        return a / 2


def test_register_parametrization_makes_a_property_and_trains_original():
    plugrad.manual_seed(0)
    m = nn.Linear(3, 3)
    original = m.weight.detach().clone()
    P.register_parametrization(m, "weight", Symmetric())
    w = m.weight
    assert w.tolist() == w.T.tolist()  # symmetric
    assert P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    assert P.type_before_parametrizations(m) is nn.Linear and type(m).__name__ == "ParametrizedLinear"
    assert sorted(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    # right_inverse ran at registration: original holds the upper triangle
    assert m.parametrizations.weight.original.tolist() == original.triu().tolist()
    m(plugrad.ones(1, 3)).sum().backward()
    assert m.parametrizations.weight.original.grad is not None
    P.register_parametrization(m, "weight", Scale())  # chained: Scale(Symmetric(original))
    assert m.weight.tolist() == (2 * w).tolist()
    m.weight = plugrad.eye(3) * 4  # assignment goes through right_inverse of the chain
    assert m.weight.tolist() == (plugrad.eye(3) * 4).tolist()
    with P.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    P.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    assert m.weight.tolist() == (plugrad.eye(3) * 4).tolist() and sorted(m.state_dict()) == ["bias", "weight"]


def test_parametrization_errors():
    m = nn.Linear(2, 2)

    class Shrink(nn.Module):
        def forward(self, x):
            return x[:1]

    with pytest.raises(ValueError, match="may not change the shape or dtype"):
        P.register_parametrization(m, "weight", Shrink())
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element"):
        P.register_parametrization(m, "nope", Scale())
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        P.remove_parametrizations(m, "weight")
    P.register_parametrization(m, "weight", Scale())
    P.remove_parametrizations(m, "weight", leave_parametrized=False)
    assert type(m) is nn.Linear


def test_parameters_to_vector_and_back():
    m = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (8,) and vec[:6].tolist() == m.weight.reshape(-1).tolist()
    nn.utils.vector_to_parameters(plugrad.arange(8.0), m.parameters())
    assert m.weight.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and m.bias.tolist() == [6.0, 7.0]
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1.0], m.parameters())
