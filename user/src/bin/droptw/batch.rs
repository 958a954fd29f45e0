//! Splits tuples into writes for `/proc/net/drop_tcp_sock`.
//!
//! The module parses each write on its own and refuses writes over
//! `MAX_WRITE`, so every batch is a run of whole `LOCAL REMOTE\n` lines of at
//! most `max` bytes: a tuple never straddles two writes.

use drop_tcp_socket::tuple::{Tuple, MAX_TUPLE_LINE, MAX_WRITE};
use std::io::Write as _;

/// Greedily packs `tuples` (in order) into batches of at most `max` bytes.
///
/// `max` is clamped to `MAX_TUPLE_LINE..=MAX_WRITE` so any tuple fits and no
/// batch exceeds what the module accepts.
pub fn batches(tuples: &[Tuple], max: usize) -> Vec<Vec<u8>> {
    let max = max.clamp(MAX_TUPLE_LINE, MAX_WRITE);
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::with_capacity(MAX_TUPLE_LINE);
    for t in tuples {
        line.clear();
        // Writing into a Vec cannot fail.
        let _ = writeln!(line, "{t}");
        if !cur.is_empty() && cur.len() + line.len() > max {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(&line);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
