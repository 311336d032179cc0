"""``plugrad.nn``: modules, layers, activations, losses and initialisers.

Everything is written with plugrad tensor operations, so models run on whichever
backend their tensors live on (``model.to("cuda")`` moves them)::

    from plugrad import nn

    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    loss = nn.MSELoss()(model(x), y)

Distributed as ``plugrad-nn``; it extends plugrad-core's ``plugrad`` package.
"""

from __future__ import annotations

from . import _optimized, functional, init, modules, parallel, utils
from .modules import *  # noqa: F403  (the layer classes; modules.__all__ is their one list)
from .parameter import Parameter

__all__ = ["functional", "init", "parallel", "utils", "Parameter"]
__all__ += modules.__all__
