"""The cluster's spawner: KubeSpawner pods holding the slice the npuhub service granted.

``KubeNPUSpawner`` = ``NPUSpawnerMixin`` (the queue, the grant, the release)
over ``WatchedKubeSpawner`` (KubeSpawner whose pod start is watched and told
to the student in her language). Select it with ``spawner.type: kubernetes``
in the site file, or ``c.JupyterHub.spawner_class = "npuhub-kubernetes"``.

A start, in order: the mixin waits in the service's queue (position,
estimate); the grant's ``launch`` becomes the pod (``pod_spec.pod_settings``:
the backend's resources, node selector, tolerations, annotations, volumes,
CPU and memory, the flavor's image); KubeSpawner creates the per-user volume
claim and the pod; while the pod starts, each stage (a place on a node, the
image downloading, the container starting) is shown, and a pod that cannot
start (cannot be placed, its image cannot be pulled, its container exits,
the namespace's quota is spent, it takes longer than ``pod_start_timeout``)
is deleted and the start fails with ONE sentence (``pod_watch``): the mixin
then releases the slice. Raw scheduler events are never shown.
"""

from __future__ import annotations

import asyncio
import copy
import time

from traitlets import Float, Unicode, default

from kubernetes_asyncio.client.rest import ApiException
from kubernetes_asyncio.client.models import V1Container, V1Volume, V1VolumeMount
from kubespawner import KubeSpawner
from kubespawner.utils import get_k8s_model

from .mixin import NPUHubSpawnError, NPUSpawnerMixin
from .pod_spec import POD_TRAITS, grant_env, lab_claim, lab_volumes, pod_settings, with_volumes
from .pod_watch import PodNews, duration_text, failure_of_api_error, pod_news, stage_text
from ..dask.runners.kube_objects import LABEL_USER, label_value
from ..i18n import message
from ..lab_language import pod_parts

__all__ = ["KubeNPUSpawner", "WatchedKubeSpawner"]

#: the progress bar's position for each stage of a pod's start (the queue takes 10-40)
_STAGE_PROGRESS = {"created": 50, "scheduled": 60, "pulling": 70, "starting": 85, "running": 90}


class WatchedKubeSpawner(KubeSpawner):
    """KubeSpawner whose start is followed stage by stage, and ended with one sentence when it cannot succeed."""

    pod_start_timeout = Float(
        600,
        config=True,
        help="""The longest a server's pod may take from its creation to running (seconds).

        Counted after the grant (the time in the queue is the mixin's
        ``queue_timeout``); a first download of a large accelerator image can
        take minutes. Over it, the pod is deleted, the slice released and the
        student told the last stage reached.
        """,
    )
    unschedulable_grace = Float(
        30,
        config=True,
        help="""How long the scheduler may say it cannot place a pod before the start is given up (seconds).

        npuhub admits a slice only where the pool has room, so a pod that
        stays unplaceable means a taint, a cordon, a node selector that no
        node matches, or a pool larger than the cluster: the student is told
        which, in one sentence, and the slice is released.
        """,
    )
    watch_interval = Float(
        0.5,
        config=True,
        help="How often a starting pod's cached state (KubeSpawner's watch) is read for news (seconds).",
    )

    async def start(self):
        """Create the pod (KubeSpawner) and follow it until it runs; raise NPUHubSpawnError when it cannot."""
        outer_timeout = self.start_timeout
        # KubeSpawner waits for the pod with start_timeout; the hub has already read its own (queue included)
        self.start_timeout = int(self.pod_start_timeout + 60)
        try:
            started = KubeSpawner.start(self)
            watching = asyncio.ensure_future(self._follow_pod(started))
            try:
                await asyncio.wait({started, watching}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:  # cancelled (the hub's own start timeout): no pod may outlive its slice
                started.cancel()
                watching.cancel()
                await asyncio.shield(self._delete_pod())
                raise
            if started.done():
                watching.cancel()
                try:
                    return started.result()
                except ApiException as e:
                    news = failure_of_api_error(e.status, str(e.body or e.reason or ""))
                    await self._give_up(news, f"the API refused the pod: {e.status} {e.reason}")
                except Exception:
                    await self._delete_pod()
                    raise
            news = watching.result()
            started.cancel()
            await self._give_up(news, news.reason)
        finally:
            self.start_timeout = outer_timeout

    async def _follow_pod(self, started: asyncio.Future) -> PodNews:
        """Report each new stage until the pod fails or the time is up; return the failure's news."""
        ref_key = f"{self.namespace}/{self.pod_name}"
        began = time.monotonic()
        unplaceable_since: float | None = None
        last = PodNews("created", message("pod_created"))
        placed = False  # the student was told the node
        while not started.done():
            reflector = self.pod_reflector
            pod = reflector.pods.get(ref_key) if reflector is not None else None
            now = time.monotonic()
            news = pod_news(pod, self.events, image=self.image, unschedulable_grace=self.unschedulable_grace,
                            unschedulable_for=0 if unplaceable_since is None else now - unplaceable_since)
            if pod is not None and _unplaceable(pod):
                unplaceable_since = unplaceable_since or now
            else:
                unplaceable_since = None
            if news.failed:
                return news
            node = ((pod or {}).get("spec") or {}).get("nodeName")
            if node and not placed and news.stage != "scheduled":
                # the pod went past "placed" between two looks: still say where it runs, once
                self.npuhub_progress(message("pod_scheduled", node=node), _STAGE_PROGRESS["scheduled"],
                                     {"stage": "scheduled"})
            placed = placed or bool(node)
            if news.stage != "created" or pod is not None:
                last = news
                self.npuhub_progress(news.text, _STAGE_PROGRESS[news.stage], {"stage": news.stage})
            if now - began > self.pod_start_timeout:
                stage = stage_text(last, self.image)
                return PodNews("failed", message("pod_timeout", duration=duration_text(self.pod_start_timeout),
                                                 stage=stage), "pod_timeout")
            await asyncio.sleep(self.watch_interval)
        await asyncio.Future()  # the start finished: nothing to report (cancelled by start())
        raise AssertionError("unreachable")  # pragma: no cover

    async def _give_up(self, news: PodNews, why: str) -> None:
        """Delete the pod that cannot start, then fail the start with the student's sentence."""
        self.log.info("%s's pod %s cannot start (%s): deleting it", self.user.name, self.pod_name, why)
        await self._delete_pod()
        raise NPUHubSpawnError.of(news.reason or "pod_failed", news.text)

    async def _delete_pod(self) -> None:
        """Delete this server's pod and wait until it is gone (before the mixin releases the slice)."""
        try:
            await KubeSpawner.stop(self, now=True)
        except Exception:  # the hub's own stop after the failed start tries again
            self.log.warning("Could not delete the pod %s of %s", self.pod_name, self.user.name, exc_info=True)

    async def load_user_options(self):
        # The flavor is npuhub's (the service's menu), not KubeSpawner's profile_list.
        return None


def _mounts(value) -> list[dict]:
    return [m for m in (value.values() if isinstance(value, dict) else value or []) if isinstance(m, dict)]


def _unplaceable(pod: dict) -> bool:
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable"
               for c in (pod.get("status") or {}).get("conditions") or [])


class KubeNPUSpawner(NPUSpawnerMixin, WatchedKubeSpawner):
    """Starts ``jupyterhub-singleuser`` in a pod holding the accelerator slice the npuhub service granted.

    Everything the grant does not decide is KubeSpawner's configuration
    (``c.KubeSpawner.*`` or ``c.KubeNPUSpawner.*``); the grant's resources,
    placement and image are laid over it at each start (``pod_spec.POD_TRAITS``).
    """

    lab_storage_class = Unicode(
        "",
        config=True,
        help="""The storage class of the labs' shared folders: one PersistentVolumeClaim per lab group
        (ReadWriteMany: every member's pod mounts it, on whichever node), mounted in its members' pods only.
        Empty: no lab folders. The site file's ``spawner.kubernetes.lab_storage_class`` sets it.
        """,
    )
    lab_storage_capacity = Unicode(
        "10Gi",
        config=True,
        help="The size each lab's claim asks for (``spawner.kubernetes.lab_storage_capacity``).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # the site's values, before any grant is laid over them
        self._configured = {name: copy.deepcopy(getattr(self, name)) for name in POD_TRAITS}

    async def start(self):
        # before the queue: a lab's claim that cannot be made must not cost a slice
        await self._ensure_lab_claims()
        return await super().start()

    def labs(self) -> list[str]:
        """The person's labs whose folders her pods mount (none without ``lab_storage_class``)."""
        if not self.lab_storage_class:
            return []
        from ..labs import lab_groups

        return lab_groups([g.name for g in self.user.groups], self.group_mapping)

    def labs_mount_dir(self) -> str:
        """``<home mount>/labs``: where each lab's folder appears."""
        home = next((m.get("mountPath") for m in _mounts(self._configured["volume_mounts"])
                     if m.get("name") == "home"), "/home/jovyan")
        return f"{home.rstrip('/')}/labs"

    async def _ensure_lab_claims(self) -> None:
        for lab in self.labs():
            body = lab_claim(lab, self.lab_storage_class, self.lab_storage_capacity)
            try:
                await self.api.create_namespaced_persistent_volume_claim(self.namespace, body)
                self.log.info("Made the claim %s of the lab %s", body["metadata"]["name"], lab)
            except ApiException as e:
                if e.status == 409:  # it exists: the lab's folder, made at a member's first start
                    continue
                self.log.error("Cannot make the claim of the lab %s: %s %s", lab, e.status, e.reason)
                raise NPUHubSpawnError.of("lab_volume_failed", message("lab_volume_failed", lab=lab),
                                          status=500) from None

    def apply_launch(self, launch: dict) -> None:
        """Set the pod's traits from the grant: the site's configuration with the grant laid over it, her labs' folders."""
        for name, value in pod_settings(self._configured, launch).items():
            setattr(self, name, value)
        # whose server this is, as the Dask clusters' network policies name their owner (kube_objects)
        self.extra_labels = {**self.extra_labels, LABEL_USER: label_value(self.user.name)}
        volumes, mounts = lab_volumes(self.labs(), self.labs_mount_dir())
        if volumes:
            self.volumes = with_volumes(self.volumes, volumes)
            self.volume_mounts = with_volumes(self.volume_mounts, mounts)

    def npuhub_env(self) -> dict[str, str]:
        env = super().npuhub_env()
        env.update(grant_env(self.launch or {}))
        return env

    # -- JupyterLab's language: settings written by an init container of the server's image --------
    def lab_settings_arg(self) -> str | None:
        return pod_parts(self.lab_language, self.image)["arg"]

    async def get_pod_manifest(self):
        pod = await super().get_pod_manifest()
        if self.lab_language:
            parts = pod_parts(self.lab_language, self.image)
            pod.spec.volumes = [*(pod.spec.volumes or []), get_k8s_model(V1Volume, parts["volume"])]
            server = pod.spec.containers[0]
            init = get_k8s_model(V1Container, parts["init_container"])
            init.security_context = server.security_context  # as the server runs (a restricted namespace admits both)
            pod.spec.init_containers = [*(pod.spec.init_containers or []), init]
            server.volume_mounts = [*(server.volume_mounts or []), get_k8s_model(V1VolumeMount, parts["mount"])]
        return pod

    # -- defaults that fit npuhub's servers -----------------------------------
    @default("cmd")
    def _default_cmd(self):
        return ["jupyterhub-singleuser"]

    @default("default_url")
    def _default_default_url(self):
        return "/lab"

    @default("image")
    def _default_image(self):
        return "quay.io/jupyter/base-notebook:latest"

    @default("pvc_name_template")
    def _default_pvc_name_template(self):
        # one home per person, whichever of her servers runs (named servers share it)
        return "claim-{username}"

    @default("storage_pvc_ensure")
    def _default_storage_pvc_ensure(self):
        return True

    @default("storage_capacity")
    def _default_storage_capacity(self):
        return "10Gi"

    @default("volumes")
    def _default_volumes(self):
        return [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]

    @default("volume_mounts")
    def _default_volume_mounts(self):
        return [{"name": "home", "mountPath": "/home/jovyan"}]
