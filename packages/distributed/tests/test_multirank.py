"""Multi-rank tests: each starts ``mpiexec -n N`` on a script of ``mpi_scripts/``.

They run when ``PLUGRAD_MULTIRANK=1`` (``nox -s distributed`` sets it) and mpi4py with an
``mpiexec`` is installed; the default run skips them with the reason. Every job has a
hard timeout: on expiry the whole process group of the launcher is killed, so a hang
fails the test instead of blocking CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "mpi_scripts"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ENABLED = os.environ.get("PLUGRAD_MULTIRANK", "") not in ("", "0")


def _mpiexec() -> str | None:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def _skip_reason() -> str | None:
    if not ENABLED:
        return "multi-rank tests run with PLUGRAD_MULTIRANK=1 (nox -s distributed)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed: pip install plugrad-distributed[mpi]"
    if _mpiexec() is None:
        return "no mpiexec on PATH (pip install mpich)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def run_mpi(
    n: int, script: str, *args: str, timeout: float = 120, env: dict[str, str] | None = None, stderr: bool = True
) -> tuple[int, str, float]:
    """Run ``mpiexec -n n python script args``; (exit code, output, seconds). Kills everything on timeout."""
    cmd = [str(_mpiexec()), "-n", str(n), sys.executable, str(SCRIPTS / script), *args]  # SCRIPTS / abs = abs
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
        text=True,
        env=full_env,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"mpiexec -n {n} {script} {' '.join(args)} hung for {timeout} s and was killed:\n{out[-3000:]}")
    return proc.returncode, out, time.monotonic() - t0


@pytest.mark.parametrize("n", [2, 3])
def test_collectives_against_numpy(n: int) -> None:
    rc, out, _ = run_mpi(n, "collectives.py", env={"PG_TIMEOUT": "30"})
    assert rc == 0, out[-4000:]
    for r in range(n):
        assert f"OK rank {r} of {n}" in out, out[-4000:]
    # mismatched shapes: an error naming the ranks and the shapes (checked on every rank in the script)
    assert "rank 0: all_reduce, shape [4], dtype float32" in out


@pytest.mark.parametrize("n", [2, 3])
def test_ddp_equals_single_process(n: int) -> None:
    rc, out, _ = run_mpi(n, "ddp.py")
    assert rc == 0, out[-4000:]
    for r in range(n):
        assert f"OK rank {r} of {n}" in out, out[-4000:]
    for what in ("SGD: 50 steps", "Adam: 50 steps", "no_sync: 20 steps"):
        assert what in out


def test_killed_rank_ends_the_job() -> None:
    timeout = 5
    rc, out, secs = run_mpi(3, "failures.py", "kill", timeout=60, env={"PG_TIMEOUT": str(timeout)})
    assert rc != 0, out
    assert "rank 1: kill at step 3" in out
    assert "finished all steps" not in out
    assert "Killed (signal 9)" in out or "did not complete within the timeout" in out, out[-3000:]
    assert secs < timeout + 20, f"the job took {secs:.1f} s to end after a rank was killed"


def test_hung_rank_times_out_with_a_clear_error() -> None:
    timeout = 3
    rc, out, secs = run_mpi(3, "failures.py", "hang", timeout=60, env={"PG_TIMEOUT": str(timeout)})
    assert rc != 0, out
    assert "did not complete within the timeout (0:00:03)" in out, out[-3000:]
    assert "another rank probably died, hangs, or called a different collective" in out
    assert "finished all steps" not in out
    assert secs < timeout + 20, f"the job took {secs:.1f} s to end after a rank hung"


def test_raising_rank_ends_the_job_with_its_traceback() -> None:
    rc, out, secs = run_mpi(3, "failures.py", "raise", timeout=60, env={"PG_TIMEOUT": "30"})
    assert rc != 0, out
    assert "Traceback (most recent call last)" in out
    assert "ValueError: boom from rank 1 at step 3" in out
    assert "finished all steps" not in out
    assert secs < 25, f"the job took {secs:.1f} s to end after a rank raised"


@pytest.mark.parametrize(("save_n", "resume_n"), [(2, 3), (3, 1)])
def test_checkpoint_resumed_on_another_world_size(tmp_path: Path, save_n: int, resume_n: int) -> None:
    path = str(tmp_path / "ckpt.safetensors")
    rc, out, _ = run_mpi(save_n, "checkpoint.py", "save", path)
    assert rc == 0, out[-4000:]
    assert Path(path).stat().st_size > 0
    rc, out, _ = run_mpi(resume_n, "checkpoint.py", "resume", path)
    assert rc == 0, out[-4000:]
    for r in range(resume_n):
        assert f"rank {r} of {resume_n}: resumed" in out, out[-4000:]


def _without_timing(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith("trained in")]


@pytest.mark.parametrize(
    ("example", "args", "sizes"),
    [("ddp_regression.py", ["--epochs", "60"], [2, 3]), ("ddp_mlp.py", ["--epochs", "6"], [2, 4])],
)
def test_examples_print_what_one_process_prints(example: str, args: list[str], sizes: list[int]) -> None:
    path = str(EXAMPLES / example)
    single = subprocess.run([sys.executable, path, *args], capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr
    for n in sizes:
        rc, out, _ = run_mpi(n, path, *args, stderr=False)  # stdout alone: other ranks' notes go to stderr
        assert rc == 0, out[-3000:]
        assert _without_timing(out) == _without_timing(single.stdout), (
            f"{example} on {n} ranks:\n{out}\n---\n{single.stdout}"
        )
