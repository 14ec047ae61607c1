"""A parent with ``distributed`` already imported, that forks each of a cluster's processes on request.

Importing ``distributed`` (and bokeh, for the scheduler's dashboard) costs a
process about a CPU-second; a cluster of a scheduler and four workers would pay
it five times, on the same cores its owner is waiting on. The embedded runner
starts this once (``python -m npuhub.dask.runners.zygote``); it imports, then
reads one JSON command per line on stdin and forks a child per command, which
becomes the person's account (under os-users isolation), takes the command's
environment and directory, and runs ``dask scheduler`` or ``dask worker``'s own
command line. It answers ``{"pid": n}`` per command, and ``{"exit": n,
"status": s}`` when a child ends. The zygote holds nothing of the service
(no secrets, no state): it is the service's child started with a clean
environment, and it dies with the service, its children with it
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys

__all__ = ["main"]


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: nothing graceful is left
    except (OSError, AttributeError):
        pass


def _child(cmd: dict) -> None:
    """In the forked child: become the person, take the command's environment, run the command line."""
    code = 1
    try:
        log = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.setsid()
        if cmd.get("uid") is not None:
            os.setgroups([])
            os.setgid(cmd["gid"])
            os.setuid(cmd["uid"])
        _die_with_parent()  # after the change of user, which clears it
        os.chdir(cmd["cwd"])
        os.environ.clear()
        os.environ.update(cmd["env"])
        import dask.config

        dask.config.refresh()  # the DASK_* variables of this child, not the zygote's
        if cmd["role"] == "scheduler":
            from distributed.cli.dask_scheduler import main as run
        else:
            from distributed.cli.dask_worker import main as run
        sys.argv = [f"dask-{cmd['role']}", *cmd["args"]]
        try:
            run(args=cmd["args"], standalone_mode=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # anything: say it in the log, never return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(out) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        out.write(json.dumps({"exit": pid, "status": os.waitstatus_to_exitcode(status)}) + "\n")
        out.flush()


def main() -> None:
    _die_with_parent()
    import distributed  # noqa: F401 (the point: imported once, here)
    import distributed.cli.dask_scheduler  # noqa: F401
    import distributed.cli.dask_worker  # noqa: F401

    try:
        import distributed.dashboard.scheduler  # noqa: F401 (bokeh, for the scheduler's dashboard)
    except ImportError:
        pass
    out = sys.stdout
    stdin = sys.stdin.buffer
    buffer = b""
    while True:
        ready, _, _ = select.select([stdin], [], [], 0.2)
        _reap(out)
        if not ready:
            continue
        chunk = os.read(stdin.fileno(), 65536)
        if not chunk:
            return  # the service closed the pipe: it is gone
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            cmd = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _child(cmd)
            out.write(json.dumps({"pid": pid}) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
