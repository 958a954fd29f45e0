//! Finding a TCP connection of a namespace by its 4-tuple, and dropping it
//! ([`drop_connection`]).
//!
//! Only the *established* hash is searched (`__inet_lookup_established`,
//! `__inet6_lookup_established`): it holds connected, closing, TIME_WAIT and request
//! sockets, never listening ones, so no tuple can reach a listener. The namespace's own
//! hash table is used (`net->ipv4.tcp_death_row.hashinfo`, which differs from the global
//! `tcp_hashinfo` in namespaces created with `net.ipv4.tcp_child_ehash_entries` set).
//! Sockets bound to a device (`SO_BINDTODEVICE`) are not found (the lookup passes no
//! interface).
//!
//! What happens to the socket found:
//! - TIME_WAIT (including its FIN_WAIT2 sub-state): descheduled and freed
//!   (`inet_twsk_deschedule_put`), as the kernel does when it reuses or purges one.
//! - request socket (`TCP_NEW_SYN_RECV`, the server side of an unfinished handshake):
//!   left alone.
//! - any other state: closed like the kernel's `tcp_abort` (`ss -K`) does, but without
//!   sending a reset: under the socket lock, and with bottom halves off and the socket's
//!   spinlock held, the error (`ECONNABORTED`) is recorded, `tcp_done` moves the socket
//!   to CLOSE (unhashed, port released, timers stopped, owner woken) and the owner gets
//!   an error report; its next call fails with `ECONNABORTED`. A socket no process owns
//!   any more (closed by its owner, finishing its FIN handshake) is destroyed by
//!   `tcp_done`. The peer is not told; its next segment gets a reset from the stack.
//!   Unlike `tcp_abort`, the write queue is not purged here (`tcp_write_queue_purge` is
//!   not exported to modules): unsent data of a socket whose owner still holds it is
//!   freed when the owner closes it. Nothing can send it meanwhile (the socket is
//!   CLOSE and unhashed). Otherwise these are the steps of `tcp_done_with_error`
//!   (newer kernels), which not every kernel exports.

use crate::error::code::ECONNABORTED;
use crate::net::SocketAddr;
use crate::pernet::Namespace;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;

/// What [`drop_connection`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A TIME_WAIT socket was freed.
    TimeWaitDropped,
    /// A socket in this TCP state was closed without a reset.
    Closed(i32),
    /// No socket with that 4-tuple.
    NotFound,
    /// A request socket (handshake in progress): left to its listener.
    SkippedRequest,
    /// The socket was already closed by the time it was locked.
    SkippedClosed,
}

/// The `ss`-style name of a TCP state number, for messages.
pub fn state_name(state: i32) -> &'static str {
    use bindings as b;
    match state {
        s if s == b::KMODS_TCP_ESTABLISHED => "ESTABLISHED",
        s if s == b::KMODS_TCP_SYN_SENT => "SYN-SENT",
        s if s == b::KMODS_TCP_SYN_RECV => "SYN-RECV",
        s if s == b::KMODS_TCP_FIN_WAIT1 => "FIN-WAIT-1",
        s if s == b::KMODS_TCP_FIN_WAIT2 => "FIN-WAIT-2",
        s if s == b::KMODS_TCP_TIME_WAIT => "TIME-WAIT",
        s if s == b::KMODS_TCP_CLOSE => "CLOSE",
        s if s == b::KMODS_TCP_CLOSE_WAIT => "CLOSE-WAIT",
        s if s == b::KMODS_TCP_LAST_ACK => "LAST-ACK",
        s if s == b::KMODS_TCP_LISTEN => "LISTEN",
        s if s == b::KMODS_TCP_CLOSING => "CLOSING",
        s if s == b::KMODS_TCP_NEW_SYN_RECV => "NEW-SYN-RECV",
        _ => "UNKNOWN",
    }
}

/// Finds the TCP socket of `net` whose own address is `local` and whose peer is `remote`
/// and drops it (see the module documentation). Both addresses must be of one family;
/// IPv4-mapped IPv6 pairs (`::ffff:a.b.c.d`) are looked up as IPv4, where the kernel
/// hashes them. Process context: may sleep (socket lock).
pub fn drop_connection(net: &Namespace, local: SocketAddr, remote: SocketAddr) -> Outcome {
    match lookup_established(net, local, remote) {
        Some(sk) => sk.drop_socket(),
        None => Outcome::NotFound,
    }
}

fn in6(ip: [u8; 16]) -> bindings::in6_addr {
    let mut a = bindings::in6_addr::default();
    a.in6_u.u6_addr8 = ip;
    a
}

/// A counted reference to a socket of the established hash: a full socket, a TIME_WAIT
/// socket or a request socket.
///
/// # Invariants
/// `sk` holds one reference taken by the lookup, released exactly once (by `Drop` with
/// `sock_gen_put`, which handles all three kinds, or consumed by
/// `inet_twsk_deschedule_put`).
struct SockRef {
    sk: NonNull<bindings::sock>,
}

impl Drop for SockRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (invariant).
        unsafe { bindings::sock_gen_put(self.sk.as_ptr()) };
    }
}

fn lookup_established(net: &Namespace, local: SocketAddr, remote: SocketAddr) -> Option<SockRef> {
    let (local, remote) = match (local.unmapped(), remote.unmapped()) {
        (l @ SocketAddr::V4(..), r @ SocketAddr::V4(..)) => (l, r),
        // Half-mapped pairs stay IPv6 (they match nothing).
        _ => (local, remote),
    };
    let n = net.as_ptr();
    // SAFETY: `net` is live (borrowed); its hash table pointer is set at creation and
    // stays valid as long as the namespace.
    let hashinfo = unsafe { bindings::rust_helper_net_tcp_hashinfo(n) };
    // SAFETY: the lookups walk RCU-protected hash chains, so they run under
    // rcu_read_lock; a socket found is returned with a reference taken
    // (refcount_inc_not_zero), which keeps it alive after the read section ends. The
    // remote side is the packet source (saddr/sport, network order), the local side the
    // destination (daddr, host-order port), as for a received segment. No interface:
    // dif = sdif = 0.
    let sk = unsafe {
        bindings::rust_helper_rcu_read_lock();
        let sk = match (local, remote) {
            (SocketAddr::V4(lip, lport), SocketAddr::V4(rip, rport)) => bindings::__inet_lookup_established(
                n,
                hashinfo,
                u32::from_ne_bytes(rip),
                rport.to_be(),
                u32::from_ne_bytes(lip),
                lport,
                0,
                0,
            ),
            (SocketAddr::V6(lip, lport), SocketAddr::V6(rip, rport)) => {
                let (saddr, daddr) = (in6(rip), in6(lip));
                bindings::__inet6_lookup_established(n, hashinfo, &saddr, rport.to_be(), &daddr, lport, 0, 0)
            }
            _ => core::ptr::null_mut(),
        };
        bindings::rust_helper_rcu_read_unlock();
        sk
    };
    // INVARIANT: a non-NULL result carries the lookup's reference.
    NonNull::new(sk).map(|sk| SockRef { sk })
}

impl SockRef {
    fn drop_socket(self) -> Outcome {
        let sk = self.sk.as_ptr();
        // SAFETY: we hold a reference; the state lives in `sock_common`, which all three
        // socket kinds start with.
        let state = unsafe { bindings::rust_helper_sk_state(sk) };
        if state == bindings::KMODS_TCP_TIME_WAIT {
            // The reference is consumed below.
            let this = ManuallyDrop::new(self);
            // SAFETY: a TIME_WAIT socket is an inet_timewait_sock. deschedule_put stops
            // its timer (unhashing and releasing it if the timer was still pending, so
            // nobody else did) and drops our reference; it takes the hash bucket lock,
            // also taken in softirq, hence bottom halves off as in the kernel's callers.
            unsafe {
                bindings::rust_helper_local_bh_disable();
                bindings::inet_twsk_deschedule_put(bindings::rust_helper_inet_twsk(this.sk.as_ptr()));
                bindings::rust_helper_local_bh_enable();
            }
            return Outcome::TimeWaitDropped;
        }
        if state == bindings::KMODS_TCP_NEW_SYN_RECV {
            // `self` drops the reference.
            return Outcome::SkippedRequest;
        }
        // A full socket. The lock_sock/bh_lock_sock sequence is tcp_abort's: the socket
        // lock keeps user-space calls (close, send) out, bottom halves off and the
        // spinlock keep softirq processing (incoming segments, timers) out. The error is
        // reported after tcp_done, so a poller woken by it sees the CLOSE state too.
        // SAFETY: our reference keeps `sk` allocated throughout, even if closing it
        // destroys it (orphaned sockets: inet_csk_destroy_sock drops the owner's
        // reference, not ours). The state is re-read under the lock: a socket that became
        // CLOSE meanwhile is left alone (closing it twice would release its port twice),
        // and one that went CLOSE -> LISTEN (re-used for listen()) is never touched.
        unsafe {
            bindings::rust_helper_lock_sock(sk);
            let state = bindings::rust_helper_sk_state(sk);
            let outcome = if state == bindings::KMODS_TCP_CLOSE || state == bindings::KMODS_TCP_LISTEN {
                Outcome::SkippedClosed
            } else {
                bindings::rust_helper_local_bh_disable();
                bindings::rust_helper_bh_lock_sock(sk);
                bindings::rust_helper_sk_set_err(sk, -ECONNABORTED.to_errno());
                bindings::tcp_done(sk);
                if !bindings::rust_helper_sock_flag_dead(sk) {
                    bindings::sk_error_report(sk);
                }
                bindings::rust_helper_bh_unlock_sock(sk);
                bindings::rust_helper_local_bh_enable();
                Outcome::Closed(state)
            };
            bindings::rust_helper_release_sock(sk);
            outcome
        }
        // `self` drops the lookup reference (sock_gen_put).
    }
}
