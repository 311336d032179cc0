"""Shape ops: views (reshape, permute, expand, ...) and copies (clone, to)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import _dtype as D
from .._dtype import Category as _Category
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ._util import canon_dim, shape_str

_FLOATING = _Category.FLOATING


def _view_of(base: Tensor, data: Any, replay: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """A tensor on ``data`` that shares ``base``'s storage and version counter.

    ``replay`` redoes the view on any tensor shaped like ``base``; composed with the
    base's own, it lets an in-place op on the view rewrite the history of the root
    tensor (see ``plugrad._ops.indexing.rebase_view``).
    """
    t = _make(Tensor, data, base._dtype, base._backend)
    t._vc = base._shared_vc()
    root = base._base
    t._base = root if root is not None else base
    if replay is not None:
        prev = base._extra.get("view_fn") if (root is not None and base._extra) else None
        if root is not None and prev is None:
            return t  # base is an alias (detach, .data): not a differentiable view
        t._extra = {"view_fn": replay if prev is None else _compose(prev, replay)}
    return t


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _compose(first: Callable[[Tensor], Tensor], then: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return lambda r: then(first(r))


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
    """A view with a new shape (``data``: the reshaped array, when already computed)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, shape: tuple[int, ...], data: Any = None) -> Tensor:
        ctx.in_shape = x._data.shape
        if data is None:
            data = x._backend.reshape(x._data, shape)
        return _view_of(x, data, lambda t: t.reshape(shape))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        return g.reshape(ctx.in_shape), None, None


class ReshapeCopy(Function, backward_name="UnsafeViewBackward0", builtin=True):
    """``reshape`` where no view is possible: a new tensor (as PyTorch's clone + view)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        ctx.in_shape = x._data.shape
        be = x._backend
        return _make(Tensor, be.reshape(be.copy(x._data), shape), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return g.reshape(ctx.in_shape), None


def _reshaped_view(x: Tensor, shape: tuple[int, ...]) -> Any:
    """The backend's reshape of ``x`` as a view, or ``None`` when the layout needs a copy.

    Uses the standard's ``reshape(x, shape, copy=False)``, which every kernel table honours
    (the conformance suite checks it): a ``ValueError`` means no view is possible.
    """
    try:
        return x._backend.reshape(x._data, shape, copy=False)
    except ValueError:
        return None


class UnsafeReshape(Reshape, backward_name="UnsafeViewBackward0", builtin=True):
    pass


class UnsqueezeOp(Reshape, backward_name="UnsqueezeBackward0", builtin=True):
    pass


class SqueezeOp(Reshape, backward_name="SqueezeBackward0", builtin=True):
    pass


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (one dim may be ``-1``); a view when possible."""
    target = infer_shape(_sizes(shape), input.numel())
    data = _reshaped_view(input, target)
    if data is None:
        return ReshapeCopy.apply(input, target)
    return Reshape.apply(input, target, data)


def view(input: Tensor, *shape: Any) -> Tensor:
    """A view with a new shape; PyTorch's error when the layout makes that impossible."""
    if len(shape) == 1 and isinstance(shape[0], D.dtype):
        raise RuntimeError("view(dtype) is not supported by plugrad; use .to(dtype)")
    target = infer_shape(_sizes(shape), input.numel())
    data = _reshaped_view(input, target)
    if data is None:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one dimension spans across "
            "two contiguous subspaces). Use .reshape(...) instead."
        )
    return Reshape.apply(input, target, data)


class Permute(Function, backward_name="PermuteBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor, dims: tuple[int, ...]) -> Tensor:
        ctx.dims = dims
        return _view_of(x, x._backend.permute_dims(x._data, dims), lambda t: t.permute(*dims))

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
    return Permute.apply(input, cd)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (a view)."""
    n = input._data.ndim
    d0, d1 = canon_dim(dim0, n), canon_dim(dim1, n)
    if n < 2:
        return Transpose.apply(input, tuple(range(n)))
    dims = list(range(n))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Transpose.apply(input, tuple(dims))


def t(input: Tensor) -> Tensor:
    """Transpose of a matrix (0-d and 1-D tensors come back as they are)."""
    n = input._data.ndim
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return T.apply(input, tuple(reversed(range(n))))


class Expand(Function, backward_name="ExpandBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        ctx.in_shape = x._data.shape
        be = x._backend
        if _numel(shape) == _numel(x._data.shape):
            # only size-1 dimensions added: a plain (writable) view, as PyTorch's
            return _view_of(x, be.reshape(x._data, shape), lambda t: t.expand(*shape))
        out = _view_of(x, be.broadcast_to(x._data, shape), lambda t: t.expand(*shape))
        out._extra_dict()["overlapping"] = True  # several elements share one memory location
        return out

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
    return Expand.apply(input, tuple(target))


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
    return SumToSize.apply(input, shape)


class Clone(Function, backward_name="CloneBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return _make(Tensor, x._backend.copy(x._data), x._dtype, x._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g


def clone(input: Tensor, *, memory_format: Any = None) -> Tensor:
    """A copy with its own storage; gradients flow back to ``input``."""
    return Clone.apply(input)


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
        if g._dtype.category is not _FLOATING and dtype.category is _FLOATING:
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
    return CopyTo.apply(src, dst)


def is_contiguous(input: Tensor) -> bool:
    """Whether ``input``'s elements lie in one run of memory, so any ``view`` of it works.

    Asked of the backend as "can it be flattened without a copy" (the standard's
    ``reshape(x, (-1,), copy=False)``); a backend that cannot tell is taken at its word.
    """
    if input._data.ndim <= 1:
        return True
    return _reshaped_view(input, (-1,)) is not None


def contiguous(input: Tensor, memory_format: Any = None) -> Tensor:
    """``input`` itself when contiguous, else a contiguous copy (``CloneBackward0``), as PyTorch."""
    if is_contiguous(input):
        return input
    return Clone.apply(input)


# ------------------------------------------------------------ more views and shapes
def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one (``input`` itself when there is nothing to merge)."""
    shape = input._data.shape
    s, e = canon_dim(start_dim, len(shape)), canon_dim(end_dim, len(shape))  # 0-d: dims -1 and 0 only
    if not shape:
        return reshape(input, 1)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    n = 1
    for v in shape[s : e + 1]:
        n *= v
    return reshape(input, (*shape[:s], n, *shape[e + 1 :]))


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one of which may be ``-1``)."""
    shape = input._data.shape
    d = canon_dim(dim, len(shape))
    sizes = _sizes((tuple(sizes),))
    if len(sizes) == 0:
        raise RuntimeError("unflatten: sizes must be non-empty")
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    if (-1 not in sizes and known != shape[d]) or (-1 in sizes and (known == 0 or shape[d] % known)):
        raise RuntimeError(
            f"unflatten: Provided sizes {shape_str(sizes)} don't multiply up to the size of dim {dim} ({shape[d]}) in the input tensor"
        )
    inner = infer_shape(sizes, shape[d])
    return Reshape.apply(input, (*shape[:d], *inner, *shape[d + 1 :]))


class SqueezeDim(Reshape, backward_name="SqueezeBackward1", builtin=True):
    pass


class SqueezeDims(Reshape, backward_name="SqueezeBackward2", builtin=True):
    pass


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Drop dims of size 1 (all of them, or those in ``dim``, an int or a tuple)."""
    from ._util import canon_dims

    shape = input._data.shape
    if dim is None:
        return SqueezeOp.apply(input, tuple(s for s in shape if s != 1))
    axes = canon_dims(dim, len(shape)) or ()
    new = tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1))
    fn = SqueezeDims if isinstance(dim, (tuple, list)) else SqueezeDim
    return fn.apply(input, new)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim`` (a view)."""
    shape = list(input._data.shape)
    shape.insert(canon_dim(dim, len(shape) + 1), 1)
    return UnsqueezeOp.apply(input, tuple(shape))


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    """Move dims ``source`` to positions ``destination`` (ints or sequences); the others keep their order."""
    n = input._data.ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({src} dims) should contain the same number of dims as destination ({dst} dims)"
        )
    src = [canon_dim(d, n) for d in src]
    dst = [canon_dim(d, n) for d in dst]
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    if n == 0:  # dims 0 and -1 name the one position of a 0-d tensor
        return Permute.apply(input, ())
    order: list[int | None] = [None] * n
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(n) if d not in src)
    perm = tuple(o if o is not None else next(rest) for o in order)
    return Permute.apply(input, perm)


def broadcast_to(input: Tensor, size: Sequence[int]) -> Tensor:
    """``input`` expanded to ``size`` (a view); see :func:`expand`."""
    return expand(input, *_sizes((tuple(size),)))


def _index_replay(key: tuple[Any, ...]) -> Callable[[Tensor], Tensor]:
    """Redo the basic-indexing view ``t[key]`` (for in-place ops through the view)."""
    from .indexing import Index

    return lambda t: Index.apply(t, key, True)


def _legacy_empty(t: Tensor) -> bool:
    return tuple(t._data.shape) == (0,)


class Cat(Function, backward_name="CatBackward0", builtin=True):
    """Concatenation along ``dim``; the gradient is cut back into the inputs' pieces."""

    @staticmethod
    def forward(ctx: Any, dim: int, dtype: D.dtype, *tensors: Tensor) -> Tensor:
        be = tensors[0]._backend
        native = be.native_dtype(dtype)
        arrays = []
        sizes = []
        for t in tensors:
            if t._data.ndim == 1 and t._data.shape[0] == 0 and len(tensors) > 1:
                sizes.append(-1)  # legacy empty 1-D tensor: skipped
                continue
            arrays.append(t._data if t._dtype is dtype else be.astype(t._data, native))
            sizes.append(t._data.shape[dim])
        ctx.meta = (dim, sizes)
        if not arrays:
            arrays = [tensors[0]._data if tensors[0]._dtype is dtype else be.astype(tensors[0]._data, native)]
        return _make(Tensor, be.concat(arrays, dim) if len(arrays) > 1 else be.copy(arrays[0]), dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        dim, sizes = ctx.meta
        grads: list[Any] = [None, None]
        offset = 0
        for size in sizes:
            if size < 0:
                grads.append(g.reshape(-1).narrow(0, 0, 0))
                continue
            grads.append(g.narrow(dim, offset, size))
            offset += size
        return tuple(grads)


def _check_tensor_list(tensors: Any, op: str) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor")
    ts = list(tensors)
    for i, t in enumerate(ts):
        if not isinstance(t, Tensor):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}")
    if ts:
        be = ts[0]._backend
        for t in ts[1:]:
            if t._backend is not be:
                from ._util import check_same_backend

                check_same_backend(ts[0], t)
    return ts


def _promoted(ts: Sequence[Tensor]) -> D.dtype:
    dt = ts[0]._dtype
    for t in ts[1:]:
        if t._dtype is not dt:
            dt = D.promote_types(dt, t._dtype)
    return dt


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing ``dim``; the other sizes must match (dtypes are promoted)."""
    ts = _check_tensor_list(tensors, "cat")
    if not ts:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors".replace("torch", "plugrad"))
    for i, t in enumerate(ts):
        if t._data.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    real = [(i, t) for i, t in enumerate(ts) if not _legacy_empty(t)]
    if not real:
        real = [(0, ts[0])]
    first = real[0][1]
    shape0 = first._data.shape
    d = canon_dim(dim, len(shape0))
    for i, t in real[1:]:
        s = t._data.shape
        if len(s) != len(shape0):
            raise RuntimeError(f"Tensors must have same number of dimensions: got {len(shape0)} and {len(s)}")
        for k, (a, b) in enumerate(zip(shape0, s)):
            if k != d and a != b:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {a} but got size {b} for tensor number {i} in the list."
                )
    return Cat.apply(d, _promoted(ts), *ts)


concat = cat
concatenate = cat


class Stack(Function, backward_name="StackBackward0", builtin=True):
    """Join equal-shaped tensors along a new ``dim``; the gradient is unbound along it."""

    @staticmethod
    def forward(ctx: Any, dim: int, dtype: D.dtype, *tensors: Tensor) -> Tensor:
        be = tensors[0]._backend
        native = be.native_dtype(dtype)
        arrays = [t._data if t._dtype is dtype else be.astype(t._data, native) for t in tensors]
        ctx.dim = dim
        return _make(Tensor, be.stack(arrays, dim), dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        return (None, None, *unbind(g, ctx.dim))


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dim ``dim`` (dtypes are promoted)."""
    ts = _check_tensor_list(tensors, "stack")
    if not ts:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape0 = ts[0]._data.shape
    for i, t in enumerate(ts[1:], 1):
        if t._data.shape != shape0:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {shape_str(shape0)} at entry 0 and "
                f"{shape_str(t._data.shape)} at entry {i}"
            )
    d = canon_dim(dim, len(shape0) + 1)
    return Stack.apply(d, _promoted(ts), *ts)


class Split(Function, backward_name="SplitBackward0", builtin=True):
    """Views of consecutive pieces along ``dim``; the gradient is their concatenation."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, sizes: tuple[int, ...], dim: int) -> tuple[Tensor, ...]:
        be = x._backend
        lead = (slice(None),) * dim
        outs = []
        offset = 0
        for s in sizes:
            key = (*lead, slice(offset, offset + s))
            outs.append(_view_of(x, be.getitem(x._data, key), _index_replay(key)))
            offset += s
        ctx.dim = dim
        return tuple(outs)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor, None, None]:
        return cat(list(grads), ctx.dim), None, None


class SplitWithSizes(Split, backward_name="SplitWithSizesBackward0", builtin=True):
    pass


class Unbind(Function, backward_name="UnbindBackward0", builtin=True):
    """Views of every slice along ``dim``; the gradient is their stack."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int) -> tuple[Tensor, ...]:
        be = x._backend
        lead = (slice(None),) * dim
        ctx.dim = dim
        return tuple(
            _view_of(x, be.getitem(x._data, (*lead, i)), _index_replay((*lead, i))) for i in range(x._data.shape[dim])
        )

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor, None]:
        return stack(list(grads), ctx.dim), None


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
    n_dim = tensor._data.ndim
    if n_dim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = canon_dim(dim, n_dim)
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, Tensor):
        split_size_or_sections = split_size_or_sections.tolist()
    if isinstance(split_size_or_sections, int) and not isinstance(split_size_or_sections, bool):
        size = split_size_or_sections
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
        if size == 0:
            if n != 0:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
            return tuple(Split.apply(tensor, (0,), d))
        sizes = tuple(min(size, n - o) for o in range(0, n, size)) or (0,)
        return tuple(Split.apply(tensor, sizes, d))
    sizes = tuple(_sizes((tuple(split_size_or_sections),)))
    total = 0
    for s in sizes:
        if s < 0:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes={list(sizes)}"
            )
        total += s
    if total != n:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {d}), "
            f"but got split_sizes={list(sizes)}"
        )
    return tuple(SplitWithSizes.apply(tensor, sizes, d))


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` pieces of equal size ``ceil(n / chunks)`` along ``dim`` (the last may be smaller)."""
    if not isinstance(chunks, int) or chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if input._data.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    n = input._data.shape[canon_dim(dim, input._data.ndim)]
    size = -(-n // chunks) if n else 0
    if size == 0:
        return split(input, [0] * chunks if n == 0 else [n], dim)
    return split(input, size, dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each with that dim removed (views)."""
    if input._data.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = canon_dim(dim, input._data.ndim)
    return tuple(Unbind.apply(input, d))


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The slice ``start : start + length`` along ``dim`` (a view)."""
    n_dim = input._data.ndim
    if n_dim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = canon_dim(dim, n_dim)
    size = input._data.shape[d]
    if isinstance(start, Tensor):
        start = int(start.item())
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start < -size or start > size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], but got {start})")
    if start < 0:
        start += size
    if start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
    from .indexing import Slice

    key = (*(slice(None),) * d, slice(start, start + length))
    return Slice.apply(input, key, True)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, with that dim removed (a view)."""
    n_dim = input._data.ndim
    if n_dim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = canon_dim(dim, n_dim)
    size = input._data.shape[d]
    if index < -size or index >= size:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {shape_str(input._data.shape)} at dimension {d}"
        )
    from .indexing import Select

    return Select.apply(input, (*(slice(None),) * d, index), True)


class Flip(Function, backward_name="FlipBackward0", builtin=True):
    """Reverse the order along ``dims`` (a copy); the gradient is flipped back."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dims: tuple[int, ...]) -> Tensor:
        be = x._backend
        ctx.dims = dims
        data = be.copy(be.flip(x._data, dims)) if dims else be.copy(x._data)
        return _make(Tensor, data, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return Flip.apply(g, ctx.dims), None


def flip(input: Tensor, *dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch)."""
    from ._util import canon_dims

    ds = _sizes(dims)
    axes = canon_dims(ds, input._data.ndim) or ()
    return Flip.apply(input, axes)


class Roll(Function, backward_name="RollBackward0", builtin=True):
    """Shift elements cyclically along ``dims``; the gradient is rolled back."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, shifts: tuple[int, ...], dims: tuple[int, ...] | None) -> Tensor:
        be = x._backend
        ctx.meta = (shifts, dims)
        if dims is None:
            flat = be.reshape(x._data, (-1,))
            data = be.reshape(be.roll(flat, shifts, (0,)), x._data.shape)
        else:
            data = be.roll(x._data, shifts, dims)
        return _make(Tensor, data, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        shifts, dims = ctx.meta
        return Roll.apply(g, tuple(-s for s in shifts), dims), None, None


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Roll elements by ``shifts`` along ``dims`` (the flattened tensor when ``dims`` is None)."""
    sh = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    if dims is None:
        if len(sh) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:0")
        return Roll.apply(input, sh, None)
    ds = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(sh) != len(ds):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:{len(ds)}")
    n = input._data.ndim
    axes = tuple(canon_dim(d, n) for d in ds)
    if n == 0:
        raise IndexError(f"Dimension specified as {ds[0]} but tensor has no dimensions")
    return Roll.apply(input, sh, axes)


class Repeat(Function, backward_name="RepeatBackward0", builtin=True):
    """Tile ``x`` ``repeats[i]`` times along each dim; the gradient sums the tiles."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, repeats: tuple[int, ...]) -> Tensor:
        be = x._backend
        ctx.in_shape = x._data.shape
        ctx.repeats = repeats
        data = x._data
        lead = len(repeats) - data.ndim
        if lead:
            data = be.reshape(data, (1,) * lead + tuple(data.shape))
        return _make(Tensor, be.tile(data, repeats), x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        in_shape, repeats = ctx.in_shape, ctx.repeats
        padded = (1,) * (len(repeats) - len(in_shape)) + tuple(in_shape)
        split_shape: list[int] = []
        for r, s in zip(repeats, padded):
            split_shape += [r, s]
        summed = g.reshape(split_shape).sum(tuple(range(0, 2 * len(repeats), 2)))
        return summed.reshape(in_shape), None


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """Tile ``input``: ``sizes[i]`` copies along dim ``i`` (leading sizes add new dims)."""
    reps = _sizes(sizes)
    if len(reps) < input._data.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor")
    padded = (1,) * (len(reps) - input._data.ndim) + tuple(input._data.shape)
    out = [r * s for r, s in zip(reps, padded)]
    for n in out:
        if n < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {out}")
    from ._util import check_alloc

    check_alloc(out, input._dtype)
    return Repeat.apply(input, reps)
