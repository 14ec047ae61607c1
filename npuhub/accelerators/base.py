"""The accelerator backend contract: what a backend is given, what it returns, and how it says no.

A *backend* turns a granted share of one device model into the part of a
Kubernetes pod that asks for it: extended resources, node selector,
tolerations, annotations, labels, environment, the host paths the vendor's
runtime needs, and a scheduler. It knows nothing of quotas or people
(``docs/architecture.md``): it is given a flavor and the grant the admission
made for it, and either describes the pod or refuses with a sentence.

The pod fragment (``Backend.fragment``) is plain Kubernetes-API JSON,
camelCase as in a manifest. The service sends it with every granted request
(``launch.kubernetes``, see ``npuhub.launch``) and the Kubernetes spawner
merges it into the pod it builds::

    {"resources": {"limits": {...}, "requests": {...}},  # accelerator resources only
     "nodeSelector": {...},
     "affinity": {...},            # only when the site gives node_affinity
     "tolerations": [...],
     "annotations": {...},
     "labels": {...},
     "env": {"NAME": "value"},
     "volumes": [...],             # read-only hostPath volumes the vendor runtime needs
     "volumeMounts": [...],
     "schedulerName": "volcano"}   # only when the backend needs a scheduler of its own

CPU and memory are not in it: they stay in ``launch.cpu`` / ``launch.memory``.
``resources.requests`` always equals ``resources.limits`` (Kubernetes does not
overcommit extended resources). When the grant names a node and the backend
pins placements (``pin_node``, on by default), ``nodeSelector`` carries
``kubernetes.io/hostname: <node>`` so the pod lands where the pool counted it.

Writing a backend (``docs/backends/index.md``): subclass ``Backend``, set
``kind`` and ``vendor``, read your options in ``configure`` (with
``self.options``' checked getters, which raise ``BackendConfigError`` naming
the key), and implement ``express(share)``. Register the class under the
``npuhub.accelerators`` entry-point group; the site file then names it as
``pool[i].backend.kind``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, Mapping

from ..i18n import Text
from ..refusals import Refusal
from ..shares import ShareError, format_share, parse_share

__all__ = ["Backend", "BackendConfigError", "Expression", "Options", "ShareInexpressible", "HostPath",
           "HOSTNAME_LABEL"]

HOSTNAME_LABEL = "kubernetes.io/hostname"

# Label and annotation keys: an optional DNS-subdomain prefix and a name (Kubernetes' own rule).
_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                     r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESOURCE_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}


class BackendConfigError(ValueError):
    """A backend's options in the site file are wrong; ``key`` is the option at fault (under ``backend``)."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


class ShareInexpressible(Refusal):
    """A backend cannot give this share: the sentence says why and what it can give.

    Raised by ``Backend.express``. The site loader turns it into a start-up
    failure naming the flavor and the model, so a person never meets it.
    """

    def __init__(self, text: Text, **extra):
        super().__init__("share_inexpressible", text, **extra)


@dataclass(frozen=True)
class HostPath:
    """A host path the vendor runtime needs inside the container, always mounted read-only."""

    name: str
    path: str
    type: str = ""  # a hostPath type ("Directory", "File"); empty: no check

    def volume(self) -> dict:
        host = {"path": self.path}
        if self.type:
            host["type"] = self.type
        return {"name": self.name, "hostPath": host}

    def mount(self) -> dict:
        return {"name": self.name, "mountPath": self.path, "readOnly": True}


@dataclass
class Expression:
    """What one share becomes on one backend, before the site's common options are added."""

    limits: dict[str, str] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    scheduler_name: str | None = None


class Options:
    """A backend's options from the site file, read with checks that name the key at fault.

    Every key must be read (``unread()`` lists the ones nobody asked for, so
    a typo fails start-up instead of being ignored).
    """

    def __init__(self, data: Mapping[str, Any]):
        self._data = dict(data)
        self._read: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def unread(self) -> list[str]:
        return sorted(set(self._data) - self._read)

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self._data.get(key, default)

    def string(self, key: str, default: str | None = None, pattern: re.Pattern | None = None,
               hint: str = "") -> str | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise BackendConfigError(key, f"must be a non-empty string, not {value!r}")
        if pattern is not None and not pattern.match(value):
            raise BackendConfigError(key, f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value

    def choice(self, key: str, choices: tuple, default: Any) -> Any:
        value = self.raw(key, default)
        if value not in choices:
            raise BackendConfigError(key, f"{value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise BackendConfigError(key, "must be true or false")
        return value

    def integer(self, key: str, default: int | None = None, minimum: int = 1) -> int | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BackendConfigError(key, f"must be a whole number of at least {minimum}, not {value!r}")
        return value

    def string_map(self, key: str, keys: re.Pattern = _KEY_RE, values: re.Pattern | None = None,
                   what: str = "label") -> dict[str, str]:
        value = self.raw(key)
        value = {} if value is None else value
        if not isinstance(value, dict):
            raise BackendConfigError(key, f"must be a mapping, not {type(value).__name__}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not keys.match(k):
                raise BackendConfigError(f"{key}.{k}", f"is not a valid {what} key")
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                raise BackendConfigError(f"{key}.{k}", f"must be a string, not {v!r}")
            v = str(v)
            if values is not None and not values.match(v):
                raise BackendConfigError(f"{key}.{k}", f"{v!r} is not a valid {what} value")
            out[k] = v
        return out


def _tolerations(options: Options) -> list[dict]:
    value = options.raw("tolerations")
    value = [] if value is None else value
    if not isinstance(value, list):
        raise BackendConfigError("tolerations", f"must be a list, not {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        key = f"tolerations[{i}]"
        if not isinstance(item, dict):
            raise BackendConfigError(key, "must be a mapping like {key: huawei.com/Ascend910, operator: Exists, "
                                          "effect: NoSchedule}")
        unknown = set(item) - _TOLERATION_KEYS
        if unknown:
            raise BackendConfigError(f"{key}.{sorted(unknown)[0]}",
                                     f"unknown key (known keys: {', '.join(sorted(_TOLERATION_KEYS))})")
        if item.get("operator", "Equal") not in ("Equal", "Exists"):
            raise BackendConfigError(f"{key}.operator", "must be Equal or Exists")
        if item.get("effect", "") not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise BackendConfigError(f"{key}.effect", "must be NoSchedule, PreferNoSchedule or NoExecute")
        for name in ("key", "value"):
            if name in item and not isinstance(item[name], str):
                raise BackendConfigError(f"{key}.{name}", "must be a string")
        seconds = item.get("tolerationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            raise BackendConfigError(f"{key}.tolerationSeconds", "must be a whole number")
        out.append(dict(item))
    return out


def _node_affinity(options: Options) -> dict | None:
    value = options.raw("node_affinity")
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
        raise BackendConfigError("node_affinity", "must be a list of node selector terms "
                                                  "({matchExpressions: [{key, operator, values}]})")
    for i, term in enumerate(value):
        unknown = set(term) - {"matchExpressions", "matchFields"}
        if unknown:
            raise BackendConfigError(f"node_affinity[{i}].{sorted(unknown)[0]}",
                                     "unknown key (known keys: matchExpressions, matchFields)")
        for part in ("matchExpressions", "matchFields"):
            requirements = term.get(part, [])
            if not isinstance(requirements, list):
                raise BackendConfigError(f"node_affinity[{i}].{part}", "must be a list")
            for j, req in enumerate(requirements):
                where = f"node_affinity[{i}].{part}[{j}]"
                if (not isinstance(req, dict) or set(req) - {"key", "operator", "values"}
                        or not isinstance(req.get("key"), str)
                        or req.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
                        or not all(isinstance(v, str) for v in req.get("values", []))):
                    raise BackendConfigError(where, "must be {key, operator (In, NotIn, Exists, DoesNotExist, Gt, "
                                                    "Lt), values: [strings]}")
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(value)}}}


class Backend:
    """Turns a granted share of one device model into pod resources, or refuses it.

    Contract for subclasses:

    - ``kind`` (class attribute): the name the site file uses
      (``pool[i].backend.kind``) and the entry point's name.
    - ``vendor``: ``"ascend"``, ``"nvidia"`` or ``None`` (CPU only).
    - ``documentation``: the vendor page the mapping follows.
    - ``configure(options)``: called once, when the site file is loaded;
      read every option with ``options``' getters. Raise
      ``BackendConfigError(key, problem)`` for a bad option. Never does I/O.
    - ``express(share) -> Expression``: pure, called at start-up for every
      flavor of the model (the check) and for every grant. ``share`` is a
      ``Fraction``: below 1 a fraction of one device, else a whole number of
      devices. Raise ``ShareInexpressible(Text)`` for a share the backend
      cannot give, with a sentence that says what it can give.
    - ``host_paths()``: the read-only host paths the vendor runtime needs.

    Build a refusal with ``self.refuse(zh, en, share)``: ``{share}`` and
    ``{model}`` in both sentences are filled in.

    ``fragment(share, node)`` (what ``pod_fragment`` calls) is not overridden: it adds the site's common
    options (``node_selector``, ``tolerations``, ``labels``, ``annotations``,
    ``env``, ``node_affinity``, ``pin_node``, ``scheduler_name``,
    ``volcano_queue``) to the expression and builds the JSON shape above.
    """

    kind: ClassVar[str] = ""
    vendor: ClassVar[str | None] = None
    documentation: ClassVar[str] = ""
    #: whether a grant's node becomes a hostname node selector by default
    pins_node_by_default: ClassVar[bool] = True

    def __init__(self, model: str | None, options: Mapping[str, Any] | None = None):
        self.model = model
        opts = Options({k: v for k, v in (options or {}).items() if k != "kind"})
        self.node_selector = opts.string_map("node_selector", values=_LABEL_VALUE_RE)
        self.labels = opts.string_map("labels", values=_LABEL_VALUE_RE)
        self.annotations = opts.string_map("annotations", what="annotation")
        self.env = opts.string_map("env", keys=_ENV_RE, what="environment variable")
        self.tolerations = _tolerations(opts)
        self.affinity = _node_affinity(opts)
        self.pin_node = opts.boolean("pin_node", self.pins_node_by_default)
        self.scheduler_name = opts.string("scheduler_name")
        self.volcano_queue = opts.string("volcano_queue")
        if self.volcano_queue and self.scheduler_name not in (None, "volcano"):
            raise BackendConfigError("scheduler_name", "a Volcano queue needs the volcano scheduler; "
                                                       "leave scheduler_name out or set it to volcano")
        self.configure(opts)
        unread = opts.unread()
        if unread:
            raise BackendConfigError(unread[0], f"is not an option of the {self.kind} backend")

    # -- what subclasses implement ------------------------------------------------------------
    def configure(self, options: Options) -> None:
        """Read this backend's own options (see the class docstring)."""

    def express(self, share: Fraction) -> Expression:  # pragma: no cover - every backend overrides it
        raise NotImplementedError

    def host_paths(self) -> list[HostPath]:
        return []

    def describe(self) -> str:
        """One line for ``npuhub check-config``: the kind and what it asks the cluster for."""
        return self.kind

    def device_resource(self) -> str | None:
        """The node resource whose allocatable count is the node's whole devices, if this backend has one.

        The cluster inventory (``pool: {kubernetes: ...}``) counts a node's
        devices by it when the site file gives no ``resource``. None: the site
        file must say (a sharing technology that advertises slices, not cards).
        """
        return None

    # -- what everybody calls ------------------------------------------------------------------
    def refuse(self, zh: str, en: str, share: Fraction) -> ShareInexpressible:
        """A refusal of ``share`` with its sentence (``{share}`` and ``{model}`` are filled in)."""
        values = {"share": format_share(share), "model": self.model or "CPU", "kind": self.kind}
        return ShareInexpressible(Text(zh, en).format(**values), backend=self.kind, model=self.model,
                                  share=format_share(share))

    def fragment(self, share: Fraction, node: str | None) -> dict:
        """The pod fragment for ``share`` placed on ``node`` (None: no node, as for CPU only)."""
        ex = self.express(share)
        node_selector = {**ex.node_selector, **self.node_selector}
        if self.pin_node and node:
            node_selector[HOSTNAME_LABEL] = node
        annotations = {**ex.annotations, **self.annotations}
        scheduler = self.scheduler_name or ex.scheduler_name
        if self.volcano_queue:
            # Volcano reads the queue of a plain pod from this annotation, and only schedules its own pods
            annotations["scheduling.volcano.sh/queue-name"] = self.volcano_queue
            scheduler = "volcano"
        paths = self.host_paths()
        out = {
            "resources": {"limits": dict(ex.limits), "requests": dict(ex.limits)},
            "nodeSelector": node_selector,
            "tolerations": [dict(t) for t in self.tolerations],
            "annotations": annotations,
            "labels": {**ex.labels, **self.labels},
            "env": {**ex.env, **self.env},
            "volumes": [p.volume() for p in paths],
            "volumeMounts": [p.mount() for p in paths],
        }
        if self.affinity is not None:
            out["affinity"] = self.affinity
        if scheduler:
            out["schedulerName"] = scheduler
        return out


def share_key(key: str, value: Any) -> Fraction:
    """A share written as an option's key (``1/4``, ``1``), or BackendConfigError; decimals are refused."""
    try:
        return parse_share(value)
    except ShareError as e:
        raise BackendConfigError(key, str(e)) from None


def check_resource_name(key: str, value: str) -> str:
    """A Kubernetes extended resource name (``vendor.com/thing``), or BackendConfigError."""
    if not _RESOURCE_RE.match(value):
        raise BackendConfigError(key, f"{value!r} is not an extended resource name like huawei.com/Ascend910")
    return value
