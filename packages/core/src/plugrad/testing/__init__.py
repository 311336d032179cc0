"""Testing tools: ``assert_close`` (PyTorch's), and the conformance suite every backend runs against itself.

- :func:`plugrad.testing.assert_close`: ``torch.testing.assert_close`` for plugrad tensors,
  numbers and nested sequences/mappings, with PyTorch's tolerances and messages;
- :mod:`plugrad.testing.conformance`: :class:`~plugrad.testing.conformance.BackendConformance`,
  the suite as a class to subclass in a backend's tests (it needs pytest);
- :mod:`plugrad.testing.plugin`: the pytest plugin (registered through the ``pytest11``
  entry point of plugrad-core) adding ``--plugrad-backend NAME``, so that
  ``pytest --pyargs plugrad.testing.conformance --plugrad-backend NAME`` checks any
  installed backend without a test file.

Importing this package imports neither pytest nor any backend.
"""

from __future__ import annotations

from ._compare import assert_close
from ._twin import twin_backend

__all__ = ["assert_close", "twin_backend"]
