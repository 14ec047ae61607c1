"""NVIDIA's device plugin: whole GPUs, MIG instances, and time-sliced replicas (three backends).

- ``nvidia-device-plugin``: whole GPUs as ``nvidia.com/gpu``
  (https://github.com/NVIDIA/k8s-device-plugin, README "Running GPU Jobs").
- ``nvidia-mig``: one MIG instance as ``nvidia.com/mig-<g>g.<mem>gb`` under
  the *mixed* strategy (NVIDIA GPU Operator "GPU Operator with MIG",
  https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html;
  the profiles per GPU from the MIG User Guide, "Supported MIG Profiles",
  https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html).
  A share is the fraction of the GPU's compute slices: sevenths on A100 and
  H100, quarters on A30. Only one MIG type per container.
- ``nvidia-time-slicing``: one replica of a time-sliced GPU, as
  ``nvidia.com/gpu.shared`` when the plugin renames shared GPUs
  (``renameByDefault: true``; NVIDIA GPU Operator "Time-Slicing GPUs in
  Kubernetes", https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html).
  Only ``1/replicas`` is a share: asking for two replicas may give two
  replicas of one GPU, not twice the time.

``product`` selects nodes by the GPU Feature Discovery label
``nvidia.com/gpu.product``.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .base import Backend, BackendConfigError, Expression, Options, check_resource_name, share_key
from ..shares import format_share

__all__ = ["NvidiaDevicePlugin", "NvidiaMIG", "NvidiaTimeSlicing", "MIG_PROFILES"]

#: MIG profiles by GPU: compute slices per GPU, and the profile of each slice count
MIG_PROFILES: dict[str, tuple[int, dict[int, str]]] = {
    "A30-24GB": (4, {1: "1g.6gb", 2: "2g.12gb", 4: "4g.24gb"}),
    "A100-40GB": (7, {1: "1g.5gb", 2: "2g.10gb", 3: "3g.20gb", 4: "4g.20gb", 7: "7g.40gb"}),
    "A100-80GB": (7, {1: "1g.10gb", 2: "2g.20gb", 3: "3g.40gb", 4: "4g.40gb", 7: "7g.80gb"}),
    "H100-80GB": (7, {1: "1g.10gb", 2: "2g.20gb", 3: "3g.40gb", 4: "4g.40gb", 7: "7g.80gb"}),
}
_PROFILE_RE = re.compile(r"^[1-9][0-9]?g\.[1-9][0-9]*gb$")
_LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


class _NvidiaBase(Backend):
    vendor = "nvidia"

    def _product(self, options: Options) -> dict[str, str]:
        product = options.string("product", pattern=_LABEL_VALUE_RE, hint="a node label value like NVIDIA-A100-SXM4-80GB")
        return {"nvidia.com/gpu.product": product} if product else {}


class NvidiaDevicePlugin(_NvidiaBase):
    """``nvidia.com/gpu: n`` for n whole GPUs; no fraction."""

    kind = "nvidia-device-plugin"
    documentation = "https://github.com/NVIDIA/k8s-device-plugin"

    def configure(self, options: Options) -> None:
        self.resource = check_resource_name("resource", options.string("resource", "nvidia.com/gpu"))
        self.selector = self._product(options)

    def describe(self) -> str:
        return f"{self.kind} ({self.resource})"

    def device_resource(self) -> str | None:
        return self.resource

    def express(self, share: Fraction) -> Expression:
        if share < 1:
            raise self.refuse(
                "NVIDIA 设备插件只能整卡分配 {model}；{share} 卡需要 nvidia-mig、nvidia-time-slicing 或 hami-nvidia 后端。",
                "NVIDIA's device plugin gives {model} as whole GPUs only; {share} of one needs the nvidia-mig, "
                "nvidia-time-slicing or hami-nvidia backend.", share)
        return Expression(limits={self.resource: str(int(share))}, node_selector=dict(self.selector))


class NvidiaMIG(_NvidiaBase):
    """``nvidia.com/mig-<profile>: 1`` for a share that is a MIG profile; the full profile × n for n GPUs."""

    kind = "nvidia-mig"
    documentation = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html"

    def configure(self, options: Options) -> None:
        gpu = options.choice("gpu", (None, *MIG_PROFILES), None)
        raw = options.raw("profiles")
        if raw is None:
            if gpu is None:
                raise BackendConfigError("gpu", f"is required (one of {', '.join(MIG_PROFILES)}), "
                                                "or list the profiles as {share: profile}")
            slices, by_slices = MIG_PROFILES[gpu]
            self.profiles = {Fraction(g, slices): p for g, p in by_slices.items()}
        else:
            if gpu is not None:
                raise BackendConfigError("profiles", "give gpu or profiles, not both")
            if not isinstance(raw, dict) or not raw:
                raise BackendConfigError("profiles", "must map shares to MIG profiles, like {1/7: 1g.10gb, 1: 7g.80gb}")
            self.profiles = {}
            for share_text, profile in raw.items():
                share = share_key(f"profiles.{share_text}", share_text)
                if share > 1:
                    raise BackendConfigError(f"profiles.{share_text}", "must be a share of one GPU (at most 1)")
                if not isinstance(profile, str) or not _PROFILE_RE.match(profile):
                    raise BackendConfigError(f"profiles.{share_text}", f"{profile!r} is not a MIG profile like 1g.10gb")
                self.profiles[share] = profile
            if 1 not in self.profiles:
                raise BackendConfigError("profiles", "must name the whole-GPU profile (share 1), like 7g.80gb")
        self.selector = self._product(options)

    def describe(self) -> str:
        return f"{self.kind} (nvidia.com/mig-{self.profiles[Fraction(1)]} and smaller profiles)"

    def express(self, share: Fraction) -> Expression:
        if share >= 1:  # several instances of one type are allowed; of two types, never
            return Expression(limits={f"nvidia.com/mig-{self.profiles[Fraction(1)]}": str(int(share))},
                              node_selector=dict(self.selector))
        if share not in self.profiles:
            choices = ", ".join(f"{format_share(s)} ({p})" for s, p in sorted(self.profiles.items()))
            raise self.refuse(
                f"MIG 只能把一张 {{model}} 切成这些实例：{choices}；{{share}} 卡不是其中之一。",
                f"MIG cuts each {{model}} into these instances only: {choices}; {{share}} of a GPU is not one of "
                "them.", share)
        return Expression(limits={f"nvidia.com/mig-{self.profiles[share]}": "1"}, node_selector=dict(self.selector))


class NvidiaTimeSlicing(_NvidiaBase):
    """``nvidia.com/gpu.shared: 1`` for ``1/replicas`` of a GPU; nothing else."""

    kind = "nvidia-time-slicing"
    documentation = "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html"
    replicas: int

    def configure(self, options: Options) -> None:
        replicas = options.integer("replicas", minimum=2)
        if replicas is None:
            raise BackendConfigError("replicas", "is required: the replicas of each GPU in the time-slicing "
                                                 "config of the device plugin")
        self.replicas = replicas
        self.resource = check_resource_name("resource", options.string("resource", "nvidia.com/gpu.shared"))
        self.selector = self._product(options)

    def describe(self) -> str:
        return f"{self.kind} ({self.resource}, {self.replicas} replicas per GPU)"

    def express(self, share: Fraction) -> Expression:
        if share != Fraction(1, self.replicas):
            raise self.refuse(
                f"分时共享把每张 {{model}} 分成 {self.replicas} 份，只能提供 1/{self.replicas} 卡；"
                "{share} 卡无法表示（申请多份可能落在同一张卡上，并不会多得算力）。",
                f"Time-slicing shares each {{model}} between {self.replicas} replicas, so it gives 1/{self.replicas} "
                "of a GPU only; {share} cannot be given (several replicas may land on one GPU and add no time).",
                share)
        return Expression(limits={self.resource: "1"}, node_selector=dict(self.selector))
