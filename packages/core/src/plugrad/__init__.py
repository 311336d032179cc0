"""plugrad: a small, readable autograd framework with PyTorch's API and pluggable backends.

``import plugrad as torch`` and everyday PyTorch tensor code runs: tensors with
reverse-mode automatic differentiation, grad modes, custom ``Function``s. Array
kernels come from backend plugins (``plugrad-backend-numpy``, ``plugrad-backend-cupy``,
or a third party's), found through the ``plugrad`` entry-point group.
"""

from __future__ import annotations

import builtins as _builtins
import typing as _typing

# plugrad.nn and plugrad.optim ship from their own distributions into this package. (This
# spelling of extend_path is the one documentation tools recognise: the API reference
# built by mkdocstrings/griffe then finds plugrad.nn and plugrad.optim in their own folders.)
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from . import _lazy, autograd, backends, cuda, linalg, return_types
from ._creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    get_default_device,
    get_rng_state,
    initial_seed,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_default_device,
    set_rng_state,
    tensor,
    zeros,
    zeros_like,
)
from ._device import device
from ._dtype import (
    bfloat16,
    dtype,
    finfo,
    float16,
    float32,
    float64,
    get_default_dtype,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from ._dtype import (
    bool_ as bool,
)
from ._generator import Generator, default_generator
from ._interop import from_dlpack, from_numpy
from ._ops._derive import FUNCTIONS as _CATALOGUE_FUNCTIONS
from ._ops.comparison import allclose, isclose
from ._ops.random import bernoulli, multinomial, normal, poisson
from ._ops.reduction import (
    max,
    min,
    std_mean,
    var_mean,
)
from ._ops.scatter import (
    masked_fill,
    scatter,
)
from ._ops.shape import (
    broadcast_to,
    split,
)
from ._ops.sorting import sort
from ._size import Size
from ._tensor import Tensor
from ._tensor_str import set_printoptions
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .autograd.grad_mode import is_inference_mode_enabled
from .serialization import load, save

# the op catalogue's functions (plugrad.exp, plugrad.erf, ..., with out=): one row each in _ops/catalogue.py
globals().update(_CATALOGUE_FUNCTIONS)

float = float32
double = float64
half = float16
long = int64
int = int32
short = int16


def is_tensor(obj: object) -> _builtins.bool:
    """Whether ``obj`` is a plugrad tensor."""
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> _builtins.int:
    """Number of elements of ``input``."""
    return input.numel()


def is_floating_point(input: Tensor) -> _builtins.bool:
    """Whether ``input``'s dtype is a floating-point one (``input.is_floating_point()``)."""
    return input.is_floating_point()


def _legacy_ctor(dtype_: dtype, name: str) -> object:
    from ._creation import _backend_for, _from_data
    from ._tensor import _make

    class _Legacy(type):
        def __instancecheck__(cls, obj: object) -> _builtins.bool:
            return isinstance(obj, Tensor) and obj.dtype is dtype_

    def __new__(cls: type, *args: object, device: object = None) -> Tensor:
        be = _backend_for(device)
        if (len(args) == 1 and isinstance(args[0], (list, tuple, Tensor))) or (
            len(args) == 1 and isinstance(args[0], _builtins.float)
        ):
            return _from_data(args[0], dtype_, be)
        if _builtins.all(isinstance(a, _builtins.int) and not isinstance(a, _builtins.bool) for a in args):
            return _make(Tensor, be.empty(tuple(args), be.native_dtype(dtype_)), dtype_, be)
        raise TypeError(f"{name}(): invalid arguments {args!r}")

    return _Legacy(name, (), {"__new__": __new__, "__doc__": f"Legacy constructor of {dtype_!r} tensors."})


FloatTensor = _legacy_ctor(float32, "FloatTensor")
DoubleTensor = _legacy_ctor(float64, "DoubleTensor")
LongTensor = _legacy_ctor(int64, "LongTensor")
IntTensor = _legacy_ctor(int32, "IntTensor")
BoolTensor = _legacy_ctor(bool, "BoolTensor")

__version__ = "0.1.0"


def __getattr__(name: str) -> _typing.Any:
    """Subpackages (``plugrad.nn``, ``plugrad.optim``, ``plugrad.utils``, ...) and a few names, loaded on first use."""
    return _lazy.load(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_lazy.names()))


# The public API (also what type checkers treat as re-exported).
__all__ = [
    "BoolTensor",
    "DoubleTensor",
    "FloatTensor",
    "IntTensor",
    "LongTensor",
    "Size",
    "Tensor",
    "allclose",
    "arange",
    "as_tensor",
    "autograd",
    "backends",
    "bool",
    "broadcast_to",
    "cuda",
    "device",
    "double",
    "dtype",
    "empty",
    "empty_like",
    "enable_grad",
    "eye",
    "float",
    "float16",
    "bfloat16",
    "finfo",
    "iinfo",
    "float32",
    "float64",
    "from_dlpack",
    "from_numpy",
    "full",
    "full_like",
    "get_default_device",
    "get_default_dtype",
    "half",
    "inference_mode",
    "int",
    "int16",
    "int32",
    "int64",
    "int8",
    "is_floating_point",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_tensor",
    "isclose",
    "linalg",
    "linspace",
    "load",
    "long",
    "manual_seed",
    "Generator",
    "default_generator",
    "bernoulli",
    "multinomial",
    "normal",
    "poisson",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "randint_like",
    "masked_fill",
    "max",
    "min",
    "no_grad",
    "numel",
    "ones",
    "ones_like",
    "promote_types",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "randperm",
    "return_types",
    "save",
    "scatter",
    "serialization",
    "set_default_device",
    "set_default_dtype",
    "set_grad_enabled",
    "set_printoptions",
    "short",
    "sort",
    "split",
    "std_mean",
    "tensor",
    "uint8",
    "var_mean",
    "zeros",
    "zeros_like",
]
__all__ += sorted(_CATALOGUE_FUNCTIONS)
