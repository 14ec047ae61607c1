"""Volcano dynamic vNPU (MindCluster): ``huawei.com/npu-core`` AI cores, cut from the card when the pod starts.

Follows MindCluster's "Dynamic Virtualization" page and its job YAML
(https://www.hiascend.com/document/detail/en/mindcluster/730/clustersched/schedulingug/cpaug_0020.html,
and the pod labels of the "Pod Labels" table):

- only the Atlas inference card (310P, 8 AI cores), only with Volcano as the
  scheduler (``schedulerName: volcano``);
- a pod asks for AI cores as ``huawei.com/npu-core``: 1, 2 or 4 for a vNPU
  (⅛, ¼, ½), a multiple of 8 for whole cards; one vNPU per pod;
- the pod's labels ``ring-controller.atlas: ascend-310P``, ``vnpu-dvpp``
  (``yes``/``no``/``null``: whether the template includes the media units)
  and ``vnpu-level`` (``low``/``high``) choose the template;
- nodes are selected by ``host-arch`` (``huawei-arm``/``huawei-x86``) where
  the site gives it.

Where the site runs Volcano queues, ``volcano_queue`` (a common option) puts
the pod in one (``scheduling.volcano.sh/queue-name``).
"""

from __future__ import annotations

from fractions import Fraction

from .base import Backend, Expression, HostPath, Options
from .ascend_device_plugin import ascend_host_paths

__all__ = ["VolcanoVNPU"]

CORES_PER_CARD = 8
VNPU_CORES = (1, 2, 4)


class VolcanoVNPU(Backend):
    """``huawei.com/npu-core: 1|2|4`` for ⅛, ¼, ½ of a 310P; ``8 × n`` for n whole cards."""

    kind = "volcano-vnpu"
    vendor = "ascend"
    documentation = "https://www.hiascend.com/document/detail/en/mindcluster/730/clustersched/schedulingug/cpaug_0020.html"

    def configure(self, options: Options) -> None:
        self.dvpp = options.choice("dvpp", ("null", "yes", "no"), "null")
        self.level = options.choice("level", ("low", "high"), "low")
        self.host_arch = options.choice("host_arch", (None, "huawei-arm", "huawei-x86"), None)
        self.paths: list[HostPath] = ascend_host_paths(options)

    def host_paths(self) -> list[HostPath]:
        return self.paths

    def describe(self) -> str:
        return f"{self.kind} (huawei.com/npu-core, scheduler volcano)"

    def express(self, share: Fraction) -> Expression:
        cores = share * CORES_PER_CARD
        if share < 1 and (cores.denominator != 1 or cores not in VNPU_CORES):
            raise self.refuse(
                "Volcano 动态虚拟 NPU 只能从 8 个 AI Core 的 {model} 上切出 1、2 或 4 个 AI Core（1/8、1/4、1/2 卡）或整卡；"
                "{share} 卡无法表示。",
                "Volcano's dynamic vNPU cuts 1, 2 or 4 of an 8-core {model} card's AI cores (1/8, 1/4 or 1/2 of a "
                "card), or whole cards; {share} of a card cannot be given.", share)
        labels = {"ring-controller.atlas": "ascend-310P", "vnpu-dvpp": self.dvpp, "vnpu-level": self.level}
        selector = {"host-arch": self.host_arch} if self.host_arch else {}
        return Expression(limits={"huawei.com/npu-core": str(int(cores))}, labels=labels, node_selector=selector,
                          scheduler_name="volcano")
