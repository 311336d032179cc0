"""plugrad.save/load in PyTorch's .pt format: round trips, views, the allow-list, map_location, mmap."""

from __future__ import annotations

import collections
import io
import pickle
import zipfile

import plugrad
import pytest
from plugrad import _pt_format as ptf
from plugrad.serialization import UnpicklingError, add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

DTYPES = [plugrad.bool, plugrad.uint8, plugrad.int8, plugrad.int16, plugrad.int32, plugrad.int64]
DTYPES += [plugrad.float16, plugrad.float32, plugrad.float64]
DTYPES += [plugrad.bfloat16] if isinstance(getattr(plugrad, "bfloat16", None), plugrad.dtype) else []


def _same(a: plugrad.Tensor, b: plugrad.Tensor) -> bool:
    return a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape) and a.tolist() == b.tolist()


def _roundtrip(obj, **load_kw):
    buf = io.BytesIO()
    plugrad.save(obj, buf)
    buf.seek(0)
    return plugrad.load(buf, **load_kw)


# ----------------------------------------------------------------------------- the format
def test_file_layout_is_pytorchs(tmp_path):
    path = tmp_path / "model.pt"
    plugrad.save({"w": plugrad.ones(2, 3), "b": plugrad.zeros(3, dtype=plugrad.int64)}, path)
    z = zipfile.ZipFile(path)
    names = z.namelist()
    assert names[0] == "model/data.pkl"
    assert {"model/byteorder", "model/version", "model/.data/serialization_id", "model/data/0", "model/data/1"} <= set(
        names
    )
    assert z.read("model/byteorder") == b"little" and z.read("model/version") == b"3\n"
    assert len(z.read("model/.data/serialization_id")) == 40
    assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    raw = path.read_bytes()
    for info in z.infolist():  # every record's data starts on a 64-byte boundary
        o = info.header_offset
        start = o + 30 + int.from_bytes(raw[o + 26 : o + 28], "little") + int.from_bytes(raw[o + 28 : o + 30], "little")
        assert start % 64 == 0, info.filename
    # float32 ones: 6 little-endian floats 1.0
    assert z.read("model/data/0") == b"\x00\x00\x80\x3f" * 6
    ops = [op.name for op, _, _ in __import__("pickletools").genops(z.read("model/data.pkl"))]
    assert ops[0] == "PROTO" and "BINPERSID" in ops


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_round_trip_every_dtype(dtype):
    values = [[0, 1, 0], [1, 1, 0]] if dtype is plugrad.bool else [[1, 2, 3], [4, 5, 127]]
    t = plugrad.tensor(values, dtype=dtype)
    assert _same(_roundtrip(t), t)


def test_round_trip_special_floats_and_zero_d_and_empty():
    obj = {
        "f": plugrad.tensor([0.1, -0.0, float("inf"), float("nan")], dtype=plugrad.float64),
        "scalar": plugrad.tensor(3.5),
        "empty": plugrad.zeros(0, 4),
    }
    back = _roundtrip(obj)
    f = back["f"].tolist()
    assert f[:3] == [0.1, -0.0, float("inf")] and f[3] != f[3]
    assert back["scalar"].shape == () and back["scalar"].item() == 3.5
    assert tuple(back["empty"].shape) == (0, 4)


def test_state_dict_optimizer_state_and_nested_containers():
    w = plugrad.randn(3, 2)
    sd = collections.OrderedDict([("0.weight", w), ("0.bias", plugrad.zeros(3))])
    obj = {
        "model": sd,
        "optimizer": {
            "state": {0: {"step": plugrad.tensor(5.0), "exp_avg": plugrad.ones(3, 2)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "foreach": None}],
        },
        "epoch": 7,
        "history": [1.5, {"x": (1, 2, {3})}],
        "blob": b"\x00\xff",
        "size": plugrad.Size([2, 3]),
        "dtype": plugrad.float16,
        "device": plugrad.device("cpu"),
        "tied": w,
    }
    back = _roundtrip(obj)
    assert type(back["model"]) is collections.OrderedDict and list(back["model"]) == ["0.weight", "0.bias"]
    assert _same(back["model"]["0.weight"], w) and back["tied"] is back["model"]["0.weight"]
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["optimizer"]["state"][0]["step"].item() == 5.0
    assert back["history"] == [1.5, {"x": (1, 2, {3})}] and back["blob"] == b"\x00\xff" and back["epoch"] == 7
    assert back["size"] == plugrad.Size([2, 3]) and isinstance(back["size"], plugrad.Size)
    assert back["dtype"] is plugrad.float16 and back["device"] == plugrad.device("cpu")


def test_requires_grad_and_parameters():
    nn = pytest.importorskip("plugrad.nn")
    leaf = plugrad.ones(2, requires_grad=True)
    p = nn.Parameter(plugrad.full((2,), 3.0))
    frozen = nn.Parameter(plugrad.ones(1), requires_grad=False)
    back = _roundtrip({"leaf": leaf, "p": p, "frozen": frozen})
    assert back["leaf"].requires_grad and back["leaf"].is_leaf and type(back["leaf"]) is plugrad.Tensor
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad and back["p"].tolist() == [3.0, 3.0]
    assert isinstance(back["frozen"], nn.Parameter) and not back["frozen"].requires_grad


def test_whole_module_needs_weights_only_false(tmp_path):
    nn = pytest.importorskip("plugrad.nn")
    plugrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    path = tmp_path / "whole.pt"
    plugrad.save(model, path)
    with pytest.raises(
        UnpicklingError, match=r"Unsupported global: GLOBAL plugrad\.nn\.modules\.container\.Sequential"
    ):
        plugrad.load(path)
    back = plugrad.load(path, weights_only=False)
    assert isinstance(back, nn.Sequential) and isinstance(back[0], nn.Linear)
    x = plugrad.randn(4, 3)
    assert back(x).tolist() == model(x).tolist()
    with safe_globals([nn.Sequential, nn.Linear, nn.ReLU]):
        # classes allow-listed by the user are rebuilt (their state goes through BUILD)
        names = {type(m).__name__ for m in plugrad.load(path, weights_only=False).modules()}
        assert names == {"Sequential", "Linear", "ReLU"}


def test_non_state_dict_objects_choose_the_pt_format(tmp_path):
    class Thing:
        pass

    path = tmp_path / "thing.weights"  # an unknown suffix: safetensors cannot hold it, so .pt
    plugrad.save({"x": plugrad.ones(1), "thing": Thing.__name__}, tmp_path / "plain.weights")
    assert (tmp_path / "plain.weights").read_bytes()[:4] != b"PK\x03\x04"  # fits safetensors: kept
    plugrad.save({"x": plugrad.ones(1), "obj": {1, 2}}, path)
    assert path.read_bytes()[:4] == b"PK\x03\x04"
    assert plugrad.load(path)["obj"] == {1, 2}


def test_format_choice_and_metadata(tmp_path):
    plugrad.save({"x": plugrad.ones(1)}, tmp_path / "a.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes()[:4] != b"PK\x03\x04"
    plugrad.save({"x": plugrad.ones(1)}, tmp_path / "a.pth")
    assert (tmp_path / "a.pth").read_bytes()[:4] == b"PK\x03\x04"
    buf = io.BytesIO()
    plugrad.save({"x": plugrad.ones(1)}, buf, format="safetensors")
    assert buf.getvalue()[:4] != b"PK\x03\x04"
    with pytest.raises(ValueError, match="metadata is only stored by the safetensors format"):
        plugrad.save({"x": plugrad.ones(1)}, tmp_path / "m.pt", metadata={"a": "b"}, format="pt")
    with pytest.raises(ValueError, match="format must be"):
        plugrad.save({}, buf, format="zip")


def test_numpy_arrays_as_pytorch():
    np = pytest.importorskip("numpy")
    arr = np.arange(6, dtype=np.int64).reshape(2, 3)
    buf = io.BytesIO()
    plugrad.save(arr, buf)
    with pytest.raises(
        UnpicklingError, match=r"Unsupported global: GLOBAL numpy\.(_core|core)\.multiarray\._reconstruct"
    ):
        plugrad.load(io.BytesIO(buf.getvalue()))
    back = plugrad.load(io.BytesIO(buf.getvalue()), weights_only=False)
    assert (back == arr).all() and back.dtype == arr.dtype
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    with safe_globals([multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.int64))]):
        again = plugrad.load(io.BytesIO(buf.getvalue()))
    assert (again == arr).all()


# ----------------------------------------------------------------------------- views
def _pt_with_views(storage: plugrad.Tensor, views: dict[str, tuple[int, tuple[int, ...], tuple[int, ...]]]) -> bytes:
    """A .pt file whose tensors view one storage with the given (offset, size, stride)."""

    class View:
        def __init__(self, offset, size, stride):
            self.args = (offset, size, stride)

    class P(ptf.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, View):
                offset, size, stride = obj.args
                return (
                    ptf._global("torch._utils", "_rebuild_tensor_v2"),
                    (self._storage(storage), offset, size, stride, False, collections.OrderedDict()),
                )
            return super().reducer_override(obj)

    pkl = io.BytesIO()
    pickler = P(pkl, 2)
    pickler.dump({name: View(*v) for name, v in views.items()})
    out = io.BytesIO()
    records = [("data.pkl", pkl.getvalue)]
    records += [(f"data/{r.key}", lambda t=r.tensor: ptf._tensor_bytes(t)) for r in pickler.storages]
    ptf._write_records(out, "archive", records)
    return out.getvalue()


def test_views_share_storage_and_read_the_right_elements():
    base = plugrad.arange(24, dtype=plugrad.float32)
    buf = _pt_with_views(
        base,
        {
            "whole": (0, (4, 6), (6, 1)),
            "rows": (6, (2, 6), (6, 1)),  # a slice: contiguous with an offset
            "t": (0, (6, 4), (1, 6)),  # a transpose
            "cols": (1, (4, 2), (6, 2)),  # a stepped slice: gathered
            "bcast": (3, (3, 2), (0, 1)),  # stride 0: expanded
            "scalar": (5, (), ()),
            "empty": (24, (0, 3), (3, 1)),
        },
    )
    back = plugrad.load(io.BytesIO(buf))
    ref = [[r * 6 + c for c in range(6)] for r in range(4)]
    assert back["whole"].tolist() == ref
    assert back["rows"].tolist() == ref[1:3]
    assert back["t"].tolist() == [list(col) for col in zip(*ref)]
    assert back["cols"].tolist() == [[r * 6 + 1, r * 6 + 3] for r in range(4)]
    assert back["bcast"].tolist() == [[3.0, 4.0]] * 3
    assert back["scalar"].item() == 5.0 and back["empty"].shape == (0, 3)
    back["whole"].mul_(-1)  # the slice and the transpose see the change: one storage
    assert back["rows"][0, 0].item() == -6.0 and back["t"][1, 0].item() == -1.0


@pytest.mark.parametrize(
    "view, message",
    [
        ((20, (2, 6), (6, 1)), "reads element 31 of a storage of 24"),
        ((0, (5, 5), (5, 1)), "reads element 24 of a storage of 24"),
        ((25, (0,), (1,)), "storage offset 25 is past the end"),
        ((0, (2,), (1, 1)), "different lengths"),
        ((-1, (2,), (1,)), "out of range"),
        ((0, (2, -1), (1, 1)), "out of range"),
    ],
)
def test_views_that_lie_are_refused(view, message):
    buf = _pt_with_views(plugrad.arange(24, dtype=plugrad.float32), {"v": view})
    with pytest.raises(UnpicklingError, match=message):
        plugrad.load(io.BytesIO(buf))


def test_overlapping_views_cannot_blow_up_memory():
    buf = _pt_with_views(plugrad.arange(1000, dtype=plugrad.float32), {"v": (0, (2,) * 30, (1,) * 30)})
    with pytest.raises(UnpicklingError, match="expands a storage of 1000 elements to 1073741824"):
        plugrad.load(io.BytesIO(buf))


# ----------------------------------------------------------------------------- allow-list API
class Point:
    def __init__(self, x):
        self.x = x


def test_safe_globals_api():
    clear_safe_globals()
    buf = io.BytesIO()
    plugrad.save({"p": Point(3)}, buf)
    data = buf.getvalue()
    with pytest.raises(UnpicklingError, match="Weights only load failed") as err:
        plugrad.load(io.BytesIO(data))
    assert "plugrad.serialization.add_safe_globals" in str(err.value)
    with safe_globals([(Point, f"{Point.__module__}.{Point.__qualname__}")]):
        assert plugrad.load(io.BytesIO(data))["p"].x == 3
    assert get_safe_globals() == []
    add_safe_globals([Point])
    try:
        assert get_safe_globals() == [Point]
        assert plugrad.load(io.BytesIO(data))["p"].x == 3
    finally:
        clear_safe_globals()
    assert get_safe_globals() == []


def test_blocked_modules_message():
    data = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00echo\x85R."
    out = io.BytesIO()
    ptf._write_records(out, "archive", [("data.pkl", lambda: data)])
    with pytest.raises(
        UnpicklingError, match="Trying to load unsupported GLOBAL posix.system whose module posix is blocked"
    ):
        plugrad.load(io.BytesIO(out.getvalue()))


# ----------------------------------------------------------------------------- map_location, mmap
def test_map_location_forms(tmp_path):
    path = tmp_path / "m.pt"
    plugrad.save({"x": plugrad.arange(3)}, path)
    for where in ("cpu", plugrad.device("cpu"), {"cpu": "cpu"}, lambda storage, loc: storage, lambda s, loc: None):
        assert plugrad.load(path, map_location=where)["x"].tolist() == [0, 1, 2]
    seen = []
    plugrad.load(path, map_location=lambda s, loc: seen.append((tuple(s.shape), loc)))
    assert seen == [((3,), "cpu")]
    with pytest.raises(RuntimeError):
        plugrad.load(path, map_location="tpu")
    with pytest.raises(TypeError, match="map_location"):
        plugrad.load(path, map_location=3.5)


def test_cuda_location_without_cuda_says_what_to_do():
    if plugrad.cuda.is_available():
        pytest.skip("a CUDA backend is available here")
    buf = io.BytesIO()
    plugrad.save({"x": plugrad.ones(2)}, buf)
    data = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        pkl = z.read("archive/data.pkl").replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
        ptf._write_records(out, "archive", [("data.pkl", lambda: pkl), ("data/0", lambda: z.read("archive/data/0"))])
    with pytest.raises(RuntimeError, match="map_location=plugrad.device\\('cpu'\\)"):
        plugrad.load(io.BytesIO(out.getvalue()))
    assert plugrad.load(io.BytesIO(out.getvalue()), map_location="cpu")["x"].tolist() == [1.0, 1.0]
    assert plugrad.load(io.BytesIO(out.getvalue()), map_location={"cuda:0": "cpu"})["x"].tolist() == [1.0, 1.0]


def test_mmap(tmp_path):
    path = tmp_path / "big.pt"
    t = plugrad.randn(64, 32)
    plugrad.save({"t": t}, path)
    back = plugrad.load(path, mmap=True)
    assert _same(back["t"], t)
    back["t"].add_(1)  # writable, and the file is untouched
    assert _same(plugrad.load(path)["t"], t)
    with pytest.raises(ValueError, match="f must be a file path in order to use the mmap argument"):
        plugrad.load(io.BytesIO(path.read_bytes()), mmap=True)


def test_pickle_module_with_weights_only_is_refused():
    buf = io.BytesIO()
    plugrad.save({"x": plugrad.ones(1)}, buf)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="Can not safely load weights when explicit pickle_module is specified"):
        plugrad.load(buf, pickle_module=pickle)


def test_legacy_pytorch_format_is_refused_with_a_message():
    legacy = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03."
    with pytest.raises(RuntimeError, match="legacy \\(pre-1.6\\) serialization format"):
        plugrad.load(io.BytesIO(legacy))


def test_argparse_namespace_in_a_checkpoint_needs_allow_listing():
    import argparse

    args = argparse.Namespace(lr=0.1, epochs=3, name="run")
    buf = io.BytesIO()
    plugrad.save({"args": args, "w": plugrad.ones(2)}, buf)
    with pytest.raises(UnpicklingError, match=r"GLOBAL argparse\.Namespace was not an allowed global"):
        plugrad.load(io.BytesIO(buf.getvalue()))
    with safe_globals([argparse.Namespace]):  # NEWOBJ + BUILD of an allow-listed class
        back = plugrad.load(io.BytesIO(buf.getvalue()))
    assert back["args"] == args and back["w"].tolist() == [1.0, 1.0]
