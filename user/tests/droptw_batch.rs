//! droptw's batching: every write is whole lines, within MAX_WRITE, and
//! parses on its own.

#[path = "../src/bin/droptw/batch.rs"]
mod batch;

use drop_tcp_socket::tuple::{tuples, validate, SocketAddr, Tuple, MAX_TUPLE_LINE, MAX_WRITE};

/// Mix of short IPv4 and longest-form IPv6 tuples, all distinct.
fn sample(n: usize) -> Vec<Tuple> {
    (0..n)
        .map(|i| {
            let port = (i % 65535 + 1) as u16;
            if i % 3 == 0 {
                let a = (i as u32).to_be_bytes();
                Tuple {
                    local: SocketAddr::V4([10, a[1], a[2], a[3]], port),
                    remote: SocketAddr::V4([127, 0, 0, 1], 8081),
                }
            } else {
                let mut ip = [0xfe; 16];
                ip[12..].copy_from_slice(&(i as u32).to_be_bytes());
                Tuple {
                    local: SocketAddr::V6(ip, port),
                    remote: SocketAddr::V6([0xff; 16], 65535),
                }
            }
        })
        .collect()
}

#[track_caller]
fn check(ts: &[Tuple], max: usize) -> Vec<Vec<u8>> {
    let bs = batch::batches(ts, max);
    let limit = max.clamp(MAX_TUPLE_LINE, MAX_WRITE);
    let mut back = Vec::new();
    for (i, b) in bs.iter().enumerate() {
        assert!(!b.is_empty() && b.len() <= limit, "batch {i}: {} bytes", b.len());
        assert_eq!(b.last(), Some(&b'\n'), "batch {i} ends mid-line");
        // Each write stands alone for the module.
        let n = validate(b).unwrap_or_else(|e| panic!("batch {i}: {e:?}"));
        assert_eq!(n, b.iter().filter(|&&c| c == b'\n').count());
        back.extend(tuples(b).map(Result::unwrap));
        // Greedy: the next batch's first line would not have fitted here.
        if let Some(next) = bs.get(i + 1) {
            let first = next.iter().position(|&c| c == b'\n').unwrap() + 1;
            assert!(b.len() + first > limit, "batch {i} could have held more");
        }
    }
    assert_eq!(back, ts, "tuples lost, duplicated or reordered");
    bs
}

#[test]
fn thousands_of_tuples_fit_max_write() {
    let ts = sample(5000);
    let bs = check(&ts, MAX_WRITE);
    let total: usize = bs.iter().map(Vec::len).sum();
    assert!(bs.len() >= total.div_ceil(MAX_WRITE) && bs.len() > 1);
}

#[test]
fn small_limits() {
    let ts = sample(300);
    for max in [MAX_TUPLE_LINE, 200, 300, 1000, 4096] {
        check(&ts, max);
    }
}

#[test]
fn limits_are_clamped() {
    let ts = sample(2000);
    // Below one line: still one tuple per write, never an empty or split one.
    let bs = check(&ts, 1);
    assert!(bs.iter().all(|b| b.len() <= MAX_TUPLE_LINE));
    // Above the module's limit: capped at MAX_WRITE.
    let bs = check(&ts, usize::MAX);
    assert!(bs.iter().all(|b| b.len() <= MAX_WRITE));
}

#[test]
fn nothing_to_write() {
    assert!(batch::batches(&[], MAX_WRITE).is_empty());
}

#[test]
fn line_format() {
    let ts = [Tuple {
        local: SocketAddr::V4([127, 0, 0, 1], 41234),
        remote: SocketAddr::V4([127, 0, 0, 1], 8081),
    }];
    assert_eq!(batch::batches(&ts, MAX_WRITE), [b"127.0.0.1:41234 127.0.0.1:8081\n".to_vec()]);
}
