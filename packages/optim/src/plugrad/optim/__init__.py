"""``plugrad.optim``: optimizers and learning-rate schedulers.

Written with plugrad tensor operations (in-place updates under ``no_grad``), so they
work on every backend. Distributed as ``plugrad-optim``; it extends plugrad-core's
``plugrad`` package::

    from plugrad import optim

    opt = optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad(); loss.backward(); opt.step()
"""

from __future__ import annotations

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Adagrad",
    "LBFGS",
    "lr_scheduler",
]
