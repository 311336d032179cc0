"""``vmap``'s fast path: a batched value that runs ``f`` once on the whole batch.

A :class:`Batched` holds one real tensor whose dimension 0 is the vmap batch, and shows
``f`` the *per-example* view of it (``shape``, ``ndim``, ``dim`` arguments are per
example). Each op ``f`` applies must have a batching rule here; a rule maps the
per-example op to one op on the batched tensor:

- elementwise catalogue rows (unary methods such as ``tanh``): the op itself;
- broadcasting binary ops (``+ - * / **``, comparisons, ``maximum``...): the operands are
  aligned first, singleton dims inserted after the batch dim so that broadcasting never
  pairs the batch dim with another operand's dim;
- ``matmul``: per-example ranks decide between a broadcasting ``matmul`` and ``bmm``;
- reductions and shape ops with dims (``sum``, ``mean``, ``softmax``, ``transpose``...):
  the dims shifted by one; ``reshape``/``view``: the batch size prepended.

Anything else (an op without a rule, a plugrad function given a ``Batched``, ``item``,
``bool``, indexing) raises :class:`NoRule`, naming the op, and ``vmap`` falls back to its
per-example loop: never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugrad._tensor import Tensor
from plugrad.autograd import Function, is_grad_enabled

__all__ = ["Batched", "NoRule", "unwrap_dim"]


class NoRule(Exception):
    """The op has no batching rule here (``vmap`` runs its loop instead)."""

    def __init__(self, op: str) -> None:
        super().__init__(op)
        self.op = op


def _unary_names() -> frozenset[str]:
    from plugrad._ops import catalogue as C

    names: set[str] = set()
    for name, row in C.UNARY.items():
        if not row.params:
            names.add(name)
            names.update(row.aliases)
    return frozenset(names)


_UNARY = _unary_names()


def _ex_dim(d: int, ndim: int) -> int:
    """A per-example dim as a dim of the batched tensor."""
    n = max(ndim, 1)
    if not -n <= d < n:
        raise NoRule("dim out of range")
    return d % n + 1


def unwrap_dim(x: Batched, out_dim: int) -> Tensor:
    """The batched tensor with its batch dim moved to ``out_dim`` (of the result)."""
    n = x.data.ndim
    if not -n <= out_dim < n:
        raise NoRule("out_dims out of range")
    return x.data.movedim(0, out_dim) if out_dim % n else x.data


class Batched:
    """A batch of per-example tensors: ``data`` has the batch as its dimension 0."""

    __slots__ = ("data", "shared")
    __plugrad_methods__ = True  # plugrad.sin(batched) is batched.sin() (see _ops/_derive._foreign)

    def __init__(self, data: Tensor, shared: bool = False) -> None:
        self.data = data
        # every example holds the same values (an input of grad expanded to the batch, so that
        # each example gets its own gradient): matmul can use one GEMM on the first row
        self.shared = shared

    # ---- per-example facts
    @property
    def shape(self) -> Any:
        return self.data.shape[1:]

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[dim]

    @property
    def ndim(self) -> int:
        return self.data.ndim - 1

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def device(self) -> Any:
        return self.data.device

    @property
    def requires_grad(self) -> bool:
        return self.data.requires_grad

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return int(self.shape[0])

    def __bool__(self) -> bool:
        raise NoRule("bool")

    def __getattr__(self, name: str) -> Any:
        if name in _UNARY:
            op = getattr(self.data, name)

            def unary() -> Batched:
                return Batched(op())

            return unary
        raise NoRule(name)

    def __getitem__(self, index: Any) -> Any:
        # basic indexing only (ints, slices, None, ...): the batch dim is kept in front
        key = index if isinstance(index, tuple) else (index,)
        for k in key:
            if isinstance(k, bool) or not (isinstance(k, (int, slice)) or k is None or k is Ellipsis):
                raise NoRule(f"indexing with {type(k).__name__}")
        return Batched(self.data[(slice(None), *key)])

    def __iter__(self) -> Any:
        raise NoRule("__iter__")

    def __repr__(self) -> str:
        return f"Batched(batch={self.data.shape[0]}, example_shape={tuple(self.shape)})"

    # ---- elementwise binary ops
    def _binary(self, other: Any, fn: Callable[[Any, Any], Any], reverse: bool = False) -> Batched:
        a, b = _align(self, other)
        return Batched(fn(b, a) if reverse else fn(a, b))

    def __add__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a + b)

    def __radd__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a + b, True)

    def __sub__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a - b)

    def __rsub__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a - b, True)

    def __mul__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a * b)

    def __rmul__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a * b, True)

    def __truediv__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a / b)

    def __rtruediv__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a / b, True)

    def __pow__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a**b)

    def __rpow__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a**b, True)

    def __lt__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a < b)

    def __le__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a <= b)

    def __gt__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a > b)

    def __ge__(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a >= b)

    def __eq__(self, o: Any) -> Batched:  # type: ignore[override]
        return self._binary(o, lambda a, b: a == b)

    def __ne__(self, o: Any) -> Batched:  # type: ignore[override]
        return self._binary(o, lambda a, b: a != b)

    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> Batched:
        return Batched(-self.data)

    def __abs__(self) -> Batched:
        return Batched(self.data.abs())

    def add(self, o: Any, *, alpha: Any = 1) -> Batched:
        return self._binary(o, lambda a, b: a + b * alpha if alpha != 1 else a + b)

    def sub(self, o: Any, *, alpha: Any = 1) -> Batched:
        return self._binary(o, lambda a, b: a - b * alpha if alpha != 1 else a - b)

    def mul(self, o: Any) -> Batched:
        return self.__mul__(o)

    def div(self, o: Any) -> Batched:
        return self.__truediv__(o)

    def pow(self, o: Any) -> Batched:
        return self.__pow__(o)

    def maximum(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a.maximum(b))

    def minimum(self, o: Any) -> Batched:
        return self._binary(o, lambda a, b: a.minimum(b))

    def clamp(self, min: Any = None, max: Any = None) -> Batched:
        if isinstance(min, (Tensor, Batched)) or isinstance(max, (Tensor, Batched)):
            raise NoRule("clamp with tensor bounds")
        return Batched(self.data.clamp(min, max))

    # ---- matmul
    def __matmul__(self, o: Any) -> Batched:
        return _matmul(self, o)

    def __rmatmul__(self, o: Any) -> Batched:
        return _matmul(o, self)

    def matmul(self, o: Any) -> Batched:
        return _matmul(self, o)

    # ---- reductions and shape ops (dims shifted by one)
    def _dims(self, dim: Any) -> Any:
        if dim is None:
            return tuple(range(1, self.data.ndim)) if self.ndim else None
        if isinstance(dim, (tuple, list)):
            return tuple(_ex_dim(d, self.ndim) for d in dim)
        return _ex_dim(dim, self.ndim)

    def _reduce(self, name: str, dim: Any, keepdim: bool, **kw: Any) -> Batched:
        d = self._dims(dim)
        if d is None:  # a 0-d example: reducing it is the identity for sum and mean
            return Batched(self.data * 1)
        return Batched(getattr(self.data, name)(dim=d, keepdim=keepdim, **kw))

    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Batched:
        return self._reduce("sum", dim, keepdim, dtype=dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Batched:
        return self._reduce("mean", dim, keepdim, dtype=dtype)

    def softmax(self, dim: int, dtype: Any = None) -> Batched:
        return Batched(self.data.softmax(_ex_dim(dim, self.ndim), dtype=dtype))

    def log_softmax(self, dim: int, dtype: Any = None) -> Batched:
        return Batched(self.data.log_softmax(_ex_dim(dim, self.ndim), dtype=dtype))

    def reshape(self, *shape: Any) -> Batched:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Batched(self.data.reshape(self.data.shape[0], *shape))

    def view(self, *shape: Any) -> Batched:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Batched(self.data.view(self.data.shape[0], *shape))

    def flatten(self) -> Batched:
        return self.reshape(-1)

    def unsqueeze(self, dim: int) -> Batched:
        n = self.ndim + 1
        if not -n <= dim < n:
            raise NoRule("unsqueeze dim out of range")
        return Batched(self.data.unsqueeze(dim % n + 1))

    def transpose(self, dim0: int, dim1: int) -> Batched:
        return Batched(self.data.transpose(_ex_dim(dim0, self.ndim), _ex_dim(dim1, self.ndim)))

    def t(self) -> Batched:
        if self.ndim > 2:
            raise NoRule("t of more than 2 dims")
        return Batched(self.data.transpose(1, 2)) if self.ndim == 2 else self

    # more reductions and shape ops with dims (each dim shifted by one)
    def _all_dims(self) -> tuple[int, ...]:
        return tuple(range(1, self.data.ndim))

    def amax(self, dim: Any = (), keepdim: bool = False) -> Batched:
        d = self._dims(dim) if dim not in ((), None) else self._all_dims()
        return Batched(self.data.amax(d, keepdim)) if d else Batched(self.data * 1)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Batched:
        d = self._dims(dim) if dim not in ((), None) else self._all_dims()
        return Batched(self.data.amin(d, keepdim)) if d else Batched(self.data * 1)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Batched:
        return Batched(self.data.logsumexp(self._dims(dim), keepdim))

    def var(self, dim: Any = None, *, correction: Any = 1, keepdim: bool = False) -> Batched:
        d = self._dims(dim)
        if d is None:
            raise NoRule("var of a 0-d example")
        return Batched(self.data.var(d, correction=correction, keepdim=keepdim))

    def std(self, dim: Any = None, *, correction: Any = 1, keepdim: bool = False) -> Batched:
        d = self._dims(dim)
        if d is None:
            raise NoRule("std of a 0-d example")
        return Batched(self.data.std(d, correction=correction, keepdim=keepdim))

    def _int_dim_op(self, name: str, dim: Any, *args: Any, **kw: Any) -> Batched:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise NoRule(f"{name} without an int dim")
        return Batched(getattr(self.data, name)(_ex_dim(dim, self.ndim), *args, **kw))

    def prod(self, dim: Any = None, keepdim: bool = False) -> Batched:
        return self._int_dim_op("prod", dim, keepdim)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Batched:
        return self._int_dim_op("argmax", dim, keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Batched:
        return self._int_dim_op("argmin", dim, keepdim)

    def cumsum(self, dim: Any) -> Batched:
        return self._int_dim_op("cumsum", dim)

    def cumprod(self, dim: Any) -> Batched:
        return self._int_dim_op("cumprod", dim)

    def select(self, dim: Any, index: int) -> Batched:
        return self._int_dim_op("select", dim, index)

    def narrow(self, dim: Any, start: int, length: int) -> Batched:
        return self._int_dim_op("narrow", dim, start, length)

    def flip(self, dims: Any) -> Batched:
        d = self._dims(list(dims) if isinstance(dims, (tuple, list)) else [dims])
        return Batched(self.data.flip(d))

    def permute(self, *dims: Any) -> Batched:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        if len(dims) != self.ndim:
            raise NoRule("permute with a wrong number of dims")
        return Batched(self.data.permute(0, *(_ex_dim(d, self.ndim) for d in dims)))

    def movedim(self, source: Any, destination: Any) -> Batched:
        return Batched(self.data.movedim(self._dims(source), self._dims(destination)))

    def squeeze(self, dim: Any = None) -> Batched:
        if dim is None:
            dims = tuple(d + 1 for d, n in enumerate(self.shape) if n == 1)
            return Batched(self.data.squeeze(dims)) if dims else self
        return Batched(self.data.squeeze(self._dims(dim)))

    def expand(self, *sizes: Any) -> Batched:
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        if len(sizes) < self.ndim:
            raise NoRule("expand to fewer dims")
        return Batched(_lift(self.data, len(sizes) - self.ndim).expand(self.data.shape[0], *sizes))

    def detach(self) -> Batched:
        return Batched(self.data.detach(), self.shared)

    def clone(self) -> Batched:
        return Batched(self.data.clone(), self.shared)

    def contiguous(self) -> Batched:
        return self

    def to(self, *args: Any, **kwargs: Any) -> Batched:
        if any(isinstance(a, (Tensor, Batched)) for a in (*args, *kwargs.values())):
            raise NoRule("to(other)")
        return Batched(self.data.to(*args, **kwargs), self.shared)

    def float(self) -> Batched:
        return Batched(self.data.float(), self.shared)

    def double(self) -> Batched:
        return Batched(self.data.double(), self.shared)

    @property
    def T(self) -> Batched:
        if self.ndim > 2:
            raise NoRule("T of more than 2 dims")
        return self.t()


def _align(x: Any, other: Any) -> tuple[Tensor, Any]:
    """``x.data`` and ``other`` shaped so that broadcasting keeps the batch dim to itself."""
    a = x.data
    if isinstance(other, Batched):
        b = other.data
        n = max(x.ndim, other.ndim)
        a = _lift(a, n - x.ndim)
        b = _lift(b, n - other.ndim)
        if a.shape[0] != b.shape[0]:
            raise NoRule("batch sizes differ")
        return a, b
    if isinstance(other, Tensor):
        return _lift(a, other.ndim - x.ndim), other
    if isinstance(other, (int, float, bool)):
        return a, other
    raise NoRule(f"binary op with {type(other).__name__}")


def _lift(t: Tensor, k: int) -> Tensor:
    """``k`` singleton dims inserted after the batch dim."""
    for _ in range(max(k, 0)):
        t = t.unsqueeze(1)
    return t


class _SharedMatVec(Function):
    """Per-example ``W_b @ x_b`` where every ``W_b`` holds the same values (``shared``).

    Forward is one GEMM ``x @ W_0ᵀ``; backward gives each example its own gradient,
    ``∂W_b = g_b x_bᵀ`` (outer products) and ``∂x_b = W_bᵀ g_b``. Under ``create_graph``
    ``∂x`` is the exact per-example product, so higher derivatives reach every ``W_b``.
    """

    @staticmethod
    def forward(ctx: Any, w: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(w, x)
        return x @ w[0].t()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor]:
        w, x = ctx.saved_tensors
        gw = g.unsqueeze(2) * x.unsqueeze(1)
        if is_grad_enabled():  # a graph for higher derivatives: W_b's own product
            gx = (g.unsqueeze(1) @ w).squeeze(1)
        else:
            gx = g @ w[0]
        return gw, gx


def _matmul(a: Any, b: Any) -> Batched:
    if isinstance(a, Batched) and isinstance(b, Batched):
        na, nb = a.ndim, b.ndim
        if a.shared and na == 2 and nb == 1 and a.data.shape[0] == b.data.shape[0]:
            return Batched(_SharedMatVec.apply(a.data, b.data))
        if na == 1 and nb == 1:
            return Batched((a.data * b.data).sum(-1))
        if na == 1 and nb == 2:
            return Batched((a.data.unsqueeze(1) @ b.data).squeeze(1))
        if na == 2 and nb == 1:
            return Batched((a.data @ b.data.unsqueeze(2)).squeeze(2))
        if na == 2 and nb == 2:
            return Batched(a.data @ b.data)
        raise NoRule("matmul of batched operands above 2 dims")
    if isinstance(a, Batched) and isinstance(b, Tensor):
        if a.ndim == 0 or b.ndim == 0:
            raise NoRule("matmul with a 0-d operand")
        if b.ndim <= 2:  # (B, k) @ (k[, n]) and (B, ..., m, k) @ (k[, n]) are right as they are
            return Batched(a.data @ b)
        raise NoRule("matmul of a batched left operand with a batched-like right operand")
    if isinstance(a, Tensor) and isinstance(b, Batched):
        if a.ndim == 0 or b.ndim == 0:
            raise NoRule("matmul with a 0-d operand")
        if b.ndim == 1:  # a (..., m, k) @ x (k,) per example: (B, k) @ a^T
            if a.ndim == 1:
                return Batched(b.data @ a)
            if a.ndim == 2:
                return Batched(b.data @ a.t())
            raise NoRule("matmul of a >2-d tensor with a batched vector")
        if b.ndim == 2 and a.ndim <= 2:  # a (m, k) @ x (k, n): broadcasts over the batch
            if a.ndim == 1:
                return Batched((a.unsqueeze(0) @ b.data).squeeze(1))
            return Batched(a @ b.data)
        raise NoRule("matmul of a tensor with a batched operand above 2 dims")
    raise NoRule("matmul with a non-tensor")
