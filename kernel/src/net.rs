//! Kernel TCP sockets: [`TcpListener`], [`TcpStream`] and readiness callbacks
//! ([`WatchedStream`]) that let a work item run only when a socket has something to do.

use crate::error::{code::*, from_err_ptr, to_result, Result};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

pub use netaddr::SocketAddr;

/// The C address family of `addr`.
fn family(addr: &SocketAddr) -> i32 {
    match addr {
        SocketAddr::V4(..) => bindings::KMODS_AF_INET,
        SocketAddr::V6(..) => bindings::KMODS_AF_INET6,
    }
}

/// Storage for a C `sockaddr_in`/`sockaddr_in6`.
#[repr(C)]
union RawAddr {
    v4: bindings::sockaddr_in,
    v6: bindings::sockaddr_in6,
}

fn to_raw(addr: &SocketAddr) -> (RawAddr, i32) {
    // SAFETY: both sockaddr types are plain data; zero is a valid value.
    let mut raw: RawAddr = unsafe { core::mem::zeroed() };
    match *addr {
        SocketAddr::V4(ip, port) => {
            raw.v4 = bindings::sockaddr_in {
                sin_family: bindings::KMODS_AF_INET as u16,
                sin_port: port.to_be(),
                sin_addr: bindings::in_addr { s_addr: u32::from_ne_bytes(ip) },
                ..Default::default()
            };
            (raw, core::mem::size_of::<bindings::sockaddr_in>() as i32)
        }
        SocketAddr::V6(ip, port) => {
            let mut v6 = bindings::sockaddr_in6 {
                sin6_family: bindings::KMODS_AF_INET6 as u16,
                sin6_port: port.to_be(),
                ..Default::default()
            };
            v6.sin6_addr.in6_u.u6_addr8 = ip;
            raw.v6 = v6;
            (raw, core::mem::size_of::<bindings::sockaddr_in6>() as i32)
        }
    }
}

/// Owns a `struct socket`; releases it on drop.
///
/// # Invariants
/// `sock` is a live socket created by `TcpListener::try_new` or `kernel_accept`. If `file`
/// is non-null it is the socket's file (`sock_alloc_file`), on which we own the only
/// reference: the file owns the socket then, and closing the file releases it.
struct Socket {
    sock: *mut bindings::socket,
    file: *mut bindings::file,
}

impl Socket {
    fn sk(&self) -> *mut bindings::sock {
        // SAFETY: `sock` is live (invariant); `sk` is set for created inet sockets.
        unsafe { (*self.sock).sk }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.file.is_null() {
            // SAFETY: `sock` is live and released exactly once, here.
            unsafe { bindings::sock_release(self.sock) };
        } else {
            // SAFETY: we own the file's only reference (invariant); closing it releases
            // the socket, synchronously in kernel threads (so a close is sent now, not
            // a jiffy later from the delayed-fput work) and on return to user space
            // otherwise (e.g. in rmmod).
            unsafe { bindings::rust_helper_fput_now(self.file) };
        }
    }
}

// SAFETY: socket operations lock the socket internally; the pointer may move threads.
unsafe impl Send for Socket {}
// SAFETY: as above: concurrent kernel_sendmsg/recvmsg/shutdown are serialised by the
// socket lock.
unsafe impl Sync for Socket {}

/// Options for [`TcpListener::try_new`].
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// Connection backlog.
    pub backlog: i32,
    /// `SO_REUSEPORT`, so several listeners (or a restarted module) can share the port.
    pub reuseport: bool,
    /// `TCP_NODELAY` on the listener, inherited by accepted sockets.
    pub nodelay: bool,
    /// `SO_INCOMING_CPU`: among `reuseport` listeners of one port, a connection whose
    /// handshake the kernel processes on this CPU is queued to this listener (others
    /// are spread by the 4-tuple hash). `None`: no preference.
    pub incoming_cpu: Option<u32>,
    /// `TCP_DEFER_ACCEPT`: a connection is handed to `accept` only once its first data
    /// arrived, or, if none comes, after about this many seconds (the kernel rounds up
    /// to its SYN-ACK retransmission times). 0: at the end of the handshake.
    pub defer_accept_s: u32,
}

/// A listening kernel TCP socket.
pub struct TcpListener {
    sock: Socket,
}

impl TcpListener {
    /// Creates a socket in the initial network namespace, binds it to `addr` and listens.
    /// An IPv6 listener is dual-stack (`IPV6_V6ONLY` off, whatever `bindv6only` says),
    /// so `[::]` takes IPv4 clients too. `EAFNOSUPPORT` for IPv6 on a kernel without it.
    ///
    /// The listener and every connection it accepts hold a reference on the namespace,
    /// as user sockets do: the kernel stops all timers of a released socket without one,
    /// so a connection closed with data or its FIN still queued would never send them
    /// and never go away (seen: hundreds of orphans stuck in `CLOSING` after 1,000
    /// clients of a 1 MiB file, holding up to 48 MiB of TCP memory for good).
    pub fn try_new(addr: SocketAddr, opts: ListenOptions) -> Result<Self> {
        let mut sock = ptr::null_mut();
        // SAFETY: `init_net` is the always-live initial namespace; `sock` receives a new
        // socket on success.
        to_result(unsafe {
            bindings::rust_helper_sock_create_counted(
                bindings::rust_helper_init_net(),
                family(&addr),
                bindings::SOCK_STREAM as i32,
                bindings::KMODS_IPPROTO_TCP,
                &mut sock,
            )
        })?;
        // INVARIANT: the socket was created.
        let listener = TcpListener { sock: Socket { sock, file: ptr::null_mut() } };
        let sk = listener.sock.sk();
        // SAFETY: `sk` belongs to our live, not yet shared socket.
        unsafe {
            bindings::sock_set_reuseaddr(sk);
            if opts.reuseport {
                bindings::sock_set_reuseport(sk);
            }
            if opts.nodelay {
                bindings::tcp_sock_set_nodelay(sk);
            }
            if let Some(cpu) = opts.incoming_cpu.and_then(|c| i32::try_from(c).ok()) {
                bindings::rust_helper_sk_set_incoming_cpu(sk, cpu);
            }
            if matches!(addr, SocketAddr::V6(..)) {
                bindings::rust_helper_sk_set_v6only(sk, false);
            }
        }
        if opts.defer_accept_s > 0 {
            let secs = i32::try_from(opts.defer_accept_s).map_err(|_| EINVAL)?;
            // SAFETY: the socket is live and ours; the value is copied during the call.
            to_result(unsafe { bindings::rust_helper_tcp_set_defer_accept(sock, secs) })?;
        }
        let (mut raw, len) = to_raw(&addr);
        // SAFETY: `raw` holds a sockaddr of `len` bytes for the socket's family.
        to_result(unsafe { bindings::kernel_bind(sock, (&raw mut raw).cast(), len) })?;
        // SAFETY: the socket is bound.
        to_result(unsafe { bindings::kernel_listen(sock, opts.backlog) })?;
        Ok(listener)
    }

    /// Accepts a connection; with `block` false returns `EAGAIN` when none is waiting.
    /// A blocked accept returns an error once [`TcpListener::shutdown`] is called.
    /// The stream can send files ([`TcpStream::send_file`]).
    pub fn accept(&self, block: bool) -> Result<TcpStream> {
        let new = self.accept_socket(block)?;
        // Give the socket a file (not in any descriptor table) so that file data can be
        // spliced into it (`TcpStream::send_file`). Non-blocking, so a splice returns
        // EAGAIN instead of sleeping when the send buffer is full; reads and writes pass
        // their own flags and are unaffected.
        // SAFETY: `new` is a live socket without a file. On failure sock_alloc_file has
        // released it already, so it must not be released again.
        let file = from_err_ptr(
            unsafe { bindings::sock_alloc_file(new, bindings::KMODS_O_NONBLOCK as i32, ptr::null()) },
            ENOMEM,
        )?;
        // INVARIANT: kernel_accept succeeded and the new file owns the socket.
        Ok(TcpStream { sock: Socket { sock: new, file } })
    }

    /// Like [`TcpListener::accept`], without the file a stream needs to send files
    /// (its `send_file` returns `EINVAL`): cheaper to open and to close, for protocols
    /// that only read and write.
    pub fn accept_without_file(&self, block: bool) -> Result<TcpStream> {
        let new = self.accept_socket(block)?;
        // INVARIANT: kernel_accept succeeded; the socket has no file.
        Ok(TcpStream { sock: Socket { sock: new, file: ptr::null_mut() } })
    }

    /// A new connection's socket, owned by the caller (who must release it or hand it
    /// to a [`Socket`]).
    fn accept_socket(&self, block: bool) -> Result<*mut bindings::socket> {
        let mut new = ptr::null_mut();
        let flags = if block { 0 } else { bindings::KMODS_O_NONBLOCK as i32 };
        // SAFETY: the listener is live; `new` receives a new socket on success.
        to_result(unsafe { bindings::kernel_accept(self.sock.sock, &mut new, flags) })?;
        Ok(new)
    }

    /// Stops listening; wakes a thread blocked in [`TcpListener::accept`].
    pub fn shutdown(&self) {
        // SAFETY: the listener is live.
        unsafe { bindings::kernel_sock_shutdown(self.sock.sock, bindings::SHUT_RDWR) };
    }
}

/// How to shut a stream down.
#[derive(Clone, Copy, Debug)]
pub enum Shutdown {
    /// No more receiving.
    Read = 0,
    /// No more sending (sends FIN).
    Write = 1,
    /// Both.
    Both = 2,
}

/// A connected kernel TCP socket.
pub struct TcpStream {
    sock: Socket,
}

const MAX_IOV: usize = 16;

impl TcpStream {
    /// Receives into `buf`; `Ok(0)` means the peer closed. Non-blocking reads return
    /// `EAGAIN` when no data is waiting.
    pub fn read(&self, buf: &mut [u8], block: bool) -> Result<usize> {
        // SAFETY: `buf` is a live, exclusively borrowed slice of `buf.len()` bytes.
        unsafe { self.recv_raw(buf.as_mut_ptr(), buf.len(), block) }
    }

    /// Receives into the spare capacity of `buf` (at most `buf.capacity() - buf.len()`
    /// bytes), appending what arrived: no need to clear a buffer before reading into
    /// it. Otherwise as [`TcpStream::read`].
    pub fn read_append(&self, buf: &mut Vec<u8>, block: bool) -> Result<usize> {
        let spare = buf.spare_capacity_mut();
        let room = spare.len();
        // SAFETY: the spare capacity is allocated and exclusively borrowed; recv_raw
        // only writes into it.
        let n = unsafe { self.recv_raw(spare.as_mut_ptr().cast(), room, block) }?.min(room);
        // SAFETY: the first `n` spare bytes were written, so they are initialised, and
        // `len + n <= capacity`.
        unsafe { buf.set_len(buf.len() + n) };
        Ok(n)
    }

    /// Receives up to `len` bytes at `base`; returns how many arrived (the first ones
    /// there, written, never read).
    ///
    /// # Safety
    /// `base..base + len` must be valid for writes for the call and not accessed
    /// through anything else meanwhile.
    unsafe fn recv_raw(&self, base: *mut u8, len: usize, block: bool) -> Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        let mut vec = bindings::kvec { iov_base: base.cast(), iov_len: len };
        // SAFETY: msghdr is plain data; all-zero means no name, no control data.
        let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
        let flags = if block { 0 } else { bindings::KMODS_MSG_DONTWAIT as i32 };
        // SAFETY: `vec` describes `len` writable bytes at `base` (the caller's promise);
        // kernel_recvmsg copies at most that much into them.
        let n = to_result(unsafe { bindings::kernel_recvmsg(self.sock.sock, &mut msg, &mut vec, 1, len, flags) })?;
        Ok((n as usize).min(len))
    }

    /// Sends from `buf`; returns how much was queued (maybe less than all). Non-blocking
    /// sends return `EAGAIN` when the send buffer is full. Never raises SIGPIPE.
    pub fn write(&self, buf: &[u8], block: bool) -> Result<usize> {
        self.write_vectored(&[buf], block, false)
    }

    /// Sends several buffers in one call (scatter-gather); `more` hints that more data
    /// follows (`MSG_MORE`), so the stack may wait to fill a segment.
    pub fn write_vectored(&self, bufs: &[&[u8]], block: bool, more: bool) -> Result<usize> {
        let mut vecs = [bindings::kvec { iov_base: ptr::null_mut(), iov_len: 0 }; MAX_IOV];
        let mut count = 0;
        let mut total = 0usize;
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            let Some(slot) = vecs.get_mut(count) else { break };
            *slot = bindings::kvec { iov_base: b.as_ptr().cast_mut().cast(), iov_len: b.len() };
            count += 1;
            total += b.len();
        }
        if total == 0 {
            return Ok(0);
        }
        // SAFETY: msghdr is plain data; all-zero means no name, no control data.
        let mut msg: bindings::msghdr = unsafe { core::mem::zeroed() };
        let mut flags = bindings::KMODS_MSG_NOSIGNAL;
        if !block {
            flags |= bindings::KMODS_MSG_DONTWAIT;
        }
        if more {
            flags |= bindings::KMODS_MSG_MORE;
        }
        msg.msg_flags = flags;
        // SAFETY: each kvec describes a live slice borrowed for the call; kernel_sendmsg
        // only reads them.
        let n = to_result(unsafe { bindings::kernel_sendmsg(self.sock.sock, &mut msg, vecs.as_mut_ptr(), count, total) })?;
        Ok(n as usize)
    }

    /// Sends up to `len` bytes of `pages` from `pos` without copying them: the socket
    /// references the pages (they stay valid while it does, whatever happens to
    /// `pages`). Returns how much was queued (maybe less than `len`); never blocks:
    /// `EAGAIN` when the send buffer is full and nothing was queued. `more` as in
    /// [`TcpStream::write_vectored`]. `EINVAL` if `pos + len` is past the end.
    pub fn send_pages(&self, pages: &crate::page::Pages, pos: usize, len: usize, more: bool) -> Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        // SAFETY: the socket is live while `self` is (invariant of Socket).
        unsafe { pages.send(self.sock.sock, pos, len, more) }
    }

    /// Sends up to `len` bytes of `file` from `*pos` without copying them (splice from
    /// the page cache: the socket takes references on the cached pages); advances `*pos`
    /// by what was sent and returns that. Never blocks: `EAGAIN` when the send buffer is
    /// full. `more` as in [`TcpStream::write_vectored`]. `EINVAL` if the file system
    /// cannot splice (send through a buffer then).
    pub fn send_file(&self, file: &crate::fs::File, pos: &mut u64, len: usize, more: bool) -> Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        let mut off = i64::try_from(*pos).map_err(|_| EINVAL)?;
        let mut out_off: i64 = 0;
        let flags = if more { bindings::KMODS_SPLICE_F_MORE } else { 0 };
        // SAFETY: both files are open and referenced for the call (`file` is borrowed,
        // `self.sock.file` is ours, non-null for accepted streams, checked below);
        // `off`/`out_off` are valid for the call. do_splice_direct uses the calling
        // task's private pipe and releases what it could not send.
        let n = unsafe {
            if self.sock.file.is_null() {
                return Err(EINVAL);
            }
            bindings::do_splice_direct(file.as_ptr(), &mut off, self.sock.file, &mut out_off, len, flags)
        };
        if n < 0 {
            return Err(crate::error::Error::from_errno(n as i32));
        }
        *pos = off as u64;
        Ok(n as usize)
    }

    /// Shuts the connection down in one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> Result {
        // SAFETY: the socket is live.
        to_result(unsafe { bindings::kernel_sock_shutdown(self.sock.sock, how as u32) }).map(|_| ())
    }

    /// Disables Nagle's algorithm.
    pub fn set_nodelay(&self) {
        // SAFETY: the socket is live.
        unsafe { bindings::tcp_sock_set_nodelay(self.sock.sk()) };
    }

    /// Corks (`true`) or uncorks the socket, as `TCP_CORK` does: while corked only full
    /// segments leave (a FIN, from [`TcpStream::shutdown`], still sends the tail with
    /// it); uncorking sends what is held.
    pub fn set_cork(&self, on: bool) {
        // SAFETY: the socket is live; tcp_sock_set_cork takes the socket lock itself and
        // may sleep, which callers (process context, like every method here) allow.
        unsafe { bindings::tcp_sock_set_cork(self.sock.sk(), on) };
    }

    /// The TCP state (`TCP_ESTABLISHED`, `TCP_CLOSE_WAIT`, ...).
    pub fn state(&self) -> i32 {
        // SAFETY: the socket is live; the state is read with READ_ONCE.
        unsafe { bindings::rust_helper_sk_state(self.sock.sk()) }
    }

    /// Whether a read would now return `EAGAIN`: no unread byte, no FIN from the peer,
    /// no error, and the connection in a state where the peer may still send
    /// (`ESTABLISHED`, `FIN_WAIT1`, `FIN_WAIT2`). A snapshot without the socket lock:
    /// what arrives after it raises [`SocketEvent::DataReady`] (bytes, FIN) or
    /// [`SocketEvent::StateChange`] (reset, error), and each is visible here before its
    /// event is raised. So a reader driven by those events may skip a read when this
    /// is true and wait for the next event, without losing one. `false` says only that
    /// a read may find something (or an error, or the end).
    pub fn nothing_to_read(&self) -> bool {
        // SAFETY: the socket is live and a TCP socket (streams are accepted TCP
        // connections); the fields are read with READ_ONCE.
        unsafe { bindings::rust_helper_tcp_nothing_to_read(self.sock.sk()) }
    }

    /// Whether TCP is under memory pressure: `tcp_mem`'s middle mark passed (for all
    /// sockets) or the socket's memory cgroup under pressure. A hint, read without a
    /// lock.
    pub fn under_memory_pressure(&self) -> bool {
        // SAFETY: the socket is live and a TCP socket; tcp_under_memory_pressure reads
        // the flags with READ_ONCE.
        unsafe { bindings::rust_helper_tcp_under_memory_pressure(self.sock.sk()) }
    }

    /// Bytes written and not yet acknowledged by the peer, queued or in flight (our FIN
    /// counts as one). A snapshot read without the socket lock: it only falls as ACKs
    /// arrive, until the next write.
    pub fn unacked(&self) -> u32 {
        // SAFETY: the socket is live and a TCP socket; both sequence numbers are read
        // with READ_ONCE.
        unsafe { bindings::rust_helper_tcp_unacked(self.sock.sk()) }
    }

    /// Whether this side has sent its FIN and the peer has not sent one yet
    /// (`FIN_WAIT1`, `FIN_WAIT2`): what changes the state there is our own shutdown
    /// going out and being acknowledged; the peer's data, FIN or reset come with events
    /// (and states) of their own.
    pub fn awaits_peer_fin(&self) -> bool {
        let st = self.state();
        st == bindings::KMODS_TCP_FIN_WAIT1 || st == bindings::KMODS_TCP_FIN_WAIT2
    }
}

/// What a socket callback reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketEvent {
    /// Data (or a FIN) arrived.
    DataReady,
    /// Send buffer space was freed, and at least a third of the buffer is free now
    /// (what wakes a writer blocked in `poll`); the stream's earlier send had returned
    /// `EAGAIN`, or it had filled the buffer.
    WriteSpace,
    /// The TCP state changed (peer closed, reset, ...).
    StateChange,
}

/// Receives socket readiness callbacks.
pub trait SocketEvents: Send + Sync + 'static {
    /// Called with the socket's callback lock read-held and bottom halves disabled:
    /// usually in softirq context (packet receive, TCP timers), sometimes in process
    /// context (the thread that owns the socket lock processing its backlog in
    /// `release_sock`, or a shutdown). Either way it is atomic: it must not sleep,
    /// allocate with GFP_KERNEL or take the socket lock. Typically it queues work.
    fn on_socket_event(this: &Arc<Self>, event: SocketEvent);
}

type SkCallback = Option<unsafe extern "C" fn(*mut bindings::sock)>;

/// Installed as `sk_user_data` while a [`WatchedStream`] is watched.
struct WatchData<T> {
    target: Arc<T>,
    data_ready: SkCallback,
    write_space: SkCallback,
    state_change: SkCallback,
}

/// A [`TcpStream`] whose readiness callbacks can be routed to a [`SocketEvents`] target.
///
/// # Invariants
/// While `watching` is true, the socket's `sk_user_data` is a `Box<WatchData<T>>` leaked
/// by `watch` and its callbacks are this module's trampolines; both are only changed under
/// the socket's `sk_callback_lock`.
pub struct WatchedStream<T: SocketEvents> {
    stream: TcpStream,
    watching: AtomicBool,
    _p: PhantomData<T>,
    _pin: UnsafeCell<()>,
}

// SAFETY: all state changes go through the socket's callback lock or atomics.
unsafe impl<T: SocketEvents> Sync for WatchedStream<T> {}
// SAFETY: as above.
unsafe impl<T: SocketEvents> Send for WatchedStream<T> {}

impl<T: SocketEvents> WatchedStream<T> {
    /// Wraps a stream; callbacks are not routed until [`WatchedStream::watch`].
    pub fn new(stream: TcpStream) -> Self {
        Self { stream, watching: AtomicBool::new(false), _p: PhantomData, _pin: UnsafeCell::new(()) }
    }

    /// The stream, for reads and writes.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Routes the socket's callbacks to `target` (which the socket keeps a reference to
    /// until [`WatchedStream::unwatch`]). Fails with `EBUSY` if already watched.
    pub fn watch(&self, target: Arc<T>) -> Result {
        let data = Box::try_new(WatchData { target, data_ready: None, write_space: None, state_change: None })?;
        if self.watching.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(EBUSY);
        }
        let sk = self.stream.sock.sk();
        let raw = Box::into_raw(data);
        // SAFETY: `sk` is live; we hold its callback lock while swapping the callbacks
        // and user data (see the type's invariants); `raw` is a valid WatchData<T>.
        unsafe {
            bindings::rust_helper_sk_callback_write_lock_bh(sk);
            (*raw).data_ready = (*sk).sk_data_ready;
            (*raw).write_space = (*sk).sk_write_space;
            (*raw).state_change = (*sk).sk_state_change;
            bindings::rust_helper_set_sk_user_data(sk, raw.cast());
            (*sk).sk_data_ready = Some(data_ready::<T>);
            (*sk).sk_write_space = Some(write_space::<T>);
            (*sk).sk_state_change = Some(state_change::<T>);
            bindings::rust_helper_sk_callback_write_unlock_bh(sk);
        }
        Ok(())
    }

    /// Restores the original callbacks and drops the socket's reference to the target.
    /// When it returns, the target is neither being called nor will be. Idempotent.
    ///
    /// What it does not promise: a caller of the socket's callbacks that loaded our
    /// trampoline just before the restore may still enter it (it then finds no target and
    /// returns). Such callers run in softirq context, or are the socket lock's owner, so
    /// before this module's code goes away, stop every thread that uses the socket and
    /// then wait for softirq callers with [`synchronize_net`].
    pub fn unwatch(&self) {
        if self.watching.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        let sk = self.stream.sock.sk();
        // SAFETY: under the callback lock, nobody else uses the user data (callbacks hold
        // the read side); we restore what `watch` saved and take back its Box.
        let data = unsafe {
            bindings::rust_helper_sk_callback_write_lock_bh(sk);
            let raw = bindings::rust_helper_sk_user_data(sk).cast::<WatchData<T>>();
            if !raw.is_null() {
                (*sk).sk_data_ready = (*raw).data_ready;
                (*sk).sk_write_space = (*raw).write_space;
                (*sk).sk_state_change = (*raw).state_change;
                bindings::rust_helper_set_sk_user_data(sk, ptr::null_mut());
            }
            bindings::rust_helper_sk_callback_write_unlock_bh(sk);
            if raw.is_null() { None } else { Some(Box::from_raw(raw)) }
        };
        // Dropping the target reference here, in process context, is fine.
        drop(data);
    }
}

impl<T: SocketEvents> Drop for WatchedStream<T> {
    fn drop(&mut self) {
        self.unwatch();
    }
}

/// Common body of the three trampolines.
///
/// # Safety
/// Called by the network stack with a live `sk` whose callbacks we installed.
unsafe fn dispatch<T: SocketEvents>(sk: *mut bindings::sock, event: SocketEvent) {
    // SAFETY: the read lock keeps `unwatch` from freeing the user data under us; a null
    // pointer means we were unwatched between the stack loading the callback and now,
    // in which case the original callback was restored and there is nothing to chain.
    unsafe {
        bindings::rust_helper_sk_callback_read_lock_bh(sk);
        let raw = bindings::rust_helper_sk_user_data(sk).cast::<WatchData<T>>();
        if let Some(data) = raw.as_ref() {
            let orig = match event {
                SocketEvent::DataReady => data.data_ready,
                SocketEvent::WriteSpace => data.write_space,
                SocketEvent::StateChange => data.state_change,
            };
            if let Some(f) = orig {
                f(sk);
            }
            // As a poll()er is woken: once a third of the send buffer is free, not on
            // every ACK in between (the stack calls sk_write_space for each while a
            // writer is waiting, and each would cost the target a run that sends a
            // sliver).
            if event != SocketEvent::WriteSpace || bindings::rust_helper_sk_stream_is_writeable(sk) {
                T::on_socket_event(&data.target, event);
            }
        }
        bindings::rust_helper_sk_callback_read_unlock_bh(sk);
    }
}

unsafe extern "C" fn data_ready<T: SocketEvents>(sk: *mut bindings::sock) {
    // SAFETY: installed by `watch` on this `sk`.
    unsafe { dispatch::<T>(sk, SocketEvent::DataReady) }
}

unsafe extern "C" fn write_space<T: SocketEvents>(sk: *mut bindings::sock) {
    // SAFETY: installed by `watch` on this `sk`.
    unsafe { dispatch::<T>(sk, SocketEvent::WriteSpace) }
}

unsafe extern "C" fn state_change<T: SocketEvents>(sk: *mut bindings::sock) {
    // SAFETY: installed by `watch` on this `sk`.
    unsafe { dispatch::<T>(sk, SocketEvent::StateChange) }
}


/// Waits until every network softirq and RCU reader that started before the call has
/// finished (`synchronize_net`): after the last [`WatchedStream::unwatch`], no callback
/// trampoline of this module runs any more. Sleeps; process context only.
pub fn synchronize_net() {
    // SAFETY: no preconditions beyond process context, which sleeping callers are in.
    unsafe { bindings::synchronize_net() }
}
