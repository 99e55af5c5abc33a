#!/usr/bin/env python3
# Write a System.map of a kernel's functions, read from the BTF inside its vmlinuz, for stap -r.
"""
stap translates kprobe.function("...") probes only against a kernel
symbol table: /proc/kallsyms for the running kernel, otherwise a
System.map in the build tree or /boot. Debian ships no real System.map
(the one in /boot is a stub pointing at the -dbg package), so for a kernel
that is not running this program takes the function names from the BTF
that the image carries (CONFIG_DEBUG_INFO_BTF) and writes them as a
System.map. The addresses are made up: stap registers dwarfless kprobes
by name, and only needs to know that the name exists.

BTF lists the functions pahole saw in the vmlinux symbol table, which is
what kprobes can be registered on by name, give or take functions that
exist only as compiler clones (name.isra.0 and the like).

usage: kernel-symbols.py /boot/vmlinuz-VERSION > System.map
"""

import bz2
import gzip
import io
import lzma
import struct
import subprocess
import sys


def fail(msg):
    sys.exit("kernel-symbols: " + msg)


def vmlinux(path):
    """The uncompressed ELF image inside a bzImage."""
    with open(path, "rb") as f:
        image = f.read()
    if image[0x202:0x206] != b"HdrS":
        fail(f"{path}: not an x86 bzImage")
    setup_sects = image[0x1F1] or 4
    start = (setup_sects + 1) * 512
    offset, length = struct.unpack_from("<II", image, 0x248)
    payload = image[start + offset : start + offset + length]
    if payload.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    if payload.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=io.BytesIO(payload)).read()
    if payload.startswith(b"BZh"):
        return bz2.BZ2Decompressor().decompress(payload)
    if payload.startswith(b"\x28\xb5\x2f\xfd"):
        return unzstd(path, payload)
    fail(f"{path}: unknown compression {payload[:4].hex()}")


def unzstd(path, payload):
    """zstd (Debian's 6.12, for one): Python 3.11 has no module for it,
    so the zstd program decompresses. The kernel's build appends the
    uncompressed size (4 bytes) to the frame, which zstd would take for
    the start of another one."""
    try:
        r = subprocess.run(
            ["zstd", "-d", "-c", "-q"], input=payload[:-4], capture_output=True
        )
    except FileNotFoundError:
        fail(f"{path}: zstd-compressed, and no zstd program: apt-get install zstd")
    if r.returncode != 0:
        fail(f"{path}: zstd: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout


def section(elf, want):
    """The contents of an ELF64 little-endian section by name."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        fail("the image is not a 64-bit little-endian ELF")
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def header(i):
        # name, type, flags, addr, offset, size
        return struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)

    names = header(shstrndx)[4]
    for i in range(shnum):
        name, _, _, _, offset, size = header(i)
        end = elf.index(b"\0", names + name)
        if elf[names + name : end] == want:
            return elf[offset : offset + size]
    fail(f"no {want.decode()} section: kernel built without CONFIG_DEBUG_INFO_BTF?")


# Bytes that follow struct btf_type, per kind: fixed, and per vlen item.
BTF_FIXED = {1: 4, 3: 12, 14: 4, 17: 4}  # INT, ARRAY, VAR, DECL_TAG
BTF_PER_ITEM = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}  # STRUCT UNION ENUM FUNC_PROTO DATASEC ENUM64
BTF_KIND_FUNC = 12


def btf_functions(btf):
    magic, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        "<HBBIIIII", btf, 0
    )
    if magic != 0xEB9F:
        fail("bad BTF magic")
    types = btf[hdr_len + type_off : hdr_len + type_off + type_len]
    strings = btf[hdr_len + str_off : hdr_len + str_off + str_len]
    funcs, off = set(), 0
    while off < len(types):
        name_off, info, _ = struct.unpack_from("<III", types, off)
        off += 12
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind > 19:
            fail(f"unknown BTF kind {kind}")
        if kind == BTF_KIND_FUNC:
            funcs.add(strings[name_off : strings.index(b"\0", name_off)].decode())
        off += BTF_FIXED.get(kind, 0) + BTF_PER_ITEM.get(kind, 0) * vlen
    return funcs


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    funcs = btf_functions(section(vmlinux(sys.argv[1]), b".BTF"))
    if len(funcs) < 1000:
        fail(f"only {len(funcs)} functions in the BTF: something is wrong")
    addr = 0xFFFFFFFF81000000
    out = [f"{addr:016x} T _stext"]
    for name in sorted(funcs):
        addr += 16
        out.append(f"{addr:016x} T {name}")
    out.append(f"{addr + 16:016x} T _etext")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
