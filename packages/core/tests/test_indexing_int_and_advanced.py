"""Integer indices next to advanced ones apply first, as PyTorch does (NumPy differs).

Expected values are PyTorch 2.13's results for the same expressions.
"""

from __future__ import annotations

import plugrad as torch


def test_int_then_list_separated_by_a_slice() -> None:
    x = torch.arange(24).reshape(2, 3, 4)
    r = x[0, :, [1, 2]]
    assert r.shape == (3, 2)  # NumPy's rule would give (2, 3)
    assert r.tolist() == [[1, 2], [5, 6], [9, 10]]
    assert x[:, 1, [0, 3]].tolist() == [[4, 7], [16, 19]]
    assert x[[0, 1], :, 1].tolist() == [[1, 5, 9], [13, 17, 21]]
    assert x[1, [0, 2]].tolist() == [[12, 13, 14, 15], [20, 21, 22, 23]]
    assert x[None, 0, [1, 2]].shape == (1, 2, 4)
    assert x[..., 0, [1, 2]].tolist() == [[1, 2], [13, 14]]


def test_int_with_a_boolean_mask() -> None:
    x = torch.arange(24).reshape(2, 3, 4)
    m = torch.tensor([True, False, True])
    assert x[0, m].shape == (2, 4)
    assert x[1, m, 2].tolist() == [14, 22]


def test_setitem_and_gradients_follow_the_same_rule() -> None:
    y = torch.zeros(2, 3, 4)
    y[0, :, [1, 2]] = torch.ones(3, 2)
    assert y.sum().item() == 6.0 and y[0, :, 1].tolist() == [1.0, 1.0, 1.0]
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = torch.zeros(2, 3, 4)
    z[1, :, [0, 3]] = torch.stack([w, w * 2], 1)
    (z * z).sum().backward()
    assert w.grad.tolist() == [10.0, 20.0, 30.0]  # d/dw (w^2 + 4w^2) = 10w
