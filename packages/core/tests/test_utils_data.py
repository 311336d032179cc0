"""plugrad.utils.data in one process: datasets, samplers, collation, DataLoader, DistributedSampler.

Expected index lists are written out by hand from the definitions (PyTorch's
documented behaviour); random ones are recomputed independently from the same
generator seed through plugrad's random functions.
"""

from __future__ import annotations

import collections
import sys
import types
import warnings
from typing import Any

import plugrad
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plugrad.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from plugrad.utils.data._collate import collate, default_collate_fn_map


def gen(seed: int) -> Any:
    return plugrad.Generator().manual_seed(seed)


class Squares(Dataset[int]):
    def __init__(self, n: int) -> None:
        self.n = n

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self) -> int:
        return self.n


class Stream(IterableDataset[int]):
    def __init__(self, n: int, length: int | None = None) -> None:
        self.n = n
        self.length = n if length is None else length

    def __iter__(self) -> Any:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.length


def as_lists(batches: list[Any]) -> list[Any]:
    return [[t.tolist() for t in b] if isinstance(b, list) else b.tolist() for b in batches]


# ------------------------------------------------------------------ datasets
def test_import_path_and_reexports() -> None:
    import plugrad.utils
    import plugrad.utils.data as D

    assert plugrad.utils.data is D
    assert D.get_worker_info is get_worker_info and get_worker_info() is None
    for name in D.__all__:
        assert hasattr(D, name), name
    from plugrad.utils.data.distributed import DistributedSampler as DS

    assert DS is DistributedSampler
    from plugrad.utils.data._utils.collate import collate as c2
    from plugrad.utils.data._utils.collate import default_collate_fn_map as m2
    from plugrad.utils.data._utils.worker import get_worker_info as g2
    from plugrad.utils.data.dataloader import default_collate as d2

    assert (c2, m2, g2, d2) == (collate, default_collate_fn_map, get_worker_info, default_collate)


def test_dataset_base_and_addition() -> None:
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__"):
        Dataset()[0]
    both = Squares(2) + Squares(3)
    assert isinstance(both, ConcatDataset) and [both[i] for i in range(5)] == [0, 1, 0, 1, 4]
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, ChainDataset) and list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5


def test_tensor_dataset() -> None:
    x = plugrad.arange(12.0).reshape(4, 3)
    y = plugrad.tensor([10, 11, 12, 13])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    a, b = ds[2]
    assert a.tolist() == [6.0, 7.0, 8.0] and b.item() == 12
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, plugrad.zeros(5))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(TypeError, match="argument 1 is list"):
        TensorDataset(x, [1, 2, 3, 4])  # type: ignore[arg-type]


def test_stack_dataset() -> None:
    t = StackDataset(Squares(3), Squares(3))
    assert t[2] == (4, 4) and len(t) == 3 and t.__getitems__([0, 2]) == [(0, 0), (4, 4)]
    d = StackDataset(a=Squares(3), b=TensorDataset(plugrad.arange(3)))
    assert d[1]["a"] == 1 and d[1]["b"][0].item() == 1
    assert [s["a"] for s in d.__getitems__([2, 0])] == [4, 0]
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(Squares(3), Squares(4))
    with pytest.raises(ValueError, match="At least one dataset should be passed"):
        StackDataset()
    with pytest.raises(ValueError, match="but both types are given"):
        StackDataset(Squares(1), b=Squares(1))


def test_concat_dataset() -> None:
    ds = ConcatDataset([Squares(2), Squares(0), Squares(3)])
    assert ds.cumulative_sizes == [2, 2, 5] and len(ds) == 5
    assert [ds[i] for i in range(5)] == [0, 1, 0, 1, 4]
    assert ds[-1] == 4 and ds[-5] == 0
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        ds[-6]
    with pytest.raises(IndexError, match="out of range"):
        ds[5]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([Stream(2)])


def test_chain_dataset_rejects_map_style() -> None:
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([Stream(1), Squares(2)]))


def test_subset() -> None:
    base = Squares(10)
    sub = Subset(base, [9, 2, 5])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [81, 4, 25]
    assert sub.__getitems__([2, 0]) == [25, 81]
    inner = Subset(TensorDataset(plugrad.arange(10)), [4, 5, 6])
    assert [s[0].item() for s in inner.__getitems__([0, 2])] == [4, 6]

    class Bad(Subset[int]):
        def __getitem__(self, idx: Any) -> int:
            return 0

    with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
        Bad(base, [1])


@pytest.mark.parametrize(
    ("n", "fractions", "sizes"),
    [
        (10, [0.5, 0.3, 0.2], [5, 3, 2]),
        (11, [0.3, 0.3, 0.4], [4, 3, 4]),
        (7, [0.5, 0.5], [4, 3]),
        (3, [0.25] * 4, [1, 1, 1, 0]),
    ],
)
def test_random_split_fractions(n: int, fractions: list[float], sizes: list[int]) -> None:
    # floor(n * f) per split, then the remainder one by one from the first split
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = random_split(range(n), fractions, generator=gen(0))  # type: ignore[arg-type]
    assert [len(p) for p in parts] == sizes
    assert any("Length of split at index 3 is 0" in str(w.message) for w in caught) == (0 in sizes)
    assert sorted(i for p in parts for i in p.indices) == list(range(n))


def test_random_split_lengths_and_generator() -> None:
    parts = random_split(range(10), [3, 7], generator=gen(42))  # type: ignore[arg-type]
    perm = plugrad.randperm(10, generator=gen(42)).tolist()
    assert parts[0].indices == perm[:3] and parts[1].indices == perm[3:]
    assert [parts[0][i] for i in range(3)] == perm[:3]
    plugrad.manual_seed(5)
    a = random_split(range(20), [10, 10])  # type: ignore[arg-type]
    plugrad.manual_seed(5)
    b = random_split(range(20), [10, 10])  # type: ignore[arg-type]
    assert a[0].indices == b[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(range(10), [3, 8])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, -0.5, 1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="length at index 0 is negative"):
        random_split(range(10), [-1, 11])  # type: ignore[arg-type]


# ------------------------------------------------------------------ samplers
def test_sequential_and_batch_sampler() -> None:
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3] and len(SequentialSampler(range(4))) == 4
    seq = SequentialSampler(range(10))
    assert list(BatchSampler(seq, 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(seq, 3, drop_last=True)) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(seq, 3, False)) == 4 and len(BatchSampler(seq, 3, True)) == 3
    assert list(BatchSampler(range(4), 2, True)) == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(seq, 0, False)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=True"):
        BatchSampler(seq, True, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got drop_last=1"):
        BatchSampler(seq, 2, 1)  # type: ignore[arg-type]


def test_random_sampler_matches_randperm_of_its_generator() -> None:
    assert list(RandomSampler(range(10), generator=gen(3))) == plugrad.randperm(10, generator=gen(3)).tolist()
    g, ref = gen(4), gen(4)
    got = list(RandomSampler(range(5), num_samples=12, generator=g))
    want = (
        plugrad.randperm(5, generator=ref).tolist()
        + plugrad.randperm(5, generator=ref).tolist()
        + plugrad.randperm(5, generator=ref).tolist()[:2]
    )
    assert got == want


def test_random_sampler_with_replacement_draws_in_chunks_of_32() -> None:
    g, ref = gen(9), gen(9)
    got = list(RandomSampler(range(7), replacement=True, num_samples=70, generator=g))
    want = []
    for size in (32, 32, 6):
        want += plugrad.randint(high=7, size=(size,), generator=ref).tolist()
    assert got == want and len(got) == 70 and set(got) <= set(range(7))


def test_random_sampler_default_generator_follows_manual_seed() -> None:
    plugrad.manual_seed(11)
    a = list(RandomSampler(range(50)))
    b = list(RandomSampler(range(50)))
    plugrad.manual_seed(11)
    assert list(RandomSampler(range(50))) == a and sorted(a) == list(range(50)) and a != b


def test_random_sampler_errors() -> None:
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(0))
    with pytest.raises(ValueError, match="num_samples=2.5"):
        RandomSampler(range(3), num_samples=2.5)  # type: ignore[arg-type]
    assert len(RandomSampler(range(3), num_samples=8)) == 8


def test_subset_random_sampler() -> None:
    idx = [10, 20, 30, 40]
    perm = plugrad.randperm(4, generator=gen(1)).tolist()
    s = SubsetRandomSampler(idx, generator=gen(1))
    assert list(s) == [idx[p] for p in perm] and len(s) == 4


def test_weighted_random_sampler_frequencies() -> None:
    weights = [1.0, 0.0, 2.0, 7.0]
    n = 20000
    got = list(WeightedRandomSampler(weights, n, generator=gen(0)))
    counts = collections.Counter(got)
    assert counts[1] == 0 and len(got) == n
    for i, w in enumerate(weights):
        p = w / 10.0
        assert abs(counts[i] / n - p) <= 5 * (p * (1 - p) / n) ** 0.5 + 1e-12, (i, counts)


def test_weighted_random_sampler_without_replacement() -> None:
    for seed in range(20):
        got = list(WeightedRandomSampler([0.5, 0.0, 3.0, 1.0, 0.0], 3, replacement=False, generator=gen(seed)))
        assert sorted(got) == [0, 2, 3]
    # the heaviest index comes first most often: 3 / 4.5 of the time
    firsts = collections.Counter(
        next(iter(WeightedRandomSampler([0.5, 3.0, 1.0], 1, replacement=False, generator=gen(s)))) for s in range(400)
    )
    assert 0.55 < firsts[1] / 400 < 0.78


def test_weighted_random_sampler_errors() -> None:
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value, but got replacement=0"):
        WeightedRandomSampler([1.0], 1, replacement=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(1, 2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 1)  # type: ignore[list-item]
    with pytest.raises(RuntimeError, match="probability"):
        list(WeightedRandomSampler([1.0, -1.0], 2))
    with pytest.raises(RuntimeError):
        list(WeightedRandomSampler([1.0, 2.0], 3, replacement=False))
    s = WeightedRandomSampler([1, 2], 5)
    assert len(s) == 5 and s.weights.dtype == plugrad.float64


# ------------------------------------------------------------------ collation
Point = collections.namedtuple("Point", ["x", "y"])


def test_default_collate_leaves() -> None:
    t = default_collate([plugrad.tensor([1.0, 2.0]), plugrad.tensor([3.0, 4.0])])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]] and t.dtype == plugrad.float32
    ints = default_collate([1, 2, 3])
    assert ints.tolist() == [1, 2, 3] and ints.dtype == plugrad.int64
    floats = default_collate([1.5, 2.0])
    assert floats.tolist() == [1.5, 2.0] and floats.dtype == plugrad.float64
    bools = default_collate([True, False])
    assert bools.dtype == plugrad.bool and bools.tolist() == [True, False]
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert default_collate([b"a", b"b"]) == [b"a", b"b"]
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([plugrad.zeros(2), plugrad.zeros(3)])
    with pytest.raises(
        TypeError,
        match="default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found <class 'object'>",
    ):
        default_collate([object(), object()])


def test_default_collate_containers() -> None:
    d = default_collate([{"a": 0, "b": "x"}, {"a": 1, "b": "y"}])
    assert list(d) == ["a", "b"] and d["a"].tolist() == [0, 1] and d["b"] == ["x", "y"]
    od = default_collate([collections.OrderedDict(k=1.0), collections.OrderedDict(k=2.0)])
    assert type(od) is collections.OrderedDict and od["k"].tolist() == [1.0, 2.0]
    p = default_collate([Point(0, 1.0), Point(2, 3.0)])
    assert type(p) is Point and p.x.tolist() == [0, 2] and p.y.tolist() == [1.0, 3.0]
    tup = default_collate([(0, 1), (2, 3)])
    assert type(tup) is list and [x.tolist() for x in tup] == [[0, 2], [1, 3]]
    lst = default_collate([[0, 1], [2, 3]])
    assert type(lst) is list and [x.tolist() for x in lst] == [[0, 2], [1, 3]]
    nested = default_collate([{"p": (plugrad.ones(2), [1])}, {"p": (plugrad.zeros(2), [2])}])
    assert nested["p"][0].tolist() == [[1.0, 1.0], [0.0, 0.0]] and nested["p"][1][0].tolist() == [1, 2]
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])


def test_default_collate_numpy() -> None:
    np = pytest.importorskip("numpy")
    t = default_collate([np.array([1, 2], dtype=np.float32), np.array([3, 4], dtype=np.float32)])
    assert isinstance(t, plugrad.Tensor) and t.dtype == plugrad.float32 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    s = default_collate([np.int16(3), np.int16(4)])
    assert s.dtype == plugrad.int16 and s.tolist() == [3, 4]
    f = default_collate([np.float64(0.5), np.float64(1.5)])  # a float subclass, still a NumPy scalar first
    assert f.dtype == plugrad.float64
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert default_collate([ro, ro]).tolist() == [[0.0, 1.0, 2.0]] * 2
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    assert default_collate([np.str_("a"), np.str_("b")]) == ["a", "b"]
    conv = default_convert({"a": np.arange(2), "b": (np.float32(1.0), "s"), "c": np.array(["x"])})
    assert isinstance(conv["a"], plugrad.Tensor) and conv["a"].tolist() == [0, 1]
    assert isinstance(conv["b"], list) and conv["b"][0].dtype == plugrad.float32 and conv["b"][1] == "s"
    assert isinstance(conv["c"], np.ndarray)


def test_collate_with_custom_map() -> None:
    class Box:
        def __init__(self, v: int) -> None:
            self.v = v

    fns = dict(default_collate_fn_map)
    fns[Box] = lambda batch, *, collate_fn_map: sum(b.v for b in batch)
    assert collate([(Box(1), 1), (Box(2), 2)], collate_fn_map=fns)[0] == 3


# ------------------------------------------------------------------ DataLoader, one process
def test_loader_batches_and_len() -> None:
    x = plugrad.arange(20.0).reshape(10, 2)
    y = plugrad.arange(10)
    dl = DataLoader(TensorDataset(x, y), batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[2][0].tolist() == [[16.0, 17.0], [18.0, 19.0]]
    assert len(DataLoader(TensorDataset(x), batch_size=4, drop_last=True)) == 2
    assert [b.tolist() for b in DataLoader(Squares(5), batch_size=2, drop_last=True)] == [[0, 1], [4, 9]]


def test_loader_without_batching_converts_each_sample() -> None:
    got = list(DataLoader(Squares(3), batch_size=None))
    assert got == [0, 1, 4] and len(DataLoader(Squares(3), batch_size=None)) == 3
    tensors = list(DataLoader(TensorDataset(plugrad.arange(3)), batch_size=None))
    assert [t[0].item() for t in tensors] == [0, 1, 2] and isinstance(tensors[0], list)


def test_loader_shuffle_follows_generator_and_manual_seed() -> None:
    dl = DataLoader(Squares(10), batch_size=10, shuffle=True, generator=gen(5))
    # the loader draws the workers' base seed first, then the sampler its permutation
    ref = gen(5)
    plugrad.empty((), dtype=plugrad.int64).random_(generator=ref)
    perm = plugrad.randperm(10, generator=ref).tolist()
    assert next(iter(dl)).tolist() == [i * i for i in perm]
    plugrad.manual_seed(3)
    a = [b.tolist() for b in DataLoader(Squares(30), batch_size=7, shuffle=True)]
    plugrad.manual_seed(3)
    b = [b.tolist() for b in DataLoader(Squares(30), batch_size=7, shuffle=True)]
    assert a == b and sorted(v for batch in a for v in batch) == [i * i for i in range(30)]


def test_loader_sampler_batch_sampler_and_collate_fn() -> None:
    dl = DataLoader(Squares(6), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert [b.tolist() for b in dl] == [[25, 16], [9, 4], [1, 0]]
    dl = DataLoader(Squares(6), batch_sampler=[[0, 5], [2]])
    assert [b.tolist() for b in dl] == [[0, 25], [4]] and dl.batch_size is None
    dl = DataLoader(Squares(4), batch_size=3, collate_fn=lambda b: tuple(b))
    assert list(dl) == [(0, 1, 4), (9,)]


class WithGetitems(Squares):
    calls: list[list[int]] = []

    def __getitems__(self, indices: list[int]) -> list[int]:
        WithGetitems.calls.append(list(indices))
        return [-i for i in indices]


def test_loader_uses_getitems() -> None:
    WithGetitems.calls = []
    assert [b.tolist() for b in DataLoader(WithGetitems(5), batch_size=2)] == [[0, -1], [-2, -3], [-4]]
    assert WithGetitems.calls == [[0, 1], [2, 3], [4]]


class Doubled(TensorDataset):
    def __getitem__(self, index: Any) -> tuple[plugrad.Tensor, ...]:
        return tuple(t[index] * 2 for t in self.tensors)


def test_tensor_dataset_fast_path_equals_per_sample_collation() -> None:
    x = plugrad.randn(50, 3, 2)
    y = plugrad.arange(50)
    ds = TensorDataset(x, y)
    perm = plugrad.randperm(50).tolist()
    fast = list(DataLoader(ds, batch_size=8, sampler=perm))
    slow = list(DataLoader(ds, batch_size=8, sampler=perm, collate_fn=lambda b: default_collate(list(b))))
    assert len(fast) == len(slow) == 7
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.shape == sx.shape and fx.dtype == sx.dtype and plugrad.equal(fx, sx) and plugrad.equal(fy, sy)
    sub = Subset(Subset(ds, list(range(10, 40))), [3, 1, 2])
    ((sx, sy),) = DataLoader(sub, batch_size=3)
    assert sy.tolist() == [13, 11, 12] and plugrad.equal(sx, x[[13, 11, 12]])
    # a subclass that overrides __getitem__ is used item by item (its transform applies)
    dx, dy = next(iter(DataLoader(Doubled(x, y), batch_size=2)))
    assert dy.tolist() == [0, 2] and plugrad.equal(dx, x[:2] * 2)


def test_fast_path_index_types_and_errors() -> None:
    np = pytest.importorskip("numpy")
    ds = TensorDataset(plugrad.arange(10.0) * 2, plugrad.arange(10))
    x, y = next(iter(DataLoader(ds, batch_size=3, sampler=np.array([9, -1, 2]))))
    assert y.tolist() == [9, 9, 2] and x.tolist() == [18.0, 18.0, 4.0]
    ((x, y),) = DataLoader(Subset(ds, plugrad.arange(5, 8)), batch_size=3)
    assert y.tolist() == [5, 6, 7] and x.tolist() == [10.0, 12.0, 14.0]
    with pytest.raises(IndexError, match="index 30 is out of bounds for dimension 0 with size 10"):
        list(DataLoader(ds, batch_size=3, sampler=[1, 2, 30]))


def test_fast_path_keeps_the_graph() -> None:
    w = plugrad.ones(6, 2, requires_grad=True)
    (xb,) = next(iter(DataLoader(TensorDataset(w), batch_size=3, sampler=[4, 1, 4])))
    (xb * plugrad.tensor([[1.0], [2.0], [3.0]])).sum().backward()
    assert w.grad is not None and w.grad[:, 0].tolist() == [0.0, 2.0, 0.0, 0.0, 4.0, 0.0]


def test_loader_argument_errors() -> None:
    ds = Squares(4)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"num_workers": -1}, ValueError, "num_workers option should be non-negative"),
        ({"timeout": -1}, ValueError, "timeout option should be non-negative"),
        ({"prefetch_factor": 2}, ValueError, "prefetch_factor option could only be specified in multiprocessing"),
        ({"persistent_workers": True}, ValueError, "persistent_workers option needs num_workers > 0"),
        ({"sampler": [0], "shuffle": True}, ValueError, "sampler option is mutually exclusive with shuffle"),
        ({"batch_sampler": [[0]], "batch_size": 2}, ValueError, "batch_sampler option is mutually exclusive"),
        ({"batch_sampler": [[0]], "drop_last": True}, ValueError, "batch_sampler option is mutually exclusive"),
        ({"batch_size": None, "drop_last": True}, ValueError, "batch_size=None option disables auto-batching"),
        (
            {"multiprocessing_context": "fork"},
            ValueError,
            "multiprocessing_context can only be used with multi-process",
        ),
        ({"num_workers": 1, "multiprocessing_context": "nope"}, ValueError, "should specify a valid start method"),
        ({"num_workers": 1, "multiprocessing_context": 3}, TypeError, "should be a valid context object"),
        ({"num_workers": 1, "prefetch_factor": -1}, ValueError, "prefetch_factor option should be non-negative"),
    ]
    for kwargs, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            DataLoader(ds, **kwargs)
    dl = DataLoader(ds)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        dl.batch_size = 3
    dl.num_workers = 0  # other attributes stay settable, as in PyTorch
    with pytest.raises(NotImplementedError, match="cannot be pickled"):
        iter(dl).__getstate__()


def test_pin_memory_is_accepted() -> None:
    x = plugrad.arange(4)
    if plugrad.cuda.is_available():
        pytest.skip("a CUDA backend is present: the no-accelerator warning does not apply")
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        batches = list(DataLoader(TensorDataset(x), batch_size=2, pin_memory=True))
    assert [b[0].tolist() for b in batches] == [[0, 1], [2, 3]]


def test_iterable_dataset_loader() -> None:
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert (
        len(DataLoader(Stream(7), batch_size=3)) == 3 and len(DataLoader(Stream(7), batch_size=3, drop_last=True)) == 2
    )
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    for kwargs, what in (
        ({"shuffle": True}, "shuffle"),
        ({"sampler": [0]}, "sampler"),
        ({"batch_sampler": [[0]]}, "batch_sampler"),
    ):
        with pytest.raises(ValueError, match=f"DataLoader with IterableDataset: expected unspecified {what} option"):
            DataLoader(Stream(3), **kwargs)
    dl = DataLoader(Stream(5, length=2), batch_size=None)
    assert len(dl) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        assert list(dl) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------ DistributedSampler
@pytest.mark.parametrize(
    ("n", "replicas", "drop_last", "expected"),
    [
        # padded with the first indices: [0..9, 0, 1], every third from the rank
        (10, 3, False, [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]),
        # cut to 9 = 3 * ceil((10 - 3) / 3)
        (10, 3, True, [[0, 3, 6], [1, 4, 7], [2, 5, 8]]),
        # padding longer than the data repeats it: [0, 1] + [0, 1, 0]
        (2, 5, False, [[0], [1], [0], [1], [0]]),
        (2, 5, True, [[], [], [], [], []]),
        (8, 4, True, [[0, 4], [1, 5], [2, 6], [3, 7]]),
    ],
)
def test_distributed_sampler_by_hand(n: int, replicas: int, drop_last: bool, expected: list[list[int]]) -> None:
    samplers = [DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last) for r in range(replicas)]
    assert [list(s) for s in samplers] == expected
    assert all(len(s) == len(expected[0]) for s in samplers)


def test_distributed_sampler_shuffle() -> None:
    n, k = 23, 4
    samplers = [DistributedSampler(range(n), k, r, seed=7) for r in range(k)]
    perm = plugrad.randperm(n, generator=gen(7)).tolist()
    padded = perm + perm[: 24 - n]
    assert [list(s) for s in samplers] == [padded[r::k] for r in range(k)]
    for s in samplers:
        s.set_epoch(2)
    perm2 = plugrad.randperm(n, generator=gen(9)).tolist()
    assert list(samplers[1]) == (perm2 + perm2[:1])[1::k]
    assert list(DistributedSampler(range(n), k, 1, seed=7)) == padded[1::k]  # the same in every process


def test_distributed_sampler_errors_and_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(5), 3, 3)
    with pytest.raises(ValueError, match=r"Invalid rank -1"):
        DistributedSampler(range(5), 3, -1)
    monkeypatch.setitem(sys.modules, "plugrad.distributed", None)  # not installed
    with pytest.raises(RuntimeError, match="Requires distributed package to be available"):
        DistributedSampler(range(5))
    fake = types.ModuleType("plugrad.distributed")
    fake.is_available = lambda: True  # type: ignore[attr-defined]
    fake.is_initialized = lambda: False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "plugrad.distributed", fake)
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(range(5))
    fake.is_initialized = lambda: True  # type: ignore[attr-defined]
    fake.get_world_size = lambda: 2  # type: ignore[attr-defined]
    fake.get_rank = lambda: 1  # type: ignore[attr-defined]
    s = DistributedSampler(range(5), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (2, 1, [1, 3, 0])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), replicas=st.integers(1, 9), drop_last=st.booleans(), shuffle=st.booleans())
def test_distributed_sampler_properties(n: int, replicas: int, drop_last: bool, shuffle: bool) -> None:
    parts = [
        list(DistributedSampler(range(n), replicas, r, shuffle=shuffle, drop_last=drop_last)) for r in range(replicas)
    ]
    size = len(parts[0])
    assert all(len(p) == size for p in parts)  # every replica runs the same number of steps
    flat = [i for p in parts for i in p]
    if drop_last:
        assert size == n // replicas and len(set(flat)) == len(flat)  # no sample twice
    else:
        assert size == -(-n // replicas) and set(flat) == set(range(n))  # every sample, padding repeats
        assert len(flat) - n < replicas


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 50), batch=st.integers(1, 12), drop_last=st.booleans())
def test_batch_sampler_properties(n: int, batch: int, drop_last: bool) -> None:
    batches = list(BatchSampler(range(n), batch, drop_last))
    assert len(batches) == len(BatchSampler(range(n), batch, drop_last))
    assert [i for b in batches for i in b] == list(range(n // batch * batch if drop_last else n))
    assert all(len(b) == batch for b in batches[:-1]) and (not batches or 0 < len(batches[-1]) <= batch)
