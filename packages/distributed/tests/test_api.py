"""The fast, single-process part of plugrad.distributed's tests (the default run).

Without a process group every function says so; a world of one rank through MPI (when
mpi4py is installed) runs every collective; the frontend's fallbacks run on an
in-process backend registered with ``Backend.register_backend``; the registry collects
communication backends from plugins, reporting broken ones; the package imports
without mpi4py and says what to install.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from datetime import timedelta
from typing import Any

import plugrad
import plugrad.distributed as dist
import pytest
from plugrad.distributed import ProcessGroup, ProcessGroupBackendSpec, ReduceOp, Work
from plugrad.plugins import PluginWarning, Registry, hookimpl

try:
    import mpi4py  # noqa: F401

    HAVE_MPI = True
except ImportError:
    HAVE_MPI = False

needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py is not installed: pip install plugrad-distributed[mpi]")


@pytest.fixture(autouse=True)
def _no_group() -> Any:
    if dist.is_initialized():
        dist.destroy_process_group()
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


# -- without a process group ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: dist.get_rank(),
        lambda: dist.get_world_size(),
        lambda: dist.get_backend(),
        lambda: dist.barrier(),
        lambda: dist.all_reduce(plugrad.ones(2)),
        lambda: dist.broadcast(plugrad.ones(2), src=0),
        lambda: dist.new_group([0]),
    ],
)
def test_without_init_process_group(call: Any) -> None:
    assert dist.is_available() and not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        call()


def test_reduce_op_names() -> None:
    assert [op.name for op in ReduceOp] == ["SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"]
    assert str(ReduceOp.SUM) == "ReduceOp.SUM"
    assert dist.Backend("MPI") == "mpi" == dist.Backend.MPI


def test_unknown_and_gloo_backends() -> None:
    with pytest.raises(ValueError, match="unknown communication backend 'nope'"):
        dist.init_process_group("nope")
    with pytest.raises(ValueError, match="no 'gloo' backend"):
        dist.init_process_group("gloo")


def test_imports_without_mpi4py_and_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import plugrad.distributed as dist\n"
        "assert dist.is_available() and not dist.is_mpi_available()\n"
        "try:\n    dist.init_process_group('mpi')\n"
        "except RuntimeError as e:\n    print('ERR', e)\n"
    )
    res = _run(code)
    assert res.returncode == 0, res.stderr
    assert "ERR communication backend 'mpi' is not available: mpi4py is not installed" in res.stdout
    assert "pip install plugrad-distributed[mpi]" in res.stdout


def test_ddp_without_plugrad_distributed_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['plugrad.distributed'] = None\n"
        "from plugrad import nn\nfrom plugrad.nn.parallel import DistributedDataParallel as DDP\n"
        "try:\n    DDP(nn.Linear(2, 1))\nexcept ImportError as e:\n    print('ERR', e)\n"
    )
    res = _run(code)
    assert res.returncode == 0, res.stderr
    assert "ERR DistributedDataParallel needs plugrad.distributed" in res.stdout
    assert "pip install plugrad-distributed[mpi]" in res.stdout


# -- the registry collects communication backends from plugins --------------------------------------


class _Good:
    @hookimpl
    def plugrad_process_group_backends(self) -> list[ProcessGroupBackendSpec]:
        return [ProcessGroupBackendSpec("fake", lambda o: _Loopback(o.timeout), version="fake 1.0")]


class _Unavailable:
    @hookimpl
    def plugrad_process_group_backends(self) -> list[ProcessGroupBackendSpec]:
        return [ProcessGroupBackendSpec("later", None, ("cuda",), unavailable_reason="no GPU here")]


class _Raises:
    @hookimpl
    def plugrad_process_group_backends(self) -> list[Any]:
        raise RuntimeError("broken plugin")


class _Malformed:
    @hookimpl
    def plugrad_process_group_backends(self) -> Any:
        return [object(), ProcessGroupBackendSpec("nocreate", None)]


class _Dup:
    @hookimpl
    def plugrad_process_group_backends(self) -> list[ProcessGroupBackendSpec]:
        return [ProcessGroupBackendSpec("fake", lambda o: _Loopback(o.timeout))]


def test_registry_collects_process_group_backends() -> None:
    reg = Registry(autoload=False)
    for name, plugin in [("good", _Good()), ("unavail", _Unavailable()), ("raises", _Raises()), ("bad", _Malformed())]:
        reg.register_plugin(plugin, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infos = reg.process_group_backend_infos()
        assert reg.process_group_backend_infos() is infos  # collected once
    assert infos["fake"].available and infos["fake"].plugin == "good" and infos["fake"].version == "fake 1.0"
    assert not infos["later"].available and infos["later"].reason == "no GPU here"
    assert infos["later"].device_types == ("cuda",)
    assert "nocreate" not in infos
    msgs = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert any("'raises'" in m and "broken plugin" in m for m in msgs), msgs
    assert any("'bad'" in m and "no identifier name" in m for m in msgs), msgs
    assert any("'bad'" in m and "'nocreate' has no callable 'create'" in m for m in msgs), msgs
    assert "raises" in reg.failed_plugins


def test_registry_names_both_plugins_of_a_duplicate() -> None:
    reg = Registry(autoload=False)
    reg.register_plugin(_Good(), "one")
    reg.register_plugin(_Dup(), "two")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = reg.process_group_backend_infos()["fake"]
    assert not info.available
    assert "by plugin 'one' and 'two'" in str(info.reason)


def test_the_installed_mpi_plugin_is_listed_with_its_distribution() -> None:
    info = plugrad.plugins.get_registry().process_group_backend_infos()["mpi"]
    assert info.plugin == "mpi"
    assert plugrad.plugins.get_registry().plugin_dists["mpi"].startswith("plugrad-distributed ")
    assert info.available == HAVE_MPI
    res = _run("import plugrad.__main__ as m; m.main(['info'])")
    assert res.returncode == 0, res.stderr
    assert "communication backends (init_process_group):" in res.stdout
    assert "plugrad-distributed" in res.stdout


# -- a world of one rank, through MPI ------------------------------------------------------------


@needs_mpi
def test_world_of_one_through_mpi() -> None:
    dist.init_process_group("mpi", timeout=timedelta(seconds=30))
    with pytest.raises(ValueError, match="twice"):
        dist.init_process_group("mpi")
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "mpi")
    t = plugrad.tensor([1.0, -2.0, 3.0])
    v = t._version
    assert dist.all_reduce(t, op=ReduceOp.SUM) is None
    assert t.tolist() == [1.0, -2.0, 3.0] and t._version > v
    t = plugrad.tensor([3, -3, 5])
    dist.all_reduce(t, op=ReduceOp.AVG)
    assert t.tolist() == [3, -3, 5]
    w = dist.all_reduce(plugrad.ones(2, dtype=plugrad.float16), async_op=True)
    assert isinstance(w, Work) and w.wait() and w.is_completed() and w.result()[0].tolist() == [1.0, 1.0]
    out = [plugrad.zeros(2, dtype=plugrad.int8)]
    dist.all_gather(out, plugrad.tensor([4, 5], dtype=plugrad.int8))
    assert out[0].tolist() == [4, 5]
    big = plugrad.zeros(1, 3)
    dist.all_gather_into_tensor(big, plugrad.tensor([1.0, 2.0, 3.0]))
    assert big.tolist() == [[1.0, 2.0, 3.0]]
    o = plugrad.zeros(2)
    dist.reduce_scatter_tensor(o, plugrad.tensor([7.0, 8.0]), op=ReduceOp.MAX)
    assert o.tolist() == [7.0, 8.0]
    b = plugrad.tensor([True, False])
    dist.all_reduce(b, op=ReduceOp.PRODUCT)
    assert b.tolist() == [True, False]
    dist.broadcast(plugrad.zeros(0), src=0)  # empty tensors are fine
    objs: list[Any] = [None]
    dist.all_gather_object(objs, {"a": 1})
    assert objs == [{"a": 1}]
    lst: list[Any] = [1, "two"]
    dist.broadcast_object_list(lst, src=0)
    assert lst == [1, "two"]
    g = dist.new_group([0])
    assert dist.get_rank(g) == 0 and dist.get_process_group_ranks(g) == [0]
    dist.barrier()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    dist.init_process_group("mpi")  # again, after destroy
    assert dist.get_world_size() == 1


@needs_mpi
def test_mpi_world_size_must_match_the_launcher() -> None:
    with pytest.raises(ValueError, match=r"world_size=4.*MPI runs 1 process.*mpiexec -n 4"):
        dist.init_process_group("mpi", world_size=4)


@needs_mpi
def test_ddp_on_one_rank_matches_the_module() -> None:
    from plugrad import nn
    from plugrad.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    plugrad.manual_seed(0)
    plain = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    plugrad.manual_seed(0)
    ddp = DDP(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)), bucket_cap_mb=1e-6)
    assert len(ddp._buckets) == 4  # one per parameter at this cap, in reverse order
    assert ddp._buckets[0].params[0] is ddp.module[2].bias
    x = plugrad.randn(6, 3)
    plain(x).pow(2).mean().backward()
    with ddp.no_sync():
        ddp(x).pow(2).mean().backward()
    ddp(x).pow(2).mean().backward()  # accumulated twice, then averaged over one rank
    for p, q in zip(plain.parameters(), ddp.module.parameters()):
        assert plugrad.allclose(q.grad, 2 * p.grad)
    assert set(ddp.state_dict()) == {"module." + k for k in plain.state_dict()}
    ddp(x)  # a forward without backward (evaluation with grad on) is no error for the next one
    ddp(x).sum().backward()
    assert ddp.comm_stats["wait"] >= 0.0


# -- argument errors, the fallbacks and timeouts on an in-process backend -------------------------------


class _Loopback(ProcessGroup):
    """A one-rank backend with only the required methods: exercises the frontend and the fallbacks."""

    backend_name = "loopback"

    def __init__(self, timeout: timedelta, never_completes: bool = False) -> None:
        super().__init__(0, 1, timeout)
        self.never = never_completes

    def _w(self, what: str) -> Work:
        return Work(lambda: not self.never, group=self, describe=what)

    def allreduce(self, tensor: Any, op: ReduceOp) -> Work:
        return self._w("all_reduce")

    def broadcast(self, tensor: Any, src: int) -> Work:
        return self._w("broadcast")

    def allgather_into_tensor(self, output: Any, input: Any) -> Work:
        with plugrad.no_grad():
            output.copy_(input.reshape(output.shape))
        return self._w("all_gather_into_tensor")

    def barrier(self) -> Work:
        return self._w("barrier")

    def new_subgroup(self, ranks: Any, timeout: timedelta) -> ProcessGroup | None:
        return _Loopback(timeout)


_STUCK: dict[str, bool] = {"never": False}


def _loopback(options: dist.ProcessGroupOptions) -> ProcessGroup:
    return _Loopback(options.timeout, _STUCK["never"])


if "loopback" not in dist.Backend._registered:
    dist.Backend.register_backend("loopback", _loopback, devices=["cpu"])


def test_register_backend_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="already exist"):
        dist.Backend.register_backend("loopback", _loopback)


def test_fallback_collectives_on_a_minimal_backend() -> None:
    dist.init_process_group("loopback")
    t = plugrad.tensor([1.0, 2.0])
    dist.reduce(t, dst=0)
    assert t.tolist() == [1.0, 2.0]
    gl = [plugrad.zeros(2)]
    dist.gather(plugrad.tensor([5.0, 6.0]), gl, dst=0)
    assert gl[0].tolist() == [5.0, 6.0]
    out = plugrad.zeros(2)
    dist.scatter(out, [plugrad.tensor([8.0, 9.0])], src=0)
    assert out.tolist() == [8.0, 9.0]
    out = plugrad.zeros(2)
    dist.reduce_scatter_tensor(out, plugrad.tensor([3.0, 4.0]))
    assert out.tolist() == [3.0, 4.0]
    with pytest.raises(NotImplementedError, match="point-to-point"):
        _Loopback(timedelta(seconds=1)).send(plugrad.ones(1), 0, 0)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: dist.all_reduce([1.0]), TypeError, "Expected parameter `tensor` of type plugrad.Tensor"),
        (lambda: dist.all_reduce(plugrad.ones(2, 3).t()), ValueError, "Tensors must be contiguous"),
        (lambda: dist.all_reduce(plugrad.ones(2, dtype=plugrad.bool), op=ReduceOp.AVG), ValueError, "AVG with boolean"),
        (lambda: dist.all_reduce(plugrad.ones(2), op=ReduceOp.BAND), ValueError, "non-integral"),
        (lambda: dist.all_reduce(plugrad.ones(2), op="sum"), TypeError, "ReduceOp"),
        (lambda: dist.broadcast(plugrad.ones(2), src=3), ValueError, "Invalid src rank 3"),
        (lambda: dist.broadcast(plugrad.ones(2), src=0, group_src=0), ValueError, "both src and group_src"),
        (lambda: dist.all_gather_into_tensor(plugrad.ones(3), plugrad.ones(2)), ValueError, "world_size times"),
        (lambda: dist.all_gather([plugrad.ones(2), plugrad.ones(2)], plugrad.ones(2)), ValueError, "world_size"),
        (lambda: dist.gather(plugrad.ones(2), None, dst=0), ValueError, "must be specified on destination"),
        (lambda: dist.isend(plugrad.ones(2), dst=0), ValueError, "should not be the same"),
        (lambda: dist.new_group([0, 1]), ValueError, "within the world_size"),
        (lambda: dist.all_gather_object([], 1), ValueError, "world_size"),
    ],
)
def test_argument_errors(call: Any, exc: type[Exception], match: str) -> None:
    dist.init_process_group("loopback")
    with pytest.raises(exc, match=match):
        call()


def test_a_collective_that_never_completes_times_out_and_breaks_the_group(capsys: Any) -> None:
    _STUCK["never"] = True
    try:
        dist.init_process_group("loopback", timeout=timedelta(seconds=0.2))
        t0 = time.monotonic()
        work = dist.all_reduce(plugrad.ones(2), async_op=True)
        assert work is not None and not work.is_completed()
        with pytest.raises(
            dist.DistBackendError,
            match=r"all_reduce on rank 0 of 1 .* did not complete within the timeout \(0:00:00.200000\)",
        ):
            work.wait()
        assert time.monotonic() - t0 < 5
        assert "did not complete" in capsys.readouterr().err
        with pytest.raises(dist.DistBackendError, match="the process group is broken"):
            dist.all_reduce(plugrad.ones(2))
        # a shorter timeout given to wait() itself
        w2 = Work(lambda: False, describe="probe")
        with pytest.raises(dist.DistBackendError, match="probe on this rank did not complete"):
            w2.wait(timeout=timedelta(seconds=0.05))
    finally:
        _STUCK["never"] = False


@pytest.mark.parametrize("example", ["ddp_regression.py", "ddp_mlp.py"])
def test_examples_run_as_one_process(example: str) -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "examples" / example
    res = subprocess.run([sys.executable, str(path), "--epochs", "3"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert ("learned W" in res.stdout) if "regression" in example else ("test accuracy" in res.stdout)
