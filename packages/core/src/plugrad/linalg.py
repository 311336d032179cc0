"""``plugrad.linalg``: the linear-algebra namespace (as ``torch.linalg``).

Provides vector norms and the matrix product; matrix decompositions are not part of
plugrad.
"""

from __future__ import annotations

from typing import Any

from . import _dtype as D
from ._ops.linalg import matmul
from ._ops.reduction import vector_norm
from ._tensor import Tensor

__all__ = ["matmul", "norm", "vector_norm", "vecdot"]


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: D.dtype | None = None) -> Tensor:
    """The 2-norm of all elements (``ord=None``), or the vector ``ord``-norm over one ``dim``.

    Matrix norms (a numeric or string ``ord`` over two dims) are not supported.
    """
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if ord == "fro" and (dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 2)):
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    single = isinstance(dim, int) or (isinstance(dim, (tuple, list)) and len(dim) == 1)
    if (dim is None and A.ndim == 1) or single:
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    raise NotImplementedError(
        f"linalg.norm(ord={ord!r}) over two dims is a matrix norm, which plugrad does not support; "
        "use linalg.vector_norm for the norm of the flattened matrix"
    )


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """``sum(x * y, dim)``, broadcasting ``x`` and ``y``."""
    return (x * y).sum(dim)
