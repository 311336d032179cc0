"""Pieces shared by the adaptive optimizers (Adam, Adamax, NAdam, RAdam, RMSprop, Adagrad).

Each optimizer keeps its own update rule in its own module; what lives here is the
bookkeeping around it: argument checks, per-parameter state creation, the step counter,
the L2 / decoupled weight decay, and the step tables that let a step replay under
:func:`plugrad.compile`.

**Under** ``plugrad.compile``: a Python number that reaches a kernel is baked into the
recorded program, so the numbers that change from step to step (the bias corrections
``1 - beta ** t`` of the step count ``t``) cannot be Python numbers there, and reading
the step count with ``.item()`` would end the recording. While a step is recorded
(:func:`plugrad.compiler.is_compiling`), the optimizers therefore take those numbers
from a :class:`StepTable`: the same Python expressions as the eager step, evaluated once
for every step count ``1 .. K`` (``K`` the first count from which the values no longer
change: every power ``beta ** t`` has decayed below a 53-bit rounding step) and kept in
float64 tensors; the step is looked up with tensor ops (``table[min(step, K)]``), so a
replay reads the advanced step count and gets the right row. Looking the numbers up
instead of computing them with a tensor ``pow`` keeps them bit-identical to the eager
Python floats (NumPy's SIMD ``power`` can differ from Python's ``**`` in the last bit).
When ``K`` would be above :data:`STEP_TABLE_LIMIT` (a beta within about 1e-4 of 1),
there is no table and the step runs as in eager mode, which ends the recording (the
compiled function runs eagerly, with a :class:`~plugrad.compiler.CompileWarning`).

**Scheduled options**: the options a learning-rate scheduler changes between steps
(``lr`` always; ``momentum`` and ``betas[0]`` when OneCycleLR cycles the momentum) are
read through :func:`plugrad.compiler.scalar` while a step is recorded (see
:class:`StepScalars`): 0-d float64 tensors that a replay makes afresh from the option's
value then, so one program serves every learning rate. The step does eager's Python
arithmetic with them in float64 (``+ - * /`` round as Python's floats do) and casts to
the parameter's dtype where eager's Python float meets a parameter tensor (NumPy rounds
a Python float to the array's dtype there, as ``.to(dtype)`` of the float64 value does).
Every other option stays a guard (:func:`plugrad.compiler.assume_constant`).
"""

from __future__ import annotations

import weakref
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import plugrad
from plugrad import _compile_state  # read only: which recording is active (see StepScalars)
from plugrad.compiler import assume_constant, scalar
from plugrad.compiler import is_compiling as is_compiling  # for the optimizers

if TYPE_CHECKING:
    from plugrad import Tensor

    from .optimizer import Optimizer


def check_adam_args(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    """Check the arguments of the Adam family with PyTorch's messages (``ValueError``)."""
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def params_with_grads(
    optimizer: Optimizer, group: dict[str, Any], init_state: Callable[[Tensor, dict[str, Any], dict[str, Any]], None]
) -> Iterator[tuple[Tensor, Tensor, dict[str, Any]]]:
    """Yield ``(p, g, state)`` for each parameter of ``group`` that has a gradient.

    A parameter's empty state gets ``step`` (a float32 scalar tensor, as PyTorch keeps it)
    and then whatever ``init_state(p, state, group)`` adds. ``g`` is ``-p.grad`` when the group
    maximizes.
    """
    for _, p, g, st in indexed_params_with_grads(optimizer, group, init_state):
        yield p, g, st


def indexed_params_with_grads(
    optimizer: Optimizer, group: dict[str, Any], init_state: Callable[[Tensor, dict[str, Any], dict[str, Any]], None]
) -> Iterator[tuple[int, Tensor, Tensor, dict[str, Any]]]:
    """:func:`params_with_grads` with each parameter's position in ``group["params"]``: ``(i, p, g, state)``."""
    for i, p in enumerate(group["params"]):
        g = p.grad
        if g is None:
            continue
        st = optimizer.state[p]
        if not st:
            st["step"] = plugrad.tensor(0.0, dtype=plugrad.float32)
            init_state(p, st, group)
        if group["maximize"]:
            g = -g
        yield i, p, g, st


def advance_step(state: dict[str, Any]) -> float:
    """Add one to the state's ``step`` tensor (in place) and return the new count."""
    step_t = state["step"]
    step_t += 1
    return step_t.item()


def apply_weight_decay(
    p: Tensor, g: Tensor, lr: float | Tensor, weight_decay: float, decoupled: bool = False
) -> Tensor:
    """Weight decay: ``g + weight_decay * p`` (L2), or with ``decoupled`` shrink ``p`` in
    place, ``p = p * (1 - lr * weight_decay)``, and return ``g`` unchanged. ``lr`` is a Python
    number, or (a recorded step) the float64 0-d tensor of :meth:`StepScalars.option`: the
    factor is then computed in float64 and rounded to ``p``'s dtype, as NumPy rounds eager's float."""
    if weight_decay != 0:
        if decoupled:
            if isinstance(lr, plugrad.Tensor):
                p.mul_((1 - lr * weight_decay).to(p))
            else:
                p.mul_(1 - lr * weight_decay)
        else:
            g = g.add(p, alpha=weight_decay)
    return g


#: The most rows a :class:`StepTable` may have (step counts covered before the values settle).
STEP_TABLE_LIMIT = 1 << 19

#: A power below this has settled: ``1 - x`` rounds to 1 and ``k * x`` is far below any
#: value it is added to (the rows must still equal their limit before the table ends).
_SETTLED = 2.0**-53

_TABLES_KEPT = 16
_tables: OrderedDict[Any, StepTable | None] = OrderedDict()


class StepTable:
    """The Python numbers of an update that depend on the step count, one row per count.

    ``rows[k]`` is ``row(k)`` for ``k = 1 .. last``, and the values of every later count
    equal ``rows[last]`` (``rows[0]``, never looked up, repeats it). :meth:`lookup` gives
    a step's values as 0-d tensors, computed from the step-count tensor with tensor ops
    only, so a recorded program replays them for whatever count the tensor holds.
    """

    def __init__(self, rows: list[tuple[float, ...]]) -> None:
        self.last = len(rows) - 1
        self.columns = [array("d", column) for column in zip(*rows)]
        self._tensors: dict[tuple[int, Any, Any], Tensor] = {}

    def column(self, j: int, dtype: Any, device: Any) -> Tensor:
        """Column ``j`` as a 1-d tensor of ``dtype`` on ``device`` (made once, then kept)."""
        key = (j, dtype, device)
        t = self._tensors.get(key)
        if t is None:
            t = plugrad.tensor(self.columns[j].tolist(), dtype=plugrad.float64, device=device).to(dtype)
            self._tensors[key] = t
        return t

    def lookup(self, step_t: Tensor, want: tuple[tuple[int, Any], ...], device: Any) -> list[Tensor]:
        """The values of the count in ``step_t`` (a 0-d tensor) for each ``(column, dtype)`` of ``want``:
        ``column[min(step, last)]`` as 0-d tensors of ``dtype`` on ``device`` (float64 holds the Python
        float exactly; a narrower dtype holds it rounded as NumPy rounds a Python float that meets an
        array of that dtype)."""
        idx = step_t.clamp(max=float(self.last)).to(plugrad.int64).to(device=device)
        return [self.column(j, dt, idx.device)[idx] for j, dt in want]


def step_table(
    key: Any,
    row: Callable[[float], tuple[float, ...]],
    limit: tuple[float, ...],
    bases: tuple[float, ...],
) -> StepTable | None:
    """The :class:`StepTable` of ``row`` (cached under ``key``, which names ``row`` and its hyperparameters).

    :param row: the step's numbers as the eager update computes them, from the count as a float.
    :param limit: their values once every power has decayed to zero (as ``t`` grows without bound).
    :param bases: the bases ``b`` of the powers ``b ** (c * t)`` in ``row`` (as ``b ** c``), each in
        ``[0, 1)``; the table ends at the first count where every ``b ** t`` is below 2**-53 and the
        row equals ``limit``: from there on every row is ``limit`` (each value is a monotone function
        of the powers past that point, and rounding keeps it there).
    :returns: ``None`` when that count is above :data:`STEP_TABLE_LIMIT`, when a base is outside
        ``[0, 1)``, or when ``row`` raises (the eager step then does what it does).
    """
    if key in _tables:
        _tables.move_to_end(key)
        return _tables[key]
    table: StepTable | None = None
    if all(0.0 <= b < 1.0 for b in bases):
        rows: list[tuple[float, ...]] = [limit]
        try:
            for k in range(1, STEP_TABLE_LIMIT + 1):
                r = row(float(k))
                rows.append(r)
                if r == limit and all(b**k < _SETTLED for b in bases):
                    table = StepTable(rows)
                    break
        except (ArithmeticError, ValueError):
            table = None
    _tables[key] = table
    if len(_tables) > _TABLES_KEPT:
        _tables.popitem(last=False)
    return table


def plain_numbers(*values: Any) -> bool:
    """Whether every value is a Python ``float`` or ``int`` (a step table needs them; an option that is
    a tensor makes the step run as in eager mode)."""
    return all(type(v) is float or type(v) is int for v in values)


def scalar_div(x: float, t: Tensor) -> Tensor:
    """``x / t`` for a Python number ``x`` as Python divides floats: one ``divide`` kernel (plugrad's
    own ``x / t`` is ``reciprocal(t) * x``, as PyTorch's, which can round differently)."""
    return plugrad.full((), x, dtype=t.dtype, device=t.device) / t


def advance_step_table(
    state: dict[str, Any], table: StepTable, want: tuple[tuple[int, Any], ...], device: Any
) -> list[Tensor]:
    """Under ``plugrad.compile``: add one to the state's ``step`` tensor (in place, as
    :func:`advance_step` does) and look its numbers up in ``table`` (no value read into Python),
    as 0-d tensors on ``device`` (the parameter's: the step count may live elsewhere)."""
    step_t = state["step"]
    step_t += 1
    return table.lookup(step_t, want, device)


# ---------------------------------------------------------------- scheduled options


def cycled_beta1(
    scalars: Any,
    group: dict[str, Any],
    gi: int,
    j: int,
    st: Any,
    p: Any,
    table: Any,
    make_table: Callable[..., Any],
    betas: tuple[float, ...],
) -> tuple[Any, Any]:
    """``(table, bias_correction1)`` for parameter ``j`` of group ``gi`` in a recorded step whose
    ``betas[0]`` a scheduler cycles: the bias correction as a tensor made afresh by each replay
    (:meth:`StepScalars.bias_correction1`), or, for a second step of the same parameters in one
    call, ``betas`` guarded and the step table ``make_table(*betas)`` of the current betas."""
    bc1_t = scalars.bias_correction1(gi, j, st, p)
    if bc1_t is None:  # a second step in one call: betas is a guard for it
        assume_constant(group, "betas")
        return make_table(*betas), None
    return table, bc1_t


def beta1_scheduled(group: dict[str, Any]) -> bool:
    """Whether a scheduler cycles the group's ``betas[0]`` from step to step: OneCycleLR with
    ``cycle_momentum`` keeps ``max_momentum`` in the group and writes a new ``betas`` tuple on every
    step. A recorded step then reads ``betas[0]`` through :meth:`StepScalars.beta1` and guards
    only ``betas[1]``; otherwise ``betas`` is a guard, and changing it records the step again."""
    betas = group.get("betas")
    return (
        "max_momentum" in group
        and (type(betas) is tuple or type(betas) is list)
        and len(betas) == 2
        and plain_numbers(*betas)
    )


class OptionView:
    """What recorded steps read from (and guard on) an optimizer's options beyond whole options,
    addressed by ``(group index, what, argument)``; one per optimizer (:func:`option_view`), so
    consecutive recordings name the same container:

    - ``(i, "sign", name)``: ``(v > 0, v < 0)`` of option ``name``: a guard of a step whose kernels
      depend on whether the momentum is zero, and that reads the momentum itself as a scalar;
    - ``(i, "beta", k)``: ``betas[k]`` (``k = 0`` read as a scalar, ``k = 1`` a guard);
    - ``(i, "bias_correction1", j)``: ``1 - betas[0] ** t`` with ``t`` the next step count of the
      group's ``j``-th parameter (its ``step`` tensor plus one, in the tensor's dtype, as eager's
      ``step += 1``): the eager step's Python float, for a ``betas[0]`` that changes on every step.
      A replay reads it before its step advances the count (see :meth:`StepScalars.bias_correction1`).
    """

    __slots__ = ("opt",)

    def __init__(self, opt: Optimizer) -> None:
        self.opt = opt

    def __getitem__(self, key: tuple[int, str, Any]) -> Any:
        group = self.opt.param_groups[key[0]]
        what, arg = key[1], key[2]
        if what == "sign":
            v = group[arg]
            return (v > 0, v < 0)
        if what == "beta":
            return group["betas"][arg]
        if what == "bias_correction1":
            state = self.opt.state.get(group["params"][arg])
            if state is None:
                raise KeyError(key)
            try:
                step = float(state["step"]._data + 1)
                return 1 - group["betas"][0] ** step
            except (AttributeError, ArithmeticError, ValueError) as exc:
                raise KeyError(key) from exc
        raise KeyError(key)


def option_view(opt: Optimizer) -> OptionView:
    """The optimizer's :class:`OptionView` (made once)."""
    view = opt.__dict__.get("_option_view")
    if view is None:
        view = opt._option_view = OptionView(opt)  # type: ignore[attr-defined]
    return view


class StepScalars:
    """While ``plugrad.compile`` records an optimizer step: the options that schedulers change,
    as float64 0-d tensors that a replay makes afresh from the options' values then
    (:func:`plugrad.compiler.scalar`, which also drops their guards), made once per step and
    device. Compute with them in float64 as eager computes with Python floats, and cast with
    ``.to(p)`` where eager's float meets a parameter's tensor.
    """

    def __init__(self, opt: Optimizer) -> None:
        self.opt = opt
        self.view = option_view(opt)
        self.made: dict[tuple[int, Any, Any], Tensor] = {}

    def _get(self, container: Any, key: Any, like: Tensor) -> Tensor:
        made_key = (id(container), key, like.device)
        t = self.made.get(made_key)
        if t is None:
            v = scalar(container, key, like)
            if not isinstance(v, plugrad.Tensor):  # the recording ended: the number itself, in float64
                v = plugrad.tensor(float(v), dtype=plugrad.float64, device=like.device)
            t = self.made[made_key] = v
        return t

    def option(self, group: dict[str, Any], key: str, like: Tensor, cast: bool = False) -> Tensor:
        """``group[key]`` (a Python number: check with :func:`plain_numbers`) as a float64 0-d tensor on
        ``like``'s device, or with ``cast`` rounded to ``like``'s dtype (made once per dtype)."""
        if not cast:
            return self._get(group, key, like)
        made_key = (id(group), ("as", key, like.dtype), like.device)
        t = self.made.get(made_key)
        if t is None:
            t = self.made[made_key] = self._get(group, key, like).to(like)
        return t

    def negated_option(self, group: dict[str, Any], key: str, like: Tensor, cast: bool = False) -> Tensor:
        """``-group[key]`` (eager's ``alpha=-lr``) as a float64 0-d tensor, or with ``cast`` rounded to
        ``like``'s dtype; made once per step, device and dtype (fewer kernels in the replay)."""
        made_key = (id(group), ("-", key, like.dtype if cast else None), like.device)
        t = self.made.get(made_key)
        if t is None:
            t = self.negated_option(group, key, like).to(like) if cast else -self.option(group, key, like)
            self.made[made_key] = t
        return t

    def nonzero_option(self, gi: int, group: dict[str, Any], key: str, like: Tensor) -> Tensor:
        """:meth:`option` for an option whose being zero (or positive) shapes the step: that stays a guard."""
        assume_constant(self.view, (gi, "sign", key))
        return self._get(group, key, like)

    def beta1(self, gi: int, like: Tensor, cast: bool = False) -> Tensor:
        """``param_groups[gi]["betas"][0]`` (where :func:`beta1_scheduled`) as a float64 0-d tensor, or
        with ``cast`` rounded to ``like``'s dtype (made once per dtype)."""
        if not cast:
            return self._get(self.view, (gi, "beta", 0), like)
        return self._derived((gi, "beta1 as", like.dtype), like, lambda: self.beta1(gi, like).to(like))

    def one_minus_beta1(self, gi: int, like: Tensor) -> Tensor:
        """``1 - betas[0]`` (eager's ``alpha=1 - beta1`` or lerp weight), rounded to ``like``'s dtype (made once per dtype)."""
        return self._derived((gi, "1 - beta1 as", like.dtype), like, lambda: (1 - self.beta1(gi, like)).to(like))

    def _derived(self, key: Any, like: Tensor, make: Callable[[], Tensor]) -> Tensor:
        made_key = (id(self), key, like.device)
        t = self.made.get(made_key)
        if t is None:
            t = self.made[made_key] = make()
        return t

    def bias_correction1(self, gi: int, j: int, state: dict[str, Any], like: Tensor) -> Tensor | None:
        """``1 - beta1 ** t`` of the step about to be taken for the group's ``j``-th parameter (call it
        before the step count advances), as a float64 0-d tensor a replay computes with Python's ``**``
        from ``betas[0]`` and the step count as the call starts; ``None`` when this recording already
        advanced that step count (a second ``step()`` in one compiled call: the count at the start of a
        replay is not this step's, so the caller guards ``betas`` and uses its step table instead)."""
        rec = _compile_state.ACTIVE[0]
        if rec is None:
            return None
        seen: tuple[Any, set[int]] | None = self.opt.__dict__.get("_advanced_in")
        if seen is None or seen[0]() is not rec:
            seen = self.opt._advanced_in = (weakref.ref(rec), set())  # type: ignore[attr-defined]
        step_id = id(state["step"])
        if step_id in seen[1]:
            return None
        seen[1].add(step_id)
        return self._get(self.view, (gi, "bias_correction1", j), like)
