"""Drop the debug information from an ELF shared library, in pure Python (no strip for the target needed).

PyAV's aarch64 extension modules ship with DWARF debug info: 31 MB of its 43 MB, and the ffmpeg
layer has to fit next to the runtime layer under Lambda's 250 MB. `strip --strip-debug` would do,
but the host's binutils rarely know aarch64, and llvm-strip 14 moves the segments auditwheel's
patchelf appended to offsets the dynamic loader refuses (p_offset no longer congruent to p_vaddr).

What changes: the `.debug*` sections (never loaded) lose their bytes and become empty, their
headers kept so no section index moves and no symbol needs rewriting. What the loader maps (the
headers and every segment) keeps its bytes and order; each run of it moves down by a multiple of
its largest alignment, so every p_offset stays congruent to its p_vaddr. The other sections'
bytes (symbols, names) and the section header table follow.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
_ELFCLASS64, _ELFDATA2LSB = 2, 1
_SHF_ALLOC, _SHF_COMPRESSED = 0x2, 0x800
_SHT_NOBITS = 8
_EHDR_SIZE = 0x40
_SECTION = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
_SEGMENT = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr
_HEADER_TABLES = struct.Struct("<QQIHHHHHH")  # e_phoff .. e_shstrndx, at offset 0x20
_MACHINE = struct.Struct("<H")  # e_machine, at offset 0x12
MACHINES = {62: "x86_64", 183: "aarch64"}


@dataclass
class Section:
    """One section header (Elf64_Shdr fields in order), with its name."""

    index: int
    name: str
    fields: list[int]

    @property
    def type(self) -> int:
        return self.fields[1]

    @property
    def flags(self) -> int:
        return self.fields[2]

    @property
    def offset(self) -> int:
        return self.fields[4]

    @property
    def size(self) -> int:
        return self.fields[5]

    @property
    def align(self) -> int:
        return max(1, self.fields[8])

    @property
    def stored(self) -> bool:
        """Whether the section has bytes in the file."""
        return self.index > 0 and self.type != _SHT_NOBITS and self.size > 0


@dataclass
class Tables:
    """An ELF64 file's program headers (Elf64_Phdr fields) and sections."""

    phoff: int
    segments: list[list[int]]
    sections: list[Section]


def is_elf64_le(path: Path) -> bool:
    """Whether the file is a little-endian 64-bit ELF (x86_64, aarch64): the only kind this reads."""
    with open(path, "rb") as f:
        ident = f.read(6)
    return ident[:4] == ELF_MAGIC and ident[4] == _ELFCLASS64 and ident[5] == _ELFDATA2LSB


def machine(path: Path) -> str:
    """The CPU an ELF64 file is for: `x86_64`, `aarch64`, or `e_machine <n>`."""
    with open(path, "rb") as f:
        head = f.read(0x14)
    (number,) = _MACHINE.unpack_from(head, 0x12)
    return MACHINES.get(number, f"e_machine {number}")


def read_tables(data: bytes) -> Tables | None:
    """The program headers and sections of an ELF64 little-endian image; None without a plain section table."""
    phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum, shstrndx = _HEADER_TABLES.unpack_from(data, 0x20)
    if shoff == 0 or shnum == 0 or shentsize != _SECTION.size or phentsize != _SEGMENT.size or shstrndx >= shnum:
        return None  # no section table, or an extended one (more than 0xff00 sections)
    segments = [list(_SEGMENT.unpack_from(data, phoff + i * phentsize)) for i in range(phnum)]
    sections = [Section(i, "", list(_SECTION.unpack_from(data, shoff + i * shentsize))) for i in range(shnum)]
    names = sections[shstrndx]
    for s in sections:
        start = names.offset + s.fields[0]
        s.name = data[start : data.index(b"\0", start)].decode("ascii", "replace")
    return Tables(phoff, segments, sections)


def debug_bytes(path: Path) -> int:
    """How many bytes of the file are debug sections' (0 for anything but an ELF64 little-endian file)."""
    if not is_elf64_le(path):
        return 0
    tables = read_tables(Path(path).read_bytes())
    return sum(s.size for s in tables.sections if _is_debug(s)) if tables else 0


def _is_debug(s: Section) -> bool:
    return s.stored and s.name.startswith(".debug") and not s.flags & _SHF_ALLOC


def strip_debug(path: Path) -> int:
    """Rewrite `path` without its debug sections' bytes; returns how many bytes were saved (0: nothing to drop,
    not an ELF64 little-endian file, or a layout this does not move)."""
    path = Path(path)
    if not is_elf64_le(path):
        return 0
    data = path.read_bytes()
    tables = read_tables(data)
    if tables is None:
        return 0
    segments, sections = tables.segments, tables.sections
    headers = [(0, _EHDR_SIZE), (tables.phoff, tables.phoff + len(segments) * _SEGMENT.size)]
    loaded = headers + [(seg[2], seg[2] + seg[5]) for seg in segments if seg[5]]
    dropped = {
        s.index
        for s in sections
        if _is_debug(s) and not any(lo < s.offset + s.size and s.offset < hi for lo, hi in loaded)
    }
    if not dropped:
        return 0
    kept = [(s.offset, s.offset + s.size) for s in sections if s.stored and s.index not in dropped]
    # Runs of bytes that stay: overlapping ranges merged; a run is "loaded" if the loader maps any of it.
    runs: list[list[int]] = []  # [start, end, loaded]
    for lo, hi, is_loaded in sorted([(lo, hi, 1) for lo, hi in loaded] + [(lo, hi, 0) for lo, hi in kept]):
        if runs and lo < runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], hi)
            runs[-1][2] |= is_loaded
        else:
            runs.append([lo, hi, is_loaded])
    out = bytearray()
    moves: list[tuple[int, int, int]] = []  # (original start, original end, new start)
    for lo, hi, _ in sorted(runs, key=lambda run: (not run[2], run[0])):  # loaded runs first, in order
        align = max(
            [1]
            + [max(1, seg[7]) for seg in segments if lo <= seg[2] < hi]
            + [s.align for s in sections if s.stored and s.index not in dropped and lo <= s.offset < hi]
        )
        new = len(out) + (lo - len(out)) % align
        out += b"\0" * (new - len(out)) + data[lo:hi]
        moves.append((lo, hi, new))

    def moved(offset: int) -> int | None:
        for lo, hi, new in moves:
            if lo <= offset <= hi:
                return offset - lo + new
        return None

    if any(moved(seg[2]) is None for seg in segments) or any(
        moved(s.offset) is None for s in sections if s.index and s.index not in dropped
    ):
        return 0  # a segment or section that starts outside every run (an empty one in a gap): leave it alone
    for seg in segments:
        seg[2] = moved(seg[2]) or 0
    for s in sections:
        if s.index in dropped:
            s.fields[4], s.fields[5] = 0, 0
            s.fields[2] &= ~_SHF_COMPRESSED  # an empty section has no compression header
        elif s.index:
            s.fields[4] = moved(s.offset) or 0
    for i, seg in enumerate(segments):
        _SEGMENT.pack_into(out, tables.phoff + i * _SEGMENT.size, *seg)
    out += b"\0" * (-len(out) % 8)
    struct.pack_into("<Q", out, 0x28, len(out))  # e_shoff
    for s in sections:
        out += _SECTION.pack(*s.fields)
    saved = len(data) - len(out)
    tmp = path.with_name(f".{path.name}.strip")
    tmp.write_bytes(bytes(out))
    os.chmod(tmp, path.stat().st_mode)
    tmp.replace(path)
    return saved
