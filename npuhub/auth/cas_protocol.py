"""The CAS protocol's pure parts: URLs, the validation answer (CAS 2 and 3), safe redirects, seen tickets.

Nothing here does I/O, so all of it is tested without a server; the
authenticator in :mod:`npuhub.auth.cas` puts it on the wire.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

__all__ = [
    "CASValidation",
    "CASRefusal",
    "CASAnswerError",
    "TicketMemory",
    "parse_validation",
    "service_url",
    "login_url",
    "validate_url",
    "logout_url",
    "logged_out_url",
    "safe_next_path",
    "plausible_ticket",
]

#: Paths of ticket validation under the CAS server URL, by protocol version.
VALIDATE_PATHS = {2: "/serviceValidate", 3: "/p3/serviceValidate"}

# Elements of <cas:authenticationSuccess> that are protocol, not attributes.
_NOT_ATTRIBUTES = {"user", "attributes", "attribute", "proxyGrantingTicket", "proxies"}
# CAS asks services to accept tickets of at least 32 and up to 256 characters; some portals
# append a node name. Anything else (spaces, quotes, markup) is not a ticket.
_TICKET_RE = re.compile(r"^[A-Za-z0-9._~:@\-]{1,1024}$")


@dataclass(frozen=True)
class CASValidation:
    """A ticket the CAS server accepted: who signed in, and the attributes it released."""

    user: str
    attributes: dict[str, list[str]] = field(default_factory=dict)


class CASRefusal(Exception):
    """The CAS server refused the ticket (``code`` is its INVALID_TICKET, INVALID_SERVICE, ...)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class CASAnswerError(Exception):
    """The answer is not a CAS service response (an error page, a proxy's HTML, broken XML)."""


def _local(tag: str) -> str:
    """An element's name without its namespace: portals differ in how they write it."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element, name: str):
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _attributes(success) -> dict[str, list[str]]:
    """The released attributes, every value a list (``memberOf`` may repeat).

    CAS 3 puts them in ``<cas:attributes>``; CAS 2 servers that release
    attributes use either that, ``<cas:attribute name=".." value=".."/>``
    elements, or plain children of ``<cas:authenticationSuccess>``. The first
    of these forms present is used, so a server that writes two forms (as
    django-cas-server does) does not double every value.
    """
    found: dict[str, list[str]] = {}

    def add(name: str, value: str | None) -> None:
        value = (value or "").strip()
        if name and value:
            found.setdefault(name, []).append(value)

    block = _child(success, "attributes")
    if block is not None:
        for element in block:
            add(_local(element.tag), element.text)
        return found
    for element in success:
        if _local(element.tag) == "attribute" and element.get("name"):
            add(element.get("name"), element.get("value"))
    if found:
        return found
    for element in success:
        if _local(element.tag) not in _NOT_ATTRIBUTES:
            add(_local(element.tag), element.text)
    return found


def parse_validation(body: bytes | str) -> CASValidation:
    """The answer of ``/serviceValidate`` or ``/p3/serviceValidate``.

    Returns the user and attributes on success; raises :class:`CASRefusal`
    when the server refused the ticket and :class:`CASAnswerError` when the
    body is not a CAS answer at all. The XML parser refuses entity tricks
    (defusedxml).
    """
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as e:
        raise CASAnswerError(f"not XML: {e}") from None
    if _local(root.tag) != "serviceResponse":
        raise CASAnswerError(f"expected <cas:serviceResponse>, got <{_local(root.tag)}>")
    failure = _child(root, "authenticationFailure")
    if failure is not None:
        raise CASRefusal(failure.get("code", "UNKNOWN").strip(), " ".join((failure.text or "").split()))
    success = _child(root, "authenticationSuccess")
    if success is None:
        raise CASAnswerError("neither authenticationSuccess nor authenticationFailure")
    user_element = _child(success, "user")
    user = (user_element.text or "").strip() if user_element is not None else ""
    if not user:
        raise CASAnswerError("authenticationSuccess without a user")
    return CASValidation(user, _attributes(success))


def service_url(callback_url: str, next_url: str = "", state: str = "") -> str:
    """The service URL: the configured callback, with ``next`` and ``state`` parameters if there are any.

    Built the same way when sending a person to CAS and when validating her
    ticket, because CAS compares the two strings exactly.
    """
    params = {k: v for k, v in (("next", next_url), ("state", state)) if v}
    if not params:
        return callback_url
    sep = "&" if urlsplit(callback_url).query else "?"
    return f"{callback_url}{sep}{urlencode(params)}"


def login_url(server_url: str, service: str) -> str:
    return f"{server_url}/login?{urlencode({'service': service})}"


def validate_url(server_url: str, protocol: int, service: str, ticket: str) -> str:
    return f"{server_url}{VALIDATE_PATHS[protocol]}?{urlencode({'service': service, 'ticket': ticket})}"


def logout_url(server_url: str, after: str) -> str:
    """CAS's logout, then back to ``after`` (the CAS 3 ``service`` parameter)."""
    return f"{server_url}/logout?{urlencode({'service': after})}"


def logged_out_url(callback_url: str) -> str:
    """The hub's signed-out page, next to the callback (``.../hub/cas/logged-out``)."""
    return urljoin(callback_url, "logged-out")


def safe_next_path(value: str) -> str:
    """``value`` if it is a path on this site (``/hub/spawn?x=1``), else ``""``.

    Refuses anything a browser could take to another origin: schemes, ``//host``,
    backslashes (some browsers read ``/\\host`` as ``//host``) and control characters.
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return ""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return ""
    return value


def plausible_ticket(ticket: str) -> bool:
    """Could this be a service ticket? (The CAS server decides whether it is one.)"""
    return bool(_TICKET_RE.match(ticket))


class TicketMemory:
    """Tickets seen recently, so that each is used once even if the CAS server would accept it twice.

    Bounded: entries older than ``seconds`` are dropped, and beyond
    ``max_entries`` the oldest go first.
    """

    def __init__(self, seconds: float, max_entries: int = 100_000, clock=time.monotonic):
        self.seconds = seconds
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, ticket: str) -> bool:
        """Record ``ticket``; True the first time, False when it was seen within ``seconds``."""
        now = self._clock()
        while self._seen:
            at = next(iter(self._seen.values()))
            if now - at < self.seconds and len(self._seen) < self.max_entries:
                break
            self._seen.popitem(last=False)
        if ticket in self._seen:
            return False
        self._seen[ticket] = now
        return True

    def forget(self, ticket: str) -> None:
        """Drop ``ticket`` (the CAS server never saw it, so a retry may use it)."""
        self._seen.pop(ticket, None)
