"""Huawei's Ascend Device Plugin (MindCluster): whole NPUs, and static vNPUs cut from fixed templates.

Follows MindCluster's "Static Virtualization" and "vNPU Usage Description" pages
(https://www.hiascend.com/document/detail/en/mindcluster/730/clustersched/schedulingug/cpaug_0019.html,
.../cpaug_0017.html):

- a whole device is ``huawei.com/<chip>`` (``huawei.com/Ascend910``,
  ``huawei.com/Ascend310P``, ``huawei.com/Ascend310``), any count;
- a static vNPU is ``huawei.com/<chip>-<template>``: on a training card of 30
  or 32 AI cores ``Ascend910-2c``, ``-4c``, ``-8c``, ``-16c``; on the 8-core
  inference card ``Ascend310P-1c``, ``-2c``, ``-4c`` and the variants that also
  fix AI CPUs and media units ``-2c.1cpu``, ``-4c.3cpu``, ``-4c.3cpu.ndvpp``,
  ``-4c.4cpu.dvpp``;
- one vNPU per container, never more, and never mixed with whole devices.

A share is the fraction of the card's AI cores: ¼ of a 32-core card is the
``8c`` template. A share that is not exactly a template is refused (a 30-core
card has no ¼). The device plugin picks the device and sets
``ASCEND_VISIBLE_DEVICES`` itself; npuhub only pins the node.

Without Ascend Docker Runtime the device plugin mounts only ``/dev``; the
driver directory and ``npu-smi`` come in as read-only host paths
(``host_paths``, MindCluster's "Preparation of Job YAML Files",
.../mxdlug_scheduling_063.html). Set ``host_paths: []`` on nodes that run
Ascend Docker Runtime, which mounts them itself.
"""

from __future__ import annotations

import re
from fractions import Fraction

from .base import Backend, BackendConfigError, Expression, HostPath, Options, share_key
from ..shares import format_share

__all__ = ["AscendDevicePlugin", "ascend_host_paths", "guess_chip"]

#: static vNPU templates (the resource suffix) per chip, with the AI cores each takes
TEMPLATES: dict[str, dict[str, int]] = {
    "Ascend910": {"2c": 2, "4c": 4, "8c": 8, "16c": 16},
    "Ascend310P": {"1c": 1, "2c": 2, "4c": 4, "2c.1cpu": 2, "4c.3cpu": 4, "4c.3cpu.ndvpp": 4, "4c.4cpu.dvpp": 4},
    "Ascend310": {},
}
#: AI cores per card for which the templates are documented
CORES: dict[str, tuple[int, ...]] = {"Ascend910": (30, 32), "Ascend310P": (8,), "Ascend310": ()}

DEFAULT_HOST_PATHS = (
    HostPath("ascend-driver", "/usr/local/Ascend/driver", "Directory"),
    HostPath("npu-smi", "/usr/local/bin/npu-smi", "File"),
)
_PATH_RE = re.compile(r"^/[^\0]*$")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def guess_chip(model: str | None) -> str | None:
    """The device plugin's chip name for a model people call "Ascend 910B" or "Atlas 300I Pro (310P)"."""
    text = (model or "").replace(" ", "").lower()
    for chip in ("310p", "310", "910"):
        if chip in text:
            return {"310p": "Ascend310P", "310": "Ascend310", "910": "Ascend910"}[chip]
    return None


def ascend_host_paths(options: Options) -> list[HostPath]:
    """The read-only host paths an Ascend pod mounts (``host_paths``; default: the driver and npu-smi)."""
    value = options.raw("host_paths")
    if value is None:
        return list(DEFAULT_HOST_PATHS)
    if not isinstance(value, list):
        raise BackendConfigError("host_paths", "must be a list of {name, path, type}")
    paths = []
    for i, item in enumerate(value):
        key = f"host_paths[{i}]"
        if not isinstance(item, dict) or set(item) - {"name", "path", "type"} or "path" not in item:
            raise BackendConfigError(key, "must be a mapping with path, and optionally name and type")
        path = item["path"]
        if not isinstance(path, str) or not _PATH_RE.match(path) or path == "/":
            raise BackendConfigError(f"{key}.path", f"{path!r} is not an absolute path below /")
        name = item.get("name") or re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:63].strip("-")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise BackendConfigError(f"{key}.name", f"{name!r} is not a volume name (lower-case letters, digits, '-')")
        kind = item.get("type", "")
        if kind not in ("", "Directory", "File"):
            raise BackendConfigError(f"{key}.type", "must be Directory or File (read-only paths are never created)")
        paths.append(HostPath(name, path, kind))
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise BackendConfigError("host_paths", "two paths have the same name")
    return paths


class AscendDevicePlugin(Backend):
    """``huawei.com/<chip>`` for whole devices, ``huawei.com/<chip>-<template>`` for one static vNPU."""

    kind = "ascend-device-plugin"
    vendor = "ascend"
    documentation = "https://www.hiascend.com/document/detail/en/mindcluster/730/clustersched/schedulingug/cpaug_0019.html"

    def configure(self, options: Options) -> None:
        guessed = guess_chip(self.model)
        self.chip = options.choice("chip", tuple(TEMPLATES), guessed or "Ascend910")
        if "chip" not in options and guessed is None:
            raise BackendConfigError("chip", f"cannot tell the chip of {self.model!r}; set chip to one of "
                                             f"{', '.join(TEMPLATES)}")
        default_cores = CORES[self.chip][0] if len(CORES[self.chip]) == 1 else None
        self.ai_cores = options.integer("ai_cores", default_cores)
        # share -> template, for the 310P variants that also fix AI CPUs and media units
        self.templates: dict[Fraction, str] = {}
        raw = options.raw("templates")
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise BackendConfigError("templates", "must be a mapping from a share to a template, like {1/4: 2c.1cpu}")
        for share_text, template in raw.items():
            share = share_key(f"templates.{share_text}", share_text)
            if template not in TEMPLATES[self.chip]:
                known = ", ".join(TEMPLATES[self.chip]) or "none (no vNPU)"
                raise BackendConfigError(f"templates.{share_text}",
                                         f"{template!r} is not a {self.chip} template (templates: {known})")
            self.templates[share] = template
        self.paths = ascend_host_paths(options)

    def host_paths(self) -> list[HostPath]:
        return self.paths

    def describe(self) -> str:
        return f"{self.kind} (huawei.com/{self.chip}, vNPU templates of {self.ai_cores or '?'} AI cores)"

    def device_resource(self) -> str | None:
        return f"huawei.com/{self.chip}"

    def express(self, share: Fraction) -> Expression:
        if share >= 1:
            return Expression(limits={f"huawei.com/{self.chip}": str(int(share))})
        if not TEMPLATES[self.chip]:
            raise self.refuse(
                "{model} 在 Ascend Device Plugin 下只能整卡使用，没有 {share} 卡的虚拟 NPU 模板。",
                "{model} has no vNPU templates in the Ascend Device Plugin: it is given as whole devices only, "
                "not {share} of one.", share)
        if self.ai_cores not in CORES[self.chip]:
            raise self.refuse(
                "静态虚拟 NPU 模板只适用于 " + "、".join(map(str, CORES[self.chip])) + " 个 AI Core 的 {model}"
                "（请在 backend 中设置 ai_cores）；{share} 卡无法表示。",
                "Static vNPU templates are documented for {model} cards of "
                + " or ".join(map(str, CORES[self.chip])) + " AI cores (set ai_cores in the backend); "
                "{share} of a card cannot be given.", share)
        if share in self.templates:
            template = self.templates[share]
            if Fraction(TEMPLATES[self.chip][template], self.ai_cores) != share:
                raise self.refuse(
                    f"模板 {template} 占 {self.ai_cores} 个 AI Core 中的 {TEMPLATES[self.chip][template]} 个，"
                    "不是 {share} 卡。",
                    f"Template {template} takes {TEMPLATES[self.chip][template]} of the card's {self.ai_cores} "
                    "AI cores, which is not {share} of it.", share)
        else:
            cores = share * self.ai_cores
            template = f"{cores.numerator}c" if cores.denominator == 1 else ""
            if template not in TEMPLATES[self.chip]:
                choices = ", ".join(format_share(Fraction(c, self.ai_cores))
                                    for t, c in TEMPLATES[self.chip].items() if t.endswith("c"))
                raise self.refuse(
                    f"{{model}} 的静态虚拟 NPU 模板按 {self.ai_cores} 个 AI Core 切分，只能提供 {choices} 卡；"
                    "{share} 卡无法表示。",
                    f"Static vNPU templates split the {self.ai_cores} AI cores of each {{model}} card into {choices} of "
                    "the card; {share} of a card is not one of them.", share)
        # one vNPU per container: the count is always 1
        return Expression(limits={f"huawei.com/{self.chip}-{template}": "1"})
