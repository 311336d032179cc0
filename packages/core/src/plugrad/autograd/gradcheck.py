"""Numerical gradient checks: :func:`gradcheck` and :func:`gradgradcheck`.

Both compare the gradients autograd computes (the *analytical* Jacobian, one
vector-Jacobian product per output element) with central finite differences
(the *numerical* Jacobian)::

    J_num[:, k] = (f(x + eps e_k) - f(x - eps e_k)) / (2 eps)

and pass when ``|J_analytical - J_numerical| <= atol + rtol * |J_numerical|`` for
every entry. ``fast_mode=True`` compares only one random projection
``u^T J v`` per input/output pair instead of the whole Jacobian. Inputs should be
``float64``: in lower precision the differences are dominated by rounding.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import grad_mode

if TYPE_CHECKING:
    from .._tensor import Tensor

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(RuntimeError):
    """Raised by :func:`gradcheck` and :func:`gradgradcheck` when a check fails."""


def _tensor_cls() -> type[Tensor]:
    from .._tensor import Tensor

    return Tensor


def _as_tuple(x: Any) -> tuple[Any, ...]:
    if isinstance(x, (tuple, list)):
        return tuple(x)
    return (x,)


def _diff_outputs(func: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    T = _tensor_cls()
    outs = _as_tuple(func(*inputs))
    return tuple(o for o in outs if isinstance(o, T) and o.dtype.is_floating_point)


def _snapshot(func: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """The outputs as float64 copies (an output may be a view of an input about to change)."""
    outs = _diff_outputs(func, inputs)
    with grad_mode.no_grad():
        return tuple(o.detach().to(_f64(), copy=True) for o in outs)


def _numerical_jacobian(
    func: Callable[..., Any], inputs: tuple[Any, ...], diff_idx: list[int], eps: float
) -> list[list[Tensor]]:
    """``jac[i][o]``: ``(numel(input i), numel(output o))`` central differences."""
    from .. import _creation
    from .._ops.shape import stack

    # func runs in the caller's grad mode (gradgradcheck's function needs autograd);
    # the perturbations are written through ``.data``, which autograd does not track
    ref = _diff_outputs(func, inputs)
    jac: list[list[Tensor]] = []
    for i in diff_idx:
        x = inputs[i]
        data = x.data
        n = x.numel()
        shape = tuple(x.shape)
        columns: list[list[Tensor]] = [[] for _ in ref]
        for j in range(n):
            idx = _unravel(j, shape)
            orig = float(data[idx].item()) if shape else float(data.item())
            _write(data, idx, orig + eps)
            plus = _snapshot(func, inputs)
            _write(data, idx, orig - eps)
            minus = _snapshot(func, inputs)
            _write(data, idx, orig)
            with grad_mode.no_grad():
                for o, (p, m) in enumerate(zip(plus, minus)):
                    columns[o].append(((p - m) / (2 * eps)).reshape(-1))
        per_out: list[Tensor] = []
        for o, r in enumerate(ref):
            if n == 0 or r.numel() == 0:
                per_out.append(_creation.zeros(n, r.numel(), dtype=_f64(), device=x.device))
            else:
                per_out.append(stack(columns[o], 0))
        jac.append(per_out)
    return jac


def _f64() -> Any:
    from .. import _dtype

    return _dtype.float64


def _unravel(j: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    idx = []
    for s in reversed(shape):
        idx.append(j % s)
        j //= s
    return tuple(reversed(idx))


def _write(data: Tensor, idx: tuple[int, ...], value: float) -> None:
    with grad_mode.no_grad():
        if idx:
            data[idx] = value
        else:
            data.fill_(value)


def _analytical_jacobian(
    func: Callable[..., Any], inputs: tuple[Any, ...], diff_idx: list[int], check_grad_dtypes: bool
) -> list[list[Tensor]]:
    """``jac[i][o]``: ``(numel(input i), numel(output o))``, one backward pass per output element."""
    from .. import _creation
    from . import grad as _grad

    outs = _diff_outputs(func, inputs)
    diff_inputs = [inputs[i] for i in diff_idx]
    jac: list[list[Tensor]] = [[] for _ in diff_idx]
    for out in outs:
        cols: list[list[Tensor]] = [[] for _ in diff_idx]
        for k in range(out.numel()):
            go = _creation.zeros(out.numel(), dtype=out.dtype, device=out.device)
            go[k] = 1
            if out.requires_grad:
                grads = _grad(out, diff_inputs, go.reshape(out.shape), retain_graph=True, allow_unused=True)
            else:
                grads = (None,) * len(diff_inputs)
            for i, (x, g) in enumerate(zip(diff_inputs, grads)):
                if g is None:
                    cols[i].append(_creation.zeros(x.numel(), dtype=_f64(), device=x.device))
                    continue
                if tuple(g.shape) != tuple(x.shape):
                    raise GradcheckError(
                        f"Gradient has incorrect size: expected {tuple(x.shape)} but got {tuple(g.shape)}"
                    )
                if check_grad_dtypes and g.dtype is not x.dtype:
                    raise GradcheckError(f"Gradient has dtype mismatch: expected {x.dtype!r} but got {g.dtype!r}")
                cols[i].append(g.detach().double().reshape(-1))
        for i, x in enumerate(diff_inputs):
            if out.numel() == 0 or x.numel() == 0:
                jac[i].append(_creation.zeros(x.numel(), out.numel(), dtype=_f64(), device=x.device))
            else:
                from .._ops.shape import stack

                jac[i].append(stack(cols[i], 1))
    return jac


def _close(a: Tensor, n: Tensor, atol: float, rtol: float) -> bool:
    diff = (a - n).abs()
    bad = diff > atol + rtol * n.abs()
    nan_a, nan_n = a.isnan(), n.isnan()
    # NaN matches NaN; otherwise any NaN is a mismatch
    return not bool(((bad & ~(nan_a & nan_n)) | (nan_a ^ nan_n)).any())


def _fail(msg: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(msg)
    return False


def _random_like(x: Tensor) -> Tensor:
    from .. import _creation

    v = _creation.randn(*x.shape, dtype=_f64(), device=x.device)
    n = float(v.norm()) if v.numel() else 1.0
    return v / (n if n > 0 else 1.0)


def gradcheck(
    func: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Check the gradients of ``func`` at ``inputs`` against central finite differences.

    :param func: takes the ``inputs`` and returns a tensor or a tuple of tensors.
    :param inputs: a tensor or a tuple of arguments; tensors with ``requires_grad=True``
        are differentiated (they should be ``float64``).
    :param eps: the finite-difference step.
    :param atol: absolute tolerance.
    :param rtol: relative tolerance (relative to the numerical value).
    :param raise_exception: raise :class:`GradcheckError` with both Jacobians on failure
        (otherwise return ``False``).
    :param nondet_tol: how far two backward passes on the same input may differ.
    :param fast_mode: compare one random projection ``u^T J v`` per input/output pair
        instead of every Jacobian entry.
    :returns: ``True`` when every check passes.

    ``check_undefined_grad``, ``check_batched_grad``, ``check_forward_ad`` and ``masked``
    are accepted for PyTorch compatibility; plugrad materialises undefined gradients as
    zeros, so the undefined-gradient check has nothing to test.
    """
    T = _tensor_cls()
    tupled = _as_tuple(inputs)
    diff_idx = [i for i, x in enumerate(tupled) if isinstance(x, T) and x.requires_grad]
    with grad_mode.enable_grad():
        return _gradcheck(
            func,
            tupled,
            diff_idx,
            eps,
            atol,
            rtol,
            raise_exception,
            nondet_tol,
            check_grad_dtypes,
            check_backward_ad,
            fast_mode,
        )


def _gradcheck(
    func: Callable[..., Any],
    tupled: tuple[Any, ...],
    diff_idx: list[int],
    eps: float,
    atol: float,
    rtol: float,
    raise_exception: bool,
    nondet_tol: float,
    check_grad_dtypes: bool,
    check_backward_ad: bool,
    fast_mode: bool,
) -> bool:
    T = _tensor_cls()
    if not diff_idx:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of the them have requires_grad=True."
        )
    for i in diff_idx:
        if tupled[i].dtype.name != "float64":
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point or complex. This check "
                "will likely fail if all the inputs are not of double precision floating point or complex. ",
                UserWarning,
                stacklevel=4,
            )
    if not check_backward_ad:
        return True
    outs = _diff_outputs(func, tupled)
    if not outs:
        T_all = _as_tuple(func(*tupled))
        if any(isinstance(o, T) and o.requires_grad for o in T_all):
            return _fail("Numerical gradient for function expected to be zero", raise_exception)
        return True
    if fast_mode:
        return _fast_check(func, tupled, diff_idx, eps, atol, rtol, raise_exception)
    numerical = _numerical_jacobian(func, tupled, diff_idx, eps)
    analytical = _analytical_jacobian(func, tupled, diff_idx, check_grad_dtypes)
    for k, i in enumerate(diff_idx):
        for o in range(len(outs)):
            a, n = analytical[k][o], numerical[k][o]
            if not _close(a, n, atol, rtol):
                return _fail(
                    f"Jacobian mismatch for output {o} with respect to input {i},\nnumerical:{n!r}\nanalytical:{a!r}\n",
                    raise_exception,
                )
    again = _analytical_jacobian(func, tupled, diff_idx, check_grad_dtypes)
    for k in range(len(diff_idx)):
        for o in range(len(outs)):
            if not _close(again[k][o], analytical[k][o], nondet_tol, 0.0):
                return _fail(
                    f"Backward is not reentrant, i.e., running backward with same input and grad_output multiple times "
                    f"gives different values, although analytical gradient matches numerical gradient. The tolerance "
                    f"for nondeterminism was {nondet_tol}.",
                    raise_exception,
                )
    return True


def _fast_check(
    func: Callable[..., Any],
    inputs: tuple[Any, ...],
    diff_idx: list[int],
    eps: float,
    atol: float,
    rtol: float,
    raise_exception: bool,
) -> bool:
    """``u^T J v`` by finite differences along ``v`` and by one backward pass with ``u``."""
    from . import grad as _grad

    outs = _diff_outputs(func, inputs)
    us = [_random_like(o).to(o.dtype) for o in outs]
    for i in diff_idx:
        x = inputs[i]
        v = _random_like(x)
        data = x.data
        with grad_mode.no_grad():
            orig = data.clone()
            data.copy_(orig + eps * v)
        plus = _snapshot(func, inputs)
        with grad_mode.no_grad():
            data.copy_(orig - eps * v)
        minus = _snapshot(func, inputs)
        with grad_mode.no_grad():
            data.copy_(orig)
        for o, (out, u) in enumerate(zip(outs, us)):
            num = float((((plus[o] - minus[o]) / (2 * eps)) * u.double()).sum())
            if out.requires_grad and out.numel():
                (g,) = _grad(out, [x], u, retain_graph=True, allow_unused=True)
            else:
                g = None
            ana = float((g.double() * v).sum()) if g is not None else 0.0
            ok = abs(ana - num) <= atol + rtol * abs(num) or (math.isnan(ana) and math.isnan(num))
            if not ok:
                return _fail(
                    f"Jacobian mismatch for output {o} with respect to input {i},\n"
                    f"numerical:{num!r}\nanalytical:{ana!r}\n\n"
                    "The above quantities relating the numerical and analytical jacobians are computed in fast mode "
                    "(u^T J v along random directions u and v).",
                    raise_exception,
                )
    return True


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check second derivatives: :func:`gradcheck` applied to the backward pass of ``func``.

    The checked function maps ``(inputs, grad_outputs)`` to the gradients
    ``autograd.grad(func(inputs), inputs, grad_outputs, create_graph=True)``.
    ``grad_outputs`` default to random ``float64``-like tensors requiring grad.
    """
    from .. import _creation
    from . import grad as _grad

    T = _tensor_cls()
    tupled = _as_tuple(inputs)
    outs = _diff_outputs(func, tupled)
    if grad_outputs is None:
        gos = tuple(_creation.randn(*o.shape, dtype=o.dtype, device=o.device, requires_grad=True) for o in outs)
    else:
        gos = _as_tuple(grad_outputs)
    n_in = len(tupled)
    diff_idx = [i for i, x in enumerate(tupled) if isinstance(x, T) and x.requires_grad]

    def backward_fn(*args: Any) -> tuple[Tensor, ...]:
        ins, gs = args[:n_in], args[n_in:]
        outputs = _diff_outputs(func, ins)
        diff_ins = [ins[i] for i in diff_idx]
        pairs = [(o, g) for o, g in zip(outputs, gs) if o.requires_grad]
        if not pairs:
            return ()
        grads = _grad([o for o, _ in pairs], diff_ins, [g for _, g in pairs], create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    if not check_rev_over_rev:
        return True
    return gradcheck(
        backward_fn,
        tupled + gos,
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        nondet_tol=nondet_tol,
        check_grad_dtypes=check_grad_dtypes,
        fast_mode=fast_mode,
    )
