//! `many` and `hold`: many connections open at once, driven with poll(2) from one thread
//! so that thousands of sockets need no thousands of threads.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Open `n` connections one after another, all kept open.
fn connect_all(addr: SocketAddr, n: u32, timeout: Duration) -> Result<Vec<TcpStream>, String> {
    let mut v = Vec::with_capacity(n as usize);
    for i in 0..n {
        let s = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| format!("connection {i} of {n} to {addr}: {e} ({i} were open)"))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        v.push(s);
    }
    // Every socket must still be established before any data flows: nothing may be
    // readable yet (that would be an early close or reset by the server).
    let mut fds = pollfds(v.iter().map(|s| (s, libc::POLLIN)));
    if poll(&mut fds, Duration::ZERO)? > 0 {
        let closed = fds.iter().filter(|p| p.revents != 0).count();
        return Err(format!("{closed} of {n} connections closed by the server before any data"));
    }
    for (i, s) in v.iter().enumerate() {
        s.peer_addr().map_err(|e| format!("connection {i} is not connected: {e}"))?;
    }
    Ok(v)
}

fn pollfds<'a>(it: impl Iterator<Item = (&'a TcpStream, i16)>) -> Vec<libc::pollfd> {
    it.map(|(s, events)| libc::pollfd { fd: s.as_raw_fd(), events, revents: 0 }).collect()
}

fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> Result<usize, String> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: fds is a valid, exclusively borrowed pollfd array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(format!("poll: {e}"));
        }
    }
}

/// The message connection `i` sends in round `r`: distinct per connection and round,
/// of varying length, with some non-text bytes.
pub fn message(i: u32, r: u32) -> Vec<u8> {
    let mut m = format!("echo-check conn {i} round {r} ").into_bytes();
    let fill = (i.wrapping_mul(31).wrapping_add(r)) as u8;
    m.extend(std::iter::repeat_n(fill, (i % 61) as usize));
    m.push(0);
    m.push(b'\n');
    m
}

struct Job {
    out: Vec<u8>,
    sent: usize,
    got: usize,
    result: Option<Result<(), String>>,
}

/// Send `msgs[i]` on `streams[i]` and verify its echo, all concurrently. Fails a
/// connection when nothing at all moves for `timeout`.
fn exchange_all(
    streams: &[TcpStream],
    msgs: Vec<Vec<u8>>,
    timeout: Duration,
) -> Vec<Result<(), String>> {
    let mut jobs: Vec<Job> =
        msgs.into_iter().map(|out| Job { out, sent: 0, got: 0, result: None }).collect();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let active: Vec<usize> = (0..jobs.len()).filter(|&i| jobs[i].result.is_none()).collect();
        if active.is_empty() {
            break;
        }
        let mut fds = pollfds(active.iter().map(|&i| {
            let ev = if jobs[i].sent < jobs[i].out.len() { libc::POLLOUT } else { 0 };
            (&streams[i], ev | libc::POLLIN)
        }));
        let ready = match poll(&mut fds, timeout) {
            Ok(n) => n,
            Err(e) => {
                for &i in &active {
                    jobs[i].result = Some(Err(e.clone()));
                }
                break;
            }
        };
        if ready == 0 {
            for &i in &active {
                let j = &mut jobs[i];
                j.result = Some(Err(format!(
                    "timeout: nothing moved for {}s (sent {} of {}, echoed {})",
                    timeout.as_secs(),
                    j.sent,
                    j.out.len(),
                    j.got
                )));
            }
            break;
        }
        for (pfd, &i) in fds.iter().zip(&active) {
            if pfd.revents != 0 {
                step(&streams[i], &mut jobs[i], pfd.revents, &mut buf);
            }
        }
    }
    jobs.into_iter().map(|j| j.result.unwrap_or(Ok(()))).collect()
}

fn step(mut s: &TcpStream, j: &mut Job, revents: i16, buf: &mut [u8]) {
    if revents & libc::POLLOUT != 0 && j.sent < j.out.len() {
        match s.write(&j.out[j.sent..]) {
            Ok(n) => j.sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => {
                j.result = Some(Err(format!("send: {e}")));
                return;
            }
        }
    }
    if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
        return;
    }
    match s.read(buf) {
        Ok(0) => {
            j.result = Some(Err(format!(
                "closed by server after {} of {} echo bytes",
                j.got,
                j.out.len()
            )))
        }
        Ok(n) => {
            let want = &j.out[j.got..];
            if n > want.len() || buf[..n] != want[..n] {
                let off = (0..n).find(|&k| want.get(k) != Some(&buf[k])).unwrap_or(0);
                j.result = Some(Err(format!("echo mismatch at byte {}", j.got + off)));
                return;
            }
            j.got += n;
            if j.got == j.out.len() {
                j.result = Some(Ok(()));
            }
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
        Err(e) => j.result = Some(Err(format!("receive: {e}"))),
    }
}

/// Summarise per-connection results of one round; Err names the first few failures.
fn check_round(results: &[Result<(), String>], round: u32) -> Result<(), String> {
    let failed: Vec<String> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| format!("conn {i}: {e}")))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let shown = failed.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    let more = if failed.len() > 3 { "; ..." } else { "" };
    Err(format!(
        "{} of {} connections failed in round {round}: {shown}{more}",
        failed.len(),
        results.len()
    ))
}

pub fn many(addr: SocketAddr, n: u32, rounds: u32, timeout: Duration) -> Result<String, String> {
    let start = Instant::now();
    let streams = connect_all(addr, n, timeout)?;
    for r in 0..rounds {
        let msgs = (0..n).map(|i| message(i, r)).collect();
        check_round(&exchange_all(&streams, msgs, timeout), r)?;
    }
    Ok(format!(
        "{n} connections open at once, {rounds} round(s), every echo verified in {} ms",
        start.elapsed().as_millis()
    ))
}

pub fn hold(
    addr: SocketAddr,
    n: u32,
    ready_file: &Path,
    timeout: Duration,
    op_timeout: Duration,
) -> Result<String, String> {
    let streams = connect_all(addr, n, op_timeout)?;
    let msgs = (0..n).map(|i| message(i, 0)).collect();
    check_round(&exchange_all(&streams, msgs, op_timeout), 0)?;

    // Write-then-rename so a script polling for the file never sees it half written.
    let tmp = ready_file.with_extension("tmp-echo-check");
    fs::write(&tmp, format!("{n}\n"))
        .and_then(|_| fs::rename(&tmp, ready_file))
        .map_err(|e| format!("cannot write ready file {}: {e}", ready_file.display()))?;
    eprintln!("hold: {n} connections open and verified, waiting for the server to close them");

    let deadline = Instant::now() + timeout;
    let mut open: Vec<usize> = (0..streams.len()).collect();
    let mut unexpected_data = 0usize;
    let mut buf = [0u8; 4096];
    while !open.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut fds = pollfds(open.iter().map(|&i| (&streams[i], libc::POLLIN)));
        if poll(&mut fds, left)? == 0 {
            break;
        }
        let mut still = Vec::with_capacity(open.len());
        for (pfd, &i) in fds.iter().zip(&open) {
            if pfd.revents == 0 {
                still.push(i);
                continue;
            }
            match (&streams[i]).read(&mut buf) {
                Ok(0) => {}
                Err(e) if !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Ok(_) => {
                    unexpected_data += 1;
                    still.push(i);
                }
                Err(_) => still.push(i),
            }
        }
        open = still;
    }
    let closed = n as usize - open.len();
    let note = if unexpected_data > 0 {
        format!(" ({unexpected_data} unexpected reads of data)")
    } else {
        String::new()
    };
    if open.is_empty() {
        Ok(format!("server closed {closed} of {n} connections{note}"))
    } else {
        Err(format!(
            "server closed {closed} of {n} connections within {}s{note}",
            timeout.as_secs()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::message;
    use std::collections::HashSet;

    #[test]
    fn messages_are_distinct() {
        let mut seen = HashSet::new();
        for i in 0..2000 {
            for r in 0..3 {
                assert!(seen.insert(message(i, r)), "duplicate message for conn {i} round {r}");
            }
        }
    }
}
