"""The NumPy backend against plugrad's conformance suite (every kernel of the contract)."""

from __future__ import annotations

from plugrad.testing.conformance import BackendConformance


class TestNumpyConformance(BackendConformance):
    backend_name = "numpy"
