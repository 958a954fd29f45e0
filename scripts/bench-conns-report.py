#!/usr/bin/env python3
"""summary.md of `make bench-conns` from the guest's runs.jsonl (see scripts/bench-conns.sh).

Per target: how many connections connected and were answered correctly, the connect
rate, the time to answer all, memory per held connection (from /proc/meminfo before the
client started and while everything was held), the time the server took to stop with
every connection open, and what the client saw of that stop.
"""
import argparse
import json
import sys

STOP = {"khttpd": "rmmod", "kecho": "rmmod", "nginx": "SIGTERM + wait", "user-echo": "SIGTERM + wait"}
SERVER = {"khttpd": "khttpd.ko", "kecho": "kecho.ko", "nginx": "nginx", "user-echo": "user-echo-server"}


def per_conn(kb, n):
    """kB in total -> bytes per connection, as text."""
    if kb is None or not n:
        return "-"
    return f"{kb * 1024 / n:,.0f}"


def num(x, fmt="{:,.0f}"):
    return "-" if x is None else fmt.format(x)


def errors(d):
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) if d else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--env")
    ap.add_argument("--dmesg", help="the guest's dmesg.txt: module parameters the kernel ignored")
    ap.add_argument("--title", default="C100K")
    ap.add_argument("--footer", default="")
    a = ap.parse_args()

    runs = []
    with open(a.runs) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    runs.append(json.loads(line))
                except json.JSONDecodeError as e:
                    print(f"bench-conns-report: skipping a bad line of {a.runs}: {e}", file=sys.stderr)

    out = []
    p = out.append
    p(f"# {a.title}")
    p("")
    p("Each target in turn, in one guest: `conns` opens the connections (at most `batch` connects in")
    p("flight), sends one request on each (khttpd, nginx: `GET /file-12b.bin` HTTP/1.1, checked: 200,")
    p("Content-Length, the 12 bytes; kecho, user-echo-server: 64 bytes, echoed back and compared), at")
    p("most `batch` unanswered at once, then holds them all. Memory is read while they are held;")
    p("then the server is stopped with every connection open.")
    p("")
    p("| target | connected | answered | connect s | connects/s | answer all s | answers/s | answer p99 ms | stop | stop s |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in runs:
        c = r.get("conns") or {}
        con, ans = c.get("connect", {}), c.get("answer", {})
        lat = ans.get("latency_us") or {}
        p(f"| {r['target']} | {num(con.get('ok'))} of {num(r['count'])} | {num(ans.get('ok'))} "
          f"| {num(con.get('seconds'), '{:.1f}')} | {num(con.get('per_second'))} "
          f"| {num(ans.get('seconds'), '{:.1f}')} | {num(ans.get('per_second'))} "
          f"| {num(lat.get('p99') / 1000 if lat.get('p99') is not None else None, '{:.1f}')} "
          f"| {STOP.get(r['target'], '?')} | {r['stop_seconds']}{'' if r['stop_status'] == 0 else ' (status %d)' % r['stop_status']} |")
    p("")
    p("Memory per held connection, in bytes: the drop of MemFree, the growth of Slab and the")
    p("drop of MemAvailable (all from /proc/meminfo) between the server idling before the")
    p("client started and all connections held (after a settle pause), divided by the")
    p("connections held. MemFree is the figure to use: MemAvailable counts socket inodes and")
    p("dentries (reclaimable slab) as if they could be freed, which they cannot while the")
    p("sockets exist. Both ends of every connection are in this guest, so the figures hold the")
    p("client's sockets (kernel side, about the same for every target) and the client's")
    p("memory; its RSS is shown alone. Server RSS: growth of the user-space server's resident")
    p("memory (nginx: all its processes), included in MemFree; its idle RSS (nginx allocates")
    p("its whole connection table at start) is not. The modules have no RSS.")
    p("")
    p("| target | held | MemFree drop MB | MemFree drop B/conn | Slab B/conn | MemAvailable drop B/conn | client RSS MB | server RSS idle MB | server RSS growth B/conn | TCP mem pages held |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        c = r.get("conns") or {}
        n = (c.get("hold") or {}).get("open_at_start")
        b, h = r.get("mem_before", {}), r.get("mem_held", {})
        d = lambda k: (b[k] - h[k]) if k in b and k in h else None
        g = lambda k: (h[k] - b[k]) if k in b and k in h else None
        user_space = r["target"] in ("nginx", "user-echo")
        srv = r["server_rss_kb_held"] - r["server_rss_kb_before"] if user_space else None
        idle = f"{r['server_rss_kb_before'] / 1024:.1f}" if user_space else "-"
        free_mb = d("MemFree") / 1024 if d("MemFree") is not None else None
        p(f"| {r['target']} | {num(n)} | {num(free_mb)} | {per_conn(d('MemFree'), n)} | {per_conn(g('Slab'), n)} "
          f"| {per_conn(d('MemAvailable'), n)} | {r['client_rss_kb_held'] / 1024:.1f} | {idle} | {per_conn(srv, n)} "
          f"| {r.get('sockstat_held', {}).get('mem', '-')} |")
    lowest = min((r["mem_held"]["MemFree"] for r in runs if "MemFree" in r.get("mem_held", {})), default=None)
    if lowest is not None:
        p("")
        p(f"Lowest MemFree while connections were held: {lowest / 1024:,.0f} MB (of the guest's memory; see Set-up).")
    p("")
    p("What the client saw while holding: connections the server closed before the stop")
    p("began (premature: idle time-outs, limits) and after it, resets among them, and how long")
    p("after the start of the stop the client saw the last close.")
    p("")
    p("| target | held | closed before stop | closed after stop | of them reset | last close after s | still open | failures | server log |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in runs:
        c = r.get("conns") or {}
        h = c.get("hold") or {}
        fails = "; ".join(x for x in (
            ("connect: " + errors(c["connect"]["errors"])) if c.get("connect", {}).get("errors") else "",
            ("answer: " + errors(c["answer"]["errors"])) if c.get("answer", {}).get("errors") else "",
            f"closed right after the answer: {c['closed_before_hold']}" if c.get("closed_before_hold") else "",
            f"unexpected data: {h['unexpected_data']}" if h.get("unexpected_data") else "",
        ) if x) or "none"
        klog = r.get("kernel_log", "").strip(";").replace(";", "; ") or "-"
        p(f"| {r['target']} | {num(h.get('open_at_start'))} | {num(h.get('closed_before_mark'))} "
          f"| {num(h.get('closed_after_mark'))} | {num(h.get('reset'))} "
          f"| {num(h.get('mark_to_last_close_seconds'), '{:.2f}')} | {num(h.get('still_open'))} | {fails} | {klog} |")
    p("")
    p("Slab caches that grew most while the connections were held (bytes per connection):")
    p("")
    for r in runs:
        n = ((r.get("conns") or {}).get("hold") or {}).get("open_at_start")
        top = r.get("slab_growth") or []
        if not top or not n:
            continue
        p(f"- {r['target']}: " + ", ".join(f"{name} {b / n:,.0f}" for name, b in top[:8]))
    if not any(r.get("slab_growth") for r in runs):
        p("- (no /proc/slabinfo in this guest)")
    p("")
    if a.env:
        try:
            with open(a.env) as f:
                env = [l.rstrip("\n") for l in f]
        except OSError:
            env = []
        keep = [l for l in env if l.startswith(("kernel:", "memory:", "connections per", "boot:", "sysctl net.ipv4.tcp_mem", "host:"))]
        probs = []
        if "kernel problems in dmesg" in "\n".join(env):
            i = next(i for i, l in enumerate(env) if l.startswith("kernel problems in dmesg"))
            for l in env[i + 1:]:
                if l.strip() == "(end)":
                    break
                if l.strip():
                    probs.append(l.strip())
        if keep:
            p("Set-up:")
            p("")
            for l in keep:
                p(f"- {l}")
            p("")
        p("Kernel problems in dmesg: " + ("none." if not probs else ""))
        if probs:
            p("")
            p("```")
            out.extend(probs[:40])
            p("```")
        p("")
    if a.dmesg:
        try:
            with open(a.dmesg, errors="replace") as f:
                ignored = sorted({l.split("] ", 1)[-1].strip() for l in f if "unknown parameter" in l})
        except OSError:
            ignored = []
        if ignored:
            p("Module parameters this build does not have (the kernel ignored them): " + "; ".join(ignored) + ".")
            p("")
    if a.footer:
        p(a.footer)
    print("\n".join(out))


if __name__ == "__main__":
    main()
