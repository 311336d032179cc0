"""tools/torch_names.py on a tiny fixture folder with hand-listed expectations."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOOL = HERE.parent / "torch_names.py"
FIXTURE = HERE / "fixture_programs"

spec = importlib.util.spec_from_file_location("torch_names", TOOL)
assert spec is not None and spec.loader is not None
torch_names = importlib.util.module_from_spec(spec)
sys.modules["torch_names"] = torch_names
spec.loader.exec_module(torch_names)


def test_collects_imports_chains_aliases_and_tensor_methods():
    uses = torch_names.collect_folder(FIXTURE)
    expected = {
        "torch",
        "torch.nn",
        "torch.nn.functional",
        "torch.nn.functional.relu",
        "torch.utils.data.DataLoader",
        "torch.randn",
        "torch.zeros",
        "torch.Tensor.exp",
        "torch.Tensor.sum",
        "torch.Tensor.float",
        "torch.Tensor.frobnicate_",
        "torch.nn.Linear",
        "torch.definitely_not_a_torch_function",
        "torch.nn.NoSuchLayer",
        "torch.ones",
        "torch.optim",
        "torch.optim.SGD",
        "torch.cuda.is_available",
        "torch.optim.NoSuchOptimizer",
    }
    assert expected <= set(uses), expected - set(uses)
    assert uses["torch.nn.NoSuchLayer"].files == {"prog_a.py": [14]}
    assert uses["torch.ones"].files == {"prog_b.py": [5]}  # through the alias T


def test_checks_names_against_plugrad():
    pytest.importorskip("plugrad.nn")
    assert torch_names.check_name("torch.nn.functional.relu") is None
    assert torch_names.check_name("torch.Tensor.exp") is None
    assert torch_names.check_name("torch.nn.NoSuchLayer") == "torch.nn.NoSuchLayer"
    assert torch_names.check_name("torch.no_such_module.thing") == "torch.no_such_module"


def test_command_line_report(tmp_path):
    pytest.importorskip("plugrad.optim")
    out = tmp_path / "gap.md"
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(FIXTURE), "--markdown", str(out)], capture_output=True, text=True, check=True
    )
    missing = {line.split()[0] for line in proc.stdout.splitlines()}
    assert missing == {
        "torch.Tensor.frobnicate_",
        "torch.definitely_not_a_torch_function",
        "torch.nn.NoSuchLayer",
        "torch.optim.NoSuchOptimizer",
    }
    text = out.read_text()
    assert "| `prog_a.py` |" in text and "`torch.nn.NoSuchLayer`" in text
