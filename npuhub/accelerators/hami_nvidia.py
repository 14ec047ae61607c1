"""HAMi on NVIDIA: a virtual GPU with a memory limit (``nvidia.com/gpumem``) and a compute limit (``nvidia.com/gpucores``).

Follows HAMi's configuration reference (resources and pod annotations,
https://github.com/Project-HAMi/HAMi/blob/master/docs/config.md) and its user
guide pages "Allocate device memory" / "Allocate device memory by percentage"
(https://project-hami.io/docs/userguide/NVIDIA-device/):

- ``nvidia.com/gpu``: the number of virtual GPUs (each on its own card);
- ``nvidia.com/gpumem``: device memory per vGPU in MiB, or
  ``nvidia.com/gpumem-percentage``: per cent of the card's memory;
- ``nvidia.com/gpucores``: per cent of the card's compute (100 keeps the
  card to this pod alone);
- ``nvidia.com/use-gputype`` restricts the card type, and
  ``hami.io/node-scheduler-policy`` / ``hami.io/gpu-scheduler-policy``
  (``binpack``/``spread``) choose how HAMi packs pods;
- the pod is scheduled by ``hami-scheduler``.

A share below one card becomes one vGPU with ``share × memory_mib`` MiB (or
``share`` per cent of memory when the card's size is not given) and
``share`` per cent of compute, both rounded down to whole units so that the
slices of one card never add up to more than the card. Whole cards take
100 % of memory and compute.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from .base import Backend, Expression, Options

__all__ = ["HAMiNvidia"]

_TYPE_RE = re.compile(r"^[^\n]{1,200}$")


class HAMiNvidia(Backend):
    """``nvidia.com/gpu: 1`` + ``gpumem``/``gpumem-percentage`` + ``gpucores`` for a share; 100 % each for whole cards."""

    kind = "hami-nvidia"
    vendor = "nvidia"
    documentation = "https://github.com/Project-HAMi/HAMi/blob/master/docs/config.md"

    def configure(self, options: Options) -> None:
        self.memory_mib = options.integer("memory_mib")
        self.limit_cores = options.boolean("limit_cores", True)
        self.gpu_type = options.string("gpu_type", pattern=_TYPE_RE)
        self.policy = options.choice("policy", ("binpack", "spread"), "binpack")

    def describe(self) -> str:
        memory = "nvidia.com/gpumem" if self.memory_mib else "nvidia.com/gpumem-percentage"
        return f"{self.kind} (nvidia.com/gpu + {memory}{' + nvidia.com/gpucores' if self.limit_cores else ''})"

    def express(self, share: Fraction) -> Expression:
        annotations = {"hami.io/node-scheduler-policy": self.policy, "hami.io/gpu-scheduler-policy": self.policy}
        if self.gpu_type:
            annotations["nvidia.com/use-gputype"] = self.gpu_type
        if share >= 1:
            limits = {"nvidia.com/gpu": str(int(share)), "nvidia.com/gpumem-percentage": "100",
                      "nvidia.com/gpucores": "100"}
            return Expression(limits=limits, annotations=annotations, scheduler_name="hami-scheduler")
        percent = math.floor(share * 100)
        if percent < 1:
            raise self.refuse(
                "HAMi 以整数百分比限制算力和显存，{share} 张 {model} 不足 1%，无法表示。",
                "HAMi limits compute and memory in whole per cent; {share} of one {model} is less than 1 % and "
                "cannot be given.", share)
        limits = {"nvidia.com/gpu": "1"}
        if self.memory_mib:
            limits["nvidia.com/gpumem"] = str(math.floor(share * self.memory_mib))
        else:
            limits["nvidia.com/gpumem-percentage"] = str(percent)
        if self.limit_cores:
            limits["nvidia.com/gpucores"] = str(percent)
        return Expression(limits=limits, annotations=annotations, scheduler_name="hami-scheduler")
