"""A spawner mixin that asks the npuhub service for a slice before start, and ends the request on stop.

The service is the one source of truth: it gives each person's menu, admits
or queues the request, and sends with a grant everything the server is
started with (``launch``: environment, CPU, memory). The spawner keeps only
the request's id. One loop follows a start from submit to grant (a long poll,
``AdmissionClient.follow``) and turns each change into a progress event for
the spawn page. The mixin uses only JupyterHub's generic Spawner interface,
so it combines with any spawner (local processes, KubeSpawner).
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from html import escape

from traitlets import Any, Float, Unicode, default
from traitlets.config import LoggingConfigurable

from jupyterhub.spawner import SpawnException

from ..activity import report_interval
from ..auth_state import ONLY_FLAVOR_KEY
from ..flavors import FLAVOR_ID_RE
from ..i18n import Text, message
from ..refusals import Refusal
from ..sharing import SERVER_SHARING_SCOPES
from .client import AdmissionClient, ServiceUnreachable, retrying
from .form import render_flavor_form

__all__ = ["NPUSpawnerMixin", "NPUHubSpawnError", "ONLY_FLAVOR_KEY", "SERVER_NPUHUB_SCOPES", "bilingual_html"]

_STATE_KEY = "npuhub"

#: What a server's own token may do at the npuhub service (for the lab extension's server part).
#: The hub keeps of these only what the owner holds: a teacher's ``teach`` narrows to her groups
#: (``custom:npuhub:teach!group=...``), a student gets no ``teach`` at all. ``operate`` is never
#: asked for: any code in the notebook can read this token.
SERVER_NPUHUB_SCOPES = ("custom:npuhub:use", "custom:npuhub:teach")

#: JupyterHub's own ``server`` role, asked for when the hub's copy cannot be read.
_SERVER_ROLE_SCOPES = ("users:activity!user", "access:servers!server")


def bilingual_html(text: Text) -> str:
    """Both languages, each in its own element; the spawn page shows the reader's (npuhub's template)."""
    return (f'<span class="npuhub-t" lang="zh">{escape(text.zh)}</span>'
            f'<span class="npuhub-t npuhub-t-sep"> / </span>'
            f'<span class="npuhub-t" lang="en">{escape(text.en)}</span>')


class NPUHubSpawnError(SpawnException):
    """A refusal by policy, shown to the person in both languages, logged in one line without a traceback."""

    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        super().__init__(str(refusal.text), reason=refusal.reason, status_code=refusal.status,
                         message_html=bilingual_html(refusal.text))
        self.text = refusal.text

    @classmethod
    def of(cls, reason: str, text: Text | None = None, **kwargs) -> "NPUHubSpawnError":
        return cls(Refusal(reason, text, **kwargs))


class NPUSpawnerMixin(LoggingConfigurable):
    """Mix into a Spawner (before it in the bases) to start flavors holding accelerator slices."""

    admission_url = Unicode(
        "",
        config=True,
        help="""The npuhub service's API, e.g. http://127.0.0.1:8090/services/npuhub/api/v1 (required).

        Every start is admitted by the service: its menu, its fair queue, its
        budgets. npuhub's hub configuration (``npuhub.hubconfig``) sets it
        from the service registration.
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
    long_poll_seconds = Float(
        25.0,
        config=True,
        help="""How long one long poll of a waiting request is held open by the service (seconds, at most 50).

        The spawn page hears of a change at once, whatever this is; it only
        bounds how long a connection stays open without news.
        """,
    )
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
    lab_language = Unicode(
        "",
        config=True,
        help="""JupyterLab's default language in the servers: ``zh_CN`` or ``en`` (the site file's ``language``).

        A default only (a settings override, see ``npuhub.lab_language``): a
        person's own choice in JupyterLab's Settings → Language is her user
        setting, and wins. Empty: JupyterLab's own default.
        """,
    )

    group_mapping = Any(
        None,
        config=True,
        help="""The site's group mapping (``npuhub.groups.GroupMapping``), which tells labs from other groups;
        None: the default mapping (labs are the groups named ``lab-...``). npuhub's hub configuration sets it
        from the site file's ``auth.groups``.
        """,
    )

    @default("server_token_scopes")
    def _default_server_token_scopes(self):
        return _server_token_scopes

    @default("apply_user_options")
    def _default_apply_user_options(self):
        # ``profile`` is read and checked in start(), where a bad one is refused in one log line;
        # JupyterHub logs a traceback for anything raised here.
        def accept_profile(spawner, user_options):
            return None

        return accept_profile

    @default("start_timeout")
    def _default_start_timeout(self):
        # JupyterHub's timeout covers the whole start: time in the queue, then the server's own start
        return int(self.queue_timeout + 300)

    #: the request at the service that this server's slice belongs to (kept in the hub's state)
    request_id: str | None = None
    #: what the granted server is started with (``npuhub.launch``); only during a start
    launch: dict | None = None

    # -- who and what ---------------------------------------------------
    @property
    def admission(self) -> AdmissionClient:
        if not self.admission_url:
            raise NPUHubSpawnError.of("service_unreachable", message("service_not_configured"))
        return AdmissionClient(self.admission_url, self.admission_token)

    def npuhub_groups(self) -> list[str]:
        """The groups of the server's owner, as JupyterHub knows them."""
        return sorted(group.name for group in self.user.groups)

    async def npuhub_only_flavor(self) -> str | None:
        """The one flavor sign-in limited the owner to (a workshop's guests), or None: no limit.

        Read from the owner's auth state (``ONLY_FLAVOR_KEY``); without auth
        state (Authenticator.enable_auth_state off) nobody is limited.
        """
        get_auth_state = getattr(self.user, "get_auth_state", None)
        auth_state = await get_auth_state() if get_auth_state is not None else None
        only = (auth_state or {}).get(ONLY_FLAVOR_KEY)
        return only if isinstance(only, str) and only else None

    async def _service_menu(self) -> dict:
        return await retrying(lambda: self.admission.menu(self.user.name, self.npuhub_groups()), attempts=3)

    async def npuhub_menu(self) -> dict:
        """The owner's menu from the service (``{"flavors": [...], "default": id}``), narrowed by sign-in."""
        try:
            menu = await self._service_menu()
        except ServiceUnreachable:
            raise NPUHubSpawnError.of("service_unreachable") from None
        except Refusal as e:
            raise NPUHubSpawnError(e) from None
        only = await self.npuhub_only_flavor()
        if only is not None:
            menu = {"flavors": [f for f in menu["flavors"] if f["id"] == only], "default": only}
        return menu

    @default("options_form")
    def _default_options_form(self):
        async def form(spawner):
            try:
                menu = await spawner.npuhub_menu()
            except NPUHubSpawnError as e:
                return f'<p class="npuhub-problem">{bilingual_html(e.text)}</p>'
            chosen = (spawner.user_options or {}).get("profile")
            if chosen not in {f["id"] for f in menu["flavors"]}:
                chosen = menu["default"]
            return render_flavor_form(menu["flavors"], chosen)

        return form

    @default("options_from_form")
    def _default_options_from_form(self):
        # JupyterHub passes ``spawner`` from the form, but not from options_from_query (?profile=...)
        async def options_from_form(form_data, spawner=self):
            values = form_data.get("profile") or []
            if len(values) != 1:
                raise NPUHubSpawnError.of("flavor_missing")
            profile = values[0]
            await spawner._check_only_flavor(profile)
            return {"profile": profile}

        return options_from_form

    async def _check_only_flavor(self, profile: str | None) -> str | None:
        """The profile to ask for: the person's choice, within what sign-in allows (None: the default)."""
        only = await self.npuhub_only_flavor()
        if only is None:
            return profile
        if profile is not None and profile != only:
            raise NPUHubSpawnError.of("flavor_not_allowed", message("flavor_not_allowed", flavor=str(profile)[:80],
                                                                    allowed=only))
        return only

    def _requested_profile(self) -> str | None:
        """The profile id from ``user_options`` (the form, ``?profile=`` or the REST API), checked for shape."""
        options = self.user_options or {}
        if not isinstance(options, dict):
            raise NPUHubSpawnError.of("options_invalid", message("options_invalid",
                                                                 detail="user_options must be an object"))
        unknown = sorted(set(options) - {"profile"})
        if unknown:
            raise NPUHubSpawnError.of("options_invalid", message(
                "options_invalid", detail="unknown option(s): " + ", ".join(map(str, unknown))[:200]))
        profile = options.get("profile")
        if profile is not None and not (isinstance(profile, str) and FLAVOR_ID_RE.match(profile)):
            # no flavor is called that (the service says the same of a well-formed id it does not know)
            raise NPUHubSpawnError.of("flavor_unknown", message("flavor_unknown", flavor=str(profile)[:80]))
        return profile

    # -- lifecycle --------------------------------------------------------
    async def start(self):
        self._events_reset()
        await self._give_up_leftovers()
        profile = await self._check_only_flavor(self._requested_profile())
        if profile is None:
            profile = (await self.npuhub_menu())["default"]
            if profile is None:
                raise NPUHubSpawnError.of("no_flavors")
        self.request_id = request_id = uuid.uuid4().hex
        try:
            view = await self._admitted(request_id, profile)
            self.launch = view.get("launch") or {}
            self.apply_launch(self.launch)
            return await super().start()
        except BaseException:
            # refused, given up, timed out, or the server failed to start: nothing may keep the place or slice
            await asyncio.shield(self._end_request())
            raise

    async def _admitted(self, request_id: str, profile: str) -> dict:
        """Submit, then follow the request until granted; every change becomes a progress event."""
        client = self.admission
        try:
            view = await retrying(lambda: client.submit(user=self.user.name, groups=self.npuhub_groups(),
                                                        server=self.name or "", flavor=profile,
                                                        request_id=request_id), log=self.log, what="submitting")
        except ServiceUnreachable:
            raise NPUHubSpawnError.of("service_unreachable") from None
        except Refusal as e:
            self.log.info("npuhub refused %s's start of %s: %s", self._log_name, profile, e.reason)
            raise NPUHubSpawnError(e) from None
        try:
            async with asyncio.timeout(self.queue_timeout):
                async with aclosing(client.follow(view, wait=self.long_poll_seconds)) as updates:
                    async for view in updates:
                        self._event_from(view)
        except TimeoutError:
            self.log.info("%s waited %.0f s in the queue; giving up", self._log_name, self.queue_timeout)
            raise NPUHubSpawnError.of("queue_timeout") from None
        if view["state"] != "granted":
            text = _text(view.get("message")) or message("ended_other", reason=view.get("reason") or view["state"])
            self.log.info("%s's request %s ended before a grant: %s", self._log_name, request_id, view.get("reason"))
            raise NPUHubSpawnError.of(view.get("reason") or "cancelled", text)
        return view

    def apply_launch(self, launch: dict) -> None:
        """Set the spawner's own resource traits from the grant's ``launch``. Spawners may extend this."""
        if launch.get("cpu") is not None:
            self.cpu_limit = float(launch["cpu"])
        if launch.get("memory"):
            self.mem_limit = launch["memory"]

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            await self._end_request()

    async def poll(self):
        status = await super().poll()
        if status is not None and self.request_id is not None:
            self.log.info("%s is gone (status %s); ending its request", self._log_name, status)
            await self._end_request()
        return status

    async def _end_request(self) -> None:
        """Give up the place in the queue, or release the slice of a server that has stopped (never raises).

        A service that does not answer (the hub restarts it after a crash, up to ~30 s) is asked again
        in the background for two minutes, so a stop is not held up; its reconciliation with the hub
        would end the request anyway.
        """
        request_id, self.request_id = self.request_id, None
        self.launch = None
        if request_id is None:
            return
        try:
            await self.admission.end(request_id, stopped=True)
        except ServiceUnreachable:
            task = asyncio.ensure_future(self._end_later(request_id))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)
        except (Refusal, SpawnException) as e:
            self.log.warning("Could not end npuhub request %s of %s: %s", request_id, self._log_name, e)

    async def _end_later(self, request_id: str) -> None:
        try:
            await retrying(lambda: self.admission.end(request_id, stopped=True), attempts=8, log=self.log,
                           what=f"releasing {request_id}")
        except (ServiceUnreachable, Refusal, SpawnException) as e:
            # the service's reconciliation with the hub ends it within a round
            self.log.warning("Could not end npuhub request %s of %s: %s", request_id, self._log_name, e)

    async def _give_up_leftovers(self) -> None:
        """End requests of this server left by a start the hub forgot (a restart, a crash): none runs now."""
        try:
            leftovers = await self.admission.requests_of(self.user.name)
        except (ServiceUnreachable, Refusal):
            return  # the start itself says what is wrong
        for item in leftovers:
            if item.get("server", "") == (self.name or ""):
                self.log.info("Ending %s's leftover request %s (%s)", self._log_name, item["id"], item["state"])
                self.request_id = item["id"]
                await self._end_request()

    # -- progress on the spawn page ---------------------------------------------
    def _events_reset(self) -> None:
        self._npuhub_events: list[dict] = []
        self._npuhub_event_added = asyncio.Event()

    def _event_from(self, view: dict) -> None:
        text = _text(view.get("message"))
        if text is None:
            return
        self.npuhub_progress(text, 40 if view["state"] == "granted" else 10,
                             {k: view.get(k) for k in ("id", "state", "position", "eta", "reason", "message")})

    def npuhub_progress(self, text: Text, progress: int, detail: dict | None = None) -> None:
        """Show ``text`` on every open spawn page (unless it is what they show already).

        ``detail`` travels with the event as ``npuhub`` (the queue's position
        and estimate; a pod's stage), for clients that read more than the sentence.
        """
        if not hasattr(self, "_npuhub_events"):
            self._events_reset()
        event = {"progress": progress, "message": str(text), "html_message": bilingual_html(text),
                 "npuhub": dict(detail or {})}
        if self._npuhub_events and self._npuhub_events[-1]["message"] == event["message"]:
            return
        self._npuhub_events.append(event)
        added, self._npuhub_event_added = self._npuhub_event_added, asyncio.Event()
        added.set()

    async def progress(self):
        """The queue's news (position, estimate, grant) as it comes; every open spawn page gets all of it."""
        if not hasattr(self, "_npuhub_events"):
            self._events_reset()
        sent = 0
        while True:
            while sent < len(self._npuhub_events):
                yield self._npuhub_events[sent]
                sent += 1
            await self._npuhub_event_added.wait()

    # -- JupyterLab's language ----------------------------------------------
    def lab_settings_arg(self) -> str | None:
        """The server's argument that points JupyterLab at the site language's settings (None: no site language)."""
        return None

    def get_args(self):
        args = super().get_args()
        arg = self.lab_settings_arg() if self.lab_language else None
        if arg and not any(a.startswith("--LabApp.app_settings_dir") for a in args):
            args.append(arg)
        return args

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
        """What the server learns of its slice and of the service: the grant's environment and NPUHUB_URL."""
        env = dict((self.launch or {}).get("env") or {})
        # the server reports its own activity this often (JupyterHub's default, 300 s, would let a server
        # in use look idle for minutes, and idle reclaim take it: see npuhub/activity.py)
        env["JUPYTERHUB_ACTIVITY_INTERVAL"] = str(report_interval())
        service_url = self.npuhub_service_url()
        if service_url:
            env["NPUHUB_URL"] = service_url
        if self.lab_language:
            env["NPUHUB_LANGUAGE"] = self.lab_language
        return env

    # -- state across hub restarts ---------------------------------------------
    def get_state(self):
        state = super().get_state()
        if self.request_id is not None:
            state[_STATE_KEY] = {"request": self.request_id}
        return state

    def load_state(self, state):
        super().load_state(state)
        saved = state.get(_STATE_KEY) or {}
        # {"grant": {"id": ...}}: a hub state written before npuhub 0.2, whose grant id was the request's
        self.request_id = saved.get("request") or (saved.get("grant") or {}).get("id") or self.request_id

    def clear_state(self):
        super().clear_state()
        if self.request_id is not None:  # cleared without a stop (the hub found the server gone)
            asyncio.ensure_future(self._end_request())


#: releases still being retried (kept so that they are not garbage-collected half-way)
_BACKGROUND: set[asyncio.Task] = set()


def _text(structured) -> Text | None:
    """A sentence the service sent as ``{"zh": ..., "en": ...}``."""
    if isinstance(structured, dict) and isinstance(structured.get("en"), str):
        return Text(str(structured.get("zh") or structured["en"]), structured["en"])
    return None


def _server_token_scopes(spawner) -> list[str]:
    """The scopes of a server's own token: the hub's ``server`` role, the npuhub scopes, sharing this server.

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
    # shares!server: JupyterHub narrows it to this server (npuhub.sharing)
    return sorted(scopes | set(SERVER_SHARING_SCOPES)
                  | {s for s in SERVER_NPUHUB_SCOPES if s in scope_definitions})
