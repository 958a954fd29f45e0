//! Thin wrappers over the libc calls htstress needs (sockets, epoll, signals, limits).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn strerror(err: i32) -> String {
    io::Error::from_raw_os_error(err).to_string()
}

/// A socket address ready to hand to connect(2), built once per run.
#[derive(Clone)]
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
    pub family: libc::c_int,
}

impl RawAddr {
    pub fn inet(addr: SocketAddr) -> RawAddr {
        let (storage, len) = user::net::to_sockaddr(addr);
        let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        RawAddr { storage, len, family }
    }

    pub fn unix(path: &Path) -> io::Result<RawAddr> {
        // SAFETY: plain data, zero is valid.
        let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        // Leave room for the terminating NUL.
        if bytes.is_empty() || bytes.len() >= sun.sun_path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "unix socket path too long"));
        }
        for (dst, &src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        // SAFETY: plain data, zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_un.
        unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_un, sun) };
        let len = mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
        Ok(RawAddr { storage, len: len as libc::socklen_t, family: libc::AF_UNIX })
    }
}

pub enum Connect {
    Done,
    InProgress,
}

/// A non-blocking stream socket of the address's family.
pub fn socket(addr: &RawAddr) -> Result<RawFd, i32> {
    // SAFETY: plain syscall.
    let fd = unsafe {
        libc::socket(addr.family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

pub fn connect(fd: RawFd, addr: &RawAddr) -> Result<Connect, i32> {
    // SAFETY: storage holds a valid sockaddr of length len.
    let r = unsafe { libc::connect(fd, &addr.storage as *const _ as *const libc::sockaddr, addr.len) };
    if r == 0 {
        return Ok(Connect::Done);
    }
    match errno() {
        libc::EINPROGRESS => Ok(Connect::InProgress),
        e => Err(e),
    }
}

pub fn set_nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: valid pointer and length; failure only costs latency, so it is ignored.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

pub fn send(fd: RawFd, data: &[u8]) -> Result<usize, i32> {
    // MSG_NOSIGNAL: a peer that went away must give EPIPE, not kill us.
    // SAFETY: data is a valid buffer.
    let n = unsafe { libc::send(fd, data.as_ptr() as *const libc::c_void, data.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

pub fn recv(fd: RawFd, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: buf is a valid writable buffer.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

pub fn close(fd: RawFd) {
    // SAFETY: the caller owns fd and forgets it afterwards.
    unsafe { libc::close(fd) };
}

pub struct Epoll(pub RawFd);

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(Epoll(fd))
        }
    }

    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> Result<(), i32> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is a valid epoll_event.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    /// Waits for events; `None` timeout blocks. EINTR reads as no events.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout: Option<Duration>) -> usize {
        let ms = match timeout {
            None => -1,
            // Round up so a deadline is not polled for in a busy loop.
            Some(d) => d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
        };
        // SAFETY: events is a valid buffer of that many entries.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, ms) };
        if n < 0 {
            0
        } else {
            n as usize
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// The eventfd that SIGINT writes to; every worker's epoll watches it.
static STOP_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigint(_: libc::c_int) {
    let fd = STOP_FD.load(Ordering::Relaxed);
    let one: u64 = 1;
    // SAFETY: write(2) is async-signal-safe.
    unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
}

/// Creates the stop eventfd and routes the first SIGINT to it; a second
/// Ctrl-C gets the default action, so a stuck run can still be killed.
pub fn stop_on_sigint() -> io::Result<RawFd> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    STOP_FD.store(fd, Ordering::Relaxed);
    // SAFETY: sigaction is zero-initialisable; the handler only calls write(2).
    unsafe {
        let mut sa: libc::sigaction = mem::zeroed();
        sa.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut()) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(fd)
}


/// User and system CPU time used by this process so far.
pub fn cpu_time() -> (Duration, Duration) {
    // SAFETY: rusage is plain data; getrusage fills it.
    let ru = unsafe {
        let mut ru: libc::rusage = mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}
