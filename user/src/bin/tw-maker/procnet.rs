//! Reading TCP socket states from `/proc/net/tcp` and `/proc/net/tcp6`.
//!
//! Each line has `local_address rem_address st` columns: addresses as the kernel's
//! 32-bit words printed with `%08X` (so in this machine's byte order) and the port in
//! hex, the state as two hex digits (`06` TIME_WAIT, for TIME_WAIT sockets their
//! sub-state).

use drop_tcp_socket::tuple::Tuple;
use netaddr::SocketAddr;
use std::collections::HashMap;
use std::fs;
use std::io;

/// `/proc/net/tcp` form of an address: `0100007F:1F90`.
pub fn hex_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(ip, port) => format!("{:08X}:{:04X}", u32::from_ne_bytes(*ip), port),
        SocketAddr::V6(ip, port) => {
            let mut s = String::with_capacity(37);
            for w in ip.chunks_exact(4) {
                s.push_str(&format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])));
            }
            s.push_str(&format!(":{port:04X}"));
            s
        }
    }
}

/// State of every socket in `/proc/net/tcp{,6}`, keyed by `(local, remote)` in the
/// file's hex form.
pub fn states() -> io::Result<HashMap<(String, String), u8>> {
    let mut map = HashMap::new();
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in text.lines().skip(1) {
            let mut cols = line.split_whitespace().skip(1);
            let (Some(l), Some(r), Some(st)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            if let Ok(st) = u8::from_str_radix(st, 16) {
                map.insert((l.to_string(), r.to_string()), st);
            }
        }
    }
    Ok(map)
}

/// The state of one tuple's socket, if it exists.
pub fn state_of(map: &HashMap<(String, String), u8>, t: &Tuple) -> Option<u8> {
    map.get(&(hex_addr(&t.local), hex_addr(&t.remote))).copied()
}

/// The kernel's TCP counters about TIME_WAIT and aborted connections that are not
/// zero (`/proc/net/netstat`, `TcpExt`), as `name=value` text: for error messages.
pub fn tw_counters() -> String {
    let Ok(text) = fs::read_to_string("/proc/net/netstat") else {
        return String::new();
    };
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return String::new();
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
        .filter(|(n, v)| (n.starts_with("TW") || n.contains("TimeWait") || n.contains("Abort")) && *v != "0")
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
