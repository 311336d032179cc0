"""The pytest plugin of plugrad's conformance suite (``--plugrad-backend NAME``).

The entry point registered with pytest is the top-level module ``_plugrad_pytest``, so
that pytest's start-up does not import plugrad; this module re-exports its hook for
code that names ``plugrad.testing.plugin`` (``pytest -p plugrad.testing.plugin``).
"""

from __future__ import annotations

from _plugrad_pytest import pytest_addoption

__all__ = ["pytest_addoption"]
