"""How far a starting pod has got, told as a student understands it, and why it cannot start, in ONE sentence.

Pure: it reads the pod (as the API returns it, camelCase) and its events,
and never shows either raw. ``pod_news`` gives the stage the spawn page
shows (a place found, the image downloading, the container starting), or a
failure: the pod cannot be placed (a taint, no room, no matching node), its
image cannot be pulled, its container exits, or its container configuration
is refused. The Kubernetes spawner (``kube.py``) stops the pod and releases
the slice on a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..i18n import Text, message

__all__ = ["PodNews", "pod_news", "stage_text", "failure_of_api_error", "duration_text"]

IMAGE_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                  "RegistryUnavailable", "SignatureValidationFailed"}
CONFIG_FAILURES = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
#: the container of the server (KubeSpawner's name for it)
CONTAINER = "notebook"


@dataclass(frozen=True)
class PodNews:
    """One moment of a pod's start: ``stage`` (created, scheduled, pulling, starting, running, failed).

    ``text`` is the sentence to show; for ``failed``, ``reason`` is the
    machine reason (``pod_image_failed``, ``pod_unschedulable_taint``, ...).
    """

    stage: str
    text: Text
    reason: str | None = None

    @property
    def failed(self) -> bool:
        return self.stage == "failed"


def _container(pod: dict) -> dict | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") == CONTAINER:
            return status
    return statuses[0] if statuses else None


def _unschedulable(pod: dict) -> str | None:
    """The scheduler's message when it says the pod cannot be placed, else None."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False" \
                and condition.get("reason") == "Unschedulable":
            return str(condition.get("message") or "")
    return None


_INSUFFICIENT = re.compile(r"Insufficient ([A-Za-z0-9./_-]*[A-Za-z0-9])")
_RESOURCE_WORDS = {"cpu": Text("CPU", "CPU"), "memory": Text("内存", "memory"),
                   "ephemeral-storage": Text("临时存储", "local storage"), "pods": Text("Pod 数量", "pod slots")}


def _placement_failure(scheduler_message: str) -> PodNews:
    """One sentence for why the scheduler cannot place the pod (its message is never shown)."""
    lowered = scheduler_message.lower()
    wanting = sorted(set(_INSUFFICIENT.findall(scheduler_message)))
    if wanting:
        words = [_RESOURCE_WORDS.get(name, Text(name, name)) for name in wanting]
        resources = Text("、".join(w.zh for w in words), ", ".join(w.en for w in words))
        return PodNews("failed", message("pod_unschedulable_room", resources=resources), "pod_unschedulable_room")
    if "taint" in lowered:
        return PodNews("failed", message("pod_unschedulable_taint"), "pod_unschedulable_taint")
    if "affinity" in lowered or "selector" in lowered or "didn't match" in lowered:
        return PodNews("failed", message("pod_unschedulable_match"), "pod_unschedulable_match")
    return PodNews("failed", message("pod_unschedulable"), "pod_unschedulable")


def _exit_failure(terminated: dict) -> PodNews:
    if terminated.get("reason") == "OOMKilled":
        return PodNews("failed", message("pod_out_of_memory"), "pod_out_of_memory")
    code = terminated.get("exitCode")
    return PodNews("failed", message("pod_exited", code="?" if code is None else code), "pod_exited")


def pod_news(pod: dict | None, events: list[dict], *, image: str, unschedulable_for: float = 0.0,
             unschedulable_grace: float = 30.0) -> PodNews:
    """Where the pod's start stands. ``unschedulable_for``: seconds the scheduler has said it cannot place it.

    A scheduler that cannot place a pod at once may still (a volume being
    bound, a node joining): only after ``unschedulable_grace`` seconds of
    that is it a failure.
    """
    if pod is None:
        return PodNews("created", message("pod_created"))
    status = pod.get("status") or {}
    container = _container(pod)
    if container is not None:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in IMAGE_FAILURES:
            return PodNews("failed", message("pod_image_failed", image=container.get("image") or image),
                           "pod_image_failed")
        if waiting.get("reason") in CONFIG_FAILURES:
            return PodNews("failed", message("pod_config_failed"), "pod_config_failed")
        if state.get("terminated"):
            return _exit_failure(state["terminated"])
        last = (container.get("lastState") or {}).get("terminated")
        if last or waiting.get("reason") == "CrashLoopBackOff":
            return _exit_failure(last or {})
    if status.get("phase") in ("Failed", "Succeeded"):
        return _exit_failure({"reason": status.get("reason")})
    if status.get("phase") == "Running" and container is not None and container.get("ready"):
        return PodNews("running", message("pod_starting"))
    scheduler_says = _unschedulable(pod)
    if scheduler_says is not None:
        if unschedulable_for >= unschedulable_grace:
            return _placement_failure(scheduler_says)
        return PodNews("created", message("pod_created"))
    reasons = {event.get("reason") for event in events}
    if reasons & {"Pulled", "Created", "Started"} or (container is not None and container.get("imageID")):
        return PodNews("starting", message("pod_starting"))
    if "Pulling" in reasons:
        return PodNews("pulling", message("pod_pulling", image=image))
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        return PodNews("scheduled", message("pod_scheduled", node=node))
    return PodNews("created", message("pod_created"))


def stage_text(news: PodNews, image: str) -> Text:
    """The last stage reached, for the start-timeout sentence."""
    if news.stage == "pulling":
        return message("stage_pulling", image=image)
    if news.stage in ("starting", "running"):
        return message("stage_starting")
    return message("stage_waiting")


def duration_text(seconds: float) -> Text:
    """A start timeout in words: seconds under two minutes, else minutes."""
    if seconds < 120:
        return Text(f"{seconds:g} 秒", f"{seconds:g} seconds")
    return Text(f"{seconds / 60:g} 分钟", f"{seconds / 60:g} minutes")


def failure_of_api_error(status: int | None, body: str) -> PodNews:
    """The API refused to create the pod: a namespace's ResourceQuota (403 "exceeded quota"), or else."""
    if status == 403 and "exceeded quota" in (body or ""):
        return PodNews("failed", message("pod_quota"), "pod_quota")
    return PodNews("failed", message("pod_api_failed"), "pod_api_failed")
