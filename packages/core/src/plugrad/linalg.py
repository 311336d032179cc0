"""``plugrad.linalg``: the linear-algebra namespace (as ``torch.linalg``).

Norms, products, solvers and decompositions with PyTorch's names, shapes (leading batch
dims), errors and derivatives (first and second order). The decompositions and solvers
run on the backend's optional ``linalg_*`` kernels (the array API's linalg extension);
a backend without one raises an error naming the missing kernel. The derivative of each
op is written in :mod:`plugrad._ops.linalg_ops`.
"""

from __future__ import annotations

from typing import Any

from . import _dtype as D
from ._ops.linalg import matmul
from ._ops.linalg_ops import (
    LinAlgError,
    cholesky,
    cholesky_ex,
    cond,
    det,
    eigh,
    eigvalsh,
    inv,
    inv_ex,
    lstsq,
    matrix_norm,
    matrix_power,
    matrix_rank,
    multi_dot,
    pinv,
    qr,
    solve,
    solve_ex,
    solve_triangular,
    svd,
    svdvals,
    vander,
)
from ._ops.linalg_ops import linalg_cross as cross
from ._ops.linalg_ops import linalg_slogdet as slogdet
from ._ops.reduction import vector_norm
from ._tensor import Tensor

__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "cond",
    "cross",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "inv_ex",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_ex",
    "solve_triangular",
    "svd",
    "svdvals",
    "vander",
    "vecdot",
    "vector_norm",
]


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: D.dtype | None = None) -> Tensor:
    """A vector or matrix norm, as ``torch.linalg.norm`` chooses: with ``ord=None``, the 2-norm of the
    flattened input (``dim=None``) or over ``dim``; otherwise a vector norm over one dim (or of a 1-D
    input) and a matrix norm (:func:`matrix_norm`) over two dims (or of a 2-D input)."""
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None:
        if A.ndim == 1:
            return vector_norm(A, ord, None, keepdim, dtype=dtype)
        if A.ndim == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        raise RuntimeError(
            f"linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D."
        )
    dims = tuple(dim)
    if len(dims) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.vector_norm: Expected a number for ord, but got {ord!r}")
        return vector_norm(A, ord, dims, keepdim, dtype=dtype)
    if len(dims) == 2:
        return matrix_norm(A, ord, (dims[0], dims[1]), keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. Got {list(dims)}")


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """``sum(x * y, dim)``, broadcasting ``x`` and ``y``."""
    return (x * y).sum(dim)
