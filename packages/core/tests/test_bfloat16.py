"""bfloat16 (and float16) in core's dtype system: promotion, printing, rounding, ops and
autograd, how a backend without bfloat16 is reported; plus generators on a backend
without the random_generator kernel (plugrad's Python stream).

Expected strings and values are PyTorch's (checked against PyTorch itself in
test_dtype_oracle.py); rounded values are worked out by hand from bfloat16's 8-bit
significand: 1.7 lies between 217 and 218 steps of 2**-7, nearer 218, so it is stored as
218 / 128 = 1.703125.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import plugrad
import pytest
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, get_backend, get_registry, hookimpl

bf16, f16, f32, f64 = plugrad.bfloat16, plugrad.float16, plugrad.float32, plugrad.float64

if "bfloat16" not in get_backend("numpy").spec.dtypes:  # pragma: no cover - ml_dtypes missing
    pytest.skip("the NumPy backend has no bfloat16 (ml_dtypes is not installed)", allow_module_level=True)


def test_dtype_object() -> None:
    assert repr(bf16) == "plugrad.bfloat16" and str(bf16) == "plugrad.bfloat16"
    assert bf16.is_floating_point and bf16.itemsize == 2 and bf16.is_signed
    assert bf16.to_legacy_type_name() == "BFloat16Tensor"
    assert plugrad.zeros(1, dtype=bf16).type() == "plugrad.BFloat16Tensor"


@pytest.mark.parametrize(
    ("other", "result"),
    [
        (f16, f32),  # neither holds the other's values
        (f32, f32),
        (f64, f64),
        (plugrad.int64, bf16),
        (plugrad.int8, bf16),
        (plugrad.uint8, bf16),
        (plugrad.bool, bf16),
        (bf16, bf16),
    ],
)
def test_promote_types(other: plugrad.dtype, result: plugrad.dtype) -> None:
    assert plugrad.promote_types(bf16, other) is result
    assert plugrad.promote_types(other, bf16) is result


def test_promotion_in_operations() -> None:
    x = plugrad.tensor([1.0, 2.0], dtype=bf16)
    assert (x + 1).dtype is bf16
    assert (x + 1.5).dtype is bf16
    assert (x + plugrad.tensor(1.5)).dtype is bf16  # a 0-d float32 tensor ranks below a dimensioned one
    assert (x * plugrad.tensor([1, 2])).dtype is bf16
    assert (x + plugrad.tensor([1.0], dtype=f16)).dtype is f32
    assert (x + plugrad.tensor([1.0])).dtype is f32
    assert (plugrad.tensor(3) + x).dtype is bf16


def test_rounding_to_bfloat16() -> None:
    assert plugrad.tensor([1.7], dtype=bf16).item() == 1.703125
    # 0.1 = 1.6 * 2**-4: 1.6 * 128 = 204.8 -> 205 steps of 2**-11; 1/3 -> 171 steps of 2**-9
    assert plugrad.tensor([0.1, 1 / 3]).to(bf16).float().tolist() == [205 / 2048, 171 / 512]
    # its range is float32's: 1e38 stays finite, where float16 overflows
    assert plugrad.tensor([1e38], dtype=bf16).isfinite().all().item()
    assert plugrad.tensor([1e5], dtype=f16).isinf().all().item()


@pytest.mark.parametrize(
    ("values", "dtype", "text"),
    [
        ([1.5, 2.0, 3.14159], bf16, "tensor([1.5000, 2.0000, 3.1406], dtype=plugrad.bfloat16)"),
        ([1e-5, 1e5], bf16, "tensor([1.0014e-05, 9.9840e+04], dtype=plugrad.bfloat16)"),
        (3.3, bf16, "tensor(3.2969, dtype=plugrad.bfloat16)"),
        ([], bf16, "tensor([], dtype=plugrad.bfloat16)"),
        ([float("inf"), float("nan"), 65504.0], bf16, "tensor([   inf,    nan, 65536.], dtype=plugrad.bfloat16)"),
        ([1.0, 2.0, 3.0], bf16, "tensor([1., 2., 3.], dtype=plugrad.bfloat16)"),
        ([[1 / 3, 2 / 3], [100.5, 0.25]], bf16, None),
        ([1e-5, 1e5], f16, "tensor([1.0014e-05,        inf], dtype=plugrad.float16)"),
        (3.3, f16, "tensor(3.3008, dtype=plugrad.float16)"),
        ([float("inf"), float("nan"), 65504.0], f16, "tensor([   inf,    nan, 65504.], dtype=plugrad.float16)"),
    ],
)
def test_printing(values: object, dtype: plugrad.dtype, text: str | None) -> None:
    if text is None:
        text = "tensor([[  0.3340,   0.6680],\n        [100.5000,   0.2500]], dtype=plugrad.bfloat16)"
    assert repr(plugrad.tensor(values, dtype=dtype)) == text


def test_printing_with_grad_fn() -> None:
    y = plugrad.tensor([1.0, 2.0], dtype=bf16, requires_grad=True) * 2
    assert repr(y) == "tensor([2., 4.], dtype=plugrad.bfloat16, grad_fn=<MulBackward0>)"


def test_operations_keep_bfloat16_and_gradients_flow() -> None:
    a = plugrad.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=bf16, requires_grad=True)
    b = plugrad.tensor([[0.5], [0.25]], dtype=bf16)
    out = a @ b
    assert out.dtype is bf16 and out.tolist() == [[1.0], [2.5]]
    s = plugrad.softmax(out.reshape(-1), 0)
    assert s.dtype is bf16
    loss = (out * out).sum()
    assert loss.dtype is bf16
    loss.backward()
    # d/da sum((a b)^2) = 2 (a b) b^T, exact in bfloat16 here
    assert a.grad is not None and a.grad.dtype is bf16
    assert a.grad.tolist() == [[1.0, 0.5], [2.5, 1.25]]
    assert a.sum().dtype is bf16 and a.mean().item() == 2.5


def test_random_draws_in_bfloat16() -> None:
    g = plugrad.Generator().manual_seed(0)
    u = plugrad.rand(1000, dtype=bf16, generator=g)
    assert u.dtype is bf16 and bool((u >= 0).all()) and bool((u <= 1).all())
    z = plugrad.randn(10, dtype=bf16)
    assert z.dtype is bf16
    r = plugrad.empty(100, dtype=bf16).random_()
    assert bool((r >= 0).all()) and bool((r <= 256).all())


class _NoBfloat16:
    """A backend with the NumPy backend's kernels, but neither bfloat16 nor random_generator."""

    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        spec = get_backend("numpy").spec
        return [
            BackendSpec(
                name="nobf16",
                device_type="cpu",
                contract_version=CONTRACT_VERSION,
                kernels={k: v for k, v in spec.kernels.items() if k != "random_generator"},
                dtypes={k: v for k, v in spec.dtypes.items() if k != "bfloat16"},
                array_types=spec.array_types,
                priority=-5,
            )
        ]


@contextlib.contextmanager
def _no_bfloat16_backend() -> Iterator[str]:
    reg = get_registry()
    reg.add_plugin(_NoBfloat16(), "plugrad-test-nobf16")
    try:
        yield "nobf16"
    finally:
        reg.remove_plugin("plugrad-test-nobf16")


def test_backend_without_bfloat16_says_so() -> None:
    with _no_bfloat16_backend() as dev:
        assert plugrad.zeros(2, device=dev).dtype is f32
        with pytest.raises(TypeError, match="plugrad backend 'nobf16' does not support dtype bfloat16"):
            plugrad.zeros(2, dtype=bf16, device=dev)
        with pytest.raises(TypeError, match="does not support dtype bfloat16"):
            plugrad.ones(2, device=dev).to(bf16)


def test_generator_on_a_backend_without_random_streams() -> None:
    """plugrad draws in Python for such a backend: same semantics, seeds, states, independence."""
    with _no_bfloat16_backend() as dev:
        g = plugrad.Generator(device=dev).manual_seed(4)
        a = plugrad.rand(50, generator=g, device=dev)
        state = g.get_state()
        b = plugrad.randn(5, generator=g, device=dev)
        plugrad.rand(10, device=dev)  # the backend's own default stream
        g.set_state(state)
        assert plugrad.equal(b, plugrad.randn(5, generator=g, device=dev))
        assert plugrad.equal(a, plugrad.rand(50, generator=plugrad.Generator(device=dev).manual_seed(4), device=dev))
        assert bool((a >= 0).all()) and bool((a < 1).all())
        with pytest.raises(
            RuntimeError, match="generator draws for backend 'numpy', but the tensor is on backend 'nobf16'"
        ):
            plugrad.rand(2, generator=plugrad.Generator(), device=dev)


@pytest.mark.parametrize("dt", [f16, bf16, f32, f64])
def test_finfo_describes_the_dtype_as_stored(dt: plugrad.dtype) -> None:
    fi = plugrad.finfo(dt)
    one = plugrad.ones(1, dtype=dt)
    # eps is the gap above 1: 1 + eps is stored exactly, 1 + eps / 2 rounds back to 1 (ties to even)
    assert ((one + fi.eps) - one).item() == fi.eps
    assert ((one + fi.eps / 2) - one).item() == 0.0
    # max is the largest finite value: stored exactly; twice it is inf
    big = plugrad.tensor([fi.max], dtype=dt)
    assert big.item() == fi.max and (big * 2).isinf().all().item()
    assert fi.min == -fi.max and fi.tiny == fi.smallest_normal
    assert plugrad.tensor([fi.tiny], dtype=dt).item() == fi.tiny
    assert fi.bits == dt.itemsize * 8 and fi.dtype == dt.name


def test_finfo_iinfo_defaults_and_errors() -> None:
    assert plugrad.finfo() == plugrad.finfo(plugrad.get_default_dtype())
    assert plugrad.iinfo(plugrad.int16).min == -(2**15) and plugrad.iinfo(plugrad.uint8).max == 255
    assert plugrad.iinfo(plugrad.int64).max == 2**63 - 1 and plugrad.iinfo(plugrad.int8).bits == 8
    with pytest.raises(TypeError, match="requires a floating point input type"):
        plugrad.finfo(plugrad.int32)
    with pytest.raises(TypeError, match="requires an integer input type"):
        plugrad.iinfo(plugrad.float32)
    with pytest.raises(TypeError, match="plugrad.bool is not supported by plugrad.iinfo"):
        plugrad.iinfo(plugrad.bool)
    with pytest.raises(TypeError, match="must be plugrad.dtype, not str"):
        plugrad.finfo("float32")  # type: ignore[arg-type]


_OPS = {
    "add": lambda x, y: x + y,
    "div": lambda x, y: x / y,
    "pow": lambda x, y: x.abs() ** 1.5,
    "exp": lambda x, y: x.exp(),
    "log": lambda x, y: x.abs().log(),
    "tanh": lambda x, y: x.tanh(),
    "sigmoid": lambda x, y: x.sigmoid(),
    "sum": lambda x, y: x.sum(1),
    "mean": lambda x, y: x.mean(0),
    "max": lambda x, y: x.max(1).values,
    "maximum": lambda x, y: plugrad.maximum(x, y),
    "softmax": lambda x, y: plugrad.softmax(x, 1),
    "log_softmax": lambda x, y: plugrad.log_softmax(x, 1),
    "matmul": lambda x, y: x @ y.t(),
    "var": lambda x, y: x.var(1),
    "cumsum": lambda x, y: x.cumsum(1),
    "where": lambda x, y: plugrad.where(x > 0, x, y),
    "clamp": lambda x, y: x.clamp(-1, 1),
    "sort": lambda x, y: x.sort(1).values,
    "erf": lambda x, y: x.erf(),
    "norm": lambda x, y: x.norm(),
}


@pytest.mark.parametrize("name", sorted(_OPS))
def test_operations_in_bfloat16_agree_with_float32(name: str) -> None:
    """Each op keeps bfloat16 (also in its gradient) and agrees with float32 on the same (rounded)
    inputs to bfloat16's precision: 2**-7 relative per rounding, a few roundings per op."""
    op = _OPS[name]
    vals = [[0.5, -1.25, 2.0], [3.0, 0.125, -0.75]]
    x = plugrad.tensor(vals, dtype=bf16, requires_grad=True)
    y = plugrad.tensor([[1.5, 2.0, -0.5], [0.25, 1.0, 4.0]], dtype=bf16)
    out = op(x, y)
    assert out.dtype is bf16
    (g,) = plugrad.autograd.grad(out.sum(), x)
    assert g.dtype is bf16
    x32 = x.detach().float().requires_grad_()
    ref = op(x32, y.float())
    (g32,) = plugrad.autograd.grad(ref.sum(), x32)
    tol = 4 * 2.0**-7
    assert out.float().reshape(-1).tolist() == pytest.approx(ref.reshape(-1).tolist(), rel=tol, abs=tol)
    assert g.float().reshape(-1).tolist() == pytest.approx(g32.reshape(-1).tolist(), rel=tol, abs=tol)
