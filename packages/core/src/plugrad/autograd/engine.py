"""The backward engine: iterative, dependency-counted, one pass per call.

1. Walk the graph from the roots with an explicit stack, counting for every node how
   many edges point at it (its dependencies).
2. Start from the roots' gradients. A node runs once all its dependencies delivered
   their gradients (summed per output slot); its results flow along its edges.
3. After a node ran, its saved tensors are freed unless ``retain_graph``, and its
   gradient buffer is dropped, so memory falls as the pass proceeds.

No recursion anywhere: a chain of a million nodes needs no more stack than one node.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _compile_state
from . import function as _fn
from .function import AccumulateGrad, Node
from .grad_mode import _state as _grad_state

if TYPE_CHECKING:
    from .._tensor import Tensor

__all__ = ["run_backward"]


def _check_nan(node: Node, grads: Sequence[Tensor | None]) -> None:
    for i, g in enumerate(grads):
        if g is not None and bool(g.isnan().any()):
            trace = "".join(node._trace) if node._trace else "(no trace recorded)\n"
            raise RuntimeError(
                f"Function '{node.name()}' returned nan values in its {i}th output.\n"
                f"The forward call that created this node was:\n{trace}"
            )


def run_backward(
    roots: Sequence[tuple[Node, int, Tensor]],
    *,
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[tuple[Node, int]] | None = None,
    accumulate: bool = True,
    fresh_roots: bool = False,
) -> list[Tensor | None]:
    """Propagate gradients from ``roots`` (``(node, output_nr, grad)``) through the graph.

    :param inputs: edges whose incoming gradient is wanted. With ``accumulate=False``
        (``autograd.grad``) their gradients are returned and no ``.grad`` is touched;
        with ``accumulate=True`` and ``inputs`` given (``backward(inputs=...)``) only
        those leaves accumulate.
    :param fresh_roots: the root gradients were made by plugrad for this call (so a
        leaf may keep one as its ``.grad`` without a copy).
    :returns: the gradient captured for each of ``inputs`` (``None`` if none reached it).
    """
    # -- 1. dependency counts -----------------------------------------------------
    deps: dict[Node, int] = {}
    stack: list[Node] = []
    for node, _, _ in roots:
        if node not in deps:
            deps[node] = 0
            stack.append(node)
    while stack:
        node = stack.pop()
        for nxt in node._next[::2]:
            if nxt is None:
                continue
            if nxt in deps:
                deps[nxt] += 1
            else:
                deps[nxt] = 1
                stack.append(nxt)

    if _compile_state.ACTIVE[0] is not None:
        _compile_state.ACTIVE[0].note_backward(deps)

    capture: dict[tuple[Node, int], int] | None = None
    captured: list[Tensor | None] = []
    needed: set[Node] | None = None
    if inputs is not None:
        capture = {}
        for i, (node, nr) in enumerate(inputs):
            capture.setdefault((node, nr), i)
        captured = [None] * len(inputs)
        needed = _needed_nodes(deps, roots, {node for node, _ in inputs})

    # -- 2. execute -----------------------------------------------------------------
    buffers: dict[Node, list[Any]] = {}
    ready: list[Node] = []
    # gradients that are not the engine's alone (passed in, or sent along two edges): id -> a weak
    # reference, so a later gradient that reuses a dead one's id is not taken for it
    root_grads: dict[int, Any] = {}
    for node, nr, grad in roots:
        if not fresh_roots:  # a gradient the caller passed in may be referenced elsewhere
            root_grads[id(grad)] = weakref.ref(grad)
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * node._num_outputs
        buf[nr] = grad if buf[nr] is None else buf[nr] + grad
    for node in buffers:
        if deps[node] == 0:
            ready.append(node)

    prev_mode = _grad_state.enabled
    _grad_state.enabled = create_graph
    check_nan = _fn.anomaly.enabled and _fn.anomaly.check_nan
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            if grads is None:
                grads = [None] * node._num_outputs
            if node._tensor_pre_hooks is not None:
                grads = _run_tensor_pre_hooks(node, grads)
            if node._pre_hooks is not None:
                for hook in node._pre_hooks:
                    res = hook(tuple(grads))
                    if res is not None:
                        grads = list(res)
            if capture is not None:
                for nr in range(len(grads)):
                    slot = capture.get((node, nr))
                    if slot is not None:
                        captured[slot] = grads[nr]
            if node.__class__ is AccumulateGrad:
                g = grads[0]
                if g is not None and accumulate and (needed is None or node in needed):
                    # fresh: the engine made g and hands it to this leaf alone (see _accumulate)
                    shared = root_grads.get(id(g))
                    node._accumulate(g, fresh=shared is None or shared() is not g)
                    if node._hooks is not None:
                        for hook in node._hooks:
                            hook((), (g,))
                continue
            out: Sequence[Tensor | None] | None = None
            if needed is None or node in needed:
                for g in grads:
                    if g is not None:
                        out = node.apply(grads)
                        if check_nan:
                            _check_nan(node, out)
                        if node._hooks is not None:
                            for hook in node._hooks:
                                res = hook(tuple(out), tuple(grads))
                                if res is not None:
                                    out = list(res)
                        break
            if not retain_graph:
                node._release()
            edges = node._next
            n_edges = len(edges)
            shared_check = out is not None and n_edges > 2
            seen: set[int] | None = None
            for k in range(0, n_edges, 2):
                nxt = edges[k]
                if nxt is None:
                    continue
                g = out[k >> 1] if out is not None else None
                if g is not None:
                    if shared_check:
                        # The same gradient object sent along two edges (AddBackward0 does
                        # this) must not become two leaves' .grad: mark it as shared.
                        if seen is None:
                            seen = set()
                        gid = id(g)
                        if gid in seen:
                            root_grads[gid] = weakref.ref(g)
                        seen.add(gid)
                    nr = edges[k + 1]
                    buf = buffers.get(nxt)
                    if buf is None:
                        buf = buffers[nxt] = [None] * nxt._num_outputs
                    prev = buf[nr]
                    buf[nr] = g if prev is None else prev + g
                d = deps[nxt] - 1
                deps[nxt] = d
                if d == 0:
                    ready.append(nxt)
    finally:
        _grad_state.enabled = prev_mode
    return captured


def _run_tensor_pre_hooks(node: Node, grads: list[Any]) -> list[Any]:
    hooks = node._tensor_pre_hooks
    assert hooks is not None
    for nr, fns in hooks.items():
        for fn in list(fns):
            g = grads[nr]
            if g is None:
                continue
            res = fn(g)
            if res is not None:
                _check_hook_result(fn, g, res)
                grads[nr] = res
    return grads


def _check_hook_result(fn: Any, g: Tensor, res: Any) -> None:
    """A tensor hook may replace the gradient, but not with another kind, size or dtype (PyTorch's errors)."""
    if not isinstance(res, _fn._Tensor):
        raise TypeError(f"expected Tensor, but hook returned '{type(res).__name__}'")
    name = getattr(fn, "__name__", repr(fn))
    if res._data.shape != g._data.shape:
        raise RuntimeError(
            f"hook '{name}' has changed the size of value (was {list(g._data.shape)}, got {list(res._data.shape)})"
        )
    if res._dtype is not g._dtype:
        raise RuntimeError(f"hook '{name}' has changed the type of value (was {g._dtype!r}, got {res._dtype!r})")


def _needed_nodes(deps: dict[Node, int], roots: Sequence[tuple[Node, int, Any]], targets: set[Node]) -> set[Node]:
    """Nodes on some path from a root to a target (iterative post-order)."""
    needed: set[Node] = set()
    state: dict[Node, int] = {}
    for root, _, _ in roots:
        if root in state:
            continue
        stack: list[tuple[Node, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            edges = node._next
            if i < len(edges):
                stack[-1] = (node, i + 2)
                nxt = edges[i]
                if nxt is not None and nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                continue
            stack.pop()
            if node in targets or any(e in needed for e in edges[::2] if e is not None):
                needed.add(node)
    return needed
