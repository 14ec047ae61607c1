"""Code run in a real kernel of a person's JupyterLab server, the way a notebook runs it (REST + WebSocket)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

__all__ = ["Kernel", "KernelError", "Outcome", "run_in_kernel"]


@dataclass
class Outcome:
    """What one cell printed, and its error (``ename: evalue``), if any; ``died`` when the kernel went away."""

    stdout: str
    error: str | None
    died: bool = False


class Kernel:
    """A kernel started on ``user``'s server with her ``token``; ``run(code)`` executes a cell."""

    def __init__(self, base_url: str, user: str, token: str, server: str = ""):
        self.api = f"{base_url}/user/{user}/{server + '/' if server else ''}api"
        self.headers = {"Authorization": f"token {token}"}
        r = requests.post(self.api + "/kernels", json={"name": "python3"}, headers=self.headers, timeout=60)
        r.raise_for_status()
        self.id = r.json()["id"]
        self.ws_url = self.api.replace("http://", "ws://", 1) + f"/kernels/{self.id}/channels"

    def run(self, code: str, timeout: float = 90) -> Outcome:
        return asyncio.run(self._run(code, timeout))

    async def _run(self, code: str, timeout: float) -> Outcome:
        conn = await websocket_connect(HTTPRequest(self.ws_url, headers=self.headers, request_timeout=30))
        msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
        conn.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": session,
                       "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        out, error = [], None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    raw = await conn.read_message()
                    if raw is None:
                        return Outcome("".join(out), error, died=True)
                    msg = json.loads(raw)
                    kind = msg.get("msg_type") or msg["header"]["msg_type"]
                    content = msg.get("content", {})
                    if kind == "status" and content.get("execution_state") in ("dead", "restarting"):
                        return Outcome("".join(out), error, died=True)
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    if kind == "stream":
                        out.append(content["text"])
                    elif kind == "error" or (kind == "execute_reply" and content.get("status") == "error"):
                        error = error or f"{content.get('ename')}: {content.get('evalue')}"
                    elif kind == "status" and content.get("execution_state") == "idle":
                        return Outcome("".join(out), error)
        finally:
            conn.close()

    def alive(self) -> bool:
        r = requests.get(self.api + f"/kernels/{self.id}", headers=self.headers, timeout=30)
        return r.status_code == 200 and r.json().get("execution_state") not in ("dead",)

    def shutdown(self) -> None:
        requests.delete(self.api + f"/kernels/{self.id}", headers=self.headers, timeout=30)


class KernelError(AssertionError):
    """The code raised in the kernel, or the kernel died or never answered."""


def run_in_kernel(base_url: str, user: str, token: str, code: str, server: str = "", timeout: float = 90) -> str:
    """Start a kernel in ``user``'s server (named ``server``, default ''), run ``code``, return what it printed.

    ``token`` is one that may reach the server (hers, or the server's own).
    The kernel is shut down afterwards.
    """
    kernel = Kernel(base_url.rstrip("/"), user, token, server)
    try:
        try:
            outcome = kernel.run(code, timeout)
        except TimeoutError:
            raise KernelError(f"the kernel did not finish running the code within {timeout:.0f} s") from None
        if outcome.died:
            raise KernelError("the kernel died before the code finished")
        if outcome.error:
            raise KernelError(outcome.error)
        return outcome.stdout
    finally:
        kernel.shutdown()
