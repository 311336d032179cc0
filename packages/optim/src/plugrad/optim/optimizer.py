"""The :class:`Optimizer` base class: parameter groups, per-parameter state, state dicts."""

from __future__ import annotations

import copy
import functools
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import plugrad
from plugrad import Tensor
from plugrad.compiler import assume_constant, is_compiling

from ._common import beta1_scheduled, option_view

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks an option without a default (a group must give it)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required: Any = _RequiredParameter()


#: Options that are numbers (a float, an int, or a 0-d floating tensor such as a tensor ``lr``).
_NUMBER_OPTIONS = frozenset(
    {
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
        "alpha",
        "eps",
        "lr_decay",
        "initial_accumulator_value",
        "momentum_decay",
    }
)
_FLAG_OPTIONS = frozenset({"nesterov", "maximize", "amsgrad", "centered", "differentiable", "decoupled_weight_decay"})
_OPTIONAL_FLAGS = frozenset({"foreach", "fused", "capturable"})


def _is_number(v: object) -> bool:
    if isinstance(v, Tensor):
        return v.ndim == 0 and v.is_floating_point()
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_options(optimizer: str, group: dict[str, Any]) -> None:
    """Refuse option values of the wrong kind when a group is added or loaded, not at the next step."""
    for name, value in group.items():
        if name in _NUMBER_OPTIONS and not _is_number(value):
            raise TypeError(f"{optimizer}: option {name!r} must be a number, got {value!r}")
        if name == "betas" and not (
            isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_number(b) for b in value)
        ):
            raise TypeError(f"{optimizer}: option 'betas' must be a pair of numbers, got {value!r}")
        if name in _FLAG_OPTIONS and not isinstance(value, bool):
            raise TypeError(f"{optimizer}: option {name!r} must be a bool, got {value!r}")
        if name in _OPTIONAL_FLAGS and value is not None and not isinstance(value, bool):
            raise TypeError(f"{optimizer}: option {name!r} must be a bool or None, got {value!r}")


def _check_loaded_state(state: Any, id_map: dict[Any, Tensor], own_keys: frozenset[str] = frozenset()) -> None:
    """Every per-parameter buffer of a loaded state must fit its parameter (checked before anything changes).

    Entries named in ``own_keys`` are left to the optimizer, which checks them itself."""
    if not isinstance(state, dict):
        raise ValueError(f"optimizer state_dict['state'] must be a dict, got {type(state).__name__}")
    for key, entry in state.items():
        param = id_map.get(key)
        if param is None:
            continue
        if not isinstance(entry, dict):
            raise ValueError(f"the loaded state of parameter {key!r} must be a dict, got {type(entry).__name__}")
        for name, value in entry.items():
            if name in own_keys:
                continue
            if name == "step":
                if not (_is_number(value) or (isinstance(value, Tensor) and value.numel() == 1)):
                    raise ValueError(f"the loaded 'step' of parameter {key!r} must be a number, got {value!r}")
                step = value.item() if isinstance(value, Tensor) else value
                if not 0 <= step < float("inf"):
                    raise ValueError(f"the loaded 'step' of parameter {key!r} must be a count >= 0, got {step!r}")
            elif isinstance(value, Tensor):
                if value.shape != param.shape:
                    raise ValueError(
                        f"the loaded {name!r} of parameter {key!r} has shape {list(value.shape)}, "
                        f"but the parameter has shape {list(param.shape)}"
                    )
                if param.is_floating_point() and not value.is_floating_point():
                    raise ValueError(f"the loaded {name!r} of parameter {key!r} is {value.dtype}, not floating point")
            elif value is not None:
                raise ValueError(
                    f"the loaded {name!r} of parameter {key!r} must be a tensor, got {type(value).__name__}"
                )


def _typename(obj: object) -> str:
    if isinstance(obj, Tensor):
        return f"plugrad.{obj.dtype.to_legacy_type_name()}"
    module = type(obj).__module__
    name = type(obj).__qualname__
    return name if module in ("builtins", None) else f"{module}.{name}"


class _Layout:
    """A guard of compiled steps: ``_Layout(opt)["ids"]`` is the identities of the optimizer's
    ``param_groups`` list and dicts, its ``state`` dict, each parameter's state dict and every
    value in it. A replay compares them with those of the recorded step, so one after
    :meth:`Optimizer.add_param_group`, :meth:`Optimizer.load_state_dict`, ``opt.state.clear()``
    or ``opt.state[p]["momentum_buffer"] = ...`` records again instead of updating the old
    tensors. (The recorded program keeps the old tensors alive, so their ids are not reused.)
    """

    __slots__ = ("opt",)

    def __init__(self, opt: Optimizer) -> None:
        self.opt = opt

    def __getitem__(self, key: str) -> tuple[int, ...]:
        opt = self.opt
        groups = opt.param_groups
        state = opt.state
        ids = [id(groups), id(state)]
        for group in groups:
            ids.append(id(group))
            for p in group["params"]:
                st = state.get(p)
                if st is None:
                    ids.append(0)
                else:
                    ids.append(id(st))
                    ids.extend(map(id, st.values()))
        return tuple(ids)


class Optimizer:
    """Base class of all optimizers.

    :param params: an iterable of tensors, or of dicts that define parameter groups
        (``{"params": [...], "lr": 0.01}``); options a group leaves out come from
        ``defaults``.
    :param defaults: the optimizer's options and their default values.

    ``param_groups`` is a list of dicts (``"params"`` plus every option), ``state`` maps
    each parameter to a dict of its buffers (momentum, moving averages, step count).
    Subclasses implement :meth:`step` with in-place tensor updates under ``no_grad``
    (under grad mode where the optimizer was built with ``differentiable=True``).

    ``foreach`` and ``fused`` are accepted where PyTorch has them and change nothing:
    they choose PyTorch's kernel strategy (one kernel per parameter, per list, or one
    fused kernel), and plugrad has one update path, written with tensor operations.

    Under :func:`plugrad.compile`, a recorded :meth:`step` relies on every option of
    every group (``betas``, ``eps``, ...: see :func:`plugrad.compiler.assume_constant`) and
    on the groups and state it ran with: a replay checks that the options still have
    their values (changing ``eps`` makes the step record again) and that no
    :meth:`add_param_group` or :meth:`load_state_dict` came in between. The options that
    schedulers change from step to step are read as scalar inputs instead
    (:func:`plugrad.compiler.scalar`), so one program serves every value: ``lr``, a nonzero
    ``momentum`` (whether it is zero stays a guard) and, where OneCycleLR cycles it,
    ``betas[0]`` (see :mod:`plugrad.optim._common`).
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._opt_called = False
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + _typename(params)
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_records_call", False):
            # remember that step() ran, so a scheduler can warn about calls in the wrong order

            @functools.wraps(step)
            def recorded(self: Optimizer, *args: Any, **kw: Any) -> Any:
                self._opt_called = True
                if is_compiling():
                    self._assume_constant_options()
                return step(self, *args, **kw)

            recorded._records_call = True  # type: ignore[attr-defined]
            cls.step = recorded  # type: ignore[method-assign]

    def _assume_constant_options(self) -> None:
        """While ``plugrad.compile`` records a step: the program relies on the groups' options and on
        finding the same groups, state dicts and state tensors where the step looks for them."""
        layout = self.__dict__.get("_layout")
        if layout is None:  # one per optimizer: a recording tells guards apart by their container
            layout = self._layout = _Layout(self)
        assume_constant(layout, "ids")
        for i, group in enumerate(self.param_groups):
            cycled = beta1_scheduled(group)
            for key in group:
                if key == "params":
                    continue
                if key == "betas" and cycled:  # betas[0] is read as a scalar (see _common.StepScalars)
                    assume_constant(option_view(self), (i, "beta", 1))
                else:
                    assume_constant(group, key)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (those it leaves out take the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in sets "
                "will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)
        for param in param_group["params"]:
            if not isinstance(param, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an error",
                stacklevel=3,
            )
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        _check_options(type(self).__name__, param_group)
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters: to ``None`` (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    else:
                        g.requires_grad_(False)
                    g.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters once; ``closure`` (re-evaluating the loss) is called first if given."""
        raise NotImplementedError

    #: per-parameter state entries whose form only the optimizer knows (see :meth:`_check_own_state`)
    _own_state_keys: frozenset[str] = frozenset()

    def _check_own_state(self, state: dict[Any, Any], id_map: dict[Any, Tensor]) -> None:
        """Check the loaded entries named in :attr:`_own_state_keys` (``ValueError`` if one is malformed)."""

    def _step_grad_mode(self) -> Any:
        """The grad mode a step runs its updates in: off, unless built with ``differentiable=True``
        (then the update is recorded, so a loss computed from the new parameters can be
        differentiated through it, as PyTorch's ``differentiable`` option does)."""
        return plugrad.set_grad_enabled(bool(self.defaults.get("differentiable", False)))

    @staticmethod
    def _check_capturable(group: dict[str, Any]) -> None:
        """``capturable=True`` keeps the step count on the device for graph capture: PyTorch
        refuses it for CPU parameters at the first step, and so does plugrad."""
        if group.get("capturable"):
            for p in group["params"]:
                if p.device.type == "cpu":
                    raise RuntimeError(
                        "If capturable=True, params and state_steps must be on supported devices: "
                        "['cuda', 'xpu', 'hpu', 'privateuseone', 'xla']."
                    )

    @staticmethod
    def _closure_loss(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with plugrad.enable_grad():
            return closure()

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are replaced by their position in the order of ``param_groups``; the
        tensors in ``state`` are the optimizer's own (save them with :func:`plugrad.save`).
        A parameter's ``step`` is a float32 0-d tensor (as PyTorch keeps it) whether the steps
        ran eagerly or under :func:`plugrad.compile`, which advances the same tensor in place.
        """
        index: dict[int, int] = {}
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            packed_groups.append(packed)
        packed_state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`: options per group and every parameter's state.

        The groups must have the same sizes as this optimizer's. State tensors are copied
        (floating ones cast to their parameter's dtype and device, except ``step``).
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("optimizer state_dict must be a dict with the keys 'state' and 'param_groups'")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        for saved in saved_groups:
            _check_options(type(self).__name__, saved)
        id_map = dict(
            zip(
                chain.from_iterable(s["params"] for s in saved_groups), chain.from_iterable(g["params"] for g in groups)
            )
        )
        _check_loaded_state(state_dict["state"], id_map, self._own_state_keys)
        self._check_own_state(state_dict["state"], id_map)

        def cast(param: Tensor, value: Any, key: Any = None) -> Any:
            if key == "step" and _is_number(value) and not isinstance(value, Tensor):
                return plugrad.tensor(float(value))  # a plain number (an older state dict): a tensor, as saved now
            if isinstance(value, Tensor):
                if key == "step":
                    return value.clone()
                if param.is_floating_point() and value.is_floating_point():
                    return value.to(dtype=param.dtype, device=param.device, copy=True)
                return value.to(device=param.device, copy=True)
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return value

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = cast(param, v)
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups
