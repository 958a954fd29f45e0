//! The echo protocol: send back every byte received.

use common::{Handler, Step};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::error::code::EAGAIN;
use kernel::net::TcpStream;
use kernel::prelude::*;

/// Bytes read per receive call; also the most a connection holds unsent.
const BUF_SIZE: usize = 4096;
/// Receive/send rounds per run before yielding the worker to other connections.
const BUDGET: usize = 32;

/// Echo server statistics, shared by all connections.
pub struct Echo {
    bytes: AtomicU64,
}

impl Echo {
    pub fn new() -> Self {
        Echo { bytes: AtomicU64::new(0) }
    }
}

/// One connection's buffer: `buf[sent..filled]` is received but not yet echoed.
pub struct Conn {
    buf: Vec<u8>,
    filled: usize,
    sent: usize,
    eof: bool,
}

impl Handler for Echo {
    type State = Conn;

    fn new_state(&self) -> Result<Conn> {
        let buf = kernel::allocator::try_vec(BUF_SIZE, 0u8)?;
        Ok(Conn { buf, filled: 0, sent: 0, eof: false })
    }

    fn serve(&self, c: &mut Conn, stream: &TcpStream) -> Step {
        for _ in 0..BUDGET {
            // Echo what is pending before reading more, so a slow reader slows its
            // writer (the socket's receive window) instead of growing our buffer.
            while c.sent < c.filled {
                let Some(pending) = c.buf.get(c.sent..c.filled) else { return Step::Close };
                match stream.write(pending, false) {
                    Ok(n) => {
                        c.sent += n;
                        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    // Resumed by the socket's write-space callback.
                    Err(e) if e == EAGAIN => return Step::Wait,
                    Err(_) => return Step::Close,
                }
            }
            c.sent = 0;
            c.filled = 0;
            if c.eof {
                return Step::Close;
            }
            match stream.read(&mut c.buf, false) {
                Ok(0) => c.eof = true,
                Ok(n) => c.filled = n,
                Err(e) if e == EAGAIN => return Step::Wait,
                Err(_) => return Step::Close,
            }
        }
        Step::Yield
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        pr_info!("echoed {} bytes", self.bytes.load(Ordering::Relaxed));
    }
}
