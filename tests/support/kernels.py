"""Run code in a real kernel of a person's running server, through the hub's proxy, as her notebook would."""

from __future__ import annotations

import asyncio
import json
import uuid

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


class KernelError(AssertionError):
    """The code raised in the kernel (its traceback is the message), or the kernel never answered."""


def run_in_kernel(base_url: str, user: str, token: str, code: str, server: str = "", timeout: float = 90) -> str:
    """Start a kernel in ``user``'s server (named ``server``, default ''), run ``code``, return what it printed.

    ``token`` is one that may reach the server (hers, or the server's own).
    The kernel is shut down afterwards.
    """
    prefix = f"{base_url.rstrip('/')}/user/{user}/" + (f"{server}/" if server else "")
    headers = {"Authorization": f"token {token}"}
    r = requests.post(prefix + "api/kernels", json={}, headers=headers, timeout=60)
    assert r.status_code == 201, (r.status_code, r.text[:500])
    kernel = r.json()["id"]
    try:
        return asyncio.run(asyncio.wait_for(_execute(prefix, kernel, headers, code), timeout))
    except TimeoutError:
        raise KernelError(f"the kernel did not finish running the code within {timeout:.0f} s") from None
    finally:
        requests.delete(prefix + f"api/kernels/{kernel}", headers=headers, timeout=60)


async def _execute(prefix: str, kernel: str, headers: dict, code: str) -> str:
    url = prefix.replace("http://", "ws://", 1) + f"api/kernels/{kernel}/channels"
    conn = await websocket_connect(HTTPRequest(url, headers=headers))
    msg_id = uuid.uuid4().hex
    conn.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    printed: list[str] = []
    try:
        while True:
            raw = await conn.read_message()
            if raw is None:
                raise KernelError("the kernel's connection closed before the code finished")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                printed.append(content["text"])
            elif kind == "error":
                raise KernelError("\n".join(content.get("traceback") or [content.get("evalue", "")]))
            elif kind == "status" and content.get("execution_state") == "idle":
                return "".join(printed)
    finally:
        conn.close()
