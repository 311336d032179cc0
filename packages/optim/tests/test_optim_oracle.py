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
    ("Adamax", {"lr": 0.01}),
    ("Adamax", {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-3, "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {"lr": 0.01}),
    ("NAdam", {"lr": 0.02, "betas": (0.8, 0.95), "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "betas": (0.5, 0.6), "weight_decay": 0.1}),  # rho_t > 5 from the third step on
    ("RAdam", {"lr": 0.02, "weight_decay": 0.2, "decoupled_weight_decay": True, "maximize": True}),
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
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.9 + 0.001 * e}),
    ("ConstantLR", {}),
    ("ConstantLR", {"factor": 0.25, "total_iters": 7}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.6, "total_iters": 9}),
    ("PolynomialLR", {}),
    ("PolynomialLR", {"total_iters": 12, "power": 2.5}),
    ("CosineAnnealingWarmRestarts", {"T_0": 4}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.005}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 26}),
    ("OneCycleLR", {"max_lr": [0.5, 2.0], "epochs": 2, "steps_per_epoch": 13, "anneal_strategy": "linear"}),
    ("OneCycleLR", {"max_lr": 0.8, "total_steps": 30, "three_phase": True, "pct_start": 0.4, "div_factor": 5.0}),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[n for n, _ in SCHEDULERS])
def test_scheduler_sequences_match(name, kwargs):
    p, t = plugrad.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    opt_p = optim.SGD([{"params": [p]}, {"params": [], "lr": 0.3}], lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD([{"params": [t]}, {"params": [], "lr": 0.3}], lr=0.1, momentum=0.9)
    sp = getattr(optim.lr_scheduler, name)(opt_p, **kwargs)
    st = getattr(torch.optim.lr_scheduler, name)(opt_t, **kwargs)
    for _ in range(25):
        assert sp.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12)
        assert [g["momentum"] for g in opt_p.param_groups] == pytest.approx(
            [g["momentum"] for g in opt_t.param_groups], rel=1e-12
        )
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


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_accepted_as_pytorch_does_on_cpu(name):
    """PyTorch 2.13 takes fused=True on the CPU for these four; plugrad accepts it with the same results."""
    init = grads_sequence((5,), 1, seed=7)[0]
    p = plugrad.tensor(init, dtype=plugrad.float64, requires_grad=True)
    t = torch.tensor(init, dtype=torch.float64, requires_grad=True)
    opt_p = getattr(optim, name)([p], lr=0.05, fused=True)
    opt_t = getattr(torch.optim, name)([t], lr=0.05, fused=True)
    for grad in grads_sequence((5,), 4, seed=8):
        p.grad, t.grad = plugrad.tensor(grad, dtype=plugrad.float64), torch.tensor(grad, dtype=torch.float64)
        opt_p.step()
        opt_t.step()
    assert p.tolist() == pytest.approx(t.tolist(), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", ["Adamax", "NAdam", "RAdam", "RMSprop"])
def test_fused_refused_where_pytorch_has_no_such_option(name):
    with pytest.raises(TypeError):
        getattr(torch.optim, name)([torch.ones(1, requires_grad=True)], fused=True)
    with pytest.raises(TypeError):
        getattr(optim, name)([plugrad.ones(1, requires_grad=True)], fused=True)


@pytest.mark.parametrize("name", ["Adam", "Adamax", "NAdam", "RAdam", "RMSprop"])
def test_capturable_on_cpu_refused_at_step_as_pytorch(name):
    t = torch.ones(2, requires_grad=True)
    opt_t = getattr(torch.optim, name)([t], capturable=True)
    t.grad = torch.ones(2)
    with pytest.raises(AssertionError) as te:
        opt_t.step()
    p = plugrad.ones(2, requires_grad=True)
    opt_p = getattr(optim, name)([p], capturable=True)
    p.grad = plugrad.ones(2)
    with pytest.raises(RuntimeError) as pe:
        opt_p.step()
    assert str(pe.value).split(":")[0] == str(te.value).split(":")[0].replace(", mu_products", "")


def test_differentiable_step_matches_pytorch_gradient():
    """differentiable=True records the update: the gradient of a loss at the updated
    parameters with respect to the starting point flows through the step."""
    init, grad_seed = [0.5, -1.5, 2.0], [0.3, -0.2, 0.1]
    results = []
    for lib, opt_mod in ((plugrad, optim), (torch, torch.optim)):
        w0 = lib.tensor(init, dtype=lib.float64, requires_grad=True)
        w = w0 * 1.0  # a non-leaf: updated in place under grad mode
        w.retain_grad()
        opt = opt_mod.SGD([w], lr=0.1, momentum=0.9, differentiable=True)
        w.grad = (w0 * w0 * lib.tensor(grad_seed, dtype=lib.float64)).detach()
        w.grad.requires_grad_(False)
        opt.step()
        (w * w).sum().backward()
        results.append(w0.grad.tolist())
    assert results[0] == pytest.approx(results[1], rel=1e-12)


def _rosenbrock(lib, x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 1, "line_search_fn": "strong_wolfe"},
        {"lr": 0.5, "line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 7},
        {"lr": 1e-3},
        {"lr": 2e-3, "max_iter": 5, "history_size": 2},
    ],
)
def test_lbfgs_iterates_match_on_rosenbrock(kwargs):
    iterates = []
    for lib, opt_mod in ((plugrad, optim), (torch, torch.optim)):
        x = lib.tensor([-1.5, 2.0], dtype=lib.float64, requires_grad=True)
        opt = opt_mod.LBFGS([x], **kwargs)
        evals = [0]

        def closure(opt=opt, lib=lib, x=x, evals=evals):
            evals[0] += 1
            opt.zero_grad()
            loss = _rosenbrock(lib, x)
            loss.backward()
            return loss

        path = []
        for _ in range(6):
            loss = opt.step(closure)
            path.append((float(loss.detach()), *x.tolist()))
        st = opt.state[x]
        iterates.append((path, evals[0], st["func_evals"], st["n_iter"]))
    (pp, pe, pf, pn), (tp, te, tf, tn) = iterates
    assert (pe, pf, pn) == (te, tf, tn)  # the same decisions: iterations, evaluations, line-search branches
    # the same points up to rounding: dot products may round differently (BLAS with or without FMA),
    # and Rosenbrock's condition number (about 2500 at the minimum) amplifies that over 6 x 20 iterations
    for a, b in zip(pp, tp):
        assert a == pytest.approx(b, rel=1e-7, abs=1e-10)


def test_lbfgs_strong_wolfe_converges_like_pytorch_on_a_model():
    torch.manual_seed(0)
    x = torch.randn(32, 3, dtype=torch.float64)
    y = torch.sin(x).sum(1, keepdim=True)
    w0 = torch.randn(3, 1, dtype=torch.float64) * 0.1
    finals = []
    for lib, opt_mod in ((plugrad, optim), (torch, torch.optim)):
        xs, ys = lib.tensor(x.tolist(), dtype=lib.float64), lib.tensor(y.tolist(), dtype=lib.float64)
        w = lib.tensor(w0.tolist(), dtype=lib.float64, requires_grad=True)
        b = lib.zeros(1, dtype=lib.float64, requires_grad=True)
        opt = opt_mod.LBFGS([w, b], line_search_fn="strong_wolfe", max_iter=10)

        def closure(opt=opt, lib=lib, xs=xs, ys=ys, w=w, b=b):
            opt.zero_grad()
            loss = ((lib.tanh(xs @ w + b) - ys) ** 2).mean()
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        finals.append(w.reshape(-1).tolist() + b.tolist())
    assert finals[0] == pytest.approx(finals[1], rel=1e-8, abs=1e-10)


def test_lbfgs_errors_match():
    p, t = plugrad.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    with pytest.raises(ValueError) as pe:
        optim.LBFGS([{"params": [p]}, {"params": [plugrad.ones(1, requires_grad=True)]}])
    with pytest.raises(ValueError) as te:
        torch.optim.LBFGS([{"params": [t]}, {"params": [torch.ones(1, requires_grad=True)]}])
    assert str(pe.value) == str(te.value)
    assert optim.LBFGS([p]).defaults == torch.optim.LBFGS([t]).defaults


def _pair(make_sched, n_steps=30, opt_name="SGD", **opt_kwargs):
    """Run the same schedule on plugrad and PyTorch; return both lr histories and the optimizers."""
    out = []
    for lib, mod in ((plugrad, optim), (torch, torch.optim)):
        p = lib.ones(1, requires_grad=True)
        opt = getattr(mod, opt_name)([{"params": [p]}, {"params": [], "lr": 0.3}], lr=0.1, **opt_kwargs)
        sched = make_sched(mod.lr_scheduler, opt)
        hist = []
        for _ in range(n_steps):
            hist.extend(sched.get_last_lr())
            opt.step()
            sched.step()
        out.append((hist, opt))
    return out


def test_sequential_lr_matches():
    (hp, _), (ht, _) = _pair(
        lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, 0.1, total_iters=4), m.ExponentialLR(o, 0.9), m.StepLR(o, 3)], milestones=[5, 12]
        )
    )
    assert hp == pytest.approx(ht, rel=1e-12)


def test_chained_scheduler_matches():
    (hp, _), (ht, _) = _pair(lambda m, o: m.ChainedScheduler([m.ConstantLR(o, 0.5, 4), m.ExponentialLR(o, 0.95)]))
    assert hp == pytest.approx(ht, rel=1e-12)


def test_one_cycle_cycles_adam_beta1_and_refuses_extra_steps():
    (hp, op), (ht, ot) = _pair(lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=20), n_steps=20, opt_name="Adam")
    assert hp == pytest.approx(ht, rel=1e-12)
    assert [g["betas"] for g in op.param_groups] == [g["betas"] for g in ot.param_groups]
    for mod, opt in ((optim, op), (torch.optim, ot)):
        sched = mod.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=2)
        opt.step()
        sched.step()
        sched.step()  # step 2 of 2 (the constructor made step 0)
        with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total steps is 2"):
            sched.step()


def test_warm_restarts_with_fractional_epochs_match():
    res = []
    for lib, mod in ((plugrad, optim), (torch, torch.optim)):
        opt = mod.SGD([lib.ones(1, requires_grad=True)], lr=0.2)
        sched = mod.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3, eta_min=0.01)
        hist = []
        for i in range(40):
            opt.step()
            sched.step(i / 4)
            hist.append(sched.get_last_lr()[0])
        res.append(hist)
    assert res[0] == pytest.approx(res[1], rel=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda m, o: m.ConstantLR(o, factor=1.5),
        lambda m, o: m.LinearLR(o, start_factor=0.0),
        lambda m, o: m.LinearLR(o, end_factor=1.5),
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0),
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
        lambda m, o: m.OneCycleLR(o, max_lr=0.1),
        lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5),
        lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="step"),
        lambda m, o: m.SequentialLR(o, [m.ExponentialLR(o, 0.9)], milestones=[3]),
        lambda m, o: m.SequentialLR(o, [m.ReduceLROnPlateau(o)], milestones=[]),
        lambda m, o: m.ChainedScheduler([]),
    ],
)
def test_scheduler_errors_match(make):
    msgs = []
    for lib, mod in ((plugrad, optim), (torch, torch.optim)):
        opt = mod.SGD([lib.ones(1, requires_grad=True)], lr=0.2)
        with pytest.raises((ValueError, TypeError)) as e:
            make(mod.lr_scheduler, opt)
        msgs.append((type(e.value), str(e.value)))
    assert msgs[0] == msgs[1]
