# A tiny fixture for tools/torch_names.py (never run).
import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

x = torch.randn(4, 3)
y = x.exp().sum()
z = torch.zeros(2).float().frobnicate_()
layer = nn.Linear(3, 2)
out = F.relu(layer(x))
loader = DataLoader([1, 2, 3])
torch.definitely_not_a_torch_function(x)
nn.NoSuchLayer(3)
