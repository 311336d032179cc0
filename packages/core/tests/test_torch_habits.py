"""PyTorch habits: submodules as attributes, plugrad.backends switches, plugrad.plugins, amp, compile, onnx, types."""

from __future__ import annotations

import subprocess
import sys
import warnings

import plugrad
import pytest


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


# ----------------------------------------------------------------------------- lazy submodules
def test_subpackages_load_on_first_attribute_access():
    import importlib.util

    if importlib.util.find_spec("plugrad.nn") is None or importlib.util.find_spec("plugrad.optim") is None:
        pytest.skip("needs plugrad-nn and plugrad-optim installed (install_smoke.py covers core alone)")
    out = _run(
        "import sys, plugrad\n"
        "before = [m for m in ('plugrad.nn', 'plugrad.optim', 'plugrad.amp', 'plugrad.onnx') if m in sys.modules]\n"
        "lin = plugrad.nn.Linear\n"
        "print(before, lin.__name__, plugrad.optim.SGD.__name__, 'plugrad.nn' in sys.modules)"
    )
    assert out == "[] Linear SGD True"


def test_unknown_attribute_and_dir():
    with pytest.raises(AttributeError, match="module 'plugrad' has no attribute 'no_such_thing'"):
        plugrad.no_such_thing  # noqa: B018
    assert {"nn", "optim", "utils", "distributed", "amp", "autocast"} <= set(dir(plugrad))
    assert not hasattr(plugrad, "no_such_thing")


def test_missing_distribution_says_what_to_install(monkeypatch):
    from plugrad import _lazy

    monkeypatch.setitem(_lazy.SUBMODULES, "nonexistent_pkg", "plugrad-nonexistent")
    with pytest.raises(AttributeError, match=r"pip install plugrad-nonexistent"):
        _lazy.load("nonexistent_pkg")


def test_import_plugrad_stays_light():
    out = _run(
        "import sys, plugrad\n"
        "print(sorted(m for m in ('numpy', 'plugrad.nn', 'plugrad.optim', 'plugrad.amp', 'plugrad.onnx', "
        "'plugrad.utils', 'plugrad.distributed') if m in sys.modules))"
    )
    assert out == "[]"


# ----------------------------------------------------------------------------- plugrad.backends flags
def test_cudnn_and_cuda_matmul_flags():
    cudnn = plugrad.backends.cudnn
    assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32) == (True, False, False, True)
    assert cudnn.is_available() is False and cudnn.version() is None
    cudnn.benchmark = True
    try:
        assert plugrad.backends.cudnn.benchmark is True
        with pytest.raises(RuntimeError, match="set_benchmark_cudnn expects a bool, but got str"):
            cudnn.benchmark = "yes"
        with cudnn.flags(enabled=False, deterministic=True):
            assert cudnn.enabled is False and cudnn.deterministic is True
        assert cudnn.enabled is True and cudnn.deterministic is False
    finally:
        cudnn.benchmark = False
    matmul = plugrad.backends.cuda.matmul
    assert matmul.allow_tf32 is False and matmul.allow_fp16_reduced_precision_reduction is True
    try:
        matmul.allow_tf32 = True
        assert plugrad.get_float32_matmul_precision() == "high"
        plugrad.set_float32_matmul_precision("medium")
        assert matmul.allow_tf32 is True
        plugrad.set_float32_matmul_precision("highest")
        assert matmul.allow_tf32 is False
    finally:
        plugrad.set_float32_matmul_precision("highest")
    with pytest.raises(RuntimeError, match="set_allow_tf32_cublas expects a bool, but got int"):
        matmul.allow_tf32 = 1
    with pytest.raises(AttributeError, match="Unknown attribute foo"):
        matmul.foo = True
    assert plugrad.backends.mps.is_available() is False and plugrad.backends.mkldnn.is_available() is False
    assert plugrad.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2", "AVX512")
    assert isinstance(plugrad.backends.opt_einsum.is_available(), bool)


def test_float32_matmul_precision_validation():
    with pytest.raises(RuntimeError, match="set_float32_matmul_precision expects a str, but got int"):
        plugrad.set_float32_matmul_precision(3)
    with pytest.warns(UserWarning, match="foo is not one of 'highest', 'high', or 'medium'"):
        plugrad.set_float32_matmul_precision("foo")
    assert plugrad.get_float32_matmul_precision() == "highest"


def test_registry_moved_to_plugrad_plugins_with_a_deprecation_path():
    import plugrad.backends._registry as impl
    import plugrad.plugins as plugins

    assert plugins.get_registry is impl.get_registry and plugins.hookimpl is not None
    with pytest.warns(DeprecationWarning, match=r"use plugrad\.plugins\.get_registry"):
        old = plugrad.backends.get_registry
    assert old is plugins.get_registry
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from plugrad.backends import BackendSpec  # noqa: F401
    assert any("plugrad.plugins.BackendSpec" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # plugrad's own modules read the old names without a warning
        exec("from plugrad.backends import get_registry", {"__name__": "plugrad.some_module"})
    with pytest.raises(AttributeError, match="module 'plugrad.backends' has no attribute 'nope'"):
        plugrad.backends.nope  # noqa: B018


# ----------------------------------------------------------------------------- amp
def test_autocast_validates_and_restores_state():
    with pytest.raises(RuntimeError):
        plugrad.autocast("tpu")
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        plugrad.autocast(3)
    with pytest.raises(TypeError, match="enabled must be a bool"):
        plugrad.autocast("cpu", enabled="yes")
    with pytest.warns(UserWarning, match="CPU Autocast only supports dtypes of torch.bfloat16, torch.float16"):
        with plugrad.autocast("cpu", dtype=plugrad.float64):
            assert not plugrad.is_autocast_enabled("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = plugrad.autocast("cpu", dtype=plugrad.float16)
    with ctx:
        expected = "float16" in {d.name for d in plugrad.backends._registry.default_backend().dtype_to_native}
        assert plugrad.is_autocast_enabled("cpu") is expected
        assert plugrad.get_autocast_dtype("cpu") is plugrad.float16
    assert not plugrad.is_autocast_enabled("cpu")

    @plugrad.amp.autocast("cpu", enabled=False)
    def f(x):
        return x * 2, plugrad.is_autocast_enabled("cpu")

    assert f(plugrad.ones(1))[0].tolist() == [2.0] and f(plugrad.ones(1))[1] is False


def test_autocast_inputs_is_the_op_layers_hook(monkeypatch):
    from plugrad.amp import autocast_mode

    x64 = plugrad.ones(2, dtype=plugrad.float64, requires_grad=True)
    idx = plugrad.arange(2)
    assert autocast_mode.autocast_inputs(x64, idx, 3) == (x64, idx, 3)  # no region: unchanged
    # a region enabled for the CPU with float16 (which the NumPy backend stores)
    monkeypatch.setattr(autocast_mode, "_backend_has", lambda device_type, dt: True)
    with plugrad.autocast("cpu", dtype=plugrad.float16):
        a, i, n = autocast_mode.autocast_inputs(x64, idx, 3)
    assert a.dtype is plugrad.float16 and i is idx and n == 3
    a.sum().backward()  # the cast is differentiable back to the float64 leaf
    assert x64.grad.dtype is plugrad.float64 and x64.grad.tolist() == [1.0, 1.0]


def test_cuda_autocast_and_scaler_without_cuda_warn_and_disable():
    if plugrad.cuda.is_available():
        pytest.skip("a CUDA backend is available")
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ctx = plugrad.autocast("cuda")
    with ctx:
        assert not plugrad.is_autocast_enabled("cuda")
    with pytest.warns(FutureWarning, match="plugrad.cuda.amp.GradScaler"):
        scaler = plugrad.cuda.amp.GradScaler()
    assert not scaler.is_enabled() and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    loss = plugrad.ones(1)
    assert scaler.scale(loss) is loss
    from plugrad.cuda.amp import autocast  # the import path of PyTorch's old spelling

    assert callable(autocast)


class _SGD:
    """Just enough optimizer for the scaler: one param group, plain gradient steps."""

    def __init__(self, params, lr):
        self.param_groups = [{"params": list(params), "lr": lr}]
        self.steps = 0

    def step(self):
        self.steps += 1
        with plugrad.no_grad():
            for p in self.param_groups[0]["params"]:
                p.sub_(self.param_groups[0]["lr"] * p.grad)


def test_grad_scaler_dynamic_scaling_by_hand():
    p = plugrad.tensor([1.0, 2.0], requires_grad=True)
    opt = _SGD([p], lr=0.5)
    scaler = plugrad.amp.GradScaler("cpu", init_scale=8.0, growth_factor=2.0, backoff_factor=0.25, growth_interval=2)
    scales = []
    for step in range(4):
        p.grad = None
        loss = (p * p).sum()
        scaled = scaler.scale(loss)
        assert scaled.item() == loss.item() * scaler.get_scale()
        scaled.backward()
        if step == 2:  # an overflow: the step is skipped and the scale backs off
            p.grad = plugrad.tensor([float("inf"), 1.0]) * scaler.get_scale()
        before = p.tolist()
        scaler.step(opt)
        if step == 2:
            assert p.tolist() == before
        scaler.update()
        scales.append(scaler.get_scale())
    # clean, clean (grow: 8 -> 16), inf (back off: 16 -> 4), clean
    assert scales == [8.0, 16.0, 4.0, 4.0]
    assert opt.steps == 3
    # the unscaled gradients were used: p <- p - 0.5 * 2p = 0 after the first step
    assert p.tolist() == [0.0, 0.0]
    sd = scaler.state_dict()
    assert sd == {
        "scale": 4.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.25,
        "growth_interval": 2,
        "_growth_tracker": 1,
    }
    other = plugrad.amp.GradScaler("cpu")
    other.load_state_dict(sd)
    assert other.get_scale() == 4.0 and other.state_dict() == sd


def test_grad_scaler_errors_as_pytorch():
    p = plugrad.ones(1, requires_grad=True)
    opt = _SGD([p], lr=0.1)
    scaler = plugrad.amp.GradScaler("cpu")
    scaler.scale(p.sum()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called since the last update\\(\\)"):
        scaler.step(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        scaler.step(opt, closure=lambda: 0)
    with pytest.raises(ValueError, match="outputs must be a Tensor or an iterable of Tensors"):
        scaler.scale(3.0)
    with pytest.raises(ValueError, match="The growth factor must be > 1.0."):
        plugrad.amp.GradScaler("cpu", growth_factor=0.5)
    with pytest.raises(RuntimeError, match="The source state dict is empty"):
        plugrad.amp.GradScaler("cpu").load_state_dict({})


# ----------------------------------------------------------------------------- compile, onnx, types
def test_compile_takes_torch_compile_calling_conventions():
    def f(x):
        return x + 1

    x = plugrad.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for compiled in (
            plugrad.compile(f),
            plugrad.compile(f, mode="max-autotune"),
            plugrad.compile()(f),
            plugrad.compile(fullgraph=True, dynamic=False)(f),
            plugrad.compile(f, backend="inductor"),
        ):
            assert compiled is not f and compiled.__wrapped__ is f
            for _ in range(3):
                assert plugrad.equal(compiled(x), f(x))
    assert plugrad.compile(f, disable=True) is f
    assert plugrad.compile(f, backend="eager") is f


def test_onnx_is_importable_and_export_says_not_supported():
    import plugrad.onnx

    with pytest.raises(RuntimeError, match="exporting to ONNX is not supported by plugrad"):
        plugrad.onnx.export(object(), (), "model.onnx")
    assert plugrad.onnx.is_in_onnx_export() is False


def test_types_and_cpu():
    import plugrad.cpu.amp
    import plugrad.types as T

    assert isinstance(3, T.Number.__args__) and T._int is int
    assert plugrad.cpu.is_available() and plugrad.cpu.device_count() == 1
    with pytest.warns(FutureWarning, match="plugrad.amp.autocast\\('cpu'"):
        plugrad.cpu.amp.autocast(enabled=False)
