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
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import plugrad
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
    for p in group["params"]:
        g = p.grad
        if g is None:
            continue
        st = optimizer.state[p]
        if not st:
            st["step"] = plugrad.tensor(0.0, dtype=plugrad.float32)
            init_state(p, st, group)
        if group["maximize"]:
            g = -g
        yield p, g, st


def advance_step(state: dict[str, Any]) -> float:
    """Add one to the state's ``step`` tensor (in place) and return the new count."""
    step_t = state["step"]
    step_t += 1
    return step_t.item()


def apply_weight_decay(p: Tensor, g: Tensor, lr: float, weight_decay: float, decoupled: bool = False) -> Tensor:
    """Weight decay: ``g + weight_decay * p`` (L2), or with ``decoupled`` shrink ``p`` in
    place, ``p = p * (1 - lr * weight_decay)``, and return ``g`` unchanged."""
    if weight_decay != 0:
        if decoupled:
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
