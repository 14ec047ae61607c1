"""What a granted server is started with: its environment and resources, made from the grant and the flavor.

The service sends this with every granted request (``launch`` in the request
view), so a spawner needs nothing but the request: it never reads the site
file, the flavors or the vendors itself. The local spawner uses the
environment and the CPU and memory limits. In a cluster the model's
accelerator backend adds ``kubernetes``, the pod fragment the Kubernetes
spawner merges into the pod (its shape: ``npuhub.accelerators.base``).
"""

from __future__ import annotations

from .accelerators import Backend, pod_fragment
from .flavors import Flavor
from .pool import Grant
from .shares import format_share

__all__ = ["VISIBLE_DEVICES_ENV", "launch_view"]

#: The variable each vendor's runtime reads to pick its devices.
VISIBLE_DEVICES_ENV = {"ascend": "ASCEND_VISIBLE_DEVICES", "nvidia": "CUDA_VISIBLE_DEVICES"}


def launch_view(flavor: Flavor, grant: Grant | None, vendor: str | None, request_id: str,
                backend: Backend | None = None) -> dict:
    """``{"env": {...}, "cpu": 4.0, "memory": "16G"}`` for a server started on ``grant`` (None: CPU only).

    With a ``backend`` (a cluster), also ``"kubernetes"``: the pod fragment.
    The visible-devices variable is then left to the device plugin, which
    picks the device; npuhub's device index is only its own bookkeeping.
    ``image`` is added when the flavor names its own container image.
    """
    env = {
        "NPUHUB_FLAVOR": flavor.id,
        "NPUHUB_SHARE": format_share(flavor.share) if flavor.share else "0",
        "NPUHUB_REQUEST_ID": request_id,
    }
    if grant is not None:
        if backend is None:
            env[VISIBLE_DEVICES_ENV.get(vendor or "", "NPUHUB_VISIBLE_DEVICES")] = ",".join(map(str, grant.devices))
        env["NPUHUB_DEVICE_MODEL"] = grant.model
        env["NPUHUB_NODE"] = grant.node
        env["NPUHUB_GRANT_ID"] = request_id  # what the server's slice is known by at the service
        env["NPUHUB_SLICES"] = ",".join(f"{s.device}:{format_share(s.fraction)}" for s in grant.slices)
    view = {"env": env, "cpu": flavor.cpu, "memory": flavor.memory}
    if flavor.image:
        view["image"] = flavor.image
    if backend is not None:
        view["kubernetes"] = pod_fragment(backend, flavor, grant)
    return view
