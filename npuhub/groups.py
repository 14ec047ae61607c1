"""From an identity provider's group claims to hub groups, sign-in decisions and roles.

Identity providers send many groups (every mailing list, every department);
npuhub keeps only those that mean something here: courses and labs (by
prefix), the teacher, lab-lead and admin markers, explicit renames, and the
groups the site file lists. Sign-in decides who someone is and their groups;
it never grants slices or quota: roles only carry scopes the npuhub service
checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from jupyterhub.roles import get_default_roles

from .sharing import USER_SHARING_SCOPES

__all__ = ["GroupMapping", "normalize_group", "CUSTOM_SCOPES", "lookup_claim"]

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


def lookup_claim(claims: dict, path: str) -> Any:
    """The value at a dotted path ("realm_access.roles"); a key containing dots is tried whole first."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class GroupMapping:
    """How an identity provider's groups become hub groups, and who is a teacher, lab lead or admin."""

    claim: str = "groups"
    strip_prefix: str = ""
    rename: dict[str, str] = field(default_factory=dict)
    course_prefix: str = "course-"
    lab_prefix: str = "lab-"
    teachers: frozenset[str] = frozenset({"teachers"})
    lab_leads: frozenset[str] = frozenset({"lab-leads"})
    admins: frozenset[str] = frozenset({"admins"})
    allowed: frozenset[str] = frozenset()
    known: frozenset[str] = frozenset()

    def raw_groups(self, claims: dict) -> list[str]:
        """The claim's group names as strings (a list, or one string with commas or spaces)."""
        value = lookup_claim(claims, self.claim)
        if value is None:
            return []
        if isinstance(value, str):
            value = re.split(r"[,\s]+", value)
        if not isinstance(value, (list, tuple, set)):
            return []
        return [str(v) for v in value if isinstance(v, (str, int)) and str(v).strip()]

    def map_group(self, raw: str) -> str | None:
        """The hub group for one provider group, or None when it means nothing here."""
        if raw in self.rename:
            return normalize_group(self.rename[raw])
        name = raw[len(self.strip_prefix):] if self.strip_prefix and raw.startswith(self.strip_prefix) else raw
        name = normalize_group(name)
        if not name:
            return None
        if self.course_prefix and name.startswith(self.course_prefix):
            return name
        if self.lab_prefix and name.startswith(self.lab_prefix):
            return name
        if name in self.teachers | self.lab_leads | self.admins | self.allowed | self.known:
            return name
        return None

    def groups_from_claims(self, claims: dict) -> list[str]:
        """The hub groups for a person, from the provider's claims (or CAS attributes)."""
        return sorted({g for g in map(self.map_group, self.raw_groups(claims)) if g})

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
