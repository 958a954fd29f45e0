#!/usr/bin/env python3
"""Derive the Rust and bindgen flags for one target kernel from Kbuild itself.

A throw-away C module is compiled with the kernel's own Kbuild; its recorded compiler
command line is the ground truth for the code-generation options the kernel was built
with (retpoline, return thunks, SLS, IBT, stack protector...). Reading them from there,
instead of keeping a fixed list, keeps the Rust objects ABI-compatible with any kernel.

Usage: probe.py KDIR OUTDIR
Writes into OUTDIR: rustflags.txt (one flag per line), x86_64-linux-kernel.json (the rustc
target), clang-args.txt (bindgen's clang arguments, one per line, relative to KDIR) and
kernel.release.
"""
import json, os, re, shlex, shutil, subprocess, sys, tempfile

def die(msg):
    print(f"probe.py: {msg}", file=sys.stderr)
    sys.exit(1)

def main():
    if len(sys.argv) != 3:
        die("usage: probe.py KDIR OUTDIR")
    kdir, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.path.isfile(os.path.join(kdir, "Makefile")):
        die(f"{kdir} is not a kernel build tree (install linux-headers for it, or pass KDIR=)")
    os.makedirs(out, exist_ok=True)
    config = read_config(os.path.join(kdir, ".config"))
    if config.get("CONFIG_X86_64") != "y":
        die("only x86_64 kernels are supported")

    cc_cmd = compile_probe(kdir)
    args = shlex.split(cc_cmd)
    rustflags, features = rust_flags(args, config)
    write_lines(os.path.join(out, "rustflags.txt"), rustflags)
    with open(os.path.join(out, "x86_64-linux-kernel.json"), "w") as f:
        json.dump(target_spec(features), f, indent=2)
        f.write("\n")
    write_lines(os.path.join(out, "clang-args.txt"), clang_args(args))
    uts = open(os.path.join(kdir, "include/generated/utsrelease.h")).read()
    release = re.search(r'UTS_RELEASE "([^"]+)"', uts).group(1)
    with open(os.path.join(out, "kernel.release"), "w") as f:
        f.write(release + "\n")

def read_config(path):
    config = {}
    for line in open(path):
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line.strip())
        if m:
            config[m.group(1)] = m.group(2).strip('"')
    return config

def compile_probe(kdir):
    tmp = tempfile.mkdtemp(prefix="kmods-probe-")
    try:
        with open(os.path.join(tmp, "probe.c"), "w") as f:
            f.write('#include <linux/module.h>\nMODULE_LICENSE("GPL");\n')
        with open(os.path.join(tmp, "Kbuild"), "w") as f:
            f.write("obj-m := probe.o\n")
        r = subprocess.run(["make", "-s", "-C", kdir, f"M={tmp}", "probe.o"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            die("compiling a probe C module with Kbuild failed:\n" + r.stdout)
        cmd = open(os.path.join(tmp, ".probe.o.cmd")).read()
        m = re.search(r"^(?:saved)?cmd_\S+ := (.*)$", cmd, re.M)
        if not m:
            die("no compiler command in the probe's .cmd file")
        # Drop the trailing objtool invocation: only the compiler's options matter here.
        return m.group(1).split(";")[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

def rust_flags(args, config):
    """Map the C code-generation options to rustc's equivalents."""
    flags = ["-Crelocation-model=static", "-Zplt=yes", "-Cforce-frame-pointers=no",
             "-Cdebuginfo=0", "--cfg", "no_global_oom_handling"]
    features = []
    opts = set(args)
    if "-mindirect-branch=thunk-extern" in opts:
        flags.append("-Zretpoline-external-thunk")
    if "-mindirect-branch-cs-prefix" in opts:
        flags.append("-Zindirect-branch-cs-prefix")
    if "-mfunction-return=thunk-extern" in opts:
        flags.append("-Zfunction-return=thunk-extern")
    if "-mharden-sls=all" in opts:
        features += ["+harden-sls-ret", "+harden-sls-ijmp"]
    if "-fno-jump-tables" in opts:
        flags.append("-Cjump-tables=no")
    for a in args:
        m = re.match(r"^-fcf-protection=(\w+)$", a)
        if m and m.group(1) in ("branch", "full"):
            flags.append("-Zcf-protection=branch")
    for a in args:
        # CALL_PADDING kernels (call depth tracking, FineIBT) patch the bytes before each
        # function: give Rust functions the same NOP prefix and alignment.
        m = re.match(r"^-fpatchable-function-entry=(\d+)(?:,(\d+))?$", a)
        if m:
            flags.append(f"-Zpatchable-function-entry={m.group(1)},{m.group(2) or 0}")
        m = re.match(r"^-falign-functions=(\d+)$", a)
        if m and int(m.group(1)) > 1:
            flags.append(f"-Zmin-function-alignment={m.group(1)}")
    if "-fstack-protector-strong" in opts:
        flags.append("-Zstack-protector=strong")
    elif "-fstack-protector-all" in opts:
        flags.append("-Zstack-protector=all")
    elif "-fstack-protector" in opts:
        flags.append("-Zstack-protector=basic")
    if any(a.startswith("-fsanitize=kcfi") for a in args) or config.get("CONFIG_CFI_CLANG") == "y":
        die("kernels built with CONFIG_CFI_CLANG are not supported yet")
    if "-fsanitize=kernel-address" in opts:
        flags += kasan_flags(args, config)
        features.append(KASAN)
    if config.get("CONFIG_RANDSTRUCT_NONE") != "y" and any("randomize_layout" in a for a in args):
        die("struct layout randomisation (RANDSTRUCT) cannot be matched by bindgen")
    return flags, features

KASAN = "kasan"  # a pseudo-feature: target_spec() turns it into supported-sanitizers

def kasan_flags(args, config):
    """rustc's equivalents of the kernel's generic-KASAN options (scripts/Makefile.kasan).

    Rust objects are instrumented like the kernel's C: the same shadow offset, outline
    (calls into the kernel's __asan_load/store*_noabort, which only exist in recover
    mode) or inline checks, and stack redzones. Not global redzones: those are
    registered by a constructor whose table names every global of the crate and of
    core, so it would keep all of them, and all code their vtables point to, alive
    through rust-object.sh's --gc-sections (and the panic check would see core's
    unused panicking formatters). Heap and stack accesses are what module code does;
    its statics are read through safe types.
    """
    if config.get("CONFIG_KASAN_GENERIC") != "y":
        die("only generic KASAN is supported (not SW_TAGS/HW_TAGS)")
    params = {}
    shadow = None
    for i, a in enumerate(args):
        m = re.match(r"^-fasan-shadow-offset=(\S+)$", a)
        if m:
            shadow = m.group(1)
        # gcc: --param asan-x=y or --param=asan-x=y; clang: -mllvm -asan-x=y
        if a in ("--param", "-mllvm") and i + 1 < len(args):
            a = args[i + 1]
        m = re.match(r"^(?:--param=)?-?(asan-[a-z-]+)=(\S+)$", a)
        if m:
            params[m.group(1)] = m.group(2)
    shadow = shadow or params.get("asan-mapping-offset") or config.get("CONFIG_KASAN_SHADOW_OFFSET")
    if not shadow:
        die("KASAN kernel without a shadow offset in its flags or .config")
    flags = ["-Zsanitizer=kernel-address", "-Zsanitizer-recover=kernel-address",
             f"-Cllvm-args=-asan-mapping-offset={shadow}"]
    threshold = params.get("asan-instrumentation-with-call-threshold",
                           "0" if config.get("CONFIG_KASAN_OUTLINE") == "y" else "10000")
    flags.append(f"-Cllvm-args=-asan-instrumentation-with-call-threshold={threshold}")
    flags.append(f"-Cllvm-args=-asan-stack={params.get('asan-stack', '1' if config.get('CONFIG_KASAN_STACK') == 'y' else '0')}")
    flags.append("-Cllvm-args=-asan-globals=0")
    return flags

def target_spec(extra_features):
    # x86_64 kernel code: kernel code model, no red zone, no SIMD/FPU. The llvm target is
    # the Linux one so that the stack protector reads the canary from %gs:40 (kernel code
    # model) instead of a global __stack_chk_guard, which x86_64 kernels do not export.
    kasan = KASAN in extra_features
    extra_features = [f for f in extra_features if f != KASAN]
    features = ["-mmx", "-sse", "-sse2", "-sse3", "-ssse3", "-sse4.1", "-sse4.2",
                "-avx", "-avx2", "+soft-float"] + extra_features
    spec = {
        "arch": "x86_64",
        "code-model": "kernel",
        "cpu": "x86-64",
        "data-layout": "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-i128:128-f80:128-n8:16:32:64-S128",
        "disable-redzone": True,
        "features": ",".join(features),
        "llvm-target": "x86_64-unknown-linux-gnu",
        "max-atomic-width": 64,
        "panic-strategy": "abort",
        "relocation-model": "static",
        "rustc-abi": "softfloat",
        "stack-probes": {"kind": "inline"},
        "target-endian": "little",
        "target-pointer-width": 64,
        "target-c-int-width": 32,
        "os": "none",
        "position-independent-executables": False,
        "plt-by-default": True,
        "metadata": {"description": "Linux kernel module code (x86_64), derived from the target kernel's Kbuild flags"},
    }
    if kasan:
        spec["supported-sanitizers"] = ["kernel-address"]
    return spec

# gcc options clang 14 does not know; dropping them does not change struct layouts.
DROP_EXACT = {
    "-mindirect-branch=thunk-extern", "-mindirect-branch-register", "-mindirect-branch-cs-prefix",
    "-mfunction-return=thunk-extern", "-mpreferred-stack-boundary=3", "-mrecord-mcount",
    "-fconserve-stack", "-fno-allow-store-data-races", "-mharden-sls=all", "-mskip-rax-setup",
    "-mno-fp-ret-in-387", "-fno-stack-clash-protection", "-pg", "-mfentry", "-c",
}
DROP_PREFIX = ("-W", "-falign-", "-fasan-", "--param", "-fmacro-prefix-map", "-fplugin", "-fsanitize", "-mstack-protector-guard")

def clang_args(args):
    out = []
    it = iter(args[1:])  # skip the compiler itself
    for a in it:
        if a in ("-o", "--param"):  # --param's value (asan-*, gcc-only) goes too
            next(it, None)
            continue
        if a in DROP_EXACT or a.startswith(DROP_PREFIX) or a.endswith(".c"):
            continue
        if a.startswith("-DKBUILD_") or a.startswith("-D__KBUILD_MODNAME"):
            continue
        out.append(a)
    out += ["-w", "--target=x86_64-linux-gnu", "-DKBUILD_MODNAME=\"kmods\""]
    if "-ftrivial-auto-var-init=zero" in out and clang_major() < 16:
        out.append("-enable-trivial-auto-var-init-zero-knowing-it-will-be-removed-from-clang")
    return out

def clang_major():
    try:
        v = subprocess.run(["clang", "--version"], stdout=subprocess.PIPE, text=True).stdout
        return int(re.search(r"version (\d+)", v).group(1))
    except Exception:
        return 0

def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
