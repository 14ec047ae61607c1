"""Where an identity provider's groups are, and the rules that read them (the site file's ``auth.groups``).

A directory sends groups in more than one place and in more than one shape:
Keycloak puts courses in realm roles (``realm_access.roles``) and labs in a
``groups`` claim as paths (``/labs/vision``); a CAS portal releases
``memberOf`` as LDAP distinguished names (``cn=ai101,ou=courses,dc=uni,dc=edu``).
A :class:`ClaimSource` names one claim (a dotted path into nested claims) and
the :class:`Rule` s that turn its values into hub groups of a role (course,
lab, teacher, lab lead, admin, or a plain group). Matching a rule is
case-insensitive, and spaces after a DN's commas do not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["ROLES", "ClaimSource", "Rule", "claim_values", "lookup_claim"]

#: What a rule's matches become: ``course`` and ``lab`` groups (named after the match, with the
#: course or lab prefix), the ``teacher``, ``lab_lead`` and ``admin`` marker groups, or a ``group`` as named.
ROLES = ("course", "lab", "teacher", "lab_lead", "admin", "group")

_NAME = "{name}"


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


def claim_values(claims: dict, path: str) -> list[str]:
    """The claim's values as strings (a list, or one string with commas or spaces between names).

    A single string holding an LDAP DN (``cn=a,ou=b``) is one value, not split at its commas.
    """
    value = lookup_claim(claims, path)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value] if "=" in value else re.split(r"[,\s]+", value)
    if not isinstance(value, (list, tuple, set)):
        return []
    return [str(v).strip() for v in value if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip()]


def _pattern(template: str) -> re.Pattern:
    """``{name}`` captures one or more characters; commas match with or without spaces after them."""
    parts = []
    for i, piece in enumerate(template.split(_NAME)):
        if i:
            parts.append("(?P<name>.+?)" if i == 1 else "(?:.+?)")
        parts.append(r",\s*".join(re.escape(p.lstrip() if j else p) for j, p in enumerate(piece.split(","))))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Rule:
    """One value shape of a claim and the role it stands for.

    ``template`` is the value with ``{name}`` where the group's own name is
    (``/labs/{name}``, ``cn={name},ou=courses,dc=uni,dc=edu``); a template
    without ``{name}`` matches one value exactly (``/staff/jsjzx-admins``).
    ``prefix: X`` in the site file is the template ``X{name}``.
    """

    role: str
    template: str

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        if self.template.count(_NAME) > 1:
            raise ValueError(f"{self.template!r} has {_NAME} more than once")
        if self.role in ("course", "lab", "group") and _NAME not in self.template:
            raise ValueError(f"a {self.role} rule needs {_NAME} where the {self.role}'s name is "
                             f"(e.g. '/{self.role}s/{_NAME}'); to map one value, use rename")
        if not self.template.strip() or self.template == _NAME and self.role in ("teacher", "lab_lead", "admin"):
            raise ValueError(f"{self.template!r} would match every value: every group would make a {self.role}")

    @property
    def pattern(self) -> re.Pattern:
        return _pattern(self.template)

    def match(self, value: str) -> str | None:
        """The ``{name}`` part of ``value`` ('' for a template without it), or None when it does not match."""
        m = self.pattern.fullmatch(value.strip())
        if m is None:
            return None
        return m.groupdict().get("name") or ""

    def describe(self) -> str:
        return f"{self.template!r} -> {self.role.replace('_', ' ')}"


@dataclass(frozen=True)
class ClaimSource:
    """One claim (or CAS attribute) that holds groups, and how its values are read.

    Each value goes through the rules in order (the first that matches
    decides); a value no rule matches has the longest matching
    ``strip_prefix`` removed and is kept only if it names a group that means
    something here (``course-``/``lab-`` prefixes, the marker, allowed and site groups).
    """

    claim: str = "groups"
    rules: tuple[Rule, ...] = ()
    strip_prefix: tuple[str, ...] = ()

    def strip(self, value: str) -> str:
        for prefix in sorted(self.strip_prefix, key=len, reverse=True):
            if prefix and value.startswith(prefix):
                return value[len(prefix):]
        return value

    def first_rule(self, value: str) -> tuple[Rule, str] | None:
        for rule in self.rules:
            name = rule.match(value)
            if name is not None:
                return rule, name
        return None

    def shadowed(self) -> list[tuple[Rule, Rule]]:
        """(rule, the earlier rule that takes every value it would match): rules that can never apply."""
        found = []
        for i, rule in enumerate(self.rules):
            sample = rule.template.replace(_NAME, "x")
            for earlier in self.rules[:i]:
                if earlier.match(sample) is not None and (
                        _NAME not in rule.template or earlier.match(rule.template.replace(_NAME, "y/z-1")) is not None):
                    found.append((rule, earlier))
                    break
        return found
