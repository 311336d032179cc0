"""``plugrad.amp.GradScaler``: dynamic loss scaling, on any device.

Training in float16 loses small gradients to underflow. The scaler multiplies the loss
by a large factor ``S`` before ``backward()`` and divides the gradients by ``S`` before
the optimizer's step; steps whose gradients hold an inf or a NaN are skipped. The scale
adapts: after an overflow ``S <- S * backoff_factor``; after ``growth_interval``
consecutive clean steps ``S <- S * growth_factor``.
"""

from __future__ import annotations

import enum
import struct
import warnings
from collections.abc import Iterable
from typing import Any

__all__ = ["GradScaler", "OptState"]


class OptState(enum.Enum):
    """Where an optimizer is in the current iteration: ``READY``, gradients ``UNSCALED``, or ``STEPPED``."""

    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _f32(x: float) -> float:
    """``x`` rounded to float32 (PyTorch keeps the scale in a float32 tensor)."""
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


class GradScaler:
    """Scale the loss, unscale the gradients, skip steps with inf/NaN gradients, adapt the scale.

    :param device: ``"cuda"`` (PyTorch's default) or ``"cpu"``; a CUDA scaler without a CUDA
        device warns and is disabled, as PyTorch.
    :param init_scale: the first scale factor ``S``.
    :param growth_factor: ``S`` is multiplied by it after ``growth_interval`` clean steps (> 1).
    :param backoff_factor: ``S`` is multiplied by it after a step with inf/NaN gradients (< 1).
    :param growth_interval: the number of consecutive clean steps before growing.
    :param enabled: ``False`` makes every method a pass-through (``scale`` returns its input).

    Typical use::

        scaler = plugrad.amp.GradScaler("cpu")
        loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # unscales, skips the step on inf/NaN
        scaler.update()
    """

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        self._device = str(device)
        self._enabled = bool(enabled)
        if self._enabled and self._device.split(":")[0] == "cuda":
            from .. import cuda

            if not cuda.is_available():
                warnings.warn(
                    "plugrad.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.", stacklevel=2
                )
                self._enabled = False
        if self._enabled:
            if not growth_factor > 1.0:
                raise ValueError("The growth factor must be > 1.0.")
            if not backoff_factor < 1.0:
                raise ValueError("The backoff factor must be < 1.0.")
            if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) or growth_interval <= 0:
                raise ValueError(f"growth_interval must be a positive int, got {growth_interval!r}")
        self._init_scale = float(init_scale)
        self._scale: float | None = None
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._init_growth_tracker = 0
        self._growth_tracker: int | None = None
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    # ------------------------------------------------------------------ helpers
    def _lazy_init(self) -> None:
        if self._scale is None:
            self._scale = _f32(self._init_scale)
            self._growth_tracker = self._init_growth_tracker

    def _opt_state(self, optimizer: Any) -> dict[str, Any]:
        return self._per_optimizer.setdefault(id(optimizer), {"stage": OptState.READY, "found_inf": None})

    # ------------------------------------------------------------------ public API
    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or an iterable of them) multiplied by the scale factor."""
        from .._tensor import Tensor

        if not self._enabled:
            return outputs
        self._lazy_init()
        assert self._scale is not None
        factor = self._scale

        def apply(value: Any) -> Any:
            if isinstance(value, Tensor):
                return value * factor
            if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
                mapped = [apply(v) for v in value]
                return tuple(mapped) if isinstance(value, tuple) else mapped
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply(outputs)

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and look for inf/NaN."""
        if not self._enabled:
            return
        import plugrad

        state = self._opt_state(optimizer)
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        self._lazy_init()
        assert self._scale is not None
        inv_scale = _f32(1.0 / self._scale)
        found_inf = False
        checked = 0
        with plugrad.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    if g.dtype is plugrad.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    checked += 1
                    if not bool(g.isfinite().all().item()):
                        found_inf = True
                    g.mul_(inv_scale)
        state["found_inf"] = found_inf if checked else None
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """Unscale (unless :meth:`unscale_` was called) and step ``optimizer`` unless a gradient is inf/NaN.

        Returns what ``optimizer.step`` returns, or ``None`` when the step was skipped.
        """
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        state = self._opt_state(optimizer)
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if state["found_inf"] is None:
            raise RuntimeError("No inf checks were recorded for this optimizer.")
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return result

    def update(self, new_scale: float | Any = None) -> None:
        """Adapt the scale after the step(s): back off after inf/NaN, grow after ``growth_interval`` clean steps.

        ``new_scale`` (a float or a one-element tensor) sets the scale directly instead.
        """
        if not self._enabled:
            return
        self._lazy_init()
        assert self._scale is not None and self._growth_tracker is not None
        if new_scale is not None:
            from .._tensor import Tensor

            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1:
                    raise ValueError("new_scale should be a float or a 1-element tensor with requires_grad=False.")
                new_scale = new_scale.item()
            self._scale = _f32(float(new_scale))
        else:
            found = [s["found_inf"] for s in self._per_optimizer.values() if s["found_inf"] is not None]
            if not found:
                raise RuntimeError("No inf checks were recorded prior to update.")
            if any(found):
                self._scale = _f32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale = _f32(self._scale * self._growth_factor)
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def get_scale(self) -> float:
        """The current scale factor (1.0 when disabled)."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else self._scale

    def get_growth_factor(self) -> float:
        """The factor the scale is multiplied by after ``growth_interval`` steps without inf/NaN gradients."""
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        """Set the growth factor (see :meth:`get_growth_factor`) to ``new_factor``."""
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self) -> float:
        """The factor the scale is multiplied by when a step finds inf/NaN gradients (and is skipped)."""
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        """Set the backoff factor (see :meth:`get_backoff_factor`) to ``new_factor``."""
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self) -> int:
        """The number of consecutive steps without inf/NaN gradients after which the scale grows."""
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        """Set the growth interval (see :meth:`get_growth_interval`) to ``new_interval``."""
        self._growth_interval = int(new_interval)

    def is_enabled(self) -> bool:
        """Whether the scaler acts (``False`` when built disabled, or a CUDA scaler without CUDA)."""
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """``scale``, ``growth_factor``, ``backoff_factor``, ``growth_interval``, ``_growth_tracker`` ({} when disabled)."""
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError(
                "The source state dict is empty, possibly because it was saved from a disabled instance of GradScaler."
            )
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._scale = _f32(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker
