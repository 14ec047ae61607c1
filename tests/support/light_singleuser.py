"""A light single-user server for tests that start many servers at once on a small machine (2 cores).

It is started by the real spawner, as the real person, with the environment
JupyterHub gives a single-user server, and does what the hub and a browser
need of one, and no more: it listens on ``$JUPYTERHUB_SERVICE_URL``, answers
every path below ``$JUPYTERHUB_SERVICE_PREFIX``, and sends whoever opens its
root to ``$JUPYTERHUB_DEFAULT_URL``, as Jupyter Server does. It runs no
kernels and no JupyterLab; the tests that need those start real servers
beside it. Only the standard library: it starts in a few milliseconds.
"""

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

URL = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
PREFIX = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
DEFAULT_URL = os.environ.get("JUPYTERHUB_DEFAULT_URL", "/lab")


class Handler(BaseHTTPRequestHandler):
    # keep-alive with a length on every answer: the hub's proxy reuses its connections
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in (PREFIX, PREFIX.rstrip("/")):
            self.send_response(302)
            self.send_header("Location", PREFIX.rstrip("/") + "/" + DEFAULT_URL.lstrip("/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"light": true}'
        self.send_response(200 if path.startswith(PREFIX.rstrip("/")) else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer((URL.hostname or "127.0.0.1", URL.port), Handler)
    print(f"light single-user server for {os.environ.get('JUPYTERHUB_USER')} at {URL.geturl()}", file=sys.stderr,
          flush=True)
    server.serve_forever()
