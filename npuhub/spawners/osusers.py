"""One Unix account per person for local servers: the account's name, its creation, its private working directory.

When the hub runs as root (as The Littlest JupyterHub does), each person's
server runs as her own account, ``<prefix><name>``: other people's code cannot
read her files, her process environment (her server's token) or the hub's.

Hub names may hold characters a Unix name may not, and a Unix name has at most
32 characters. ``system_name`` keeps a name that is already a safe Unix name
as it is (``student1`` -> ``jupyter-student1``); any other name is made safe
and given a hash of the original after a ``.``, a character no unchanged name
contains, so two hub names never share an account
(``李雷`` -> ``jupyter-_.6c1e3f0a2b``, ``Alice`` -> ``jupyter-alice.3bc51062``).
"""

from __future__ import annotations

import asyncio
import grp
import hashlib
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path

from ..site_hub import check_account_prefix as check_prefix

__all__ = ["system_name", "check_prefix", "ensure_account", "remove_account", "AccountError", "MARKER", "run_as_probe",
           "probe_command"]

#: The account's comment (GECOS): npuhub runs servers only as accounts it made.
MARKER = "npuhub server account"
#: The longest Unix user name useradd accepts on Linux.
MAX_NAME = 32
_KEEP = re.compile(r"^[a-z0-9_-]+$")
_HASH_CHARS = 10
# Two starts of the same person in this hub: one useradd (useradd itself locks /etc/passwd between processes).
_LOCK = asyncio.Lock()


class AccountError(RuntimeError):
    """The account cannot be made or used; the message says what the operator must do."""


def system_name(hub_name: str, prefix: str = "jupyter-") -> str:
    """The Unix account of the hub user ``hub_name``: ``prefix`` + a safe form of the name, at most 32 characters."""
    check_prefix(prefix)
    room = MAX_NAME - len(prefix)
    if _KEEP.match(hub_name) and len(hub_name) <= room:
        return prefix + hub_name
    digest = hashlib.sha256(hub_name.encode()).hexdigest()[:_HASH_CHARS]
    safe = re.sub(r"[^a-z0-9_-]+", "_", hub_name.lower())[: room - _HASH_CHARS - 1] or "_"
    return f"{prefix}{safe}.{digest}"


async def ensure_account(name: str, home: Path, *, retries: int = 5) -> pwd.struct_passwd:
    """The account ``name`` with ``home`` (mode 0700, owned by it), made on first use.

    Raises ``AccountError`` for an account npuhub did not make (its comment is
    not ``MARKER``) or one with uid 0: a server never runs as someone else's
    account. Called at each start, as root.
    """
    async with _LOCK:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            await _useradd(name, home, retries)
            account = pwd.getpwnam(name)
    if account.pw_uid == 0 or not account.pw_gecos.startswith(MARKER):
        raise AccountError(f"the Unix account {name!r} exists but was not made by npuhub (its comment is "
                           f"{account.pw_gecos!r}); remove it or choose another isolation.user_prefix")
    _private_dir(home, account.pw_uid, account.pw_gid)
    return account


async def _useradd(name: str, home: Path, retries: int) -> None:
    cmd = ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/bash", "--user-group",
           "--comment", MARKER, name]
    for attempt in range(retries):
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode == 0:
            return
        if proc.returncode == 9:  # "username already in use": another hub made it meanwhile
            return
        # 10: /etc/passwd locked by another useradd (another hub on the machine): try again shortly
        if proc.returncode != 10 or attempt == retries - 1:
            raise AccountError(f"useradd {name} failed ({proc.returncode}): {out.decode(errors='replace').strip()}")
        await asyncio.sleep(0.2 * (attempt + 1))


async def remove_account(name: str) -> None:
    """Remove the account ``name`` and its home, if npuhub made it (its processes must have ended)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return
    if account.pw_uid == 0 or not account.pw_gecos.startswith(MARKER):
        raise AccountError(f"the Unix account {name!r} was not made by npuhub; it is left alone")
    async with _LOCK:
        proc = await asyncio.create_subprocess_exec("userdel", "--remove", name, stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT)
        out, _ = await proc.communicate()
    # 12: the home could not be removed entirely (e.g. no mail spool): the account is gone all the same
    if proc.returncode not in (0, 12):
        raise AccountError(f"userdel {name} failed ({proc.returncode}): {out.decode(errors='replace').strip()}")


def _private_dir(home: Path, uid: int, gid: int) -> None:
    """``home`` exists, belongs to the account and is 0700 (a restart, or an account made again, may have left it otherwise)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = home.stat()
    if (st.st_uid, st.st_gid) != (uid, gid):
        # an account removed and made again gets a new uid: give it back what is in its directory
        for root, dirs, files in os.walk(home):
            for entry in (root, *(os.path.join(root, n) for n in dirs + files)):
                os.lchown(entry, uid, gid)
    os.chmod(home, 0o700)


def run_as_probe(cmd: list[str], env: dict[str, str], account: str = "nobody") -> str | None:
    """Run ``cmd`` as ``account`` (default ``nobody``, who owns nothing); None if it succeeds, else what it said.

    Used at start-up to check that a per-person account can run the server
    command at all: the interpreter and npuhub must be readable by everyone,
    not under a private directory such as /root.
    """
    try:
        entry = pwd.getpwnam(account)
    except KeyError:
        return None  # nobody to try as; the first start will say it
    gid = entry.pw_gid if _group_exists(entry.pw_gid) else 65534

    def drop():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(entry.pw_uid)

    try:
        done = subprocess.run(cmd, env=env, preexec_fn=drop, cwd="/", stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if done.returncode == 0:
        return None
    said = done.stdout.decode(errors="replace").strip().splitlines()
    return said[-1] if said else f"exit status {done.returncode}"


def _group_exists(gid: int) -> bool:
    try:
        grp.getgrgid(gid)
        return True
    except KeyError:
        return False


def probe_command() -> list[str]:
    """What a per-person account must be able to run: this interpreter, finding the server, npuhub and its data.

    Cheap on purpose (it runs at every start of the hub): it finds
    ``jupyterhub.singleuser`` without importing JupyterLab.
    """
    return [sys.executable, "-c",
            "import importlib.util, pathlib, npuhub\n"
            "from importlib import resources\n"
            "assert importlib.util.find_spec('jupyterhub.singleuser'), 'jupyterhub.singleuser is not installed'\n"
            "p = pathlib.Path(str(resources.files('npuhub') / 'data' / 'singleuser'))\n"
            "[f.read_bytes() for f in p.iterdir() if f.is_file()]\n"]
