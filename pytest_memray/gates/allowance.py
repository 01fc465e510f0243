"""How much a test's peak may grow over its baseline: ``--memray-max-increase`` values.

An allowance is a percentage of the baseline peak, a fixed size, or the sum of both, written
``10%``, ``512 KB`` or ``10% + 64 KB`` (either order). A new peak passes when it is at most the
baseline peak plus the allowance; the arithmetic is exact (fractions, no floating point).

The default, ``10% + 1 MB``, is sized for the memray backend without
``--trace-python-allocators``: there the peak of a test that makes many small objects moves in
whole pymalloc arenas (1 MiB on Python 3.10 and later) depending on which arenas earlier tests
left free, so the same test can read exactly 1 MiB apart in two runs of the same code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from pytest_memray.gates import DEFAULT_MAX_INCREASE
from pytest_memray.sizes import format_size, parse_size

_PERCENT_PATTERN = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%$")
_FORMS = "a percentage such as '10%', a size such as '512 KB', or both as '10% + 64 KB'"


@dataclass(frozen=True)
class Allowance:
    """A permitted growth: ``percent`` of the old peak plus ``extra_bytes``."""

    percent: Fraction
    extra_bytes: int

    def ceiling(self, old: int) -> Fraction:
        """The largest new peak that passes against ``old``."""
        return old + old * self.percent / 100 + self.extra_bytes

    def permits(self, old: int, new: int) -> bool:
        """True when ``new`` is within the allowance over ``old``."""
        return new <= self.ceiling(old)

    def __str__(self) -> str:
        parts = []
        if self.percent or not self.extra_bytes:
            parts.append(f"{_format_percent(self.percent)}%")
        if self.extra_bytes:
            parts.append(format_size(self.extra_bytes))
        return " + ".join(parts)


def _format_percent(percent: Fraction) -> str:
    if percent.denominator == 1:
        return str(percent.numerator)
    return f"{float(percent):.6g}"


def parse_allowance(text: str) -> Allowance:
    """Read an allowance such as ``"10%"``, ``"512 KB"`` or ``"10% + 64 KB"``.

    Raises:
        ValueError: naming ``text`` when it is anything else (negative numbers, digits other
            than ASCII 0-9, two percentages, a bare number without a unit, ...).
    """
    if not isinstance(text, str):
        raise ValueError(
            f"invalid allowance {text!r}: expected a string, got {type(text).__name__}"
        )
    bad = ValueError(f"invalid allowance {text!r}: expected {_FORMS}")
    if not text.isascii():
        raise bad
    parts = [part.strip() for part in text.split("+")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise bad
    percent: Fraction | None = None
    extra: int | None = None
    for part in parts:
        match = _PERCENT_PATTERN.match(part)
        if match is not None:
            if percent is not None:
                raise bad
            percent = Fraction(Decimal(match.group("number")))
            continue
        if extra is not None:
            raise bad
        try:
            extra = parse_size(part)
        except ValueError:
            raise bad from None
    return Allowance(percent=percent or Fraction(0), extra_bytes=extra or 0)


DEFAULT_ALLOWANCE = parse_allowance(DEFAULT_MAX_INCREASE)
