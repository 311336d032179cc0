"""plugrad.optim against PyTorch: every optimizer and scheduler, step by step."""

from __future__ import annotations

import plugrad
import pytest
from plugrad import optim

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.oracle


def grads_sequence(shape, steps, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float64).tolist() for _ in range(steps)]


OPTIMIZERS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "amsgrad": True, "betas": (0.9, 0.5)}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.2, "eps": 1e-6}),
]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS, ids=[f"{n}-{','.join(k)}" for n, k in OPTIMIZERS])
def test_optimizer_steps_match(name, kwargs):
    shapes = [(3, 2), (4,)]
    init = [grads_sequence(s, 1, seed=100 + i)[0] for i, s in enumerate(shapes)]
    ps = [plugrad.tensor(v, dtype=plugrad.float64, requires_grad=True) for v in init]
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in init]
    opt_p = getattr(optim, name)(ps, foreach=False, **kwargs)
    opt_t = getattr(torch.optim, name)(ts, foreach=False, **kwargs)
    seqs = [grads_sequence(s, 6, seed=i) for i, s in enumerate(shapes)]
    for step in range(6):
        for p, t, seq in zip(ps, ts, seqs):
            p.grad = plugrad.tensor(seq[step], dtype=plugrad.float64)
            t.grad = torch.tensor(seq[step], dtype=torch.float64)
        opt_p.step()
        opt_t.step()
        for p, t in zip(ps, ts):
            assert p.reshape(-1).tolist() == pytest.approx(t.detach().reshape(-1).tolist(), rel=1e-12, abs=1e-12)
    sd_p, sd_t = opt_p.state_dict(), opt_t.state_dict()
    assert sd_p["param_groups"] == sd_t["param_groups"]
    assert sd_p["state"].keys() == sd_t["state"].keys()
    for k in sd_t["state"]:
        assert list(sd_p["state"][k]) == list(sd_t["state"][k])
        for key, value in sd_t["state"][k].items():
            assert sd_p["state"][k][key].reshape(-1).tolist() == pytest.approx(
                value.reshape(-1).tolist(), rel=1e-12, abs=1e-12
            )


def test_float32_training_matches():
    torch.manual_seed(0)
    tm = torch.nn.Linear(3, 1)
    w, b = tm.weight.tolist(), tm.bias.tolist()
    pw = plugrad.tensor(w, requires_grad=True)
    pb = plugrad.tensor(b, requires_grad=True)
    x = torch.randn(16, 3)
    y = torch.randn(16, 1)
    xp, yp = plugrad.tensor(x.tolist()), plugrad.tensor(y.tolist())
    opt_p = optim.Adam([pw, pb], lr=0.05)
    opt_t = torch.optim.Adam(tm.parameters(), lr=0.05, foreach=False)
    for _ in range(20):
        opt_p.zero_grad()
        ((xp @ pw.t() + pb - yp) ** 2).mean().backward()
        opt_p.step()
        opt_t.zero_grad()
        ((tm(x) - y) ** 2).mean().backward()
        opt_t.step()
    assert pw.reshape(-1).tolist() == pytest.approx(tm.weight.reshape(-1).tolist(), rel=1e-4, abs=1e-5)


def test_error_messages_match():
    p, t = plugrad.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    cases = [
        ("SGD", {"lr": -0.1}),
        ("SGD", {"lr": 0.1, "nesterov": True}),
        ("SGD", {"lr": 0.1, "momentum": -0.5}),
        ("Adam", {"betas": (0.9, 1.0)}),
        ("Adam", {"eps": -1.0}),
        ("AdamW", {"weight_decay": -1.0}),
        ("RMSprop", {"alpha": -1.0}),
        ("Adagrad", {"lr_decay": -1.0}),
        ("Adagrad", {"initial_accumulator_value": -1.0}),
    ]
    for name, kwargs in cases:
        with pytest.raises(ValueError) as pe:
            getattr(optim, name)([p], **kwargs)
        with pytest.raises(ValueError) as te:
            getattr(torch.optim, name)([t], **kwargs)
        assert str(pe.value) == str(te.value)
    for make_p, make_t in [
        (lambda: optim.SGD([], lr=0.1), lambda: torch.optim.SGD([], lr=0.1)),
        (
            lambda: optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1),
            lambda: torch.optim.SGD([{"params": [t]}, {"params": [t]}], lr=0.1),
        ),
    ]:
        with pytest.raises(ValueError) as pe:
            make_p()
        with pytest.raises(ValueError) as te:
            make_t()
        assert str(pe.value) == str(te.value)


def test_repr_matches():
    p, t = plugrad.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    assert repr(optim.SGD([p], lr=0.1, momentum=0.9)) == repr(torch.optim.SGD([t], lr=0.1, momentum=0.9))
    assert repr(optim.Adam([p])) == repr(torch.optim.Adam([t]))


SCHEDULERS = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}),
    ("CosineAnnealingLR", {"T_max": 7}),
    ("LambdaLR", {"lr_lambda": lambda e: 0.95**e + 0.01 * e}),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[n for n, _ in SCHEDULERS])
def test_scheduler_sequences_match(name, kwargs):
    p, t = plugrad.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    opt_p = optim.SGD([{"params": [p]}, {"params": [], "lr": 0.3}], lr=0.1)
    opt_t = torch.optim.SGD([{"params": [t]}, {"params": [], "lr": 0.3}], lr=0.1)
    sp = getattr(optim.lr_scheduler, name)(opt_p, **kwargs)
    st = getattr(torch.optim.lr_scheduler, name)(opt_t, **kwargs)
    for _ in range(25):
        assert sp.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12)
        opt_p.step()
        opt_t.step()
        sp.step()
        st.step()
    assert sp.last_epoch == st.last_epoch
    assert opt_p.param_groups[0]["initial_lr"] == opt_t.param_groups[0]["initial_lr"]


def test_reduce_lr_on_plateau_matches():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.899, 0.8999, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
    for kwargs in (
        {"patience": 1, "factor": 0.5},
        {"patience": 0, "cooldown": 2, "min_lr": [0.02, 0.05], "threshold": 0.05, "threshold_mode": "abs"},
        {"mode": "max", "patience": 2, "factor": 0.2},
    ):
        p, t = plugrad.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
        opt_p = optim.SGD([{"params": [p]}, {"params": [], "lr": 0.3}], lr=0.1)
        opt_t = torch.optim.SGD([{"params": [t]}, {"params": [], "lr": 0.3}], lr=0.1)
        sp = optim.lr_scheduler.ReduceLROnPlateau(opt_p, **kwargs)
        st = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_t, **kwargs)
        for m in metrics:
            sp.step(m)
            st.step(m)
            assert sp.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12)
        assert sp.num_bad_epochs == st.num_bad_epochs and sp.best == st.best
