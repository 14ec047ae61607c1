"""The embedded runner: a real ``distributed`` scheduler and worker processes on this machine.

Each cluster gets a directory of its own (mode 0700, owned by the person's
Unix account under os-users isolation) holding its TLS material: one
self-signed certificate made for it alone (``distributed.security.Security
.temporary``). The scheduler listens on ``tls://127.0.0.1:<port>`` and asks
every peer for that certificate (``require_encryption``, client certificates
required), so a process of another person on this machine that reaches the
port cannot talk to it: only the service and the owner (to whom the API hands
the certificate) hold it. The dashboard listens on a loopback port too, under
the prefix the service proxies (``/services/npuhub/dask/<id>``); it is plain
HTTP, so a local process that finds that port can read the dashboard's pages
(task names, worker logs), but cannot submit work: that needs the scheduler.

Processes: ``python -m distributed.cli.dask_scheduler`` and one
``python -m distributed.cli.dask_worker --no-nanny`` per worker, started at
once (the scheduler's port is chosen before it starts, so workers need not
wait for it: they connect as soon as it listens). Each gets the environment of
its request's launch (the slice's visible devices) and is asked to die with the
service (``PR_SET_PDEATHSIG``), so a killed service leaves none behind. When the
service runs as root and the site isolates people (os-users), every process of
the cluster runs as the person's Unix account.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .base import ClusterRunner, ClusterSpec, Endpoints, WorkerGrant

__all__ = ["EmbeddedRunner", "RunAs"]

#: the path under which the service proxies a cluster's dashboard (the scheduler serves it there, unchanged)
DASHBOARD_PREFIX = "/services/npuhub/dask/{id}"
#: the module prefix of distributed's command lines (``dask scheduler``, ``dask worker``)
_CLI = "distributed.cli.dask_"
#: variables of the service's environment a cluster's processes keep (nothing of the service's secrets)
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")


@dataclass(frozen=True)
class RunAs:
    """The Unix account a person's processes run as (os-users isolation)."""

    uid: int
    gid: int
    home: str
    name: str


@dataclass
class _Running:
    directory: Path
    #: the processes' logs: the service's own directory (0700), out of the person's reach, so that a file she
    #: plants where a log would go (a link to another file) is never opened by the service
    logs: Path
    port: int
    dashboard_port: int
    tls: dict
    run_as: RunAs | None
    scheduler: asyncio.subprocess.Process | None = None
    workers: dict[str, tuple[str, asyncio.subprocess.Process]] = field(default_factory=dict)


class _Forked:
    """A process the zygote forked: the parts of ``asyncio.subprocess.Process`` the runner uses."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._ended = asyncio.Event()

    def _exited(self, status: int) -> None:
        self.returncode = status
        self._ended.set()

    def send_signal(self, sig: int) -> None:
        if self.returncode is not None:
            raise ProcessLookupError(self.pid)
        os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        await self._ended.wait()
        return self.returncode


class _Zygote:
    """``npuhub.dask.runners.zygote`` as the service's child: forks a cluster's processes pre-imported."""

    def __init__(self, python: str, log: logging.Logger):
        self.python = python
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self._replies: asyncio.Queue | None = None
        self._children: dict[int, _Forked] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task | None = None

    async def ensure(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            return
        env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
        self.proc = await asyncio.create_subprocess_exec(
            self.python, "-m", "npuhub.dask.runners.zygote", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env, preexec_fn=_die_with_parent)
        self._replies = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read(self.proc))

    async def _read(self, proc) -> None:
        import json

        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            msg = json.loads(line)
            if "pid" in msg:
                self._replies.put_nowait(msg["pid"])
            elif "exit" in msg:
                child = self._children.pop(msg["exit"], None)
                if child is not None:
                    child._exited(msg["status"])
        for child in self._children.values():  # the zygote ended: its children die with it
            child._exited(-signal.SIGTERM)
        self._children.clear()
        self._replies.put_nowait(None)

    async def spawn(self, command: dict) -> _Forked:
        import json

        async with self._lock:
            await self.ensure()
            self.proc.stdin.write((json.dumps(command) + "\n").encode())
            await self.proc.stdin.drain()
            pid = await asyncio.wait_for(self._replies.get(), 30)
            if pid is None:
                raise RuntimeError("the Dask zygote ended")
            child = self._children[pid] = _Forked(pid)
            return child

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.stdin.close()
            await _terminate(self.proc)
        if self._reader is not None:
            self._reader.cancel()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child, after it took the person's uid
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: nothing graceful is left
    except (OSError, AttributeError):
        pass


class EmbeddedRunner(ClusterRunner):
    """Scheduler and workers as processes of this machine (see the module's docstring)."""

    def __init__(self, workdir: str | Path, *, run_as: Callable[[str], RunAs | None] = lambda user: None,
                 threads_per_worker: int = 1, log: logging.Logger | None = None, python: str = sys.executable,
                 use_zygote: bool = True):
        self.workdir = Path(workdir)
        self.run_as = run_as
        self.threads = threads_per_worker
        self.log = log or logging.getLogger("npuhub.dask")
        self.python = python
        self._clusters: dict[str, _Running] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: forks the clusters' processes with distributed imported (None: each process starts afresh)
        self.zygote: _Zygote | None = _Zygote(python, self.log) if use_zygote else None

    async def warm(self) -> None:
        """Start the zygote now, so that the first cluster does not wait for its imports."""
        if self.zygote is not None:
            try:
                await self.zygote.ensure()
            except OSError as e:
                self.log.warning("The Dask zygote could not be started (%s); processes start afresh", e)
                self.zygote = None

    def _lock(self, cid: str) -> asyncio.Lock:
        return self._locks.setdefault(cid, asyncio.Lock())

    # -- the contract ----------------------------------------------------------------------------
    async def start(self, spec: ClusterSpec) -> Endpoints:
        async with self._lock(spec.id):
            running = self._clusters.get(spec.id)
            if running is None:
                running = self._clusters[spec.id] = await asyncio.to_thread(self._prepare, spec)
            if running.scheduler is None or running.scheduler.returncode is not None:
                running.scheduler = await self._spawn(running, self._scheduler_command(spec, running),
                                                      spec.scheduler_launch.get("env") or {}, "scheduler")
            return self._endpoints(spec, running)

    async def adopt(self, spec: ClusterSpec) -> Endpoints | None:
        running = self._clusters.get(spec.id)
        if running is None or running.scheduler is None or running.scheduler.returncode is not None:
            return None
        return self._endpoints(spec, running)

    async def scale(self, spec: ClusterSpec, workers: list[WorkerGrant]) -> None:
        async with self._lock(spec.id):
            running = self._clusters.get(spec.id)
            if running is None:
                raise RuntimeError(f"cluster {spec.id} is not running")
            wanted = {w.name: w for w in workers}
            for name in [n for n in running.workers if n not in wanted]:
                _, proc = running.workers.pop(name)
                await _terminate(proc)
            for name, grant in wanted.items():
                current = running.workers.get(name)
                if current is not None and current[1].returncode is None:
                    continue
                command = self._worker_command(spec, running, name)
                proc = await self._spawn(running, command, (grant.launch or {}).get("env") or {}, name)
                running.workers[name] = (grant.request_id, proc)

    async def stop(self, spec: ClusterSpec) -> None:
        async with self._lock(spec.id):
            running = self._clusters.pop(spec.id, None)
            if running is None:
                return
            procs = [p for _, p in running.workers.values()] + ([running.scheduler] if running.scheduler else [])
            if running.scheduler is not None and running.scheduler.returncode not in (None, 0):
                self.log.warning("The Dask scheduler of %s had ended (exit %s): %s", spec.id,
                                 running.scheduler.returncode, _tail(running.logs / "scheduler.log"))
            await asyncio.gather(*(_terminate(p) for p in procs))
            shutil.rmtree(running.directory, ignore_errors=True)
            shutil.rmtree(running.logs, ignore_errors=True)
        self._locks.pop(spec.id, None)

    async def ready_workers(self, spec: ClusterSpec) -> int:
        """Workers whose process runs and that the scheduler has taken in (read from the scheduler's log)."""
        running = self._clusters.get(spec.id)
        if running is None:
            return 0
        return sum(1 for _, p in running.workers.values() if p.returncode is None and p.pid in self._joined(running))

    def running_workers(self, spec: ClusterSpec) -> dict[str, str]:
        """Worker name -> request id of the worker processes alive now."""
        running = self._clusters.get(spec.id)
        if running is None:
            return {}
        return {name: rid for name, (rid, p) in running.workers.items() if p.returncode is None}

    def scheduler_alive(self, spec: ClusterSpec) -> bool:
        running = self._clusters.get(spec.id)
        return running is not None and running.scheduler is not None and running.scheduler.returncode is None

    def scheduler_exit(self, spec: ClusterSpec) -> int | None:
        """The scheduler's exit status once it ended (0: it closed itself, idle), else None."""
        running = self._clusters.get(spec.id)
        return running.scheduler.returncode if running is not None and running.scheduler is not None else None

    async def stop_all(self) -> None:
        for cid in list(self._clusters):
            await self.stop(ClusterSpec(id=cid, user="", flavor=""))
        if self.zygote is not None:
            await self.zygote.close()

    # -- processes --------------------------------------------------------------------------------
    def _joined(self, running: _Running) -> set[int]:
        # each worker writes its pid to a file once registered (see _worker_command's preload)
        pids = set()
        for path in running.directory.glob("joined-*"):
            try:
                pids.add(int(path.name.split("-", 1)[1]))
            except ValueError:
                continue
        return pids

    def _prepare(self, spec: ClusterSpec) -> _Running:
        from distributed.security import Security

        run_as = self.run_as(spec.user)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o711)  # each person's processes pass through to their own cluster's directory
        directory = self.workdir / spec.id
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        security = Security.temporary()
        pem = security.tls_ca_file  # the one certificate, the CA of itself
        key = security.tls_scheduler_key
        (directory / "cert.pem").write_text(pem)
        (directory / "key.pem").write_text(key)
        (directory / "joined.py").write_text(_JOINED_PLUGIN.format(directory=str(directory)))
        for path in (directory, *directory.iterdir()):
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
            if run_as is not None:
                os.chown(path, run_as.uid, run_as.gid)
        logs = self.workdir / f"{spec.id}.logs"
        logs.mkdir(exist_ok=True, mode=0o700)
        os.chmod(logs, 0o700)
        return _Running(directory=directory, logs=logs, port=_free_port(), dashboard_port=_free_port(),
                        tls={"ca": pem, "cert": pem, "key": key}, run_as=run_as)

    def _tls_args(self, running: _Running) -> list[str]:
        d = running.directory
        return ["--tls-ca-file", str(d / "cert.pem"), "--tls-cert", str(d / "cert.pem"), "--tls-key",
                str(d / "key.pem")]

    def _scheduler_command(self, spec: ClusterSpec, running: _Running) -> list[str]:
        cmd = [self.python, "-m", "distributed.cli.dask_scheduler", "--protocol", "tls", "--host", "127.0.0.1",
               "--port", str(running.port), "--dashboard-address", f"127.0.0.1:{running.dashboard_port}",
               "--dashboard-prefix", DASHBOARD_PREFIX.format(id=spec.id), *self._tls_args(running)]
        if spec.idle_timeout:
            cmd += ["--idle-timeout", f"{int(spec.idle_timeout)}s"]
        return cmd

    def _worker_command(self, spec: ClusterSpec, running: _Running, name: str) -> list[str]:
        return [self.python, "-m", "distributed.cli.dask_worker", f"tls://127.0.0.1:{running.port}",
                "--no-nanny", "--nthreads", str(self.threads), "--name", name, "--no-dashboard",
                "--death-timeout", "60", "--local-directory", str(running.directory),
                "--preload", str(running.directory / "joined.py"), *self._tls_args(running)]

    async def _spawn(self, running: _Running, command: list[str], env: dict, what: str):
        base = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
        run_as = running.run_as
        home = run_as.home if run_as is not None else str(running.directory)
        environment = {**base, "HOME": home, "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
                       "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
                       **{k: str(v) for k, v in env.items()}}
        if run_as is not None:
            environment["USER"] = environment["LOGNAME"] = run_as.name
        extra = {}
        if run_as is not None and os.geteuid() == 0:
            extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        log_path = running.logs / f"{what}.log"
        if self.zygote is not None and command[1] == "-m" and command[2].startswith(_CLI):
            role = command[2][len(_CLI):]
            try:
                proc = await self.zygote.spawn({
                    "role": role, "args": command[3:], "env": environment, "cwd": str(running.directory),
                    "log": str(log_path), "uid": extra.get("user"), "gid": extra.get("group")})
                self.log.info("Dask %s forked (pid %d)", what, proc.pid)
                return proc
            except (OSError, RuntimeError, asyncio.TimeoutError) as e:
                self.log.warning("The Dask zygote failed (%s); starting processes afresh", e)
                self.zygote = None
        log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600), "ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                *command, cwd=str(running.directory), env=environment, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT, preexec_fn=_die_with_parent, **extra)
        finally:
            log.close()
        self.log.info("Dask %s started (pid %d)", what, proc.pid)
        return proc

    def _endpoints(self, spec: ClusterSpec, running: _Running) -> Endpoints:
        return Endpoints(scheduler_address=f"tls://127.0.0.1:{running.port}",
                         dashboard_url=f"http://127.0.0.1:{running.dashboard_port}"
                                       f"{DASHBOARD_PREFIX.format(id=spec.id)}",
                         tls=dict(running.tls))


def _tail(path: Path, size: int = 1500) -> str:
    try:
        return path.read_bytes()[-size:].decode(errors="replace")
    except OSError:
        return "(no log)"


async def _terminate(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    if proc.returncode is not None:
        return
    try:
        proc.terminate()
    except ProcessLookupError:
        return
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except asyncio.TimeoutError:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        await proc.wait()


#: a worker preload that says, by a file named for its pid, that the scheduler has taken it in
_JOINED_PLUGIN = '''
import asyncio
import os


async def dask_setup(worker):
    from distributed.core import Status

    async def joined():
        while worker.status != Status.running:
            await asyncio.sleep(0.05)
        open(os.path.join({directory!r}, "joined-%d" % os.getpid()), "w").close()

    worker._npuhub_joined = asyncio.ensure_future(joined())
'''


def os_user_lookup(site) -> Callable[[str], RunAs | None]:
    """Under os-users isolation (the service running as root), each person's Unix account, as her servers use.

    Raises KeyError (the cluster does not start) for a person with no account yet: her server never ran here.
    """
    import pwd

    from ...spawners.local import isolation_mode
    from ...spawners.osusers import system_name

    try:
        mode = isolation_mode(site.isolation.mode)
    except ValueError:
        mode = "shared"
    if mode != "os-users" or os.geteuid() != 0:
        return lambda user: None
    prefix = site.isolation.user_prefix

    def lookup(user: str) -> RunAs:
        entry = pwd.getpwnam(system_name(user, prefix))
        return RunAs(entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_name)

    return lookup
