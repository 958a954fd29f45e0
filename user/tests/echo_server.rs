//! user-echo-server behaviour: binary-safe echo, back-pressure, misbehaving clients,
//! graceful stop on signals.

mod echo_common;

use echo_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

/// close() with SO_LINGER {on, 0} sends RST instead of FIN.
fn reset(s: TcpStream) {
    user::net::reset_on_close(&s).expect("setsockopt SO_LINGER");
    drop(s);
}

#[test]
fn echoes_every_byte_value_and_closes_after_half_close() {
    let srv = Server::start(&[]);
    let msg: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    assert_eq!(echo_once(&srv.addr(), &msg), msg);
    assert_eq!(echo_once(&srv.addr(), b"\0"), b"\0");
}

/// More than every socket buffer between the two ends can hold (tcp_rmem/tcp_wmem maxima).
const DATA_LEN: usize = 64 << 20;

#[test]
fn server_applies_backpressure_and_delivers_every_byte() {
    let srv = Server::start(&[]);
    let s = TcpStream::connect(srv.addr()).unwrap();
    let data: Vec<u8> =
        (0..DATA_LEN as u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();

    // Phase 1: write without reading until our send would block. That can only happen
    // once the server stopped reading, i.e. its own sends hit EAGAIN and it queued the
    // rest for EPOLLOUT instead of buffering without limit.
    s.set_nonblocking(true).unwrap();
    let mut written = 0;
    let mut w = &s;
    while written < data.len() {
        match w.write(&data[written..(written + 64 * 1024).min(data.len())]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    eprintln!("phase 1 wrote {written} bytes");
    assert!(written < data.len(), "server took all {written} bytes without being read");

    // Phase 2: write the rest from a thread while reading everything back.
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w2 = s.try_clone().unwrap();
    let rest = data[written..].to_vec();
    let writer = thread::spawn(move || {
        w2.write_all(&rest).unwrap();
        w2.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::with_capacity(data.len());
    let mut r = &s;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echo differs from the data sent");
}

#[test]
fn resetting_and_vanishing_clients_do_not_stop_the_server() {
    let mut srv = Server::start(&[]);
    // Reset right after sending.
    for _ in 0..20 {
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.write_all(b"bye").unwrap();
        reset(s);
    }
    // Flood without ever reading, then reset: the server's sends fail with EPIPE/ECONNRESET.
    for _ in 0..5 {
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(300))).unwrap();
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..64 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        reset(s);
    }
    // Plain close without reading the echo.
    for _ in 0..20 {
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.write_all(&[1u8; 100_000]).unwrap();
        drop(s);
    }
    assert!(srv.is_running(), "server died after misbehaving clients");
    assert_eq!(echo_once(&srv.addr(), b"still here"), b"still here");
}

#[test]
fn sigterm_closes_connections_and_exits_zero() {
    let mut srv = Server::start(&[]);
    let mut open: Vec<TcpStream> =
        (0..10).map(|_| TcpStream::connect(srv.addr()).unwrap()).collect();
    for s in &mut open {
        s.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");
    }
    srv.signal(libc::SIGTERM);
    let st = srv.wait_exit();
    assert!(st.success(), "exit status {st:?}");
    for s in &mut open {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        // EOF or reset: either way the server closed it.
        assert!(!matches!(s.read(&mut b), Ok(n) if n > 0));
    }
}

#[test]
fn sigint_exits_zero_with_several_threads() {
    let mut srv = Server::start(&["--threads", "3", "--backlog", "64"]);
    for i in 0..30u32 {
        let msg = format!("thread test {i}");
        assert_eq!(echo_once(&srv.addr(), msg.as_bytes()), msg.as_bytes());
    }
    srv.signal(libc::SIGINT);
    let st = srv.wait_exit();
    assert!(st.success(), "exit status {st:?}");
}

#[test]
fn verbose_logs_events_and_quiet_default_does_not() {
    use std::process::{Command, Stdio};
    for (verbose, expect_logs) in [(true, true), (false, false)] {
        let mut cmd = Command::new(SERVER);
        cmd.args(["--port", "0", "--bind", "127.0.0.1"]);
        if verbose {
            cmd.arg("--verbose");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        let addr = line.split_whitespace().nth(3).unwrap().to_string();
        assert_eq!(echo_once(&addr, b"log me"), b"log me");
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let st = wait_child(&mut child, Duration::from_secs(60));
        assert!(st.success());
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(err.contains("accept 127.0.0.1:"), expect_logs, "stderr: {err:?}");
    }
}

#[test]
fn help_lists_options() {
    let o = run(SERVER, &["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for opt in ["--port", "--bind", "--backlog", "--verbose", "--threads"] {
        assert!(text.contains(opt), "help lacks {opt}");
    }
    let bad = run(SERVER, &["--bind", "not-an-ip"]);
    assert!(!bad.status.success());
}
