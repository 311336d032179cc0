"""plugrad-backend-arraystrict against plugrad's conformance suite."""

from __future__ import annotations

from plugrad.testing.conformance import BackendConformance


class TestArrayStrictConformance(BackendConformance):
    backend_name = "arraystrict"
