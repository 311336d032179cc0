"""The :class:`Tensor`: a backend array, its dtype, and autograd metadata."""

from __future__ import annotations

import builtins
import operator
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, SupportsIndex

from . import _compile_state
from . import _dtype as D
from ._device import device as _device_cls
from ._device import device_of_backend
from ._dtype import Category as _Category
from ._size import Size
from .autograd import engine as _engine
from .autograd import function as _fn
from .autograd.function import AccumulateGrad, Node, _RemovableHandle
from .autograd.grad_mode import _state as _grad_state
from .backends import Backend

_FLOATING = _Category.FLOATING
_INTEGER = _Category.INTEGER

if TYPE_CHECKING:
    pass

__all__ = ["Tensor"]

_NONLEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute "
    "won't be populated during autograd.backward(). If you indeed want the .grad field to be populated "
    "for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor "
    "by mistake, make sure you access the leaf Tensor instead."
)

_T_DEPRECATION = (
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated and it will throw "
    "an error in a future release. Consider `x.mT` to transpose batches of matrices or "
    "`x.permute(*plugrad.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a tensor."
)

Scalar = int | float | bool
TensorOrScalar = "Tensor | int | float | bool"


def _apply_iop(op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``op(a, b)`` for an in-place operator on backend arrays (``operator.iadd`` ...): the one place
    core changes an array in place without a kernel, so ``plugrad.compile`` can record it."""
    return op(a, b)


def _make(cls: type[Tensor], data: Any, dtype: D.dtype, backend: Backend) -> Tensor:
    """Wrap a backend array without copying (the one internal constructor)."""
    t = object.__new__(cls)
    t._data = data
    t._dtype = dtype
    t._backend = backend
    t._requires_grad = False
    t._grad = None
    t._grad_fn = None
    t._output_nr = 0
    t._vc = None  # the version counter, allocated on first in-place change or view
    t._base = None
    t._accumulator = None
    t._extra = None
    return t


class _PrintView:
    """Adapter handing a tensor's values to the pure-Python formatter."""

    __slots__ = ("data", "backend", "dtype_kind")

    def __init__(self, data: Any, backend: Backend, kind: str) -> None:
        self.data = data
        self.backend = backend
        self.dtype_kind = kind

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def tolist(self) -> object:
        return self.backend.tolist(self.data)

    def __getitem__(self, key: int | slice) -> _PrintView:
        return _PrintView(self.backend.getitem(self.data, key), self.backend, self.dtype_kind)


class Tensor:
    """A multi-dimensional array with reverse-mode automatic differentiation.

    ``plugrad.Tensor(data)`` is the legacy constructor: it always makes ``float32``
    (``plugrad.Tensor(2, 3)`` makes an uninitialised 2x3 tensor). Prefer
    :func:`plugrad.tensor`, which infers the dtype as PyTorch does.
    """

    __slots__ = (
        "_data",
        "_dtype",
        "_backend",
        "_requires_grad",
        "_grad",
        "_grad_fn",
        "_output_nr",
        "_vc",
        "_base",
        "_accumulator",
        "_extra",
        "__weakref__",
    )
    _data: Any
    _dtype: D.dtype
    _backend: Backend
    _requires_grad: bool
    _grad: Tensor | None
    _grad_fn: Node | None
    _output_nr: int
    _vc: list[int] | None
    _base: Tensor | None
    _accumulator: weakref.ref[AccumulateGrad] | None
    _extra: dict[str, Any] | None

    _make = classmethod(_make)

    if TYPE_CHECKING:
        # The op catalogue's methods (x.exp(), x.sum(), x.erf_(), ...) are attached when the ops
        # load (plugrad._ops._derive.attach); type checkers see them through this, as methods
        # returning a Tensor (the few that return tuples of tensors are iterable alike).
        def __getattr__(self, name: str) -> Callable[..., Tensor]: ...
        def __neg__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...

    def __new__(cls, *args: Any, device: Any = None) -> Tensor:
        from . import _creation

        backend = _creation._backend_for(device)
        if len(args) == 0:
            return _make(cls, backend.empty((0,), backend.native_dtype(D.float32)), D.float32, backend)
        if len(args) == 1 and isinstance(args[0], Tensor):
            src = args[0]
            if src._dtype is not D.float32:
                raise TypeError(f"expected {D.float32!r} (got {src._dtype!r})")
            return src._alias()
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return _make(cls, backend.empty(tuple(args), backend.native_dtype(D.float32)), D.float32, backend)
        if len(args) == 1:
            return _creation._from_data(args[0], D.float32, backend, cls=cls)
        raise TypeError(f"Tensor(): expected a sequence of numbers or sizes, got {args!r}")

    def __init__(self, *args: Any, device: Any = None) -> None:
        pass

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape as a :class:`plugrad.Size`, or the size of one dimension."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_canon_dim(dim, self._data.ndim)]

    @property
    def dtype(self) -> D.dtype:
        return self._dtype

    @property
    def device(self) -> _device_cls:
        return device_of_backend(self._backend)

    @property
    def ndim(self) -> int:
        return self._data.ndim  # type: ignore[no-any-return]

    def dim(self) -> int:
        """The number of dimensions (``len(self.shape)``); ``ndimension`` is an alias."""
        return self._data.ndim  # type: ignore[no-any-return]

    ndimension = dim

    def numel(self) -> int:
        """The number of elements, ``prod(self.shape)`` (1 for a 0-d tensor); ``nelement`` is an alias."""
        n = 1
        for s in self._data.shape:
            n *= s
        return n

    nelement = numel

    def element_size(self) -> int:
        """The size of one element in bytes (``4`` for ``float32``)."""
        return self._dtype.itemsize

    # ---- storage basics (issue 17): data_ptr, storage_offset, untyped_storage, is_set_to
    def data_ptr(self) -> int:
        """The address of this tensor's first element (storage start + offset * itemsize).

        From the backend's optional ``data_ptr`` kernel, else the array's
        ``__array_interface__``/``__cuda_array_interface__``; a backend offering neither
        gets ``id()`` of the array object, equal for tensors sharing that array
        (``x.detach()``) but not an address. 0 for an empty tensor, as PyTorch.
        """
        return _data_ptr(self._backend, self._data) if self.numel() else 0

    def _storage_root(self) -> Tensor:
        return self._base if self._base is not None else self

    def storage_offset(self) -> int:
        """How many elements this tensor starts after the start of its storage."""
        root = self._storage_root()
        if root is self or not self.numel() or not root.numel():
            return 0
        return max((self.data_ptr() - root.data_ptr()) // self._dtype.itemsize, 0)

    def untyped_storage(self) -> UntypedStorage:
        """The memory this tensor views: ``data_ptr()``, ``nbytes()``, ``size()`` (in bytes)."""
        root = self._storage_root()
        return UntypedStorage(root.data_ptr(), root.numel() * root._dtype.itemsize, root.device)

    def is_set_to(self, tensor: Tensor) -> bool:
        """Whether both tensors view the same memory with the same start, shape and strides."""
        if not isinstance(tensor, Tensor):
            raise TypeError(f"is_set_to(): argument 'tensor' (position 1) must be Tensor, not {type(tensor).__name__}")
        if self._data is tensor._data:
            return True
        if tuple(self._data.shape) != tuple(tensor._data.shape) or self._dtype != tensor._dtype:
            return False
        strides = getattr(self._data, "strides", None), getattr(tensor._data, "strides", None)
        return (
            self.numel() > 0
            and self.data_ptr() == tensor.data_ptr()
            and strides[0] == strides[1]
            and self.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr()
        )

    def is_floating_point(self) -> bool:
        """Whether the dtype is a floating-point one (``float16``, ``bfloat16``, ``float32``, ``float64``)."""
        return self._dtype.category is _FLOATING

    @property
    def is_cuda(self) -> bool:
        return self._backend.device_type == "cuda"

    def type(self, dtype: Any = None) -> Any:
        """The legacy type name (``'plugrad.FloatTensor'``), or a copy converted to ``dtype``."""
        if dtype is None:
            return f"plugrad.{self._dtype.to_legacy_type_name()}"
        return self.to(dtype)

    def item(self) -> Scalar:
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        v = self._backend.tolist(self._data)
        while isinstance(v, list):
            v = v[0]
        return v  # type: ignore[no-any-return]

    def tolist(self) -> Any:
        """The values as (nested) Python lists; a bare number for a 0-d tensor."""
        return self._backend.tolist(self._data)

    def numpy(self, *, force: bool = False) -> Any:
        """The values as a NumPy array, from the backend's ``to_numpy`` kernel: on the NumPy
        backend the tensor's own array (shared memory). ``force=True`` also converts tensors
        that require grad and copies tensors on other devices to host memory."""
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        be = self._backend
        if be.device_type != "cpu" and not force:
            raise TypeError(
                f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first."
            )
        if not be.has_kernel("to_numpy"):
            raise TypeError(
                f"can't convert a tensor of backend {be.name!r} to numpy: the backend has no 'to_numpy' kernel "
                "(optional in the backend contract); move it to a backend that has one, e.g. tensor.to('cpu').numpy()"
            )
        return be.to_numpy(self._data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        arr = self.numpy(force=True)
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __dlpack__(
        self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None, copy: bool | None = None
    ) -> Any:
        """Export the tensor's memory as a DLPack capsule (the consumer shares it)."""
        if self._requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        kwargs = {k: v for k, v in given.items() if v is not None}
        if self._backend.has_kernel("to_dlpack"):
            return self._backend.to_dlpack(self._data, **kwargs)
        if not hasattr(self._data, "__dlpack__"):
            raise BufferError(f"backend {self._backend.name!r} cannot export its arrays through DLPack")
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """The DLPack ``(device_type, device_id)`` of the tensor's memory."""
        return tuple(self._data.__dlpack_device__())

    def __len__(self) -> int:
        if not self._data.shape:
            raise TypeError("len() of a 0-d tensor")
        return int(self._data.shape[0])

    def __iter__(self) -> Iterator[Tensor]:
        if not self._data.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self.numel() != 1:
            if self.numel() == 0:
                raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(self.item())

    def __int__(self) -> int:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self.item())

    # NumPy defers to plugrad: ``np.float64(2) * t`` calls ``t.__rmul__`` and gives a
    # tensor, and a NumPy array never silently turns a tensor into an ndarray.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """A copy with its own storage, ``requires_grad`` and gradient (leaf tensors only, as PyTorch)."""
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment."
            )
        done = memo.get(id(self))
        if done is not None:
            return done  # type: ignore[no-any-return]
        new = _make(type(self), self._backend.copy(self._data), self._dtype, self._backend)
        new._requires_grad = self._requires_grad
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        """Pickle support (``copy``, ``multiprocessing``): the values travel as raw bytes.

        plugrad's checkpoints (``plugrad.save``) never use pickle; this is only so that
        tensors behave like other Python values in the standard library.
        """
        if self._grad_fn is not None:
            raise RuntimeError("Can't pickle a Tensor that is not a leaf of the autograd graph; call .detach() first.")
        raw = self._backend.to_bytes(self._data)
        return (_rebuild, (raw, self._dtype.name, tuple(self._data.shape), self._backend.name, self._requires_grad))

    def __index__(self) -> int:
        if self._dtype.category is not _INTEGER or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    __hash__ = object.__hash__

    def __format__(self, spec: str) -> str:
        if _compile_state.ACTIVE[0] is not None:
            _compile_state.note("a tensor was formatted into a string (printing is a Python side effect)")
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __repr__(self) -> str:
        from ._tensor_str import format_tensor

        if _compile_state.ACTIVE[0] is not None:
            _compile_state.note("a tensor was printed (printing is a Python side effect)")

        suffixes: list[str] = []
        dev = self.device
        if dev.type != "cpu":
            suffixes.append(f"device='{dev}'")
        dt = self._dtype
        if not (dt is D.get_default_dtype() or dt is D.int64 or dt is D.bool_) or (
            self.numel() == 0 and dt is not D.get_default_dtype()
        ):
            # PyTorch states the dtype of an empty tensor unless it is the default float.
            suffixes.append(f"dtype={dt!r}")
        if self._grad_fn is not None:
            suffixes.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            suffixes.append("requires_grad=True")
        if self._extra and "fw_grad" in self._extra and _fn._forward_ad_active[0]:
            from .autograd import forward_ad

            tangent = forward_ad.unpack_dual(self).tangent
            if tangent is not None:
                suffixes.append(f"tangent={tangent}")
        kind = "float" if dt.category is _FLOATING else ("int" if dt.category is _INTEGER else "bool")
        view = _PrintView(self._data, self._backend, kind)
        return format_tensor(view, prefix="tensor(", suffixes=suffixes)

    __str__ = __repr__

    # ------------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self._set_requires_grad(bool(value))

    def _set_requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None:
            if not value:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
                    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
                )
            return
        if value and self._dtype.category is not _FLOATING:
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return ``self``."""
        if requires_grad and self._dtype.category is not _FLOATING and self._grad_fn is None:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._set_requires_grad(bool(requires_grad))
        return self

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (leaf tensors and tensors that :meth:`retain_grad`)."""
        if self._grad_fn is not None and self._requires_grad and not self.retains_grad and self._grad is None:
            warnings.warn(_NONLEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}"
                )
            if value._dtype is not self._dtype:
                raise RuntimeError("assigned grad has data of a different type")
            if value._data.shape != self._data.shape:
                raise RuntimeError("assigned grad has data of a different size")
            if value._backend is not self._backend:
                raise RuntimeError("assigned grad has data located on a different device")
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def grad_fn(self) -> Node | None:
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def _version(self) -> int:
        """How many times this tensor's storage was changed in place (shared with its views)."""
        v = self._vc
        return v[0] if v is not None else 0

    def _shared_vc(self) -> list[int]:
        """The version counter, created if needed, to share with a view or alias."""
        v = self._vc
        if v is None:
            v = self._vc = [0]
        return v

    @property
    def data(self) -> Tensor:
        """The same values, detached from the graph; changes through it are not tracked."""
        t = _make(Tensor, self._data, self._dtype, self._backend)
        return t

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, not {type(value).__name__}")
        if self._requires_grad and value._dtype.category is not _FLOATING:
            raise RuntimeError("data set to a tensor that requires gradients must be floating point or complex dtype")
        self._data = value._data
        self._dtype = value._dtype
        self._backend = value._backend

    def detach(self) -> Tensor:
        """A new tensor sharing this one's data, outside the graph (``requires_grad=False``)."""
        t = _make(Tensor, self._data, self._dtype, self._backend)
        t._vc = self._shared_vc()
        t._base = self._base if self._base is not None else self
        return t

    def detach_(self) -> Tensor:
        """Detach this tensor from the graph in place, making it a leaf."""
        if self._base is not None and self._base._requires_grad and self._grad_fn is not None:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using DistributedDataParallel (DDP) "
                "for training, and gradient_as_bucket_view is set as True, gradients are views of DDP buckets, and "
                "hence detach_() cannot be called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution."
            )
        self._grad_fn = None
        self._requires_grad = False
        self._output_nr = 0
        return self

    def _alias(self) -> Tensor:
        """A new tensor object on the same data and version counter, with no history."""
        t = _make(Tensor, self._data, self._dtype, self._backend)
        t._vc = self._shared_vc()
        t._base = self._base if self._base is not None else self
        return t

    def _get_accumulator(self) -> AccumulateGrad:
        return _fn._weak_accumulator(self)

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in ``.grad`` after backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self.retains_grad:
            return
        ref = weakref.ref(self)

        def _retain(grad: Tensor) -> None:
            t = ref()
            if t is None:
                return
            if t._grad is None:
                t._grad = grad.detach().clone() if not _grad_state.enabled else grad
            else:
                t._grad = t._grad + grad

        self._grad_fn._register_tensor_pre_hook(self._output_nr, _retain)
        self._extra_dict()["retains_grad"] = True

    @property
    def retains_grad(self) -> bool:
        return bool(self._extra and self._extra.get("retains_grad"))

    def _extra_dict(self) -> dict[str, Any]:
        if self._extra is None:
            self._extra = {}
        return self._extra

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> _RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            return self._grad_fn._register_tensor_pre_hook(self._output_nr, hook)
        acc = self._get_accumulator()
        # keep the accumulator (and so the hook) alive as long as the tensor
        self._extra_dict()["accumulator"] = acc
        return acc._register_tensor_pre_hook(0, hook)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> _RemovableHandle:
        """Call ``hook(tensor)`` after a gradient was accumulated into this leaf's ``.grad``."""
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        acc = self._get_accumulator()
        self._extra_dict()["accumulator"] = acc
        if acc._post_hooks is None:
            acc._post_hooks = []
        acc._post_hooks.append(hook)
        return _RemovableHandle(acc._post_hooks, hook)

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | Tensor | None = None,
    ) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of the leaves.

        ``gradient`` is the vector in the vector-Jacobian product; it may be left out
        only for one-element tensors.
        """
        if inputs is None and not create_graph and self._requires_grad:
            # the common call, without the general argument handling of autograd.backward
            if gradient is None:
                if self.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                if self._dtype.category is not _FLOATING:
                    raise RuntimeError(
                        f"grad can be implicitly created only for real scalar outputs but got {self._dtype!r}"
                    )
                be = self._backend
                gradient = _make(Tensor, be.ones(self._data.shape, be.dtype_to_native[self._dtype]), self._dtype, be)
                fresh = True
            else:
                fresh = False
            if fresh or (
                type(gradient) is Tensor
                and gradient._data.shape == self._data.shape
                and gradient._backend is self._backend
                and not gradient._requires_grad
            ):
                node = self._grad_fn if self._grad_fn is not None else self._get_accumulator()
                _engine.run_backward(
                    [(node, self._output_nr, gradient)],
                    retain_graph=bool(retain_graph),
                    create_graph=False,
                    fresh_roots=fresh,
                )
                return
        from .autograd import backward as _backward

        _backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # ------------------------------------------------------------------ in-place
    def _check_inplace(self) -> None:
        if self._requires_grad and self._grad_fn is None and _grad_state.enabled:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        if self._extra:
            if self._extra.get("inference") and not _grad_state.inference:
                raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not allowed.")
            if self._extra.get("overlapping"):
                raise RuntimeError(
                    "unsupported operation: more than one element of the written-to tensor refers to a single "
                    "memory location. Please clone() the tensor before performing the operation."
                )

    def _bump(self) -> None:
        """Record an in-place change (seen by saved-tensor checks, shared with views)."""
        v = self._vc
        if v is None:
            self._vc = [1]
        else:
            v[0] += 1

    def _inplace_add_no_grad(self, other: Tensor) -> None:
        """``self += other`` on the raw arrays (gradient accumulation)."""
        _apply_iop(operator.iadd, self._data, other._data)
        self._bump()

    def _inplace_binary(self, name: str, iop: Callable[[Any, Any], Any], other: Any, alpha: Any = None) -> Tensor:
        if isinstance(alpha, Tensor):  # a one-element tensor stands for its number, as PyTorch's Scalar arguments do
            alpha = alpha.item()
        # Fast path (optimizer steps, no_grad updates): another tensor of the same dtype,
        # backend and shape, and no autograd involved -- one in-place kernel call.
        if (
            type(other) is Tensor
            and other._dtype is self._dtype
            and other._backend is self._backend
            and self._extra is None
            and not _fn._forward_ad_active[0]
            and not (_grad_state.enabled and (self._requires_grad or other._requires_grad))
            and other._data.shape == self._data.shape
            and (name != "div" or self._dtype.category is _FLOATING)
        ):
            data = other._data
            if alpha is not None and alpha != 1:
                data = self._backend.multiply(data, alpha)
            _apply_iop(iop, self._data, data)
            self._bump()
            return self
        ew = _ew
        if alpha is not None and alpha != 1:
            other = other * alpha
        self._check_inplace()
        odata, odt = ew.operand(self, other)
        result_dt = ew.result_type2(self, other)
        if name == "div":
            result_dt = result_dt if result_dt.category is _FLOATING else D.get_default_dtype()
        if not D.can_cast(result_dt, self._dtype):  # before the autograd path too: never a silent truncation
            raise RuntimeError(
                f"result type {_torch_type_name(result_dt)} can't be cast to the desired output type {_torch_type_name(self._dtype)}"
            )
        if (_grad_state.enabled and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad))) or (
            _fn._forward_ad_active[0] and (_has_tangent(self) or _has_tangent(other))
        ):
            return self._rebase(getattr(ew, name)(self._snapshot(), other))
        if isinstance(other, Tensor):
            _check_inplace_shape(self, other._data.shape)
            if odt is not self._dtype:
                odata = self._backend.astype(odata, self._backend.dtype_to_native[self._dtype])
        _apply_iop(iop, self._data, odata)
        self._bump()
        return self

    def _snapshot(self) -> Tensor:
        """The current value with its history, for the autograd path of an in-place op."""
        from ._ops import shape

        return shape.clone(self)

    def _rebase(self, result: Tensor) -> Tensor:
        """Make ``self`` hold ``result``'s values and history (in-place op under autograd)."""
        from ._ops import indexing

        if result._data.shape != self._data.shape:
            raise RuntimeError(
                f"output with shape {list(self._data.shape)} doesn't match the broadcast shape {list(result._data.shape)}"
            )
        if _fn._forward_ad_active[0]:
            from .autograd import forward_ad

            forward_ad._move_tangent(self, result)
        if self._base is not None and self._extra and "view_fn" in self._extra:
            return indexing.rebase_view(self, result)
        if result._dtype is not self._dtype:
            result = result.to(self._dtype)
        self._backend.copy_into(self._data, result._data)
        self._bump()
        self._grad_fn = result._grad_fn
        self._output_nr = result._output_nr
        self._requires_grad = result._requires_grad
        return self

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In-place ``self += alpha * other``."""
        return self._inplace_binary("add", operator.iadd, other, alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """In-place ``self -= alpha * other``."""
        return self._inplace_binary("sub", operator.isub, other, alpha)

    def mul_(self, other: Any) -> Tensor:
        """In-place ``self *= other``."""
        return self._inplace_binary("mul", operator.imul, other)

    def div_(self, other: Any) -> Tensor:
        """In-place ``self /= other``."""
        return self._inplace_binary("div", operator.itruediv, other)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Copy ``src``'s values into this tensor (broadcasting, converting dtype and device)."""
        from ._ops import elementwise as ew

        self._check_inplace()
        if not isinstance(src, Tensor):
            _ops_util.check_scalar_fits(src, self._dtype)
            src = ew.as_tensor_like(src, self)
        if src._backend is not self._backend:
            src = src.to(self.device)
        _check_inplace_shape(self, src._data.shape)
        if (_grad_state.enabled and (self._requires_grad or src._requires_grad)) or (
            _fn._forward_ad_active[0] and (_has_tangent(self) or _has_tangent(src))
        ):
            from ._ops import shape

            return self._rebase(shape.copy_to(src, self))
        self._backend.copy_into(self._data, src._data)
        self._bump()
        return self

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value``."""
        if isinstance(value, Tensor):
            if value._data.ndim != 0:
                raise RuntimeError(
                    f"fill_ only supports 0-dimension value tensor but got tensor with {value._data.ndim} dimensions."
                )
            return self.copy_(value)
        self._check_inplace()
        if not isinstance(value, (bool, int, float)):
            raise TypeError(f"fill_(): argument 'value' must be Number, not {type(value).__name__}")
        _ops_util.check_scalar_fits(value, self._dtype)
        if _grad_state.enabled and self._requires_grad:
            from ._ops import elementwise as ew

            return self._rebase(ew.full_like_graph(self, value))
        self._backend.copy_into(self._data, value)
        self._bump()
        return self

    def zero_(self) -> Tensor:
        """Set every element to zero."""
        return self.fill_(0)

    def _inplace_op(
        self, fn: Callable[..., Tensor], *args: Any, binary: builtins.bool = False, **kwargs: Any
    ) -> Tensor:
        """``self = fn(self, *args, **kwargs)`` in place: the in-place variant of any out-of-place op.

        The result must have ``self``'s shape and a dtype that casts to ``self``'s (for
        ``binary`` ops, ``args[0]`` being the other operand, checked before computing, as
        PyTorch does). Under autograd -- ``self`` or a tensor argument requires grad, or
        forward-mode tangents are involved -- the op runs on a snapshot and ``self`` takes the
        result's values and history (:meth:`_rebase`), so version counters, leaf checks,
        views and tangents behave as in :meth:`add_`.
        """
        self._check_inplace()
        if binary:
            rt = _ew.result_type2(self, args[0])
            if not D.can_cast(rt, self._dtype):
                raise RuntimeError(
                    f"result type {_torch_type_name(rt)} can't be cast to the desired output type {_torch_type_name(self._dtype)}"
                )
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        if (_grad_state.enabled and (self._requires_grad or any(t._requires_grad for t in tensors))) or (
            _fn._forward_ad_active[0] and (_has_tangent(self) or any(_has_tangent(t) for t in tensors))
        ):
            result = fn(self._snapshot(), *args, **kwargs)
            self._check_inplace_result(result)
            return self._rebase(result)
        result = fn(self, *args, **kwargs)
        self._check_inplace_result(result)
        be = self._backend
        data = (
            result._data if result._dtype is self._dtype else be.astype(result._data, be.dtype_to_native[self._dtype])
        )
        be.copy_into(self._data, data)
        self._bump()
        return self

    def _check_inplace_result(self, result: Tensor) -> None:
        if result._data.shape != self._data.shape:
            raise RuntimeError(
                f"output with shape {list(self._data.shape)} doesn't match the broadcast shape {list(result._data.shape)}"
            )
        if not D.can_cast(result._dtype, self._dtype):
            raise RuntimeError(
                f"result type {_torch_type_name(result._dtype)} can't be cast to the desired output type {_torch_type_name(self._dtype)}"
            )

    def _inplace_view(self, fn: Callable[[Tensor], Tensor]) -> Tensor:
        """Make ``self`` the view ``fn(self)`` of its own storage (``t_``, ``transpose_``)."""
        self._check_inplace()
        result = fn(self)
        self._data = result._data
        if result._grad_fn is not None:
            self._grad_fn = result._grad_fn
            self._output_nr = result._output_nr
        if self._base is not None and result._extra and "view_fn" in result._extra:
            self._extra_dict()["view_fn"] = result._extra["view_fn"]
        self._bump()
        return self

    # -- in-place variants of the elementwise ops

    def round_(self, *, decimals: int = 0) -> Tensor:
        """In-place :meth:`round`: ``self`` rounded half to even at ``decimals`` decimal places."""
        return self._inplace_op(_ew.round, decimals=decimals)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """In-place :meth:`clamp`: ``self = min(max(self, min), max)`` elementwise; ``clip_`` is an alias."""
        return self._inplace_op(_ew.clamp, min, max)

    clip_ = clamp_

    def clamp_min_(self, min: Any) -> Tensor:
        """In-place ``self = max(self, min)`` elementwise."""
        return self._inplace_op(_ew.clamp_min, min)

    def clamp_max_(self, max: Any) -> Tensor:
        """In-place ``self = min(self, max)`` elementwise."""
        return self._inplace_op(_ew.clamp_max, max)

    def pow_(self, exponent: Any) -> Tensor:
        """In-place ``self = self ** exponent`` (broadcast to ``self``'s shape)."""
        return self._inplace_op(_ew.pow, exponent, binary=True)

    def remainder_(self, other: Any) -> Tensor:
        """In-place ``self = self - floor(self / other) * other`` (Python's ``%``: the sign of ``other``)."""
        return self._inplace_op(_ew.remainder, other, binary=True)

    def fmod_(self, other: Any) -> Tensor:
        """In-place ``self = fmod(self, other)`` (C's remainder: the sign of ``self``)."""
        return self._inplace_op(_ew.fmod, other, binary=True)

    def floor_divide_(self, other: Any) -> Tensor:
        """In-place ``self = floor(self / other)``."""
        return self._inplace_op(_ew.floor_divide, other, binary=True)

    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        """In-place ``self = self + weight * (end - self)``."""
        return self._inplace_op(_ew.lerp, end, weight)

    def bitwise_and_(self, other: Any) -> Tensor:
        """In-place ``self &= other`` (integer and bool tensors)."""
        return self._inplace_op(_ew.bitwise_and, other, binary=True)

    def bitwise_or_(self, other: Any) -> Tensor:
        """In-place ``self |= other`` (integer and bool tensors)."""
        return self._inplace_op(_ew.bitwise_or, other, binary=True)

    def bitwise_xor_(self, other: Any) -> Tensor:
        """In-place ``self ^= other`` (integer and bool tensors)."""
        return self._inplace_op(_ew.bitwise_xor, other, binary=True)

    def bitwise_not_(self) -> Tensor:
        """In-place ``self = ~self`` (integer and bool tensors)."""
        return self._inplace_op(_ew.bitwise_not)

    def bitwise_left_shift_(self, other: Any) -> Tensor:
        """In-place ``self <<= other`` (integer tensors)."""
        return self._inplace_op(_ew.bitwise_left_shift, other, binary=True)

    def bitwise_right_shift_(self, other: Any) -> Tensor:
        """In-place ``self >>= other`` (integer tensors; arithmetic shift)."""
        return self._inplace_op(_ew.bitwise_right_shift, other, binary=True)

    def __iand__(self, other: Any) -> Tensor:
        return self.bitwise_and_(other)

    def __ior__(self, other: Any) -> Tensor:
        return self.bitwise_or_(other)

    def __ixor__(self, other: Any) -> Tensor:
        return self.bitwise_xor_(other)

    def __ilshift__(self, other: Any) -> Tensor:
        return self.bitwise_left_shift_(other)

    def __irshift__(self, other: Any) -> Tensor:
        return self.bitwise_right_shift_(other)

    def __ipow__(self, other: Any) -> Tensor:
        return self.pow_(other)

    def __imod__(self, other: Any) -> Tensor:
        return self.remainder_(other)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return self.floor_divide_(other)

    # -- in-place variants of the index-driven ops
    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        """Write ``value`` where ``mask`` is true, in place."""
        return self._inplace_op(_scatter.masked_fill, mask, value)

    def index_fill_(self, dim: int, index: Tensor, value: Any) -> Tensor:
        """In place, ``self[..., index[i], ...] = value`` along dimension ``dim`` for each ``i``."""
        return self._inplace_op(_scatter.index_fill, dim, index, value)

    def index_add_(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
        """In place, ``self[..., index[i], ...] += alpha * source[..., i, ...]`` along ``dim`` (repeats accumulate)."""
        return self._inplace_op(_scatter.index_add, dim, index, source, alpha=alpha)

    def scatter_(
        self, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: str | None = None
    ) -> Tensor:
        """In-place :meth:`scatter`: ``self[index[i][j]][j] = src[i][j]`` for ``dim=0`` (or the number ``value``)."""
        return self._inplace_op(_scatter.scatter, dim, index, src, value=value, reduce=reduce)

    def scatter_add_(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        """In place, ``self[index[i][j]][j] += src[i][j]`` for ``dim=0`` (likewise along other dims); repeats accumulate."""
        return self._inplace_op(_scatter.scatter_add, dim, index, src)

    # -- in-place random fills (see plugrad._ops.random)
    def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator: Any = None, **kwargs: Any) -> Tensor:
        """Fill with samples of the uniform distribution on ``[from, to)`` (``from`` may be given by keyword)."""
        return _random.uniform_(self, kwargs.pop("from", from_), to, generator=generator, **kwargs)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of ``N(mean, std**2)``."""
        return _random.normal_(self, mean, std, generator=generator)

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        """Fill with 1 (probability ``p``) or 0."""
        return _random.bernoulli_(self, p, generator=generator)

    def random_(self, from_: Any = None, to: Any = None, *, generator: Any = None, **kwargs: Any) -> Tensor:
        """Fill with integers uniform on ``[from, to)``: ``random_(to)``, ``random_(from, to)`` or ``random_()``."""
        return _random.random_(self, kwargs.pop("from", from_), to, generator=generator, **kwargs)

    def exponential_(self, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of the exponential distribution of rate ``lambd``."""
        return _random.exponential_(self, lambd, generator=generator)

    def bernoulli(self, p: Any = None, *, generator: Any = None) -> Tensor:
        """``plugrad.bernoulli(self, p, generator=generator)``."""
        return _random.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
        """``plugrad.multinomial(self, num_samples, replacement, generator=generator)``."""
        return _random.multinomial(self, num_samples, replacement, generator=generator)

    # -- in-place views
    def t_(self) -> Tensor:
        """Transpose a tensor of at most 2 dims in place (``self`` becomes ``self.t()``)."""
        if self._data.ndim > 2:
            raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is {self._data.ndim}D")
        return self._inplace_view(_shape.t)

    def transpose_(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims in place (``self`` becomes ``self.transpose(dim0, dim1)``)."""
        return self._inplace_view(lambda t: _shape.transpose(t, dim0, dim1))

    swapaxes_ = transpose_
    swapdims_ = transpose_

    # ------------------------------------------------------------------ operators
    def __add__(self, other: Any) -> Tensor:
        return _ew.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ew.Add.apply(self, other)

    def __sub__(self, other: Any) -> Tensor:
        return _ew.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ew.RSub.apply(self, other)

    def __mul__(self, other: Any) -> Tensor:
        return _ew.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ew.Mul.apply(self, other)

    def __truediv__(self, other: Any) -> Tensor:
        return _ew.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return _ew.Div.apply(other, self)
        # ``2 / t`` is ``reciprocal(t) * 2`` in PyTorch (same rounding, MulBackward0)
        return _ew.Mul.apply(self.reciprocal(), other)

    def __floordiv__(self, other: Any) -> Tensor:
        return _ew.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _ew.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return _ew.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _ew.remainder(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ew.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ew.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(other, self)

    def __pos__(self) -> Tensor:
        return self

    def __invert__(self) -> Tensor:
        return _ew.invert(self)

    def __lshift__(self, other: Any) -> Tensor:
        return _ew.bitwise_left_shift(self, other)

    def __rlshift__(self, other: Any) -> Tensor:
        return _ew.bitwise_left_shift(other, self)

    def __rshift__(self, other: Any) -> Tensor:
        return _ew.bitwise_right_shift(self, other)

    def __rrshift__(self, other: Any) -> Tensor:
        return _ew.bitwise_right_shift(other, self)

    def __and__(self, other: Any) -> Tensor:
        return _ew.bitwise_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return _ew.bitwise_or(self, other)

    def __xor__(self, other: Any) -> Tensor:
        return _ew.bitwise_xor(self, other)

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        if not isinstance(other, (Tensor, int, float, bool)) and not _ew.is_number_like(other):
            return NotImplemented
        return _ew.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        if not isinstance(other, (Tensor, int, float, bool)) and not _ew.is_number_like(other):
            return NotImplemented
        return _ew.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _ew.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ew.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ew.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ew.ge(self, other)

    def __getitem__(self, key: Any) -> Tensor:
        return _indexing.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        _indexing.setitem(self, key, value)

    # ------------------------------------------------------------------ methods

    def eq(self, other: Any) -> Tensor:
        """Elementwise ``self == other`` as a bool tensor (broadcasting)."""
        return _ew.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        """Elementwise ``self != other`` as a bool tensor (broadcasting); ``not_equal`` is an alias."""
        return _ew.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        """Elementwise ``self < other`` as a bool tensor (broadcasting); ``less`` is an alias."""
        return _ew.lt(self, other)

    def le(self, other: Any) -> Tensor:
        """Elementwise ``self <= other`` as a bool tensor (broadcasting); ``less_equal`` is an alias."""
        return _ew.le(self, other)

    def gt(self, other: Any) -> Tensor:
        """Elementwise ``self > other`` as a bool tensor (broadcasting); ``greater`` is an alias."""
        return _ew.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        """Elementwise ``self >= other`` as a bool tensor (broadcasting); ``greater_equal`` is an alias."""
        return _ew.ge(self, other)

    not_equal = ne
    less = lt
    less_equal = le
    greater = gt
    greater_equal = ge

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        """``value`` where ``mask`` is true, else ``self``."""
        return _scatter.masked_fill(self, mask, value)

    # -- op catalogue: reductions, scans, softmax (see plugrad._ops.reduction)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """The maximum of all elements, or with ``dim`` a ``(values, indices)`` named tuple along it
        (or, given a tensor, the elementwise :func:`maximum`).
        """
        return _reduction.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """The minimum of all elements, or with ``dim`` a ``(values, indices)`` named tuple along it
        (or, given a tensor, the elementwise :func:`minimum`).
        """
        return _reduction.min(self, dim, keepdim)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """The maximum over ``dim`` (all dims by default), without indices; the gradient is shared among ties."""
        return _reduction.amax(self, dim, keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """The minimum over ``dim`` (all dims by default), without indices; the gradient is shared among ties."""
        return _reduction.amin(self, dim, keepdim)

    def var(
        self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *, correction: float | None = None
    ) -> Tensor:
        """Variance over ``dim``: ``sum((x - mean)^2) / (N - correction)``, ``correction`` 1 by default (Bessel)."""
        return _reduction.var(self, dim, unbiased, keepdim, correction=correction)

    def std(
        self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *, correction: float | None = None
    ) -> Tensor:
        """Standard deviation over ``dim``: ``sqrt(sum((x - mean)^2) / (N - correction))``, ``correction`` 1 by default."""
        return _reduction.std(self, dim, unbiased, keepdim, correction=correction)

    # -- sorting and order statistics (see plugrad._ops.sorting)
    def sort(self, dim: int = -1, descending: builtins.bool = False, **kwargs: Any) -> Any:
        """``(values, indices)`` with ``values`` sorted along ``dim`` (ascending unless ``descending``; ``stable=`` accepted)."""
        return _sorting.sort(self, dim, descending, **kwargs)

    # -- op catalogue: elementwise extras (see plugrad._ops.elementwise)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        """``self`` where ``condition`` is true, else ``other`` (broadcasting): ``where(condition, self, other)``."""
        return _ew.where(condition, self, other)

    def isclose(
        self,
        other: Tensor,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> Tensor:
        """Elementwise ``|self - other| <= atol + rtol * |other|`` as a bool tensor (NaNs equal when ``equal_nan``)."""
        return _comparison.isclose(self, other, rtol, atol, equal_nan)

    def allclose(
        self,
        other: Tensor,
        rtol: builtins.float = 1e-05,
        atol: builtins.float = 1e-08,
        equal_nan: builtins.bool = False,
    ) -> builtins.bool:
        """Whether :meth:`isclose` holds for every element: ``|self - other| <= atol + rtol * |other|``."""
        return _comparison.allclose(self, other, rtol, atol, equal_nan)

    def tril_(self, diagonal: int = 0) -> Tensor:
        """In-place :meth:`tril`: zero the elements above the ``diagonal``-th diagonal of the last two dims."""
        return self._inplace_op(_other.tril, diagonal)

    def triu_(self, diagonal: int = 0) -> Tensor:
        """In-place :meth:`triu`: zero the elements below the ``diagonal``-th diagonal of the last two dims."""
        return self._inplace_op(_other.triu, diagonal)

    # -- op catalogue: index-driven ops (see plugrad._ops.scatter)

    def scatter(
        self, dim: int, index: Tensor, src: Any = None, *, value: Any = None, reduce: str | None = None
    ) -> Tensor:
        """Out-of-place :meth:`scatter_`: a copy of ``self`` with ``out[index[i][j]][j] = src[i][j]`` for ``dim=0``."""
        return _scatter.scatter(self, dim, index, src, value=value, reduce=reduce)

    # -- op catalogue: shapes (see plugrad._ops.shape)

    def broadcast_to(self, *size: Any) -> Tensor:
        """A view of ``self`` broadcast to ``size`` (as :meth:`expand`; ``-1`` keeps a dimension)."""
        return _shape.broadcast_to(self, _shape._sizes(size))

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Split along ``dim`` into chunks of ``split_size`` (the last may be smaller) or of the listed sizes; views."""
        return _shape.split(self, split_size, dim)

    def view_as(self, other: Tensor) -> Tensor:
        """``self.view(other.shape)``: a view with ``other``'s shape (no copy; same number of elements)."""
        return _shape.view(self, other._data.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        """``self.reshape(other.shape)``: ``other``'s shape, a view when possible, else a copy."""
        return _shape.reshape(self, other._data.shape)

    @property
    def T(self) -> Tensor:
        nd = self._data.ndim
        if nd == 0:
            warnings.warn(
                "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases.",
                UserWarning,
                stacklevel=2,
            )
        elif nd != 2:
            warnings.warn(_T_DEPRECATION, UserWarning, stacklevel=2)
        return _shape.permute(self, *reversed(range(nd)))

    @property
    def mT(self) -> Tensor:
        if self._data.ndim < 2:
            raise RuntimeError(
                f"tensor.mT is only supported on matrices or batches of matrices. Got {self._data.ndim}-D tensor."
            )
        return _shape.transpose(self, -2, -1)

    def expand_as(self, other: Tensor) -> Tensor:
        """``self.expand(other.shape)``: a broadcast view with ``other``'s shape."""
        return _shape.expand(self, other._data.shape)

    def contiguous(self, memory_format: Any = None) -> Tensor:
        """``self`` when its memory is contiguous, else a contiguous copy."""
        return _shape.contiguous(self)

    def is_contiguous(self, memory_format: Any = None) -> bool:
        """Whether the elements are laid out in row-major (C) order without gaps."""
        return _shape.is_contiguous(self)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Convert dtype and/or move to a device: ``to(dtype)``, ``to(device)``, ``to(other)``, ``to(device, dtype)``."""
        from ._device import backend_for_device

        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        kwargs.pop("memory_format", None)
        if kwargs:
            raise TypeError(f"to() got an unexpected keyword argument {next(iter(kwargs))!r}")
        for a in args:
            if isinstance(a, D.dtype):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, device = a._dtype, a._backend
            elif a is not None:
                device = a
        be = self._backend if device is None else backend_for_device(device)
        dt = self._dtype if dtype is None else dtype
        if not isinstance(dt, D.dtype):
            raise TypeError(f"to() received an invalid dtype: {dt!r}")
        if dt is self._dtype and be is self._backend and not copy:
            return self
        return _shape.ToCopy.apply(self, dt, be)

    def cpu(self) -> Tensor:
        """This tensor on the CPU (``self`` when already there), differentiably."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Tensor:
        """This tensor on a CUDA device (``device``, default the current one), differentiably."""
        return self.to("cuda" if device is None else device)

    def float(self) -> Tensor:
        """``self.to(float32)``."""
        return self.to(D.float32)

    def double(self) -> Tensor:
        """``self.to(float64)``."""
        return self.to(D.float64)

    def half(self) -> Tensor:
        """``self.to(float16)``."""
        return self.to(D.float16)

    def long(self) -> Tensor:
        """``self.to(int64)``."""
        return self.to(D.int64)

    def int(self) -> Tensor:
        """``self.to(int32)``."""
        return self.to(D.int32)

    def bool(self) -> Tensor:
        """``self.to(bool)`` (non-zero is ``True``)."""
        return self.to(D.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        """``self.to(other.dtype)``."""
        return self.to(other._dtype)

    def new_tensor(self, data: Any, *, dtype: D.dtype | None = None, requires_grad: builtins.bool = False) -> Tensor:
        """A new tensor from ``data`` (copied), with ``self``'s dtype and device unless ``dtype`` is given."""
        from ._creation import _finish, _from_data

        return _finish(_from_data(data, dtype or self._dtype, self._backend), requires_grad)

    def new_zeros(self, *size: Any, dtype: D.dtype | None = None, requires_grad: builtins.bool = False) -> Tensor:
        """A tensor of zeros of shape ``size``, with ``self``'s dtype and device unless ``dtype`` is given."""
        from ._creation import zeros

        return zeros(*size, dtype=dtype or self._dtype, device=self._backend, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: D.dtype | None = None, requires_grad: builtins.bool = False) -> Tensor:
        """A tensor of ones of shape ``size``, with ``self``'s dtype and device unless ``dtype`` is given."""
        from ._creation import ones

        return ones(*size, dtype=dtype or self._dtype, device=self._backend, requires_grad=requires_grad)

    def new_full(
        self, size: Any, fill_value: Any, *, dtype: D.dtype | None = None, requires_grad: builtins.bool = False
    ) -> Tensor:
        """A tensor of shape ``size`` filled with ``fill_value``, with ``self``'s dtype and device unless ``dtype`` is given."""
        from ._creation import full

        return full(size, fill_value, dtype=dtype or self._dtype, device=self._backend, requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: D.dtype | None = None, requires_grad: builtins.bool = False) -> Tensor:
        """An uninitialised tensor of shape ``size``, with ``self``'s dtype and device unless ``dtype`` is given."""
        from ._creation import empty

        return empty(*size, dtype=dtype or self._dtype, device=self._backend, requires_grad=requires_grad)


def _rebuild(raw: bytes, dtype_name: str, shape: tuple[int, ...], backend: str, requires_grad: builtins.bool) -> Tensor:
    """Inverse of :meth:`Tensor.__reduce_ex__`."""
    from .backends import get_backend

    be = get_backend(backend)
    dt = D.BY_NAME[dtype_name]
    t = _make(Tensor, be.from_bytes(raw, be.native_dtype(dt), shape), dt, be)
    t._requires_grad = requires_grad
    return t


def _has_tangent(t: Any) -> bool:
    return isinstance(t, Tensor) and t._extra is not None and "fw_grad" in t._extra


def _check_inplace_shape(t: Tensor, other_shape: tuple[int, ...]) -> None:
    shape = t._data.shape
    if other_shape == shape or not other_shape:
        return
    from ._ops._util import broadcast_shapes

    out = broadcast_shapes(shape, other_shape)
    if out != shape:
        raise RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape {list(out)}")


def _torch_type_name(dt: D.dtype) -> str:
    return D.scalar_type_name(dt)


def _canon_dim(dim: int, ndim: int) -> int:
    from ._ops._util import canon_dim

    return canon_dim(dim, ndim)


_fn._Tensor = Tensor

from ._ops import _util as _ops_util  # noqa: E402 - the ops need Tensor defined first

_ops_util._Tensor = Tensor

from ._ops import comparison as _comparison  # noqa: E402
from ._ops import elementwise as _ew  # noqa: E402
from ._ops import indexing as _indexing  # noqa: E402
from ._ops import linalg as _linalg  # noqa: E402
from ._ops import other as _other  # noqa: E402
from ._ops import random as _random  # noqa: E402
from ._ops import reduction as _reduction  # noqa: E402
from ._ops import scatter as _scatter  # noqa: E402
from ._ops import shape as _shape  # noqa: E402
from ._ops import sorting as _sorting  # noqa: E402


# ---- storage basics (issue 17)
def _data_ptr(backend: Any, data: Any) -> int:
    """The address of ``data``'s first element (see :meth:`Tensor.data_ptr`)."""
    if backend.has_kernel("data_ptr"):
        return int(backend.data_ptr(data))
    for attr in ("__array_interface__", "__cuda_array_interface__"):
        iface = getattr(data, attr, None)
        if isinstance(iface, dict) and isinstance(iface.get("data"), tuple):
            return int(iface["data"][0])
    return id(data)


class UntypedStorage:
    """What :meth:`Tensor.untyped_storage` returns: the bytes a tensor's storage spans (read-only facts)."""

    __slots__ = ("_ptr", "_nbytes", "device")

    def __init__(self, ptr: int, nbytes: int, device: Any) -> None:
        self._ptr = ptr
        self._nbytes = nbytes
        self.device = device

    def data_ptr(self) -> int:
        return self._ptr

    def nbytes(self) -> int:
        return self._nbytes

    def size(self) -> int:
        return self._nbytes

    def __len__(self) -> int:
        return self._nbytes

    def __repr__(self) -> str:
        return f"plugrad.UntypedStorage(data_ptr={self._ptr:#x}, nbytes={self._nbytes}, device={self.device})"
