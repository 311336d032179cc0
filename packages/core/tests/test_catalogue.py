"""Tests derived from the op catalogue: every row is checked the same way.

For each row of ``plugrad._ops.catalogue``: first and second derivatives against float64
central differences (``gradcheck``/``gradgradcheck``) over the standard shapes, 0-d,
empty and broadcasting pairs included; the array-level backward (grad mode off) equals
the tensor-level one (``create_graph=True``); the forward-mode tangent equals a central
difference; the dtype policy; every derived spelling (function with ``out=``, method,
in-place, aliases); and, where PyTorch is installed, values, gradients and node names
against it. A new row is covered by adding it: nothing here names an op.
"""

from __future__ import annotations

import math
import random
import warnings
from pathlib import Path
from typing import Any

import plugrad
import pytest
from plugrad._ops import _derive
from plugrad._ops import catalogue as C
from plugrad.autograd import forward_ad as fwAD
from plugrad.autograd import gradcheck, gradgradcheck

UNARY_DIFF = sorted(n for n, r in C.UNARY.items() if r.grad is not None)
UNARY_ALL = sorted(C.UNARY)
BINARY = sorted(C.BINARY)
UNARY_SHAPES = [(), (0,), (3,), (2, 3)]
BINARY_SHAPES = [((), (4,)), ((4,), ()), ((3, 4), (1, 4)), ((3, 4), (3, 4)), ((0,), (0,))]
# step functions: their derivative is zero except at the jumps, which sampled points avoid
STEPS = {"floor", "ceil", "trunc", "round", "sign"}
DOCS = Path(__file__).resolve().parents[3] / "docs" / "ops.md"


def _sample(shape: tuple[int, ...], lo: float, hi: float, seed: int, avoid_integers: bool = False) -> plugrad.Tensor:
    rng = random.Random(seed)
    n = math.prod(shape)
    vals = []
    for _ in range(n):
        v = rng.uniform(lo, hi)
        if avoid_integers and abs(v - round(v)) < 0.1:
            v += 0.25
        vals.append(v)
    return plugrad.tensor(vals, dtype=plugrad.float64).reshape(shape)


def _unary_input(name: str, shape: tuple[int, ...], seed: int = 0) -> plugrad.Tensor:
    row = C.UNARY[name]
    x = _sample(shape, *row.domain, seed, avoid_integers=name in STEPS)
    if name in ("abs", "relu"):  # keep away from the kink at 0
        x = x + (x.abs() < 0.1).to(x.dtype) * 0.3
    return x


def _call(name: str, x: plugrad.Tensor) -> plugrad.Tensor:
    row = C.UNARY[name]
    return _derive.OPS[name](x, *([2] if row.params else []))


# ------------------------------------------------------------ derivatives per row
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY_DIFF)
def test_unary_first_and_second_derivatives(name: str, shape: tuple[int, ...]) -> None:
    x = _unary_input(name, shape).requires_grad_()
    assert gradcheck(lambda t: _call(name, t), (x,))
    if name not in STEPS:
        assert gradgradcheck(lambda t: _call(name, t), (x,))


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_first_and_second_derivatives(name: str, shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    row = C.BINARY[name]
    a = _sample(shapes[0], *row.domain, 1).requires_grad_()
    b = _sample(shapes[1], *(row.domain_b or row.domain), 2).requires_grad_()
    op = _derive.OPS[name]
    assert gradcheck(op, (a, b))
    assert gradgradcheck(op, (a, b))


@pytest.mark.parametrize("name", UNARY_DIFF + BINARY)
def test_array_backward_equals_tensor_backward(name: str) -> None:
    """The formula on arrays (the usual backward) and on tensors (create_graph) agree exactly."""
    if name in C.BINARY:
        row = C.BINARY[name]
        args = [
            _sample((3, 4), *row.domain, 3).requires_grad_(),
            _sample((3, 4), *(row.domain_b or row.domain), 4).requires_grad_(),
        ]
        fn = _derive.OPS[name]
    else:
        args = [_unary_input(name, (3, 4), 5).requires_grad_()]
        fn = lambda t: _call(name, t)  # noqa: E731
    g = _sample((3, 4), -1, 1, 6)
    fast = plugrad.autograd.grad(fn(*args), args, g)
    slow = plugrad.autograd.grad(fn(*args), args, g, create_graph=True)
    for f, s in zip(fast, slow):
        assert f.dtype == s.dtype
        assert f.tolist() == s.detach().tolist()


@pytest.mark.parametrize("name", UNARY_DIFF + BINARY)
def test_forward_mode_matches_central_difference(name: str) -> None:
    eps = 1e-6
    if name in C.BINARY:
        row = C.BINARY[name]
        prim = [_sample((5,), *row.domain, 7), _sample((5,), *(row.domain_b or row.domain), 8)]
        fn = _derive.OPS[name]
    else:
        prim = [_unary_input(name, (5,), 9)]
        fn = lambda t: _call(name, t)  # noqa: E731
    tang = [_sample(p.shape, -1, 1, 10 + i) for i, p in enumerate(prim)]
    with fwAD.dual_level():
        duals = [fwAD.make_dual(p, t) for p, t in zip(prim, tang)]
        jvp = fwAD.unpack_dual(fn(*duals)).tangent
    plus = fn(*[p + eps * t for p, t in zip(prim, tang)])
    minus = fn(*[p - eps * t for p, t in zip(prim, tang)])
    numeric = (plus - minus) / (2 * eps)
    assert all(abs(a - b) <= 1e-7 + 1e-5 * abs(b) for a, b in zip(jvp.tolist(), numeric.tolist()))


# ------------------------------------------------------------------ dtype policy
@pytest.mark.parametrize("name", UNARY_ALL)
def test_dtype_policy(name: str) -> None:
    row = C.UNARY[name]
    i = plugrad.tensor([1, 2, 3])
    f32 = plugrad.tensor([0.5, 0.25], dtype=plugrad.float32)
    if row.policy is C.Policy.BOOL:
        assert _call(name, f32).dtype is plugrad.bool
        assert _call(name, i).dtype is plugrad.bool
        return
    assert _call(name, f32).dtype is plugrad.float32
    expected = {
        C.Policy.FLOAT: plugrad.get_default_dtype(),
        C.Policy.KEEP: plugrad.int64,
        C.Policy.ROUNDING: plugrad.int64,
    }[row.policy]
    assert _call(name, i).dtype is expected
    if row.policy is C.Policy.ROUNDING:
        assert _call(name, i).tolist() == [1, 2, 3]


@pytest.mark.parametrize("name", ["hypot", "logaddexp", "logaddexp2"])
def test_float_only_binary_rows_refuse_integers(name: str) -> None:
    i = plugrad.tensor([1, 2])
    with pytest.raises(NotImplementedError, match=f"\"{name}_cpu\" not implemented for 'Long'"):
        getattr(plugrad, name)(i, i)
    with pytest.raises(TypeError, match=f"{name}\\(\\): argument 'other' \\(position 2\\) must be Tensor, not int"):
        getattr(plugrad, name)(plugrad.tensor([1.0]), 2)
    assert getattr(plugrad, name)(i, plugrad.tensor([1.0, 2.0])).dtype is plugrad.float32


def test_number_operand_rows_name_their_own_node() -> None:
    x = plugrad.tensor([1.0, -2.0], requires_grad=True)
    assert type(plugrad.copysign(x, -1.0).grad_fn).__name__ == "CopysignBackward1"
    assert type(plugrad.copysign(x, x).grad_fn).__name__ == "CopysignBackward0"
    assert plugrad.copysign(x, -1.0).tolist() == [-1.0, -2.0]
    assert plugrad.xlogy(plugrad.tensor([0.0, 2.0]), 3).tolist() == [0.0, pytest.approx(2 * math.log(3))]


# ------------------------------------------------------------- derived spellings
@pytest.mark.parametrize("name", sorted(n for n, r in {**C.UNARY, **C.BINARY}.items() if C.Form.FUNCTION in r.forms))
def test_every_function_row_has_all_its_spellings(name: str) -> None:
    row: Any = C.UNARY.get(name) or C.BINARY[name]
    for n in (name, *row.aliases):
        assert callable(getattr(plugrad, n)), n
        assert n in plugrad.__all__
        if C.Form.METHOD in row.forms:
            assert callable(getattr(plugrad.Tensor, n))
        if C.Form.INPLACE in row.forms:
            assert callable(getattr(plugrad.Tensor, n + "_"))


@pytest.mark.parametrize("name", sorted(n for n, r in C.UNARY.items() if C.Form.ALL in r.forms and not r.params))
def test_unary_method_inplace_and_out_agree(name: str) -> None:
    x = _unary_input(name, (4,), 11).to(plugrad.float32)
    expected = _call(name, x).tolist()
    assert getattr(x, name)().tolist() == expected
    y = x.clone()
    assert getattr(y, name + "_")() is y
    assert y.tolist() == expected and y._version == 1
    out = plugrad.empty(4)
    assert getattr(plugrad, name)(x, out=out) is out
    assert out.tolist() == expected


@pytest.mark.parametrize("name", BINARY)
def test_binary_method_and_out_agree(name: str) -> None:
    row = C.BINARY[name]
    a, b = _sample((4,), *row.domain, 12), _sample((4,), *(row.domain_b or row.domain), 13)
    expected = getattr(plugrad, name)(a, b).tolist()
    assert getattr(a, name)(b).tolist() == expected
    out = plugrad.empty(4, dtype=plugrad.float64)
    assert getattr(plugrad, name)(a, b, out=out).tolist() == expected
    if C.Form.INPLACE in row.forms:
        c = a.clone()
        assert getattr(c, name + "_")(b) is c and c.tolist() == expected


def test_polygamma_against_scipy() -> None:
    sp = pytest.importorskip("scipy.special", reason="SciPy is the reference for polygamma's accuracy")
    xs = [0.05, 0.3, 1.0, 1.7, 3.9, 11.5, 40.0, -0.5, -2.25]
    for n in (1, 2, 3, 5):
        ours = plugrad.polygamma(n, plugrad.tensor(xs, dtype=plugrad.float64)).tolist()
        for x, v in zip(xs, ours):
            ref = float(sp.polygamma(n, x))
            assert abs(v - ref) <= 1e-13 * abs(ref), (n, x, v, ref)


def test_polygamma_spellings_and_errors() -> None:
    x = plugrad.tensor([0.5, 1.5], dtype=plugrad.float64)
    # ψ'(1/2) = π²/2, ψ''(1) = -2ζ(3)
    assert plugrad.polygamma(1, x).tolist()[0] == pytest.approx(math.pi**2 / 2, rel=1e-13)
    assert plugrad.polygamma(2, plugrad.tensor([1.0], dtype=plugrad.float64)).item() == pytest.approx(
        -2 * 1.2020569031595942, rel=1e-13
    )
    assert x.polygamma(1).tolist() == plugrad.polygamma(1, x).tolist()
    assert plugrad.polygamma(0, x).tolist() == plugrad.digamma(x).tolist()
    with pytest.raises(RuntimeError, match="polygamma\\(n, x\\) does not support negative n."):
        plugrad.polygamma(-1, x)
    y = x.clone()
    y.polygamma_(1)
    assert y.tolist() == plugrad.polygamma(1, x).tolist()


# ------------------------------------------------------------------------ out=
def test_out_rules_follow_pytorch() -> None:
    x = plugrad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="exp\\(\\): functions with out=... arguments don't support automatic"):
        plugrad.exp(x, out=plugrad.empty(2))
    with plugrad.no_grad():
        assert plugrad.exp(x, out=plugrad.empty(2)).tolist() == x.exp().tolist()
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        plugrad.exp(plugrad.ones(2), out=plugrad.empty(2, dtype=plugrad.int64))
    grow = plugrad.empty(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugrad.exp(plugrad.zeros(2), out=grow)
    assert grow.shape == (2,) and grow.tolist() == [1.0, 1.0]
    assert any("was resized since it had shape [3]" in str(w.message) for w in caught)
    empty = plugrad.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plugrad.exp(plugrad.zeros(2), out=empty)  # an empty out is resized without a word
    with pytest.raises(TypeError, match="exp\\(\\): argument 'out' must be Tensor, not list"):
        plugrad.exp(plugrad.zeros(2), out=[])
    # an int result goes into a float out
    out = plugrad.empty(2)
    plugrad.floor(plugrad.tensor([1, 2]), out=out)
    assert out.dtype is plugrad.float32 and out.tolist() == [1.0, 2.0]


# ----------------------------------------------------------------------- docs
def test_docs_op_table_is_current() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = "<!-- catalogue:start -->\n", "<!-- catalogue:end -->"
    assert start in text and end in text, "docs/ops.md lacks the catalogue markers"
    body = text.split(start, 1)[1].split(end, 1)[0]
    assert body == _derive.markdown_table(), (
        "docs/ops.md's op table is stale: regenerate it with `python -m plugrad._ops._derive docs/ops.md`"
    )


# --------------------------------------------------------------------- oracle
@pytest.mark.oracle
@pytest.mark.parametrize("name", UNARY_DIFF + BINARY)
def test_rows_against_pytorch(name: str) -> None:
    torch = pytest.importorskip("torch")
    if name in C.BINARY:
        row = C.BINARY[name]
        args = [_sample((3, 4), *row.domain, 14), _sample((1, 4), *(row.domain_b or row.domain), 15)]
        ours = [a.requires_grad_() for a in args]
        theirs = [torch.tensor(a.tolist(), dtype=torch.float64, requires_grad=True) for a in args]
        out, ref = _derive.OPS[name](*ours), getattr(torch, name)(*theirs)
    else:
        x = _unary_input(name, (3, 4), 16).requires_grad_()
        xt = torch.tensor(x.tolist(), dtype=torch.float64, requires_grad=True)
        ours, theirs = [x], [xt]
        if C.UNARY[name].params:
            out, ref = plugrad.polygamma(2, x), torch.polygamma(2, xt)
        else:
            out, ref = getattr(plugrad, name)(x), getattr(torch, name)(xt)
    assert type(out.grad_fn).__name__ == type(ref.grad_fn).__name__
    torch.testing.assert_close(torch.tensor(out.tolist(), dtype=torch.float64), ref.detach(), rtol=1e-12, atol=1e-12)
    g = _sample(tuple(out.shape), -1, 1, 17)
    ga = plugrad.autograd.grad(out, ours, g)
    gt = torch.autograd.grad(ref, theirs, torch.tensor(g.tolist(), dtype=torch.float64))
    # PyTorch's trigamma (digamma's derivative) keeps three terms of its asymptotic series and
    # is good to ~1e-9; plugrad's polygamma agrees with SciPy's to ~1e-15 (test_polygamma_*)
    rtol = 1e-8 if name == "digamma" else 1e-10
    for a, b in zip(ga, gt):
        torch.testing.assert_close(torch.tensor(a.tolist(), dtype=torch.float64), b, rtol=rtol, atol=1e-12)


def test_bool_power_is_a_bool_tensor_all_the_way_down() -> None:
    r = plugrad.tensor([True, False]) ** True
    assert r.dtype is plugrad.bool
    assert r.tolist() == [True, False]
    assert (r & plugrad.tensor([True, True])).tolist() == [True, False]  # bitwise ops see real bools


def test_out_that_requires_grad_is_refused_as_pytorch_does() -> None:
    out = plugrad.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="exp\\(\\): functions with out=... arguments don't support automatic"):
        plugrad.exp(plugrad.ones(2), out=out)
    assert out.tolist() == [0.0, 0.0]
