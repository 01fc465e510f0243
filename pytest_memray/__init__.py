"""pytest-memray: measure, report and limit the memory that each test allocates.

The plugin itself is loaded by pytest through the ``pytest11`` entry point; this module holds
the types that marker arguments use.
"""

from __future__ import annotations

from pytest_memray.stack import LeakedObjectsFilterFunction, LeaksFilterFunction, Stack, StackFrame

__version__ = "2.0.0.dev0"

__all__ = [
    "LeakedObjectsFilterFunction",
    "LeaksFilterFunction",
    "Stack",
    "StackFrame",
    "__version__",
]
