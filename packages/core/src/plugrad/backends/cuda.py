"""``plugrad.backends.cuda``: PyTorch's cuBLAS and attention switches.

``matmul.allow_tf32`` mirrors :func:`plugrad.set_float32_matmul_precision` as in PyTorch
(``True`` is precision ``"high"``, ``False`` is ``"highest"``). The flags are checked and
kept; plugrad's kernels compute in the precision of their inputs either way.
"""

from __future__ import annotations

from typing import Any

from . import _flags

__all__ = [
    "matmul",
    "is_built",
    "preferred_linalg_library",
    "flash_sdp_enabled",
    "enable_flash_sdp",
    "mem_efficient_sdp_enabled",
    "enable_mem_efficient_sdp",
    "math_sdp_enabled",
    "enable_math_sdp",
]


class cuBLASModule:
    """The object behind ``plugrad.backends.cuda.matmul``: only its known flags can be read or set."""

    _SETTERS = {
        "allow_tf32": "set_allow_tf32_cublas",
        "allow_fp16_reduced_precision_reduction": "set_allow_fp16_reduced_precision_reduction",
        "allow_bf16_reduced_precision_reduction": "set_allow_bf16_reduced_precision_reduction",
    }

    def __init__(self) -> None:
        object.__setattr__(
            self,
            "_values",
            {"allow_fp16_reduced_precision_reduction": True, "allow_bf16_reduced_precision_reduction": True},
        )

    def __getattr__(self, name: str) -> Any:
        if name == "allow_tf32":
            return _flags.get_float32_matmul_precision() != "highest"
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"Unknown attribute {name}")

    def __setattr__(self, name: str, value: Any) -> None:
        setter = self._SETTERS.get(name)
        if setter is None:
            raise AttributeError(f"Unknown attribute {name}")
        value = _flags.check_bool(setter, value)
        if name == "allow_tf32":
            _flags.set_float32_matmul_precision("high" if value else "highest")
        else:
            self._values[name] = value


#: ``matmul.allow_tf32``, ``matmul.allow_fp16_reduced_precision_reduction``, ``matmul.allow_bf16_reduced_precision_reduction``.
matmul = cuBLASModule()

_SDP = {"flash": True, "mem_efficient": True, "math": True}


def is_built() -> bool:
    """Whether a CUDA backend plugin is installed (``plugrad-backend-cupy``), whether or not a GPU is present."""
    from ._registry import get_registry

    reg = get_registry()
    reg.ensure_loaded()
    return any(info.device_type == "cuda" for info in reg.infos.values())


def preferred_linalg_library(backend: Any = None) -> str:
    """The linear-algebra library preference: plugrad leaves it to the backend (``"default"``)."""
    return "default"


def flash_sdp_enabled() -> bool:
    """Whether the flash scaled-dot-product attention kernel may be used (a kept flag)."""
    return _SDP["flash"]


def enable_flash_sdp(enabled: bool) -> None:
    """Allow (``True``) or forbid the flash-attention kernel in ``scaled_dot_product_attention``."""
    _SDP["flash"] = _flags.check_bool("enable_flash_sdp", enabled)


def mem_efficient_sdp_enabled() -> bool:
    """Whether the memory-efficient attention kernel may be used (a kept flag)."""
    return _SDP["mem_efficient"]


def enable_mem_efficient_sdp(enabled: bool) -> None:
    """Allow (``True``) or forbid the memory-efficient kernel in ``scaled_dot_product_attention``."""
    _SDP["mem_efficient"] = _flags.check_bool("enable_mem_efficient_sdp", enabled)


def math_sdp_enabled() -> bool:
    """Whether the reference attention computation may be used (a kept flag)."""
    return _SDP["math"]


def enable_math_sdp(enabled: bool) -> None:
    """Allow (``True``) or forbid the plain math (matmul + softmax) path in ``scaled_dot_product_attention``."""
    _SDP["math"] = _flags.check_bool("enable_math_sdp", enabled)
