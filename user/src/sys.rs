//! Thin non-blocking socket and epoll wrappers over libc, shared by the load tools
//! (`htstress`, `conns`). Errors are raw errno values, so callers can count them by kind.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `send(2)` with `MSG_NOSIGNAL`: a peer that went away gives `EPIPE`, not SIGPIPE.
pub fn send(fd: RawFd, data: &[u8]) -> Result<usize, i32> {
    // SAFETY: data is a valid buffer of data.len() bytes.
    let n = unsafe { libc::send(fd, data.as_ptr() as *const libc::c_void, data.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

/// `recv(2)` into `buf`.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: buf is a valid writable buffer of buf.len() bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
    if n < 0 {
        Err(errno())
    } else {
        Ok(n as usize)
    }
}

/// Closes a descriptor the caller owns (and forgets afterwards).
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns fd and does not use it again.
    unsafe { libc::close(fd) };
}

/// An epoll instance; closed on drop.
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

    /// Watches `fd` for `events`, reporting `token`.
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> Result<(), i32> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: ev is a valid epoll_event.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    /// Waits for events; `None` blocks. Timeouts round up to whole milliseconds (a
    /// deadline is not polled for in a busy loop); EINTR reads as no events.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout: Option<Duration>) -> usize {
        let ms = match timeout {
            None => -1,
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

/// This process's user and system CPU time.
pub fn cpu_time() -> (Duration, Duration) {
    // SAFETY: rusage is plain data; getrusage fills it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}
