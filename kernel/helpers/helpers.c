// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * See helpers.h. Included by one tiny C file per module so that Kbuild compiles it with
 * exactly the module's flags.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/workqueue.h>
#include <linux/kthread.h>
#include <linux/sched/task.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/tcp.h>
#include <linux/sockptr.h>
#include <net/sock.h>
#include <net/net_namespace.h>
#include <linux/uio.h>
#include <linux/bvec.h>
#include <linux/gfp.h>
#include <linux/err.h>
#include <linux/timekeeping.h>
#include <linux/cred.h>
#include <linux/timer.h>
#include <linux/jiffies.h>
#include <linux/version.h>
#include <linux/capability.h>
#include <linux/uidgid.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/stat.h>
/* drop-tcp-socket helpers */
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/rcupdate.h>
#include <linux/bottom_half.h>
#include <net/inet_timewait_sock.h>
#include <net/tcp.h>
#include <linux/kprobes.h>
#include <linux/crypto.h>
#include "helpers.h"

/* spinlock_t is a different type on PREEMPT_RT (an rt_mutex); the Rust side assumes not. */
#ifdef CONFIG_PREEMPT_RT
#error "kmods: PREEMPT_RT kernels are not supported"
#endif

void rust_helper_printk(int level, const char *prefix, const char *msg, size_t len)
{
	int n = len > INT_MAX ? INT_MAX : (int)len;

	switch (level) {
	case 0: printk(KERN_EMERG "%s: %.*s\n", prefix, n, msg); break;
	case 1: printk(KERN_ALERT "%s: %.*s\n", prefix, n, msg); break;
	case 2: printk(KERN_CRIT "%s: %.*s\n", prefix, n, msg); break;
	case 3: printk(KERN_ERR "%s: %.*s\n", prefix, n, msg); break;
	case 4: printk(KERN_WARNING "%s: %.*s\n", prefix, n, msg); break;
	case 5: printk(KERN_NOTICE "%s: %.*s\n", prefix, n, msg); break;
	case 6: printk(KERN_INFO "%s: %.*s\n", prefix, n, msg); break;
	default: printk(KERN_DEBUG "%s: %.*s\n", prefix, n, msg); break;
	}
}

void kmods_helper_bug(bool really) { if (really) BUG(); }

/* Allocation calls of this module's Rust code, per CPU: no shared line on the hot path. */
static DEFINE_PER_CPU(unsigned long, kmods_alloc_calls);

void *rust_helper_kmalloc(size_t size, gfp_t flags)
{
	this_cpu_inc(kmods_alloc_calls);
	return kmalloc(size, flags);
}
void *rust_helper_krealloc(const void *p, size_t size, gfp_t flags)
{
	this_cpu_inc(kmods_alloc_calls);
	return krealloc(p, size, flags);
}
void rust_helper_kfree(const void *p) { kfree(p); }
void *rust_helper_kvmalloc(size_t size, gfp_t flags)
{
	this_cpu_inc(kmods_alloc_calls);
	return kvmalloc(size, flags);
}
unsigned long rust_helper_alloc_calls(void)
{
	unsigned long n = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		n += per_cpu(kmods_alloc_calls, cpu);
	return n;
}
void rust_helper_kvfree(const void *p) { kvfree(p); }

/* spin_lock_init() with the caller's static class key, as the macro does per call site. */
void rust_helper_spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	__raw_spin_lock_init(spinlock_check(lock), name, key, LD_WAIT_CONFIG);
#else
	spin_lock_init(lock);
#endif
}
void rust_helper_spin_lock_bh(spinlock_t *lock) { spin_lock_bh(lock); }
void rust_helper_spin_unlock_bh(spinlock_t *lock) { spin_unlock_bh(lock); }
void rust_helper_sk_callback_read_lock_bh(struct sock *sk) { read_lock_bh(&sk->sk_callback_lock); }
void rust_helper_sk_callback_read_unlock_bh(struct sock *sk) { read_unlock_bh(&sk->sk_callback_lock); }
void rust_helper_sk_callback_write_lock_bh(struct sock *sk) { write_lock_bh(&sk->sk_callback_lock); }
void rust_helper_sk_callback_write_unlock_bh(struct sock *sk) { write_unlock_bh(&sk->sk_callback_lock); }
void rust_helper_lock_sock(struct sock *sk) { lock_sock(sk); }
void rust_helper_release_sock(struct sock *sk) { release_sock(sk); }

struct workqueue_struct *rust_helper_alloc_workqueue(const char *name, unsigned int flags, int max_active)
{
	return alloc_workqueue("%s", flags, max_active, name);
}
void rust_helper_init_work(struct work_struct *work, void (*func)(struct work_struct *)) { INIT_WORK(work, func); }
bool rust_helper_queue_work(struct workqueue_struct *wq, struct work_struct *work) { return queue_work(wq, work); }
void rust_helper_flush_workqueue(struct workqueue_struct *wq) { flush_workqueue(wq); }

/* Created stopped: the caller takes its task reference, then wakes it. */
struct task_struct *rust_helper_kthread_create(int (*fn)(void *), void *data, const char *name)
{
	return kthread_create(fn, data, "%s", name);
}
void rust_helper_get_task_struct(struct task_struct *t) { get_task_struct(t); }
void rust_helper_put_task_struct(struct task_struct *t) { put_task_struct(t); }
bool rust_helper_signal_pending(void) { return signal_pending(current); }
void rust_helper_cond_resched(void) { cond_resched(); }

u64 rust_helper_ktime_get_coarse_ns(void) { return ktime_get_coarse_ns(); }

bool rust_helper_IS_ERR(const void *ptr) { return IS_ERR(ptr); }
long rust_helper_PTR_ERR(const void *ptr) { return PTR_ERR(ptr); }

struct net *rust_helper_init_net(void) { return &init_net; }
/*
 * A socket that holds a reference on its network namespace, as a user's does (kern = 0;
 * the connections a listener accepts inherit it). tcp_close() stops every timer of a
 * socket without one (a kernel socket) when it is released (Linux 6.9, "tcp: properly
 * terminate timers for kernel sockets", and the stable kernels since, 6.1.y included):
 * an orphan still owing data or its FIN then never sends it and stays, holding its
 * memory, for good.
 */
int rust_helper_sock_create_counted(struct net *net, int family, int type, int proto, struct socket **res)
{
	return __sock_create(net, family, type, proto, res, 0);
}
void *rust_helper_sk_user_data(struct sock *sk) { return sk->sk_user_data; }
void rust_helper_set_sk_user_data(struct sock *sk, void *data) { sk->sk_user_data = data; }
void rust_helper_sk_set_v6only(struct sock *sk, bool on) { sk->sk_ipv6only = on; }
/* SO_INCOMING_CPU before listen(): the reuseport group counts it when the socket joins. */
void rust_helper_sk_set_incoming_cpu(struct sock *sk, int cpu) { WRITE_ONCE(sk->sk_incoming_cpu, cpu); }
int rust_helper_tcp_set_defer_accept(struct socket *sock, int secs)
{
	return sock->ops->setsockopt(sock, SOL_TCP, TCP_DEFER_ACCEPT, KERNEL_SOCKPTR(&secs), sizeof(secs));
}
int rust_helper_sk_state(const struct sock *sk) { return READ_ONCE(sk->sk_state); }
bool rust_helper_tcp_nothing_to_read(const struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	int st = READ_ONCE(sk->sk_state);

	return (st == TCP_ESTABLISHED || st == TCP_FIN_WAIT1 || st == TCP_FIN_WAIT2) &&
	       !(READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) && !READ_ONCE(sk->sk_err) &&
	       READ_ONCE(tp->rcv_nxt) == READ_ONCE(tp->copied_seq);
}
bool rust_helper_sk_stream_is_writeable(const struct sock *sk) { return sk_stream_is_writeable(sk); }
bool rust_helper_tcp_under_memory_pressure(const struct sock *sk) { return tcp_under_memory_pressure(sk); }
u32 rust_helper_tcp_unacked(const struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	return READ_ONCE(tp->write_seq) - READ_ONCE(tp->snd_una);
}
unsigned int rust_helper_dentry_flags(const struct dentry *d)
{
	return (d_really_is_negative(d) ? KMODS_DENTRY_NEGATIVE : 0) |
	       (d_is_symlink(d) ? KMODS_DENTRY_SYMLINK : 0) |
	       (d_mountpoint(d) ? KMODS_DENTRY_MOUNTPOINT : 0);
}
unsigned int rust_helper_path_mode(const struct path *path)
{
	struct inode *inode = d_inode(path->dentry);

	return inode ? inode->i_mode : 0;
}
void rust_helper_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *))
{
	timer_setup(timer, fn, 0);
}
int rust_helper_mod_timer_ms(struct timer_list *timer, unsigned int ms)
{
	return mod_timer(timer, jiffies + msecs_to_jiffies(ms));
}
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
int rust_helper_timer_delete(struct timer_list *timer) { return timer_delete(timer); }
int rust_helper_timer_delete_sync(struct timer_list *timer) { return timer_delete_sync(timer); }
#else
int rust_helper_timer_delete(struct timer_list *timer) { return del_timer(timer); }
int rust_helper_timer_delete_sync(struct timer_list *timer) { return del_timer_sync(timer); }
#endif

void rust_helper_fput_now(struct file *file)
{
	if (current->flags & PF_KTHREAD)
		__fput_sync(file);
	else
		fput(file);
}

struct page *rust_helper_alloc_block(unsigned int order)
{
	gfp_t gfp = GFP_KERNEL | __GFP_NOWARN;

	if (order)
		gfp |= __GFP_COMP | __GFP_NORETRY;
	return alloc_pages(gfp, order);
}
void rust_helper_put_page(struct page *page) { put_page(page); }
void *rust_helper_page_address(struct page *page) { return page_address(page); }

int rust_helper_sock_send_page(struct socket *sock, struct page *page, unsigned int offset, size_t size, bool more)
{
	int flags = MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
	struct bio_vec bvec;
	struct msghdr msg = { .msg_flags = flags | MSG_SPLICE_PAGES };

	bvec_set_page(&bvec, page, size, offset);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bvec, 1, size);
	return sock_sendmsg(sock, &msg);
#else
	/* as splice does for all but its last page: no push, more follows at once */
	if (more)
		flags |= MSG_SENDPAGE_NOTLAST;
	return kernel_sendpage(sock, page, offset, size, flags);
#endif
}

const struct cred *rust_helper_current_cred(void) { return current_cred(); }

int rust_helper_path_permission(const struct path *path, int mask)
{
	return path_permission(path, mask);
}

const struct cred *rust_helper_unprivileged_cred(unsigned int uid, unsigned int gid)
{
	kuid_t kuid = make_kuid(&init_user_ns, uid);
	kgid_t kgid = make_kgid(&init_user_ns, gid);
	struct cred *cred;

	if (!uid_valid(kuid) || !gid_valid(kgid))
		return ERR_PTR(-EINVAL);
	cred = prepare_kernel_cred(&init_task);
	if (!cred)
		return ERR_PTR(-ENOMEM);
	cred->uid = cred->euid = cred->suid = cred->fsuid = kuid;
	cred->gid = cred->egid = cred->sgid = cred->fsgid = kgid;
	cap_clear(cred->cap_inheritable);
	cap_clear(cred->cap_permitted);
	cap_clear(cred->cap_effective);
	cap_clear(cred->cap_bset);
	cap_clear(cred->cap_ambient);
	/* init's supplementary groups are empty: only kgid's group applies. */
	return cred;
}

const struct cred *rust_helper_override_creds(const struct cred *cred) { return override_creds(cred); }
void rust_helper_revert_creds(const struct cred *old) { revert_creds(old); }
void rust_helper_put_cred(const struct cred *cred) { put_cred(cred); }

size_t rust_helper_layout(unsigned int item)
{
	switch (item) {
	case KMODS_LAYOUT_SOCKET_SIZE: return sizeof(struct socket);
	case KMODS_LAYOUT_SOCKET_SK: return offsetof(struct socket, sk);
	case KMODS_LAYOUT_SOCK_SIZE: return sizeof(struct sock);
	case KMODS_LAYOUT_SOCK_STATE_CHANGE: return offsetof(struct sock, sk_state_change);
	case KMODS_LAYOUT_SOCK_DATA_READY: return offsetof(struct sock, sk_data_ready);
	case KMODS_LAYOUT_SOCK_WRITE_SPACE: return offsetof(struct sock, sk_write_space);
	case KMODS_LAYOUT_SOCK_USER_DATA: return offsetof(struct sock, sk_user_data);
	case KMODS_LAYOUT_SOCK_CALLBACK_LOCK: return offsetof(struct sock, sk_callback_lock);
	case KMODS_LAYOUT_SOCK_RCVTIMEO: return offsetof(struct sock, sk_rcvtimeo);
	case KMODS_LAYOUT_WORK_STRUCT_SIZE: return sizeof(struct work_struct);
	case KMODS_LAYOUT_KERNEL_PARAM_SIZE: return sizeof(struct kernel_param);
	case KMODS_LAYOUT_KERNEL_PARAM_ARG: return offsetof(struct kernel_param, arg);
	case KMODS_LAYOUT_MSGHDR_SIZE: return sizeof(struct msghdr);
	case KMODS_LAYOUT_MSGHDR_FLAGS: return offsetof(struct msghdr, msg_flags);
	case KMODS_LAYOUT_KVEC_SIZE: return sizeof(struct kvec);
	case KMODS_LAYOUT_SPINLOCK_SIZE: return sizeof(spinlock_t);
	case KMODS_LAYOUT_MODULE_NAME: return offsetof(struct module, name);
	case KMODS_LAYOUT_SOCKADDR_IN_SIZE: return sizeof(struct sockaddr_in);
	case KMODS_LAYOUT_SOCKADDR_IN6_SIZE: return sizeof(struct sockaddr_in6);
	case KMODS_LAYOUT_KSTAT_SIZE: return sizeof(struct kstat);
	case KMODS_LAYOUT_KSTAT_MODE: return offsetof(struct kstat, mode);
	case KMODS_LAYOUT_KSTAT_FSIZE: return offsetof(struct kstat, size);
	case KMODS_LAYOUT_KSTAT_MTIME: return offsetof(struct kstat, mtime);
	case KMODS_LAYOUT_PATH_SIZE: return sizeof(struct path);
	case KMODS_LAYOUT_FILE_F_PATH: return offsetof(struct file, f_path);
	case KMODS_LAYOUT_DIR_CONTEXT_SIZE: return sizeof(struct dir_context);
	default: return (size_t)-1;
	}
}

/* drop-tcp-socket: see helpers.h */
struct proc_dir_entry *rust_helper_net_proc_dir(struct net *net) { return net->proc_net; }
void *rust_helper_seq_private(struct seq_file *m) { return m->private; }
unsigned int rust_helper_net_inum(const struct net *net) { return net->ns.inum; }
struct user_namespace *rust_helper_net_user_ns(struct net *net) { return net->user_ns; }
struct inet_hashinfo *rust_helper_net_tcp_hashinfo(struct net *net) { return net->ipv4.tcp_death_row.hashinfo; }
void *rust_helper_file_pde_data(struct file *file) { return pde_data(file_inode(file)); }
bool rust_helper_file_readable(const struct file *file) { return file->f_mode & FMODE_READ; }
unsigned long rust_helper_copy_from_user(void *to, const void __user *from, unsigned long n) { return copy_from_user(to, from, n); }
void rust_helper_rcu_read_lock(void) { rcu_read_lock(); }
void rust_helper_rcu_read_unlock(void) { rcu_read_unlock(); }
void rust_helper_local_bh_disable(void) { local_bh_disable(); }
void rust_helper_local_bh_enable(void) { local_bh_enable(); }
void rust_helper_bh_lock_sock(struct sock *sk) { bh_lock_sock(sk); }
void rust_helper_bh_unlock_sock(struct sock *sk) { bh_unlock_sock(sk); }
struct inet_timewait_sock *rust_helper_inet_twsk(struct sock *sk) { return inet_twsk(sk); }
/* The barrier pairs with the smp_rmb() in tcp_poll(), as in tcp_abort(). */
void rust_helper_sk_set_err(struct sock *sk, int err) { WRITE_ONCE(sk->sk_err, err); smp_wmb(); }
bool rust_helper_sock_flag_dead(const struct sock *sk) { return sock_flag(sk, SOCK_DEAD); }
size_t rust_helper_layout_netproc(unsigned int item)
{
	switch (item) {
	case KMODS_NETPROC_PERNET_OPS_SIZE: return sizeof(struct pernet_operations);
	case KMODS_NETPROC_PERNET_OPS_INIT: return offsetof(struct pernet_operations, init);
	case KMODS_NETPROC_PERNET_OPS_EXIT: return offsetof(struct pernet_operations, exit);
	case KMODS_NETPROC_PERNET_OPS_ID: return offsetof(struct pernet_operations, id);
	case KMODS_NETPROC_PERNET_OPS_SIZE_FIELD: return offsetof(struct pernet_operations, size);
	case KMODS_NETPROC_PROC_OPS_SIZE: return sizeof(struct proc_ops);
	case KMODS_NETPROC_PROC_OPS_OPEN: return offsetof(struct proc_ops, proc_open);
	case KMODS_NETPROC_PROC_OPS_WRITE: return offsetof(struct proc_ops, proc_write);
	case KMODS_NETPROC_PROC_OPS_FLAGS: return offsetof(struct proc_ops, proc_flags);
	case KMODS_NETPROC_IN6_ADDR_SIZE: return sizeof(struct in6_addr);
	default: return (size_t)-1;
	}
}

/* return probes: the instance's private data and its probe (NULL while unregistering) */
void *rust_helper_kretprobe_data(struct kretprobe_instance *ri) { return ri->data; }
struct kretprobe *rust_helper_get_kretprobe(struct kretprobe_instance *ri) { return get_kretprobe(ri); }

unsigned int rust_helper_num_online_cpus(void) { return num_online_cpus(); }
bool rust_helper_cpu_online(unsigned int cpu) { return cpu_online(cpu); }
unsigned int rust_helper_raw_smp_processor_id(void) { return raw_smp_processor_id(); }
struct crypto_comp *rust_helper_crypto_alloc_comp(const char *name) { return crypto_alloc_comp(name, 0, 0); }
void rust_helper_crypto_free_comp(struct crypto_comp *tfm) { crypto_free_comp(tfm); }
