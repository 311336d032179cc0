"""Bitwise ops on integer and bool tensors: ``&``, ``|``, ``^``, ``~``, ``<<``, ``>>``, their
function and method forms and in-place variants, against Python's operators on the same
values (wrapped to the dtype's two's complement range), with type promotion, broadcasting,
errors, and the Python fallback on a backend without the optional kernels."""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_helpers import broadcast_ref, flatten
from plugrad.backends import BackendSpec, get_backend, get_registry, hookimpl

SETTINGS = settings(max_examples=25, deadline=None)
INT_DTYPES = {
    "uint8": (plugrad.uint8, 8, False),
    "int8": (plugrad.int8, 8, True),
    "int16": (plugrad.int16, 16, True),
    "int32": (plugrad.int32, 32, True),
    "int64": (plugrad.int64, 64, True),
}


def wrap(v: int, bits: int, signed: bool) -> int:
    """``v`` as the dtype stores it (two's complement, modulo ``2**bits``)."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if signed and v >= 1 << (bits - 1) else v


def shift_ref(a: int, s: int, bits: int, signed: bool, left: bool) -> int:
    """C++'s shifts on the dtype, as PyTorch defines them for counts outside ``[0, bits)``."""
    if left:
        return wrap(a << s, bits, signed) if 0 <= s < bits else 0
    if 0 <= s < bits:
        return a >> s  # Python's >> is arithmetic (floor), as for signed C++ ints
    return -1 if a < 0 else 0


def values(rng: random.Random, n: int, bits: int, signed: bool) -> list[int]:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    edge = [lo, hi, 0, -1 if signed else 1, 1]
    return [rng.choice(edge) if rng.random() < 0.3 else rng.randint(lo, hi) for _ in range(n)]


BINARY: dict[str, tuple[Callable[..., Any], Callable[[int, int], int]]] = {
    "and": (operator.and_, operator.and_),
    "or": (operator.or_, operator.or_),
    "xor": (operator.xor, operator.xor),
    "bitwise_and": (plugrad.bitwise_and, operator.and_),
    "bitwise_or": (plugrad.bitwise_or, operator.or_),
    "bitwise_xor": (plugrad.bitwise_xor, operator.xor),
}


@SETTINGS
@given(
    name=st.sampled_from(sorted(BINARY)),
    dtype=st.sampled_from(sorted(INT_DTYPES)),
    shapes=st.sampled_from([((), ()), ((4,), ()), ((3, 4), (4,)), ((3, 1), (1, 4)), ((1, 4), (3, 4))]),
    seed=st.integers(0, 10**6),
)
def test_binary_bitwise_matches_python(name: str, dtype: str, shapes: Any, seed: int) -> None:
    fn, ref = BINARY[name]
    dt, bits, signed = INT_DTYPES[dtype]
    rng = random.Random(seed)
    sa, sb = shapes
    va = values(rng, max(1, _n(sa)), bits, signed)
    vb = values(rng, max(1, _n(sb)), bits, signed)
    a = plugrad.tensor(va, dtype=dt).reshape(sa)
    b = plugrad.tensor(vb, dtype=dt).reshape(sb)
    out = fn(a, b)
    assert out.dtype is dt and out.grad_fn is None
    assert out.tolist() == broadcast_ref(ref, (a.tolist(), sa), (b.tolist(), sb))


def _n(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


@pytest.mark.parametrize("dtype", sorted(INT_DTYPES))
def test_invert(dtype: str) -> None:
    dt, bits, signed = INT_DTYPES[dtype]
    vs = values(random.Random(1), 12, bits, signed)
    t = plugrad.tensor(vs, dtype=dt)
    expected = [wrap(~v, bits, signed) for v in vs]
    assert (~t).tolist() == expected and plugrad.bitwise_not(t).tolist() == expected
    assert t.bitwise_not().dtype is dt


@pytest.mark.parametrize("dtype", sorted(INT_DTYPES))
@pytest.mark.parametrize("left", [True, False])
def test_shifts(dtype: str, left: bool) -> None:
    dt, bits, signed = INT_DTYPES[dtype]
    rng = random.Random(bits + left)
    vs = values(rng, 16, bits, signed)
    counts = [rng.choice([0, 1, 3, bits - 1, bits, bits + 5, -1]) for _ in vs]
    a = plugrad.tensor(vs, dtype=dt)
    s = plugrad.tensor(counts, dtype=dt) if signed else None  # negative counts need a signed dtype
    op = operator.lshift if left else operator.rshift
    for c in (0, 1, 3, bits - 1, bits, bits + 2):
        assert op(a, c).tolist() == [shift_ref(v, c, bits, signed, left) for v in vs], c
    if s is not None:  # tensor counts (negative ones included) for signed dtypes
        assert op(a, s).tolist() == [shift_ref(v, c, bits, signed, left) for v, c in zip(vs, counts)]
    fn = plugrad.bitwise_left_shift if left else plugrad.bitwise_right_shift
    assert fn(a, 1).tolist() == op(a, 1).tolist()


def test_number_on_the_left_and_promotion() -> None:
    a = plugrad.tensor([5, 3, 1])
    assert (1 << a).tolist() == [32, 8, 2] and (64 >> a).tolist() == [2, 8, 32]
    assert (6 & a).tolist() == [4, 2, 0] and (True & plugrad.tensor([True, False])).tolist() == [True, False]
    i32 = plugrad.tensor([1, 2], dtype=plugrad.int32)
    assert (i32 & plugrad.tensor([3, 3], dtype=plugrad.uint8)).dtype is plugrad.int32
    assert (
        plugrad.tensor([1, 2], dtype=plugrad.uint8) & plugrad.tensor([3, 3], dtype=plugrad.int8)
    ).dtype is plugrad.int16
    b = plugrad.tensor([True, False])
    assert (b & 1).dtype is plugrad.int64 and (b & 1).tolist() == [1, 0]
    assert (b ^ b).dtype is plugrad.bool and (~b).tolist() == [False, True]
    assert (b << 1).tolist() == [2, 0]


def test_in_place_bitwise() -> None:
    x = plugrad.tensor([5, 3, -1])
    before = x._version
    x &= 6
    x |= plugrad.tensor([8, 8, 8])
    x ^= 1
    x <<= 1
    x >>= 2
    assert x.tolist() == [6, 5, 7] and x._version == before + 5
    y = plugrad.tensor([12, 10])
    assert y.bitwise_and_(10) is y and y.tolist() == [8, 10]
    assert y.bitwise_not_().tolist() == [-9, -11]
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        plugrad.tensor([1, 2]).bitwise_and_(plugrad.tensor([1.5, 2.0]))
    with pytest.raises(RuntimeError, match="result type Long can't be cast to the desired output type Bool"):
        plugrad.tensor([True, False]).bitwise_or_(plugrad.tensor([1, 0]))


@pytest.mark.parametrize(
    "fn,exc,msg",
    [
        (
            lambda: plugrad.ones(2) & plugrad.ones(2),
            NotImplementedError,
            "\"bitwise_and_cpu\" not implemented for 'Float'",
        ),
        (lambda: plugrad.tensor([1, 2]) | 1.5, NotImplementedError, "\"bitwise_or_cpu\" not implemented for 'Float'"),
        (lambda: plugrad.ones(2, dtype=plugrad.float64).bitwise_not(), NotImplementedError, "'Double'"),
        (lambda: ~plugrad.ones(2), TypeError, "only implemented on integer and Boolean-type tensors"),
        (lambda: plugrad.bitwise_not(2), TypeError, "argument 'input' \\(position 1\\) must be Tensor, not int"),
        (lambda: plugrad.ones(2) << 1, NotImplementedError, "\"lshift_cpu\" not implemented for 'Float'"),
        (lambda: plugrad.tensor([True]) >> True, NotImplementedError, "\"rshift_cpu\" not implemented for 'Bool'"),
        (lambda: plugrad.tensor([1]) & "a", TypeError, "must be Tensor or Number, not str"),
        (lambda: plugrad.tensor([1, 2]) & plugrad.tensor([1, 2, 3]), RuntimeError, "must match the size"),
    ],
)
def test_errors(fn: Callable[[], Any], exc: type[Exception], msg: str) -> None:
    with pytest.raises(exc, match=msg):
        fn()


# ----------------------------------------------- a backend without the bitwise kernels
class NoBitwise:
    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        base = get_backend("numpy").spec
        drop = {"bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_invert"}
        return [
            BackendSpec(
                name="numpy_nobitwise",
                device_type="cpu",
                contract_version="1.0",
                kernels={k: v for k, v in base.kernels.items() if k not in drop},
                dtypes=base.dtypes,
                array_types=base.array_types,
                priority=-5,
            )
        ]


@pytest.fixture(scope="module")
def slow_backend() -> Iterator[str]:
    reg = get_registry()
    reg.add_plugin(NoBitwise(), "test-no-bitwise")
    yield "numpy_nobitwise"
    reg.remove_plugin("test-no-bitwise")


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64"])
def test_python_fallback_agrees_with_the_kernels(slow_backend: str, dtype: str) -> None:
    dt, bits, signed = INT_DTYPES[dtype]
    rng = random.Random(3)
    va, vb = values(rng, 12, bits, signed), values(rng, 4, bits, signed)
    fa, fb = plugrad.tensor(va, dtype=dt).reshape(3, 4), plugrad.tensor(vb, dtype=dt)
    sa, sb = fa.to(slow_backend), fb.to(slow_backend)
    assert not sa._backend.has_kernel("bitwise_and")
    for op in (operator.and_, operator.or_, operator.xor):
        assert op(sa, sb).tolist() == op(fa, fb).tolist()
        assert op(sa, 6).tolist() == op(fa, 6).tolist()
    assert (~sa).tolist() == (~fa).tolist()
    assert flatten((sa & sb).tolist()) == [a & b for a, b in zip(va, vb * 3)]
    e = plugrad.zeros(0, 4, dtype=dt, device=slow_backend)
    assert (e & sb).shape == (0, 4)
