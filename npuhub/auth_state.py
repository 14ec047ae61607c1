"""The auth-state keys that sign-in writes and the spawner and workshops read (a person's per-login facts)."""

__all__ = ["ONLY_FLAVOR_KEY", "WORKSHOP_KEY"]

#: The one flavor sign-in limits a person to (a workshop's guests).
ONLY_FLAVOR_KEY = "npuhub_only_flavor"

#: The workshop a guest signed in with (its code and her seat).
WORKSHOP_KEY = "npuhub_workshop"
