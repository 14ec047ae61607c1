"""Workshop access codes: teachers admit guests without a university account to a course, for a time window.

``policy`` holds the rules (codes, names, windows, refusals), ``store`` the
SQL tables, ``cleanup`` the removal of guests once a workshop is over,
``handlers`` and ``templates/`` the pages, and ``mixin`` the
``WorkshopCodesMixin`` that adds all of it to an authenticator (applied with
the ``@with_workshop_codes`` class decorator).
"""

from .mixin import TEMPLATES, WorkshopCodesMixin, with_workshop_codes

__all__ = ["WorkshopCodesMixin", "with_workshop_codes", "TEMPLATES"]
