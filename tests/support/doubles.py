"""Test doubles, all in one place.

- ``FakeHub``: the hub's users API as the workshop clean-up sees it (read a
  user, stop a server, remove an account): accounts with running or queued
  servers that take a few reads to stop, scripted answers, and a record of
  every call; for ``npuhub.workshops.cleanup.WorkshopCleanup``.
- ``FakeClock``: a settable clock for code that takes ``clock=`` or a ``now``
  callable: POSIX seconds (the admission core) or an aware UTC datetime (workshops).
- ``FakeOIDCProvider``: an OpenID provider's discovery document and userinfo
  answer, or its being down, as ``NPUHubOIDCAuthenticator.httpfetch`` sees them
  (the integration tests use the real provider of tests/idp/oidc).
- ``FakeSignedInUser``: a hub user's name and stored auth state, for
  ``NPUHubOIDCAuthenticator.refresh_user``.
- The Kubernetes API emulator and its emulated kubelet live in
  ``support/kube_emulator.py`` (a server on loopback, not an object): no
  Kubernetes can run on npuhub's machines, so it stands in for one, named an
  emulator wherever it is used.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeHub:
    """The hub's ``GET /users/:name``, ``DELETE /users/:name/server[s/:server]`` and ``DELETE /users/:name``.

    ``users`` maps a name to its servers (server name -> "running" or
    "queued"; "" is the default server). A stopped server is gone after
    ``stop_reads`` more reads of its user (0: at once, answered 204, else
    202). Like the real hub, removing an account with an active server
    answers 500 ("... is active and cannot be deleted"). ``answers`` scripts
    the next answers to ``(method, name)`` ("GET", "STOP", "DELETE"): a status
    or an exception to raise. ``calls`` records ``(method, name, server)``,
    ``statuses`` what was answered.
    """

    def __init__(self, users: dict | None = None, *, stop_reads: int = 0, answers: dict | None = None):
        self.users = {name: dict(servers) for name, servers in (users or {}).items()}
        self.stop_reads = stop_reads
        self.answers = {key: list(scripted) for key, scripted in (answers or {}).items()}
        self.stopping: dict[tuple[str, str], int] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self.statuses: list[tuple[str, str, int]] = []

    @property
    def names(self) -> set[str]:
        return set(self.users)

    def _scripted(self, method: str, name: str):
        if self.answers.get((method, name)):
            answer = self.answers[(method, name)].pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return None

    def _answer(self, method: str, name: str, status: int) -> int:
        self.statuses.append((method, name, status))
        return status

    async def user(self, name: str) -> dict | None:
        self.calls.append(("GET", name, None))
        scripted = self._scripted("GET", name)
        if scripted is not None:
            self._answer("GET", name, scripted)
            raise RuntimeError(f"the hub answered {scripted}")
        for key in [k for k in self.stopping if k[0] == name]:
            self.stopping[key] -= 1
            if self.stopping[key] <= 0:
                del self.stopping[key]
                self.users[name].pop(key[1], None)
        if name not in self.users:
            self._answer("GET", name, 404)
            return None
        self._answer("GET", name, 200)
        servers = {}
        for server, state in self.users[name].items():
            pending = "stop" if (name, server) in self.stopping else ("spawn" if state == "queued" else None)
            servers[server] = {"name": server, "ready": state == "running" and pending is None,
                               "pending": pending}
        return {"name": name, "servers": servers}

    async def stop_server(self, name: str, server: str) -> int:
        self.calls.append(("STOP", name, server))
        scripted = self._scripted("STOP", name)
        if scripted is not None:
            return self._answer("STOP", name, scripted)
        if server not in self.users.get(name, {}):
            return self._answer("STOP", name, 404)
        if self.stop_reads == 0:
            del self.users[name][server]
            return self._answer("STOP", name, 204)
        self.stopping.setdefault((name, server), self.stop_reads)
        return self._answer("STOP", name, 202)

    async def delete_user(self, name: str) -> int:
        self.calls.append(("DELETE", name, None))
        scripted = self._scripted("DELETE", name)
        if scripted is not None:
            if scripted == 204:
                self.users.pop(name, None)
            return self._answer("DELETE", name, scripted)
        if name not in self.users:
            return self._answer("DELETE", name, 404)
        if self.users[name]:
            return self._answer("DELETE", name, 500)  # "Spawner ... is active and cannot be deleted"
        del self.users[name]
        return self._answer("DELETE", name, 204)


    async def remove_from_group(self, group: str, name: str) -> int:
        self.calls.append(("UNGROUP", name, group))
        scripted = self._scripted("UNGROUP", name)
        if scripted is not None:
            return self._answer("UNGROUP", name, scripted)
        return self._answer("UNGROUP", name, 200 if name in self.users else 404)


class FakeClock:
    """Returns ``now``, which tests set or ``advance``; a datetime unless given POSIX seconds.

    ``FakeClock()`` is a Monday morning in UTC; ``FakeClock(1_700_000_000.0)``
    counts seconds, as the admission core does.
    """

    def __init__(self, now: datetime | float | None = None):
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc) if now is None else now

    def __call__(self) -> datetime | float:
        return self.now

    def advance(self, **delta) -> datetime | float:
        step = timedelta(**delta)
        self.now += step if isinstance(self.now, datetime) else step.total_seconds()
        return self.now


class FakeOIDCProvider:
    """Answers ``httpfetch``: the discovery document, ``claims`` at the userinfo endpoint.

    The document is served under ``issuer`` (default: the one it names). While
    ``down`` is above zero each request fails as if the provider were
    unreachable (and counts ``down`` one lower). ``requests`` lists the URLs asked for.
    """

    def __init__(self, document: dict, claims: dict | None = None, down: int = 0, issuer: str | None = None):
        self.document, self.claims, self.down = document, claims or {}, down
        self.issuer = (issuer or document["issuer"]).rstrip("/")
        self.requests: list[str] = []

    async def __call__(self, url: str, label: str = "", **kwargs):
        from npuhub.auth.oidc import ProviderUnreachable

        self.requests.append(url)
        if self.down > 0:
            self.down -= 1
            raise ProviderUnreachable(f"{label}: GET {url}: connection refused")
        if url == self.issuer + "/.well-known/openid-configuration":
            return self.document
        if url == self.document.get("userinfo_endpoint"):
            return self.claims
        raise AssertionError(f"nothing at {url}")


class FakeSignedInUser:
    """A hub user as ``refresh_user`` sees her: a name, and the tokens kept at her last sign-in."""

    def __init__(self, name: str):
        self.name = name

    async def get_auth_state(self) -> dict:
        return {"token_response": {"access_token": "at", "token_type": "Bearer"}, "oauth_user": {}}
