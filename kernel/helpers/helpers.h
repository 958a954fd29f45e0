/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * Non-inline wrappers for kernel static inline functions and macros that Rust cannot
 * call directly. Each is a one-liner; they are compiled by Kbuild into every module.
 */
#ifndef KMODS_HELPERS_H
#define KMODS_HELPERS_H

#include <linux/types.h>

struct sock;
struct socket;
struct work_struct;
struct workqueue_struct;
struct task_struct;
struct file;
struct net;
typedef struct spinlock spinlock_t;

/* printing and panics */
void rust_helper_printk(int level, const char *prefix, const char *msg, size_t len);
/*
 * BUG() when `really` (always, from Rust). The flag keeps objtool from inferring that
 * the helper never returns: when it runs on the linked module (IBT kernels) it sees
 * this body, and the Rust caller's own dead end after the call would be "unreachable".
 * For the same reason it is not named rust_helper_BUG, which newer objtool knows.
 */
void kmods_helper_bug(bool really);

/* memory */
void *rust_helper_kmalloc(size_t size, gfp_t flags);
void *rust_helper_krealloc(const void *p, size_t size, gfp_t flags);
void rust_helper_kfree(const void *p);
void *rust_helper_kvmalloc(size_t size, gfp_t flags);
void rust_helper_kvfree(const void *p);
/* Calls of the three allocating helpers above since load (all CPUs). */
unsigned long rust_helper_alloc_calls(void);

/* locks */
struct lock_class_key;
void rust_helper_spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key);
void rust_helper_spin_lock_bh(spinlock_t *lock);
void rust_helper_spin_unlock_bh(spinlock_t *lock);
void rust_helper_sk_callback_read_lock_bh(struct sock *sk);
void rust_helper_sk_callback_read_unlock_bh(struct sock *sk);
void rust_helper_sk_callback_write_lock_bh(struct sock *sk);
void rust_helper_sk_callback_write_unlock_bh(struct sock *sk);
void rust_helper_lock_sock(struct sock *sk);
void rust_helper_release_sock(struct sock *sk);

/* workqueues */
struct workqueue_struct *rust_helper_alloc_workqueue(const char *name, unsigned int flags, int max_active);
void rust_helper_init_work(struct work_struct *work, void (*func)(struct work_struct *));
bool rust_helper_queue_work(struct workqueue_struct *wq, struct work_struct *work);
void rust_helper_flush_workqueue(struct workqueue_struct *wq);

/* timers (kernel/src/timer.rs); del_timer* became timer_delete* in 6.2 */
struct timer_list;
void rust_helper_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *));
/* mod_timer(timer, jiffies + msecs_to_jiffies(ms)): 1 if the timer was pending */
int rust_helper_mod_timer_ms(struct timer_list *timer, unsigned int ms);
/* 1 if a pending timer was deactivated */
int rust_helper_timer_delete(struct timer_list *timer);
int rust_helper_timer_delete_sync(struct timer_list *timer);

/* kthreads */
struct task_struct *rust_helper_kthread_create(int (*fn)(void *), void *data, const char *name);
void rust_helper_get_task_struct(struct task_struct *t);
void rust_helper_put_task_struct(struct task_struct *t);
bool rust_helper_signal_pending(void);
void rust_helper_cond_resched(void);

/* return probes */
struct kretprobe;
struct kretprobe_instance;
void *rust_helper_kretprobe_data(struct kretprobe_instance *ri);
struct kretprobe *rust_helper_get_kretprobe(struct kretprobe_instance *ri);

/* compression (crypto API) */
struct crypto_comp;
struct crypto_comp *rust_helper_crypto_alloc_comp(const char *name);
void rust_helper_crypto_free_comp(struct crypto_comp *tfm);

/* CPUs */
unsigned int rust_helper_num_online_cpus(void);
bool rust_helper_cpu_online(unsigned int cpu);
/* the CPU running now (may change right after: a hint) */
unsigned int rust_helper_raw_smp_processor_id(void);

/* time */
/* the time of the last tick: no clock hardware read */
u64 rust_helper_ktime_get_coarse_ns(void);

/* errors */
bool rust_helper_IS_ERR(const void *ptr);
long rust_helper_PTR_ERR(const void *ptr);

/* networking */
struct net *rust_helper_init_net(void);
void *rust_helper_sk_user_data(struct sock *sk);
void rust_helper_set_sk_user_data(struct sock *sk, void *data);
int rust_helper_sk_state(const struct sock *sk);
/* A TCP socket with no unread byte, no FIN from the peer and no error: a read would
 * return EAGAIN now (a snapshot, read without the socket lock). */
bool rust_helper_tcp_nothing_to_read(const struct sock *sk);
/* the test sk_stream_write_space makes before it wakes writers (a third of the buffer free) */
bool rust_helper_sk_stream_is_writeable(const struct sock *sk);
/* whether TCP (globally, or the socket's memory cgroup) is under memory pressure */
bool rust_helper_tcp_under_memory_pressure(const struct sock *sk);
/* bytes queued to send or sent and not yet acknowledged (write_seq - snd_una; a FIN counts one) */
u32 rust_helper_tcp_unacked(const struct sock *sk);
/* IPV6_V6ONLY of an unbound AF_INET6 socket */
void rust_helper_sk_set_v6only(struct sock *sk, bool on);
void rust_helper_sk_set_incoming_cpu(struct sock *sk, int cpu);
/* TCP_DEFER_ACCEPT (setsockopt from the kernel): 0 or a negative errno */
int rust_helper_tcp_set_defer_accept(struct socket *sock, int secs);
int rust_helper_sock_create_counted(struct net *net, int family, int type, int proto, struct socket **res);
/* Closes a file now in kernel threads (__fput_sync), else at return to user space. */
void rust_helper_fput_now(struct file *file);

/* pages sockets reference instead of copying */
struct page;
/* 2^order contiguous pages (one compound page if order > 0), not zeroed, never from
 * highmem; NULL if none are free (no warning, no long reclaim for order > 0) */
struct page *rust_helper_alloc_block(unsigned int order);
/* drops a reference; the last one frees the whole block */
void rust_helper_put_page(struct page *page);
void *rust_helper_page_address(struct page *page);
/* Queues size bytes at offset of the block at page on the socket without copying them
 * (the stack takes its own page references). Never blocks, never raises SIGPIPE. more:
 * more data follows at once (MSG_MORE). Returns bytes queued or a negative errno. */
int rust_helper_sock_send_page(struct socket *sock, struct page *page, unsigned int offset, size_t size, bool more);

/* file system */
struct cred;
struct dentry;
struct vfsmount;
struct path;
/* i_mode of the path's inode, 0 for a negative dentry */
unsigned int rust_helper_path_mode(const struct path *path);
/* What a looked-up dentry is: KMODS_DENTRY_{NEGATIVE,SYMLINK,MOUNTPOINT} bits */
#define KMODS_DENTRY_NEGATIVE 1u
#define KMODS_DENTRY_SYMLINK 2u
#define KMODS_DENTRY_MOUNTPOINT 4u
unsigned int rust_helper_dentry_flags(const struct dentry *d);
/* Exported by fs/namei.c but declared only in fs/internal.h. */
extern int vfs_path_lookup(struct dentry *, struct vfsmount *, const char *, unsigned int, struct path *);
const struct cred *rust_helper_current_cred(void);
/* inode_permission() of the path's inode for the current credentials (MAY_* mask) */
int rust_helper_path_permission(const struct path *path, int mask);

/* credentials (kernel/src/cred.rs) */
/* A copy of init's credentials with every uid/gid set to these and no capabilities. */
const struct cred *rust_helper_unprivileged_cred(unsigned int uid, unsigned int gid);
const struct cred *rust_helper_override_creds(const struct cred *cred);
void rust_helper_revert_creds(const struct cred *old);
void rust_helper_put_cred(const struct cred *cred);

/*
 * drop-tcp-socket: network namespaces, proc files, user copies, TCP lookup and drop
 * (kernel/src/{pernet,proc,uaccess,tcp}.rs).
 */
struct proc_dir_entry;
struct inet_hashinfo;
struct inet_timewait_sock;
struct user_namespace;
struct proc_dir_entry *rust_helper_net_proc_dir(struct net *net);
struct seq_file;
/* m->private: the data given to proc_create_single_data */
void *rust_helper_seq_private(struct seq_file *m);
unsigned int rust_helper_net_inum(const struct net *net);
struct user_namespace *rust_helper_net_user_ns(struct net *net);
struct inet_hashinfo *rust_helper_net_tcp_hashinfo(struct net *net);
void *rust_helper_file_pde_data(struct file *file);
bool rust_helper_file_readable(const struct file *file);
unsigned long rust_helper_copy_from_user(void *to, const void __user *from, unsigned long n);
void rust_helper_rcu_read_lock(void);
void rust_helper_rcu_read_unlock(void);
void rust_helper_local_bh_disable(void);
void rust_helper_local_bh_enable(void);
void rust_helper_bh_lock_sock(struct sock *sk);
void rust_helper_bh_unlock_sock(struct sock *sk);
struct inet_timewait_sock *rust_helper_inet_twsk(struct sock *sk);
void rust_helper_sk_set_err(struct sock *sk, int err);
bool rust_helper_sock_flag_dead(const struct sock *sk);
/* Layout facts for the structs those abstractions build (separate from the table below). */
enum kmods_netproc_layout_item {
	KMODS_NETPROC_PERNET_OPS_SIZE,
	KMODS_NETPROC_PERNET_OPS_INIT,
	KMODS_NETPROC_PERNET_OPS_EXIT,
	KMODS_NETPROC_PERNET_OPS_ID,
	KMODS_NETPROC_PERNET_OPS_SIZE_FIELD,
	KMODS_NETPROC_PROC_OPS_SIZE,
	KMODS_NETPROC_PROC_OPS_OPEN,
	KMODS_NETPROC_PROC_OPS_WRITE,
	KMODS_NETPROC_PROC_OPS_FLAGS,
	KMODS_NETPROC_IN6_ADDR_SIZE,
	KMODS_NETPROC_COUNT,
};
size_t rust_helper_layout_netproc(unsigned int item);

/* Layout cross-check between this C compiler's view and bindgen's. */
enum kmods_layout_item {
	KMODS_LAYOUT_SOCKET_SIZE,
	KMODS_LAYOUT_SOCKET_SK,
	KMODS_LAYOUT_SOCK_SIZE,
	KMODS_LAYOUT_SOCK_STATE_CHANGE,
	KMODS_LAYOUT_SOCK_DATA_READY,
	KMODS_LAYOUT_SOCK_WRITE_SPACE,
	KMODS_LAYOUT_SOCK_USER_DATA,
	KMODS_LAYOUT_SOCK_CALLBACK_LOCK,
	KMODS_LAYOUT_SOCK_RCVTIMEO,
	KMODS_LAYOUT_WORK_STRUCT_SIZE,
	KMODS_LAYOUT_KERNEL_PARAM_SIZE,
	KMODS_LAYOUT_KERNEL_PARAM_ARG,
	KMODS_LAYOUT_MSGHDR_SIZE,
	KMODS_LAYOUT_MSGHDR_FLAGS,
	KMODS_LAYOUT_KVEC_SIZE,
	KMODS_LAYOUT_SPINLOCK_SIZE,
	KMODS_LAYOUT_MODULE_NAME,
	KMODS_LAYOUT_SOCKADDR_IN_SIZE,
	KMODS_LAYOUT_SOCKADDR_IN6_SIZE,
	KMODS_LAYOUT_KSTAT_SIZE,
	KMODS_LAYOUT_KSTAT_MODE,
	KMODS_LAYOUT_KSTAT_FSIZE,
	KMODS_LAYOUT_KSTAT_MTIME,
	KMODS_LAYOUT_PATH_SIZE,
	KMODS_LAYOUT_FILE_F_PATH,
	KMODS_LAYOUT_DIR_CONTEXT_SIZE,
	KMODS_LAYOUT_COUNT,
};
size_t rust_helper_layout(unsigned int item);

#endif
