//! droptw against real TIME_WAIT sockets on the host's loopback. The proc
//! file is replaced by regular files (the module is tested in the guest).

use drop_tcp_socket::tuple::{parse_sockaddr, tuples, validate, Tuple};
use std::collections::BTreeSet;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::Duration;

fn droptw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_droptw"))
        .args(args)
        .output()
        .expect("run droptw")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The text droptw prints for an address: IPv6 bracketed, no zone.
fn text(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// A listener plus `n` client sockets left in TIME_WAIT: the client closes
/// first, the server closes after seeing EOF, so the client side ends in
/// TIME_WAIT. Returns the listener (kept open so its port stays ours) and
/// the clients' `(local, remote)` texts. None if `bind` is unavailable.
fn time_wait(bind: &str, n: usize) -> Option<(TcpListener, BTreeSet<(String, String)>)> {
    let l = TcpListener::bind(bind).ok()?;
    let addr = l.local_addr().unwrap();
    let mut pairs = BTreeSet::new();
    for _ in 0..n {
        let c = TcpStream::connect(addr).unwrap();
        let (mut s, _) = l.accept().unwrap();
        pairs.insert((text(c.local_addr().unwrap()), text(c.peer_addr().unwrap())));
        drop(c);
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).unwrap(), 0, "expected EOF from the client");
        drop(s);
    }
    Some((l, pairs))
}

/// Parses `LOCAL REMOTE STATE` lines.
fn listed(out: &str) -> BTreeSet<(String, String)> {
    out.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 3, "line {line:?}");
            assert_eq!(f[2], "TIME-WAIT", "line {line:?}");
            // The first two columns are the module's tuple format.
            assert!(parse_sockaddr(f[0].as_bytes()).is_ok(), "{line:?}");
            assert_eq!(validate(format!("{} {}", f[0], f[1]).as_bytes()), Ok(1));
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

/// Runs `droptw --list ARGS` until every expected pair is listed: the last
/// FIN is processed asynchronously, so the sockets may still be in
/// FIN_WAIT_2 for a moment (once more than 3 s, on a host loaded by a TCG guest
/// and a build). Bounded (20 s); returns the last listing.
fn list_until(args: &[&str], want: &BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    let mut all = vec!["--list"];
    all.extend_from_slice(args);
    let mut got = BTreeSet::new();
    for _ in 0..2000 {
        let o = droptw(&all);
        assert!(o.status.success(), "{}", stderr(&o));
        got = listed(&stdout(&o));
        if want.is_subset(&got) {
            break;
        }
        sleep(Duration::from_millis(10));
    }
    got
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("droptw-{}-{name}", std::process::id()));
    std::fs::write(&p, b"").unwrap();
    p
}

fn file_tuples(content: &[u8]) -> BTreeSet<(String, String)> {
    tuples(content)
        .map(|t| {
            let t: Tuple = t.expect("droptw wrote a malformed tuple");
            (t.local.to_string(), t.remote.to_string())
        })
        .collect()
}

#[test]
fn lists_ipv4_time_wait_with_filters() {
    let (l, want) = time_wait("127.0.0.1:0", 5).unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    // Only our clients connect to this listener's port.
    let got = list_until(&["--dport", &port], &want);
    assert_eq!(got, want);

    let same = |args: &[&str]| {
        let o = droptw(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        listed(&stdout(&o))
    };
    assert_eq!(same(&["--list", "--remote-port", &port]), want);
    assert_eq!(same(&["-l", "-4", "--dport", &port]), want);
    assert_eq!(
        same(&["-l", "--dport", &port, "--src", "127.0.0.1", "--dst", "127.0.0.0/8"]),
        want
    );
    assert_eq!(same(&["-l", "--dport", &port, "--remote-addr", "::ffff:127.0.0.1"]), want);
    assert_eq!(same(&["-l", "--dport", &port, "--state", "fin-wait-2,time-wait"]), want);

    // One client by its local port.
    let (local, remote) = want.iter().next().unwrap();
    let sport = local.rsplit(':').next().unwrap();
    let one = same(&["-l", "--local-port", sport, "--dport", &port]);
    assert_eq!(one, BTreeSet::from([(local.clone(), remote.clone())]));

    // Filters that exclude them all.
    assert!(same(&["-l", "-6", "--dport", &port]).is_empty());
    assert!(same(&["-l", "--dport", &port, "--dst", "10.0.0.0/8"]).is_empty());
    assert!(same(&["-l", "--dport", &port, "--local-addr", "127.0.0.2"]).is_empty());
    let o = droptw(&["-l", "--dport", &port, "--state", "established"]);
    assert!(o.status.success());
    assert!(stdout(&o).is_empty());
}

#[test]
fn lists_ipv6_time_wait() {
    let Some((l, want)) = time_wait("[::1]:0", 4) else {
        eprintln!("no IPv6 loopback; skipped");
        return;
    };
    let port = l.local_addr().unwrap().port().to_string();
    assert_eq!(list_until(&["-6", "--dport", &port], &want), want);
    assert!(want.iter().all(|(a, b)| a.starts_with("[::1]:") && b.starts_with("[::1]:")));
    let o = droptw(&["--list", "-4", "--dport", &port]);
    assert!(stdout(&o).is_empty());
    let o = droptw(&["--list", "--dport", &port, "--src", "[::1]"]);
    assert_eq!(listed(&stdout(&o)), want);
}

#[test]
fn dry_run_prints_and_writes_nothing() {
    let (l, want) = time_wait("127.0.0.1:0", 3).unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    list_until(&["--dport", &port], &want);
    let file = scratch("dry");
    let o = droptw(&["--dry-run", "--dport", &port, "--proc", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(listed(&stdout(&o)), want);
    assert!(stderr(&o).contains("would drop 3 sockets"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&file).unwrap(), b"");
    std::fs::remove_file(&file).unwrap();
    // The proc file is not needed at all.
    let o = droptw(&["-n", "--dport", &port, "--proc", "/nonexistent/drop_tcp_sock"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(listed(&stdout(&o)), want);
}

#[test]
fn writes_parseable_tuples_to_proc_file() {
    let (l, want) = time_wait("127.0.0.1:0", 6).unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    list_until(&["--dport", &port], &want);
    let file = scratch("write");
    let o = droptw(&["--dport", &port, "--proc", file.to_str().unwrap()]);
    // A regular file drops nothing: all still present, exit status 3.
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "dropped 0 of 6 (6 still present)\n");
    let content = std::fs::read(&file).unwrap();
    assert_eq!(validate(&content), Ok(6));
    assert_eq!(file_tuples(&content), want);
    assert!(content.ends_with(b"\n"));
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn writes_in_batches_of_whole_lines() {
    let (l, want) = time_wait("127.0.0.1:0", 12).unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    list_until(&["--dport", &port], &want);
    let file = scratch("batches");
    let o = droptw(&[
        "-v",
        "--max-write",
        "200",
        "--dport",
        &port,
        "--proc",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let content = std::fs::read(&file).unwrap();
    assert_eq!(file_tuples(&content), want);
    // "write i/n: B bytes, T tuples" per write(2).
    let writes: Vec<(usize, usize)> = stderr(&o)
        .lines()
        .filter_map(|l| l.strip_prefix("write "))
        .map(|l| {
            let (_, rest) = l.split_once(": ").unwrap();
            let mut w = rest.split_whitespace();
            let bytes = w.next().unwrap().parse().unwrap();
            let n = w.nth(1).unwrap().parse().unwrap();
            (bytes, n)
        })
        .collect();
    assert!(writes.len() > 1, "{}", stderr(&o));
    assert!(writes.iter().all(|&(b, _)| b <= 200));
    assert_eq!(writes.iter().map(|w| w.0).sum::<usize>(), content.len());
    assert_eq!(writes.iter().map(|w| w.1).sum::<usize>(), 12);
    // -v also lists the sockets on stdout before the summary.
    let out = stdout(&o);
    let (lines, summary) = out.trim_end().rsplit_once('\n').unwrap();
    assert_eq!(listed(lines), want);
    assert_eq!(summary, "dropped 0 of 12 (12 still present)");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn missing_proc_file_means_module_not_loaded() {
    let o = droptw(&["--proc", "/nonexistent/drop_tcp_sock"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("module drop-tcp-socket not loaded (no /nonexistent/drop_tcp_sock)"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn write_errors_are_reported() {
    let (l, want) = time_wait("127.0.0.1:0", 2).unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    list_until(&["--dport", &port], &want);
    let o = droptw(&["--dport", &port, "--proc", "/dev/full"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("write 1/1 to /dev/full"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
}

#[test]
fn usage_errors_and_help() {
    for bad in [
        &["--src", "1.2.3.4/33"][..],
        &["--dst", "not-an-ip"],
        &["--state", "listen"],
        &["--dport", "65536"],
        &["-4", "-6"],
        &["--list", "--dry-run"],
    ] {
        let o = droptw(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    let o = droptw(&["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    for opt in ["--dry-run", "--list", "--sport", "--dport", "--src", "--dst", "--proc", "--state"] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
    assert!(!help.contains("--max-write"));
}
