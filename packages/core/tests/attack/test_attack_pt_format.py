"""Hostile and damaged PyTorch ``.pt`` files through ``plugrad.load`` (weights_only=True, the default).

Every hostile pickle carries a payload that would create a canary file (``os.system``,
``eval``, ``subprocess``, ``copyreg`` extensions, ``INST``/``OBJ``/``NEWOBJ``/``BUILD`` of
classes outside the allow-list). For each file, through a path and a file object:

- the load succeeds or raises ``plugrad.serialization.UnpicklingError`` or
  ``RuntimeError`` with a message (PyTorch's two documented errors), nothing else;
- nothing is executed or imported and no other file is opened (a ``sys.addaudithook``
  hook watches ``exec``, ``compile``, ``import``, ``pickle.find_class``, ``os.system``,
  ``subprocess.Popen``, ``open``), and the canary never appears.

Damaged archives: truncations at every length class, flipped bytes, central directories
that declare huge sizes, compressed entries (a zip bomb needs compression), entry names
with ``..`` and absolute paths, storages whose declared element counts lie, views that read
past their storage, MARK and nesting bombs.
"""

from __future__ import annotations

import copyreg
import io
import random
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any

import plugrad
import pytest
from attack_util import count, size
from plugrad import _pt_format as ptf
from plugrad.serialization import SafetensorsError, UnpicklingError

CANARY = "PWNED_BY_PT_FILE"
N_MUTANTS = size(200, 3000)


class Watch:
    FORBIDDEN = ("exec", "compile", "pickle.find_class", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn")

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if self.active and (event in ("import", "open") or event.startswith(self.FORBIDDEN)):
            self.events.append((event, args))


WATCH = Watch()
sys.addaudithook(WATCH)  # does nothing outside a watched load


def archive(pkl: bytes, records: dict[str, bytes] | None = None, prefix: str = "archive") -> bytes:
    out = io.BytesIO()
    recs = [("data.pkl", lambda: pkl)] + [(k, lambda v=v: v) for k, v in (records or {}).items()]
    ptf._write_records(out, prefix, recs)
    return out.getvalue()


def base_file() -> bytes:
    buf = io.BytesIO()
    plugrad.manual_seed(0)
    plugrad.save(
        {
            "w": plugrad.randn(4, 3),
            "b": plugrad.zeros(4, dtype=plugrad.int64),
            "m": plugrad.tensor([True, False]),
            "h": plugrad.ones(2, dtype=plugrad.float16),
            "opt": {"state": {0: {"step": plugrad.tensor(3.0)}}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        },
        buf,
    )
    return buf.getvalue()


BASE = base_file()


def check(buf: bytes, path: Path, what: str) -> str:
    """Load ``buf`` through a path and a file object; return ``"loaded"`` or ``"error"``."""
    path.write_bytes(buf)
    outcomes = []
    for source in ("path", "file"):
        WATCH.events.clear()
        WATCH.active = True
        try:
            plugrad.load(str(path)) if source == "path" else plugrad.load(io.BytesIO(buf))
            outcomes.append("loaded")
        except (UnpicklingError, RuntimeError, SafetensorsError) as exc:
            # SafetensorsError: the bytes no longer start like a zip, so the safetensors reader answered
            assert not isinstance(exc, SafetensorsError) or not ptf.is_pt_file(buf), f"{what}: {exc!r}"
            assert str(exc).strip(), f"{what}: {type(exc).__name__} without a message"
            outcomes.append("error")
        except Exception as exc:  # pragma: no cover - the failure being tested for
            raise AssertionError(f"{what} via {source}: undocumented {type(exc).__module__}.{exc!r}") from exc
        finally:
            WATCH.active = False
        events = [(e, a) for e, a in WATCH.events if not (e == "open" and str(a[0]) == str(path))]
        assert not events, f"{what} via {source}: the load did {events[:3]}"
    assert outcomes[0] == outcomes[1], f"{what}: path and file object disagree: {outcomes}"
    assert not (path.parent / CANARY).exists(), f"{what}: the payload ran"
    return outcomes[0]


@pytest.fixture
def where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "file.pt"
    path.write_bytes(BASE)
    plugrad.load(path)  # lazy imports (zipfile's cp437 codec ...) done before the watching starts
    plugrad.load(io.BytesIO(BASE))
    return path


SH = f"touch {CANARY}".encode()
_S = b"X" + struct.pack("<I", len(SH)) + SH  # BINUNICODE of the shell command

HOSTILE_PICKLES: dict[str, bytes] = {
    "GLOBAL os.system + REDUCE": b"\x80\x02cos\nsystem\n" + _S + b"\x85R.",
    "GLOBAL posix.system": b"\x80\x02cposix\nsystem\n" + _S + b"\x85R.",
    "GLOBAL subprocess.call": b"\x80\x02csubprocess\ncall\n" + _S + b"\x85R.",
    "STACK_GLOBAL builtins.eval": b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93"
    + b"X"
    + struct.pack("<I", 34)
    + b"__import__('os').system('touch P')"
    + b"\x85R.",
    "GLOBAL builtins.getattr": b"\x80\x02c__builtin__\ngetattr\n.",
    "GLOBAL builtins.__import__": b"\x80\x02c__builtin__\n__import__\nX\x02\x00\x00\x00os\x85R.",
    "GLOBAL copyreg._reconstructor": b"\x80\x02ccopy_reg\n_reconstructor\n.",
    "GLOBAL torch._utils other function": b"\x80\x02ctorch._utils\n_load_from_bytes\nC\x01x\x85R.",
    "GLOBAL plugrad.load": b"\x80\x02cplugrad\nload\n.",
    "INST os.system": b"(ios\nsystem\n" + b"S'touch " + CANARY.encode() + b"'\n.",
    "INST allowed class": b"(icollections\nOrderedDict\n.",
    "OBJ allowed class": b"\x80\x02(ccollections\nOrderedDict\no.",
    "NEWOBJ allowed class": b"\x80\x02ccollections\nOrderedDict\n)\x81.",
    "NEWOBJ_EX allowed class": b"\x80\x04ccollections\nOrderedDict\n)}\x92.",
    "BUILD on a list": b"\x80\x02]}X\x01\x00\x00\x00aK\x01sb.",
    "BUILD on a dict with __setstate__ name": b"\x80\x02}}X\x0c\x00\x00\x00__setstate__K\x01sb.",
    "BUILD OrderedDict with non-str keys": b"\x80\x02ccollections\nOrderedDict\n)R}K\x01K\x02sb.",
    "REDUCE of a dtype": b"\x80\x02ctorch\nfloat32\n)R.",
    "REDUCE of a storage type": b"\x80\x02ctorch\nFloatStorage\n)R.",
    "REDUCE with non-tuple args": b"\x80\x02ccollections\nOrderedDict\n]R.",
    "REDUCE OrderedDict with an int": b"\x80\x02ccollections\nOrderedDict\nK\x05\x85R.",
    "bytearray of a huge size": b"\x80\x02c__builtin__\nbytearray\n\x8a\x05\x00\x00\x00\x00\x01\x85R.",
    "_codecs.encode with another codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R.",
    "torch.Size of strings": b"\x80\x02ctorch\nSize\n]X\x01\x00\x00\x00a\x85\x85R.",
    "persistent id not a tuple": b"\x80\x02X\x01\x00\x00\x00aQ.",
    "PERSID text": b"P0\n.",
    "persistent id of another kind": b"\x80\x02(X\x06\x00\x00\x00moduleK\x00K\x00K\x00K\x00tQ.",
    "storage type not a storage": b"\x80\x02(X\x07\x00\x00\x00storageccollections\nOrderedDict\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ.",
    "storage record missing": b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x009X\x03\x00\x00\x00cpuK\x01tQ.",
    "storage key with traversal": b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x0b\x00\x00\x00../../etc/xX\x03\x00\x00\x00cpuK\x01tQ.",
    "storage numel negative": b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ\xff\xff\xff\xfftQ.",
    "storage numel huge": b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu\x8a\x06\x00\x00\x00\x00\x00\x01tQ.",
    "storage location bogus": b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x04\x00\x00\x00tpu9K\x01tQ.",
    "rebuild without a storage": b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00)N\x89NtR.",
    "rebuild_from_type with os.system": b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(cos\nsystem\nN)NtR.",
    "MARK bomb": b"\x80\x02" + b"(" * 200_000 + b".",
    "memo read of a missing index": b"\x80\x02h\x05.",
    "EXT1": b"\x80\x02\x82\xf0.",
    "EXT2": b"\x80\x02\x83\xf0\x00.",
    "EXT4": b"\x80\x02\x84\xf0\x00\x00\x00.",
    "truncated pickle": b"\x80\x02}q\x00(X\x01\x00\x00",
    "LONG4 longer than the data": b"\x80\x02\x8b\xff\xff\xff\x7f\x00.",
    "BINUNICODE longer than the data": b"\x80\x02X\xff\xff\xff\x7fabc.",
    "BINUNICODE invalid utf-8": b"\x80\x02X\x02\x00\x00\x00\xff\xfe.",
    "unknown opcode": b"\x80\x02\xff.",
    "protocol 6": b"\x80\x06N.",
    "empty pickle": b"",
    "NEXT_BUFFER without buffers": b"\x80\x05\x97.",
}


def test_hostile_pickles_run_nothing(where: Path) -> None:
    copyreg.add_extension("os", "system", 240)  # EXT opcodes would reach os.system through it
    try:
        record = {"data/0": b"\x00" * 4}
        for name, pkl in HOSTILE_PICKLES.items():
            assert check(archive(pkl, record), where, name) == "error", f"{name} loaded"
    finally:
        copyreg.remove_extension("os", "system", 240)
    count("pt format: hostile pickles", len(HOSTILE_PICKLES))


def test_error_texts_are_pytorchs(where: Path) -> None:
    with pytest.raises(UnpicklingError) as err:
        plugrad.load(io.BytesIO(archive(HOSTILE_PICKLES["GLOBAL builtins.getattr"])))
    text = str(err.value)
    assert text.startswith("Weights only load failed.")
    assert "Unsupported global: GLOBAL builtins.getattr was not an allowed global by default." in text
    assert "`plugrad.serialization.add_safe_globals([builtins.getattr])`" in text
    with pytest.raises(UnpicklingError, match="GLOBAL posix.system whose module posix is blocked"):
        plugrad.load(io.BytesIO(archive(HOSTILE_PICKLES["GLOBAL posix.system"])))
    with pytest.raises(UnpicklingError, match="Can only build Tensor, Parameter, OrderedDict"):
        plugrad.load(io.BytesIO(archive(HOSTILE_PICKLES["BUILD on a list"])))


def test_storage_sizes_that_lie(where: Path) -> None:
    def pkl(numel: int, stype: str = "FloatStorage", key: bytes = b"0") -> bytes:
        pid = b"(X\x07\x00\x00\x00storagectorch\n" + stype.encode() + b"\nX" + struct.pack("<I", len(key)) + key
        pid += b"X\x03\x00\x00\x00cpu" + b"J" + struct.pack("<i", numel) + b"tQ"
        return b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00K\x02\x85K\x01\x85\x89NtR."

    assert check(archive(pkl(2), {"data/0": b"\x00" * 8}), where, "honest") == "loaded"
    cases = {
        "record shorter than declared": archive(pkl(3), {"data/0": b"\x00" * 8}),
        "record longer than declared": archive(pkl(1), {"data/0": b"\x00" * 8}),
        "declared in the wrong dtype": archive(pkl(2, "DoubleStorage"), {"data/0": b"\x00" * 8}),
        "declared huge": archive(pkl(2**31 - 1), {"data/0": b"\x00" * 8}),
        "unknown storage type": archive(pkl(2, "ComplexFloatStorage"), {"data/0": b"\x00" * 16}),
    }
    for name, buf in cases.items():
        assert check(buf, where, name) == "error", name
    count("pt format: storages that lie", len(cases))


def _with_central_field(buf: bytes, entry: str, offset: int, fmt: str, value: int) -> bytes:
    """``buf`` with one field of ``entry``'s central directory record replaced."""
    name = entry.encode()
    at = buf.rfind(b"PK\x01\x02", 0, buf.rfind(name))
    out = bytearray(buf)
    struct.pack_into(fmt, out, at + offset, value)
    return bytes(out)


def test_archives_that_lie(where: Path) -> None:
    cases = {
        "huge file_size of data.pkl": _with_central_field(BASE, "archive/data.pkl", 24, "<I", 0xFFFFFFF0),
        "huge compress_size of a storage": _with_central_field(BASE, "archive/data/0", 20, "<I", 0x7FFFFFFF),
        "header offset past the end": _with_central_field(BASE, "archive/data/0", 42, "<I", 0x7FFFFFFF),
        "no data.pkl": archive(b"", prefix="x").replace(b"x/data.pkl", b"x/data.pkX"),
        "TorchScript archive": archive(b"\x80\x02N.", {"constants.pkl": b""}).replace(
            b"archive/data.pkl", b"archive/code.pkl"
        ),
        "empty file": b"PK\x05\x06" + b"\x00" * 18,
        "zip magic then garbage": b"PK\x03\x04" + b"\x00" * 100,
        "big-endian byteorder": archive(b"\x80\x02N.", {"byteorder": b"big"}),
    }
    two = io.BytesIO()
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a/data.pkl", b"\x80\x02N.")
        z.writestr("b/data.pkl", b"\x80\x02N.")
    cases["two data.pkl"] = two.getvalue()
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02]" + b"N" * 5_000_000 + b".")
    cases["compressed entry (zip bomb)"] = deflated.getvalue()
    for name, buf in cases.items():
        assert check(buf, where, name) == "error", name
    # names with '..' or absolute paths are archive keys only: nothing outside is touched
    for prefix in ("..", "/abs", "C:"):
        outcome = check(archive(b"\x80\x02K\x07.", prefix=prefix), where, f"prefix {prefix}")
        assert outcome in ("loaded", "error")
    count("pt format: archives that lie", len(cases) + 3)


def test_truncations_and_flipped_bytes(where: Path) -> None:
    rng = random.Random(16)
    outcomes: dict[str, int] = {}
    lengths = sorted({0, 1, 3, 4, 22, len(BASE) - 1, len(BASE) - 22, *rng.sample(range(len(BASE)), 40)})
    for n in lengths:
        outcomes[check(BASE[:n], where, f"truncated to {n}")] = outcomes.get("t", 0) + 1
    for i in range(N_MUTANTS):
        buf = bytearray(BASE)
        for _ in range(rng.choice([1, 1, 2, 8])):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        outcome = check(bytes(buf), where, f"mutant {i}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("error", 0) > 0
    count("pt format: truncated and flipped archives", len(lengths) + N_MUTANTS)


def test_nesting_bombs(where: Path) -> None:
    depth = size(20_000, 200_000)
    nested = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    assert check(archive(nested), where, "deeply nested lists") in ("loaded", "error")
    dicts = b"\x80\x02" + b"}" * depth + b"."
    assert check(archive(dicts), where, "many dicts on the stack") in ("loaded", "error")
    count("pt format: nesting bombs", 2)
