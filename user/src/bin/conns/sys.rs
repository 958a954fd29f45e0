//! Thin wrappers over the libc calls `conns` needs: sockets bound to a source address
//! without a port, epoll, a signalfd for SIGUSR1, the open-file limit, own RSS.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::RawFd;

pub use user::sys::{close, cpu_time, errno, recv, send, Epoll};

/// The symbolic name of an errno value, for counting failures by kind.
pub fn errno_name(e: i32) -> String {
    let name = match e {
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EPIPE => "EPIPE",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EAGAIN => "EAGAIN",
        libc::EINVAL => "EINVAL",
        _ => return format!("errno{e}"),
    };
    name.to_string()
}

/// A connect(2) address, converted once.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    pub fn new(addr: SocketAddr) -> RawAddr {
        let (storage, len) = user::net::to_sockaddr(addr);
        RawAddr { storage, len }
    }

    fn ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }
}

/// A non-blocking IPv4 TCP socket bound to `src` with port 0 and
/// IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port at connect time by the
/// whole 4-tuple (each source address then has its own ephemeral range).
pub fn bound_socket(src: Ipv4Addr) -> Result<RawFd, i32> {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(errno());
    }
    let one: libc::c_int = 1;
    // SAFETY: valid pointer and length of an int option.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            &one as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        let e = errno();
        close(fd);
        return Err(e);
    }
    let a = RawAddr::new(SocketAddr::V4(SocketAddrV4::new(src, 0)));
    // SAFETY: a holds a valid sockaddr_in of length a.len.
    if unsafe { libc::bind(fd, a.ptr(), a.len) } < 0 {
        let e = errno();
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// Starts a non-blocking connect: Ok(true) connected at once, Ok(false) in progress.
pub fn connect(fd: RawFd, addr: &RawAddr) -> Result<bool, i32> {
    // SAFETY: addr holds a valid sockaddr of length len.
    if unsafe { libc::connect(fd, addr.ptr(), addr.len) } == 0 {
        return Ok(true);
    }
    match errno() {
        libc::EINPROGRESS => Ok(false),
        e => Err(e),
    }
}

/// The pending error of a socket (SO_ERROR), 0 if none: the outcome of a connect.
pub fn so_error(fd: RawFd) -> i32 {
    let mut err: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid pointers to an int and its length.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut err as *mut _ as *mut libc::c_void, &mut len) };
    if r < 0 {
        errno()
    } else {
        err
    }
}


/// Blocks SIGUSR1 and returns a non-blocking signalfd that receives it.
pub fn sigusr1_fd() -> io::Result<RawFd> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the calls only read it.
    unsafe {
        let mut set: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// Consumes pending signals on a signalfd; returns how many were read.
pub fn drain_signalfd(fd: RawFd) -> usize {
    let mut n = 0;
    loop {
        // SAFETY: signalfd_siginfo is plain data; read fills at most its size.
        let mut si: libc::signalfd_siginfo = unsafe { mem::zeroed() };
        let sz = mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: si is a valid writable buffer of sz bytes.
        let r = unsafe { libc::read(fd, &mut si as *mut _ as *mut libc::c_void, sz) };
        if r != sz as isize {
            return n;
        }
        n += 1;
    }
}

/// Raises RLIMIT_NOFILE so that `want` descriptors can be open: the soft limit up to
/// the hard one, and the hard one too when allowed (root, up to fs.nr_open).
/// Returns the soft limit in force afterwards.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_max < want {
            let up = libc::rlimit { rlim_cur: want, rlim_max: want };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &up) == 0 {
                return Ok(want);
            }
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(lim.rlim_cur)
}

/// This process's resident set (VmRSS) in KiB, if /proc says.
pub fn rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}


/// Seconds since boot on the clock /proc/uptime shows (CLOCK_BOOTTIME), so the guest
/// script can line our events up with its own.
pub fn uptime() -> f64 {
    // SAFETY: timespec is plain data; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}
