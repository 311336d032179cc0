"""``plugrad.func``: function transforms, as ``torch.func``.

``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``, ``vmap``
and ``functional_call``. They compose (``jacfwd(jacrev(f))``, ``vmap(grad(f))``,
``grad(grad(f))``) because every transform is written on plugrad's tape autograd:

* reverse transforms (``grad``, ``vjp``, ``jacrev``) call :func:`plugrad.autograd.grad` on
  aliases of their inputs; inside another transform (a *level* above 0) or when an input
  already requires grad, they keep the graph (``create_graph=True``), so the outer
  transform can differentiate the result again -- ``grad(lambda x: grad(f)(x) * x)``
  is right, since each level differentiates with respect to its own alias only;
* forward transforms (``jvp``, ``jacfwd``) use :mod:`plugrad.autograd.forward_ad` dual
  tensors; when a dual level is already open (forward mode nested in forward mode, which
  plugrad's dual levels do not support) they use the double-vjp identity
  ``J·t = d/du <Jᵀu, t>`` instead, exact and itself differentiable;
* ``vmap`` runs the function once on the whole batch when every op it meets has a
  batching rule (:mod:`plugrad.func._batched`), and otherwise once per example, stacking
  the results, with a one-time :class:`PerformanceWarning` (``docs/func.md``).

Results at the outermost level are detached, as ``torch.func``'s.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import plugrad as _P
from plugrad import autograd as _ag
from plugrad._tensor import Tensor
from plugrad.autograd import forward_ad as _fwad

from ._batched import Batched, NoRule, unwrap_dim

__all__ = [
    "grad",
    "grad_and_value",
    "vjp",
    "jvp",
    "jacrev",
    "jacfwd",
    "hessian",
    "vmap",
    "functional_call",
    "PerformanceWarning",
]


class PerformanceWarning(UserWarning):
    """A transform took a slow but correct path (``vmap``'s per-example loop)."""


# ---------------------------------------------------------------- levels, trees
class _Level(threading.local):
    depth: int = 0


_level = _Level()


@contextlib.contextmanager
def _enter() -> Iterator[int]:
    _level.depth += 1
    try:
        yield _level.depth
    finally:
        _level.depth -= 1


def _flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """Leaves of nested tuples/lists/dicts, and how to rebuild the structure from new leaves."""
    if isinstance(tree, (Tensor, Batched)) or tree is None:
        return [tree], _first
    if isinstance(tree, (tuple, list)) and all(isinstance(x, (Tensor, Batched)) for x in tree):
        kind = type(tree)
        return list(tree), tuple if kind is tuple else list if kind is list else _flat_rebuilder(tree)
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(x) for x in tree]
        sizes = [len(p[0]) for p in parts]
        leaves = [leaf for p in parts for leaf in p[0]]
        kind = type(tree)

        def unflatten(new: list[Any]) -> Any:
            out, i = [], 0
            for (_, rebuild), n in zip(parts, sizes):
                out.append(rebuild(new[i : i + n]))
                i += n
            return kind(out) if kind in (tuple, list) else kind(*out)

        return leaves, unflatten
    if isinstance(tree, dict):
        keys = list(tree)
        vals, rebuild_vals = _flatten([tree[k] for k in keys])
        return vals, lambda new: dict(zip(keys, rebuild_vals(new)))
    return [tree], lambda new: new[0]


def _first(new: list[Any]) -> Any:
    return new[0]


def _flat_rebuilder(tree: Any) -> Callable[[list[Any]], Any]:
    kind = type(tree)
    return lambda new: kind(*new)


def _alias(x: Any) -> Any:
    """A tensor of the same value that this level differentiates with respect to."""
    if not isinstance(x, Tensor):
        return x
    if x.requires_grad:  # an outer level (or the user) differentiates x: keep the link
        return x.view_as(x)
    if _fwad._levels.level >= 0:  # an outer forward transform: keep x's tangent
        tangent = _fwad.unpack_dual(x).tangent
        if tangent is not None:
            return _fwad.make_dual(_fwad.unpack_dual(x).primal.detach().requires_grad_(True), tangent)
    return x.detach().requires_grad_(True)


def _check_argnums(argnums: int | tuple[int, ...], n: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise RuntimeError(f"{name}(f, argnums): argnums must be non-empty")
    for a in nums:
        if isinstance(a, bool) or not isinstance(a, int):
            raise RuntimeError(f"{name}: argnums must be int or Tuple[int, ...], got: {type(argnums).__name__}")
        if not -n <= a < n:
            raise RuntimeError(f"Got argnums={a}, but only {n} positional inputs")
    return tuple(a % n for a in nums)


def _needs_graph(leaves: list[Any]) -> bool:
    return _level.depth > 1 or any(isinstance(t, Tensor) and t.requires_grad for t in leaves)


def _finish(x: Any, keep: bool) -> Any:
    leaves, rebuild = _flatten(x)
    if keep:
        return x
    return rebuild([t.detach() if isinstance(t, Tensor) else t for t in leaves])


def _split_aux(out: Any, has_aux: bool, name: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(
            f"{name}(f, ...)(*args): output of function f should be a tuple: (output, aux) if has_aux is True"
        )
    return out[0], out[1]


def _grads(outputs: list[Tensor], inputs: list[Tensor], cot: list[Tensor] | None, create: bool) -> list[Tensor]:
    """d<outputs, cot>/d inputs, zeros for inputs the outputs do not depend on."""
    with _P.enable_grad():
        cots: list[Tensor | None] = list(cot) if cot is not None else [None] * len(outputs)
        diff = [(o, c) for o, c in zip(outputs, cots) if o.requires_grad]
        if not diff:
            return [_P.zeros_like(x) for x in inputs]
        got = _ag.grad(
            [o for o, _ in diff],
            inputs,
            grad_outputs=[c for _, c in diff] if cot is not None else None,
            retain_graph=True,
            create_graph=create,
            allow_unused=True,
        )
    return [g if g is not None else _P.zeros_like(x) for g, x in zip(got, inputs)]


# ------------------------------------------------------------------ reverse mode
def grad_and_value(
    func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """``f`` -> ``(∇f, f)``: the gradient of a one-element output with respect to the inputs
    ``argnums`` (a tuple of gradients for a tuple), and the value (with aux: ``((g, (value, aux))``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _check_argnums(argnums, len(args), "grad_and_value")
        if any(isinstance(x, Batched) for x in _flatten(list(args))[0]):
            return _grad_and_value_batched(func, argnums, nums, has_aux, args, kwargs)
        with _enter():
            args_l = list(args)
            diff_leaves: list[list[Any]] = []
            rebuilders = []
            for a in nums:
                leaves, rebuild = _flatten(args_l[a])
                leaves = [_alias(x) for x in leaves]
                diff_leaves.append(leaves)
                rebuilders.append(rebuild)
                args_l[a] = rebuild(leaves)
            flat_in = [x for ls in diff_leaves for x in ls]
            keep = _needs_graph([a for n in nums for a in _flatten(args[n])[0]])
            with _P.enable_grad():
                out = func(*args_l, **kwargs)
            value, aux = _split_aux(out, has_aux, "grad_and_value")
            if not isinstance(value, Tensor):
                raise RuntimeError(
                    f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(value).__name__}"
                )
            if value.numel() != 1:
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with "
                    f"{value.ndim} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
                )
            gs = _grads([value], [x for x in flat_in if isinstance(x, Tensor)], None, keep)
            it = iter(gs)
            per_arg = []
            for leaves, rebuild in zip(diff_leaves, rebuilders):
                per_arg.append(rebuild([next(it) if isinstance(x, Tensor) else None for x in leaves]))
            g = per_arg[0] if isinstance(argnums, int) else tuple(per_arg)
            g = _finish(g, keep)
            value = _finish(value, keep)
            if has_aux:
                return g, (value, _finish(aux, keep))
            return g, value

    return wrapper


def _grad_and_value_batched(
    func: Callable[..., Any],
    argnums: int | tuple[int, ...],
    nums: tuple[int, ...],
    has_aux: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """``grad_and_value`` under ``vmap``'s fast path: per-example gradients in one backward pass.

    Unbatched inputs being differentiated are expanded to the batch (a view), so the
    gradient of the summed per-example values with respect to the expanded input is, row
    by row, each example's gradient (examples never mix: every op had a batching rule).
    """
    size = next(x.data.shape[0] for x in _flatten(list(args))[0] if isinstance(x, Batched))

    def requires(t: Any) -> bool:
        return (isinstance(t, Tensor) and t.requires_grad) or (isinstance(t, Batched) and t.data.requires_grad)

    with _enter():
        keep = _level.depth > 1 or any(requires(t) for n in nums for t in _flatten(args[n])[0])
        args_l = list(args)
        diff_leaves: list[list[Any]] = []
        rebuilders = []
        for a in nums:
            leaves, rebuild = _flatten(args_l[a])
            new: list[Any] = []
            for x in leaves:
                if isinstance(x, Batched):
                    new.append(Batched(_alias(x.data), shared=x.shared))
                elif isinstance(x, Tensor):
                    new.append(Batched(_alias(x.unsqueeze(0).expand(size, *x.shape)), shared=True))
                else:
                    new.append(x)
            diff_leaves.append(new)
            rebuilders.append(rebuild)
            args_l[a] = rebuild(new)
        with _P.enable_grad():
            out = func(*args_l, **kwargs)
        value, aux = _split_aux(out, has_aux, "grad_and_value")
        if not isinstance(value, Batched):
            raise NoRule("grad of a value that does not depend on the batch")
        if value.numel() != 1:
            raise RuntimeError(
                "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with "
                f"{value.ndim} dims. Maybe you wanted to use the vjp or jacrev APIs instead?"
            )
        flat = [x.data for ls in diff_leaves for x in ls if isinstance(x, Batched)]
        gs = _grads([value.data.sum()], flat, None, keep)
        it = iter(gs)
        per_arg = []
        for leaves, rebuild in zip(diff_leaves, rebuilders):
            per_arg.append(
                rebuild([Batched(_finish(next(it), keep)) if isinstance(x, Batched) else None for x in leaves])
            )
        g = per_arg[0] if isinstance(argnums, int) else tuple(per_arg)

        def done(tree: Any) -> Any:
            leaves, rebuild = _flatten(tree)
            return rebuild(
                [Batched(_finish(x.data, keep)) if isinstance(x, Batched) else _finish(x, keep) for x in leaves]
            )

        if has_aux:
            return g, (done(value), done(aux))
        return g, done(value)


def grad(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """``f`` -> ``∇f``: the gradient of ``f``'s one-element output with respect to argument
    ``argnums`` (or a tuple of them); with ``has_aux``, ``f`` returns ``(output, aux)`` and
    the transform ``(gradient, aux)``."""
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, rest = gv(*args, **kwargs)
        return (g, rest[1]) if has_aux else g

    return wrapper


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(v)`` is ``vᵀ J`` for each primal (a tuple);
    with ``has_aux`` also ``aux`` as a third element."""
    depth_out = _level.depth
    with _enter():
        leaves, rebuild = _flatten(list(primals))
        keep = depth_out > 0 or any(isinstance(x, Tensor) and x.requires_grad for x in leaves)
        leaves = [_alias(x) for x in leaves]
        with _P.enable_grad():
            out = func(*rebuild(leaves))
    out, aux = _split_aux(out, has_aux, "vjp")
    out_leaves, _ = _flatten(out)
    tens_in = [x for x in leaves if isinstance(x, Tensor)]

    def vjp_fn(*cotangents: Any) -> tuple[Any, ...]:
        cot = cotangents[0] if len(cotangents) == 1 and not isinstance(out, Tensor) else cotangents
        cot_leaves, _ = _flatten(cot if not isinstance(out, Tensor) else cot[0])
        if len(cot_leaves) != len(out_leaves):
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of outputs")
        for o, c in zip(out_leaves, cot_leaves):
            if tuple(o.shape) != tuple(c.shape):
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[0] has a shape of {tuple(c.shape)} and output[0] has a shape "
                    f"of {tuple(o.shape)}."
                )
        with _enter():
            gs = _grads(out_leaves, tens_in, cot_leaves, keep or _level.depth > 1)
        it = iter(gs)
        res = rebuild([next(it) if isinstance(x, Tensor) else None for x in leaves])
        return tuple(_finish(r, keep) for r in res)

    result = _finish(out, keep)
    if has_aux:
        return result, vjp_fn, _finish(aux, keep)
    return result, vjp_fn


def jacrev(
    func: Callable[..., Any],
    argnums: int | tuple[int, ...] = 0,
    *,
    has_aux: bool = False,
    chunk_size: int | None = None,
    _preallocate_and_copy: bool = False,
) -> Callable[..., Any]:
    """``f`` -> its Jacobian by reverse mode, one backward pass per output element:
    ``J[*out_idx, *in_idx] = ∂out[out_idx] / ∂in[in_idx]`` (shape ``out.shape + in.shape``).
    ``chunk_size`` is accepted (the passes run one at a time)."""
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        nums = _check_argnums(argnums, len(args), "jacrev")
        with _enter():
            args_l = list(args)
            for a in nums:
                if not isinstance(args_l[a], Tensor):
                    raise RuntimeError(f"jacrev: Expected argnums to point at Tensors, got {type(args_l[a]).__name__}")
                args_l[a] = _alias(args_l[a])
            ins = [args_l[a] for a in nums]
            keep = _level.depth > 1 or any(x.grad_fn is not None for x in ins)
            with _P.enable_grad():
                out = func(*args_l)
            out, aux = _split_aux(out, has_aux, "jacrev")
            outs, rebuild_out = _flatten(out)
            per_out = []
            for o in outs:
                flat = o.reshape(-1)
                rows: list[list[Tensor]] = [[] for _ in ins]
                for i in range(flat.numel()):
                    gs = _grads([flat[i]], ins, None, keep)
                    for k, g in enumerate(gs):
                        rows[k].append(g)
                jac = []
                for k, x in enumerate(ins):
                    if rows[k]:
                        j = _P.stack(rows[k]).reshape(*o.shape, *x.shape)
                    else:
                        j = _P.zeros(*o.shape, *x.shape, dtype=x.dtype)
                    jac.append(_finish(j, keep))
                per_out.append(jac[0] if isinstance(argnums, int) else tuple(jac))
            res = rebuild_out(per_out)
            if has_aux:
                return res, _finish(aux, keep)
            return res

    return wrapper


# ------------------------------------------------------------------ forward mode
def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, strict: bool = False, has_aux: bool = False) -> Any:
    """``(f(*primals), J·tangents)`` by forward mode; with ``has_aux`` also ``aux``."""
    if not isinstance(primals, (tuple, list)):
        raise RuntimeError(
            "jvp(f, primals, tangents): Expected primals to be a tuple. E.g. it should be valid to call f(*primals)."
        )
    if not isinstance(tangents, (tuple, list)) or len(tangents) != len(primals):
        raise RuntimeError(
            "jvp(f, primals, tangents): Expected primals and tangents to have the same python structure."
        )
    for p, t in zip(primals, tangents):
        if isinstance(p, Tensor) and (not isinstance(t, Tensor) or tuple(t.shape) != tuple(p.shape)):
            raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to have the same shape.")
    depth_out = _level.depth
    with _enter():
        if _fwad._levels.level < 0:
            with _fwad.dual_level():
                duals = [
                    _fwad.make_dual(p, t.to(p.dtype)) if isinstance(p, Tensor) else p for p, t in zip(primals, tangents)
                ]
                out = func(*duals)
                out, aux = _split_aux(out, has_aux, "jvp")
                outs, rebuild = _flatten(out)
                prim, tang = [], []
                for o in outs:
                    u = _fwad.unpack_dual(o)
                    prim.append(u.primal)
                    tang.append(u.tangent if u.tangent is not None else _P.zeros_like(u.primal))
        else:  # forward over forward: the double-vjp identity
            ins = [_alias(p) for p in primals]
            with _P.enable_grad():
                out = func(*ins)
            out, aux = _split_aux(out, has_aux, "jvp")
            outs, rebuild = _flatten(out)
            us = [_P.zeros_like(o).requires_grad_(True) for o in outs]
            tens = [x for x in ins if isinstance(x, Tensor)]
            gs = _grads(list(outs), tens, us, True)
            tv = [t for p, t in zip(primals, tangents) if isinstance(p, Tensor)]
            with _P.enable_grad():
                pairs = [(g, t) for g, t in zip(gs, tv) if g.requires_grad]
                got = (
                    _ag.grad([g for g, _ in pairs], us, [t for _, t in pairs], create_graph=True, allow_unused=True)
                    if pairs
                    else [None] * len(us)
                )
            prim = list(outs)
            tang = [g if g is not None else _P.zeros_like(o) for g, o in zip(got, outs)]
    keep = depth_out > 0 or any(isinstance(p, Tensor) and p.requires_grad for p in primals)
    res = (_finish(rebuild(prim), keep), _finish(rebuild(tang), keep))
    if has_aux:
        return (*res, _finish(aux, keep))
    return res


def jacfwd(
    func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *, randomness: str = "error"
) -> Callable[..., Any]:
    """``f`` -> its Jacobian by forward mode, one jvp per input element (shape
    ``out.shape + in.shape``). ``randomness`` is accepted for ``torch.func`` compatibility."""
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")

    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        nums = _check_argnums(argnums, len(args), "jacfwd")
        for a in nums:
            if not isinstance(args[a], Tensor):
                raise RuntimeError(f"jacfwd: Expected argnums to point at Tensors, got {type(args[a]).__name__}")
        aux_box: list[Any] = []

        def f_of(*xs: Any) -> Any:
            full = list(args)
            for a, x in zip(nums, xs):
                full[a] = x
            out = func(*full)
            out, aux = _split_aux(out, has_aux, "jacfwd")
            if not aux_box:
                aux_box.append(aux)
            return out

        ins = [args[a] for a in nums]
        per_in: list[list[list[Tensor]]] = []
        out_struct: Any = None
        for k, x in enumerate(ins):
            cols: list[list[Tensor]] = []
            n = x.numel()
            for i in range(n):
                tangs = [_P.zeros_like(y) for y in ins]
                tangs[k] = _P.zeros(n, dtype=x.dtype)
                tangs[k] = (tangs[k] + (_P.arange(n) == i).to(x.dtype)).reshape(x.shape)
                out, t = jvp(f_of, tuple(ins), tuple(tangs))
                t_leaves, rebuild = _flatten(t)
                out_struct = (_flatten(out)[0], rebuild)
                cols.append(t_leaves)
            if n == 0:
                out = f_of(*ins)
                leaves, rebuild = _flatten(out)
                out_struct = (leaves, rebuild)
            per_in.append(cols)
        outs, rebuild_out = out_struct
        result = []
        for j, o in enumerate(outs):
            jac = []
            for k, x in enumerate(ins):
                cols = per_in[k]
                if cols:
                    jk = _P.stack([c[j] for c in cols], dim=-1).reshape(*o.shape, *x.shape)
                else:
                    jk = _P.zeros(*o.shape, *x.shape, dtype=o.dtype)
                jac.append(jk)
            result.append(jac[0] if isinstance(argnums, int) else tuple(jac))
        res = rebuild_out(result)
        if has_aux:
            return res, aux_box[0] if aux_box else None
        return res

    return wrapper


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """``f`` -> its Hessian, ``jacfwd(jacrev(f, argnums), argnums)`` (forward over reverse)."""
    return jacfwd(jacrev(func, argnums), argnums)


# -------------------------------------------------------------------------- vmap
_warned: set[Any] = set()


def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """``f`` over a batch: ``vmap(f, in_dims, out_dims)(*args)`` stacks ``f`` of each example.

    ``in_dims``: for each argument, the dimension holding the batch (``None``: the argument
    is shared by every example); an int applies to all arguments, nested tuples/lists/
    dicts follow the arguments' structure. ``out_dims``: where the batch goes in each
    output. ``randomness``: ``"error"`` (a random op inside ``f`` is an error),
    ``"different"`` (each example draws its own numbers) or ``"same"`` (every example
    draws the same ones).

    Semantics are ``torch.vmap``'s. ``f`` runs once on the batch through batching rules
    where every op it applies has one, else once per example (correct for every op; a
    one-time :class:`PerformanceWarning` names the op without a rule). ``chunk_size``
    runs the batched path on chunks of that many examples (bounding memory). See
    ``docs/func.md``.
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError("vmap: chunk_size should be None or greater than 0.")
    name = getattr(func, "__name__", type(func).__name__)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not args:
            raise ValueError(
                f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are trying to "
                "vmap over a function with no inputs. The latter is unsupported."
            )
        dims = in_dims
        if isinstance(dims, int) or dims is None:
            dims_tree: Any = [dims] * len(args)
        elif isinstance(dims, tuple):
            if len(dims) != len(args):
                raise ValueError(
                    f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with the structure "
                    f"of `inputs`. in_dims has structure {len(dims)} but inputs has structure {len(args)}."
                )
            dims_tree = list(dims)
        else:
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): expected `in_dims` to be int or a (potentially "
                f"nested) tuple matching the structure of inputs, got: {type(dims).__name__}."
            )
        leaves, rebuild = _flatten(list(args))
        leaf_dims = _broadcast_dims(dims_tree, list(args), name, in_dims)
        size: int | None = None
        for x, d in zip(leaves, leaf_dims):
            if d is None:
                continue
            if not isinstance(x, Tensor):
                raise ValueError(
                    f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for an input but the input is "
                    f"of type {type(x)}. We cannot vmap over non-Tensor arguments, please use None as the "
                    "respective in_dim"
                )
            if isinstance(d, bool) or not isinstance(d, int) or not -x.ndim <= d < max(x.ndim, 1) or x.ndim == 0:
                raise ValueError(
                    f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Got in_dim={d} for some input, but that input "
                    f"is a Tensor of dimensionality {x.ndim} so expected in_dim to satisfy -{x.ndim} <= in_dim < {x.ndim}."
                )
            n = x.shape[d]
            if size is not None and n != size:
                raise ValueError(
                    f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): Expected all tensors to have the same size "
                    f"in the mapped dimension, got sizes {size} and {n} for the mapped dimension"
                )
            size = n
        if size is None:
            raise ValueError(
                f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): at least one input must be a Tensor batched "
                "by in_dims (all in_dims are None)"
            )
        state0 = _P.get_rng_state()
        reason = ""
        try:
            if any(isinstance(x, Batched) for x in leaves):  # one batched level at a time: the inner vmap loops
                raise NoRule("vmap nested in vmap's fast path")
            step = chunk_size if chunk_size is not None and chunk_size < size else size
            parts = []
            drew = False
            for start in range(0, size, step):  # chunk_size: the batch in chunks (bounded memory)
                if start:
                    _P.set_rng_state(state0)  # every chunk draws what the first drew ("same")
                batched = [
                    Batched(x.movedim(d, 0)[start : start + step] if step < size else x.movedim(d, 0))
                    if d is not None
                    else x
                    for x, d in zip(leaves, leaf_dims)
                ]
                parts.append(_unwrap(func(*rebuild(batched), **kwargs), out_dims, min(step, size - start), name))
                drew = drew or not _P.equal(_P.get_rng_state(), state0)
                if drew and randomness == "error":
                    raise _RandomnessError(_RANDOM_MSG)
            if not drew or randomness == "same":
                return parts[0] if len(parts) == 1 else _join(parts, out_dims, name)
            reason = "random ops with randomness='different'"
        except _RandomnessError:
            raise
        except NoRule as e:
            reason = f"op {e.op!r}"
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
        _P.set_rng_state(state0)
        key = getattr(func, "__code__", name)  # once per function (every lambda is "<lambda>")
        if key not in _warned:
            _warned.add(key)
            warnings.warn(
                f"vmap({name}): no batching rule for {reason}; running {name} once per example "
                "(correct, but slower than a batched call)",
                PerformanceWarning,
                stacklevel=2,
            )
        state = _P.get_rng_state() if randomness != "different" else None
        results = []
        for b in range(size):
            if randomness == "same" and state is not None:
                _P.set_rng_state(state)
            ex = [x.select(d, b) if d is not None else x for x, d in zip(leaves, leaf_dims)]
            results.append(func(*rebuild(ex), **kwargs))
            if randomness == "error" and b == 0 and state is not None and not _P.equal(_P.get_rng_state(), state):
                raise _RandomnessError(_RANDOM_MSG)
        out_leaves0, rebuild_out = _flatten(results[0])
        per_leaf = [_flatten(r)[0] for r in results]
        od = out_dims
        if isinstance(od, int) or od is None:
            od_leaves: list[Any] = [od] * len(out_leaves0)
        else:
            od_leaves = _broadcast_dims(list(od) if isinstance(od, tuple) else od, results[0], name, out_dims)
            if not isinstance(results[0], (tuple, list)) and len(od_leaves) != 1:
                od_leaves = od_leaves[:1]
        stacked = []
        for j, o in enumerate(out_leaves0):
            d = od_leaves[j]
            if not isinstance(o, Tensor):
                raise ValueError(
                    f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(o)}. Did you mean to "
                    "set out_dims= to None for output?"
                )
            if d is None:
                stacked.append(o)
                continue
            if not -(o.ndim + 1) <= d <= o.ndim:
                raise IndexError(
                    f"Dimension out of range (expected to be in range of [{-(o.ndim + 1)}, {o.ndim}], but got {d})"
                )
            stacked.append(_P.stack([r[j] for r in per_leaf], dim=d))
        return rebuild_out(stacked)

    return wrapper


_RANDOM_MSG = (
    "vmap: called random operation while in randomness error mode. Please either use the 'same' "
    "or 'different' randomness flags on vmap or perform the randomness operation out of vmap"
)


class _RandomnessError(RuntimeError):
    pass


def _join(parts: list[Any], out_dims: Any, name: str) -> Any:
    """The chunks' outputs concatenated along their ``out_dims``."""
    leaves0, rebuild = _flatten(parts[0])
    if isinstance(out_dims, int) or out_dims is None:
        ods: list[Any] = [out_dims] * len(leaves0)
    else:
        ods = _broadcast_dims(list(out_dims) if isinstance(out_dims, tuple) else out_dims, parts[0], name, out_dims)
    per = [_flatten(p)[0] for p in parts]
    return rebuild([leaves0[j] if d is None else _P.cat([p[j] for p in per], dim=d) for j, d in enumerate(ods)])


def _unwrap(out: Any, out_dims: Any, size: int, name: str) -> Any:
    """The fast path's outputs with the batch at ``out_dims`` (``NoRule`` where the loop must decide)."""
    leaves, rebuild = _flatten(out)
    if isinstance(out_dims, int) or out_dims is None:
        ods: list[Any] = [out_dims] * len(leaves)
    else:
        ods = _broadcast_dims(list(out_dims) if isinstance(out_dims, tuple) else out_dims, out, name, out_dims)
    res = []
    for x, d in zip(leaves, ods):
        if isinstance(x, Batched):
            if d is None or x.data.shape[0] != size:
                raise NoRule("out_dims=None for a batched output")
            res.append(unwrap_dim(x, d))
        elif isinstance(x, Tensor):  # the same for every example
            if d is None:
                res.append(x)
            else:
                res.append(_P.stack([x] * size, dim=d))
        else:
            raise NoRule(f"output of type {type(x).__name__}")
    return rebuild(res)


def _broadcast_dims(dims: Any, tree: Any, name: str, given: Any) -> list[Any]:
    """The in_dim of each leaf of ``tree``: an int/None applies to a whole subtree."""
    if dims is None or isinstance(dims, int):
        return [dims] * len(_flatten(tree)[0])
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)) and len(dims) == len(tree):
        return [d for sub, t in zip(dims, tree) for d in _broadcast_dims(sub, t, name, given)]
    if isinstance(dims, dict) and isinstance(tree, dict) and set(dims) == set(tree):
        return [d for k in tree for d in _broadcast_dims(dims[k], tree[k], name, given)]
    raise ValueError(
        f"vmap({name}, in_dims={given}, ...)(<inputs>): in_dims is not compatible with the structure of `inputs`."
    )


# ---------------------------------------------------------------- functional_call
def functional_call(
    module: Any,
    parameter_and_buffer_dicts: Any,
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Call ``module(*args, **kwargs)`` with its parameters and buffers replaced by the
    tensors of ``parameter_and_buffer_dicts`` (one dict, or a tuple of dicts with disjoint
    keys), put back afterwards. With ``tie_weights``, a replaced tensor also replaces the
    names tied to it (the same ``Parameter`` under two names); ``strict`` requires every
    parameter and buffer to be replaced and no unexpected key."""
    if isinstance(parameter_and_buffer_dicts, dict):
        mapping = dict(parameter_and_buffer_dicts)
    elif isinstance(parameter_and_buffer_dicts, (tuple, list)):
        mapping = {}
        for d in parameter_and_buffer_dicts:
            if not isinstance(d, dict):
                raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
            dup = set(mapping) & set(d)
            if dup:
                raise ValueError(
                    f"{sorted(dup)} appeared in multiple dictionaries; behavior of functional call is ambiguous"
                )
            mapping.update(d)
    else:
        raise ValueError(
            f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got "
            f"{type(parameter_and_buffer_dicts)}"
        )
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    kwargs = kwargs or {}
    named: dict[str, Any] = {}
    for n, p in module.named_parameters(remove_duplicate=False):
        named[n] = p
    for n, b in module.named_buffers(remove_duplicate=False):
        named[n] = b
    if tie_weights:  # names of one tensor share its replacement
        by_id: dict[int, list[str]] = {}
        for n, t in named.items():
            by_id.setdefault(id(t), []).append(n)
        for names in by_id.values():
            given = [n for n in names if n in mapping]
            if given and len(names) > 1:
                vals = [mapping[n] for n in given]
                if any(v is not vals[0] for v in vals[1:]):
                    raise ValueError(
                        f"functional_call got multiple values for keys {given}, which are tied. "
                        "Consider using tie_weights=False"
                    )
                for n in names:
                    mapping.setdefault(n, vals[0])
    if strict:
        missing = [n for n in named if n not in mapping]
        unexpected = [n for n in mapping if n not in named]
        if missing or unexpected:
            msg = []
            if unexpected:
                msg.append("Unexpected key(s): " + ", ".join(repr(k) for k in unexpected) + ".")
            if missing:
                msg.append("Missing key(s): " + ", ".join(repr(k) for k in missing) + ".")
            raise RuntimeError(
                "Error(s) in reparametrizing for {}:\n\t{}".format(type(module).__name__, "\n\t".join(msg))
            )
    saved: list[tuple[Any, str, str, Any]] = []
    try:
        for full, value in mapping.items():
            *path, attr = full.split(".")
            owner = module
            for p in path:
                owner = getattr(owner, p)
            if attr in owner._parameters:
                saved.append((owner, "_parameters", attr, owner._parameters[attr]))
                owner._parameters[attr] = value
            elif attr in owner._buffers:
                saved.append((owner, "_buffers", attr, owner._buffers[attr]))
                owner._buffers[attr] = value
            else:
                saved.append((owner, "", attr, owner.__dict__.get(attr, _MISSING)))
                object.__setattr__(owner, attr, value)
        return module(*args, **kwargs)
    finally:
        for owner, reg, attr, old in reversed(saved):
            if reg:
                getattr(owner, reg)[attr] = old
            elif old is _MISSING:
                owner.__dict__.pop(attr, None)
            else:
                object.__setattr__(owner, attr, old)


_MISSING = object()
