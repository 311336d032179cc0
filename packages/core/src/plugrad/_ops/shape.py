"""Shape ops: views (reshape, permute, expand, ...) and copies (clone, to)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import _dtype as D
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ._util import canon_dim, shape_str


def _view_of(base: Tensor, data: Any) -> Tensor:
    """A tensor on ``data`` that shares ``base``'s storage and version counter."""
    t = _make(Tensor, data, base._dtype, base._backend)
    t._vc = base._shared_vc()
    t._base = base._base if base._base is not None else base
    return t


def _sizes(args: tuple[Any, ...]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    out = []
    for a in args:
        if isinstance(a, Tensor):
            a = a.item()
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"expected a sequence of integers for the shape, got {type(a).__name__}")
        out.append(a)
    return tuple(out)


def infer_shape(shape: Sequence[int], numel: int) -> tuple[int, ...]:
    """Resolve one ``-1`` in ``shape``; PyTorch's errors for invalid shapes."""
    infer = -1
    known = 1
    for i, s in enumerate(shape):
        if s == -1:
            if infer >= 0:
                raise RuntimeError("only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s}")
        else:
            known *= s
    if infer >= 0:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{shape_str(shape)}' is invalid for input of size {numel}")
        shape = list(shape)
        shape[infer] = numel // known
        return tuple(shape)
    if known != numel:
        raise RuntimeError(f"shape '{shape_str(shape)}' is invalid for input of size {numel}")
    return tuple(shape)


class Reshape(Function, backward_name="ViewBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        ctx.in_shape = x._data.shape
        return _view_of(x, x._backend.reshape(x._data, shape))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return g.reshape(ctx.in_shape), None


class UnsafeReshape(Reshape, backward_name="UnsafeViewBackward0", builtin=True):
    pass


class UnsqueezeOp(Reshape, backward_name="UnsqueezeBackward0", builtin=True):
    pass


class SqueezeOp(Reshape, backward_name="SqueezeBackward0", builtin=True):
    pass


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (one dim may be ``-1``); a view when possible."""
    target = infer_shape(_sizes(shape), input.numel())
    if target == input._data.shape:
        return Reshape.apply(input, target)  # type: ignore[no-any-return]
    return Reshape.apply(input, target)  # type: ignore[no-any-return]


def view(input: Tensor, *shape: Any) -> Tensor:
    """A view with a new shape; PyTorch's error when the layout makes that impossible."""
    if len(shape) == 1 and isinstance(shape[0], D.dtype):
        raise RuntimeError("view(dtype) is not supported by plugrad; use .to(dtype)")
    target = infer_shape(_sizes(shape), input.numel())
    return Reshape.apply(input, target)  # type: ignore[no-any-return]


class Permute(Function, backward_name="PermuteBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor, dims: tuple[int, ...]) -> Tensor:
        ctx.dims = dims
        return _view_of(x, x._backend.permute_dims(x._data, dims))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return g.permute(*inv), None


class Transpose(Permute, backward_name="TransposeBackward0", builtin=True):
    pass


class T(Permute, backward_name="TBackward0", builtin=True):
    pass


def permute(input: Tensor, *dims: Any) -> Tensor:
    """Reorder dimensions: output dim ``i`` is input dim ``dims[i]`` (a view)."""
    ds = _sizes(dims)
    n = input._data.ndim
    if len(ds) != n:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = {n} is not equal to len(dims) = {len(ds)}"
        )
    cd = tuple(canon_dim(d, n) for d in ds)
    if len(set(cd)) != n:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, cd)  # type: ignore[no-any-return]


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (a view)."""
    n = input._data.ndim
    d0, d1 = canon_dim(dim0, n), canon_dim(dim1, n)
    if n < 2:
        return Transpose.apply(input, tuple(range(n)))  # type: ignore[no-any-return]
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Transpose.apply(input, tuple(dims))  # type: ignore[no-any-return]


def t(input: Tensor) -> Tensor:
    """Transpose of a matrix (0-d and 1-D tensors come back as they are)."""
    n = input._data.ndim
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return T.apply(input, tuple(reversed(range(n))))  # type: ignore[no-any-return]


class Expand(Function, backward_name="ExpandBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        ctx.in_shape = x._data.shape
        return _view_of(x, x._backend.broadcast_to(x._data, shape))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return g.sum_to_size(ctx.in_shape), None


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """Broadcast to a larger shape without copying (``-1`` keeps a size)."""
    target = list(_sizes(sizes))
    shape = input._data.shape
    if len(target) < len(shape):
        raise RuntimeError(
            f"expand({input.type()}{{{shape_str(shape)}}}, size={shape_str(target)}): the number of sizes provided "
            f"({len(target)}) must be greater or equal to the number of dimensions in the tensor ({len(shape)})"
        )
    offset = len(target) - len(shape)
    for i, s in enumerate(target):
        j = i - offset
        if s == -1:
            if j < 0:
                raise RuntimeError(
                    f"The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {i}"
                )
            target[i] = shape[j]
        elif j >= 0 and shape[j] != 1 and shape[j] != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({shape[j]}) at non-singleton "
                f"dimension {i}.  Target sizes: {shape_str(target)}.  Tensor sizes: {shape_str(shape)}"
            )
    return Expand.apply(input, tuple(target))  # type: ignore[no-any-return]


class SumToSize(Function, backward_name="SumToSizeBackward0", builtin=True):
    """Sum a broadcast tensor back to ``shape`` (the engine's broadcast reduction)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        xs = x._data.shape
        ctx.in_shape = xs
        lead = len(xs) - len(shape)
        axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and xs[i + lead] != 1)
        be = x._backend
        data = be.sum(x._data, axes, True) if axes else x._data
        if lead:
            data = be.reshape(data, shape)
        return _make(Tensor, data, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return g.expand(ctx.in_shape), None


def sum_to_size(input: Tensor, *size: Any) -> Tensor:
    """Sum ``input`` to ``size``, which it must be expandable from."""
    shape = _sizes(size)
    if shape == input._data.shape:
        return input
    from ..autograd.function import _expandable_to

    if not _expandable_to(shape, input._data.shape):
        raise RuntimeError(f"size {{{shape_str(shape)}}} is not expandable to size {{{shape_str(input._data.shape)}}}.")
    return SumToSize.apply(input, shape)  # type: ignore[no-any-return]


class Clone(Function, backward_name="CloneBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return _make(Tensor, x._backend.copy(x._data), x._dtype, x._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """A copy with its own storage; gradients flow back to ``input``."""
    return Clone.apply(input)  # type: ignore[no-any-return]


class ToCopy(Function, backward_name="ToCopyBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor, dtype: D.dtype, backend: Any) -> Tensor:
        ctx.src = (x._dtype, x._backend)
        data = x._data
        if backend is not x._backend:
            data = _transfer(data, x._backend, backend, x._dtype)
        be = backend
        if dtype is not x._dtype:
            data = be.astype(data, be.native_dtype(dtype))
        elif backend is x._backend:
            data = be.copy(data)
        return _make(Tensor, data, dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        dtype, backend = ctx.src
        if g._dtype.category != 2 and dtype.category == 2:
            return g, None, None
        return g.to(device=backend, dtype=dtype), None, None


def _transfer(data: Any, src: Any, dst: Any, dtype: D.dtype) -> Any:
    """Move an array between backends: DLPack when both sides can, else through bytes."""
    if "dlpack" in src.capabilities and "dlpack" in dst.capabilities and src.device_type == dst.device_type:
        try:
            return dst.copy(dst.from_dlpack(data))
        except Exception:
            pass
    raw = src.to_bytes(data)
    return dst.from_bytes(raw, dst.native_dtype(dtype), tuple(data.shape))


class CopyTo(Function, backward_name="CopyBackwards", builtin=True):
    """``dst.copy_(src)`` under autograd: the new value of ``dst``, from ``src``."""

    @staticmethod
    def forward(ctx: Any, src: Tensor, dst: Tensor) -> Tensor:
        ctx.src_meta = (src._dtype, src._backend)
        be = dst._backend
        data = be.empty(dst._data.shape, be.native_dtype(dst._dtype))
        be.copy_into(data, src._data)
        return _make(Tensor, data, dst._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor]:
        dtype, backend = ctx.src_meta
        gs = g if g._dtype is dtype and g._backend is backend else g.to(device=backend, dtype=dtype)
        return gs, g * 0


def copy_to(src: Tensor, dst: Tensor) -> Tensor:
    return CopyTo.apply(src, dst)  # type: ignore[no-any-return]


def contiguous(input: Tensor, memory_format: Any = None) -> Tensor:
    """``input`` itself: plugrad leaves memory layout to the backend."""
    return input
