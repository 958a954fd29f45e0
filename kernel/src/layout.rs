//! Cross-check of struct layouts between the C compiler and bindgen.
//!
//! bindgen ran with clang and flags translated from gcc's; a mismatch (a missed config
//! option, a struct randomisation plugin) would silently corrupt memory. The C helper
//! reports `sizeof`/`offsetof` as gcc sees them and module init compares them here.

use crate::error::{code::EINVAL, Result};
use bindings as b;
use core::mem::{offset_of, size_of};

/// Compares every recorded layout fact; logs each mismatch and fails with `EINVAL`.
pub fn check() -> Result {
    let expected: [(u32, usize, &str); 26] = [
        (b::KMODS_LAYOUT_SOCKET_SIZE, size_of::<b::socket>(), "sizeof(struct socket)"),
        (b::KMODS_LAYOUT_SOCKET_SK, offset_of!(b::socket, sk), "offsetof(socket, sk)"),
        (b::KMODS_LAYOUT_SOCK_SIZE, size_of::<b::sock>(), "sizeof(struct sock)"),
        (b::KMODS_LAYOUT_SOCK_STATE_CHANGE, offset_of!(b::sock, sk_state_change), "offsetof(sock, sk_state_change)"),
        (b::KMODS_LAYOUT_SOCK_DATA_READY, offset_of!(b::sock, sk_data_ready), "offsetof(sock, sk_data_ready)"),
        (b::KMODS_LAYOUT_SOCK_WRITE_SPACE, offset_of!(b::sock, sk_write_space), "offsetof(sock, sk_write_space)"),
        (b::KMODS_LAYOUT_SOCK_USER_DATA, offset_of!(b::sock, sk_user_data), "offsetof(sock, sk_user_data)"),
        (b::KMODS_LAYOUT_SOCK_CALLBACK_LOCK, offset_of!(b::sock, sk_callback_lock), "offsetof(sock, sk_callback_lock)"),
        (b::KMODS_LAYOUT_SOCK_RCVTIMEO, offset_of!(b::sock, sk_rcvtimeo), "offsetof(sock, sk_rcvtimeo)"),
        (b::KMODS_LAYOUT_WORK_STRUCT_SIZE, size_of::<b::work_struct>(), "sizeof(struct work_struct)"),
        (b::KMODS_LAYOUT_KERNEL_PARAM_SIZE, size_of::<b::kernel_param>(), "sizeof(struct kernel_param)"),
        (b::KMODS_LAYOUT_KERNEL_PARAM_ARG, offset_of!(b::kernel_param, __bindgen_anon_1), "offsetof(kernel_param, arg)"),
        (b::KMODS_LAYOUT_MSGHDR_SIZE, size_of::<b::msghdr>(), "sizeof(struct msghdr)"),
        (b::KMODS_LAYOUT_MSGHDR_FLAGS, offset_of!(b::msghdr, msg_flags), "offsetof(msghdr, msg_flags)"),
        (b::KMODS_LAYOUT_KVEC_SIZE, size_of::<b::kvec>(), "sizeof(struct kvec)"),
        (b::KMODS_LAYOUT_SPINLOCK_SIZE, size_of::<b::spinlock_t>(), "sizeof(spinlock_t)"),
        (b::KMODS_LAYOUT_MODULE_NAME, offset_of!(b::module, name), "offsetof(module, name)"),
        (b::KMODS_LAYOUT_SOCKADDR_IN_SIZE, size_of::<b::sockaddr_in>(), "sizeof(struct sockaddr_in)"),
        (b::KMODS_LAYOUT_SOCKADDR_IN6_SIZE, size_of::<b::sockaddr_in6>(), "sizeof(struct sockaddr_in6)"),
        (b::KMODS_LAYOUT_KSTAT_SIZE, size_of::<b::kstat>(), "sizeof(struct kstat)"),
        (b::KMODS_LAYOUT_KSTAT_MODE, offset_of!(b::kstat, mode), "offsetof(kstat, mode)"),
        (b::KMODS_LAYOUT_KSTAT_FSIZE, offset_of!(b::kstat, size), "offsetof(kstat, size)"),
        (b::KMODS_LAYOUT_KSTAT_MTIME, offset_of!(b::kstat, mtime), "offsetof(kstat, mtime)"),
        (b::KMODS_LAYOUT_PATH_SIZE, size_of::<b::path>(), "sizeof(struct path)"),
        (b::KMODS_LAYOUT_FILE_F_PATH, offset_of!(b::file, f_path), "offsetof(file, f_path)"),
        (b::KMODS_LAYOUT_DIR_CONTEXT_SIZE, size_of::<b::dir_context>(), "sizeof(struct dir_context)"),
    ];
    if compare(&expected, b::KMODS_LAYOUT_COUNT, "main", b::rust_helper_layout).is_ok() {
        Ok(())
    } else {
        crate::pr_crit!("refusing to load: the bindings do not match this kernel (rebuild against its headers)");
        Err(EINVAL)
    }
}

/// Compares one table of `(item, Rust's value, what)` with what the C helper `lookup`
/// reports for each item (it has `count` items); logs each mismatch and fails with
/// `EINVAL` if any. `lookup` must only return numbers (a `sizeof`/`offsetof` switch).
pub(crate) fn compare(
    expected: &[(u32, usize, &str)],
    count: u32,
    table: &str,
    lookup: unsafe extern "C" fn(core::ffi::c_uint) -> usize,
) -> Result {
    let mut ok = expected.len() == count as usize;
    if !ok {
        crate::pr_crit!("layout check: {} table has {} entries, C has {}", table, expected.len(), count);
    }
    for &(item, rust, what) in expected {
        // SAFETY: `lookup` is one of the layout helpers, which only return numbers.
        let c = unsafe { lookup(item) };
        if c != rust {
            crate::pr_crit!("layout mismatch: {} is {} in C but {} in the Rust bindings", what, c, rust);
            ok = false;
        }
    }
    if ok {
        Ok(())
    } else {
        Err(EINVAL)
    }
}
