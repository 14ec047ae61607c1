"""CPU only: a pod that asks for no accelerator, and that no GPU runtime hands one by accident.

CUDA base images set ``NVIDIA_VISIBLE_DEVICES=all``; on a node whose default
container runtime is NVIDIA's, a pod that asks for no GPU would then see all
of them. ``void`` makes the NVIDIA Container Toolkit behave like plain runc
(NVIDIA Container Toolkit, "Specialized Configurations with Docker",
https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/docker-specialized.html).
Ascend Docker Runtime mounts nothing without ``ASCEND_VISIBLE_DEVICES``, which
npuhub never sets for a CPU-only server.
"""

from __future__ import annotations

from fractions import Fraction

from .base import Backend, Expression

__all__ = ["CPUOnly"]


class CPUOnly(Backend):
    """No extended resource; the site's node selector and tolerations keep CPU pods where they belong."""

    kind = "cpu-only"
    vendor = None
    documentation = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/docker-specialized.html"
    pins_node_by_default = False  # nothing is placed by the pool

    def express(self, share: Fraction) -> Expression:
        if share > 0:
            raise self.refuse(
                "仅 CPU 的后端不能提供加速卡；{share} 张 {model} 需要一个加速卡后端。",
                "The CPU-only backend gives no accelerator; {share} of one {model} needs an accelerator backend.",
                share)
        return Expression(env={"NVIDIA_VISIBLE_DEVICES": "void"})
