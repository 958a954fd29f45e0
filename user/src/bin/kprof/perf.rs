//! perf_event_open(2): CPU-clock sampling with kernel call chains, read from the mmap
//! ring buffer, and counting hardware execution breakpoints.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, Ordering};

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_TYPE_BREAKPOINT: u32 = 5;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
const HW_BREAKPOINT_X: u32 = 4;
const PERF_SAMPLE_IP: u64 = 1;
const PERF_SAMPLE_TID: u64 = 2;
const PERF_SAMPLE_CALLCHAIN: u64 = 1 << 5;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
const IOC_ENABLE: libc::c_ulong = 0x2400;
const IOC_DISABLE: libc::c_ulong = 0x2401;
/// Call chain entries at or above this are context markers (PERF_CONTEXT_*), not addresses.
const PERF_CONTEXT_MAX: u64 = -4095i64 as u64;

// attr.flags bits
const DISABLED: u64 = 1 << 0;
const FREQ: u64 = 1 << 10;
const EXCLUDE_CALLCHAIN_USER: u64 = 1 << 22;

/// struct perf_event_attr up to PERF_ATTR_SIZE_VER5 (112 bytes); the kernel accepts
/// any size it knows.
#[repr(C)]
#[derive(Default)]
struct Attr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period_or_freq: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    bp_addr: u64,
    bp_len: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved: u16,
}

fn open(attr: &mut Attr, cpu: i32) -> io::Result<OwnedFd> {
    attr.size = std::mem::size_of::<Attr>() as u32;
    // SAFETY: attr is a valid perf_event_attr of the size it states; pid -1 with a cpu
    // means every task on that CPU.
    let fd = unsafe {
        libc::syscall(libc::SYS_perf_event_open, attr as *const Attr, -1i32, cpu, -1i32, PERF_FLAG_FD_CLOEXEC)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn ioctl(fd: &OwnedFd, req: libc::c_ulong) -> io::Result<()> {
    // SAFETY: a perf event descriptor and an argument-less perf ioctl.
    if unsafe { libc::ioctl(fd.as_raw_fd(), req, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Counts executions of one kernel address on one CPU (a debug register).
pub struct Breakpoint {
    fd: OwnedFd,
}

impl Breakpoint {
    pub fn new(addr: u64, cpu: i32) -> io::Result<Breakpoint> {
        let mut a = Attr {
            type_: PERF_TYPE_BREAKPOINT,
            bp_type: HW_BREAKPOINT_X,
            bp_addr: addr,
            bp_len: std::mem::size_of::<libc::c_long>() as u64,
            flags: DISABLED,
            ..Default::default()
        };
        Ok(Breakpoint { fd: open(&mut a, cpu)? })
    }

    pub fn enable(&self) -> io::Result<()> {
        ioctl(&self.fd, IOC_ENABLE)
    }

    pub fn disable(&self) -> io::Result<()> {
        ioctl(&self.fd, IOC_DISABLE)
    }

    pub fn count(&self) -> io::Result<u64> {
        let mut v = 0u64;
        // SAFETY: reading 8 bytes into a u64 (read_format 0: just the value).
        let n = unsafe { libc::read(self.fd.as_raw_fd(), &mut v as *mut u64 as *mut libc::c_void, 8) };
        if n != 8 {
            return Err(io::Error::last_os_error());
        }
        Ok(v)
    }
}

/// One sample: the task and the call chain, innermost first (the sampled IP first).
pub struct Sample {
    pub tid: u32,
    pub chain: Vec<u64>,
}

/// CPU-clock samples of one CPU through an mmap ring buffer.
pub struct Sampler {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
    data_off: usize,
    data_size: usize,
    pub lost: u64,
}

impl Sampler {
    /// `pages`: data pages of the ring, a power of two.
    pub fn new(cpu: i32, freq: u64, pages: usize) -> io::Result<Sampler> {
        let mut a = Attr {
            type_: PERF_TYPE_SOFTWARE,
            config: PERF_COUNT_SW_CPU_CLOCK,
            sample_period_or_freq: freq,
            sample_type: PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN,
            flags: DISABLED | FREQ | EXCLUDE_CALLCHAIN_USER,
            wakeup_events: 0,
            ..Default::default()
        };
        let fd = open(&mut a, cpu)?;
        // SAFETY: plain query.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let len = page * (1 + pages);
        // SAFETY: mapping the event's ring buffer as the kernel wants it (metadata page
        // plus a power-of-two number of data pages), read-write so data_tail can be set.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = base as *mut u8;
        // SAFETY: the metadata page is mapped; data_offset/data_size live at 1040/1048
        // (kernels since 4.1 fill them in; zero means the classic layout).
        let (off, size) = unsafe {
            (std::ptr::read_volatile(base.add(1040) as *const u64), std::ptr::read_volatile(base.add(1048) as *const u64))
        };
        let (data_off, data_size) = if size == 0 { (page, page * pages) } else { (off as usize, size as usize) };
        Ok(Sampler { fd, base, len, data_off, data_size, lost: 0 })
    }

    pub fn enable(&self) -> io::Result<()> {
        ioctl(&self.fd, IOC_ENABLE)
    }

    pub fn disable(&self) -> io::Result<()> {
        ioctl(&self.fd, IOC_DISABLE)
    }

    /// Hands every record written since the last call to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(Sample)) {
        // SAFETY: data_head (offset 1024) and data_tail (1032) are u64 fields of the
        // mapped metadata page; the kernel writes head, we write tail.
        let head_p = unsafe { self.base.add(1024) as *const u64 };
        let tail_p = unsafe { self.base.add(1032) as *mut u64 };
        let head = unsafe { std::ptr::read_volatile(head_p) };
        fence(Ordering::Acquire);
        let mut tail = unsafe { std::ptr::read_volatile(tail_p) };
        let mut rec = Vec::new();
        while tail < head {
            let hdr = self.copy(tail, 8, &mut rec);
            let (ty, size) = (u32::from_ne_bytes(hdr[0..4].try_into().unwrap()), u16::from_ne_bytes(hdr[6..8].try_into().unwrap()));
            if size < 8 {
                break;
            }
            let r = self.copy(tail, size as usize, &mut rec).to_vec();
            let u64_at = |i: usize| u64::from_ne_bytes(r[i..i + 8].try_into().unwrap());
            match ty {
                PERF_RECORD_SAMPLE if r.len() >= 32 => {
                    // ip, pid/tid, nr, ips[nr]
                    let tid = u32::from_ne_bytes(r[20..24].try_into().unwrap());
                    let nr = u64_at(24) as usize;
                    let mut chain = Vec::with_capacity(nr + 1);
                    chain.push(u64_at(8));
                    for i in 0..nr.min((r.len() - 32) / 8) {
                        let ip = u64_at(32 + 8 * i);
                        if ip < PERF_CONTEXT_MAX {
                            chain.push(ip);
                        }
                    }
                    // The chain repeats the sampled IP as its first entry.
                    if chain.len() > 1 && chain[1] == chain[0] {
                        chain.remove(1);
                    }
                    f(Sample { tid, chain });
                }
                PERF_RECORD_LOST if r.len() >= 24 => self.lost += u64_at(16),
                _ => {}
            }
            tail += size as u64;
        }
        fence(Ordering::Release);
        // SAFETY: see above.
        unsafe { std::ptr::write_volatile(tail_p, tail) };
    }

    /// `n` bytes of the ring starting at absolute position `pos`, unwrapped into `buf`.
    fn copy<'a>(&self, pos: u64, n: usize, buf: &'a mut Vec<u8>) -> &'a [u8] {
        buf.clear();
        let start = (pos % self.data_size as u64) as usize;
        // SAFETY: the data area [data_off, data_off + data_size) is mapped; indices are
        // reduced modulo its size.
        let data = unsafe { std::slice::from_raw_parts(self.base.add(self.data_off), self.data_size) };
        let first = n.min(self.data_size - start);
        buf.extend_from_slice(&data[start..start + first]);
        buf.extend_from_slice(&data[..n - first]);
        buf
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        // SAFETY: unmapping what new() mapped.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}
