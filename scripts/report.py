#!/usr/bin/env python3
"""make report: this machine's latest results in one report (see scripts/report.sh).

Reads what make check, make bench-http, make bench-echo, make bench-conns and make
trace left behind (it runs nothing) and writes into --out:
  report.md     environment, test summary, each benchmark's table and chart, the trace
                analysis, each with a caption; its images beside it
  report.html   the same in one file that opens offline: CSS inline, images as data: URIs
  trace-report.md   the whole trace analysis (report.md has a digest of it)
Python's standard library only.
"""
import argparse
import base64
import datetime
import html
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TCG_NOTE = "TCG: an emulated CPU; only ratios between servers measured in one boot mean anything."
MANIFEST = ".report-files"

# What each result is, the make target that produces it and how long that takes (TCG).
SECTIONS = {
    "check": ("Tests", "make check", "~20 min per kernel"),
    "check-debug": ("Tests on the sanitizer kernel", "make check-debug", "~1 h"),
    "http": ("HTTP: khttpd against nginx", "make bench-http", "~15 min"),
    "echo": ("Echo: kecho against a user-space server", "make bench-echo", "~8 min"),
    "conns": ("C100K: 100,000 held connections", "make bench-conns", "~12 min"),
    "trace": ("Where khttpd spends its time", "make trace", "~3 min"),
}
# Results make report runs when they are missing (scripts/report.sh); the others it only
# reports when they exist.
RUN_WHEN_MISSING = ("check", "echo", "http", "trace")


def slug(title):
    """The anchor GitHub gives a heading (also the HTML id here)."""
    s = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return s.replace(" ", "-")


def rel(path):
    """A path relative to the repository when it is inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def run(cmd):
    """First line of a command's output, or None."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return None
    line = (out.stdout or out.stderr).strip().splitlines()
    return line[0].strip() if out.returncode == 0 and line else None


def mib(kb_text):
    m = re.match(r"(\d+)\s*kB", kb_text or "")
    return f"{int(m.group(1)) / 1024:,.0f} MiB" if m else (kb_text or "-")


def mtime_utc(path):
    t = os.path.getmtime(path)
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def table(header, rows, align=None):
    align = align or ["---"] * len(header)
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return out


# ---------------------------------------------------------------------------------------
# Reading results


class Result:
    """One result folder: where it is, whether it holds a result, and its guest."""

    def __init__(self, key, path):
        self.key = key
        self.title, self.make, self.duration = SECTIONS[key]
        self.given = path
        self.dir = os.path.realpath(path) if path else None
        self.present = False
        self.date = self.kernel = self.cpus = self.memory = self.host = None
        self.accel = "unknown"
        self.status = None  # exit status of the make target, when make report ran it

    def set_env(self, text, dirname):
        env = {}
        for line in (text or "").splitlines():
            m = re.match(r"^(kernel|cpus|memory|host|start): (.*)$", line.strip())
            if m and m.group(1) not in env:
                env[m.group(1)] = m.group(2)
        # "6.1.0-57-amd64 (#1 SMP PREEMPT_DYNAMIC Debian ...)": the release says enough.
        self.kernel = env.get("kernel", "").split(" ")[0] or None
        self.cpus = env.get("cpus")
        self.memory = mib(env.get("memory")) if "memory" in env else None
        host = env.get("host")
        if host:
            self.host = re.split(r", (?:load average|accel)", host)[0]
            m = re.search(r"\baccel (\w+)", host)
            if m:
                self.accel = m.group(1)
        if self.accel == "unknown":
            m = re.search(r"-(tcg|kvm)$", os.path.basename(dirname))
            if m:
                self.accel = m.group(1)
            elif self.cpus and "TCG" in self.cpus:
                self.accel = "tcg"
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d)", env.get("start", ""))
        if m:
            self.date = m.group(1) + " UTC"
        else:
            m = re.match(r"(\d{4})(\d\d)(\d\d)-(\d\d)(\d\d)\d\d-", os.path.basename(dirname))
            if m:
                self.date = "{}-{}-{} {}:{} UTC".format(*m.groups())


def load_bench(key, path, main_file):
    r = Result(key, path)
    if r.dir and os.path.isfile(os.path.join(r.dir, main_file)):
        r.present = True
        env = read(os.path.join(r.dir, "env.txt"))
        if env is None and key == "trace":
            # The trace report opens with the guest's env.txt in a code block.
            m = re.search(r"```\n(.*?)```", read(os.path.join(r.dir, main_file)) or "", re.S)
            env = m.group(1) if m else ""
        r.set_env(env, r.dir)
        if r.accel == "unknown":
            # No env.txt: the summaries name the accelerator too ("QEMU tcg", "accel tcg").
            m = re.search(r"\b(?:QEMU|accel) (tcg|kvm)\b", read(os.path.join(r.dir, main_file)) or "")
            if m:
                r.accel = m.group(1)
        r.date = r.date or mtime_utc(os.path.join(r.dir, main_file))
    return r


def guest_of(r, dmesg):
    """Guest CPU, count, memory and accelerator from a guest's dmesg (make check keeps no env.txt)."""
    if not dmesg:
        return
    m = re.search(r"smpboot: CPU0: (.*?) \(family", dmesg)
    n = re.search(r"Brought up \d+ nodes?, (\d+) CPUs", dmesg)
    if m or n:
        r.cpus = f"{n.group(1) if n else '?'} ({m.group(1) if m else '?'})"
    m = re.search(r"Memory: \d+K/(\d+)K available", dmesg)
    if m:
        r.memory = mib(m.group(1) + " kB")
    if "QEMU TCG CPU" in dmesg:
        r.accel = "tcg"
    elif re.search(r"Hypervisor detected: KVM", dmesg):
        r.accel = "kvm"


def pf(text):
    m = re.search(r"(\d+) passed, (\d+) failed", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def load_check(key, path):
    """make check's output folder: counts per part, failures by name."""
    r = Result(key, path)
    d = r.dir
    if not d or not (os.path.isfile(os.path.join(d, "summary.txt")) or os.path.isfile(os.path.join(d, "cargo-test.log"))
                     or any(os.path.isfile(os.path.join(d, e, "guest", "guest-results.txt"))
                            for e in (os.listdir(d) if os.path.isdir(d) else []))):
        return r
    r.present = True
    summary = read(os.path.join(d, "summary.txt"))
    r.summary = summary
    r.kernels = []  # (release, (passed, failed), doc tests (p, f) or None, suites [(name, p, f)], guest exit code)
    r.failures = []
    r.notes = []
    r.host_counts = None
    r.total = None
    log = read(os.path.join(d, "cargo-test.log"))
    if log is not None:
        p = f = 0
        for m in re.finditer(r"^test result: \w+\. (\d+) passed; (\d+) failed", log, re.M):
            p += int(m.group(1))
            f += int(m.group(2))
        r.host_counts = (p, f)
        r.failures += ["host: " + m.group(1) for m in re.finditer(r"^test (.+?) \.\.\. FAILED$", log, re.M)]
        if "test result:" not in log:
            r.notes.append("cargo test did not run to the end (see cargo-test.log)")
    results = read(os.path.join(d, "results.txt")) or ""
    r.failures += [line[6:] for line in results.splitlines() if line.startswith("FAIL: ")]
    kernel_counts = {}
    if summary:
        for line in summary.splitlines():
            m = re.match(r"^started: (.*)$", line)
            if m:
                r.date = m.group(1)
            m = re.match(r"^host: (\d+) passed, (\d+) failed", line)
            if m:
                r.host_counts = (int(m.group(1)), int(m.group(2)))
            m = re.match(r"^kernel (\S+): (\d+) passed, (\d+) failed", line)
            if m:
                kernel_counts[m.group(1)] = (int(m.group(2)), int(m.group(3)))
            m = re.match(r"^note (\S+): (.*)$", line)
            if m:
                r.notes.append(f"{m.group(1)}: {m.group(2)}")
            m = re.match(r"^total: (\d+) passed, (\d+) failed", line)
            if m:
                r.total = (int(m.group(1)), int(m.group(2)))
        if r.total is None:
            r.notes.append("make check did not finish (summary.txt has no total): an interrupted run")
    rels = sorted(e for e in os.listdir(d)
                  if os.path.isdir(os.path.join(d, e)) and
                  (os.path.exists(os.path.join(d, e, "doctest.log")) or os.path.isdir(os.path.join(d, e, "guest"))))
    for k in kernel_counts:
        if k not in rels:
            rels.append(k)
    for release in rels:
        kd = os.path.join(d, release)
        suites = []
        guest = read(os.path.join(kd, "guest", "guest-results.txt"))
        if guest:
            name = None
            for line in guest.splitlines():
                if line.startswith("== "):
                    name = line[3:].strip()
                elif name and pf(line) and re.match(r"^\d+ passed, \d+ failed$", line.strip()):
                    suites.append((name,) + pf(line))
                    name = None
                elif line.startswith("FAIL: "):
                    r.failures.append(f"[{release}] guest {line[6:].strip()}")
        doctest = pf(read(os.path.join(kd, "doctest.log")))
        counts = kernel_counts.get(release)
        if counts is None:
            # An older make check (no summary.txt): what its files still show; the build
            # and module metadata checks went to its output only.
            p = sum(s[1] for s in suites) + (doctest[0] if doctest else 0)
            f = sum(s[2] for s in suites) + (doctest[1] if doctest else 0)
            counts = (p, f)
            if not summary:
                r.notes.append(f"{release}: its build and module metadata checks are not counted "
                               "(this make check predates summary.txt)")
        exit_code = (read(os.path.join(kd, "guest", "exit-code")) or "").strip()
        if exit_code not in ("", "0"):
            r.notes.append(f"{release}: the guest's test run exited with status {exit_code}")
        if os.path.isdir(os.path.join(kd, "guest")) and not guest:
            r.notes.append(f"{release}: the guest left no guest-results.txt (it crashed or timed out; see {rel(kd)}/guest/console.log)")
        if guest:
            # SUITES="..." make check runs a part: say which suites of the default set are not here.
            m = re.search(r'^SUITES=\$\{SUITES:-(.*)\}$', read(os.path.join(ROOT, "scripts", "check.sh")) or "", re.M)
            absent = [x for x in (m.group(1).split() if m else []) if x not in {n for n, _, _ in suites}]
            if absent:
                r.notes.append(f"{release}: guest suites not run (SUITES chose others, or the guest stopped "
                               f"before them): {', '.join(absent)}")
        r.kernels.append((release, counts, doctest, suites, exit_code))
        if r.cpus is None:
            guest_of(r, read(os.path.join(kd, "guest", "dmesg.txt")))
    if r.total is None:
        p = (r.host_counts or (0, 0))[0] + sum(k[1][0] for k in r.kernels)
        f = (r.host_counts or (0, 0))[1] + sum(k[1][1] for k in r.kernels)
        r.total = (p, f)
    r.kernel = ", ".join(k[0] for k in r.kernels) or None
    if not r.date:
        r.date = mtime_utc(os.path.join(d, "cargo-test.log") if log is not None else d)
    return r


# ---------------------------------------------------------------------------------------
# Markdown to HTML: the subset the summaries use (headings, paragraphs, pipe tables,
# fenced code, lists, block quotes; `code`, **bold**, *em*, links, images).


def inline(text, image_uri):
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            out.append("<code>" + html.escape(p[1:-1]) + "</code>")
            continue
        s = html.escape(p, quote=False)

        def img(m):
            return f'<img alt="{html.escape(m.group(1))}" src="{image_uri(html.unescape(m.group(2)))}">'

        def link(m):
            target = html.unescape(m.group(2))
            if target.startswith("#"):
                return f'<a href="{html.escape(target)}">{m.group(1)}</a>'
            # Offline and alone: no links out of the file; the name stays readable.
            return m.group(1) if m.group(1) == target else f"{m.group(1)} ({html.escape(os.path.basename(target))})"

        s = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)", img, s)
        s = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", link, s)
        s = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?![\s*])([^*\n]*?[^\s*])\*(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)


def md_to_html(md, image_uri, id_prefix=""):
    lines = md.splitlines()
    out = []
    i = 0

    def is_special(line):
        return (line.startswith(("```", "#", "|", ">")) or re.match(r"^\s*([-*]|\d+\.) ", line)) is not None

    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre><code>" + html.escape("\n".join(lines[i + 1:j])) + "</code></pre>")
            i = j + 1
        elif re.match(r"^#{1,6} ", line):
            n = len(line) - len(line.lstrip("#"))
            t = line[n:].strip()
            out.append(f'<h{n} id="{id_prefix}{slug(t)}">{inline(t, image_uri)}</h{n}>')
            i += 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", lines[i].strip())[1:-1]])
                i += 1
            aligns = []
            if len(rows) > 1 and all(re.match(r"^:?-+:?$", c) for c in rows[1]):
                aligns = ["right" if c.endswith(":") else "left" for c in rows[1]]
                head, body = rows[0], rows[2:]
            else:
                head, body = None, rows

            def tr(cells, tag):
                return "<tr>" + "".join(
                    f'<{tag}{" class=r" if k < len(aligns) and aligns[k] == "right" else ""}>{inline(c, image_uri)}</{tag}>'
                    for k, c in enumerate(cells)) + "</tr>"

            t = ['<div class="tw"><table>']
            if head:
                t.append("<thead>" + tr(head, "th") + "</thead>")
            t.append("<tbody>" + "".join(tr(r, "td") for r in body) + "</tbody></table></div>")
            out.append("".join(t))
        elif line.startswith(">"):
            buf = []
            while i < len(lines) and lines[i].startswith(">"):
                buf.append(lines[i][1:].strip())
                i += 1
            out.append('<blockquote class="note">' + md_to_html("\n".join(buf), image_uri, id_prefix) + "</blockquote>")
        elif re.match(r"^\s*([-*]|\d+\.) ", line):
            tag = "ol" if re.match(r"^\s*\d+\. ", line) else "ul"
            items = []
            while i < len(lines) and lines[i].strip():
                if re.match(r"^\s*([-*]|\d+\.) ", lines[i]):
                    items.append(re.sub(r"^\s*([-*]|\d+\.) ", "", lines[i]))
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append(f"<{tag}>" + "".join(f"<li>{inline(t, image_uri)}</li>" for t in items) + f"</{tag}>")
        else:
            buf = []
            while i < len(lines) and lines[i].strip() and not (buf and is_special(lines[i])):
                buf.append(lines[i].strip())
                i += 1
            text = "\n".join(buf)
            if re.fullmatch(r"!\[[^\]]*\]\([^)\s]+\)", text):
                out.append('<p class="fig">' + inline(text, image_uri) + "</p>")
            else:
                out.append("<p>" + inline(text, image_uri) + "</p>")
    return "\n".join(out)


CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d1d1f; margin: 0; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 4em; background: #fff; }
h1 { font-size: 1.7em; margin-top: .3em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.5em; } h4 { margin-bottom: .3em; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .88em; }
code { background: #f2f2f2; padding: 0 .25em; border-radius: 3px; }
pre { background: #f6f6f6; padding: .7em 1em; overflow-x: auto; border-radius: 4px; }
pre code { background: none; padding: 0; }
.tw { overflow-x: auto; margin: .8em 0; }
table { border-collapse: collapse; font-size: .85em; }
th, td { border: 1px solid #d6d6d6; padding: .2em .55em; vertical-align: top; }
th { background: #f0f0f0; } td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
p.fig { margin: 1em 0 .2em; }
blockquote.note { margin: 1em 0; padding: .5em 1em; background: #fff4e5; border-left: 5px solid #e8890c; }
blockquote.note p { margin: .3em 0; }
details { margin: 1em 0; border: 1px solid #ddd; border-radius: 4px; padding: .5em 1em; }
summary { cursor: pointer; font-weight: 600; }
"""


def data_uri(path):
    ext = os.path.splitext(path)[1].lower()
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}.get(ext, "application/octet-stream")
    with open(path, "rb") as f:
        return f"data:{mime};base64," + base64.b64encode(f.read()).decode("ascii")


# ---------------------------------------------------------------------------------------
# The report


class Report:
    def __init__(self, out):
        self.out = out
        self.md = []        # report.md
        self.html_md = []   # what becomes report.html: Markdown lines, and ("raw", html) parts
        self.images = {}    # md name -> file to inline in the HTML
        self.files = []     # what was written into out (removed by the next run)

    def add(self, *lines):
        self.md.extend(lines)
        self.html_md.extend(lines)

    def add_html(self, raw):
        self.html_md.append(("raw", raw))

    def image(self, key, src_dir, stem, alt):
        """Copy a chart beside the report: PNG for the Markdown (renders everywhere), the SVG
        (smaller, sharp) inlined into the HTML; whichever exists when only one does."""
        png, svg = (os.path.join(src_dir, stem + e) for e in (".png", ".svg"))
        md_src = png if os.path.isfile(png) else svg if os.path.isfile(svg) else None
        if md_src is None:
            return False
        name = f"{key}-{os.path.basename(md_src)}"
        shutil.copyfile(md_src, os.path.join(self.out, name))
        self.files.append(name)
        self.images[name] = svg if os.path.isfile(svg) else md_src
        self.add(f"![{alt}]({name})")
        return True


def include_md(text, top=3, drop_title=True):
    """A summary.md inside the report: its title dropped, its headings from level `top` down."""
    lines = text.rstrip("\n").splitlines()
    if drop_title and lines and lines[0].startswith("# "):
        lines = lines[1:]
        while lines and not lines[0].strip():
            lines = lines[1:]
    out, fence = [], False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        elif not fence:
            m = re.match(r"^(#{1,6}) (.*)$", line)
            if m:
                line = "#" * min(6, len(m.group(1)) + top - 1) + " " + m.group(2)
        out.append(line)
    return out


def accel_note(r, what, read_what="the ratios between servers"):
    if r.accel == "tcg":
        return ["", f"> **{TCG_NOTE}** {what} ran under QEMU's TCG, which emulates every instruction: "
                f"absolute figures say more about the emulator and this host than about the servers; "
                f"read {read_what}.", ""]
    if r.accel == "kvm":
        return ["", "Measured under KVM: the guest ran on this host's CPUs (hardware virtualisation), so the "
                "absolute figures describe this machine, with client and servers sharing the guest's vCPUs.", ""]
    return ["", "The accelerator of this run was not recorded: treat the absolute figures with care.", ""]


def missing(rep, r, run_missing):
    if r.status is not None:
        rep.add(f"**No result.** `{r.make}` ran for this report (exit status {r.status}) but left nothing "
                f"in `{rel(r.given)}`: its output says why.", "")
        return
    if r.key in RUN_WHEN_MISSING and not run_missing:
        why = f"No result in `{rel(r.given)}`, and make report was told not to run what is missing (`REPORT_RUN_MISSING=0` or `--no-run`)."
    else:
        why = f"No result in `{rel(r.given)}`."
    rep.add(f"**Not measured yet.** {why} `{r.make}` ({r.duration} under TCG) produces it; then `make report` again.", "")


def section_env(rep, results):
    rep.add("## Environment", "",
            "Where these numbers come from: the machine this report was made on, and for each result "
            "the guest it was measured in and the accelerator QEMU used (the host column is the one "
            "recorded with the result: results copied from another machine show it).", "")
    cpuinfo = read("/proc/cpuinfo") or ""
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    meminfo = read("/proc/meminfo") or ""
    mem = re.search(r"^MemTotal:\s*(\d+ kB)", meminfo, re.M)
    osr = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', read("/etc/os-release") or "", re.M)
    virt = run(["systemd-detect-virt", "--vm"])
    commit = run(["git", "describe", "--always", "--dirty", "--abbrev=12"])
    commit_date = run(["git", "log", "-1", "--format=%cd", "--date=format:%Y-%m-%d"])
    rows = [
        ("operating system", osr.group(1) if osr else "-"),
        ("kernel", f"{os.uname().release} ({os.uname().machine})"),
        ("CPU", f"{os.cpu_count()} x {model.group(1).strip() if model else 'unknown'}"
                + (f" (this machine is itself a {virt} virtual machine: KVM in it would be nested)"
                   if virt and virt != "none" else "")),
        ("memory", mib(mem.group(1)) if mem else "-"),
        ("QEMU", run(["qemu-system-x86_64", "--version"]) or "not installed"),
        ("Rust", run(["rustc", "--version"]) or "not installed"),
        ("source", f"commit {commit} ({commit_date})" if commit else "not a git checkout"),
    ]
    rep.add(*table(["", "this machine, now"], rows), "")
    rows = []
    for r in results:
        if r.present:
            rows.append((f"[{r.title}](#{slug(r.title)})", r.date or "-", r.kernel or "-",
                         f"**{r.accel}**" if r.accel == "tcg" else r.accel, r.cpus or "-", r.memory or "-",
                         r.host or "-", f"`{rel(r.dir)}`"))
    if rows:
        rep.add("The results:", "")
        rep.add(*table(["result", "measured", "guest kernel", "accel", "guest CPUs", "guest memory", "host then", "folder"], rows), "")


def section_check(rep, r, run_missing):
    rep.add(f"## {r.title}", "")
    if r.key == "check":
        rep.add("What the last `make check` found: the host unit tests once, then for each kernel the build, "
                "the module metadata, the kernel crate's compile-fail doc tests and the guest test suites "
                "in a QEMU guest booting that kernel. Any failure is a bug; failures are listed by name.", "")
    else:
        rep.add("The guest test suites again on a kernel built with KASAN, lockdep, kmemleak and KFENCE "
                "(`make check-debug`): memory and locking errors that pass unnoticed on a stock kernel fail here.", "")
    if not r.present:
        missing(rep, r, run_missing)
        return
    total = r.total
    rep.add(f"**{total[0]} passed, {total[1]} failed** (`{rel(r.dir)}`, {r.date}).", "")
    rows = []
    if r.host_counts is not None:
        rows.append(("host unit tests (`cargo test`)", r.host_counts[0], r.host_counts[1]))
    suite_rows = []
    for release, counts, doctest, suites, exit_code in r.kernels:
        rows.append((f"kernel {release}: all", counts[0], counts[1]))
        if doctest:
            suite_rows.append((release, "doc tests (compile-fail)", doctest[0], doctest[1]))
        for name, p, f in suites:
            suite_rows.append((release, f"guest `{name}`", p, f))
    if rows:
        rep.add(*table(["part", "passed", "failed"], rows, ["---", "---:", "---:"]), "")
    if suite_rows:
        rep.add("Per kernel, the doc tests and each guest suite (the rest of a kernel's count is its build "
                "and module metadata checks):", "")
        rep.add(*table(["kernel", "suite", "passed", "failed"], suite_rows, ["---", "---", "---:", "---:"]), "")
    if r.failures:
        rep.add("Failed:", "")
        rep.add(*[f"- `{f}`" for f in r.failures[:50]])
        if len(r.failures) > 50:
            rep.add(f"- ... and {len(r.failures) - 50} more (see `{rel(r.dir)}`)")
        rep.add("")
    for n in r.notes:
        rep.add(f"Note: {n}.", "")
    if r.accel == "tcg":
        rep.add("The test guests ran under TCG, an emulated CPU: pass or fail holds there, the timings "
                "in their logs do not.", "")
    if r.status is not None:
        rep.add(f"`{r.make}` ran for this report (exit status {r.status}).", "")


def bench_header(rep, r, caption, run_missing, what="This benchmark", read_what="the ratios between servers"):
    rep.add(f"## {r.title}", "", caption, "")
    if not r.present:
        missing(rep, r, run_missing)
        return False
    rep.add(f"Measured {r.date} on {r.kernel or 'an unrecorded kernel'}; results in `{rel(r.dir)}`"
            + (f" (`{r.make}` ran for this report, exit status {r.status})" if r.status is not None else "") + ".")
    rep.add(*accel_note(r, what, read_what))
    return True


def section_http(rep, r, run_missing):
    if not bench_header(rep, r, "khttpd against nginx (and nginx with `open_file_cache`) in one guest: requests "
                        "per second for each file size, concurrency and keep-alive mode. In the ratio "
                        "columns, above 1 means khttpd served more requests per second.", run_missing):
        return
    if rep.image("bench-http", r.dir, "http", "requests per second, khttpd and nginx"):
        rep.add("", "*Requests per second at each concurrency, a bar per server, one panel per file and "
                "keep-alive mode; higher is better.*", "")
    rep.add(*include_md(read(os.path.join(r.dir, "summary.md"))), "")


def section_echo(rep, r, run_missing):
    if not bench_header(rep, r, "kecho against the user-space epoll echo server: how long one 13-byte echo takes "
                        "per connection when 1, 100 or 1,000 connections start together. Lower is better; "
                        "in the ÷ columns, below 1 means faster than that server.", run_missing):
        return
    ns = sorted({int(m.group(1)) for f in os.listdir(r.dir) for m in [re.match(r"^echo-n(\d+)\.(png|svg)$", f)] if m})
    for n in ns:
        conns = f"{n:,} concurrent connection{'' if n == 1 else 's'}"
        if rep.image("bench-echo", r.dir, f"echo-n{n}", f"echo latency, {conns}"):
            rep.add("", f"*{conns}: the mean latency of each connection "
                    "(x: the connection's number in its round, y: microseconds from send to complete echo), "
                    "a line per server; lower is better.*", "")
    rep.add(*include_md(read(os.path.join(r.dir, "summary.md"))), "")


def section_conns(rep, r, run_missing):
    if not bench_header(rep, r, "C100K: 100,000 keep-alive connections held by each server in turn: how fast "
                        "they connect and are answered, the memory each held connection costs, and how long "
                        "stopping the server takes with all of them open.", run_missing):
        return
    # Its summary's title says the count and the guest; keep it as a line.
    text = read(os.path.join(r.dir, "summary.md"))
    first = text.splitlines()[0] if text else ""
    if first.startswith("# "):
        rep.add(f"**{first[2:]}**", "")
    rep.add(*include_md(text), "")


def trace_digest(text):
    """Per load of the trace: its request rates, khttpd's share and the top functions."""
    lines = text.splitlines()
    loads, cur = [], None
    for line in lines:
        if line.startswith("## "):
            cur = [line[3:], []]
            loads.append(cur)
        elif cur is not None:
            cur[1].append(line)
    out = []
    for title, body in loads:
        rps = next((l for l in body if l.startswith("Requests per second")), None)
        share = next((l for l in body if "khttpd on the call chain" in l), None)
        out += [f"#### {title}", ""]
        if rps:
            out += [rps, ""]
        if share:
            out += [share, ""]
        for k, l in enumerate(body):
            if l.startswith("| self |"):
                rows = [x for x in body[k:k + 10] if x.startswith("|")]
                out += ["Functions running most (self; share of khttpd's samples, top 8):", ""] + rows + [""]
                break
    return out if loads else None


def section_trace(rep, r, run_missing):
    if not bench_header(rep, r, "Where khttpd spends its CPU time under load, in one guest: perf sampling with "
                        "kernel call chains, exact call counts of its Rust functions, and ftrace's function_graph "
                        "over the kernel functions it calls. Per load: the request rate in each tracing phase "
                        "(how much tracing slowed it), khttpd's share of the CPU and the functions running most.",
                        run_missing, "This trace", "the shares and the ratios between phases"):
        return
    text = read(os.path.join(r.dir, "report.md"))
    shutil.copyfile(os.path.join(r.dir, "report.md"), os.path.join(rep.out, "trace-report.md"))
    rep.files.append("trace-report.md")
    digest = trace_digest(text)
    m = re.search(r"```\n(.*?)```", text, re.S)
    if m:
        loads = re.search(r"^loads: (.*)$", m.group(1), re.M)
        if loads:
            rep.add(f"Loads traced: `{loads.group(1)}`.", "")
    if digest is None:
        rep.add(*include_md(text), "")
        return
    rep.add(*digest)
    rep.md.extend([f"The whole analysis (call trees, call counts, probe timings): [trace-report.md](trace-report.md), "
                   "beside this report.", ""])
    rep.add_html("<details><summary>The whole trace analysis (trace-report.md)</summary>\n"
                 + md_to_html("\n".join(include_md(text, top=3)), lambda s: s, id_prefix="trace-") + "\n</details>")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    for k in SECTIONS:
        ap.add_argument(f"--{k}", help=f"result folder of {SECTIONS[k][1]}")
    ap.add_argument("--ran", action="append", default=[], metavar="KEY=STATUS",
                    help="a make target make report ran for this report, with its exit status")
    ap.add_argument("--run-missing", type=int, default=1, help="0: make report was told not to run anything")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    # Only what the previous report wrote is removed (the folder may be the user's).
    for name in (read(os.path.join(a.out, MANIFEST)) or "").split():
        if "/" not in name and name != "..":
            try:
                os.remove(os.path.join(a.out, name))
            except OSError:
                pass

    results = [load_check("check", a.check), load_check("check-debug", getattr(a, "check_debug")),
               load_bench("http", a.http, "summary.md"), load_bench("echo", a.echo, "summary.md"),
               load_bench("conns", a.conns, "summary.md"), load_bench("trace", a.trace, "report.md")]
    byk = {r.key: r for r in results}
    for kv in a.ran:
        k, _, status = kv.partition("=")
        if k in byk:
            byk[k].status = status
    # check-debug appears only when it exists: it is opt-in and takes an hour.
    shown = [r for r in results if r.key != "check-debug" or r.present]

    rep = Report(a.out)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rep.add("# kmods-rs: tests and measurements", "",
            f"Made by `make report` on {now} from this machine's latest results (`scripts/report.sh`). "
            "Each section says which folder its figures come from and when they were measured.", "")
    # The numbers: the benchmarks and the trace (the tests' pass or fail holds under TCG).
    tcg = [r for r in shown if r.present and r.accel == "tcg" and not r.key.startswith("check")]
    if tcg:
        names = [f"`{r.make}`" for r in tcg]
        names = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        rep.add(f"> **{TCG_NOTE}** The figures of {names} were measured in QEMU without hardware "
                "virtualisation (TCG): every guest instruction is emulated, so requests per second and "
                "latencies are those of the emulator on this host, not of the servers on real hardware. "
                "Compare servers within one table; do not compare the absolute figures with other machines.", "")
    glance = []
    for r in shown:
        link = f"[{r.title}](#{slug(r.title)})"
        if not r.present:
            glance.append(f"- {link}: **missing** (`{r.make}`)")
        elif r.key.startswith("check"):
            glance.append(f"- {link}: {r.total[0]} passed, {r.total[1]} failed ({r.date})")
        else:
            glance.append(f"- {link}: {r.date}, {r.accel}, {r.kernel or '-'}")
    rep.add("Contents:", "", f"- [Environment](#environment)", *glance, "")

    section_env(rep, shown)
    for r in shown:
        {"check": section_check, "check-debug": section_check, "http": section_http, "echo": section_echo,
         "conns": section_conns, "trace": section_trace}[r.key](rep, r, a.run_missing)

    md = "\n".join(rep.md).rstrip("\n") + "\n"
    with open(os.path.join(a.out, "report.md"), "w", encoding="utf-8") as f:
        f.write(md)
    body = []
    chunk = []
    for part in rep.html_md + [("raw", "")]:
        if isinstance(part, tuple):
            body.append(md_to_html("\n".join(chunk), lambda s: data_uri(rep.images[s]) if s in rep.images else s))
            body.append(part[1])
            chunk = []
        else:
            chunk.append(part)
    doc = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           f"<title>kmods-rs: tests and measurements ({now})</title>\n<style>{CSS}</style>\n</head>\n"
           "<body><main>\n" + "\n".join(b for b in body if b) + "\n</main></body>\n</html>\n")
    with open(os.path.join(a.out, "report.html"), "w", encoding="utf-8") as f:
        f.write(doc)
    rep.files += ["report.md", "report.html"]
    with open(os.path.join(a.out, MANIFEST), "w") as f:
        f.write("\n".join(rep.files) + "\n")
    miss = [r for r in shown if not r.present]
    print(f"report: {rel(os.path.join(a.out, 'report.md'))} and report.html"
          + (f"; missing: {', '.join(r.make for r in miss)}" if miss else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
