"""Sphinx configuration for the pytest-memray (portable edition) documentation.

Only Sphinx's built-in extensions are used, and nothing is fetched from the network. Run
``python docs/make_examples.py`` first: the pages include the files it writes to
``docs/_generated/``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
# autodoc imports the package; prefer the checkout being documented over an installed copy.
sys.path.insert(0, str(REPO))

_init = (REPO / "pytest_memray" / "__init__.py").read_text(encoding="utf-8")
_match = re.search(r'^__version__ = "([^"]+)"', _init, re.MULTILINE)
release = _match.group(1) if _match else "unknown"
version = release

project = "pytest-memray (portable edition)"
author = "pytest-memray portable edition developers"
project_copyright = author

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build", "_generated", ".gitignore"]
root_doc = "index"
language = "en"
pygments_style = "sphinx"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "undoc-members": False}

html_theme = "alabaster"
html_title = f"pytest-memray (portable edition) {release}"
html_theme_options = {
    "description": "Per-test memory limits, leak checks and reports for pytest, on every platform",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
