"""Oracle: .pt files round-trip between plugrad and real PyTorch, in both directions."""

from __future__ import annotations

import collections
import io

import plugrad
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle

PAIRS = [
    ("bool", [[True, False, True]]),
    ("uint8", [[0, 255, 7]]),
    ("int8", [[-128, 127, 0]]),
    ("int16", [[-300, 300, 1]]),
    ("int32", [[-(2**31), 2**31 - 1, 5]]),
    ("int64", [[-(2**63), 2**63 - 1, 9]]),
    ("float16", [[0.5, -2.0, 65504.0]]),
    ("float32", [[0.1, -0.0, 3.4e38]]),
    ("float64", [[0.1, 1e-300, -1e300]]),
    ("bfloat16", [[0.5, -2.0, 3.0]]),
]


def _torch_load(data: bytes):
    return torch.load(io.BytesIO(data), weights_only=True)


def _plugrad_save(obj) -> bytes:
    buf = io.BytesIO()
    plugrad.save(obj, buf)
    return buf.getvalue()


def _torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize("name, values", PAIRS, ids=[p[0] for p in PAIRS])
def test_every_dtype_from_pytorch(name, values):
    t = torch.tensor(values, dtype=getattr(torch, name))
    data = _torch_save({"t": t})
    if getattr(plugrad, name, None) is None:
        with pytest.raises(RuntimeError, match=f"plugrad has no {name} dtype"):
            plugrad.load(io.BytesIO(data))
        return
    back = plugrad.load(io.BytesIO(data))["t"]
    assert back.dtype is getattr(plugrad, name)
    assert back.tolist() == t.tolist()


@pytest.mark.parametrize("name, values", PAIRS, ids=[p[0] for p in PAIRS])
def test_every_dtype_to_pytorch(name, values):
    dt = getattr(plugrad, name, None)
    if dt is None:
        pytest.skip(f"plugrad has no {name}")
    t = plugrad.tensor(values, dtype=dt)
    back = _torch_load(_plugrad_save({"t": t, "dtype": dt}))
    assert back["t"].dtype == getattr(torch, name) and back["dtype"] == getattr(torch, name)
    assert back["t"].tolist() == t.tolist()


def test_views_from_pytorch_keep_values_and_sharing():
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    obj = {
        "base": base,
        "rows": base[2:4],
        "t": base.t(),
        "stepped": base[:, ::3],
        "corner": base[1:, 1:],
        "expanded": base[0, :1].expand(4, 3),
        "perm": base.reshape(2, 3, 10).permute(2, 0, 1),
        "elem": base[5, 9],
    }
    back = plugrad.load(io.BytesIO(_torch_save(obj)))
    for k, v in obj.items():
        assert back[k].tolist() == v.tolist(), k
    back["base"].mul_(2)
    assert back["rows"].tolist() == (obj["rows"] * 2).tolist()
    assert back["t"].tolist() == (obj["t"] * 2).tolist()
    assert back["perm"].tolist() == (obj["perm"] * 2).tolist()


def test_state_dicts_and_optimizer_state_from_pytorch():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    obj = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "params": list(model.parameters())}
    back = plugrad.load(io.BytesIO(_torch_save(obj)))
    sd = back["model"]
    assert type(sd) is collections.OrderedDict and list(sd) == list(obj["model"])
    assert getattr(sd, "_metadata", None) is not None  # a state_dict's version metadata survives
    for k, v in obj["model"].items():
        assert sd[k].tolist() == v.tolist()
    state = back["optimizer"]["state"]
    assert sorted(state) == sorted(obj["optimizer"]["state"])
    for i, s in obj["optimizer"]["state"].items():
        for k, v in s.items():
            assert state[i][k].tolist() == v.tolist(), (i, k)
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    p0 = back["params"][0]
    assert p0.requires_grad and p0.tolist() == obj["params"][0].tolist()
    nn = pytest.importorskip("plugrad.nn")
    assert isinstance(p0, nn.Parameter)
    # and the state dict loads into the same plugrad model
    mine = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    mine.load_state_dict(sd)
    x = torch.randn(2, 4)
    assert torch.allclose(torch.tensor(mine(plugrad.tensor(x.tolist())).tolist()), model(x), atol=1e-6)


def test_nested_containers_both_ways():
    def make(lib):
        return {
            "list": [lib.ones(2), (lib.zeros(1, dtype=lib.int64), {"deep": [lib.arange(3)]})],
            "od": collections.OrderedDict(b=lib.full((2,), 2.0), a=3),
            "size": lib.Size([1, 2]),
            "dev": lib.device("cpu"),
            "none": None,
            "bytes": b"\x01\x02",
            "set": {1, 2},
            "str": "text",
        }

    def same(a, b):
        if hasattr(a, "tolist") and not isinstance(a, (list, tuple)):
            assert a.tolist() == b.tolist()
            return
        if isinstance(a, dict):
            assert list(a) == list(b) and type(a).__name__ == type(b).__name__
            for k in a:
                same(a[k], b[k])
            return
        if isinstance(a, (list, tuple)) and not isinstance(a, (torch.Size, plugrad.Size)):
            assert type(a) is type(b) and len(a) == len(b)
            for x, y in zip(a, b):
                same(x, y)
            return
        if isinstance(a, (torch.device, plugrad.device)):
            assert str(a) == str(b)
            return
        assert a == b or tuple(a) == tuple(b)

    same(make(torch), plugrad.load(io.BytesIO(_torch_save(make(torch)))))
    same(make(plugrad), _torch_load(_plugrad_save(make(plugrad))))


def test_plugrad_model_state_dict_loads_into_pytorch(tmp_path):
    nn = pytest.importorskip("plugrad.nn")
    plugrad.manual_seed(1)
    mine = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    path = tmp_path / "model.pt"
    plugrad.save(mine.state_dict(), path)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    theirs.load_state_dict(torch.load(path, weights_only=True))
    x = [[0.1, -0.2, 0.3, 0.4]]
    assert torch.allclose(theirs(torch.tensor(x)), torch.tensor(mine(plugrad.tensor(x)).tolist()), atol=1e-6)
    # mmap in PyTorch needs the 64-byte alignment plugrad writes
    again = torch.load(path, weights_only=True, mmap=True)
    assert all(torch.equal(again[k], v) for k, v in theirs.state_dict().items())


def test_parameters_and_requires_grad_to_pytorch():
    nn = pytest.importorskip("plugrad.nn")
    obj = {"p": nn.Parameter(plugrad.ones(2)), "g": plugrad.zeros(2, requires_grad=True), "n": plugrad.ones(1)}
    back = _torch_load(_plugrad_save(obj))
    assert isinstance(back["p"], torch.nn.Parameter) and back["p"].requires_grad
    assert back["g"].requires_grad and not isinstance(back["g"], torch.nn.Parameter)
    assert not back["n"].requires_grad


def test_numpy_arrays_like_pytorch():
    np = pytest.importorskip("numpy")
    arr = np.arange(4.0)
    data = _torch_save(arr)
    with pytest.raises(plugrad.serialization.UnpicklingError, match="Unsupported global"):
        plugrad.load(io.BytesIO(data))
    assert (plugrad.load(io.BytesIO(data), weights_only=False) == arr).all()
    mine = _plugrad_save(arr)
    assert (torch.load(io.BytesIO(mine), weights_only=False) == arr).all()
