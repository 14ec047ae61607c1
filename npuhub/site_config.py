"""The site file (``npuhub.yaml``): pool, groups, flavors and limits, validated with a path to every error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .accelerators import Backend, BackendConfigError, check_flavors, make_backend
from .activity import MIN_IDLE_MINUTES
from .dask.site import DaskSite, parse_dask
from .flavors import FLAVOR_ID_RE, Flavor, FlavorCatalogue
from .inventory.config import KubernetesPool, parse_kubernetes_pool
from .pool import NodeSpec
from .quota_rules import PERIODS, QuotaRule
from .site_hub import (AuthConfig, IsolationConfig, SpawnerConfig, check_account_prefix, parse_auth,
                       parse_isolation, parse_spawner)
from .site_reader import IMAGE_RE, MEMORY_RE, NAME_RE, SiteConfigError, SiteReader

__all__ = [
    "SiteConfig",
    "SiteConfigError",
    "Limits",
    "AuthConfig",
    "IsolationConfig",
    "SpawnerConfig",
    "check_account_prefix",
    "parse_quota_rules",
    "load_site_config",
    "parse_site_config",
    "default_site_config_path",
]

VENDORS = ("ascend", "nvidia")
GROUP_KINDS = ("course", "lab", "role", "other")


@dataclass(frozen=True)
class Limits:
    """The most a person may hold at once, in devices: a default and per group.

    A person in several groups gets the most generous of their groups'
    limits; a person in none of the listed groups gets the default.
    """

    max_share: Fraction = Fraction(1)
    groups: dict[str, Fraction] = field(default_factory=dict)

    def max_share_for(self, groups: set[str]) -> Fraction:
        mine = [limit for name, limit in self.groups.items() if name in groups]
        return max(mine) if mine else self.max_share


@dataclass(frozen=True)
class SiteConfig:
    nodes: tuple[NodeSpec, ...]
    groups: dict[str, dict]
    catalogue: FlavorCatalogue
    limits: Limits
    source: str = "npuhub.yaml"
    auth: AuthConfig = field(default_factory=AuthConfig)
    quotas: tuple[QuotaRule, ...] = ()
    #: the accelerator backend of each device model, and of CPU-only servers (key None); empty: embedded
    backends: dict[str | None, Backend] = field(default_factory=dict)
    spawner: SpawnerConfig = field(default_factory=lambda: SpawnerConfig())

    #: ``pool: {kubernetes: ...}``: the nodes come from the cluster (``nodes`` is then what was last seen)
    kubernetes: KubernetesPool | None = None
    isolation: IsolationConfig = field(default_factory=IsolationConfig)
    #: ``dask:``: defaults and limits of people's Dask clusters (npuhub.dask.site)
    dask: DaskSite = field(default_factory=DaskSite)

    @property
    def pool_models(self) -> dict[str, str]:
        """Device model -> vendor the pool offers, whether or not a node of it is there now."""
        models = {n.model: n.vendor for n in self.nodes}
        if self.kubernetes is not None:
            models.update(self.kubernetes.vendors)
        return models


def default_site_config_path() -> Path:
    """The site file npuhub uses when none is given (the documented example)."""
    return Path(str(resources.files("npuhub") / "data" / "npuhub.yaml"))


def load_site_config(path: str | Path | None = None) -> SiteConfig:
    """Read and validate a site file; raise SiteConfigError naming the key at fault."""
    path = Path(path) if path else default_site_config_path()
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteConfigError("", "the file does not exist", source) from None
    except OSError as e:
        raise SiteConfigError("", f"cannot be read ({e.strerror})", source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SiteConfigError("", f"{where}not valid YAML ({getattr(e, 'problem', e)})", source) from None
    return parse_site_config(data or {}, source)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "node"


def parse_site_config(data: Any, source: str = "npuhub.yaml") -> SiteConfig:
    """Validate the parsed YAML of a site file into a SiteConfig."""
    r = SiteReader(source)
    top = r.mapping(data, "", {"pool", "groups", "flavors", "limits", "auth", "quotas", "cpu_backend", "spawner",
                               "isolation", "dask"})

    nodes: list[NodeSpec] = []
    backend_specs: dict[str | None, tuple[str, Any]] = {}  # model -> (key, spec)
    without_backend: list[tuple[str, str]] = []  # (key, model) of pool entries that name none
    kubernetes = None
    raw_pool = top.get("pool", [])
    if isinstance(raw_pool, dict):  # the cluster's nodes, not a simulated pool
        r.mapping(raw_pool, "pool", {"kubernetes"}, {"kubernetes"})
        kubernetes = parse_kubernetes_pool(r, raw_pool["kubernetes"], "pool.kubernetes", VENDORS)
        for i, m in enumerate(kubernetes.models):
            key = f"pool.kubernetes.models[{i}]"
            if m.backend is not None:
                backend_specs[m.model] = (f"{key}.backend", dict(m.backend))
            else:
                without_backend.append((key, m.model))
        raw_pool = []
    for i, entry in enumerate(r.sequence(raw_pool, "pool")):
        key = f"pool[{i}]"
        entry = r.mapping(entry, key, {"model", "vendor", "nodes", "devices_per_node", "node_prefix", "backend"},
                          {"model", "nodes", "devices_per_node"})
        model = r.string(entry["model"], f"{key}.model")
        vendor = r.choice(entry.get("vendor", "ascend"), f"{key}.vendor", VENDORS)
        if "backend" in entry:
            earlier = backend_specs.get(model)
            if earlier is not None and earlier[1] != entry["backend"]:
                r.fail(f"{key}.backend", f"differs from {earlier[0]}.backend; every {model!r} pool entry "
                                         "must name the same backend")
            backend_specs[model] = (f"{key}.backend", entry["backend"])
        else:
            without_backend.append((key, model))
        count = r.integer(entry["nodes"], f"{key}.nodes")
        per_node = r.integer(entry["devices_per_node"], f"{key}.devices_per_node")
        prefix = r.string(entry.get("node_prefix", _slug(model)), f"{key}.node_prefix", NAME_RE,
                          "use lower-case letters, digits and '-'")
        for n in range(count):
            name = f"{prefix}-{n}"
            if any(existing.name == name for existing in nodes):
                r.fail(f"{key}.node_prefix", f"node name {name!r} is used by another pool entry")
            nodes.append(NodeSpec(name, model, per_node, vendor))
    models: dict[str, int] = {}  # model -> most devices on one node
    for n in nodes:
        models[n.model] = max(models.get(n.model, 0), n.devices)
    for m in kubernetes.models if kubernetes is not None else ():
        models[m.model] = m.max_devices_per_node

    groups: dict[str, dict] = {}
    for name, entry in r.mapping(top.get("groups", {}), "groups", set(top.get("groups", {}) or {})).items():
        key = f"groups.{name}"
        r.string(name, key, NAME_RE, "use lower-case letters, digits and '-'")
        entry = r.mapping(entry or {}, key, {"kind", "description"})
        groups[name] = {
            "kind": r.choice(entry.get("kind", "other"), f"{key}.kind", GROUP_KINDS),
            "description": str(entry.get("description", "")),
        }

    flavors: list[Flavor] = []
    seen: set[str] = set()
    raw_flavors = r.sequence(top.get("flavors", []), "flavors")
    if not raw_flavors:
        r.fail("flavors", "lists no flavor; people would have nothing to start")
    for i, entry in enumerate(raw_flavors):
        key = f"flavors[{i}]"
        entry = r.mapping(entry, key, {"id", "display_name", "description", "cpu", "memory",
                                       "accelerator", "groups", "default", "price", "idle_minutes", "image"},
                          {"id", "cpu", "memory"})
        fid = r.string(entry["id"], f"{key}.id", FLAVOR_ID_RE, "use lower-case letters, digits and '-'")
        if fid in seen:
            r.fail(f"{key}.id", f"{fid!r} is used by an earlier flavor")
        seen.add(fid)
        memory = entry["memory"]
        if not isinstance(memory, str) or not MEMORY_RE.match(memory):
            r.fail(f"{key}.memory", f"{memory!r} is not a size like 512M, 4G or 1.5G (K, M, G, T; 1G = 1024 MiB)")
        share, model = Fraction(0), None
        if entry.get("accelerator") is not None:
            akey = f"{key}.accelerator"
            acc = r.mapping(entry["accelerator"], akey, {"model", "share"}, {"model", "share"})
            model = r.string(acc["model"], f"{akey}.model")
            if model not in models:
                known = ", ".join(sorted(models)) or "none"
                r.fail(f"{akey}.model", f"the pool has no {model!r} devices (it has: {known})")
            share = r.share(acc["share"], f"{akey}.share")
            if share > models[model]:
                r.fail(f"{akey}.share", f"{share} devices do not fit on one node (nodes have {models[model]})")
        allowed = r.sequence(entry.get("groups", []), f"{key}.groups")
        for j, group in enumerate(allowed):
            if group not in groups:
                r.fail(f"{key}.groups[{j}]", f"{group!r} is not a group listed under 'groups'")
        price = None
        if "price" in entry:
            if not share:
                r.fail(f"{key}.price", "a CPU-only flavor is not charged; leave the price out")
            price = _amount(r, entry["price"], f"{key}.price")
        idle_limit = None
        if "idle_minutes" in entry:
            minutes = r.number(entry["idle_minutes"], f"{key}.idle_minutes")
            if minutes < MIN_IDLE_MINUTES:
                # a server in use can look idle to the hub for up to the activity lag (npuhub/activity.py)
                r.fail(f"{key}.idle_minutes",
                       f"must be at least {MIN_IDLE_MINUTES} (minutes), not {minutes:g}: "
                       "servers' activity reaches the hub up to half a minute late")
            idle_limit = minutes * 60
        image = None
        if "image" in entry:
            image = r.string(entry["image"], f"{key}.image", IMAGE_RE,
                             "write a container image like registry.example.edu/npuhub/ascend-lab:2026.1")
        default = entry.get("default", False)
        if not isinstance(default, bool):
            r.fail(f"{key}.default", "must be true or false")
        flavors.append(Flavor(
            id=fid,
            cpu=r.number(entry["cpu"], f"{key}.cpu"),
            memory=memory,
            share=share,
            device_model=model,
            groups=frozenset(allowed),
            display_name=r.text(entry["display_name"], f"{key}.display_name") if "display_name" in entry else None,
            description=r.text(entry["description"], f"{key}.description") if "description" in entry else None,
            default=default,
            price=price,
            idle_limit=idle_limit,
            image=image,
        ))

    pods = ((top.get("spawner") or {}).get("type") if isinstance(top.get("spawner"), dict) else None) == "kubernetes"
    if (backend_specs or "cpu_backend" in top or pods) and without_backend:
        # a pod gets its device from the backend's resources: without one it would start with none
        key, model = without_backend[0]
        r.fail(f"{key}.backend", f"is missing: in a cluster every pool entry names its backend ({model!r} has none)")
    vendors = {n.model: n.vendor for n in nodes}
    if kubernetes is not None:
        vendors.update(kubernetes.vendors)
    backends = _backends(r, backend_specs, top.get("cpu_backend"), vendors, flavors)
    for i, m in enumerate(kubernetes.models if kubernetes is not None else ()):
        if m.resource is None and backends[m.model].device_resource() is None:
            r.fail(f"pool.kubernetes.models[{i}].resource", f"is required: the {backends[m.model].kind} backend "
                                                          "does not say which resource counts whole devices")

    lim = r.mapping(top.get("limits", {}) or {}, "limits", {"max_share", "groups"})
    group_limits: dict[str, Fraction] = {}
    for name, entry in r.mapping(lim.get("groups", {}) or {}, "limits.groups", set(groups)).items():
        key = f"limits.groups.{name}"
        entry = r.mapping(entry, key, {"max_share"}, {"max_share"})
        group_limits[name] = r.share(entry["max_share"], f"{key}.max_share")
    limits = Limits(
        max_share=r.share(lim.get("max_share", 1), "limits.max_share"),
        groups=group_limits,
    )
    auth = parse_auth(r, top.get("auth") or {}, frozenset(groups))
    quotas = parse_quota_rules(top.get("quotas") or [], source, "quotas", frozenset(groups))
    spawner = parse_spawner(r, top.get("spawner") or {})
    isolation = parse_isolation(r, top.get("isolation") or {})
    dask = parse_dask(r, top.get("dask") or {})
    if dask.default_flavor is not None and dask.default_flavor not in {f.id for f in flavors}:
        r.fail("dask.default_flavor", f"{dask.default_flavor!r} is not a flavor of this site")
    return SiteConfig(tuple(nodes), groups, FlavorCatalogue(flavors), limits, source, auth, tuple(quotas),
                      backends, spawner, kubernetes, isolation, dask)


def _backends(r: SiteReader, specs: dict[str | None, tuple[str, Any]], cpu_spec: Any, vendors: dict[str, str],
              flavors: list[Flavor]) -> dict[str | None, Backend]:
    """The backend of each model and of CPU-only servers, and the check that each can give every flavor.

    A site that names no backend anywhere runs embedded (simulated pool, local
    servers): no backends. Once one pool entry names a backend, every entry
    must (the caller checks), and CPU-only servers get ``cpu_backend``
    (default: cpu-only).
    """
    if not specs and cpu_spec is None:
        return {}
    specs = {**specs, None: ("cpu_backend", cpu_spec if cpu_spec is not None else {"kind": "cpu-only"})}
    backends: dict[str | None, Backend] = {}
    for model, (key, spec) in specs.items():
        try:
            backends[model] = make_backend(spec, model, vendors.get(model))
        except BackendConfigError as e:
            r.fail(f"{key}.{e.key}" if e.key else key, e.problem)
    problems = check_flavors(flavors, backends)
    if problems:
        first = problems[0]
        index = next(i for i, f in enumerate(flavors) if f.id == first.flavor)
        more = f" (and {len(problems) - 1} more flavor(s): {', '.join(p.flavor for p in problems[1:])})" \
            if len(problems) > 1 else ""
        r.fail(f"flavors[{index}]", f"cannot start: {first}{more}")
    return backends


def _amount(r: SiteReader, value: Any, key: str) -> Fraction:
    """An exact positive amount of device-hours: a whole number or a string like "1/2"."""
    if isinstance(value, (bool, float)):
        r.fail(key, f"write {value!r} exactly, as a whole number or a string like '1/2'")
    try:
        amount = Fraction(value)
    except (ValueError, ZeroDivisionError, TypeError):
        r.fail(key, f"{value!r} is not an amount of device-hours")
    if amount <= 0:
        r.fail(key, "must be more than zero")
    return amount


def parse_quota_rules(rules: Any, source: str = "npuhub.yaml", key: str = "quotas",
                      known_groups: frozenset[str] | None = None) -> list[QuotaRule]:
    """Device-hour budget rules, from the site file's ``quotas`` (or the service's quota_rules).

    Each rule: ``scope`` user (each member her own budget) or group (one
    budget the members share), ``groups``, ``device_hours`` per ``period``
    (day, week, month), optional ``cap``. Raises SiteConfigError (a
    ValueError) naming the rule and the key at fault.
    """
    r = SiteReader(source)
    out = []
    for i, rule in enumerate(r.sequence(rules, key)):
        where = f"{key}[{i}]"
        rule = r.mapping(rule, where, {"scope", "groups", "device_hours", "period", "cap"}, {"groups", "device_hours"})
        scope = r.choice(rule.get("scope", "user"), f"{where}.scope", ("user", "group"))
        groups = r.sequence(rule["groups"], f"{where}.groups")
        if not groups:
            r.fail(f"{where}.groups", "must name at least one group")
        for j, group in enumerate(groups):
            r.string(group, f"{where}.groups[{j}]")
            if known_groups is not None and group not in known_groups:
                r.fail(f"{where}.groups[{j}]", f"{group!r} is not a group listed under 'groups'")
        if rule.get("period") == "term":
            # asked for often; say why not and what to use instead (docs/reference/site-file.md)
            r.fail(f"{where}.period", "'term' is not one of day, week, month: budgets per academic term are not "
                   "supported (see 'Budgets per term' in the site-file reference); use period: month with a cap, "
                   "or add hours at a term's start with npuhub quota adjust")
        period = r.choice(rule.get("period", "week"), f"{where}.period", PERIODS)
        hours = _amount(r, rule["device_hours"], f"{where}.device_hours")
        cap = _amount(r, rule["cap"], f"{where}.cap") if rule.get("cap") is not None else None
        out.append(QuotaRule(scope, frozenset(groups), hours, period, cap))
    return out


