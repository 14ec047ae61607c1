"""The periodic clean-up: stop the servers and remove the accounts of guests whose workshop is over.

It runs inside the hub process but goes through the hub's REST API, with the
token of the hub service ``npuhub-workshops``, rather than calling JupyterHub's
internals. Two reasons. The REST API's ``DELETE /users/:name`` is the hub's own
stop-and-remove path (stops the server, removes its proxy route, calls the
authenticator's ``delete_user``), which in-process code would have to copy and
keep in step with JupyterHub. And the service's only scope is
``delete:users!group=<guest group>``, so the hub itself refuses the clean-up
any account outside the guest group: even a bug here cannot remove a student,
a teacher or an admin. Which guests to remove comes from the workshop store,
never from account names.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Awaitable, Callable
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import PeriodicCallback

from .policy import utcnow
from .store import WorkshopStore

__all__ = ["WorkshopCleanup", "SERVICE_NAME", "service_scopes"]

#: The hub service whose token the clean-up uses.
SERVICE_NAME = "npuhub-workshops"


def service_scopes(guest_group: str) -> list[str]:
    """The scopes of the clean-up's service: remove accounts (stopping their servers), guests only."""
    return [f"delete:users!group={guest_group}"]


#: (user name) -> HTTP status of DELETE /users/:name
DeleteUser = Callable[[str], Awaitable[int]]


class WorkshopCleanup:
    """Removes, on every run, the guests whose workshop has ended or was revoked.

    A guest counts as removed when the hub answers 204 (removed) or 404 (no
    such account: never created, or removed by an admin). Any other answer,
    such as 400 while a server is still stopping, is retried on the next run.
    """

    def __init__(self, store: WorkshopStore, delete_user: DeleteUser, *,
                 log: logging.Logger | None = None, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.delete_user = delete_user
        self.log = log or logging.getLogger(__name__)
        self.clock = clock
        self._running = False
        self._callback: PeriodicCallback | None = None

    @classmethod
    def over_rest_api(cls, store: WorkshopStore, api_url: str, token: str, *, ssl_context=None,
                      **kwargs) -> "WorkshopCleanup":
        """A clean-up that removes accounts with ``DELETE {api_url}/users/:name`` and ``token``."""
        client = AsyncHTTPClient()

        async def delete_user(name: str) -> int:
            request = HTTPRequest(
                f"{api_url.rstrip('/')}/users/{quote(name, safe='')}",
                method="DELETE",
                headers={"Authorization": f"token {token}"},
                request_timeout=60,
                ssl_options=ssl_context,
            )
            response = await client.fetch(request, raise_error=False)
            if response.code == 599:  # no answer at all (hub still starting, connection refused)
                raise ConnectionError(str(response.error))
            return response.code

        return cls(store, delete_user, **kwargs)

    async def run_once(self) -> list[str]:
        """Remove what is due now; return the names removed. Never raises except CancelledError."""
        if self._running:  # a slow run (servers stopping) is still going: let it finish
            return []
        self._running = True
        removed = []
        try:
            for guest in self.store.due_for_removal(self.clock()):
                try:
                    status = await self.delete_user(guest.username)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    self.log.warning("workshop clean-up: cannot remove guest %s yet: %s", guest.username, e)
                    continue
                if status in (204, 404):
                    self.store.mark_removed(guest.username, self.clock())
                    removed.append(guest.username)
                    self.log.info("workshop %s is over: removed guest %s", guest.code, guest.username)
                elif status == 400:
                    self.log.info("workshop clean-up: %s's server is still stopping; retrying",
                                  guest.username)
                else:
                    self.log.error("workshop clean-up: the hub answered %s to removing guest %s",
                                   status, guest.username)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.log.exception("workshop clean-up failed; retrying on the next run")
        finally:
            self._running = False
        return removed

    def start(self, interval: float) -> None:
        """Run every ``interval`` seconds on the running event loop, until stop()."""
        self._callback = PeriodicCallback(self.run_once, interval * 1000)
        self._callback.start()

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
