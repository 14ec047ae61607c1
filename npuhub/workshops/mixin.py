"""WorkshopCodesMixin: gives any authenticator workshop codes (guest sign-in, teacher pages, clean-up)."""

from __future__ import annotations

import os
from datetime import datetime, tzinfo
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tornado import web
from traitlets import Bool, Float, Integer, List, Unicode, validate

from jupyterhub import orm
from jupyterhub.utils import make_ssl_context, maybe_future

from ..flavors import LIMIT_PROPERTY
from ..groups import GroupMapping
from ..auth_state import ONLY_FLAVOR_KEY, WORKSHOP_KEY
from ..spawners.mixin import NPUHubSpawnError
from .cleanup import SERVICE_NAME, WorkshopCleanup
from .menu import WorkshopMenus
from .policy import (
    GUEST_PREFIX,
    MESSAGES,
    Guest,
    WorkshopError,
    clean_display_name,
    normalize_code,
    utcnow,
)
from .planning import WorkshopPlanning
from .store import WorkshopStore
from .throttle import JoinThrottle

__all__ = ["WorkshopCodesMixin", "with_workshop_codes", "WorkshopSignInRefused", "TEMPLATES",
           "WORKSHOP_KEY"]

#: The folder of the workshop pages; c.JupyterHub.template_paths must include it.
TEMPLATES = str(Path(__file__).parent / "templates")
#: Where a guest's auth state says which workshop she came with.
#: The login-form fields of a guest's sign-in.
CODE_FIELD, NAME_FIELD = "workshop_code", "display_name"


class WorkshopSignInRefused(web.HTTPError):
    """A guest's sign-in refused by policy: a page shows ``error.text``; logged without a traceback."""

    def __init__(self, error: WorkshopError):
        super().__init__(error.status, "%s", str(error.text))
        self.error = error

    @property
    def jupyterhub_message(self) -> str:
        return str(self.error.text)


class WorkshopCodesMixin(WorkshopPlanning):
    """Mix into an Authenticator (before it in the bases) to let teachers admit guests with workshop codes.

    A teacher makes a code for a course she teaches, valid in a time window;
    people without a university account sign in with the code and a display
    name, and get a temporary account in that course, removed once the window
    ends or the code is revoked. The authenticator's own sign-in is unchanged:
    the mixin acts only on login data that carries a workshop code, and on the
    accounts it made.

    Needs ``manage_groups`` (guests get their course group from sign-in),
    ``c.JupyterHub.template_paths`` to include ``TEMPLATES``, and a hub service
    (``service_name``) with an API token and the scopes of
    ``cleanup.service_scopes``; ``npuhub.embedded.hub.configure_workshops`` sets
    all three. The npuhub service holds guests of a code to its flavor (a hub
    group whose properties say so, ``hold_to_flavor``); with
    ``enable_auth_state`` the spawner checks it too. The flavors a code may
    name come from the npuhub service (``admission_url``), at each page: the
    hub keeps no copy of them.
    """

    enable_workshop_codes = Bool(
        True,
        config=True,
        help="Offer workshop codes: the teachers' pages, guest sign-in and the clean-up of guest accounts.",
    )

    db_url = Unicode(
        "sqlite:///npuhub.sqlite",
        config=True,
        help="""The npuhub database (SQLAlchemy URL) holding the workshop codes and their guests.

        A relative SQLite path is relative to the hub's working directory
        (the data directory in the embedded stack). Use PostgreSQL in
        production, e.g. ``postgresql+psycopg://npuhub@db/npuhub``.
        """,
    )

    admission_url = Unicode(
        "",
        config=True,
        help="""The npuhub service's API (e.g. http://npuhub:8090/services/npuhub/api/v1), asked for the
        flavors of a course when a teacher makes a code. ``npuhub.hubconfig`` sets it, and
        ``admission_token``, to the spawner's (``c.NPUSpawnerMixin``).""",
    )

    admission_token = Unicode(
        "",
        config=True,
        help="The hub's token at the npuhub service (``custom:npuhub:operate``: it asks for a teacher).",
    )

    site_groups = List(
        Unicode(),
        config=True,
        help="""Groups the site file lists (``npuhub.hubconfig`` fills it): an admin may make codes for
        their courses and labs even before any member has signed in, and so made the hub group.""",
    )

    cleanup_interval = Float(
        30,
        config=True,
        help="""Seconds between two runs of the clean-up that stops the servers and removes the
        accounts of guests whose workshop has ended or was revoked (revoking a code also runs it
        at once). A guest the hub could not remove yet is tried again after this long, then
        twice as long each time, up to 10 minutes.""",
    )

    max_window_hours = Float(
        24 * 7,
        config=True,
        help="The longest time window of one workshop code, in hours.",
    )

    max_guests_limit = Integer(
        500,
        config=True,
        help="The highest 'most guests' a teacher may set for one code.",
    )

    default_max_guests = Integer(
        60,
        config=True,
        help="""The most guests of a code whose teacher left "most guests" empty; 0 for no limit.

        A code read off a projector can be passed on: without a limit one
        client could make any number of accounts with it.
        """,
    )

    join_free_attempts = Integer(
        10,
        config=True,
        help="""Wrong codes one address may try at /hub/join per minute before it must wait.

        Each wrong code beyond waits twice as long as the one before (from 1 s
        up to ``join_max_wait``); a minute without a wrong code forgives them.
        A whole class often comes from one address: keep it generous.
        """,
    )

    join_max_wait = Float(
        300,
        config=True,
        help="The longest wait, in seconds, imposed at /hub/join after wrong codes.",
    )

    timezone = Unicode(
        "",
        config=True,
        help="""Time zone of the times teachers type and see, as an IANA name such as Asia/Shanghai.

        Empty: the hub machine's local time zone.
        """,
    )

    guest_group = Unicode(
        "workshop-guests",
        config=True,
        help="""Hub group every guest is in, besides her course group.

        The clean-up's service may remove members of this group only; sign-in
        through the identity provider never puts anyone in it.
        """,
    )

    flavor_group_prefix = Unicode(
        "workshop-flavor-",
        config=True,
        help="""Prefix of the hub groups that hold a workshop's guests to its flavor (``<prefix><flavor>``).

        A guest of a code limited to one flavor is put in that group; its
        ``properties`` say ``{"npuhub_flavors": ["<flavor>"]}``, and the npuhub
        service reads them with her groups: her menus show only that flavor
        and a request for another is refused, whoever sends it (the spawn
        page, her own token, a Dask cluster). Made at her sign-in.
        """,
    )

    service_name = Unicode(
        SERVICE_NAME,
        config=True,
        help="The hub service (c.JupyterHub.services) whose API token the clean-up uses.",
    )

    @validate("cleanup_interval")
    def _positive_interval(self, proposal):
        if proposal.value <= 0:
            raise ValueError("cleanup_interval must be above 0 seconds")
        return proposal.value

    # -- parts -------------------------------------------------------------------------
    @cached_property
    def workshop_store(self) -> WorkshopStore:
        return WorkshopStore(self.db_url)

    @cached_property
    def workshop_menus(self) -> WorkshopMenus:
        return WorkshopMenus(self.admission_url, self.admission_token)

    @cached_property
    def join_throttle(self) -> JoinThrottle:
        return JoinThrottle(free=self.join_free_attempts, max_wait=self.join_max_wait)

    @cached_property
    def workshop_zone(self) -> tzinfo:
        if self.timezone:
            try:
                return ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"WorkshopCodesMixin.timezone: no time zone {self.timezone!r}") from None
        return datetime.now().astimezone().tzinfo

    @property
    def workshop_mapping(self) -> GroupMapping:
        """The authenticator's group mapping (its ``group_mapping`` trait), else the defaults."""
        mapping = getattr(self, "group_mapping", None)
        return mapping if isinstance(mapping, GroupMapping) else GroupMapping()

    def class_groups(self, hub_groups: list[str]) -> set[str]:
        """Every course and lab group, of the site file and the hub: what an admin may make codes for."""
        names = set(hub_groups) | set(self.site_groups)
        return {g for g in names if self.workshop_mapping.kind_of(g) in ("course", "lab")}

    @property
    def workshop_cleanup(self) -> WorkshopCleanup | None:
        """The running clean-up, or None (not started, or no service token)."""
        return getattr(self, "_workshop_cleanup", None)

    # -- Authenticator hooks ---------------------------------------------------------------
    def get_handlers(self, app):
        """The authenticator's handlers plus the workshop pages; also starts the clean-up.

        JupyterHub calls this once, at start-up and on its event loop: the one
        hook an authenticator gets with the application.
        """
        handlers = list(super().get_handlers(app))
        if not self.enable_workshop_codes:
            return handlers
        if not self.manage_groups:
            raise ValueError("WorkshopCodesMixin needs Authenticator.manage_groups = True: "
                             "guests get their course group from sign-in")
        if TEMPLATES not in map(os.path.abspath, app.template_paths):
            raise ValueError(f"WorkshopCodesMixin needs {TEMPLATES} in c.JupyterHub.template_paths")
        if not self.enable_auth_state:
            self.log.info("Authenticator.enable_auth_state is off: the spawner does not check a workshop "
                          "guest's flavor itself; the npuhub service holds her to it (her flavor group)")
        self.start_workshop_cleanup(app)
        _add_nosniff(app)
        from .handlers import workshop_handlers

        return handlers + workshop_handlers()

    def start_workshop_cleanup(self, app) -> WorkshopCleanup | None:
        """Run the clean-up every ``cleanup_interval`` seconds, as the hub service ``service_name``.

        Returns None, after logging an error, when that service has no token in
        ``c.JupyterHub.services``: sign-in works, but nobody removes guests.
        """
        token = next((s.get("api_token") for s in app.services if s.get("name") == self.service_name), None)
        if not token:
            self.log.error("No hub service %r with an api_token: guests of ended workshops will NOT be "
                           "removed", self.service_name)
            return None
        ssl_context = None
        if app.internal_ssl:
            ssl_context = make_ssl_context(app.internal_ssl_key, app.internal_ssl_cert,
                                           cafile=app.internal_ssl_ca)
        cleanup = WorkshopCleanup.over_rest_api(self.workshop_store, app.hub.api_url, token,
                                                ssl_context=ssl_context, log=self.log,
                                                retry_base=self.cleanup_interval)
        cleanup.start(self.cleanup_interval)
        self._workshop_cleanup = cleanup
        return cleanup

    async def authenticate(self, handler, data=None, **kwargs):
        """A guest's sign-in when ``data`` has a workshop code; else the authenticator's own.

        Raises WorkshopSignInRefused (an HTTP error with a message in both
        languages) when the code or the name is refused. The authenticator's
        own sign-ins never get the guest group, nor a guest account's name.
        """
        if self.enable_workshop_codes and isinstance(data, dict) and data.get(CODE_FIELD) is not None:
            try:
                return self.admit_guest(handler, data.get(CODE_FIELD) or "", data.get(NAME_FIELD) or "")
            except WorkshopError as e:
                raise WorkshopSignInRefused(e) from None
        model = await maybe_future(super().authenticate(handler, data, **kwargs))
        if model is None or not self.enable_workshop_codes:
            return model
        if not isinstance(model, dict):
            model = {"name": model}
        name = self.normalize_username(model["name"])
        if self.workshop_guest(name) is not None:
            self.log.warning("Refusing sign-in of %r: the name belongs to a workshop guest account", name)
            return None
        if model.get("groups"):
            model["groups"] = [g for g in model["groups"] if g != self.guest_group]
        return self.with_roster_groups(name, model)

    def admit_guest(self, handler, code: str, display_name: str) -> dict:
        """Take a seat of the workshop and return the guest's auth model. Raises WorkshopError."""
        display_name = clean_display_name(display_name)
        now = utcnow()

        def name_taken(name: str) -> bool:
            return handler is not None and handler.find_user(name) is not None

        workshop, guest = self.workshop_store.admit(normalize_code(code), display_name, now=now,
                                                    zone=self.workshop_zone, name_taken=name_taken)
        self.log.info("Workshop %s (%s): admitted guest %s (%r)", workshop.code, workshop.group,
                      guest.username, display_name)
        auth_state = {WORKSHOP_KEY: {"code": workshop.code, "group": workshop.group,
                                                "display_name": display_name}}
        groups = [workshop.group, self.guest_group]
        if workshop.flavor:
            auth_state[ONLY_FLAVOR_KEY] = workshop.flavor
            groups.append(self.hold_to_flavor(handler, workshop.flavor))
        return {
            "name": guest.username,
            "admin": False,
            "groups": groups,
            # Only the course group, never admin: a guest can be no teacher, lab lead or admin.
            "roles": self.workshop_mapping.roles_for([workshop.group], admin=False),
            "auth_state": auth_state,
        }

    def hold_to_flavor(self, handler, flavor: str) -> str:
        """The hub group that holds its members to ``flavor``, with that in its properties; returns its name.

        Written to the hub's database before the guest is signed in (and so
        before she has any token), in the sign-in's own transaction: the
        npuhub service never sees her in the group without its limit. Without
        a handler (tests of the sign-in alone) only the name is returned.
        """
        name = f"{self.flavor_group_prefix}{flavor}"
        db = getattr(handler, "db", None)
        if db is None:
            return name
        group = orm.Group.find(db, name)
        if group is None:
            group = orm.Group(name=name)
            db.add(group)
        wanted = {**(group.properties or {}), LIMIT_PROPERTY: [flavor]}
        if group.properties != wanted:
            group.properties = wanted
            self.log.info("Hub group %s holds its members to the flavor %s", name, flavor)
        db.commit()
        return name

    def workshop_guest(self, username: str) -> Guest | None:
        """The store's record of a guest account, or None (every guest's name starts with GUEST_PREFIX)."""
        if not username.startswith(GUEST_PREFIX):
            return None
        return self.workshop_store.guest(username)

    def _is_guest(self, username: str, authentication: dict | None) -> bool:
        state = (authentication or {}).get("auth_state") or {}
        guest = self.workshop_guest(username) if WORKSHOP_KEY in state else None
        return guest is not None and guest.removed_at is None

    def check_allowed(self, username, authentication=None):
        """Guests just admitted are allowed; everyone else as the authenticator decides."""
        if self.enable_workshop_codes and self._is_guest(username, authentication):
            return True
        return super().check_allowed(username, authentication)

    async def refresh_user(self, user, handler=None, **kwargs):
        """A guest stays signed in while her workshop is open; others as the authenticator decides."""
        guest = self.workshop_guest(user.name) if self.enable_workshop_codes else None
        if guest is None:
            refreshed = await maybe_future(super().refresh_user(user, handler, **kwargs))
            if isinstance(refreshed, dict) and refreshed.get("groups"):
                refreshed["groups"] = [g for g in refreshed["groups"] if g != self.guest_group]
                refreshed = self.with_roster_groups(user.name, refreshed)
            return refreshed
        workshop = self.workshop_store.get(guest.code)
        return guest.removed_at is None and workshop is not None and not workshop.over(utcnow())

    async def pre_spawn_start(self, user, spawner):
        """No new server for a guest whose workshop is over, though the hub may still think her signed in.

        The hub asks ``refresh_user`` only every few minutes: without this she
        could start again, and wait in the queue, while the clean-up removes her.
        Raises NPUHubSpawnError (a refusal the hub logs without a traceback).
        """
        await maybe_future(super().pre_spawn_start(user, spawner))
        if not self.enable_workshop_codes:
            return
        guest = self.workshop_guest(user.name)
        if guest is None:
            self.open_with_materials(spawner, self.workshop_store.open_for(user.name, utcnow()))
            return
        workshop = self.workshop_store.get(guest.code)
        if guest.removed_at is not None or workshop is None or workshop.over(utcnow()):
            raise NPUHubSpawnError.of("workshop_over", MESSAGES["workshop_over"], status=403)
        self.open_with_materials(spawner, [workshop])


def _add_nosniff(app) -> None:
    """``X-Content-Type-Options: nosniff`` on every hub answer (the workshop pages are hub pages), unless set.

    Guests are strangers: a browser must not take an answer for another type
    than it says (an uploaded file run as a script).
    """
    headers = app.tornado_settings.setdefault("headers", {})
    if not any(name.lower() == "x-content-type-options" for name in headers):
        headers["X-Content-Type-Options"] = "nosniff"


def with_workshop_codes(authenticator_class: type) -> type:
    """Class decorator: the authenticator with WorkshopCodesMixin in front of its own methods.

    Listing the mixin in a class's bases would put it *behind* the methods the
    class itself defines, and silently lose it: the demo, OpenID Connect and CAS
    authenticators each define ``authenticate`` and ``check_allowed``, CAS its
    own ``get_handlers``, OIDC ``refresh_user``. So the decorated name is a
    subclass ``(WorkshopCodesMixin, authenticator_class)`` of the same name and
    module: configuration sections (``c.CASAuthenticator``), entry points and
    ``authenticator_class`` strings keep working.
    """
    if issubclass(authenticator_class, WorkshopCodesMixin):
        return authenticator_class  # has them already
    namespace = {
        "__module__": authenticator_class.__module__,
        "__qualname__": authenticator_class.__qualname__,
        "__doc__": authenticator_class.__doc__,
    }
    return type(authenticator_class)(authenticator_class.__name__, (WorkshopCodesMixin, authenticator_class),
                                     namespace)
