"""NumPy interop as PyTorch users expect it (core itself never imports NumPy; these tests
do): NumPy scalars inside ``plugrad.tensor`` lists and as operands, NumPy arrays and
scalars as indices, any Python sequence as data, ``Tensor.numpy()``/``__array__``
through the backend's ``to_numpy`` kernel, and PyTorch's warnings."""

from __future__ import annotations

import collections
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import plugrad
import pytest
from plugrad.backends import BackendSpec, get_backend, get_registry, hookimpl

np = pytest.importorskip("numpy")


# ------------------------------------------------------------------- plugrad.tensor
@pytest.mark.parametrize(
    "data,dtype,values",
    [
        ([np.float32(1.5), 2], plugrad.float32, [1.5, 2.0]),
        ([np.float64(1.5), 2], plugrad.float64, [1.5, 2.0]),  # a NumPy scalar brings its dtype
        ([np.float16(3), 1], plugrad.float16, [3.0, 1.0]),
        ([np.float16(1), 2.5], plugrad.float32, [1.0, 2.5]),
        ([np.int32(1), 2], plugrad.int64, [1, 2]),
        ([np.int32(1), np.int32(2)], plugrad.int32, [1, 2]),
        ([np.uint8(3), np.int8(1)], plugrad.int16, [3, 1]),
        ([np.bool_(True), False], plugrad.bool, [True, False]),
        ([[np.int64(1)], [np.int64(2)]], plugrad.int64, [[1], [2]]),
        ([plugrad.tensor(1.5, dtype=plugrad.float64), 2], plugrad.float64, [1.5, 2.0]),
        (range(5), plugrad.int64, [0, 1, 2, 3, 4]),
        ([range(2), range(2)], plugrad.int64, [[0, 1], [0, 1]]),
        (collections.deque([1, 2]), plugrad.int64, [1, 2]),
        (plugrad.Size([2, 3]), plugrad.int64, [2, 3]),
        ((1, 2.5), plugrad.float32, [1.0, 2.5]),
        (range(0), plugrad.float32, []),
        (np.float64(1.5), plugrad.float64, 1.5),
        (np.int32(3), plugrad.int32, 3),
    ],
)
def test_tensor_from_numpy_scalars_and_sequences(data: Any, dtype: plugrad.dtype, values: Any) -> None:
    t = plugrad.tensor(data)
    assert t.dtype is dtype and t.tolist() == values


def test_tensor_data_errors() -> None:
    with pytest.raises(RuntimeError, match="Could not infer dtype of generator"):
        plugrad.tensor(x for x in range(3))
    with pytest.raises(RuntimeError, match="Could not infer dtype of dict"):
        plugrad.tensor({1: 2})
    with pytest.raises(TypeError, match="len\\(\\) of unsized object"):
        plugrad.tensor([np.array(1.5), 2])


# ---------------------------------------------------------------- NumPy operands
def test_numpy_scalars_are_numbers_in_arithmetic() -> None:
    t = plugrad.ones(2)
    for out in (t * np.float32(2), np.float32(2) * t, t * np.float64(2), np.float64(2) * t, t + np.int64(1)):
        assert isinstance(out, plugrad.Tensor) and out.dtype is plugrad.float32 and out.tolist() == [2.0, 2.0]
    i = plugrad.tensor([1, 2])
    assert (i + np.int64(2)).dtype is plugrad.int64 and (i * np.float64(2)).dtype is plugrad.float32
    assert (np.int64(2) + plugrad.tensor([1, 2], dtype=plugrad.int32)).dtype is plugrad.int32
    assert (t == np.float32(1)).tolist() == [True, True] and (t != np.float64(1)).tolist() == [False, False]
    assert (t > np.float32(0.5)).tolist() == [True, True] and (np.int64(3) - i).tolist() == [2, 1]
    t += np.float32(1)
    assert t.tolist() == [2.0, 2.0]
    assert (i & np.int64(3)).tolist() == [1, 2]


# ------------------------------------------------------------------ NumPy indices
def test_numpy_indices() -> None:
    t = plugrad.arange(10).reshape(2, 5)
    assert t[np.int64(1)].tolist() == [5, 6, 7, 8, 9]
    assert t[:, np.array([0, 2])].tolist() == [[0, 2], [5, 7]]
    assert t[np.array([1, 0]), np.array([4, 4])].tolist() == [9, 4]
    assert t[np.array([True, False])].tolist() == [[0, 1, 2, 3, 4]]
    assert t[0, np.int32(3)].item() == 3
    t[np.array([0]), np.array([1])] = 100
    assert t[0, 1].item() == 100
    x = plugrad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    assert x.grad is not None and x.grad.tolist() == [2.0, 0.0, 1.0]


# ------------------------------------------------------------- numpy() / __array__
def test_numpy_shares_memory_on_the_numpy_backend() -> None:
    t = plugrad.tensor([1.0, 2.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 5.0
    assert t.tolist() == [5.0, 2.0]
    assert np.asarray(t) is t.numpy() or np.shares_memory(np.asarray(t), a)
    c = np.array(t, copy=True)
    c[1] = -1.0
    assert t.tolist() == [5.0, 2.0]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    r = plugrad.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        r.numpy()
    assert np.asarray(r).tolist() == [1.0, 1.0] and r.numpy(force=True).tolist() == [1.0, 1.0]


class WithoutToNumpy:
    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        base = get_backend("numpy").spec
        return [
            BackendSpec(
                name="numpy_nonp",
                device_type="cpu",
                contract_version="1.0",
                kernels={k: v for k, v in base.kernels.items() if k != "to_numpy"},
                dtypes=base.dtypes,
                array_types=base.array_types,
                priority=-5,
            )
        ]


@pytest.fixture(scope="module")
def backend_without_to_numpy() -> Iterator[str]:
    reg = get_registry()
    reg.add_plugin(WithoutToNumpy(), "test-no-to-numpy")
    yield "numpy_nonp"
    reg.remove_plugin("test-no-to-numpy")


def test_numpy_needs_the_to_numpy_kernel(backend_without_to_numpy: str) -> None:
    t = plugrad.ones(2, device=backend_without_to_numpy)
    with pytest.raises(TypeError, match="backend 'numpy_nonp' to numpy: the backend has no 'to_numpy' kernel"):
        t.numpy()
    assert t.to("cpu").numpy().tolist() == [1.0, 1.0]


# ----------------------------------------------------------------------- warnings
def _warnings(fn: Any) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def test_copy_construct_warning() -> None:
    t = plugrad.ones(2)
    msgs = _warnings(lambda: plugrad.tensor(t))
    assert msgs == [
        "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
        "sourceTensor.detach().clone().requires_grad_(True), rather than plugrad.tensor(sourceTensor)."
    ]
    assert _warnings(lambda: plugrad.as_tensor(t)) == [] and _warnings(lambda: plugrad.tensor([t[0], 2.0])) == []


def test_T_warnings() -> None:
    assert _warnings(lambda: plugrad.ones(2, 3).T) == []
    (msg,) = _warnings(lambda: plugrad.ones(2, 3, 4).T)
    assert msg.startswith("The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated")
    assert "plugrad.arange(x.ndim - 1, -1, -1)" in msg
    assert _warnings(lambda: plugrad.ones(3).T) == [msg]
    assert _warnings(lambda: plugrad.tensor(1.0).T) == [
        "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
    ]


@pytest.mark.parametrize(
    "fn,op,warns",
    [
        (lambda: plugrad.ones(3).var(correction=5), "var", True),
        (lambda: plugrad.ones(1).std(), "std", True),
        (lambda: plugrad.ones(0).var(), "var", True),
        (lambda: plugrad.var_mean(plugrad.ones(1)), "var_mean", True),
        (lambda: plugrad.std_mean(plugrad.ones(2, 1), 1), "std_mean", True),
        (lambda: plugrad.ones(2, 2).var(0, correction=1.5), "var", False),
        (lambda: plugrad.ones(2, 3).std(1), "std", False),
    ],
)
def test_degrees_of_freedom_warning(fn: Any, op: str, warns: bool) -> None:
    expected = (
        f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction factor "
        "(input numel divided by output numel)."
    )
    assert _warnings(fn) == ([expected] if warns else [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    for w in caught:
        assert w.filename == __file__, "the warning points at the caller's line"
