/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * Headers bindgen reads for the target kernel. Macros with casts are not emitted by
 * bindgen, so typed constants are declared below.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/delay.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/net_namespace.h>
#include <net/inet_hashtables.h>
#include <net/inet_timewait_sock.h>
#include <net/inet6_hashtables.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>
#include <linux/fs.h>
#include <linux/file.h>
#include <linux/splice.h>
#include <linux/kprobes.h>
#include <linux/namei.h>
#include <linux/stat.h>
#include <linux/timekeeping.h>
#include <linux/jiffies.h>
#include <linux/uio.h>
#include <linux/highmem.h>
#include <linux/crypto.h>
#include <crypto/acompress.h>
#include <linux/rcupdate.h>
#include <linux/vmalloc.h>
#include <linux/timer.h>
#include <linux/random.h>
#include <linux/cred.h>
#include <linux/utsname.h>

#include "../kernel/helpers/helpers.h"

const gfp_t KMODS_GFP_KERNEL = GFP_KERNEL;
const gfp_t KMODS_GFP_ATOMIC = GFP_ATOMIC;
const gfp_t KMODS_GFP_NOWAIT = GFP_NOWAIT;
const unsigned long KMODS_HZ = HZ;
const unsigned int KMODS_WQ_UNBOUND = WQ_UNBOUND;
const unsigned int KMODS_WQ_MEM_RECLAIM = WQ_MEM_RECLAIM;
const unsigned int KMODS_WQ_HIGHPRI = WQ_HIGHPRI;
const unsigned int KMODS_WQ_CPU_INTENSIVE = WQ_CPU_INTENSIVE;
const int KMODS_NUMA_NO_NODE = NUMA_NO_NODE;
const unsigned int KMODS_O_NONBLOCK = O_NONBLOCK;
const unsigned int KMODS_MSG_DONTWAIT = MSG_DONTWAIT;
const unsigned int KMODS_MSG_NOSIGNAL = MSG_NOSIGNAL;
const unsigned int KMODS_MSG_MORE = MSG_MORE;
const unsigned int KMODS_SPLICE_F_MORE = SPLICE_F_MORE;
const unsigned int KMODS_MSG_WAITALL = MSG_WAITALL;
const int KMODS_SHUT_RDWR = SHUT_RDWR;
const unsigned long KMODS_MAX_ERRNO = MAX_ERRNO;
const int KMODS_AF_INET = AF_INET;
const int KMODS_AF_INET6 = AF_INET6;
const int KMODS_IPPROTO_TCP = IPPROTO_TCP;
const int KMODS_TCP_ESTABLISHED = TCP_ESTABLISHED;
const int KMODS_TCP_SYN_SENT = TCP_SYN_SENT;
const int KMODS_TCP_SYN_RECV = TCP_SYN_RECV;
const int KMODS_TCP_FIN_WAIT1 = TCP_FIN_WAIT1;
const int KMODS_TCP_FIN_WAIT2 = TCP_FIN_WAIT2;
const int KMODS_TCP_TIME_WAIT = TCP_TIME_WAIT;
const int KMODS_TCP_CLOSE = TCP_CLOSE;
const int KMODS_TCP_CLOSE_WAIT = TCP_CLOSE_WAIT;
const int KMODS_TCP_LAST_ACK = TCP_LAST_ACK;
const int KMODS_TCP_LISTEN = TCP_LISTEN;
const int KMODS_TCP_CLOSING = TCP_CLOSING;
const int KMODS_TCP_NEW_SYN_RECV = TCP_NEW_SYN_RECV;
/* file system */
const unsigned int KMODS_LOOKUP_FOLLOW = LOOKUP_FOLLOW;
const unsigned int KMODS_LOOKUP_BENEATH = LOOKUP_BENEATH;
const unsigned int KMODS_LOOKUP_NO_MAGICLINKS = LOOKUP_NO_MAGICLINKS;
const int KMODS_O_RDONLY = O_RDONLY;
const int KMODS_MAY_READ = MAY_READ;
const int KMODS_MAY_OPEN = MAY_OPEN;
const int KMODS_O_DIRECTORY = O_DIRECTORY;
const int KMODS_O_LARGEFILE = O_LARGEFILE;
const int KMODS_O_NOATIME = O_NOATIME;
const unsigned int KMODS_S_IFMT = S_IFMT;
const unsigned int KMODS_S_IFREG = S_IFREG;
const unsigned int KMODS_S_IFDIR = S_IFDIR;
const unsigned int KMODS_S_IFLNK = S_IFLNK;
const unsigned int KMODS_STATX_BASIC_STATS = STATX_BASIC_STATS;
const unsigned int KMODS_AT_STATX_SYNC_AS_STAT = AT_STATX_SYNC_AS_STAT;
const unsigned char KMODS_DT_DIR = DT_DIR;
const unsigned char KMODS_DT_REG = DT_REG;
const unsigned char KMODS_DT_LNK = DT_LNK;
const unsigned char KMODS_DT_UNKNOWN = DT_UNKNOWN;
/* drop-tcp-socket */
const int KMODS_CAP_NET_ADMIN = CAP_NET_ADMIN;
