"""Reverse-mode automatic differentiation: ``backward``, ``grad``, ``Function``, grad modes.

The legacy ``Variable`` is kept for old code: ``Variable(t, requires_grad=True)``
returns a plain :class:`plugrad.Tensor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._dtype import Category as _Category
from . import forward_ad, functional, graph  # submodules, as torch.autograd.forward_ad etc.
from . import function as _function
from .engine import run_backward
from .function import AccumulateGrad, BackwardCFunction, Function, FunctionCtx, Node, once_differentiable
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

_FLOATING = _Category.FLOATING

if TYPE_CHECKING:
    from .._tensor import Tensor

__all__ = [
    "Function",
    "FunctionCtx",
    "Node",
    "AccumulateGrad",
    "BackwardCFunction",
    "Variable",
    "backward",
    "grad",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
    "once_differentiable",
    "gradcheck",
    "gradgradcheck",
    "GradcheckError",
    "forward_ad",
    "functional",
    "graph",
]


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """The legacy wrapper: returns ``data`` as a tensor (sharing it) with ``requires_grad`` set."""
    from .._tensor import Tensor

    if not isinstance(data, Tensor):
        raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
    if data._grad_fn is not None:
        t = data
    else:
        t = data._alias()
        t._base = None
    if requires_grad:
        t.requires_grad_(True)
    return t


def _as_tensors(x: Any, name: str) -> tuple[Any, ...]:
    from .._tensor import Tensor

    if isinstance(x, Tensor):
        return (x,)
    if x is None:
        return ()
    try:
        return tuple(x)
    except TypeError:
        raise TypeError(f"{name} must be a Tensor or a sequence of Tensors, got {type(x).__name__}") from None


def _make_roots(
    outputs: tuple[Any, ...], grad_outputs: tuple[Any, ...], create_graph: bool
) -> list[tuple[Node, int, Any]]:
    from .. import _creation
    from .._tensor import Tensor

    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(
            "grad can be implicitly created only for scalar outputs"
            if not grad_outputs
            else f"Mismatch in number of gradients and outputs: got {len(grad_outputs)} gradients for {len(outputs)} outputs"
        )
    roots: list[tuple[Node, int, Any]] = []
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__} at index {i}")
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        g = grad_outputs[i] if grad_outputs else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            if out._dtype.category is not _FLOATING:
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {out._dtype!r}"
                )
            g = _creation.ones_like(out)
        else:
            if not isinstance(g, Tensor):
                g = _creation.tensor(g, dtype=out._dtype, device=out._backend)
            if g._data.shape != out._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] has a shape of {out.shape}."
                )
            if g._backend is not out._backend:
                raise RuntimeError(f"invalid gradient at index {i} - expected device {out.device} but got {g.device}")
            if not create_graph and g._requires_grad:
                g = g.detach()
        node = out._grad_fn if out._grad_fn is not None else out._get_accumulator()
        roots.append((node, out._output_nr, g))
    return roots


def _input_edges(inputs: tuple[Any, ...]) -> list[tuple[Node, int]]:
    from .._tensor import Tensor

    edges: list[tuple[Node, int]] = []
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(t).__name__} at index {i}")
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        edges.append((t._grad_fn, t._output_nr) if t._grad_fn is not None else (t._get_accumulator(), 0))
    return edges


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    grad_variables: Any = None,
    inputs: Any = None,
) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of graph leaves.

    :param grad_tensors: the vectors of the vector-Jacobian products, one per tensor
        (``None`` allowed for one-element tensors).
    :param retain_graph: keep saved tensors for another backward (default: ``create_graph``).
    :param create_graph: record the backward pass itself, for higher-order derivatives.
    :param inputs: accumulate only into these tensors.
    """
    outputs = _as_tensors(tensors, "tensors")
    if grad_variables is not None:
        grad_tensors = grad_variables
    grads = _as_tensors(grad_tensors, "grad_tensors") if grad_tensors is not None else ()
    if retain_graph is None:
        retain_graph = create_graph
    roots = _make_roots(outputs, grads, create_graph)
    ins = _as_tensors(inputs, "inputs") if inputs is not None else None
    if ins is not None and len(ins) == 0:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    edges = _input_edges(ins) if ins is not None else None
    run_backward(roots, retain_graph=retain_graph, create_graph=create_graph, inputs=edges, accumulate=True)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused: bool | None = None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated.

    :param allow_unused: return ``None`` for inputs the outputs do not depend on
        (otherwise that is an error).
    :param materialize_grads: return zeros instead of ``None`` for unused inputs.
    """
    from .. import _creation

    outs = _as_tensors(outputs, "outputs")
    ins = _as_tensors(inputs, "inputs")
    if not ins:
        raise RuntimeError("grad requires non-empty inputs.")
    grads = _as_tensors(grad_outputs, "grad_outputs") if grad_outputs is not None else ()
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    roots = _make_roots(outs, grads, create_graph)
    edges = _input_edges(ins)
    captured = run_backward(roots, retain_graph=retain_graph, create_graph=create_graph, inputs=edges, accumulate=False)
    result: list[Tensor | None] = []
    for t, g in zip(ins, captured):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
            if materialize_grads:
                g = _creation.zeros_like(t)
        elif not create_graph and g._requires_grad:
            g = g.detach()
        result.append(g)
    return tuple(result)


def set_detect_anomaly(mode: bool, check_nan: bool = True) -> None:
    """Record where each node was created and raise when backward produces NaN."""
    _function.anomaly.enabled = bool(mode)
    _function.anomaly.check_nan = check_nan


def is_anomaly_enabled() -> bool:
    return _function.anomaly.enabled


class detect_anomaly:
    """Context manager enabling anomaly detection (see :func:`set_detect_anomaly`)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self.prev = (False, True)

    def __enter__(self) -> None:
        self.prev = (_function.anomaly.enabled, _function.anomaly.check_nan)
        set_detect_anomaly(True, self.check_nan)

    def __exit__(self, *exc: object) -> None:
        _function.anomaly.enabled, _function.anomaly.check_nan = self.prev
