"""Reading size strings such as ``"24 MB"`` and printing byte counts such as ``10.0MiB``.

One vocabulary everywhere a size is read (memory markers, ``--memray-limit``, allowances and
noise floors, in pytest and in ``python -m pytest_memray``): every unit the plugin prints is
accepted back. ``KB``/``KiB``, ``MB``/``MiB``, ... are the same multiples of 1024 (``KB``
has meant 1024 bytes since the published plugin).
"""

from __future__ import annotations

import re
from decimal import Decimal

_PREFIXES = "KMGTPE"
_SIZE_PATTERN = re.compile(
    r"^\s*\+?(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>(?P<prefix>[KMGTPE]?)(?P<binary>i?)B)\s*$",
    re.IGNORECASE | re.ASCII,  # ASCII: "５ MB" (a full-width digit) is not a size
)
_PRINTED_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
#: The units, as the error message lists them.
UNITS = "B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB, EB/EiB"


def parse_size(text: str) -> int:
    """Return the number of bytes that ``text`` names, in multiples of 1024.

    ``"24 MB"``, ``"24MiB"``, ``"1.5gb"``, ``"+10KB"``, ``"10.0MiB"`` (as the plugin prints
    sizes) and ``"512 B"`` are accepted: a non-negative integer or decimal number, optional
    spaces, and one of the units B, KB or KiB, MB or MiB, GB or GiB, TB or TiB, PB or PiB,
    EB or EiB, in any case. A fraction of a byte is dropped.

    Raises:
        ValueError: naming ``text`` when it is not such a string.
    """
    if not isinstance(text, str):
        raise ValueError(
            f"memory size must be a string such as '24 MB', got {type(text).__name__} {text!r}"
        )
    match = _SIZE_PATTERN.match(text)
    if match is None or (match.group("binary") and not match.group("prefix")):  # "iB"
        raise ValueError(
            f"invalid memory size {text!r}: expected a number and a unit ({UNITS}), such as '24 MB'"
        )
    prefix = match.group("prefix").upper()
    exponent = _PREFIXES.index(prefix) + 1 if prefix else 0
    return int(Decimal(match.group("number")) * 1024**exponent)


def format_size(num_bytes: float) -> str:
    """Return ``num_bytes`` with one decimal and a binary unit, such as ``117.2KiB``."""
    value = float(num_bytes)
    for unit in _PRINTED_UNITS[:-1]:
        if abs(value) < 1024.0:
            return f"{value:.1f}{unit}"
        value /= 1024.0
    return f"{value:.1f}{_PRINTED_UNITS[-1]}"
