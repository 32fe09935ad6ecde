// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf fuzz_test: a seeded, reproducible fuzzer of both control
 * nodes and of the exported dma-buf fds (issue 11 item 3).
 *
 * Each call draws its randomness from (seed, call index) alone, so a run
 * replays call for call with BAR_DMABUF_FUZZ_SEED, even where a timing
 * dependent outcome (a revoke that timed out, a job that finished) changed
 * the model's state. BAR_DMABUF_FUZZ_CALLS sets the number of calls
 * (default 20000). Calls are valid ones built from a model of the state
 * (buffers, CPU mappings, attachments, jobs, sync_files) or mutations of
 * them: sizes around every struct boundary and past 4 KiB, flipped flag
 * and reserved bits, structs against an inaccessible or read-only page,
 * fds of the wrong kind or closed, ranges at and past the BAR's end and
 * 64-bit wrap, odd mmap offsets and lengths, DMA_BUF_IOCTL_*, interleaved
 * with revoke, restore, close and the importer's misbehaviour modes. A
 * mutated user pointer stays inside the fuzzer's own pages or points
 * nowhere (fz_keep_ptr()).
 *
 * Every call has an allow-list of errnos; the model adds the protocol's
 * rule 1 where it knows the state (a revoked buffer refuses attach, mmap
 * and SYNC with -ENODEV and a touch raises SIGBUS; a live one does not).
 * The kernel log is checked every 256 calls. At the end the device must
 * work (export, mmap, attach, map, a job reading the right bytes, revoke,
 * restore), no fd, buffer or module reference is left and the importer's
 * counters are back (no attachment, mapping or pending job, no DMA fault,
 * no watchdog).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#ifndef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
struct dma_buf_export_sync_file {
	__u32 flags;
	__s32 fd;
};

struct dma_buf_import_sync_file {
	__u32 flags;
	__s32 fd;
};

#define DMA_BUF_IOCTL_EXPORT_SYNC_FILE \
	_IOWR(DMA_BUF_BASE, 2, struct dma_buf_export_sync_file)
#define DMA_BUF_IOCTL_IMPORT_SYNC_FILE \
	_IOW(DMA_BUF_BASE, 3, struct dma_buf_import_sync_file)
#endif

#define FZ_BUFS		24	/* buffer records (fd, maps, attachments) */
#define FZ_SLOTS	8	/* open buffer fds at most */
#define FZ_MAPS		4
#define FZ_ATTS		24
#define FZ_JOBS		48
#define FZ_SYNCS	8
#define FZ_IMPS		2
#define FZ_PATHS	4	/* O_PATH opens of /proc/self/fd/N */
#define FZ_VMAPS	4
#define FZ_AREA_PAGES	64	/* valid ranges live in the first 64 pages */
#define FZ_HOLD_CALLS	200	/* a held job is signalled this many calls later */
#define FZ_KMSG_EVERY	256
#define FZ_REOPEN_EVERY	4000	/* bounds the importer file's handle table */
#define FZ_PG		4096UL
/*
 * The pages every struct and data pointer of a call points into: two
 * read-write, one inaccessible, one read-only, one inaccessible. The holes
 * are PROT_NONE, not unmapped, so that no later mmap() lands in them.
 */
#define FZ_AREA_LEN	(5 * FZ_PG)
#define FZ_NO_PTR	(-1)	/* fz_prepare(): the struct has no pointer */
#define FZ_RECORDS	16

enum { FZ_LIVE, FZ_REVOKED, FZ_UNKNOWN };

struct fz_buf {
	bool used;
	int fd;			/* -1 once closed */
	int dev;		/* 0: BAR_DMABUF_BDF, 1: BAR_DMABUF_BDF2 */
	__u64 len;
	bool rdwr;
	int state;		/* FZ_LIVE, FZ_REVOKED, FZ_UNKNOWN */
	int users;		/* maps and attachments that hold it */
};

struct fz_map {
	char *addr;		/* NULL if free */
	size_t len;
	int buf;
	bool writable;
	bool dontfork;		/* MADV_DONTFORK: a child has no such mapping */
};

struct fz_att {
	bool used;
	int imp;
	__u32 h;
	int buf;		/* -1 when unknown (a mutated ATTACH) */
};

struct fz_job {
	bool used;
	int imp;
	__u64 id;
	bool held;
	unsigned long since;	/* call index of its submit */
};

struct fz {
	struct __test_metadata *md;
	struct bd_env *e;
	__u64 seed;
	unsigned long idx;	/* the call under way */
	__u64 rs;		/* this call's PRNG state */
	bool debug_dmabuf;	/* CONFIG_DMABUF_DEBUG: no DETACH_WITHOUT_UNMAP */

	int dev[2];		/* control nodes, -1 if none */
	const char *bdf[2];
	__u64 barlen[2];
	int bar[2];
	int imp[FZ_IMPS];
	int nullfd, pipefd[2];
	int heapfd;		/* a system-heap dma-buf (another exporter), or -1 */
	int path[FZ_PATHS];	/* O_PATH fds: they keep a buffer's dentry */
	struct { int imp; __u32 h; } vmap[FZ_VMAPS];	/* heap vmaps */

	struct fz_buf buf[FZ_BUFS];
	struct fz_map map[FZ_MAPS];
	struct fz_att att[FZ_ATTS];
	struct fz_job job[FZ_JOBS];
	int sync[FZ_SYNCS];

	char *area;		/* FZ_AREA_LEN: struct and data placement */
	/* the harness's test records, which its parent walks (shared) */
	struct fz_record {
		const struct __test_metadata *t;
		const char *name;
		const void *fixture;
		const struct __test_metadata *prev, *next;
	} rec[FZ_RECORDS];
	int nr_rec;
	char tmp[8192];

	char desc[256];		/* what this call did, for the report */
	char ring[16][256];	/* the last calls' */
	bool trace;		/* BAR_DMABUF_FUZZ_TRACE: print every call */
	bool racing;		/* a second thread revokes and restores */
	bool no_madvise;	/* the debug kernel's tinyconfig has none */

	unsigned long calls[64];	/* per op */
	unsigned long ok_op[64];	/* calls of which a syscall succeeded */
	unsigned long ok;
	bool call_ok;
	unsigned long fails;
	char first_bad[512];
};

/* ---- PRNG: splitmix64, per call from (seed, index) ---- */

static __u64 fz_mix(__u64 *s)
{
	__u64 z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u64 rnd(struct fz *f)
{
	return fz_mix(&f->rs);
}

static __u32 rn(struct fz *f, __u32 n)
{
	return n ? rnd(f) % n : 0;
}

static bool chance(struct fz *f, unsigned int one_in)
{
	return rn(f, one_in) == 0;
}

static void fz_begin_call(struct fz *f, unsigned long idx)
{
	f->idx = idx;
	f->rs = f->seed ^ (idx * 0xd1342543de82ef95ULL);
	fz_mix(&f->rs);
}

/* Add to the description of this call. */
static __printf(2, 3) void
fz_note(struct fz *f, const char *fmt, ...)
{
	size_t n = strlen(f->desc);
	va_list ap;

	if (n >= sizeof(f->desc) - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(f->desc + n, sizeof(f->desc) - n, fmt, ap);
	va_end(ap);
}

/* ---- verdicts ---- */

static __printf(2, 3) void
fz_fail(struct fz *f, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!f->fails++)
		snprintf(f->first_bad, sizeof(f->first_bad),
			 "seed %llu call %lu: %s", (unsigned long long)f->seed,
			 f->idx, msg);
	fprintf(stderr, "# FAIL seed %llu call %lu: %s\n",
		(unsigned long long)f->seed, f->idx, msg);
	if (f->fails == 1) {
		unsigned long i = f->idx > 15 ? f->idx - 15 : 0;

		if (f->idx == ~0UL)
			return;
		fprintf(stderr, "# the last calls:\n");
		for (; i < f->idx; i++)
			fprintf(stderr, "#   %lu: %s\n", i, f->ring[i % 16]);
		fprintf(stderr, "#   %lu: %s\n", f->idx, f->desc);
	}
}

/* errnos lists end with 0 */
static const int ok_info[] = { EINVAL, E2BIG, EFAULT, 0 };
static const int ok_export[] = { EINVAL, E2BIG, EFAULT, 0 };
static const int ok_revoke[] = { EINVAL, E2BIG, EFAULT, EBADF, ETIMEDOUT, 0 };
static const int ok_restore[] = { EINVAL, E2BIG, EFAULT, EBADF, 0 };
/* EBUSY: the other thread's revoke of it still waits */
static const int ok_restore_racing[] = { EINVAL, E2BIG, EFAULT, EBADF, EBUSY,
					 0 };
static const int ok_notty[] = { ENOTTY, EBADF, 0 };
static const int ok_mmap[] = { EINVAL, EACCES, ENODEV, EBADF, EOVERFLOW,
			       ENOMEM, 0 };
static const int ok_mremap[] = { EFAULT, EINVAL, ENOMEM, 0 };
static const int ok_mprotect[] = { EACCES, EINVAL, 0 };
static const int ok_madvise[] = { EINVAL, 0 };
/* EINTR: a wait for a held fence cut short by fz_ioctl_bounded() */
static const int ok_sync[] = { EINVAL, EFAULT, ENODEV, ENOTTY, EBADF, EINTR,
			       0 };
static const int ok_setname[] = { EINVAL, EFAULT, EBUSY, ENOTTY, EBADF, 0 };
static const int ok_syncfile[] = { EINVAL, EFAULT, ENOTTY, EBADF, 0 };
static const int ok_lseek[] = { EINVAL, ESPIPE, EBADF, 0 };
static const int ok_poll[] = { 0 };
static const int ok_attach[] = { EINVAL, E2BIG, EFAULT, EBADF, ENODEV,
				 EOPNOTSUPP, EKEYREVOKED, 0 };
static const int ok_detach[] = { EINVAL, E2BIG, EFAULT, ENOENT, EBUSY, 0 };
static const int ok_map[] = { EINVAL, E2BIG, EFAULT, ENOENT, ENODEV,
			      EKEYREVOKED, 0 };
static const int ok_unmap[] = { EINVAL, E2BIG, EFAULT, ENOENT, 0 };
static const int ok_behaviour[] = { EINVAL, E2BIG, EFAULT, ENOENT, 0 };
static const int ok_submit[] = { EINVAL, E2BIG, EFAULT, ENOENT, ENODEV,
				 EKEYREVOKED, 0 };
static const int ok_signal[] = { EINVAL, E2BIG, EFAULT, ENOENT, EALREADY, 0 };
static const int ok_wait[] = { EINVAL, E2BIG, EFAULT, ENOENT, ETIMEDOUT, 0 };
static const int ok_readlog[] = { EINVAL, E2BIG, EFAULT, ENOENT, ENOSPC, 0 };
static const int ok_waitev[] = { EINVAL, E2BIG, EFAULT, ENOENT, ETIMEDOUT, 0 };
static const int ok_counters[] = { EINVAL, E2BIG, EFAULT, 0 };
static const int ok_vmap[] = { EINVAL, E2BIG, EFAULT, EBADF, 0 };
static const int ok_vunmap[] = { EINVAL, E2BIG, EFAULT, ENOENT, 0 };
/* EINTR: begin_cpu_access waits for the heap buffer's fences, bounded here */
static const int ok_vmap_rw[] = { EINVAL, E2BIG, EFAULT, ENOENT, EINTR, 0 };

/* @ret (0 or -errno) of @what is 0 or on @ok; else a failure. */
static bool fz_check(struct fz *f, const char *what, int ret, const int *ok)
{
	const int *a;

	fz_note(f, " %s=%d", what, ret);
	if (ret >= 0) {
		f->call_ok = true;
		return true;
	}
	for (a = ok; *a; a++)
		if (ret == -*a)
			return true;
	fz_fail(f, "%s: unexpected %d (%s)", what, ret, strerror(-ret));
	return false;
}

/* ---- model helpers ---- */

/* What the model may know: nothing while another thread revokes. */
static int fz_st(struct fz *f, int state)
{
	return f->racing ? FZ_UNKNOWN : state;
}

static int fz_new_buf(struct fz *f, int fd, int dev, __u64 len, bool rdwr)
{
	int i;

	for (i = 0; i < FZ_BUFS; i++) {
		if (f->buf[i].used)
			continue;
		f->buf[i] = (struct fz_buf){ .used = true, .fd = fd, .dev = dev,
					     .len = len, .rdwr = rdwr,
					     .state = fz_st(f, FZ_LIVE) };
		return i;
	}
	return -1;
}

static void fz_buf_unuse(struct fz *f, int b)
{
	if (b < 0)
		return;
	if (f->buf[b].fd < 0 && !f->buf[b].users)
		f->buf[b].used = false;
}

static void fz_close_buf(struct fz *f, int b)
{
	if (f->buf[b].fd >= 0)
		close(f->buf[b].fd);
	f->buf[b].fd = -1;
	fz_buf_unuse(f, b);
}

static int fz_open_bufs(struct fz *f)
{
	int i, n = 0;

	for (i = 0; i < FZ_BUFS; i++)
		n += f->buf[i].used && f->buf[i].fd >= 0;
	return n;
}

/* A buffer record with an open fd, or -1. */
static int fz_pick_buf(struct fz *f)
{
	int i, n = 0, pick[FZ_BUFS];

	for (i = 0; i < FZ_BUFS; i++)
		if (f->buf[i].used && f->buf[i].fd >= 0)
			pick[n++] = i;
	return n ? pick[rn(f, n)] : -1;
}

static void fz_set_state_dev(struct fz *f, int dev, int state)
{
	int i;

	for (i = 0; i < FZ_BUFS; i++)
		if (f->buf[i].used && f->buf[i].dev == dev)
			f->buf[i].state = fz_st(f, state);
}

static int fz_sync_fd(struct fz *f)
{
	int i, n = 0, pick[FZ_SYNCS];

	for (i = 0; i < FZ_SYNCS; i++)
		if (f->sync[i] >= 0)
			pick[n++] = f->sync[i];
	return n ? pick[rn(f, n)] : -1;
}

static void fz_add_sync(struct fz *f, int fd)
{
	int i = rn(f, FZ_SYNCS);

	if (fd < 0)
		return;
	fz_note(f, " sync fd %d", fd);
	if (f->sync[i] >= 0)
		close(f->sync[i]);
	f->sync[i] = fd;
}

/*
 * Any fd: mostly a buffer, else one of the wrong kind, a closed number,
 * -1 or garbage. *@b is the buffer record, or -1.
 */
static int fz_any_fd(struct fz *f, int *b)
{
	static const int odd[] = { -1, -2, INT_MAX, INT_MIN, 1 << 20 };
	int k = rn(f, 16);

	*b = -1;
	if (k < 8) {
		*b = fz_pick_buf(f);
		return *b >= 0 ? f->buf[*b].fd : -1;
	}
	switch (k) {
	case 8:
		return fz_sync_fd(f);
	case 9:
		return f->dev[rn(f, 2)];
	case 10:
		return f->imp[rn(f, FZ_IMPS)];
	case 11:
		return f->nullfd;
	case 12:
		return f->pipefd[rn(f, 2)];
	case 13:
		return 900 + rn(f, 50);	/* never open here */
	case 14:
		if (rn(f, 2) && f->heapfd >= 0)
			return f->heapfd;
		return rn(f, 2) ? f->path[rn(f, FZ_PATHS)] : f->e->kfd;
	default:
		return odd[rn(f, ARRAY_SIZE(odd))];
	}
}

static int fz_pick_att(struct fz *f)
{
	int i, n = 0, pick[FZ_ATTS];

	for (i = 0; i < FZ_ATTS; i++)
		if (f->att[i].used)
			pick[n++] = i;
	return n ? pick[rn(f, n)] : -1;
}

static int fz_pick_job(struct fz *f)
{
	int i, n = 0, pick[FZ_JOBS];

	for (i = 0; i < FZ_JOBS; i++)
		if (f->job[i].used)
			pick[n++] = i;
	return n ? pick[rn(f, n)] : -1;
}

static void fz_drop_att(struct fz *f, int a)
{
	int b = f->att[a].buf;

	f->att[a].used = false;
	if (b >= 0) {
		f->buf[b].users--;
		fz_buf_unuse(f, b);
	}
}

static void fz_add_att(struct fz *f, int imp, __u32 h, int b)
{
	int i;

	for (i = 0; i < FZ_ATTS; i++) {
		if (f->att[i].used)
			continue;
		f->att[i] = (struct fz_att){ .used = true, .imp = imp, .h = h,
					     .buf = b };
		if (b >= 0)
			f->buf[b].users++;
		return;
	}
	/* no room: detach it again (jobs none yet) */
	struct bar_dmabuf_imp_handle hd = { .size = sizeof(hd), .handle = h };

	ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_DETACH, &hd);
}

static void fz_finish_job(struct fz *f, int j)
{
	struct bar_dmabuf_imp_signal s = { .size = sizeof(s), .job = f->job[j].id };
	struct bar_dmabuf_imp_wait_job w = {
		.size = sizeof(w), .job = f->job[j].id, .timeout_ms = 10000,
	};

	if (f->job[j].held)
		ioctl(f->imp[f->job[j].imp], BAR_DMABUF_IMP_IOCTL_SIGNAL, &s);
	ioctl(f->imp[f->job[j].imp], BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &w);
	f->job[j].used = false;
}

static void fz_add_job(struct fz *f, int imp, __u64 id, bool held)
{
	int i;

	for (;;) {
		for (i = 0; i < FZ_JOBS; i++) {
			if (f->job[i].used)
				continue;
			f->job[i] = (struct fz_job){ .used = true, .imp = imp,
						     .id = id, .held = held,
						     .since = f->idx };
			return;
		}
		/* table full: finish the oldest */
		int old = 0;

		for (i = 1; i < FZ_JOBS; i++)
			if (f->job[i].since < f->job[old].since)
				old = i;
		fz_finish_job(f, old);
	}
}

/* Signal held jobs of FZ_HOLD_CALLS calls ago: no fence meets the watchdog. */
static void fz_sweep_held(struct fz *f)
{
	struct bar_dmabuf_imp_signal s = { .size = sizeof(s) };
	int i, ret;

	for (i = 0; i < FZ_JOBS; i++) {
		if (!f->job[i].used || !f->job[i].held ||
		    f->job[i].since + FZ_HOLD_CALLS > f->idx)
			continue;
		s.job = f->job[i].id;
		ret = ioctl(f->imp[f->job[i].imp], BAR_DMABUF_IMP_IOCTL_SIGNAL,
			    &s) ? -errno : 0;
		fz_check(f, "sweep SIGNAL", ret, ok_signal);
		f->job[i].held = false;
	}
}

/* The importer file @i closes: everything of it is gone. */
static void fz_reopen_imp(struct fz *f, int i)
{
	int k;

	fz_note(f, " reopen imp%d", i);
	close(f->imp[i]);
	for (k = 0; k < FZ_VMAPS; k++)
		if (f->vmap[k].imp == i)
			f->vmap[k].h = 0;
	for (k = 0; k < FZ_ATTS; k++)
		if (f->att[k].used && f->att[k].imp == i)
			fz_drop_att(f, k);
	for (k = 0; k < FZ_JOBS; k++)
		if (f->job[k].used && f->job[k].imp == i)
			f->job[k].used = false;
	f->imp[i] = imp_open();
	if (f->imp[i] < 0)
		fz_fail(f, "importer reopen: %s", strerror(-f->imp[i]));
}

/* ---- a command struct, maybe mutated, in a chosen place ---- */

enum { PL_NORMAL, PL_GUARD, PL_RO, PL_BAD };

struct fz_call {
	void *ptr;		/* what the ioctl gets */
	int place;
	__u32 usize;
	bool mutated;
};

static const __u32 fz_odd_u32[] = { 0, 1, 2, 0x7fffffff, 0x80000000,
				    0xffffffff, 0xffff, 64, 65, 4096 };

/*
 * A mutated user pointer must not reach this process's own memory: the
 * kernel would write there for real, and the harness's test records are
 * shared with its parent, which follows them after this test (a READ_LOG
 * whose events_ptr a flipped bit moved onto the next test's record made
 * the parent die in strlen()). One that left the area and is not below
 * 64 KiB (where no process maps) is moved into the area's inaccessible
 * page at the same offset: still a bad one. Kernel and non-canonical
 * addresses are not spared: where user space ends depends on the
 * architecture (arm64 maps at 0xffff...), and the calls pass such
 * pointers on purpose anyway.
 */
static void fz_keep_ptr(struct fz *f, char *field, __u64 was)
{
	unsigned long a = (unsigned long)f->area;
	__u64 v;

	memcpy(&v, field, sizeof(v));
	if (v == was || v < 0x10000 || (v >= a && v < a + FZ_AREA_LEN))
		return;
	v = a + 2 * FZ_PG + (v & (FZ_PG - 1));
	memcpy(field, &v, sizeof(v));
}

/*
 * Put @ksize bytes of @valid into place for an ioctl, maybe mutated: its
 * size word (first u32 when @sized) around the struct's boundaries and past
 * 4 KiB, bytes flipped, words set to odd values, non-zero bytes past it.
 * @ptr_off is the offset of the struct's user pointer, or FZ_NO_PTR.
 * @fix clamps fields whose mutation would only make the run slow (waits).
 */
static void fz_prepare(struct fz *f, struct fz_call *c, const void *valid,
		       size_t ksize, bool sized, int ptr_off, int mutate_one_in,
		       void (*fix)(void *p))
{
	char *s = f->tmp;
	size_t room = 2 * FZ_PG;
	__u32 usize = ksize;

	memset(s, 0, sizeof(f->tmp));
	memcpy(s, valid, ksize);
	c->mutated = mutate_one_in && chance(f, mutate_one_in);
	c->place = PL_NORMAL;
	if (c->mutated) {
		unsigned int n = 1 + rn(f, 3), i;

		if (sized && chance(f, 2)) {
			static const int d[] = { -8, -4, -1, 1, 4, 8 };
			__u32 sz[] = { 0, 1, 4, 7, 8, 12, 16, 4095, 4096,
				       4097, 8192, 0x7fffffff, 0xffffffff };

			if (chance(f, 2))
				usize = ksize + d[rn(f, ARRAY_SIZE(d))];
			else
				usize = sz[rn(f, ARRAY_SIZE(sz))];
		}
		for (i = 0; i < n; i++) {
			size_t lo = sized ? 4 : 0, off;

			if (ksize <= lo)
				break;
			off = lo + rn(f, ksize - lo);
			if (chance(f, 2)) {
				s[off] ^= 1 << rn(f, 8);
			} else {
				__u32 v = chance(f, 3) ? (__u32)rnd(f) :
					  fz_odd_u32[rn(f, ARRAY_SIZE(fz_odd_u32))];

				off &= ~3UL;
				if (off < lo)
					off = lo;
				if (off + 4 <= ksize)
					memcpy(s + off, &v, 4);
			}
		}
		if (usize > ksize && usize <= room && chance(f, 3))
			s[ksize + rn(f, usize - ksize)] = 1 + rn(f, 255);
		switch (rn(f, 8)) {
		case 0:
			c->place = PL_GUARD;
			break;
		case 1:
			c->place = PL_RO;
			break;
		case 2:
			c->place = PL_BAD;
			break;
		}
	}
	if (sized)
		memcpy(s, &usize, 4);
	if (fix)
		fix(s);
	if (ptr_off != FZ_NO_PTR) {
		__u64 was;

		memcpy(&was, (const char *)valid + ptr_off, sizeof(was));
		fz_keep_ptr(f, s + ptr_off, was);
	}
	if (c->mutated)
		fz_note(f, " mutated(size %u place %d)", usize, c->place);
	c->usize = usize;

	switch (c->place) {
	case PL_NORMAL:
		memcpy(f->area, s, room);
		c->ptr = f->area;
		break;
	case PL_GUARD:
		/* the struct ends where the inaccessible page begins */
		c->ptr = f->area + room - ksize;
		memcpy(c->ptr, s, ksize);
		break;
	case PL_RO:
		mprotect(f->area + 3 * FZ_PG, FZ_PG, PROT_READ | PROT_WRITE);
		memcpy(f->area + 3 * FZ_PG, s, ksize < FZ_PG ? ksize : FZ_PG);
		mprotect(f->area + 3 * FZ_PG, FZ_PG, PROT_READ);
		c->ptr = f->area + 3 * FZ_PG;
		break;
	default: {
		static const unsigned long bad[] = { 0, 1, 0xffff800000000000UL,
						     0x10000 };

		c->ptr = (void *)bad[rn(f, ARRAY_SIZE(bad))];
		break;
	}
	}
}

/* The struct as the kernel left it, if it could write it. */
static bool fz_result(struct fz *f, struct fz_call *c, void *out, size_t ksize)
{
	if (c->place != PL_NORMAL && c->place != PL_GUARD)
		return false;
	memcpy(out, c->ptr, ksize);
	return true;
}

static int fz_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static void fz_alarm(int sig)
{
}

/*
 * An ioctl that may wait for the buffer's fences without a bound of its
 * own (the core's SYNC waits for every fence first): a held job's would
 * keep it until the importer's watchdog. 20 ms, then EINTR.
 */
static int fz_ioctl_bounded(int fd, unsigned long cmd, void *arg)
{
	struct itimerval it = { .it_value = { .tv_usec = 20000 } };
	struct itimerval off = { 0 };
	int ret;

	setitimer(ITIMER_REAL, &it, NULL);
	ret = fz_ioctl(fd, cmd, arg);
	setitimer(ITIMER_REAL, &off, NULL);
	return ret;
}

/* ---- exporter control node ---- */

static void fz_op_info(struct fz *f)
{
	struct bar_dmabuf_info in = { .size = sizeof(in) }, out;
	struct fz_call c;
	int ret;

	fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 2, NULL);
	ret = fz_ioctl(f->dev[0], BAR_DMABUF_IOCTL_INFO, c.ptr);
	fz_check(f, "INFO", ret, ok_info);
	if (!ret && !c.mutated && fz_result(f, &c, &out, sizeof(out)) &&
	    (out.out_num_bars != BAR_DMABUF_NUM_BARS ||
	     out.out_bars[f->bar[0]].size != f->barlen[0]))
		fz_fail(f, "INFO: %u bars, BAR%d %llu bytes", out.out_num_bars,
			f->bar[0],
			(unsigned long long)out.out_bars[f->bar[0]].size);
}

/* A range: mostly inside the first pages, else at and past the BAR end. */
static void fz_range(struct fz *f, int dev, struct bar_dmabuf_range *r,
		     bool valid)
{
	__u64 len = f->barlen[dev];
	unsigned int pages = 1 + rn(f, 4);

	r->offset = rn(f, FZ_AREA_PAGES - pages) * FZ_PG;
	r->length = pages * FZ_PG;
	if (valid)
		return;
	switch (rn(f, 10)) {
	case 0:
		r->offset = len - FZ_PG;		/* last page: valid */
		r->length = FZ_PG;
		break;
	case 1:
		r->offset = len - FZ_PG;		/* one past the end */
		r->length = 2 * FZ_PG;
		break;
	case 2:
		r->offset = len;
		r->length = FZ_PG;
		break;
	case 3:
		r->offset = -FZ_PG;			/* wraps */
		r->length = 2 * FZ_PG;
		break;
	case 4:
		r->offset = FZ_PG;
		r->length = -FZ_PG;			/* wraps */
		break;
	case 5:
		r->offset += 1 + rn(f, FZ_PG - 1);	/* unaligned */
		break;
	case 6:
		r->length = rn(f, 2) ? 0 : FZ_PG - 1;
		break;
	case 7:
		r->offset = 0;				/* the whole BAR */
		r->length = len;
		break;
	case 8:
		r->length = len + FZ_PG;
		r->offset = 0;
		break;
	default:
		break;
	}
}

static void fz_adopt_export(struct fz *f, int dev, int fd, __u64 len,
			    bool rdwr)
{
	int b;

	while (fz_open_bufs(f) >= FZ_SLOTS)
		fz_close_buf(f, fz_pick_buf(f));
	b = fz_new_buf(f, fd, dev, len, rdwr);
	if (b < 0)
		close(fd);	/* every record busy: mappings and attachments */
}

static void fz_op_export(struct fz *f)
{
	struct bar_dmabuf_range ranges[BAR_DMABUF_MAX_RANGES + 2];
	struct bar_dmabuf_export in = { .size = sizeof(in) }, out;
	int dev = f->dev[1] >= 0 && chance(f, 6) ? 1 : 0;
	bool odd = chance(f, 5);
	unsigned int nr = 1, i;
	__u64 total = 0;
	struct fz_call c;
	int ret;

	if (chance(f, 4))
		nr = 1 + rn(f, odd ? BAR_DMABUF_MAX_RANGES + 2 : 4);
	for (i = 0; i < nr && i < ARRAY_SIZE(ranges); i++) {
		fz_range(f, dev, &ranges[i], !odd || rn(f, nr) != 0);
		total += ranges[i].length;
	}
	in.bar_index = f->bar[dev];
	in.nr_ranges = nr;
	in.open_flags = chance(f, 4) ? O_CLOEXEC : O_RDWR | O_CLOEXEC;
	in.out_fd = -1;
	in.ranges_ptr = (unsigned long)ranges;
	if (odd) {
		switch (rn(f, 8)) {
		case 0:
			in.bar_index = rn(f, 2) ? rn(f, 8) : 0xffffffff;
			break;
		case 1:
			in.nr_ranges = rn(f, 2) ? 0 : 1000;
			break;
		case 2:
			in.ranges_ptr = rn(f, 2) ? 0 : 0xffff800000000000ULL;
			break;
		case 3:
			/* the array runs into the inaccessible page */
			in.ranges_ptr = (unsigned long)(f->area + 2 * FZ_PG -
							sizeof(ranges[0]));
			memcpy(f->area + 2 * FZ_PG - sizeof(ranges[0]),
			       ranges, sizeof(ranges[0]));
			break;
		case 4:
			in.open_flags |= 1u << rn(f, 32);
			break;
		}
	}
	fz_prepare(f, &c, &in, sizeof(in), true,
		   offsetof(typeof(in), ranges_ptr), odd ? 2 : 8, NULL);
	if (c.place == PL_NORMAL && in.ranges_ptr ==
	    (unsigned long)(f->area + 2 * FZ_PG - sizeof(ranges[0])))
		memcpy(f->area + 2 * FZ_PG - sizeof(ranges[0]), ranges,
		       sizeof(ranges[0]));
	ret = fz_ioctl(f->dev[dev], BAR_DMABUF_IOCTL_EXPORT, c.ptr);
	fz_check(f, "EXPORT", ret, ok_export);
	if (ret)
		return;
	if (!fz_result(f, &c, &out, sizeof(out))) {
		fz_fail(f, "EXPORT: success without a written answer");
		return;
	}
	if (!c.mutated && !odd && out.out_length != total)
		fz_fail(f, "EXPORT: length %llu, ranges %llu",
			(unsigned long long)out.out_length,
			(unsigned long long)total);
	fz_note(f, " fd %d len %llu", out.out_fd,
		(unsigned long long)out.out_length);
	fz_adopt_export(f, dev, out.out_fd, out.out_length,
			(fcntl(out.out_fd, F_GETFL) & O_ACCMODE) == O_RDWR);
}

static void fz_fix_revoke(void *p)
{
	struct bar_dmabuf_revoke *r = p;

	/* a wait of the module's default (0) is 100 ms here */
	r->timeout_ms %= 31;
}

static void fz_op_revoke(struct fz *f)
{
	struct bar_dmabuf_revoke in = { .size = sizeof(in) };
	struct fz_call c;
	int b = -1, ret;

	if (chance(f, 4)) {
		in.flags = BAR_DMABUF_ALL_BUFFERS;
		in.fd = -1;
	} else {
		in.fd = fz_any_fd(f, &b);
	}
	in.timeout_ms = rn(f, 31);
	fz_note(f, " fd %d buf %d flags %#x timeout %u", in.fd, b, in.flags,
		in.timeout_ms);
	fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 5, fz_fix_revoke);
	ret = fz_ioctl(f->dev[0], BAR_DMABUF_IOCTL_REVOKE, c.ptr);
	fz_check(f, "REVOKE", ret, ok_revoke);
	if (c.mutated) {
		/* which buffer a mutated call hit is not known */
		fz_set_state_dev(f, 0, FZ_UNKNOWN);
		return;
	}
	if (ret && ret != -ETIMEDOUT)
		return;
	if (b >= 0 && f->buf[b].dev != 0)
		fz_fail(f, "REVOKE of another device's buffer: %d", ret);
	if (in.flags)
		fz_set_state_dev(f, 0, FZ_REVOKED);
	else if (b >= 0)
		f->buf[b].state = fz_st(f, FZ_REVOKED);
	else
		fz_set_state_dev(f, 0, FZ_UNKNOWN);	/* a reused fd number */
}

static void fz_op_restore(struct fz *f)
{
	struct bar_dmabuf_restore in = { .size = sizeof(in) };
	struct fz_call c;
	int b = -1, ret;

	if (chance(f, 3)) {
		in.flags = BAR_DMABUF_ALL_BUFFERS;
		in.fd = -1;
	} else {
		in.fd = fz_any_fd(f, &b);
	}
	fz_note(f, " fd %d buf %d flags %#x", in.fd, b, in.flags);
	fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 5, NULL);
	ret = fz_ioctl(f->dev[0], BAR_DMABUF_IOCTL_RESTORE, c.ptr);
	fz_check(f, "RESTORE", ret, f->racing ? ok_restore_racing : ok_restore);
	if (c.mutated) {
		fz_set_state_dev(f, 0, FZ_UNKNOWN);
		return;
	}
	/* single-threaded: no revoke waits, so -EBUSY is never right */
	if (ret)
		return;
	if (b >= 0 && f->buf[b].dev != 0)
		fz_fail(f, "RESTORE of another device's buffer: 0");
	if (in.flags)
		fz_set_state_dev(f, 0, FZ_LIVE);
	else if (b >= 0 && f->buf[b].dev == 0)
		f->buf[b].state = fz_st(f, FZ_LIVE);
	else
		fz_set_state_dev(f, 0, FZ_UNKNOWN);
}

/* A command number of one of our three ioctl families, not a real one. */
static unsigned long fz_bad_cmd(struct fz *f)
{
	static const unsigned int type[] = { BAR_DMABUF_TYPE,
					     BAR_DMABUF_IMP_TYPE, DMA_BUF_BASE };
	unsigned int t = type[rn(f, 3)], nr = rn(f, 2) ? 4 + rn(f, 12) : rn(f, 256);

	if (t == DMA_BUF_BASE && nr < 4)
		nr += 4;
	switch (rn(f, 3)) {
	case 0:
		return _IO(t, nr);
	case 1:
		/* a real nr with other bits ('b' 2 is EXPORT_SYNC_FILE) */
		return _IOWR(t, t == DMA_BUF_BASE ? nr : nr & 0xf, __u64);
	default:
		return _IOC(_IOC_READ, t, nr, rn(f, 1 << 14));
	}
}

/* Is @cmd one that fds of family @kind implement? */
static bool fz_is_real_cmd(int kind, unsigned long cmd)
{
	switch (kind) {
	case BAR_DMABUF_TYPE:
		return cmd == _IO(kind, _IOC_NR(cmd)) &&
		       _IOC_NR(cmd) <= BAR_DMABUF_CMD_RESTORE;
	case BAR_DMABUF_IMP_TYPE:
		return cmd == _IO(kind, _IOC_NR(cmd)) &&
		       _IOC_NR(cmd) <= BAR_DMABUF_IMP_CMD_VMAP_RW;
	default:
		return cmd == DMA_BUF_IOCTL_SYNC || cmd == DMA_BUF_SET_NAME_A ||
		       cmd == DMA_BUF_SET_NAME_B ||
		       cmd == DMA_BUF_IOCTL_EXPORT_SYNC_FILE ||
		       cmd == DMA_BUF_IOCTL_IMPORT_SYNC_FILE;
	}
}

/* Any of our commands, or a bad one, on a fd of any kind. */
static void fz_op_wrong_fd(struct fz *f)
{
	static const unsigned long cmds[] = {
		BAR_DMABUF_IOCTL_INFO, BAR_DMABUF_IOCTL_EXPORT,
		BAR_DMABUF_IOCTL_REVOKE, BAR_DMABUF_IOCTL_RESTORE,
		BAR_DMABUF_IMP_IOCTL_ATTACH, BAR_DMABUF_IMP_IOCTL_COUNTERS,
		DMA_BUF_IOCTL_SYNC,
	};
	unsigned long cmd = rn(f, 2) ? cmds[rn(f, ARRAY_SIZE(cmds))] :
				      fz_bad_cmd(f);
	int b, fd = fz_any_fd(f, &b), ret, kind;

	/* only fds on which cmd is not one of its own */
	if (fd == f->dev[0] || fd == f->dev[1])
		kind = BAR_DMABUF_TYPE;
	else if (fd == f->imp[0] || fd == f->imp[1])
		kind = BAR_DMABUF_IMP_TYPE;
	else if (b >= 0 || (fd >= 0 && fd == f->heapfd))
		kind = DMA_BUF_BASE;
	else
		kind = -1;
	if ((int)_IOC_TYPE(cmd) == kind && fz_is_real_cmd(kind, cmd))
		return;
	memset(f->area, 0, 2 * FZ_PG);
	*(__u32 *)f->area = 64;
	fz_note(f, " fd %d (kind %d) cmd %#lx", fd, kind, cmd);
	ret = fz_ioctl(fd, cmd, f->area);
	fz_check(f, "ioctl of another kind", ret, ok_notty);
}

/* Close the node and open it again: a last close revokes every buffer. */
static void fz_op_node_reopen(struct fz *f)
{
	int fd2 = -1;

	if (chance(f, 2))
		fd2 = bd_open_dev(f->bdf[0]);	/* then it is not the last */
	close(f->dev[0]);
	/* without fd2 that was the last close: every buffer is revoked */
	if (fd2 < 0)
		fz_set_state_dev(f, 0, FZ_REVOKED);
	f->dev[0] = bd_open_dev(f->bdf[0]);
	f->e->devfd = f->dev[0];
	if (f->dev[0] < 0)
		fz_fail(f, "reopen node: %s", strerror(-f->dev[0]));
	if (fd2 >= 0)
		close(fd2);
}

/* ---- CPU mappings ---- */

static sigjmp_buf fz_jmp;
static int fz_in_touch;		/* __atomic: the handler reads it */

static void fz_sigbus(int sig)
{
	if (__atomic_load_n(&fz_in_touch, __ATOMIC_SEQ_CST))
		siglongjmp(fz_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fz_op_mmap(struct fz *f)
{
	int b, fd, i, prot = PROT_READ, flags = MAP_SHARED, ret;
	bool valid = true;
	__u64 len, off;
	void *p;

	for (i = 0; i < FZ_MAPS && f->map[i].addr; i++)
		;
	if (i == FZ_MAPS) {
		i = rn(f, FZ_MAPS);
		munmap(f->map[i].addr, f->map[i].len);
		f->buf[f->map[i].buf].users--;
		fz_buf_unuse(f, f->map[i].buf);
		f->map[i].addr = NULL;
	}
	if (chance(f, 8)) {
		fd = fz_any_fd(f, &b);
		valid = false;
	} else {
		b = fz_pick_buf(f);
		fd = b >= 0 ? f->buf[b].fd : -1;
	}
	if (b < 0) {
		valid = false;
		len = FZ_PG;
		off = 0;
	} else {
		off = rn(f, f->buf[b].len / FZ_PG) * FZ_PG;
		len = 1 + rn(f, f->buf[b].len - off);
		if (len > 16 * FZ_PG)
			len = 1 + rn(f, 16 * FZ_PG);
	}
	if (b >= 0 && f->buf[b].rdwr && chance(f, 2))
		prot |= PROT_WRITE;
	switch (rn(f, 10)) {
	case 0:
		off += 1 + rn(f, FZ_PG - 1);
		valid = false;
		break;
	case 1:
		len = rn(f, 2) ? 0 : (b >= 0 ? f->buf[b].len : 0) + FZ_PG;
		valid = false;
		break;
	case 2:
		off = b >= 0 ? f->buf[b].len : FZ_PG;
		valid = false;
		break;
	case 3:
		flags = MAP_PRIVATE;
		valid = false;
		break;
	case 4:
		prot |= PROT_WRITE;
		valid = valid && b >= 0 && f->buf[b].rdwr;
		break;
	case 5:
		off = -FZ_PG;
		valid = false;
		break;
	}
	fz_note(f, " fd %d buf %d off %llu len %llu prot %d flags %d", fd, b,
		(unsigned long long)off, (unsigned long long)len, prot, flags);
	p = mmap(NULL, len, prot, flags, fd, off);
	ret = p == MAP_FAILED ? -errno : 0;
	fz_check(f, "mmap", ret, ok_mmap);
	if (valid && b >= 0) {
		if (f->buf[b].state == FZ_LIVE && ret)
			fz_fail(f, "mmap of a live buffer: %s", strerror(-ret));
		if (f->buf[b].state == FZ_REVOKED && ret != -ENODEV)
			fz_fail(f, "mmap of a revoked buffer: %d (rule 1)", ret);
	}
	if (ret)
		return;
	if (b < 0 || fd != f->buf[b].fd) {
		munmap(p, len);		/* something else mapped: let it go */
		return;
	}
	f->map[i] = (struct fz_map){ .addr = p, .len = len, .buf = b,
				     .writable = prot & PROT_WRITE };
	f->buf[b].users++;
}

static int fz_pick_map(struct fz *f)
{
	int i, n = 0, pick[FZ_MAPS];

	for (i = 0; i < FZ_MAPS; i++)
		if (f->map[i].addr)
			pick[n++] = i;
	return n ? pick[rn(f, n)] : -1;
}

static void fz_op_touch(struct fz *f)
{
	int m = fz_pick_map(f), sig, state;
	unsigned char *p;
	bool write;
	size_t off;

	if (m < 0)
		return;
	off = rn(f, f->map[m].len);
	if (chance(f, 3))
		off = f->map[m].len - 1;
	p = (unsigned char *)f->map[m].addr + off;
	write = f->map[m].writable && chance(f, 2);
	state = f->buf[f->map[m].buf].state;

	__atomic_store_n(&fz_in_touch, 1, __ATOMIC_SEQ_CST);
	sig = sigsetjmp(fz_jmp, 1);
	if (!sig) {
		unsigned char v = __atomic_load_n(p, __ATOMIC_RELAXED);

		if (write)
			__atomic_store_n(p, v ^ (unsigned char)f->idx,
					 __ATOMIC_RELAXED);
	}
	__atomic_store_n(&fz_in_touch, 0, __ATOMIC_SEQ_CST);
	if (sig && sig != SIGBUS)
		fz_fail(f, "touch at %zu of a mapping: signal %d", off, sig);
	else if (sig && state == FZ_LIVE)
		fz_fail(f, "touch of a live buffer's mapping: SIGBUS");
	else if (!sig && state == FZ_REVOKED)
		fz_fail(f, "touch of a revoked buffer's mapping: no SIGBUS (rules 1, 2)");
}

static void fz_op_vma(struct fz *f)
{
	int m = fz_pick_map(f), ret;
	struct fz_map *map;
	void *p;

	if (m < 0)
		return;
	map = &f->map[m];
	switch (rn(f, 5)) {
	case 0:	/* grow: VM_DONTEXPAND */
		p = mremap(map->addr, map->len, map->len + FZ_PG, 0);
		ret = p == MAP_FAILED ? -errno : 0;
		fz_check(f, "mremap grow", ret, ok_mremap);
		if (!ret) {
			fz_fail(f, "mremap grew a dma-buf mapping");
			map->addr = p;
			map->len += FZ_PG;
		}
		break;
	case 1:	/* shrink */
		if (map->len <= FZ_PG)
			break;
		p = mremap(map->addr, map->len, FZ_PG, 0);
		ret = p == MAP_FAILED ? -errno : 0;
		fz_check(f, "mremap shrink", ret, ok_mremap);
		if (!ret) {
			map->addr = p;
			map->len = FZ_PG;
		}
		break;
	case 2:
		ret = mprotect(map->addr, map->len,
			       PROT_READ | PROT_WRITE) ? -errno : 0;
		fz_check(f, "mprotect", ret, ok_mprotect);
		if (!ret && !f->buf[map->buf].rdwr)
			fz_fail(f, "mprotect made a read-only buffer writable");
		if (!ret)
			map->writable = true;
		break;
	case 3: {
		static const int adv[] = { MADV_DONTNEED, MADV_WILLNEED,
					   MADV_DONTFORK, MADV_DOFORK,
					   MADV_NORMAL };

		int a = adv[rn(f, ARRAY_SIZE(adv))];

		if (f->no_madvise)
			break;
		ret = madvise(map->addr, map->len, a) ? -errno : 0;
		fz_check(f, "madvise", ret, ok_madvise);
		if (!ret && (a == MADV_DONTFORK || a == MADV_DOFORK))
			map->dontfork = a == MADV_DONTFORK;
		break;
	}
	default:
		munmap(map->addr, map->len);
		map->addr = NULL;
		f->buf[map->buf].users--;
		fz_buf_unuse(f, map->buf);
		break;
	}
}

/* ---- dma-buf fds ---- */

static void fz_op_sync(struct fz *f)
{
	static const __u64 ok_flags[] = {
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE,
		DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW,
	};
	struct dma_buf_sync s;
	bool valid = !chance(f, 4);
	int b, fd = fz_any_fd(f, &b), ret;
	void *arg = &s;

	s.flags = ok_flags[rn(f, ARRAY_SIZE(ok_flags))];
	if (!valid) {
		s.flags = rn(f, 2) ? rnd(f) : s.flags ^ (1ULL << rn(f, 64));
		if (chance(f, 4))
			arg = f->area + 2 * FZ_PG;	/* inaccessible */
	}
	ret = fz_ioctl_bounded(fd, DMA_BUF_IOCTL_SYNC, arg);
	fz_check(f, "DMA_BUF_IOCTL_SYNC", ret, ok_sync);
	if (!valid || b < 0 || ret == -EINTR)
		return;
	if (f->buf[b].state == FZ_LIVE && ret)
		fz_fail(f, "SYNC of a live buffer: %s", strerror(-ret));
	if (f->buf[b].state == FZ_REVOKED && ret != -ENODEV)
		fz_fail(f, "SYNC of a revoked buffer: %d", ret);
}

static void fz_op_set_name(struct fz *f)
{
	static const unsigned long cmd[] = { DMA_BUF_SET_NAME_A,
					     DMA_BUF_SET_NAME_B };
	char *name = f->area;
	int b, fd = fz_any_fd(f, &b), ret;
	unsigned int len = rn(f, 3) ? rn(f, 32) : 28 + rn(f, 8);
	void *arg = name;

	memset(name, 'a' + rn(f, 26), len);
	name[len] = 0;
	if (chance(f, 8))
		arg = f->area + 2 * FZ_PG;
	if (chance(f, 8)) {
		/* runs into the inaccessible page with no NUL */
		arg = f->area + 2 * FZ_PG - 8;
		memset(arg, 'z', 8);
	}
	ret = fz_ioctl(fd, cmd[rn(f, 2)], arg);
	fz_check(f, "DMA_BUF_SET_NAME", ret, ok_setname);
	if (!ret && len >= 32 && arg == name)
		fz_fail(f, "SET_NAME took %u bytes", len);
}

static void fz_op_sync_file(struct fz *f)
{
	int b, fd = fz_any_fd(f, &b), ret;
	__u32 flags = 1 + rn(f, 3);	/* READ, WRITE or both */

	if (chance(f, 5))
		flags = rn(f, 2) ? 0 : (__u32)rnd(f);
	if (rn(f, 2)) {
		struct dma_buf_export_sync_file ex = { .flags = flags, .fd = -1 };

		ret = fz_ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex);
		fz_check(f, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE", ret, ok_syncfile);
		if (!ret)
			fz_add_sync(f, ex.fd);
	} else {
		struct dma_buf_import_sync_file im = { .flags = flags };
		int b2;

		im.fd = rn(f, 3) ? fz_sync_fd(f) : fz_any_fd(f, &b2);
		fz_note(f, " import fd %d into %d", im.fd, fd);
		ret = fz_ioctl(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &im);
		fz_check(f, "DMA_BUF_IOCTL_IMPORT_SYNC_FILE", ret, ok_syncfile);
	}
}

static void fz_op_fd_misc(struct fz *f)
{
	int b, fd = fz_any_fd(f, &b), ret;
	struct pollfd pfd;
	off_t o;

	switch (rn(f, 4)) {
	case 0:
		o = lseek(fd, 0, SEEK_END);
		ret = o < 0 ? -errno : 0;
		fz_check(f, "lseek", ret, ok_lseek);
		if (b >= 0 && (ret || (__u64)o != f->buf[b].len))
			fz_fail(f, "lseek SEEK_END of a buffer: %lld, not %llu",
				(long long)o, (unsigned long long)f->buf[b].len);
		break;
	case 1:
		o = lseek(fd, rnd(f) & 0xffff, rn(f, 5));
		ret = o < 0 ? -errno : 0;
		fz_check(f, "lseek", ret, ok_lseek);
		break;
	case 2:
		pfd = (struct pollfd){ .fd = rn(f, 2) ? fz_sync_fd(f) : fd,
				       .events = POLLIN | POLLOUT };
		ret = poll(&pfd, 1, 0) < 0 ? -errno : 0;
		fz_check(f, "poll", ret, ok_poll);
		break;
	default: {
		int s = rn(f, FZ_SYNCS);

		if (f->sync[s] >= 0)
			close(f->sync[s]);
		f->sync[s] = -1;
		break;
	}
	}
}

/* ---- the importer ---- */

/* The handle of attachment *@a (from fz_imp_of_att()), or a bad one. */
static __u32 fz_handle(struct fz *f, int imp, int *a)
{
	if (*a >= 0 && f->att[*a].imp == imp && !chance(f, 8))
		return f->att[*a].h;
	*a = -1;
	return rn(f, 2) ? rn(f, 64) : (__u32)rnd(f);
}

static int fz_imp_of_att(struct fz *f, int *a)
{
	*a = fz_pick_att(f);
	return *a >= 0 ? f->att[*a].imp : rn(f, FZ_IMPS);
}

static void fz_op_attach(struct fz *f)
{
	static const __u32 fl[] = { 0, 0, 0, 0, BAR_DMABUF_IMP_ATTACH_PIN,
				    BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE,
				    BAR_DMABUF_IMP_ATTACH_PINNED,
				    BAR_DMABUF_IMP_ATTACH_NO_P2P };
	struct bar_dmabuf_imp_attach in = { .size = sizeof(in) }, out;
	int imp = rn(f, FZ_IMPS), b, ret;
	struct fz_call c;

	if (rn(f, 6)) {
		b = fz_pick_buf(f);
		in.dmabuf_fd = b >= 0 ? f->buf[b].fd : -1;
	} else {
		in.dmabuf_fd = fz_any_fd(f, &b);
	}
	in.flags = fl[rn(f, ARRAY_SIZE(fl))];
	fz_note(f, " imp%d fd %d buf %d state %d flags %#x", imp, in.dmabuf_fd,
		b, b >= 0 ? f->buf[b].state : -1, in.flags);
	fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 6, NULL);
	ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_ATTACH, c.ptr);
	fz_check(f, "imp ATTACH", ret, ok_attach);
	if (!c.mutated && b >= 0 && (in.flags == 0 ||
				     in.flags == BAR_DMABUF_IMP_ATTACH_PIN)) {
		if (f->buf[b].state == FZ_LIVE && ret)
			fz_fail(f, "ATTACH to a live buffer: %s", strerror(-ret));
		if (f->buf[b].state == FZ_REVOKED && ret != -ENODEV)
			fz_fail(f, "ATTACH to a revoked buffer: %d (rule 1)", ret);
	}
	if (ret)
		return;
	if (!fz_result(f, &c, &out, sizeof(out))) {
		fz_fail(f, "ATTACH: success without a written answer");
		return;
	}
	fz_note(f, " h %u", out.out_handle);
	fz_add_att(f, imp, out.out_handle, c.mutated ? -1 : b);
}

static void fz_op_handle_cmd(struct fz *f)
{
	static const struct {
		unsigned long cmd;
		const char *name;
		const int *ok;
	} hc[] = {
		{ BAR_DMABUF_IMP_IOCTL_DETACH, "imp DETACH", ok_detach },
		{ BAR_DMABUF_IMP_IOCTL_MAP, "imp MAP", ok_map },
		{ BAR_DMABUF_IMP_IOCTL_MAP, "imp MAP", ok_map },
		{ BAR_DMABUF_IMP_IOCTL_UNMAP, "imp UNMAP", ok_unmap },
		{ BAR_DMABUF_IMP_IOCTL_VUNMAP, "imp VUNMAP", ok_vunmap },
	};
	struct bar_dmabuf_imp_handle in = { .size = sizeof(in) };
	unsigned int k = rn(f, ARRAY_SIZE(hc));
	int a, imp = fz_imp_of_att(f, &a), ret;
	struct fz_call c;

	in.handle = fz_handle(f, imp, &a);
	fz_note(f, " imp%d h %u", imp, in.handle);
	fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 6, NULL);
	ret = fz_ioctl(f->imp[imp], hc[k].cmd, c.ptr);
	fz_check(f, hc[k].name, ret, hc[k].ok);
	if (!ret && hc[k].cmd == BAR_DMABUF_IMP_IOCTL_VUNMAP) {
		int v;

		for (v = 0; v < FZ_VMAPS; v++)
			if (f->vmap[v].h == in.handle && f->vmap[v].imp == imp)
				f->vmap[v].h = 0;
		if (f->heapfd < 0)
			fz_fail(f, "VUNMAP of a vmap nobody made");
	}
	if (!ret && hc[k].cmd == BAR_DMABUF_IMP_IOCTL_DETACH && a >= 0 &&
	    !c.mutated)
		fz_drop_att(f, a);
}

static void fz_fix_behaviour(void *p)
{
	struct bar_dmabuf_imp_behaviour *b = p;

	if (b->late_read_window_ms <= 60000)
		b->late_read_window_ms %= 30;
	if (b->late_read_interval_ms <= 10000)
		b->late_read_interval_ms = b->late_read_interval_ms % 10;
}

static bool fz_debug_dmabuf;

static void fz_fix_behaviour_dbg(void *p)
{
	struct bar_dmabuf_imp_behaviour *b = p;

	fz_fix_behaviour(p);
	/*
	 * A SYNC-mode callback unmaps before the write after invalidate, which
	 * then faults on purpose: that fault is the importer's, not ours.
	 */
	if (b->unmap_mode == BAR_DMABUF_IMP_UNMAP_SYNC)
		b->flags &= ~BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE;
	/* CONFIG_DMABUF_DEBUG: the core's copy of a table would leak */
	if (fz_debug_dmabuf)
		b->flags &= ~BAR_DMABUF_IMP_DETACH_WITHOUT_UNMAP;
}

static void fz_op_behaviour(struct fz *f)
{
	struct bar_dmabuf_imp_behaviour in = { .size = sizeof(in) };
	int a, imp = fz_imp_of_att(f, &a), ret;
	struct fz_call c;

	in.handle = fz_handle(f, imp, &a);
	in.unmap_mode = rn(f, 4);
	in.flags = rn(f, 8);
	in.late_read_window_ms = rn(f, 3) ? 0 : rn(f, 30);
	in.late_read_interval_ms = 1 + rn(f, 9);
	if (chance(f, 8))
		in.late_read_window_ms = 60001;
	if (chance(f, 8))
		in.late_read_interval_ms = rn(f, 2) ? 0 : 10001;
	fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 6, fz_fix_behaviour_dbg);
	memcpy(&in, f->tmp, sizeof(in));
	fz_note(f, " imp%d h %u mode %u flags %#x window %u/%u", imp, in.handle,
		in.unmap_mode, in.flags, in.late_read_window_ms,
		in.late_read_interval_ms);
	ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, c.ptr);
	fz_check(f, "imp SET_BEHAVIOUR", ret, ok_behaviour);
}

static void fz_fix_submit(void *p)
{
	struct bar_dmabuf_imp_submit *s = p;

	if (s->delay_ms <= 60000)
		s->delay_ms %= 4;
}

static void fz_op_submit(struct fz *f)
{
	struct bar_dmabuf_imp_submit in = { .size = sizeof(in) }, out;
	int a, imp = fz_imp_of_att(f, &a), ret;
	char *data = f->area + FZ_PG;	/* never the struct's own page */
	struct fz_call c;
	__u64 blen = 0;

	in.handle = fz_handle(f, imp, &a);
	if (a >= 0 && f->att[a].buf >= 0)
		blen = f->buf[f->att[a].buf].len;
	in.flags = rn(f, 4) ? rn(f, 2) : rn(f, 16);
	if ((in.flags & BAR_DMABUF_IMP_JOB_SYNC_FILE) && chance(f, 2))
		in.flags |= BAR_DMABUF_IMP_JOB_SYNC_FILE;
	in.usage = rn(f, 3);
	in.length = 1 + rn(f, 256);
	in.offset = blen > in.length ? rn(f, blen - in.length) : 0;
	in.delay_ms = rn(f, 4);
	in.data_ptr = (unsigned long)data;
	in.out_sync_fd = -1;
	switch (rn(f, 10)) {
	case 0:
		in.offset = blen - in.length + 1 + rn(f, 8);	/* past the end */
		break;
	case 1:
		in.offset = -in.length + rn(f, 2);		/* wrap */
		break;
	case 2:
		in.length = rn(f, 2) ? 0 : BAR_DMABUF_IMP_MAX_JOB + 1;
		break;
	case 3:
		in.data_ptr = (unsigned long)(f->area + 2 * FZ_PG - 16);
		break;
	case 4:
		in.delay_ms = 60001;
		break;
	case 5:
		in.usage = 3 + rn(f, 10);
		break;
	}
	fz_prepare(f, &c, &in, sizeof(in), true,
		   offsetof(typeof(in), data_ptr), 6, fz_fix_submit);
	memcpy(&in, f->tmp, sizeof(in));
	fz_note(f, " imp%d h %u flags %#x usage %u off %llu len %llu delay %u",
		imp, in.handle, in.flags, in.usage,
		(unsigned long long)in.offset, (unsigned long long)in.length,
		in.delay_ms);
	ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_SUBMIT, c.ptr);
	fz_check(f, "imp SUBMIT", ret, ok_submit);
	if (ret)
		return;
	if (!fz_result(f, &c, &out, sizeof(out))) {
		fz_fail(f, "SUBMIT: success without a written answer");
		return;
	}
	fz_note(f, " job %llu", (unsigned long long)out.out_job);
	fz_add_job(f, imp, out.out_job,
		   out.flags & (BAR_DMABUF_IMP_JOB_HOLD |
				BAR_DMABUF_IMP_JOB_UNTIL_RESUME));
	if (out.flags & BAR_DMABUF_IMP_JOB_SYNC_FILE)
		fz_add_sync(f, out.out_sync_fd);
}

static void fz_op_signal(struct fz *f)
{
	struct bar_dmabuf_imp_signal in = { .size = sizeof(in) };
	int j = fz_pick_job(f), imp = j >= 0 ? f->job[j].imp : rn(f, FZ_IMPS);
	struct fz_call c;
	int ret;

	in.job = j >= 0 && !chance(f, 8) ? f->job[j].id : rnd(f) % 4096;
	fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 6, NULL);
	fz_note(f, " imp%d job %llu", imp, (unsigned long long)in.job);
	ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_SIGNAL, c.ptr);
	fz_check(f, "imp SIGNAL", ret, ok_signal);
	if (!ret && j >= 0 && in.job == f->job[j].id && !c.mutated)
		f->job[j].held = false;
}

static void fz_fix_wait(void *p)
{
	struct bar_dmabuf_imp_wait_job *w = p;

	w->timeout_ms %= 11;
}

static void fz_op_wait_job(struct fz *f)
{
	struct bar_dmabuf_imp_wait_job in = { .size = sizeof(in) };
	int j = fz_pick_job(f), imp = j >= 0 ? f->job[j].imp : rn(f, FZ_IMPS);
	struct fz_call c;
	int ret;

	in.job = j >= 0 && !chance(f, 8) ? f->job[j].id : rnd(f) % 4096;
	in.timeout_ms = rn(f, 11);
	in.data_ptr = rn(f, 2) ? (unsigned long)(f->area + FZ_PG) : 0;
	in.data_len = rn(f, 4) ? FZ_PG : rn(f, 300);
	if (chance(f, 8))
		in.data_ptr = 0xffff800000000000ULL;
	fz_prepare(f, &c, &in, sizeof(in), true,
		   offsetof(typeof(in), data_ptr), 6, fz_fix_wait);
	fz_note(f, " imp%d job %llu", imp, (unsigned long long)in.job);
	ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_WAIT_JOB, c.ptr);
	fz_check(f, "imp WAIT_JOB", ret, ok_wait);
	if (!ret && j >= 0 && in.job == f->job[j].id && !c.mutated)
		f->job[j].used = false;
}

static void fz_fix_wait_event(void *p)
{
	struct bar_dmabuf_imp_wait_event *w = p;

	w->timeout_ms %= 6;
}

static void fz_op_log(struct fz *f)
{
	int a, imp = fz_imp_of_att(f, &a), ret;
	struct fz_call c;

	if (rn(f, 2)) {
		struct bar_dmabuf_imp_read_log in = { .size = sizeof(in) };

		in.handle = rn(f, 6) ? fz_handle(f, imp, &a) : 0;
		a = -1;
		in.max_events = rn(f, 4) ? 4096 / sizeof(struct bar_dmabuf_imp_event) :
					   rn(f, 8);
		in.events_ptr = (unsigned long)(f->area + FZ_PG);
		if (chance(f, 8))
			in.events_ptr = (unsigned long)(f->area + 2 * FZ_PG - 8);
		fz_prepare(f, &c, &in, sizeof(in), true,
			   offsetof(typeof(in), events_ptr), 6, NULL);
		ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_READ_LOG, c.ptr);
		fz_check(f, "imp READ_LOG", ret, ok_readlog);
	} else {
		struct bar_dmabuf_imp_wait_event in = { .size = sizeof(in) };

		in.handle = rn(f, 6) ? fz_handle(f, imp, &a) : 0;
		in.type = rn(f, 22);
		in.count = rn(f, 4);
		in.timeout_ms = rn(f, 6);
		fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 6, fz_fix_wait_event);
		ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_WAIT_EVENT,
			       c.ptr);
		fz_check(f, "imp WAIT_EVENT", ret, ok_waitev);
	}
}

static void fz_vunmap(struct fz *f, int k);

static void fz_op_imp_misc(struct fz *f)
{
	int imp = rn(f, FZ_IMPS), b, ret;
	struct fz_call c;

	switch (rn(f, 3)) {
	case 0: {
		struct bar_dmabuf_imp_counters in = { .size = sizeof(in) };

		fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 2, NULL);
		ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_COUNTERS, c.ptr);
		fz_check(f, "imp COUNTERS", ret, ok_counters);
		break;
	}
	case 1: {
		struct bar_dmabuf_imp_vmap in = { .size = sizeof(in) };

		in.dmabuf_fd = chance(f, 4) ? f->heapfd : fz_any_fd(f, &b);
		fz_prepare(f, &c, &in, sizeof(in), true, FZ_NO_PTR, 4, NULL);
		ret = fz_ioctl(f->imp[imp], BAR_DMABUF_IMP_IOCTL_VMAP, c.ptr);
		fz_check(f, "imp VMAP", ret, ok_vmap);
		if (!ret) {
			struct bar_dmabuf_imp_vmap out;
			int k = rn(f, FZ_VMAPS);

			/* bar_dmabuf has no vmap: only the heap's may work */
			if (f->heapfd < 0 || !fz_result(f, &c, &out, sizeof(out)))
				fz_fail(f, "VMAP succeeded");
			else if (out.out_length != FZ_PG * 4)
				fz_fail(f, "VMAP: the heap buffer has %llu bytes",
					(unsigned long long)out.out_length);
			if (f->vmap[k].h)
				fz_vunmap(f, k);
			f->vmap[k].imp = imp;
			f->vmap[k].h = out.out_handle;
		}
		break;
	}
	default: {
		struct bar_dmabuf_imp_vmap_rw in = { .size = sizeof(in) };

		int k = rn(f, FZ_VMAPS);
		bool known = f->vmap[k].h && !chance(f, 4);

		in.handle = known ? f->vmap[k].h : rn(f, 16);
		if (known)
			imp = f->vmap[k].imp;
		in.flags = rn(f, 2) ? BAR_DMABUF_IMP_VMAP_RW_WRITE : 0;
		in.offset = rn(f, 2) ? rn(f, 4 * FZ_PG) : 4 * FZ_PG - rn(f, 64);
		in.length = 1 + rn(f, 64);
		in.data_ptr = (unsigned long)(f->area + FZ_PG);
		fz_prepare(f, &c, &in, sizeof(in), true,
			   offsetof(typeof(in), data_ptr), 3, NULL);
		ret = fz_ioctl_bounded(f->imp[imp], BAR_DMABUF_IMP_IOCTL_VMAP_RW,
				       c.ptr);
		fz_check(f, "imp VMAP_RW", ret, ok_vmap_rw);
		if (!ret && !known && !c.mutated)
			fz_note(f, " (a vmap of another call)");
		break;
	}
	}
}

/* A raw importer command with garbage, or an unknown one. */
static void fz_op_imp_raw(struct fz *f)
{
	unsigned long cmd = rn(f, 2) ? _IO(BAR_DMABUF_IMP_TYPE, 14 + rn(f, 50)) :
				      _IOW(BAR_DMABUF_IMP_TYPE, rn(f, 14), __u64);
	int ret;

	*(__u32 *)f->area = rn(f, 128);
	ret = fz_ioctl(f->imp[rn(f, FZ_IMPS)], cmd, f->area);
	fz_check(f, "imp unknown command", ret, ok_notty);
}

static void fz_vunmap(struct fz *f, int k)
{
	struct bar_dmabuf_imp_handle h = { .size = sizeof(h),
					   .handle = f->vmap[k].h };

	ioctl(f->imp[f->vmap[k].imp], BAR_DMABUF_IMP_IOCTL_VUNMAP, &h);
	f->vmap[k].h = 0;
}

/*
 * An O_PATH open of a buffer's /proc/self/fd entry keeps its dentry (and
 * so the buffer) after every fd and the file are gone; or close one.
 */
static void fz_op_opath(struct fz *f)
{
	int k = rn(f, FZ_PATHS), b = fz_pick_buf(f);
	char p[64];

	bd_close(&f->path[k]);
	if (b < 0 || chance(f, 3))
		return;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", f->buf[b].fd);
	f->path[k] = open(p, O_PATH | O_CLOEXEC);
	fz_note(f, " O_PATH of buf %d: %d", b, f->path[k]);
	if (f->path[k] < 0)
		fz_fail(f, "O_PATH open of a buffer: %s", strerror(errno));
}

/* Read what the kernel shows about buffers: debugfs, bufinfo, fdinfo. */
static void fz_op_peek(struct fz *f)
{
	char p[128], *text = f->area + FZ_PG;
	int b, fd = fz_any_fd(f, &b);
	long n;

	switch (rn(f, 3)) {
	case 0:
		snprintf(p, sizeof(p), BD_DEBUGFS "/%s/buffers", f->bdf[0]);
		break;
	case 1:
		snprintf(p, sizeof(p), "/sys/kernel/debug/dma_buf/bufinfo");
		break;
	default:
		snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
		break;
	}
	n = bd_read_file(p, text, FZ_PG);
	fz_note(f, " %s: %ld", p, n);
	if (n >= 0)
		f->call_ok = true;
}

/* A child touches the mappings it inherited and exits: its copies go. */
static void fz_op_fork(struct fz *f)
{
	int m = fz_pick_map(f), st = 0;
	pid_t pid;

	if (m < 0 || !chance(f, 4) || f->map[m].dontfork)
		return;
	pid = fork();
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		__atomic_load_n(f->map[m].addr, __ATOMIC_RELAXED);
		_exit(0);
	}
	if (pid < 0) {
		fz_fail(f, "fork: %s", strerror(errno));
		return;
	}
	waitpid(pid, &st, 0);
	fz_note(f, " child of map %d (buf %d state %d): status %#x", m,
		f->map[m].buf, f->buf[f->map[m].buf].state, st);
	f->call_ok = true;
	if (WIFSIGNALED(st) && WTERMSIG(st) != SIGBUS)
		fz_fail(f, "a child touching a mapping died of signal %d",
			WTERMSIG(st));
	else if (f->buf[f->map[m].buf].state == FZ_LIVE && st)
		fz_fail(f, "a child touching a live mapping: status %#x", st);
	else if (f->buf[f->map[m].buf].state == FZ_REVOKED &&
		 !(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS))
		fz_fail(f, "a child touching a revoked mapping: no SIGBUS");
}

static void fz_op_close(struct fz *f)
{
	int b = fz_pick_buf(f);

	if (b >= 0) {
		fz_note(f, " buf %d fd %d", b, f->buf[b].fd);
		fz_close_buf(f, b);
	}
}

/* ---- the loop ---- */

struct fz_op {
	const char *name;
	void (*fn)(struct fz *f);
	unsigned int weight;
};

static const struct fz_op fz_ops[] = {
	{ "info", fz_op_info, 2 },
	{ "export", fz_op_export, 12 },
	{ "revoke", fz_op_revoke, 6 },
	{ "restore", fz_op_restore, 6 },
	{ "wrong-fd", fz_op_wrong_fd, 4 },
	{ "node-reopen", fz_op_node_reopen, 1 },
	{ "close", fz_op_close, 4 },
	{ "mmap", fz_op_mmap, 6 },
	{ "touch", fz_op_touch, 8 },
	{ "vma", fz_op_vma, 3 },
	{ "sync", fz_op_sync, 4 },
	{ "set-name", fz_op_set_name, 2 },
	{ "sync-file", fz_op_sync_file, 4 },
	{ "fd-misc", fz_op_fd_misc, 3 },
	{ "attach", fz_op_attach, 10 },
	{ "handle", fz_op_handle_cmd, 8 },
	{ "behaviour", fz_op_behaviour, 4 },
	{ "submit", fz_op_submit, 10 },
	{ "signal", fz_op_signal, 4 },
	{ "wait-job", fz_op_wait_job, 4 },
	{ "log", fz_op_log, 2 },
	{ "imp-misc", fz_op_imp_misc, 2 },
	{ "imp-raw", fz_op_imp_raw, 1 },
	{ "opath", fz_op_opath, 2 },
	{ "peek", fz_op_peek, 1 },
	{ "fork", fz_op_fork, 1 },
};

static void fz_one_call(struct fz *f)
{
	unsigned int total = 0, r, i;

	for (i = 0; i < ARRAY_SIZE(fz_ops); i++)
		total += fz_ops[i].weight;
	r = rn(f, total);
	for (i = 0; i < ARRAY_SIZE(fz_ops); i++) {
		if (r < fz_ops[i].weight)
			break;
		r -= fz_ops[i].weight;
	}
	if (chance(f, 300)) {
		fz_reopen_imp(f, rn(f, FZ_IMPS));
		return;
	}
	f->calls[i]++;
	fz_note(f, "%s", fz_ops[i].name);
	f->call_ok = false;
	fz_ops[i].fn(f);
	if (f->call_ok) {
		f->ok_op[i]++;
		f->ok++;
	}
}

static void fz_dump_jobs(struct fz *f)
{
	int i;

	for (i = 0; i < FZ_JOBS; i++)
		if (f->job[i].used)
			fprintf(stderr, "# job imp%d %llu held %d since %lu\n",
				f->job[i].imp, (unsigned long long)f->job[i].id,
				f->job[i].held, f->job[i].since);
}

/* Print the timeline of every attachment that logged a DMA fault. */
static void fz_dump_faults(struct fz *f)
{
	struct imp_log log;
	__u32 h;
	int i;

	for (i = 0; i < FZ_IMPS; i++) {
		for (h = 1; h < 256; h++) {
			if (imp_read_log(f->imp[i], h, &log))
				continue;
			if (imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT) ||
			    imp_log_count(&log, BAR_DMABUF_IMP_EV_WATCHDOG)) {
				fprintf(stderr, "# imp%d attachment %u:\n", i, h);
				imp_log_dump(&log);
			}
			imp_log_free(&log);
		}
	}
}

/* No access of the importer ever met a torn-down address (rule 5). */
static void fz_check_counters(struct fz *f,
			      const struct bar_dmabuf_imp_counters *c0)
{
	struct bar_dmabuf_imp_counters c;
	int ret = imp_counters(f->e->impfd, &c);

	if (ret)
		fz_fail(f, "COUNTERS: %s", strerror(-ret));
	else if (c.out_dma_faults != c0->out_dma_faults)
		fz_fail(f, "the importer saw a DMA fault"), fz_dump_faults(f);
	else if (c.out_watchdog_expired != c0->out_watchdog_expired)
		fz_fail(f, "a held fence met the importer's watchdog"),
		fz_dump_faults(f), fz_dump_jobs(f);
}

/*
 * The harness keeps its test records in memory shared with its parent,
 * which walks them (name, links) after this test ends: a call that wrote
 * one (a user pointer the kernel followed to the wrong place) would kill
 * the parent with no report. Which of their links close a ring depends on
 * the order the constructors ran in: follow both until a record repeats.
 */
static bool fz_record_add(struct fz *f, const struct __test_metadata *t)
{
	int i;

	for (i = 0; i < f->nr_rec; i++)
		if (f->rec[i].t == t)
			return false;
	if (f->nr_rec == FZ_RECORDS)
		return false;
	f->rec[f->nr_rec++] = (struct fz_record){
		.t = t, .name = t->name, .fixture = t->fixture,
		.prev = t->prev, .next = t->next,
	};
	return true;
}

static void fz_records_save(struct fz *f)
{
	const struct __test_metadata *t;

	f->nr_rec = 0;
	for (t = f->md; t && fz_record_add(f, t); t = t->next)
		;
	for (t = f->md->prev; t && fz_record_add(f, t); t = t->prev)
		;
}

static void fz_check_records(struct fz *f)
{
	const struct fz_record *r;
	int i;

	for (i = 0; i < f->nr_rec; i++) {
		r = &f->rec[i];
		if (r->t->name != r->name || r->t->fixture != r->fixture ||
		    r->t->prev != r->prev || r->t->next != r->next) {
			fz_fail(f, "the harness's record of test %s was overwritten",
				r->name);
			return;
		}
	}
}

/* Let go of everything the run made; the device's buffers end live. */
static void fz_wind_down(struct fz *f)
{
	int i;

	f->idx = ~0UL;
	for (i = 0; i < FZ_JOBS; i++)
		if (f->job[i].used && f->job[i].held)
			fz_sweep_held(f);
	for (i = 0; i < FZ_JOBS; i++)
		if (f->job[i].used)
			fz_finish_job(f, i);
	for (i = 0; i < FZ_MAPS; i++) {
		if (!f->map[i].addr)
			continue;
		munmap(f->map[i].addr, f->map[i].len);
		f->map[i].addr = NULL;
		f->buf[f->map[i].buf].users--;
		fz_buf_unuse(f, f->map[i].buf);
	}
	for (i = 0; i < FZ_VMAPS; i++)
		if (f->vmap[i].h)
			fz_vunmap(f, i);
	for (i = 0; i < FZ_SYNCS; i++)
		bd_close(&f->sync[i]);
	for (i = 0; i < FZ_PATHS; i++)
		bd_close(&f->path[i]);
	for (i = 0; i < FZ_IMPS; i++)
		bd_close(&f->imp[i]);
	for (i = 0; i < FZ_ATTS; i++)
		if (f->att[i].used)
			fz_drop_att(f, i);
	for (i = 0; i < FZ_BUFS; i++)
		if (f->buf[i].used)
			fz_close_buf(f, i);
}

/* After the run: export, mmap, attach, map, a job reading the right bytes. */
static void fz_device_works(struct __test_metadata *_metadata,
			    struct bd_env *e)
{
	unsigned char want[256], got[256];
	int buf, impfd, status = 1;
	__u64 job = 0;
	__u32 h = 0;
	char *p;
	int i;

	for (i = 0; i < 256; i++)
		want[i] = i ^ 0x5a;
	ASSERT_EQ(0, bd_export_one(e->devfd, e->bar, 0, 2 * FZ_PG, &buf));
	p = mmap(NULL, 2 * FZ_PG, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
	ASSERT_NE(MAP_FAILED, p);
	memcpy(p + FZ_PG + 100, want, sizeof(want));
	struct dma_buf_sync s = { .flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE };

	EXPECT_EQ(0, ioctl(buf, DMA_BUF_IOCTL_SYNC, &s));
	impfd = imp_open();
	ASSERT_LE(0, impfd);
	ASSERT_EQ(0, imp_attach(impfd, buf, 0, &h));
	ASSERT_EQ(0, imp_map(impfd, h, NULL));
	ASSERT_EQ(0, imp_submit(impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ,
				FZ_PG + 100, sizeof(got), NULL, 0, &job, NULL));
	ASSERT_EQ(0, imp_wait_job(impfd, job, 10000, got, sizeof(got), &status,
				  NULL));
	EXPECT_EQ(0, status);
	EXPECT_EQ(0, memcmp(want, got, sizeof(got)));
	EXPECT_EQ(0, bd_revoke(e->devfd, buf, 0, 5000, NULL));
	EXPECT_EQ(-ENODEV, imp_map(impfd, h, NULL));
	EXPECT_EQ(0, bd_restore(e->devfd, buf, 0, NULL));
	EXPECT_EQ(0, imp_map(impfd, h, NULL));
	EXPECT_EQ(0, imp_detach(impfd, h));
	EXPECT_EQ(0, memcmp(p + FZ_PG + 100, want, sizeof(want)));
	munmap(p, 2 * FZ_PG);
	close(impfd);
	close(buf);
}

FIXTURE(fuzz)
{
	bool skipped;
	struct bd_env e;
	struct bd_param_saved timeout;
	struct fz *f;
};

FIXTURE_SETUP(fuzz)
{
	memset(&self->timeout, 0, sizeof(self->timeout));
	self->f = NULL;
	if (!bd_fixture_open(_metadata, &self->e, FZ_AREA_PAGES * FZ_PG,
			     &self->skipped))
		return;
	/* the default wait (REVOKE of 0 ms, the last close) is kept short */
	ASSERT_EQ(0, bd_param_override(&self->timeout, "bar_dmabuf",
				       "revoke_timeout_ms", "100"));
}

FIXTURE_TEARDOWN(fuzz)
{
	if (self->f) {
		fz_wind_down(self->f);
		bd_close(&self->f->dev[1]);
		bd_close(&self->f->nullfd);
		bd_close(&self->f->heapfd);
		bd_close(&self->f->pipefd[0]);
		bd_close(&self->f->pipefd[1]);
		munmap(self->f->area, FZ_AREA_LEN);
		free(self->f);
	}
	bd_param_restore(&self->timeout);
	bd_env_close(&self->e);
}

/* A dma-buf of the system heap (4 pages), or -1 without one. */
static int fz_heap_buffer(void)
{
	struct dma_heap_allocation_data a = {
		.len = 4 * FZ_PG, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	int hfd = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);

	if (hfd < 0)
		return -1;
	if (ioctl(hfd, DMA_HEAP_IOCTL_ALLOC, &a))
		a.fd = -1;
	close(hfd);
	return a.fd;
}

static struct fz *fz_setup(struct __test_metadata *_metadata,
			   struct bd_env *e, __u64 seed)
{
	struct bar_dmabuf_info info;
	const char *bdf2 = bd_env("BAR_DMABUF_BDF2");
	const char *dbg = bd_env("BAR_DMABUF_DMABUF_DEBUG");
	struct fz *f = calloc(1, sizeof(*f));
	int i;

	if (!f)
		return NULL;
	f->md = _metadata;
	f->e = e;
	f->seed = seed;
	f->trace = bd_env("BAR_DMABUF_FUZZ_TRACE");
	f->debug_dmabuf = dbg && !strcmp(dbg, "y");
	fz_debug_dmabuf = f->debug_dmabuf;
	f->dev[0] = e->devfd;
	f->bdf[0] = e->bdf;
	f->bar[0] = e->bar;
	f->barlen[0] = e->info.out_bars[e->bar].size;
	f->dev[1] = bdf2 ? bd_open_dev(bdf2) : -1;
	f->bdf[1] = bdf2;
	if (f->dev[1] >= 0 && bd_info(f->dev[1], &info))
		bd_close(&f->dev[1]);
	if (f->dev[1] >= 0) {
		f->bar[1] = bd_pick_mem_bar(&info, FZ_AREA_PAGES * FZ_PG);
		if (f->bar[1] < 0)
			bd_close(&f->dev[1]);
		else
			f->barlen[1] = info.out_bars[f->bar[1]].size;
	}
	for (i = 0; i < FZ_IMPS; i++)
		f->imp[i] = imp_open();
	for (i = 0; i < FZ_SYNCS; i++)
		f->sync[i] = -1;
	for (i = 0; i < FZ_PATHS; i++)
		f->path[i] = -1;
	f->heapfd = fz_heap_buffer();
	f->nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (pipe2(f->pipefd, O_CLOEXEC)) {
		f->pipefd[0] = -1;
		f->pipefd[1] = -1;
	}
	f->area = mmap(NULL, FZ_AREA_LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->area == MAP_FAILED) {
		free(f);
		return NULL;
	}
	f->no_madvise = madvise(f->area, FZ_PG, MADV_NORMAL) != 0;
	if (mprotect(f->area + 2 * FZ_PG, FZ_PG, PROT_NONE) ||
	    mprotect(f->area + 3 * FZ_PG, FZ_PG, PROT_READ) ||
	    mprotect(f->area + 4 * FZ_PG, FZ_PG, PROT_NONE)) {
		munmap(f->area, FZ_AREA_LEN);
		free(f);
		return NULL;
	}
	fz_records_save(f);
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = fz_alarm }, NULL);
	signal(SIGBUS, fz_sigbus);
	signal(SIGSEGV, fz_sigbus);
	return f;
}

static __u64 fz_env_u64(const char *name, __u64 def)
{
	const char *v = bd_env(name);

	return v ? strtoull(v, NULL, 0) : def;
}

/*
 * Run @calls calls of seed @seed; then wind down and check that the
 * device works and nothing is left.
 */
/* The second thread of a racing run: revoke all, restore all, export. */
struct fz_racer {
	const char *bdf;
	int bar;
	bool stop;		/* __atomic */
	unsigned long rounds;
	char bad[128];		/* its first unexpected errno */
	pthread_t thread;
};

static void *fz_racer_fn(void *arg)
{
	struct fz_racer *r = arg;
	sigset_t set;
	int fd, buf, ret;

	/* the main thread's bounded waits are its own */
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	fd = bd_open_dev(r->bdf);
	if (fd < 0) {
		snprintf(r->bad, sizeof(r->bad), "open: %s", strerror(-fd));
		return NULL;
	}
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED) && !r->bad[0]) {
		ret = bd_revoke(fd, -1, BAR_DMABUF_ALL_BUFFERS, 1 + r->rounds % 8,
				NULL);
		if (ret && ret != -ETIMEDOUT)
			snprintf(r->bad, sizeof(r->bad), "revoke all: %d", ret);
		usleep(500 + r->rounds % 7 * 300);
		ret = bd_restore(fd, -1, BAR_DMABUF_ALL_BUFFERS, NULL);
		if (ret && ret != -EBUSY)
			snprintf(r->bad, sizeof(r->bad), "restore all: %d", ret);
		if (r->rounds % 4 == 0) {
			ret = bd_export_one(fd, r->bar, r->rounds % 16 * FZ_PG,
					    FZ_PG, &buf);
			if (ret)
				snprintf(r->bad, sizeof(r->bad), "export: %d",
					 ret);
			else
				close(buf);
		}
		usleep(r->rounds % 5 * 400);
		r->rounds++;
	}
	close(fd);
	return NULL;
}

static void fz_run(struct __test_metadata *_metadata,
		   struct _test_data_fuzz *self,
		   __u64 seed, unsigned long calls, bool racing)
{
	struct fz_racer racer = { .bdf = self->e.bdf, .bar = self->e.bar };
	struct bar_dmabuf_imp_counters c0, c1;
	int fds0, fds1, nbufs0, ref0, iref0;
	char line[512];
	__u64 t0 = bd_now_ns();
	struct fz *f;
	unsigned long i;

	nbufs0 = bd_debugfs_nr_buffers(self->e.bdf);
	ref0 = bd_module_refcnt("bar_dmabuf");
	iref0 = bd_module_refcnt(BD_IMP_MODULE);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));
	fds0 = bd_nr_fds();
	f = fz_setup(_metadata, &self->e, seed);
	self->f = f;
	ASSERT_NE(NULL, f);
	f->racing = racing;
	if (racing)
		ASSERT_EQ(0, pthread_create(&racer.thread, NULL, fz_racer_fn,
					    &racer));
	fprintf(stderr, "# fuzz seed %llu, %lu calls%s\n",
		(unsigned long long)seed, calls, racing ? ", racing" : "");
	fprintf(stderr, "# replay: BAR_DMABUF_FUZZ_SEED=%llu BAR_DMABUF_FUZZ_CALLS=%lu\n",
		(unsigned long long)seed, racing ? calls * 4 : calls);

	for (i = 0; i < calls && !f->fails; i++) {
		fz_begin_call(f, i);
		f->desc[0] = 0;
		fz_sweep_held(f);
		if (i && i % FZ_REOPEN_EVERY == 0)
			fz_reopen_imp(f, i / FZ_REOPEN_EVERY % FZ_IMPS);
		fz_one_call(f);
		fz_check_counters(f, &c0);
		fz_check_records(f);
		if (f->trace)
			fprintf(stderr, "# %lu: %s\n", i, f->desc);
		memcpy(f->ring[i % 16], f->desc, sizeof(f->desc));
		if ((i + 1) % FZ_KMSG_EVERY == 0 && self->e.kfd >= 0 &&
		    bd_kmsg_find_problem(self->e.kfd, line, sizeof(line)) > 0)
			fz_fail(f, "kernel log, calls %lu-%lu: %s",
				i + 1 - FZ_KMSG_EVERY, i, line);
		if ((i + 1) % 5000 == 0)
			fprintf(stderr, "# %lu calls, %lld ms\n", i + 1,
				bd_ms_between(t0, bd_now_ns()));
	}
	fprintf(stderr, "# %lu calls in %lld ms, %lu ok;", i,
		bd_ms_between(t0, bd_now_ns()), f->ok);
	for (i = 0; i < ARRAY_SIZE(fz_ops); i++)
		fprintf(stderr, " %s %lu/%lu", fz_ops[i].name, f->ok_op[i],
			f->calls[i]);
	fprintf(stderr, "\n");
	if (racing) {
		__atomic_store_n(&racer.stop, true, __ATOMIC_RELAXED);
		pthread_join(racer.thread, NULL);
		fprintf(stderr, "# the racer did %lu rounds\n", racer.rounds);
		EXPECT_STREQ("", racer.bad);
	}
	EXPECT_EQ(0, f->fails) TH_LOG("first: %s", f->first_bad);

	fz_wind_down(f);
	bd_close(&f->dev[1]);
	bd_close(&f->nullfd);
	bd_close(&f->heapfd);
	bd_close(&f->pipefd[0]);
	bd_close(&f->pipefd[1]);
	munmap(f->area, FZ_AREA_LEN);
	self->e.devfd = f->dev[0];
	free(f);
	self->f = NULL;

	/* whatever the run left revoked comes back */
	EXPECT_EQ(0, bd_restore(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS,
				NULL));
	fds1 = bd_nr_fds();
	EXPECT_EQ(fds0, fds1) TH_LOG("fds before %d, after %d", fds0, fds1);
	EXPECT_EQ(nbufs0, bd_debugfs_nr_buffers(self->e.bdf));
	EXPECT_EQ(ref0, bd_module_refcnt("bar_dmabuf"));
	EXPECT_EQ(iref0, bd_module_refcnt(BD_IMP_MODULE));
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_attachments, c1.out_attachments);
	EXPECT_EQ(c0.out_mappings, c1.out_mappings);
	EXPECT_EQ(c0.out_jobs_pending, c1.out_jobs_pending);
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults);
	EXPECT_EQ(c0.out_watchdog_expired, c1.out_watchdog_expired);

	fz_device_works(_metadata, &self->e);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* BAR_DMABUF_FUZZ_SEED, or a new seed; BAR_DMABUF_FUZZ_CALLS, or the default */
TEST_F_TIMEOUT(fuzz, random_calls, 86400)
{
	__u64 seed = fz_env_u64("BAR_DMABUF_FUZZ_SEED",
				(__u64)time(NULL) << 20 ^ getpid());
	unsigned long calls = fz_env_u64("BAR_DMABUF_FUZZ_CALLS", 20000);

	if (self->skipped)
		return;
	fz_run(_metadata, self, seed, calls, false);
}

/*
 * The same with a second thread revoking and restoring every buffer and
 * exporting its own all along: the model knows no buffer's state then, so
 * only the allow-lists (RESTORE may meet the other's revoke: EBUSY) and
 * the end state are checked. Replays only as far as the races allow.
 */
TEST_F_TIMEOUT(fuzz, random_calls_racing_revoke, 86400)
{
	__u64 seed = fz_env_u64("BAR_DMABUF_FUZZ_SEED",
				(__u64)time(NULL) << 20 ^ getpid() ^ 1);
	unsigned long calls = fz_env_u64("BAR_DMABUF_FUZZ_CALLS", 20000) / 4;

	if (self->skipped)
		return;
	fz_run(_metadata, self, seed, calls, true);
}

/*
 * Found by the racing run (seed 21, debug kernel): an importer that never
 * unmaps, remapping on every restore, piled up mappings of one BAR page
 * until DMA-API debug WARNed "exceeded 7 overlapping mappings of
 * cacheline". Eight importers mapping one buffer is ordinary use, and a
 * BAR has no CPU cache line to keep coherent. Both kinds of buffer: one
 * range (the kernel's P2P helper on 7.x) and two (dma_map_resource()).
 */
TEST_F_TIMEOUT(fuzz, nine_importers_map_one_bar_page, 120)
{
	struct bar_dmabuf_range r[2] = {
		{ .offset = 0, .length = FZ_PG },
		{ .offset = 2 * FZ_PG, .length = FZ_PG },
	};
	__u32 h[2][9];
	int buf[2], i, k;

	if (self->skipped)
		return;
	for (k = 0; k < 2; k++) {
		ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, r, k + 1,
				       O_RDWR | O_CLOEXEC, &buf[k], NULL));
		for (i = 0; i < 9; i++) {
			ASSERT_EQ(0, imp_attach(self->e.impfd, buf[k], 0,
						&h[k][i]));
			ASSERT_EQ(0, imp_map(self->e.impfd, h[k][i], NULL));
		}
	}
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 9; i++)
			EXPECT_EQ(0, imp_detach(self->e.impfd, h[k][i]));
		close(buf[k]);
	}
}

TEST_HARNESS_MAIN
