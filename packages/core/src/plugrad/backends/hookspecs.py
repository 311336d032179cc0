"""The hooks a plugrad backend plugin implements.

A plugin is any module (or object) registered with plugrad's
``pluggy.PluginManager("plugrad")``. Third-party and first-party backends alike are
found through the ``plugrad`` entry-point group::

    [project.entry-points.plugrad]
    mybackend = "my_package.plugin"

and mark their hook functions with :data:`plugrad.backends.hookimpl`. Each hook is
called exactly once, when plugrad first needs a backend; no hook runs per tensor
operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ._spec import BackendSpec, KernelOverride

PROJECT_NAME = "plugrad"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def plugrad_backends() -> Sequence[BackendSpec]:
    """Return the backends this plugin provides.

    :returns: a sequence of :class:`plugrad.backends.BackendSpec` records, each with a
        unique ``name``, its ``device_type`` (``"cpu"``, ``"cuda"``, ...), the kernel
        table (a mapping from array-API kernel names to callables), the dtype table,
        the capabilities it has, and the ``contract_version`` it was written for.
        A backend that cannot run here (library missing, no device) still returns its
        record, with ``unavailable_reason`` set and no kernels, so that
        ``python -m plugrad info`` can say why.

    Called once per process; results of all plugins are collected (not ``firstresult``).
    """
    raise NotImplementedError


@hookspec
def plugrad_kernel_overrides(backend: BackendSpec) -> Sequence[KernelOverride]:
    """Replace kernels of another plugin's backend.

    :param backend: the record of a backend being registered (any plugin's).
    :returns: :class:`plugrad.backends.KernelOverride` records ``(op, kernel, priority)``
        for kernels of ``backend`` this plugin wants to replace, or an empty sequence.
        The override with the highest priority wins over the backend's own kernel
        (which has priority 0); two overrides of the same kernel with the same
        priority are an error naming both plugins.

    Called once per backend, after every plugin's :func:`plugrad_backends` ran.
    """
    raise NotImplementedError


@hookspec
def plugrad_process_group_backends() -> Sequence[Any]:
    """Return the communication backends (for process groups) this plugin provides.

    :returns: a sequence of records, one per backend, each with at least the attributes
        ``name`` (an identifier, what ``init_process_group(backend=NAME)`` takes),
        ``create`` (the factory of a process group; see
        :class:`plugrad.distributed.ProcessGroupBackendSpec`, the record type to use),
        ``device_types`` (the plugrad device types whose tensors it moves, e.g.
        ``("cpu",)``, ``("cuda",)``), ``version`` (the library under it) and
        ``unavailable_reason`` (``None``, or why it cannot run here: ``"mpi4py is not
        installed: pip install plugrad-distributed[mpi]"``). A backend that cannot run
        here still returns its record, with the reason, so that ``python -m plugrad
        info`` can say why.

    Called once per process, the first time a process group (or ``plugrad info``) asks
    for the communication backends; results of all plugins are collected (not
    ``firstresult``). A hook that raises or returns malformed records is reported with a
    :class:`plugrad.plugins.PluginWarning` and skipped; two plugins offering one name
    make that name unavailable, naming both plugins.
    """
    raise NotImplementedError


@hookspec
def plugrad_compilers() -> Sequence[Any]:
    """Return the compilers of recorded programs this plugin provides.

    ``plugrad.compile(fn, backend=NAME)`` records a step of ``fn`` as a
    :class:`plugrad.compiler.Program` (straight-line backend kernel calls over slots) and
    hands it to the compiler named ``NAME``, which returns a faster runner of it.

    :returns: a sequence of records, one per compiler, each with at least the attributes
        ``name`` (an identifier: what ``backend=`` takes), ``compile`` (``compile(program)
        -> runner``, where ``runner(env: list) -> None`` fills the program's output slots;
        see :mod:`plugrad.compiler`), ``backends`` (the names of the plugrad backends whose
        programs it compiles, empty for any), ``version``, ``description`` and
        ``unavailable_reason`` (``None``, or why it cannot run here). Use
        :class:`plugrad.compiler.CompilerSpec`. A compiler may also return ``None`` from
        ``compile`` for a program it does not handle; plugrad then uses its default
        replay compiler for that program.

    Called once per process; a hook that raises or returns a malformed record is warned
    about and skipped; a name offered by two plugins is unavailable, naming both.
    """
    raise NotImplementedError
