//! Thin safe wrappers over the libc socket, signal and eventfd calls the server needs.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Owned file descriptor, closed on drop.
pub struct Fd(RawFd);

impl Fd {
    pub fn raw(&self) -> RawFd {
        self.0
    }

    pub fn from_raw(fd: RawFd) -> Fd {
        Fd(fd)
    }

    pub fn eventfd() -> io::Result<Fd> {
        // SAFETY: plain syscall.
        cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) }).map(Fd)
    }

    /// Make an eventfd readable (for good: nobody reads it, so every epoll sees it).
    pub fn signal(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local.
        let n = unsafe { libc::write(self.0, &one as *const u64 as *const libc::c_void, 8) };
        if n == 8 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

pub fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, val: libc::c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a local int of the stated size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &val as *const libc::c_int as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}


pub fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: family says this is a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: family says this is a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Non-blocking listening socket.
pub fn listen(addr: SocketAddr, backlog: i32, reuseport: bool) -> io::Result<Fd> {
    let family = match addr.ip() {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain syscall.
    let fd = Fd(cvt(unsafe {
        libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    })?);
    // Restarting right after a run must not fail on TIME_WAIT leftovers.
    set_opt(fd.0, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuseport {
        set_opt(fd.0, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    let (ss, len) = user::net::to_sockaddr(addr);
    // SAFETY: ss holds a valid address of length len.
    cvt(unsafe { libc::bind(fd.0, &ss as *const _ as *const libc::sockaddr, len) })?;
    // SAFETY: plain syscall.
    cvt(unsafe { libc::listen(fd.0, backlog) })?;
    Ok(fd)
}

pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: getsockname fills at most len bytes of ss.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    cvt(unsafe { libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) })?;
    from_sockaddr(&ss).ok_or_else(|| io::Error::other("unknown address family"))
}

/// Block SIGINT and SIGTERM in the calling thread (and threads it spawns later).
pub fn block_stop_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset manipulation on a local; pthread_sigmask on the current thread.
    unsafe {
        let mut set: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(set)
    }
}

/// Wait for one of the blocked stop signals; returns its number.
pub fn wait_signal(set: &libc::sigset_t) -> io::Result<libc::c_int> {
    let mut sig: libc::c_int = 0;
    // SAFETY: set is initialised; sig is a local.
    let r = unsafe { libc::sigwait(set, &mut sig) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(sig)
}
