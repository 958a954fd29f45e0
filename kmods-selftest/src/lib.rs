//! kmods-selftest: run-time tests of the `kernel` crate's safe APIs, run at `insmod`.
//!
//! Some soundness properties cannot be shown by the compiler (a compile-fail doc test):
//! that a list never unlinks an item through another list at a reused address, that a
//! thread which returns at once can still be stopped, that lock-protected updates from
//! several threads add up. Each test here exercises one through safe code only, the way
//! a module would, and prints `kmods_selftest: PASS name` or `FAIL name: why`, then a
//! total `kmods_selftest: N passed, N failed`. Loading always succeeds so that the guest
//! suite (scripts/guest/kmods-selftest.sh) reads the results and then tests `rmmod`.
//! On the debug kernel (make check-debug) KASAN, lockdep and kmemleak watch every step.
#![no_std]
#![deny(unsafe_code)]
#![feature(used_with_arg)]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use kernel::fs::File;
use kernel::kthread::{self, Thread};
use kernel::list::Links;
use kernel::prelude::*;
use kernel::timer::{self, Timer, TimerItem};
use kernel::workqueue::{self, Queue, QueueFlags, Work, WorkItem};

struct Selftest;

/// What one test found wrong, for the log.
type Outcome = core::result::Result<(), &'static str>;

fn check(ok: bool, why: &'static str) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(why)
    }
}

struct Item {
    links: Links<Item>,
    value: u32,
}
kernel::impl_has_links!(Item, links);

/// A new list that takes over the address of an old one must not see the old one's
/// items; the old list, moved elsewhere, still owns them.
fn arc_list_reused_address() -> Outcome {
    let item = kernel::allocator::try_arc(Item { links: Links::new(), value: 7 }).map_err(|_| "no memory")?;
    let mut list = kernel::new_arc_list!("selftest list");
    list.push(item.clone()).map_err(|_| "push refused")?;
    // `list` keeps its address and gets a fresh list; the old one moves into `moved`.
    let moved = core::mem::replace(&mut list, kernel::new_arc_list!("selftest list 2"));
    check(list.remove(&item).is_none(), "a new list at the old address unlinked the item")?;
    check(list.is_empty(), "the new list is not empty")?;
    let back = moved.remove(&item).ok_or("the moved list lost its item")?;
    check(back.value == 7 && moved.is_empty(), "wrong item or length after remove")?;
    check(Arc::strong_count(&item) == 2, "reference count off after remove")?;
    drop(back);
    // A second push onto another list while on one is refused, and the item comes back.
    list.push(item.clone()).map_err(|_| "push refused")?;
    check(moved.push(item.clone()).is_err(), "an item went onto two lists")?;
    check(list.pop().is_some() && list.is_empty(), "pop did not empty the list")?;
    check(Arc::strong_count(&item) == 1, "a reference leaked")
}

/// A thread whose closure returns at once: `stop` afterwards returns its value, and the
/// closure (with what it captured) is dropped exactly once.
fn thread_returns_at_once() -> Outcome {
    let token = kernel::allocator::try_arc(()).map_err(|_| "no memory")?;
    let t = token.clone();
    let thread = Thread::spawn(c"kmods_selftest", move || {
        drop(t);
        7
    })
    .map_err(|_| "spawn failed")?;
    kernel::time::msleep(100); // long enough for the thread to run and return
    check(thread.stop() == 7, "stop did not return the closure's value")?;
    check(Arc::strong_count(&token) == 1, "the closure's capture was not dropped")
}

/// Stopping a thread at once (it may never have run): the closure is dropped either way.
fn thread_stopped_at_once() -> Outcome {
    let token = kernel::allocator::try_arc(()).map_err(|_| "no memory")?;
    for _ in 0..20 {
        let t = token.clone();
        let thread = Thread::spawn(c"kmods_selftest", move || {
            while !kthread::should_stop() {
                kernel::time::msleep(1);
            }
            drop(t);
            0
        })
        .map_err(|_| "spawn failed")?;
        drop(thread);
    }
    check(Arc::strong_count(&token) == 1, "a stopped thread's closure leaked")
}

/// Two threads adding under one spinlock lose no update.
fn spinlock_two_threads() -> Outcome {
    const ROUNDS: u32 = 20_000;
    let counter = kernel::allocator::try_arc(kernel::new_spinlock!(0u32, "selftest counter")).map_err(|_| "no memory")?;
    let mut threads = Vec::new();
    for _ in 0..2 {
        let c = counter.clone();
        let t = Thread::spawn(c"kmods_selftest", move || {
            for i in 0..ROUNDS {
                *c.lock() += 1;
                if i % 1024 == 0 {
                    kthread::cond_resched();
                }
            }
            while !kthread::should_stop() {
                kernel::time::msleep(1);
            }
            0
        })
        .map_err(|_| "spawn failed")?;
        threads.try_push(t).map_err(|_| "no memory")?;
    }
    let mut waited = 0;
    while *counter.lock() < 2 * ROUNDS && waited < 10_000 {
        kernel::time::msleep(10);
        waited += 10;
    }
    drop(threads);
    let total = *counter.lock();
    check(total == 2 * ROUNDS, "updates under the lock were lost")
}

struct Job {
    work: Work<Job>,
    runs: AtomicUsize,
    done: AtomicBool,
}
kernel::impl_work_item!(Job, work);

impl WorkItem for Job {
    fn run(this: Arc<Self>) {
        this.runs.fetch_add(1, Ordering::Relaxed);
        this.done.store(true, Ordering::Release);
    }
}

/// A queued work item runs once, with the reference it was queued with, which the
/// queue then drops.
fn work_item_runs() -> Outcome {
    let queue = Queue::try_new(c"kmods_selftest", QueueFlags::UNBOUND, 1).map_err(|_| "no queue")?;
    let job = workqueue::new_work_item(Job { work: Work::new(), runs: AtomicUsize::new(0), done: AtomicBool::new(false) })
        .map_err(|_| "no memory")?;
    check(queue.enqueue(job.clone()).is_ok(), "enqueue refused")?;
    queue.flush();
    check(job.done.load(Ordering::Acquire) && job.runs.load(Ordering::Relaxed) == 1, "the item did not run once")?;
    check(Arc::strong_count(&job) == 1, "the queue kept or lost a reference")
}

/// `read_dir` (which takes `&mut File`) lists the guest's root directory.
fn read_dir_root() -> Outcome {
    let mut root = File::open_dir(c"/").map_err(|_| "cannot open /")?;
    let (mut entries, mut proc_seen) = (0usize, false);
    root.read_dir(&mut |name, _| {
        entries += 1;
        proc_seen |= name == b"proc";
        true
    })
    .map_err(|_| "read_dir failed")?;
    check(entries > 0 && proc_seen, "no 'proc' entry in /")
}

struct Tick {
    timer: Timer<Tick>,
    fired: AtomicUsize,
}
kernel::impl_timer_item!(Tick, timer);

impl TimerItem for Tick {
    fn expired(this: Arc<Self>) {
        // Not the last reference (the test holds one), so dropping it here is fine.
        this.fired.fetch_add(1, Ordering::Relaxed);
    }
}

fn new_tick() -> core::result::Result<Arc<Tick>, &'static str> {
    let mut t = kernel::allocator::try_arc(Tick { timer: Timer::new(), fired: AtomicUsize::new(0) })
        .map_err(|_| "no memory")?;
    timer::init(&mut t).map_err(|_| "init refused on the only reference")?;
    Ok(t)
}

/// A timer armed twice holds one reference, fires once, and gives it back.
fn timer_fires_once() -> Outcome {
    let t = new_tick()?;
    check(timer::arm_ms(&t, 20).is_ok() && timer::arm_ms(&t, 20).is_ok(), "arm failed")?;
    check(Arc::strong_count(&t) == 2, "a pending timer does not hold exactly one reference")?;
    let mut waited = 0;
    while t.fired.load(Ordering::Relaxed) == 0 && waited < 5000 {
        kernel::time::msleep(10);
        waited += 10;
    }
    kernel::time::msleep(50);
    check(t.fired.load(Ordering::Relaxed) == 1, "the timer did not fire exactly once")?;
    check(Arc::strong_count(&t) == 1, "the callback kept or lost a reference")
}

/// Cancelling a pending timer hands its reference back; init needs the only reference.
fn timer_cancel_and_init() -> Outcome {
    let t = new_tick()?;
    check(timer::arm_ms(&t, 60_000).is_ok(), "arm failed")?;
    check(timer::cancel(&t), "cancel did not find the pending timer")?;
    check(Arc::strong_count(&t) == 1, "cancel did not give the reference back")?;
    check(!timer::cancel(&t) && !timer::cancel_sync(&t), "cancelled an idle timer")?;
    check(timer::arm_ms(&t, 60_000).is_ok() && timer::cancel_sync(&t), "cancel_sync missed a pending timer")?;
    check(t.fired.load(Ordering::Relaxed) == 0 && Arc::strong_count(&t) == 1, "cancelled timer fired or leaked")?;
    let mut shared = t.clone();
    check(timer::init(&mut shared).is_err(), "init accepted a shared item")?;
    let raw = kernel::allocator::try_arc(Tick { timer: Timer::new(), fired: AtomicUsize::new(0) }).map_err(|_| "no memory")?;
    check(timer::arm_ms(&raw, 1).is_err(), "armed a timer that was never set up")
}

const TESTS: &[(&str, fn() -> Outcome)] = &[
    ("arc_list_reused_address", arc_list_reused_address),
    ("thread_returns_at_once", thread_returns_at_once),
    ("thread_stopped_at_once", thread_stopped_at_once),
    ("spinlock_two_threads", spinlock_two_threads),
    ("work_item_runs", work_item_runs),
    ("read_dir_root", read_dir_root),
    ("timer_fires_once", timer_fires_once),
    ("timer_cancel_and_init", timer_cancel_and_init),
];

impl Module for Selftest {
    fn init() -> Result<Self> {
        let (mut passed, mut failed) = (0u32, 0u32);
        for (name, test) in TESTS {
            match test() {
                Ok(()) => {
                    passed += 1;
                    pr_info!("PASS {}", name);
                }
                Err(why) => {
                    failed += 1;
                    pr_err!("FAIL {}: {}", name, why);
                }
            }
        }
        pr_info!("{} passed, {} failed", passed, failed);
        Ok(Selftest)
    }
}

module! {
    type: Selftest,
    name: "kmods_selftest",
    author: "The kmods-rs developers",
    description: "Run-time tests of the kernel crate's safe APIs (results in dmesg at insmod)",
    license: "Dual MIT/GPL",
}
