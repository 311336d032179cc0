"""The CuPy kernel table over a NumPy stand-in for ``cupy``, so that its logic is checked on
machines without a GPU (on a GPU, test_conformance.py runs the same suite on CuPy itself).

The stand-in turns NumPy's scalar results into 0-d arrays, as CuPy returns them; the
``ElementwiseKernel`` of the fused sigmoid is replaced by NumPy code of the same formula.
What the stand-in cannot mimic is listed in ``expected_failures`` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import pytest
from plugrad.plugins import CONTRACT_VERSION, BackendSpec, get_registry, hookimpl
from plugrad.testing.conformance import BackendConformance

np = pytest.importorskip("numpy")

from plugrad_cupy.kernels import _SIGMOID_SOURCE, make_dtypes, make_kernels  # noqa: E402


def _as_array(result: Any) -> Any:
    return np.asarray(result) if isinstance(result, np.generic) else result


class _RandomState:
    """``cupy.random.RandomState``: its samplers take a ``dtype``."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.RandomState(seed)

    def random_sample(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._rng.random_sample(shape).astype(dtype)

    def standard_normal(self, shape: tuple[int, ...], dtype: Any) -> Any:
        return self._rng.standard_normal(shape).astype(dtype)


class _NumpyAsCupy:
    """``cupy``'s names, answered by NumPy (0-d arrays instead of scalars)."""

    class random:
        RandomState = _RandomState

    ndarray = np.ndarray
    dtype = np.dtype

    @staticmethod
    def asnumpy(x: Any) -> Any:
        return np.asarray(x)

    @staticmethod
    def ElementwiseKernel(in_params: str, out_params: str, source: str, name: str) -> Callable[[Any], Any]:
        assert (in_params, out_params, source, name) == ("T x", "T y", _SIGMOID_SOURCE, "plugrad_sigmoid")

        def sigmoid(x: Any) -> Any:
            with np.errstate(over="ignore"):
                e = np.exp(-np.abs(x))
                return np.asarray(np.where(x >= 0, 1 / (1 + e), e / (1 + e)), dtype=x.dtype)

        return sigmoid

    @staticmethod
    def argsort(a: Any, axis: int = -1) -> Any:
        return np.argsort(a, axis=axis, kind="stable")  # CuPy's sorts are stable (radix sort)

    @staticmethod
    def sort(a: Any, axis: int = -1) -> Any:
        return np.sort(a, axis=axis, kind="stable")

    @staticmethod
    def reshape(a: Any, newshape: Any, order: str = "C") -> Any:
        return np.reshape(a, newshape, order=order)  # CuPy's reshape takes no copy=

    @staticmethod
    def asarray(a: Any, dtype: Any = None, order: Any = None) -> Any:
        return np.asarray(a, dtype=dtype, order=order)  # nor does its asarray

    #: the array API names CuPy 13 does not have (it has the classic NumPy names: transpose, concatenate, ...)
    _NOT_IN_CUPY = frozenset(
        {"permute_dims", "concat", "astype", "pow", "bitwise_invert", "cumulative_sum", "cumulative_prod"}
    )

    def __getattr__(self, name: str) -> Any:
        if name in self._NOT_IN_CUPY:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (stand-in)")
        attr = getattr(np, name)
        if callable(attr) and not isinstance(attr, type):
            return lambda *args, **kwargs: _as_array(attr(*args, **kwargs))
        return attr


class _Cupyx:
    @staticmethod
    def scatter_add(x: Any, key: Any, values: Any) -> None:
        np.add.at(x, key, values)


class _StandinPlugin:
    @hookimpl
    def plugrad_backends(self) -> Sequence[BackendSpec]:
        cp = _NumpyAsCupy()
        return [
            BackendSpec(
                name="cupy_standin",
                device_type="cpu",
                contract_version=CONTRACT_VERSION,
                kernels=make_kernels(cp, _Cupyx()),
                dtypes=make_dtypes(cp),
                array_types=(np.ndarray,),
                capabilities=frozenset({"dlpack", "views"}),
                priority=-10,
            )
        ]


@pytest.fixture(scope="module", autouse=True)
def standin_backend() -> Iterator[None]:
    reg = get_registry()
    reg.add_plugin(_StandinPlugin(), "cupy-numpy-standin")
    yield
    reg.remove_plugin("cupy-numpy-standin")


_SCALAR = "NumPy indexing with integers gives a scalar where CuPy gives a 0-d view"


class TestCupyKernelsOnNumpyStandin(BackendConformance):
    backend_name = "cupy_standin"
    expected_failures: ClassVar[dict[str, str]] = {
        "test_views_share_memory[reshape]": _SCALAR,
        "test_views_share_memory[permute_dims]": _SCALAR,
        "test_views_share_memory[getitem]": _SCALAR,
    }
