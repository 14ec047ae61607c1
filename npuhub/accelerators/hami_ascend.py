"""HAMi on Ascend: per-model resources (``huawei.com/Ascend910B3`` + ``-memory``), cut by the chip's templates.

Follows HAMi's Ascend guide and its built-in device configuration
(https://github.com/Project-HAMi/ascend-device-plugin/blob/main/docs/hami.md,
"Introduction to huawei.com/Ascend910A, Ascend910B Series, and Ascend310P Support"):

- a card of model ``<word>`` is ``huawei.com/<word>`` with its memory in MiB
  as ``huawei.com/<word>-memory``; HAMi rounds the memory up to the
  smallest template that holds it and gives the template's AI cores with it;
- templates per model (``aiCore`` of the chip's): 910A 2, 4, 8, 16 of 30
  cores; 910B2 3, 6, 12 of 24 (⅛, ¼, ½); 910B3 and 910B4 5 and 10 of 20
  (only ¼ and ½); 310P 1, 2, 4 of 8 (⅛, ¼, ½);
- ``-memory`` only counts when one card is asked for: a request of more than
  one card is whole cards, never shared;
- ``hami.io/use-<word>-uuid`` / ``hami.io/no-use-<word>-uuid`` pick or
  exclude cards, ``hami.io/node-scheduler-policy`` and
  ``hami.io/gpu-scheduler-policy`` (``binpack``/``spread``) choose how HAMi
  packs them.

A share is given as a template's memory, and only a share that *is* a template
(its AI cores over the card's) is accepted: rounding ⅛ of a 910B3 up to ¼ would
let the pool promise eight slices of a card that holds four, and the last four
pods would wait for ever. npuhub pins the node and asks HAMi to pack cards
(``binpack``), the rule npuhub's own pool places by; the pod goes to
``hami-scheduler`` explicitly, since HAMi's webhook that would set it fails
open.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .base import Backend, BackendConfigError, Expression, HostPath, Options
from .ascend_device_plugin import ascend_host_paths
from ..shares import format_share

__all__ = ["HAMiAscend", "CHIPS"]


@dataclass(frozen=True)
class Chip:
    """One model in HAMi's device configuration: card memory (MiB), AI cores, templates (memory, cores).

    ``allocatable``: the memory HAMi may hand out (``memoryAllocatable``), when
    less than the card's; a whole card asks for exactly that.
    """

    memory: int
    ai_cores: int
    templates: tuple[tuple[int, int], ...]
    allocatable: int | None = None

    @property
    def whole(self) -> int:
        return self.allocatable or self.memory


#: HAMi's built-in vNPU configuration (device-config.yaml), by the model's common word
CHIPS: dict[str, Chip] = {
    "Ascend910A": Chip(32768, 30, ((2184, 2), (4369, 4), (8738, 8), (17476, 16))),
    "Ascend910B2": Chip(65536, 24, ((8192, 3), (16384, 6), (32768, 12))),
    "Ascend910B3": Chip(65536, 20, ((16384, 5), (32768, 10))),
    "Ascend910B4": Chip(32768, 20, ((8192, 5), (16384, 10))),
    "Ascend310P": Chip(24576, 8, ((3072, 1), (6144, 2), (12288, 4)), allocatable=21527),
}


class HAMiAscend(Backend):
    """``huawei.com/<word>: 1`` + ``huawei.com/<word>-memory`` for a template; ``huawei.com/<word>: n`` for n cards."""

    kind = "hami-ascend"
    vendor = "ascend"
    documentation = "https://github.com/Project-HAMi/ascend-device-plugin/blob/main/docs/hami.md"

    def configure(self, options: Options) -> None:
        self.word = options.string("chip")
        if self.word is None:
            raise BackendConfigError("chip", f"is required: HAMi's name of the {self.model} card, one of "
                                             f"{', '.join(CHIPS)} (or give memory_mib, ai_cores and templates)")
        known = CHIPS.get(self.word)
        memory = options.integer("memory_mib", known.memory if known else None)
        cores = options.integer("ai_cores", known.ai_cores if known else None)
        raw = options.raw("templates")
        templates = known.templates if raw is None and known is not None else self._templates(raw) if raw else ()
        if memory is None or cores is None or not templates:
            raise BackendConfigError("chip", f"{self.word!r} is not in HAMi's built-in list ({', '.join(CHIPS)}); "
                                             "give memory_mib, ai_cores and templates as in HAMi's device-config.yaml")
        allocatable = options.integer("memory_allocatable_mib",
                                      known.allocatable if known is not None and raw is None else None)
        self.chip = Chip(memory, cores, templates, allocatable)
        self.policy = options.choice("policy", ("binpack", "spread"), "binpack")
        self.paths: list[HostPath] = ascend_host_paths(options)

    @staticmethod
    def _templates(raw) -> tuple[tuple[int, int], ...]:
        if not isinstance(raw, list) or not raw:
            raise BackendConfigError("templates", "must be a list of {memory, aiCore} as in HAMi's device-config.yaml")
        out = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict) or not all(isinstance(item.get(k), int) and item[k] > 0
                                                     for k in ("memory", "aiCore")):
                raise BackendConfigError(f"templates[{i}]", "needs memory (MiB) and aiCore, whole numbers above zero")
            out.append((item["memory"], item["aiCore"]))
        return tuple(sorted(out))

    def host_paths(self) -> list[HostPath]:
        return self.paths

    def describe(self) -> str:
        return f"{self.kind} (huawei.com/{self.word} + huawei.com/{self.word}-memory)"

    def express(self, share: Fraction) -> Expression:
        resource = f"huawei.com/{self.word}"
        annotations = {"hami.io/node-scheduler-policy": self.policy, "hami.io/gpu-scheduler-policy": self.policy}
        if share >= 1:
            limits = {resource: str(int(share))}
            if share == 1:
                # the whole card's memory: with no -memory HAMi would give one card a default slice
                limits[f"{resource}-memory"] = str(self.chip.whole)
            return Expression(limits=limits, annotations=annotations, scheduler_name="hami-scheduler")
        fits = [(m, c) for m, c in self.chip.templates if Fraction(c, self.chip.ai_cores) >= share]
        exact = [(m, c) for m, c in fits if Fraction(c, self.chip.ai_cores) == share]
        choices = ", ".join(format_share(Fraction(c, self.chip.ai_cores)) for _, c in self.chip.templates)
        if not exact:
            if fits:
                bigger = format_share(Fraction(fits[0][1], self.chip.ai_cores))
                raise self.refuse(
                    f"HAMi 按模板切分 {{model}}（{self.word}），只能提供 {choices} 卡；{{share}} 卡会被向上取整为 "
                    f"{bigger} 卡，资源池会因此多承诺卡上并不存在的份额。请把规格的份额改为 {bigger}。",
                    f"HAMi cuts {{model}} ({self.word}) by templates into {choices} of a card only; {{share}} would "
                    f"be rounded up to {bigger}, so the pool would promise slices the card does not have. "
                    f"Make the flavor's share {bigger}.", share)
            raise self.refuse(
                f"HAMi 按模板切分 {{model}}（{self.word}），只能提供 {choices} 卡或整卡；{{share}} 卡无法表示。",
                f"HAMi cuts {{model}} ({self.word}) by templates into {choices} of a card, or whole cards; "
                "{share} of a card cannot be given.", share)
        memory, _ = exact[0]
        return Expression(limits={resource: "1", f"{resource}-memory": str(memory)}, annotations=annotations,
                          scheduler_name="hami-scheduler")
