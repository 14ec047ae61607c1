"""Demo accounts for the embedded stack only: 40 students, 3 members of one lab and 2 of another, a teacher and an admin."""

from __future__ import annotations

import hmac
import os

from traitlets import Integer, Unicode, default

from ..workshops import with_workshop_codes
from .base import NPUHubAuthenticatorBase

__all__ = ["DemoAuthenticator", "demo_accounts", "EMBEDDED_ENV"]

#: Set to "embedded" by ``npuhub up``; the demo accounts refuse to exist without it.
EMBEDDED_ENV = "NPUHUB_MODE"


def demo_accounts(students: int = 40, lab_members: int = 3, vision_members: int = 2) -> dict[str, list[str]]:
    """User name -> groups of every demo account (a second lab, ``lab-vision``, shows that lab folders are apart)."""
    accounts = {f"student{i}": ["course-demo"] for i in range(1, students + 1)}
    accounts.update({f"labmember{i}": ["lab-demo"] for i in range(1, lab_members + 1)})
    accounts.update({f"vision{i}": ["lab-vision"] for i in range(1, vision_members + 1)})
    accounts["teacher1"] = ["course-demo", "teachers"]
    accounts["admin"] = ["admins"]
    return accounts


@with_workshop_codes
class DemoAuthenticator(NPUHubAuthenticatorBase):
    """Fixed demo accounts sharing one password, with their groups; guests come with workshop codes.

    Refused outside the embedded stack (``npuhub up``): a site's hub must sign
    people in through its identity provider.
    """

    password = Unicode(
        config=True,
        help="The one password of every demo account. Default: $NPUHUB_DEMO_PASSWORD.",
    )

    @default("password")
    def _default_password(self):
        return os.environ.get("NPUHUB_DEMO_PASSWORD", "")

    students = Integer(40, config=True, help="How many demo students (student1..studentN) exist.")
    lab_members = Integer(3, config=True, help="How many demo lab members (labmember1..labmemberN) exist.")
    vision_members = Integer(2, config=True, help="How many members of the second demo lab (vision1..visionN) exist.")

    @default("admin_users")
    def _default_admin_users(self):
        return {"admin"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if os.environ.get(EMBEDDED_ENV) != "embedded":
            raise RuntimeError(
                "DemoAuthenticator only runs in the embedded stack started by `npuhub up`; "
                "configure the site's sign-in (OpenID Connect or CAS) instead."
            )
        if len(self.password) < 8:
            raise RuntimeError("DemoAuthenticator needs a password of at least 8 characters")

    @property
    def accounts(self) -> dict[str, list[str]]:
        return demo_accounts(self.students, self.lab_members, self.vision_members)

    def check_allowed(self, username, authentication=None):
        return username in self.accounts

    async def authenticate(self, handler, data):
        username = (data.get("username") or "").strip().lower()
        password = data.get("password") or ""
        groups = self.accounts.get(username)
        if groups is None or not hmac.compare_digest(password.encode(), self.password.encode()):
            return None
        admin = username in self.admin_users
        return {
            "name": username,
            "groups": groups,
            "admin": admin,
            "roles": self.group_mapping.roles_for(groups, admin=admin),
        }
