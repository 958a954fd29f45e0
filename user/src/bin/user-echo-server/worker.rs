//! One edge-triggered epoll loop: accepts on its listener and echoes on its connections.

use crate::socket::{cvt, from_sockaddr, Fd};
use std::collections::HashMap;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;

const LISTEN_TOKEN: u64 = u64::MAX;
const STOP_TOKEN: u64 = u64::MAX - 1;
const READ_BUF: usize = 64 * 1024;
/// Retry period for accept after running out of descriptors (no new edge would come).
const ACCEPT_RETRY_MS: i32 = 100;

struct Conn {
    fd: Fd,
    peer: Option<SocketAddr>,
    /// Echo bytes the socket did not take yet; while non-empty we stop reading, so at
    /// most one read buffer is held per connection.
    pending: Vec<u8>,
    sent: usize,
    eof: bool,
}

enum Next {
    Keep,
    Close(&'static str),
}

struct Epoll(Fd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall.
        cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).map(|fd| Epoll(Fd::from_raw(fd)))
    }

    fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is a valid epoll_event.
        cvt(unsafe { libc::epoll_ctl(self.0.raw(), libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(|_| ())
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

pub fn run(listener: Fd, stop_fd: RawFd, verbose: bool) -> Result<(), String> {
    let ep = Epoll::new().map_err(|e| format!("epoll_create1: {e}"))?;
    ep.add(listener.raw(), (libc::EPOLLIN | libc::EPOLLET) as u32, LISTEN_TOKEN)
        .map_err(|e| format!("epoll_ctl listener: {e}"))?;
    // Level-triggered and never read: stays ready, so every loop sees the stop request.
    ep.add(stop_fd, libc::EPOLLIN as u32, STOP_TOKEN)
        .map_err(|e| format!("epoll_ctl eventfd: {e}"))?;

    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let mut buf = vec![0u8; READ_BUF];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut accept_stalled = false;
    let mut warned_nofile = false;

    'outer: loop {
        let timeout = if accept_stalled { ACCEPT_RETRY_MS } else { -1 };
        // SAFETY: events has room for events.len() entries.
        let n = unsafe {
            libc::epoll_wait(ep.0.raw(), events.as_mut_ptr(), events.len() as i32, timeout)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("epoll_wait: {e}"));
        }
        if accept_stalled {
            accept_stalled = accept_all(&listener, &ep, &mut conns, verbose, &mut warned_nofile);
        }
        for ev in &events[..n as usize] {
            let (token, flags) = (ev.u64, ev.events);
            match token {
                STOP_TOKEN => break 'outer,
                LISTEN_TOKEN => {
                    accept_stalled =
                        accept_all(&listener, &ep, &mut conns, verbose, &mut warned_nofile);
                }
                _ => {
                    let fd = token as RawFd;
                    let Some(conn) = conns.get_mut(&fd) else { continue };
                    if let Next::Close(why) = serve(conn, flags, &mut buf) {
                        if verbose {
                            eprintln!("close {}: {why}", peer_str(conn.peer));
                        }
                        // Dropping closes the fd, which also removes it from the epoll set.
                        conns.remove(&fd);
                    }
                }
            }
        }
    }
    if verbose {
        eprintln!("stopping: closing {} connection(s)", conns.len());
    }
    drop(conns);
    drop(listener);
    Ok(())
}

fn peer_str(p: Option<SocketAddr>) -> String {
    p.map_or_else(|| "?".to_string(), |a| a.to_string())
}

/// Accept until the queue is empty. Returns true if accepting had to stop for lack of
/// descriptors or memory, so the caller retries on a timer.
fn accept_all(
    listener: &Fd,
    ep: &Epoll,
    conns: &mut HashMap<RawFd, Conn>,
    verbose: bool,
    warned: &mut bool,
) -> bool {
    loop {
        // SAFETY: accept4 writes at most len bytes into ss.
        let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let r = unsafe {
            libc::accept4(
                listener.raw(),
                &mut ss as *mut _ as *mut libc::sockaddr,
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return false,
                Some(libc::EINTR) | Some(libc::ECONNABORTED) | Some(libc::EPROTO) => continue,
                _ => {
                    // EMFILE/ENFILE/ENOBUFS/ENOMEM: keep serving, retry later.
                    if !*warned {
                        eprintln!("user-echo-server: accept: {e} (will retry)");
                        *warned = true;
                    }
                    return true;
                }
            }
        }
        let fd = Fd::from_raw(r);
        let peer = from_sockaddr(&ss);
        let ev = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if let Err(e) = ep.add(fd.raw(), ev, fd.raw() as u64) {
            eprintln!("user-echo-server: epoll_ctl add: {e}");
            continue;
        }
        if verbose {
            eprintln!("accept {}", peer_str(peer));
        }
        conns.insert(fd.raw(), Conn { fd, peer, pending: Vec::new(), sent: 0, eof: false });
    }
}

/// Drive one connection as far as it goes without blocking (edge-triggered: we must
/// consume until EAGAIN or we would miss data).
fn serve(c: &mut Conn, flags: u32, buf: &mut [u8]) -> Next {
    if flags & libc::EPOLLERR as u32 != 0 {
        return Next::Close("socket error");
    }
    loop {
        while c.sent < c.pending.len() {
            match send(c.fd.raw(), &c.pending[c.sent..]) {
                Ok(n) => c.sent += n,
                Err(e) if would_block(&e) => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close("send failed"),
            }
        }
        c.pending.clear();
        c.sent = 0;
        if c.eof {
            return Next::Close("peer closed");
        }
        match recv(c.fd.raw(), buf) {
            Ok(0) => c.eof = true,
            Ok(n) => {
                // Try the fast path first; buffer only what the socket refuses.
                let mut off = 0;
                while off < n {
                    match send(c.fd.raw(), &buf[off..n]) {
                        Ok(m) => off += m,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if would_block(&e) => break,
                        Err(_) => return Next::Close("send failed"),
                    }
                }
                c.pending.extend_from_slice(&buf[off..n]);
            }
            Err(e) if would_block(&e) => return Next::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Next::Close("recv failed"),
        }
    }
}

fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // MSG_NOSIGNAL: a vanished peer gives EPIPE instead of killing us with SIGPIPE.
    // SAFETY: data is a valid slice.
    let n = unsafe {
        libc::send(fd, data.as_ptr() as *const libc::c_void, data.len(), libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid mutable slice.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
