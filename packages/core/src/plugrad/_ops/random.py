"""Random sampling: in-place fills and the sampling functions.

In-place fills (``uniform_``, ``normal_``, ``bernoulli_``, ``random_``, ``exponential_``)
draw new values and write them into the tensor. Under autograd (a non-leaf that
requires grad) the tensor gets a node of PyTorch's name whose gradient is zero: the new
values do not depend on the old ones. The sampling functions ``bernoulli``, ``normal``,
``poisson`` and ``multinomial`` return new tensors; where their input requires grad the
result has PyTorch's node (``BernoulliBackward0``, ``NormalBackward1..3``,
``PoissonBackward0``), again with zero gradients (sampling is not reparameterised).

Every draw comes from ``generator`` (a :class:`plugrad.Generator`) or, when it is
``None``, from the backend's default stream (``random_uniform``/``random_normal``
kernels, seeded by :func:`plugrad.manual_seed`); see :mod:`plugrad._generator`.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype as D
from .. import _generator as _gen
from .._tensor import Tensor, _make
from ..autograd.function import Function

__all__ = [
    "uniform_",
    "normal_",
    "bernoulli_",
    "random_",
    "exponential_",
    "bernoulli",
    "normal",
    "poisson",
    "multinomial",
]


class _Refill(Function, backward_name="UniformBackward0", builtin=True):
    """``values`` in place of ``x`` (same shape and dtype); the gradient to ``x`` is zero."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, values: Any) -> Tensor:
        return _make(Tensor, values, x._dtype, x._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None]:
        return g * 0, None


class _Normal(_Refill, backward_name="NormalBackward0", builtin=True):
    pass


class _BernoulliTensor(_Refill, backward_name="BernoulliBackward1", builtin=True):
    pass


class _Bernoulli(_Refill, backward_name="BernoulliBackward2", builtin=True):
    pass


class _RandomRange(_Refill, backward_name="RandomBackward0", builtin=True):
    pass


class _RandomTo(_Refill, backward_name="RandomBackward1", builtin=True):
    pass


class _Random(_Refill, backward_name="RandomBackward2", builtin=True):
    pass


class _Exponential(_Refill, backward_name="ExponentialBackward0", builtin=True):
    pass


def _write(t: Tensor, values: Any, node: type[_Refill]) -> Tensor:
    """Write backend array ``values`` (``t``'s shape, any dtype) into ``t`` in place."""
    be = t._backend
    native = be.native_dtype(t._dtype)
    if values.dtype != native:
        values = be.astype(values, native)

    def fill(x: Tensor) -> Tensor:
        return node.apply(x, values)

    return t._inplace_op(fill)


def _float_draw(t: Tensor, kernel: str, generator: Any = None, fn: str = "") -> Any:
    be = t._backend
    dt = t._dtype if t._dtype.category == 2 else D.float64
    draw = _gen.uniform if kernel == "random_uniform" else _gen.normal
    return draw(be, tuple(t._data.shape), be.native_dtype(dt), generator, fn)


def _check_number(v: Any, fn: str, arg: str) -> float:
    if isinstance(v, Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{fn}(): argument '{arg}' must be float, not {type(v).__name__}")
    return float(v)


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill ``t`` with samples of the uniform distribution on ``[a, b)``."""
    g = _gen.check_generator(generator, "uniform_")
    a, b = _check_number(a, "uniform_", "from"), _check_number(b, "uniform_", "to")
    if t._dtype.category != 2:
        raise NotImplementedError(f"\"check_uniform_bounds\" not implemented for '{D.scalar_type_name(t._dtype)}'")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a:g} > to={b:g}")
    be = t._backend
    u = _float_draw(t, "random_uniform", g, "uniform_")
    return _write(t, be.add(be.multiply(u, b - a), a), _Refill)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill ``t`` with samples of the normal distribution ``N(mean, std**2)``."""
    g = _gen.check_generator(generator, "normal_")
    mean, std = _check_number(mean, "normal_", "mean"), _check_number(std, "normal_", "std")
    if t._dtype.category != 2:
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for '{D.scalar_type_name(t._dtype)}'")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")
    be = t._backend
    z = _float_draw(t, "random_normal", g, "normal_")
    return _write(t, be.add(be.multiply(z, std), mean), _Normal)


def bernoulli_(t: Tensor, p: Any = 0.5, *, generator: Any = None) -> Tensor:
    """Fill ``t`` with 1 (probability ``p``, a number or a broadcasting tensor) or 0."""
    g = _gen.check_generator(generator, "bernoulli_")
    be = t._backend
    u = _float_draw(t, "random_uniform", g, "bernoulli_")
    if isinstance(p, Tensor):
        if p._backend is not be:
            from ._util import check_same_backend

            check_same_backend(t, p)
        pd = p._data if p._dtype.category == 2 else be.astype(p._data, be.native_dtype(D.float64))
        if p._dtype is not t._dtype and p._dtype.category == 2 and t._dtype.category == 2:
            pd = be.astype(pd, u.dtype)
        return _write(t, be.less(u, pd), _BernoulliTensor)
    pf = _check_number(p, "bernoulli_", "p")
    if not 0.0 <= pf <= 1.0:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={pf:g}")
    return _write(t, be.less(u, pf), _Bernoulli)


def _int_arg(v: Any, fn: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(
            f"{fn}() received an invalid combination of arguments - got ({type(v).__name__}), but expected one of:\n"
            " * (*, plugrad.Generator generator = None)\n"
            " * (int from, int to, *, plugrad.Generator generator = None)\n"
            " * (int to, *, plugrad.Generator generator = None)"
        )
    return v


def _default_top(dt: D.dtype) -> int:
    """The largest value ``random_()`` draws: the dtype's maximum, or ``2**mantissa`` for floats."""
    if dt is D.bool_:
        return 1
    if dt.category == 2:
        return {"float16": 2**11, "bfloat16": 2**8, "float32": 2**24, "float64": 2**53}[dt.name]
    top: int = {"uint8": 255, "int8": 127, "int16": 2**15 - 1, "int32": 2**31 - 1, "int64": 2**63 - 1}[dt.name]
    return top


def random_(t: Tensor, from_: Any = None, to: Any = None, *, generator: Any = None) -> Tensor:
    """Fill ``t`` with integers drawn uniformly from ``[from, to)``: ``random_(to)`` (from 0),
    ``random_(from, to)``, or ``random_()`` (``0`` to the dtype's largest exactly representable integer)."""
    g = _gen.check_generator(generator, "random_")
    node: type[_Refill]
    if from_ is None and to is None:
        lo, hi, node = 0, _default_top(t._dtype) + 1, _Random
    elif to is None:
        lo, hi, node = 0, _int_arg(from_, "random_"), _RandomTo
    else:
        lo, hi, node = _int_arg(from_, "random_"), _int_arg(to, "random_"), _RandomRange
    if hi <= lo:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={lo} >= to={hi}")
    if node is not _Random and t._dtype.category != 2:
        if lo < _dtype_min(t._dtype):
            raise RuntimeError(f"from is out of bounds for {D.C_TYPE_NAMES[t._dtype.name]}")
        if hi - 1 > _default_top(t._dtype):
            raise RuntimeError(f"to - 1 is out of bounds for {D.C_TYPE_NAMES[t._dtype.name]}")
    be = t._backend
    u = _gen.uniform(
        be,
        tuple(t._data.shape),
        be.native_dtype(D.float64 if D.float64 in be.dtype_to_native else D.float32),
        g,
        "random_",
    )
    draws = be.add(be.floor(be.multiply(u, float(hi - lo))), float(lo))
    top = float(hi - 1)
    if int(top) > hi - 1:  # hi - 1 has no exact float (int64 ranges): the float just below it
        top = math.nextafter(top, -math.inf)
    draws = be.where(be.greater(draws, top), be.full((), top, u.dtype), draws)  # u * span may round up to span
    return _write(t, draws, node)


def _dtype_min(dt: D.dtype) -> int:
    if dt is D.bool_ or dt is D.uint8:
        return 0
    bits: int = dt.itemsize * 8
    return -(1 << (bits - 1))


def exponential_(t: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill ``t`` with samples of the exponential distribution of rate ``lambd``: ``-log(1 - U) / lambd``."""
    g = _gen.check_generator(generator, "exponential_")
    lam = _check_number(lambd, "exponential_", "lambd")
    if t._dtype.category != 2:
        raise RuntimeError(
            "Exponential distribution is a continuous probability distribution. dtype must be a floating point "
            f"but you specified {D.scalar_type_name(t._dtype)}"
        )
    if not lam > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lam:g}")
    be = t._backend
    u = _float_draw(t, "random_uniform", g, "exponential_")
    e = be.divide(be.negative(be.log1p(be.negative(u))), be.full((), lam, u.dtype))
    return _write(t, e, _Exponential)


# ---------------------------------------------------------------- sampling functions
# A sampled tensor's node: its gradient to each tensor parameter is zero (PyTorch's
# derivatives for bernoulli, normal and poisson). ``values`` is the new backend array.


class _Sampled1(Function, backward_name="BernoulliBackward0", builtin=True):
    @staticmethod
    def forward(ctx: Any, param: Tensor, values: Any, dt: D.dtype) -> Tensor:
        return _make(Tensor, values, dt, param._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        from .. import zeros_like

        return zeros_like(g), None, None


class _Poisson(_Sampled1, backward_name="PoissonBackward0", builtin=True):
    pass


class _NormalMean(_Sampled1, backward_name="NormalBackward1", builtin=True):
    pass


class _NormalStd(_Sampled1, backward_name="NormalBackward2", builtin=True):
    pass


class _NormalBoth(Function, backward_name="NormalBackward3", builtin=True):
    @staticmethod
    def forward(ctx: Any, mean: Tensor, std: Tensor, values: Any, dt: D.dtype) -> Tensor:
        return _make(Tensor, values, dt, mean._backend)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor, None, None]:
        from .. import zeros_like

        z = zeros_like(g)
        return z, z, None, None


def _check_tensor(x: Any, fn: str, arg: str = "input", pos: int = 1) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")
    return x


def _draw(be: Any, shape: tuple[int, ...], dt: D.dtype, generator: Any, fn: str, normal: bool = False) -> Tensor:
    """A tensor of ``U[0, 1)`` (or ``N(0, 1)``) draws of dtype ``dt`` on backend ``be``."""
    draw = _gen.normal if normal else _gen.uniform
    return _make(Tensor, draw(be, shape, be.native_dtype(dt), generator, fn), dt, be)


def bernoulli(input: Tensor, p: Any = None, *, generator: Any = None) -> Tensor:
    """Draws of 1 with probability ``input`` (elementwise, each in ``[0, 1]``) and 0 otherwise, in
    ``input``'s dtype; ``bernoulli(input, p)`` uses the number ``p`` for every element instead."""
    x = _check_tensor(input, "bernoulli")
    g = _gen.check_generator(generator, "bernoulli")
    if p is not None:
        out = _make(Tensor, x._backend.copy(x._data), x._dtype, x._backend)
        return bernoulli_(out, _check_number(p, "bernoulli", "p"), generator=g)
    if x._dtype.category != 2:
        raise NotImplementedError(f"\"bernoulli_tensor_cpu_p_\" not implemented for '{D.scalar_type_name(x._dtype)}'")
    be = x._backend
    pd = x._data
    if not bool(be.all(be.logical_and(be.greater_equal(pd, 0.0), be.less_equal(pd, 1.0)), None, False)):
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    u = _gen.uniform(be, tuple(pd.shape), pd.dtype, g, "bernoulli")
    values = be.astype(be.less(u, pd), pd.dtype)
    return _Sampled1.apply(x, values, x._dtype)


_NORMAL_USAGE = (
    "normal() received an invalid combination of arguments - got ({got}), but expected one of:\n"
    " * (Tensor mean, Tensor std, *, plugrad.Generator generator = None)\n"
    " * (Tensor mean, float std = 1, *, plugrad.Generator generator = None)\n"
    " * (float mean, Tensor std, *, plugrad.Generator generator = None)\n"
    " * (float mean, float std, tuple of ints size, *, plugrad.Generator generator = None, plugrad.dtype dtype = None, "
    "plugrad.device device = None, bool requires_grad = False)"
)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_std_number(std: float) -> None:
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")


def _check_float(t: Tensor) -> None:
    if t._dtype.category != 2:
        raise NotImplementedError(f"\"normal_kernel_cpu\" not implemented for '{D.scalar_type_name(t._dtype)}'")


def normal(
    mean: Any,
    std: Any = None,
    size: Any = None,
    *,
    generator: Any = None,
    dtype: D.dtype | None = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Samples of ``N(mean, std**2)``, PyTorch's four overloads:

    * ``normal(mean: Tensor, std: Tensor)``: elementwise, broadcasting the two, in ``mean``'s dtype;
    * ``normal(mean: Tensor, std: float = 1.0)`` and ``normal(mean: float, std: Tensor)``:
      the tensor's shape;
    * ``normal(mean: float, std: float, size)``: a new tensor of ``size`` (``dtype``,
      ``device`` and ``requires_grad`` as the creation functions take them).

    Every value is ``mean + std * z`` with ``z`` standard normal drawn from ``generator``.
    """
    g = _gen.check_generator(generator, "normal")
    got = ", ".join(type(v).__name__ for v in (mean, std) if v is not None) + (
        ", size=" + type(size).__name__ if size is not None else ""
    )
    if isinstance(mean, Tensor) and isinstance(std, Tensor) and size is None:
        _check_float(mean)
        _check_float(std)
        be = mean._backend
        if std._backend is not be:
            from ._util import check_same_backend

            check_same_backend(mean, std)
        be = mean._backend
        if not bool(be.all(be.greater_equal(std._data, 0.0), None, False)):
            raise RuntimeError("normal expects all elements of std >= 0.0")
        dt = mean._dtype  # PyTorch's result has mean's dtype (std is cast to it)
        nat = be.native_dtype(dt)
        md = mean._data if mean._dtype is dt else be.astype(mean._data, nat)
        sd = std._data if std._dtype is dt else be.astype(std._data, nat)
        shape = (mean.detach() + std.detach()).shape  # PyTorch's broadcast error for shapes that do not fit
        z = _gen.normal(be, tuple(shape), nat, g, "normal")
        return _NormalBoth.apply(mean, std, be.add(be.multiply(z, sd), md), dt)
    if isinstance(mean, Tensor) and size is None and (std is None or _is_number(std)):
        _check_float(mean)
        s = 1.0 if std is None else float(std)
        _check_std_number(s)
        be = mean._backend
        z = _gen.normal(be, tuple(mean._data.shape), mean._data.dtype, g, "normal")
        return _NormalMean.apply(mean, be.add(be.multiply(z, s), mean._data), mean._dtype)
    if _is_number(mean) and isinstance(std, Tensor) and size is None:
        _check_float(std)
        be = std._backend
        if not bool(be.all(be.greater_equal(std._data, 0.0), None, False)):
            raise RuntimeError("normal expects all elements of std >= 0.0")
        z = _gen.normal(be, tuple(std._data.shape), std._data.dtype, g, "normal")
        values = be.add(be.multiply(z, std._data), float(mean))
        return _NormalStd.apply(std, values, std._dtype)
    if _is_number(mean) and _is_number(std) and size is not None:
        from .. import empty

        _check_std_number(float(std))
        out = empty(size, dtype=dtype, device=device)
        normal_(out, float(mean), float(std), generator=g)
        return out.requires_grad_(requires_grad) if requires_grad else out
    raise TypeError(_NORMAL_USAGE.format(got=got))


def _log_factorial(k: Tensor) -> Tensor:
    """``log(k!)`` for a float64 tensor of whole numbers ``k >= 0``: a table below 10, Stirling's
    series for ``lgamma(k + 1)`` (to ``x**-5``, error below 1e-12) from 10 on."""
    from .._creation import tensor
    from .elementwise import where

    table = tensor([math.lgamma(i + 1.0) for i in range(10)], dtype=D.float64, device=k._backend)
    small = table[k.clamp(0, 9).long()]
    x = k.clamp(min=10.0) + 1.0
    series = (x - 0.5) * x.log() - x + 0.5 * math.log(2 * math.pi) + 1.0 / (12.0 * x) - 1.0 / (360.0 * x**3)
    series = series + 1.0 / (1260.0 * x**5)
    return where(k < 10, small, series)


_POISSON_MAX_ROUNDS = 10_000


def _poisson_sample(lam: Tensor, g: Any) -> Tensor:
    """Poisson draws (float64) for float64 rates ``lam >= 0``.

    Rates below 10: Knuth's method, counting uniform factors while their product stays
    above ``exp(-lam)``. From 10 on: Hormann's transformed rejection with squeeze (PTRS,
    "The transformed rejection method for generating Poisson random variables", 1993),
    whose acceptance rate is above 0.9, so few rounds run. Infinite rates give ``inf``.
    """
    from .._creation import ones_like, zeros_like
    from .elementwise import where

    be, shape = lam._backend, tuple(lam.shape)
    small = lam < 10.0
    out = zeros_like(lam)
    limit = where(small, lam, zeros_like(lam)).neg().exp()
    prod = ones_like(lam)
    for _ in range(_POISSON_MAX_ROUNDS):
        prod = prod * _draw(be, shape, D.float64, g, "poisson")
        more = prod > limit
        if not bool(more.any()):
            break
        out = out + more.double()
    big = lam.isfinite() & ~small
    if bool(big.any()):
        lb = where(big, lam, zeros_like(lam) + 10.0)
        slam, loglam = lb.sqrt(), lb.log()
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        log_inv_alpha = (1.1239 + 1.1328 / (b - 3.4)).log()
        vr = 0.9277 - 3.6224 / (b - 2.0)
        done = ~big
        for _ in range(_POISSON_MAX_ROUNDS):
            u = _draw(be, shape, D.float64, g, "poisson") - 0.5
            v = _draw(be, shape, D.float64, g, "poisson")
            us = 0.5 - u.abs()
            k = ((2.0 * a / us + b) * u + lb + 0.43).floor()
            quick = (us >= 0.07) & (v <= vr)
            reject = (k < 0) | ((us < 0.013) & (v > us))
            kk = k.clamp(min=0.0)
            ratio = v.log() + log_inv_alpha - (a / (us * us) + b).log() <= -lb + kk * loglam - _log_factorial(kk)
            accept = ~done & (quick | (~reject & ratio))
            out = where(accept, k, out)
            done = done | accept
            if bool(done.all()):
                break
    return where(lam.isinf(), lam, out)


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Samples of the Poisson distribution with rate ``input`` (elementwise, ``>= 0``), in ``input``'s dtype."""
    from .. import no_grad

    x = _check_tensor(input, "poisson")
    g = _gen.check_generator(generator, "poisson")
    if x._dtype.category != 2:
        raise NotImplementedError(f"\"poisson_cpu\" not implemented for '{D.scalar_type_name(x._dtype)}'")
    be = x._backend
    if not bool(be.all(be.greater_equal(x._data, 0.0), None, False)):
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    with no_grad():
        lam = x.detach().double()
        draws = _poisson_sample(lam, g).to(x._dtype)
    return _Poisson.apply(x, draws._data, x._dtype)


#: multinomial with replacement compares every draw with every category at once; above
#: this many comparisons it works through the draws in chunks.
_MULTINOMIAL_CHUNK = 1 << 22


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """Indices drawn from the categorical distribution(s) that ``input`` gives (a 1-D tensor of
    non-negative weights, or a 2-D tensor with one distribution per row; weights need not sum to 1).

    With replacement each draw inverts the cumulative distribution at a uniform number;
    without, the indices of the ``num_samples`` largest ``p_i / E_i`` (``E_i`` standard
    exponential draws), which samples in proportion to ``p`` one category after another.
    Returns ``int64`` of shape ``(num_samples,)`` or ``(rows, num_samples)``.
    """
    from .._creation import zeros
    from ..autograd import no_grad
    from .elementwise import where
    from .shape import cat
    from .sorting import topk

    x = _check_tensor(input, "multinomial")
    g = _gen.check_generator(generator, "multinomial")
    if isinstance(num_samples, Tensor) and num_samples.numel() == 1:
        num_samples = num_samples.item()
    if isinstance(num_samples, bool) or not isinstance(num_samples, int):
        raise TypeError(
            f"multinomial(): argument 'num_samples' (position 2) must be int, not {type(num_samples).__name__}"
        )
    n = num_samples
    if x.dim() not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if x._dtype.category != 2:
        raise RuntimeError(
            f"multinomial only supports floating-point dtypes for input, got: {D.scalar_type_name(x._dtype)}"
        )
    if n <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    k = x.shape[-1]
    if not replacement and n > k:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    be = x._backend
    with no_grad():
        p = x.detach().double() if x._dtype is not D.float64 and D.float64 in be.dtype_to_native else x.detach()
        p2 = p.reshape(-1, k)
        rows = p2.shape[0]
        if rows == 0:
            return zeros(*((0, n) if x.dim() == 2 else (n,)), dtype=D.int64, device=be)
        if not bool(((p2 >= 0) & p2.isfinite()).all()):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if k == 0 or not bool((p2.sum(-1) > 0).all()):
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement:
            e = _draw(be, (rows, k), p2.dtype, g, "multinomial")
            e = e.neg().log1p().neg()  # standard exponential: -log(1 - U)
            q = where(p2 > 0, p2 / e, zeros(1, dtype=p2.dtype, device=be) - 1.0)
            idx = q.argmax(-1, keepdim=True) if n == 1 else topk(q, n, -1).indices
        else:
            cdf = p2.cumsum(-1)
            cdf = cdf / cdf[:, -1:]  # the last entry is exactly 1, above every uniform draw
            step = max(1, _MULTINOMIAL_CHUNK // max(1, rows * k))
            parts = []
            for start in range(0, n, step):
                m = min(step, n - start)
                u = _draw(be, (rows, m), p2.dtype, g, "multinomial")
                parts.append((u.unsqueeze(-1) >= cdf.unsqueeze(1)).sum(-1))
            idx = parts[0] if len(parts) == 1 else cat(parts, 1)
        idx = idx.long()
    return idx.reshape(n) if x.dim() == 1 else idx
