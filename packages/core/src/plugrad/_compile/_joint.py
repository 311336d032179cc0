"""The autograd side of a replayed call whose results the caller differentiates.

Its node is named ``CompiledFunctionBackward``, as PyTorch names the node of a compiled
region; its backward replays the recorded backward program of the call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._tensor import Tensor, _make
from ..autograd import function as _fn
from ..autograd.grad_mode import _state as _grad_state
from ._recorder import _DATA

if TYPE_CHECKING:
    from ._compiled import _Joint

__all__ = ["CompiledFunction", "JointCall"]


class JointCall:
    """One replayed call's forward values, kept for its backward."""

    __slots__ = ("joint", "env", "outputs")

    def __init__(self, joint: _Joint, env: list[Any], outputs: list[Tensor]) -> None:
        self.joint = joint
        self.env = env
        self.outputs = outputs


class CompiledFunction(_fn.Function):
    """Connects a replayed call's results to the graph: its backward replays the recorded backward."""

    @staticmethod
    def forward(ctx: Any, state: JointCall, *leaves: Tensor) -> Any:
        ctx.state = state
        ctx.save_for_backward(*leaves)  # the caller changing one in place before backward is an error, as in eager
        outs = state.outputs
        return outs[0] if len(outs) == 1 else tuple(outs)

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        if _grad_state.enabled:
            raise RuntimeError(
                "plugrad.compile does not support double backward: a compiled function's backward was asked "
                "for a graph (create_graph=True); for higher-order gradients call the function eagerly "
                "(wrap it in plugrad.compiler.disable, or do not compile it)"
            )
        leaves = ctx.saved_tensors
        state: JointCall = ctx.state
        joint = state.joint
        env = list(state.env)
        for slot, g, out in zip(joint.grad_slots, grads, state.outputs):
            if g is None:
                be = out._backend
                env[slot] = be.zeros(tuple(_DATA.__get__(out).shape), be.dtype_to_native[out._dtype])
            else:
                env[slot] = _DATA.__get__(g)
        assert joint.runner is not None
        joint.runner(env)
        result: list[Any] = [None]
        for leaf, gslot in zip(leaves, joint.leaf_grad_slots):
            result.append(None if gslot is None else _make(Tensor, env[gslot], leaf._dtype, leaf._backend))
        return tuple(result)
