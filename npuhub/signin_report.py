"""What ``npuhub check-config`` says about sign-in: the provider, its endpoints, and how groups are read.

``describe`` summarises the site file's ``auth`` section; ``problems`` lists
the parts of the group mapping that can never match; ``try_claims`` runs a
sample of what the provider sends (OpenID claims or CAS attributes, as JSON)
through the mapping and says what each value became.
"""

from __future__ import annotations

from .site_hub import AuthConfig

__all__ = ["describe", "problems", "try_claims"]


def _names(names) -> str:
    return ", ".join(sorted(names)) or "none"


def describe(auth: AuthConfig) -> list[str]:
    """Lines (without indentation) describing sign-in and the group mapping."""
    lines = []
    if auth.type == "oidc":
        o = auth.oidc
        lines.append(f"sign-in: OpenID Connect, issuer {o.get('issuer')}, client {o.get('client_id')} "
                     f"(secret from ${o.get('client_secret_env')})")
        lines.append(f"  endpoints: read from {o.get('issuer')}/.well-known/openid-configuration at the first "
                     "sign-in; scopes " + " ".join(o.get("scopes") or []))
        lines.append(f"  user name: the claim {o.get('username_claim')!r}")
        callback = "/hub/oauth_callback"
    elif auth.type == "cas":
        c = auth.cas
        validate = "/p3/serviceValidate" if c.get("protocol") == 3 else "/serviceValidate"
        lines.append(f"sign-in: CAS {c.get('protocol')}, server {c.get('server_url')}")
        lines.append(f"  endpoints: {c.get('server_url')}/login, {c.get('server_url')}{validate}"
                     + (f", {c.get('server_url')}/logout" if c.get("logout") else ""))
        lines.append("  user name: " + (f"the attribute {c['username_attribute']!r}" if c.get("username_attribute")
                                        else "the <cas:user> of the validation answer"))
        if "check_state" in c:
            lines.append("  login state: " + ("a nonce in the service URL, checked against a cookie of the browser"
                                              if c["check_state"] else "off (auth.cas.check_state: false)"))
        callback = "/hub/cas/callback"
    else:
        lines.append("sign-in: demo accounts (only `npuhub up` on one machine may use them)")
        callback = ""
    if callback:
        base = auth.public_url or "http://<--ip>:<--port>"
        lines.append(f"  callback: {base}{callback} (register it at the provider)")
    m = auth.groups
    for source in (m.claim_sources if auth.type != "demo" else ()):  # demo accounts have their groups
        strip = f", strip_prefix {', '.join(repr(p) for p in source.strip_prefix)}" if source.strip_prefix else ""
        lines.append(f"  groups from {source.claim!r}{strip}:")
        for rule in source.rules:
            lines.append(f"    {rule.describe()}{_target(m, rule.role)}")
        lines.append(f"    other values: kept if they start with {m.course_prefix!r} (course) or "
                     f"{m.lab_prefix!r} (lab), or name a marker, allowed or site group")
    for raw, target in sorted(m.rename.items()):
        lines.append(f"  rename {raw!r} -> {target}")
    lines.append(f"  admins: members of {_names(m.admins)} (hub admins, npuhub operators)")
    lines.append(f"  teachers: members of {_names(m.teachers)} teach each course they are in")
    lines.append(f"  lab leads: members of {_names(m.lab_leads)} lead each lab they are in")
    if auth.type != "demo":
        lines.append("  who may sign in: " + (f"members of {_names(m.allowed)} (and admins)" if m.allowed
                                             else "every account of the provider"))
    return lines


def _target(m, role: str) -> str:
    if role in ("teacher", "lab_lead", "admin"):
        markers = {"teacher": m.teachers, "lab_lead": m.lab_leads, "admin": m.admins}[role]
        return f" (group {min(markers)})" if markers else " (no such group set: never applies)"
    if role == "course":
        return f" (group {m.course_prefix}<name>)"
    if role == "lab":
        return f" (group {m.lab_prefix}<name>)"
    return " (group <name>)"


def problems(auth: AuthConfig) -> list[str]:
    return auth.groups.problems()


def try_claims(auth: AuthConfig, claims: dict) -> list[str]:
    """What the mapping makes of ``claims``: each value and what it became, then the person's groups and roles."""
    m = auth.groups
    lines = []
    for source in m.claim_sources:
        if not any(k.claim == source.claim for k in m.explain(claims)):
            lines.append(f"{source.claim!r}: not in the sample (or empty)")
    for kept in m.explain(claims):
        result = f"-> {kept.group}" if kept.group else "-> dropped"
        lines.append(f"{kept.claim} {kept.value!r} {result} ({kept.why})")
    groups = m.groups_from_claims(claims)
    admin = m.is_admin(groups)
    lines.append(f"groups: {', '.join(groups) or 'none'}")
    lines.append("may sign in: " + ("yes" if admin or m.is_allowed(groups) else
                                     f"no (in none of {_names(m.allowed)})"))
    lines.append(f"admin: {'yes' if admin else 'no'}")
    lines.append("roles: " + ", ".join(r["name"] for r in m.roles_for(groups, admin=admin)))
    return lines
