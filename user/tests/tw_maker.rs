//! tw-maker (the guest tests' socket maker) on the host's loopback: the sockets it
//! reports are really in the states it claims, its tuples parse as the module reads
//! them, and `write` reports errno names. The module itself is tested in the guest.

use drop_tcp_socket::tuple::{tuples, validate};
use std::fs;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

fn tw_maker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tw-maker"))
}

/// The rest of each `TAG ...` line of the output.
fn lines<'a>(out: &'a str, tag: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')))
        .collect()
}

#[test]
fn make_reports_sockets_in_their_states() {
    let dir = tempdir();
    let (ready, go) = (dir.join("ready"), dir.join("go"));
    let child = tw_maker()
        .args(["make", "--time-wait", "4", "--established", "2", "--half-closed", "1"])
        .arg("--ready")
        .arg(&ready)
        .arg("--go")
        .arg(&go)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tw-maker");
    for _ in 0..600 {
        if ready.exists() {
            break;
        }
        sleep(Duration::from_millis(50));
    }
    assert!(ready.exists(), "tw-maker never became ready");
    fs::write(&go, b"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let out = String::from_utf8(out.stdout).unwrap();

    let tw = lines(&out, "tw");
    assert_eq!(tw.len(), 4, "{out}");
    let distinct: std::collections::HashSet<_> = tw.iter().collect();
    assert_eq!(distinct.len(), 4, "a TIME_WAIT tuple reported twice: {out}");
    // Every reported tuple is a valid write for the module, all of them together too.
    let all: String = ["tw", "est", "est-srv", "fw2", "cw"]
        .iter()
        .flat_map(|t| lines(&out, t))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(validate(all.as_bytes()), Ok(4 + 2 + 2 + 1 + 1));
    // The TIME_WAIT tuples are distinct client ports towards the one listener.
    let listen = lines(&out, "listen");
    assert_eq!(listen.len(), 1);
    for t in tuples(all.as_bytes()).take(4) {
        assert_eq!(t.unwrap().remote.to_string(), listen[0]);
    }
    assert_eq!(lines(&out, "check est").iter().filter(|l| l.ends_with(" ok")).count(), 2, "{out}");
    assert_eq!(lines(&out, "check cw").iter().filter(|l| l.ends_with(" ok")).count(), 1, "{out}");
    assert!(out.lines().any(|l| l == "check listener ok"), "{out}");
}

#[test]
fn make_ipv6_when_available() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let out = tw_maker().args(["make", "--addr", "::1", "--time-wait", "2"]).output().unwrap();
    assert!(out.status.success());
    let out = String::from_utf8(out.stdout).unwrap();
    let tw = lines(&out, "tw");
    assert_eq!(tw.len(), 2);
    assert!(tw.iter().all(|l| l.starts_with("[::1]:")), "{out}");
}

#[test]
fn write_reports_errno_names() {
    let dir = tempdir();
    let f = dir.join("f");
    let run = |args: &[&str]| {
        let o = tw_maker().arg("write").arg("--path").arg(&f).args(args).output().unwrap();
        (o.status.code(), String::from_utf8(o.stdout).unwrap())
    };
    assert_eq!(run(&["--data", "x"]), (Some(1), "open error ENOENT\n".into()));
    fs::write(&f, b"").unwrap();
    assert_eq!(run(&["--data", "hello"]), (Some(0), "write ok 5\n".into()));
    assert_eq!(fs::read(&f).unwrap(), b"hello");
    assert_eq!(run(&["--bad-pointer", "10"]), (Some(1), "write error EFAULT\n".into()));
    let src = dir.join("src");
    fs::write(&src, vec![b'a'; 70_000]).unwrap();
    let (code, out) = run(&["--file", src.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (Some(0), "write ok 70000\n"));
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tw-maker-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}
