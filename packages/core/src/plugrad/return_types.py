"""Named tuples returned by ops with several outputs (``plugrad.return_types.max``, ...).

Each behaves like a tuple (``values, indices = t.max(0)``) and offers its fields by
name (``t.max(0).values``); the repr matches PyTorch's ``torch.return_types.max(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ._tensor import Tensor

__all__ = ["max", "min", "sort", "topk", "kthvalue", "median"]


def _repr(self: Any) -> str:
    fields = ",\n".join(f"{name}={value!r}" for name, value in zip(self._fields, self))
    return f"plugrad.return_types.{type(self).__name__}(\n{fields})"


class max(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.max` along a dim."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class min(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.min` along a dim."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class sort(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.sort`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class topk(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.topk`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class kthvalue(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.kthvalue`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class median(NamedTuple):
    """``(values, indices)`` of :func:`plugrad.median`."""

    values: Tensor
    indices: Tensor

    def __repr__(self) -> str:
        return _repr(self)


# ---------------------------------------------------------------------- linalg (issue 17)
__all__ += [
    "slogdet", "triangular_solve", "linalg_slogdet", "linalg_inv_ex", "linalg_cholesky_ex", "linalg_qr",
    "linalg_eigh", "linalg_svd", "linalg_lstsq", "linalg_solve_ex",
]  # fmt: skip


class slogdet(NamedTuple):
    """``(sign, logabsdet)`` of :func:`plugrad.slogdet`."""

    sign: Tensor
    logabsdet: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_slogdet(NamedTuple):
    """``(sign, logabsdet)`` of :func:`plugrad.linalg.slogdet`."""

    sign: Tensor
    logabsdet: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class triangular_solve(NamedTuple):
    """``(solution, cloned_coefficient)`` of :func:`plugrad.triangular_solve`."""

    solution: Tensor
    cloned_coefficient: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_inv_ex(NamedTuple):
    """``(inverse, info)`` of :func:`plugrad.linalg.inv_ex`."""

    inverse: Tensor
    info: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_cholesky_ex(NamedTuple):
    """``(L, info)`` of :func:`plugrad.linalg.cholesky_ex`."""

    L: Tensor
    info: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_qr(NamedTuple):
    """``(Q, R)`` of :func:`plugrad.linalg.qr`."""

    Q: Tensor
    R: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_eigh(NamedTuple):
    """``(eigenvalues, eigenvectors)`` of :func:`plugrad.linalg.eigh`."""

    eigenvalues: Tensor
    eigenvectors: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_svd(NamedTuple):
    """``(U, S, Vh)`` of :func:`plugrad.linalg.svd`."""

    U: Tensor
    S: Tensor
    Vh: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_lstsq(NamedTuple):
    """``(solution, residuals, rank, singular_values)`` of :func:`plugrad.linalg.lstsq`."""

    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor

    def __repr__(self) -> str:
        return _repr(self)


class linalg_solve_ex(NamedTuple):
    """``(result, info)`` of :func:`plugrad.linalg.solve_ex`."""

    result: Tensor
    info: Tensor

    def __repr__(self) -> str:
        return _repr(self)
