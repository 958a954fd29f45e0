//! kprobe-timer: times kernel functions with return probes, including the Rust
//! functions of our modules, which ftrace and kprobe events cannot see.
//!
//! `insmod kprobe-timer.ko symbols=name1,name2` probes each function (names as in
//! /proc/kallsyms, optionally `module:name`); `rmmod kprobe-timer` prints one line per
//! function to the kernel log: calls, total, mean and longest duration, missed calls.
//! `scripts/trace.sh` uses it on khttpd.
#![no_std]
#![deny(unsafe_code)]
#![feature(used_with_arg)]

extern crate alloc;

use kernel::kprobes::FunctionTimer;
use kernel::prelude::*;

/// Most functions probed at once.
const MAX_SYMBOLS: usize = 8;

struct KprobeTimer {
    timers: Vec<FunctionTimer>,
}

fn name_of(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("<not UTF-8>")
}

impl Module for KprobeTimer {
    fn init() -> Result<Self> {
        let list = params::symbols.get().to_bytes();
        let maxactive = params::maxactive.get();
        if maxactive < 0 {
            pr_err!("maxactive must be 0 (the kernel's default) or positive (got {})", maxactive);
            return Err(EINVAL);
        }
        let names = || list.split(|&b| b == b',' || b == b' ' || b == b'\n').filter(|s| !s.is_empty());
        if names().count() > MAX_SYMBOLS {
            pr_err!("at most {} symbols (got {})", MAX_SYMBOLS, names().count());
            return Err(E2BIG);
        }
        let mut timers = Vec::new();
        for sym in names() {
            // Dropping `timers` on an error unregisters the probes made so far.
            let t = FunctionTimer::register(sym, maxactive).inspect_err(|e| {
                pr_err!("cannot probe \"{}\": {:?} (no such symbol, or not probeable)", name_of(sym), e);
            })?;
            timers.try_push(t)?;
        }
        if timers.is_empty() {
            pr_err!("no symbols given: insmod kprobe-timer.ko symbols=name1,name2,...");
            return Err(EINVAL);
        }
        for t in &timers {
            pr_info!("timing {}", name_of(t.symbol()));
        }
        Ok(KprobeTimer { timers })
    }
}

impl Drop for KprobeTimer {
    fn drop(&mut self) {
        // Unregister every probe first, so the counts printed are final.
        for t in self.timers.iter_mut() {
            t.unregister();
        }
        for t in &self.timers {
            let s = t.stats();
            let mean = if s.calls > 0 { s.total_ns / s.calls } else { 0 };
            pr_info!(
                "{}: {} calls, {} ns total, {} ns mean, {} ns max, {} missed",
                name_of(t.symbol()),
                s.calls,
                s.total_ns,
                mean,
                s.max_ns,
                s.missed
            );
        }
    }
}

kernel::module! {
    type: KprobeTimer,
    name: "kprobe_timer",
    author: "The kmods-rs developers",
    description: "Times kernel functions (Rust ones included) with return probes; results in the kernel log at rmmod",
    license: "Dual MIT/GPL",
    params: {
        symbols: str { default: "", permissions: 0o444, description: "Functions to time: up to 8 names as in /proc/kallsyms (module:name allowed), separated by commas" },
        maxactive: i32 { default: 0, permissions: 0o444, description: "Calls of one function timed at once (0: the kernel's default); more are counted as missed" },
    },
}
