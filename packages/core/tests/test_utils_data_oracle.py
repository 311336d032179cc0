"""plugrad.utils.data against torch.utils.data (PyTorch is optional: these skip without it).

Compared: batches and lengths of deterministic loaders, DistributedSampler index lists
(shuffle=False), BatchSampler lists, random_split lengths, collated structures and
dtypes, the NumPy worker seed mixing, and the DataLoader's argument errors.
"""

from __future__ import annotations

import collections
from typing import Any

import plugrad
import pytest
from plugrad.utils import data as pdata

pytestmark = pytest.mark.oracle

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
tdata = torch.utils.data


def same(p: Any, t: Any) -> None:
    """``p`` (plugrad) has ``t``'s (PyTorch) structure, container types, dtypes and values."""
    if isinstance(t, torch.Tensor):
        assert isinstance(p, plugrad.Tensor), type(p)
        assert str(p.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        assert tuple(p.shape) == tuple(t.shape) and p.tolist() == t.tolist()
        return
    if isinstance(t, dict):
        assert type(p).__name__ == type(t).__name__ and list(p) == list(t)
        for k in t:
            same(p[k], t[k])
        return
    if isinstance(t, (list, tuple)):
        assert type(p).__name__ == type(t).__name__ and len(p) == len(t)
        for a, b in zip(p, t):
            same(a, b)
        return
    assert p == t and type(p) is type(t)


class PSquares(pdata.Dataset[Any]):
    def __len__(self) -> int:
        return 11

    def __getitem__(self, i: int) -> Any:
        return {"i": i, "sq": float(i * i), "name": f"s{i}"}


class TSquares(tdata.Dataset):  # type: ignore[misc]
    def __len__(self) -> int:
        return 11

    def __getitem__(self, i: int) -> Any:
        return {"i": i, "sq": float(i * i), "name": f"s{i}"}


@pytest.mark.parametrize("batch_size", [1, 3, 4, 11, 20, None])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_and_lengths(batch_size: int | None, drop_last: bool) -> None:
    if batch_size is None and drop_last:
        pytest.skip("exclusive options (tested in test_errors_match)")
    xs = np.random.default_rng(0).standard_normal((11, 3)).astype(np.float32)
    ys = np.arange(11)
    pdl = pdata.DataLoader(
        pdata.TensorDataset(plugrad.from_numpy(xs), plugrad.from_numpy(ys)), batch_size=batch_size, drop_last=drop_last
    )
    tdl = tdata.DataLoader(
        tdata.TensorDataset(torch.from_numpy(xs), torch.from_numpy(ys)), batch_size=batch_size, drop_last=drop_last
    )
    assert len(pdl) == len(tdl)
    pb, tb = list(pdl), list(tdl)
    assert len(pb) == len(tb)
    for p, t in zip(pb, tb):
        same(p, t)
    for p, t in zip(
        pdata.DataLoader(PSquares(), batch_size=batch_size, drop_last=drop_last),
        tdata.DataLoader(TSquares(), batch_size=batch_size, drop_last=drop_last),
    ):
        same(p, t)


def test_iterable_lengths() -> None:
    class P(pdata.IterableDataset[int]):
        def __iter__(self) -> Any:
            return iter(range(10))

        def __len__(self) -> int:
            return 10

    class T(tdata.IterableDataset):  # type: ignore[misc]
        def __iter__(self) -> Any:
            return iter(range(10))

        def __len__(self) -> int:
            return 10

    for bs in (None, 1, 3, 4, 10, 12):
        for dl in (False, True) if bs is not None else (False,):
            assert len(pdata.DataLoader(P(), batch_size=bs, drop_last=dl)) == len(
                tdata.DataLoader(T(), batch_size=bs, drop_last=dl)
            )
            for p, t in zip(
                pdata.DataLoader(P(), batch_size=bs, drop_last=dl), tdata.DataLoader(T(), batch_size=bs, drop_last=dl)
            ):
                same(p, t)


@pytest.mark.parametrize("size", [0, 1, 2, 5, 10, 17, 64])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_indices(size: int, replicas: int, drop_last: bool) -> None:
    for rank in range(replicas):
        t = tdata.distributed.DistributedSampler(range(size), replicas, rank, shuffle=False, drop_last=drop_last)
        p = pdata.DistributedSampler(range(size), replicas, rank, shuffle=False, drop_last=drop_last)
        assert (len(p), p.num_samples, p.total_size) == (len(t), t.num_samples, t.total_size)
        try:
            want = list(t)
        except ZeroDivisionError:  # PyTorch cannot pad an empty dataset
            with pytest.raises(ValueError, match="cannot pad an empty dataset"):
                list(p)
            continue
        assert list(p) == want


@pytest.mark.parametrize("n", [0, 1, 7, 10, 33])
@pytest.mark.parametrize("batch_size", [1, 3, 10])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler(n: int, batch_size: int, drop_last: bool) -> None:
    p = pdata.BatchSampler(pdata.SequentialSampler(range(n)), batch_size, drop_last)
    t = tdata.BatchSampler(tdata.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(p) == list(t) and len(p) == len(t)


@pytest.mark.parametrize(
    ("n", "lengths"),
    [
        (10, [0.5, 0.5]),
        (11, [0.3, 0.3, 0.4]),
        (3, [0.25, 0.25, 0.25, 0.25]),
        (100, [0.1] * 10),
        (7, [3, 4]),
        (9, [0.7, 0.2, 0.1]),
    ],
)
def test_random_split_lengths(n: int, lengths: list[float]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = [len(s) for s in pdata.random_split(range(n), lengths)]  # type: ignore[arg-type]
        t = [len(s) for s in tdata.random_split(range(n), lengths)]
    assert p == t


Pt = collections.namedtuple("Pt", ["a", "b"])


def _batches() -> list[tuple[list[Any], list[Any]]]:
    """(plugrad samples, torch samples) pairs with the same structure."""
    arr = [np.arange(4, dtype=np.float32).reshape(2, 2) + k for k in range(3)]
    return [
        ([1, 2, 3], [1, 2, 3]),
        ([1.5, 2.5], [1.5, 2.5]),
        ([True, False], [True, False]),
        (["a", "b"], ["a", "b"]),
        ([b"x", b"y"], [b"x", b"y"]),
        (arr, arr),
        ([np.int32(1), np.int32(2)], [np.int32(1), np.int32(2)]),
        ([np.float64(1.5), np.float64(2.0)], [np.float64(1.5), np.float64(2.0)]),
        ([np.bool_(True), np.bool_(False)], [np.bool_(True), np.bool_(False)]),
        ([{"x": 1, "y": [2.0, "s"]}] * 2, [{"x": 1, "y": [2.0, "s"]}] * 2),
        ([Pt(1, 2.0), Pt(3, 4.0)], [Pt(1, 2.0), Pt(3, 4.0)]),
        ([(1, (2.0, "z")), (3, (4.0, "w"))], [(1, (2.0, "z")), (3, (4.0, "w"))]),
        (
            [collections.OrderedDict(k=plugrad.tensor([1, 2], dtype=plugrad.int16))] * 2,
            [collections.OrderedDict(k=torch.tensor([1, 2], dtype=torch.int16))] * 2,
        ),
        (
            [plugrad.tensor([[1.0, 2.0]], dtype=plugrad.float64), plugrad.tensor([[3.0, 4.0]], dtype=plugrad.float64)],
            [torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[3.0, 4.0]], dtype=torch.float64)],
        ),
    ]


@pytest.mark.parametrize("case", range(14))
def test_default_collate_structures(case: int) -> None:
    p, t = _batches()[case]
    same(pdata.default_collate(p), tdata.default_collate(t))


def test_default_convert_structures() -> None:
    sample = {"a": np.arange(3), "b": (np.float32(2.0), "s", 4), "c": [np.ones(2)]}
    same(pdata.default_convert(sample), tdata.default_convert(sample))


def test_collate_errors_match() -> None:
    for bad in ([object(), object()], [np.array(["a"]), np.array(["b"])]):
        with pytest.raises(TypeError) as te:
            tdata.default_collate(bad)
        with pytest.raises(TypeError) as pe:
            pdata.default_collate(bad)
        assert str(pe.value) == str(te.value)
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        tdata.default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        pdata.default_collate([[1, 2], [3]])


def test_numpy_seed_mixing_matches() -> None:
    from plugrad.utils.data._worker import _generate_state
    from torch.utils.data._utils.worker import _generate_state as torch_state

    for base in (0, 1, 12345, 2**32 - 1, 2**32, 2**62 + 17, 2**63 - 1):
        for wid in (0, 1, 7):
            assert _generate_state(base, wid) == torch_state(base, wid)


def test_errors_match() -> None:
    cases: list[dict[str, Any]] = [
        {"num_workers": -1},
        {"timeout": -1},
        {"prefetch_factor": 2},
        {"persistent_workers": True},
        {"sampler": [0], "shuffle": True},
        {"batch_sampler": [[0]], "batch_size": 2},
        {"batch_size": None, "drop_last": True},
        {"multiprocessing_context": "fork"},
        {"num_workers": 1, "multiprocessing_context": "nope"},
        {"num_workers": 1, "prefetch_factor": -1},
    ]
    for kwargs in cases:
        with pytest.raises(Exception) as te:
            tdata.DataLoader(TSquares(), **kwargs)
        with pytest.raises(Exception) as pe:
            pdata.DataLoader(PSquares(), **kwargs)
        assert type(pe.value) is type(te.value) and str(pe.value) == str(te.value), kwargs
    for make in (
        lambda m: m.RandomSampler(range(3), replacement=1),
        lambda m: m.RandomSampler(range(0)),
        lambda m: m.BatchSampler(range(3), 0, False),
        lambda m: m.BatchSampler(range(3), 2, 1),
        lambda m: m.WeightedRandomSampler([1.0], 0),
        lambda m: m.WeightedRandomSampler([[1.0, 2.0]], 1),
        lambda m: m.distributed.DistributedSampler(range(3), 2, 2),
        lambda m: m.random_split(range(10), [3, 8]),
        lambda m: m.random_split(range(10), [0.5, -0.5, 1.0]),
        lambda m: m.ConcatDataset([]),
    ):
        with pytest.raises(Exception) as te:
            make(tdata)
        with pytest.raises(Exception) as pe:
            make(pdata)
        assert type(pe.value) is type(te.value) and str(pe.value) == str(te.value)
