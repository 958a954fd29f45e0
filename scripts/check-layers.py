#!/usr/bin/env python3
"""Checks that each crate's modules form layers: no module imports one that imports it
back, directly or through others. Prints each crate's modules bottom to top (a module
only imports modules on lower lines) and exits 1 on a cycle.

    scripts/check-layers.py [CRATE_DIR...]   default: every workspace crate
    scripts/check-layers.py --self-test      the checker on small crates with known cycles
                                             (also run, quietly, before every check)

A module is a file, or an inline `mod x { ... }` (inline `#[cfg(test)]` modules count
as part of their file). A module depends on another when it names it in a `use` or in
a path in code (`super::x::f`, `crate::x::T`, `x::f` for a child or imported module).
A name re-exported by a module (`pub use writer::Writer` in `http/mod.rs`) is followed
to where it comes from, and a `#[macro_export]` macro to the module defining it, so a
facade such as `kernel::prelude` adds no edge of its own. Declaring a child (`mod x;`)
is not an import. Comments, strings and doc links are ignored. This is a lexical
check, not a compiler: `#[path]`, `include!` and macro-generated paths are not seen.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["kernel", "bindings", "macros", "common", "kecho", "khttpd", "drop-tcp-socket",
          "kprobe-timer", "kmods-selftest", "user"]

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<lcomment>//[^\n]*)
  | (?P<bcomment>/\*)
  | (?P<rawstr>b?r\#*")
  | (?P<str>b?"(?:\\.|[^"\\])*")
  | (?P<char>b?'(?:[^\\'\n]|\\[^'\n]*)')
  | (?P<lifetime>'[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>\$crate|r\#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>[0-9][0-9A-Za-z_]*)
  | (?P<path>::)
  | (?P<punct>.)
""", re.VERBOSE | re.DOTALL)


def tokens(text):
    """Identifiers, `::` and punctuation; comments, strings and chars dropped."""
    out, i, n = [], 0, len(text)
    while i < n:
        m = TOKEN.match(text, i)
        kind = m.lastgroup
        if kind == "bcomment":
            depth, j = 1, m.end()
            while depth and j < n:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            i = j
            continue
        if kind == "rawstr":
            hashes = m.group().count("#")
            end = text.find('"' + "#" * hashes, m.end())
            i = n if end < 0 else end + 1 + hashes
            continue
        if kind in ("ident", "path", "punct"):
            out.append(m.group())
        i = m.end()
    return out


def is_ident(t):
    return t[0].isalpha() or t[0] in "_$" or t.startswith("r#")


class Crate:
    def __init__(self, name):
        self.name = name
        self.modules = {}   # module path (tuple) -> file it lives in
        self.fold = {}      # inline test module -> the module it is part of
        self.uses = {}      # module -> [(segments, alias or None, is_glob)]
        self.paths = {}     # module -> [segments] named in code
        self.macros = {}    # exported macro name -> defining module
        self.parsed = set()

    def node(self, m):
        while m in self.fold:
            m = self.fold[m]
        return m

    # --- reading the files

    def add_file(self, mod, path, mod_rs):
        """Reads module `mod` from `path`; `mod_rs`: its children live beside it."""
        if not os.path.isfile(path) or mod in self.parsed:
            return
        self.parsed.add(mod)
        self.modules[mod] = path
        with open(path, encoding="utf-8") as f:
            toks = tokens(f.read())
        child_dir = os.path.dirname(path) if mod_rs else os.path.splitext(path)[0]
        self.parse(toks, mod, child_dir)

    def parse(self, toks, mod, child_dir):
        stack = []       # per `{`: the inline module it opens, else None
        ctx = [mod]      # innermost module first at the end
        i, n = 0, len(toks)
        while i < n:
            t = toks[i]
            cur = ctx[-1]
            if t == "{":
                stack.append(None)
            elif t == "}":
                if stack and stack.pop() is not None:
                    ctx.pop()
            elif t == "mod" and i + 2 < n and is_ident(toks[i + 1]) and toks[i + 2] in ";{":
                name = toks[i + 1]
                child = cur + (name,)
                if toks[i + 2] == ";":
                    base = os.path.join(child_dir, *cur[len(mod):], name)
                    if os.path.isfile(base + ".rs"):
                        self.add_file(child, base + ".rs", False)
                    else:
                        self.add_file(child, os.path.join(base, "mod.rs"), True)
                    i += 3
                    continue
                self.modules[child] = self.modules[mod]
                if "cfg(test)" in "".join(attributes(toks, i)):
                    self.fold[child] = cur
                stack.append(child)
                ctx.append(child)
                i += 3
                continue
            elif t == "macro_rules" and i + 2 < n and toks[i + 1] == "!":
                if "macro_export" in "".join(attributes(toks, i)):
                    self.macros[toks[i + 2]] = cur
            elif t == "use":
                j = i + 1
                trees = []
                j = parse_use(toks, j, [], trees)
                self.uses.setdefault(cur, []).extend(trees)
                i = j
                continue
            elif is_ident(t) and i + 1 < n and toks[i + 1] == "::" and (i == 0 or toks[i - 1] != "::"):
                segs, j = [t], i + 1
                while j + 1 < n and toks[j] == "::" and is_ident(toks[j + 1]):
                    segs.append(toks[j + 1])
                    j += 2
                self.paths.setdefault(cur, []).append(segs)
                i = j
                continue
            i += 1

    # --- resolving names

    def import_target(self, mod, name, seen):
        """The module an imported `name` of `mod` comes from, or None (external)."""
        for segs, alias, glob in self.uses.get(mod, []):
            if not glob and (alias or segs[-1]) == name and segs[-1] != "self":
                return self.resolve(mod, segs, seen)
            if not glob and segs[-1] == "self" and alias == name:
                return self.resolve(mod, segs[:-1], seen)
            if not glob and segs[-1] == "self" and alias is None and segs[-2:-1] == [name]:
                return self.resolve(mod, segs[:-1], seen)
        return None

    def resolve(self, ctx, segs, seen=frozenset()):
        """The deepest local module a path reaches (its item's home), or None."""
        key = (ctx, tuple(segs))
        if key in seen or len(seen) > 50:
            return None
        seen = seen | {key}
        s0, rest = segs[0], segs[1:]
        if s0 in ("crate", "$crate"):
            cur = ()
        elif s0 == "super":
            cur = ctx[:-1]
        elif s0 == "self":
            cur = ctx
        elif ctx + (s0,) in self.modules:
            cur = ctx + (s0,)
        else:
            cur = self.import_target(ctx, s0, seen)
            if cur is None:
                return None
        for s in rest:
            if s == "super":
                cur = cur[:-1]
            elif s == "self":
                continue
            elif cur + (s,) in self.modules:
                cur = cur + (s,)
            else:
                via = self.import_target(cur, s, seen)
                if via is not None:
                    return via
                if cur == () and s in self.macros:
                    return self.macros[s]
                break
        return cur

    def edges(self):
        deps = {self.node(m): set() for m in self.modules}
        named = [(m, segs) for m, l in self.uses.items() for segs, _, _ in l]
        named += [(m, segs) for m, l in self.paths.items() for segs in l]
        for m, segs in named:
            t = self.resolve(m, segs)
            if t is None:
                continue
            a, b = self.node(m), self.node(t)
            if a != b:
                deps[a].add(b)
        return deps


def attributes(toks, i):
    """The tokens of the `#[...]` attributes (and visibility) just before index `i`."""
    j = i - 1
    while j >= 0 and toks[j] in ("pub", "(", ")", "crate", "super", "in", "self"):
        j -= 1
    out = []
    while j >= 0 and toks[j] == "]":
        depth, k = 0, j
        while k >= 0:
            if toks[k] == "]":
                depth += 1
            elif toks[k] == "[":
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        out = toks[k - 1:j + 1] + out
        j = k - 2
    return out


def parse_use(toks, j, prefix, out):
    """Parses a use tree from `toks[j]`; appends (segments, alias, is_glob) to `out`."""
    segs = list(prefix)
    n = len(toks)
    if j < n and toks[j] == "::":
        j += 1
    while j < n:
        t = toks[j]
        if t == "{":
            j += 1
            while j < n and toks[j] != "}":
                j = parse_use(toks, j, segs, out)
                if j < n and toks[j] == ",":
                    j += 1
            return skip_end(toks, j + 1)
        if t == "*":
            out.append((segs, None, True))
            return skip_end(toks, j + 1)
        if is_ident(t):
            segs = segs + [t]
            if j + 1 < n and toks[j + 1] == "::":
                j += 2
                continue
            alias = None
            j += 1
            if j + 1 < n and toks[j] == "as":
                alias = toks[j + 1]
                j += 2
            out.append((segs, alias, False))
            return skip_end(toks, j)
        return skip_end(toks, j)
    return j


def skip_end(toks, j):
    if j < len(toks) and toks[j] == ";":
        return j + 1
    return j


def crate_roots(crate_dir):
    src = os.path.join(crate_dir, "src")
    roots = [(os.path.join(src, f), f[:-3]) for f in ("lib.rs", "main.rs")
             if os.path.isfile(os.path.join(src, f))]
    bins = os.path.join(src, "bin")
    if os.path.isdir(bins):
        for f in sorted(os.listdir(bins)):
            p = os.path.join(bins, f)
            if f.endswith(".rs"):
                roots.append((p, "bin " + f[:-3]))
            elif os.path.isfile(os.path.join(p, "main.rs")):
                roots.append((os.path.join(p, "main.rs"), "bin " + f))
    return roots


def layers(deps, file_of):
    """Modules by level (0: imports no local module), or None and the cycles. Modules
    of one file that use each other (a file and its inline `mod`) are one layer."""
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def strong(v):
        # Iterative Tarjan: module graphs are small, but keep Python's stack out of it.
        work = [(v, iter(sorted(deps[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            u, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[u])
                if low[u] == index[u]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on.discard(x)
                        comp.append(x)
                        if x == u:
                            break
                    sccs.append(comp)
            elif w not in index:
                index[w] = low[w] = counter[0]
                counter[0] += 1
                stack.append(w)
                on.add(w)
                work.append((w, iter(sorted(deps[w]))))
            elif w in on:
                low[u] = min(low[u], index[w])

    for v in sorted(deps):
        if v not in index:
            strong(v)
    cycles = [sorted(c) for c in sccs if len({file_of(m) for m in c}) > 1]
    if cycles:
        return None, cycles
    level = {}
    for comp in sccs:  # Tarjan emits a component after everything it imports
        lv = 1 + max((level[d] for v in comp for d in deps[v] if d not in comp), default=-1)
        for v in comp:
            level[v] = lv
    return level, []


def show(m):
    return "::".join(m) if m else "(root)"


def check(crate_dir):
    failed = False
    for root, label in crate_roots(crate_dir):
        crate = Crate(os.path.basename(crate_dir))
        crate.add_file((), root, True)
        deps = crate.edges()
        name = crate.name if label in ("lib", "main") else f"{crate.name} ({label})"
        level, cycles = layers(deps, crate.modules.get)
        if cycles:
            failed = True
            print(f"{name}: CYCLE")
            for comp in cycles:
                print("  modules importing each other: " + ", ".join(show(m) for m in comp))
                for a in comp:
                    back = sorted(b for b in deps[a] if b in comp)
                    print(f"    {show(a)} -> {', '.join(show(b) for b in back)}")
            continue
        print(f"{name}: {len(level)} modules, no cycles; bottom to top:")
        for lv in range(max(level.values()) + 1):
            mods = sorted(show(m) for m, l in level.items() if l == lv)
            print(f"  {lv}: {' '.join(mods)}")
    return failed


SELF_TESTS = [
    # (what, files, has a cycle)
    ("direct", {"lib.rs": "mod a; mod b;", "a.rs": "use super::b::X;", "b.rs": "use crate::a::Y;"}, True),
    ("longer, through paths in code",
     {"lib.rs": "mod a; mod b; mod c;", "a.rs": "fn f() { super::b::g() }",
      "b.rs": "fn g() { crate::c::h() }", "c.rs": "fn h() { let _ = crate::a::K; }"}, True),
    ("downward only", {"lib.rs": "mod a; mod b; use a::T;", "a.rs": "use crate::b::U;", "b.rs": ""}, False),
    ("through a parent's re-export",
     {"lib.rs": "mod h;", "h/mod.rs": "mod w; mod x; pub use w::W;",
      "h/w.rs": "pub fn w() { super::x::f() }", "h/x.rs": "use super::W;"}, True),
    ("a re-export alone is no cycle",
     {"lib.rs": "mod h;", "h/mod.rs": "mod w; mod x; pub use w::W;",
      "h/w.rs": "pub struct W;", "h/x.rs": "use super::{W};"}, False),
    ("tests, inline modules, comments and strings",
     {"lib.rs": "mod a; mod b;",
      "a.rs": "use super::b; mod inner { use super::A; pub fn z() {} } fn q() { inner::z() }\n"
              "pub struct A;\n"
              "#[cfg(test)]\nmod tests { use super::*; use crate::b::B; }",
      "b.rs": "// super::a::A\n/* crate::a */ const S: &str = \"crate::a::A\"; /// [`super::a`]\npub struct B;"},
     False),
    ("an exported macro belongs to its module",
     {"lib.rs": "mod m; mod p;", "m.rs": "#[macro_export]\nmacro_rules! say { () => { $crate::p::f() } }",
      "p.rs": "pub fn f() {} fn g() { crate::say!(); }"}, True),
]


def self_test():
    """Runs the checker on small crates with and without cycles."""
    import contextlib, io, tempfile
    bad = 0
    for what, files, cyclic in SELF_TESTS:
        with tempfile.TemporaryDirectory() as d:
            for name, text in files.items():
                path = os.path.join(d, "src", name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                found = check(d)
        ok = found == cyclic
        bad += not ok
        print(f"{'PASS' if ok else 'FAIL'}: self-test {what}: {'cycle' if found else 'no cycle'}")
        if not ok:
            print(out.getvalue())
    return 1 if bad else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    # A checker that misses edges would pass anything: prove it first, quietly.
    import contextlib, io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        broken = self_test()
    if broken:
        print(out.getvalue() + "check-layers: FAIL: the checker's self-test failed")
        return 1
    dirs = sys.argv[1:] or [os.path.join(ROOT, c) for c in CRATES]
    failed = False
    for d in dirs:
        failed |= check(d)
    print("check-layers: " + ("FAIL: import cycles above" if failed else "ok, no import cycles"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
