//! `payload`: one connection, a large binary payload written by one thread while the
//! main thread reads the echo (writing everything first could deadlock once both
//! directions' socket buffers are full).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Deterministic bytes: the first 256 are every byte value in order (so NUL and 0xff are
/// always covered), the rest come from splitmix64.
pub fn make_payload(size: usize, seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    v.extend((0..=255u8).take(size));
    let mut state = seed;
    while v.len() < size {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let take = (size - v.len()).min(8);
        v.extend_from_slice(&z.to_le_bytes()[..take]);
    }
    v
}

pub fn run(addr: SocketAddr, size: usize, seed: u64, timeout: Duration) -> Result<String, String> {
    let data = make_payload(size, seed);
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;

    let (got, writer_res) = thread::scope(|sc| {
        let data = &data;
        let writer = sc.spawn(move || w.write_all(data).map_err(|e| e.to_string()));
        let got = read_and_compare(&mut s, data, timeout);
        if got.is_err() {
            // Unblock the writer if it is stuck on a full buffer.
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        (got, writer.join().unwrap_or_else(|_| Err("writer panicked".into())))
    });
    got?;
    writer_res.map_err(|e| format!("send failed: {e}"))?;
    let ms = start.elapsed().as_millis();
    Ok(format!("{size} bytes (seed {seed}) echoed byte for byte in {ms} ms"))
}

fn read_and_compare(s: &mut TcpStream, data: &[u8], timeout: Duration) -> Result<(), String> {
    let total = data.len();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < total {
        let want = (total - got).min(buf.len());
        match s.read(&mut buf[..want]) {
            Ok(0) => return Err(format!("connection closed after {got} of {total} echo bytes")),
            Ok(n) => {
                if let Some(i) = (0..n).find(|&i| buf[i] != data[got + i]) {
                    return Err(format!(
                        "mismatch at offset {} (sent 0x{:02x}, got 0x{:02x})",
                        got + i,
                        data[got + i],
                        buf[i]
                    ));
                }
                got += n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "timeout: no echo for {}s after {got} of {total} bytes",
                    timeout.as_secs()
                ))
            }
            Err(e) => return Err(format!("receive failed after {got} of {total} bytes: {e}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::make_payload;

    #[test]
    fn payload_covers_all_bytes_and_depends_on_seed() {
        let a = make_payload(4096, 1);
        assert_eq!(a.len(), 4096);
        for b in 0..=255u8 {
            assert!(a.contains(&b), "missing byte {b}");
        }
        assert_eq!(a, make_payload(4096, 1));
        assert_ne!(a[256..], make_payload(4096, 2)[256..]);
        assert_eq!(make_payload(3, 9), vec![0, 1, 2]);
        assert_eq!(make_payload(1001, 5).len(), 1001);
    }
}
