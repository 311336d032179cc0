"""``plugrad.compile`` against hand-written NumPy, ``jax.jit``, PyTorch eager and ``torch.compile``.

    python benchmarks/compile.py                 # everything (a few minutes)
    python benchmarks/compile.py --quick         # fewer rounds, fewer op kinds (about a minute)
    python benchmarks/compile.py --only regression --profile

Workloads (issue 12, section 7), the same data and the same math in every framework:

1. **regression step**: ``Linear(1, 1)`` on 1000 samples, MSE loss, SGD step (lr 0.01);
2. **MLP step**: ``Linear(32, 64)-ReLU-Linear(64, 64)-Tanh-Linear(64, 10)``, batch 64,
   cross-entropy, SGD with momentum 0.9 (and, without ``--quick``, Adam);
3. **deep chain**: 20,000 elementwise ops (add, mul, tanh, sigmoid, sin, relu in turn) on 4
   elements, forward and backward; and the peak memory (``tracemalloc``) of the recording
   calls against that of one eager step;
4. **op chain**: chains of 200 ops of one kind on 16 elements (``benchmarks/op_kinds.py``),
   forward and backward, per op, for every kind;
5. **first call**: the calls of a fresh compiled function until it replays (plugrad records
   twice, then compiles) against one eager step.

Implementations of a workload run interleaved for several rounds (warm-up excluded: the
compiled ones are timed only once they replay) and the median per round is reported.
``jax.jit`` and PyTorch are optional: when they do not import they are skipped with a note;
``torch.compile`` is skipped when it fails or takes more than 60 s to compile. Every
framework runs on one thread (``OMP_NUM_THREADS=1`` and friends, ``torch.set_num_threads(1)``,
XLA's Eigen pool off). Results go to ``bench-results/compile.json`` and ``compile.md``.
"""

# ruff: noqa: E402  (the thread settings must come before NumPy, PyTorch and numba are imported)
from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ.setdefault(_var, "1")  # before NumPy, PyTorch or numba load their thread pools

import argparse
import contextlib
import cProfile
import gc
import itertools
import json
import platform
import pstats
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import op_kinds
import plugrad
import plugrad.nn as pnn
import plugrad.nn.functional as PF
import plugrad.optim as poptim
from plugrad.compiler import CompileWarning

F32 = np.float32
Step = Callable[[], Any]
_XLA_FLAG = "--xla_cpu_multi_thread_eigen=false"

jax: Any = None
jnp: Any = None
torch: Any = None
NOTES: list[str] = []  # what was skipped and why, printed at the top and the end
T0 = [time.perf_counter()]


# ----------------------------------------------------------------------------- comparators
def load_comparators(use_jax: bool, use_torch: bool) -> None:
    """Import JAX and PyTorch where they are installed (each on one thread); note what is missing."""
    global jax, jnp, torch
    if use_jax:
        flags = os.environ.get("XLA_FLAGS", "")
        if _XLA_FLAG not in flags:  # an unknown XLA flag aborts the process: try it in a child first
            probe = "import jax; jax.jit(lambda x: x + 1)(1.0).block_until_ready()"
            env = {**os.environ, "XLA_FLAGS": f"{flags} {_XLA_FLAG}".strip()}
            try:
                ok = (
                    subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=120).returncode
                    == 0
                )
            except subprocess.TimeoutExpired:
                ok = False
            if ok:
                os.environ["XLA_FLAGS"] = env["XLA_FLAGS"]
        try:
            import jax as _jax
            import jax.numpy as _jnp

            _jax.config.update("jax_platforms", "cpu")
            jax, jnp = _jax, _jnp
        except Exception as exc:  # ImportError, or a broken install
            NOTES.append(f"jax: not available ({type(exc).__name__}: {exc}); jax.jit columns skipped")
    else:
        NOTES.append("jax: skipped (--no-jax)")
    if use_torch:
        try:
            import torch as _torch

            _torch.set_num_threads(1)
            torch = _torch
        except Exception as exc:
            NOTES.append(f"torch: not available ({type(exc).__name__}: {exc}); PyTorch columns skipped")
    else:
        NOTES.append("torch: skipped (--no-torch)")


def numba_available() -> str | None:
    """Why ``plugrad.compile(backend="numba")`` cannot run here, or ``None`` when it can."""
    try:
        from plugrad.plugins import get_registry

        info = get_registry().compiler_infos().get("numba")
    except Exception as exc:  # pragma: no cover - registry trouble
        return f"{type(exc).__name__}: {exc}"
    if info is None:
        return "no 'numba' compiler plugin installed (packages/compile-numba)"
    if not info.available:
        return f"the 'numba' compiler plugin cannot run: {info.reason}"
    return None


def numba_summary(st: dict[str, float]) -> str:
    """One line of what ``plugrad_numba.stats`` counted for one compiled function."""
    parts = [f"numba compile {fmt_time(st.get('compile_seconds', 0.0))}"]
    if st.get("cache_loads"):
        parts.append(f"{st['cache_loads']:.0f} cache loads {fmt_time(st.get('cache_load_seconds', 0.0))}")
    if "groups" in st:
        parts.append(f"{st['groups']:.0f} fused groups of {st.get('fused_calls', 0):.0f} calls")
    if st.get("fallbacks"):
        parts.append(f"{st['fallbacks']:.0f} groups fell back to NumPy")
    return ", ".join(parts)


def numba_stats() -> dict[str, float] | None:
    """``plugrad_numba.stats`` now (numba's own compile time, cache loads, fused groups), if it keeps them."""
    try:
        import plugrad_numba as pn  # type: ignore[import-not-found]
    except ImportError:
        return None
    st = getattr(pn, "stats", None)
    if st is not None and hasattr(st, "__dict__"):
        return {k: v for k, v in vars(st).items() if isinstance(v, int | float)}
    fn = getattr(pn, "compile_seconds", None)
    if callable(fn):
        with contextlib.suppress(Exception):
            return {"compile_seconds": float(fn())}
    return None


# ------------------------------------------------------------------------------ impls
@dataclass
class Impl:
    """One implementation of a workload: its step (once warm), or why it is not there."""

    label: str
    step: Step | None = None
    note: str = ""
    compile_s: float | None = None  # jax.jit / torch.compile: the first calls' time
    first_calls: list[float] = field(default_factory=list)  # plugrad.compile: the calls before it replays
    first_replay: float | None = None
    numba_s: float | None = None  # numba's own compile time (in the first replay, where it compiles)
    numba_stats: dict[str, float] | None = None
    cf: Any = None  # a plugrad compiled function
    seconds: float | None = None  # median per unit


class _Timeout(BaseException):  # not an Exception: code under the limit must not catch it and go on
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise _Timeout

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _entries(cf: Any) -> list[Any]:
    return list(getattr(cf, "_cache", {}).values())


def _replaying(cf: Any) -> bool:
    return any(e.programs for e in _entries(cf))


def warm_plugrad(label: str, step: Step, backend: str | None, max_calls: int = 12) -> Impl:
    """``plugrad.compile(step)`` called until it replays; the times of those first calls kept."""
    cf = plugrad.compile(step) if backend is None else plugrad.compile(step, backend=backend)
    impl = Impl(label, cf, cf=cf)
    numba_before = numba_stats() if backend == "numba" else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileWarning)
        for _ in range(max_calls):
            if _replaying(cf):
                break
            t0 = time.perf_counter()
            cf()
            impl.first_calls.append(time.perf_counter() - t0)
        if _replaying(cf):
            t0 = time.perf_counter()
            cf()
            impl.first_replay = time.perf_counter() - t0
    if not _replaying(cf):
        why = [e.eager for e in _entries(cf) if e.eager] or [str(w.message) for w in caught]
        impl.note = "eager fallback" + (f": {why[0]}" if why else f" (no replay after {max_calls} calls)")
        print(f"  note: {label}: {impl.note}")
    else:
        msgs = sorted({str(w.message).splitlines()[0][:200] for w in caught if issubclass(w.category, CompileWarning)})
        if msgs:
            impl.note = "CompileWarning: " + " / ".join(msgs)
            print(f"  note: {label}: {impl.note}")
    if backend == "numba" and _replaying(cf):
        after = numba_stats()
        if after is not None:
            before = numba_before or {}
            impl.numba_stats = {k: v - before.get(k, 0) for k, v in after.items()}
            impl.numba_s = impl.numba_stats.get("compile_seconds")
    return impl


def numba_precompile(spec: str, limit: float) -> str | None:
    """Warm ``backend="numba"`` for ``spec`` in a child process killed after ``limit`` s; why not, or ``None``.

    numba compiles a long fused chain for minutes, and stopping it inside the process (an exception
    out of LLVM) can crash the process later, so the first compile happens in a child: once it has
    finished, numba's disk cache holds the kernels and this process loads them in a moment.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--numba-warm", spec]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"skipped: recording and numba's first compile took more than {limit:.0f} s (in a child process)"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return f"skipped: numba's warm-up failed ({tail[0][:160]})"
    return None


def _numba_warm_child(spec: str) -> int:
    kind, _, arg = spec.partition(":")
    make = (lambda: deep_plugrad_step(int(arg))) if kind == "deep" else (lambda: op_kind_step(arg, plugrad))
    impl = warm_plugrad("plugrad.compile numba", make(), "numba")
    return 0 if impl.cf is not None and _replaying(impl.cf) else 1


def plugrad_impls(
    make: Callable[[], Step], numba_off: str | None, numba_limit: float = 120.0, numba_spec: str | None = None
) -> dict[str, Impl]:
    """plugrad eager, ``plugrad.compile`` (replay) and ``backend="numba"``, each on its own model.

    With ``numba_spec`` (how ``--numba-warm`` rebuilds the step), numba's first compile runs in a child
    process first, given ``numba_limit`` seconds (see :func:`numba_precompile`).
    """
    eager = make()
    t0 = time.perf_counter()
    eager()
    if time.perf_counter() - t0 < 0.05:  # one throwaway compiled copy first, so that one-time costs of the
        throwaway = plugrad.compile(make())  # process (imports, caches) do not land on the first calls measured
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            for _ in range(4):
                throwaway()
    out = {"plugrad eager": Impl("plugrad eager", eager)}
    out["plugrad.compile"] = warm_plugrad("plugrad.compile", make(), None)
    if numba_off is None and numba_spec is not None:
        numba_off = numba_precompile(numba_spec, numba_limit)
        if numba_off is not None:
            print(f"  note: plugrad.compile numba: {numba_off}")
            return {**out, "plugrad.compile numba": Impl("plugrad.compile numba", note=numba_off)}
    if numba_off is None:
        try:
            out["plugrad.compile numba"] = warm_plugrad("plugrad.compile numba", make(), "numba")
        except Exception as exc:
            out["plugrad.compile numba"] = Impl("plugrad.compile numba", note=f"failed: {type(exc).__name__}: {exc}")
    else:
        out["plugrad.compile numba"] = Impl("plugrad.compile numba", note=f"skipped: {numba_off}")
    return out


def warm_plain(label: str, step: Step, calls: int = 3) -> Impl:
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(calls - 1):
        step()
    return Impl(label, step, compile_s=first)


def warm_torch_compile(label: str, step: Step, limit: float) -> Impl:
    """``torch.compile(step)`` warmed with a time limit (its first calls compile)."""
    try:
        cstep = torch.compile(step)
        t0 = time.perf_counter()
        with time_limit(limit):
            for _ in range(3):  # dynamo may compile again on the second call (optimizer state appears)
                cstep()
        return Impl(label, cstep, compile_s=time.perf_counter() - t0)
    except _Timeout:
        torch._dynamo.reset()
        return Impl(label, note=f"skipped: compiling took more than {limit:.0f} s")
    except Exception as exc:
        with contextlib.suppress(Exception):
            torch._dynamo.reset()
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        return Impl(label, note=f"skipped: torch.compile failed ({type(exc).__name__}: {msg})")


# ----------------------------------------------------------------------------- timing
def measure(impls: dict[str, Impl], rounds: int, min_time: float) -> None:
    """Median seconds per call of each runnable impl, interleaved over ``rounds`` (into ``impl.seconds``)."""
    steps = {k: v.step for k, v in impls.items() if v.step is not None}
    inner: dict[str, int] = {}
    for name, fn in steps.items():
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - t0 >= min_time or n >= 1 << 16:
                break
            n *= 2
        inner[name] = n
    samples: dict[str, list[float]] = {k: [] for k in steps}
    order = list(steps)
    for r in range(rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            fn, n = steps[name], inner[name]
            gc.collect()
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    for name, v in samples.items():
        impls[name].seconds = statistics.median(v)


def fmt_time(sec: float | None) -> str:
    if sec is None:
        return "-"
    if sec < 1e-3:
        return f"{sec * 1e6:.2f} µs"
    if sec < 1:
        return f"{sec * 1e3:.2f} ms"
    return f"{sec:.2f} s"


BASES = ["numpy", "jax.jit", "torch eager"]


def table(title: str, impls: dict[str, Impl], per: int = 1, unit: str = "step") -> list[str]:
    """Print one workload's table; return it as markdown lines."""
    bases = [b for b in BASES if b in impls and impls[b].seconds is not None]
    head = ["implementation", f"time per {unit}", *[f"x {b}" for b in bases], "note"]
    rows = []
    for name, im in impls.items():
        t = None if im.seconds is None else im.seconds / per
        ratios = [
            "-" if im.seconds is None else f"{im.seconds / impls[b].seconds:.2f}x"  # type: ignore[operator]
            for b in bases
        ]
        note = im.note
        if im.compile_s is not None and name not in ("numpy",) and not name.startswith("plugrad eager"):
            if name in ("jax.jit", "torch.compile"):
                note = (note + "; " if note else "") + f"first calls (compile) {fmt_time(im.compile_s)}"
        if im.first_calls:
            fc = f"first {len(im.first_calls)} calls {fmt_time(sum(im.first_calls))}"
            if im.numba_stats:
                fc += " (" + numba_summary(im.numba_stats) + ")"
            note = (note + "; " if note else "") + fc
        rows.append([name, fmt_time(t), *ratios, note])
    print(f"\n{title}  (medians of interleaved rounds)")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        print(
            "  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[-1]
        )
    md = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return [*md, ""]


# ------------------------------------------------------------------------ 1. regression
REG_N, REG_LR = 1000, 0.01


def _reg_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (REG_N, 1)).astype(F32)
    y = (3 * x + 2 + 0.1 * rng.standard_normal((REG_N, 1))).astype(F32)
    return x, y, np.array([[0.5]], F32), np.array([-0.5], F32)


def regression(args: argparse.Namespace, numba_off: str | None) -> dict[str, Impl]:
    x, y, w0, b0 = _reg_data()
    impls: dict[str, Impl] = {}

    def np_step() -> Step:
        w, b, n, lr = w0.copy(), b0.copy(), x.shape[0], REG_LR

        def step() -> Any:
            diff = x @ w.T + b - y  # forward
            loss = (diff * diff).mean()
            g = diff * (2.0 / n)  # d loss / d pred
            w[...] -= lr * (g.T @ x)  # in-place SGD update
            b[...] -= lr * g.sum(0)
            return loss

        return step

    impls["numpy"] = warm_plain("numpy", np_step())
    if jax is not None:
        lr = REG_LR
        jx, jy = jnp.asarray(x), jnp.asarray(y)

        def loss_fn(params: Any, x: Any, y: Any) -> Any:
            w, b = params
            return jnp.mean((x @ w.T + b - y) ** 2)

        @jax.jit
        def jstep(params: Any, x: Any, y: Any) -> Any:
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return loss, jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

        state = [(jnp.asarray(w0), jnp.asarray(b0))]

        def jrun() -> Any:
            loss, state[0] = jstep(state[0], jx, jy)
            return loss.block_until_ready()

        impls["jax.jit"] = warm_plain("jax.jit", jrun)
    if torch is not None:

        def t_step() -> Step:
            model = torch.nn.Linear(1, 1)
            with torch.no_grad():
                model.weight.copy_(torch.from_numpy(w0))
                model.bias.copy_(torch.from_numpy(b0))
            opt = torch.optim.SGD(model.parameters(), lr=REG_LR)
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)

            def step() -> Any:
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(tx), ty)
                loss.backward()
                opt.step()
                return loss

            return step

        impls["torch eager"] = warm_plain("torch eager", t_step())
        if args.torch_compile:
            impls["torch.compile"] = warm_torch_compile("torch.compile", t_step(), args.torch_compile_limit)
        else:
            impls["torch.compile"] = Impl("torch.compile", note="skipped (--quick; run without it)")

    def p_step() -> Step:
        model = pnn.Linear(1, 1)
        with plugrad.no_grad():
            model.weight.copy_(plugrad.tensor(w0))
            model.bias.copy_(plugrad.tensor(b0))
        opt = poptim.SGD(model.parameters(), lr=REG_LR)
        px, py = plugrad.tensor(x), plugrad.tensor(y)

        def step() -> Any:
            opt.zero_grad()
            loss = PF.mse_loss(model(px), py)
            loss.backward()
            opt.step()
            return loss

        return step

    impls.update(plugrad_impls(p_step, numba_off))
    return impls


# ------------------------------------------------------------------------------- 2. MLP
MLP_SIZES, MLP_BATCH, MLP_LR, MOMENTUM = (32, 64, 64, 10), 64, 0.01, 0.9
ADAM_LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


def _mlp_data() -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(F32)
    labels = rng.integers(0, MLP_SIZES[-1], MLP_BATCH)
    params = []
    for fan_in, fan_out in itertools.pairwise(MLP_SIZES):
        bound = 1 / np.sqrt(fan_in)
        params.append(
            (
                rng.uniform(-bound, bound, (fan_out, fan_in)).astype(F32),
                rng.uniform(-bound, bound, fan_out).astype(F32),
            )
        )
    return x, labels, params


def mlp(args: argparse.Namespace, numba_off: str | None, optim: str) -> dict[str, Impl]:
    x, labels, params0 = _mlp_data()
    n = x.shape[0]
    impls: dict[str, Impl] = {}

    def np_step() -> Step:
        ps = [p.copy() for wb in params0 for p in wb]
        st1 = [np.zeros_like(p) for p in ps]
        st2 = [np.zeros_like(p) for p in ps]
        rows = np.arange(n)
        t = [0]

        def step() -> Any:
            w1, b1, w2, b2, w3, b3 = ps
            h1 = x @ w1.T + b1
            a1 = np.maximum(h1, 0)
            a2 = np.tanh(a1 @ w2.T + b2)
            logits = a2 @ w3.T + b3
            m = logits.max(1, keepdims=True)
            e = np.exp(logits - m)
            s = e.sum(1, keepdims=True)
            loss = (np.log(s) + m).mean() - logits[rows, labels].mean()
            g = e / s
            g[rows, labels] -= 1
            g /= n
            ga2 = g @ w3
            gh2 = ga2 * (1 - a2 * a2)
            ga1 = gh2 @ w2
            gh1 = ga1 * (h1 > 0)
            grads = [gh1.T @ x, gh1.sum(0), gh2.T @ a1, gh2.sum(0), g.T @ a2, g.sum(0)]
            if optim == "sgd":
                for p, gr, buf in zip(ps, grads, st1):
                    buf *= MOMENTUM
                    buf += gr
                    p -= MLP_LR * buf
            else:
                t[0] += 1
                bc1, bc2 = 1 - BETAS[0] ** t[0], 1 - BETAS[1] ** t[0]
                for p, gr, m1, m2 in zip(ps, grads, st1, st2):
                    m1 *= BETAS[0]
                    m1 += (1 - BETAS[0]) * gr
                    m2 *= BETAS[1]
                    m2 += (1 - BETAS[1]) * gr * gr
                    p -= (ADAM_LR / bc1) * m1 / (np.sqrt(m2) / np.sqrt(bc2) + EPS)
            return loss

        return step

    impls["numpy"] = warm_plain("numpy", np_step())
    if jax is not None:
        jx, jl = jnp.asarray(x), jnp.asarray(labels)

        def loss_fn(ps: Any) -> Any:
            w1, b1, w2, b2, w3, b3 = ps
            a1 = jnp.maximum(jx @ w1.T + b1, 0)
            a2 = jnp.tanh(a1 @ w2.T + b2)
            logp = jax.nn.log_softmax(a2 @ w3.T + b3, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, jl[:, None], axis=1))

        if optim == "sgd":

            @jax.jit
            def jstep(ps: Any, st: Any) -> Any:
                loss, gs = jax.value_and_grad(loss_fn)(ps)
                bufs = [MOMENTUM * b + g for b, g in zip(st[0], gs)]
                return loss, [p - MLP_LR * b for p, b in zip(ps, bufs)], (bufs, st[1], st[2])

        else:

            @jax.jit
            def jstep(ps: Any, st: Any) -> Any:
                loss, gs = jax.value_and_grad(loss_fn)(ps)
                t = st[2] + 1
                m1 = [BETAS[0] * m + (1 - BETAS[0]) * g for m, g in zip(st[0], gs)]
                m2 = [BETAS[1] * v + (1 - BETAS[1]) * g * g for v, g in zip(st[1], gs)]
                bc1, bc2 = 1 - BETAS[0] ** t, 1 - BETAS[1] ** t
                new = [p - (ADAM_LR / bc1) * a / (jnp.sqrt(v) / jnp.sqrt(bc2) + EPS) for p, a, v in zip(ps, m1, m2)]
                return loss, new, (m1, m2, t)

        ps0 = [jnp.asarray(p) for wb in params0 for p in wb]
        zeros = [jnp.zeros_like(p) for p in ps0]
        state = [ps0, (zeros, zeros, jnp.asarray(0.0, jnp.float32))]

        def jrun() -> Any:
            loss, state[0], state[1] = jstep(state[0], state[1])
            return loss.block_until_ready()

        impls["jax.jit"] = warm_plain("jax.jit", jrun)

    def build(lib: Any, nnmod: Any, optmod: Any, tensor: Callable[[Any], Any]) -> Step:
        model = nnmod.Sequential(
            nnmod.Linear(32, 64), nnmod.ReLU(), nnmod.Linear(64, 64), nnmod.Tanh(), nnmod.Linear(64, 10)
        )
        lins = [m for m in model if isinstance(m, nnmod.Linear)]
        with lib.no_grad():
            for lin, (w, b) in zip(lins, params0):
                lin.weight.copy_(tensor(w))
                lin.bias.copy_(tensor(b))
        if optim == "sgd":
            opt = optmod.SGD(model.parameters(), lr=MLP_LR, momentum=MOMENTUM)
        else:
            opt = optmod.Adam(model.parameters(), lr=ADAM_LR, betas=BETAS, eps=EPS)
        crit = nnmod.CrossEntropyLoss()
        tx, ty = tensor(x), tensor(labels)

        def step() -> Any:
            opt.zero_grad()
            loss = crit(model(tx), ty)
            loss.backward()
            opt.step()
            return loss

        return step

    if torch is not None:

        def t_step() -> Step:
            return build(torch, torch.nn, torch.optim, torch.from_numpy)

        impls["torch eager"] = warm_plain("torch eager", t_step())
        if args.torch_compile:
            impls["torch.compile"] = warm_torch_compile("torch.compile", t_step(), args.torch_compile_limit)
        else:
            impls["torch.compile"] = Impl("torch.compile", note="skipped (--quick; run without it)")
    impls.update(plugrad_impls(lambda: build(plugrad, pnn, poptim, plugrad.tensor), numba_off))
    return impls


# ------------------------------------------------------------------------- 3. deep chain
DEEP_LEN, DEEP_SIZE = 20_000, 4
DEEP_CYCLE = ("add", "mul", "tanh", "sigmoid", "sin", "relu")


def _deep_x0() -> np.ndarray:
    return np.linspace(0.1, 0.9, DEEP_SIZE).astype(F32)


def deep_np_step(length: int = DEEP_LEN) -> Step:
    x0 = _deep_x0()
    kinds = [DEEP_CYCLE[i % len(DEEP_CYCLE)] for i in range(length)]
    c_add, c_mul = F32(0.001), F32(1.001)

    def step() -> Any:
        y = x0
        saved = []
        for k in kinds:  # forward, keeping what the backward needs
            if k == "add":
                y = y + c_add
                saved.append(None)
            elif k == "mul":
                y = y * c_mul
                saved.append(None)
            elif k == "tanh":
                y = np.tanh(y)
                saved.append(y)
            elif k == "sigmoid":
                y = 1 / (1 + np.exp(-y))
                saved.append(y)
            elif k == "sin":
                saved.append(y)
                y = np.sin(y)
            else:
                y = np.maximum(y, 0)
                saved.append(y)
        g = np.ones_like(y)
        for k, s in zip(reversed(kinds), reversed(saved)):
            if k == "add":
                g = g.copy()
            elif k == "mul":
                g = g * c_mul
            elif k == "tanh":
                g = g * (1 - s * s)
            elif k == "sigmoid":
                g = g * s * (1 - s)
            elif k == "sin":
                g = g * np.cos(s)
            else:
                g = g * (s > 0)
        return y, g

    return step


def deep_plugrad_step(length: int = DEEP_LEN) -> Step:
    x = plugrad.tensor(_deep_x0(), requires_grad=True)
    kinds = [DEEP_CYCLE[i % len(DEEP_CYCLE)] for i in range(length)]

    def step() -> Any:
        y = x
        for k in kinds:
            if k == "add":
                y = y + 0.001
            elif k == "mul":
                y = y * 1.001
            elif k == "tanh":
                y = y.tanh()
            elif k == "sigmoid":
                y = y.sigmoid()
            elif k == "sin":
                y = y.sin()
            else:
                y = y.relu()
        y.backward(plugrad.ones_like(y))
        g = x.grad
        x.grad = None
        return y, g  # the gradient is a result: a replay must compute it

    return step


def deep_chain(args: argparse.Namespace, numba_off: str | None, length: int) -> dict[str, Impl]:
    impls = {"numpy": warm_plain("numpy", deep_np_step(length), calls=1)}
    if jax is not None:
        impls["jax.jit"] = Impl("jax.jit", note="not run: compiling a 20,000-op chain takes ~17 GB (issue 12)")
    if args.quick and numba_off is None:
        numba_off = "--quick (numba compiles a deep chain's fused loops for minutes the first time; run without it)"
    impls.update(plugrad_impls(lambda: deep_plugrad_step(length), numba_off, args.numba_limit, f"deep:{length}"))
    return impls


def deep_memory(length: int = DEEP_LEN) -> dict[str, Any]:
    """Peak traced memory of one eager step, of each recording call and of a replay (tracemalloc)."""
    out: dict[str, Any] = {"length": length}
    tracemalloc.start()
    try:

        def peak_of(fn: Step) -> int:
            gc.collect()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            r = fn()
            peak = tracemalloc.get_traced_memory()[1] - base
            del r
            return peak

        np_step = deep_np_step(length)
        np_step()
        out["numpy step"] = peak_of(np_step)
        eager = deep_plugrad_step(length)
        eager()
        out["eager step"] = peak_of(eager)
        del eager
        cf = plugrad.compile(deep_plugrad_step(length))
        rec = []
        for _ in range(6):
            if _replaying(cf):
                break
            rec.append(peak_of(cf))
        out["recording calls"] = rec
        out["replay"] = peak_of(cf) if _replaying(cf) else None
        gc.collect()
        out["retained after compile"] = tracemalloc.get_traced_memory()[0]
        del cf
        gc.collect()
        out["retained after compile"] -= tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return out


# -------------------------------------------------------------------------- 4. op chain
QUICK_KINDS = ["add", "tanh", "matmul"]


def _jax_op(kind: str) -> Callable[[Any], Any]:
    if kind == "add":
        return lambda y: y + 0.001
    if kind == "mul":
        return lambda y: y * 1.001
    if kind == "div":
        return lambda y: y / 1.001
    if kind == "pow":
        return lambda y: y**1.0001
    if kind == "exp/log":
        return lambda y: jnp.log(jnp.exp(y))
    if kind == "sin":
        return jnp.sin
    if kind == "tanh":
        return jnp.tanh
    if kind == "relu":
        return lambda y: jnp.maximum(y, 0)
    if kind == "sigmoid":
        return jax.nn.sigmoid
    if kind == "where":
        mask = jnp.asarray(op_kinds.MASK)
        return lambda y: jnp.where(mask, y, y * 0)
    if kind == "sum":
        return lambda y: y.sum(0, keepdims=True) * 0.25 + y * 0.0
    if kind == "matmul":
        q = jnp.asarray(op_kinds.Q)
        return lambda y: y @ q
    raise KeyError(kind)


def jax_chain(kind: str, length: int) -> Step:
    f = _jax_op(kind)

    def chain(x: Any) -> Any:
        y = x
        for _ in range(length):
            y = f(y)
        return y

    @jax.jit
    def fwd_bwd(x: Any) -> Any:
        y, vjp = jax.vjp(chain, x)
        return y, vjp(jnp.ones_like(y))[0]

    x = jnp.asarray(op_kinds._x0(kind))

    def step() -> Any:
        _, g = fwd_bwd(x)
        return g.block_until_ready()

    return step


def op_kind_step(kind: str, lib: Any) -> Step:
    """``op_kinds``' chain for plugrad or PyTorch, with the input's gradient as a result (as NumPy's)."""
    f = op_kinds._t_step(kind, lib)
    x = lib.tensor(op_kinds._x0(kind), requires_grad=True)
    n = op_kinds.LENGTH

    def step() -> Any:
        y = x
        for _ in range(n):
            y = f(y)
        y.backward(lib.ones_like(y))
        g = x.grad
        x.grad = None
        return y, g

    return step


def op_chain(args: argparse.Namespace, numba_off: str | None, kinds: list[str]) -> dict[str, dict[str, Impl]]:
    out: dict[str, dict[str, Impl]] = {}
    for kind in kinds:
        work = op_kinds.OpKind(kind)
        impls = {"numpy": warm_plain("numpy", work.setup_numpy())}
        if jax is not None:
            impls["jax.jit"] = warm_plain("jax.jit", jax_chain(kind, work.length))
        if torch is not None:
            impls["torch eager"] = warm_plain("torch eager", op_kind_step(kind, torch))
        impls.update(
            plugrad_impls(
                lambda kind=kind: op_kind_step(kind, plugrad), numba_off, args.numba_kind_limit, f"kind:{kind}"
            )
        )
        measure(impls, args.rounds, args.min_time / 2)
        out[kind] = impls
        line = "  ".join(f"{k} {fmt_time(v.seconds / work.per if v.seconds else None)}" for k, v in impls.items())
        print(f"  [{time.perf_counter() - T0[0]:.0f} s] {kind:8s} per op: {line}")
    return out


def op_chain_table(results: dict[str, dict[str, Impl]]) -> tuple[list[str], dict[str, Any]]:
    names = list(next(iter(results.values())))
    head = ["kind", *names, "replay/numpy", "numba/jax.jit"]
    rows: list[list[str]] = []
    rr: dict[str, float] = {}
    rn: dict[str, float] = {}
    for kind, impls in results.items():
        per = op_kinds.OpKind(kind).per

        def t(name: str, impls: dict[str, Impl] = impls, per: int = per) -> float | None:
            im = impls.get(name)
            return None if im is None or im.seconds is None else im.seconds / per

        cells = [
            fmt_time(t(n)) + (" (eager fallback)" if impls[n].note.startswith("eager fallback") else "") for n in names
        ]
        a, b = t("plugrad.compile"), t("numpy")
        c, d = t("plugrad.compile numba"), t("jax.jit")
        if a and b:
            rr[kind] = a / b
        if c and d:
            rn[kind] = c / d
        rows.append(
            [kind, *cells, f"{rr[kind]:.2f}x" if kind in rr else "-", f"{rn[kind]:.2f}x" if kind in rn else "-"]
        )
    summary: dict[str, Any] = {}
    for key, r in (("replay/numpy", rr), ("numba/jax.jit", rn)):
        if r:
            worst = max(r, key=r.__getitem__)
            summary[key] = {"mean": statistics.fmean(r.values()), "worst": worst, "worst_ratio": r[worst]}
    mean_row = ["mean"]
    for n in names:
        ts = [impls[n].seconds / op_kinds.OpKind(k).per for k, impls in results.items() if impls[n].seconds]
        mean_row.append(fmt_time(statistics.fmean(ts)) if len(ts) == len(results) else "-")
    mean_row += [
        f"{summary[k]['mean']:.2f}x (worst {summary[k]['worst']} {summary[k]['worst_ratio']:.2f}x)"
        if k in summary
        else "-"
        for k in ("replay/numpy", "numba/jax.jit")
    ]
    rows.append(mean_row)
    title = f"op chain: {op_kinds.LENGTH} ops of one kind on 16 elements, forward + backward, time per op"
    print(f"\n{title}  (medians of interleaved rounds)")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  " + "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
    md = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    return [*md, ""], summary


# --------------------------------------------------------------------------- profiling
def program_report(cf: Any, calls: int = 2000) -> list[str]:
    """What a replayed program spends its time on: kernel counts, time per kernel, time outside kernels."""
    import re

    from plugrad._compile._replay import live_calls

    rec = _entries(cf)[0].programs[0]
    runner = rec.runner
    recorded = Counter(c.name for c in rec.program.calls)
    lines = [
        f"recorded calls: {len(rec.program.calls)} ("
        + ", ".join(f"{k} x{v}" for k, v in recorded.most_common())
        + f"); live after dead-code removal: {len(live_calls(rec.program))}"
    ]
    g = getattr(runner, "__globals__", {})
    src = getattr(runner, "__plugrad_source__", "")
    by_id = {id(c.fn): c.name for c in rec.program.calls}
    fnames = sorted(set(re.findall(r"\b([fi]\d+)\(", src)), key=lambda f: int(f[1:]))
    names = {f: by_id.get(id(g.get(f)), getattr(g.get(f), "__name__", "?")) for f in fnames}
    counts = Counter(names[f] for f in re.findall(r"\b([fi]\d+)\(", src))
    lines.append(
        f"replayed calls: {sum(counts.values())} (" + ", ".join(f"{k} x{v}" for k, v in counts.most_common()) + ")"
    )
    if not fnames or not all(f in g for f in fnames):
        lines.append("(not the replay compiler's generated runner: no per-kernel times)")
        return lines
    spent: Counter[str] = Counter()
    originals = {f: g[f] for f in fnames}
    clock = time.perf_counter

    def timed(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = clock()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += clock() - t0

        return wrapper

    t0 = clock()
    for _ in range(calls):
        cf()
    plain = (clock() - t0) / calls
    try:
        for f in fnames:
            g[f] = timed(originals[f], names[f])
        for _ in range(calls):
            cf()
    finally:
        g.update(originals)
    in_kernels = sum(spent.values()) / calls
    lines.append(
        f"one replay: {fmt_time(plain)}; inside kernels (timed one by one, so a little high) {fmt_time(in_kernels)}; "
        f"the rest (guards, binding, effects, result tensors, generated code) about {fmt_time(max(0.0, plain - in_kernels))}"
    )
    lines.append(
        "time per kernel per replay: "
        + ", ".join(f"{k} {fmt_time(v / calls)} (x{counts[k]})" for k, v in spent.most_common())
    )
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        cf()
    prof.disable()
    stats = pstats.Stats(prof)
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:12]  # type: ignore[attr-defined]
    lines.append("cProfile of replays, top by own time (calls per replay, own µs per replay):")
    for (file, line, fn), (_cc, nc, tt, _ct, _callers) in top:
        lines.append(f"    {nc / calls:6.1f}  {tt / calls * 1e6:8.2f} µs  {fn} ({Path(file).name}:{line})")
    src_lines = src.splitlines()
    lines.append("generated source" + (f" (first 80 of {len(src_lines)} lines):" if len(src_lines) > 80 else ":"))
    for ln in src_lines[:80]:
        m = re.search(r"\b([fi]\d+)\(", ln)
        lines.append("    " + ln + (f"    # {names.get(m.group(1), '?')}" if m else ""))
    return lines


# --------------------------------------------------------------------------------- main
def first_call_entry(impls: dict[str, Impl]) -> dict[str, Any]:
    """The calls of a fresh compiled function up to its first replay, against one (warm) eager step.

    numba compiles its kernels on their first call (or loads them from its disk cache), so that time
    sits in the first replay: it is reported apart and left out of the ratio.
    """
    eager = impls["plugrad eager"].seconds
    out: dict[str, Any] = {"eager step": eager}
    for name in ("plugrad.compile", "plugrad.compile numba"):
        im = impls.get(name)
        if im is None or not im.first_calls or im.note.startswith("eager fallback"):
            continue
        total = sum(im.first_calls) + (im.first_replay or 0.0)
        st = im.numba_stats or {}
        own = total - st.get("compile_seconds", 0.0) - st.get("cache_load_seconds", 0.0)
        out[name] = {
            "recording calls": im.first_calls,
            "first replay": im.first_replay,
            "total": total,
            "numba compile": im.numba_s,
            "numba stats": im.numba_stats,
            "ratio to eager step": own / eager if eager else None,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="fewer rounds, fewer op kinds, no torch.compile (about a minute)"
    )
    p.add_argument("--only", help="run only the workloads whose name contains this (regression, mlp, deep, op chain)")
    p.add_argument("--json", type=Path, default=Path("bench-results/compile.json"))
    p.add_argument("--md", type=Path, default=None, help="markdown tables (default: the --json path with .md)")
    p.add_argument("--profile", action="store_true", help="print what each replayed program spends its time on")
    p.add_argument("--kinds", help="op chain: these kinds only (comma-separated, e.g. add,tanh,exp/log)")
    p.add_argument("--numba-warm", help=argparse.SUPPRESS)  # child process of numba_precompile
    p.add_argument("--no-jax", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args(argv)
    if args.numba_warm:
        return _numba_warm_child(args.numba_warm)
    args.rounds = 5 if args.quick else 11
    args.min_time = 0.01 if args.quick else 0.1
    args.torch_compile = not args.quick
    args.torch_compile_limit = 60.0
    args.numba_limit = 20.0 if args.quick else 180.0  # numba compiles long fused chains for minutes
    args.numba_kind_limit = 20.0 if args.quick else 90.0  # each op kind's chain
    md_path = args.md or args.json.with_suffix(".md")
    t_start = T0[0] = time.perf_counter()

    load_comparators(not args.no_jax, not args.no_torch)
    numba_off = numba_available()
    if numba_off:
        NOTES.append(f"plugrad.compile numba: skipped ({numba_off})")
    if args.quick:
        NOTES.append(
            "--quick: torch.compile not run, deep chain of 2,000 ops without numba, numba's compile limited to 20 s, op chain on "
            + ", ".join(QUICK_KINDS)
            + " only, fewer rounds"
        )
    blas = "unknown"
    with contextlib.suppress(Exception):
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]  # type: ignore[index]
        blas = f"{cfg.get('name')} {cfg.get('version', '')}".strip()
    versions = {
        "plugrad": plugrad.__version__,
        "numpy": f"{np.__version__} ({blas})",
        "jax": getattr(jax, "__version__", None),
        "torch": getattr(torch, "__version__", None),
        "python": platform.python_version(),
    }
    with contextlib.suppress(ImportError):
        import numba

        versions["numba"] = numba.__version__
    threads = {
        k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
    }
    header = (
        ", ".join(f"{k} {v}" for k, v in versions.items() if v)
        + f"; {platform.machine()}, {os.cpu_count()} CPUs; one thread each ({', '.join(f'{k}={v}' for k, v in threads.items() if v)}"
        + (", torch.set_num_threads(1)" if torch is not None else "")
        + f"); medians of {args.rounds} interleaved rounds"
    )
    print(header)
    for n in NOTES:
        print(f"note: {n}")

    def want(name: str) -> bool:
        return not args.only or args.only.lower() in name.lower()

    results: dict[str, Any] = {"versions": versions, "threads": threads, "notes": NOTES, "workloads": {}}
    md: list[str] = ["## Benchmarks: `plugrad.compile`", "", header, ""]
    targets: list[tuple[str, float | None, float]] = []  # (what, ratio, limit)
    first_calls: dict[str, Any] = {}
    profiles: dict[str, list[str]] = {}

    def ratio(impls: dict[str, Impl], a: str, b: str) -> float | None:
        x, y = impls.get(a), impls.get(b)
        if x is None or y is None or x.seconds is None or y.seconds is None or x.note.startswith("eager fallback"):
            return None
        return x.seconds / y.seconds

    def record(title: str, impls: dict[str, Impl], per: int = 1, unit: str = "step") -> None:
        md.extend(table(title, impls, per, unit))
        results["workloads"][title] = {
            k: {
                "seconds_per_" + unit: None if v.seconds is None else v.seconds / per,
                "note": v.note,
                "compile_seconds": v.compile_s if k in ("jax.jit", "torch.compile") else None,
                "first_calls": v.first_calls or None,
            }
            for k, v in impls.items()
        }
        if args.profile:
            for k in ("plugrad.compile",):
                im = impls.get(k)
                if im is not None and im.cf is not None and _replaying(im.cf):
                    profiles[f"{title}, {k}"] = program_report(im.cf, 200 if "deep" in title else 2000)

    if want("regression step"):
        print(f"\n[{time.perf_counter() - t_start:.0f} s] regression step: setting up (compiling where needed) ...")
        impls = regression(args, numba_off)
        measure(impls, args.rounds, args.min_time)
        title = "regression step: Linear(1, 1), 1000 samples, MSE, SGD"
        record(title, impls)
        for c in ("plugrad.compile", "plugrad.compile numba"):
            targets.append((f"regression step, {c} <= 1.0x numpy", ratio(impls, c, "numpy"), 1.0))
            targets.append((f"regression step, {c} <= 1.0x jax.jit", ratio(impls, c, "jax.jit"), 1.0))
        first_calls["regression step"] = first_call_entry(impls)
    for optim in ["sgd"] + ([] if args.quick else ["adam"]):
        if not want("mlp step"):
            break
        label = "SGD momentum 0.9" if optim == "sgd" else "Adam"
        print(f"\n[{time.perf_counter() - t_start:.0f} s] MLP step ({label}): setting up ...")
        impls = mlp(args, numba_off, optim)
        measure(impls, args.rounds, args.min_time)
        title = f"MLP step: 32-64-64-10 (ReLU, Tanh), batch 64, cross-entropy, {label}"
        record(title, impls)
        for c in ("plugrad.compile", "plugrad.compile numba"):
            targets.append((f"MLP step ({label}), {c} <= 1.0x numpy", ratio(impls, c, "numpy"), 1.0))
        first_calls[f"MLP step ({label})"] = first_call_entry(impls)
    if want("deep chain"):
        deep_len = DEEP_LEN // 10 if args.quick else DEEP_LEN
        print(
            f"\n[{time.perf_counter() - t_start:.0f} s] deep chain: setting up (eager recording of {deep_len:,} ops) ..."
        )
        impls = deep_chain(args, numba_off, deep_len)
        measure(impls, max(3, args.rounds // 2), args.min_time)
        title = f"deep chain: {deep_len:,} elementwise ops on {DEEP_SIZE} elements, forward + backward"
        record(title, impls)
        for c in ("plugrad.compile", "plugrad.compile numba"):
            targets.append((f"deep chain ({deep_len:,} ops), {c} <= 1.0x numpy", ratio(impls, c, "numpy"), 1.0))
        first_calls[f"deep chain ({deep_len:,} ops)"] = first_call_entry(impls)
        mem_len = DEEP_LEN // 10 if args.quick else DEEP_LEN  # tracing 20,000 ops' compile takes ~1 min
        print(
            f"\n[{time.perf_counter() - t_start:.0f} s] deep chain: peak memory (tracemalloc) of a {mem_len:,}-op chain ..."
        )
        mem = deep_memory(mem_len)
        results["deep chain memory"] = mem
        rec_peak = max(mem["recording calls"]) if mem["recording calls"] else None
        lines = [
            f"one eager step {mem['eager step'] / 1e6:.1f} MB",
            "recording calls " + ", ".join(f"{m / 1e6:.1f} MB" for m in mem["recording calls"]),
            f"a replay {mem['replay'] / 1e6:.2f} MB" if mem["replay"] is not None else "no replay",
            f"hand-written NumPy step {mem['numpy step'] / 1e6:.2f} MB",
            f"kept by the compiled function {mem['retained after compile'] / 1e6:.2f} MB",
        ]
        print("  peak traced memory: " + "; ".join(lines))
        md += [f"Peak traced memory (tracemalloc) of a {mem_len:,}-op deep chain: " + "; ".join(lines) + ".", ""]
        targets.append(
            (
                f"deep chain ({mem_len:,} ops), recording memory <= 2x one eager step",
                None if rec_peak is None else rec_peak / mem["eager step"],
                2.0,
            )
        )
    if want("op chain"):
        kinds = args.kinds.split(",") if args.kinds else QUICK_KINDS if args.quick else op_kinds.KINDS
        print(f"\n[{time.perf_counter() - t_start:.0f} s] op chain: {len(kinds)} kinds ...")
        res = op_chain(args, numba_off, kinds)
        lines, summary = op_chain_table(res)
        md += lines
        results["op chain"] = {
            "per_op_seconds": {
                k: {n: (None if v.seconds is None else v.seconds / op_kinds.OpKind(k).per) for n, v in im.items()}
                for k, im in res.items()
            },
            "notes": {k: {n: v.note for n, v in im.items() if v.note} for k, im in res.items()},
            "summary": summary,
        }
        s = summary.get("numba/jax.jit")
        targets.append(("op chain, plugrad.compile numba <= 1.0x jax.jit (mean over kinds)", s and s["mean"], 1.0))
        targets.append(("op chain, plugrad.compile numba <= 1.0x jax.jit (worst kind)", s and s["worst_ratio"], 1.0))
        s = summary.get("replay/numpy")
        targets.append(("op chain, plugrad.compile <= 1.2x numpy (mean over kinds)", s and s["mean"], 1.2))
        targets.append(("op chain, plugrad.compile <= 1.2x numpy (worst kind)", s and s["worst_ratio"], 1.2))
        if args.profile:
            worst = summary.get("replay/numpy", {}).get("worst")
            for kind in dict.fromkeys([k for k in (worst, "tanh") if k]):
                if (
                    kind in res
                    and res[kind]["plugrad.compile"].cf is not None
                    and _replaying(res[kind]["plugrad.compile"].cf)
                ):
                    profiles[f"op chain {kind}, plugrad.compile"] = program_report(res[kind]["plugrad.compile"].cf, 500)

    if first_calls:
        title = "first call: the calls of a fresh compiled function until it replays, against one eager step"
        print(f"\n{title}")
        md += [
            f"### {title}",
            "",
            "Recording calls, then the first replay; the ratio is their sum (less numba's own compile and "
            "cache-load time) "
            "over one warm eager step.",
            "",
            "| workload | compiler | recording calls | first replay | numba compile | one eager step | ratio |",
            "|---|---|---|---|---|---|---|",
        ]
        for work, entry in first_calls.items():
            for name in ("plugrad.compile", "plugrad.compile numba"):
                e = entry.get(name)
                if e is None:
                    continue
                r = e["ratio to eager step"]
                row = [
                    work,
                    name,
                    " + ".join(fmt_time(t) for t in e["recording calls"]),
                    fmt_time(e["first replay"]),
                    numba_summary(e["numba stats"]) if e["numba stats"] else "-",
                    fmt_time(entry["eager step"]),
                    f"{r:.1f}x" if r else "-",
                ]
                print("  " + " | ".join(row))
                md.append("| " + " | ".join(row) + " |")
                targets.append((f"first call, {work}, {name} <= 20x one eager step", r, 20.0))
        md.append("")
        results["first call"] = first_calls

    print("\ntargets (issue 12, section 7)")
    md += ["### Targets (issue 12, section 7)", ""]
    results["targets"] = []
    for what, r, limit in targets:
        verdict = "SKIP" if r is None else ("PASS" if r <= limit else "FAIL")
        line = f"{verdict}  {what}: " + ("not measured" if r is None else f"{r:.2f}x")
        print("  " + line)
        md.append(f"- **{verdict}** {what}: " + ("not measured" if r is None else f"{r:.2f}x"))
        results["targets"].append({"target": what, "ratio": r, "limit": limit, "verdict": verdict})
    if NOTES:
        md += ["", "Notes: " + "; ".join(NOTES) + "."]
    for n in NOTES:
        print(f"note: {n}")
    if profiles:
        results["profiles"] = profiles
        for k, lines in profiles.items():
            print(f"\nprofile: {k}")
            for ln in lines:
                print("  " + ln)
    elapsed = time.perf_counter() - t_start
    print(f"\n(ran in {elapsed:.0f} s)")
    results["elapsed_seconds"] = elapsed
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    print(f"results: {args.json}, {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
