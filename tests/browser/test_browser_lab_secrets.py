"""No hub token reaches the browser: not the server's own, not the spawner's, anywhere the page can read.

The lab extension's server part calls the npuhub service with the server's
``JUPYTERHUB_API_TOKEN``, and the hub's spawner with the spawner token
(``<data dir>/spawner-token``); the browser must see neither. A student signs
in, starts a server, watches her slice in the status bar and opens the panel;
every response (headers and body), every request header, every WebSocket
frame, every cookie, localStorage, sessionStorage and the final DOM are
searched, as they are and decoded (URL-encoding, base64 as in Tornado's signed cookies).
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote

import pytest

from support.browser import VIEWPORT, sign_in_and_start
from support.sites import make_site
from support.stacks import EmbeddedStack, process_env

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: Longer than one poll (15 s) plus the server part's cache.
POLL_TIMEOUT_MS = 45_000
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def readings(text: str):
    """``text`` and what it may hide a secret as: URL-decoded, and every base64 run decoded."""
    yield text
    yield unquote(text)
    for run in _BASE64_RUN.findall(text):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield decode(run + "=" * (-len(run) % 4)).decode("latin-1")
            except (binascii.Error, ValueError):
                pass


def where(secret: str, seen: list[tuple[str, str]]) -> list[str]:
    """The places (of ``seen``: place, text) where ``secret`` can be read."""
    return [place for place, text in seen if any(secret in reading for reading in readings(text))]


class Recorder:
    """Everything one page received or keeps, as (place, text) pairs, read through the DevTools protocol.

    Every response is held at the browser until its body has been read
    (``Fetch`` at the response stage), so none is lost to a navigation;
    event streams and WebSocket frames are read message by message.
    """

    def __init__(self, context, page):
        self.seen: list[tuple[str, str]] = []
        self.unread: list[str] = []
        self.cdp = context.new_cdp_session(page)
        self.cdp.on("Fetch.requestPaused", self._response)
        self.cdp.on("Network.requestWillBeSent", self._request)
        self.cdp.on("Network.eventSourceMessageReceived",
                    lambda e: self.seen.append(("event stream", e["data"])))
        self.cdp.on("Network.webSocketFrameReceived",
                    lambda e: self.seen.append(("ws in", e["response"]["payloadData"])))
        self.cdp.on("Network.webSocketFrameSent",
                    lambda e: self.seen.append(("ws out", e["response"]["payloadData"])))
        self.cdp.send("Network.enable")
        self.cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Response"}]})

    def _request(self, event) -> None:
        request = event["request"]
        sent = repr(request.get("headers")) + request.get("postData", "")
        self.seen.append((f"request {request['url']}", sent))

    def _response(self, event) -> None:
        url, status = event["request"]["url"], event.get("responseStatusCode", 0)
        try:
            self.seen.append((f"response headers {url}", repr(event.get("responseHeaders"))))
            # no body: a request that failed (cancelled by a navigation), redirects, 204 and 304;
            # an event stream's never ends (its messages are read above)
            if not (event.get("responseErrorReason") or 300 <= status < 400 or status == 204
                    or event["resourceType"] == "EventSource"):
                body = self.cdp.send("Fetch.getResponseBody", {"requestId": event["requestId"]})
                text = body["body"]
                if body["base64Encoded"]:
                    text = base64.b64decode(text).decode("latin-1")
                self.seen.append((f"response body {url}", text))
        except Exception as error:  # noqa: BLE001 (named by the test, never a hung page)
            self.unread.append(f"{url} {status} {event.get('responseErrorReason')}: {error}")
        finally:
            self.cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})

    def keepings(self, context) -> None:
        """What the browser keeps: cookies, both storages, the DOM."""
        for cookie in context.cookies():
            self.seen.append((f"cookie {cookie['name']}", cookie["value"]))
        for page in context.pages:
            for storage in ("localStorage", "sessionStorage"):
                entries = page.evaluate(f"Object.entries(window.{storage})")
                self.seen += [(f"{storage} {key}", f"{key}={value}") for key, value in entries]
            self.seen.append((f"DOM {page.url}", page.content()))
            self.seen.append((f"document.cookie {page.url}", page.evaluate("document.cookie")))


def test_the_search_finds_a_token_hidden_as_tornado_hides_it():
    token = "0123456789abcdef" * 4
    signed = "2|1:0|10:1700000000|5:value|88:" + base64.b64encode(token.encode()).decode() + "|abc"
    url_encoded = "?t=" + token[:8] + "%" + "%02x" % ord(token[8]) + token[9:]
    seen = [("cookie", signed), ("url", url_encoded), ("clean", "nothing here")]
    assert where(token, seen) == ["cookie", "url"]


def test_no_hub_token_reaches_the_browser(chromium, tmp_path):
    stack = EmbeddedStack(tmp_path, make_site()).start()
    context = chromium.new_context(viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        record = Recorder(context, page)
        sign_in_and_start(page, stack.base_url, "student1", "npu-quarter")
        status = page.locator(".jp-npuhub-status .jp-npuhub-status-slice").filter(has_text="1/4 Ascend 910B")
        status.wait_for(timeout=POLL_TIMEOUT_MS)
        page.locator(".jp-npuhub-status").click()
        page.locator("#npuhub-lab-panel .jp-npuhub-holdings").filter(has_text="Ascend 910B").wait_for()
        record.keepings(context)

        server_token = process_env(stack.admin.user("student1")["servers"][""]["state"]["pid"])[
            "JUPYTERHUB_API_TOKEN"]
        spawner_token = (stack.data_dir / "spawner-token").read_text().strip()
        assert len(server_token) >= 16 and len(spawner_token) >= 16
        # what was searched holds what the extension answered, read in full
        statuses = [text for place, text in record.seen
                    if place.startswith("response body") and "/npuhub-lab/status" in place]
        assert any("Ascend 910B" in text for text in statuses), statuses
        assert not record.unread, record.unread
        # and the other channels were really read: the spawn page's progress, Lab's WebSocket, the cookies
        places = {place.split(" ")[0] for place, _ in record.seen}
        assert {"event", "ws", "cookie", "DOM"} <= places, places
        assert where(server_token, record.seen) == []
        assert where(spawner_token, record.seen) == []
    finally:
        context.close()
        stack.stop()
