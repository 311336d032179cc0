"""``plugrad.nn.modules.dropout``: where PyTorch keeps its dropout layers (``torch.nn.modules.dropout``).

:class:`Dropout` is defined with the activations; this module gives it PyTorch's import path.
"""

from __future__ import annotations

from .activation import Dropout

__all__ = ["Dropout"]
