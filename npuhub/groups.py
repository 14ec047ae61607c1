"""From an identity provider's group claims to hub groups, sign-in decisions and roles.

Identity providers send many groups (every mailing list, every department),
often in several claims and shapes (realm roles, group paths, LDAP DNs);
npuhub reads each claim with its rules (:mod:`npuhub.group_rules`) and keeps
only what means something here: courses and labs, the teacher, lab-lead and
admin markers, explicit renames, and the groups the site file lists; what it
drops is logged at sign-in and shown by ``npuhub check-config --claims``. Sign-in decides who someone is and their groups;
it never grants slices or quota: roles only carry scopes the npuhub service
checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from jupyterhub.roles import get_default_roles

from .group_rules import ClaimSource, Rule, claim_values, lookup_claim
from .sharing import USER_SHARING_SCOPES

__all__ = ["GroupMapping", "Kept", "normalize_group", "CUSTOM_SCOPES", "lookup_claim"]

#: Scopes the npuhub service defines, registered with JupyterHub (c.JupyterHub.custom_scopes).
CUSTOM_SCOPES = {
    "custom:npuhub:use": {
        "description": "Use npuhub: see and cancel one's own requests, see one's quota.",
    },
    "custom:npuhub:teach": {
        "description": "Manage a group's reservations and workshop codes; see its queue and usage.",
    },
    "custom:npuhub:operate": {
        "description": "Operate npuhub: quotas, reservations and queues of every group.",
    },
}

_INVALID = re.compile(r"[^a-z0-9-]+")


def normalize_group(name: str) -> str:
    """A hub group name: lower case, letters, digits and '-' ("AI 101/Spring" -> "ai-101-spring")."""
    return _INVALID.sub("-", name.strip().lower()).strip("-")[:255]


@dataclass(frozen=True)
class Kept:
    """What became of one value of a claim: the hub group it gave (or None) and why."""

    claim: str
    value: str
    group: str | None
    why: str


@dataclass(frozen=True)
class GroupMapping:
    """How an identity provider's groups become hub groups, and who is a teacher, lab lead or admin.

    ``sources`` lists the claims that hold groups, each with its rules
    (:mod:`npuhub.group_rules`); without it, the single claim ``claim`` with
    ``strip_prefix`` (the site file's older, one-claim form).
    """

    claim: str = "groups"
    strip_prefix: str | tuple[str, ...] = ""
    rename: dict[str, str] = field(default_factory=dict)
    course_prefix: str = "course-"
    lab_prefix: str = "lab-"
    teachers: frozenset[str] = frozenset({"teachers"})
    lab_leads: frozenset[str] = frozenset({"lab-leads"})
    admins: frozenset[str] = frozenset({"admins"})
    allowed: frozenset[str] = frozenset()
    known: frozenset[str] = frozenset()
    sources: tuple[ClaimSource, ...] = ()

    @property
    def claim_sources(self) -> tuple[ClaimSource, ...]:
        if self.sources:
            return self.sources
        strip = (self.strip_prefix,) if isinstance(self.strip_prefix, str) else tuple(self.strip_prefix)
        return (ClaimSource(self.claim, (), tuple(p for p in strip if p)),)

    def raw_groups(self, claims: dict) -> list[str]:
        """Every value of every source claim, as strings."""
        return [v for source in self.claim_sources for v in claim_values(claims, source.claim)]

    def _marker(self, role: str) -> str | None:
        markers = {"teacher": self.teachers, "lab_lead": self.lab_leads, "admin": self.admins}[role]
        return min(markers) if markers else None

    def _by_rule(self, rule: Rule, name: str) -> str | None:
        if rule.role in ("teacher", "lab_lead", "admin"):
            return self._marker(rule.role)
        group = normalize_group(name)
        if not group:
            return None
        prefix = {"course": self.course_prefix, "lab": self.lab_prefix}.get(rule.role, "")
        if prefix and not group.startswith(prefix):
            group = normalize_group(prefix + group)
        return group

    def _meaningful(self, name: str) -> bool:
        if self.course_prefix and name.startswith(self.course_prefix):
            return True
        if self.lab_prefix and name.startswith(self.lab_prefix):
            return True
        return name in self.teachers | self.lab_leads | self.admins | self.allowed | self.known

    def explain_value(self, source: ClaimSource, raw: str) -> Kept:
        """The hub group for one value of ``source`` (or None), with the reason, for logs and check-config."""
        if raw in self.rename:
            group = normalize_group(self.rename[raw]) or None
            return Kept(source.claim, raw, group, "rename")
        found = source.first_rule(raw)
        if found is not None:
            rule, name = found
            group = self._by_rule(rule, name)
            why = f"rule {rule.describe()}" if group else f"rule {rule.describe()}, but no {rule.role} group is set"
            return Kept(source.claim, raw, group, why)
        stripped = source.strip(raw)
        name = normalize_group(stripped)
        if name and self._meaningful(name):
            return Kept(source.claim, raw, name, "a name that means something here")
        return Kept(source.claim, raw, None, f"no rule matches, and {name or stripped!r} is not a course, lab, "
                                              "marker, allowed or site group")

    def explain(self, claims: dict) -> list[Kept]:
        """What became of every value of every source claim."""
        return [self.explain_value(source, raw)
                for source in self.claim_sources for raw in claim_values(claims, source.claim)]

    def map_group(self, raw: str) -> str | None:
        """The hub group for one provider group (read as a value of the first source), or None."""
        return self.explain_value(self.claim_sources[0], raw).group

    def groups_from_claims(self, claims: dict) -> list[str]:
        """The hub groups for a person, from the provider's claims (or CAS attributes)."""
        return sorted({k.group for k in self.explain(claims) if k.group})

    def dropped(self, claims: dict) -> list[Kept]:
        """The values no rule or name kept (logged at sign-in, so nothing is dropped silently)."""
        return [k for k in self.explain(claims) if k.group is None]

    def problems(self) -> list[str]:
        """Parts of the mapping that can never match anything, each a sentence for check-config and the log."""
        found = []
        for key, names in (("admins", self.admins), ("teachers", self.teachers), ("lab_leads", self.lab_leads),
                           ("allowed", self.allowed)):
            for name in sorted(names):
                if normalize_group(name) != name:
                    found.append(f"auth.groups.{key}: {name!r} can never match: hub group names are lower-case "
                                 f"letters, digits and '-' (what is left after rules, strip_prefix and renames); "
                                 f"write {normalize_group(name)!r}, and a rule or strip_prefix for the provider's form")
        for i, source in enumerate(self.claim_sources):
            where = f"auth.groups.sources[{i}]" if self.sources else "auth.groups"
            for j, rule in enumerate(source.rules):
                if rule.role in ("teacher", "lab_lead", "admin") and self._marker(rule.role) is None:
                    found.append(f"{where}.rules[{j}] ({rule.describe()}) can never apply: "
                                 f"auth.groups.{rule.role}s is empty")
            for rule, earlier in source.shadowed():
                found.append(f"{where}: the rule {rule.describe()} can never match: the earlier rule "
                             f"{earlier.describe()} takes every value it would")
        return found

    def kind_of(self, group: str) -> str:
        """course, lab or role; the marker groups ("lab-leads") are roles whatever their prefix."""
        if group in self.teachers | self.lab_leads | self.admins:
            return "role"
        if self.course_prefix and group.startswith(self.course_prefix):
            return "course"
        if self.lab_prefix and group.startswith(self.lab_prefix):
            return "lab"
        return "role"

    def is_allowed(self, groups: Iterable[str]) -> bool:
        """May this person sign in? Everyone, unless ``allowed`` lists groups (admins always may)."""
        groups = set(groups)
        return not self.allowed or bool(groups & (self.allowed | self.admins))

    def is_admin(self, groups: Iterable[str]) -> bool:
        return bool(set(groups) & self.admins)

    def roles_for(self, groups: Iterable[str], admin: bool | None = None) -> list[dict]:
        """JupyterHub role definitions for a person (for Authenticator.manage_roles).

        Everyone uses npuhub; a teacher teaches each course she is in, a lab lead
        leads each lab she is in; an admin operates everything. With managed
        roles the list replaces all of a person's roles, so JupyterHub's own
        ``user`` role (and ``admin`` for admins) is part of it. ``admin``
        defaults to membership of an admin group.
        """
        groups = sorted(set(groups))
        defaults = {role["name"]: role for role in get_default_roles()}
        roles = [dict(defaults["user"]),
                 {"name": "npuhub-user", "description": "Uses npuhub",
                  # access: signing in to the npuhub service from the browser (its OAuth)
                  "scopes": ["custom:npuhub:use", "access:services!service=npuhub",
                             # share her own servers (npuhub.sharing)
                             *USER_SHARING_SCOPES]}]
        teacher = bool(set(groups) & self.teachers)
        lead = bool(set(groups) & self.lab_leads)
        for group in groups:
            kind = self.kind_of(group)
            if (kind == "course" and teacher) or (kind == "lab" and lead):
                title = "teacher" if kind == "course" else "lab-lead"
                roles.append({
                    "name": f"npuhub-{title}-{group}"[:255],
                    "description": f"{title.replace('-', ' ').title()} of {group}",
                    "scopes": [
                        f"custom:npuhub:teach!group={group}",
                        f"read:users:name!group={group}",
                        f"read:users:activity!group={group}",
                        f"read:servers!group={group}",
                        f"read:groups!group={group}",
                    ],
                })
        if self.is_admin(groups) if admin is None else admin:
            roles.append(dict(defaults["admin"]))
            roles.append({"name": "npuhub-operator", "description": "Operates npuhub",
                          "scopes": ["custom:npuhub:operate"]})
        return roles
