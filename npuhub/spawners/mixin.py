"""A spawner mixin that asks for a slice of the pool before start and gives it back on stop.

It uses only JupyterHub's generic Spawner interface (options form,
``user_options``, start/stop/poll, state), so it combines with any spawner.
"""

from __future__ import annotations

import asyncio

from traitlets import Any, Float, Unicode, default
from traitlets.config import LoggingConfigurable

from jupyterhub.spawner import SpawnException

from ..allocation import AllocationRefused, LocalAllocator
from ..flavors import Flavor, FlavorError
from ..i18n import Text, message
from ..pool import Grant
from ..shares import format_share, share_label
from .form import render_flavor_form

__all__ = ["NPUSpawnerMixin", "NPUHubSpawnError", "VISIBLE_DEVICES_ENV", "ONLY_FLAVOR_KEY",
           "SERVER_NPUHUB_SCOPES"]

#: The variable each vendor's runtime reads to pick its devices.
VISIBLE_DEVICES_ENV = {"ascend": "ASCEND_VISIBLE_DEVICES", "nvidia": "CUDA_VISIBLE_DEVICES"}

_STATE_KEY = "npuhub"

#: The auth-state key by which sign-in limits a person to one flavor (a workshop's guests).
ONLY_FLAVOR_KEY = "npuhub_only_flavor"

#: What a server's own token may do at the npuhub service (for the lab extension's server part).
#: The hub keeps of these only what the owner holds: a teacher's ``teach`` narrows to her groups
#: (``custom:npuhub:teach!group=...``), a student gets no ``teach`` at all. ``operate`` is never
#: asked for: any code in the notebook can read this token.
SERVER_NPUHUB_SCOPES = ("custom:npuhub:use", "custom:npuhub:teach")

#: JupyterHub's own ``server`` role, asked for when the hub's copy cannot be read.
_SERVER_ROLE_SCOPES = ("users:activity!user", "access:servers!server")


class NPUHubSpawnError(SpawnException):
    """A refusal by policy, shown to the person in both languages, logged without a traceback."""

    def __init__(self, text: Text, *, reason: str, status_code: int = 400):
        super().__init__(str(text), reason=reason, status_code=status_code)
        self.text = text

    @property
    def jupyterhub_message(self) -> str:
        return self.message


class NPUSpawnerMixin(LoggingConfigurable):
    """Mix into a Spawner (before it in the bases) to spawn flavors with accelerator slices."""

    site_config_file = Unicode(
        "",
        config=True,
        help="""Path of the site file (npuhub.yaml) with the pool, groups, flavors and limits.

        Empty means npuhub's built-in example site.
        """,
    )

    allocator = Any(
        help="The allocator that grants slices; by default the one shared by this hub process."
    )

    admission_url = Unicode(
        "",
        config=True,
        help="""The npuhub service's API (e.g. http://127.0.0.1:8090/services/npuhub/api/v1).

        When set, slices come from the service, and a request the pool cannot
        serve now waits in its fair queue with a position and an estimate.
        Empty: the hub grants from its own simulated pool, refusing at once when full.
        """,
    )
    admission_token = Unicode(
        "",
        config=True,
        help="A hub API token with the custom:npuhub:operate scope, for calling the service on people's behalf.",
    )
    queue_timeout = Float(
        4 * 3600,
        config=True,
        help="The longest a start may wait in the queue (seconds) before the request is given up.",
    )
    queue_poll_interval = Float(2.0, config=True, help="How often a waiting start asks the service (seconds).")
    service_url_for_servers = Unicode(
        "",
        config=True,
        help="""The npuhub service's base URL as the servers reach it (ending in ``/services/npuhub/``).

        Given to each server as ``$NPUHUB_URL``, for the lab extension's status.
        Empty: derived from ``admission_url``; set it where servers reach the
        service by another address than the hub does (another network, a
        cluster-internal name).
        """,
    )

    @default("allocator")
    def _default_allocator(self):
        if self.admission_url:
            return _shared_service_allocator(self)
        return LocalAllocator.shared(self.site_config_file or None, log=self.log)

    @default("server_token_scopes")
    def _default_server_token_scopes(self):
        return _server_token_scopes

    @default("start_timeout")
    def _default_start_timeout(self):
        # JupyterHub's timeout covers the whole start: time in the queue, then the server's own start
        return int(self.queue_timeout + 300) if self.admission_url else 60

    flavor = Any(None, allow_none=True, help="The Flavor of the running server, once started.")
    grant = Any(None, allow_none=True, help="The Grant held by the running server, if any.")

    # -- who and what ---------------------------------------------------
    @property
    def catalogue(self):
        return self.allocator.site.catalogue

    def npuhub_groups(self) -> set[str]:
        """The groups of the server's owner, as JupyterHub knows them."""
        return {group.name for group in self.user.groups}

    async def npuhub_only_flavor(self) -> str | None:
        """The one flavor sign-in limited the owner to (a workshop's guests), or None: no limit.

        Read from the owner's auth state (``ONLY_FLAVOR_KEY``); without auth
        state (Authenticator.enable_auth_state off) nobody is limited.
        """
        get_auth_state = getattr(self.user, "get_auth_state", None)
        auth_state = await get_auth_state() if get_auth_state is not None else None
        only = (auth_state or {}).get(ONLY_FLAVOR_KEY)
        return only if isinstance(only, str) and only else None

    @default("options_form")
    def _default_options_form(self):
        async def form(spawner):
            groups = spawner.npuhub_groups()
            only = await spawner.npuhub_only_flavor()
            chosen = only or (spawner.user_options or {}).get("profile")
            allowed = spawner.catalogue.for_groups(groups)
            if only is not None:
                allowed = [f for f in allowed if f.id == only]
            if chosen not in {f.id for f in allowed}:
                default = spawner.catalogue.default_for(groups)
                chosen = default.id if default else None
            return render_flavor_form(allowed, chosen)

        return form

    @default("options_from_form")
    def _default_options_from_form(self):
        # JupyterHub passes ``spawner`` from the form, but not from options_from_query (?profile=...)
        async def options_from_form(form_data, spawner=self):
            values = form_data.get("profile") or []
            if len(values) != 1:
                raise NPUHubSpawnError(message("flavor_missing"), reason="flavor_missing")
            flavor = spawner._resolve_flavor(values[0], await spawner.npuhub_only_flavor())
            return {"profile": flavor.id}

        return options_from_form

    def _resolve_flavor(self, flavor_id, only: str | None = None) -> Flavor:
        try:
            flavor = self.catalogue.resolve(flavor_id, self.npuhub_groups())
        except FlavorError as e:
            status = 403 if e.reason == "flavor_not_allowed" else 400
            raise NPUHubSpawnError(e.text, reason=e.reason, status_code=status) from None
        if only is not None and flavor.id != only:
            raise NPUHubSpawnError(message("flavor_not_allowed", flavor=flavor.id, allowed=only),
                                   reason="flavor_not_allowed", status_code=403)
        return flavor

    def _requested_flavor(self, only: str | None = None) -> Flavor:
        options = self.user_options or {}
        if not isinstance(options, dict):
            raise NPUHubSpawnError(
                message("options_invalid", detail="user_options must be an object"),
                reason="options_invalid",
            )
        unknown = sorted(set(options) - {"profile"})
        if unknown:
            raise NPUHubSpawnError(
                message("options_invalid", detail="unknown option(s): " + ", ".join(map(str, unknown))[:200]),
                reason="options_invalid",
            )
        if "profile" not in options:
            if only is not None:
                return self._resolve_flavor(only, only)
            default = self.catalogue.default_for(self.npuhub_groups())
            if default is None:
                raise NPUHubSpawnError(message("no_flavors"), reason="flavor_not_allowed", status_code=403)
            return default
        return self._resolve_flavor(options["profile"], only)

    # -- lifecycle --------------------------------------------------------
    async def start(self):
        self._release()  # a leftover grant from an earlier run must never be held twice
        flavor = self._requested_flavor(await self.npuhub_only_flavor())
        self._npuhub_status = None
        try:
            grant = await self.allocator.acquire(self, flavor)
        except AllocationRefused as e:
            raise NPUHubSpawnError(e.text, reason=e.reason, status_code=e.status_code) from None
        self.flavor, self.grant = flavor, grant
        self.apply_flavor(flavor)
        try:
            return await super().start()
        except BaseException:
            # includes CancelledError (start timeout): give the slice back, then let it propagate
            self._release()
            raise

    def apply_flavor(self, flavor: Flavor) -> None:
        """Set the spawner's own resource traits from the flavor. Spawners may extend this."""
        self.cpu_limit = flavor.cpu
        self.mem_limit = flavor.memory

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            self._release()

    async def poll(self):
        status = await super().poll()
        if status is not None and self.grant is not None:
            self.log.info("%s is gone (status %s); releasing its slice", self._log_name, status)
            self._release()
        return status

    def _release(self):
        grant, self.grant = self.grant, None
        if grant is not None:
            self.allocator.release(grant.id)

    def npuhub_report(self, text: Text, progress: int = 10) -> None:
        """Called by the allocator while the request waits: shown on the spawn page."""
        self._npuhub_status = (progress, str(text))

    async def progress(self):
        """Queue position and estimate while waiting, then the granted slice (JupyterHub stops us when done)."""
        last = None
        while self.grant is None and self.flavor is None:
            status = getattr(self, "_npuhub_status", None)
            if status and status != last:
                last = status
                yield {"progress": status[0], "message": status[1]}
            await asyncio.sleep(1)
        if self.grant is not None:
            yield {"progress": 40, "message": str(self.granted_message())}

    def granted_message(self) -> Text:
        grant = self.grant
        return message(
            "granted",
            share=share_label(grant.share),
            model=grant.model,
            node=grant.node,
            devices=",".join(map(str, grant.devices)),
        )

    # -- environment --------------------------------------------------------
    def get_env(self):
        env = super().get_env()
        env.update(self.npuhub_env())
        return env

    def npuhub_service_url(self) -> str:
        """The service's base URL for the servers (``.../services/npuhub/``), or '' when there is none."""
        url = self.service_url_for_servers or self.admission_url
        if not url:
            return ""
        url = url.rstrip("/")
        if url.endswith("/api/v1"):
            url = url[: -len("api/v1")]
        return url if url.endswith("/") else url + "/"

    def npuhub_env(self) -> dict[str, str]:
        """What the server learns of its slice and of the service: visible devices and NPUHUB_*."""
        env = {}
        service_url = self.npuhub_service_url()
        if service_url:
            env["NPUHUB_URL"] = service_url
        if self.flavor is not None:
            env["NPUHUB_FLAVOR"] = self.flavor.id
            env["NPUHUB_SHARE"] = format_share(self.flavor.share)
        grant = self.grant
        if grant is not None:
            vendor = self.allocator.vendor_of(grant.model)
            env[VISIBLE_DEVICES_ENV[vendor]] = ",".join(map(str, grant.devices))
            env["NPUHUB_DEVICE_MODEL"] = grant.model
            env["NPUHUB_NODE"] = grant.node
            env["NPUHUB_GRANT_ID"] = grant.id
            env["NPUHUB_SLICES"] = ",".join(f"{s.device}:{format_share(s.fraction)}" for s in grant.slices)
        return env

    # -- state across hub restarts ---------------------------------------------
    def get_state(self):
        state = super().get_state()
        if self.flavor is not None or self.grant is not None:
            state[_STATE_KEY] = {
                "flavor": self.flavor.id if self.flavor is not None else None,
                "grant": self.grant.to_dict() if self.grant is not None else None,
            }
        return state

    def load_state(self, state):
        super().load_state(state)
        saved = state.get(_STATE_KEY)
        if not saved:
            return
        self.flavor = self.catalogue.get(saved.get("flavor"))
        if saved.get("grant"):
            grant = Grant.from_dict(saved["grant"])
            if self.allocator.restore(grant):
                self.grant = grant

    def clear_state(self):
        super().clear_state()
        self._release()
        self.flavor = None


def _server_token_scopes(spawner) -> list[str]:
    """The scopes of a server's own token: the hub's ``server`` role plus the npuhub scopes.

    JupyterHub calls this at each start (``Spawner.server_token_scopes``) and
    keeps only what the owner holds (see ``SERVER_NPUHUB_SCOPES``). A hub that
    has not registered npuhub's custom scopes is not asked for them: it would
    fail the start over a scope it does not know.
    """
    from jupyterhub.scopes import scope_definitions

    scopes = set(_SERVER_ROLE_SCOPES)
    db = getattr(spawner.user, "db", None)
    if db is not None:  # the server role as this hub defines it (load_roles may change it)
        from jupyterhub import orm

        role = orm.Role.find(db, "server")
        if role is not None:
            scopes = set(role.scopes)
    return sorted(scopes | {s for s in SERVER_NPUHUB_SCOPES if s in scope_definitions})


_SERVICE_ALLOCATORS: dict[tuple, object] = {}


def _shared_service_allocator(spawner):
    """One ServiceAllocator per (service, site) in this hub process, shared by every spawner."""
    from .service_allocator import ServiceAllocator

    key = (spawner.admission_url, spawner.site_config_file, spawner.queue_poll_interval, spawner.queue_timeout)
    if key not in _SERVICE_ALLOCATORS:
        _SERVICE_ALLOCATORS[key] = ServiceAllocator(
            spawner.site_config_file or None, spawner.admission_url, spawner.admission_token,
            poll_interval=spawner.queue_poll_interval, queue_timeout=spawner.queue_timeout, log=spawner.log)
    return _SERVICE_ALLOCATORS[key]
