//! The socket address of the kernel side (`kernel::net`, `kernel::tcp`, drop-tcp-socket's
//! parser) and of the user tools: one type, `no_std`, so it compiles for the kernel
//! target and is unit tested on the host.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

use core::fmt;

/// An IPv4 or IPv6 socket address. Address bytes are in network order (as written,
/// most significant first); the port is a plain host-order number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketAddr {
    /// IPv4 address octets and port.
    V4([u8; 4], u16),
    /// IPv6 address bytes and port.
    V6([u8; 16], u16),
}

impl SocketAddr {
    /// `0.0.0.0:port`: every IPv4 address.
    pub const fn any_v4(port: u16) -> Self {
        SocketAddr::V4([0; 4], port)
    }

    /// `[::]:port`: every IPv6 address (and, for a dual-stack listener, every IPv4
    /// address as IPv4-mapped IPv6).
    pub const fn any_v6(port: u16) -> Self {
        SocketAddr::V6([0; 16], port)
    }

    /// The port, host order.
    pub const fn port(&self) -> u16 {
        match *self {
            SocketAddr::V4(_, p) | SocketAddr::V6(_, p) => p,
        }
    }

    /// True for [`SocketAddr::V4`].
    pub const fn is_ipv4(&self) -> bool {
        matches!(self, SocketAddr::V4(..))
    }

    /// True when both are IPv4 or both are IPv6.
    pub const fn same_family(&self, other: &SocketAddr) -> bool {
        self.is_ipv4() == other.is_ipv4()
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 one (`::ffff:a.b.c.d`), else the
    /// address unchanged.
    pub const fn unmapped(self) -> SocketAddr {
        match self {
            SocketAddr::V6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d], port) => SocketAddr::V4([a, b, c, d], port),
            other => other,
        }
    }
}

#[cfg(feature = "std")]
impl From<std::net::SocketAddr> for SocketAddr {
    fn from(a: std::net::SocketAddr) -> Self {
        match a {
            std::net::SocketAddr::V4(a) => SocketAddr::V4(a.ip().octets(), a.port()),
            std::net::SocketAddr::V6(a) => SocketAddr::V6(a.ip().octets(), a.port()),
        }
    }
}

#[cfg(feature = "std")]
impl From<SocketAddr> for std::net::SocketAddr {
    fn from(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(ip, port) => (std::net::Ipv4Addr::from(ip), port).into(),
            SocketAddr::V6(ip, port) => (std::net::Ipv6Addr::from(ip), port).into(),
        }
    }
}

/// `a.b.c.d:port` or `[v6]:port` with RFC 5952 compression (IPv4-mapped as
/// `[::ffff:a.b.c.d]:port`), the form drop-tcp-socket's parser reads back.
impl fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddr::V4([a, b, c, d], p) => write!(f, "{a}.{b}.{c}.{d}:{p}"),
            SocketAddr::V6(ip, p) => {
                f.write_str("[")?;
                fmt_ipv6(f, ip)?;
                write!(f, "]:{p}")
            }
        }
    }
}

fn fmt_ipv6(f: &mut fmt::Formatter<'_>, ip: &[u8; 16]) -> fmt::Result {
    let mut g = [0u16; 8];
    for (slot, pair) in g.iter_mut().zip(ip.chunks_exact(2)) {
        if let [hi, lo] = pair {
            *slot = u16::from_be_bytes([*hi, *lo]);
        }
    }
    if let ([0, 0, 0, 0, 0, 0xffff, ..], [.., a, b, c, d]) = (g, ip) {
        return write!(f, "::ffff:{a}.{b}.{c}.{d}");
    }
    // Longest run of zero groups (first on ties), compressed if >= 2 long.
    let (mut best, mut best_len, mut cur, mut cur_len) = (0usize, 0usize, 0usize, 0usize);
    for (i, &v) in g.iter().enumerate() {
        if v == 0 {
            if cur_len == 0 {
                cur = i;
            }
            cur_len = cur_len.saturating_add(1);
            if cur_len > best_len {
                best = cur;
                best_len = cur_len;
            }
        } else {
            cur_len = 0;
        }
    }
    let mut i = 0usize;
    let mut colon = false;
    while let Some(v) = g.get(i) {
        if best_len >= 2 && i == best {
            f.write_str("::")?;
            i = i.saturating_add(best_len);
            colon = false;
            continue;
        }
        if colon {
            f.write_str(":")?;
        }
        write!(f, "{v:x}")?;
        colon = true;
        i = i.saturating_add(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::SocketAddr;
    use std::net::{Ipv6Addr, SocketAddrV6};
    use std::string::ToString;

    #[test]
    fn ports_and_families() {
        assert_eq!(SocketAddr::any_v4(80), SocketAddr::V4([0; 4], 80));
        assert_eq!(SocketAddr::any_v6(8081).port(), 8081);
        assert!(SocketAddr::any_v4(1).is_ipv4());
        assert!(!SocketAddr::any_v6(1).is_ipv4());
        assert!(SocketAddr::any_v4(1).same_family(&SocketAddr::V4([1, 2, 3, 4], 5)));
        assert!(!SocketAddr::any_v4(1).same_family(&SocketAddr::any_v6(1)));
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_round_trip() {
        for text in ["10.1.2.3:80", "[2001:db8::1]:8081", "[::ffff:10.0.0.1]:1"] {
            let std_addr: std::net::SocketAddr = text.parse().unwrap();
            let ours = SocketAddr::from(std_addr);
            assert_eq!(std::net::SocketAddr::from(ours), std_addr);
            assert_eq!(ours.to_string(), text);
        }
    }

    #[test]
    fn unmapped() {
        let mapped = SocketAddr::V6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1], 80);
        assert_eq!(mapped.unmapped(), SocketAddr::V4([10, 0, 0, 1], 80));
        let plain = SocketAddr::V6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1], 80);
        assert_eq!(plain.unmapped(), plain);
        assert_eq!(SocketAddr::V4([1, 2, 3, 4], 5).unmapped(), SocketAddr::V4([1, 2, 3, 4], 5));
    }

    #[test]
    fn display_matches_std() {
        assert_eq!(SocketAddr::V4([127, 0, 0, 1], 8081).to_string(), "127.0.0.1:8081");
        // std prints IPv6 per RFC 5952 too (mapped addresses aside): compare a spread.
        let cases: [[u16; 8]; 6] = [
            [0; 8],
            [0, 0, 0, 0, 0, 0, 0, 1],
            [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1],
            [0x2001, 0xdb8, 0, 1, 1, 1, 1, 1],
            [1, 0, 0, 2, 0, 0, 0, 3],
            [0xfe80, 0, 0, 0, 0x1234, 0x5678, 0x9abc, 0xdef0],
        ];
        for g in cases {
            let ip = Ipv6Addr::new(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
            let ours = SocketAddr::V6(ip.octets(), 443).to_string();
            assert_eq!(ours, SocketAddrV6::new(ip, 443, 0, 0).to_string());
        }
        let mapped = SocketAddr::V6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1], 1);
        assert_eq!(mapped.to_string(), "[::ffff:192.0.2.1]:1");
    }
}
