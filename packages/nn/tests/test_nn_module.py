"""Module: registration, iteration, modes, state dicts, hooks, printing; Parameter."""

from __future__ import annotations

import copy
from collections import OrderedDict

import plugrad
import pytest
from plugrad import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 1)
        self.register_buffer("steps", plugrad.zeros((), dtype=plugrad.int64))
        self.register_buffer("scratch", plugrad.zeros(2), persistent=False)
        self.scale = nn.Parameter(plugrad.ones(1))

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) * self.scale


# ------------------------------------------------------------------ Parameter
def test_parameter_shares_data_and_requires_grad():
    t = plugrad.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, plugrad.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf
    with plugrad.no_grad():
        p.add_(1)
    assert t.tolist() == [2.0, 3.0]  # same values, no copy
    assert not nn.Parameter(plugrad.ones(1), requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)


def test_parameter_repr():
    p = nn.Parameter(plugrad.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    q = nn.Parameter(plugrad.tensor([1.0]), requires_grad=False)
    assert repr(q) == "Parameter containing:\ntensor([1.])"


def test_parameter_of_ints_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(plugrad.tensor([1, 2]))
    assert nn.Parameter(plugrad.tensor([1, 2]), requires_grad=False).dtype is plugrad.int64


def test_parameter_rejects_non_tensors():
    with pytest.raises(TypeError, match="must be Tensor"):
        nn.Parameter([1.0, 2.0])  # type: ignore[arg-type]


def test_operations_on_parameters_give_plain_tensors():
    p = nn.Parameter(plugrad.ones(2))
    assert type(p * 2) is plugrad.Tensor
    assert type(p.detach()) is plugrad.Tensor


# ------------------------------------------------------------------ registration
def test_registration_by_assignment():
    net = Net()
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["fc1", "act", "fc2"]
    assert list(net._buffers) == ["steps", "scratch"]
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_buffers()] == ["steps", "scratch"]
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "fc2"]
    assert len(list(net.modules())) == 4
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_parameters(prefix="model")][1] == "model.fc1.weight"


def test_shared_parameters_and_modules_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4


def test_reassigning_changes_registry():
    net = Net()
    net.fc1 = None
    assert net.fc1 is None and "fc1" in net._modules
    assert [n for n, _ in net.named_parameters()] == ["scale", "fc2.weight", "fc2.bias"]
    net.scale = None
    assert net.scale is None
    net.steps = plugrad.ones((), dtype=plugrad.int64)
    assert net._buffers["steps"].item() == 1
    del net.act
    assert "act" not in net._modules
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'act'"):
        net.act  # noqa: B018


def test_assignment_errors():
    net = Net()
    with pytest.raises(
        TypeError,
        match=r"cannot assign 'plugrad.FloatTensor' as parameter 'scale' \(plugrad.nn.Parameter or None expected\)",
    ):
        net.scale = plugrad.ones(1)
    with pytest.raises(TypeError, match="as child module 'fc1'"):
        net.fc1 = 3
    with pytest.raises(TypeError, match="as buffer 'steps'"):
        net.steps = 3
    with pytest.raises(KeyError, match="attribute 'fc1' already exists"):
        net.register_buffer("fc1", plugrad.ones(1))
    with pytest.raises(KeyError, match=r'contain "."'):
        net.register_parameter("a.b", None)
    with pytest.raises(TypeError, match=r"plugrad.nn.Parameter or None required"):
        net.register_parameter("w", plugrad.ones(1))

    class Early(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(plugrad.ones(1))

    with pytest.raises(AttributeError, match=r"before Module.__init__\(\) call"):
        Early()


def test_non_leaf_parameter_is_rejected():
    w = plugrad.ones(2, requires_grad=True)
    m = nn.Module()
    with pytest.raises(ValueError, match="Cannot assign non-leaf Tensor"):
        m.register_parameter("w", _nonleaf(w))


def _nonleaf(w):
    p = nn.Parameter(w.detach())
    p._grad_fn = (w * 2).grad_fn  # a parameter with history
    return p


def test_missing_forward():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward" function'):
        nn.Module()(plugrad.ones(1))


def test_get_submodule_and_parameter():
    net = nn.Sequential(OrderedDict(block=Net()))
    assert net.get_submodule("block.fc1") is net.block.fc1
    assert net.get_parameter("block.fc2.bias") is net.block.fc2.bias
    assert net.get_buffer("block.steps") is net.block.steps
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("block.nope")


# ------------------------------------------------------------------ modes and grads
def test_train_eval_and_apply():
    net = nn.Sequential(nn.Linear(1, 1), nn.Dropout(0.5))
    assert net.training and net[1].training
    assert net.eval() is net
    assert not net.training and not net[1].training
    net.train()
    assert net[1].training
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Dropout", "Sequential"]  # children first
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")  # type: ignore[arg-type]


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(plugrad.ones(4, 2)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any().item() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_to_dtype_keeps_parameter_identity_and_int_buffers():
    net = Net()
    w = net.fc1.weight
    net(plugrad.ones(1, 2)).sum().backward()
    assert net.to(plugrad.float64) is net
    assert net.fc1.weight is w and w.dtype is plugrad.float64 and w.requires_grad
    assert w.grad.dtype is plugrad.float64
    assert net.steps.dtype is plugrad.int64
    assert net(plugrad.ones(1, 2, dtype=plugrad.float64)).dtype is plugrad.float64
    net.float()
    assert w.dtype is plugrad.float32
    net.to("cpu")
    net.to(device="numpy", dtype=plugrad.float64)
    assert w.dtype is plugrad.float64
    with pytest.raises(TypeError, match="only accepts floating point"):
        net.to(plugrad.int32)


# ------------------------------------------------------------------ state dicts
def test_state_dict_contents_and_order():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]  # no "scratch"
    assert not sd["fc1.weight"].requires_grad
    with plugrad.no_grad():
        net.fc1.weight.add_(1)
    assert sd["fc1.weight"].tolist() == net.fc1.weight.tolist()  # shares values
    assert net.state_dict(keep_vars=True)["fc1.weight"] is net.fc1.weight
    assert next(iter(net.state_dict(prefix="m."))) == "m.scale"


def test_load_state_dict_copies_values():
    a, b = Net(), Net()
    result = b.load_state_dict(a.state_dict())
    assert repr(result) == "<All keys matched successfully>"
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2 and p1.tolist() == p2.tolist() and p1 is not p2
    with plugrad.no_grad():
        a.fc1.weight.add_(1)
    assert a.fc1.weight.tolist() != b.fc1.weight.tolist()  # copied, not shared


def test_load_state_dict_reports_missing_and_unexpected_keys():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"]
    del sd["steps"]
    sd["fc3.weight"] = plugrad.ones(1)
    sd["extra"] = plugrad.ones(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    assert str(info.value) == (
        "Error(s) in loading state_dict for Net:\n"
        '\tMissing key(s) in state_dict: "steps", "fc1.bias". \n'
        '\tUnexpected key(s) in state_dict: "fc3.weight", "extra". '
    )
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["steps", "fc1.bias"]
    assert result.unexpected_keys == ["fc3.weight", "extra"]


def test_load_state_dict_size_mismatch_even_when_not_strict():
    net = nn.Linear(2, 3)
    sd = {"weight": plugrad.zeros(3, 4), "bias": plugrad.zeros(3)}
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd, strict=False)
    assert "size mismatch for weight: copying a param with shape plugrad.Size([3, 4]) from checkpoint, " in str(
        info.value
    )
    assert "the shape in current model is plugrad.Size([3, 2])." in str(info.value)


def test_load_state_dict_assign_and_type_errors():
    net = nn.Linear(2, 1)
    new_w = plugrad.full((1, 2), 7.0)
    net.load_state_dict({"weight": new_w, "bias": plugrad.zeros(1)}, assign=True)
    assert net.weight.tolist() == [[7.0, 7.0]] and isinstance(net.weight, nn.Parameter) and net.weight.requires_grad
    with pytest.raises(RuntimeError, match=r"expected plugrad.Tensor"):
        net.load_state_dict({"weight": [[1.0, 2.0]], "bias": plugrad.zeros(1)})
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([1, 2])  # type: ignore[arg-type]


def test_state_dict_round_trip_through_a_file(tmp_path):
    a = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    plugrad.save(a.state_dict(), tmp_path / "model.safetensors")
    b = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    b.load_state_dict(plugrad.load(tmp_path / "model.safetensors"))
    x = plugrad.randn(5, 3)
    assert a(x).tolist() == b(x).tolist()


# ------------------------------------------------------------------ hooks
def test_forward_pre_hook_and_forward_hook():
    lin = nn.Linear(1, 1)
    nn.init.ones_(lin.weight)
    nn.init.zeros_(lin.bias)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    h2 = lin.register_forward_hook(lambda m, args, out: out + 1)
    lin.register_forward_hook(lambda m, args, out: calls.append((m, args[0].tolist(), out.tolist())))
    out = lin(plugrad.tensor([[3.0]]))
    assert out.tolist() == [[7.0]]  # (3 * 2) * 1 + 0, then + 1
    assert calls == [(lin, [[6.0]], [[7.0]])]
    h1.remove()
    h2.remove()
    assert lin(plugrad.tensor([[3.0]])).tolist() == [[3.0]]


def test_pre_hook_returning_a_single_value_and_prepend():
    lin = nn.Identity()
    order = []
    lin.register_forward_pre_hook(lambda m, args: order.append("a"))
    lin.register_forward_pre_hook(lambda m, args: order.append("b"), prepend=True)
    lin.register_forward_pre_hook(lambda m, args: args[0] + 10)
    assert lin(plugrad.tensor(1.0)).item() == 11.0
    assert order == ["b", "a"]


def test_hooks_with_kwargs_and_always_call():
    class Scale(nn.Module):
        def forward(self, x, *, factor=1.0):
            if factor < 0:
                raise ValueError("negative")
            return x * factor

    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {**kwargs, "factor": 3.0}), with_kwargs=True)
    seen = []
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["factor"]), with_kwargs=True)
    assert m(plugrad.tensor(2.0), factor=5.0).item() == 6.0
    assert seen == [3.0]

    n = Scale()
    after = []
    n.register_forward_hook(lambda mod, args, out: after.append(out), always_call=True)
    with pytest.raises(ValueError, match="negative"):
        n(plugrad.tensor(1.0), factor=-1.0)
    assert after == [None]


def test_handle_as_context_manager():
    m = nn.Identity()
    with m.register_forward_hook(lambda mod, args, out: out * 0):
        assert m(plugrad.tensor(5.0)).item() == 0.0
    assert m(plugrad.tensor(5.0)).item() == 5.0


# ------------------------------------------------------------------ printing and copying
def test_repr_of_a_tree():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (fc1): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (act): ReLU()\n"
        "  (fc2): Linear(in_features=3, out_features=1, bias=True)\n"
        ")"
    )
    nested = nn.Sequential(nn.Sequential(nn.Linear(1, 1, bias=False)), nn.Dropout(0.2))
    assert repr(nested) == (
        "Sequential(\n"
        "  (0): Sequential(\n"
        "    (0): Linear(in_features=1, out_features=1, bias=False)\n"
        "  )\n"
        "  (1): Dropout(p=0.2, inplace=False)\n"
        ")"
    )


def test_extra_repr_with_children_and_multiline():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Identity()

        def extra_repr(self) -> str:
            return "size=3"

    assert repr(Block()) == "Block(\n  size=3\n  (inner): Identity()\n)"


def test_deepcopy_makes_independent_parameters():
    net = Net()
    clone = copy.deepcopy(net)
    assert clone.fc1.weight is not net.fc1.weight
    assert clone.fc1.weight.tolist() == net.fc1.weight.tolist()
    assert isinstance(clone.fc1.weight, nn.Parameter) and clone.fc1.weight.requires_grad
    with plugrad.no_grad():
        clone.fc1.weight.add_(1)
    assert clone.fc1.weight.tolist() != net.fc1.weight.tolist()
    assert clone.steps is not net.steps
    x = plugrad.ones(1, 2)
    clone(x).sum().backward()
    assert clone.fc1.weight.grad is not None and net.fc1.weight.grad is None
