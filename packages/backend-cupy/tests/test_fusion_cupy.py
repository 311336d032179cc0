"""The ``"cupy_fuse"`` compiler on a GPU: ``cupy.fuse`` kernels against eager CuPy.

Skips with the reason where CuPy or a CUDA device is missing (test_fusion_standin.py
checks the grouping and the generated code there). Fused kernels may contract a multiply
and an add into one fused multiply-add, so results are compared within a few roundings,
not bit for bit.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import plugrad
import pytest
from plugrad.compiler import Call, Program, Ref, interpret
from plugrad.plugins import get_registry
from plugrad_cupy._fusion import FusedCall


def _no_gpu_reason() -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return "cupy is not installed"
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # a CUDA runtime without a driver raises
        return f"no CUDA device: {type(exc).__name__}: {exc}"
    if count == 0:
        return "no CUDA device: cupy.cuda.runtime.getDeviceCount() == 0"
    return None


REASON = _no_gpu_reason()
pytestmark = [
    pytest.mark.skipif(REASON is not None, reason=REASON or ""),
    # a fused kernel that cannot run warns and runs unfused: here that is a failure
    pytest.mark.filterwarnings("error::plugrad.compiler.CompileWarning"),
]

TOL = {np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6}, np.dtype(np.float64): {"rtol": 1e-12, "atol": 1e-13}}


class Recorder:
    """``backend=``: the real ``cupy_fuse`` compile function, keeping its runners."""

    def __init__(self) -> None:
        from plugrad_cupy._fusion import compile_program

        self.compile_program = compile_program
        self.runners: list[Any] = []
        self.__name__ = "cupy_fuse"

    def __call__(self, program: Program) -> Any:
        run = self.compile_program(program)
        self.runners.append(run)
        return run

    @property
    def groups(self) -> int:
        return sum(r.__plugrad_cupy__["groups"] for r in self.runners if r is not None)


def close(a: Any, b: Any) -> None:
    a = a.detach().cpu().numpy() if isinstance(a, plugrad.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, plugrad.Tensor) else np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, equal_nan=True, **TOL[a.dtype])
    else:
        np.testing.assert_array_equal(a, b)


def test_the_compiler_is_available() -> None:
    import cupy
    from plugrad_cupy import plugin
    from plugrad_cupy._fusion import compile_program

    [spec] = plugin.plugrad_compilers()
    assert spec.unavailable_reason is None and spec.compile is compile_program
    assert spec.version == cupy.__version__
    assert get_registry().compiler_infos()["cupy_fuse"].available


def test_fused_functions_are_cupy_fusions() -> None:
    import cupy

    rec = Recorder()
    fn = plugrad.compile(lambda x, y: plugrad.tanh(x * 0.5 + y) * 2.0 - 1.0, backend=rec)
    x, y = plugrad.randn(1000, 3, device="cuda"), plugrad.randn(3, device="cuda")
    for _ in range(4):
        out = fn(x, y)
    close(out, plugrad.tanh(x * 0.5 + y) * 2.0 - 1.0)
    [run] = [r for r in rec.runners if r is not None]
    assert run.__plugrad_cupy__["groups"] == 1 and run.__plugrad_cupy__["fused_calls"] == 4
    [call] = [v for v in run.__globals__.values() if isinstance(v, FusedCall)]
    assert type(call.fused).__name__ == "Fusion" and call.fn is call.fused  # the kernel ran, not the fallback
    assert isinstance(out._data, cupy.ndarray)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kernel_against_its_eager_kernel(dtype: Any) -> None:
    """Each kernel of OPS the CuPy backend has, followed by one more call, on the GPU."""
    import cupy
    from plugrad_cupy._fusion import OPS, make_compiler

    backend = get_registry().get("cupy")
    kernels = backend.spec.kernels
    compile_fn = make_compiler(cupy, lambda f: cupy.fuse(kernel_name="plugrad_fused")(f), backend="cupy")
    rng = np.random.default_rng(0)
    fused_names = set()
    for name, op in sorted(OPS.items()):
        if name not in kernels:
            continue
        x = rng.uniform(-0.95, 0.95, (64, 3)).astype(dtype)
        if name in ("log", "log2", "log10", "sqrt", "reciprocal"):
            x = np.abs(x) + dtype(0.05)
        if name == "acosh":
            x = np.abs(x) + dtype(1)
        y = rng.uniform(-0.95, 0.95, (3,)).astype(dtype)
        c, d = rng.uniform(size=(64, 3)) > 0.5, rng.uniform(size=(3,)) > 0.5
        X, Y, C, D = Ref(0), Ref(1), Ref(2), Ref(3)
        args = {
            "math": (X,) if op.arity == 1 else (X, Y),
            "compare": (X, Y),
            "predicate": (X,),
            "logic": (C,) if op.arity == 1 else (C, D),
            "where": (C, X, Y),
            "clip": (X, -0.5, 0.25),
            "astype": (X, np.dtype(np.float64)),
        }.get(op.kind, (X,))
        out_dtype = np.dtype(np.float64) if name == "astype" else np.dtype(dtype)
        if op.kind in ("compare", "predicate", "logic"):
            out_dtype = np.dtype(np.bool_)
            second = Call(kernels["logical_xor"], "logical_xor", (Ref(4), Ref(2)), {}, 5)
        else:
            second = Call(kernels["multiply"], "multiply", (Ref(4), 3), {}, 5)
        arrays = [x, y, c, d]
        program = Program(
            backend,
            6,
            [0, 1, 2, 3],
            [Call(kernels[name], name, args, {}, 4), second],
            [4, 5],
            {
                "shapes": [a.shape for a in arrays] + [(64, 3)] * 2,
                "dtypes": [a.dtype for a in arrays] + [out_dtype] * 2,
            },
        )
        run = compile_fn(program)
        if run is None:
            continue
        fused_names.add(name)
        env = [cupy.asarray(a) for a in arrays] + [None, None]
        ref = list(env)
        run(env)
        interpret(program)(ref)
        for s in (4, 5):
            assert isinstance(env[s], cupy.ndarray) and env[s].dtype == ref[s].dtype, name
            close(cupy.asnumpy(env[s]), cupy.asnumpy(ref[s]))
    assert {"add", "multiply", "tanh", "exp", "where", "clip", "astype", "sigmoid", "greater"} <= fused_names


def test_a_chain_forward_and_backward() -> None:
    def step(x: Any, y: Any) -> Any:
        a = plugrad.tanh(x * 0.5 + y) * plugrad.exp(-(y * y)) + plugrad.sigmoid(x * 3.0)
        b = plugrad.where(a > 0.5, a, -a).clamp(-1.0, 1.0) ** 2
        loss = (b - plugrad.log1p(a.abs())).sum()
        loss.backward()
        g = x.grad.clone(), y.grad.clone()
        x.grad = None
        y.grad = None
        return loss, *g

    def make() -> tuple[Any, Any]:
        g = plugrad.Generator().manual_seed(0)
        x = plugrad.randn(256, 8, generator=g).to("cuda").requires_grad_(True)
        y = plugrad.randn(8, generator=g).to("cuda").requires_grad_(True)
        return x, y

    rec = Recorder()
    compiled = plugrad.compile(step, backend=rec)
    ea, ca = make(), make()
    for _ in range(5):
        for e, c in zip(step(*ea), compiled(*ca)):
            close(e, c)
    assert rec.groups >= 2


def test_in_place_ops_in_between() -> None:
    def fn(x: Any, w: Any) -> Any:
        y = x * 2.0 + 1.0
        y.mul_(0.5)
        z = plugrad.tanh(y) - y * y
        w.add_(z.mean() * 0.1)
        u = plugrad.exp(-w * w) + w * 0.5
        y.add_(u)
        return z * 3.0 + y, u

    def make() -> tuple[Any, Any]:
        g = plugrad.Generator().manual_seed(2)
        return plugrad.randn(64, 3, generator=g).to("cuda"), plugrad.randn(64, 3, generator=g).to("cuda")

    rec = Recorder()
    compiled = plugrad.compile(fn, backend=rec)
    ea, ca = make(), make()
    for _ in range(5):
        for e, c in zip(fn(*ea), compiled(*ca)):
            close(e, c)
        close(ea[1], ca[1])
    assert rec.groups > 0


def test_a_training_step_converges_as_eager() -> None:
    """Linear + tanh + MSE + SGD, 8 steps, by name: ``plugrad.compile(step, backend="cupy_fuse")``."""

    def make_params() -> list[Any]:
        g = plugrad.Generator().manual_seed(4)
        return [
            plugrad.randn(1, 3, generator=g).to("cuda").requires_grad_(True),
            plugrad.zeros(1).to("cuda").requires_grad_(True),
        ]

    def step(params: list[Any], x: Any, y: Any) -> Any:
        w, b = params
        loss = ((plugrad.tanh(x @ w.T + b) - y) ** 2).mean()
        loss.backward()
        with plugrad.no_grad():
            for p in params:
                p.sub_(p.grad * 0.1)
                p.grad = None
        return loss

    g = plugrad.Generator().manual_seed(3)
    x = plugrad.randn(1000, 3, generator=g)
    y = plugrad.tanh(x @ plugrad.tensor([[0.5], [-1.0], [0.25]]) + 0.1)
    x, y = x.to("cuda"), y.to("cuda")
    eager_p, comp_p = make_params(), make_params()
    compiled = plugrad.compile(step, backend="cupy_fuse")
    losses = []
    for _ in range(8):
        le, lc = step(eager_p, x, y), compiled(comp_p, x, y)
        close(le, lc)
        losses.append(float(lc))
        for a, b in zip(eager_p, comp_p):
            close(a, b)
    assert losses[-1] < losses[0]
