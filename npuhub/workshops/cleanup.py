"""The periodic clean-up: stop every server of guests whose workshop is over, then remove their accounts;
and take back the course group a roster member's sign-in gave her for the window.

It runs inside the hub process but goes through the hub's REST API, with the
token of the hub service ``npuhub-workshops``, rather than calling JupyterHub's
internals: stopping a server through the API is the hub's own path (it
cancels a start still waiting in the npuhub queue, whose spawner then
cancels its request at the npuhub service), and the service's scopes are
limited to the guest group (``service_scopes``), so the hub itself refuses
the clean-up any account outside it: even a bug here cannot stop or remove a
student, a teacher or an admin. Which guests to remove comes from the
workshop store, never from account names.

The hub's ``DELETE /users/:name`` stops only a running default server and
answers 500 when another server is active (a named one, or a start still
queued), after its authenticator hook has run. So the clean-up first stops
every server and waits for the stops, and removes the account only once none
is left; a guest is marked removed only when the hub confirms her account is
gone. Whatever fails is retried on a later run, with a growing delay, and
logged one line per failure.

A roster member who was not in the course gets its group at sign-in while
the window is open (``planning.with_roster_groups``, recorded in the store).
Once the window is over, the clean-up removes her from that group (the hub's
``DELETE /groups/:name/users``, scope ``groups!group=<course>``), unless
another open workshop of the same course lists her. Her servers started on
the workshop's reservation are stopped by the npuhub service at the window's
end (a warning first, so that the lab extension saves her notebooks); her
account and files stay.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Protocol
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import PeriodicCallback

from .policy import Guest, utcnow
from .store import WorkshopStore

__all__ = ["WorkshopCleanup", "HubUsers", "RestHubUsers", "SERVICE_NAME", "service_scopes"]

#: The hub service whose token the clean-up uses.
SERVICE_NAME = "npuhub-workshops"


def service_scopes(guest_group: str, class_groups=()) -> list[str]:
    """The clean-up's scopes: see guests' servers, stop them, remove the accounts (guests only); and change the
    membership of ``class_groups`` (the courses and labs of the site file), to take back a window's grant."""
    return ([f"{scope}!group={guest_group}" for scope in ("read:servers", "delete:servers", "delete:users")]
            + [f"groups!group={g}" for g in sorted(set(class_groups))])


class HubUsers(Protocol):
    """What the clean-up asks of the hub (``RestHubUsers``; ``tests/mocking.FakeHub`` in tests)."""

    async def user(self, name: str) -> dict | None:
        """The user model with its active ``servers``; None on 404 (no such account); raises otherwise."""

    async def stop_server(self, name: str, server: str) -> int:
        """Stop one server ("" the default), pending start included; the HTTP status (202: under way)."""

    async def delete_user(self, name: str) -> int:
        """Remove the account; the HTTP status (204 removed, 404 no such account)."""

    async def remove_from_group(self, group: str, name: str) -> int:
        """Take ``name`` out of ``group``; the HTTP status (200 done, 404 no such group or account)."""


class HubAnswer(Exception):
    """The hub answered something the clean-up cannot go on with."""


class RestHubUsers:
    """``HubUsers`` over the hub's REST API at ``api_url`` with ``token``."""

    def __init__(self, api_url: str, token: str, *, ssl_context=None, timeout: float = 60):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.ssl_context = ssl_context
        self.timeout = timeout

    async def _fetch(self, method: str, path: str, body: dict | None = None):
        request = HTTPRequest(self.api_url + path, method=method,
                              headers={"Authorization": f"token {self.token}"},
                              body=None if body is None else json.dumps(body),
                              allow_nonstandard_methods=body is not None,  # a DELETE with a body
                              request_timeout=self.timeout, ssl_options=self.ssl_context)
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
        if response.code == 599:  # no answer at all (hub still starting, connection refused)
            raise ConnectionError(str(response.error))
        return response

    @staticmethod
    def _user_path(name: str) -> str:
        return "/users/" + quote(name, safe="")

    async def user(self, name: str) -> dict | None:
        response = await self._fetch("GET", self._user_path(name))
        if response.code == 404:
            return None
        if response.code != 200:
            raise HubAnswer(f"reading the account: HTTP {response.code}")
        return json.loads(response.body)

    async def stop_server(self, name: str, server: str) -> int:
        path = self._user_path(name) + ("/servers/" + quote(server, safe="") if server else "/server")
        return (await self._fetch("DELETE", path)).code

    async def delete_user(self, name: str) -> int:
        return (await self._fetch("DELETE", self._user_path(name))).code

    async def remove_from_group(self, group: str, name: str) -> int:
        return (await self._fetch("DELETE", f"/groups/{quote(group, safe='')}/users", {"users": [name]})).code


class NotYet(Exception):
    """A guest not removed on this run: why, for the log."""


@dataclass
class _Retry:
    failures: int
    not_before: datetime


class WorkshopCleanup:
    """Removes, on every run, the guests whose workshop has ended or was revoked.

    For each guest: stop every server she has (default and named, starts
    still queued included), read her account until none is active (at most
    ``stop_polls`` reads, ``poll_every`` seconds apart), then remove the
    account. She counts as removed when the hub answers 204 (removed) or 404
    (no such account: never created, or removed by an admin). Anything else is
    logged and retried after ``retry_base`` seconds, doubling per failure up
    to ``retry_max``.
    """

    def __init__(self, store: WorkshopStore, hub: HubUsers, *, log: logging.Logger | None = None,
                 clock: Callable[[], datetime] = utcnow, retry_base: float = 30, retry_max: float = 600,
                 stop_polls: int = 40, poll_every: float = 0.5, concurrency: int = 8):
        self.store = store
        self.hub = hub
        self.log = log or logging.getLogger(__name__)
        self.clock = clock
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.stop_polls = stop_polls
        self.poll_every = poll_every
        self._limit = asyncio.Semaphore(concurrency)
        self._retries: dict[str, _Retry] = {}
        self._running = False
        self._callback: PeriodicCallback | None = None
        self._soon: asyncio.Task | None = None

    @classmethod
    def over_rest_api(cls, store: WorkshopStore, api_url: str, token: str, *, ssl_context=None,
                      **kwargs) -> "WorkshopCleanup":
        """A clean-up that talks to the hub's REST API at ``api_url`` with ``token``."""
        return cls(store, RestHubUsers(api_url, token, ssl_context=ssl_context), **kwargs)

    async def run_once(self) -> list[str]:
        """Remove what is due now; return the names removed. Never raises except CancelledError."""
        if self._running:  # a slow run (servers stopping) is still going: let it finish
            return []
        self._running = True
        removed: list[str] = []
        try:
            now = self.clock()
            due = [g for g in self.store.due_for_removal(now)
                   if g.username not in self._retries or self._retries[g.username].not_before <= now]
            results = await asyncio.gather(*(self._attempt(g) for g in due))
            removed = [g.username for g, done in zip(due, results) if done]
            await self._take_back_grants(now)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("workshop clean-up failed; retrying on the next run")
        finally:
            self._running = False
        return removed

    async def _take_back_grants(self, now: datetime) -> None:
        """Roster members leave the course group their sign-in gave them, once the window is over."""
        for code, name, group in self.store.grants_due(now):
            key = f"{group}:{name}"
            if key in self._retries and self._retries[key].not_before > now:
                continue
            if any(w.group == group for w in self.store.open_for(name, now)):
                continue  # another open workshop of the course lists her: taken back when that one ends
            try:
                status = await self.hub.remove_from_group(group, name)
                if status not in (200, 204, 404):
                    raise HubAnswer(f"leaving group {group!r}: HTTP {status}")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._failed(key, e, "{} not taken out of the course group yet")
                continue
            self._retries.pop(key, None)
            self.store.mark_ungranted(code, name, self.clock())
            self.log.info("workshop %s is over: %s is no longer in %s (granted for its window)", code, name, group)

    def run_soon(self) -> None:
        """Run on the next turn of the event loop (a code was just revoked) rather than at the next tick."""
        # keep a reference: the event loop holds its tasks only weakly
        self._soon = asyncio.get_running_loop().create_task(self.run_once())

    async def _attempt(self, guest: Guest) -> bool:
        async with self._limit:
            try:
                await self._remove(guest.username)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # NotYet, HubAnswer, ConnectionError, a timeout, ...
                self._failed(guest.username, e)
                return False
        self._retries.pop(guest.username, None)
        self.store.mark_removed(guest.username, self.clock())
        self.log.info("workshop %s is over: removed guest %s", guest.code, guest.username)
        return True

    def _failed(self, name: str, error: Exception, what: str = "guest {} not removed yet") -> None:
        retry = self._retries.get(name)
        failures = retry.failures + 1 if retry else 1
        delay = min(self.retry_base * 2 ** (failures - 1), self.retry_max)
        self._retries[name] = _Retry(failures, self.clock() + timedelta(seconds=delay))
        self.log.warning("workshop clean-up: %s (%s: %s); attempt %d, retry in %.0f s",
                         what.format(name), type(error).__name__, error, failures, delay)

    async def _remove(self, name: str) -> None:
        """Stop her servers, wait for them, remove the account. Returns once it is gone; raises otherwise."""
        model = await self.hub.user(name)
        if model is None:
            return
        asked: set[str] = set()
        for attempt in range(self.stop_polls + 1):
            if "servers" not in model:
                # without read:servers the hub leaves them out, and removing would meet an active one
                raise HubAnswer("the hub shows no servers: does the service have read:servers?")
            active = model["servers"]
            if not active:
                break
            if attempt == self.stop_polls:
                raise NotYet(f"server(s) {', '.join(repr(s) for s in active)} still stopping")
            for server, info in active.items():
                if server in asked or (info or {}).get("pending") == "stop":
                    continue
                status = await self.hub.stop_server(name, server)
                if status not in (202, 204, 404):
                    raise HubAnswer(f"stopping server {server or '(default)'!r}: HTTP {status}")
                asked.add(server)
            await asyncio.sleep(self.poll_every)
            model = await self.hub.user(name)
            if model is None:
                return
        status = await self.hub.delete_user(name)
        if status not in (204, 404):
            raise HubAnswer(f"removing the account: HTTP {status}")

    def start(self, interval: float) -> None:
        """Run every ``interval`` seconds on the running event loop, until stop()."""
        self._callback = PeriodicCallback(self.run_once, interval * 1000)
        self._callback.start()

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
