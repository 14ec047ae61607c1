"""Accelerator backends: how a granted share of a device becomes a pod's resources on each sharing technology.

The site file names a backend per device model (``pool[i].backend: {kind:
..., options}``) and one for CPU-only servers (``cpu_backend``). npuhub's own
kinds are below; a site adds its own by registering a ``Backend`` subclass
under the ``npuhub.accelerators`` entry-point group (the entry point's name is
the kind). ``base.py`` states the contract and the pod fragment's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .ascend_device_plugin import AscendDevicePlugin
from .base import Backend, BackendConfigError, Expression, HostPath, Options, ShareInexpressible
from .cpu_only import CPUOnly
from .hami_ascend import HAMiAscend
from .hami_nvidia import HAMiNvidia
from .nvidia_device_plugin import NvidiaDevicePlugin, NvidiaMIG, NvidiaTimeSlicing
from .volcano_vnpu import VolcanoVNPU

if TYPE_CHECKING:  # pragma: no cover
    from ..flavors import Flavor
    from ..pool import Grant

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "Backend",
    "BackendConfigError",
    "Expression",
    "HostPath",
    "Inexpressible",
    "Options",
    "ShareInexpressible",
    "backend_classes",
    "check_flavors",
    "make_backend",
    "pod_fragment",
]

ENTRY_POINT_GROUP = "npuhub.accelerators"

#: npuhub's own backends, by kind (also registered as entry points in pyproject.toml)
BUILTIN: dict[str, type[Backend]] = {
    cls.kind: cls
    for cls in (AscendDevicePlugin, HAMiAscend, VolcanoVNPU, NvidiaDevicePlugin, NvidiaMIG, NvidiaTimeSlicing,
                HAMiNvidia, CPUOnly)
}


def backend_classes() -> dict[str, type[Backend]]:
    """Every kind a site file may name: npuhub's own, then the ``npuhub.accelerators`` entry points."""
    kinds = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in kinds:
            kinds[ep.name] = ep  # loaded only when a site names it
    return kinds


def make_backend(spec: Mapping[str, Any], model: str | None, vendor: str | None = None) -> Backend:
    """The backend ``spec`` (``{kind: ..., options...}``) names, for ``model`` of ``vendor`` (None: CPU only).

    Raises BackendConfigError naming the option at fault (``kind`` for an
    unknown kind, a plugin that does not load, or a backend of another vendor).
    """
    if not isinstance(spec, Mapping):
        raise BackendConfigError("", f"must be a mapping like {{kind: ascend-device-plugin}}, not {spec!r}")
    kind = spec.get("kind")
    kinds = backend_classes()
    if kind not in kinds:
        raise BackendConfigError("kind", f"{kind!r} is not a backend (known: {', '.join(sorted(kinds))})")
    cls = kinds[kind]
    if not isinstance(cls, type):  # an entry point
        try:
            cls = cls.load()
        except Exception as e:  # a site's plugin: say which one failed and why, not a traceback
            raise BackendConfigError("kind", f"the {kind!r} backend could not be loaded ({type(e).__name__}: {e})") \
                from None
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise BackendConfigError("kind", f"the {kind!r} entry point is not an npuhub Backend class")
    if vendor is not None and cls.vendor not in (None, vendor):
        raise BackendConfigError("kind", f"{kind} is a {cls.vendor} backend, but the {model!r} devices are {vendor}")
    return cls(model, spec)


def pod_fragment(backend: Backend, flavor: "Flavor", grant: "Grant | None") -> dict:
    """The pod fragment (``launch.kubernetes``) for ``flavor`` granted as ``grant`` (None: CPU only).

    Raises ShareInexpressible when the backend cannot give the flavor's
    share; the site loader has checked every flavor, so a running service
    does not.
    """
    return backend.fragment(flavor.share, grant.node if grant is not None else None)


@dataclass(frozen=True)
class Inexpressible:
    """A flavor its model's backend cannot give: which, on what, and the backend's sentence."""

    flavor: str
    model: str | None
    kind: str
    refusal: ShareInexpressible

    def __str__(self) -> str:
        model = self.model or "CPU only"
        return f"flavor {self.flavor!r} ({model}, backend {self.kind}): {self.refusal.text.en} / {self.refusal.text.zh}"


def check_flavors(flavors: Iterable["Flavor"], backends: Mapping[str | None, Backend]) -> list[Inexpressible]:
    """Every flavor whose share its backend refuses (empty: all can start). Flavors without a backend pass."""
    problems = []
    for flavor in flavors:
        model = flavor.device_model if flavor.has_accelerator else None
        backend = backends.get(model)
        if backend is None:
            continue
        try:
            backend.express(flavor.share if flavor.has_accelerator else Fraction(0))
        except ShareInexpressible as refusal:
            problems.append(Inexpressible(flavor.id, model, backend.kind, refusal))
    return problems
