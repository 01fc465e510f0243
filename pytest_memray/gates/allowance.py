"""How much a test's peak may move: allowances (``--memray-max-increase``) and noise floors.

Both are written the same way: a percentage of the baseline peak, a fixed size, or the sum of
both, written ``10%``, ``512 KB`` or ``10% + 64 KB`` (either order; sizes take every unit the
plugin prints, ``64 KiB`` as well). The arithmetic is exact (fractions, no floating point).

* An **allowance** is how much a peak may *grow*: a new peak passes when it is at most the
  baseline peak plus the allowance.
* A **noise floor** is how much a peak may move either way and still count as unchanged in
  the tables: a change of at most the floor is noise, not a row.

The default allowance, ``10% + 1 MB``, is sized for the memray backend without
``--trace-python-allocators``: there the peak of a test that makes many small objects moves in
whole pymalloc arenas (1 MiB on Python 3.10 and later) depending on which arenas earlier tests
left free, so the same test can read exactly 1 MiB apart in two runs of the same code. The
default noise floor is explained in ``docs/gates.rst`` (measurements on real suites).

An empty value (an unset ini key, ``--max-increase ""``) means the default, in pytest and in
``python -m pytest_memray`` alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from pytest_memray.gates import DEFAULT_MAX_INCREASE, DEFAULT_NOISE_FLOOR
from pytest_memray.sizes import format_size, parse_size

_PERCENT_PATTERN = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%$")
_FORMS = "a percentage such as '10%', a size such as '512 KB', or both as '10% + 64 KB'"


@dataclass(frozen=True)
class Allowance:
    """A band over a peak: ``percent`` of the old peak plus ``extra_bytes``."""

    percent: Fraction
    extra_bytes: int

    def margin(self, old: int) -> Fraction:
        """How far from ``old`` the band reaches, in bytes."""
        return old * self.percent / 100 + self.extra_bytes

    def ceiling(self, old: int) -> Fraction:
        """The largest new peak that passes against ``old``."""
        return old + self.margin(old)

    def permits(self, old: int, new: int) -> bool:
        """True when ``new`` is within the allowance over ``old`` (any decrease is)."""
        return new <= self.ceiling(old)

    def covers(self, old: int, new: int) -> bool:
        """True when ``new`` is within the band on either side of ``old`` (noise)."""
        return abs(new - old) <= self.margin(old)

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


def parse_allowance(text: str, what: str = "allowance") -> Allowance:
    """Read an allowance such as ``"10%"``, ``"512 KB"`` or ``"10% + 64 KB"``.

    ``what`` names the kind of value in the error (``allowance`` or ``noise floor``).

    Raises:
        ValueError: naming ``text`` when it is anything else (negative numbers, digits other
            than ASCII 0-9, two percentages, a bare number without a unit, an empty string...).
    """
    if not isinstance(text, str):
        raise ValueError(f"invalid {what} {text!r}: expected a string, got {type(text).__name__}")
    bad = ValueError(f"invalid {what} {text!r}: expected {_FORMS}")
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


def allowance_or_default(text: str | None, default: str, what: str = "allowance") -> Allowance:
    """``parse_allowance``, where None or a blank value means ``default``."""
    if text is None or (isinstance(text, str) and not text.strip()):
        text = default
    return parse_allowance(text, what)


DEFAULT_ALLOWANCE = parse_allowance(DEFAULT_MAX_INCREASE)
DEFAULT_FLOOR = parse_allowance(DEFAULT_NOISE_FLOOR, "noise floor")
