//! Socket selection: states, address prefixes and ports.

use crate::diag::{self, Sock};
use clap::ValueEnum;
use netaddr::SocketAddr;
use std::net::IpAddr;
use std::str::FromStr;

/// TCP states selectable with `--state`. Listening and closed sockets have
/// no peer, so they cannot be named by a tuple and are not offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum State {
    #[value(name = "established", alias = "estab")]
    Established,
    #[value(name = "syn-sent")]
    SynSent,
    #[value(name = "syn-recv")]
    SynRecv,
    #[value(name = "fin-wait-1")]
    FinWait1,
    #[value(name = "fin-wait-2")]
    FinWait2,
    #[value(name = "time-wait")]
    TimeWait,
    #[value(name = "close-wait")]
    CloseWait,
    #[value(name = "last-ack")]
    LastAck,
    #[value(name = "closing")]
    Closing,
    /// Every state above.
    #[value(name = "all")]
    All,
}

impl State {
    /// `idiag_states` bits for this choice.
    pub fn mask(self) -> u32 {
        let bit = |s: u8| 1u32 << s;
        match self {
            State::Established => bit(diag::TCP_ESTABLISHED),
            State::SynSent => bit(diag::TCP_SYN_SENT),
            // Embryonic connections are reported as NEW_SYN_RECV.
            State::SynRecv => bit(diag::TCP_SYN_RECV) | bit(diag::TCP_NEW_SYN_RECV),
            State::FinWait1 => bit(diag::TCP_FIN_WAIT1),
            State::FinWait2 => bit(diag::TCP_FIN_WAIT2),
            State::TimeWait => bit(diag::TCP_TIME_WAIT),
            State::CloseWait => bit(diag::TCP_CLOSE_WAIT),
            State::LastAck => bit(diag::TCP_LAST_ACK),
            State::Closing => bit(diag::TCP_CLOSING),
            State::All => [
                State::Established,
                State::SynSent,
                State::SynRecv,
                State::FinWait1,
                State::FinWait2,
                State::TimeWait,
                State::CloseWait,
                State::LastAck,
                State::Closing,
            ]
            .iter()
            .fold(0, |m, s| m | s.mask()),
        }
    }
}

/// `ADDR` or `ADDR/LEN`; IPv6 may be bracketed. IPv4-mapped IPv6 addresses
/// match their IPv4 form and vice versa.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrFilter {
    net: IpAddr,
    prefix: u8,
}

impl FromStr for AddrFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let net = addr
            .parse::<IpAddr>()
            .map_err(|_| format!("not an IP address: {addr:?}"))?
            .to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("bad prefix length {l:?} (0..={max})"))?,
        };
        Ok(AddrFilter { net, prefix })
    }
}

impl AddrFilter {
    pub fn matches(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

pub fn ip_of(a: &SocketAddr) -> IpAddr {
    std::net::SocketAddr::from(*a).ip()
}

/// The user's selection on top of the state mask given to the kernel.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub src: Option<AddrFilter>,
    pub dst: Option<AddrFilter>,
}

impl Filter {
    pub fn matches(&self, s: &Sock) -> bool {
        let (l, r) = (&s.tuple.local, &s.tuple.remote);
        self.sport.is_none_or(|p| l.port() == p)
            && self.dport.is_none_or(|p| r.port() == p)
            && self.src.is_none_or(|f| f.matches(ip_of(l)))
            && self.dst.is_none_or(|f| f.matches(ip_of(r)))
    }
}
