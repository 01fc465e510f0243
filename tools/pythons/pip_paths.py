"""Print what a chroot needs from the host for pip to work in it as it does on the host.

One line per path, ``copy SOURCE TARGET`` or ``bind SOURCE TARGET``:

- ``copy``: pip's configuration files and every local file they name (a CA bundle, a
  constraints file). TARGET is where the chroot's pip looks for it (a file under the host
  user's home goes under /root, the chroot's HOME).
- ``bind``: every local folder they name (find-links folders, file:// indexes: for an index
  ending in ``/simple``, the folder above it, where its pages' relative links lead), to be
  bound in read-only.

Run with the host's ``python3``; PIP_* variables are seen through ``pip config list``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys


def named_paths() -> set[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    paths = set()
    for line in listing.splitlines():
        _, _, value = line.partition("=")
        for token in re.split(r"\s+", value.strip().strip("'\"")):
            if token.startswith("file://"):
                token = token[len("file://") :]
            if not token.startswith("/"):
                continue
            token = os.path.normpath(token)
            # A local index's pages link to its files by relative paths (../../files/...):
            # bind the folder that holds both.
            if os.path.basename(token) == "simple":
                token = os.path.dirname(token)
            paths.add(token)
    return paths


def main() -> None:
    home = os.path.expanduser("~")
    configs = {
        "/etc/pip.conf",
        "/etc/xdg/pip/pip.conf",
        os.path.join(home, ".config", "pip", "pip.conf"),
        os.path.join(home, ".pip", "pip.conf"),
        os.environ.get("PIP_CONFIG_FILE", ""),
    }
    for path in sorted(named_paths() | configs):
        if not path or path in (os.devnull, "/") or path.startswith(("/dev/", "/proc/", "/sys/")):
            continue
        if os.path.isfile(path):
            inside_home = home != "/" and path.startswith(home + "/")
            target = "/root" + path[len(home) :] if inside_home else path
            print("copy", path, target)
        elif os.path.isdir(path):
            print("bind", path, path)


if __name__ == "__main__":
    main()
