"""Devices: names, moving tensors, the default device, plugrad.cuda, mixing backends, DLPack.

A second CPU backend (``numpy2``, the NumPy kernels under another name) is registered
with ``get_registry().add_plugin`` for the module and removed afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import plugrad
import pytest
from plugrad.backends import get_registry
from plugrad.testing import twin_backend

np = pytest.importorskip("numpy")


@pytest.fixture(scope="module", autouse=True)
def second_backend() -> Iterator[None]:
    with twin_backend("numpy2", priority=-1):
        yield


# ------------------------------------------------------------------ naming
def test_device_names() -> None:
    a = plugrad.tensor([1.0, 2.0])
    b = plugrad.tensor([1.0, 2.0], device="numpy2")
    assert a.device == plugrad.device("cpu") and str(a.device) == "cpu"
    assert b.device == plugrad.device("numpy2") and b.device.type == "numpy2"
    assert plugrad.tensor([1.0], device="numpy")._backend is a._backend  # a backend's own name works too
    assert plugrad.tensor([1.0], device=plugrad.device("cpu", 0))._backend is a._backend
    assert repr(b) == "tensor([1., 2.], device='numpy2')"
    assert repr(plugrad.device("cuda:0")) == "device(type='cuda', index=0)"


def test_unknown_device_lists_known_backends() -> None:
    with pytest.raises(RuntimeError, match=r"known backends: .*'numpy'"):
        plugrad.zeros(2, device="tpu")
    with pytest.raises(RuntimeError, match="Invalid device string"):
        plugrad.device("cpu:x")


# ------------------------------------------------------------------ moving
def test_to_device_and_back_keeps_values_and_gradients() -> None:
    a = plugrad.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    b = a.to("numpy2")
    assert b._backend.name == "numpy2" and b.tolist() == a.tolist() and b.grad_fn.name() == "ToCopyBackward0"
    (b * b).sum().backward()
    assert a.grad is not None and a.grad.device == plugrad.device("cpu")
    assert a.grad.tolist() == [[2.0, -4.0], [6.0, 1.0]]
    c = b.cpu()
    assert c.device == plugrad.device("cpu") and c.tolist() == a.tolist()
    assert a.to("cpu") is a and a.cpu() is a  # no copy when nothing changes
    assert a.to(plugrad.device("numpy2"), plugrad.float64).dtype is plugrad.float64


def test_to_dtype_and_other_tensor() -> None:
    a = plugrad.tensor([1.7, -2.2])
    assert a.to(plugrad.int64).tolist() == [1, -2]
    assert a.to(dtype=plugrad.float64).dtype is plugrad.float64
    other = plugrad.zeros(1, dtype=plugrad.float64, device="numpy2")
    moved = a.to(other)
    assert moved.dtype is plugrad.float64 and moved.device == other.device


def test_default_device() -> None:
    assert plugrad.get_default_device() == plugrad.device("cpu")
    plugrad.set_default_device("numpy2")
    try:
        assert plugrad.zeros(2).device == plugrad.device("numpy2")
        assert plugrad.tensor([1]).device == plugrad.device("numpy2")
        assert plugrad.get_default_device() == plugrad.device("numpy2")
    finally:
        plugrad.set_default_device(None)
    assert plugrad.zeros(2).device == plugrad.device("cpu")
    with plugrad.device("numpy2"):
        assert plugrad.ones(3).device.type == "numpy2"
    assert plugrad.ones(3).device.type == "cpu"


def test_cuda_without_a_cuda_backend() -> None:
    reg = get_registry()
    if any(b.device_type == "cuda" for b in reg.backends.values()):
        pytest.skip("a CUDA backend is available here")
    assert plugrad.cuda.is_available() is False
    assert plugrad.cuda.device_count() == 0
    assert plugrad.cuda.unavailable_reason()
    with pytest.raises(RuntimeError, match="cuda"):
        plugrad.tensor([1.0]).cuda()
    with pytest.raises(RuntimeError, match="cuda"):
        plugrad.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="no CUDA device is available"):
        plugrad.cuda.current_device()


def test_cuda_index_other_than_zero_is_refused() -> None:
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        plugrad.zeros(2, device="cuda:1")


# ------------------------------------------------------------------ mixing
def _mix_cases() -> dict[str, Callable[[Any, Any], Any]]:
    idx = lambda t: plugrad.tensor([[0], [1]], device=t.device)  # noqa: E731
    cases: dict[str, Callable[[Any, Any], Any]] = {
        "add": lambda a, b: a + b,
        "radd": lambda a, b: b + a,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "pow": lambda a, b: a**b,
        "eq": lambda a, b: a == b,
        "lt": lambda a, b: a < b,
        "maximum": lambda a, b: plugrad.maximum(a, b),
        "matmul": lambda a, b: a @ b,
        "mm": lambda a, b: a.mm(b),
        "dot": lambda a, b: a[0].dot(b[0]),
        "where-input": lambda a, b: plugrad.where(a > 0, a, b),
        "where-condition": lambda a, b: plugrad.where(b > 0, a, a),
        "logical_and": lambda a, b: plugrad.logical_and(a > 0, b > 0),
        "add_": lambda a, b: a.clone().add_(b),
        "mul_": lambda a, b: a.clone().mul_(b),
        "index-with-tensor": lambda a, b: a[plugrad.tensor([0], device=b.device)],
        "setitem-value": lambda a, b: a.clone().__setitem__(0, b[0]),
        "masked_fill": lambda a, b: a.masked_fill(b > 2, 0.0),
    }
    optional = {
        "cat": lambda a, b: plugrad.cat([a, b]),
        "stack": lambda a, b: plugrad.stack([a, b]),
        "clamp": lambda a, b: a.clamp(min=b),
        "lerp": lambda a, b: a.lerp(b, 0.5),
        "gather": lambda a, b: a.gather(1, idx(b)),
    }
    for name, fn in optional.items():  # ops another part of plugrad may not have yet
        if hasattr(plugrad, name) or hasattr(plugrad.Tensor, name):
            cases[name] = fn
    return cases


@pytest.mark.parametrize("case", list(_mix_cases()))
def test_mixing_backends_raises_and_says_how_to_move(case: str) -> None:
    a = plugrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = plugrad.tensor([[1.0, 2.0], [3.0, 4.0]], device="numpy2")
    fn = _mix_cases()[case]
    with pytest.raises(RuntimeError, match=r"Expected all tensors to be on the same device, .*\.to\("):
        fn(a, b)


def test_copy_between_backends_is_allowed() -> None:
    a = plugrad.zeros(2, 2)
    a.copy_(plugrad.ones(2, 2, device="numpy2"))
    assert a.tolist() == [[1.0, 1.0], [1.0, 1.0]] and a.device == plugrad.device("cpu")


# ------------------------------------------------------------------ DLPack and NumPy
def test_from_numpy_shares_memory_both_ways() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = plugrad.from_numpy(arr)
    assert t.dtype is plugrad.float32 and t.shape == (2, 3) and t.device == plugrad.device("cpu")
    t[0, 0] = 100.0
    assert arr[0, 0] == 100.0
    arr[1, 2] = -7.0
    assert t[1, 2].item() == -7.0
    t.add_(1)
    assert arr[0, 1] == 2.0


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"])
def test_from_numpy_dtypes(dtype: str) -> None:
    arr = np.ones((2,), dtype=dtype)
    assert plugrad.from_numpy(arr).dtype is getattr(plugrad, "bool" if dtype == "bool" else dtype)


def test_from_numpy_noncontiguous_shares_memory() -> None:
    arr = np.arange(12.0).reshape(3, 4).T
    t = plugrad.from_numpy(arr)
    assert t.tolist() == arr.tolist()
    arr[0, 1] = 99.0
    assert t[0, 1].item() == 99.0


def test_numpy_shares_memory_both_ways() -> None:
    t = plugrad.tensor([[1.0, 2.0], [3.0, 4.0]])
    arr = t.numpy()
    arr[0, 0] = 10.0
    assert t[0, 0].item() == 10.0
    t.mul_(2)
    assert arr.tolist() == [[20.0, 4.0], [6.0, 8.0]]
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        plugrad.ones(2, requires_grad=True).numpy()


def test_from_numpy_errors() -> None:
    with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
        plugrad.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match=r"can't convert np\.ndarray of type numpy\.complex128"):
        plugrad.from_numpy(np.zeros(2, dtype=np.complex128))
    with pytest.raises(ValueError, match="byte order different from the native byte order"):
        plugrad.from_numpy(np.zeros(2, dtype=">f8"))
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.warns(UserWarning, match="The given NumPy array is not writable"):
        t = plugrad.from_numpy(ro)
    assert t.tolist() == [0.0, 0.0, 0.0]


def test_dlpack_both_ways_shares_memory() -> None:
    t = plugrad.tensor([1.0, 2.0, 3.0])
    assert t.__dlpack_device__() == (1, 0)
    arr = np.from_dlpack(t)
    arr[1] = 20.0
    assert t.tolist() == [1.0, 20.0, 3.0]
    src = np.arange(4.0)
    u = plugrad.from_dlpack(src)
    u[0] = -1.0
    assert src[0] == -1.0 and u.device == plugrad.device("cpu")
    v = plugrad.from_dlpack(t)
    v[2] = 30.0
    assert t[2].item() == 30.0 and not v.requires_grad


def test_dlpack_refuses_tensors_that_require_grad() -> None:
    with pytest.raises(RuntimeError, match=r"Can't export tensors that require gradient, use tensor\.detach\(\)"):
        plugrad.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(TypeError, match="expects an object implementing __dlpack__"):
        plugrad.from_dlpack([1, 2])


def test_from_dlpack_of_an_unknown_device_type() -> None:
    class OnSomeAccelerator:
        def __dlpack__(self, **kwargs: Any) -> Any:
            raise AssertionError("must not be exported")

        def __dlpack_device__(self) -> tuple[int, int]:
            return (14, 0)  # kDLOneAPI

    with pytest.raises(RuntimeError, match="no backend for DLPack device type 14"):
        plugrad.from_dlpack(OnSomeAccelerator())
