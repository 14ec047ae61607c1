"""The embedded runner on its own: real scheduler and worker processes, exactly the listed workers, idle exit.

(The service drives it in test_service_clusters.py; here its contract: ``scale`` runs exactly the workers
listed, ``stop`` leaves nothing, an idle scheduler ends itself with status 0, which the service reads as idle.)
"""

from __future__ import annotations

import asyncio
import os

from npuhub.dask.runners.base import ClusterSpec, WorkerGrant
from npuhub.dask.runners.embedded import EmbeddedRunner


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def test_exactly_the_listed_workers_then_an_idle_scheduler_ends_itself(tmp_path, monkeypatch):
    async def scenario():
        runner = EmbeddedRunner(tmp_path / "clusters")
        spec = ClusterSpec(id="dc-runner-test", user="u", flavor="npu-quarter", idle_timeout=3)
        endpoints = await runner.start(spec)
        assert endpoints.scheduler_address.startswith("tls://127.0.0.1:") and endpoints.tls["key"]
        grants = [WorkerGrant(f"w-{i}", f"r{i}", {"env": {"ASCEND_VISIBLE_DEVICES": str(i)}}) for i in range(2)]
        await runner.scale(spec, grants)
        for _ in range(300):
            if await runner.ready_workers(spec) == 2:
                break
            await asyncio.sleep(0.1)
        assert await runner.ready_workers(spec) == 2
        pids = {name: proc.pid for name, (_, proc) in runner._clusters[spec.id].workers.items()}
        # what the process was started with holds none of the service's secrets
        env = open(f"/proc/{pids['w-1']}/environ", "rb").read().split(b"\0")
        assert not any(e.startswith(b"JUPYTERHUB_API_TOKEN") for e in env)
        # and each worker's environment has its own slice's devices
        from distributed import Client
        from distributed.security import Security

        tls = endpoints.tls
        security = Security(tls_ca_file=tls["ca"], tls_client_cert=tls["cert"], tls_client_key=tls["key"],
                            require_encryption=True)
        async with Client(endpoints.scheduler_address, security=security, asynchronous=True) as client:
            seen = await client.run(lambda: (os.environ.get("ASCEND_VISIBLE_DEVICES"), os.environ.get("HOME")))
        assert sorted(v[0] for v in seen.values()) == ["0", "1"]

        await runner.scale(spec, grants[:1])  # exactly the listed: w-1 stops, w-0 goes on
        assert runner.running_workers(spec) == {"w-0": "r0"}
        await asyncio.sleep(0.5)
        assert _alive(pids["w-0"]) and not _alive(pids["w-1"])

        for _ in range(200):  # no tasks: the scheduler closes itself after its idle timeout
            if runner.scheduler_exit(spec) is not None:
                break
            await asyncio.sleep(0.1)
        assert runner.scheduler_exit(spec) == 0 and not runner.scheduler_alive(spec)
        await runner.stop(spec)
        await runner.stop(spec)  # idempotent
        await asyncio.sleep(0.3)
        assert not any(_alive(pid) for pid in pids.values())
        assert not (tmp_path / "clusters" / spec.id).exists()
        await runner.stop_all()

    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "not-for-workers")  # the runner passes on none of it
    asyncio.run(scenario())
