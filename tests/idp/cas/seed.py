"""Test accounts and registered services of the test CAS server.

Importing this module needs no Django; ``seed()`` writes them into the server's
database (``serve.py`` calls it after the migrations).
"""

from __future__ import annotations

#: The one password of every test account.
PASSWORD = "test-cas-password"

#: CAS user name -> the groups the portal releases as the `memberOf` attribute.
USERS: dict[str, list[str]] = {
    "alice": ["course-demo"],
    "bob": ["lab-demo", "lab-leads"],
    "carol": ["admins"],
    "mallory": ["staff-only"],
    # memberOf straight from an LDAP directory: distinguished names
    "dora": ["cn=demo,ou=courses,dc=uni,dc=edu", "cn=demo,ou=labs,dc=uni,dc=edu", "cn=library,ou=services,dc=uni,dc=edu"],
    "dave": ["CN=JSJZX,OU=Staff,DC=uni,DC=edu"],
}

#: Services the portal knows (name -> regular expression of service URLs), as its admins register them.
#: npuhub is registered by its callback prefix (the service URL carries `?next=`), on any loopback port.
SERVICES: dict[str, str] = {
    "npuhub": r"^http://127\.0\.0\.1:\d+/hub/cas/.*$",
    # Another application at the same portal: its tickets must not open npuhub.
    "other-app": r"^http://other-app\.example/.*$",
}

#: Attributes released to every service: (Django user field, name the service sees).
RELEASED = [("groups", "memberOf"), ("email", "mail"), ("first_name", "displayName")]


def seed() -> None:
    """Create the accounts, their groups and the registered services (idempotent)."""
    from cas_server.models import ReplaceAttributName, ServicePattern
    from django.contrib.auth.models import Group, User

    for name, groups in USERS.items():
        user, _ = User.objects.get_or_create(username=name)
        user.email = f"{name}@example.edu"
        user.first_name = name.title()
        user.set_password(PASSWORD)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=g)[0] for g in groups])

    for pos, (name, pattern) in enumerate(SERVICES.items()):
        service, _ = ServicePattern.objects.update_or_create(
            name=name, defaults={"pattern": pattern, "pos": pos, "single_log_out": False})
        for field, released_as in RELEASED:
            ReplaceAttributName.objects.get_or_create(name=field, replace=released_as, service_pattern=service)
