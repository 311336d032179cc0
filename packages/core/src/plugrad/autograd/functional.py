"""Derivatives of whole functions: ``vjp``, ``jvp``, ``jacobian``, ``hessian``, ``vhp``, ``hvp``.

PyTorch's ``torch.autograd.functional`` API. ``func`` takes tensors and returns a tensor
or a tuple of tensors; ``inputs`` (and ``v``) are a tensor or a tuple of tensors. Results
mirror that nesting: a single tensor where ``func`` took (or returned) a single tensor,
tuples where it took (or returned) tuples. For ``f: R^n -> R^m`` with Jacobian ``J``:

============  ============================  =====================================
function      computes                      how
============  ============================  =====================================
``vjp``       ``v^T J``                     one reverse pass
``jvp``       ``J v``                       one forward pass with dual tensors
``jacobian``  ``J`` (shape ``out + in``)    ``m`` reverse passes, or ``n`` forward
``hessian``   ``H = d^2 f / dx^2``          the Jacobian of the gradient
``vhp``       ``v^T H``                     reverse over reverse
``hvp``       ``H v``                       forward over reverse
============  ============================  =====================================

By default results are detached; ``create_graph=True`` keeps them differentiable.
``strict=True`` raises where an output is independent of an input instead of returning
zeros. Differences from PyTorch: ``jvp`` and ``hvp`` use forward-mode AD (PyTorch uses
the double-backward trick; the values agree), plugrad has no ``vmap``, so
``vectorize=True`` computes the same rows one by one, and ``strategy="forward-mode"``
therefore works without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import forward_ad as fwad
from . import function as _function
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

if TYPE_CHECKING:
    from .._tensor import Tensor

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]

TensorOrTensors = Any  # Tensor | tuple[Tensor, ...]
_STRATEGIES = ("forward-mode", "reverse-mode")


# ----------------------------------------------------------------------- helpers
def _as_tuple(inp: Any, arg_name: str, fn_name: str) -> tuple[bool, tuple[Tensor, ...]]:
    """``(was it a tuple, the tensors as a tuple)``; PyTorch's error for anything else."""
    T = _function._Tensor
    is_tuple = isinstance(inp, tuple)
    items = inp if is_tuple else (inp,)
    for i, el in enumerate(items):
        if not isinstance(el, T):
            where = f"value at index {i}" if is_tuple else f"given {arg_name}"
            raise TypeError(
                f"The {arg_name} given to {fn_name} must be either a Tensor or a tuple of Tensors but the "
                f"{where} has type {type(el)}."
            )
    return is_tuple, items


def _unpack(res: Any, tuple_flags: bool | tuple[bool, bool]) -> Any:
    """Undo :func:`_as_tuple` on a result: drop the tuple levels the caller did not use.

    ``tuple_flags`` is one flag (a flat result) or ``(outer, inner)`` for a nested one.
    """
    if isinstance(tuple_flags, tuple):
        outer, inner = tuple_flags
        if not inner:
            res = tuple(el[0] for el in res)
        return res if outer else res[0]
    return res if tuple_flags else res[0]


def _preprocess(inputs: tuple[Tensor, ...], create_graph: bool, need_graph: bool) -> tuple[Tensor, ...]:
    """New tensor objects for ``func`` to see (so captured originals are told apart).

    With ``create_graph`` an input that requires grad stays connected to its graph;
    otherwise it is detached, and requires grad when ``need_graph``.
    """
    out: list[Tensor] = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))
        else:
            out.append(t.detach().requires_grad_(need_graph))
    return tuple(out)


def _postprocess(res: Any, create_graph: bool) -> Any:
    """Detach (nested tuples of) results unless the caller asked for a graph."""
    if create_graph:
        return res
    T = _function._Tensor
    if isinstance(res, T):
        return res.detach()
    return tuple(_postprocess(r, create_graph) for r in res)


def _validate_v(v: tuple[Tensor, ...], other: tuple[Tensor, ...], is_other_tuple: bool) -> None:
    if len(v) != len(other):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for i, (el_v, el_o) in enumerate(zip(v, other)):
        if el_v.size() != el_o.size():
            prefix = f"Entry {i} in " if is_other_tuple else ""
            raise RuntimeError(f"{prefix}v has invalid size: should be {el_o.size()} but got {el_v.size()}.")


def _check_requires_grad(tensors: Sequence[Tensor | None], kind: str, strict: bool) -> None:
    """In strict mode: every tensor must depend on the inputs (``requires_grad``)."""
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:
            raise RuntimeError(
                f"The output of the user-provided function is independent of input {i}. This is not allowed in strict mode."
            )
        if t.requires_grad:
            continue
        if kind == "hessian":
            raise RuntimeError(
                f"The hessian of the user-provided function with respect to input {i} is independent of the input. "
                "This is not allowed in strict mode. You should ensure that your function is thrice differentiable "
                "and that the hessian depends on the inputs."
            )
        if kind == "grad_inputs":
            raise RuntimeError(
                f"The gradient with respect to input {i} is independent of the inputs of the user-provided function. "
                "This is not allowed in strict mode."
            )
        if kind == "jacobian":
            raise RuntimeError(
                "While computing the hessian, found that the jacobian of the user-provided function with respect to "
                f"input {i} is independent of the input. This is not allowed in strict mode. You should ensure that "
                "your function is twice differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example)."
            )
        raise RuntimeError(
            f"Output {i} of the user-provided function does not require gradients. The outputs must be computed in "
            "a differentiable manner from the input when running in strict mode."
        )


def _grad(
    outputs: Sequence[Tensor | None],
    inputs: tuple[Tensor, ...],
    grad_outputs: Sequence[Tensor | None] | None = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
) -> tuple[Tensor | None, ...]:
    """``autograd.grad`` that skips outputs without a graph (all ``None`` if none has one)."""
    from . import grad

    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    outs: list[Tensor] = []
    gos: list[Tensor | None] = []
    for o, g in zip(outputs, grad_outputs):
        if o is not None and o.requires_grad:
            outs.append(o)
            gos.append(g)
    if not outs:
        return (None,) * len(inputs)
    return grad(outs, inputs, gos, retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)


_ZEROS_MSG = {
    "back": "The output of the user-provided function is independent of input {i}. This is not allowed in strict mode.",
    "double_back": "The jacobian of the user-provided function is independent of input {i}. This is not allowed in strict mode.",
    "forward": "The output {i} of the user-provided function is independent of the inputs. This is not allowed in strict mode.",
    "back_trick": "The gradient with respect to the input is independent of entry {i} in the grad_outputs when using the "
    "double backward trick to compute forward mode gradients. This is not allowed in strict mode.",
    "double_back_trick": "The hessian of the user-provided function is independent of entry {i} in the grad_jacobian. "
    "This is not allowed in strict mode as it prevents from using the double backward trick to replace forward mode AD.",
    "forward_over_back": "The hessian of the user-provided function is independent of input {i}. This is not allowed in "
    "strict mode.",
}


def _fill_in_zeros(
    grads: Sequence[Tensor | None], refs: Sequence[Tensor], strict: bool, create_graph: bool, stage: str
) -> tuple[Tensor, ...]:
    """Replace ``None`` (independent of the inputs) by zeros shaped like ``refs``, or raise when strict."""
    from .. import _creation

    res: list[Tensor] = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(_ZEROS_MSG[stage].format(i=i))
            g = _creation.zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            what = "hessian" if stage in ("double_back", "double_back_trick", "forward_over_back") else "jacobian"
            raise RuntimeError(
                f"The {what} of the user-provided function is independent of input {i}. "
                "This is not allowed in strict mode when create_graph=True."
            )
        res.append(g)
    return tuple(res)


def _stack(rows: list[Tensor], shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``rows`` stacked on a new first dimension; zeros of ``shape`` when there are none."""
    from .. import _creation
    from .._ops.shape import stack

    if not rows:
        return _creation.zeros(shape, dtype=like.dtype, device=like.device)
    return stack(rows)


def _basis(t: Tensor) -> list[Tensor]:
    """The standard basis vectors for ``t``: one-hot tensors shaped and typed like ``t``."""
    from .. import _creation

    n = t.numel()
    idx = _creation.arange(n, device=t.device)
    eye = (idx.unsqueeze(1) == idx).to(t.dtype)
    return [eye[j].view(t.shape) for j in range(n)]


# ------------------------------------------------------------------- public API
def _product(
    outputs: tuple[Tensor, ...],
    is_outputs_tuple: bool,
    ys: Any,
    xs: Any,
    vs: Any,
    like: tuple[Tensor, ...],
    is_result_tuple: bool,
    create_graph: bool,
    strict: bool,
    stage: str,
) -> tuple[Any, Any]:
    """The tail every vector-product function shares: ``(func's outputs, d ys / d xs . vs)``,
    unused inputs filled with zeros (or an error under ``strict``), packed as PyTorch packs them."""
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        res = _fill_in_zeros(_grad(ys, xs, vs, create_graph), like, strict, create_graph, stage)
    return _unpack(_postprocess(outputs, create_graph), is_outputs_tuple), _unpack(
        _postprocess(res, create_graph), is_result_tuple
    )


def vjp(
    func: Callable[..., Any],
    inputs: TensorOrTensors,
    v: TensorOrTensors = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """``(func(*inputs), v^T J)``: the vector-Jacobian product, by one reverse pass.

    :param v: one tensor per output of ``func``, shaped like it; may be left out when
        ``func`` returns a single one-element tensor.
    :returns: the outputs, and one vjp tensor per input (shaped like the input).
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "vjp")
        _check_requires_grad(outputs, "outputs", strict)
        vs: tuple[Tensor, ...] | None = None
        if v is not None:
            _, vs = _as_tuple(v, "v", "vjp")
            vs = _preprocess(vs, create_graph, need_graph=False)
            _validate_v(vs, outputs, is_outputs_tuple)
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError(
                "The vector v can only be None if the user-provided function returns a single Tensor with a single element."
            )
    return _product(
        outputs, is_outputs_tuple, outputs, inputs, vs, inputs, is_inputs_tuple, create_graph, strict, "back"
    )


def jvp(
    func: Callable[..., Any],
    inputs: TensorOrTensors,
    v: TensorOrTensors = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """``(func(*inputs), J v)``: the Jacobian-vector product, by one forward-mode pass.

    :param v: one tensor per input, shaped like it (the direction); may be left out when
        there is a single one-element input.
    :returns: the outputs, and one jvp tensor per output (shaped like the output).

    Where ``func`` uses a custom Function without ``jvp``, this falls back to PyTorch's
    double-backward trick (``func`` then runs a second time): ``J v = d/du <J^T u, v>``.
    """
    try:
        return _jvp_forward(func, inputs, v, create_graph, strict)
    except fwad._MissingJvp:
        return _jvp_double_backward(func, inputs, v, create_graph, strict)


def _jvp_direction(
    v: TensorOrTensors, inputs: tuple[Tensor, ...], is_inputs_tuple: bool, create_graph: bool
) -> tuple[Tensor, ...] | None:
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a single Tensor with a "
                "single element."
            )
        return None
    _, vs = _as_tuple(v, "v", "jvp")
    vs = _preprocess(vs, create_graph, need_graph=False)
    _validate_v(vs, inputs, is_inputs_tuple)
    return vs


def _jvp_forward(
    func: Callable[..., Any], inputs: TensorOrTensors, v: TensorOrTensors, create_graph: bool, strict: bool
) -> tuple[Any, Any]:
    from .. import _creation

    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _preprocess(inputs, create_graph, need_graph=strict)
        vs = _jvp_direction(v, inputs, is_inputs_tuple, create_graph) or (_creation.ones_like(inputs[0]),)
        with fwad.dual_level():
            duals = tuple(fwad.make_dual(x, t) for x, t in zip(inputs, vs))
            is_outputs_tuple, dual_outputs = _as_tuple(func(*duals), "outputs of the user-provided function", "jvp")
            _check_requires_grad(dual_outputs, "outputs", strict)
            pairs = [fwad.unpack_dual(o) for o in dual_outputs]
    outputs = tuple(p.primal for p in pairs)
    res = _fill_in_zeros([p.tangent for p in pairs], outputs, strict, create_graph, "forward")
    return _unpack(_postprocess(outputs, create_graph), is_outputs_tuple), _unpack(
        _postprocess(res, create_graph), is_outputs_tuple
    )


def _jvp_double_backward(
    func: Callable[..., Any], inputs: TensorOrTensors, v: TensorOrTensors, create_graph: bool, strict: bool
) -> tuple[Any, Any]:
    """``J v`` by reverse mode only: ``g(u) = J^T u`` is linear in ``u``, so ``J v = d/du <g(u), v>``."""
    from .. import _creation

    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        vs = _jvp_direction(v, inputs, is_inputs_tuple, create_graph)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jvp")
        _check_requires_grad(outputs, "outputs", strict)
        us = tuple(_creation.zeros_like(o).requires_grad_(True) for o in outputs)
        grad_inputs = _grad(outputs, inputs, us, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)
    return _product(
        outputs, is_outputs_tuple, grad_inputs, us, vs, outputs, is_outputs_tuple, create_graph, strict, "back_trick"
    )


def jacobian(
    func: Callable[..., Any],
    inputs: TensorOrTensors,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """The Jacobian of ``func`` at ``inputs``: ``J[i][j]`` has shape ``outputs[i].shape + inputs[j].shape``.

    Nesting: a tensor for one input and one output; a tuple over inputs (one output) or
    over outputs (one input); ``J[i][j]`` for several of both.

    :param strategy: ``"reverse-mode"`` takes one reverse pass per output element
        (best when outputs are few), ``"forward-mode"`` one forward pass per input
        element (best when inputs are few).
    :param vectorize: accepted for PyTorch compatibility; plugrad computes the same
        passes one by one.
    """
    if strategy not in _STRATEGIES:
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your function has more outputs '
            'than inputs, "forward-mode" tends to be more performant. Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                'torch.autograd.functional.jacobian: `create_graph=True` and `strategy="forward-mode"` are not '
                'supported together (yet). Please either set `create_graph=False` or `strategy="reverse-mode"`.'
            )
        return _jacfwd(func, inputs, strict)
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict)
        if vectorize and strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are not supported together. "
                "Please either set `strict=False` or `vectorize=False`."
            )
        from .. import _creation

        jac: list[tuple[Tensor, ...]] = []
        for i, out in enumerate(outputs):
            rows: list[list[Tensor]] = [[] for _ in inputs]
            flat = out.reshape(-1)
            for j in range(out.numel()):
                grads = _grad((flat[j],), inputs, retain_graph=True, create_graph=create_graph)
                for k, (g, inp) in enumerate(zip(grads, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(
                                f"Output {i} of the user-provided function is independent of input {k}. This is not "
                                "allowed in strict mode."
                            )
                        g = _creation.zeros_like(inp)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(
                            f"The jacobian of the user-provided function is independent of input {i}. This is not "
                            "allowed in strict mode when create_graph=True."
                        )
                    rows[k].append(g)
            jac.append(
                tuple(
                    _stack(r, (0, *tuple(inp.shape)), inp).view(tuple(out.shape) + tuple(inp.shape))
                    for r, inp in zip(rows, inputs)
                )
            )
        return _unpack(_postprocess(tuple(jac), create_graph), (is_outputs_tuple, is_inputs_tuple))


def _jacfwd(func: Callable[..., Any], inputs: TensorOrTensors, strict: bool) -> Any:
    """The Jacobian column by column: one forward pass per input element."""
    if strict:
        raise RuntimeError(
            'torch.autograd.functional.jacobian: `strict=True` and `strategy="forward-mode"` are not supported '
            'together (yet). Please either set `strict=False` or `strategy="reverse-mode"`.'
        )
    from .. import _creation

    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    primals = tuple(x.detach() for x in inputs)
    is_outputs_tuple = False
    outputs: tuple[Tensor, ...] = ()
    cols: list[list[list[Tensor]]] = []  # cols[k][i]: the columns of input k for output i
    for k, x in enumerate(primals):
        per_output: list[list[Tensor]] | None = None
        for e in _basis(x):
            with fwad.dual_level():
                args = tuple(fwad.make_dual(p, e) if m == k else p for m, p in enumerate(primals))
                is_outputs_tuple, outs = _as_tuple(func(*args), "outputs", "jacobian")
                pairs = [fwad.unpack_dual(o) for o in outs]
            outputs = tuple(p.primal for p in pairs)
            if per_output is None:
                per_output = [[] for _ in outputs]
            for i, p in enumerate(pairs):
                per_output[i].append(p.tangent if p.tangent is not None else _creation.zeros_like(p.primal))
        if per_output is None:  # an empty input: still run func once to learn the outputs
            is_outputs_tuple, outputs = _as_tuple(func(*primals), "outputs", "jacobian")
            per_output = [[] for _ in outputs]
        cols.append(per_output)
    jac: list[tuple[Tensor, ...]] = []
    for i, out in enumerate(outputs):
        entries: list[Tensor] = []
        for k, x in enumerate(primals):
            stacked = _stack(cols[k][i], (0, *tuple(out.shape)), out)  # (n_k, *out.shape)
            moved = stacked.permute(*range(1, stacked.dim()), 0)  # (*out.shape, n_k)
            entries.append(moved.reshape(tuple(out.shape) + tuple(x.shape)).detach())
        jac.append(tuple(entries))
    return _unpack(tuple(jac), (is_outputs_tuple, is_inputs_tuple))


def hessian(
    func: Callable[..., Any],
    inputs: TensorOrTensors,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The Hessian of a scalar ``func``: the Jacobian of its gradient.

    ``H[i][j]`` has shape ``inputs[i].shape + inputs[j].shape`` (a single tensor for a
    single input). The inner Jacobian (the gradient) is always reverse mode;
    ``outer_jacobian_strategy="forward-mode"`` differentiates it by forward mode
    (forward-over-reverse), one pass per input element.
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in _STRATEGIES:
        raise AssertionError('Expected strategy to be either "forward-mode" or "reverse-mode".')

    def scalar_func(*inp: Tensor) -> Tensor:
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(t_out, "outputs", strict)
        if is_out_tuple:
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.squeeze()  # type: ignore[no-any-return]

    def jac_func(*inp: Tensor) -> Any:
        if outer_jacobian_strategy == "forward-mode":
            inp = tuple(t.requires_grad_(True) for t in inp)  # so the inner jacobian keeps them attached
        jac = jacobian(scalar_func, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        return jac

    res = jacobian(
        jac_func,
        inputs,
        create_graph=create_graph,
        strict=strict,
        vectorize=vectorize,
        strategy=outer_jacobian_strategy,
    )
    return _unpack(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_output(
    func: Callable[..., Any], inputs: tuple[Tensor, ...], name: str, strict: bool
) -> tuple[bool, tuple[Tensor, ...]]:
    is_outputs_tuple, outputs = _as_tuple(func(*inputs), "outputs of the user-provided function", name)
    _check_requires_grad(outputs, "outputs", strict)
    if is_outputs_tuple:
        raise RuntimeError(f"The function given to {name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {name} should contain a single element")
    return is_outputs_tuple, outputs


def _direction(
    v: TensorOrTensors, inputs: tuple[Tensor, ...], is_inputs_tuple: bool, name: str, create_graph: bool
) -> tuple[Tensor, ...] | None:
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a single Tensor with a "
                "single element."
            )
        return None
    _, vs = _as_tuple(v, "v", name)
    vs = _preprocess(vs, create_graph, need_graph=False)
    _validate_v(vs, inputs, is_inputs_tuple)
    return vs


def vhp(
    func: Callable[..., Any],
    inputs: TensorOrTensors,
    v: TensorOrTensors = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """``(func(*inputs), v^T H)`` for a scalar ``func``: reverse mode over reverse mode."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        vs = _direction(v, inputs, is_inputs_tuple, "vhp", create_graph)
        is_outputs_tuple, outputs = _scalar_output(func, inputs, "vhp", strict)
        jac = _grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
    return _product(
        outputs, is_outputs_tuple, jac, inputs, vs, inputs, is_inputs_tuple, create_graph, strict, "double_back"
    )


def hvp(
    func: Callable[..., Any],
    inputs: TensorOrTensors,
    v: TensorOrTensors = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple[Any, Any]:
    """``(func(*inputs), H v)`` for a scalar ``func``: forward mode over reverse mode.

    The gradient is computed on dual inputs carrying ``v`` as tangent; its tangent is
    ``H v`` (one forward and one reverse pass). Equal to :func:`vhp` for the symmetric
    Hessians of twice continuously differentiable functions. Where ``func`` uses a
    custom Function without ``jvp``, this falls back to PyTorch's double-backward trick
    (``func`` then runs a second time).
    """
    try:
        return _hvp_forward_over_reverse(func, inputs, v, create_graph, strict)
    except fwad._MissingJvp:
        return _hvp_double_backward(func, inputs, v, create_graph, strict)


def _hvp_forward_over_reverse(
    func: Callable[..., Any], inputs: TensorOrTensors, v: TensorOrTensors, create_graph: bool, strict: bool
) -> tuple[Any, Any]:
    from .. import _creation

    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        vs = _direction(v, inputs, is_inputs_tuple, "hvp", create_graph) or (_creation.ones_like(inputs[0]),)
        with fwad.dual_level():
            duals = tuple(fwad.make_dual(x, t) for x, t in zip(inputs, vs))
            is_outputs_tuple, dual_out = _scalar_output(func, duals, "hvp", strict)
            jac = _grad(dual_out, duals, create_graph=create_graph or strict)
            _check_requires_grad(jac, "jacobian", strict)
            tangents = [fwad.unpack_dual(g).tangent if g is not None else None for g in jac]
            outputs = (fwad.unpack_dual(dual_out[0]).primal,)
    res = _fill_in_zeros(tangents, inputs, strict, create_graph, "forward_over_back")
    return _unpack(_postprocess(outputs, create_graph), is_outputs_tuple), _unpack(
        _postprocess(res, create_graph), is_inputs_tuple
    )


def _hvp_double_backward(
    func: Callable[..., Any], inputs: TensorOrTensors, v: TensorOrTensors, create_graph: bool, strict: bool
) -> tuple[Any, Any]:
    """``H v`` by reverse mode only: ``d/du <H u, v>`` with ``H u`` from a double backward."""
    from .. import _creation

    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
        inputs = _preprocess(inputs, create_graph, need_graph=True)
        vs = _direction(v, inputs, is_inputs_tuple, "hvp", create_graph)
        is_outputs_tuple, outputs = _scalar_output(func, inputs, "hvp", strict)
        jac = _grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict)
        us = tuple(_creation.zeros_like(x).requires_grad_(True) for x in inputs)
        double_back = _grad(jac, inputs, us, create_graph=True)
    return _product(
        outputs,
        is_outputs_tuple,
        double_back,
        us,
        vs,
        inputs,
        is_inputs_tuple,
        create_graph,
        strict,
        "double_back_trick",
    )
