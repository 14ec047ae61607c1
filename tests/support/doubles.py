"""Test doubles, all in one place.

- ``FakeHubUsers``: the hub's ``DELETE /users/:name`` as the workshop clean-up
  sees it (a status per call), recording what was asked; for
  ``npuhub.workshops.cleanup.WorkshopCleanup``.
- ``FakeClock``: a settable clock for code that takes ``clock=`` or a ``now``
  callable: POSIX seconds (the admission core) or an aware UTC datetime (workshops).
- ``FakeOIDCProvider``: an OpenID provider's discovery document and userinfo
  answer, or its being down, as ``NPUHubOIDCAuthenticator.httpfetch`` sees them
  (the integration tests use the real provider of tests/idp/oidc).
- ``FakeSignedInUser``: a hub user's name and stored auth state, for
  ``NPUHubOIDCAuthenticator.refresh_user``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeHubUsers:
    """Accounts the hub has; ``delete`` answers 204 (removed), 404 (no such account) or a scripted status."""

    def __init__(self, names=(), answers: dict[str, list[int]] | None = None):
        self.names = set(names)
        self.answers = {name: list(statuses) for name, statuses in (answers or {}).items()}
        self.asked: list[str] = []

    async def delete(self, name: str) -> int:
        self.asked.append(name)
        if self.answers.get(name):
            status = self.answers[name].pop(0)
            if isinstance(status, Exception):
                raise status
            if status == 204:
                self.names.discard(name)
            return status
        if name in self.names:
            self.names.discard(name)
            return 204
        return 404


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
