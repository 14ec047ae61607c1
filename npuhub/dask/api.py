"""The client's calls to the npuhub service's ``/clusters`` API, with the server's own token.

Blocking (``urllib``: it runs in a kernel, whose event loop is busy); the
asynchronous cluster calls it from a thread. Every failure becomes an
``NPUHubDaskError`` with a sentence in Chinese and English.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

__all__ = ["ServiceAPI", "NPUHubDaskError"]


class NPUHubDaskError(RuntimeError):
    """A refusal or a failure, in both languages; IPython shows the sentence, not a traceback."""

    def __init__(self, message: dict, reason: str = "error", status: int | None = None):
        self.message = {"zh": str(message.get("zh", "")), "en": str(message.get("en", ""))}
        self.reason = reason
        self.status = status
        super().__init__(f"{self.message['zh']}\n{self.message['en']}")

    def _render_traceback_(self):  # IPython: show this instead of a traceback
        return [f"NPUHubDaskError ({self.reason}):", self.message["zh"], self.message["en"]]


NOT_CONFIGURED = {
    "zh": "这里不是 npuhub 的笔记本服务器（未设置 NPUHUB_URL 或 JUPYTERHUB_API_TOKEN），无法创建 Dask 集群。",
    "en": "This is not an npuhub notebook server (NPUHUB_URL or JUPYTERHUB_API_TOKEN is not set), so no Dask "
          "cluster can be made here.",
}
UNREACHABLE = {
    "zh": "暂时无法连接 npuhub 服务（{detail}），请稍后再试。",
    "en": "The npuhub service cannot be reached right now ({detail}); please try again in a minute.",
}


class ServiceAPI:
    """``/clusters`` at ``$NPUHUB_URL`` with ``$JUPYTERHUB_API_TOKEN``."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.base = url.rstrip("/") + "/api/v1"
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(cls, environ=os.environ) -> "ServiceAPI":
        url, token = environ.get("NPUHUB_URL", ""), environ.get("JUPYTERHUB_API_TOKEN", "")
        if not url or not token:
            raise NPUHubDaskError(NOT_CONFIGURED, "not_configured")
        return cls(url, token)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json",
            "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                payload = json.loads(e.read() or b"{}")
            except ValueError:
                payload = {}
            if e.code == 409 and payload.get("state"):  # a cluster that is closing: its view
                return payload
            message = payload.get("message") or {k: v.format(detail=f"HTTP {e.code}") for k, v in UNREACHABLE.items()}
            raise NPUHubDaskError(message, payload.get("reason", f"http_{e.code}"), e.code) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            detail = str(getattr(e, "reason", e))[:200]
            raise NPUHubDaskError({k: v.format(detail=detail) for k, v in UNREACHABLE.items()},
                                  "service_unreachable") from None

    def create(self, **body) -> dict:
        return self.call("POST", "/clusters", {k: v for k, v in body.items() if v is not None})

    def get(self, id_or_name: str) -> dict:
        return self.call("GET", f"/clusters/{id_or_name}")

    def scale(self, cluster_id: str, **body) -> dict:
        return self.call("PATCH", f"/clusters/{cluster_id}", body)

    def close(self, cluster_id: str) -> dict:
        return self.call("DELETE", f"/clusters/{cluster_id}")

    def list(self) -> list[dict]:
        return self.call("GET", "/clusters")["clusters"]
