//! [`Server`]: listener, accept thread, connection registry, per-connection work and
//! deadlines.

use core::ffi::CStr;
use core::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use kernel::error::code::*;
use kernel::kthread::{self, Thread};
use kernel::list::{ArcList, Links};
use kernel::net::{ListenOptions, Shutdown, SocketAddr, SocketEvent, SocketEvents, TcpListener, TcpStream, WatchedStream};
use kernel::prelude::*;
use kernel::sync::TryLock;
use kernel::timer::{self, Timer, TimerItem};
use kernel::workqueue::{self, Queue, QueueFlags, Work, WorkItem};

/// What a handler wants after serving a connection for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing more to do until the socket reports readiness again.
    Wait,
    /// More work is ready but the handler's budget is spent: run again later, after
    /// other connections had their turn.
    Yield,
    /// Close the connection.
    Close,
}

/// The protocol side of a server (echo, HTTP, ...).
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state, touched only by that connection's work item.
    type State: Send + 'static;

    /// Creates the state for a new connection.
    fn new_state(&self) -> Result<Self::State>;

    /// State for a connection accepted beyond [`ServerConfig::max_connections`]: served
    /// only to tell the client (e.g. an HTTP 503), then closed. `None` (the default):
    /// close it at once.
    fn refusal_state(&self) -> Option<Self::State> {
        None
    }

    /// Serves the connection: non-blocking reads and writes on `stream` until they
    /// would block (then [`Step::Wait`]), the budget is spent ([`Step::Yield`]) or the
    /// connection is done ([`Step::Close`]). Runs in process context: in a worker, or
    /// (a new connection's first run, with per-CPU accept threads) in the accept thread;
    /// never in two threads at once for one connection. It runs once the connection is
    /// accepted, then on socket events (data or the peer's FIN arrived, send space
    /// freed, the state changed), but not for the state changes of our own half-close
    /// (`FIN_WAIT1`, `FIN_WAIT2`), which give nothing to read or write.
    fn serve(&self, state: &mut Self::State, stream: &TcpStream) -> Step;

    /// When the connection must be served again even if its socket stays quiet
    /// (monotonic milliseconds, as [`kernel::time::monotonic_ms`]), e.g. to enforce a
    /// time-out; asked after every [`Step::Wait`]. `None`: only on socket activity.
    fn deadline(&self, state: &Self::State) -> Option<u64>;

    /// Called once per closed connection with its final state (for statistics).
    fn closed(&self, _state: &mut Self::State) {}
}

/// How to set a [`Server`] up.
pub struct ServerConfig {
    /// Workqueue name (shown by workqueue tracing and `/sys/devices/virtual/workqueue`).
    pub queue_name: &'static CStr,
    /// Accept thread name (shown by `ps`).
    pub thread_name: &'static CStr,
    /// With per-CPU listeners, each accept thread is named this, `/` and its CPU. The
    /// kernel keeps 15 characters of a name: at most 10 here leave room for 4 digits.
    pub cpu_thread_name: &'static CStr,
    /// Address and port to listen on.
    pub addr: SocketAddr,
    /// Listen backlog.
    pub backlog: i32,
    /// Unbound (`WQ_UNBOUND`) or bound (per-CPU) workers.
    pub queue_flags: QueueFlags,
    /// Most work items (connections being served) running at once; 0: the kernel's
    /// default (256). Connections beyond it wait their turn in the queue.
    pub max_active: i32,
    /// Connections open at once; beyond it a new connection is refused (see
    /// [`Handler::refusal_state`]). 0: no limit.
    pub max_connections: u32,
    /// One listener and accept thread per online CPU instead of one for all: the
    /// listeners share the port (`SO_REUSEPORT`) and each takes the connections whose
    /// handshake the kernel processed on its CPU (`SO_INCOMING_CPU`); its thread runs on
    /// that CPU only, and each keeps its own connection registry. With a bound queue
    /// ([`QueueFlags::BOUND`]) a connection is then served on the CPU its packets arrive
    /// on, with no lock shared between CPUs on the way. Each accept thread serves a new
    /// connection's first run itself (no worker woken for it): so up to one more
    /// connection per CPU is served at once than `max_active` says.
    pub per_cpu: bool,
    /// Hand a connection over only once its first data arrived (`TCP_DEFER_ACCEPT`, see
    /// [`ListenOptions::defer_accept_s`]); 0: at the end of the handshake. For
    /// protocols where the client speaks first: its first run then finds the request.
    pub defer_accept_s: u32,
    /// Accepted streams can send files ([`TcpStream::send_file`]); without, accepting
    /// and closing a connection costs less (no file is made for its socket).
    pub send_files: bool,
}

/// Connections refused politely (served a refusal) at once beyond the limit; more than
/// this are closed without a word.
const REFUSING_MAX: usize = 64;
/// Refusals are logged at most this often.
const REFUSAL_LOG_MS: u64 = 5000;

/// State shared by the accept thread and all connections.
///
/// Lifetime: owned through `Arc`s by the [`Server`] and by every connection; the server
/// drops the last reference only after every connection is gone (see [`Server::drop`]).
struct Shared<H: Handler> {
    handler: H,
    queue: Queue,
    /// The open connections, one registry per accept thread (each has its own lock).
    registries: Vec<ArcList<Conn<H>>>,
    stopping: AtomicBool,
    stats: Arc<ServerStats>,
    max_connections: usize,
    /// Per-CPU accept threads serve a new connection's first run themselves.
    serve_first_inline: bool,
    send_files: bool,
}

/// A server's connection counts, shared with whoever shows them (it outlives the
/// server if held elsewhere).
pub struct ServerStats {
    listeners: Vec<ListenerStats>,
    open: AtomicUsize,
    refused: AtomicU64,
}

/// One listener's count, written only by its accept thread; on a cache line of its own
/// so that per-CPU accept threads do not share one.
#[repr(align(64))]
struct ListenerStats {
    cpu: Option<usize>,
    accepted: AtomicU64,
}

impl ServerStats {
    fn try_new(cpus: &[Option<usize>]) -> Result<Self> {
        let mut listeners = Vec::new();
        listeners.try_reserve_exact(cpus.len())?;
        for cpu in cpus {
            listeners.try_push(ListenerStats { cpu: *cpu, accepted: AtomicU64::new(0) })?;
        }
        Ok(ServerStats { listeners, open: AtomicUsize::new(0), refused: AtomicU64::new(0) })
    }

    /// Connections accepted so far (refused ones included).
    pub fn accepted(&self) -> u64 {
        self.listeners.iter().map(|l| l.accepted.load(Ordering::Relaxed)).sum()
    }

    /// With per-CPU listeners: each listener's CPU and the connections it accepted.
    /// Empty with a single listener.
    pub fn accepted_per_cpu(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.listeners.iter().filter_map(|l| Some((l.cpu?, l.accepted.load(Ordering::Relaxed))))
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections refused so far because `max_connections` were open.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// One connection. Lifetime: referenced by the registry (until closed), by the socket's
/// callback data (until unwatched at close) and by each queued instance of its work.
/// and by its deadline timer while that is pending.
struct Conn<H: Handler> {
    work: Work<Conn<H>>,
    timer: Timer<Conn<H>>,
    links: Links<Conn<H>>,
    stream: WatchedStream<Conn<H>>,
    state: TryLock<H::State>,
    /// Set by every attempt to serve; one that finds the state locked leaves it set for
    /// the thread holding it, which serves again (see [`Conn::serve`]).
    again: AtomicBool,
    closed: AtomicBool,
    /// Index of the registry (in `Shared::registries`) that holds it.
    registry: usize,
    shared: Arc<Shared<H>>,
}

kernel::impl_work_item!(impl<H: Handler> Conn<H>, work);
kernel::impl_timer_item!(impl<H: Handler> Conn<H>, timer);
kernel::impl_has_links!(impl<H: Handler> Conn<H>, links);

impl<H: Handler> TimerItem for Conn<H> {
    /// A deadline passed: serve the connection, which acts on it. The timer's reference
    /// goes to the queue, so it is dropped in a worker, never here in softirq context
    /// (the last reference releases the socket, which sleeps); if the work is already
    /// pending, the queued instance holds another, so ours is not the last.
    fn expired(this: Arc<Self>) {
        // Not the last reference to `shared` either: `Server::drop` waits for it.
        let shared = this.shared.clone();
        let _ = shared.queue.enqueue(this);
    }
}

impl<H: Handler> SocketEvents for Conn<H> {
    fn on_socket_event(this: &Arc<Self>, event: SocketEvent) {
        if this.closed.load(Ordering::Relaxed) {
            return;
        }
        // Our own half-close going out (the handler's shutdown, in its own run) and
        // being acknowledged gives the handler nothing to read or write: skip those
        // runs (two per closed HTTP/1.0 connection). What it waits for, the peer's
        // data or FIN or a reset, comes with a DataReady or a state out of FIN_WAIT.
        if event == SocketEvent::StateChange && this.stream.stream().awaits_peer_fin() {
            return;
        }
        // Already pending is fine: the queued run will see the new data too. The clone
        // given back on failure is never the last reference (the socket's callback data
        // holds one until unwatch, which waits for us), so dropping it here is safe.
        let _ = this.shared.queue.enqueue(this.clone());
    }
}

impl<H: Handler> WorkItem for Conn<H> {
    fn run(this: Arc<Self>) {
        Conn::serve(&this);
    }
}

impl<H: Handler> Conn<H> {
    /// Serves the connection in this thread: its work item, or the accept thread for a
    /// connection's first run. Two threads can get here at once (the accept thread and
    /// a run queued by a socket event meanwhile): the one that finds the state locked
    /// returns with `again` set, and the holder, which checks `again` after unlocking,
    /// serves once more. Each side writes before it reads the other's word (fenced), so
    /// at least one of them sees the other: no event is lost.
    fn serve(this: &Arc<Self>) {
        this.again.store(true, Ordering::SeqCst);
        loop {
            if this.closed.load(Ordering::Acquire) {
                return;
            }
            fence(Ordering::SeqCst);
            let step = {
                let Some(mut state) = this.state.try_lock() else { return };
                let mut step;
                loop {
                    this.again.store(false, Ordering::SeqCst);
                    step = this.shared.handler.serve(&mut state, this.stream.stream());
                    if step != Step::Wait || !this.again.load(Ordering::SeqCst) {
                        break;
                    }
                }
                // The timer is set while the state is held, so that a run that ends
                // later cannot have its deadline replaced by an older one.
                // A connection closed meanwhile (by rmmod) keeps no timer: Server::drop
                // cancels what this might still arm.
                if step == Step::Wait && !this.closed.load(Ordering::Acquire) {
                    match this.shared.handler.deadline(&state) {
                        Some(at) => {
                            let ms = at.saturating_sub(kernel::time::monotonic_ms());
                            let _ = timer::arm_ms(this, u32::try_from(ms).unwrap_or(u32::MAX));
                        }
                        None => {
                            timer::cancel(this);
                        }
                    }
                }
                step
            };
            match step {
                Step::Wait => {}
                // The queued run serves again.
                Step::Yield => {
                    if !this.closed.load(Ordering::Acquire) {
                        let _ = this.shared.queue.enqueue(this.clone());
                    }
                    return;
                }
                Step::Close => {
                    Conn::close(this);
                    return;
                }
            }
            fence(Ordering::SeqCst);
            if !this.again.load(Ordering::SeqCst) {
                return;
            }
        }
    }
}

impl<H: Handler> Conn<H> {
    /// Closes the connection once: stops callbacks, shuts the socket down (waking the
    /// peer) and leaves the registry. The socket is released when the last reference
    /// (a queued work instance, or the caller's) goes away.
    fn close(this: &Arc<Self>) {
        if this.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        this.stream.unwatch();
        // Its reference is dropped here, never the last (the caller holds `this`); a
        // callback running now hands its reference to the queue.
        timer::cancel(this);
        let _ = this.stream.stream().shutdown(Shutdown::Both);
        if let Some(mut state) = this.state.try_lock() {
            this.shared.handler.closed(&mut state);
        }
        if let Some(registry) = this.shared.registries.get(this.registry) {
            drop(registry.remove(this));
        }
        this.shared.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running server. Dropping it stops it: see [`Server::drop`].
pub struct Server<H: Handler> {
    shared: Arc<Shared<H>>,
    acceptors: Vec<Acceptor>,
    addr: SocketAddr,
}

/// A listener and the thread that accepts on it.
struct Acceptor {
    listener: Arc<TcpListener>,
    thread: Option<Thread>,
}

/// Makes a listener on `addr`, or, for `[::]` on a kernel without IPv6
/// (ipv6.disable=1), on every IPv4 address; returns the address used.
fn listen(addr: SocketAddr, opts: ListenOptions) -> Result<(TcpListener, SocketAddr)> {
    match TcpListener::try_new(addr, opts) {
        Err(e) if e == EAFNOSUPPORT && addr == SocketAddr::any_v6(addr.port()) => {
            let v4 = SocketAddr::any_v4(addr.port());
            Ok((TcpListener::try_new(v4, opts)?, v4))
        }
        r => Ok((r?, addr)),
    }
}

/// `base` followed by `/cpu` (as per-CPU kernel threads are named), NUL-terminated in
/// `buf`; cut short if it does not fit (the kernel keeps 15 characters anyway).
fn per_cpu_name<'a>(base: &CStr, cpu: usize, buf: &'a mut [u8; 32]) -> &'a CStr {
    let mut digits = [0u8; 20];
    let mut n = cpu;
    let mut len = 0;
    loop {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (n % 10) as u8;
        }
        len += 1;
        n /= 10;
        if n == 0 || len >= digits.len() {
            break;
        }
    }
    let name = base.to_bytes().iter().copied().chain(core::iter::once(b'/'));
    let number = digits.iter().take(len).rev().copied();
    let last = buf.len() - 1;
    let mut at = 0;
    for (slot, byte) in buf.iter_mut().take(last).zip(name.chain(number)) {
        *slot = byte;
        at += 1;
    }
    if let Some(end) = buf.get_mut(at) {
        *end = 0;
    }
    CStr::from_bytes_until_nul(buf).unwrap_or(c"server")
}

impl<H: Handler> Server<H> {
    /// Listens on `config.addr` and starts accepting connections for `handler`.
    pub fn start(config: ServerConfig, handler: H) -> Result<Self> {
        let queue = Queue::try_new(config.queue_name, config.queue_flags, config.max_active)?;
        // The CPU of each accept thread; `None`: one thread for all CPUs.
        let mut cpus: Vec<Option<usize>> = Vec::new();
        if config.per_cpu {
            for cpu in kernel::cpu::online_ids() {
                cpus.try_push(Some(cpu))?;
            }
        }
        if cpus.is_empty() {
            cpus.try_push(None)?;
        }
        let mut listeners: Vec<Arc<TcpListener>> = Vec::new();
        listeners.try_reserve_exact(cpus.len())?;
        let mut registries = Vec::new();
        registries.try_reserve_exact(cpus.len())?;
        let mut addr = config.addr;
        for cpu in cpus.iter() {
            let incoming_cpu = cpu.and_then(|c| u32::try_from(c).ok());
            let opts = ListenOptions {
                backlog: config.backlog,
                reuseport: true,
                nodelay: true,
                incoming_cpu,
                defer_accept_s: config.defer_accept_s,
            };
            // Every listener after the first uses the family the first one got.
            let (listener, used) = listen(addr, opts)?;
            addr = used;
            listeners.try_push(kernel::allocator::try_arc(listener)?)?;
            registries.try_push(kernel::new_arc_list!("server connections"))?;
        }
        let shared = kernel::allocator::try_arc(Shared {
            handler,
            queue,
            registries,
            stopping: AtomicBool::new(false),
            stats: kernel::allocator::try_arc(ServerStats::try_new(&cpus)?)?,
            max_connections: if config.max_connections == 0 { usize::MAX } else { config.max_connections as usize },
            serve_first_inline: cpus.iter().all(|c| c.is_some()),
            send_files: config.send_files,
        })?;
        let mut server = Server { shared, acceptors: Vec::new(), addr };
        server.acceptors.try_reserve_exact(listeners.len())?;
        for (registry, (listener, cpu)) in listeners.into_iter().zip(cpus.iter()).enumerate() {
            let (s, l) = (server.shared.clone(), listener.clone());
            let accept = move || accept_loop(s, l, registry);
            // On failure `server` drops and stops the threads started so far.
            let thread = match cpu {
                Some(cpu) => {
                    let mut buf = [0u8; 32];
                    Thread::spawn_on(per_cpu_name(config.cpu_thread_name, *cpu, &mut buf), *cpu, accept)?
                }
                None => Thread::spawn(config.thread_name, accept)?,
            };
            // Cannot fail: reserved above.
            let _ = server.acceptors.try_push(Acceptor { listener, thread: Some(thread) });
        }
        Ok(server)
    }

    /// How many listeners (and accept threads) serve the port: 1, or one per CPU.
    pub fn listeners(&self) -> usize {
        self.acceptors.len()
    }

    /// Which clients the listener takes, for the log: "IPv4 and IPv6", "IPv4 only"...
    pub fn reach(&self) -> &'static str {
        match self.addr {
            SocketAddr::V6(ip, _) if ip == [0; 16] => "IPv4 and IPv6",
            SocketAddr::V6(..) => "IPv6",
            SocketAddr::V4(..) => "IPv4 only",
        }
    }

    /// The handler, e.g. for statistics.
    pub fn handler(&self) -> &H {
        &self.shared.handler
    }

    /// The connection counts (a shared handle, e.g. for a statistics file).
    pub fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.stats.accepted()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.stats.open()
    }

    /// Connections refused so far because `max_connections` were open.
    pub fn refused(&self) -> u64 {
        self.shared.stats.refused()
    }
}

fn accept_loop<H: Handler>(shared: Arc<Shared<H>>, listener: Arc<TcpListener>, registry: usize) -> i32 {
    let mut reported = false;
    let mut refusals = RefusalLog { last_ms: 0, logged: 0 };
    while !kthread::should_stop() && !shared.stopping.load(Ordering::Acquire) {
        let accepted = if shared.send_files { listener.accept(true) } else { listener.accept_without_file(true) };
        match accepted {
            Ok(stream) => {
                if shared.stopping.load(Ordering::Acquire) {
                    break;
                }
                if let Err(e) = add_connection(&shared, registry, stream, &mut refusals) {
                    // The stream was dropped (closed) by add_connection; keep serving others.
                    if !reported {
                        pr_warn!("dropping a new connection: {:?}", e);
                        reported = true;
                    }
                }
            }
            Err(e) if e == EAGAIN || e == EINTR || e == ERESTARTSYS || e == ECONNABORTED => {}
            Err(e) => {
                if shared.stopping.load(Ordering::Acquire) || kthread::should_stop() {
                    break;
                }
                if !reported {
                    pr_warn!("accept failed: {:?}", e);
                    reported = true;
                }
                kernel::time::msleep(20);
            }
        }
    }
    // kthread_stop() requires the thread to still exist: wait for it.
    while !kthread::should_stop() {
        kernel::time::msleep(10);
    }
    0
}

/// Rate limit of the refusal log line; touched by the accept thread only.
struct RefusalLog {
    last_ms: u64,
    /// `Shared::refused` when the last line was logged.
    logged: u64,
}

impl RefusalLog {
    /// `open`: the connections open before this one.
    fn note<H: Handler>(&mut self, shared: &Shared<H>, open: usize) {
        let total = shared.stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = kernel::time::monotonic_ms();
        if self.logged == 0 || now.saturating_sub(self.last_ms) >= REFUSAL_LOG_MS {
            pr_warn!(
                "connection limit reached ({} open, max_connections {}): refused {} connection(s) since the last report, {} in all",
                open,
                shared.max_connections,
                total - self.logged,
                total
            );
            self.last_ms = now;
            self.logged = total;
        }
    }
}

fn add_connection<H: Handler>(
    shared: &Arc<Shared<H>>,
    registry: usize,
    stream: TcpStream,
    refusals: &mut RefusalLog,
) -> Result {
    // Take a place first and check after: with an accept thread per CPU, a check
    // followed by a later increment would let several threads pass the limit at once.
    // Every return before the connection exists gives the place back.
    let open = shared.stats.open.fetch_add(1, Ordering::Relaxed);
    let give_back = || {
        shared.stats.open.fetch_sub(1, Ordering::Relaxed);
    };
    let state = if open < shared.max_connections {
        match shared.handler.new_state() {
            Ok(state) => state,
            Err(e) => {
                give_back();
                return Err(e);
            }
        }
    } else {
        refusals.note(shared, open);
        match shared.handler.refusal_state() {
            Some(state) if open < shared.max_connections.saturating_add(REFUSING_MAX) => state,
            // Dropping the stream closes it.
            _ => {
                give_back();
                return Ok(());
            }
        }
    };
    stream.set_nodelay();
    let conn = workqueue::new_work_item(Conn {
        work: Work::new(),
        timer: Timer::new(),
        links: Links::new(),
        stream: WatchedStream::new(stream),
        state: TryLock::new(state),
        again: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        registry,
        shared: shared.clone(),
    });
    let mut conn = match conn {
        Ok(conn) => conn,
        Err(e) => {
            give_back();
            return Err(e);
        }
    };
    if let Err(e) = timer::init(&mut conn) {
        give_back();
        return Err(e);
    }
    // From here on the place is given back by Conn::close.
    if let Some(listener) = shared.stats.listeners.get(registry) {
        listener.accepted.fetch_add(1, Ordering::Relaxed);
    }
    let pushed = match shared.registries.get(registry) {
        Some(list) => list.push(conn.clone()),
        None => Err(conn.clone()),
    };
    if let Err(c) = pushed {
        // Unreachable (a new item is on no list, and `registry` is the index of the
        // thread's own registry); fail closed rather than leak.
        drop(c);
        Conn::close(&conn);
        return Err(EINVAL);
    }
    if let Err(e) = conn.stream.watch(conn.clone()) {
        Conn::close(&conn);
        return Err(e);
    }
    // Data may have arrived before the callbacks were installed (with a deferred
    // accept it has): serve once now. An accept thread of its own CPU serves in place,
    // which saves waking a worker for each connection; the one accept thread of all
    // CPUs hands over, so as not to serve every first request itself.
    if shared.serve_first_inline {
        Conn::serve(&conn);
    } else {
        let _ = shared.queue.enqueue(conn);
    }
    Ok(())
}

/// How often a stopping server that cannot drain says what it is waiting for.
const DRAIN_REPORT_MS: u32 = 5000;

/// Logs what keeps a stopping server from finishing: the closed connections someone
/// other than the stopping thread still references, by TCP state, and how many of them
/// are inside their work item right now.
fn report_draining<H: Handler>(shared: &Arc<Shared<H>>, draining: &[Arc<Conn<H>>], waited_ms: u32) {
    let mut by_state = [0usize; 16];
    let (mut held, mut running) = (0usize, 0usize);
    for conn in draining.iter().filter(|c| Arc::strong_count(c) > 1) {
        held += 1;
        if conn.state.try_lock().is_none() {
            running += 1;
        }
        let st = conn.stream.stream().state();
        if let Some(n) = usize::try_from(st).ok().and_then(|i| by_state.get_mut(i)) {
            *n += 1;
        }
    }
    pr_warn!(
        "stopping: still waiting after {} s: {} closed connection(s) still referenced, {} of them inside their work item; {} reference(s) to the server",
        waited_ms / 1000,
        held,
        running,
        Arc::strong_count(shared).saturating_sub(1)
    );
    for (st, n) in by_state.iter().enumerate().filter(|(_, n)| **n > 0) {
        pr_warn!("stopping:   {} in TCP state {}", n, kernel::tcp::state_name(st as i32));
    }
}

impl<H: Handler> Drop for Server<H> {
    /// Stops the server: no new connections (listener shut down, accept thread joined),
    /// every open connection closed, every work item finished, then everything freed.
    /// Returns only when no code of the module can run on the server's behalf any more.
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        for acceptor in self.acceptors.iter() {
            acceptor.listener.shutdown();
        }
        for acceptor in self.acceptors.iter_mut() {
            if let Some(t) = acceptor.thread.take() {
                t.stop();
            }
        }
        let mut closed = 0usize;
        // What we closed, kept (one reference each) to say what is still held if the
        // drain takes long; a connection is released by everyone else when its count
        // drops to 1. Allocation failure only makes the report less detailed.
        let mut draining: Vec<Arc<Conn<H>>> = Vec::new();
        let open: usize = self.shared.registries.iter().map(|r| r.len()).sum();
        let _ = draining.try_reserve_exact(open);
        for registry in self.shared.registries.iter() {
            while let Some(conn) = registry.pop() {
                // `pop` took the registry's reference; close() would find it gone, which
                // is fine: it only drops what it finds.
                Conn::close(&conn);
                let _ = draining.try_push(conn);
                closed += 1;
            }
        }
        // Queued instances of closed connections run, see `closed` and drop their
        // references; once only ours are left, nothing else refers to the shared state.
        let mut waited_ms = 0u32;
        loop {
            self.shared.queue.flush();
            // A work item that ran while its connection was being closed may have armed
            // its timer after close() cancelled it; a firing timer queues the work.
            for conn in draining.iter() {
                timer::cancel_sync(conn);
            }
            if Arc::strong_count(&self.shared) == 1 + draining.len()
                && draining.iter().all(|c| Arc::strong_count(c) == 1)
            {
                break;
            }
            kernel::time::msleep(10);
            waited_ms = waited_ms.saturating_add(10);
            if waited_ms % DRAIN_REPORT_MS == 0 {
                report_draining(&self.shared, &draining, waited_ms);
            }
        }
        // The last references to the connections: their sockets are released here, in
        // process context.
        drop(draining);
        // Every connection is unwatched and every work item finished; a socket callback
        // that entered our trampoline just before its unwatch runs in softirq context:
        // wait for those too, so no code of the module runs after this returns.
        kernel::net::synchronize_net();
        if closed > 0 {
            pr_info!("closed {} open connection(s)", closed);
        }
        // The last reference to `shared` drops with `self`: destroy_workqueue runs here,
        // in the rmmod thread, never inside a work item.
    }
}
