"""A person's browser session against the hub, over plain HTTP (cookies, XSRF, forms)."""

from __future__ import annotations

import time

import requests


class HubSession:
    """Signs in through the login form and drives the hub like a browser would."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def xsrf(self) -> str:
        return self.http.cookies.get("_xsrf", path="/hub/") or self.http.cookies.get("_xsrf") or ""

    def login(self, username: str, password: str) -> requests.Response:
        self.http.get(self.url("/hub/login"), timeout=30)
        r = self.http.post(
            self.url("/hub/login"),
            data={"username": username, "password": password, "_xsrf": self.xsrf},
            allow_redirects=False,
            timeout=30,
        )
        return r

    def spawn_form(self) -> requests.Response:
        return self.http.get(self.url("/hub/spawn"), timeout=30)

    def post_spawn(self, fields: dict, user: str) -> requests.Response:
        data = dict(fields)
        data["_xsrf"] = self.xsrf
        return self.http.post(self.url(f"/hub/spawn/{user}"), data=data, allow_redirects=False, timeout=60)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers["X-XSRFToken"] = self.xsrf
        return self.http.request(method, self.url("/hub/api" + path), headers=headers, timeout=60, **kwargs)


class HubAPI:
    """The hub's REST API with a token, as scripts and admins use it."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.base_url + "/hub/api" + path, timeout=60, **kwargs)

    def user(self, name: str) -> dict:
        r = self("GET", f"/users/{name}", params={"include_stopped_servers": "1"})
        r.raise_for_status()
        return r.json()

    def wait_for_server(self, name: str, ready: bool = True, timeout: float = 120) -> dict:
        """Wait until the user's default server is ready (or gone); return the user model."""
        deadline = time.monotonic() + timeout
        while True:
            model = self.user(name)
            server = model.get("servers", {}).get("")
            is_ready = bool(server and server.get("ready"))
            is_gone = not server or not (server.get("ready") or server.get("pending"))
            if (ready and is_ready) or (not ready and is_gone):
                return model
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}'s server did not become {'ready' if ready else 'stopped'}: {server}")
            time.sleep(0.2)  # one read of the hub's database: cheap
