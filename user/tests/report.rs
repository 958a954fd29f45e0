//! make report (scripts/report.sh, scripts/report.py) on the results kept in docs/ and a
//! small make check fixture: every section with its caption, the charts beside
//! report.md, one HTML file with its images inlined and no external reference, TCG
//! stated when (and only when) a result ran under it, and what is missing named with the
//! command that makes it. `make` is replaced by a stub that must never be called: these
//! tests boot no guest.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TCG: &str = "TCG: an emulated CPU; only ratios between servers measured in one boot mean anything";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("report-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// What make check leaves in target/check: 54 passed, 2 failed.
fn check_fixture(dir: &Path) {
    let rel = "6.1.0-57-amd64";
    write(
        &dir.join("summary.txt"),
        &format!(
            "started: 2026-11-30 10:49 UTC\nhost: 20 passed, 1 failed\n\
             kernel {rel}: 34 passed, 1 failed\ntotal: 54 passed, 2 failed\n"
        ),
    );
    write(
        &dir.join("cargo-test.log"),
        "test http::parse ... ok\ntest http::range ... FAILED\n\n\
         test result: FAILED. 20 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n",
    );
    write(
        &dir.join("results.txt"),
        &format!("PASS: [{rel}] build\nPASS: [{rel}] modinfo kecho/kecho.ko license\n"),
    );
    write(
        &dir.join(rel).join("doctest.log"),
        "PASS: doctest kernel/src/sync.rs:198 (compile_fail,E0277)\n8 passed, 0 failed\n",
    );
    write(
        &dir.join(rel).join("guest/guest-results.txt"),
        "== kecho.sh\n14 passed, 0 failed\nPASS: kecho_echo_small\n\
         == khttpd.sh\n11 passed, 1 failed\nPASS: khttpd_get_file\nFAIL: khttpd_ipv6\n",
    );
    write(&dir.join(rel).join("guest/exit-code"), "1\n");
    write(
        &dir.join(rel).join("guest/dmesg.txt"),
        "[    0.95] smpboot: CPU0: AMD QEMU TCG CPU version 2.5+ (family: 0xf, model: 0x6b)\n\
         [    0.97] smp: Brought up 1 node, 2 CPUs\n\
         [    0.98] Memory: 982000K/1048056K available\n",
    );
}

/// A `make` that must not be called: it leaves a mark and fails.
fn stub_make(dir: &Path) -> PathBuf {
    let stub = dir.join("make-stub");
    let mark = dir.join("make-was-called");
    write(&stub, &format!("#!/bin/sh\ntouch '{}'\nexit 99\n", mark.display()));
    Command::new("chmod").arg("755").arg(&stub).status().unwrap();
    stub
}

struct Out {
    md: String,
    html: String,
    stderr: String,
}

fn report(dir: &Path, out: &Path, env: &[(&str, PathBuf)], args: &[&str]) -> Out {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/report.sh")).args(args).current_dir(root());
    for (k, _) in std::env::vars() {
        if k.starts_with("REPORT_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("REPORT_OUT", out).env("MAKE", stub_make(dir));
    // Every result folder is given: the repository's own target/ and bench/results/ are
    // left alone (make check rewrites target/check while these tests run).
    for k in ["CHECK", "CHECK_DEBUG", "HTTP", "ECHO", "CONNS", "TRACE"] {
        cmd.env(format!("REPORT_{k}_DIR"), dir.join("none"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run scripts/report.sh");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "report.sh failed: {}\n{stderr}", o.status);
    assert!(!dir.join("make-was-called").exists(), "report.sh ran make: {stderr}");
    Out {
        md: fs::read_to_string(out.join("report.md")).expect("report.md"),
        html: fs::read_to_string(out.join("report.html")).expect("report.html"),
        stderr,
    }
}

/// The images report.md shows, `![alt](name)`.
fn images(md: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = md;
    while let Some(i) = rest.find("![") {
        rest = &rest[i + 2..];
        let Some(a) = rest.find("](") else { break };
        let after = &rest[a + 2..];
        let end = after.find(')').expect("image closed");
        v.push(after[..end].to_string());
        rest = &after[end..];
    }
    v
}

fn docs(name: &str) -> PathBuf {
    root().join("docs").join(name)
}

/// The charts a benchmark folder holds: one per name, PNG or SVG.
fn charts(dir: &Path) -> usize {
    let mut stems: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            (n.ends_with(".png") || n.ends_with(".svg")).then(|| n[..n.len() - 4].to_string())
        })
        .collect();
    stems.sort();
    stems.dedup();
    stems.len()
}

/// The HTML is one file: styles inline, every image a data: URI, no link out of it.
fn assert_self_contained(html: &str, n_images: usize) {
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<style>"), "CSS inline");
    for bad in ["http://", "https://", "<link", "<script", "<iframe", "<object", "@import", "url("] {
        assert!(!html.contains(bad), "report.html holds {bad}");
    }
    let srcs: Vec<&str> = html.split(" src=\"").skip(1).collect();
    assert_eq!(srcs.len(), n_images, "one <img> per chart");
    for s in &srcs {
        let png_or_svg = s.starts_with("data:image/png;base64,") || s.starts_with("data:image/svg+xml;base64,");
        assert!(png_or_svg, "src {}", &s[..40.min(s.len())]);
    }
    for h in html.split(" href=\"").skip(1) {
        assert!(h.starts_with('#'), "a link out of the file: {}", &h[..40.min(h.len())]);
    }
}

#[test]
fn report_of_every_result_has_each_section_its_charts_and_says_tcg() {
    let dir = tempdir("full");
    let out = dir.join("out");
    check_fixture(&dir.join("check"));
    let r = report(
        &dir,
        &out,
        &[
            ("REPORT_RUN_MISSING", "0".into()),
            ("REPORT_CHECK_DIR", dir.join("check")),
            ("REPORT_HTTP_DIR", docs("bench-http")),
            ("REPORT_ECHO_DIR", docs("bench-echo")),
            ("REPORT_CONNS_DIR", docs("bench-conns")),
            ("REPORT_TRACE_DIR", docs("trace")),
        ],
        &[],
    );
    let sections = [
        "Environment",
        "Tests",
        "HTTP: khttpd against nginx",
        "Echo: kecho against a user-space server",
        "C100K: 100,000 held connections",
        "Where khttpd spends its time",
    ];
    for s in sections {
        // The heading, then a caption saying what the section shows.
        let after = r.md.split(&format!("\n## {s}\n")).nth(1);
        let after = after.unwrap_or_else(|| panic!("no section {s}:\n{}", r.md));
        let caption = after.lines().find(|l| !l.trim().is_empty()).unwrap();
        let text = caption.len() > 60 && !caption.starts_with(['|', '#', '!', '>']);
        assert!(text, "{s}: caption {caption:?}");
        let id = s.to_lowercase().replace([':', ','], "").replace(' ', "-");
        assert!(r.html.contains(&format!("<h2 id=\"{id}\">")), "HTML section {id}");
    }
    assert!(!r.md.contains("Not measured"), "{}", r.md);
    assert!(!r.md.contains("Tests on the sanitizer kernel"), "check-debug only when it exists");

    // The test summary: the totals, each part, the failures by name.
    assert!(r.md.contains("**54 passed, 2 failed**"));
    assert!(r.md.contains("| host unit tests (`cargo test`) | 20 | 1 |"));
    assert!(r.md.contains("| 6.1.0-57-amd64 | guest `khttpd.sh` | 11 | 1 |"));
    assert!(r.md.contains("- `host: http::range`"));
    assert!(r.md.contains("- `[6.1.0-57-amd64] guest khttpd_ipv6`"));

    // TCG, plainly, at the top and in the sections whose numbers came from it.
    let top = r.md.split("\n## ").next().unwrap();
    assert!(top.contains(TCG), "TCG at the top:\n{top}");
    assert!(r.md.matches(TCG).count() >= 5, "TCG in each benchmark's section");
    assert!(r.html.contains(TCG));
    assert!(r.md.contains("| **tcg** |"));

    // The charts beside report.md: http's and one per concurrency of echo's.
    let imgs = images(&r.md);
    assert_eq!(imgs.len(), charts(&docs("bench-http")) + charts(&docs("bench-echo")), "{imgs:?}");
    for i in &imgs {
        assert!(!i.contains('/') && out.join(i).is_file(), "chart {i} beside report.md");
    }
    // The trace: a digest here, the whole analysis beside it and folded into the HTML.
    assert!(r.md.contains("khttpd on the call chain") && r.md.contains("Requests per second"));
    assert!(out.join("trace-report.md").is_file() && r.md.contains("(trace-report.md)"));
    assert!(r.html.contains("<details>"));
    assert_self_contained(&r.html, imgs.len());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn missing_results_are_named_with_their_command_and_nothing_runs() {
    let dir = tempdir("missing");
    let out = dir.join("out");
    let http = [("REPORT_HTTP_DIR", docs("bench-http"))];
    for (env, args) in [(Some(("REPORT_RUN_MISSING", "0")), &[][..]), (None, &["--no-run"][..])] {
        let mut e: Vec<(&str, PathBuf)> = http.to_vec();
        e.extend(env.map(|(k, v)| (k, PathBuf::from(v))));
        let r = report(&dir, &out, &e, args);
        for cmd in ["make check", "make bench-echo", "make trace", "make bench-conns"] {
            assert!(r.md.contains(&format!("`{cmd}`")), "{cmd} named:\n{}", r.md);
        }
        assert!(r.md.contains("**Not measured yet.**") && r.md.contains("REPORT_RUN_MISSING=0"));
        assert!(r.md.contains("**missing** (`make bench-echo`)"), "listed at the top");
        // What exists is still reported.
        assert!(r.md.contains("| keepalive | 12b |"));
        assert_eq!(images(&r.md).len(), charts(&docs("bench-http")));
        assert!(r.md.contains(TCG));
        assert_self_contained(&r.html, images(&r.md).len());
        assert!(!r.stderr.contains("running make"), "{}", r.stderr);
    }
    // A folder given explicitly is never filled by running its target, even when told to.
    let r = report(&dir, &out, &[("REPORT_RUN_MISSING", "1".into())], &[]);
    assert!(r.md.contains("`make bench-echo`") && !r.md.contains("REPORT_RUN_MISSING=0"));
    // Nothing measured under TCG, nothing said about it.
    assert!(!r.md.contains(TCG) && !r.html.contains(TCG), "{}", r.md);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn kvm_results_are_not_called_tcg_and_a_new_report_drops_old_charts() {
    let dir = tempdir("kvm");
    let out = dir.join("out");
    // The first report has http's chart.
    let env = [("REPORT_RUN_MISSING", "0".into()), ("REPORT_HTTP_DIR", docs("bench-http"))];
    report(&dir, &out, &env, &[]);
    assert!(out.join("bench-http-http.png").is_file());

    // bench-echo's results as KVM would have left them.
    let echo = dir.join("echo-kvm");
    fs::create_dir_all(&echo).unwrap();
    for e in fs::read_dir(docs("bench-echo")).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, echo.join(p.file_name().unwrap())).unwrap();
    }
    for f in ["env.txt", "summary.md"] {
        let t = fs::read_to_string(echo.join(f)).unwrap();
        let t = t.replace("accel tcg", "accel kvm").replace("QEMU tcg", "QEMU kvm");
        let t = t.replace("QEMU TCG CPU version 2.5+", "Intel Xeon");
        fs::write(echo.join(f), t).unwrap();
    }
    let env = [("REPORT_RUN_MISSING", "0".into()), ("REPORT_ECHO_DIR", echo)];
    let r = report(&dir, &out, &env, &[]);
    assert!(!r.md.contains(TCG) && !r.html.contains(TCG), "{}", r.md);
    assert!(!r.md.contains("**tcg**") && r.md.contains("| kvm |") && r.md.contains("under KVM"));
    assert_eq!(images(&r.md).len(), charts(&docs("bench-echo")));
    assert!(!out.join("bench-http-http.png").exists(), "the first report's chart is gone");
    assert_self_contained(&r.html, images(&r.md).len());
    let _ = fs::remove_dir_all(&dir);
}
