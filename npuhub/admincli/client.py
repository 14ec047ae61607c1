"""The admin command line's calls to the npuhub service: where it is, which token, and its errors in words.

Only the standard library (``urllib``): the command must start fast and needs
nothing the hub does not already install. Every failure, whether the service
refused or could not be reached, becomes a ``CommandError`` carrying the
sentence to print; the command never shows a traceback.

While the hub restarts a service that died (4 to 30 s), its proxy answers in
the service's place with an HTML page and 502/503/504: such calls are tried
again with back-off for up to ``Connection.restart_wait`` seconds.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit, urlunsplit
from urllib.request import Request, urlopen

from .. import __version__
from .language import LANGUAGES, language_from, pick, say

__all__ = ["API_PATH", "DEFAULT_URL", "CommandError", "Connection", "ServiceClient", "connection_from", "segment"]

API_PATH = "/services/npuhub/api/v1"
DEFAULT_URL = "http://127.0.0.1:8000"
#: Where a token comes from, most specific first: a token made for npuhub wins over a server's own token.
TOKEN_VARIABLES = ("NPUHUB_TOKEN", "JUPYTERHUB_API_TOKEN")
#: How long to wait for a restarting service by default: the hub restarts it at its next poll, within ~30 s.
RESTART_WAIT = 30.0
#: Statuses the hub's proxy answers with, in the service's place, while the service is not running.
PROXY_STATUSES = (502, 503, 504)
#: The first pause between two attempts, and the longest.
FIRST_PAUSE, LONGEST_PAUSE = 0.5, 4.0


class CommandError(Exception):
    """Something to tell the person on stderr before exiting with ``status`` (1: refused or unreachable)."""

    def __init__(self, text: str, status: int = 1, *, reason: str | None = None, http_status: int | None = None):
        super().__init__(text)
        self.text = text
        self.status = status
        self.reason = reason
        #: the HTTP status of the answer that caused it, if there was one
        self.http_status = http_status


@dataclass(frozen=True)
class Connection:
    """The hub's address as the person gave it, the service's API under it, and the token with its origin."""

    url: str
    api: str
    token: str | None
    #: ``--token``, ``$NPUHUB_TOKEN`` or ``$JUPYTERHUB_API_TOKEN``: named in messages about a refused token
    token_source: str | None
    timeout: float = 30.0
    #: ``zh`` or ``en``: the language of the service's sentences shown
    lang: str = "en"
    #: seconds to keep trying while the hub's proxy answers for a restarting service
    restart_wait: float = RESTART_WAIT


def api_root(url: str) -> str:
    """The API's base URL from the hub's address; a URL already inside ``/services/npuhub`` is accepted too."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"npuhub: --url must be the hub's address, like {DEFAULT_URL} (got {url!r})", 2)
    path = parts.path
    inside = path.find("/services/npuhub")
    if inside >= 0:
        path = path[:inside]
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/") + API_PATH, "", ""))


def connection_from(url: str | None, token: str | None, environ: Mapping[str, str] = os.environ, *,
                    lang: str | None = None, restart_wait: float | None = None) -> Connection:
    """The connection the options and the environment describe (``--url``, ``--token`` and ``--lang`` win)."""
    url = url or environ.get("NPUHUB_URL") or DEFAULT_URL
    if lang not in LANGUAGES:
        lang = language_from(environ)
    if restart_wait is None:
        restart_wait = _seconds(environ.get("NPUHUB_RESTART_WAIT"))
    source = "--token" if token else None
    if not token:
        for name in TOKEN_VARIABLES:
            if environ.get(name):
                token, source = environ[name], f"${name}"
                break
    return Connection(url=url.rstrip("/") or url, api=api_root(url), token=token, token_source=source, lang=lang,
                      restart_wait=restart_wait)


def _seconds(value: str | None) -> float:
    if not value:
        return RESTART_WAIT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 3600:
        raise CommandError(f"npuhub: $NPUHUB_RESTART_WAIT must be a number of seconds from 0 to 3600 (got {value!r})", 2)
    return seconds


def segment(value: str) -> str:
    """One path segment (an account, a request id) quoted for the URL."""
    return quote(value, safe=":@")


class ServiceClient:
    """Blocking JSON calls to the service's API, one person's token in each.

    ``on_wait`` is told, once per call, the sentence to show while it waits for a restarting service.
    """

    def __init__(self, connection: Connection, on_wait: Callable[[str], None] | None = None):
        self.connection = connection
        self.on_wait = on_wait

    def get(self, path: str, **query) -> Any:
        return self.call("GET", path, query={k: v for k, v in query.items() if v is not None})

    def post(self, path: str, body: dict) -> Any:
        return self.call("POST", path, body=body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)

    def call(self, method: str, path: str, *, query: dict | None = None, body: dict | None = None) -> Any:
        """The JSON answer (None for an empty one); raises CommandError for anything else.

        Waits for a restarting service (see the module's docstring). A change
        (POST) is sent again only after a 503: the proxy answers 503 when it
        could not connect, so the service never saw it; after a 502 or 504 it
        may have made the change, and sending it twice could adjust a budget twice.
        """
        conn = self.connection
        deadline = time.monotonic() + conn.restart_wait
        pause, told = FIRST_PAUSE, False
        while True:
            try:
                return self._once(method, path, query, body)
            except CommandError as e:
                if e.reason != "service_restarting":
                    raise
                if method == "POST" and e.http_status != 503:
                    raise CommandError(f"npuhub: {say('change_unsure', conn.lang, status=e.http_status)}") from None
                if time.monotonic() + pause > deadline:
                    gave_up = say("restart_gave_up", conn.lang, seconds=round(conn.restart_wait))
                    # once on_wait has said it restarts, only the outcome is new
                    text = f"npuhub: {gave_up}" if told else f"{e.text}\n  {gave_up}"
                    raise CommandError(text, reason=e.reason, http_status=e.http_status) from None
                if not told and self.on_wait is not None:
                    self.on_wait(e.text)
                    told = True
                time.sleep(pause)
                pause = min(LONGEST_PAUSE, pause * 2)

    def _once(self, method: str, path: str, query: dict | None, body: dict | None) -> Any:
        conn = self.connection
        if not conn.token:
            raise CommandError(
                "npuhub: no API token: give --token, or set $NPUHUB_TOKEN to a token made on the hub's "
                f"Token page ({conn.url}/hub/token)")
        url = conn.api + path + ("?" + urlencode(query, doseq=True) if query else "")
        headers = {"Authorization": f"token {conn.token}", "Accept": "application/json",
                   "User-Agent": f"npuhub-cli/{__version__}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = Request(url, data=data, method=method, headers=headers)
        try:
            with urlopen(request, timeout=conn.timeout) as answer:
                raw = answer.read()
        except HTTPError as e:
            try:
                raw = e.read()
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                e.close()
            raise self._refusal(e.code, raw, e.headers.get("Content-Type", "")) from None
        except (URLError, OSError, http.client.HTTPException) as e:
            raise CommandError(f"npuhub: cannot reach the npuhub service at {conn.url}: {_why(e)}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise CommandError(f"npuhub: {conn.url} answered {method} {path} with something other than the npuhub "
                               "API's JSON; is it the hub's address?") from None

    def _refusal(self, status: int, raw: bytes, content_type: str) -> CommandError:
        """The sentence for an error answer: the service's own when it gave one, with a hint about the token."""
        conn = self.connection
        try:
            body = json.loads(raw) if "json" in content_type else None
        except ValueError:
            body = None
        said = None
        if isinstance(body, dict):
            # The service's {zh, en} message, else its "error" (all a service before npuhub 0.2 sends).
            # A plain "message" string is JupyterHub's own JSON error, not the service speaking.
            message = body.get("message")
            said = (pick(message, conn.lang) if isinstance(message, Mapping) else None) \
                or pick(body.get("error"), conn.lang)
        if said is None:
            # Not the service speaking: the hub or its proxy, while the service is down or being restarted.
            if status in PROXY_STATUSES:
                return CommandError(f"npuhub: {say('service_restarting', conn.lang)}", reason="service_restarting",
                                    http_status=status)
            return CommandError(f"npuhub: {conn.url} answered {status} {_phrase(status)} where the npuhub API "
                                "should be; is it the hub's address, and does the hub run the npuhub service?",
                                http_status=status)
        reason = str(body.get("reason", ""))
        text = f"npuhub: {said}"
        if status == 401:
            text += (f"\n  The hub does not accept the token from {conn.token_source}: it may have expired or been "
                     f"revoked. Make a new one on the hub's Token page ({conn.url}/hub/token).")
        elif status == 403 and reason == "permission_denied":
            text += (f"\n  The token from {conn.token_source} does not carry that scope: it belongs to someone "
                     "without the role, or was made with fewer scopes.")
        elif body.get("ref"):
            text += f"\n  (reference {body['ref']} in the service's log)"
        return CommandError(text, reason=reason, http_status=status)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _why(e: BaseException) -> str:
    """The cause of a failed connection in a few words."""
    reason = getattr(e, "reason", e)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the hub running, and is that its address?)"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer in time"
    if isinstance(reason, socket.gaierror):
        return "unknown host name"
    return str(reason) or type(reason).__name__
