"""The site file's sections the hub reads: ``auth`` (sign-in and groups), ``spawner`` and ``isolation``.

The service reads the rest (pool, flavors, limits, budgets: ``npuhub.site_config``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .group_rules import ROLES, ClaimSource, Rule
from .groups import GroupMapping
from .site_reader import IMAGE_RE, NAME_RE, QUANTITY_RE, SiteReader

__all__ = ["AUTH_TYPES", "ISOLATION_MODES", "SPAWNER_TYPES", "AuthConfig", "IsolationConfig", "SpawnerConfig",
           "check_account_prefix", "parse_auth", "parse_group_mapping", "parse_isolation", "parse_spawner"]


AUTH_TYPES = ("demo", "oidc", "cas")


@dataclass(frozen=True)
class AuthConfig:
    """How people sign in: the kind of identity provider, its settings, and the group mapping."""

    type: str = "demo"
    public_url: str | None = None
    oidc: dict = field(default_factory=dict)
    cas: dict = field(default_factory=dict)
    groups: GroupMapping = field(default_factory=GroupMapping)


ISOLATION_MODES = ("auto", "os-users", "shared")


@dataclass(frozen=True)
class IsolationConfig:
    """How the local spawner keeps people apart on one machine (``npuhub.spawners.local``).

    ``mode``: ``os-users`` (each person's server runs as her own Unix account;
    needs root), ``shared`` (every server runs as the hub's user), or ``auto``
    (``os-users`` when the hub runs as root and it can be set up). ``allow_shared_os_user`` lets
    real sign-in (OpenID Connect, CAS, workshop guests) in although servers
    share one OS user; without it such a hub refuses to start.
    """

    mode: str = "auto"
    user_prefix: str = "jupyter-"
    allow_shared_os_user: bool = False


SPAWNER_TYPES = ("local", "kubernetes")


@dataclass(frozen=True)
class SpawnerConfig:
    """Where the hub starts servers (the site file's ``spawner`` section, read by the hub only).

    ``local``: processes on the hub's machine (``LocalNPUSpawner``).
    ``kubernetes``: one pod per server (``KubeNPUSpawner``), with ``kubernetes``
    holding the pod settings a site usually changes (namespace, default image,
    per-user storage, how long a pod may take to start).
    """

    type: str = "local"
    kubernetes: dict = field(default_factory=dict)


_ACCOUNT_PREFIX = re.compile(r"^[a-z_][a-z0-9_-]{0,19}$")


def check_account_prefix(prefix: str) -> str:
    """The prefix, if it makes valid Unix names (starts with a letter or ``_``; at most 20 characters)."""
    if not _ACCOUNT_PREFIX.match(prefix or ""):
        raise ValueError(f"the account prefix {prefix!r} must start with a lower-case letter or '_' and hold only "
                         "a-z, 0-9, '_' and '-' (at most 20 characters), e.g. 'jupyter-'")
    return prefix


def parse_isolation(r: SiteReader, data: Any) -> IsolationConfig:
    iso = r.mapping(data, "isolation", {"mode", "user_prefix", "allow_shared_os_user"})
    defaults = IsolationConfig()
    mode = r.choice(iso.get("mode", defaults.mode), "isolation.mode", ISOLATION_MODES)
    prefix = iso.get("user_prefix", defaults.user_prefix)
    try:
        check_account_prefix(prefix if isinstance(prefix, str) else "")
    except ValueError as e:
        r.fail("isolation.user_prefix", str(e))
    allow = iso.get("allow_shared_os_user", defaults.allow_shared_os_user)
    if not isinstance(allow, bool):
        r.fail("isolation.allow_shared_os_user", "must be true or false")
    return IsolationConfig(mode, prefix, allow)


_URL_RE = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _string_list(r: SiteReader, value: Any, key: str) -> frozenset[str]:
    items = r.sequence(value, key)
    for i, item in enumerate(items):
        r.string(item, f"{key}[{i}]")
    return frozenset(items)


def parse_auth(r: SiteReader, data: Any, known_groups: frozenset[str]) -> AuthConfig:
    auth = r.mapping(data, "auth", {"type", "public_url", "oidc", "cas", "groups"})
    kind = r.choice(auth.get("type", "demo"), "auth.type", AUTH_TYPES)
    public_url = auth.get("public_url")
    if public_url is not None:
        r.string(public_url, "auth.public_url", _URL_RE, "write it like https://jupyter.example.edu")
        public_url = public_url.rstrip("/")

    oidc: dict = {}
    if kind == "oidc" or "oidc" in auth:
        o = r.mapping(auth.get("oidc"), "auth.oidc",
                      {"issuer", "client_id", "client_secret_env", "scopes", "username_claim"},
                      {"issuer", "client_id"})
        oidc = {
            "issuer": r.string(o["issuer"], "auth.oidc.issuer", _URL_RE, "write it like https://sso.example.edu/realms/uni").rstrip("/"),
            "client_id": r.string(o["client_id"], "auth.oidc.client_id"),
            "client_secret_env": r.string(o.get("client_secret_env", "NPUHUB_OIDC_CLIENT_SECRET"),
                                          "auth.oidc.client_secret_env", _ENV_RE, "an environment variable name"),
            "scopes": sorted(_string_list(r, o.get("scopes", ["openid", "profile", "email"]), "auth.oidc.scopes")),
            "username_claim": r.string(o.get("username_claim", "preferred_username"), "auth.oidc.username_claim"),
        }
        if "openid" not in oidc["scopes"]:
            r.fail("auth.oidc.scopes", "must include 'openid'")

    cas: dict = {}
    if kind == "cas" or "cas" in auth:
        c = r.mapping(auth.get("cas"), "auth.cas",
                      {"server_url", "protocol", "username_attribute", "logout", "check_state"}, {"server_url"})
        protocol = c.get("protocol", 3)
        if protocol not in (2, 3):
            r.fail("auth.cas.protocol", f"{protocol!r} is not 2 or 3")
        logout = c.get("logout", True)
        if not isinstance(logout, bool):
            r.fail("auth.cas.logout", "must be true or false")
        check_state = c.get("check_state", True)
        if not isinstance(check_state, bool):
            r.fail("auth.cas.check_state", "must be true or false")
        username_attribute = c.get("username_attribute") or ""
        if not isinstance(username_attribute, str):
            r.fail("auth.cas.username_attribute", "must be a string")
        cas = {
            "server_url": r.string(c["server_url"], "auth.cas.server_url", _URL_RE,
                                   "write it like https://cas.example.edu/cas").rstrip("/"),
            "protocol": protocol,
            "username_attribute": username_attribute,
            "logout": logout,
            "check_state": check_state,
        }

    mapping = parse_group_mapping(r, auth.get("groups") or {}, known_groups)
    return AuthConfig(kind, public_url, oidc, cas, mapping)


_SOURCE_KEYS = {"claim", "strip_prefix", "rules"}


def _parse_source(r: SiteReader, data: Any, key: str) -> ClaimSource:
    """One claim and its rules: ``{claim: groups, rules: [{prefix: /labs/, role: lab}], strip_prefix: /}``."""
    src = r.mapping(data, key, _SOURCE_KEYS)
    claim = r.string(src.get("claim", "groups"), f"{key}.claim")
    strip = src.get("strip_prefix") or []
    strip = [strip] if isinstance(strip, str) else strip
    strip = tuple(sorted(_string_list(r, strip, f"{key}.strip_prefix")))
    rules = []
    for i, entry in enumerate(r.sequence(src.get("rules") or [], f"{key}.rules")):
        rkey = f"{key}.rules[{i}]"
        entry = r.mapping(entry, rkey, {"prefix", "match", "role"}, {"role"})
        if ("prefix" in entry) == ("match" in entry):
            r.fail(rkey, "needs either 'prefix' (e.g. prefix: /labs/) or 'match' "
                         "(e.g. match: 'cn={name},ou=courses,dc=uni,dc=edu'), not both")
        role = r.choice(entry["role"], f"{rkey}.role", ROLES)
        if "prefix" in entry:
            template = r.string(entry["prefix"], f"{rkey}.prefix") + "{name}"
        else:
            template = r.string(entry["match"], f"{rkey}.match")
        try:
            rules.append(Rule(role, template))
        except ValueError as e:
            r.fail(rkey, str(e))
    return ClaimSource(claim, tuple(rules), strip)


_GROUP_KEYS = {"rename", "course_prefix", "lab_prefix", "teachers", "lab_leads", "admins", "allowed"}


def parse_group_mapping(r: SiteReader, data: Any, known_groups: frozenset[str]) -> GroupMapping:
    """``auth.groups``: the claims that hold groups (``sources``, or one ``claim``), renames and marker groups."""
    g = r.mapping(data, "auth.groups", _GROUP_KEYS | _SOURCE_KEYS | {"sources"})
    if "sources" in g:
        inline = sorted(_SOURCE_KEYS & set(g))
        if inline:
            r.fail("auth.groups", f"has both 'sources' and the single-claim {', '.join(inline)}: move "
                                  f"{' and '.join(inline)} into an entry of sources, e.g. "
                                  "sources: [{claim: groups, strip_prefix: /}, "
                                  "{claim: realm_access.roles, rules: [...]}]")
        entries = r.sequence(g["sources"], "auth.groups.sources")
        if not entries:
            r.fail("auth.groups.sources", "is empty: list at least one claim, e.g. [{claim: groups}]")
        sources = tuple(_parse_source(r, e, f"auth.groups.sources[{i}]") for i, e in enumerate(entries))
    else:
        sources = (_parse_source(r, {k: v for k, v in g.items() if k in _SOURCE_KEYS}, "auth.groups"),)
    defaults = GroupMapping()
    rename = r.mapping(g.get("rename") or {}, "auth.groups.rename", set(g.get("rename") or {}))
    for name, target in rename.items():
        r.string(target, f"auth.groups.rename.{name}")
    return GroupMapping(
        claim=sources[0].claim,
        strip_prefix=sources[0].strip_prefix,
        rename={str(k): v for k, v in rename.items()},
        course_prefix=str(g.get("course_prefix", defaults.course_prefix) or ""),
        lab_prefix=str(g.get("lab_prefix", defaults.lab_prefix) or ""),
        teachers=_string_list(r, g.get("teachers", sorted(defaults.teachers)), "auth.groups.teachers"),
        lab_leads=_string_list(r, g.get("lab_leads", sorted(defaults.lab_leads)), "auth.groups.lab_leads"),
        admins=_string_list(r, g.get("admins", sorted(defaults.admins)), "auth.groups.admins"),
        allowed=_string_list(r, g.get("allowed", []), "auth.groups.allowed"),
        known=known_groups,
        sources=sources,
    )


def parse_spawner(r: SiteReader, data: Any) -> SpawnerConfig:
    spawner = r.mapping(data, "spawner", {"type", "kubernetes"})
    kind = r.choice(spawner.get("type", "local"), "spawner.type", SPAWNER_TYPES)
    k = r.mapping(spawner.get("kubernetes") or {}, "spawner.kubernetes",
                  {"namespace", "image", "storage_class", "storage_capacity", "home_mount_path",
                   "pod_start_timeout", "unschedulable_grace", "lab_storage_class", "lab_storage_capacity"})
    kube: dict = {}
    if "namespace" in k:
        kube["namespace"] = r.string(k["namespace"], "spawner.kubernetes.namespace", NAME_RE,
                                     "use lower-case letters, digits and '-'")
    if "image" in k:
        kube["image"] = r.string(k["image"], "spawner.kubernetes.image", IMAGE_RE,
                                 "write a container image like registry.example.edu/npuhub/cpu-lab:2026.1")
    if "storage_class" in k:
        kube["storage_class"] = r.string(k["storage_class"], "spawner.kubernetes.storage_class")
    if "storage_capacity" in k:
        kube["storage_capacity"] = r.string(str(k["storage_capacity"]), "spawner.kubernetes.storage_capacity",
                                            QUANTITY_RE, "write a size like 10Gi")
    if "home_mount_path" in k:
        path = r.string(k["home_mount_path"], "spawner.kubernetes.home_mount_path")
        if not path.startswith("/"):
            r.fail("spawner.kubernetes.home_mount_path", "must be an absolute path like /home/jovyan")
        kube["home_mount_path"] = path
    if "pod_start_timeout" in k:
        seconds = r.number(k["pod_start_timeout"], "spawner.kubernetes.pod_start_timeout")
        if seconds < 10:
            r.fail("spawner.kubernetes.pod_start_timeout", "must be at least 10 (seconds)")
        kube["pod_start_timeout"] = seconds
    if "unschedulable_grace" in k:
        kube["unschedulable_grace"] = r.number(k["unschedulable_grace"], "spawner.kubernetes.unschedulable_grace")
    if "lab_storage_class" in k:  # a ReadWriteMany class: one volume per lab group, mounted in members' pods
        kube["lab_storage_class"] = r.string(k["lab_storage_class"], "spawner.kubernetes.lab_storage_class")
    if "lab_storage_capacity" in k:
        kube["lab_storage_capacity"] = r.string(str(k["lab_storage_capacity"]),
                                                "spawner.kubernetes.lab_storage_capacity", QUANTITY_RE,
                                                "write a size like 100Gi")
    return SpawnerConfig(kind, kube)
