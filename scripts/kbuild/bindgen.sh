#!/usr/bin/env bash
# Generate Rust bindings for the target kernel: bindgen.sh KDIR OUTDIR
# Runs from inside KDIR because Kbuild's include paths are relative to it.
set -euo pipefail
KDIR=$(cd "$1" && pwd); OUT=$(cd "$2" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v bindgen >/dev/null || { echo "bindgen.sh: bindgen not found (run scripts/setup.sh)" >&2; exit 1; }
mapfile -t CLANG_ARGS < "$OUT/clang-args.txt"

FUNCS='rust_helper_.*|kmods_helper_.*|_printk|kfree|krealloc|sock_create_kern|sock_release|kernel_(bind|listen|accept|connect|sendmsg|recvmsg|sock_shutdown|sendpage)'
FUNCS+='|sock_set_reuseaddr|sock_set_reuseport|tcp_sock_set_nodelay|tcp_sock_set_cork|sock_set_keepalive|sock_no_linger|sk_set_memalloc'
FUNCS+='|destroy_workqueue|cancel_work_sync|flush_work|__flush_workqueue|queue_work_on'
FUNCS+='|kthread_stop|kthread_bind|kthread_should_stop|wake_up_process|msleep|msleep_interruptible|schedule_timeout_interruptible|usleep_range_state'
FUNCS+='|param_(get|set|free)_.*|ktime_get_real_seconds|ktime_get_ns|ktime_get_mono_fast_ns|ktime_get_real_ts64|get_jiffies_64|jiffies_to_msecs|__msecs_to_jiffies'
FUNCS+='|filp_open|filp_close|kernel_read|vfs_path_lookup|dentry_open|fput|vfs_getattr|vfs_llseek|iterate_dir|dentry_path_raw|d_path|file_path|vfs_statx|kern_path|path_put|in_group_p'
FUNCS+='|proc_create_net_data_write|proc_create_data|proc_remove|remove_proc_entry|proc_create|register_pernet_subsys|unregister_pernet_subsys'
FUNCS+='|inet_twsk_deschedule_put|__inet_lookup_established|inet6_lookup|__inet6_lookup_established|tcp_done|tcp_set_state|sock_gen_put|tcp_close'
FUNCS+='|_copy_from_user|_copy_to_user|copy_from_user|strncpy_from_user|simple_strtoul|kstrtoul|kstrtoint'
FUNCS+='|crypto_alloc_comp|crypto_free_comp|crypto_comp_compress|crypto_has_comp|crypto_destroy_tfm|crypto_alloc_base|crypto_comp_decompress'
FUNCS+='|get_random_bytes|synchronize_net|synchronize_rcu|call_rcu|rcu_barrier|kvfree_call_rcu|__rcu_read_lock|__rcu_read_unlock|vmalloc|vfree|kvfree'
TYPES='socket|sock|sockaddr|sockaddr_in|sockaddr_in6|sockaddr_storage|msghdr|kvec|work_struct|workqueue_struct|task_struct|kernel_param|kernel_param_ops'
TYPES+='|module|spinlock_t|spinlock|rwlock_t|file|path|kstat|dir_context|proc_ops|proc_dir_entry|pernet_operations|net|inet_timewait_sock|sock_common'
TYPES+='|kstat|cred|tcp_sock|inet_sock|inet_hashinfo|crypto_comp|timespec64|in_addr|in6_addr|filldir_t|inode|dentry|kparam_string'
TYPES+='|sock_type|.*_sock_state|kmods_layout_item'
# drop-tcp-socket: closing sockets without a reset, the writers' capability; layout facts
FUNCS+='|sk_error_report|file_ns_capable'
# khttpd: file bodies spliced into sockets
FUNCS+='|sock_alloc_file|do_splice_direct|lookup_one_len_unlocked|mntget|dput'
# kprobe-timer
FUNCS+='|register_kretprobe|unregister_kretprobe'
TYPES+='|kretprobe|kretprobe_instance|kprobe|pt_regs'
TYPES+='|kmods_netproc_layout_item|lock_class_key'
TYPES+="|timer_list|seq_file"
FUNCS+='|seq_write|proc_create_single_data'
VARS='KMODS_.*|init_net|param_ops_.*|tcp_hashinfo|jiffies|__this_module|system_wq|system_unbound_wq|nr_cpu_ids'

cd "$KDIR"
bindgen "$ROOT/bindings/wrapper.h" \
  --use-core --ctypes-prefix core::ffi --no-layout-tests --with-derive-default \
  --no-doc-comments --default-enum-style consts --no-prepend-enum-name \
  --allowlist-function "$FUNCS" --allowlist-type "$TYPES" --allowlist-var "$VARS" \
  --opaque-type 'xregs_state|desc_struct|arch_lbr_state|local_apic|alt_instr|x86_msi_data|x86_msi_addr_lo' \
  --blocklist-type 'kmods_nothing' \
  -o "$OUT/bindings_generated.rs.tmp" -- "${CLANG_ARGS[@]}" -I"$ROOT/kernel/helpers"
mv "$OUT/bindings_generated.rs.tmp" "$OUT/bindings_generated.rs"
