"""Testing tools for plugrad backends: the conformance suite every backend runs against itself.

- :mod:`plugrad.testing.conformance`: :class:`~plugrad.testing.conformance.BackendConformance`,
  the suite as a class to subclass in a backend's tests (it needs pytest);
- :mod:`plugrad.testing.plugin`: the pytest plugin (registered through the ``pytest11``
  entry point of plugrad-core) adding ``--plugrad-backend NAME``, so that
  ``pytest --pyargs plugrad.testing.conformance --plugrad-backend NAME`` checks any
  installed backend without a test file.

Importing this package imports neither pytest nor any backend.
"""

from __future__ import annotations

from ._twin import twin_backend

__all__ = ["twin_backend"]
