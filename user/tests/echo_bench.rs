//! bench against user-echo-server and against broken servers.

mod echo_common;

use echo_common::*;
use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;

const TITLE: &str = "kecho concurrent performance";

/// plotters writes each SVG text node on its own line between the tags.
fn svg_has_text(svg: &str, text: &str) -> bool {
    svg.lines().any(|l| l.trim() == text)
}

fn assert_png(path: &std::path::Path) {
    let png = fs::read(path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    // Width and height live in the IHDR chunk right after the signature.
    assert_eq!(&png[12..16], b"IHDR");
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(w >= 640 && h >= 480, "tiny image {w}x{h}");
    assert!(png.len() > 10_000, "PNG suspiciously small: {} bytes", png.len());
}

#[test]
fn bench_counts_samples_and_writes_all_outputs() {
    let srv = Server::start(&[]);
    let dir = scratch_dir("bench-ok");
    let (csv, png, svg, txt) =
        (dir.join("s.csv"), dir.join("s.png"), dir.join("s.svg"), dir.join("s.txt"));
    let target = format!("user={}", srv.addr());
    let o = run(
        BENCH,
        &[
            "--target", &target, "-n", "50", "-r", "3",
            "--csv", csv.to_str().unwrap(), "--plot", png.to_str().unwrap(),
            "--svg", svg.to_str().unwrap(), "--txt", txt.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.contains("connections 50, rounds 3, ok 150, errors 0"), "{}", describe(&o));
    assert!(out.contains("latency us: min "), "{out}");
    assert!(out.contains(", mean "), "no mean in {out}");

    let text = fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("target,round,conn,us"));
    let mut seen = BTreeSet::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 4, "bad row {l:?}");
        assert_eq!(f[0], "user");
        let round: u32 = f[1].parse().unwrap();
        let conn: u32 = f[2].parse().unwrap();
        let _us: u64 = f[3].parse().unwrap();
        assert!(round < 3 && conn < 50, "row out of range: {l}");
        assert!(seen.insert((round, conn)), "duplicate row {l}");
    }
    assert_eq!(seen.len(), 150);

    let t = fs::read_to_string(&txt).unwrap();
    let idx: Vec<u32> = t
        .lines()
        .map(|l| {
            let (i, avg) = l.split_once(' ').expect("`i avg_us` line");
            avg.parse::<u64>().expect("integer average");
            i.parse().unwrap()
        })
        .collect();
    assert_eq!(idx, (0..50).collect::<Vec<_>>());

    assert_png(&png);
    let s = fs::read_to_string(&svg).unwrap();
    assert!(s.starts_with("<svg"), "not an SVG");
    for needle in [TITLE, "connection no.", "time (us)", "user"] {
        assert!(svg_has_text(&s, needle), "SVG lacks text {needle:?}");
    }
}

#[test]
fn two_targets_share_one_chart_and_plot_from_redraws_it() {
    let srv = Server::start(&["--threads", "2"]);
    let dir = scratch_dir("bench-two");
    let csv = dir.join("two.csv");
    let a = format!("alpha={}", srv.addr());
    let b = format!("beta=localhost:{}", srv.port);
    let csv_arg = csv.to_str().unwrap();
    let o = run(BENCH, &["-t", &a, "-t", &b, "-n", "20", "-r", "2", "--csv", csv_arg]);
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(stdout(&o).matches("ok 40, errors 0").count(), 2, "{}", describe(&o));
    let rows = fs::read_to_string(&csv).unwrap();
    assert_eq!(rows.lines().filter(|l| l.starts_with("alpha,")).count(), 40);
    assert_eq!(rows.lines().filter(|l| l.starts_with("beta,")).count(), 40);

    let (png, svg, txt) = (dir.join("re.png"), dir.join("re.svg"), dir.join("re.txt"));
    let o = run(
        BENCH,
        &[
            "--plot-from", csv.to_str().unwrap(), "--title", "guest run 42",
            "--plot", png.to_str().unwrap(), "--svg", svg.to_str().unwrap(),
            "--txt", txt.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("target alpha: samples 40"), "{}", describe(&o));
    assert_png(&png);
    let s = fs::read_to_string(&svg).unwrap();
    for needle in ["guest run 42", "alpha", "beta"] {
        assert!(svg_has_text(&s, needle), "SVG lacks text {needle:?}");
    }
    assert!(!svg_has_text(&s, TITLE));
    // The txt file follows the first target only: one line per connection.
    assert_eq!(fs::read_to_string(&txt).unwrap().lines().count(), 20);

    let bad = run(BENCH, &["--plot-from", csv.to_str().unwrap()]);
    assert!(!bad.status.success(), "plot-from without outputs must fail");
}

/// More simultaneous connections than the server's listen backlog (128): the kernel's
/// accept queue overflows (SYN cookies on loopback), yet every connection must still
/// get its own echo and be counted exactly once.
#[test]
fn more_connections_than_the_backlog_all_echo() {
    let srv = Server::start(&["--threads", "2"]);
    let dir = scratch_dir("bench-backlog");
    let csv = dir.join("b.csv");
    let target = format!("user={}", srv.addr());
    let o = run(BENCH, &["-t", &target, "-n", "300", "-r", "2", "--csv", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("connections 300, rounds 2, ok 600, errors 0"), "{}", describe(&o));
    let rows = fs::read_to_string(&csv).unwrap();
    let pairs: BTreeSet<(u32, u32)> = rows
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(pairs.len(), 600, "every (round, connection) exactly once");
    assert_eq!(rows.lines().count(), 601);
}

/// bench -n 1 gives one point per target, which a line alone would not show: the chart
/// must mark it.
#[test]
fn single_connection_chart_marks_each_target() {
    let srv = Server::start(&[]);
    let dir = scratch_dir("bench-one");
    let svg = dir.join("one.svg");
    let (a, b) = (format!("a={}", srv.addr()), format!("b={}", srv.addr()));
    let o = run(BENCH, &["-t", &a, "-t", &b, "-n", "1", "-r", "3", "--svg", svg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", describe(&o));
    assert_eq!(stdout(&o).matches("ok 3, errors 0").count(), 2, "{}", describe(&o));
    let s = fs::read_to_string(&svg).unwrap();
    assert_eq!(s.matches("<circle").count(), 2, "one marker per target");
}

#[test]
fn closed_port_counts_connect_errors_and_fails() {
    let target = format!("dead=127.0.0.1:{}", closed_port());
    let o = run(BENCH, &["--target", &target, "-n", "10", "-r", "2"]);
    assert!(!o.status.success(), "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.contains("ok 0, errors 20"), "{}", describe(&o));
    assert!(out.contains("error connect refused: 20"), "{}", describe(&o));
    assert!(out.contains("no successful samples"), "{out}");

    let o = run(BENCH, &["--target", &target, "-n", "10", "-r", "1", "--allow-errors"]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("error connect refused: 10"));
}

fn read_msg(s: &mut TcpStream) -> Vec<u8> {
    // bench's default message is 13 bytes ("dummy message").
    let mut b = vec![0u8; 13];
    s.read_exact(&mut b).unwrap_or_default();
    b
}

#[test]
fn wrong_echo_is_counted_as_mismatch() {
    let addr = fake_server(|mut s| {
        let b = read_msg(&mut s);
        let _ = s.write_all(&b.to_ascii_uppercase());
    });
    let o = run(BENCH, &["--target", &format!("upper={addr}"), "-n", "8", "-r", "2"]);
    assert!(!o.status.success(), "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.contains("ok 0, errors 16"), "{}", describe(&o));
    assert!(out.contains("error mismatching echo: 16"), "{}", describe(&o));
}

#[test]
fn truncated_echo_is_counted_as_short() {
    let addr = fake_server(|mut s| {
        let b = read_msg(&mut s);
        let _ = s.write_all(&b[..5]);
    });
    let o = run(BENCH, &["--target", &format!("short={addr}"), "-n", "6", "-r", "1"]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("error short echo: 6"), "{}", describe(&o));
}

#[test]
fn custom_message_is_echoed() {
    let srv = Server::start(&[]);
    let o = run(
        BENCH,
        &["--target", &srv.addr(), "-n", "5", "-r", "1", "--message", "a longer message \u{e9}"],
    );
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("ok 5, errors 0"));
}

#[test]
fn silent_server_is_counted_as_timeout() {
    // Accepts and reads, never answers; the connection ends when bench gives up.
    let addr = fake_server(|mut s| {
        let mut b = [0u8; 64];
        while matches!(s.read(&mut b), Ok(n) if n > 0) {}
    });
    let o = run(BENCH, &["--target", &addr, "-n", "4", "-r", "1", "--timeout", "0.5"]);
    assert!(!o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).contains("error timeout: 4"), "{}", describe(&o));
}
