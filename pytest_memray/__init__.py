"""pytest-memray: measure, report and limit the memory that each test allocates."""

from __future__ import annotations

__version__ = "2.0.0.dev0"
