//! TCP socket listing through NETLINK_SOCK_DIAG (inet_diag), with the kernel
//! structs laid out by hand (`linux/netlink.h`, `linux/inet_diag.h`).

use drop_tcp_socket::tuple::Tuple;
use netaddr::SocketAddr;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x100 | 0x200; // NLM_F_ROOT | NLM_F_MATCH
const NLM_F_DUMP_INTR: u16 = 0x10;

/// Kernel TCP states (`include/net/tcp_states.h`).
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_SYN_SENT: u8 = 2;
pub const TCP_SYN_RECV: u8 = 3;
pub const TCP_FIN_WAIT1: u8 = 4;
pub const TCP_FIN_WAIT2: u8 = 5;
pub const TCP_TIME_WAIT: u8 = 6;
pub const TCP_CLOSE_WAIT: u8 = 8;
pub const TCP_LAST_ACK: u8 = 9;
pub const TCP_CLOSING: u8 = 11;
pub const TCP_NEW_SYN_RECV: u8 = 12;

/// Bit mask for `idiag_states` covering every state.
pub const ALL_STATES: u32 = !0;

/// `ss`-style name of a kernel TCP state.
pub fn state_name(state: u8) -> &'static str {
    match state {
        TCP_ESTABLISHED => "ESTAB",
        TCP_SYN_SENT => "SYN-SENT",
        TCP_SYN_RECV | TCP_NEW_SYN_RECV => "SYN-RECV",
        TCP_FIN_WAIT1 => "FIN-WAIT-1",
        TCP_FIN_WAIT2 => "FIN-WAIT-2",
        TCP_TIME_WAIT => "TIME-WAIT",
        7 => "CLOSE",
        TCP_CLOSE_WAIT => "CLOSE-WAIT",
        TCP_LAST_ACK => "LAST-ACK",
        10 => "LISTEN",
        TCP_CLOSING => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// `struct nlmsghdr`
#[allow(dead_code)] // full kernel layout, not every field is read
#[repr(C)]
#[derive(Clone, Copy)]
struct NlMsgHdr {
    len: u32,
    ty: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct inet_diag_sockid`: ports and addresses in network order.
#[allow(dead_code)] // full kernel layout, not every field is read
#[repr(C)]
#[derive(Clone, Copy)]
struct InetDiagSockId {
    sport: [u8; 2],
    dport: [u8; 2],
    src: [u8; 16],
    dst: [u8; 16],
    ifindex: u32,
    cookie: [u32; 2],
}

/// `struct inet_diag_req_v2`
#[allow(dead_code)] // full kernel layout, not every field is read
#[repr(C)]
#[derive(Clone, Copy)]
struct InetDiagReqV2 {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: InetDiagSockId,
}

/// `struct inet_diag_msg`
#[allow(dead_code)] // full kernel layout, not every field is read
#[repr(C)]
#[derive(Clone, Copy)]
struct InetDiagMsg {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: InetDiagSockId,
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Request {
    hdr: NlMsgHdr,
    req: InetDiagReqV2,
}

// The kernel ABI sizes; no padding anywhere, so the structs can be sent as bytes.
const _: () = assert!(size_of::<NlMsgHdr>() == 16);
const _: () = assert!(size_of::<InetDiagSockId>() == 48);
const _: () = assert!(size_of::<InetDiagReqV2>() == 56);
const _: () = assert!(size_of::<InetDiagMsg>() == 72);
const _: () = assert!(size_of::<Request>() == 72);

/// One socket as reported by the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sock {
    pub tuple: Tuple,
    pub state: u8,
}

/// Address family to dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn af(self) -> u8 {
        match self {
            Family::V4 => libc::AF_INET as u8,
            Family::V6 => libc::AF_INET6 as u8,
        }
    }
}

/// A NETLINK_SOCK_DIAG socket.
pub struct Diag {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Diag {
    pub fn open() -> io::Result<Diag> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Diag {
            fd,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Dumps the TCP sockets of `family` whose state bit is set in `states`
    /// (bit N = kernel state N).
    pub fn dump(&mut self, family: Family, states: u32) -> io::Result<Vec<Sock>> {
        // A dump interrupted by concurrent changes is flagged; retry a few
        // times, then take the last result (it is still a usable snapshot).
        let mut last = Vec::new();
        for _ in 0..3 {
            let (socks, interrupted) = self.dump_once(family, states)?;
            last = socks;
            if !interrupted {
                break;
            }
        }
        Ok(last)
    }

    fn dump_once(&mut self, family: Family, states: u32) -> io::Result<(Vec<Sock>, bool)> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let req = Request {
            hdr: NlMsgHdr {
                len: size_of::<Request>() as u32,
                ty: SOCK_DIAG_BY_FAMILY,
                flags: NLM_F_REQUEST | NLM_F_DUMP,
                seq,
                pid: 0,
            },
            req: InetDiagReqV2 {
                family: family.af(),
                protocol: libc::IPPROTO_TCP as u8,
                ext: 0,
                pad: 0,
                states,
                id: InetDiagSockId {
                    sport: [0; 2],
                    dport: [0; 2],
                    src: [0; 16],
                    dst: [0; 16],
                    ifindex: 0,
                    cookie: [!0; 2], // INET_DIAG_NOCOOKIE
                },
            },
        };
        // SAFETY: zeroed sockaddr_nl is valid; we set the family (kernel as peer).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: req is a padding-free repr(C) value read as bytes for its
        // full size; kernel is a valid sockaddr_nl.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                (&req as *const Request).cast(),
                size_of::<Request>(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }

        let mut socks = Vec::new();
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            let mut msgs = self.buf.get(..n).unwrap_or(&[]);
            while msgs.len() >= size_of::<NlMsgHdr>() {
                // SAFETY: at least a header's worth of bytes; any bit pattern
                // is a valid NlMsgHdr; read_unaligned needs no alignment.
                let hdr: NlMsgHdr = unsafe { std::ptr::read_unaligned(msgs.as_ptr().cast()) };
                let len = hdr.len as usize;
                if len < size_of::<NlMsgHdr>() || len > msgs.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "sock_diag: malformed netlink message",
                    ));
                }
                let payload = &msgs[size_of::<NlMsgHdr>()..len];
                msgs = msgs.get(align4(len)..).unwrap_or(&[]);
                if hdr.seq != seq {
                    continue; // stale reply to an earlier request
                }
                if hdr.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match hdr.ty {
                    NLMSG_DONE => return Ok((socks, interrupted)),
                    NLMSG_ERROR => {
                        let errno = payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(-libc::EPROTO);
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                    }
                    SOCK_DIAG_BY_FAMILY if payload.len() >= size_of::<InetDiagMsg>() => {
                        // SAFETY: length checked; plain integer fields.
                        let m: InetDiagMsg =
                            unsafe { std::ptr::read_unaligned(payload.as_ptr().cast()) };
                        if let Some(s) = to_sock(&m) {
                            socks.push(s);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            // SAFETY: buf is valid for writes of its length. MSG_TRUNC makes the
            // kernel report the full datagram length so truncation is detected.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > self.buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "sock_diag: reply larger than the receive buffer",
                ));
            }
            return Ok(n);
        }
    }
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

fn to_sock(m: &InetDiagMsg) -> Option<Sock> {
    let sport = u16::from_be_bytes(m.id.sport);
    let dport = u16::from_be_bytes(m.id.dport);
    let (local, remote) = match m.family as i32 {
        libc::AF_INET => {
            let v4 = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
            (
                SocketAddr::V4(v4(&m.id.src), sport),
                SocketAddr::V4(v4(&m.id.dst), dport),
            )
        }
        libc::AF_INET6 => (SocketAddr::V6(m.id.src, sport), SocketAddr::V6(m.id.dst, dport)),
        _ => return None,
    };
    Some(Sock {
        tuple: Tuple { local, remote },
        state: m.state,
    })
}

/// Dumps every family in `families`. A family the kernel does not know
/// (ENOENT, EAFNOSUPPORT: e.g. no IPv6) yields nothing when `lenient`.
pub fn query(families: &[Family], states: u32, lenient: bool) -> io::Result<Vec<Sock>> {
    let mut diag = Diag::open()?;
    let mut all = Vec::new();
    for &f in families {
        match diag.dump(f, states) {
            Ok(mut s) => all.append(&mut s),
            Err(e)
                if lenient
                    && matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EAFNOSUPPORT)) => {}
            Err(e) => {
                let name = if f == Family::V4 { "AF_INET" } else { "AF_INET6" };
                return Err(io::Error::new(
                    e.kind(),
                    format!("sock_diag dump ({name}): {e}"),
                ));
            }
        }
    }
    Ok(all)
}
