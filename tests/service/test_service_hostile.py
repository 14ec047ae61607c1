"""Hostile input against the running service: each is a 4xx JSON sentence, and the service answers normally right after.

NaN and Infinity, deep nesting, bodies too large (with a Content-Length and
chunked), 10,000-character strings, unicode names, unknown fields, wrong
types, zero and negative amounts, ``"1/0"``, bad query parameters and unlisted
methods, on SQLite and on the real PostgreSQL. After every case a valid change
must still be accepted: one request's bad data must never look like a
database outage (503 for everyone).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from urllib.parse import urlparse

import pytest
import requests
from support.service_stack import PREFIX

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)
WINDOW = {"group": "course-demo", "flavor": "npu-quarter", "count": 1,
          "starts": (NOW + dt.timedelta(days=1)).isoformat(), "ends": (NOW + dt.timedelta(days=2)).isoformat()}
LONG = "x" * 10_000


def _raw(obj: dict, **raw: str) -> bytes:
    """``obj`` as JSON with some values replaced by raw tokens (NaN, Infinity) that json.dumps would not write."""
    text = json.dumps({**obj, **{k: f"@{k}@" for k in raw}})
    for key, token in raw.items():
        text = text.replace(f'"@{key}@"', token)
    return text.encode()


#: (who, method, path, body: bytes | dict | None, extra headers)
CASES = [
    # non-finite numbers: refused when parsed, never stored
    ("teacher1", "POST", "/reservations", _raw(WINDOW, hold_seconds="NaN"), {}),
    ("teacher1", "POST", "/reservations", _raw(WINDOW, hold_seconds="Infinity"), {}),
    ("teacher1", "POST", "/reservations", _raw(WINDOW, count="-Infinity"), {}),
    ("admin", "POST", "/accounts/user:student1/adjustments", _raw({"reason": "x"}, device_hours="NaN"), {}),
    # deep nesting, at the top and inside a field
    ("student1", "POST", "/requests", b"[" * 1000 + b"]" * 1000, {}),
    ("student1", "POST", "/requests", b'{"flavor": ' + b"[" * 5000 + b"]" * 5000 + b"}", {}),
    ("student1", "POST", "/requests", b'{"flavor": ' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}", {}),
    # not JSON at all
    ("student1", "POST", "/requests", b'{"flavor": ', {}),
    ("student1", "POST", "/requests", b"\xff\xfe\x00", {}),
    ("student1", "POST", "/requests", b"", {}),
    # long strings and unicode
    ("student1", "POST", "/requests", {"flavor": LONG}, {}),
    ("student1", "POST", "/requests", {"flavor": "npu-quarter", "server": LONG}, {}),
    ("student1", "POST", "/requests", {"flavor": "风味-四分之一"}, {}),
    ("student1", "POST", "/requests", {"flavor": "npu-quarter", "id": "请求-1"}, {}),
    ("admin", "POST", "/accounts/user:student1/adjustments", {"device_hours": "1", "reason": LONG}, {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "group": LONG}, {}),
    # a name the hub allows, but whose budget account ("user:" + name) no database column of 255 holds
    ("admin", "POST", "/requests", {"flavor": "npu-quarter", "user": "u" * 255, "groups": ["course-demo"]}, {}),
    ("admin", "POST", "/requests", {"flavor": "cpu", "user": "student1", "groups": ["g" * 255]}, {}),
    ("admin", "GET", "/accounts/user:学生", None, {}),
    ("admin", "GET", "/accounts/" + "u" * 10_000, None, {}),
    ("student1", "GET", "/requests/" + "r" * 10_000, None, {}),
    # unknown fields, wrong types
    ("student1", "POST", "/requests", {"flavor": "npu-quarter", "colour": "red"}, {}),
    ("student1", "POST", "/requests", {"flavor": 5}, {}),
    ("student1", "POST", "/requests", ["npu-quarter"], {}),
    ("student1", "POST", "/requests", "npu-quarter", {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "count": "1"}, {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "count": 1.5}, {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "starts": "tomorrow"}, {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "hold_seconds": True}, {}),
    # zero, negative, impossible amounts
    ("teacher1", "POST", "/reservations", {**WINDOW, "count": 0}, {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "count": -1}, {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "hold_seconds": -1}, {}),
    ("teacher1", "POST", "/reservations", {**WINDOW, "ends": WINDOW["starts"]}, {}),
    ("admin", "POST", "/accounts/user:student1/adjustments", {"device_hours": "0", "reason": "x"}, {}),
    ("admin", "POST", "/accounts/user:student1/adjustments", {"device_hours": "-0/7", "reason": "x"}, {}),
    ("admin", "POST", "/accounts/user:student1/adjustments", {"device_hours": "1/0", "reason": "x"}, {}),
    ("admin", "POST", "/accounts/user:student1/adjustments", {"device_hours": "99999999", "reason": "x"}, {}),
    ("admin", "POST", "/accounts/user:student1/adjustments", {"device_hours": 1, "reason": "x"}, {}),
    # bad query parameters
    ("student1", "GET", "/requests?limit=abc", None, {}),
    ("student1", "GET", "/requests?limit=0", None, {}),
    ("student1", "GET", "/requests?limit=1&limit=2", None, {}),
    ("student1", "GET", "/requests?limit=1e3", None, {}),
    ("student1", "GET", "/requests?state=bogus", None, {}),
    ("student1", "GET", "/requests?user=" + LONG, None, {}),
    ("student1", "GET", "/requests?colour=red", None, {}),
    ("student1", "GET", "/ledger?account=nobody", None, {}),
    ("student1", "GET", "/ledger?limit=-5", None, {}),
    # bytes that are not UTF-8 in the query (in the path, the hub's proxy answers 500 itself: see below)
    ("student1", "GET", "/requests?user=%ff%fe", None, {}),
    ("student1", "GET", "/requests?%ff=1", None, {}),
]


def _send(svc, who: str, method: str, path: str, body, headers: dict) -> requests.Response:
    client = svc.client(who)
    if isinstance(body, bytes):
        return client(method, path, data=body, headers={"Content-Type": "application/json", **headers})
    if body is None:
        return client(method, path, headers=headers)
    return client(method, path, json=body, headers=headers)


def _is_sentence(r: requests.Response) -> str | None:
    """What is wrong with ``r`` as an answer to hostile input (None: a 4xx JSON sentence in both languages)."""
    if not 400 <= r.status_code < 500:
        return f"status {r.status_code}"
    try:
        body = r.json()
    except ValueError:
        return f"not JSON: {r.text[:200]!r}"
    if not isinstance(body.get("error"), str) or " / " not in body["error"] or not body.get("reason"):
        return f"not a sentence with a reason: {body!r:.300}"
    return None


def _not_json(token: str):
    raise ValueError(f"{token} is not JSON")  # Python's json module (and requests) would accept it


def _still_serves(svc) -> str | None:
    """What is wrong with the service right after (None: reads and a change answer normally)."""
    probe = svc.client("labmember1")
    r = probe.post("/requests", {"flavor": "cpu"})
    if r.status_code not in (200, 201, 202):
        return f"a valid request afterwards: {r.status_code} {r.text[:200]}"
    if probe.delete(f"/requests/{r.json()['id']}").status_code != 200:
        return "ending it afterwards failed"
    listed = svc.client("teacher1").get("/reservations")
    try:
        json.loads(listed.text, parse_constant=_not_json)
    except ValueError:
        return f"GET /reservations is not JSON: {listed.text[:200]!r}"
    return None if listed.status_code == 200 else f"GET /reservations: {listed.status_code}"


def test_hostile_input_is_a_4xx_sentence_and_the_service_carries_on(db_url, start_service):  # noqa: F811
    svc = start_service(db_url)
    problems = []
    for who, method, path, body, headers in CASES:
        r = _send(svc, who, method, path, body, headers)
        what = f"{who} {method} {path[:60]} {body!r:.80}"
        if (wrong := _is_sentence(r)) is not None:
            problems.append(f"{what}: {wrong}")
        if (wrong := _still_serves(svc)) is not None:
            problems.append(f"after {what}: {wrong}")
    assert not problems, "\n".join(problems)
    assert "Traceback" not in svc.log(tail=10**8), svc.log()


def test_unlisted_methods_are_405_with_allow(start_service):
    svc = start_service()
    for method, path, allowed in [("TRACE", "/requests", {"GET", "POST"}), ("PATCH", "/requests/x", {"GET", "DELETE"}),
                                  ("PUT", "/me", {"GET"}), ("DELETE", "/pool", {"GET"})]:
        r = svc.client("student1")(method, path)
        assert r.status_code == 405, (method, path, r.status_code)
        assert r.json()["reason"] == "method_not_allowed"
        assert {m.strip() for m in r.headers.get("Allow", "").split(",")} == allowed, (method, path, r.headers)


def _post_raw(url: str, token: str, head: bytes, chunks) -> tuple[int, dict, bytes]:
    """A POST written by hand on a socket (so the body can be huge or chunked); the status, headers and body."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=60) as s:
        s.sendall(f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nAuthorization: token {token}\r\n"
                  "Content-Type: application/json\r\n".encode() + head + b"\r\n")
        for chunk in chunks:
            s.sendall(chunk)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + _length(answer):
            data = s.recv(65536)
            if not data:
                break
            answer += data
    head_text, _, body = answer.partition(b"\r\n\r\n")
    lines = head_text.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_bodies_too_large_get_a_413_sentence(start_service):
    svc = start_service()
    token = svc.hub.token("student1")
    direct = f"{svc.url}{PREFIX}api/v1/requests"
    block = b" " * 65536
    # declared with a Content-Length: 2 MiB, and 120 MB (past tornado's own limit, which used to reset)
    for size in (2 * 2**20, 120 * 10**6):
        status, headers, body = _post_raw(direct, token, f"Content-Length: {size}\r\n".encode(),
                                          (block[: min(len(block), size - i)] for i in range(0, size, len(block))))
        assert status == 413, (size, status, body[:300])
        assert json.loads(body)["reason"] == "body_too_large"
    # chunked: no size announced, refused once the limit is passed
    chunk = b"%x\r\n" % len(block) + block + b"\r\n"
    status, headers, body = _post_raw(direct, token, b"Transfer-Encoding: chunked\r\n",
                                      [chunk] * 32 + [b"0\r\n\r\n"])
    assert status == 413, (status, body[:300])
    assert json.loads(body)["reason"] == "body_too_large"
    # through the hub's proxy, with an ordinary client
    r = svc.client("student1").post("/requests", {"flavor": "npu-quarter", "server": "s" * (2 * 2**20)})
    assert r.status_code == 413 and r.json()["reason"] == "body_too_large", (r.status_code, r.text[:300])
    # a body just under the limit is read and judged on its content
    r = svc.client("student1").post("/requests", {"flavor": "npu-quarter", "server": "s" * (2**20 - 100)})
    assert r.status_code == 400 and r.json()["reason"] == "body_invalid", (r.status_code, r.text[:300])
    assert svc.client("student1").get("/me").status_code == 200


def test_a_refusal_keeps_the_connection_open(start_service):
    """The hub's proxy reuses connections: one closed after a refusal made its next request a 503."""
    import http.client

    svc = start_service()
    parsed = urlparse(svc.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    api = f"{PREFIX}api/v1"
    first_socket = None
    try:
        for method, path, body, status in [("GET", "/me", None, 401), ("GET", "/requests?limit=0", None, 400),
                                           ("POST", "/requests", b'{"flavor": NaN}', 401),
                                           ("PATCH", "/me", b"{}", 405), ("GET", "/openapi.json", None, 200)]:
            conn.request(method, api + path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            answer = r.read()
            assert r.status == status, (method, path, r.status, answer[:200])
            assert r.getheader("Connection", "").lower() != "close", (method, path)
            first_socket = first_socket or conn.sock
            assert conn.sock is not None and conn.sock is first_socket, (method, path)  # the same connection
    finally:
        conn.close()


def test_paths_that_are_not_utf8_are_400(start_service):
    """Sent to the service itself: configurable-http-proxy answers such paths with its own 500 before the service."""
    svc = start_service()
    headers = {"Authorization": f"token {svc.hub.token('student1')}"}
    for path in ("/requests/%ff%fe", "/accounts/user:%ff", "/reservations/%c3%28"):
        method = "DELETE" if path.startswith("/reservations") else "GET"
        r = requests.request(method, f"{svc.url}{PREFIX}api/v1{path}", headers=headers, timeout=30)
        assert _is_sentence(r) is None, (path, r.status_code, r.text[:300])
