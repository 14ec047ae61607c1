"""A loopback HTTP server that gives scripted answers in turn: the hub's proxy while the service restarts, then the service."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: What JupyterHub's proxy sends while a service it routes to is down (abridged: the shape matters, not the words).
HUB_503_PAGE = (b"<!DOCTYPE HTML>\n<html><head><title>JupyterHub</title></head><body><div class=\"error\">"
                b"<h1>503 : Service Unavailable</h1><p>Your server appears to be down.</p></div></body></html>")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, data) -> Answer:
        return cls(status, json.dumps(data, ensure_ascii=False).encode())

    @classmethod
    def hub_page(cls, status: int = 503) -> Answer:
        return cls(status, HUB_503_PAGE, "text/html; charset=utf-8")


class ScriptedServer:
    """Answers each request with the next scripted answer; the last one is repeated forever.

    ``asked`` records ``(method, path)`` of every request, in order.
    """

    def __init__(self, *answers: Answer):
        if not answers:
            raise ValueError("a script needs at least one answer")
        self.script = list(answers)
        self.asked: list[tuple[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with server._lock:
                    server.asked.append((self.command, self.path))
                    server.headers.append(dict(self.headers))
                    answer = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args):  # quiet: pytest shows what the test asserts
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port_url() -> str:
    """An address on loopback where nobody listens: a service that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
