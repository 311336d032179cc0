"""plugrad.save / plugrad.load: safetensors checkpoints of nested structures, no pickle."""

from __future__ import annotations

import io
import json
import math
import os
import struct

import plugrad
import pytest
from plugrad._safetensors import SafetensorsError
from plugrad.serialization import DTYPE_CODES


def _same(a: plugrad.Tensor, b: plugrad.Tensor) -> bool:
    return a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape) and a.tolist() == b.tolist()


ALL_DTYPES = list(DTYPE_CODES)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: d.name)
def test_round_trip_every_dtype(tmp_path, dtype):
    values = [[0, 1, 0], [1, 1, 0]] if dtype is plugrad.bool else [[1, 2, 3], [4, 5, 127]]
    t = plugrad.tensor(values, dtype=dtype)
    path = tmp_path / "t.safetensors"
    plugrad.save(t, path)
    back = plugrad.load(path)
    assert isinstance(back, plugrad.Tensor)
    assert _same(back, t)


def test_round_trip_values_exact_float(tmp_path):
    vals = [0.1, -0.0, 1e-38, 3.4e38, float("inf"), -float("inf")]
    t = plugrad.tensor(vals, dtype=plugrad.float64)
    plugrad.save({"x": t}, tmp_path / "f.st")
    back = plugrad.load(tmp_path / "f.st")["x"]
    assert back.tolist() == vals
    assert math.copysign(1.0, back.tolist()[1]) == -1.0
    t2 = plugrad.tensor([float("nan")])
    plugrad.save(t2, tmp_path / "n.st")
    assert math.isnan(plugrad.load(tmp_path / "n.st").item())


def test_nested_structure_with_scalars(tmp_path):
    w = plugrad.randn(3, 2)
    obj = {
        "model": {"0.weight": w, "0.bias": plugrad.zeros(3)},
        "optimizer": {
            "state": {0: {"step": plugrad.tensor(5.0), "exp_avg": plugrad.ones(3, 2)}},
            "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "foreach": None, "amsgrad": False, "params": [0, 1]}],
        },
        "epoch": 7,
        "name": "run-1",
        "history": [1.5, 0.25],
    }
    path = tmp_path / "ck.safetensors"
    plugrad.save(obj, path)
    back = plugrad.load(path)
    assert back["epoch"] == 7 and back["name"] == "run-1" and back["history"] == [1.5, 0.25]
    assert _same(back["model"]["0.weight"], w)
    group = back["optimizer"]["param_groups"][0]
    assert group == {"lr": 0.001, "betas": (0.9, 0.999), "foreach": None, "amsgrad": False, "params": [0, 1]}
    assert isinstance(group["betas"], tuple)
    state0 = back["optimizer"]["state"][0]  # integer keys survive
    assert state0["step"].item() == 5.0


def test_shared_tensor_stored_once_and_comes_back_shared(tmp_path):
    t = plugrad.arange(4)
    plugrad.save({"a": t, "b": t}, tmp_path / "s.st")
    back = plugrad.load(tmp_path / "s.st")
    assert back["a"] is back["b"]


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    plugrad.save({"x": plugrad.ones(2)}, buf)
    buf.seek(0)
    assert plugrad.load(buf)["x"].tolist() == [1.0, 1.0]


def test_loaded_tensors_are_writable_and_independent(tmp_path):
    plugrad.save({"x": plugrad.zeros(3)}, tmp_path / "w.st")
    a = plugrad.load(tmp_path / "w.st")["x"]
    b = plugrad.load(tmp_path / "w.st")["x"]
    a.add_(1)
    assert a.tolist() == [1.0, 1.0, 1.0] and b.tolist() == [0.0, 0.0, 0.0]


def test_tensor_names_are_dotted_paths(tmp_path):
    from plugrad._safetensors import load_file

    plugrad.save(
        {"model": {"fc.weight": plugrad.ones(1)}, "opt": {"state": {0: {"buf": plugrad.ones(1)}}}}, tmp_path / "n.st"
    )
    tensors, _ = load_file(tmp_path / "n.st")
    assert set(tensors) == {"model.fc.weight", "opt.state.0.buf"}


def test_unsupported_values_are_rejected_with_a_hint(tmp_path):
    class Thing:
        pass

    with pytest.raises(TypeError, match="state_dict"):
        plugrad.save({"x": Thing()}, tmp_path / "bad.st")
    assert not (tmp_path / "bad.st").exists()


def test_reserved_metadata_key(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        plugrad.save({"x": plugrad.ones(1)}, tmp_path / "m.st", metadata={"plugrad.structure": "{}"})
    plugrad.save({"x": plugrad.ones(1)}, tmp_path / "m.st", metadata={"format": "pt"})


def test_save_is_atomic_when_encoding_fails(tmp_path):
    path = tmp_path / "ck.st"
    plugrad.save({"x": plugrad.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        plugrad.save({"x": plugrad.ones(2), "bad": object()}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.st"]  # no temporary file left


def _header_file(path, header: dict, data: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"\x01\x02"), "too short"),
        (lambda p: p.write_bytes(struct.pack("<Q", 2**40) + b"{}"), "header length"),
        (lambda p: p.write_bytes(struct.pack("<Q", 8) + b"not json"), "JSON"),
        (
            lambda p: _header_file(p, {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
            "offset|bytes",
        ),
        (
            lambda p: _header_file(p, {"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
            "shape|bytes",
        ),
        (lambda p: _header_file(p, {"x": {"dtype": "Q99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "dtype"),
        (
            lambda p: _header_file(
                p, {"x": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 4]}}, b"\0" * 4
            ),
            "shape|bytes",
        ),
    ],
    ids=["short", "huge-header", "bad-json", "offsets-past-end", "size-mismatch", "unknown-dtype", "absurd-shape"],
)
def test_damaged_files_give_clear_errors(tmp_path, make, message):
    path = tmp_path / "damaged.safetensors"
    make(path)
    with pytest.raises(SafetensorsError, match=message) as info:
        plugrad.load(path)
    assert str(path) in str(info.value)


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "ck.st"
    plugrad.save({"w": plugrad.randn(64)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(SafetensorsError):
        plugrad.load(path)


def test_dtype_plugrad_lacks(tmp_path):
    _header_file(tmp_path / "bf.st", {"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4)
    with pytest.raises(SafetensorsError, match=r"BF16.*does not support"):
        plugrad.load(tmp_path / "bf.st")


def test_tampered_structure_is_rejected(tmp_path):
    from plugrad._safetensors import load_file, save_file

    plugrad.save({"x": plugrad.ones(1)}, tmp_path / "s.st")
    tensors, meta = load_file(tmp_path / "s.st")
    meta["plugrad.structure"] = '{"version": 1, "root": {"tensor": "missing"}}'
    save_file(tensors, tmp_path / "s.st", meta)
    with pytest.raises(SafetensorsError, match="missing"):
        plugrad.load(tmp_path / "s.st")


def test_map_location(tmp_path):
    plugrad.save({"x": plugrad.ones(2)}, tmp_path / "m.st")
    back = plugrad.load(tmp_path / "m.st", map_location="cpu")
    assert back["x"].device.type == "cpu"


def test_no_pickle_in_the_safetensors_codec():
    # plugrad.serialization also reads PyTorch's pickle-based .pt format (plugrad._pt_format);
    # the safetensors codec itself never touches pickle.
    import plugrad._safetensors as st

    source = open(st.__file__, encoding="utf-8").read()
    assert "import pickle" not in source and "pickle." not in source


# ------------------------------------------------------------------ interoperability
def test_files_from_the_safetensors_package(tmp_path):
    np = pytest.importorskip("numpy")
    st = pytest.importorskip("safetensors.numpy")
    arrays = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([1, -2], dtype=np.int64),
        "c": np.array([True, False]),
        "d": np.array([0.5], dtype=np.float16),
    }
    path = os.fspath(tmp_path / "ext.safetensors")
    st.save_file(arrays, path)
    back = plugrad.load(path)
    assert set(back) == set(arrays)
    assert back["a"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and back["a"].dtype is plugrad.float32
    assert back["b"].tolist() == [1, -2] and back["b"].dtype is plugrad.int64
    assert back["c"].tolist() == [True, False]
    assert back["d"].dtype is plugrad.float16 and back["d"].tolist() == [0.5]


def test_safetensors_package_reads_plugrad_files(tmp_path):
    np = pytest.importorskip("numpy")
    st = pytest.importorskip("safetensors.numpy")
    state = {
        "fc": {"weight": plugrad.tensor([[1.0, 2.0]], dtype=plugrad.float64), "steps": plugrad.tensor([3])},
        "epoch": 2,
    }
    path = os.fspath(tmp_path / "p.safetensors")
    plugrad.save(state, path)
    arrays = st.load_file(path)
    assert set(arrays) == {"fc.weight", "fc.steps"}
    np.testing.assert_array_equal(arrays["fc.weight"], np.array([[1.0, 2.0]]))
    assert arrays["fc.steps"].dtype == np.int64
