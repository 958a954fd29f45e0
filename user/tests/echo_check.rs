//! echo-check against user-echo-server and against broken servers.

mod echo_common;

use echo_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn payload_one_mib_is_echoed() {
    let srv = Server::start(&[]);
    let o = run(CHECK, &["payload", "--addr", &srv.addr(), "--size", "1048576", "--seed", "9"]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(stdout(&o).starts_with("payload: OK: 1048576 bytes"), "{}", describe(&o));
}

#[test]
fn payload_reports_first_corrupted_offset() {
    // Echoes faithfully except byte 300000, which it flips.
    let addr = fake_server(|mut s| {
        let mut off = 0usize;
        let mut buf = [0u8; 8192];
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if (off..off + n).contains(&300_000) {
                buf[300_000 - off] ^= 0x5a;
            }
            off += n;
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    let o = run(CHECK, &["payload", "--addr", &addr, "--size", "1048576"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.starts_with("payload: FAIL: mismatch at offset 300000 "), "{}", describe(&o));
}

#[test]
fn payload_reports_early_close() {
    let addr = fake_server(|mut s| {
        let mut b = vec![0u8; 1000];
        if s.read_exact(&mut b).is_ok() {
            let _ = s.write_all(&b);
        }
    });
    let o = run(CHECK, &["payload", "--addr", &addr, "--size", "100000"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    // Depending on timing the close shows as EOF or as a reset; both name the byte count.
    assert!(stdout(&o).contains("1000 of 100000"), "{}", describe(&o));
}

#[test]
fn many_keeps_200_connections_open() {
    let srv = Server::start(&[]);
    let o = run(CHECK, &["many", "--addr", &srv.addr(), "--conns", "200", "--rounds", "3"]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(
        stdout(&o).starts_with("many: OK: 200 connections open at once, 3 round(s)"),
        "{}",
        describe(&o)
    );
}

#[test]
fn many_fails_on_closed_port_and_on_closing_server() {
    let dead = format!("127.0.0.1:{}", closed_port());
    let o = run(CHECK, &["many", "--addr", &dead, "--conns", "3"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(stdout(&o).starts_with("many: FAIL: connection 0 of 3"), "{}", describe(&o));

    // Accepts, then closes without echoing.
    let addr = fake_server(drop);
    let o = run(CHECK, &["many", "--addr", &addr, "--conns", "10", "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(stdout(&o).starts_with("many: FAIL: "), "{}", describe(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
}

#[test]
fn hold_sees_every_connection_closed_when_server_stops() {
    let mut srv = Server::start(&[]);
    let dir = scratch_dir("hold");
    let ready = dir.join("ready");
    let mut hold = Command::new(CHECK)
        .args(["hold", "--addr", &srv.addr(), "--conns", "100", "--timeout", "120"])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) for the ready file, as the guest script does.
    let start = Instant::now();
    while !ready.exists() {
        assert!(hold.try_wait().unwrap().is_none(), "hold exited before getting ready");
        assert!(start.elapsed() < Duration::from_secs(60), "ready file never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "100\n");
    srv.signal(libc::SIGTERM);
    assert!(srv.wait_exit().success());
    let st = wait_child(&mut hold, Duration::from_secs(120));
    let mut out = String::new();
    hold.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(st.success(), "hold failed: {out}");
    assert_eq!(out.trim(), "hold: OK: server closed 100 of 100 connections");
}

#[test]
fn hold_fails_when_server_keeps_connections_open() {
    let srv = Server::start(&[]);
    let dir = scratch_dir("hold-open");
    let ready = dir.join("ready");
    let o = run(
        CHECK,
        &["hold", "--addr", &srv.addr(), "--conns", "5", "--timeout", "1",
          "--ready-file", ready.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    assert!(ready.exists());
    assert!(
        stdout(&o).starts_with("hold: FAIL: server closed 0 of 5 connections"),
        "{}",
        describe(&o)
    );
    // The server is unaffected by the client going away.
    assert_eq!(echo_once(&srv.addr(), b"after hold"), b"after hold");
    drop(TcpStream::connect(srv.addr()).unwrap());
}

#[test]
fn bad_usage_exits_2() {
    let o = run(CHECK, &["payload", "--addr", "127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    let o = run(CHECK, &["--help"]);
    assert!(o.status.success());
    for sub in ["payload", "many", "hold"] {
        assert!(stdout(&o).contains(sub));
    }
}
