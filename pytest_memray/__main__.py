"""``python -m pytest_memray``: the command line of :mod:`pytest_memray.gates`."""

from __future__ import annotations

import sys

from pytest_memray.gates.cli import main

if __name__ == "__main__":
    sys.exit(main())
