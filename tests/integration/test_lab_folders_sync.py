"""Lab folders kept in step with a person's labs at each start, with real Unix accounts and groups (as root)."""

from __future__ import annotations

import asyncio
import grp
import os

import pytest

from npuhub.labs import unix_group_name
from npuhub.spawners.labdirs import sync_lab_folders
from npuhub.spawners.osusers import ensure_account, system_name
from support.osusers import AS_ROOT, new_prefix, reachable_dir, remove_accounts
from support.parts import require

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix():
    require(AS_ROOT, "root (real Unix accounts and groups)")
    p = new_prefix()
    yield p
    remove_accounts(p)
    assert not [g for g in grp.getgrall() if g.gr_name.startswith(p)]


def test_leaving_a_lab_takes_her_out_of_its_group_and_its_link_away(prefix):
    data = reachable_dir()
    home, root = data / "users" / "ada", data / "labs"
    (data / "users").mkdir(mode=0o711)
    account = asyncio.run(ensure_account(system_name("ada", prefix), home))

    dirs = asyncio.run(sync_lab_folders(account, home, ["lab-a", "lab-b"], root, prefix))
    assert sorted(os.listdir(home / "labs")) == ["lab-a", "lab-b"]
    assert os.readlink(home / "labs" / "lab-b") == str(dirs["lab-b"]) == str(root / "lab-b")
    for lab in ("lab-a", "lab-b"):
        assert grp.getgrnam(unix_group_name(lab, prefix)).gr_mem == [account.pw_name]
    (home / "labs" / "my-notes").write_text("hers")  # her own file among the links stays

    asyncio.run(sync_lab_folders(account, home, ["lab-a"], root, prefix))  # she left lab-b
    assert grp.getgrnam(unix_group_name("lab-b", prefix)).gr_mem == []
    assert sorted(os.listdir(home / "labs")) == ["lab-a", "my-notes"]
    assert (root / "lab-b").is_dir()  # the lab's files stay the lab's

    # ~/labs turned into a link elsewhere: nothing is made through it
    for entry in (home / "labs").iterdir():
        entry.unlink()
    (home / "labs").rmdir()
    elsewhere = reachable_dir()
    (home / "labs").symlink_to(elsewhere)
    asyncio.run(sync_lab_folders(account, home, ["lab-a", "lab-c"], root, prefix))
    assert os.listdir(elsewhere) == []
    assert grp.getgrnam(unix_group_name("lab-c", prefix)).gr_mem == [account.pw_name]
