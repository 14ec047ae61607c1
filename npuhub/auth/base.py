"""What every npuhub authenticator shares: the group mapping, managed groups and roles."""

from __future__ import annotations

from traitlets import Instance, default

from jupyterhub.auth import Authenticator

from ..groups import GroupMapping

__all__ = ["NPUHubAuthenticatorBase"]


class NPUHubAuthenticatorBase(Authenticator):
    """Put first in an authenticator's bases: the provider's groups become hub groups and roles.

    Sign-in decides who someone is and their groups (``group_mapping``), and
    returns them with JupyterHub roles (``GroupMapping.roles_for``); the hub
    applies both at every login (managed groups and roles). Who may sign in is
    the mapping's ``allowed`` groups, so that counts as allow configuration.
    """

    group_mapping = Instance(
        GroupMapping,
        kw={},
        config=True,
        help="""How the identity provider's groups become hub groups, admins and roles
        (the site file's auth.groups): the claim or attribute holding them, prefixes,
        renames, the teacher, lab-lead and admin groups, and the groups allowed to sign in.""",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._dropped_logged: dict[str, frozenset] = {}  # person -> the dropped values last logged
        for problem in self.group_mapping.problems():
            self.log.warning("Group mapping: %s", problem)

    def mapped_groups(self, claims: dict, who: str = "") -> list[str]:
        """The hub groups in ``claims``; the values no rule kept are logged, never dropped silently.

        Logged once per person and set of dropped values (not at every refresh of her sign-in).
        """
        groups = self.group_mapping.groups_from_claims(claims)
        dropped = self.group_mapping.dropped(claims)
        seen = self._dropped_logged
        key = frozenset((k.claim, k.value) for k in dropped)
        if dropped and seen.get(who) != key:
            if len(seen) > 10_000:
                seen.clear()
            seen[who] = key
            shown = ", ".join(f"{k.claim}={k.value!r}" for k in dropped[:10])
            more = f" and {len(dropped) - 10} more" if len(dropped) > 10 else ""
            self.log.info("Groups of %s: kept %s; no rule kept %s%s (try: npuhub check-config --claims)",
                          who or "a sign-in", groups or "none", shown, more)
        return groups

    @default("manage_groups")
    def _default_manage_groups(self):
        return True

    @default("manage_roles")
    def _default_manage_roles(self):
        return True

    @default("any_allow_config")
    def _default_any_allow_config(self):
        return True  # group_mapping.allowed (or the account list) is the allow configuration
