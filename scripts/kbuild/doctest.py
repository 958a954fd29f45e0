#!/usr/bin/env python3
"""Compile the `kernel` crate's doc examples for the kernel target.

The kernel crate only builds for the kernel target (it needs the target kernel's
bindings), so `cargo test --doc` cannot run its examples. This does the part that matters
for soundness: every ```compile_fail,EXXXX example in kernel/src must fail to compile with
that error code (the misuse is rejected), and every ```no_run example must compile (the
checks do not reject correct code). Each is compiled against the kernel crate that
`make` just built for BUILD, with the same flags.

Usage: doctest.py BUILD     (BUILD = build/<kernel release>, after `make`)
Prints PASS:/FAIL: lines and ends with "N passed, N failed"; exits 1 on any failure.
"""
import glob, os, re, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FENCE = re.compile(r"^\s*///\s?```(.*)$")


def examples():
    """(file, line, attrs, code) for each fenced example in a /// doc comment."""
    for path in sorted(glob.glob(os.path.join(ROOT, "kernel/src/**/*.rs"), recursive=True)):
        lines = open(path).read().splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if m and m.group(1).strip():
                attrs, start, body = m.group(1).strip(), i + 1, []
                i += 1
                while i < len(lines) and not FENCE.match(lines[i]):
                    body.append(re.sub(r"^\s*///\s?", "", lines[i]))
                    i += 1
                yield os.path.relpath(path, ROOT), start, attrs, "\n".join(body)
            i += 1


def newest(deps, name):
    found = glob.glob(os.path.join(deps, f"lib{name}-*.rlib"))
    return max(found, key=os.path.getmtime) if found else None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: doctest.py BUILD")
    build = os.path.abspath(sys.argv[1])
    deps = os.path.join(build, "target/x86_64-linux-kernel/kernel/deps")
    host_deps = os.path.join(build, "target/kernel/deps")  # the proc-macro crate
    kernel = newest(deps, "kernel")
    if not kernel:
        sys.exit(f"doctest.py: no libkernel rlib under {deps}: run make first")
    flags = open(os.path.join(build, "rustflags.txt")).read().split()
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="kmods-doctest-") as tmp:
        for n, (path, line, attrs, code) in enumerate(examples()):
            kinds = [a.strip() for a in attrs.split(",")]
            if "compile_fail" in kinds:
                want = next((k for k in kinds if re.fullmatch(r"E\d{4}", k)), None)
            elif "no_run" in kinds:
                want = "ok"
            else:
                continue  # `ignore`, `text`, ...: nothing to check
            src = os.path.join(tmp, f"ex{n}.rs")
            with open(src, "w") as f:
                f.write("#![no_std]\n#![allow(dead_code, unused)]\nextern crate alloc;\nextern crate kernel;\n" + code + "\n")
            cmd = ["rustc", "--edition", "2021", "--crate-type", "lib", "--crate-name", f"ex{n}",
                   "--target", os.path.join(build, "x86_64-linux-kernel.json"), "-Zunstable-options",
                   "--emit", "metadata", "-o", os.path.join(tmp, f"ex{n}.rmeta"),
                   "-L", f"dependency={deps}", "-L", f"dependency={host_deps}", "--extern", f"kernel={kernel}",
                   "--extern", f"noprelude:core={newest(deps, 'core')}",
                   "--extern", f"noprelude:alloc={newest(deps, 'alloc')}",
                   "--extern", f"noprelude:compiler_builtins={newest(deps, 'compiler_builtins')}",
                   *flags, src]
            r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            name = f"doctest {path}:{line} ({attrs})"
            codes = set(re.findall(r"error\[(E\d{4})\]", r.stderr))
            if want == "ok":
                ok = r.returncode == 0
                why = "" if ok else "does not compile:\n" + r.stderr
            else:
                ok = r.returncode != 0 and (want is None or want in codes)
                why = "" if ok else ("compiles, but must not" if r.returncode == 0
                                     else f"fails with {sorted(codes) or 'no error code'}, not {want}:\n{r.stderr}")
            if ok:
                passed += 1
                print(f"PASS: {name}")
            else:
                failed += 1
                print(f"FAIL: {name}: {why}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
