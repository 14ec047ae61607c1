"""The embedded stack's spawner: local JupyterLab processes, each person's as her own Unix account when run as root.

Two modes (``LocalNPUSpawner.isolation``):

- ``os-users`` (the default when the hub runs as root, as The Littlest
  JupyterHub does): each person gets a Unix account ``<prefix><name>``
  (``npuhub.spawners.osusers``), made at her first start, whose home is her
  working directory (mode 0700); her servers run as that account. Other
  people's code can read neither her files nor her server's environment.
- ``shared``: every server runs as the hub's own user (the only choice without
  root). Nobody is isolated from anybody; the hub says so at start-up.

In both modes the flavor's CPU and memory are enforced by control groups
where this process may make them (``npuhub.spawners.limits``: cgroup v2 or
v1, as root), and only passed on as ``CPU_LIMIT``/``MEM_LIMIT`` elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from importlib import resources
from pathlib import Path

from traitlets import Bool, Enum, Unicode, default

from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
from jupyterhub.utils import maybe_future

from ..i18n import message
from ..lab_language import settings_dir
from .limits import NoLimits, ResourceLimits, cgroup_key, clear_group, detect
from .mixin import NPUHubSpawnError, NPUSpawnerMixin
from .osusers import AccountError, ensure_account, remove_account, system_name

#: Under the servers' work root: JupyterLab's settings with the site's language (no account has this name).
LAB_SETTINGS_DIRNAME = ".npuhub-lab-settings"
#: (root, language) -> the directory written by this hub process (once: packages do not change under it)
_written_settings: dict[tuple[str, str], str] = {}

__all__ = ["LocalNPUSpawner", "safe_dirname", "isolation_mode", "resource_limits"]


def safe_dirname(name: str) -> str:
    """A directory name for a user name: letters, digits, '.', '_' and '-' kept, the rest hex-escaped."""
    safe = re.sub(r"[^a-z0-9_-]", lambda m: "." + m.group().encode().hex(), name.lower())
    return safe if safe.strip(".") else "_"


def isolation_mode(requested: str = "") -> str:
    """``os-users`` or ``shared``: what was asked for, or (``""``/``auto``) ``os-users`` exactly when running as root.

    Raises ValueError for ``os-users`` without root: it cannot be set up.
    """
    root = os.geteuid() == 0
    if requested in ("", "auto"):
        return "os-users" if root else "shared"
    if requested == "os-users" and not root:
        raise ValueError("isolation mode 'os-users' needs npuhub to run as root (it makes a Unix account per person)")
    return requested


_LIMITS: dict[tuple[bool, str], ResourceLimits] = {}


def resource_limits(enforce: bool = True, v2_parent: str = "") -> ResourceLimits:
    """The control groups this hub uses for every server (detected once per process)."""
    key = (enforce, v2_parent)
    if key not in _LIMITS:
        _LIMITS[key] = detect(v2_parent=v2_parent) if enforce else NoLimits("turned off")
    return _LIMITS[key]


class LocalNPUSpawner(NPUSpawnerMixin, SimpleLocalProcessSpawner):
    """Starts ``jupyterhub-singleuser`` (JupyterLab) as a local process holding a simulated slice."""

    work_root = Unicode(
        "",
        config=True,
        help="""Directory under which each person gets a working directory (their notebooks).

        Empty means ``./npuhub-data/users``. With ``os-users`` isolation each
        working directory is its owner's home, mode 0700, and every directory
        above it must be traversable by others (mode o+x).
        """,
    )
    isolation = Enum(
        ["", "auto", "os-users", "shared"],
        "",
        config=True,
        help="""How people's servers are kept apart: ``os-users`` (each runs as its owner's own Unix account,
        needs root), ``shared`` (all run as the hub's user: no isolation), or empty/``auto``: ``os-users``
        when the hub runs as root, else ``shared``. The site file's ``isolation.mode`` sets it.
        """,
    )
    os_user_prefix = Unicode(
        "jupyter-",
        config=True,
        help="""The beginning of every per-person Unix account's name (``jupyter-student1``); see
        ``npuhub.spawners.osusers.system_name`` for names a Unix account cannot have. The site file's
        ``isolation.user_prefix`` sets it.
        """,
    )
    enforce_limits = Bool(
        True,
        config=True,
        help="Hold each server to its flavor's CPU and memory with control groups, where the hub may make them.",
    )
    remove_account_on_delete = Bool(
        True,
        config=True,
        help="""When a person is deleted from the hub (an admin, the workshop clean-up), remove her Unix
        account and its home, her working directory (os-users only), as KubeSpawner removes her volume.
        """,
    )
    lab_folders = Bool(
        True,
        config=True,
        help="""Give each person a shared folder per lab group she is in (``~/labs/<lab>``), that other labs
        cannot read (``os-users`` only: with one OS user for everyone, folders cannot be kept apart and none
        are made). See ``npuhub.labs``.
        """,
    )
    labs_root = Unicode(
        "",
        config=True,
        help="Where the labs' folders are kept (``<labs root>/<lab>``). Empty: ``labs`` beside ``work_root``.",
    )
    cgroup_v2_parent = Unicode(
        "",
        config=True,
        help="""The cgroup v2 directory under which each server's group is made (empty: ``/sys/fs/cgroup/npuhub``).

        With systemd, point it at a slice delegated to the hub (``Delegate=yes``).
        """,
    )

    @default("home_dir")
    def _default_home_dir(self):
        root = self.work_root or os.path.join(os.getcwd(), "npuhub-data", "users")
        return os.path.join(os.path.abspath(root), safe_dirname(self.user.name))

    def lab_settings_arg(self) -> str | None:
        """A settings directory of the site's language next to the homes (reachable by every account)."""
        root = Path(self.work_root or os.path.dirname(self.home_dir)) / LAB_SETTINGS_DIRNAME
        key = (str(root), self.lab_language)
        if key not in _written_settings:
            _written_settings[key] = str(settings_dir(self.lab_language, root))
        return f"--LabApp.app_settings_dir={_written_settings[key]}"

    @default("cmd")
    def _default_cmd(self):
        # The interpreter running the hub has JupyterLab; PATH may not point at it.
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("default_url")
    def _default_default_url(self):
        return "/lab"

    # -- who the server runs as -------------------------------------------------
    @property
    def mode(self) -> str:
        return isolation_mode(self.isolation)

    @property
    def os_user(self) -> str:
        """The Unix account this person's servers run as (os-users), or the hub's own user (shared)."""
        if self.mode == "os-users":
            return system_name(self.user.name, self.os_user_prefix)
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name

    @property
    def limits(self) -> ResourceLimits:
        return resource_limits(self.enforce_limits, self.cgroup_v2_parent)

    @property
    def cgroup(self) -> str:
        """This server's control group (the account, plus the server's name for a named one)."""
        return cgroup_key(self.os_user + (f"--{self.name}" if self.name else ""))

    async def start(self):
        if self.mode == "os-users":
            # before asking for a slice: an account that cannot be made must not hold one
            try:
                account = await ensure_account(self.os_user, Path(self.home_dir))
                await self._lab_folders(account)
            except (AccountError, OSError) as e:
                self.log.error("Cannot prepare the Unix account of %s: %s", self._log_name, e)
                raise NPUHubSpawnError.of("account_refused", message("account_refused"), status=500) from None
        try:
            return await super().start()
        except BaseException:
            await self._clear_cgroup()
            raise

    @property
    def labs_dir(self) -> Path:
        if self.labs_root:
            return Path(self.labs_root)
        users = self.work_root or os.path.join(os.getcwd(), "npuhub-data", "users")
        return Path(os.path.abspath(users)).parent / "labs"

    async def _lab_folders(self, account) -> None:
        """Her labs' Unix groups, folders and links, kept in step with her hub groups at each start."""
        if not self.lab_folders:
            return
        from ..labs import lab_groups
        from .labdirs import sync_lab_folders

        labs = lab_groups([g.name for g in self.user.groups], self.group_mapping)
        dirs = await sync_lab_folders(account, Path(self.home_dir), labs, self.labs_dir, self.os_user_prefix)
        if dirs:
            self.log.info("Lab folders of %s: %s", self._log_name, ", ".join(sorted(dirs)))

    def apply_launch(self, launch: dict) -> None:
        super().apply_launch(launch)
        if self.limits.enforced:
            self.limits.prepare(self.cgroup, self.cpu_limit or None, self.mem_limit or None)

    def make_preexec_fn(self, name):
        """Join the server's control group, become its owner's account (os-users, umask 007), start in her directory."""
        limits, group, home = self.limits, self.cgroup, self.home_dir
        become = set_user_setuid(self.os_user, chdir=False) if self.mode == "os-users" else None

        def preexec():
            if limits.enforced:
                limits.join(group, os.getpid())  # as root, before anything of the server runs
            if become is None:
                os.makedirs(home, 0o700, exist_ok=True)
            else:
                become()
                # her files are her group's too: that group is hers alone (useradd --user-group) and her
                # home 0700, except in a lab's folder, whose set-group-ID bit gives them the lab's group
                os.umask(0o007)
            os.chdir(home)

        return preexec

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            await self._clear_cgroup()

    def clear_state(self):
        super().clear_state()
        if self.limits.enforced and not self.limits.remove(self.cgroup):  # the hub found the server gone
            try:
                asyncio.get_running_loop().create_task(self._clear_cgroup())
            except RuntimeError:  # no loop (not in the hub): the group waits for the next start's clean-up
                pass

    async def _clear_cgroup(self) -> None:
        """The server's group goes with it; processes it left behind (kernels) are ended first."""
        if self.limits.enforced and not await clear_group(self.limits, self.cgroup):
            self.log.warning("The control group %s of %s's server still holds processes", self.cgroup,
                             self._log_name)

    async def delete_forever(self):
        """The person is deleted from the hub: her account and her working directory go too (os-users)."""
        await maybe_future(super().delete_forever())
        if self.name or self.mode != "os-users" or not self.remove_account_on_delete:
            return
        try:
            await remove_account(self.os_user)
        except AccountError as e:
            self.log.warning("Could not remove the Unix account of %s: %s", self._log_name, e)

    def user_env(self, env):
        env = super().user_env(env)
        env["USER"] = self.os_user
        # Quiet, offline-friendly JupyterLab defaults (no news, no update checks, root allowed
        # when the hub itself runs as root in a container or CI).
        env["JUPYTER_CONFIG_PATH"] = str(resources.files("npuhub") / "data" / "singleuser")
        # Dask's lowest-priority config directory (what /etc/dask is in the images): the Dask sidebar's "New"
        # makes an npuhub cluster; a person's own ~/.config/dask still wins
        env["DASK_ROOT_CONFIG"] = str(resources.files("npuhub") / "data" / "singleuser" / "dask")
        return env
