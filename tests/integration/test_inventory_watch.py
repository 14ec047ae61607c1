"""The node watch itself (``npuhub.inventory.watcher``) against a Kubernetes API *emulator* on loopback.

One watch, not a poll: after the first list, changes arrive as watch events.
An API server that goes away takes no node with it: the last list stands until
an API answers again, and the next list then repairs whatever was missed.
"""

from __future__ import annotations

import asyncio

import pytest

from npuhub.inventory.watcher import NodeWatcher, load_kube_client
from npuhub.site_config import parse_site_config
from support.kube_emulator_nodes import EmulatedCluster
from support.sites import KUBE_LABEL, KUBE_RESOURCE, MODEL, kube_pool, make_site

pytestmark = pytest.mark.integration

SETTINGS = parse_site_config(make_site(pool=kube_pool(resync_seconds=10))).kubernetes
LABELS = {KUBE_LABEL: "ascend-910b"}


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not true in time"
        await asyncio.sleep(0.05)


async def test_emulated_api_changes_arrive_by_watch_and_an_unreachable_api_takes_no_node(tmp_path):
    first = EmulatedCluster().__enter__()
    second = EmulatedCluster()
    current = {"kubeconfig": first.kubeconfig(tmp_path / "first")}
    changes: list[list] = []

    async def changed(nodes):
        changes.append(nodes)

    watcher = NodeWatcher(SETTINGS, {MODEL: KUBE_RESOURCE}, changed,
                          lambda: load_kube_client(str(current["kubeconfig"])))
    await asyncio.to_thread(first.add_node, "n1", 2, LABELS, KUBE_RESOURCE)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.synced.wait(), 10)
        assert list(watcher.nodes) == ["n1"] and watcher.lists == 1
        await asyncio.to_thread(first.add_node, "n2", 4, LABELS, KUBE_RESOURCE)
        await until(lambda: "n2" in watcher.nodes)
        assert watcher.lists == 1 and watcher.events >= 1  # a watch event, not a new list (nor a poll)

        # The API server goes away: the nodes last seen stay, failures are counted.
        await asyncio.to_thread(first.__exit__)
        await until(lambda: watcher.failures >= 1, 60)  # a hung watch is given up after resync_seconds + 5
        assert set(watcher.nodes) == {"n1", "n2"}

        # Another answers (n2 is gone from it, n3 new): the next list repairs the view.
        await asyncio.to_thread(second.__enter__)
        await asyncio.to_thread(second.add_node, "n1", 2, LABELS, KUBE_RESOURCE)
        await asyncio.to_thread(second.add_node, "n3", 1, LABELS, KUBE_RESOURCE, True)
        current["kubeconfig"] = second.kubeconfig(tmp_path / "second")
        await until(lambda: set(watcher.nodes) == {"n1", "n3"}, 40)
        assert watcher.nodes["n3"].schedulable is False
        assert [sorted(n.name for n in nodes) for nodes in changes][-1] == ["n1", "n3"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if second.url:
            second.__exit__()
