"""Damaged and hostile checkpoints through ``plugrad.load``, and saves killed mid-write.

Thousands of files are made from real checkpoints (a model's and an optimizer's
``state_dict`` with every dtype, 0-d and empty tensors, nested structure, metadata) by
mutations: truncation, flipped bytes, rewritten header lengths, and header edits that put
offsets past the end, overlap ranges, break shape/byte counts, name unknown dtypes, insert
non-UTF-8 bytes, nest JSON deeply, or point the structure and device metadata at things
that do not exist. Hostile files that are not safetensors at all (pickles with a payload)
are loaded too. For each, through a path and through a file object:

- the load succeeds, or raises one of plugrad's documented errors with a message;
- a successful load returns only bytes that the file's own header places inside the
  file (checked against an independent parse of the header);
- nothing is executed or imported, and no other file is opened (a ``sys.addaudithook``
  hook watches ``exec``, ``compile``, ``import``, ``pickle.find_class``, ``os.system``,
  ``subprocess.Popen``, ``open``);
- the load allocates no more than the file's size justifies (``tracemalloc`` peak);
- a save killed by SIGKILL at a random moment always leaves the previous checkpoint
  loadable and whole.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import signal
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import plugrad
import pytest
from attack_util import FIGURES, check_error, count, size, slow_only, tensors_in

N_MUTANTS = size(300, 6000)
N_KILLS = size(6, 300)

ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "I32": 4, "I64": 8, "F16": 2, "F32": 4, "F64": 8}
CODE = {
    plugrad.bool: "BOOL",
    plugrad.uint8: "U8",
    plugrad.int8: "I8",
    plugrad.int16: "I16",
    plugrad.int32: "I32",
    plugrad.int64: "I64",
    plugrad.float16: "F16",
    plugrad.float32: "F32",
    plugrad.float64: "F64",
}


# ---------------------------------------------------------------------------- base checkpoints
def _checkpoint(seed: int) -> Any:
    plugrad.manual_seed(seed)
    w = plugrad.randn(4, 3)
    return {
        "model": {
            "0.weight": w,
            "0.bias": plugrad.zeros(4),
            "2.weight": plugrad.randn(2, 4, dtype=plugrad.float64),
            "tied": w,  # shared: stored once
        },
        "optimizer": {
            "state": {0: {"step": plugrad.tensor(3.0), "exp_avg": plugrad.randn(4, 3)}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False, "eps": 1e-8}],
        },
        "epoch": 7,
        "names": ["a", "β", None],
        "misc": {
            "empty": plugrad.zeros(0, 3),
            "mask": plugrad.tensor([True, False, True]),
            "i8": plugrad.tensor([-1, 2], dtype=plugrad.int8),
            "i16": plugrad.tensor([300], dtype=plugrad.int16),
            "i32": plugrad.arange(5, dtype=plugrad.int32),
            "u8": plugrad.tensor([255, 0], dtype=plugrad.uint8),
            "f16": plugrad.tensor([0.5, -2.0], dtype=plugrad.float16),
            "big": 2**80,
            "nan": float("nan"),
        },
    }


def _dumps(obj: Any, **kw: Any) -> bytes:
    buf = io.BytesIO()
    plugrad.save(obj, buf, format="safetensors", **kw)  # file objects default to the .pt format
    return buf.getvalue()


BASES = [
    _dumps(_checkpoint(0), metadata={"note": "hello"}),
    _dumps({"weight": plugrad.ones(3, 2), "bias": plugrad.zeros(3)}),  # a flat state dict
    _dumps(plugrad.arange(40, dtype=plugrad.float64).reshape(5, 8)),  # a bare tensor
]


def _split(buf: bytes) -> tuple[dict[str, Any], bytes]:
    n = int.from_bytes(buf[:8], "little")
    return json.loads(buf[8 : 8 + n]), buf[8 + n :]


def _join(header: Any, data: bytes, raw_header: bytes | None = None) -> bytes:
    raw = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


# ---------------------------------------------------------------------------- mutations
def _entries(header: dict[str, Any]) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def _edit_entry(rng: random.Random, header: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes, str]:
    names = _entries(header)
    name = rng.choice(names)
    e = dict(header[name])
    begin, end = e["data_offsets"]
    kind = rng.choice(
        [
            "end past eof",
            "begin past eof",
            "begin > end",
            "negative begin",
            "huge end",
            "float offset",
            "string offset",
            "three offsets",
            "overlap",
            "shape +1",
            "shape -1",
            "huge shape",
            "negative dim",
            "shape string",
            "unknown dtype",
            "dtype number",
            "dtype case",
            "missing field",
            "extra field",
            "drop entry",
            "entry not object",
            "rename to metadata",
        ]
    )
    total = len(data)
    if kind == "end past eof":
        e["data_offsets"] = [begin, total + rng.randint(1, 4096)]
    elif kind == "begin past eof":
        e["data_offsets"] = [total + 8, total + 8 + (end - begin)]
    elif kind == "begin > end":
        e["data_offsets"] = [end + 1, begin]
    elif kind == "negative begin":
        e["data_offsets"] = [-rng.randint(1, 64), end]
    elif kind == "huge end":
        e["data_offsets"] = [begin, 2 ** rng.choice([40, 63, 64, 100])]
    elif kind == "float offset":
        e["data_offsets"] = [float(begin), end]
    elif kind == "string offset":
        e["data_offsets"] = [str(begin), end]
    elif kind == "three offsets":
        e["data_offsets"] = [begin, end, end]
    elif kind == "overlap":
        shift = rng.randint(1, 8)
        e["data_offsets"] = [max(0, begin - shift), max(0, end - shift)]
    elif kind == "shape +1":
        e["shape"] = [*e["shape"][:-1], e["shape"][-1] + 1] if e["shape"] else [2]
    elif kind == "shape -1":
        e["shape"] = [*e["shape"][:-1], max(0, e["shape"][-1] - 1)] if e["shape"] else [0]
    elif kind == "huge shape":
        e["shape"] = [2 ** rng.choice([31, 40, 62, 64]), 2 ** rng.choice([31, 40, 62])]
    elif kind == "negative dim":
        e["shape"] = [-1, *e["shape"]]
    elif kind == "shape string":
        e["shape"] = "3"
    elif kind == "unknown dtype":
        e["dtype"] = rng.choice(["F128", "", "C64", "I64 ", "f32", "object", "U64", "BF16", "F8_E4M3"])
    elif kind == "dtype number":
        e["dtype"] = rng.choice([4, None, ["F32"], {"t": 1}])
    elif kind == "dtype case":
        e["dtype"] = e["dtype"].lower()
    elif kind == "missing field":
        del e[rng.choice(["dtype", "shape", "data_offsets"])]
    elif kind == "extra field":
        e["__class__"] = "os.system"
    elif kind == "drop entry":
        header = {k: v for k, v in header.items() if k != name}
        return header, data, kind
    elif kind == "entry not object":
        header = {**header, name: rng.choice([5, "x", [1, 2], None])}
        return header, data, kind
    elif kind == "rename to metadata":
        header = {("__metadata__" if k == name else k): v for k, v in header.items() if k != "__metadata__"}
        return header, data, kind
    return {**header, name: e}, data, kind


def _edit_metadata(rng: random.Random, header: dict[str, Any], data: bytes) -> tuple[dict[str, Any], bytes, str]:
    md = dict(header.get("__metadata__") or {})
    kind = rng.choice(
        [
            "structure junk",
            "structure deep",
            "structure missing tensor",
            "structure huge int",
            "structure bad float",
            "structure unknown tag",
            "structure version",
            "structure drops a tensor",
            "devices unknown",
            "devices cuda",
            "devices junk",
            "metadata not strings",
        ]
    )
    s = md.get("plugrad.structure")
    if kind == "structure junk":
        md["plugrad.structure"] = rng.choice(
            ["", "{", "null", "[1,2]", '{"version":1}', '{"version":1,"root":{"a":1,"b":2}}']
        )
    elif kind == "structure deep":
        depth = rng.choice([1000, 100_000])
        md["plugrad.structure"] = '{"version":1,"root":' + "[" * depth + "]" * depth + "}"
    elif kind == "structure missing tensor":
        md["plugrad.structure"] = json.dumps({"version": 1, "root": {"tensor": "not.there"}})
    elif kind == "structure huge int":
        md["plugrad.structure"] = json.dumps({"version": 1, "root": {"int": "0x" + "f" * rng.choice([10, 100_000])}})
    elif kind == "structure bad float":
        md["plugrad.structure"] = json.dumps(
            {"version": 1, "root": {"float": rng.choice(["zz", "00", "0" * 15 + "g"])}}
        )
    elif kind == "structure unknown tag":
        md["plugrad.structure"] = json.dumps({"version": 1, "root": {"pickle": "cos\nsystem\n"}})
    elif kind == "structure version":
        md["plugrad.structure"] = json.dumps({"version": rng.choice([0, 2, "1", None]), "root": None})
    elif kind == "structure drops a tensor" and s:
        md["plugrad.structure"] = json.dumps({"version": 1, "root": None})
    elif kind == "devices unknown":
        md["plugrad.devices"] = json.dumps({n: "tpu:0" for n in _entries(header)})
    elif kind == "devices cuda":
        md["plugrad.devices"] = json.dumps({n: "cuda:0" for n in _entries(header)})
    elif kind == "devices junk":
        md["plugrad.devices"] = rng.choice(["{", "[1]", '{"a": 5}', "null"])
    else:
        return {**header, "__metadata__": {"k": rng.choice([1, None, ["x"], {"y": "z"}])}}, data, kind
    return {**header, "__metadata__": md}, data, kind


def mutate(rng: random.Random, base: bytes) -> tuple[bytes, str]:
    """One damaged or hostile variant of ``base`` and the name of what was done."""
    header, data = _split(base)
    n = int.from_bytes(base[:8], "little")
    kind = rng.choice(
        [
            "truncate",
            "flip",
            "flip header",
            "header length",
            "entry",
            "entry",
            "metadata",
            "non-utf8 key",
            "duplicate key",
            "trailing",
            "junk",
        ]
    )
    if kind == "truncate":
        return base[: rng.randrange(len(base))], kind
    if kind in ("flip", "flip header"):
        buf = bytearray(base)
        top = 8 + n if kind == "flip header" else len(buf)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(top)] ^= rng.randint(1, 255)
        return bytes(buf), kind
    if kind == "header length":
        value = rng.choice([0, 1, 7, n - 8, n + 8, len(base), 2**63, 2**64 - 1, 100_000_001, n + rng.randint(1, 64)])
        return struct.pack("<Q", max(0, value) % 2**64) + base[8:], f"{kind} {value}"
    if kind == "entry":
        h, d, what = _edit_entry(rng, header, data)
        return _join(h, d), f"entry: {what}"
    if kind == "metadata":
        h, d, what = _edit_metadata(rng, header, data)
        return _join(h, d), f"metadata: {what}"
    raw = json.dumps(header, separators=(",", ":")).encode()
    if kind == "non-utf8 key":
        name = rng.choice(_entries(header)).encode()
        bad = rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80abc"])
        return _join(None, data, raw.replace(b'"' + name + b'"', b'"' + bad + name + b'"', 1)), kind
    if kind == "duplicate key":
        name = rng.choice(_entries(header))
        extra = b',"' + name.encode() + b'":' + json.dumps(header[name]).encode() + b"}"
        return _join(None, data, raw[:-1] + extra), kind
    if kind == "trailing":
        return base + bytes(rng.randint(1, 64)), kind
    return _join(
        None, data, rng.choice([b"[]", b"null", b'"x"', b"{" * 50_000, b"1e999", b'{"a": NaN}'])
    ), "junk header"


# ---------------------------------------------------------------------------- watching a load
class Watch:
    """Audit events seen while ``active``: what a load must never do."""

    FORBIDDEN = (
        "exec",
        "compile",
        "pickle.find_class",
        "os.system",
        "subprocess.Popen",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "ctypes",
    )

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "import" or event == "open" or event.startswith(self.FORBIDDEN):
            self.events.append((event, args))


WATCH = Watch()
sys.addaudithook(WATCH)  # hooks cannot be removed; this one does nothing outside a load


def independent_entries(buf: bytes) -> list[tuple[str, tuple[int, ...], bytes]]:
    """(dtype, shape, bytes) of every entry, parsed here with the standard json module."""
    n = int.from_bytes(buf[:8], "little")
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    data = buf[8 + n :]
    out = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        assert 0 <= b <= end <= len(data), f"a load succeeded although {name!r} lies outside the file"
        out.append((e["dtype"], tuple(e["shape"]), data[b:end]))
    return out


def check_load(buf: bytes, path: Path, what: str) -> str:
    """Load ``buf`` through a path and a file object; check every property. Returns the outcome."""
    path.write_bytes(buf)
    outcomes = []
    for source in ("path", "file"):
        WATCH.events.clear()
        tracemalloc.start()
        WATCH.active = True
        try:
            result = plugrad.load(str(path)) if source == "path" else plugrad.load(io.BytesIO(buf))
        except Exception as exc:
            WATCH.active = False
            check_error(exc, f"{what} via {source}")
            outcomes.append(f"error {type(exc).__name__}")
            result = None
        finally:
            WATCH.active = False
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        events = [(e, a) for e, a in WATCH.events if not (e == "open" and source == "path" and str(a[0]) == str(path))]
        assert not events, f"{what} via {source}: the load did {events[:3]}"
        budget = 64 * len(buf) + (1 << 20)  # linear in the file; see the JSON-dense test for the constant
        assert peak <= budget, f"{what} via {source}: peak allocation {peak} bytes for a {len(buf)}-byte file"
        worst = FIGURES.get("checkpoints: largest peak allocation of a damaged-file load", (0, ""))
        if peak > worst[0]:
            FIGURES["checkpoints: largest peak allocation of a damaged-file load"] = (peak, f"file of {len(buf)} bytes")
        if result is not None:
            allowed = {(d, s, b) for d, s, b in independent_entries(buf)}
            for t in tensors_in(result):
                key = (CODE[t.dtype], tuple(t.shape), t._backend.to_bytes(t._data))
                assert key in allowed, f"{what}: a loaded tensor's bytes are not an entry of the file"
            outcomes.append("loaded")
    assert outcomes[0] == outcomes[1], f"{what}: path and file object disagree: {outcomes}"
    return outcomes[0]


@pytest.fixture
def warm(tmp_path: Path) -> Iterator[Path]:
    """Load every base once first, so lazy imports are done before the watching starts."""
    path = tmp_path / "warm.safetensors"
    for base in BASES:
        path.write_bytes(base)
        plugrad.load(str(path))
        plugrad.load(io.BytesIO(base))
    for bad in (b"", b"\xff" * 16, _join({"a": 1}, b"")):
        with pytest.raises(ValueError):
            plugrad.load(io.BytesIO(bad))
    with pytest.raises(RuntimeError):
        plugrad.load(io.BytesIO(BASES[1]), map_location="tpu")
    yield path


# ---------------------------------------------------------------------------- tests
def test_base_checkpoints_round_trip(warm: Path) -> None:
    obj = plugrad.load(io.BytesIO(BASES[0]))
    ref = _checkpoint(0)
    assert obj["model"]["0.weight"] is obj["model"]["tied"]
    assert obj["model"]["0.weight"].tolist() == ref["model"]["0.weight"].tolist()
    assert obj["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert obj["misc"]["big"] == 2**80 and obj["misc"]["nan"] != obj["misc"]["nan"]
    assert check_load(BASES[0], warm, "the base checkpoint") == "loaded"


def test_thousands_of_damaged_checkpoints(warm: Path) -> None:
    rng = random.Random(8)
    outcomes: dict[str, int] = {}
    for i in range(N_MUTANTS):
        base = BASES[i % len(BASES)]
        buf, what = mutate(rng, base)
        outcome = check_load(buf, warm, f"mutant {i} ({what})")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    count("checkpoints: damaged files loaded (each by path and by file object)", N_MUTANTS)
    for k, v in outcomes.items():
        count(f"checkpoints: outcome {k}", v)
    assert outcomes.get("loaded", 0) < N_MUTANTS // 4  # most damage is noticed (flips inside tensor data are not)


def test_claims_beyond_the_file_allocate_nothing(warm: Path) -> None:
    """Headers that claim gigabytes in a tiny file fail before any large allocation."""
    claims = [
        _join({"a": {"dtype": "F64", "shape": [2**31], "data_offsets": [0, 2**34]}}, b"\0" * 8),
        _join({"a": {"dtype": "F64", "shape": [2**20, 2**20], "data_offsets": [0, 8]}}, b"\0" * 8),
        struct.pack("<Q", 99_999_999) + b"{}",
        struct.pack("<Q", 2**64 - 1) + b"{" * 64,
        _join(
            {"__metadata__": {"plugrad.structure": json.dumps({"version": 1, "root": {"int": "0x" + "f" * 200_000}})}},
            b"",
        ),
    ]
    for i, buf in enumerate(claims):
        check_load(buf, warm, f"claim {i}")
    count("checkpoints: oversized claims", len(claims))


def test_a_large_checkpoint_costs_a_few_times_its_size(warm: Path) -> None:
    """The figure for honest files: peak allocation of a load relative to the file size."""
    obj = {f"layer{i}.weight": plugrad.randn(256, 256) for i in range(8)}
    buf = _dumps(obj)
    path = warm.parent / "large.safetensors"
    path.write_bytes(buf)
    tracemalloc.start()
    loaded = plugrad.load(str(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert loaded["layer3.weight"].tolist() == obj["layer3.weight"].tolist()
    FIGURES["checkpoints: peak allocation loading a 2 MiB checkpoint (x file size)"] = round(peak / len(buf), 2)
    assert peak < 4 * len(buf)


def _bombs(n: int) -> dict[str, bytes]:
    """Headers dense in small JSON values: the most Python objects per byte of file."""
    many = ",".join(["[]"] * n)
    return {
        "list of zeros": b'{"x":[' + b",".join([b"0"] * n) + b"]}",
        "many empty objects": b"{" + b",".join(b'"k%d":{}' % i for i in range(n)) + b"}",
        "many empty tensors": b"{"
        + b",".join(b'"k%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i for i in range(n // 4))
        + b"}",
        "list of empty lists": b'{"x":[' + many.encode() + b"]}",
        "structure of empty lists": json.dumps(
            {"__metadata__": {"plugrad.structure": '{"version":1,"root":[' + many + "]}"}}
        ).encode(),
    }


def test_json_dense_headers_cost_a_bounded_multiple_of_their_size(warm: Path) -> None:
    """No claimed size is trusted, but parsing JSON makes Python objects: the cost stays linear.

    The figure is the peak allocation divided by the file size for the densest headers
    (``[]`` is 3 bytes of file and a 56-byte list); the 100 MB header limit bounds the total.
    """
    worst = 0.0
    for name, raw in _bombs(size(20_000, 200_000)).items():
        raw += b" " * (-len(raw) % 8)
        buf = struct.pack("<Q", len(raw)) + raw
        tracemalloc.start()
        try:
            plugrad.load(io.BytesIO(buf))
        except Exception as exc:
            check_error(exc, name)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        ratio = peak / len(buf)
        worst = max(worst, ratio)
        assert peak <= 64 * len(buf) + (1 << 20), f"{name}: {peak} bytes for a {len(buf)}-byte file"
    FIGURES["checkpoints: peak allocation for JSON-dense headers (x file size, worst)"] = round(worst, 1)


class _Payload:
    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_pickles_and_other_formats_are_refused_without_running_them(
    warm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(warm.parent)
    hostile = [
        pickle.dumps(_Payload()),
        pickle.dumps({"state_dict": _Payload()}, protocol=2),
        b"PK\x03\x04" + pickle.dumps(_Payload()),  # the start of a torch.save zip file
        b"\x80\x02}q\x00.",
        json.dumps({"__class__": "os.system", "args": ["touch PWNED_BY_CHECKPOINT"]}).encode(),
        b"#!/bin/sh\ntouch PWNED_BY_CHECKPOINT\n",
    ]
    for i, buf in enumerate(hostile):
        assert check_load(buf, warm, f"hostile file {i}").startswith("error")
    assert not (warm.parent / "PWNED_BY_CHECKPOINT").exists()
    count("checkpoints: pickles and foreign formats", len(hostile))


# ---------------------------------------------------------------------------- killed saves
def _version(step: int) -> dict[str, Any]:
    return {
        "step": step,
        "weights": plugrad.full((512, 512), float(step)),  # 1 MiB: the write takes a while
        "bias": plugrad.full((16,), float(step), dtype=plugrad.float64),
        "tag": f"version {step}",
    }


def _consistent(obj: Any) -> int:
    step = obj["step"]
    assert obj["tag"] == f"version {step}"
    assert obj["weights"].min().item() == obj["weights"].max().item() == float(step)
    assert obj["bias"].tolist() == [float(step)] * 16
    return int(step)


@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="needs fork and SIGKILL")
def test_saves_killed_at_random_points_leave_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    plugrad.save(_version(0), path)
    versions = [_version(s) for s in range(1, 4)]
    rng = random.Random(11)
    mid_write = 0
    last_seen = 0
    for k in range(N_KILLS):
        pid = os.fork()
        if pid == 0:  # the child saves new versions over the same path until it is killed
            try:
                s = 0
                while True:
                    v = versions[s % 3]
                    v["step"] = k * 1000 + s + 1
                    v["tag"] = f"version {v['step']}"
                    v["weights"].fill_(float(v["step"]))
                    v["bias"].fill_(float(v["step"]))
                    plugrad.save(v, path)
                    s += 1
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.03))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        mid_write += bool(leftovers)
        for p in leftovers:  # a hard kill may leave the temporary file of the save it interrupted
            p.unlink()
        last_seen = _consistent(plugrad.load(path))
    count("checkpoints: saves killed with SIGKILL", N_KILLS)
    count("checkpoints: kills that landed mid-write (a temporary file was left)", mid_write)
    assert last_seen >= 0
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@slow_only
def test_mutants_of_random_checkpoints(warm: Path) -> None:
    """Random structures (not just the three bases), mutated."""
    rng = random.Random(5)
    path = warm
    n = 2000
    for i in range(n):
        obj = {
            f"t{j}": plugrad.randn(*[rng.randint(0, 3) for _ in range(rng.randint(0, 3))])
            for j in range(rng.randint(1, 4))
        }
        obj["meta"] = [rng.random(), {"k": rng.randint(-5, 5)}]
        base = _dumps(obj)
        buf, what = mutate(rng, base)
        check_load(buf, path, f"random mutant {i} ({what})")
    count("checkpoints: mutants of random checkpoints", n)
