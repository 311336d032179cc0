"""Indexing: ``t[key]`` (views for basic keys), ``t[key] = value``, and their gradients."""

from __future__ import annotations

from typing import Any

from .. import _dtype as D
from .._dtype import Category as _Category
from .._interop import foreign_index_keys
from .._tensor import Tensor, _make
from ..autograd.function import Function
from ..autograd.grad_mode import _state as _grad_state
from .shape import _view_of

_INTEGER = _Category.INTEGER


def _is_int(k: Any) -> bool:
    return isinstance(k, int) and not isinstance(k, bool)


def convert_key(t: Tensor, key: Any) -> tuple[Any, bool]:
    """Check ``key`` against ``t``'s shape and turn tensors/lists into backend arrays.

    :returns: ``(backend key, is_basic)``; basic keys (ints, slices, None, ...) make views.
    """
    if (
        isinstance(key, list)
        and len(key) < 32
        and any(isinstance(k, (list, tuple, slice, Tensor)) or k is None or k is Ellipsis for k in key)
    ):
        key = tuple(key)  # PyTorch (and old NumPy) read such a list as a tuple of indices
    if not isinstance(key, tuple):
        key = (key,)
    key = foreign_index_keys(t, key)  # numpy arrays index as tensors (t[np.array([0, 2])])
    be = t._backend
    shape = t._data.shape
    out: list[Any] = []
    basic = True
    n_consuming = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        if isinstance(k, Tensor) and k._dtype is D.bool_:
            n_consuming += max(k._data.ndim, 1)
        elif isinstance(k, (list, tuple)) and k and all(isinstance(v, bool) for v in k):
            n_consuming += 1
        else:
            n_consuming += 1
    if n_consuming > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    dim = 0
    for k in key:
        if k is None:
            out.append(None)
            continue
        if k is Ellipsis:
            out.append(Ellipsis)
            dim = len(shape) - (n_consuming - dim)
            continue
        if isinstance(k, Tensor):
            if k._backend is not be:
                from ._util import check_same_backend

                check_same_backend(t, k)
            if k._dtype is D.bool_:
                _check_mask(k, shape, dim)
                out.append(k._data)
                basic = False
                dim += max(k._data.ndim, 1)
                continue
            if k._dtype.category is not _INTEGER:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(k._data)
            basic = False
            dim += 1
            continue
        if isinstance(k, slice):
            if k.step is not None:
                step = k.step.item() if isinstance(k.step, Tensor) else k.step
                if step <= 0:
                    raise ValueError("step must be greater than zero")
            out.append(slice(*(v.item() if isinstance(v, Tensor) else v for v in (k.start, k.stop, k.step))))
            dim += 1
            continue
        if _is_int(k) or (hasattr(k, "__index__") and not isinstance(k, (bool, float))):
            i = int(k.__index__())
            size = shape[dim]
            if i < -size or i >= size:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
            out.append(i)
            dim += 1
            continue
        if isinstance(k, (list, tuple)):
            if all(isinstance(v, bool) for v in k) and k:
                arr = be.asarray(list(k), be.dtype_to_native[D.bool_])
                if len(k) != shape[dim]:
                    raise IndexError(
                        f"The shape of the mask [{len(k)}] at index 0 does not match the shape of the indexed tensor [{shape[dim]}] at index {dim}"
                    )
            else:
                try:
                    arr = be.asarray(_to_index_list(k), be.dtype_to_native[D.int64])
                except (TypeError, ValueError):
                    raise IndexError(
                        f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {type(k).__name__})"
                    ) from None
            out.append(arr)
            basic = False
            dim += 1
            continue
        if isinstance(k, bool):
            out.append(k)
            basic = False
            continue
        raise IndexError(
            f"only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices (got {type(k).__name__})"
        )
    return tuple(out), basic


def _to_index_list(k: Any) -> Any:
    out = []
    for v in k:
        if isinstance(v, (list, tuple)):
            out.append(_to_index_list(v))
        elif isinstance(v, Tensor):
            out.append(v.tolist())
        elif _is_int(v):
            out.append(v)
        else:
            raise TypeError
    return out


def _check_mask(m: Tensor, shape: tuple[int, ...], dim: int) -> None:
    ms = m._data.shape
    for i, s in enumerate(ms):
        if dim + i >= len(shape) or shape[dim + i] != s:
            raise IndexError(
                f"The shape of the mask [{', '.join(map(str, ms))}] at index {i} does not match the shape of the "
                f"indexed tensor [{', '.join(map(str, shape))}] at index {dim + i}"
            )


def _index_error(t: Tensor, key: tuple[Any, ...], exc: Exception) -> Exception:
    be = t._backend
    shape = t._data.shape
    dim = 0
    for k in key:
        if k is None:
            continue
        if k is Ellipsis:
            dim = len(shape) - sum(1 for kk in key if kk is not None and kk is not Ellipsis)
            continue
        if not isinstance(k, (int, slice)) and hasattr(k, "shape"):
            size = shape[dim] if dim < len(shape) else 0
            flat = be.tolist(k)
            vals = flat if isinstance(flat, list) else [flat]
            stack = list(vals)
            while stack:
                v = stack.pop()
                if isinstance(v, list):
                    stack.extend(v)
                elif not isinstance(v, bool) and (v >= size or v < -size):
                    return IndexError(f"index {v} is out of bounds for dimension {dim} with size {size}")
        dim += 1
    return IndexError(f"invalid index for tensor of shape {list(shape)}: {exc}")


def _node_name_cls(key: tuple[Any, ...], basic: bool) -> type[Function]:
    # PyTorch names the node after the last view op it applies: an int selects, a
    # slice other than ``:`` slices, ``None`` unsqueezes; ``:`` alone is a slice
    if not basic:
        return Index
    last: type[Function] | None = None
    for k in key:
        if k is None:
            last = Unsqueeze
        elif isinstance(k, slice):
            if not (k.start is None and k.stop is None and k.step is None):
                last = Slice
        elif k is not Ellipsis:
            last = Select
    if last is not None:
        return last
    if any(isinstance(k, slice) for k in key) and not any(k is Ellipsis for k in key):
        return Slice
    return Alias


class Index(Function, backward_name="IndexBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, x: Tensor, key: tuple[Any, ...], basic: bool) -> Tensor:
        ctx.meta = (x._data.shape, key, basic)
        try:
            data = x._backend.getitem(x._data, key)
        except (IndexError, ValueError, TypeError) as exc:
            raise _index_error(x, key, exc) from None
        if basic:
            return _view_of(x, data, lambda t: Index.apply(t, key, True))
        return _make(Tensor, data, x._dtype, x._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        shape, key, basic = ctx.meta
        return IndexPutZeros.apply(g, shape, key, basic), None, None


class Slice(Index, backward_name="SliceBackward0", builtin=True):
    pass


class Select(Index, backward_name="SelectBackward0", builtin=True):
    pass


class Alias(Index, backward_name="AliasBackward0", builtin=True):
    pass


class Unsqueeze(Index, backward_name="UnsqueezeBackward0", builtin=True):
    pass


class IndexSelect(Index, backward_name="IndexSelectBackward0", builtin=True):
    pass


class IndexPutZeros(Function, backward_name="IndexBackwardBackward0", builtin=True):
    """Zeros of ``shape`` with ``g`` added at ``key`` (repeated indices accumulate)."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, shape: tuple[int, ...], key: tuple[Any, ...], basic: bool) -> Tensor:
        ctx.meta = (key, basic)
        be = g._backend
        out = be.zeros(shape, be.dtype_to_native[g._dtype])
        if basic:
            be.setitem(out, key, g._data)
        else:
            be.index_add(out, key, g._data)
        return _make(Tensor, out, g._dtype, be)

    @staticmethod
    def backward(ctx: Any, gg: Tensor) -> tuple[Tensor, None, None, None]:
        key, basic = ctx.meta
        return _node_name_cls(key, basic).apply(gg, key, basic), None, None, None


def _is_advanced(k: Any) -> bool:
    return (isinstance(k, Tensor) and k._data.ndim > 0) or isinstance(k, (list, tuple))


def _split_ints(key: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """PyTorch applies integer indices first (as ``select``), then advanced ones.

    NumPy instead treats an integer next to an advanced index as advanced too, which
    moves dimensions around (``x[0, :, [1, 2]]`` would come out transposed). For keys
    that mix both, return ``(ints only, the rest)`` to index in two steps.
    """
    if not isinstance(key, tuple) or not any(_is_advanced(k) for k in key):
        return None
    if not any(
        _is_int(k) or (isinstance(k, Tensor) and k._data.ndim == 0 and k._dtype.category is _INTEGER) for k in key
    ):
        return None
    first: list[Any] = []
    rest: list[Any] = []
    for k in key:
        if _is_int(k) or (isinstance(k, Tensor) and k._data.ndim == 0 and k._dtype.category is _INTEGER):
            first.append(k)
        elif k is None:
            rest.append(k)
        elif k is Ellipsis:
            first.append(k)
            rest.append(k)
        else:
            consumed = max(k._data.ndim, 1) if isinstance(k, Tensor) and k._dtype is D.bool_ else 1
            first.extend([slice(None)] * consumed)
            rest.append(k)
    return tuple(first), tuple(rest)


def getitem(t: Tensor, key: Any) -> Tensor:
    """``t[key]``: basic keys give views sharing storage; integer/bool arrays give copies."""
    split = _split_ints(key)
    if split is not None:
        return getitem(getitem(t, split[0]), split[1])
    k, basic = convert_key(t, key)
    return _node_name_cls(k, basic).apply(t, k, basic)


class IndexPut(Function, backward_name="IndexPutBackward0", builtin=True):
    """``x`` with ``value`` written at ``key`` (out of place; ``x[key] = value`` under autograd)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, key: tuple[Any, ...], value: Any) -> Tensor:
        be = x._backend
        data = be.copy(x._data)
        v = value._data if isinstance(value, Tensor) else value
        if isinstance(value, Tensor) and value._dtype is not x._dtype:
            v = be.astype(v, be.dtype_to_native[x._dtype])
        _setitem(be, data, key, v, x, value)
        ctx.key = key
        ctx.vshape = value._data.shape if isinstance(value, Tensor) else None
        return _make(Tensor, data, x._dtype, be)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, None, Any]:
        key = ctx.key
        gx = None
        if ctx.needs_input_grad[0]:
            be = g._backend
            mask = be.ones(g._data.shape, be.dtype_to_native[g._dtype])
            be.setitem(mask, key, 0)
            gx = g * _make(Tensor, mask, g._dtype, be)
        gv = None
        if ctx.vshape is not None and ctx.needs_input_grad[2]:
            gv = Index.apply(g, key, False)
        return gx, None, gv


def _setitem(be: Any, data: Any, key: tuple[Any, ...], v: Any, t: Tensor, value: Any) -> None:
    try:
        be.setitem(data, key, v)
    except (ValueError, TypeError) as exc:
        vs = list(value._data.shape) if isinstance(value, Tensor) else []
        try:
            target = list(be.getitem(data, key).shape)
        except Exception:
            target = []
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {vs} cannot be broadcast to indexing result of shape {target}"
        ) from exc
    except IndexError as exc:
        raise _index_error(t, key, exc) from None


def setitem(t: Tensor, key: Any, value: Any) -> None:
    """``t[key] = value`` in place (bumps the version counter shared with views)."""
    split = _split_ints(key)
    if split is not None:
        if t._requires_grad and t._grad_fn is None and _grad_state.enabled:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
        setitem(getitem(t, split[0]), split[1], value)
        return
    k, _basic = convert_key(t, key)
    if not isinstance(value, (Tensor, int, float, bool)):
        from .elementwise import as_tensor_like

        try:
            value = as_tensor_like(value, t, t._dtype)
        except Exception:
            raise TypeError(f"can't assign a {type(value).__name__} to a {t.type()}") from None
    if isinstance(value, Tensor) and value._backend is not t._backend:
        from ._util import check_same_backend

        check_same_backend(t, value)
    if not isinstance(value, Tensor):
        from ._util import check_scalar_fits

        check_scalar_fits(value, t._dtype)
    if t._requires_grad and t._grad_fn is None and _grad_state.enabled:
        # t[key] = v writes through a view of t, so PyTorch names the view
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    t._check_inplace()
    if _grad_state.enabled and (t._requires_grad or (isinstance(value, Tensor) and value._requires_grad)):
        t._rebase(IndexPut.apply(t._snapshot(), k, value))
        return
    be = t._backend
    v = value._data if isinstance(value, Tensor) else value
    if isinstance(value, Tensor) and value._dtype is not t._dtype:
        v = be.astype(v, be.dtype_to_native[t._dtype])
    _setitem(be, t._data, k, v, t, value)
    t._bump()


class CopySlices(Function, backward_name="CopySlices", builtin=True):
    """The root tensor after an in-place op wrote ``result`` into one of its views.

    Backward: the root's previous value gets the gradient outside the view (zeros
    inside it), ``result`` gets the gradient inside the view.
    """

    @staticmethod
    def forward(ctx: Any, prev: Tensor, result: Tensor, view_fn: Any) -> Tensor:
        ctx.view_fn = view_fn
        return _make(Tensor, prev._data, prev._dtype, prev._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any, None]:
        fn = ctx.view_fn
        gp = None
        if ctx.needs_input_grad[0]:
            from ..autograd.grad_mode import no_grad

            be = g._backend
            mask = _make(Tensor, be.ones(g._data.shape, be.dtype_to_native[g._dtype]), g._dtype, be)
            with no_grad():
                fn(mask).fill_(0)
            gp = g * mask
        gr = fn(g) if ctx.needs_input_grad[1] else None
        return gp, gr, None


def rebase_view(view: Tensor, result: Tensor) -> Tensor:
    """An in-place op on a view under autograd: write into the root and rebase both histories.

    The root tensor's history becomes ``CopySlices(previous root, result)`` and the
    view's history becomes the view taken again from the new root, as in PyTorch.
    """
    assert view._extra is not None and view._base is not None
    fn = view._extra["view_fn"]
    root = view._base
    if root._requires_grad and root._grad_fn is None:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    if result._dtype is not view._dtype:
        result = result.to(view._dtype)
    prev = _make(Tensor, root._data, root._dtype, root._backend)
    prev._requires_grad = root._requires_grad
    prev._grad_fn = root._grad_fn
    prev._output_nr = root._output_nr
    view._backend.copy_into(view._data, result._data)
    view._bump()
    new_root = CopySlices.apply(prev, result, fn)
    root._grad_fn = new_root._grad_fn
    root._output_nr = 0
    root._requires_grad = new_root._requires_grad
    again = fn(root)
    view._grad_fn = again._grad_fn
    view._output_nr = again._output_nr
    view._requires_grad = again._requires_grad
    return view
