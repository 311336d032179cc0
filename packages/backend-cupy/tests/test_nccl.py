"""The "nccl" communication backend: its record everywhere, collectives where a GPU is.

Without CuPy or a GPU the hook still returns the backend's record, unavailable with the
reason; the GPU tests skip with that reason. With a GPU, a world of one rank runs every
collective through NCCL (no launcher needed: the id is made locally).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import plugrad
import pytest
from plugrad_cupy import nccl as nccl_plugin

dist = pytest.importorskip("plugrad.distributed", reason="plugrad-distributed is not installed")

_, _, REASON = nccl_plugin.probe()
needs_gpu = pytest.mark.skipif(REASON is not None, reason=f"nccl backend unavailable: {REASON}")


def test_record_says_why_it_is_unavailable_or_offers_create() -> None:
    (rec,) = nccl_plugin.plugrad_process_group_backends()
    assert rec.name == "nccl" and rec.device_types == ("cuda",)
    if REASON is None:
        assert rec.unavailable_reason is None and callable(rec.create) and rec.version.startswith("NCCL ")
    else:
        assert rec.create is None and rec.unavailable_reason == REASON


def test_listed_by_the_registry() -> None:
    infos = plugrad.plugins.get_registry().process_group_backend_infos()
    if "nccl" not in infos:
        pytest.skip("plugrad-backend-cupy's 'nccl' entry point is not installed in this environment")
    assert infos["nccl"].plugin == "nccl"
    assert infos["nccl"].available == (REASON is None)


@pytest.fixture
def world() -> Any:
    dist.init_process_group("nccl", timeout=timedelta(seconds=60))
    yield
    dist.destroy_process_group()


@needs_gpu
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64"])
def test_world_of_one_collectives(world: Any, dtype: str) -> None:
    dt = getattr(plugrad, dtype)
    t = plugrad.tensor([1, 0, 1], dtype=dt, device="cuda")
    v = t._version
    dist.all_reduce(t)
    assert t.cpu().tolist() == plugrad.tensor([1, 0, 1], dtype=dt).tolist() and t._version > v
    if dtype != "bool":
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        assert t.cpu().tolist() == plugrad.tensor([1, 0, 1], dtype=dt).tolist()
    out = plugrad.zeros(1, 3, dtype=dt, device="cuda")
    dist.all_gather_into_tensor(out, t)
    assert out.cpu().reshape(-1).tolist() == t.cpu().tolist()
    dist.broadcast(t, src=0)
    red = plugrad.zeros(3, dtype=dt, device="cuda")
    dist.reduce_scatter_tensor(red, t, op=dist.ReduceOp.MAX)
    assert red.cpu().tolist() == t.cpu().tolist()
    w = dist.all_reduce(t, async_op=True)
    assert w.wait() and w.is_completed()
    dist.barrier()


@needs_gpu
def test_cpu_tensors_are_refused(world: Any) -> None:
    with pytest.raises(ValueError, match="cannot communicate tensors on device 'cpu'"):
        dist.all_reduce(plugrad.ones(2))


@needs_gpu
def test_int16_is_refused(world: Any) -> None:
    with pytest.raises(TypeError, match="cannot communicate plugrad.int16"):
        dist.all_reduce(plugrad.ones(2, dtype=plugrad.int16, device="cuda"))
