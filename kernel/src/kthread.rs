//! Kernel threads: spawn a closure, ask it to stop, wait for it.

use crate::error::{from_err_ptr, code::ENOMEM, Result};
use crate::new_spinlock;
use crate::sync::SpinLock;
use alloc::sync::Arc;
use core::ffi::{c_int, c_void, CStr};

/// A running kernel thread. [`Thread::stop`] (or dropping it) sets `kthread_should_stop`,
/// wakes the thread and waits for its closure to return.
///
/// # Invariants
/// `task` is a kthread on which we hold a task reference (`get_task_struct`).
pub struct Thread {
    task: *mut bindings::task_struct,
    stopped: bool,
    /// The reference handed to the thread (consumed by its trampoline if it ever runs).
    data: *const c_void,
    /// Our own reference, so `reclaim` can inspect the slot after the thread is gone.
    _slot: Arc<dyn Send + Sync>,
    /// Drops the closure and the thread's reference if the thread never ran: a kthread
    /// stopped before it is first scheduled exits without calling its function.
    reclaim: unsafe fn(*const c_void),
}

// SAFETY: kthread_stop and put_task_struct may be called from any thread.
unsafe impl Send for Thread {}
// SAFETY: `&Thread` exposes nothing mutable.
unsafe impl Sync for Thread {}

type Slot<F> = SpinLock<Option<F>>;

impl Thread {
    /// Starts `f` in a new kernel thread named `name`. The closure should loop until
    /// [`should_stop`] returns true, and must make any blocking call it waits in
    /// interruptible by the owner (e.g. by shutting a socket down before `stop`).
    pub fn spawn<F>(name: &CStr, f: F) -> Result<Thread>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        Self::spawn_with(name, None, f)
    }

    /// As [`Thread::spawn`], but the thread runs only on CPU `cpu` (`kthread_bind`), so
    /// per-CPU work it starts stays on that CPU. `EINVAL` if `cpu` is not online now;
    /// if the CPU goes offline later, the scheduler moves the thread elsewhere.
    pub fn spawn_on<F>(name: &CStr, cpu: usize, f: F) -> Result<Thread>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if !crate::cpu::is_online(cpu) {
            return Err(crate::error::code::EINVAL);
        }
        Self::spawn_with(name, u32::try_from(cpu).ok(), f)
    }

    fn spawn_with<F>(name: &CStr, cpu: Option<u32>, f: F) -> Result<Thread>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let slot: Arc<Slot<F>> = Arc::try_new(new_spinlock!(Some(f), "kthread closure"))?;
        let data = Arc::into_raw(slot.clone());
        // SAFETY: `trampoline::<F>` matches the thread function signature and takes
        // ownership of the `data` reference; `name` is NUL-terminated and copied. The
        // thread is created stopped: it cannot run (and exit) before we hold a reference.
        let task = unsafe {
            bindings::rust_helper_kthread_create(Some(trampoline::<F>), data.cast_mut().cast(), name.as_ptr())
        };
        let task = match from_err_ptr(task, ENOMEM) {
            Ok(t) => t,
            Err(e) => {
                // SAFETY: the thread was not created, so the reference is still ours.
                drop(unsafe { Arc::from_raw(data) });
                return Err(e);
            }
        };
        // SAFETY: kthread_create returned a live task that has not run yet, so it cannot
        // have exited: taking the reference now is safe, and it keeps the task valid for
        // `kthread_stop` whenever the closure returns. Only then is the thread bound (if
        // asked: the task is new and not yet woken, and `cpu` is a valid id, checked by
        // `spawn_on`) and woken.
        unsafe {
            bindings::rust_helper_get_task_struct(task);
            if let Some(cpu) = cpu {
                // The task was created by kthread_create and has never been woken,
                // which kthread_bind requires; `cpu` is below nr_cpu_ids.
                bindings::kthread_bind(task, cpu);
            }
            bindings::wake_up_process(task);
        }
        let keep: Arc<dyn Send + Sync> = slot;
        Ok(Thread { task, stopped: false, data: data.cast(), _slot: keep, reclaim: reclaim::<F> })
    }

    /// Asks the thread to stop and waits for it; returns the closure's result (or
    /// `-EINTR` if it never ran).
    pub fn stop(mut self) -> i32 {
        self.do_stop()
    }

    fn do_stop(&mut self) -> i32 {
        if self.stopped {
            return 0;
        }
        self.stopped = true;
        // SAFETY: `task` is a kthread we hold a reference to (type invariant).
        let ret = unsafe { bindings::kthread_stop(self.task) };
        // SAFETY: drops the reference taken in `spawn`.
        unsafe { bindings::rust_helper_put_task_struct(self.task) };
        // SAFETY: the thread has exited (kthread_stop waited for it), so nothing else
        // touches `data`; reclaim only acts if the trampoline never ran.
        unsafe { (self.reclaim)(self.data) };
        ret
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        self.do_stop();
    }
}

unsafe extern "C" fn trampoline<F: FnOnce() -> i32 + Send + 'static>(data: *mut c_void) -> c_int {
    // SAFETY: `data` is the reference leaked in `spawn` for this thread.
    let slot: Arc<Slot<F>> = unsafe { Arc::from_raw(data.cast::<Slot<F>>().cast_const()) };
    let f = slot.lock().take();
    drop(slot);
    match f {
        Some(f) => f(),
        None => 0,
    }
}

/// See `Thread::reclaim`.
///
/// # Safety
/// `data` is the reference `spawn` leaked for a thread that has exited.
unsafe fn reclaim<F: FnOnce() -> i32 + Send + 'static>(data: *const c_void) {
    // SAFETY: our own reference in `Thread::_slot` keeps the slot alive.
    let slot = unsafe { &*data.cast::<Slot<F>>() };
    // The trampoline takes the closure first thing; if it is still here, the trampoline
    // never ran and the thread's reference was never consumed.
    let unrun = slot.lock().take();
    if unrun.is_some() {
        drop(unrun);
        // SAFETY: the reference leaked in `spawn`, never reclaimed by the trampoline.
        drop(unsafe { Arc::from_raw(data.cast::<Slot<F>>()) });
    }
}

/// True once the owner called [`Thread::stop`]; for the thread's own loop.
pub fn should_stop() -> bool {
    // SAFETY: only reads the current task's flags.
    unsafe { bindings::kthread_should_stop() }
}

/// Gives the scheduler a chance to run something else (`cond_resched`).
pub fn cond_resched() {
    // SAFETY: may sleep; callers are in process context.
    unsafe { bindings::rust_helper_cond_resched() }
}

