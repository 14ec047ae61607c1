"""The site file (``npuhub.yaml``): pool, groups, flavors and limits, validated with a path to every error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .flavors import FLAVOR_ID_RE, Flavor, FlavorCatalogue
from .i18n import Text
from .pool import NodeSpec
from .shares import ShareError, parse_share

__all__ = [
    "SiteConfig",
    "SiteConfigError",
    "Limits",
    "load_site_config",
    "parse_site_config",
    "default_site_config_path",
]

VENDORS = ("ascend", "nvidia")
GROUP_KINDS = ("course", "lab", "role", "other")
# The suffixes JupyterHub's ByteSpecification (mem_limit) understands; 1G = 1024**3 bytes.
_MEMORY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[KMGT]$")
_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class SiteConfigError(ValueError):
    """The site file is malformed. The message names the file, the key and what is wrong."""

    def __init__(self, key: str, problem: str, source: str = "npuhub.yaml"):
        self.key = key
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


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


class _Reader:
    """Small declarative checks that keep the key path for error messages."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, problem: str):
        raise SiteConfigError(key, problem, self.source)

    def mapping(self, value: Any, key: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, not {type(value).__name__}")
        for name in value:
            if name not in allowed:
                hint = ", ".join(sorted(allowed))
                self.fail(f"{key}.{name}" if key else str(name), f"unknown key (known keys: {hint})")
        for name in required:
            if name not in value:
                self.fail(f"{key}.{name}" if key else name, "is required")
        return value

    def sequence(self, value: Any, key: str) -> list:
        if not isinstance(value, list):
            self.fail(key, f"must be a list, not {type(value).__name__}")
        return value

    def integer(self, value: Any, key: str, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, not {value!r}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum}, not {value}")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.fail(key, f"must be a number above zero, not {value!r}")
        return float(value)

    def string(self, value: Any, key: str, pattern: re.Pattern | None = None, hint: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, not {value!r}")
        if pattern is not None and not pattern.match(value):
            self.fail(key, f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def share(self, value: Any, key: str) -> Fraction:
        try:
            return parse_share(value)
        except ShareError as e:
            self.fail(key, str(e))

    def text(self, value: Any, key: str) -> Text:
        if isinstance(value, str) and value.strip():
            return Text(value, value)
        data = self.mapping(value, key, {"zh", "en"}, {"zh", "en"})
        return Text(self.string(data["zh"], f"{key}.zh"), self.string(data["en"], f"{key}.en"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "node"


def parse_site_config(data: Any, source: str = "npuhub.yaml") -> SiteConfig:
    """Validate the parsed YAML of a site file into a SiteConfig."""
    r = _Reader(source)
    top = r.mapping(data, "", {"pool", "groups", "flavors", "limits"})

    nodes: list[NodeSpec] = []
    for i, entry in enumerate(r.sequence(top.get("pool", []), "pool")):
        key = f"pool[{i}]"
        entry = r.mapping(entry, key, {"model", "vendor", "nodes", "devices_per_node", "node_prefix"},
                          {"model", "nodes", "devices_per_node"})
        model = r.string(entry["model"], f"{key}.model")
        vendor = r.choice(entry.get("vendor", "ascend"), f"{key}.vendor", VENDORS)
        count = r.integer(entry["nodes"], f"{key}.nodes")
        per_node = r.integer(entry["devices_per_node"], f"{key}.devices_per_node")
        prefix = r.string(entry.get("node_prefix", _slug(model)), f"{key}.node_prefix", _NAME_RE,
                          "use lower-case letters, digits and '-'")
        for n in range(count):
            name = f"{prefix}-{n}"
            if any(existing.name == name for existing in nodes):
                r.fail(f"{key}.node_prefix", f"node name {name!r} is used by another pool entry")
            nodes.append(NodeSpec(name, model, per_node, vendor))
    models: dict[str, int] = {}  # model -> most devices on one node
    for n in nodes:
        models[n.model] = max(models.get(n.model, 0), n.devices)

    groups: dict[str, dict] = {}
    for name, entry in r.mapping(top.get("groups", {}), "groups", set(top.get("groups", {}) or {})).items():
        key = f"groups.{name}"
        r.string(name, key, _NAME_RE, "use lower-case letters, digits and '-'")
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
                                       "accelerator", "groups", "default"}, {"id", "cpu", "memory"})
        fid = r.string(entry["id"], f"{key}.id", FLAVOR_ID_RE, "use lower-case letters, digits and '-'")
        if fid in seen:
            r.fail(f"{key}.id", f"{fid!r} is used by an earlier flavor")
        seen.add(fid)
        memory = entry["memory"]
        if not isinstance(memory, str) or not _MEMORY_RE.match(memory):
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
        ))

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
    return SiteConfig(tuple(nodes), groups, FlavorCatalogue(flavors), limits, source)
