"""Write a tiny ``bcryptprimitives.dll`` for Wine 8 (Debian 12).

Extension modules built with Rust >= 1.78 (for example ``rpds-py``, needed by ``jsonschema``)
import ``ProcessPrng`` from ``bcryptprimitives.dll``. Wine 8.0 has no such DLL, so the
``.pyd`` fails to load ("DLL load failed ... Module not found").

The DLL written here contains no code at all: just a PE32+ header and an export table whose
only entry, ``ProcessPrng``, is a *forwarder* to ``advapi32.SystemFunction036``
(``RtlGenRandom``), which Wine implements. Both take (buffer, length) and fill the buffer with
random bytes; Rust ignores the return value. Lengths are tiny (a few bytes for hash keys), so
the 32-bit length parameter of RtlGenRandom is not a concern.

Usage: python3 make_bcryptprimitives.py OUTPUT.dll
"""

from __future__ import annotations

import struct
import sys

DLL_NAME = b"bcryptprimitives.dll"
EXPORTS = {b"ProcessPrng": b"advapi32.SystemFunction036"}

FILE_ALIGN = 0x200
SECT_ALIGN = 0x1000
SECT_RVA = 0x1000


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def build() -> bytes:
    names = sorted(EXPORTS)  # the name table must be sorted for binary search
    count = len(names)

    # --- export section, laid out at SECT_RVA --------------------------------------------
    dir_size = 40
    eat_off = dir_size  # Export Address Table: count x u32
    npt_off = eat_off + 4 * count  # Name Pointer Table: count x u32
    ord_off = npt_off + 4 * count  # Ordinal Table: count x u16
    str_off = ord_off + 2 * count

    strings = bytearray()

    def add_string(s: bytes) -> int:
        rva = SECT_RVA + str_off + len(strings)
        strings.extend(s + b"\0")
        return rva

    dll_name_rva = add_string(DLL_NAME)
    name_rvas = [add_string(n) for n in names]
    forward_rvas = [add_string(EXPORTS[n]) for n in names]

    export_dir = struct.pack(
        "<IIHHIIIIIII",
        0,  # Characteristics
        0,  # TimeDateStamp
        0,  # MajorVersion
        0,  # MinorVersion
        dll_name_rva,
        1,  # ordinal base
        count,  # NumberOfFunctions
        count,  # NumberOfNames
        SECT_RVA + eat_off,
        SECT_RVA + npt_off,
        SECT_RVA + ord_off,
    )
    section = bytearray(export_dir)
    section += b"".join(struct.pack("<I", r) for r in forward_rvas)
    section += b"".join(struct.pack("<I", r) for r in name_rvas)
    section += b"".join(struct.pack("<H", i) for i in range(count))
    section += strings
    # A forwarder is an EAT entry whose RVA points inside the export directory range,
    # so the data directory must cover the whole section, strings included.
    export_size = len(section)
    raw_size = _align(len(section), FILE_ALIGN)
    section += b"\0" * (raw_size - len(section))

    # --- headers ----------------------------------------------------------------------
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)  # e_lfanew

    coff = struct.pack(
        "<HHIIIHH",
        0x8664,  # Machine: x86-64
        1,  # NumberOfSections
        0,  # TimeDateStamp
        0,  # PointerToSymbolTable
        0,  # NumberOfSymbols
        240,  # SizeOfOptionalHeader (PE32+)
        0x2022,  # EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL
    )

    headers_size = _align(64 + 4 + len(coff) + 240 + 40, FILE_ALIGN)
    image_size = SECT_RVA + _align(export_size, SECT_ALIGN)

    opt = struct.pack(
        "<HBBIIIII",
        0x20B,  # PE32+
        14,  # MajorLinkerVersion
        0,  # MinorLinkerVersion
        0,  # SizeOfCode
        raw_size,  # SizeOfInitializedData
        0,  # SizeOfUninitializedData
        0,  # AddressOfEntryPoint: none, the DLL has no code
        SECT_RVA,  # BaseOfCode
    )
    opt += struct.pack(
        "<QIIHHHHHHIIIIHHQQQQII",
        0x180000000,  # ImageBase
        SECT_ALIGN,
        FILE_ALIGN,
        6,  # MajorOperatingSystemVersion
        0,
        0,  # MajorImageVersion
        0,
        6,  # MajorSubsystemVersion
        0,
        0,  # Win32VersionValue
        image_size,
        headers_size,
        0,  # CheckSum
        3,  # Subsystem: Windows CUI
        0x0160,  # DllCharacteristics: HIGH_ENTROPY_VA | DYNAMIC_BASE | NX_COMPAT
        0x100000,  # SizeOfStackReserve
        0x1000,  # SizeOfStackCommit
        0x100000,  # SizeOfHeapReserve
        0x1000,  # SizeOfHeapCommit
        0,  # LoaderFlags
        16,  # NumberOfRvaAndSizes
    )
    data_dirs = [(0, 0)] * 16
    data_dirs[0] = (SECT_RVA, export_size)  # export table
    opt += b"".join(struct.pack("<II", rva, size) for rva, size in data_dirs)
    assert len(opt) == 240, len(opt)

    sect_hdr = struct.pack(
        "<8sIIIIIIHHI",
        b".rdata",
        export_size,  # VirtualSize
        SECT_RVA,  # VirtualAddress
        raw_size,  # SizeOfRawData
        headers_size,  # PointerToRawData
        0,
        0,
        0,
        0,
        0x40000040,  # INITIALIZED_DATA | MEM_READ
    )

    head = bytes(dos) + b"PE\0\0" + coff + opt + sect_hdr
    head += b"\0" * (headers_size - len(head))
    return head + bytes(section)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "wb") as fh:
        fh.write(build())
    return 0


if __name__ == "__main__":
    sys.exit(main())
