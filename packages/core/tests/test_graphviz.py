"""Backward-graph pictures (``plugrad.autograd.graph``): the DOT text checked structurally,
rendering checked only where Graphviz's ``dot`` is installed."""

from __future__ import annotations

import re
import shutil
import sys
from typing import Any

import plugrad as torch
import pytest
from plugrad.autograd import Function
from plugrad.autograd import graph as G

NODE = re.compile(r'^\t(\w+) \[label="((?:[^"\\]|\\.)*)" fillcolor=(\w+)\]$')
EDGE = re.compile(r"^\t(\w+) -> (\w+)( \[style=dashed\])?$")


def parse(dot: str) -> tuple[dict[str, tuple[str, str]], list[tuple[str, str, bool]]]:
    """``({id: (label, color)}, [(src, dst, dashed)])``; every line must be understood."""
    lines = dot.splitlines()
    assert lines[0] == "digraph {" and lines[-1] == "}"
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str, bool]] = []
    for line in lines[1:-1]:
        if line.startswith(("\tgraph ", "\tnode ")):
            continue
        m = NODE.match(line)
        if m:
            assert m.group(1) not in nodes, f"node drawn twice: {line}"
            nodes[m.group(1)] = (m.group(2).replace("\\n", "\n"), m.group(3))
            continue
        m = EDGE.match(line)
        assert m, f"unexpected DOT line: {line!r}"
        edges.append((m.group(1), m.group(2), m.group(3) is not None))
    for src, dst, _ in edges:
        assert src in nodes and dst in nodes
    return nodes, edges


def by_label(nodes: dict[str, tuple[str, str]], label: str) -> list[str]:
    return [k for k, (lab, _) in nodes.items() if lab == label]


def test_linear_layer_graph() -> None:
    w = torch.randn(2, 3, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    y = (w @ torch.randn(3) + b).tanh().sum()
    nodes, edges = parse(G.to_dot(y, params={"weight": w, "bias": b}))
    labels = sorted(lab for lab, _ in nodes.values())
    assert labels == sorted(
        [
            "() float32",
            "SumBackward0",
            "TanhBackward0",
            "AddBackward0",
            "MvBackward0",
            "AccumulateGrad",
            "AccumulateGrad",
            "weight\n(2, 3) float32",
            "bias\n(2,) float32",
        ]
    )
    assert nodes[by_label(nodes, "() float32")[0]][1] == "darkolivegreen1"
    assert nodes[by_label(nodes, "weight\n(2, 3) float32")[0]][1] == "lightblue"
    names = {k: lab for k, (lab, _) in nodes.items()}
    flow = sorted((names[s], names[d]) for s, d, _ in edges)
    assert flow == sorted(
        [
            ("SumBackward0", "() float32"),
            ("TanhBackward0", "SumBackward0"),
            ("AddBackward0", "TanhBackward0"),
            ("MvBackward0", "AddBackward0"),
            ("AccumulateGrad", "AddBackward0"),
            ("AccumulateGrad", "MvBackward0"),
            ("weight\n(2, 3) float32", "AccumulateGrad"),
            ("bias\n(2,) float32", "AccumulateGrad"),
        ]
    )
    # each leaf feeds its own AccumulateGrad, which feeds the op that used it
    (wacc,) = [d for s, d, _ in edges if names[s].startswith("weight")]
    assert [names[d] for s, d, _ in edges if s == wacc] == ["MvBackward0"]


def test_node_names_follow_grad_fn_and_unnamed_leaves_show_shape_and_dtype() -> None:
    x = torch.ones(4, dtype=torch.float64, requires_grad=True)
    y = (x * 2).exp().mean()
    nodes, _ = parse(G.to_dot(y))
    walk, fn = [], y.grad_fn
    while fn is not None:
        walk.append(fn.name())
        nxt = [n for n, _ in fn.next_functions if n is not None]
        fn = nxt[0] if nxt else None
    assert walk == ["MeanBackward0", "ExpBackward0", "MulBackward0", "AccumulateGrad"]
    assert sorted(lab for lab, _ in nodes.values()) == sorted([*walk, "() float64", "(4,) float64"])


def test_shared_subgraph_is_drawn_once() -> None:
    x = torch.ones(3, requires_grad=True)
    z = x * x
    y = z + z
    nodes, edges = parse(G.to_dot(y))
    assert len(by_label(nodes, "MulBackward0")) == 1 and len(by_label(nodes, "AccumulateGrad")) == 1
    (mul,), (add,) = by_label(nodes, "MulBackward0"), by_label(nodes, "AddBackward0")
    (acc,) = by_label(nodes, "AccumulateGrad")
    assert [e for e in edges if e[:2] == (mul, add)] == [(mul, add, False)] * 2  # z used twice
    assert [e for e in edges if e[:2] == (acc, mul)] == [(acc, mul, False)] * 2  # x used twice


def test_several_roots_share_their_graph() -> None:
    x = torch.ones(2, 2, requires_grad=True)
    h = x.sin()
    a, b = h.sum(), (h * 3).mean()
    nodes, edges = parse(G.to_dot([a, b]))
    assert len(by_label(nodes, "SinBackward0")) == 1
    assert len(by_label(nodes, "() float32")) == 2
    # two outputs, SumBackward0, MeanBackward0, MulBackward0, SinBackward0, AccumulateGrad, the leaf
    assert len(nodes) == 8
    assert len(edges) == 7  # out<-Sum<-Sin, out<-Mean<-Mul<-Sin, Sin<-AccumulateGrad<-leaf


def test_show_saved_draws_saved_tensors() -> None:
    x = torch.ones(3, requires_grad=True)
    w = torch.ones(3, requires_grad=True)
    y = (x * w).exp().sum()
    plain, _ = parse(G.to_dot(y))
    nodes, edges = parse(G.to_dot(y, show_saved=True))
    saved = {k: lab for k, (lab, color) in nodes.items() if color == "orange"}
    # MulBackward0 saved both inputs, ExpBackward0 its result
    assert sorted(saved.values()) == ["saved 0\n(3,) float32", "saved 0\n(3,) float32", "saved 1\n(3,) float32"]
    assert len(nodes) == len(plain) + 3
    dashed = [(s, d) for s, d, dash in edges if dash]
    assert sorted(s for s, _ in dashed) == sorted(saved)
    assert sorted(nodes[d][0] for _, d in dashed) == ["ExpBackward0", "MulBackward0", "MulBackward0"]
    y.backward()  # frees the saved tensors: nothing left to show
    after, _ = parse(G.to_dot(y, show_saved=True))
    assert len(after) == len(plain)


def test_leaves_and_tensors_without_history() -> None:
    w = torch.zeros(2, requires_grad=True)
    nodes, edges = parse(G.to_dot(w, params={"w": w}))
    assert list(nodes.values()) == [("w\n(2,) float32", "lightblue")] and edges == []
    nodes, edges = parse(G.to_dot(torch.ones(2, 3, dtype=torch.int64)))
    assert list(nodes.values()) == [("(2, 3) int64", "darkolivegreen1")] and edges == []


def test_custom_function_node_and_quoted_names() -> None:
    class MyFn(Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * 2

    x = torch.ones(2, requires_grad=True)
    text = G.to_dot(MyFn.apply(x), params={'say "hi"\\': x})
    nodes, _ = parse(text)
    assert by_label(nodes, "MyFnBackward")
    assert 'label="say \\"hi\\"\\\\\\n(2,) float32"' in text


def test_long_chain_needs_no_recursion() -> None:
    x = torch.ones(1, requires_grad=True)
    y = x
    n = sys.getrecursionlimit() + 100
    for _ in range(n):
        y = y * 1.0
    nodes, edges = parse(G.to_dot(y))
    assert len(by_label(nodes, "MulBackward0")) == n
    assert len(edges) == n + 2


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="to_dot\\(\\) expects a Tensor or a sequence of Tensors, got int"):
        G.to_dot(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str at index 1"):
        G.to_dot([torch.ones(1), "x"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="params must be a mapping"):
        G.to_dot(torch.ones(1), params=[torch.ones(1)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="format must be one of svg, png, pdf, got 'gif'"):
        G.render(torch.ones(1), "x.gif", format="gif")


def test_render_without_graphviz_names_the_missing_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(G.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz 'dot' executable, which was not found on PATH"):
        G.render(torch.ones(1, requires_grad=True) * 2, tmp_path / "g.svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("fmt,magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_render(tmp_path: Any, fmt: str, magic: bytes) -> None:
    w = torch.randn(3, requires_grad=True)
    y = (w * w).sum()
    path = G.render(y, tmp_path / f"graph.{fmt}", format=fmt, params={"w": w}, show_saved=True)
    data = open(path, "rb").read()
    assert magic in data[:512]
    if fmt == "svg":
        assert b"MulBackward0" in data and b"AccumulateGrad" in data
