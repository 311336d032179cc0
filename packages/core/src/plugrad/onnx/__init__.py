"""``plugrad.onnx``: importable as ``torch.onnx`` is; exporting is not supported.

Programs often ``import torch.onnx`` at the top for an export they rarely reach. The import
works; :func:`export` and :func:`dynamo_export` raise :class:`OnnxExporterError` saying that
plugrad cannot export ONNX graphs (save the ``state_dict()`` with :func:`plugrad.save`
instead, which PyTorch loads, and export from PyTorch).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OnnxExporterError", "export", "dynamo_export", "is_in_onnx_export"]

_MESSAGE = (
    "plugrad.onnx.{name}: exporting to ONNX is not supported by plugrad. Save the model's state_dict() with "
    "plugrad.save(model.state_dict(), 'model.pt') (PyTorch's format), load it into the same model in PyTorch "
    "and export from there."
)


class OnnxExporterError(RuntimeError):
    """Raised by :func:`export`: plugrad has no ONNX exporter."""


def export(model: Any, args: Any = (), f: Any = None, *positional: Any, **kwargs: Any) -> Any:
    """Not supported: raises :class:`OnnxExporterError`."""
    raise OnnxExporterError(_MESSAGE.format(name="export"))


def dynamo_export(model: Any, *args: Any, **kwargs: Any) -> Any:
    """Not supported: raises :class:`OnnxExporterError`."""
    raise OnnxExporterError(_MESSAGE.format(name="dynamo_export"))


def is_in_onnx_export() -> bool:
    """Whether an ONNX export is running: never in plugrad."""
    return False
