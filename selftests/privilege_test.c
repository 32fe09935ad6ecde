// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf privilege_test: what an unprivileged user can do with what it
 * is handed, and what the modules let out (issue 11 item 6).
 *
 * - unpriv: a child that dropped to uid/gid 65534 with no capability and
 *   no supplementary group cannot open either control node; a dma-buf fd
 *   passed to it allows what its open mode allows and nothing more; a
 *   read-only control fd passed to it only answers INFO.
 * - leak: every ioctl of both nodes, its struct filled with 0xa5 before
 *   each call, gives back only defined bytes: inputs as given, every out_*
 *   field written, reserved fields and padding 0, nothing past the struct.
 * - ptr: debugfs and the tracepoints show no kernel address, and a trace
 *   record carries no stale byte of the ring buffer (the raw record is
 *   what perf and trace_pipe_raw hand out).
 *
 * Environment: BAR_DMABUF_BDF and the importer module.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define NOBODY		65534
#define PAT		0xa5	/* what every user struct is filled with */
#define UBUF_LEN	4096	/* the caller's buffer around a struct */
#define BAR_MIN		(16 * BD_PAGE)
#define TRACEFS		"/sys/kernel/tracing"
#define HEAP_NODE	"/dev/dma_heap/system"
#define EVENT_MS	10000

/* ---- dropping privileges ---- */

/* No capability left in any set of this process (capget, bounding set). */
static bool caps_all_clear(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	int i;

	if (syscall(SYS_capget, &h, d))
		return false;
	for (i = 0; i < 2; i++) {
		if (d[i].effective || d[i].permitted || d[i].inheritable) {
			fprintf(stderr, "# child: capabilities %08x %08x %08x left\n",
				d[i].effective, d[i].permitted,
				d[i].inheritable);
			return false;
		}
	}
	for (i = 0; i < 64; i++) {
		if (prctl(PR_CAPBSET_READ, i, 0, 0, 0) == 1) {
			fprintf(stderr, "# child: capability %d bounded in\n", i);
			return false;
		}
	}
	return true;
}

/*
 * Become nobody: no supplementary group, gid and uid 65534, the bounding
 * set emptied, no capability left and no way to gain one; dumpable, as a
 * program nobody started would be. 0 or -errno.
 */
static int drop_privileges(const char **step)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2] = {};
	int cap;

	for (cap = 0; cap < 64; cap++)
		prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);	/* EINVAL past the last */
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
		*step = "setgroups/setgid/setuid";
		return -errno;
	}
	if (syscall(SYS_capset, &h, d)) {
		*step = "capset";
		return -errno;
	}
	/* as a program nobody ran: its /proc/self is its own */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) {
		*step = "PR_SET_DUMPABLE";
		return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		*step = "PR_SET_NO_NEW_PRIVS";
		return -errno;
	}
	*step = "the check of ids, groups and capabilities";
	if (getuid() != NOBODY || geteuid() != NOBODY || getgid() != NOBODY ||
	    getegid() != NOBODY || getgroups(0, NULL) != 0 || !caps_all_clear())
		return -EPERM;
	return 0;
}

/*
 * The child's ways into /dev, /proc and /sys, opened while still root. The
 * test VM's initramfs root is mode 0700, so nobody cannot walk "/" at all:
 * an open by absolute path would fail there whatever the node's mode.
 * Paths relative to these walk only what is below them.
 */
static int dev_dir = -1, proc_dir = -1, sys_dir = -1;

static void open_dirs(void)
{
	dev_dir = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
	proc_dir = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	sys_dir = open("/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* In the child: report a failed check and count it. */
#define CHILD_CHECK(cond, fmt, ...) do {				\
	if (!(cond)) {							\
		fprintf(stderr, "# child: line %d: %s: " fmt "\n",	\
			__LINE__, #cond, ##__VA_ARGS__);		\
		failed++;						\
	}								\
} while (0)

/*
 * Run @fn(@arg) in a child that first drops every privilege; it inherits
 * the caller's fds. The child's number of failed checks (0 = all good),
 * 100 if it could not drop, or -1 if it died.
 */
static int run_unprivileged(int (*fn)(void *), void *arg)
{
	int status, ret;
	pid_t pid;

	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		const char *step = "";

		open_dirs();
		ret = drop_privileges(&step);
		if (ret) {
			fprintf(stderr, "# child: cannot drop privileges: %s: %s\n",
				step, strerror(-ret));
			_exit(100);
		}
		ret = fn(arg);
		_exit(ret > 99 ? 99 : ret);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ---- structs as the kernel gives them back ---- */

enum fkind {
	F_IN,	/* given by the caller: must come back as it was */
	F_OUT,	/* written by the kernel: must not still be the fill pattern */
	F_RSV,	/* reserved: must be 0 */
};

struct fdesc {
	const char *name;
	size_t off, len;
	enum fkind kind;
};

/* FLD(struct, kind, member): the member's name, offset and size */
#define FLD(type, k, ...) { #__VA_ARGS__, offsetof(type, __VA_ARGS__), \
			     sizeof(((type *)0)->__VA_ARGS__), k }

/* Every field of every uapi struct; the leak tests check against these. */
static const struct fdesc info_f[] = {
	FLD(struct bar_dmabuf_info, F_OUT, size),
	FLD(struct bar_dmabuf_info, F_IN, flags),
	FLD(struct bar_dmabuf_info, F_OUT, out_num_bars),
	FLD(struct bar_dmabuf_info, F_OUT, out_vendor),
	FLD(struct bar_dmabuf_info, F_OUT, out_device),
	FLD(struct bar_dmabuf_info, F_OUT, out_bdf),
	FLD(struct bar_dmabuf_info, F_OUT, out_default_timeout_ms),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[0].index),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[0].flags),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[0].size),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[1].index),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[1].flags),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[1].size),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[2].index),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[2].flags),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[2].size),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[3].index),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[3].flags),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[3].size),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[4].index),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[4].flags),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[4].size),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[5].index),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[5].flags),
	FLD(struct bar_dmabuf_info, F_OUT, out_bars[5].size),
	FLD(struct bar_dmabuf_info, F_OUT, out_domain),
	FLD(struct bar_dmabuf_info, F_RSV, out_reserved),
};

static const struct fdesc export_f[] = {
	FLD(struct bar_dmabuf_export, F_IN, size),
	FLD(struct bar_dmabuf_export, F_IN, flags),
	FLD(struct bar_dmabuf_export, F_IN, bar_index),
	FLD(struct bar_dmabuf_export, F_IN, open_flags),
	FLD(struct bar_dmabuf_export, F_IN, nr_ranges),
	FLD(struct bar_dmabuf_export, F_OUT, out_fd),
	FLD(struct bar_dmabuf_export, F_IN, ranges_ptr),
	FLD(struct bar_dmabuf_export, F_OUT, out_length),
	FLD(struct bar_dmabuf_export, F_RSV, reserved),
};

static const struct fdesc range_f[] = {
	FLD(struct bar_dmabuf_range, F_IN, offset),
	FLD(struct bar_dmabuf_range, F_IN, length),
};

static const struct fdesc bar_f[] = {
	FLD(struct bar_dmabuf_bar, F_OUT, index),
	FLD(struct bar_dmabuf_bar, F_OUT, flags),
	FLD(struct bar_dmabuf_bar, F_OUT, size),
};

static const struct fdesc revoke_f[] = {
	FLD(struct bar_dmabuf_revoke, F_IN, size),
	FLD(struct bar_dmabuf_revoke, F_IN, flags),
	FLD(struct bar_dmabuf_revoke, F_IN, fd),
	FLD(struct bar_dmabuf_revoke, F_IN, timeout_ms),
	FLD(struct bar_dmabuf_revoke, F_OUT, out_nr_buffers),
	FLD(struct bar_dmabuf_revoke, F_RSV, reserved),
};

static const struct fdesc restore_f[] = {
	FLD(struct bar_dmabuf_restore, F_IN, size),
	FLD(struct bar_dmabuf_restore, F_IN, flags),
	FLD(struct bar_dmabuf_restore, F_IN, fd),
	FLD(struct bar_dmabuf_restore, F_OUT, out_nr_buffers),
};

static const struct fdesc attach_f[] = {
	FLD(struct bar_dmabuf_imp_attach, F_IN, size),
	FLD(struct bar_dmabuf_imp_attach, F_IN, flags),
	FLD(struct bar_dmabuf_imp_attach, F_IN, dmabuf_fd),
	FLD(struct bar_dmabuf_imp_attach, F_OUT, out_handle),
};

static const struct fdesc handle_f[] = {
	FLD(struct bar_dmabuf_imp_handle, F_IN, size),
	FLD(struct bar_dmabuf_imp_handle, F_IN, flags),
	FLD(struct bar_dmabuf_imp_handle, F_IN, handle),
	FLD(struct bar_dmabuf_imp_handle, F_RSV, reserved),
	FLD(struct bar_dmabuf_imp_handle, F_OUT, out_length),
	FLD(struct bar_dmabuf_imp_handle, F_OUT, out_nr_segs),
	FLD(struct bar_dmabuf_imp_handle, F_OUT, out_max_seg_len),
};

static const struct fdesc behaviour_f[] = {
	FLD(struct bar_dmabuf_imp_behaviour, F_IN, size),
	FLD(struct bar_dmabuf_imp_behaviour, F_IN, flags),
	FLD(struct bar_dmabuf_imp_behaviour, F_IN, handle),
	FLD(struct bar_dmabuf_imp_behaviour, F_IN, unmap_mode),
	FLD(struct bar_dmabuf_imp_behaviour, F_IN, late_read_window_ms),
	FLD(struct bar_dmabuf_imp_behaviour, F_IN, late_read_interval_ms),
};

static const struct fdesc submit_f[] = {
	FLD(struct bar_dmabuf_imp_submit, F_IN, size),
	FLD(struct bar_dmabuf_imp_submit, F_IN, flags),
	FLD(struct bar_dmabuf_imp_submit, F_IN, handle),
	FLD(struct bar_dmabuf_imp_submit, F_IN, usage),
	FLD(struct bar_dmabuf_imp_submit, F_IN, offset),
	FLD(struct bar_dmabuf_imp_submit, F_IN, length),
	FLD(struct bar_dmabuf_imp_submit, F_IN, data_ptr),
	FLD(struct bar_dmabuf_imp_submit, F_IN, delay_ms),
	FLD(struct bar_dmabuf_imp_submit, F_OUT, out_sync_fd),
	FLD(struct bar_dmabuf_imp_submit, F_OUT, out_job),
	FLD(struct bar_dmabuf_imp_submit, F_RSV, reserved),
};

static const struct fdesc signal_f[] = {
	FLD(struct bar_dmabuf_imp_signal, F_IN, size),
	FLD(struct bar_dmabuf_imp_signal, F_IN, flags),
	FLD(struct bar_dmabuf_imp_signal, F_IN, job),
};

static const struct fdesc wait_job_f[] = {
	FLD(struct bar_dmabuf_imp_wait_job, F_IN, size),
	FLD(struct bar_dmabuf_imp_wait_job, F_IN, flags),
	FLD(struct bar_dmabuf_imp_wait_job, F_IN, job),
	FLD(struct bar_dmabuf_imp_wait_job, F_IN, timeout_ms),
	FLD(struct bar_dmabuf_imp_wait_job, F_OUT, out_status),
	FLD(struct bar_dmabuf_imp_wait_job, F_IN, data_ptr),
	FLD(struct bar_dmabuf_imp_wait_job, F_IN, data_len),
	FLD(struct bar_dmabuf_imp_wait_job, F_OUT, out_signal_ns),
};

static const struct fdesc event_f[] = {
	FLD(struct bar_dmabuf_imp_event, F_OUT, ts_ns),
	FLD(struct bar_dmabuf_imp_event, F_OUT, type),
	FLD(struct bar_dmabuf_imp_event, F_OUT, handle),
	FLD(struct bar_dmabuf_imp_event, F_OUT, arg),
	FLD(struct bar_dmabuf_imp_event, F_OUT, result),
	FLD(struct bar_dmabuf_imp_event, F_RSV, reserved),
};

static const struct fdesc read_log_f[] = {
	FLD(struct bar_dmabuf_imp_read_log, F_IN, size),
	FLD(struct bar_dmabuf_imp_read_log, F_IN, flags),
	FLD(struct bar_dmabuf_imp_read_log, F_IN, handle),
	FLD(struct bar_dmabuf_imp_read_log, F_IN, max_events),
	FLD(struct bar_dmabuf_imp_read_log, F_IN, events_ptr),
	FLD(struct bar_dmabuf_imp_read_log, F_OUT, out_nr_events),
	FLD(struct bar_dmabuf_imp_read_log, F_OUT, out_lost),
};

static const struct fdesc wait_event_f[] = {
	FLD(struct bar_dmabuf_imp_wait_event, F_IN, size),
	FLD(struct bar_dmabuf_imp_wait_event, F_IN, flags),
	FLD(struct bar_dmabuf_imp_wait_event, F_IN, handle),
	FLD(struct bar_dmabuf_imp_wait_event, F_IN, type),
	FLD(struct bar_dmabuf_imp_wait_event, F_IN, count),
	FLD(struct bar_dmabuf_imp_wait_event, F_IN, timeout_ms),
	FLD(struct bar_dmabuf_imp_wait_event, F_OUT, out_ts_ns),
};

static const struct fdesc counters_f[] = {
	FLD(struct bar_dmabuf_imp_counters, F_IN, size),
	FLD(struct bar_dmabuf_imp_counters, F_IN, flags),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_attachments),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_mappings),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_jobs_pending),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_dma_faults),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_late_reads),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_violations),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_watchdog_expired),
	FLD(struct bar_dmabuf_imp_counters, F_OUT, out_invalidates),
};

static const struct fdesc vmap_f[] = {
	FLD(struct bar_dmabuf_imp_vmap, F_IN, size),
	FLD(struct bar_dmabuf_imp_vmap, F_IN, flags),
	FLD(struct bar_dmabuf_imp_vmap, F_IN, dmabuf_fd),
	FLD(struct bar_dmabuf_imp_vmap, F_OUT, out_handle),
	FLD(struct bar_dmabuf_imp_vmap, F_OUT, out_length),
};

static const struct fdesc vmap_rw_f[] = {
	FLD(struct bar_dmabuf_imp_vmap_rw, F_IN, size),
	FLD(struct bar_dmabuf_imp_vmap_rw, F_IN, flags),
	FLD(struct bar_dmabuf_imp_vmap_rw, F_IN, handle),
	FLD(struct bar_dmabuf_imp_vmap_rw, F_RSV, reserved),
	FLD(struct bar_dmabuf_imp_vmap_rw, F_IN, offset),
	FLD(struct bar_dmabuf_imp_vmap_rw, F_IN, length),
	FLD(struct bar_dmabuf_imp_vmap_rw, F_IN, data_ptr),
};

#define LAYOUT(s, ...) { #s, sizeof(struct s), __VA_ARGS__, \
			 ARRAY_SIZE(__VA_ARGS__) }
static const struct layout {
	const char *name;
	size_t size;
	const struct fdesc *f;
	unsigned int nf;
} layouts[] = {
	LAYOUT(bar_dmabuf_info, info_f), LAYOUT(bar_dmabuf_bar, bar_f),
	LAYOUT(bar_dmabuf_range, range_f), LAYOUT(bar_dmabuf_export, export_f),
	LAYOUT(bar_dmabuf_revoke, revoke_f),
	LAYOUT(bar_dmabuf_restore, restore_f),
	LAYOUT(bar_dmabuf_imp_attach, attach_f),
	LAYOUT(bar_dmabuf_imp_handle, handle_f),
	LAYOUT(bar_dmabuf_imp_behaviour, behaviour_f),
	LAYOUT(bar_dmabuf_imp_submit, submit_f),
	LAYOUT(bar_dmabuf_imp_signal, signal_f),
	LAYOUT(bar_dmabuf_imp_wait_job, wait_job_f),
	LAYOUT(bar_dmabuf_imp_event, event_f),
	LAYOUT(bar_dmabuf_imp_read_log, read_log_f),
	LAYOUT(bar_dmabuf_imp_wait_event, wait_event_f),
	LAYOUT(bar_dmabuf_imp_counters, counters_f),
	LAYOUT(bar_dmabuf_imp_vmap, vmap_f),
	LAYOUT(bar_dmabuf_imp_vmap_rw, vmap_rw_f),
};

/*
 * Bytes of [0, @size) no field of @f covers (padding: holes and the tail
 * up to the struct's alignment), or overlapped by two: printed, counted.
 */
static int layout_problems(const char *name, size_t size,
			   const struct fdesc *f, unsigned int nf)
{
	unsigned char cover[UBUF_LEN] = {};
	unsigned int i;
	size_t b;
	int bad = 0;

	for (i = 0; i < nf; i++)
		for (b = f[i].off; b < f[i].off + f[i].len && b < size; b++)
			cover[b]++;
	for (b = 0; b < size; b++) {
		if (cover[b] != 1) {
			fprintf(stderr, "# %s: byte %zu %s\n", name, b,
				cover[b] ? "in two fields" : "is padding");
			bad++;
		}
	}
	return bad;
}

/* A caller's buffer with a struct at its start, and its bytes before. */
struct ubuf {
	unsigned char b[UBUF_LEN];
	unsigned char before[UBUF_LEN];
};

/* Fill with the pattern and set size (0 = the struct's own) and flags. */
static void *ub_prep(struct ubuf *u, __u32 size, __u32 flags)
{
	memset(u->b, PAT, sizeof(u->b));
	memcpy(u->b, &size, sizeof(size));
	memcpy(u->b + 4, &flags, sizeof(flags));
	return u->b;
}

/* ioctl with a snapshot of the caller's bytes first: 0 or -errno. */
static int ub_ioctl(int fd, unsigned long cmd, struct ubuf *u)
{
	memcpy(u->before, u->b, sizeof(u->b));
	return ioctl(fd, cmd, u->b) ? -errno : 0;
}

/*
 * What is wrong with the answer the kernel wrote into @u for a struct of
 * @usize bytes (the size the caller gave): an input changed, an out_*
 * field still the pattern, a reserved field or a padding byte not 0, a
 * byte past @usize written. Printed as "# @what: ..."; the count.
 */
static int answer_problems(const char *what, const struct ubuf *u,
			   size_t usize, const struct fdesc *f, unsigned int nf)
{
	unsigned char cover[UBUF_LEN] = {};
	unsigned int i;
	size_t b;
	int bad = 0;

	for (i = 0; i < nf; i++) {
		const unsigned char *p = u->b + f[i].off;
		bool all_pat = true, zero = true;

		if (f[i].off + f[i].len > usize)
			continue;
		memset(cover + f[i].off, 1, f[i].len);
		for (b = 0; b < f[i].len; b++) {
			all_pat &= p[b] == PAT;
			zero &= !p[b];
		}
		if (f[i].kind == F_IN &&
		    memcmp(p, u->before + f[i].off, f[i].len)) {
			fprintf(stderr, "# %s: input %s changed\n", what,
				f[i].name);
			bad++;
		} else if (f[i].kind == F_OUT && all_pat) {
			fprintf(stderr, "# %s: %s not written (still 0x%02x)\n",
				what, f[i].name, PAT);
			bad++;
		} else if (f[i].kind == F_RSV && !zero) {
			fprintf(stderr, "# %s: reserved %s not 0\n", what,
				f[i].name);
			bad++;
		}
	}
	for (b = 0; b < usize; b++) {
		if (!cover[b] && u->b[b]) {
			fprintf(stderr, "# %s: padding byte %zu is 0x%02x\n",
				what, b, u->b[b]);
			bad++;
		}
	}
	for (b = usize; b < UBUF_LEN; b++) {
		if (u->b[b] != u->before[b]) {
			fprintf(stderr, "# %s: byte %zu past the struct written\n",
				what, b);
			bad++;
			break;
		}
	}
	return bad;
}

/* A failed call wrote nothing at all. */
static int untouched_problems(const char *what, const struct ubuf *u)
{
	if (!memcmp(u->b, u->before, UBUF_LEN))
		return 0;
	fprintf(stderr, "# %s: a failed call changed the caller's struct\n",
		what);
	return 1;
}

#define ANSWER(what, u, s, ...) \
	answer_problems(what, u, sizeof(struct s), __VA_ARGS__, \
			ARRAY_SIZE(__VA_ARGS__))

/* ---- kernel addresses in text ---- */

/* The memory BARs of @bdf (public: sysfs resource is world-readable). */
struct bar_ranges {
	unsigned int nr;
	__u64 start[BAR_DMABUF_NUM_BARS], end[BAR_DMABUF_NUM_BARS];
};

static void bar_ranges_of(const char *bdf, struct bar_ranges *r)
{
	struct bd_sysfs_bar bars[BAR_DMABUF_NUM_BARS];
	int i;

	r->nr = 0;
	if (bd_sysfs_bars(bdf, bars))
		return;
	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++) {
		if (!bars[i].size || !(bars[i].flags & BD_IORESOURCE_MEM))
			continue;
		r->start[r->nr] = bars[i].start;
		r->end[r->nr++] = bars[i].end;
	}
}

#define KERNEL_HALF	0xffff800000000000ULL	/* x86-64 and arm64 alike */

/*
 * The first token of @text that looks like a kernel address, copied into
 * @tok; false if there is none. A token is a run of letters and digits;
 * one with a 0x prefix or a hex letter is read as hex, one of digits
 * only as decimal (%lu of a pointer). It is a kernel address if it lies
 * in the upper half of the address space (what %px and a raw %lx print),
 * or if it is address-sized (above 4 GiB) and in no memory BAR of the
 * device (%pa of a BAR is what sysfs shows anyone anyway). A hashed %p
 * is 32 bits of hash zero-extended (00000000xxxxxxxx): never flagged.
 */
static bool find_kernel_address(const char *text, const struct bar_ranges *r,
				char *tok, size_t len)
{
	const char *p = text, *s;

	while (*p) {
		unsigned long long v;
		bool hex = false, alldig = true;
		const char *q;
		size_t n;
		unsigned int i;
		char *end;

		if (!isalnum((unsigned char)*p)) {
			p++;
			continue;
		}
		for (s = p; isalnum((unsigned char)*p); p++)
			;
		n = p - s;
		q = s;
		if (n > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
			q += 2;
			hex = true;
		}
		for (i = 0; i < (size_t)(p - q); i++) {
			if (!isxdigit((unsigned char)q[i]))
				break;
			if (!isdigit((unsigned char)q[i]))
				alldig = false;
		}
		if (i != (size_t)(p - q) || q == p)
			continue;	/* a word, not a number */
		hex |= !alldig;
		errno = 0;
		v = strtoull(q, &end, hex ? 16 : 10);
		if (errno == ERANGE)
			v = ~0ULL;
		if (v < KERNEL_HALF) {
			if (v >> 32 == 0)
				continue;
			for (i = 0; i < r->nr; i++)
				if (v >= r->start[i] && v <= r->end[i])
					break;
			if (i < r->nr)
				continue;
		}
		snprintf(tok, len, "%.*s", (int)n, s);
		return true;
	}
	return false;
}

/* ---- tracefs ---- */

/* One field of a trace event's record, from its format file. */
struct tfield {
	char name[64];
	unsigned int off, size;
	bool string;	/* a char array: bytes after its NUL must be 0 */
};

struct tevent {
	char name[64];
	unsigned int id;
	unsigned int nf;
	struct tfield f[16];
	bool pointer_field;	/* a field of pointer type */
	bool print_p;		/* "%p" in its print fmt */
};

/* Parse events/bar_dmabuf/<name>/format into @ev; 0 or -errno. */
static int tevent_parse(const char *name, struct tevent *ev)
{
	char path[256], *text, *line, *save = NULL;
	long n;

	memset(ev, 0, sizeof(*ev));
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	snprintf(path, sizeof(path), TRACEFS "/events/bar_dmabuf/%s/format",
		 name);
	n = bd_read_all(path, &text);
	if (n < 0)
		return n;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char type[128], *semi, *fld, *sp;
		unsigned int off, size;

		if (!strncmp(line, "ID:", 3))
			ev->id = strtoul(line + 3, NULL, 10);
		if (!strncmp(line, "print fmt:", 10)) {
			const char *p;

			for (p = strchr(line, '%'); p; p = strchr(p + 1, '%'))
				ev->print_p |= p[1] == 'p';
		}
		fld = strstr(line, "field:");
		if (!fld || ev->nf == ARRAY_SIZE(ev->f))
			continue;
		semi = strchr(fld, ';');
		if (!semi || !strstr(semi, "offset:") || !strstr(semi, "size:"))
			continue;
		snprintf(type, sizeof(type), "%.*s", (int)(semi - fld - 6),
			 fld + 6);
		off = strtoul(strstr(semi, "offset:") + 7, NULL, 10);
		size = strtoul(strstr(semi, "size:") + 5, NULL, 10);
		ev->pointer_field |= !!strchr(type, '*');
		sp = strrchr(type, ' ');
		snprintf(ev->f[ev->nf].name, sizeof(ev->f[0].name), "%.63s",
			 sp ? sp + 1 : type);
		ev->f[ev->nf].off = off;
		ev->f[ev->nf].size = size;
		ev->f[ev->nf].string = !strncmp(type, "char ", 5) &&
				       strchr(type, '[');
		ev->nf++;
	}
	free(text);
	return ev->id ? 0 : -EINVAL;
}

/*
 * Stale bytes in one raw record of @ev: a byte no field covers that is
 * not 0, or a byte after a string's NUL that is not 0. Printed; counted.
 */
static int record_problems(const struct tevent *ev, const unsigned char *d,
			   unsigned int len)
{
	unsigned char cover[512] = {};
	unsigned int i, b;
	int bad = 0;

	if (len > sizeof(cover))
		return 0;
	for (i = 0; i < ev->nf; i++) {
		const struct tfield *f = &ev->f[i];
		bool nul = false, told = false;

		for (b = f->off; b < f->off + f->size && b < len; b++) {
			cover[b] = 1;
			if (!f->string)
				continue;
			if (nul && d[b] && !told) {
				fprintf(stderr, "# %s: %s[%u] after its NUL is 0x%02x\n",
					ev->name, f->name, b - f->off, d[b]);
				bad++;
				told = true;
			}
			nul |= !d[b];
		}
	}
	for (b = 0; b < len; b++) {
		if (!cover[b] && d[b]) {
			fprintf(stderr, "# %s: byte %u of %u (no field) is 0x%02x\n",
				ev->name, b, len, d[b]);
			bad++;
			break;
		}
	}
	return bad;
}

/*
 * Walk the pages of a trace_pipe_raw read (ring buffer pages: u64 time
 * stamp, 8-byte commit, data) and check every record of @evs. The number
 * of our records seen goes to *@seen, per event into @count.
 */
static int raw_problems(const unsigned char *raw, size_t len,
			const struct tevent *evs, unsigned int nev,
			unsigned int *count, unsigned int *seen)
{
	size_t pg;
	int bad = 0;

	for (pg = 0; pg + 4096 <= len; pg += 4096) {
		const unsigned char *page = raw + pg, *data = page + 16;
		__u64 commit;
		size_t pos = 0, dlen;

		memcpy(&commit, page + 8, 8);
		dlen = commit & ((1ULL << 30) - 1);
		if (dlen > 4096 - 16)
			dlen = 4096 - 16;
		while (pos + 4 <= dlen) {
			__u32 h, a0 = 0, tl, rlen, total;
			const unsigned char *rec;
			__u16 type;
			unsigned int i;

			memcpy(&h, data + pos, 4);
			tl = h & 0x1f;
			if (pos + 8 <= dlen)
				memcpy(&a0, data + pos + 4, 4);
			if (tl == 29) {			/* padding */
				if (!(h >> 5) && !a0)
					break;
				total = a0 + 4;
				pos += total;
				continue;
			}
			if (tl == 30 || tl == 31) {	/* time extend, stamp */
				pos += 8;
				continue;
			}
			if (tl) {
				rec = data + pos + 4;
				rlen = tl * 4;
				total = rlen + 4;
			} else {
				rec = data + pos + 8;
				rlen = a0 - 4;
				total = a0 + 4;
			}
			if (pos + total > dlen || rlen < 2)
				break;
			memcpy(&type, rec, 2);
			for (i = 0; i < nev; i++) {
				if (evs[i].id != type)
					continue;
				count[i]++;
				(*seen)++;
				bad += record_problems(&evs[i], rec, rlen);
			}
			pos += total;
		}
	}
	return bad;
}

/* tracefs state a test changes, put back by trace_put_back() */
struct trace_saved {
	char size_kb[32];
	bool mounted;
};

static void trace_put_back(struct trace_saved *s)
{
	bd_write_file(TRACEFS "/tracing_on", "0");
	bd_write_file(TRACEFS "/events/bar_dmabuf/enable", "0");
	if (s->size_kb[0])
		bd_write_file(TRACEFS "/buffer_size_kb", s->size_kb);
	bd_write_file(TRACEFS "/tracing_on", "1");
}

/* Empty the trace: its pages keep what they held (nothing is zeroed). */
static int trace_truncate(void)
{
	int fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ */

FIXTURE(priv)
{
	bool skipped;
	struct bd_env e;
};

FIXTURE_SETUP(priv)
{
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
}

FIXTURE_TEARDOWN(priv)
{
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
	bd_env_close(&self->e);
}

/* ---- unpriv ---- */

static int child_open_nodes(void *arg)
{
	const char *bdf = arg;
	static const int modes[] = { O_RDONLY, O_WRONLY, O_RDWR };
	char paths[3][192];
	unsigned int i, m;
	int failed = 0, fd;

	/* the path is walkable: a refusal below is the node's own mode */
	fd = openat(dev_dir, "null", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0, "/dev/null: %s", strerror(errno));
	if (fd >= 0)
		close(fd);

	snprintf(paths[0], sizeof(paths[0]), "bar_dmabuf/%s", bdf);
	snprintf(paths[1], sizeof(paths[1]), "bar_dmabuf_importer");
	snprintf(paths[2], sizeof(paths[2]), "kernel/debug/bar_dmabuf/%s/buffers",
		 bdf);
	for (i = 0; i < ARRAY_SIZE(paths); i++) {
		for (m = 0; m < ARRAY_SIZE(modes); m++) {
			if (i == 2 && modes[m] != O_RDONLY)
				continue;
			fd = openat(i == 2 ? sys_dir : dev_dir, paths[i],
				    modes[m] | O_CLOEXEC);
			CHILD_CHECK(fd < 0 && (errno == EACCES || errno == EPERM),
				    "open %s mode %d: fd %d, %s", paths[i],
				    modes[m], fd, strerror(errno));
			if (fd >= 0)
				close(fd);
		}
	}
	return failed;
}

/*
 * Neither control node (nor the exporter's debugfs) opens for a user that
 * is not root and holds no capability, in any mode.
 */
TEST_F(priv, unprivileged_user_cannot_open_control_nodes)
{
	if (self->skipped)
		return;
	EXPECT_EQ(0, run_unprivileged(child_open_nodes, (void *)self->e.bdf));
}

struct dmabuf_fds {
	int ro, rw;
	const char *marker;
};

/* Our ioctl numbers and the importer's, on a dma-buf: ENOTTY, untouched. */
static int foreign_ioctls_refused(int fd, const char *what)
{
	static const unsigned long cmds[] = {
		BAR_DMABUF_IOCTL_INFO, BAR_DMABUF_IOCTL_EXPORT,
		BAR_DMABUF_IOCTL_REVOKE, BAR_DMABUF_IOCTL_RESTORE,
		BAR_DMABUF_IMP_IOCTL_ATTACH, BAR_DMABUF_IMP_IOCTL_DETACH,
		BAR_DMABUF_IMP_IOCTL_MAP, BAR_DMABUF_IMP_IOCTL_UNMAP,
		BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, BAR_DMABUF_IMP_IOCTL_SUBMIT,
		BAR_DMABUF_IMP_IOCTL_SIGNAL, BAR_DMABUF_IMP_IOCTL_WAIT_JOB,
		BAR_DMABUF_IMP_IOCTL_READ_LOG, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT,
		BAR_DMABUF_IMP_IOCTL_COUNTERS, BAR_DMABUF_IMP_IOCTL_VMAP,
		BAR_DMABUF_IMP_IOCTL_VUNMAP, BAR_DMABUF_IMP_IOCTL_VMAP_RW,
	};
	struct bar_dmabuf_revoke *rv;
	static struct ubuf u;
	unsigned int i;
	int failed = 0, ret;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		/* a plausible REVOKE of everything, in case one were obeyed */
		rv = ub_prep(&u, 64, BAR_DMABUF_ALL_BUFFERS);
		rv->fd = -1;
		rv->timeout_ms = 100;
		rv->reserved = 0;
		ret = ub_ioctl(fd, cmds[i], &u);
		CHILD_CHECK(ret == -ENOTTY, "%s: ioctl 0x%lx: %d", what,
			    cmds[i], ret);
		CHILD_CHECK(!untouched_problems(what, &u), "ioctl 0x%lx",
			    cmds[i]);
	}
	return failed;
}

static int child_use_dmabufs(void *arg)
{
	struct dmabuf_fds *d = arg;
	size_t mlen = BD_PAGE, ml = strlen(d->marker);
	struct dma_buf_export_sync_file es;
	struct dma_buf_sync sync;
	char path[64];
	void *p, *w;
	int failed = 0, fd, memfd;
	off_t off;

	/* read-only: no writable shared mapping, now or later */
	p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, d->ro, 0);
	CHILD_CHECK(p == MAP_FAILED && errno == EACCES, "%s", strerror(errno));
	p = mmap(NULL, mlen, PROT_WRITE, MAP_SHARED, d->ro, 0);
	CHILD_CHECK(p == MAP_FAILED && errno == EACCES, "%s", strerror(errno));
	p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE, d->ro, 0);
	CHILD_CHECK(p == MAP_FAILED && errno == EINVAL, "private: %s",
		    strerror(errno));
	p = mmap(NULL, mlen, PROT_READ, MAP_SHARED, d->ro, 0);
	CHILD_CHECK(p != MAP_FAILED, "read-only mapping: %s", strerror(errno));
	if (p != MAP_FAILED) {
		CHILD_CHECK(!memcmp(p, d->marker, ml), "the BAR's bytes");
		CHILD_CHECK(mprotect(p, mlen, PROT_READ | PROT_WRITE) &&
			    errno == EACCES, "mprotect: %s", strerror(errno));
		/* FOLL_FORCE through /proc/self/mem: no write either */
		memfd = openat(proc_dir, "self/mem", O_RDWR | O_CLOEXEC);
		CHILD_CHECK(memfd >= 0, "/proc/self/mem: %s", strerror(errno));
		if (memfd >= 0) {
			off = (off_t)(unsigned long)p;
			CHILD_CHECK(pwrite(memfd, "X", 1, off) != 1,
				    "write through /proc/self/mem landed");
			close(memfd);
		}
		CHILD_CHECK(!memcmp(p, d->marker, ml), "the BAR changed");
		munmap(p, mlen);
	}
	CHILD_CHECK(write(d->ro, "X", 1) < 0 && errno == EBADF, "write(2): %s",
		    strerror(errno));
	/* no second, writable file from the same buffer */
	fd = openat(proc_dir, "self/status", O_RDONLY | O_CLOEXEC);
	CHILD_CHECK(fd >= 0, "/proc/self/status: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "self/fd/%d", d->ro);
	fd = openat(proc_dir, path, O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd < 0, "reopened read-write");
	if (fd >= 0)
		close(fd);
	fd = openat(proc_dir, path, O_RDONLY | O_CLOEXEC);
	CHILD_CHECK(fd < 0, "reopened read-only");
	if (fd >= 0)
		close(fd);

	/* read-write: a writable shared mapping, whose bytes land */
	w = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_SHARED, d->rw, 0);
	CHILD_CHECK(w != MAP_FAILED, "read-write mapping: %s", strerror(errno));
	if (w != MAP_FAILED) {
		CHILD_CHECK(!memcmp(w, d->marker, ml), "the BAR's bytes");
		memcpy((char *)w + 64, "nobody was here", 16);
		munmap(w, mlen);
	}

	/*
	 * DMA_BUF_IOCTL_*: SYNC brackets CPU access that a mapping already
	 * allows and grants none, so the core takes it on either fd; the
	 * fences can be read on either.
	 */
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
	CHILD_CHECK(!ioctl(d->ro, DMA_BUF_IOCTL_SYNC, &sync), "%s",
		    strerror(errno));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	CHILD_CHECK(!ioctl(d->ro, DMA_BUF_IOCTL_SYNC, &sync), "%s",
		    strerror(errno));
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
	CHILD_CHECK(!ioctl(d->rw, DMA_BUF_IOCTL_SYNC, &sync), "%s",
		    strerror(errno));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	CHILD_CHECK(!ioctl(d->rw, DMA_BUF_IOCTL_SYNC, &sync), "%s",
		    strerror(errno));
	sync.flags = 0xff;
	CHILD_CHECK(ioctl(d->ro, DMA_BUF_IOCTL_SYNC, &sync) && errno == EINVAL,
		    "bad SYNC flags: %s", strerror(errno));
	memset(&es, 0, sizeof(es));
	es.flags = DMA_BUF_SYNC_READ;
	es.fd = -1;
	CHILD_CHECK(!ioctl(d->ro, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &es) &&
		    es.fd >= 0, "EXPORT_SYNC_FILE: %s", strerror(errno));
	if (es.fd >= 0)
		close(es.fd);

	failed += foreign_ioctls_refused(d->ro, "read-only dma-buf");
	failed += foreign_ioctls_refused(d->rw, "read-write dma-buf");
	return failed;
}

/*
 * A dma-buf fd handed to nobody: exported O_RDONLY it maps only for
 * reading (a writable shared mapping, an mprotect to writable, a private
 * mapping, a write through /proc/self/mem and a read-write reopen are all
 * refused); exported O_RDWR it maps writable and the write lands. Neither
 * answers the modules' ioctl numbers, and nothing the user did revoked it.
 */
TEST_F(priv, dmabuf_fd_allows_what_its_mode_allows)
{
	static const char marker[] = "privilege_test marker";
	struct dmabuf_fds d = { .ro = -1, .rw = -1, .marker = marker };
	struct bar_dmabuf_range r = { .offset = 0, .length = BD_PAGE };
	char block[1024];
	void *w;

	if (self->skipped)
		return;
	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, &r, 1,
			       O_RDONLY | O_CLOEXEC, &d.ro, NULL));
	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, &r, 1,
			       O_RDWR | O_CLOEXEC, &d.rw, NULL));
	w = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, d.rw, 0);
	ASSERT_NE(MAP_FAILED, w);
	memset(w, 0, 128);
	memcpy(w, marker, sizeof(marker));

	EXPECT_EQ(0, run_unprivileged(child_use_dmabufs, &d));

	EXPECT_EQ(0, memcmp((char *)w + 64, "nobody was here", 16));
	EXPECT_EQ(0, memcmp(w, marker, sizeof(marker)));
	munmap(w, BD_PAGE);
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, d.ro, block, sizeof(block)));
	EXPECT_NE(NULL, strstr(block, " live")) TH_LOG("%s", block);
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, d.rw, block, sizeof(block)));
	EXPECT_NE(NULL, strstr(block, " live")) TH_LOG("%s", block);
	close(d.ro);
	close(d.rw);
}

struct node_fds {
	int node;	/* the control node, opened O_RDONLY by root */
	int buf;
	int bar;
};

static int child_use_ro_node(void *arg)
{
	struct node_fds *n = arg;
	struct bar_dmabuf_range r = { .offset = 0, .length = BD_PAGE };
	struct bar_dmabuf_info info = { .size = sizeof(info) };
	__u32 nr = 0;
	int failed = 0, fd = -1, ret;

	CHILD_CHECK(!ioctl(n->node, BAR_DMABUF_IOCTL_INFO, &info), "INFO: %s",
		    strerror(errno));
	ret = bd_export(n->node, n->bar, &r, 1, O_RDWR | O_CLOEXEC, &fd, NULL);
	CHILD_CHECK(ret == -EPERM, "EXPORT: %d", ret);
	ret = bd_revoke(n->node, n->buf, 0, 100, &nr);
	CHILD_CHECK(ret == -EPERM, "REVOKE: %d", ret);
	ret = bd_revoke(n->node, -1, BAR_DMABUF_ALL_BUFFERS, 100, &nr);
	CHILD_CHECK(ret == -EPERM, "REVOKE all: %d", ret);
	ret = bd_restore(n->node, n->buf, 0, &nr);
	CHILD_CHECK(ret == -EPERM, "RESTORE: %d", ret);
	ret = bd_restore(n->node, -1, BAR_DMABUF_ALL_BUFFERS, &nr);
	CHILD_CHECK(ret == -EPERM, "RESTORE all: %d", ret);
	return failed;
}

/*
 * A control fd that root opened read-only and handed to nobody answers
 * INFO and refuses EXPORT, REVOKE and RESTORE with EPERM (the fd is not
 * writable and the caller has no CAP_SYS_ADMIN); the buffer stays live and
 * nothing was exported.
 */
TEST_F(priv, readonly_node_fd_changes_nothing)
{
	struct node_fds n = { .node = -1, .buf = -1, .bar = self->e.bar };
	char path[128], block[1024];
	int before;

	if (self->skipped)
		return;
	n.buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, n.buf);
	snprintf(path, sizeof(path), BD_DEV_DIR "/%s", self->e.bdf);
	n.node = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, n.node);
	before = bd_debugfs_nr_buffers(self->e.bdf);

	EXPECT_EQ(0, run_unprivileged(child_use_ro_node, &n));

	EXPECT_EQ(before, bd_debugfs_nr_buffers(self->e.bdf));
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, n.buf, block, sizeof(block)));
	EXPECT_NE(NULL, strstr(block, " live")) TH_LOG("%s", block);
	close(n.node);
	close(n.buf);
}

/* ---- leak ---- */

/*
 * Every uapi struct is its fields end to end: no hole and no tail padding
 * that copy_struct_from_user() would carry through unchecked (offsetof and
 * sizeof of each field against sizeof of the struct).
 */
TEST(uapi_structs_have_no_padding)
{
	unsigned int i;
	int bad = 0;

	for (i = 0; i < ARRAY_SIZE(layouts); i++)
		bad += layout_problems(layouts[i].name, layouts[i].size,
				       layouts[i].f, layouts[i].nf);
	EXPECT_EQ(0, bad);
}

/*
 * Every exporter ioctl with its struct filled with 0xa5: INFO (full and
 * the old 120 bytes), EXPORT, REVOKE and RESTORE of one buffer and of all,
 * and REVOKE's -ETIMEDOUT (written back) behind a held fence. Inputs come
 * back as given, out_* written, reserved 0, nothing past the size; a call
 * that fails before its answer writes nothing.
 */
TEST_F(priv, exporter_ioctls_copy_out_only_defined_bytes)
{
	struct bar_dmabuf_range r = { .offset = 0, .length = 2 * BD_PAGE };
	struct bar_dmabuf_info *info;
	struct bar_dmabuf_export *ex;
	struct bar_dmabuf_revoke *rv;
	struct bar_dmabuf_restore *rs;
	int devfd = self->e.devfd, buf = -1, ret, i;
	static struct ubuf u;
	__u64 job = 0;
	__u32 h;

	if (self->skipped)
		return;

	info = ub_prep(&u, sizeof(*info), 0);
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_INFO, &u));
	EXPECT_EQ(0, ANSWER("INFO", &u, bar_dmabuf_info, info_f));
	EXPECT_EQ(sizeof(*info), info->size);
	EXPECT_EQ(BAR_DMABUF_NUM_BARS, info->out_num_bars);
	EXPECT_EQ(0, info->out_reserved);
	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++) {
		EXPECT_EQ(i, info->out_bars[i].index);
		if (!info->out_bars[i].size)
			EXPECT_EQ(0, info->out_bars[i].flags);
	}
	ub_prep(&u, 120, 0);
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_INFO, &u));
	EXPECT_EQ(0, answer_problems("INFO(120)", &u, 120, info_f,
				     ARRAY_SIZE(info_f)));
	ub_prep(&u, sizeof(*info), 1);
	EXPECT_EQ(-EINVAL, ub_ioctl(devfd, BAR_DMABUF_IOCTL_INFO, &u));
	EXPECT_EQ(0, untouched_problems("INFO bad flags", &u));

	ex = ub_prep(&u, sizeof(*ex), 0);
	ex->bar_index = self->e.bar;
	ex->open_flags = O_RDWR | O_CLOEXEC;
	ex->nr_ranges = 1;
	ex->ranges_ptr = (__u64)(unsigned long)&r;
	ex->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_EXPORT, &u));
	EXPECT_EQ(0, ANSWER("EXPORT", &u, bar_dmabuf_export, export_f));
	EXPECT_EQ(2 * BD_PAGE, ex->out_length);
	buf = ex->out_fd;
	ASSERT_LE(0, buf);
	ex->nr_ranges = 0;
	EXPECT_EQ(-EINVAL, ub_ioctl(devfd, BAR_DMABUF_IOCTL_EXPORT, &u));
	EXPECT_EQ(0, untouched_problems("EXPORT bad", &u));

	rv = ub_prep(&u, sizeof(*rv), 0);
	rv->fd = buf;
	rv->timeout_ms = 5000;
	rv->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_REVOKE, &u));
	EXPECT_EQ(0, ANSWER("REVOKE", &u, bar_dmabuf_revoke, revoke_f));
	EXPECT_EQ(1, rv->out_nr_buffers);
	rs = ub_prep(&u, sizeof(*rs), 0);
	rs->fd = buf;
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_RESTORE, &u));
	EXPECT_EQ(0, ANSWER("RESTORE", &u, bar_dmabuf_restore, restore_f));
	EXPECT_EQ(1, rs->out_nr_buffers);

	rv = ub_prep(&u, sizeof(*rv), BAR_DMABUF_ALL_BUFFERS);
	rv->fd = -1;
	rv->timeout_ms = 5000;
	rv->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_REVOKE, &u));
	EXPECT_EQ(0, ANSWER("REVOKE all", &u, bar_dmabuf_revoke, revoke_f));
	EXPECT_LE(1, rv->out_nr_buffers);
	rs = ub_prep(&u, sizeof(*rs), BAR_DMABUF_ALL_BUFFERS);
	rs->fd = -1;
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_RESTORE, &u));
	EXPECT_EQ(0, ANSWER("RESTORE all", &u, bar_dmabuf_restore, restore_f));
	EXPECT_LE(1, rs->out_nr_buffers);
	/* a RESTORE of the old 12 bytes: nothing written past them */
	rs = ub_prep(&u, 12, 0);
	rs->fd = buf;
	ASSERT_EQ(0, ub_ioctl(devfd, BAR_DMABUF_IOCTL_RESTORE, &u));
	EXPECT_EQ(0, answer_problems("RESTORE(12)", &u, 12, restore_f,
				     ARRAY_SIZE(restore_f)));
	rv = ub_prep(&u, sizeof(*rv), 0);
	rv->fd = devfd;		/* not a dma-buf */
	rv->timeout_ms = 100;
	rv->reserved = 0;
	EXPECT_EQ(-EINVAL, ub_ioctl(devfd, BAR_DMABUF_IOCTL_REVOKE, &u));
	EXPECT_EQ(0, untouched_problems("REVOKE bad fd", &u));

	/* -ETIMEDOUT writes its answer back: a held fence keeps it waiting */
	h = bd_fixture_attach(_metadata, &self->e, buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	rv = ub_prep(&u, sizeof(*rv), 0);
	rv->fd = buf;
	rv->timeout_ms = 200;
	rv->reserved = 0;
	EXPECT_EQ(-ETIMEDOUT, ub_ioctl(devfd, BAR_DMABUF_IOCTL_REVOKE, &u));
	EXPECT_EQ(0, ANSWER("REVOKE timed out", &u, bar_dmabuf_revoke,
			    revoke_f));
	EXPECT_EQ(1, rv->out_nr_buffers);
	rv = ub_prep(&u, sizeof(*rv), BAR_DMABUF_ALL_BUFFERS);
	rv->fd = -1;
	rv->timeout_ms = 200;
	rv->reserved = 0;
	EXPECT_EQ(-ETIMEDOUT, ub_ioctl(devfd, BAR_DMABUF_IOCTL_REVOKE, &u));
	EXPECT_EQ(0, ANSWER("REVOKE all timed out", &u, bar_dmabuf_revoke,
			    revoke_f));
	EXPECT_LE(1, rv->out_nr_buffers);
	rs = ub_prep(&u, sizeof(*rs), 0x80);
	rs->fd = buf;
	ret = ub_ioctl(devfd, BAR_DMABUF_IOCTL_RESTORE, &u);
	EXPECT_EQ(-EINVAL, ret);
	EXPECT_EQ(0, untouched_problems("RESTORE bad flags", &u));

	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	EXPECT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0, NULL,
				  NULL));
	EXPECT_EQ(0, bd_revoke(devfd, buf, 0, EVENT_MS, NULL));
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	close(buf);
}

/* The log of @h is @nr events: each one's fields defined, none past it. */
static int events_problems(const struct bar_dmabuf_imp_event *ev,
			   unsigned int nr, unsigned int room, __u32 h)
{
	const unsigned char *p = (const unsigned char *)ev;
	unsigned int i;
	size_t b;
	int bad = 0;

	for (i = 0; i < nr; i++) {
		struct ubuf u;

		memset(u.before, PAT, sizeof(u.before));
		memset(u.b, PAT, sizeof(u.b));
		memcpy(u.b, &ev[i], sizeof(ev[i]));
		bad += answer_problems("READ_LOG event", &u, sizeof(ev[i]),
				       event_f, ARRAY_SIZE(event_f));
		if (ev[i].handle != h || !ev[i].type ||
		    ev[i].type > BAR_DMABUF_IMP_EV_PCI_RESUME) {
			fprintf(stderr, "# event %u: type %u handle %u\n", i,
				ev[i].type, ev[i].handle);
			bad++;
		}
	}
	for (b = nr * sizeof(*ev); b < room * sizeof(*ev); b++) {
		if (p[b] != PAT) {
			fprintf(stderr, "# READ_LOG wrote past its %u events\n",
				nr);
			return bad + 1;
		}
	}
	return bad;
}

/* A heap buffer of @len bytes: its fd or -errno. */
static int heap_alloc(__u64 len)
{
	struct dma_heap_allocation_data a = {
		.len = len,
		.fd_flags = O_RDWR | O_CLOEXEC,
	};
	int heap, ret;

	heap = open(HEAP_NODE, O_RDONLY | O_CLOEXEC);
	if (heap < 0)
		return -errno;
	ret = ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &a) ? -errno : (int)a.fd;
	close(heap);
	return ret;
}

/*
 * Every importer ioctl, each with its struct filled with 0xa5 first:
 * ATTACH, SET_BEHAVIOUR, MAP (a new mapping and the one that exists),
 * SUBMIT (with and without a sync_file, a held job), SIGNAL, WAIT_JOB
 * (its data too), WAIT_EVENT, READ_LOG (its -ENOSPC answer and the
 * events), COUNTERS, UNMAP, DETACH and, where a heap gives a buffer with
 * vmap, VMAP, VMAP_RW and VUNMAP (else VMAP's refusal on ours). DETACH and
 * UNMAP answer 0 in MAP's out_* fields, VUNMAP the vmap's length.
 */
TEST_F(priv, importer_ioctls_copy_out_only_defined_bytes)
{
	struct bar_dmabuf_imp_event events[256];
	unsigned char data[256], back[256];
	struct bar_dmabuf_imp_counters *cn;
	struct bar_dmabuf_imp_wait_event *we;
	struct bar_dmabuf_imp_behaviour *bh;
	struct bar_dmabuf_imp_read_log *rl;
	struct bar_dmabuf_imp_wait_job *wj;
	struct bar_dmabuf_imp_submit *sb;
	struct bar_dmabuf_imp_signal *sg;
	struct bar_dmabuf_imp_vmap_rw *vr;
	struct bar_dmabuf_imp_attach *at;
	struct bar_dmabuf_imp_handle *hd;
	struct bar_dmabuf_imp_vmap *vm;
	int imp = self->e.impfd, buf, heap;
	static struct ubuf u;
	__u64 job, held;
	__u32 h, nr, vh;

	if (self->skipped)
		return;
	buf = bd_env_export(&self->e, 0, 2);
	ASSERT_LE(0, buf);
	memset(data, 0x3c, sizeof(data));

	at = ub_prep(&u, sizeof(*at), 0);
	at->dmabuf_fd = buf;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_ATTACH, &u));
	EXPECT_EQ(0, ANSWER("ATTACH", &u, bar_dmabuf_imp_attach, attach_f));
	h = at->out_handle;

	bh = ub_prep(&u, sizeof(*bh), 0);
	bh->handle = h;
	bh->unmap_mode = BAR_DMABUF_IMP_UNMAP_ON_REQUEST;
	bh->late_read_window_ms = 0;
	bh->late_read_interval_ms = 1;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &u));
	EXPECT_EQ(0, ANSWER("SET_BEHAVIOUR", &u, bar_dmabuf_imp_behaviour,
			    behaviour_f));

	hd = ub_prep(&u, sizeof(*hd), 0);
	hd->handle = h;
	hd->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_MAP, &u));
	EXPECT_EQ(0, ANSWER("MAP", &u, bar_dmabuf_imp_handle, handle_f));
	EXPECT_EQ(2 * BD_PAGE, hd->out_length);
	hd = ub_prep(&u, sizeof(*hd), 0);
	hd->handle = h;
	hd->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_MAP, &u));
	EXPECT_EQ(0, ANSWER("MAP again", &u, bar_dmabuf_imp_handle, handle_f));

	sb = ub_prep(&u, sizeof(*sb), BAR_DMABUF_IMP_JOB_WRITE);
	sb->handle = h;
	sb->usage = BAR_DMABUF_IMP_USAGE_WRITE;
	sb->offset = 0;
	sb->length = sizeof(data);
	sb->data_ptr = (__u64)(unsigned long)data;
	sb->delay_ms = 0;
	sb->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_SUBMIT, &u));
	EXPECT_EQ(0, ANSWER("SUBMIT", &u, bar_dmabuf_imp_submit, submit_f));
	EXPECT_EQ(-1, sb->out_sync_fd);
	job = sb->out_job;

	wj = ub_prep(&u, sizeof(*wj), 0);
	wj->job = job;
	wj->timeout_ms = EVENT_MS;
	wj->data_ptr = 0;
	wj->data_len = 0;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &u));
	EXPECT_EQ(0, ANSWER("WAIT_JOB", &u, bar_dmabuf_imp_wait_job,
			    wait_job_f));
	EXPECT_EQ(0, wj->out_status);

	/* a held read job with a sync_file; its data come back whole */
	sb = ub_prep(&u, sizeof(*sb), BAR_DMABUF_IMP_JOB_HOLD |
				      BAR_DMABUF_IMP_JOB_SYNC_FILE);
	sb->handle = h;
	sb->usage = BAR_DMABUF_IMP_USAGE_READ;
	sb->offset = 0;
	sb->length = sizeof(back);
	sb->data_ptr = 0;
	sb->delay_ms = 0;
	sb->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_SUBMIT, &u));
	EXPECT_EQ(0, ANSWER("SUBMIT held", &u, bar_dmabuf_imp_submit,
			    submit_f));
	EXPECT_LE(0, sb->out_sync_fd);
	held = sb->out_job;
	if (sb->out_sync_fd >= 0)
		close(sb->out_sync_fd);

	sg = ub_prep(&u, sizeof(*sg), 0);
	sg->job = held;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_SIGNAL, &u));
	EXPECT_EQ(0, ANSWER("SIGNAL", &u, bar_dmabuf_imp_signal, signal_f));

	memset(back, PAT, sizeof(back));
	wj = ub_prep(&u, sizeof(*wj), 0);
	wj->job = held;
	wj->timeout_ms = EVENT_MS;
	wj->data_ptr = (__u64)(unsigned long)back;
	wj->data_len = sizeof(back);
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &u));
	EXPECT_EQ(0, ANSWER("WAIT_JOB read", &u, bar_dmabuf_imp_wait_job,
			    wait_job_f));
	EXPECT_EQ(0, wj->out_status);
	EXPECT_EQ(0, memcmp(back, data, sizeof(data)));

	we = ub_prep(&u, sizeof(*we), 0);
	we->handle = h;
	we->type = BAR_DMABUF_IMP_EV_FENCE_SIGNAL;
	we->count = 2;
	we->timeout_ms = EVENT_MS;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &u));
	EXPECT_EQ(0, ANSWER("WAIT_EVENT", &u, bar_dmabuf_imp_wait_event,
			    wait_event_f));

	/* -ENOSPC is written back: how many there are, how many were lost */
	memset(events, PAT, sizeof(events));
	rl = ub_prep(&u, sizeof(*rl), 0);
	rl->handle = h;
	rl->max_events = 1;
	rl->events_ptr = (__u64)(unsigned long)events;
	ASSERT_EQ(-ENOSPC, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_READ_LOG, &u));
	EXPECT_EQ(0, ANSWER("READ_LOG ENOSPC", &u, bar_dmabuf_imp_read_log,
			    read_log_f));
	EXPECT_EQ(0, events_problems(events, 0, ARRAY_SIZE(events), h));
	nr = rl->out_nr_events;
	ASSERT_LT(nr, ARRAY_SIZE(events));
	rl = ub_prep(&u, sizeof(*rl), 0);
	rl->handle = h;
	rl->max_events = ARRAY_SIZE(events);
	rl->events_ptr = (__u64)(unsigned long)events;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_READ_LOG, &u));
	EXPECT_EQ(0, ANSWER("READ_LOG", &u, bar_dmabuf_imp_read_log,
			    read_log_f));
	EXPECT_EQ(0, events_problems(events, rl->out_nr_events,
				     ARRAY_SIZE(events), h));

	cn = ub_prep(&u, sizeof(*cn), 0);
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_COUNTERS, &u));
	EXPECT_EQ(0, ANSWER("COUNTERS", &u, bar_dmabuf_imp_counters,
			    counters_f));

	hd = ub_prep(&u, sizeof(*hd), 0);
	hd->handle = h;
	hd->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_UNMAP, &u));
	EXPECT_EQ(0, ANSWER("UNMAP", &u, bar_dmabuf_imp_handle, handle_f));
	EXPECT_EQ(0, hd->out_length);
	hd = ub_prep(&u, sizeof(*hd), 0);
	hd->handle = h;
	hd->reserved = 0;
	ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_DETACH, &u));
	EXPECT_EQ(0, ANSWER("DETACH", &u, bar_dmabuf_imp_handle, handle_f));
	EXPECT_EQ(0, hd->out_length);
	hd = ub_prep(&u, sizeof(*hd), 0);
	hd->handle = h;
	hd->reserved = 0;
	EXPECT_EQ(-ENOENT, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_MAP, &u));
	EXPECT_EQ(0, untouched_problems("MAP detached", &u));

	heap = access(HEAP_NODE, R_OK) ? -ENOENT : heap_alloc(BD_PAGE);
	vm = ub_prep(&u, sizeof(*vm), 0);
	vm->dmabuf_fd = heap >= 0 ? heap : buf;
	if (heap < 0) {
		/* bar_dmabuf has no vmap: the refusal writes nothing */
		EXPECT_EQ(-EINVAL, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_VMAP, &u));
		EXPECT_EQ(0, untouched_problems("VMAP refused", &u));
		TH_LOG("no %s: VMAP's answer checked on its refusal only",
		       HEAP_NODE);
	} else {
		ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_VMAP, &u));
		EXPECT_EQ(0, ANSWER("VMAP", &u, bar_dmabuf_imp_vmap, vmap_f));
		vh = vm->out_handle;
		vr = ub_prep(&u, sizeof(*vr), 0);
		vr->handle = vh;
		vr->reserved = 0;
		vr->offset = 0;
		vr->length = sizeof(back);
		vr->data_ptr = (__u64)(unsigned long)back;
		ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_VMAP_RW, &u));
		EXPECT_EQ(0, ANSWER("VMAP_RW", &u, bar_dmabuf_imp_vmap_rw,
				    vmap_rw_f));
		hd = ub_prep(&u, sizeof(*hd), 0);
		hd->handle = vh;
		hd->reserved = 0;
		ASSERT_EQ(0, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_VUNMAP, &u));
		EXPECT_EQ(0, ANSWER("VUNMAP", &u, bar_dmabuf_imp_handle,
				    handle_f));
		EXPECT_EQ(BD_PAGE, hd->out_length);
		EXPECT_EQ(0, hd->out_nr_segs);
		close(heap);
	}
	vr = ub_prep(&u, sizeof(*vr), 0);
	vr->handle = 0;
	vr->reserved = 0;
	vr->offset = 0;
	vr->length = 1;
	vr->data_ptr = (__u64)(unsigned long)back;
	EXPECT_EQ(-ENOENT, ub_ioctl(imp, BAR_DMABUF_IMP_IOCTL_VMAP_RW, &u));
	EXPECT_EQ(0, untouched_problems("VMAP_RW unknown", &u));
	close(buf);
}

/* ---- ptr ---- */

/* Every bar_dmabuf/<bdf>/buffers: no kernel address in it. */
static int debugfs_problems(char *tok, size_t toklen)
{
	struct bar_ranges r;
	char path[300], *text;
	struct dirent *d;
	int bad = 0;
	DIR *dir;

	dir = opendir(BD_DEBUGFS);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), BD_DEBUGFS "/%s/buffers",
			 d->d_name);
		if (bd_read_all(path, &text) < 0)
			continue;
		bar_ranges_of(d->d_name, &r);
		if (find_kernel_address(text, &r, tok, toklen)) {
			fprintf(stderr, "# %s:\n%s", path, text);
			bad++;
		}
		free(text);
	}
	closedir(dir);
	return bad;
}

/*
 * debugfs with every kind of line in it (a live buffer with an attachment
 * and its mapping; a revoke timed out on a held fence and a mapping, so
 * the "stuck:" lines name fence and importer) shows no kernel address.
 */
TEST_F(priv, debugfs_shows_no_kernel_address)
{
	char tok[128] = "";
	__u64 job = 0;
	int buf, buf2;
	__u32 h;

	if (self->skipped)
		return;
	buf = bd_env_export(&self->e, 0, 2);
	ASSERT_LE(0, buf);
	buf2 = bd_env_export(&self->e, 4, 1);
	ASSERT_LE(0, buf2);
	h = bd_fixture_attach(_metadata, &self->e, buf,
			      BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	EXPECT_EQ(0, debugfs_problems(tok, sizeof(tok)))
		TH_LOG("kernel address \"%s\"", tok);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	EXPECT_EQ(-ETIMEDOUT, bd_revoke(self->e.devfd, buf, 0, 200, NULL));
	EXPECT_EQ(0, debugfs_problems(tok, sizeof(tok)))
		TH_LOG("kernel address \"%s\"", tok);
	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	EXPECT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0, NULL,
				  NULL));
	EXPECT_EQ(0, imp_unmap(self->e.impfd, h));
	EXPECT_EQ(0, bd_revoke(self->e.devfd, buf, 0, EVENT_MS, NULL));
	EXPECT_EQ(0, debugfs_problems(tok, sizeof(tok)))
		TH_LOG("kernel address \"%s\"", tok);
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	close(buf2);
	close(buf);
}

static const char *const trace_events[] = {
	"bar_dmabuf_export", "bar_dmabuf_attach", "bar_dmabuf_map",
	"bar_dmabuf_unmap", "bar_dmabuf_revoke_start",
	"bar_dmabuf_fences_drained", "bar_dmabuf_unmaps_drained",
	"bar_dmabuf_revoke_done", "bar_dmabuf_restore",
};

/*
 * The tracepoints of a revoke (export, attach, map, revoke with the
 * importer's unmap, restore) leak nothing. Their formats have no pointer
 * field and no %p. Their text shows no kernel address. Their raw records
 * (trace_pipe_raw; perf gets the same bytes) hold no stale byte: the ring
 * buffer is first filled with trace_marker writes of 'Z' and emptied, so
 * a string tail or a hole that the tracepoint leaves unwritten shows
 * older records' bytes (an ip among them) instead of 0. Runs on CPU 0,
 * whose buffer is the one filled and read.
 */
TEST_F(priv, tracepoints_show_no_kernel_address_nor_stale_bytes)
{
	struct tevent evs[ARRAY_SIZE(trace_events)];
	unsigned int count[ARRAY_SIZE(trace_events)] = {}, seen = 0, i;
	struct trace_saved saved = {};
	char tok[128] = "", line[64], zs[1000], *text, *p, *raw;
	struct bar_ranges r;
	size_t rlen = 0, cap = 1 << 20;
	cpu_set_t cpus, old;
	ssize_t n;
	int buf, fd, bad;
	__u32 h;

	if (self->skipped)
		return;
	if (bd_trace_start())
		SKIP(return, "no bar_dmabuf events in %s", TRACEFS);
	bd_trace_stop();
	for (i = 0; i < ARRAY_SIZE(trace_events); i++) {
		ASSERT_EQ(0, tevent_parse(trace_events[i], &evs[i]));
		EXPECT_FALSE(evs[i].pointer_field) TH_LOG("%s", evs[i].name);
		EXPECT_FALSE(evs[i].print_p) TH_LOG("%s", evs[i].name);
	}

	ASSERT_EQ(0, sched_getaffinity(0, sizeof(old), &old));
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));
	if (bd_read_file(TRACEFS "/buffer_size_kb", line, sizeof(line)) > 0) {
		p = strstr(line, "expanded: ");
		snprintf(saved.size_kb, sizeof(saved.size_kb), "%llu",
			 strtoull(p ? p + 10 : line, NULL, 10));
	}
	ASSERT_EQ(0, bd_write_file(TRACEFS "/buffer_size_kb", "16"));

	/* fill CPU 0's pages with 'Z' twice over, then empty it */
	ASSERT_EQ(0, bd_write_file(TRACEFS "/tracing_on", "1"));
	fd = open(TRACEFS "/trace_marker", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	memset(zs, 'Z', sizeof(zs));
	for (i = 0; i < 128; i++)
		EXPECT_EQ((ssize_t)sizeof(zs), write(fd, zs, sizeof(zs)));
	close(fd);
	ASSERT_EQ(0, bd_write_file(TRACEFS "/tracing_on", "0"));
	ASSERT_EQ(0, trace_truncate());
	ASSERT_EQ(0, bd_write_file(TRACEFS "/events/bar_dmabuf/enable", "1"));
	ASSERT_EQ(0, bd_write_file(TRACEFS "/tracing_on", "1"));

	buf = bd_env_export(&self->e, 0, 2);
	ASSERT_LE(0, buf);
	h = bd_fixture_attach(_metadata, &self->e, buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	EXPECT_EQ(0, bd_revoke(self->e.devfd, buf, 0, EVENT_MS, NULL));
	EXPECT_EQ(0, bd_restore(self->e.devfd, buf, 0, NULL));
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	close(buf);
	bd_write_file(TRACEFS "/tracing_on", "0");

	/* the text first: reading trace_pipe_raw consumes it */
	text = bd_trace_read();
	ASSERT_NE(NULL, text);
	bar_ranges_of(self->e.bdf, &r);
	bad = 0;
	for (p = strstr(text, " bar_dmabuf_"); p; p = strstr(p + 1, " bar_dmabuf_")) {
		char *eol = strchrnul(p, '\n'), keep = *eol;

		*eol = '\0';
		if (find_kernel_address(strchr(p, ':') ? strchr(p, ':') : p,
					&r, tok, sizeof(tok))) {
			TH_LOG("kernel address \"%s\" in: %s", tok, p);
			bad++;
		}
		*eol = keep;
	}
	EXPECT_EQ(0, bad);
	free(text);

	raw = malloc(cap);
	ASSERT_NE(NULL, raw);
	fd = open(TRACEFS "/per_cpu/cpu0/trace_pipe_raw",
		  O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, fd);
	while (rlen + 4096 <= cap) {
		n = read(fd, raw + rlen, 4096);
		if (n <= 0)
			break;
		memset(raw + rlen + n, 0, 4096 - n);
		rlen += 4096;	/* a page a read; its commit says how much */
	}
	close(fd);
	bad = raw_problems((unsigned char *)raw, rlen, evs,
			   ARRAY_SIZE(evs), count, &seen);
	free(raw);
	trace_put_back(&saved);
	sched_setaffinity(0, sizeof(old), &old);

	EXPECT_EQ(0, bad);
	for (i = 0; i < ARRAY_SIZE(trace_events); i++) {
		if (!strcmp(trace_events[i], "bar_dmabuf_unmap"))
			continue;	/* inside the callback, on any CPU */
		EXPECT_LT(0, count[i]) TH_LOG("no %s record on CPU 0",
					      trace_events[i]);
	}
}

TEST_HARNESS_MAIN
