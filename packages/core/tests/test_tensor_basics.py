"""Creation, dtypes, promotion, properties and printing of tensors (PyTorch's behaviour)."""

from __future__ import annotations

import plugrad as torch
import pytest


def test_dtype_inference_as_pytorch() -> None:
    assert torch.tensor([1, 2]).dtype is torch.int64
    assert torch.tensor([1.0, 2]).dtype is torch.float32
    assert torch.tensor([True, False]).dtype is torch.bool
    assert torch.tensor([True, 2]).dtype is torch.int64
    assert torch.tensor(3.5).dtype is torch.float32
    assert torch.tensor([[1, 2], [3, 4]], dtype=torch.float64).dtype is torch.float64
    assert torch.Tensor([1, 2]).dtype is torch.float32
    assert torch.FloatTensor([1]).dtype is torch.float32
    assert torch.DoubleTensor([1]).dtype is torch.float64
    assert torch.LongTensor([1]).dtype is torch.int64
    assert torch.tensor([]).dtype is torch.float32


def test_default_dtype_can_change() -> None:
    torch.set_default_dtype(torch.float64)
    try:
        assert torch.tensor([1.0]).dtype is torch.float64
        assert torch.zeros(2).dtype is torch.float64
    finally:
        torch.set_default_dtype(torch.float32)
    with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
        torch.set_default_dtype(torch.int64)


def test_ragged_and_invalid_data() -> None:
    with pytest.raises(ValueError, match=r"expected sequence of length 2 at dim 1 \(got 3\)"):
        torch.tensor([[1, 2], [3, 4, 5]])
    with pytest.raises(TypeError, match="new\\(\\): invalid data type 'str'"):
        torch.tensor("abc")
    with pytest.raises(RuntimeError, match="Could not infer dtype of NoneType"):
        torch.tensor(None)


def test_promotion_rules() -> None:
    i = torch.tensor([1, 2])
    f = torch.tensor([1.0, 2.0])
    d = torch.tensor([1.0], dtype=torch.float64)
    assert (i + 1).dtype is torch.int64
    assert (i + 1.5).dtype is torch.float32  # a Python float gives the default dtype
    assert (i / 2).dtype is torch.float32  # true division of integers
    assert (f * 2.0).dtype is torch.float32  # a Python scalar never widens a tensor
    assert (f + d).dtype is torch.float64
    assert (f + torch.tensor(1.0, dtype=torch.float64)).dtype is torch.float32  # 0-d of the same category
    assert (i + torch.tensor(1.0, dtype=torch.float64)).dtype is torch.float64  # 0-d of a higher category
    assert (torch.tensor([1], dtype=torch.int32) + i).dtype is torch.int64
    assert (f > 1).dtype is torch.bool
    assert torch.promote_types(torch.uint8, torch.int8) is torch.int16


def test_properties() -> None:
    t = torch.zeros(2, 3)
    assert t.shape == torch.Size([2, 3]) and t.size() == (2, 3) and t.size(1) == 3 and t.size(-1) == 3
    assert repr(t.shape) == "plugrad.Size([2, 3])"
    assert t.ndim == 2 and t.dim() == 2 and t.numel() == 6 and len(t) == 2
    assert t.device == torch.device("cpu") and str(t.device) == "cpu"
    assert t.type() == "plugrad.FloatTensor"
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        t.size(2)


def test_scalar_conversions() -> None:
    assert torch.tensor([2.5]).item() == 2.5
    assert float(torch.tensor(2.5)) == 2.5 and int(torch.tensor(3)) == 3
    assert torch.tensor([[1, 2]]).tolist() == [[1, 2]]
    assert bool(torch.tensor([True]))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        torch.tensor([1, 2]).item()
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(torch.tensor(1))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(torch.tensor(1))
    assert [x.item() for x in torch.tensor([1, 2, 3])] == [1, 2, 3]
    assert f"{torch.tensor(1.23456):.2f}" == "1.23"


def test_data_read_and_assign() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    d = w.data
    assert not d.requires_grad and d.tolist() == [1.0, 2.0]
    d.mul_(2)  # not tracked, visible through w
    assert w.tolist() == [2.0, 4.0]
    w.data = torch.tensor([5.0, 6.0])
    assert w.tolist() == [5.0, 6.0] and w.requires_grad


def test_numpy_interop() -> None:
    np = pytest.importorskip("numpy")
    t = torch.tensor([1.0, 2.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 7.0  # shares memory on the numpy backend
    assert t.tolist()[0] == 7.0
    assert np.asarray(t).tolist() == [7.0, 2.0]
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        torch.tensor([1.0], requires_grad=True).numpy()
    assert torch.tensor(np.array([1.5, 2.5])).dtype is torch.float64  # NumPy's dtype is kept


def test_creation_functions() -> None:
    assert torch.zeros(2, 2).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert torch.ones((3,), dtype=torch.int64).tolist() == [1, 1, 1]
    assert torch.full((2,), 7).dtype is torch.int64 and torch.full((2,), 7.0).dtype is torch.float32
    assert torch.arange(5).tolist() == [0, 1, 2, 3, 4] and torch.arange(5).dtype is torch.int64
    assert torch.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert torch.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert torch.empty(2, 3).shape == (2, 3)
    x = torch.tensor([[1, 2]], dtype=torch.float64)
    assert torch.zeros_like(x).dtype is torch.float64 and torch.ones_like(x).tolist() == [[1.0, 1.0]]
    assert torch.full_like(x, 3).tolist() == [[3.0, 3.0]]
    with pytest.raises(RuntimeError, match="Trying to create tensor with negative dimension -1"):
        torch.zeros(-1)


def test_random_is_seeded_and_in_range() -> None:
    torch.manual_seed(123)
    a = torch.rand(1000)
    torch.manual_seed(123)
    b = torch.rand(1000)
    assert a.tolist() == b.tolist()
    assert 0 <= a.min().item() and a.max().item() < 1
    n = torch.randn(20000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    assert torch.rand(2, 3, requires_grad=True).requires_grad


def test_printing_through_tensors() -> None:
    assert repr(torch.tensor([1, 2, 3])) == "tensor([1, 2, 3])"
    assert repr(torch.tensor([1.0, 2.0], dtype=torch.float64)) == "tensor([1., 2.], dtype=plugrad.float64)"
    assert repr(torch.tensor([True, False])) == "tensor([ True, False])"
    assert repr(torch.tensor([1, 2], dtype=torch.int32)) == "tensor([1, 2], dtype=plugrad.int32)"
    assert repr(torch.tensor(7.0)) == "tensor(7.)"
    assert repr(torch.tensor([])) == "tensor([])"
    assert repr(torch.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(torch.tensor([], dtype=torch.int64)) == "tensor([], dtype=plugrad.int64)"
    assert repr(torch.tensor([1e-5, 1.0])) == "tensor([1.0000e-05, 1.0000e+00])"
    assert repr(torch.tensor([-1.5, 2.25])) == "tensor([-1.5000,  2.2500])"
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr(x.double() * 2) == "tensor([2., 4.], dtype=plugrad.float64, grad_fn=<MulBackward0>)"
    big = repr(torch.arange(2000))
    assert big == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
    assert str(x.grad_fn) == "None"
    assert repr(torch.float64) == "plugrad.float64"


def test_floating_point_events_are_silent_as_in_pytorch() -> None:
    import subprocess
    import sys

    code = "import plugrad as t; x = t.tensor([0.0, 1.0]); print((x.log() / x).tolist(), (x * 1e38 * 1e38).tolist())"
    proc = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[-inf, 0.0] [0.0, inf]"
    assert proc.stderr == ""


def test_deepcopy_and_pickle() -> None:
    import copy
    import pickle

    t = torch.tensor([1.0, 2.0], requires_grad=True)
    (t * t).sum().backward()
    c = copy.deepcopy(t)
    assert c is not t and c.tolist() == [1.0, 2.0] and c.requires_grad and c.grad.tolist() == [2.0, 4.0]
    c.data.mul_(10)  # its own storage
    assert t.tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(t * 2)
    p = pickle.loads(pickle.dumps(torch.tensor([[1, 2], [3, 4]], dtype=torch.int32)))
    assert p.tolist() == [[1, 2], [3, 4]] and p.dtype is torch.int32
    assert copy.deepcopy(t._backend) is t._backend


def test_python_scalar_conversion_errors_as_pytorch() -> None:
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        float(torch.ones(2))
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        int(torch.ones(2))


def test_numpy_values_on_the_left_defer_to_plugrad() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError):
        np.ones(2) * torch.ones(2)  # never a silent ndarray
