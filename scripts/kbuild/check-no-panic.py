#!/usr/bin/env python3
"""Fail the build when module code can reach a Rust panic.

Usage: check-no-panic.py MODULE.rust.o...

A panic in a kernel worker oopses it and later hangs `rmmod`, so module code must not
be able to panic at all. The input is the relocatable object rust-object.sh produced:
`ld -r --gc-sections` rooted at init_module/cleanup_module (and the kept .modinfo,
__param, .init.data, .exit.data), so every section left in it is reachable from module
code; with one function per section (rustc's default) that holds per function.

Verdict (does not depend on names of individual panic helpers): the object fails when
the panic entry survived, i.e. any of
  - a symbol core::panicking::panic_fmt / panic_nounwind_fmt / rust_begin_unwind or
    the crate's #[panic_handler] (kernel::panic), defined or undefined;
  - the panic handler's message prefix "Rust panic: " in an allocated section (the
    handler is usually inlined into panic_fmt, so this catches it under any name).
Every panic in Rust (indexing, slicing, unwrap/expect, overflow and division checks,
assert!, RefCell, capacity overflow, allocation errors, panic!) ends in panic_fmt,
which calls the handler; a reachable panic therefore keeps both.

Diagnostics: the object's call graph is rebuilt from its relocations (a relocation in
function F naming function G, or a data section such as a vtable that names G, is an
edge F -> G). Functions of the panic machinery (core::panicking::*, *unwrap_failed,
slice index failures, str slice errors, RefCell borrow panics, capacity_overflow,
handle_alloc_error, ...) are recognised by their demangled names; every other function
with an edge into them is reported with the panic helpers it calls and one call chain
from a root (init_module, cleanup_module, a module parameter's ops) down to it.
"""
import os, re, struct, subprocess, sys
from collections import deque

PANIC_MESSAGE = b"Rust panic: "   # kernel/src/lib.rs, #[panic_handler]

# The entry every panic goes through, and the crate's handler (its names after LTO).
ROOT_RE = re.compile(
    r"^(core::panicking::panic(_nounwind)?_fmt|(__rustc::)?rust_begin_unwind|kernel::panic)$")

# Functions that exist only to panic (demangled, crate hashes removed).
MACHINERY_RE = re.compile(
    r"^(core|alloc)::.*\b(panic\w*|\w*_fail|\w*_failed|capacity_overflow|handle_error"
    r"|handle_alloc_error|slice_error_fail\w*|len_mismatch_fail\w*)$"
    r"|^core::panicking::"
    r"|^<?&?core::panic::"
    r"|^(__rustc::)?rust_begin_unwind$|^kernel::panic$"
    r"|^(__rustc::)?__rust_\w*(panic|oom|alloc_error)\w*$"
    r"|^__r[dg]l_oom$")

SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
SHT_SYMTAB, SHT_RELA = 2, 4
STT_SECTION, STT_FUNC = 3, 2
SHN_UNDEF = 0
R_X86_64_PC32, R_X86_64_PLT32 = 2, 4


class Elf:
    """Just enough of an ELF64 little-endian relocatable object."""

    def __init__(self, path):
        d = open(path, "rb").read()
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise ValueError(f"{path}: not an ELF64 little-endian object")
        shoff, = struct.unpack_from("<Q", d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
        self.data = d
        self.secs = []
        for i in range(shnum):
            (name, typ, flags, _addr, off, size, link, info, _al, _es) = struct.unpack_from(
                "<IIQQQQIIQQ", d, shoff + i * shentsize)
            self.secs.append(dict(idx=i, name=name, type=typ, flags=flags, off=off,
                                  size=size, link=link, info=info))
        strsec = self.secs[shstrndx]
        for s in self.secs:
            s["name"] = self.cstr(strsec["off"] + s["name"])
        self.syms, self.relas = [], []
        for s in self.secs:
            if s["type"] == SHT_SYMTAB:
                stroff = self.secs[s["link"]]["off"]
                for j in range(s["size"] // 24):
                    n, info, _other, shndx, value, size = struct.unpack_from(
                        "<IBBHQQ", d, s["off"] + j * 24)
                    self.syms.append(dict(name=self.cstr(stroff + n), type=info & 15,
                                          bind=info >> 4, shndx=shndx, value=value, size=size))
        for s in self.secs:
            if s["type"] == SHT_RELA:
                for j in range(s["size"] // 24):
                    off, info, addend = struct.unpack_from("<QQq", d, s["off"] + j * 24)
                    self.relas.append((s["info"], off, info >> 32, info & 0xFFFFFFFF, addend))

    def cstr(self, off):
        return self.data[off:self.data.index(b"\0", off)].decode("utf-8", "replace")

    def contents(self, sec):
        if sec["type"] == 8:  # SHT_NOBITS
            return b""
        return self.data[sec["off"]:sec["off"] + sec["size"]]


def demangle_all(names):
    """Demangle (Rust v0 and legacy) with binutils' c++filt, one process for all names."""
    names = list(names)
    if not names:
        return {}
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names) + "\n", text=True,
                             capture_output=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        out = names
    if len(out) != len(names):
        out = names
    result = {}
    for raw, dem in zip(names, out):
        dem = re.sub(r"\[[0-9a-f]{1,16}\]", "", dem)          # v0 crate disambiguators
        dem = re.sub(r"::h[0-9a-f]{16}$", "", dem)            # legacy hashes
        result[raw] = dem
    return result


class Graph:
    def __init__(self, elf):
        self.elf = elf
        alloc = {s["idx"] for s in elf.secs if s["flags"] & SHF_ALLOC}
        # Functions per section, by address, to attribute a relocation to its function.
        self.funcs = {}
        for i, sym in enumerate(elf.syms):
            if sym["type"] == STT_FUNC and sym["shndx"] in alloc:
                self.funcs.setdefault(sym["shndx"], []).append((sym["value"], sym["size"], i))
        for lst in self.funcs.values():
            lst.sort()
        dem = demangle_all({s["name"] for s in elf.syms if s["name"]})
        self.names = {}
        for i, sym in enumerate(elf.syms):
            if sym["name"]:
                self.names[("sym", i)] = dem.get(sym["name"], sym["name"])
        self.raw = {("sym", i): s["name"] for i, s in enumerate(elf.syms)}
        self.edges = {}      # node -> {node: [offsets]}
        for (sec, off, symi, rtype, addend) in elf.relas:
            if sec not in alloc:
                continue
            src = self.node_at(sec, off)
            sym = elf.syms[symi]
            if sym["shndx"] == SHN_UNDEF and sym["type"] != STT_SECTION:
                dst = ("sym", symi)
            elif sym["type"] == STT_SECTION:
                target = addend + 4 if rtype in (R_X86_64_PC32, R_X86_64_PLT32) else addend
                dst = self.node_at(sym["shndx"], target)
            elif sym["type"] == STT_FUNC:
                dst = ("sym", symi)
            else:
                dst = self.node_at(sym["shndx"], sym["value"])
            if dst != src:
                self.edges.setdefault(src, {}).setdefault(dst, []).append(off)
        self.nodes = set(self.edges) | {d for e in self.edges.values() for d in e}
        for sec, lst in self.funcs.items():
            for (_v, _s, i) in lst:
                self.nodes.add(("sym", i))

    def node_at(self, sec, off):
        """The function of section `sec` that covers `off`, else the section itself."""
        lst = self.funcs.get(sec)
        if lst:
            for value, size, i in lst:
                if value <= off < value + max(size, 1):
                    return ("sym", i)
            if len(lst) == 1:
                return ("sym", lst[0][2])
        return ("sec", sec)

    def name(self, node):
        if node[0] == "sym":
            return self.names.get(node, "?")
        sec = self.elf.secs[node[1]]
        # Name a data section by a symbol defined in it (e.g. a vtable), if any.
        for i, sym in enumerate(self.elf.syms):
            if sym["shndx"] == node[1] and sym["type"] not in (STT_SECTION,) and sym["name"]:
                return f"{self.names[('sym', i)]} (in {short(sec['name'])})"
        return f"[{short(sec['name'])}]"

    def locations(self):
        """Panic locations (core::panic::Location: file &str, line u32, col u32) by node.

        #[track_caller] panics pass a static Location; the node referencing one is the
        function the panic was inlined into, and the Location names the source line
        (when LLVM propagated a constant Location into a panic helper, the helper holds it).
        """
        elf = self.elf
        rel_at = {}
        for (sec, off, symi, _rtype, addend) in elf.relas:
            rel_at[(sec, off)] = (symi, addend)
        locs = {}   # data node -> "file:line:col"
        for (sec, off), (symi, addend) in rel_at.items():
            s = elf.secs[sec]
            if not s["flags"] & SHF_ALLOC or s["flags"] & SHF_EXECINSTR:
                continue
            data = elf.contents(s)
            if off + 24 > len(data):
                continue
            length, line, col = struct.unpack_from("<QII", data, off + 8)
            sym = elf.syms[symi]
            if not (0 < length < 512 and 0 < line < 1 << 20 and col < 1 << 12) \
                    or sym["shndx"] == SHN_UNDEF or sym["shndx"] >= len(elf.secs):
                continue
            base = addend + (sym["value"] if sym["type"] != STT_SECTION else 0)
            text = elf.contents(elf.secs[sym["shndx"]])[base:base + length]
            if len(text) == length and text.endswith(b".rs"):
                locs[self.node_at(sec, off)] = f"{text.decode('utf-8', 'replace')}:{line}:{col}"
        by_user = {}
        for src, dsts in self.edges.items():
            for dst in dsts:
                if dst in locs:
                    by_user.setdefault(src, set()).add(locs[dst])
        return by_user

    def roots(self):
        out = []
        for i, sym in enumerate(self.elf.syms):
            if sym["name"] in ("init_module", "cleanup_module") and sym["shndx"] != SHN_UNDEF:
                out.append(("sym", i))
        for s in self.elf.secs:  # the sections rust-object.sh KEEPs (parameter ops...)
            if s["name"] in (".modinfo", "__param", ".init.data", ".exit.data", ".init_array"):
                out.append(("sec", s["idx"]))
        return out


def short(secname):
    return secname if len(secname) < 60 else secname[:57] + "..."


def check(path):
    elf = Elf(path)
    g = Graph(elf)
    mod = os.path.basename(path).removesuffix(".rust.o")
    if not any(s["name"] == "init_module" and s["shndx"] != SHN_UNDEF for s in elf.syms):
        # Only rust-object.sh's output is cut down to what init_module & co. reach.
        raise ValueError(f"{path}: no init_module: not a module's linked Rust object")

    # Verdict.
    reasons = []
    for node, name in g.names.items():
        if ROOT_RE.match(name):
            sym = elf.syms[node[1]]
            where = "undefined" if sym["shndx"] == SHN_UNDEF else "present"
            reasons.append(f"{name} is {where}")
    for s in elf.secs:
        if s["flags"] & SHF_ALLOC and PANIC_MESSAGE in elf.contents(s):
            reasons.append(f"the panic handler's message {PANIC_MESSAGE.decode()!r} is in {short(s['name'])}")
    if not reasons:
        return True

    # Diagnostics: who calls the panic machinery, and how module code gets there.
    machinery = {n for n in g.nodes if n[0] == "sym" and MACHINERY_RE.search(g.name(n))}
    offenders = {}
    for src, dsts in g.edges.items():
        if src in machinery:
            continue
        for dst, offs in dsts.items():
            if dst in machinery:
                offenders.setdefault(src, []).append((dst, offs))
    locations = g.locations()
    parent = {}
    queue = deque()
    for r in g.roots():
        if r not in parent:
            parent[r] = None
            queue.append(r)
    while queue:
        n = queue.popleft()
        if n in machinery:
            continue
        for dst in sorted(g.edges.get(n, {}), key=lambda x: g.name(x)):
            if dst not in parent:
                parent[dst] = n
                queue.append(dst)

    def chain(n):
        out = []
        while n is not None:
            out.append(g.name(n))
            n = parent.get(n)
        return list(reversed(out))

    print(f"check-no-panic: {mod}: module code can panic ({'; '.join(sorted(set(reasons)))}).",
          file=sys.stderr)
    if not offenders:
        print("  no caller of a known panic helper found; functions referencing the panic "
              "entry directly:", file=sys.stderr)
        for src, dsts in g.edges.items():
            if any(ROOT_RE.match(g.name(d)) for d in dsts):
                offenders[src] = [(d, o) for d, o in dsts.items() if ROOT_RE.match(g.name(d))]
    preds = {}
    for src, dsts in g.edges.items():
        for dst in dsts:
            preds.setdefault(dst, set()).add(src)

    def callers_of(m):
        """The functions outside the panic machinery whose calls lead to helper m."""
        seen, todo, out = {m}, [m], set()
        while todo:
            for p in preds.get(todo.pop(), ()):
                if p in machinery:
                    if p not in seen:
                        seen.add(p)
                        todo.append(p)
                else:
                    out.add(p)
        return out

    attributed = set()
    print(f"  {len(offenders)} function(s) call panic paths (rewrite them: checked arithmetic, "
          ".get(), let-else, try_* allocation):", file=sys.stderr)
    for src in sorted(offenders, key=lambda n: g.name(n)):
        callees = ", ".join(
            f"{g.name(d)} @ {', '.join(hex(o) for o in sorted(offs))}"
            for d, offs in sorted(offenders[src], key=lambda x: g.name(x[0])))
        print(f"  - {g.name(src)}", file=sys.stderr)
        print(f"      calls {callees}", file=sys.stderr)
        locs = set(locations.get(src, ()))
        for m in machinery:
            # A Location LLVM folded into a helper only this function leads to is its own.
            if m in locations and callers_of(m) == {src}:
                locs |= locations[m]
                attributed.add(m)
        if locs:
            print(f"      panic locations: {', '.join(sorted(locs))}", file=sys.stderr)
        if src in parent:
            print(f"      reached via {' -> '.join(chain(src))}", file=sys.stderr)
        else:
            print("      reached via (no path from a root found in the relocations)", file=sys.stderr)
    for n in sorted(machinery - attributed, key=g.name):
        if n in locations:
            print(f"  panic locations inside {g.name(n)} (one of its callers above): "
                  f"{', '.join(sorted(locations[n]))}", file=sys.stderr)
    print("  code inlined into a function is reported as that function's.", file=sys.stderr)
    print(f"  see the instructions: objdump -dr --no-show-raw-insn -C --disassemble=SYMBOL {path}"
          " (SYMBOL: the mangled name, `nm` lists them)", file=sys.stderr)
    return False


def main():
    if len(sys.argv) < 2:
        print("usage: check-no-panic.py MODULE.rust.o...", file=sys.stderr)
        return 2
    panicky, broken = [], False
    for path in sys.argv[1:]:
        try:
            if not check(path):
                panicky.append(os.path.basename(path).removesuffix(".rust.o"))
        except (OSError, ValueError) as e:
            print(f"check-no-panic: cannot check: {e}", file=sys.stderr)
            broken = True
    if panicky:
        print(f"check-no-panic: FAILED ({', '.join(panicky)}): a Rust panic in a module oopses "
              "the kernel and hangs rmmod; make the functions above panic-free (README, "
              "'Building and loading').", file=sys.stderr)
    return 1 if panicky or broken else 0


if __name__ == "__main__":
    sys.exit(main())
