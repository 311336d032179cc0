"""The walkthrough plugrad grew from, replayed statement by statement.

Each step runs the seed's code with ``import plugrad as torch`` and compares what the
seed shows (with PyTorch's real spacing, which the saved text had flattened). Where the
seed prints a type name (``torch.Size``), plugrad prints its own (``plugrad.Size``).
"""

from __future__ import annotations

import re
import warnings

import plugrad as torch
from plugrad.autograd import Variable


def _node(text: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x...", text)


def test_seed_walkthrough(capsys) -> None:  # type: ignore[no-untyped-def]
    # Create two 2X3 tensors
    tensor_1 = torch.Tensor([[1, 2, 3], [4, 5, 6]])
    assert repr(tensor_1) == "tensor([[1., 2., 3.],\n        [4., 5., 6.]])"
    tensor_2 = torch.Tensor([[7, 8, 9], [10, 11, 12]])
    assert repr(tensor_2) == "tensor([[ 7.,  8.,  9.],\n        [10., 11., 12.]])"

    assert tensor_1.requires_grad is False
    assert tensor_2.requires_grad is False
    assert repr(tensor_1.requires_grad_()) == "tensor([[1., 2., 3.],\n        [4., 5., 6.]], requires_grad=True)"
    assert tensor_1.requires_grad is True

    print(tensor_1.grad)
    print(tensor_1.grad_fn)
    assert capsys.readouterr().out == "None\nNone\n"

    output_tensor = tensor_1 * tensor_2
    print(output_tensor.requires_grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # .grad of a non-leaf warns, as in PyTorch
        print(output_tensor.grad)
    print(output_tensor.grad_fn)
    assert _node(capsys.readouterr().out) == "True\nNone\n<MulBackward0 object at 0x...>\n"

    output_tensor_1 = (tensor_1 * tensor_2).mean()
    print(output_tensor_1.grad_fn)
    print(tensor_1.grad)
    assert _node(capsys.readouterr().out) == "<MeanBackward0 object at 0x...>\nNone\n"

    output_tensor_1.backward()
    print(tensor_1.grad)
    assert capsys.readouterr().out == "tensor([[1.1667, 1.3333, 1.5000],\n        [1.6667, 1.8333, 2.0000]])\n"

    assert repr((tensor_1.grad.shape, tensor_1.shape)) == "(plugrad.Size([2, 3]), plugrad.Size([2, 3]))"

    with torch.no_grad():
        new_tensor = tensor_1 * 3
        print("new_tensor = ", new_tensor)
        print("requires_grad for tensor = ", tensor_1.requires_grad)
        print("requires_grad for tensor = ", tensor_2.requires_grad)
        print("requires_grad for tensor = ", new_tensor.requires_grad)
    assert capsys.readouterr().out == (
        "new_tensor =  tensor([[ 3.,  6.,  9.],\n        [12., 15., 18.]])\n"
        "requires_grad for tensor =  True\n"
        "requires_grad for tensor =  False\n"
        "requires_grad for tensor =  False\n"
    )

    def calculate(t):  # type: ignore[no-untyped-def]
        return t * 2

    @torch.no_grad()
    def calculate_no_grad(t):  # type: ignore[no-untyped-def]
        return t * 2

    result_tensor = calculate(tensor_1)
    assert repr(result_tensor) == "tensor([[ 2.,  4.,  6.],\n        [ 8., 10., 12.]], grad_fn=<MulBackward0>)"
    result_tensor_no_grad = calculate_no_grad(tensor_1)
    assert repr(result_tensor_no_grad) == "tensor([[ 2.,  4.,  6.],\n        [ 8., 10., 12.]])"
    assert result_tensor_no_grad.requires_grad is False

    with torch.no_grad():
        new_tensor_no_grad = tensor_1 * 3
        print("new_tensor_no_grad = ", new_tensor_no_grad)
        with torch.enable_grad():
            new_tensor_grad = tensor_1 * 3
        print("new_tensor_grad = ", new_tensor_grad)
    assert capsys.readouterr().out == (
        "new_tensor_no_grad =  tensor([[ 3.,  6.,  9.],\n        [12., 15., 18.]])\n"
        "new_tensor_grad =  tensor([[ 3.,  6.,  9.],\n        [12., 15., 18.]], grad_fn=<MulBackward0>)\n"
    )

    tensor_1_1 = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(tensor_1_1) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"
    tensor_1_2 = torch.tensor([[3.0, 4.0], [5, 6]])
    assert repr(tensor_1_2) == "tensor([[3., 4.],\n        [5., 6.]])"
    assert repr(tensor_1_2.requires_grad_()) == "tensor([[3., 4.],\n        [5., 6.]], requires_grad=True)"

    final_tensor = (tensor_1_1 + tensor_1_2).mean()
    assert repr(final_tensor) == "tensor(7., grad_fn=<MeanBackward0>)"
    assert final_tensor.requires_grad is True
    print(tensor_1_1.grad)
    print(tensor_1_2.grad)
    assert capsys.readouterr().out == "None\nNone\n"

    final_tensor.backward()
    print(tensor_1_1.grad)
    print(tensor_1_2)
    assert capsys.readouterr().out == (
        "tensor([[0.2500, 0.2500],\n        [0.2500, 0.2500]])\n"
        "tensor([[3., 4.],\n        [5., 6.]], requires_grad=True)\n"
    )

    detached_tensor = tensor_1_1.detach()
    assert repr(detached_tensor) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(tensor_1_1) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"

    mean_tensor = (tensor_1_1 + detached_tensor).mean()
    mean_tensor.backward()
    assert repr(tensor_1_1.grad) == "tensor([[0.5000, 0.5000],\n        [0.5000, 0.5000]])"
    print(detached_tensor.grad)
    assert capsys.readouterr().out == "None\n"

    var = Variable(torch.FloatTensor([9]))
    assert repr(var) == "tensor([9.])"
    assert repr(var.requires_grad_()) == "tensor([9.], requires_grad=True)"
    w1 = Variable(torch.FloatTensor([3]), requires_grad=True)
    w2 = Variable(torch.FloatTensor([7]), requires_grad=True)
    assert repr(w1) == "tensor([3.], requires_grad=True)"
    assert repr(w2) == "tensor([7.], requires_grad=True)"
    result_var = var * w1
    assert repr(result_var) == "tensor([27.], grad_fn=<MulBackward0>)"
    result_var.backward()
    assert repr(w1.grad) == "tensor([9.])"
    print(w2.grad)
    assert capsys.readouterr().out == "None\n"
    assert repr(var.grad) == "tensor([3.])"


def test_seed_gradient_values_are_the_analytic_ones() -> None:
    # d mean(a * b) / d a = b / numel, computed by hand for the seed's tensors
    a = torch.Tensor([[1, 2, 3], [4, 5, 6]]).requires_grad_()
    b = torch.Tensor([[7, 8, 9], [10, 11, 12]])
    (a * b).mean().backward()
    expected = [[v / 6 for v in row] for row in [[7, 8, 9], [10, 11, 12]]]
    got = a.grad.tolist()
    for gr, er in zip(got, expected):
        for g, e in zip(gr, er):
            assert abs(g - e) < 1e-6
