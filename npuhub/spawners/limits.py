"""A flavor's CPU and memory enforced on one machine by the kernel's control groups, v2 or v1.

One small interface (``ResourceLimits``) with two implementations:

- ``CgroupV2``: the unified hierarchy, as production hosts with systemd have it
  (``/sys/fs/cgroup/cgroup.controllers`` lists ``cpu`` and ``memory``). Each
  server gets ``<parent>/<key>`` with ``memory.max``, ``memory.swap.max = 0``
  and ``cpu.max``.
- ``CgroupV1``: the older per-controller hierarchies
  (``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/cpu``), as on hosts without
  systemd. Each server gets ``<controller>/<hub's own group>/npuhub/<key>``
  with ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` where
  swap is accounted) and ``cpu.cfs_quota_us``.

``detect()`` picks the first that this process may write (root), else
``NoLimits``, and says which in ``description``. A server's process joins its
group before it runs a line of its own (in the spawner's ``preexec_fn``), so
every kernel it starts is inside the limit; a kernel past its memory is ended
by the kernel's OOM killer, the server stays. ``remove`` runs after the
server has stopped.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

__all__ = ["ResourceLimits", "CgroupV1", "CgroupV2", "NoLimits", "detect", "cgroup_key"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: CFS period for CPU quotas, in microseconds (the kernel's default).
CPU_PERIOD_US = 100_000


def cgroup_key(name: str) -> str:
    """A directory name for one server's group (``name`` is the Unix account, plus the server's name)."""
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:200]
    return "_" if key.strip(".") == "" else key


class ResourceLimits:
    """How servers are held to their flavor's CPU and memory. Subclasses fill in the four methods."""

    #: what is used, for the start-up line and the docs (e.g. "cgroup v1 (memory, cpu)")
    description = "none"
    #: True when limits are enforced
    enforced = False

    def prepare(self, key: str, cpu: float | None, memory: int | None) -> None:
        """Make the group ``key`` with these limits (None: unlimited). Called in the hub before the start."""

    def join(self, key: str, pid: int) -> None:
        """Move ``pid`` into the group ``key``. Called in the new server process before it runs (as root)."""

    def remove(self, key: str) -> bool:
        """Remove the group ``key`` if no process is left in it; True once it is gone (never raises)."""
        return True

    def members(self, key: str) -> list[int]:
        """The processes still in the group ``key`` (a kernel its server left behind)."""
        return []

    def memory_events(self, key: str) -> int:
        """How many times the kernel ended a process of the group for its memory (0 when unknown)."""
        return 0


class NoLimits(ResourceLimits):
    """No control groups this process may use: CPU and memory are passed to the server, not enforced."""

    def __init__(self, why: str = ""):
        self.description = "none" + (f" ({why})" if why else "")


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _rmdir(path: Path) -> bool:
    """True when the group's directory is gone; False while processes are still inside it."""
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def _pids(path: Path) -> list[int]:
    try:
        return [int(line) for line in path.read_text().split()]
    except (OSError, ValueError):
        return []


async def clear_group(limits: ResourceLimits, key: str, timeout: float = 10.0) -> bool:
    """Remove a stopped server's group: what is left in it (its kernels) is killed first. False if it stays."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not limits.remove(key):
        if loop.time() > deadline:
            return False
        for pid in limits.members(key):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        await asyncio.sleep(0.1)
    return True


class CgroupV2(ResourceLimits):
    """The unified hierarchy: one directory per server under ``parent``."""

    enforced = True

    def __init__(self, parent: Path):
        self.parent = parent
        self.description = f"cgroup v2 ({parent})"

    @classmethod
    def available(cls, root: Path = CGROUP_ROOT) -> bool:
        controllers = root / "cgroup.controllers"
        if not controllers.exists():
            return False
        have = set(controllers.read_text().split())
        return {"cpu", "memory"} <= have and os.access(root / "cgroup.subtree_control", os.W_OK)

    def _enable_controllers(self) -> None:
        self.parent.mkdir(exist_ok=True)
        for group in (self.parent.parent, self.parent):
            enabled = set((group / "cgroup.subtree_control").read_text().split())
            missing = [c for c in ("cpu", "memory") if c not in enabled]
            if missing:
                _write(group / "cgroup.subtree_control", " ".join("+" + c for c in missing))

    def prepare(self, key, cpu, memory):
        self._enable_controllers()
        group = self.parent / key
        group.mkdir(exist_ok=True)
        _write(group / "memory.max", str(memory) if memory else "max")
        if (group / "memory.swap.max").exists():
            _write(group / "memory.swap.max", "0" if memory else "max")
        _write(group / "cpu.max", f"{int(cpu * CPU_PERIOD_US)} {CPU_PERIOD_US}" if cpu else f"max {CPU_PERIOD_US}")

    def join(self, key, pid):
        _write(self.parent / key / "cgroup.procs", str(pid))

    def remove(self, key):
        return _rmdir(self.parent / key)

    def members(self, key):
        return _pids(self.parent / key / "cgroup.procs")

    def memory_events(self, key):
        return _oom_kills(self.parent / key / "memory.events")


class CgroupV1(ResourceLimits):
    """The per-controller hierarchies: ``memory`` and ``cpu``, each a directory per server."""

    enforced = True

    def __init__(self, memory_parent: Path, cpu_parent: Path):
        self.memory_parent, self.cpu_parent = memory_parent, cpu_parent
        self.description = f"cgroup v1 ({memory_parent}, {cpu_parent})"

    @classmethod
    def here(cls, root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> "CgroupV1 | None":
        """Groups nested in this process's own (so that limits set above the hub still hold), if writable."""
        own = {}
        try:
            for line in proc_cgroup.read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                for controller in controllers.split(","):
                    own[controller] = path
        except (OSError, ValueError):
            return None
        parents = []
        for controller in ("memory", "cpu"):
            mount = root / controller
            if controller not in own or not (mount / "cgroup.procs").exists():
                return None
            parent = mount / own[controller].lstrip("/") / "npuhub"
            if not os.access(parent.parent, os.W_OK):
                return None
            parents.append(parent)
        return cls(*parents)

    def prepare(self, key, cpu, memory):
        mem = self.memory_parent / key
        mem.mkdir(parents=True, exist_ok=True)
        # swap first when lowering (memsw may never be below the memory limit), last when raising
        limit = str(memory) if memory else "-1"
        memsw = mem / "memory.memsw.limit_in_bytes"
        if memory and memsw.exists():
            try:
                _write(mem / "memory.limit_in_bytes", limit)
                _write(memsw, limit)
            except OSError:
                _write(memsw, limit)
                _write(mem / "memory.limit_in_bytes", limit)
        else:
            if memsw.exists():
                _write(memsw, "-1")
            _write(mem / "memory.limit_in_bytes", limit)
        cpu_group = self.cpu_parent / key
        cpu_group.mkdir(parents=True, exist_ok=True)
        _write(cpu_group / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(cpu_group / "cpu.cfs_quota_us", str(int(cpu * CPU_PERIOD_US)) if cpu else "-1")

    def join(self, key, pid):
        for parent in (self.memory_parent, self.cpu_parent):
            _write(parent / key / "cgroup.procs", str(pid))

    def remove(self, key):
        return all([_rmdir(parent / key) for parent in (self.memory_parent, self.cpu_parent)])

    def members(self, key):
        return sorted({pid for parent in (self.memory_parent, self.cpu_parent)
                       for pid in _pids(parent / key / "cgroup.procs")})

    def memory_events(self, key):
        return _oom_kills(self.memory_parent / key / "memory.oom_control")


def detect(root: Path = CGROUP_ROOT, v2_parent: str = "") -> ResourceLimits:
    """The control groups this process can use: v2 where the unified hierarchy has cpu and memory, else v1."""
    if os.geteuid() != 0:
        return NoLimits("not root")
    if CgroupV2.available(root):
        return CgroupV2(Path(v2_parent) if v2_parent else root / "npuhub")
    v1 = CgroupV1.here(root)
    if v1 is not None:
        return v1
    return NoLimits("no writable cgroup v2 or v1 memory and cpu controllers")


def _oom_kills(path: Path) -> int:
    """The ``oom_kill`` count of a cgroup's memory file (v2 ``memory.events``, v1 ``memory.oom_control``); 0 if none."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0
