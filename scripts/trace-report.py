#!/usr/bin/env python3
"""Summarise what scripts/guest/trace-khttpd.sh recorded into report.md.

    scripts/trace-report.py RESULTS_DIR > RESULTS_DIR/report.md

Per load: the request rates (untraced and in each phase); the CPU profile (kprof:
perf samples with kernel call chains) as khttpd's share and where that share goes,
self and inclusive, Rust functions included; exact call counts of khttpd's Rust
functions (kprof, hardware breakpoints); the kernel functions khttpd calls with call
counts and durations (function_graph, depth 1); and the call tree below them
(function_graph, deeper) with inclusive times. Standard library only.
"""
import gzip
import json
import os
import re
import sys
from collections import defaultdict

# function_graph text: " 1)  kworker-38    | + 12.345 us   |    name() {"
FG_LINE = re.compile(r"^\s*(\d+)\)\s+(\S+)\s+\|\s*([+!#*@$]?)\s*([\d.]+ us)?\s*\|(\s*)(.*?)\s*$")
# Root functions that other tasks call too (the client closes its sockets with fput):
# only calls in khttpd's own threads (kworkers, khttpd_*) count.
AMBIGUOUS = {"fput", "kernel_read", "path_put"}


def khttpd_task(proc):
    return proc.startswith("kworker") or proc.startswith("khttpd")


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}"


def pct(n, total):
    return f"{100.0 * n / total:.1f} %" if total else "-"


def parse_fgraph(path):
    """Yield (proc, depth, kind, name, us) per call line; kind is 'leaf' (name();),
    'open' (name() {) or 'close' (} /* name */)."""
    base = None
    with gzip.open(path, "rt", errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = FG_LINE.match(line)
            if not m:
                continue
            _, proc, _, dur, indent, text = m.groups()
            if text.startswith("/*") or not text:
                continue
            us = float(dur.split()[0]) if dur else None
            width = len(indent)
            if base is None or width < base:
                base = width
            depth = (width - base) // 2
            if text.endswith("();"):
                yield proc, depth, "leaf", text[:-3], us
            elif text.endswith("() {"):
                yield proc, depth, "open", text[:-4], us
            elif text.startswith("}"):
                mm = re.match(r"}\s*/\*\s*(\S+)\s*\*/", text)
                yield proc, depth, "close", mm.group(1) if mm else None, us


def roots(path):
    """Root calls of a depth-1 trace: {name: [durations]}, and the calls left out."""
    calls = defaultdict(list)
    left_out = defaultdict(int)
    for proc, depth, kind, name, us in parse_fgraph(path):
        if depth != 0 or kind == "open" or us is None or name is None:
            continue
        if name in AMBIGUOUS and not khttpd_task(proc):
            left_out[name] += 1
            continue
        calls[name].append(us)
    return calls, left_out


def tree(path):
    """Inclusive time and calls per call path (root, child, ...) from a deeper trace.
    Call stacks are kept per task: a task preempted inside a function continues its
    own stack when it runs again, on whichever CPU."""
    totals = defaultdict(float)
    counts = defaultdict(int)
    stacks = defaultdict(list)
    for proc, depth, kind, name, us in parse_fgraph(path):
        st = stacks[proc]
        if kind == "open":
            del st[depth:]
            st.append(name)
            continue
        if kind == "close":
            if name is None and len(st) > depth:
                name = st[depth]
            key = tuple(st[:depth]) + (name,)
            del st[depth:]
        else:
            key = tuple(st[:depth]) + (name,)
        if us is None or name is None or len(key) != depth + 1:
            continue
        if key[0] in AMBIGUOUS and not khttpd_task(proc):
            continue
        totals[key] += us
        counts[key] += 1
    return totals, counts


def read_json(path):
    try:
        with open(path) as f:
            text = f.read()
        try:
            return json.loads(text)
        except ValueError:
            return json.loads(text.splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def overruns(path):
    total = 0
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("overrun:") or line.startswith("dropped events:"):
                    total += int(line.split(":")[1])
    except OSError:
        return None
    return total


def rate(j):
    return f"{j['rps']:.0f} req/s" if j and "rps" in j else "no result"


def name(e):
    return f"{e['sym']} [{e['module']}]" if e["module"] else e["sym"]


def profile_section(p, prof, reqs):
    busy = prof["samples"] - prof["idle"]
    mod = prof["module"]
    p(f"### CPU profile (kprof: {prof['freq']} samples/s per CPU, kernel call chains)\n")
    p(f"{prof['samples']} samples on {prof['cpus']} CPUs in {prof['seconds']:.1f} s: idle {pct(prof['idle'], prof['samples'])}, "
      f"user space {pct(prof['user'], prof['samples'])} (htstress and kprof), kernel {pct(busy - prof['user'], prof['samples'])}. "
      f"**{mod} on the call chain: {pct(prof['module_samples'], prof['samples'])} of all samples** "
      f"({prof['module_samples']} samples" + (f", {1e3 * prof['module_samples'] / prof['freq'] / reqs:.2f} ms of CPU per request" if reqs else "") + ")."
      + (f" Lost samples: {prof['lost']}." if prof["lost"] else "") + "\n")
    ms = prof["module_samples"]
    if ms:
        p(f"Where the {mod} samples go: inclusive = the function is anywhere on the call chain, "
          f"self = it is the one running (percent of the {ms} {mod} samples; top 25 each).\n")
        p("| inclusive | function |")
        p("| ---: | --- |")
        for e in prof["module_inclusive"][:25]:
            p(f"| {pct(e['samples'], ms)} | {name(e)} |")
        p("")
        p("| self | function |")
        p("| ---: | --- |")
        for e in prof["module_self"][:25]:
            p(f"| {pct(e['samples'], ms)} | {name(e)} |")
        p("")
    comms = [c for c in prof.get("by_comm", []) if c["kernel"] + c["user"] > 0]
    if comms:
        groups = defaultdict(lambda: [0, 0])
        for c in comms:
            g = re.sub(r"^kworker/.*khttpd_wq$", "kworker (khttpd_wq)", c["comm"])
            g = re.sub(r"^kworker/[^ ]*$", "kworker (other)", g)
            groups[g][0] += c["kernel"]
            groups[g][1] += c["user"]
        p("Samples by task (kernel + user): " + ", ".join(
            f"{g} {pct(k + u, prof['samples'])}" for g, (k, u) in sorted(groups.items(), key=lambda kv: -sum(kv[1]))[:8]) + ".\n")


def report(d):
    out = []
    p = out.append
    p("# Where khttpd spends its time\n")
    envp = os.path.join(d, "env.txt")
    env = open(envp).read().strip().splitlines() if os.path.exists(envp) else []
    p("```")
    p("\n".join(l for l in env if not l.startswith("  ")))
    p("```\n")
    fp = os.path.join(d, "functions.txt")
    missing = [l.strip() for l in open(fp) if "not traceable" in l] if os.path.exists(fp) else []
    if missing:
        p("Not traceable on this kernel: " + ", ".join(missing) + ".\n")

    lp = os.path.join(d, "loads.txt")
    loads = [l.strip() for l in open(lp) if l.strip()] if os.path.exists(lp) else []
    for tag in loads:
        mode, file, conns = tag.split("-")
        p(f"## {'Keep-alive' if mode == 'keepalive' else 'HTTP/1.0, a connection per request'}, "
          f"file {file}, {conns[1:]} connections\n")
        phases = {ph: read_json(os.path.join(d, f"{ph}-{tag}.json")) for ph in ("plain", "profile", "counts", "kprobes", "depth1", "depth")}
        p("Requests per second: untraced " + rate(phases["plain"]) + "; while sampled " + rate(phases["profile"]) +
          "; while counted " + rate(phases["counts"]) + "; with return probes " + rate(phases["kprobes"]) +
          "; function_graph depth 1 " + rate(phases["depth1"]) +
          "; deeper " + rate(phases["depth"]) + ".")
        lost = [overruns(os.path.join(d, f"{ph}-{tag}.stats")) for ph in ("depth1", "depth")]
        if any(lost):
            p(f"**Lost trace events** (ring buffer overruns): depth 1: {lost[0]}, deeper: {lost[1]}; "
              "counts from those traces are too low (raise TRACE_BUF_KB).")
        p("")

        prof = read_json(os.path.join(d, f"profile-{tag}.kprof.json"))
        if prof:
            r = phases["profile"]
            profile_section(p, prof, r["requests"] if r and r.get("requests") else None)

        cnt = read_json(os.path.join(d, f"counts-{tag}.kprof.json"))
        if cnt and cnt.get("counts"):
            r = phases["counts"]
            reqs = r["requests"] if r and r.get("requests") else None
            p("### Calls of khttpd's Rust functions (kprof, hardware breakpoints; exact)\n")
            p("| function | calls | per request |")
            p("| --- | ---: | ---: |")
            for c in cnt["counts"]:
                if c.get("hits") is None:
                    p(f"| {c.get('sym') or c['pattern']} | - ({c.get('error')}) | - |")
                else:
                    p(f"| {c['sym']} | {c['hits']} | {fmt(c['hits'] / reqs) if reqs else '-'} |")
            p(f"\n({r['requests'] if r else '?'} requests in that run.)\n")

        kp = os.path.join(d, f"kprobes-{tag}.kprobes.txt")
        if os.path.exists(kp):
            r = read_json(os.path.join(d, f"kprobes-{tag}.json"))
            reqs = r["requests"] if r and r.get("requests") else None
            names = {}
            sp = os.path.join(d, "kprobe-symbols.txt")
            if os.path.exists(sp):
                for line in open(sp):
                    parts = line.split()
                    if len(parts) == 2:
                        names[parts[1]] = parts[0]
            p("### Time in khttpd's Rust functions (kprobe-timer: return probes; wall clock per call)\n")
            p("| function | calls | per request | mean us | max us | missed |")
            p("| --- | ---: | ---: | ---: | ---: | ---: |")
            pat = re.compile(r"^(\S+): (\d+) calls, (\d+) ns total, (\d+) ns mean, (\d+) ns max, (\d+) missed")
            for line in open(kp):
                m = pat.match(line.strip())
                if not m:
                    continue
                sym, calls, total, mean, mx, missed = m.group(1), *map(int, m.groups()[1:])
                p(f"| {names.get(sym, sym)} | {calls} | {fmt(calls / reqs) if reqs else '-'} | "
                  f"{fmt(mean / 1000)} | {fmt(mx / 1000)} | {missed} |")
            p(f"\n({r['requests'] if r else '?'} requests in that run, at {rate(r)}. Wall clock: "
              "time a worker was scheduled out inside the function counts too.)\n")

        fg = os.path.join(d, f"depth1-{tag}.fgraph.gz")
        if os.path.exists(fg):
            calls, left_out = roots(fg)
            r = phases["depth1"]
            reqs = r["requests"] if r and r.get("requests") else None
            p("### Kernel functions khttpd calls (function_graph, depth 1; on-CPU time)\n")
            p("| function | calls | per request | total ms | avg us | max us |")
            p("| --- | ---: | ---: | ---: | ---: | ---: |")
            for fn, v in sorted(calls.items(), key=lambda kv: -sum(kv[1])):
                p(f"| {fn} | {len(v)} | {fmt(len(v) / reqs if reqs else None)} | {fmt(sum(v) / 1000)} | "
                  f"{fmt(sum(v) / len(v))} | {fmt(max(v))} |")
            if left_out:
                p("\nLeft out, called by other tasks (the client): " +
                  ", ".join(f"{k} {v}" for k, v in sorted(left_out.items())) + ".")
            p("")

        deep = os.path.join(d, f"depth-{tag}.fgraph.gz")
        if os.path.exists(deep):
            totals, counts = tree(deep)
            p("### Inside them (function_graph, deeper; the subsystems of TRACE_DEEP_FILTER hooked)\n")
            p("Each line: inclusive on-CPU ms, calls, share of the parent's time. Children under "
              "3 % of their parent are left out; the rest of a parent's time is its own code, unhooked "
              "callees and the tracing hooks.\n")
            p("```")

            def walk(key, level):
                kids = [k for k in totals if len(k) == len(key) + 1 and k[:len(key)] == key]
                for child in sorted(kids, key=lambda k: -totals[k]):
                    share = totals[child] / totals[key] if totals[key] else 0
                    if share < 0.03:
                        continue
                    p(f"{'  ' * level}{child[-1]}: {totals[child] / 1000:.2f} ms, {counts[child]} calls, {share:.0%}")
                    if level < 3:
                        walk(child, level + 1)

            for k in sorted((k for k in totals if len(k) == 1), key=lambda k: -totals[k]):
                p(f"{k[0]}: {totals[k] / 1000:.2f} ms, {counts[k]} calls")
                walk(k, 1)
            p("```\n")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: trace-report.py RESULTS_DIR")
    sys.stdout.write(report(sys.argv[1]))


if __name__ == "__main__":
    main()
