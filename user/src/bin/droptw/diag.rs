//! TCP socket listing through NETLINK_SOCK_DIAG (inet_diag), with the
//! messages built and parsed by `netlink-packet-sock-diag` and
//! `netlink-packet-core`, over a `netlink-sys` socket.
//!
//! Kept here by hand: `TCP_NEW_SYN_RECV` (state 12; the crate's constants and
//! `StateFlags` stop at `TCP_CLOSING`), so the state mask is passed with
//! `StateFlags::from_bits_retain` to reach the kernel bit for bit.

use drop_tcp_socket::tuple::Tuple;
use netaddr::SocketAddr;
use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, TCP_CLOSE, TCP_LISTEN};
pub use netlink_packet_sock_diag::constants::{
    TCP_CLOSE_WAIT, TCP_CLOSING, TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_LAST_ACK,
    TCP_SYN_RECV, TCP_SYN_SENT, TCP_TIME_WAIT,
};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};
use std::io;
use std::net::IpAddr;

/// Request-socket state (`include/net/tcp_states.h`); not in the crate.
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
        TCP_CLOSE => "CLOSE",
        TCP_CLOSE_WAIT => "CLOSE-WAIT",
        TCP_LAST_ACK => "LAST-ACK",
        TCP_LISTEN => "LISTEN",
        TCP_CLOSING => "CLOSING",
        _ => "UNKNOWN",
    }
}

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
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        }
    }
}

/// A NETLINK_SOCK_DIAG socket.
pub struct Diag {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

fn malformed() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "sock_diag: malformed netlink message")
}

impl Diag {
    pub fn open() -> io::Result<Diag> {
        Ok(Diag {
            sock: Socket::new(NETLINK_SOCK_DIAG)?,
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
        self.send(request(family, states, seq))?;

        let mut socks = Vec::new();
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            let mut msgs = self.buf.get(..n).unwrap_or(&[]);
            while !msgs.is_empty() {
                // Frame first (length and sequence number), so a stale reply
                // is skipped without decoding its payload.
                let frame = NetlinkBuffer::new_checked(msgs).map_err(|_| malformed())?;
                let len = frame.length() as usize;
                let this = &msgs[..len];
                msgs = msgs.get(align4(len)..).unwrap_or(&[]);
                if frame.sequence_number() != seq {
                    continue; // stale reply to an earlier request
                }
                if frame.flags() & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let msg = NetlinkMessage::<SockDiagMessage>::deserialize(this).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {e}"))
                })?;
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok((socks, interrupted)),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        socks.push(to_sock(r.header.state, &r.header.socket_id));
                    }
                    _ => {}
                }
            }
        }
    }

    fn send(&self, mut msg: NetlinkMessage<SockDiagMessage>) -> io::Result<()> {
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        // To the kernel (port 0); the socket is not connected.
        let kernel = netlink_sys::SocketAddr::new(0, 0);
        loop {
            match self.sock.send_to(&bytes, &kernel, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r.map(drop),
            }
        }
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            // MSG_TRUNC makes the kernel report the full datagram length so
            // truncation is detected.
            let n = match self.sock.recv(&mut self.buf.as_mut_slice(), libc::MSG_TRUNC) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
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

/// The dump request: TCP sockets of `family` in the states of `states`.
fn request(family: Family, states: u32, seq: u32) -> NetlinkMessage<SockDiagMessage> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
    hdr.sequence_number = seq;
    let mut socket_id = match family {
        Family::V4 => SocketId::new_v4(),
        Family::V6 => SocketId::new_v6(),
    };
    socket_id.cookie = [0xff; 8]; // INET_DIAG_NOCOOKIE
    let req = InetRequest {
        family: family.af(),
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        // Bit for bit, including bits the crate has no name for (NEW_SYN_RECV).
        states: StateFlags::from_bits_retain(states),
        socket_id,
    };
    NetlinkMessage::new(hdr, SockDiagMessage::InetRequest(req).into())
}

fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Ports come host-order from the crate; IPv4 stays IPv4 and IPv6 (mapped
/// IPv4 included) stays IPv6, as the kernel reported it.
fn to_sock(state: u8, id: &SocketId) -> Sock {
    let addr = |ip: IpAddr, port| match ip {
        IpAddr::V4(a) => SocketAddr::V4(a.octets(), port),
        IpAddr::V6(a) => SocketAddr::V6(a.octets(), port),
    };
    Sock {
        tuple: Tuple {
            local: addr(id.source_address, id.source_port),
            remote: addr(id.destination_address, id.destination_port),
        },
        state,
    }
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
