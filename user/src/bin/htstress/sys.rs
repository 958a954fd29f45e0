//! Thin wrappers over the libc calls htstress needs (sockets, epoll, signals, limits).

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

pub use user::sys::{close, cpu_time, errno, recv, send, Epoll};

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



