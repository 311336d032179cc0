"""DataLoader with worker processes: order, seeding, sharding, errors, deaths, timeouts, persistence.

Every loader here has a ``timeout`` as a guard: should death detection ever fail, the
test fails with "timed out" instead of hanging. Datasets are module-level classes so
that the ``spawn`` start method can pickle them.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from typing import Any

import plugrad
import pytest
from plugrad.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, get_worker_info
from plugrad.utils.data._worker import _generate_state

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the tests use fork and POSIX signals")

GUARD = 30.0  # seconds; only reached if something hangs


class Squares(Dataset[int]):
    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> int:
        return i * i

    def __len__(self) -> int:
        return self.n


class WhoAmI(Dataset[Any]):
    """Each sample says which worker made it and what its random streams give."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> Any:
        info = get_worker_info()
        assert info is not None and info.dataset is self
        np = sys.modules.get("numpy")
        return {
            "i": i,
            "id": info.id,
            "num_workers": info.num_workers,
            "seed": info.seed,
            "pid": os.getpid(),
            "py": random.random(),
            "pg": plugrad.rand(1, dtype=plugrad.float64).item(),
            "np": float(np.random.rand()) if np is not None else -1.0,
        }


class Failing(Dataset[int]):
    def __init__(self, how: str, at: int = 3) -> None:
        self.how, self.at = how, at

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> int:
        if i == self.at:
            if self.how == "raise":
                raise ValueError(f"bad sample {i}")
            if self.how == "keyerror":
                raise KeyError("missing")
            if self.how == "exit":
                os._exit(3)
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "sleep":
                time.sleep(5)
        return i


class Range(IterableDataset[int]):
    def __init__(self, start: int, end: int, shard: bool) -> None:
        self.start, self.end, self.shard = start, end, shard

    def __iter__(self) -> Any:
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.start, self.end))
        per = -(-(self.end - self.start) // info.num_workers)
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.end)))


class Counter(Dataset[Any]):
    """Counts calls in each worker's copy: persistent workers keep their copy."""

    def __init__(self) -> None:
        self.calls = 0

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> Any:
        self.calls += 1
        return (i, os.getpid(), self.calls)


def _lambda_collate(batch: list[int]) -> Any:
    return lambda: batch  # cannot be pickled back to the main process


def _record_init(worker_id: int) -> None:
    info = get_worker_info()
    assert info is not None
    info.dataset.init_id = worker_id


class InitSeen(Dataset[int]):
    init_id = -1

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return self.init_id


def test_same_batches_as_one_process() -> None:
    x = plugrad.randn(37, 5)
    y = plugrad.arange(37)
    ds = TensorDataset(x, y)
    perm = plugrad.randperm(37).tolist()
    one = list(DataLoader(ds, batch_size=4, sampler=perm))
    two = list(DataLoader(ds, batch_size=4, sampler=perm, num_workers=2, timeout=GUARD))
    assert len(one) == len(two) == 10
    for (a, b), (c, d) in zip(one, two):
        assert plugrad.equal(a, c) and plugrad.equal(b, d) and c.dtype == plugrad.float32
    assert [b.tolist() for b in DataLoader(Squares(7), batch_size=2, num_workers=2, timeout=GUARD)] == [
        [0, 1],
        [4, 9],
        [16, 25],
        [36],
    ]


def test_worker_info_and_seeding() -> None:
    g = plugrad.Generator().manual_seed(123)
    rows = [r for b in DataLoader(WhoAmI(), batch_size=1, num_workers=2, generator=g, timeout=GUARD) for r in [b]]
    # the base seed is the loader generator's first int64 draw; worker k is seeded base + k
    base = int(plugrad.empty((), dtype=plugrad.int64).random_(generator=plugrad.Generator().manual_seed(123)).item())
    assert [r["id"].item() for r in rows] == [0, 1, 0, 1]  # round robin, returned in order
    assert all(r["num_workers"].item() == 2 for r in rows)
    for r in rows:
        k = r["id"].item()
        assert r["seed"].item() == base + k
    first = {r["id"].item(): r for r in rows[:2]}
    for k, r in first.items():
        random.seed(base + k)
        assert r["py"].item() == random.random()
        plugrad.manual_seed(base + k)
        assert r["pg"].item() == plugrad.rand(1, dtype=plugrad.float64).item()
        np = pytest.importorskip("numpy")
        np.random.seed(_generate_state(base, k))
        assert r["np"].item() == float(np.random.rand())
    assert rows[0]["pid"].item() != rows[1]["pid"].item() != os.getpid()
    assert get_worker_info() is None


def test_manual_seed_makes_worker_seeds_reproducible() -> None:
    def seeds() -> list[int]:
        plugrad.manual_seed(99)
        return [b["seed"].item() for b in DataLoader(WhoAmI(), batch_size=1, num_workers=2, timeout=GUARD)]

    a, b = seeds(), seeds()
    assert a == b and a[1] == a[0] + 1 and a[2] == a[0]


def test_worker_init_fn_runs_in_each_worker() -> None:
    got = [b.item() for b in DataLoader(InitSeen(), num_workers=2, worker_init_fn=_record_init, timeout=GUARD)]
    assert got == [0, 1, 0, 1]


def test_iterable_dataset_sharding() -> None:
    got = [b.item() for b in DataLoader(Range(3, 10, shard=True), num_workers=2, timeout=GUARD)]
    assert sorted(got) == list(range(3, 10))
    assert got == [3, 7, 4, 8, 5, 9, 6]  # alternating workers while both have data
    batched = [b.tolist() for b in DataLoader(Range(0, 7, shard=True), batch_size=3, num_workers=2, timeout=GUARD)]
    assert batched == [[0, 1, 2], [4, 5, 6], [3]]
    dup = [b.item() for b in DataLoader(Range(0, 3, shard=False), num_workers=2, timeout=GUARD)]
    assert sorted(dup) == [0, 0, 1, 1, 2, 2]  # each worker streams its whole copy, as in PyTorch


def test_worker_exception_is_reraised_with_its_traceback() -> None:
    dl = DataLoader(Failing("raise"), batch_size=2, num_workers=2, timeout=GUARD)
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 1") as info:
        list(dl)
    text = str(info.value)
    assert "Original Traceback (most recent call last)" in text and "bad sample 3" in text and "__getitem__" in text
    with pytest.raises(KeyError) as kinfo:
        list(DataLoader(Failing("keyerror", at=0), num_workers=1, timeout=GUARD))
    assert "Caught KeyError in DataLoader worker process 0" in str(kinfo.value)
    assert "\\n" not in str(kinfo.value)  # readable, not a repr'd one-liner


@pytest.mark.parametrize(
    ("how", "pattern"),
    [
        ("exit", r"DataLoader worker 1 \(pid \d+\) exited unexpectedly with exit code 3"),
        ("kill", r"DataLoader worker 1 \(pid \d+\) is killed by signal: Killed \(SIGKILL\)"),
    ],
)
def test_dead_worker_is_a_clear_error_not_a_hang(how: str, pattern: str) -> None:
    dl = DataLoader(Failing(how), batch_size=2, num_workers=2, timeout=GUARD)
    it = iter(dl)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=pattern):
        for _ in it:
            pass
    assert time.monotonic() - t0 < GUARD / 2
    with pytest.raises(RuntimeError, match=pattern):  # the iterator stays broken
        next(it)
    assert all(not p.is_alive() for p in it._workers)  # type: ignore[attr-defined]


def test_timeout() -> None:
    dl = DataLoader(Failing("sleep", at=0), num_workers=1, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        next(iter(dl))
    assert time.monotonic() - t0 < 3


def test_unpicklable_batch_is_an_error_from_the_worker() -> None:
    dl = DataLoader(Squares(4), batch_size=2, num_workers=1, collate_fn=_lambda_collate, timeout=GUARD)
    with pytest.raises(Exception, match="while sending a batch from DataLoader worker process 0"):
        next(iter(dl))


def test_persistent_workers_keep_their_dataset_copy() -> None:
    dl = DataLoader(Counter(), batch_size=None, num_workers=2, persistent_workers=True, timeout=GUARD)
    first = list(dl)
    second = list(dl)
    assert [r[0].item() if hasattr(r[0], "item") else r[0] for r in first] == list(range(6))
    assert [r[0] for r in second] == list(range(6))
    assert {r[1] for r in first} == {r[1] for r in second}  # the same two processes
    assert [r[2] for r in second] == [4, 4, 5, 5, 6, 6]  # each copy counted its first epoch's 3 calls
    it = iter(dl)  # an epoch abandoned early: the next one starts clean
    next(it)
    assert [r[0] for r in dl] == list(range(6))
    workers = dl._iterator._workers  # type: ignore[union-attr]
    del it, dl
    import gc

    gc.collect()
    assert all(not p.is_alive() for p in workers)


def test_early_exit_stops_workers() -> None:
    it = iter(DataLoader(Squares(100), batch_size=2, num_workers=2, timeout=GUARD))
    assert next(it).tolist() == [0, 1]
    workers = list(it._workers)  # type: ignore[attr-defined]
    del it
    import gc

    gc.collect()
    assert all(not p.is_alive() for p in workers)


class SlowFirst(Dataset[int]):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> int:
        if i == 0:
            time.sleep(0.25)
        return i


def test_out_of_order_returns_every_batch() -> None:
    dl = DataLoader(Squares(20), batch_size=3, num_workers=2, in_order=False, prefetch_factor=3, timeout=GUARD)
    got = sorted(v for b in dl for v in b.tolist())
    assert got == [i * i for i in range(20)]
    # batch 0 is slow: with in_order=False the other worker's batches come first
    late = [b.item() for b in DataLoader(SlowFirst(), num_workers=2, in_order=False, timeout=GUARD)]
    assert sorted(late) == list(range(6)) and late[0] != 0
    ordered = [b.item() for b in DataLoader(SlowFirst(), num_workers=2, timeout=GUARD)]
    assert ordered == list(range(6))


def test_spawn_start_method() -> None:
    x = plugrad.arange(12.0).reshape(6, 2)
    dl = DataLoader(TensorDataset(x), batch_size=4, num_workers=1, multiprocessing_context="spawn", timeout=GUARD)
    assert [b[0].tolist() for b in dl] == [x[:4].tolist(), x[4:].tolist()]


def test_spawn_needs_picklable_arguments() -> None:
    dl = DataLoader(Squares(4), num_workers=1, collate_fn=lambda b: b, multiprocessing_context="spawn", timeout=GUARD)
    with pytest.raises(Exception, match="lambda") as info:
        next(iter(dl))
    if sys.version_info >= (3, 11):
        assert "define them at module level" in "".join(getattr(info.value, "__notes__", []))
