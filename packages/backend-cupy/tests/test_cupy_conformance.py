"""The CuPy backend against plugrad's conformance suite: on a GPU every test runs; without
CuPy or without a CUDA device every test skips with the backend's own reason."""

from __future__ import annotations

from plugrad.testing.conformance import BackendConformance


class TestCupyConformance(BackendConformance):
    backend_name = "cupy"
