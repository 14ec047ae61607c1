"""The spawn page's progress stream (what a person sees while her server starts), read in a thread."""

from __future__ import annotations

import json
import threading
import time


class Progress:
    """The spawn's progress stream (what the spawn page shows), read in a thread."""

    def __init__(self, stack, user: str, server: str = ""):
        self.events: list[dict] = []
        session = stack.session(user)
        path = f"/hub/api/users/{user}/servers/{server}/progress" if server else f"/hub/api/users/{user}/server/progress"
        self._args = (stack.base_url + path, session)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        url, session = self._args
        with session.http.get(url, stream=True, timeout=180, headers={"X-XSRFToken": session.xsrf}) as r:
            for line in r.iter_lines(chunk_size=1, decode_unicode=True):
                if line and line.startswith("data:"):
                    self.events.append(json.loads(line[5:]))

    def wait_for(self, predicate, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in self.events if predicate(e)), None)
            if found is not None:
                return found
            assert time.monotonic() < deadline, f"not seen in the progress: {self.events}"
            time.sleep(0.3)

    def last(self, timeout: float = 60) -> dict:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the progress never ended: {self.events}"
        return self.events[-1]
