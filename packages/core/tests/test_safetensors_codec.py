"""Tests for plugrad._safetensors, the pure-Python safetensors codec."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

_SRC = Path(__file__).resolve().parents[1] / "src" / "plugrad" / "_safetensors.py"


def _import_codec() -> ModuleType:
    """Import the codec from the package, or by file path if that fails."""
    try:
        pkg_mod = importlib.import_module("plugrad._safetensors")
        if Path(pkg_mod.__file__ or "").resolve() == _SRC:
            return pkg_mod
    except Exception:
        pass
    name = "_plugrad_safetensors_under_test"
    spec = importlib.util.spec_from_file_location(name, _SRC)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


st = _import_codec()
RawTensor = st.RawTensor
SafetensorsError = st.SafetensorsError

ALL_DTYPES = sorted(st.ITEMSIZE)


def _tensor(dtype: str, shape: tuple[int, ...], seed: int = 0) -> Any:
    n = math.prod(shape) * st.ITEMSIZE[dtype]
    rng = random.Random(f"{dtype}{shape}{seed}")
    return RawTensor(dtype, shape, bytes(rng.randrange(256) for _ in range(n)))


def _file(header: object, data: bytes = b"") -> bytes:
    """Build a (possibly invalid) file from a header object or raw header bytes."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _entry(dtype: object, shape: object, offsets: object) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": offsets}


def _same(a: object, b: object) -> bool:
    """Strict structural equality: exact types, float bits, dict order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        assert isinstance(b, float)
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple))
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return len(a) == len(b) and all(
            _same(ka, kb) and _same(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items())
        )
    if isinstance(a, RawTensor):
        assert isinstance(b, RawTensor)
        return a.dtype == b.dtype and a.shape == b.shape and bytes(a.data) == bytes(b.data)
    return a == b


# --------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_roundtrip_each_dtype(dtype: str) -> None:
    t = _tensor(dtype, (2, 3))
    tensors, metadata = st.loads(st.dumps({"x": t}))
    assert metadata == {}
    assert tensors == {"x": t}
    assert bytes(tensors["x"].data) == bytes(t.data)


def test_required_dtypes_present() -> None:
    for code, size in {
        "F16": 2,
        "F32": 4,
        "F64": 8,
        "BF16": 2,
        "I8": 1,
        "I16": 2,
        "I32": 4,
        "I64": 8,
        "U8": 1,
        "BOOL": 1,
    }.items():
        assert st.ITEMSIZE[code] == size


def test_roundtrip_many_tensors_alignment_and_padding() -> None:
    tensors = {f"t{i}_{d}": _tensor(d, (i + 1,), i) for i, d in enumerate(ALL_DTYPES)}
    buf = st.dumps(tensors, {"a": "b"})
    n = int.from_bytes(buf[:8], "little")
    assert n % 8 == 0
    assert buf[8 + n - 1 : 8 + n] in (b"}", b" ")
    header = json.loads(buf[8 : 8 + n])
    for name, t in tensors.items():
        begin, end = header[name]["data_offsets"]
        assert begin % st.ITEMSIZE[t.dtype] == 0
        assert end - begin == t.nbytes
    back, md = st.loads(buf)
    assert back == tensors
    assert md == {"a": "b"}


@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (0, 0), (1,), (1, 1, 1, 1)])
def test_roundtrip_scalar_and_empty(shape: tuple[int, ...]) -> None:
    t = _tensor("F64", shape)
    back, _ = st.loads(st.dumps({"s": t, "other": _tensor("I16", (2,))}))
    assert back["s"].shape == shape
    assert back["s"].nbytes == math.prod(shape) * 8
    assert back["s"] == t


def test_roundtrip_no_tensors() -> None:
    assert st.loads(st.dumps({})) == ({}, {})
    assert st.loads(st.dumps({}, {"k": "v"})) == ({}, {"k": "v"})


def test_metadata_unicode_names_and_values() -> None:
    md = {"framework": "plugrad", "ünï": "códe ✓", "": "", "json": '{"a": [1]}'}
    tensors = {"wéight.😀": _tensor("F32", (2,)), "": _tensor("U8", (1,))}
    back, back_md = st.loads(st.dumps(tensors, md))
    assert back == tensors
    assert back_md == md


def test_loads_accepts_memoryview_and_returns_readonly_views() -> None:
    buf = st.dumps({"x": _tensor("F32", (4,))})
    for src in (buf, memoryview(buf), bytearray(buf), memoryview(bytearray(buf))):
        back, _ = st.loads(src)
        assert isinstance(back["x"].data, memoryview)
        assert back["x"].data.readonly
        assert bytes(back["x"].data) == bytes(_tensor("F32", (4,)).data)


def test_rawtensor_validation_and_normalisation() -> None:
    t = RawTensor("F32", [2], struct.pack("<2f", 1.0, 2.0))
    assert t.shape == (2,) and isinstance(t.shape, tuple)
    mv = memoryview(bytearray(struct.pack("<2f", 1.0, 2.0))).cast("f")
    t2 = RawTensor("F32", (2,), mv)
    assert t2 == t and t2.nbytes == 8
    with pytest.raises(SafetensorsError, match=r"7 bytes.*needs 8 bytes"):
        RawTensor("F32", (2,), b"\0" * 7)
    with pytest.raises(SafetensorsError, match=r"unknown dtype 'F128'"):
        RawTensor("F128", (1,), b"\0" * 16)
    with pytest.raises(SafetensorsError, match="negative"):
        RawTensor("U8", (-1,), b"")
    with pytest.raises(TypeError):
        RawTensor("U8", (1,), "x")
    assert "nbytes=8" in repr(t)


def test_dumps_rejects_bad_input() -> None:
    with pytest.raises(SafetensorsError, match="reserved"):
        st.dumps({"__metadata__": _tensor("U8", (1,))})
    with pytest.raises(TypeError, match="metadata value for key 'k'"):
        st.dumps({}, {"k": 1})
    with pytest.raises(TypeError, match="RawTensor"):
        st.dumps({"x": b"abc"})
    with pytest.raises(TypeError, match="not a string"):
        st.dumps({1: _tensor("U8", (1,))})


# --------------------------------------------------------------------------
# files and atomicity
# --------------------------------------------------------------------------


def test_save_and_load_file(tmp_path: Path) -> None:
    tensors = {"a": _tensor("BF16", (3, 2)), "b": _tensor("BOOL", (5,))}
    path = tmp_path / "m.safetensors"
    st.save_file(tensors, path, {"k": "v"})
    assert path.read_bytes() == st.dumps(tensors, {"k": "v"})
    assert st.load_file(path) == (tensors, {"k": "v"})
    assert st.load_file(str(path)) == (tensors, {"k": "v"})
    # overwrite, no temp files left behind
    st.save_file({"c": _tensor("I32", ())}, str(path))
    assert st.load_file(path) == ({"c": _tensor("I32", ())}, {})
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_save_file_keeps_mode_of_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    st.save_file({}, path)
    os.chmod(path, 0o640)
    st.save_file({"x": _tensor("U8", (2,))}, path)
    assert (os.stat(path).st_mode & 0o777) == 0o640


def test_atomic_save_when_replace_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.safetensors"
    old = {"w": _tensor("F32", (8,))}
    st.save_file(old, path)
    before = path.read_bytes()

    def boom(src: object, dst: object) -> None:
        raise OSError("simulated crash during replace")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        st.save_file({"w": _tensor("F32", (100,), 1)}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors"]
    assert st.load_file(path) == (old, {})


def test_atomic_save_when_fsync_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.safetensors"
    st.save_file({"w": _tensor("U8", (3,))}, path)
    before = path.read_bytes()

    def boom(fd: int) -> None:
        raise OSError("simulated fsync failure")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="simulated"):
        st.save_file({"w": _tensor("U8", (300,))}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]


def test_invalid_input_does_not_touch_disk(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError):
        st.save_file({"x": 1}, path)
    assert os.listdir(tmp_path) == []


_CHILD = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("stchild", sys.argv[1])
    m = importlib.util.module_from_spec(spec)
    sys.modules["stchild"] = m
    spec.loader.exec_module(m)
    path, n = sys.argv[2], int(sys.argv[3])
    blobs = [bytes([v]) * n for v in (1, 2)]
    i = 0
    while True:
        m.save_file(
            {"x": m.RawTensor("U8", (n,), blobs[i % 2]),
             "i": m.RawTensor("I64", (), i.to_bytes(8, "little"))},
            path,
            {"i": str(i)},
        )
        if i == 0:
            print("ready", flush=True)
        i += 1
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_loop_leaves_loadable_file(tmp_path: Path) -> None:
    path = tmp_path / "loop.safetensors"
    n = 1 << 20
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    start = time.monotonic()
    for delay in (0.0, 0.03, 0.11):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(_SRC), str(path), str(n)],
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            time.sleep(delay)
        finally:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        tensors, md = st.load_file(path)
        i = int.from_bytes(tensors["i"].data, "little")
        assert md == {"i": str(i)}
        assert bytes(tensors["x"].data) == bytes([1 + i % 2]) * n
    assert time.monotonic() - start < 10  # normally well under 3 s


# --------------------------------------------------------------------------
# damaged files
# --------------------------------------------------------------------------

_OK4 = _entry("F32", [1], [0, 4])

DAMAGED: list[tuple[str, bytes, str]] = [
    ("empty file", b"", r"too short: 0 bytes"),
    ("short file", b"\x01\x02\x03", r"too short: 3 bytes"),
    ("absurd header", struct.pack("<Q", 2**40) + b"{}", r"header length 1099511627776 is absurd"),
    ("header past eof", struct.pack("<Q", 1000) + b"{}      ", r"header length 1000 is larger than the file"),
    ("bad utf8", _file(b'{"\xff\xfe":1}'), r"not valid UTF-8"),
    ("not json", _file(b"not json"), r"header is not valid JSON"),
    ("empty header", _file(b""), r"header is not valid JSON"),
    ("deep json", _file(b"[" * 200000 + b"]" * 200000), r"header is not valid JSON"),
    ("nan constant", _file(b'{"__metadata__": {"a": NaN}}'), r"non-standard JSON constant 'NaN'"),
    ("array header", _file([1, 2]), r"header must be a JSON object, got a JSON array"),
    ("string header", _file("x"), r"header must be a JSON object, got a JSON string"),
    ("entry not object", _file({"a": 5}), r"tensor 'a': entry must be a JSON object"),
    (
        "missing dtype",
        _file({"a": {"shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
        r"tensor 'a': entry is missing field\(s\) 'dtype'",
    ),
    (
        "missing offsets",
        _file({"a": {"shape": [1], "dtype": "F32"}}, b"\0" * 4),
        r"tensor 'a': .*missing.*'data_offsets'",
    ),
    (
        "unknown field",
        _file({"a": {**_OK4, "extra": 1}}, b"\0" * 4),
        r"tensor 'a': entry has unknown field\(s\) 'extra'",
    ),
    (
        "dtype not string",
        _file({"a": _entry(7, [1], [0, 4])}, b"\0" * 4),
        r"tensor 'a': field 'dtype' must be a string",
    ),
    ("unknown dtype", _file({"a": _entry("F128", [1], [0, 16])}, b"\0" * 16), r"tensor 'a': unknown dtype 'F128'"),
    (
        "shape not list",
        _file({"a": _entry("F32", "1", [0, 4])}, b"\0" * 4),
        r"tensor 'a': field 'shape' must be a list of integers",
    ),
    (
        "float dim",
        _file({"a": _entry("F32", [1.0], [0, 4])}, b"\0" * 4),
        r"tensor 'a': field 'shape' must be a list of integers",
    ),
    (
        "bool dim",
        _file({"a": _entry("F32", [True], [0, 4])}, b"\0" * 4),
        r"tensor 'a': field 'shape' must be a list of integers",
    ),
    ("negative dim", _file({"a": _entry("F32", [-1], [0, 4])}, b"\0" * 4), r"tensor 'a': negative dimension -1"),
    (
        "one offset",
        _file({"a": _entry("F32", [1], [4])}, b"\0" * 4),
        r"tensor 'a': field 'data_offsets' must be a list of two integers",
    ),
    (
        "three offsets",
        _file({"a": _entry("F32", [1], [0, 4, 8])}, b"\0" * 8),
        r"tensor 'a': field 'data_offsets' must be a list of two integers",
    ),
    (
        "string offsets",
        _file({"a": _entry("F32", [1], ["0", "4"])}, b"\0" * 4),
        r"tensor 'a': field 'data_offsets' must be a list of two integers",
    ),
    (
        "float offsets",
        _file({"a": _entry("F32", [1], [0, 4.0])}, b"\0" * 4),
        r"tensor 'a': field 'data_offsets' must be a list of two integers",
    ),
    (
        "offsets object",
        _file({"a": _entry("F32", [1], {"b": 0})}, b"\0" * 4),
        r"tensor 'a': field 'data_offsets' must be a list of two integers",
    ),
    (
        "negative begin",
        _file({"a": _entry("F32", [1], [-4, 0])}, b"\0" * 4),
        r"tensor 'a': negative data_offsets begin -4",
    ),
    (
        "begin > end",
        _file({"a": _entry("F32", [1], [8, 4])}, b"\0" * 8),
        r"tensor 'a': data_offsets begin 8 is greater than end 4",
    ),
    (
        "end past buffer",
        _file({"a": _entry("F32", [2], [0, 8])}, b"\0" * 4),
        r"tensor 'a': data_offsets end 8 is past the end of the data buffer \(4 bytes\)",
    ),
    (
        "huge end",
        _file({"a": _entry("F32", [1], [0, 2**70])}, b"\0" * 4),
        r"tensor 'a': data_offsets end 1180591620717411303424 is past the end",
    ),
    (
        "byte count",
        _file({"a": _entry("F32", [2], [0, 4])}, b"\0" * 4),
        r"tensor 'a': data_offsets span 4 bytes but shape \[2\] of F32 needs 8 bytes",
    ),
    (
        "huge shape",
        _file({"a": _entry("F32", [10**30, 10**30], [0, 4])}, b"\0" * 4),
        r"tensor 'a': data_offsets span 4 bytes but shape .* needs more than",
    ),
    (
        "overlap",
        _file({"a": _OK4, "b": _entry("F32", [1], [2, 6])}, b"\0" * 8),
        r"tensor 'b' \(data_offsets \[2, 6\]\) overlaps tensor 'a'",
    ),
    (
        "empty inside other",
        _file({"a": _entry("F32", [2], [0, 8]), "b": _entry("F32", [0], [4, 4])}, b"\0" * 8),
        r"tensor 'b' .*overlaps tensor 'a'",
    ),
    (
        "gap between",
        _file({"a": _OK4, "b": _entry("F32", [1], [8, 12])}, b"\0" * 12),
        r"gap of 4 unused bytes .* after tensor 'a' .*before tensor 'b'",
    ),
    (
        "gap at start",
        _file({"a": _entry("F32", [1], [4, 8])}, b"\0" * 8),
        r"gap of 4 unused bytes .*at the start of the buffer",
    ),
    ("trailing bytes", _file({"a": _OK4}, b"\0" * 9), r"5 trailing bytes not covered by any tensor"),
    ("data without tensors", _file({}, b"\0"), r"1 trailing bytes"),
    ("metadata not object", _file({"__metadata__": ["a"]}), r"'__metadata__' must be a JSON object, got a JSON array"),
    (
        "metadata int value",
        _file({"__metadata__": {"k": 1}}),
        r"metadata value for key 'k' is not a string \(got a JSON number\)",
    ),
    ("metadata null value", _file({"__metadata__": {"k": None}}), r"metadata value for key 'k' is not a string"),
    (
        "duplicate tensor",
        _file(b'{"a":' + json.dumps(_OK4).encode() + b',"a":' + json.dumps(_OK4).encode() + b"}", b"\0" * 4),
        r"duplicate key 'a' in header",
    ),
    (
        "duplicate field",
        _file(b'{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
        r"duplicate key 'dtype' in header",
    ),
    ("duplicate metadata", _file(b'{"__metadata__":{"k":"1","k":"2"}}'), r"duplicate key 'k' in header"),
    ("lone surrogate name", _file(b'{"\\ud800":' + json.dumps(_OK4).encode() + b"}", b"\0" * 4), r"not valid Unicode"),
]


@pytest.mark.parametrize("buf,pattern", [(b, p) for _, b, p in DAMAGED], ids=[n for n, _, _ in DAMAGED])
def test_damaged_bytes(buf: bytes, pattern: str) -> None:
    with pytest.raises(SafetensorsError, match=pattern):
        st.loads(buf)


@pytest.mark.parametrize("buf,pattern", [(b, p) for _, b, p in DAMAGED], ids=[n for n, _, _ in DAMAGED])
def test_damaged_file(tmp_path: Path, buf: bytes, pattern: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(buf)
    with pytest.raises(SafetensorsError, match=pattern) as info:
        st.load_file(path)
    assert str(path) in str(info.value)


def test_null_metadata_accepted() -> None:
    assert st.loads(_file({"__metadata__": None, "a": _OK4}, b"\0" * 4))[1] == {}


def test_header_claim_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large claimed header length on a tiny file fails without a big read."""
    path = tmp_path / "liar.safetensors"
    path.write_bytes(struct.pack("<Q", 50_000_000) + b"{}")
    real_open = open
    sizes: list[int] = []

    class Spy:
        def __init__(self, f: Any) -> None:
            self._f = f

        def read(self, n: int = -1) -> bytes:
            sizes.append(n)
            data: bytes = self._f.read(n)
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self._f, name)

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

    monkeypatch.setattr(st, "open", lambda *a, **k: Spy(real_open(*a, **k)), raising=False)
    with pytest.raises(SafetensorsError, match="larger than the file"):
        st.load_file(path)
    assert sizes == [8]


# --------------------------------------------------------------------------
# nested structures
# --------------------------------------------------------------------------

_T1 = _tensor("F32", (2, 2), 1)
_T2 = _tensor("I64", (3,), 2)

NESTED: dict[str, object] = {
    "model": {"layer.0": {"weight": _T1, "bias": _T2}, "scale": 1.5},
    "optimizer": {
        "state": {0: {"step": 10, "exp_avg": _tensor("F64", (), 3)}, 1: {}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False}],
    },
    "floats": [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 5e-324, 1.7976931348623157e308, 0.1],
    "neg_nan": -float("nan"),
    "payload_nan": struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000123))[0],
    "ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**64) - 7, 10**5000],
    "misc": (None, True, False, "", "ünï", (), [], {}, ((),)),
    "mixed_keys": {1: "int one", "1": "str one", -5: None},
    "empty": _tensor("BF16", (0, 3), 4),
}


def _roundtrip_state(obj: object, **kw: Any) -> object:
    tensors, metadata = st.flatten_state(obj, **{k: v for k, v in kw.items() if k == "encode"})
    tensors2, metadata2 = st.loads(st.dumps(tensors, metadata))
    return st.unflatten_state(tensors2, metadata2, **{k: v for k, v in kw.items() if k == "decode"})


def test_nested_roundtrip() -> None:
    back = _roundtrip_state(NESTED)
    assert _same(back, NESTED)


def test_nested_tensor_names_are_paths() -> None:
    tensors, metadata = st.flatten_state(NESTED)
    assert set(tensors) == {
        "model.layer.0.weight",
        "model.layer.0.bias",
        "optimizer.state.0.exp_avg",
        "empty",
    }
    assert set(metadata) == {st.STRUCTURE_KEY}
    json.loads(metadata[st.STRUCTURE_KEY])  # standard JSON, no NaN/Infinity


@pytest.mark.parametrize(
    "obj",
    [None, True, 0, -3, 2.5, float("nan"), "s", [], (), {}, _T1, [_T1], (1, [2, (3,)])],
)
def test_top_level_values_roundtrip(obj: object) -> None:
    assert _same(_roundtrip_state(obj), obj)


def test_name_collisions_are_resolved() -> None:
    a, b, c = _tensor("U8", (1,), 1), _tensor("U8", (1,), 2), _tensor("U8", (1,), 3)
    obj = {"a.b": a, "a": {"b": b}, "__metadata__": c}
    tensors, metadata = st.flatten_state(obj)
    assert len(tensors) == 3 and "__metadata__" not in tensors
    back = st.unflatten_state(*st.loads(st.dumps(tensors, metadata)))
    assert _same(back, obj)


def test_shared_tensor_stored_once_and_shared_on_load() -> None:
    obj = {"enc": {"emb": _T1}, "dec": {"emb": _T1}}
    tensors, metadata = st.flatten_state(obj)
    assert list(tensors) == ["enc.emb"]
    back = st.unflatten_state(*st.loads(st.dumps(tensors, metadata)))
    assert isinstance(back, dict)
    assert back["enc"]["emb"] is back["dec"]["emb"]


def test_encode_decode_hooks() -> None:
    class Fake:
        def __init__(self, values: list[float]) -> None:
            self.values = values

    def encode(x: object) -> Any:
        if isinstance(x, Fake):
            return RawTensor("F64", (len(x.values),), struct.pack(f"<{len(x.values)}d", *x.values))
        return None

    def decode(t: Any) -> Fake:
        return Fake(list(struct.unpack(f"<{t.shape[0]}d", t.data)))

    shared = Fake([1.0, 2.0])
    obj = {"p": shared, "q": [shared, Fake([])], "n": 3}
    back = _roundtrip_state(obj, encode=encode, decode=decode)
    assert isinstance(back, dict)
    assert back["p"].values == [1.0, 2.0] and back["q"][0] is back["p"]
    assert back["q"][1].values == [] and back["n"] == 3

    with pytest.raises(TypeError, match=r"cannot store a value of type object at q\.1"):
        st.flatten_state({"q": [1, object()]}, encode=encode)
    with pytest.raises(TypeError, match="encode hook returned"):
        st.flatten_state([Fake([1.0])], encode=lambda x: 5)


def test_flat_file_from_other_tool_loads_as_flat_dict() -> None:
    tensors = {"weight": _T1, "bias": _T2}
    back = st.unflatten_state(*st.loads(st.dumps(tensors, {"format": "pt"})))
    assert back == tensors and isinstance(back, dict)
    assert list(back) == list(st.loads(st.dumps(tensors))[0])


def test_flatten_rejects_unsupported() -> None:
    with pytest.raises(TypeError, match=r"cannot store a value of type set at a\.0"):
        st.flatten_state({"a": [{1, 2}]})
    with pytest.raises(TypeError, match=r"dict key \(1, 2\) at x must be str or int"):
        st.flatten_state({"x": {(1, 2): 3}})
    with pytest.raises(TypeError, match="must be str or int"):
        st.flatten_state({True: 1})
    cyclic: list[object] = [1]
    cyclic.append({"self": cyclic})
    with pytest.raises(ValueError, match=r"cyclic reference at 1\.self"):
        st.flatten_state(cyclic)
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match="too deeply nested"):
        st.flatten_state(deep)


def test_shared_non_cyclic_containers_are_fine() -> None:
    shared = [1, 2]
    assert _same(_roundtrip_state({"a": shared, "b": shared}), {"a": [1, 2], "b": [1, 2]})


def _structure(root: object, **extra: object) -> dict[str, str]:
    return {st.STRUCTURE_KEY: json.dumps({"version": 1, "root": root, **extra})}


BAD_STRUCTURES: list[tuple[str, dict[str, str], str]] = [
    ("not json", {st.STRUCTURE_KEY: "{"}, r"'plugrad.structure' is not valid JSON"),
    ("not object", {st.STRUCTURE_KEY: "[]"}, r"exactly the keys 'version' and 'root'"),
    ("extra key", _structure(1, x=1), r"exactly the keys"),
    ("version", {st.STRUCTURE_KEY: '{"version": 2, "root": 1}'}, r"unsupported structure version 2"),
    ("missing tensor", _structure({"tensor": "nope"}), r"reference to missing tensor 'nope' at root"),
    ("tensor ref type", _structure({"tensor": 1}), r"tensor reference must be a string"),
    ("unknown tag", _structure([{"set": [1]}]), r"unknown tag 'set' at root\[0\]"),
    ("two tags", _structure({"tuple": [], "dict": []}), r"exactly one tag"),
    ("dict pairs", _structure({"dict": [[1]]}), r"\[key, value\] pairs"),
    ("dict key", _structure({"dict": [[None, 1]]}), r"invalid dict key None"),
    ("dup dict key", _structure({"dict": [["a", 1], ["a", 2]]}), r"duplicate dict key 'a'"),
    ("float bits", _structure({"float": "zz"}), r"'float' value must be 16 hex digits"),
    ("float hex", _structure({"float": "zzzzzzzzzzzzzzzz"}), r"invalid float bits"),
    ("float spaces", _structure({"float": "00 00 00 00 0000"}), r"invalid float bits"),
    ("int hex", _structure({"int": "0xg"}), r"invalid hex integer"),
    ("int type", _structure({"int": 5}), r"'int' value must be a hex string"),
    ("tuple type", _structure({"tuple": 5}), r"'tuple' value must be an array"),
    ("dup json key", {st.STRUCTURE_KEY: '{"version":1,"version":1,"root":1}'}, r"duplicate key 'version'"),
    (
        "deep",
        {st.STRUCTURE_KEY: '{"version":1,"root":' + "[" * 100000 + "]" * 100000 + "}"},
        r"not valid JSON|too deeply nested",
    ),
]


@pytest.mark.parametrize("md,pattern", [(m, p) for _, m, p in BAD_STRUCTURES], ids=[n for n, _, _ in BAD_STRUCTURES])
def test_bad_structure_metadata(md: dict[str, str], pattern: str) -> None:
    with pytest.raises(SafetensorsError, match=pattern):
        st.unflatten_state({}, md)


def test_unreferenced_tensor_is_an_error() -> None:
    tensors, md = st.flatten_state({"a": _T1})
    tensors["stray"] = _T2
    with pytest.raises(SafetensorsError, match=r"tensor 'stray' is not referenced"):
        st.unflatten_state(tensors, md)


# --------------------------------------------------------------------------
# property tests
# --------------------------------------------------------------------------


@hs.composite
def raw_tensors(draw: Callable[..., Any]) -> Any:
    dtype = draw(hs.sampled_from(ALL_DTYPES))
    shape = tuple(draw(hs.lists(hs.integers(0, 3), max_size=3)))
    data = draw(
        hs.binary(min_size=math.prod(shape) * st.ITEMSIZE[dtype], max_size=math.prod(shape) * st.ITEMSIZE[dtype])
    )
    return RawTensor(dtype, shape, data)


_leaves = (
    hs.none()
    | hs.booleans()
    | hs.integers()
    | hs.integers(-(2**200), 2**200)
    | hs.floats(allow_nan=True, allow_infinity=True)
    | hs.text(max_size=8)
    | raw_tensors()
)
_trees = hs.recursive(
    _leaves,
    lambda kids: (
        hs.lists(kids, max_size=4)
        | hs.lists(kids, max_size=4).map(tuple)
        | hs.dictionaries(hs.text(max_size=6) | hs.integers(-(2**70), 2**70), kids, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(_trees)
def test_property_structure_roundtrip(obj: object) -> None:
    assert _same(_roundtrip_state(obj), obj)


def _base_file() -> tuple[bytes, dict[str, Any], dict[str, str]]:
    obj = {
        "w": _tensor("F16", (2, 2), 5),
        "b": _tensor("U8", (3,), 6),
        "e": _tensor("I32", (0,), 7),
        "s": _tensor("BOOL", (), 8),
        "opt": {0: [1.5, float("nan")], "t": (None, "x")},
    }
    tensors, md = st.flatten_state(obj)
    md = {**md, "note": "hi"}
    return st.dumps(tensors, md), tensors, md


_BASE, _BASE_TENSORS, _BASE_MD = _base_file()
_BASE_HLEN = int.from_bytes(_BASE[:8], "little")
_JSONISH = b'{}[]",:0123456789-+.eE \\tfnul'

_mutation = hs.one_of(
    hs.tuples(hs.just("set"), hs.integers(0, len(_BASE) - 1), hs.integers(0, 255)),
    hs.tuples(hs.just("set"), hs.integers(0, len(_BASE) - 1), hs.sampled_from(list(_JSONISH))),
    hs.tuples(hs.just("set"), hs.integers(0, 7), hs.integers(0, 255)),
    hs.tuples(hs.just("truncate"), hs.integers(0, len(_BASE)), hs.just(0)),
    hs.tuples(hs.just("insert"), hs.integers(0, len(_BASE)), hs.sampled_from(list(_JSONISH))),
    hs.tuples(hs.just("delete"), hs.integers(0, len(_BASE) - 1), hs.integers(1, 4)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(_mutation, min_size=1, max_size=4))
def test_property_mutations_never_crash(mutations: list[tuple[str, int, int]]) -> None:
    buf = bytearray(_BASE)
    data_only = True
    for kind, pos, val in mutations:
        if kind == "set":
            if pos < len(buf):
                buf[pos] = val
                data_only &= pos >= 8 + _BASE_HLEN
        elif kind == "truncate":
            del buf[pos:]
            data_only = False
        elif kind == "insert":
            buf[pos:pos] = bytes([val])
            data_only = False
        else:
            del buf[pos : pos + val]
            data_only = False
    raw = bytes(buf)
    try:
        tensors, md = st.loads(raw)
    except SafetensorsError:
        return
    hlen = int.from_bytes(raw[:8], "little")
    assert sum(t.nbytes for t in tensors.values()) == len(raw) - 8 - hlen
    for t in tensors.values():
        assert t.nbytes == math.prod(t.shape) * st.ITEMSIZE[t.dtype]
    if data_only:
        assert md == _BASE_MD
        assert {n: (t.dtype, t.shape) for n, t in tensors.items()} == {
            n: (t.dtype, t.shape) for n, t in _BASE_TENSORS.items()
        }
    try:
        st.unflatten_state(tensors, md)
    except SafetensorsError:
        pass


def test_mutations_through_load_file(tmp_path: Path) -> None:
    """Byte-wise truncations and flips of the header via the file path reader."""
    path = tmp_path / "m.safetensors"
    rng = random.Random(0)
    for cut in range(0, len(_BASE), 7):
        path.write_bytes(_BASE[:cut])
        with pytest.raises(SafetensorsError):
            st.load_file(path)
    for _ in range(300):
        buf = bytearray(_BASE)
        buf[rng.randrange(8 + _BASE_HLEN)] = rng.choice(_JSONISH)
        path.write_bytes(bytes(buf))
        try:
            from_file = st.load_file(path)
        except SafetensorsError:
            with pytest.raises(SafetensorsError):
                st.loads(bytes(buf))
            continue
        assert from_file == st.loads(bytes(buf))


# --------------------------------------------------------------------------
# interoperability with the reference implementation
# --------------------------------------------------------------------------

_NP_DTYPES = {
    "F16": "float16",
    "F32": "float32",
    "F64": "float64",
    "I8": "int8",
    "I16": "int16",
    "I32": "int32",
    "I64": "int64",
    "U8": "uint8",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
    "BOOL": "bool",
}


def test_interop_with_reference_safetensors(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    stnp = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")

    ours: dict[str, Any] = {}
    for i, code in enumerate(_NP_DTYPES):
        for shape in [(2, 3), (), (0, 2)]:
            if code == "BOOL":
                n = math.prod(shape)
                data = bytes(random.Random(i).randrange(2) for _ in range(n))
                ours[f"{code}{shape}"] = RawTensor(code, shape, data)
            else:
                ours[f"{code}{shape}"] = _tensor(code, shape, i)

    # ours -> reference
    arrays = stnp.load(st.dumps(ours, {"k": "v"}))
    assert set(arrays) == set(ours)
    for name, t in ours.items():
        arr = arrays[name]
        assert arr.dtype == np.dtype(_NP_DTYPES[t.dtype])
        assert arr.shape == t.shape
        assert arr.astype(arr.dtype.newbyteorder("<")).tobytes() == bytes(t.data)

    # reference -> ours
    ref = {
        "f": np.arange(12, dtype=np.float32).reshape(3, 4),
        "i": np.array(-7, dtype=np.int64),
        "b": np.array([True, False, True]),
        "e": np.zeros((0, 5), dtype=np.float16),
        "u": np.arange(5, dtype=np.uint16),
    }
    back, md = st.loads(stnp.save(ref, metadata={"m": "1"}))
    assert md == {"m": "1"}
    for name, arr in ref.items():
        assert back[name].shape == arr.shape
        assert bytes(back[name].data) == arr.astype(arr.dtype.newbyteorder("<")).tobytes()

    # files, including a nested plugrad structure
    tensors, smd = st.flatten_state({"layer": [{"w": _tensor("F32", (2,))}], "step": 3})
    path = tmp_path / "ours.safetensors"
    st.save_file(tensors, path, smd)
    with safetensors.safe_open(str(path), framework="np") as f:
        assert list(f.keys()) == ["layer.0.w"]
        assert f.metadata() == smd
    ref_path = tmp_path / "ref.safetensors"
    stnp.save_file(ref, str(ref_path))
    loaded, _ = st.load_file(ref_path)
    assert st.unflatten_state(*st.load_file(ref_path)) == loaded
    assert set(loaded) == set(ref)
