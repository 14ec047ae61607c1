"""Accelerator shares as exact fractions of a device: parsing, checking, printing."""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["ShareError", "parse_share", "format_share", "share_label"]

_SHARE_RE = re.compile(r"^\s*(?P<num>[0-9]+)\s*(?:/\s*(?P<den>[0-9]+)\s*)?$")

_GLYPHS = {
    Fraction(1, 2): "½",
    Fraction(1, 4): "¼",
    Fraction(3, 4): "¾",
    Fraction(1, 8): "⅛",
    Fraction(3, 8): "⅜",
    Fraction(5, 8): "⅝",
    Fraction(7, 8): "⅞",
}


class ShareError(ValueError):
    """A share that is not a positive exact fraction of a device."""


def parse_share(value: object) -> Fraction:
    """Parse a share of a device: ``"1/4"``, ``"1"``, ``2`` or a Fraction.

    A share is either a fraction of one device (0 < share < 1) or a whole
    number of devices. Floats are refused on purpose: ``0.1`` is not exactly
    a tenth, and shares are summed for every placement.
    """
    if isinstance(value, bool):
        raise ShareError(f"{value!r} is not a share; write it like 1/4, 1 or 2")
    if isinstance(value, Fraction):
        share = value
    elif isinstance(value, int):
        share = Fraction(value)
    elif isinstance(value, float):
        raise ShareError(
            f"{value!r} is a decimal number; write shares as exact fractions like 1/4"
        )
    elif isinstance(value, str):
        match = _SHARE_RE.match(value)
        if not match:
            raise ShareError(f"{value!r} is not a share; write it like 1/4, 1 or 2")
        num = int(match["num"])
        den = int(match["den"]) if match["den"] is not None else 1
        if den == 0:
            raise ShareError(f"{value!r} divides by zero")
        share = Fraction(num, den)
    else:
        raise ShareError(f"{value!r} is not a share; write it like 1/4, 1 or 2")
    if share < 0:
        raise ShareError(f"{value!r} is negative; a share must be more than zero")
    if share == 0:
        raise ShareError(f"{value!r} is zero; leave the accelerator out for CPU-only")
    if share > 1 and share.denominator != 1:
        raise ShareError(
            f"{value!r} is more than one device but not a whole number of devices"
        )
    return share


def format_share(share: Fraction) -> str:
    """The canonical text of a share: ``"1/4"``, ``"1"``, ``"2"``."""
    if share.denominator == 1:
        return str(share.numerator)
    return f"{share.numerator}/{share.denominator}"


def share_label(share: Fraction) -> str:
    """A short label for people: ``"¼"``, ``"1"``, ``"2 ×"`` style glyphs where they exist."""
    return _GLYPHS.get(share, format_share(share))
