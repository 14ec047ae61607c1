"""The spawn page's flavor choices, rendered from the catalogue (Chinese and English)."""

from __future__ import annotations

from html import escape
from typing import Iterable

from ..flavors import Flavor
from ..i18n import message
from ..shares import format_share


def _english(text) -> str:
    """The English name beside the Chinese one, unless they are the same words."""
    if text.en == text.zh:
        return ""
    return f' <span lang="en" style="color:#555">{escape(text.en)}</span>'


def _cost(flavor: Flavor) -> str:
    """What a session costs against the budget, before it starts."""
    if not flavor.has_accelerator:
        return ""
    text = message("cost_per_hour", hours=format_share(flavor.device_hours_per_hour))
    return (f'<br><small class="npuhub-cost" lang="zh">{escape(text.zh)}</small> · '
            f'<small class="npuhub-cost" lang="en">{escape(text.en)}</small>')


def render_flavor_form(flavors: Iterable[Flavor], selected: str | None) -> str:
    """HTML radio choices, one per flavor; the form posts ``profile=<flavor id>``."""
    flavors = list(flavors)
    if not flavors:
        return f'<p class="npuhub-no-flavors">{escape(str(message("no_flavors")))}</p>'
    rows = []
    for flavor in flavors:
        checked = " checked" if flavor.id == selected else ""
        share = format_share(flavor.share) if flavor.has_accelerator else "0"
        detail = flavor.description or flavor.resources
        rows.append(
            f"""
  <label class="npuhub-flavor" for="npuhub-flavor-{escape(flavor.id)}" style="display:block;padding:0.5em;border:1px solid #ddd;border-radius:4px;margin-bottom:0.4em;cursor:pointer">
    <input type="radio" name="profile" id="npuhub-flavor-{escape(flavor.id)}" value="{escape(flavor.id)}"
           data-share="{share}"{checked}>
    <strong lang="zh">{escape(flavor.name.zh)}</strong>{_english(flavor.name)}<br>
    <small lang="zh">{escape(detail.zh)}</small> · <small lang="en">{escape(detail.en)}</small>{_cost(flavor)}
  </label>"""
        )
    return (
        '<fieldset class="npuhub-flavors"><legend>选择规格 / Choose a flavor</legend>'
        + "".join(rows)
        + "\n</fieldset>"
    )
