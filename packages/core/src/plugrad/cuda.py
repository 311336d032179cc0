"""``plugrad.cuda``: is a CUDA backend available, and its device count.

plugrad's CUDA tensors come from a backend plugin of device type ``"cuda"`` (the
first-party one is ``plugrad-backend-cupy``). Each CUDA backend uses device 0.
"""

from __future__ import annotations

from .backends import get_registry

__all__ = [
    "is_available",
    "is_bf16_supported",
    "device_count",
    "current_device",
    "unavailable_reason",
    "manual_seed",
    "manual_seed_all",
]


def is_available() -> bool:
    """Whether a backend of device type ``"cuda"`` is installed and can run here."""
    reg = get_registry()
    reg.ensure_loaded()
    return any(be.device_type == "cuda" for be in reg.backends.values())


def device_count() -> int:
    """The number of CUDA devices plugrad can use: 1 when a CUDA backend is available, else 0."""
    return 1 if is_available() else 0


def current_device() -> int:
    """The index of the current CUDA device (always 0)."""
    if not is_available():
        raise RuntimeError(f"no CUDA device is available to plugrad: {unavailable_reason()}")
    return 0


def unavailable_reason() -> str | None:
    """Why :func:`is_available` is false (``None`` when it is true), e.g. ``"cupy: cupy not installed"``."""
    reg = get_registry()
    reg.ensure_loaded()
    if is_available():
        return None
    reasons = [f"{i.name}: {i.reason}" for i in reg.infos.values() if i.device_type == "cuda"]
    if reasons:
        return "; ".join(reasons)
    return "no CUDA backend is installed (pip install 'plugrad-backend-cupy[cuda12]')"


def manual_seed(seed: int) -> None:
    """Seed the random generators of the CUDA backends."""
    reg = get_registry()
    reg.ensure_loaded()
    for be in reg.backends.values():
        if be.device_type == "cuda":
            be.random_seed(int(seed))


manual_seed_all = manual_seed


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether a CUDA backend is available and stores ``bfloat16`` tensors."""
    if not is_available():
        return False
    from . import _dtype

    bf16 = getattr(_dtype, "bfloat16", None)
    reg = get_registry()
    return any(be.device_type == "cuda" and bf16 in be.dtype_to_native for be in reg.backends.values())


from ._lazy import lazy_module as _lazy_module  # noqa: E402

#: ``plugrad.cuda.amp.autocast`` / ``GradScaler``: PyTorch's deprecated spellings of :mod:`plugrad.amp`.
amp = _lazy_module(__name__ + ".amp", "plugrad.amp._legacy")
