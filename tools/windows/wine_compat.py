"""Startup shims for CPython 3.13 (Windows build) running under Wine 8.0.

Installed by tools/windows/run.sh into the embeddable Python's site-packages together with a
``wine_compat.pth`` line, so ``site`` imports it at every start. It only acts under Wine.

CPython 3.13 imports a few kernel32 functions that Wine 8.0 only has as stubs; calling one
aborts the whole process ("Unimplemented function KERNEL32.dll.X called"):

* ``CopyFile2``: used by ``shutil.copy``/``copy2``/``copyfile`` when ``_winapi`` has it.
  Removing the attribute makes shutil use its portable fallback, as on older Windows.
* ``PssCaptureSnapshot`` & co.: used by ``os.getppid()``. Replaced by an equivalent built on
  ``NtQueryInformationProcess`` (what older CPython versions did).
"""

from __future__ import annotations

import sys


def _under_wine() -> bool:
    if sys.platform != "win32":
        return False
    try:
        import ctypes

        return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")
    except Exception:  # pragma: no cover - best effort
        return False


def _install() -> None:
    import _winapi
    import ctypes
    import os
    from ctypes import wintypes

    if hasattr(_winapi, "CopyFile2"):
        del _winapi.CopyFile2

    class _ProcessBasicInformation(ctypes.Structure):
        _fields_ = (
            ("ExitStatus", ctypes.c_long),
            ("PebBaseAddress", ctypes.c_void_p),
            ("AffinityMask", ctypes.c_size_t),
            ("BasePriority", ctypes.c_long),
            ("UniqueProcessId", ctypes.c_size_t),
            ("InheritedFromUniqueProcessId", ctypes.c_size_t),
        )

    ntdll = ctypes.WinDLL("ntdll")
    query = ntdll.NtQueryInformationProcess
    query.restype = ctypes.c_long
    query.argtypes = (
        wintypes.HANDLE,
        ctypes.c_int,
        ctypes.c_void_p,
        wintypes.ULONG,
        ctypes.POINTER(wintypes.ULONG),
    )
    current = ctypes.c_void_p(-1)  # GetCurrentProcess() pseudo-handle

    def getppid() -> int:
        info = _ProcessBasicInformation()
        status = query(current, 0, ctypes.byref(info), ctypes.sizeof(info), None)
        if status < 0:
            raise OSError(f"NtQueryInformationProcess failed: 0x{status & 0xFFFFFFFF:08x}")
        return int(info.InheritedFromUniqueProcessId)

    getppid.__doc__ = os.getppid.__doc__
    os.getppid = getppid


if _under_wine():
    _install()
