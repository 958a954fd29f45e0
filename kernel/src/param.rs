//! Module parameters, visible in `modinfo` and under `/sys/module/NAME/parameters/`.
//!
//! The `module!` macro declares a [`Param`] per parameter and a [`ParamDescriptor`] in the
//! `__param` section, which is where the kernel's module loader looks for them. The
//! kernel's own `param_ops_*` parse and print the values.

use core::cell::UnsafeCell;
use core::ffi::{c_char, c_void, CStr};

/// A Rust type that a kernel `param_ops_*` parser handles.
///
/// # Safety
/// `OPS` must parse into and print from a value of exactly this type's C layout.
pub unsafe trait ParamType: Copy + Send + Sync + 'static {
    /// The kernel's parser/printer for this type.
    const OPS: *const bindings::kernel_param_ops;
}

// SAFETY: each ops table reads/writes the C type with the same layout as the Rust type.
unsafe impl ParamType for u16 {
    const OPS: *const bindings::kernel_param_ops = &raw const bindings::param_ops_ushort;
}
// SAFETY: as above (`int`).
unsafe impl ParamType for i32 {
    const OPS: *const bindings::kernel_param_ops = &raw const bindings::param_ops_int;
}
// SAFETY: as above (`unsigned int`).
unsafe impl ParamType for u32 {
    const OPS: *const bindings::kernel_param_ops = &raw const bindings::param_ops_uint;
}
// SAFETY: as above (C `bool` is one byte holding 0 or 1, like Rust's).
unsafe impl ParamType for bool {
    const OPS: *const bindings::kernel_param_ops = &raw const bindings::param_ops_bool;
}
// SAFETY: as above (`char *`).
unsafe impl ParamType for CharP {
    const OPS: *const bindings::kernel_param_ops = &raw const bindings::param_ops_charp;
}

/// A string parameter's value: a NUL-terminated C string owned by the kernel's
/// `param_ops_charp` (or the static default).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct CharP(*const c_char);

// SAFETY: the pointer is only read; see `Param::<CharP>::get`.
unsafe impl Send for CharP {}
// SAFETY: as above.
unsafe impl Sync for CharP {}

impl CharP {
    /// A default value from a static string.
    pub const fn from_static(s: &'static CStr) -> Self {
        CharP(s.as_ptr())
    }
}

/// Storage for one parameter's value, written by the kernel at load time.
#[repr(transparent)]
pub struct Param<T>(UnsafeCell<T>);

// SAFETY: the kernel writes the value under its `param_lock` before `init` runs (and, for
// writable parameters, through sysfs); reads are single aligned loads (`read_volatile`),
// so no torn values of these word-sized types are observed.
unsafe impl<T: ParamType> Sync for Param<T> {}

impl<T: ParamType> Param<T> {
    /// A parameter with a default value.
    pub const fn new(default: T) -> Self {
        Param(UnsafeCell::new(default))
    }

    const fn as_arg(&'static self) -> *mut c_void {
        self.0.get().cast()
    }
}

impl<T: ParamType + Copy> Param<T>
where
    T: NotCharP,
{
    /// The current value.
    pub fn get(&self) -> T {
        // SAFETY: see the Sync impl.
        unsafe { core::ptr::read_volatile(self.0.get()) }
    }
}

/// Marker for the plain (non-string) parameter types.
pub trait NotCharP {}
impl NotCharP for u16 {}
impl NotCharP for i32 {}
impl NotCharP for u32 {}
impl NotCharP for bool {}

impl Param<CharP> {
    /// The current string value. String parameters are read-only after loading (the
    /// macro refuses writable ones), so the string lives as long as the module.
    pub fn get(&self) -> &CStr {
        // SAFETY: see the Sync impl; the pointer is either the static default or a string
        // the kernel allocated at load time and frees only after the module's exit.
        unsafe {
            let p = core::ptr::read_volatile(self.0.get()).0;
            if p.is_null() {
                c""
            } else {
                CStr::from_ptr(p)
            }
        }
    }
}

/// One `struct kernel_param` entry for the `__param` section.
#[repr(transparent)]
pub struct ParamDescriptor(bindings::kernel_param);

// SAFETY: the descriptor is immutable; the kernel only reads it.
unsafe impl Sync for ParamDescriptor {}

impl ParamDescriptor {
    /// Describes `value` as parameter `name` with sysfs permissions `perm`.
    pub const fn new<T: ParamType>(name: &'static CStr, perm: u16, value: &'static Param<T>) -> Self {
        let mut p: bindings::kernel_param = unsafe_zeroed_param();
        p.name = name.as_ptr();
        p.mod_ = crate::owner::this_module_const();
        p.ops = T::OPS;
        p.perm = perm;
        p.level = -1;
        p.flags = 0;
        p.__bindgen_anon_1.arg = value.as_arg();
        ParamDescriptor(p)
    }
}

const fn unsafe_zeroed_param() -> bindings::kernel_param {
    // SAFETY: `kernel_param` is plain C data (pointers, integers, a union of pointers) for
    // which all-zero is a valid value.
    unsafe { core::mem::zeroed() }
}
