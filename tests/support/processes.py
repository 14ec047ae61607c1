"""Real processes the tests start on loopback (hub, service, identity providers): wait until up, stop, read logs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests


def wait_until_up(proc: subprocess.Popen, url: str, *, what: str, timeout: float, log: Callable[[], str],
                  ok: Callable[[requests.Response], bool] = lambda r: r.status_code == 200,
                  interval: float = 0.1) -> None:
    """Return once ``url`` answers as ``ok`` says; raise with the log if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log()}")
        try:
            if ok(requests.get(url, timeout=2)):
                return
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what} did not come up in {timeout}s:\n{log()}")


def stop_group(proc: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM to the process group (started with ``start_new_session``), SIGKILL after ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def log_tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""
