"""The spawn page's flavor choices, rendered from the person's menu as the service gives it (Chinese and English)."""

from __future__ import annotations

from html import escape

from ..i18n import message

__all__ = ["render_flavor_form"]


def _english(names: dict) -> str:
    """The English name beside the Chinese one, unless they are the same words."""
    if names["en"] == names["zh"]:
        return ""
    return f' <span lang="en" style="color:#555">{escape(names["en"])}</span>'


def _cost(entry: dict) -> str:
    """What a session costs against the budget, before it starts."""
    price = (entry.get("price") or {}).get("exact", "0")
    if price == "0":
        return ""
    text = message("cost_per_hour", hours=price)
    return (f'<br><small class="npuhub-cost" lang="zh">{escape(text.zh)}</small> · '
            f'<small class="npuhub-cost" lang="en">{escape(text.en)}</small>')


def render_flavor_form(flavors: list[dict], selected: str | None) -> str:
    """HTML radio choices, one per menu entry (``models.flavor_view``); the form posts ``profile=<id>``."""
    if not flavors:
        return f'<p class="npuhub-no-flavors">{escape(str(message("no_flavors")))}</p>'
    rows = []
    for entry in flavors:
        checked = " checked" if entry["id"] == selected else ""
        names, detail = entry["names"], entry["description"]
        rows.append(
            f"""
  <label class="npuhub-flavor" for="npuhub-flavor-{escape(entry['id'])}" style="display:block;padding:0.5em;border:1px solid #ddd;border-radius:4px;margin-bottom:0.4em;cursor:pointer">
    <input type="radio" name="profile" id="npuhub-flavor-{escape(entry['id'])}" value="{escape(entry['id'])}"
           data-share="{escape(entry['share'])}"{checked}>
    <strong lang="zh">{escape(names['zh'])}</strong>{_english(names)}<br>
    <small lang="zh">{escape(detail['zh'])}</small> · <small lang="en">{escape(detail['en'])}</small>{_cost(entry)}
  </label>"""
        )
    return (
        '<fieldset class="npuhub-flavors"><legend>选择规格 / Choose a flavor</legend>'
        + "".join(rows)
        + "\n</fieldset>"
    )
