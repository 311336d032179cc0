"""Bad input to the public API: every op, its function and method forms, creation functions,
``backward``, fed hostile arguments drawn by hypothesis.

Each call either succeeds or raises. What must hold:

- a failure is one of plugrad's documented exceptions (``TypeError``, ``ValueError``,
  ``RuntimeError``, ``IndexError``) with a message, never a backend's own exception type
  and never a bare ``AssertionError`` (:func:`attack_util.check_error`);
- no call hangs (an alarm fires after a few seconds) or crashes the interpreter;
- the tensors involved are unchanged after a failed call (values, shape, dtype, device,
  version counter, autograd state), and inputs of out-of-place ops after a successful one;
- where :mod:`attack_ref` has a Python reference for the call, a call the reference calls
  invalid fails, and a successful call returns the reference's values, shape and dtype.

Arguments come from pools that mix valid and hostile values: tensors of every shape kind
(0-d, empty, broadcastable, unrelated), dtypes, NaN/inf, dims out of range, bools and
floats where ints belong, huge Python ints, strings, ``None``, containers, and tensors on a
second backend (``attack2``, the NumPy kernels registered under another name).
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import attack_ref as REF
import plugrad
import pytest
from attack_util import ATTACK, check_error, count, size, snapshot, tensors_in
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plugrad.testing import assert_close, twin_backend

EXAMPLES = size(4, 150)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    database=None,
    derandomize=not ATTACK,  # the default run is reproducible; the attack run explores
)


# ---------------------------------------------------------------------------- second backend
@pytest.fixture(scope="module", autouse=True)
def second_backend() -> Iterator[None]:
    with twin_backend("attack2", priority=-5):
        yield


# ---------------------------------------------------------------------------- placeholders
@dataclass(frozen=True)
class T:
    """A tensor to create for the call: flat values in C order, shape, dtype name."""

    flat: tuple[Any, ...]
    shape: tuple[int, ...]
    dtype: str
    requires_grad: bool = False
    other_device: bool = False

    def val(self) -> REF.Val:
        """The values as the tensor stores them (float32 rounding, integer wrapping)."""
        return REF.Val(tuple(REF.cast(v, self.dtype) for v in self.flat), self.shape, self.dtype)


class Draw:
    """``random.Random``-like drawing on top of hypothesis (so failures shrink and replay)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def choice(self, seq: Sequence[Any]) -> Any:
        return self.data.draw(st.sampled_from(list(seq)))

    def randint(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def random(self) -> float:
        return self.data.draw(st.floats(0, 1, exclude_max=True))


DTYPES = ("bool", "uint8", "int32", "int64", "float32", "float64")
SHAPES = ((), (0,), (1,), (3,), (2, 3), (3, 1), (1, 3), (2, 0), (2, 1, 3), (2, 3, 4), (4, 3), (3, 3))
SPECIAL = (math.nan, math.inf, -math.inf, -0.0, 1e30, -1e30, 1e-40)
HUGE = (2**62, 2**63, 2**70, -(2**70), -(2**63) - 1)
HOSTILE: tuple[Any, ...] = (
    None,
    "a",
    1.5,
    True,
    [0],
    (0, 0),
    *HUGE,
    object(),
    math.nan,
    math.inf,
    -1,
    0,
    1,
    [],
    (),
    {},
    b"x",
    1 + 2j,
    [[1, 2], [3]],
    ...,
)


def numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def value(r: Draw, dtype: str) -> Any:
    if dtype == "bool":
        return r.random() < 0.5
    if dtype == "uint8":
        return r.randint(0, 255)
    if dtype.startswith("int"):
        return r.choice((r.randint(-5, 5), r.randint(-100, 100), 0))
    if r.random() < 0.08:
        return r.choice(SPECIAL)
    return round(r.random() * 6 - 3, 3)


def tensor(r: Draw, shape: Sequence[int] | None = None, dtype: str | None = None, floating: bool = False) -> T:
    shape = tuple(shape) if shape is not None else r.choice(SHAPES)
    dtype = dtype or (r.choice(("float32", "float64")) if floating else r.choice(DTYPES))
    flat = tuple(value(r, dtype) for _ in range(numel(shape)))
    rg = dtype.startswith("float") and r.random() < 0.3
    return T(flat, shape, dtype, rg)


def dim(r: Draw, x: T) -> Any:
    n = len(x.shape)
    if r.random() < 0.85:
        return r.randint(-n - 2, n + 1)
    return r.choice(HOSTILE)


def scalar(r: Draw) -> Any:
    return r.choice((0, 1, -1, 2, 2.5, -0.5, math.nan, math.inf, -math.inf, True, False, *HUGE, 1e308, 1e-320))


def other(r: Draw, x: T) -> Any:
    u = r.random()
    if u < 0.45:  # broadcast-compatible
        shape = [1 if r.random() < 0.3 else s for s in x.shape]
        if shape and r.random() < 0.3:
            shape = shape[r.randint(0, len(shape)) :]
        dt = x.dtype if r.random() < 0.5 else None
        return tensor(r, tuple(shape), dt)
    if u < 0.58:
        return tensor(r)
    if u < 0.63:
        t = tensor(r, x.shape, x.dtype)
        return T(t.flat, t.shape, t.dtype, t.requires_grad, other_device=True)
    if u < 0.88:
        return scalar(r)
    return r.choice(HOSTILE)


def shape_arg(r: Draw, x: T) -> Any:
    n = numel(x.shape)
    u = r.random()
    if u < 0.45:
        cands = [(n,), (-1,), (1, n), (n, 1), (-1, 1)]
        if n and n % 2 == 0:
            cands += [(2, n // 2), (n // 2, -1)]
        return r.choice(cands)
    if u < 0.8:
        return tuple(r.randint(-2, 5) for _ in range(r.randint(0, 3)))
    return r.choice((*HOSTILE, (2**62, 2**62), (-1, -1), (0, -1), (1.5,), ("a",), (None,)))


def index_key(r: Draw, x: T) -> Any:
    parts: list[Any] = []
    for _ in range(r.randint(0, len(x.shape) + 1)):
        n = x.shape[len(parts)] if len(parts) < len(x.shape) else 2
        u = r.random()
        if u < 0.3:
            parts.append(r.randint(-n - 1, n))
        elif u < 0.55:
            parts.append(
                slice(r.choice((None, -1, 0, 1, 5)), r.choice((None, -1, 2, 10)), r.choice((None, 1, 2, -1, 0)))
            )
        elif u < 0.6:
            parts.append(None)
        elif u < 0.65:
            parts.append(...)
        elif u < 0.78:
            parts.append(T(tuple(r.randint(-n - 1, n) for _ in range(2)), (2,), "int64"))
        elif u < 0.83:
            parts.append([r.randint(-n - 1, n)])
        elif u < 0.9:
            parts.append(tensor(r, x.shape[len(parts) : len(parts) + 1] or (2,), "bool"))
        else:
            parts.append(r.choice(HOSTILE))
    if len(parts) == 1 and r.random() < 0.5:
        return parts[0]
    return tuple(parts)


def index_tensor(r: Draw, x: T, dtype: str = "int64") -> T:
    n = x.shape[0] if x.shape else 1
    shape = r.choice((x.shape, (2,), (1,) * len(x.shape), ()))
    return T(tuple(r.randint(-n - 1, n) for _ in range(numel(shape))), tuple(shape), dtype)


# ---------------------------------------------------------------------------- the catalogue
Args = Callable[[Draw, T], tuple[tuple[Any, ...], dict[str, Any]]]


def _none(r: Draw, x: T) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (), {}


def _other(r: Draw, x: T) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (other(r, x),), {}


def _dim(r: Draw, x: T) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (dim(r, x),), {}


def _reduce(r: Draw, x: T) -> tuple[tuple[Any, ...], dict[str, Any]]:
    u = r.random()
    if u < 0.2:
        return (), {}
    if u < 0.75:
        return (dim(r, x),), ({"keepdim": r.choice((True, False, 1, "yes"))} if r.random() < 0.7 else {})
    return ((dim(r, x), dim(r, x)),), {}


def _unary_ops() -> list[str]:
    return "abs neg exp expm1 log log1p log2 log10 sqrt rsqrt reciprocal square sin cos tan tanh sigmoid relu floor ceil round trunc sign isnan isinf isfinite logical_not bitwise_not".split()


OPS: dict[str, tuple[tuple[str, ...], Args]] = {}
for _n in _unary_ops():
    OPS[_n] = (("fn", "method"), _none)
for _n in "add sub mul div floor_divide remainder pow maximum minimum fmax fmin eq ne lt le gt ge logical_and logical_or logical_xor bitwise_and bitwise_or bitwise_xor matmul mm bmm mv dot outer".split():
    OPS[_n] = (("fn", "method"), _other)
DUNDER = {
    "__add__": "add",
    "__radd__": "add",
    "__sub__": "sub",
    "__rsub__": "sub",
    "__mul__": "mul",
    "__rmul__": "mul",
    "__truediv__": "div",
    "__rtruediv__": "div",
    "__floordiv__": None,
    "__rfloordiv__": None,
    "__mod__": None,
    "__rmod__": None,
    "__pow__": None,
    "__rpow__": None,
    "__matmul__": None,
    "__and__": None,
    "__or__": None,
    "__xor__": None,
    "__lt__": "lt",
    "__le__": "le",
    "__gt__": "gt",
    "__ge__": "ge",
    "__eq__": "eq",
    "__ne__": "ne",
}
for _n in DUNDER:
    OPS[_n] = (("method",), _other)
for _n in "sum mean prod amax amin argmax argmin max min any all var std count_nonzero".split():
    OPS[_n] = (("fn", "method"), _reduce)
for _n in "logsumexp softmax log_softmax cumsum cumprod unsqueeze squeeze unbind".split():
    OPS[_n] = (("fn", "method"), _dim)
OPS["reshape"] = (("fn", "method"), lambda r, x: ((shape_arg(r, x),), {}))
OPS["view"] = (("method",), lambda r, x: ((shape_arg(r, x),), {}))
OPS["expand"] = (("method",), lambda r, x: ((shape_arg(r, x),), {}))
OPS["broadcast_to"] = (("fn", "method"), lambda r, x: ((shape_arg(r, x),), {}))
OPS["repeat"] = (("method",), lambda r, x: ((shape_arg(r, x),), {}))
OPS["permute"] = (
    ("fn", "method"),
    lambda r, x: ((tuple(dim(r, x) for _ in range(r.choice((len(x.shape), len(x.shape), 1, 0, 3)))),), {}),
)
OPS["transpose"] = (("fn", "method"), lambda r, x: ((dim(r, x), dim(r, x)), {}))
OPS["flatten"] = (("fn", "method"), lambda r, x: ((dim(r, x), dim(r, x)), {}))
OPS["flip"] = (("fn",), lambda r, x: ((tuple(dim(r, x) for _ in range(r.randint(0, 2))),), {}))
OPS["roll"] = (("fn", "method"), lambda r, x: ((r.randint(-3, 3), dim(r, x)), {}))
OPS["movedim"] = (("fn", "method"), lambda r, x: ((dim(r, x), dim(r, x)), {}))
OPS["narrow"] = (
    ("fn", "method"),
    lambda r, x: ((dim(r, x), r.randint(-4, 4), r.choice((r.randint(-1, 3), 1.5, None))), {}),
)
OPS["select"] = (("fn", "method"), lambda r, x: ((dim(r, x), r.choice((r.randint(-4, 4), 2**70, 1.0))), {}))
OPS["split"] = (("fn", "method"), lambda r, x: ((r.choice((1, 2, 0, -1, [1, 2], [1, 1, 1], 1.5)), dim(r, x)), {}))
OPS["chunk"] = (("fn", "method"), lambda r, x: ((r.choice((1, 2, 0, -1, 5, 2.0)), dim(r, x)), {}))
OPS["t"] = (("fn", "method"), _none)
OPS["clone"] = (("fn", "method"), _none)
OPS["unflatten"] = (("fn", "method"), lambda r, x: ((dim(r, x), shape_arg(r, x)), {}))
OPS["cat"] = (("list",), lambda r, x: (([x, other(r, x)], dim(r, x)), {}))
OPS["stack"] = (("list",), lambda r, x: (([x, other(r, x)], dim(r, x)), {}))
OPS["where"] = (("where",), lambda r, x: ((other(r, x), other(r, x)), {}))
OPS["clamp"] = (
    ("fn", "method"),
    lambda r, x: (
        (),
        {"min": r.choice((None, scalar(r), other(r, x))), "max": r.choice((None, scalar(r), other(r, x)))},
    ),
)
OPS["lerp"] = (("fn", "method"), lambda r, x: ((other(r, x), r.choice((0.5, other(r, x)))), {}))
OPS["masked_fill"] = (
    ("fn", "method"),
    lambda r, x: (
        (tensor(r, x.shape if r.random() < 0.7 else None, "bool" if r.random() < 0.8 else None), scalar(r)),
        {},
    ),
)
OPS["gather"] = (
    ("fn", "method"),
    lambda r, x: ((dim(r, x), index_tensor(r, x, r.choice(("int64", "int64", "int32", "float32")))), {}),
)
OPS["index_select"] = (
    ("fn", "method"),
    lambda r, x: (
        (dim(r, x), T(tuple(r.randint(-3, 3) for _ in range(2)), (2,), r.choice(("int64", "int32", "float32")))),
        {},
    ),
)
OPS["take_along_dim"] = (("fn", "method"), lambda r, x: ((index_tensor(r, x), dim(r, x)), {}))
OPS["scatter"] = (("fn", "method"), lambda r, x: ((dim(r, x), index_tensor(r, x), other(r, x)), {}))
OPS["scatter_add"] = (("fn", "method"), lambda r, x: ((dim(r, x), index_tensor(r, x), other(r, x)), {}))
OPS["__getitem__"] = (("method",), lambda r, x: ((index_key(r, x),), {}))
OPS["__setitem__"] = (("method",), lambda r, x: ((index_key(r, x), other(r, x)), {}))
for _n in "add_ sub_ mul_ div_ copy_ __iadd__ __isub__ __imul__ __itruediv__".split():
    OPS[_n] = (("method",), _other)
OPS["fill_"] = (("method",), lambda r, x: ((r.choice((scalar(r), other(r, x))),), {}))
OPS["zero_"] = (("method",), _none)
OPS["item"] = (("method",), _none)
OPS["tolist"] = (("method",), _none)
OPS["__float__"] = (("method",), _none)
OPS["__int__"] = (("method",), _none)
OPS["__bool__"] = (("method",), _none)
OPS["__len__"] = (("method",), _none)
OPS["__repr__"] = (("method",), _none)
OPS["to"] = (
    ("method",),
    lambda r, x: ((r.choice(("float32", "int64", "bool", None, "cpu", "attack2", 3, "x", "cuda:7")),), {}),
)
OPS["norm"] = (
    ("fn", "method"),
    lambda r, x: ((r.choice((1, 2, "fro", math.inf, 0, -1, "nuc", "x")), dim(r, x) if r.random() < 0.5 else None), {}),
)
OPS["div_mode"] = (
    ("div_mode",),
    lambda r, x: ((other(r, x),), {"rounding_mode": r.choice((None, "trunc", "floor", "bad", 1))}),
)
OPS["add_alpha"] = (("add_alpha",), lambda r, x: ((other(r, x),), {"alpha": r.choice((2, 0.5, True, "a", math.nan))}))
OPS["requires_grad_"] = (("method",), lambda r, x: ((r.choice((True, False, "yes", None)),), {}))
OPS["backward"] = (
    ("backward",),
    lambda r, x: (
        (r.choice((None, other(r, x), tensor(r, x.shape, x.dtype))),),
        {"retain_graph": r.choice((None, True))},
    ),
)

INPLACE = {n for n in OPS if n.endswith("_") and not n.startswith("__")} | {
    "__setitem__",
    "__iadd__",
    "__isub__",
    "__imul__",
    "__itruediv__",
}
DTYPE_NAMES = {"float32", "int64", "bool"}


# ---------------------------------------------------------------------------- running a call
def materialize(v: Any) -> Any:
    if isinstance(v, T):
        device = "attack2" if v.other_device else None
        dt = getattr(plugrad, v.dtype)
        if 0 in v.shape or not v.shape:
            t = (
                plugrad.zeros(v.shape, dtype=dt, device=device)
                if 0 in v.shape
                else plugrad.tensor(v.flat[0], dtype=dt, device=device)
            )
        else:
            from plugrad.testing._reference import unflatten

            t = plugrad.tensor(unflatten(list(v.flat), v.shape), dtype=dt, device=device)
        if v.requires_grad:
            t.requires_grad_(True)
        return t
    if isinstance(v, tuple):
        return tuple(materialize(a) for a in v)
    if isinstance(v, list):
        return [materialize(a) for a in v]
    if isinstance(v, dict):
        return {k: materialize(a) for k, a in v.items()}
    if isinstance(v, slice):
        return slice(materialize(v.start), materialize(v.stop), materialize(v.step))
    if isinstance(v, str) and v in DTYPE_NAMES:
        return getattr(plugrad, v)
    return v


class Hang(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("the call did not return within the time limit")


def call(name: str, form: str, x: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if form == "fn":
        return getattr(plugrad, name)(x, *args, **kwargs)
    if form == "method":
        return getattr(x, name)(*args, **kwargs)
    if form == "list":
        return getattr(plugrad, name)(*args, **kwargs)
    if form == "where":
        cond = x if x.dtype == plugrad.bool else x > 0
        return plugrad.where(cond, *args)
    if form == "div_mode":
        return plugrad.div(x, *args, **kwargs)
    if form == "add_alpha":
        return plugrad.add(x, *args, **kwargs)
    if form == "backward":
        y = x * 2 if x.requires_grad else x
        return y.backward(*args, **kwargs)
    raise ValueError(form)


def run_case(
    name: str, form: str, xs: T, args_s: tuple[Any, ...], kwargs_s: dict[str, Any], limit: float = 5.0
) -> tuple[Any, Any]:
    """Run one call; check error discipline and unchanged inputs. Returns (result or None, x)."""
    x = materialize(xs)
    args = materialize(args_s)
    kwargs = materialize(kwargs_s)
    involved = tensors_in([x, args, kwargs])
    before = snapshot(involved)
    context = f"{name} [{form}] x={xs!r} args={args_s!r} kwargs={kwargs_s!r}"
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        result = call(name, form, x, args, kwargs)
    except Hang:
        raise AssertionError(f"hang: {context}") from None
    except Exception as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        check_error(exc, context, PYTHON_PROTOCOL.get(name, ()))
        assert snapshot(involved) == before, f"a failed call changed its inputs: {context}: {exc!r}"
        return _FAILED, x
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if name not in INPLACE and name != "backward":
        assert snapshot(involved) == before or name == "requires_grad_", (
            f"an out-of-place op changed its inputs: {context}"
        )
    return result, x


_FAILED = object()
#: int(tensor(inf)) raises OverflowError as int(float("inf")) does (and as PyTorch does)
PYTHON_PROTOCOL: dict[str, tuple[type[BaseException], ...]] = {"__int__": (OverflowError,)}


# ---------------------------------------------------------------------------- references
def reference(name: str, form: str, xs: T, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What attack_ref says about this call (Expect, ERROR or UNKNOWN)."""
    if _on_other_device((xs, args, kwargs)):
        return REF.UNKNOWN
    base = DUNDER.get(name, name) if name in DUNDER else name
    x = xs.val()
    conv = [a.val() if isinstance(a, T) else a for a in args]
    if kwargs and base not in REF_KW_OK:
        return REF.UNKNOWN
    if base in REF.UNARY_FLOAT or base in REF.PREDICATES:
        return REF.unary(base, x)
    if base in REF.BINARY and base is not None and len(conv) == 1:
        if not isinstance(conv[0], (REF.Val, int, float)):
            return REF.UNKNOWN
        if (name.startswith("__r") and name not in ("__rmul__", "__radd__")) or (
            form == "method" and name.startswith("__r")
        ):
            return REF.binary(base, x, conv[0], reflected=True)
        return REF.binary(base, x, conv[0])
    if base in ("sum", "prod", "mean", "amax", "amin"):
        dim = conv[0] if conv else None
        return REF.reduction(base, x, dim, kwargs.get("keepdim", False))
    if base == "reshape":
        return REF.reshape(x, conv[0])
    if base == "permute":
        return REF.permute(x, conv[0])
    if base == "transpose":
        return REF.transpose(x, *conv)
    if base == "flip":
        return REF.flip(x, conv[0])
    if base == "unsqueeze":
        return REF.unsqueeze(x, conv[0])
    if base == "squeeze":
        return REF.squeeze(x, conv[0])
    if base == "flatten":
        return REF.flatten(x, *conv)
    if base == "narrow":
        return REF.narrow(x, *conv)
    if base == "select":
        return REF.select(x, *conv)
    if base == "__getitem__":
        return REF.getitem(x, conv[0])
    if base in ("cat", "stack"):
        tensors = [a.val() if isinstance(a, T) else a for a in args[0]]
        return (REF.cat if base == "cat" else REF.stack)(tensors, conv[1])
    if base == "clone":
        return REF.Expect(x.flat, x.shape, x.dtype)
    return REF.UNKNOWN


def _on_other_device(obj: Any) -> bool:
    if isinstance(obj, T):
        return obj.other_device
    if isinstance(obj, (list, tuple)):
        return any(_on_other_device(o) for o in obj)
    if isinstance(obj, dict):
        return any(_on_other_device(o) for o in obj.values())
    return False


REF_KW_OK = {"sum", "prod", "mean", "amax", "amin"}


#: reference dtype -> (rtol, atol) for plugrad.testing.assert_close; integers and bools compare exactly
_TOLERANCES = {"float32": (2e-6, 1e-6), "float16": (2e-6, 1e-6), "float64": (1e-12, 1e-12)}


def check_against(result: Any, exp: Any, context: str) -> None:
    if exp is REF.UNKNOWN:
        return
    assert result is not _FAILED or exp is REF.ERROR or True
    if exp is REF.ERROR:
        assert result is _FAILED, f"plugrad accepted a call PyTorch refuses: {context} -> {result!r}"
        return
    assert result is not _FAILED, f"plugrad refused a valid call: {context}"
    assert isinstance(result, plugrad.Tensor), f"{context}: expected a Tensor, got {type(result).__name__}"
    assert tuple(result.shape) == exp.shape, f"{context}: shape {tuple(result.shape)} != reference {exp.shape}"
    assert result.dtype == getattr(plugrad, exp.dtype), f"{context}: dtype {result.dtype} != reference {exp.dtype}"
    from plugrad.testing._reference import flatten

    got = flatten(result.detach().tolist()) if result.dim() else [result.item()]
    assert len(got) == len(exp.flat), context
    rtol, atol = _TOLERANCES.get(exp.dtype, (0.0, 0.0))
    assert_close(
        got,
        list(exp.flat),
        rtol=rtol,
        atol=atol,
        equal_nan=True,
        check_dtype=exp.dtype not in _TOLERANCES,  # integers and bools: Python int/bool exactly
        msg=lambda m: f"{context}: values differ from the reference\n{m}",
    )


# ---------------------------------------------------------------------------- tests
def _draw_case(data: st.DataObject, name: str) -> tuple[str, T, tuple[Any, ...], dict[str, Any]]:
    r = Draw(data)
    forms, make_args = OPS[name]
    form = r.choice(forms)
    x = tensor(r)
    if name == "backward" and r.random() < 0.7:
        x = tensor(r, floating=True)
        x = T(x.flat, x.shape, x.dtype, True)
    args, kwargs = make_args(r, x)
    return form, x, args, kwargs


REDUCTION_SLACK = {"sum", "mean", "prod"}


@pytest.mark.parametrize("name", sorted(OPS))
@SETTINGS
@given(data=st.data())
def test_hostile_arguments(name: str, data: st.DataObject) -> None:
    form, xs, args, kwargs = _draw_case(data, name)
    result, _ = run_case(name, form, xs, args, kwargs)
    count("api: calls")
    count("api: calls that failed cleanly", result is _FAILED)
    exp = reference(name, form, xs, args, kwargs)
    if exp is REF.UNKNOWN:
        return
    count("api: calls checked against a Python reference")
    context = f"{name} [{form}] x={xs!r} args={args!r} kwargs={kwargs!r}"
    if name in REDUCTION_SLACK and isinstance(exp, REF.Expect) and result is not _FAILED and exp.dtype == "float32":
        exp = _loosen(result, exp)
    check_against(result, exp, context)


def _loosen(result: Any, exp: REF.Expect) -> REF.Expect:
    """float32 reductions: accept a result within float32 rounding of the (exact) reference."""
    from plugrad.testing._reference import flatten, is_close

    got = flatten(result.tolist()) if result.dim() else [result.item()]
    if len(got) != len(exp.flat):
        return exp
    flat = tuple(g if is_close(g, e, 1e-5, 1e-5) else e for g, e in zip(got, exp.flat))
    return REF.Expect(flat, exp.shape, exp.dtype)


CREATION = (
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "rand",
    "randn",
    "randint",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "rand_like",
    "randn_like",
)


def _creation_case(r: Draw, name: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    kw: dict[str, Any] = {}
    dt = r.choice((None, "float32", "float64", "int64", "int32", "bool", "uint8", "bad", float, int))
    if dt is not None:
        kw["dtype"] = getattr(plugrad, dt) if isinstance(dt, str) and hasattr(plugrad, dt) else dt
    if r.random() < 0.2:
        kw["requires_grad"] = r.choice((True, False))
    if r.random() < 0.15:
        kw["device"] = r.choice(("cpu", "attack2", "tpu", "cuda:3", 7, None))
    if name in ("tensor", "as_tensor"):
        data = r.choice(
            (
                tensor(r).flat,
                [[1, 2], [3]],
                [1, "a"],
                [2**63],
                [2**70],
                [-(2**64)],
                [1.0, None],
                [],
                [[]],
                [[], []],
                [1, [2]],
                1e308,
                [math.nan, math.inf],
                "abc",
                None,
                {1: 2},
                [True, 2, 3.5],
                [1 + 2j],
                b"ab",
                [[1.0] * 3] * 2,
                [object()],
            )
        )
        return (list(data) if isinstance(data, tuple) else data,), kw
    if name in ("zeros", "ones", "empty", "rand", "randn"):
        size_ = r.choice(
            (
                (2, 3),
                (0,),
                (-1,),
                (2**62, 2**62),
                (1.5,),
                ("a",),
                (None,),
                ((2, 3),),
                ([2, 3],),
                (True,),
                (2**63,),
                ((2, -3),),
            )
        )
        return size_, kw
    if name == "full":
        return (r.choice(((2, 3), (0,), (), (-1,), [1.5], ("a",))), r.choice((scalar(r), "x", None, [1]))), kw
    if name == "arange":
        return tuple(
            r.choice((0, 1, 5, -3, 2.5, 0.0, math.nan, math.inf, -1, "a", None, 2**70, 1e-300))
            for _ in range(r.randint(1, 3))
        ), kw
    if name == "linspace":
        return (
            r.choice((0, 1.5, math.nan, math.inf, "a")),
            r.choice((1, 10, -1, math.inf)),
            r.choice((0, 1, 5, -1, 2.5, None, 2**62)),
        ), kw
    if name == "randint":
        return (
            r.choice((0, 5, -3, 2**63, 1.5)),
            r.choice((10, 0, 5, 2**64, -5)),
            r.choice(((3,), (0,), (-1,), 3, None)),
        ), kw
    x = tensor(r)
    if name == "full_like":
        return (x, r.choice((scalar(r), "x"))), kw
    return (x,), kw


@pytest.mark.parametrize("name", CREATION)
@SETTINGS
@given(data=st.data())
def test_creation_hostile_arguments(name: str, data: st.DataObject) -> None:
    r = Draw(data)
    args_s, kwargs = _creation_case(r, name)
    args = materialize(args_s)
    involved = tensors_in([args])
    before = snapshot(involved)
    context = f"plugrad.{name}(*{args_s!r}, **{kwargs!r})"
    count("api: creation calls")
    try:
        result = getattr(plugrad, name)(*args, **kwargs)
    except Exception as exc:
        check_error(exc, context)
        assert snapshot(involved) == before, context
        return
    assert isinstance(result, plugrad.Tensor), context
    assert snapshot(involved) == before, context
    # a created tensor holds what was asked for: the dtype asked, the shape asked, finite ints
    want = kwargs.get("dtype")
    if isinstance(want, plugrad.dtype):
        assert result.dtype == want, context
    if name in ("zeros", "ones", "empty", "rand", "randn") and all(isinstance(a, int) for a in args):
        assert tuple(result.shape) == tuple(args), context
    if name in ("zeros", "ones"):
        assert all(v == (name == "ones") for v in _flat(result.tolist())), context
    if name in ("full", "full_like") and result.numel():
        fill = args[-1]
        got = _flat(result.tolist())
        if result.dtype.is_floating_point and isinstance(fill, (int, float)):
            assert all(REF.cast(fill, result.dtype.name) == g or (g != g and fill != fill) for g in got), context
        elif result.dtype.category == 1 and isinstance(fill, float):  # ints (bool takes NaN as true)
            assert math.isfinite(fill), f"a non-finite fill became an integer tensor: {context} -> {result!r}"
    if name in ("rand", "rand_like") and result.numel():
        assert all(0 <= v < 1 for v in _flat(result.tolist())), context


def _flat(v: Any) -> list[Any]:
    from plugrad.testing._reference import flatten

    return flatten(v)


# ---------------------------------------------------------------------------- devices
TWO_TENSOR_OPS = sorted(
    n
    for n in OPS
    if n
    in set(
        "add sub mul div floor_divide remainder pow maximum minimum fmax fmin eq ne lt le gt ge logical_and logical_or logical_xor matmul mm dot outer".split()
    )
    | set(DUNDER)
    | {"add_", "sub_", "mul_", "div_", "__iadd__", "__imul__"}
)


@pytest.mark.parametrize("name", TWO_TENSOR_OPS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_tensors_on_two_backends_never_mix(name: str, side: str) -> None:
    """Every binary op refuses operands on two backends with PyTorch's message and a hint."""
    values: Any = [1.0, 2.0] if name in ("dot", "outer") else [[1.0, 2.0], [3.0, 4.0]]
    dtype = plugrad.bool if name in ("__and__", "__or__", "__xor__") else plugrad.float32
    a = plugrad.tensor(values, dtype=dtype)
    b = plugrad.tensor(values, dtype=dtype, device="attack2")
    x, y = (a, b) if side == "left" else (b, a)
    before = snapshot([x, y])
    with pytest.raises(RuntimeError, match=r"Expected all tensors to be on the same device.*\.to\(") as info:
        if (name in OPS and OPS[name][0] == ("method",)) or name not in dir(plugrad):
            getattr(x, name)(y)
        else:
            getattr(plugrad, name)(x, y)
    check_error(info.value)
    assert snapshot([x, y]) == before
    count("api: two-backend calls")


# ---------------------------------------------------------------------------- fixed regressions
def test_regressions_found_by_the_attack() -> None:
    """Each of these leaked a backend exception, or silently did something wrong, before."""
    t = plugrad.tensor
    cases: list[tuple[Callable[[], Any], type[BaseException], str]] = [
        (lambda: t([1, 2], dtype=plugrad.int32) // 2**63, RuntimeError, "without overflow"),
        (lambda: t([1, 2], dtype=plugrad.int32).add_(2**63), RuntimeError, "without overflow"),
        (lambda: t([1, 2], dtype=plugrad.uint8).mul_(2**62), RuntimeError, "without overflow"),
        (lambda: t([1, 2]).fill_(2**70), RuntimeError, "without overflow"),
        (lambda: t([1, 2]).clamp(min=2**70), RuntimeError, "without overflow"),
        (lambda: t([1, 2]).masked_fill(t([True, False]), 2**70), RuntimeError, "without overflow"),
        (lambda: plugrad.where(t([True, False]), 2**70, t([1, 2])), RuntimeError, "without overflow"),
        (lambda: t([1, 2]).__setitem__(0, math.inf), RuntimeError, "without overflow"),
        (lambda: t([1, 2]).__setitem__(0, 2**70), RuntimeError, "without overflow"),
        (lambda: plugrad.full((2,), 2**63, dtype=plugrad.int64), RuntimeError, "without overflow"),
        (lambda: plugrad.full((2,), math.nan, dtype=plugrad.int64), RuntimeError, "without overflow"),
        (lambda: plugrad.full_like(t([1, 2]), math.inf), RuntimeError, "without overflow"),
        (lambda: plugrad.arange(math.inf), RuntimeError, "unsupported range"),
        (lambda: plugrad.linspace("a", 1, 3), TypeError, "linspace"),
        (lambda: plugrad.roll(t(2.5), -2, -1), IndexError, "Dimension"),
        (lambda: t([[1.0]]).sum(True), TypeError, "bool"),
        (lambda: t([[1.0]]).argmin(True), TypeError, "bool"),
        (lambda: t([[1.0]]).cumsum(True), TypeError, "bool"),
        (lambda: plugrad.amax(t(3), 1), IndexError, "Dimension out of range"),
        (lambda: plugrad.any(t(0), -2), IndexError, "Dimension out of range"),
        (lambda: plugrad.count_nonzero(t([1.0]), {}), TypeError, "dim"),
        (lambda: t(2, dtype=plugrad.int32).add_(t(1.5, requires_grad=True)), RuntimeError, "can't be cast"),
        (lambda: plugrad.add(t([1, 2]), t([1, 2]), alpha=0.5), RuntimeError, "alpha"),
        (lambda: plugrad.add(t([1.0]), t([1.0]), alpha=True), RuntimeError, "alpha"),
        (lambda: plugrad.movedim(t(4), 0, 1), IndexError, "Dimension out of range"),
    ]
    failures = []
    for make, exc_type, match in cases:
        try:
            got = make()
        except Exception as exc:
            check_error(exc)
            if not isinstance(exc, exc_type) or match not in str(exc):
                failures.append(f"{exc!r} (expected {exc_type.__name__} with {match!r})")
            continue
        failures.append(f"no error, got {got!r} (expected {exc_type.__name__} with {match!r})")
    assert not failures, "\n".join(failures)
    cases2: list[tuple[Callable[[], Any], type[BaseException], str]] = [
        (lambda: plugrad.arange(0, 2**70, 1e-300), RuntimeError, "too many elements"),
    ]
    for make, exc_type, match in cases2:
        with pytest.raises(exc_type, match=match):
            make()
    # true division of integers converts each operand to float from its own dtype: this
    # gave 1/255 (the int32 -1 went through uint8 first), a silently wrong result
    assert (t([1], dtype=plugrad.uint8) / t(-1, dtype=plugrad.int32)).tolist() == [-1.0]
    assert (t([200], dtype=plugrad.uint8) / t([-1], dtype=plugrad.int8)).tolist() == [-200.0]
    # and the valid neighbours of those calls still work
    assert plugrad.linspace(0, math.inf, 1).tolist() == [0.0]
    assert plugrad.movedim(t(4), 0, -1).item() == 4
    assert (t([1, 2], dtype=plugrad.int32) + (2**31 - 1)).tolist() == [-(2**31), -(2**31) + 1]  # wraps as in PyTorch
    assert plugrad.full((2,), 2**63 - 1).dtype == plugrad.int64


if ATTACK:  # the op catalogue's size, for the report
    count("api: ops attacked", len(OPS))
