"""L-BFGS, with an optional strong-Wolfe line search."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import plugrad
from plugrad import Tensor

from .optimizer import Optimizer

__all__ = ["LBFGS"]


def _cubic_min(
    x1: float, f1: float, g1: float, x2: float, f2: float, g2: float, bounds: tuple[float, float] | None = None
) -> float:
    """The minimiser of the cubic through ``(x1, f1)``, ``(x2, f2)`` with slopes ``g1``, ``g2``,
    clamped to ``bounds`` (default: between the two points); their midpoint when the cubic has none.

    With ``d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2)`` and ``d2 = sqrt(d1**2 - g1 g2)``, taking
    ``x2`` as the point further right: ``x = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)``.
    """
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, lo), hi)


def _strong_wolfe(
    evaluate: Callable[[float], tuple[float, Tensor]],
    t: float,
    d: Tensor,
    f: float,
    g: Tensor,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Tensor, float, int]:
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (Nocedal and Wright,
    Algorithms 3.5 and 3.6): sufficient decrease ``f(t) <= f + c1 t gtd`` and curvature
    ``|g(t).d| <= c2 |gtd|``.

    First widen the step (cubic extrapolation up to 10x) until an interval brackets an
    acceptable step, then shrink the bracket by cubic interpolation ("zoom"), nudging a
    trial that lands within 10% of the bracket's ends away from them. ``evaluate(t)``
    returns the loss and flat gradient at ``x + t d``. Returns the loss, flat gradient and
    step at the point chosen, and how many evaluations it took.
    """
    d_norm = d.abs().max().item()
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = g_new.dot(d).item()
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[Tensor] = []
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        insufficient_decrease = f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev)
        if not insufficient_decrease and abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g, done = [t], [f_new], [g_new], True
            break
        if insufficient_decrease or gtd_new >= 0:  # an acceptable step lies between t_prev and t
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # still descending steeply: extrapolate to a longer step
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d).item()
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket around an acceptable step
    stalled = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        top, bottom = max(bracket), min(bracket)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:  # too close to an end of the bracket
            if stalled or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = g_new.dot(d).item()
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    r"""Limited-memory BFGS (Nocedal and Wright, Algorithm 7.4 and 7.5).

    Each :meth:`step` runs up to ``max_iter`` iterations on the flattened parameters
    ``x`` with gradient ``g``. The direction is ``d = -H g``, where ``H`` approximates
    the inverse Hessian from the last ``history_size`` pairs ``s = x_{k+1} - x_k``,
    ``y = g_{k+1} - g_k`` (kept only when ``y.s > 1e-10``) by the two-loop recursion,
    scaled initially by ``gamma = (s.y) / (y.y)`` of the newest pair::

        q = -g;  for i newest..oldest: a_i = rho_i s_i.q;  q -= a_i y_i        (rho_i = 1 / y_i.s_i)
        r = gamma q;  for i oldest..newest: b = rho_i y_i.r;  r += (a_i - b) s_i
        d = r

    The step is ``lr`` (``min(1, 1 / |g|_1) * lr`` on the very first iteration), or the
    step a strong-Wolfe line search finds with ``line_search_fn="strong_wolfe"``. It stops
    early when ``max(|g|) <= tolerance_grad``, when the step or the change of loss falls
    below ``tolerance_change``, or after ``max_eval`` evaluations of ``closure``
    (default ``max_iter * 5 // 4``).

    ``step(closure)`` needs the closure: it clears the gradients, computes the loss,
    calls ``backward()`` and returns the loss. Only one parameter group is supported; all
    state lives under the first parameter (``func_evals``, ``n_iter``, ``d``, ``t``,
    ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``).
    Scalars of the recursion are kept as Python floats (PyTorch keeps 0-d tensors): the
    iterates agree with PyTorch's to rounding in float64.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        for name, value in (("max_iter", max_iter), ("history_size", history_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LBFGS: {name} must be a positive int, got {value!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params: list[Tensor] = self.param_groups[0]["params"]

    _own_state_keys = frozenset(
        {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss", "al"}
    )

    def _check_own_state(self, state: dict[Any, Any], id_map: dict[Any, Tensor]) -> None:
        """A loaded L-BFGS state: counts, flat vectors of the parameters' total size, numbers."""
        n = sum(p.numel() for p in self._params)

        def vector(name: str, v: Any) -> None:
            if not isinstance(v, Tensor) or v.dim() != 1 or v.numel() != n or not v.is_floating_point():
                raise ValueError(f"the loaded LBFGS {name!r} must be a 1-d floating tensor of {n} elements, got {v!r}")

        def number(name: str, v: Any) -> None:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise ValueError(f"the loaded LBFGS {name!r} must be a number, got {v!r}")

        for entry in state.values():
            if not isinstance(entry, dict):
                continue
            for key in ("func_evals", "n_iter"):
                if key in entry and (not isinstance(entry[key], int) or isinstance(entry[key], bool) or entry[key] < 0):
                    raise ValueError(f"the loaded LBFGS {key!r} must be a count >= 0, got {entry[key]!r}")
            for key in ("d", "prev_flat_grad"):
                if entry.get(key) is not None:
                    vector(key, entry[key])
            for key in ("t", "H_diag", "prev_loss"):
                if entry.get(key) is not None:
                    number(key, entry[key])
            dirs, stps, ro = entry.get("old_dirs", []), entry.get("old_stps", []), entry.get("ro", [])
            if not all(isinstance(x, list) for x in (dirs, stps, ro)) or not len(dirs) == len(stps) == len(ro):
                raise ValueError("the loaded LBFGS 'old_dirs', 'old_stps' and 'ro' must be lists of one length")
            for v in dirs + stps:
                vector("old_dirs/old_stps", v)
            for v in ro:
                number("ro", v)
            al = entry.get("al", [])
            if not isinstance(al, list) or any(v is not None for v in al if not isinstance(v, (int, float))):
                raise ValueError("the loaded LBFGS 'al' must be a list of numbers or None")

    # ------------------------------------------------------------------ flat views
    def _flat_grad(self) -> Tensor:
        views = [p.grad.reshape(-1) if p.grad is not None else plugrad.zeros_like(p).reshape(-1) for p in self._params]
        return plugrad.cat(views, 0)

    def _add_along(self, t: float, d: Tensor) -> None:
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(d[offset : offset + n].view_as(p), alpha=t)
            offset += n

    def _directional(
        self, closure: Callable[[], Any], x0: list[Tensor], d: Tensor
    ) -> Callable[[float], tuple[float, Tensor]]:
        """``t -> (loss, flat gradient)`` at ``x0 + t d``; the parameters are put back to ``x0`` after each call."""

        def evaluate(t: float) -> tuple[float, Tensor]:
            self._add_along(t, d)
            value = self._evaluate(closure)
            grad = self._flat_grad()
            for p, p0 in zip(self._params, x0):
                p.copy_(p0)
            return value, grad

        return evaluate

    def _evaluate(self, closure: Callable[[], Any]) -> float:
        with plugrad.enable_grad():
            return float(closure())

    @plugrad.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss of the first closure call."""
        if closure is None or not callable(closure):
            raise TypeError("LBFGS.step() requires a closure that reevaluates the model and returns the loss")
        group = self.param_groups[0]
        lr = group["lr"].item() if isinstance(group["lr"], Tensor) else group["lr"]
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search = group["history_size"], group["line_search_fn"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with plugrad.enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if flat_grad.abs().max().item() <= tolerance_grad:
            return orig_loss

        d: Tensor | None = state.get("d")
        t: float = state.get("t", lr)
        old_dirs: list[Tensor] = state.get("old_dirs", [])
        old_stps: list[Tensor] = state.get("old_stps", [])
        ro: list[float] = state.get("ro", [])
        h_diag: float = state.get("H_diag", 1.0)
        prev_flat_grad: Tensor | None = state.get("prev_flat_grad")
        prev_loss: float | None = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                assert d is not None and prev_flat_grad is not None  # set by the first iteration
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s).item()
                if ys > 1e-10:  # keep the pair only where the curvature condition holds
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y).item()
                al = state.setdefault("al", [None] * history_size)
                if len(al) < len(old_dirs):
                    al.extend([None] * (len(old_dirs) - len(al)))
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q).item() * ro[i]
                    q.add_(old_dirs[i], alpha=-al[i])
                r = q * h_diag
                for i in range(len(old_dirs)):
                    b = old_dirs[i].dot(r).item() * ro[i]
                    r.add_(old_stps[i], alpha=al[i] - b)
                d = r
            prev_flat_grad = flat_grad.clone()
            prev_loss = loss
            t = min(1.0, 1.0 / flat_grad.abs().sum().item()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d).item()
            if gtd > -tolerance_change:  # not a descent direction any more
                break

            ls_evals = 0
            opt_cond = False
            if line_search is not None:
                evaluate = self._directional(closure, [p.clone() for p in self._params], d)
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    evaluate, t, d, loss, flat_grad, gtd, max_ls=max_eval - evals
                )
                self._add_along(t, d)
                opt_cond = flat_grad.abs().max().item() <= tolerance_grad
            else:
                self._add_along(t, d)
                if n_iter != max_iter:  # the last iteration's loss would go unused
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    opt_cond = flat_grad.abs().max().item() <= tolerance_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if (d * t).abs().max().item() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=h_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )
        return orig_loss
