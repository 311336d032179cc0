"""The plugin reports itself: available with every kernel on a GPU, unavailable with the reason elsewhere."""

from __future__ import annotations

import importlib.util

import plugrad
import pytest
from plugrad.backends import REQUIRED_KERNELS, get_registry
from plugrad_cupy import plugin


def test_plugin_always_returns_a_record() -> None:
    [spec] = plugin.plugrad_backends()
    assert spec.name == "cupy" and spec.device_type == "cuda"
    if spec.unavailable_reason is None:
        assert REQUIRED_KERNELS <= set(spec.kernels) and "sigmoid" in spec.kernels
    else:
        assert spec.kernels == {}
        assert spec.unavailable_reason.startswith(
            ("cupy not installed", "cupy failed to import", "no CUDA device", "no usable CUDA device")
        )


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="cupy is installed here")
def test_without_cupy_the_reason_is_reported_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    reg = get_registry()
    reg.ensure_loaded()
    info = reg.infos["cupy"]
    assert not info.available and info.reason is not None and info.reason.startswith("cupy not installed")
    assert "cupy" not in reg.failed_plugins  # unavailable is not a failure
    assert plugrad.cuda.is_available() is False and plugrad.cuda.device_count() == 0
    assert "cupy: cupy not installed" in (plugrad.cuda.unavailable_reason() or "")
    with pytest.raises(RuntimeError, match="cupy not installed"):
        plugrad.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="'cupy' is not available: cupy not installed"):
        plugrad.zeros(2, device="cupy")
    from plugrad.__main__ import main

    main(["info"])
    out = capsys.readouterr().out
    assert "cupy" in out and "cuda" in out and "no: cupy not installed" in out
    assert plugrad.tensor([1.0, 2.0]).sum().item() == 3.0  # nothing else breaks
