# A second fixture file: aliases and from-imports.
import torch as T
from torch import optim

w = T.ones(2, requires_grad=True)
opt = optim.SGD([w], lr=0.1)
T.cuda.is_available()
optim.NoSuchOptimizer  # noqa: B018
