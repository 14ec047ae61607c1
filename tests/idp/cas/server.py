"""The test CAS server as a subprocess, and a person's way through its login form."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import requests

from support.processes import log_tail, stop_group, wait_until_up

HERE = Path(__file__).resolve().parent


class CASServer:
    """django-cas-server on ``127.0.0.1:port`` with its own SQLite in ``workdir``; ``url`` ends in ``/cas``."""

    def __init__(self, workdir: Path, port: int):
        self.workdir = workdir
        self.port = port
        self.url = f"http://127.0.0.1:{port}/cas"
        self.log_path = workdir / "cas-server.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> CASServer:
        with open(self.log_path, "a") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE / "serve.py"), str(self.port), str(self.workdir / "data")],
                cwd=HERE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            wait_until_up(self.proc, self.url + "/login", what="the CAS server", timeout=timeout, log=self.log)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_group(self.proc)
        self.proc = None

    def log(self) -> str:
        return log_tail(self.log_path)


class _FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "login_form":
            self._in_form = True
            self.action = attrs.get("action") or ""
        elif tag == "input" and self._in_form and attrs.get("name") and attrs.get("type") != "checkbox":
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


def submit_login_form(http: requests.Session, form_page: requests.Response, username: str,
                      password: str) -> requests.Response:
    """Fill in the CAS login form of ``form_page`` (with its CSRF token and login ticket) and send it.

    Returns the server's answer without following it: on success a redirect to
    the service with ``?ticket=ST-...``.
    """
    parser = _FormParser()
    parser.feed(form_page.text)
    if parser.action is None:
        raise AssertionError(f"no CAS login form at {form_page.url}:\n{form_page.text[:2000]}")
    fields = dict(parser.fields, username=username, password=password)
    return http.post(urljoin(form_page.url, parser.action), data=fields, allow_redirects=False, timeout=30,
                     headers={"Referer": form_page.url})
