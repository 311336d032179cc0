"""``plugrad.autocast``: a region where some ops may compute in a lower precision.

The state is per thread, per device type: whether autocast is on and its dtype. Ops that
PyTorch runs in the lower precision under autocast (matrix products, linear layers,
convolutions) read it through :func:`is_autocast_enabled` and :func:`get_autocast_dtype`.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from .. import _dtype as D
from .._autocast_state import ACTIVE  # enabled regions open in any thread (the op layer's check)

__all__ = ["autocast", "autocast_inputs", "get_autocast_dtype", "is_autocast_available", "is_autocast_enabled"]

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    def __init__(self) -> None:
        self.enabled: dict[str, bool] = {}
        self.dtype: dict[str, D.dtype] = {}
        self.cache_enabled = True


_STATE = _State()
_NOTED: set[str] = set()


def _lower_dtype(name: str) -> D.dtype | None:
    found = getattr(D, name, None)
    return found if isinstance(found, D.dtype) else None


def _default_dtype(device_type: str) -> D.dtype | None:
    return _lower_dtype("float16") if device_type == "cuda" else _lower_dtype("bfloat16")


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast can be turned on for ``device_type`` (``"cpu"``, ``"cuda"``) on this machine."""
    if device_type == "cuda":
        from .. import cuda

        return cuda.is_available()
    return device_type == "cpu"


def is_autocast_enabled(device_type: str | None = None) -> bool:
    """Whether an enabled :class:`autocast` region for ``device_type`` (default ``"cuda"``) is active."""
    return _STATE.enabled.get(device_type or "cuda", False)


def get_autocast_dtype(device_type: str) -> D.dtype:
    """The dtype autocast uses on ``device_type`` (float16 on CUDA, bfloat16 on the CPU by default)."""
    found = _STATE.dtype.get(device_type)
    if found is not None:
        return found
    return _default_dtype(device_type) or D.float32


def _backend_has(device_type: str, dt: D.dtype) -> bool:
    """Whether the default backend of ``device_type`` stores ``dt``."""
    try:
        from .._device import backend_for_device

        return dt in backend_for_device(device_type).dtype_to_native
    except Exception:
        return False


class autocast:
    """Run a region with some ops in a lower precision (a context manager and a decorator).

    :param device_type: ``"cuda"`` or ``"cpu"`` (an index such as ``"cuda:0"`` is rejected, as PyTorch).
    :param dtype: the lower precision; ``None`` picks float16 on CUDA, bfloat16 on the CPU.
    :param enabled: ``False`` makes the region a no-op.
    :param cache_enabled: whether casted weights may be cached inside the region.

    As PyTorch: CUDA autocast without a CUDA device warns and is disabled; CPU autocast
    with a dtype other than bfloat16/float16 warns and is disabled. plugrad adds one case:
    a CPU backend without the requested dtype disables the region with a one-time
    ``UserWarning``.
    """

    def __init__(
        self,
        device_type: str,
        dtype: D.dtype | None = None,
        enabled: bool = True,
        cache_enabled: bool | None = None,
    ) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if ":" in device_type or device_type not in ("cpu", "cuda"):
            from .._device import device as _device

            _device(device_type)  # PyTorch's error for an unknown device string
            raise RuntimeError(
                f"User specified an unsupported autocast device_type '{device_type}'"
                if ":" not in device_type
                else f"autocast expects a device type without an index, got '{device_type}'"
            )
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast(): enabled must be a bool, got {type(enabled).__name__}")
        if dtype is not None and not isinstance(dtype, D.dtype):
            raise TypeError(f"autocast(): dtype must be a plugrad.dtype, got {type(dtype).__name__}")
        if cache_enabled is not None and not isinstance(cache_enabled, bool):
            raise TypeError(f"autocast(): cache_enabled must be a bool, got {type(cache_enabled).__name__}")
        self.device = device_type
        self.fast_dtype: D.dtype | None = dtype if dtype is not None else _default_dtype(device_type)
        self._cache_enabled = True if cache_enabled is None else cache_enabled
        self._enabled = enabled
        if not enabled:
            return
        if device_type == "cuda":
            if not is_autocast_available("cuda"):
                warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.", stacklevel=2)
                self._enabled = False
            elif self.fast_dtype is not None and not self.fast_dtype.is_floating_point:
                raise RuntimeError(f"autocast(): dtype {self.fast_dtype!r} is not a floating-point type")
            return
        supported = [d for d in (_lower_dtype("bfloat16"), _lower_dtype("float16")) if d is not None]
        if dtype is not None and dtype not in supported:
            warnings.warn(
                "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.",
                stacklevel=2,
            )
            self._enabled = False
            return
        if self.fast_dtype is None or not _backend_has("cpu", self.fast_dtype):
            wanted = "bfloat16" if self.fast_dtype is None else self.fast_dtype.name
            if wanted not in _NOTED:
                _NOTED.add(wanted)
                warnings.warn(
                    f"plugrad.autocast('cpu'): the CPU backend has no {wanted}, so autocast regions run in "
                    "the tensors' own precision (a no-op); results are those of full precision",
                    UserWarning,
                    stacklevel=2,
                )
            self._enabled = False

    def __enter__(self) -> autocast:
        st = _STATE
        self._prev = (st.enabled.get(self.device, False), st.dtype.get(self.device), st.cache_enabled)
        st.enabled[self.device] = self._enabled
        if self.fast_dtype is not None:
            st.dtype[self.device] = self.fast_dtype
        st.cache_enabled = self._cache_enabled
        if self._enabled:
            ACTIVE[0] += 1
        return self

    def __exit__(self, *exc: object) -> None:
        st = _STATE
        enabled, dt, cache = self._prev
        st.enabled[self.device] = enabled
        if dt is None:
            st.dtype.pop(self.device, None)
        else:
            st.dtype[self.device] = dt
        st.cache_enabled = cache
        if self._enabled:
            ACTIVE[0] -= 1

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device, self.fast_dtype, self._enabled, self._cache_enabled):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def autocast_inputs(*tensors: Any) -> tuple[Any, ...]:
    """The inputs of an op that autocast runs in lower precision (matmul, linear, conv ...), cast as PyTorch does.

    Inside an enabled :class:`autocast` region for the tensors' device type, every
    floating-point tensor not already of the autocast dtype is cast to it (``.to(dtype)``,
    differentiable); other values pass through. Outside a region the inputs come back
    unchanged. This is the hook the op layer calls; it never changes a tensor in place.
    """
    from .._tensor import Tensor

    st = _STATE
    if not any(st.enabled.values()):
        return tensors
    out = []
    for t in tensors:
        if isinstance(t, Tensor) and t.dtype.is_floating_point:
            device_type = t.device.type
            if st.enabled.get(device_type, False):
                target = get_autocast_dtype(device_type)
                if t.dtype is not target:
                    t = t.to(target)
        out.append(t)
    return tuple(out)
