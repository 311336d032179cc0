"""The autograd graphs of whole models against PyTorch's: every node's name and repr, and
``next_functions`` in PyTorch's order (``AddmmBackward0`` of ``F.linear`` starts with the
bias, then the input, then ``TBackward0`` of the weight; losses have one edge per
differentiable input).

The same model is built in both libraries with the same weights and inputs; each graph
is walked breadth first from the loss (an explicit queue, never recursion) into a list of
``(node name, [(index of the child node or None, input_nr), ...])``, so names, edge order,
missing edges (``None``) and shared nodes all have to agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import plugrad
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle


def walk(root: Any) -> list[tuple[str, list[tuple[int | None, int]]]]:
    """The graph under ``root``, breadth first; children are numbered by first appearance."""
    order, index = [root], {id(root): 0}
    out = []
    i = 0
    while i < len(order):
        node = order[i]
        i += 1
        edges: list[tuple[int | None, int]] = []
        for child, nr in node.next_functions:
            if child is None:
                edges.append((None, nr))
                continue
            if id(child) not in index:
                index[id(child)] = len(order)
                order.append(child)
            edges.append((index[id(child)], nr))
        out.append((type(node).__name__, edges))
    return out


def reprs(root: Any) -> list[str]:
    """Every node's repr with its address blanked, in walk order."""
    order, seen, i = [root], {id(root)}, 0
    while i < len(order):
        for child, _ in order[i].next_functions:
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                order.append(child)
        i += 1
    return [re.sub(r"0x[0-9a-f]+", "0x", repr(n)) for n in order]


def _copy_params(src: Any, dst: Any) -> None:
    """Give the plugrad module ``dst`` the parameters of the PyTorch module ``src``."""
    theirs = dict(src.named_parameters())
    with plugrad.no_grad():
        for name, p in dst.named_parameters():
            p.copy_(plugrad.tensor(theirs[name].detach().tolist(), dtype=p.dtype))


def _pair(build: Callable[[Any], Any], run: Callable[[Any, Any, Any], Any], data: Callable[[Any], tuple]) -> tuple:
    """``(torch loss, plugrad loss)`` for a model built by ``build(lib)`` on inputs ``data(lib)``."""
    torch.manual_seed(0)
    tm = build(torch)
    pm = build(plugrad)
    _copy_params(tm, pm)
    td = data(torch)
    pd = tuple(plugrad.tensor(t.tolist(), dtype=getattr(plugrad, str(t.dtype).split(".")[1])) for t in td)
    return run(torch, tm, td), run(plugrad, pm, pd)


def _mlp(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))


def _classifier(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Linear(5, 16), nn.GELU(), nn.Dropout(0.0), nn.Linear(16, 4))


def _lm(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Embedding(11, 6), nn.LayerNorm(6), nn.Linear(6, 6), nn.SiLU(), nn.Linear(6, 11))


def _lenet(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 5),
        nn.ReLU(),
        nn.Linear(5, 3),
    )


def _f(lib: Any) -> Any:
    return lib.nn.functional


CASES: dict[str, tuple] = {
    "mlp_mse": (
        _mlp,
        lambda lib, m, d: lib.nn.MSELoss()(m(d[0]), d[1]),
        lambda lib: (lib.randn(4, 3), lib.randn(4, 2)),
    ),
    "classifier_cross_entropy": (
        _classifier,
        lambda lib, m, d: lib.nn.CrossEntropyLoss()(m(d[0]), d[1]),
        lambda lib: (lib.randn(6, 5), lib.tensor([0, 3, 1, 2, 3, 0])),
    ),
    "classifier_nll_weighted_sum": (
        _classifier,
        lambda lib, m, d: _f(lib).nll_loss(_f(lib).log_softmax(m(d[0]), dim=1), d[1], weight=d[2], reduction="sum"),
        lambda lib: (lib.randn(6, 5), lib.tensor([0, 3, 1, 2, 3, 0]), lib.rand(4)),
    ),
    "embedding_layernorm_lm": (
        _lm,
        lambda lib, m, d: _f(lib).cross_entropy(m(d[0]).view(-1, 11), d[0].view(-1)),
        lambda lib: (lib.tensor([[1, 2, 3, 4], [5, 6, 7, 10]]),),
    ),
    "lenet_cross_entropy": (
        _lenet,
        lambda lib, m, d: lib.nn.CrossEntropyLoss()(m(d[0]), d[1]),
        lambda lib: (lib.randn(2, 1, 8, 8), lib.tensor([0, 2])),
    ),
    "logistic_bce_with_logits": (
        _mlp,
        lambda lib, m, d: lib.nn.BCEWithLogitsLoss(pos_weight=d[2])(m(d[0]), d[1]),
        lambda lib: (lib.randn(4, 3), lib.rand(4, 2), lib.rand(2)),
    ),
    "sigmoid_bce_weighted": (
        _mlp,
        lambda lib, m, d: lib.nn.BCELoss(weight=d[2])(lib.sigmoid(m(d[0])), d[1]),
        lambda lib: (lib.randn(4, 3), lib.rand(4, 2), lib.rand(2)),
    ),
    "batched_linear_3d_and_1d": (
        _mlp,
        lambda lib, m, d: m(d[0]).sum() + m(d[1]).sum(),
        lambda lib: (lib.randn(2, 5, 3), lib.randn(3)),
    ),
    "leaky_relu_huber_smooth_l1": (
        lambda lib: lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.LeakyReLU(0.2), lib.nn.Linear(4, 2)),
        lambda lib, m, d: (
            _f(lib).huber_loss(m(d[0]), d[1], delta=0.5)
            + _f(lib).smooth_l1_loss(m(d[0]), d[1], beta=2.0, reduction="sum")
        ),
        lambda lib: (lib.randn(4, 3), lib.randn(4, 2)),
    ),
    "pooling_and_upsampling": (
        lambda lib: lib.nn.Sequential(
            lib.nn.Conv2d(1, 2, 3, padding=1),
            lib.nn.AvgPool2d(2),
            lib.nn.Upsample(scale_factor=2, mode="bilinear"),
            lib.nn.Upsample(scale_factor=2),
            lib.nn.AdaptiveAvgPool2d(3),
            lib.nn.Flatten(),
        ),
        lambda lib, m, d: (m(d[0]) ** 2).sum(),
        lambda lib: (lib.randn(2, 1, 6, 6),),
    ),
    "batchnorm_eval_mlp": (
        lambda lib: lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU()).eval(),
        lambda lib, m, d: m(d[0]).sum(),
        lambda lib: (lib.randn(5, 3),),
    ),
    "norms_without_affine": (
        lambda lib: lib.nn.Sequential(
            lib.nn.Linear(4, 6),
            lib.nn.LayerNorm(6, elementwise_affine=False),
            lib.nn.Unflatten(1, (2, 3)),
            lib.nn.GroupNorm(1, 2, affine=False),
            lib.nn.BatchNorm1d(2, affine=False),
        ),
        lambda lib, m, d: m(d[0]).sum() + _f(lib).layer_norm(d[0], (4,), weight=d[1]).sum(),
        lambda lib: (lib.randn(5, 4), lib.rand(4)),
    ),
    "conv_without_bias_batchnorm": (
        lambda lib: lib.nn.Sequential(
            lib.nn.Conv2d(1, 2, 3, padding=1, bias=False), lib.nn.BatchNorm2d(2), lib.nn.ReLU(), lib.nn.Flatten()
        ),
        lambda lib, m, d: m(d[0]).mean(),
        lambda lib: (lib.randn(2, 1, 4, 4),),
    ),
    "embedding_bag_classifier": (
        lambda lib: lib.nn.EmbeddingBag(10, 4, mode="mean"),
        lambda lib, m, d: _f(lib).cross_entropy(m(d[0], d[1]), d[2]),
        lambda lib: (lib.tensor([1, 2, 4, 5, 4, 3, 2, 9]), lib.tensor([0, 4]), lib.tensor([1, 3])),
    ),
    "linear_without_bias": (
        lambda lib: lib.nn.Linear(3, 2, bias=False),
        lambda lib, m, d: (m(d[0]) ** 2).mean() + m(d[1]).sum(),
        lambda lib: (lib.randn(4, 3), lib.randn(2, 4, 3)),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_graph_matches_pytorch(name: str) -> None:
    build, run, data = CASES[name]
    t_loss, p_loss = _pair(build, run, data)
    assert walk(p_loss.grad_fn) == walk(t_loss.grad_fn)
    assert reprs(p_loss.grad_fn) == reprs(t_loss.grad_fn)
    assert p_loss.item() == pytest.approx(t_loss.item(), rel=1e-5, abs=1e-6)


def test_input_that_requires_grad_is_an_edge_of_addmm() -> None:
    graphs = []
    for lib in (torch, plugrad):
        x = lib.ones(2, 3, requires_grad=True)
        lin = lib.nn.Linear(3, 4)
        graphs.append(walk(lin(x).grad_fn))
    assert graphs[0] == graphs[1]
    name, edges = graphs[1][0]
    assert name == "AddmmBackward0" and [graphs[1][i][0] for i, _ in edges] == [
        "AccumulateGrad",
        "AccumulateGrad",
        "TBackward0",
    ]
