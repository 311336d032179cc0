"""Smoke checks for ``nox -s install_matrix``: run inside a fresh environment holding only
the wheels of one combination (not collected by pytest: the file name has no ``test_``).

    python install_smoke.py core | core+numpy | core+numpy+nn+optim | core+nn | core+cupy
"""

from __future__ import annotations

import subprocess
import sys


def check(cond: bool, what: str) -> None:
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def info() -> str:
    proc = subprocess.run([sys.executable, "-m", "plugrad", "info"], capture_output=True, text=True, check=True)
    return proc.stdout


def no_backend_error() -> str:
    import plugrad

    try:
        plugrad.tensor([1.0])
    except RuntimeError as exc:
        return str(exc)
    return ""


def core() -> None:
    import plugrad

    check(plugrad.promote_types(plugrad.int64, plugrad.float32) is plugrad.float32, "dtypes work without a backend")
    check("numpy" not in sys.modules, "importing plugrad imports no numpy")
    msg = no_backend_error()
    check(
        msg.startswith("no plugrad backend is installed; install one, for example `pip install plugrad-backend-numpy`"),
        f"tensor creation says no backend is installed ({msg!r})",
    )
    check("backends: none found" in info(), "python -m plugrad info reports no backend")
    try:
        plugrad.nn  # noqa: B018
    except AttributeError as exc:
        check("pip install plugrad-nn" in str(exc), f"plugrad.nn without plugrad-nn says what to install ({exc})")
    else:
        check(False, "plugrad.nn must be an AttributeError without plugrad-nn")
    check(plugrad.backends.cudnn.is_available() is False, "plugrad.backends.cudnn flags work in core alone")


def core_numpy() -> None:
    import plugrad

    x = plugrad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (x @ x).sum().backward()
    check(x.grad is not None and x.grad.tolist() == [[7.0, 11.0], [9.0, 13.0]], "matmul gradient on the numpy backend")
    out = info()
    check(
        "numpy  cpu     yes" in out and "default backend: numpy" in out, "info lists the numpy backend as the default"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--pyargs",
            "plugrad.testing.conformance",
            "--plugrad-backend",
            "numpy",
            "-k",
            "binary and add- or test_record or tolist",
        ],
        capture_output=True,
        text=True,
    )
    check(
        proc.returncode == 0 and " passed" in proc.stdout,
        "the conformance suite runs from the installed wheel (pytest11 plugin)",
    )


def core_numpy_nn_optim() -> None:
    import plugrad

    nn = plugrad.nn  # reachable as attributes, as `import torch; torch.nn` is
    optim = plugrad.optim

    plugrad.manual_seed(0)
    x = plugrad.linspace(-1, 1, 32).reshape(32, 1)
    y = 3 * x + 0.5
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    check(losses[-1] < 1e-3 < losses[0], f"nn.Linear + SGD fit y = 3x + 0.5 (loss {losses[0]:.3g} -> {losses[-1]:.2g})")


def core_nn() -> None:
    import plugrad

    check(plugrad.nn.Linear.__name__ == "Linear", "plugrad.nn is reachable as an attribute after import plugrad")
    try:
        plugrad.optim  # noqa: B018
    except AttributeError as exc:
        check("pip install plugrad-optim" in str(exc), "plugrad.optim without plugrad-optim says what to install")
    else:
        check(False, "plugrad.optim must be an AttributeError without plugrad-optim")
    import plugrad.nn as nn

    check(hasattr(nn, "Linear"), "plugrad.nn imports without a backend")
    try:
        nn.Linear(2, 3)
    except RuntimeError as exc:
        check("no plugrad backend is installed" in str(exc), f"creating a layer says no backend is installed ({exc})")
    else:
        check(False, "creating a layer without a backend must fail")


def core_cupy() -> None:
    import plugrad

    out = info()
    check(
        "cupy" in out and "no: cupy not installed" in out,
        "info reports the cupy backend unavailable: cupy not installed",
    )
    check(plugrad.cuda.is_available() is False, "plugrad.cuda.is_available() is False")
    msg = no_backend_error()
    check("cupy not installed" in msg, f"tensor creation says why ({msg!r})")


COMBOS = {
    "core": core,
    "core+numpy": core_numpy,
    "core+numpy+nn+optim": core_numpy_nn_optim,
    "core+nn": core_nn,
    "core+cupy": core_cupy,
}

if __name__ == "__main__":
    COMBOS[sys.argv[1]]()
