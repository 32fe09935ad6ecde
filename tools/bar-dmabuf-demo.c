// SPDX-License-Identifier: GPL-2.0
/*
 * bar-dmabuf-demo: the export-import-revoke story on one device, told step
 * by step (what `make demo` shows).
 *
 *   bar-dmabuf-demo BDF
 *
 * Needs bar_dmabuf bound to BDF and bar_dmabuf_importer loaded. Exports two
 * ranges of the largest memory BAR as one dma-buf, writes them through the
 * mmap, lets the importer read them by DMA, then revokes while the importer
 * holds a fence and keeps reading late: the revoke returns only after the
 * fence signalled and the importer unmapped. A second attachment of the same
 * buffer unmaps inside its invalidate callback. Ends with a restore, the
 * importer's timeline and a chart of the revoke (timeline.c).
 *
 * Exits 1 when the story went wrong: an ioctl failed, or the revoke
 * returned early (before the fence signalled or an attachment unmapped),
 * or a late read failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/bar_dmabuf.h>
#include <linux/bar_dmabuf_importer.h>

#include "timeline.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define HOLD_MS		1500
#define WINDOW_MS	400
#define MAX_EVENTS	512

static const char *prog = "bar-dmabuf-demo";
static uint64_t t0;
static int failures;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void step(const char *fmt, ...)
{
	va_list ap;

	printf("[%7.1f ms] ", (now_ns() - t0) / 1e6);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

/* A broken promise of the protocol: say so, and exit 1 at the end. */
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("[%7.1f ms] FAILED: ", (now_ns() - t0) / 1e6);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	failures++;
}

static void xioctl(int fd, unsigned long cmd, void *arg, const char *what)
{
	if (ioctl(fd, cmd, arg))
		die(what);
}

struct revoke_ctx {
	int devfd;
	int buf;
	int ret;
	uint64_t start_ns;
	uint64_t end_ns;
};

static void *revoke_thread(void *arg)
{
	struct revoke_ctx *r = arg;
	struct bar_dmabuf_revoke rv = {
		.size = sizeof(rv), .fd = r->buf, .timeout_ms = 30000,
	};

	r->start_ns = now_ns();
	r->ret = ioctl(r->devfd, BAR_DMABUF_IOCTL_REVOKE, &rv) ? -errno : 0;
	__atomic_store_n(&r->end_ns, now_ns(), __ATOMIC_RELEASE);
	return NULL;
}

static const char *const ev_names[] = {
	[BAR_DMABUF_IMP_EV_ATTACH] = "attach",
	[BAR_DMABUF_IMP_EV_MAP] = "map",
	[BAR_DMABUF_IMP_EV_JOB_SUBMIT] = "job submitted",
	[BAR_DMABUF_IMP_EV_JOB_START] = "job started",
	[BAR_DMABUF_IMP_EV_JOB_DONE] = "job done",
	[BAR_DMABUF_IMP_EV_FENCE_SIGNAL] = "fence signalled",
	[BAR_DMABUF_IMP_EV_INVALIDATE] = "INVALIDATE received",
	[BAR_DMABUF_IMP_EV_LATE_READ] = "late read",
	[BAR_DMABUF_IMP_EV_UNMAP] = "UNMAP",
	[BAR_DMABUF_IMP_EV_DETACH] = "detach",
	[BAR_DMABUF_IMP_EV_VIOLATION] = "violation",
	[BAR_DMABUF_IMP_EV_WATCHDOG] = "watchdog",
	[BAR_DMABUF_IMP_EV_DMA_FAULT] = "DMA FAULT",
};

/* An attachment's whole timeline into @ev (MAX_EVENTS); returns its length. */
static unsigned int read_log(int impfd, __u32 h,
			     struct bar_dmabuf_imp_event *ev)
{
	struct bar_dmabuf_imp_read_log rl = {
		.size = sizeof(rl), .handle = h, .max_events = MAX_EVENTS,
		.events_ptr = (uintptr_t)ev,
	};

	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl, "read log");
	return rl.out_nr_events;
}

static void show_timeline(int impfd, __u32 h)
{
	static struct bar_dmabuf_imp_event ev[MAX_EVENTS];
	unsigned int i, n, late = 0;

	n = read_log(impfd, h, ev);
	for (i = 0; i < n; i++) {
		const char *name = ev[i].type < ARRAY_SIZE(ev_names) ?
				   ev_names[ev[i].type] : NULL;

		if (ev[i].type == BAR_DMABUF_IMP_EV_LATE_READ) {
			/* many of them: show the first and the count */
			if (late++)
				continue;
		}
		printf("    %9.1f ms  att %u  %-20s arg %llu result %d\n",
		       ((int64_t)ev[i].ts_ns - (int64_t)t0) / 1e6, h,
		       name ? name : "?", (unsigned long long)ev[i].arg,
		       ev[i].result);
	}
	printf("    (%u late reads in all)\n", late);
}

/*
 * One importer job that reads @len bytes at buffer offset @offset by DMA
 * into @data, waited for; returns the job's status.
 */
static int demo_read(int impfd, __u32 handle, __u64 offset, char *data,
		     size_t len, const char *what)
{
	struct bar_dmabuf_imp_submit sub = { .size = sizeof(sub) };
	struct bar_dmabuf_imp_wait_job wj = { .size = sizeof(wj) };

	sub.handle = handle;
	sub.usage = BAR_DMABUF_IMP_USAGE_READ;
	sub.offset = offset;
	sub.length = len;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_SUBMIT, &sub, what);
	memset(data, 0, len);
	wj.job = sub.out_job;
	wj.timeout_ms = 10000;
	wj.data_ptr = (uintptr_t)data;
	wj.data_len = len;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &wj, "wait read");
	return wj.out_status;
}

/*
 * What the chart shows, checked: after the revoke started, @row's mapping
 * was invalidated and then unmapped before the revoke returned, and every
 * late read in between succeeded (at least one if @want_late).
 */
static void check_row(const struct tl_revoke *rv, const struct tl_row *row,
		      int want_late)
{
	uint64_t inval = 0, unmap = 0;
	unsigned int i, late = 0, late_bad = 0;

	for (i = 0; i < row->nr; i++) {
		const struct bar_dmabuf_imp_event *ev = &row->ev[i];

		if (ev->ts_ns < rv->start_ns)
			continue;
		if (ev->type == BAR_DMABUF_IMP_EV_INVALIDATE && ev->arg && !inval)
			inval = ev->ts_ns;
		if (ev->type == BAR_DMABUF_IMP_EV_UNMAP && inval && !unmap)
			unmap = ev->ts_ns;
		if (ev->type == BAR_DMABUF_IMP_EV_LATE_READ && inval && !unmap) {
			late++;
			late_bad += !!ev->result;
		}
	}
	if (!inval)
		fail("%s: no invalidate of its mapping", row->label);
	else if (!unmap)
		fail("%s: never unmapped", row->label);
	else if (unmap > rv->end_ns)
		fail("%s: unmapped %.1f ms after the revoke returned", row->label,
		     (unmap - rv->end_ns) / 1e6);
	if (want_late && !late)
		fail("%s: no late read between invalidate and unmap", row->label);
	if (late_bad)
		fail("%s: %u of %u late reads failed", row->label, late_bad, late);
}

int main(int argc, char **argv)
{
	struct bar_dmabuf_info info = { .size = sizeof(info) };
	struct bar_dmabuf_range ranges[2];
	struct bar_dmabuf_export ex = { .size = sizeof(ex) };
	struct bar_dmabuf_imp_attach at = { .size = sizeof(at) };
	struct bar_dmabuf_imp_attach at2 = { .size = sizeof(at2) };
	static struct bar_dmabuf_imp_event log1[MAX_EVENTS], log2[MAX_EVENTS];
	struct tl_row rows[2] = {
		{ .label = "att 1 (worker unmap)", .ev = log1 },
		{ .label = "att 2 (sync unmap)", .ev = log2 },
	};
	struct tl_revoke rv = { .width = 60 };
	struct bar_dmabuf_imp_handle mh = { .size = sizeof(mh) };
	struct bar_dmabuf_imp_behaviour bh = { .size = sizeof(bh) };
	struct bar_dmabuf_imp_submit sub = { .size = sizeof(sub) };
	struct bar_dmabuf_imp_wait_job wj = { .size = sizeof(wj) };
	struct bar_dmabuf_imp_signal sig = { .size = sizeof(sig) };
	struct bar_dmabuf_imp_wait_event we = { .size = sizeof(we) };
	struct bar_dmabuf_restore rs = { .size = sizeof(rs) };
	struct revoke_ctx r;
	pthread_t thr;
	char path[128], data[64];
	unsigned char *cpu;
	long page = sysconf(_SC_PAGESIZE);
	int devfd, impfd, bar = -1, i, status;
	uint64_t signal_ns, fence_ns = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", prog);
		return 2;
	}
	t0 = now_ns();
	snprintf(path, sizeof(path), "/dev/bar_dmabuf/%s", argv[1]);
	devfd = open(path, O_RDWR | O_CLOEXEC);
	if (devfd < 0)
		die(path);
	impfd = open("/dev/bar_dmabuf_importer", O_RDWR | O_CLOEXEC);
	if (impfd < 0)
		die("/dev/bar_dmabuf_importer");

	xioctl(devfd, BAR_DMABUF_IOCTL_INFO, &info, "info");
	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++)
		if ((info.out_bars[i].flags & BAR_DMABUF_BAR_MEM) &&
		    (bar < 0 || info.out_bars[i].size > info.out_bars[bar].size))
			bar = i;
	if (bar < 0 || info.out_bars[bar].size < 4 * (__u64)page) {
		fprintf(stderr, "%s: no memory BAR of 4 pages on %s\n", prog,
			argv[1]);
		return 1;
	}

	/* 1. export two ranges of the BAR as one buffer */
	ranges[0] = (struct bar_dmabuf_range){ .offset = 0, .length = page };
	ranges[1] = (struct bar_dmabuf_range){ .offset = 2 * page,
					       .length = page };
	ex.bar_index = bar;
	ex.open_flags = O_RDWR | O_CLOEXEC;
	ex.nr_ranges = 2;
	ex.ranges_ptr = (uintptr_t)ranges;
	xioctl(devfd, BAR_DMABUF_IOCTL_EXPORT, &ex, "export");
	step("exported BAR%d pages 0 and 2 as dma-buf fd %d (%llu bytes)",
	     bar, ex.out_fd, (unsigned long long)ex.out_length);

	/* 2. the CPU writes through the mmap */
	cpu = mmap(NULL, ex.out_length, PROT_READ | PROT_WRITE, MAP_SHARED,
		   ex.out_fd, 0);
	if (cpu == MAP_FAILED)
		die("mmap");
	snprintf(data, sizeof(data), "hello from the CPU at %.1f ms",
		 (now_ns() - t0) / 1e6);
	memcpy(cpu + page, data, sizeof(data));
	step("CPU wrote \"%s\" at buffer offset %ld (BAR offset %ld)", data,
	     page, 2 * page);

	/* 3. the importer attaches, maps and reads it by DMA */
	at.dmabuf_fd = ex.out_fd;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, &at, "importer attach");
	mh.handle = at.out_handle;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_MAP, &mh, "importer map");
	step("importer attached (revocable, P2P) and mapped %llu bytes",
	     (unsigned long long)mh.out_length);
	bh.handle = at.out_handle;
	bh.unmap_mode = BAR_DMABUF_IMP_UNMAP_WORKER;
	bh.late_read_window_ms = WINDOW_MS;
	bh.late_read_interval_ms = 20;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &bh, "behaviour");

	status = demo_read(impfd, at.out_handle, page, data, sizeof(data),
			   "submit read");
	step("importer read by DMA through its IOMMU: \"%s\" (status %d)",
	     data, status);
	if (status || strncmp(data, "hello from the CPU", 18))
		fail("the importer did not read what the CPU wrote");

	/* a second attachment, whose invalidate callback unmaps at once */
	at2.dmabuf_fd = ex.out_fd;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, &at2, "second attach");
	memset(&bh, 0, sizeof(bh));
	bh.size = sizeof(bh);
	bh.handle = at2.out_handle;
	bh.unmap_mode = BAR_DMABUF_IMP_UNMAP_SYNC;
	bh.late_read_interval_ms = 1;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &bh, "behaviour 2");
	memset(&mh, 0, sizeof(mh));
	mh.size = sizeof(mh);
	mh.handle = at2.out_handle;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_MAP, &mh, "second map");
	step("a second attachment of the same buffer mapped it too; it will unmap inside the invalidate");

	/* 4. a job the "hardware" holds, then revoke */
	memset(&sub, 0, sizeof(sub));
	sub.size = sizeof(sub);
	sub.flags = BAR_DMABUF_IMP_JOB_HOLD;
	sub.handle = at.out_handle;
	sub.usage = BAR_DMABUF_IMP_USAGE_READ;
	sub.length = page;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_SUBMIT, &sub, "submit held job");
	step("importer queued job %llu and holds its fence",
	     (unsigned long long)sub.out_job);

	r = (struct revoke_ctx){ .devfd = devfd, .buf = ex.out_fd };
	step("REVOKE starts (rule 1 mark, 2 zap, 3 notify; then waits)");
	if (pthread_create(&thr, NULL, revoke_thread, &r))
		die("pthread_create");
	we.handle = at.out_handle;
	we.type = BAR_DMABUF_IMP_EV_INVALIDATE;
	we.count = 1;
	we.timeout_ms = 10000;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &we, "wait invalidate");
	step("importer got the invalidate; it keeps reading the old mapping for %d ms",
	     WINDOW_MS);
	/* Hold the fence a while: the revoke must not return meanwhile. */
	we.type = BAR_DMABUF_IMP_EV_UNMAP;
	we.timeout_ms = HOLD_MS;
	if (!ioctl(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &we) || errno != ETIMEDOUT)
		fail("the importer unmapped with a fence still held");
	if (__atomic_load_n(&r.end_ns, __ATOMIC_ACQUIRE))
		fail("%d ms later the revoke has returned, with a fence unsignalled",
		     HOLD_MS);
	else
		step("%d ms later the revoke is still waiting, as it must (fence still held)",
		     HOLD_MS);
	sig.job = sub.out_job;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_SIGNAL, &sig, "signal");
	signal_ns = now_ns();
	step("test signalled the held job's fence");
	pthread_join(thr, NULL);
	if (r.ret)
		fail("REVOKE returned %s", strerror(-r.ret));
	else if (r.end_ns < signal_ns)
		fail("REVOKE had returned 0 %.1f ms before the fence signalled",
		     (signal_ns - r.end_ns) / 1e6);
	else
		step("REVOKE returned 0, %.1f ms after the fence signalled (rules 4-6)",
		     (r.end_ns - signal_ns) / 1e6);
	/* the logs as they were at the return, for the chart */
	rows[0].nr = read_log(impfd, at.out_handle, log1);
	rows[1].nr = read_log(impfd, at2.out_handle, log2);
	rv.start_ns = r.start_ns;
	rv.end_ns = r.end_ns;
	wj.job = sub.out_job;
	wj.timeout_ms = 10000;
	if (ioctl(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &wj))
		die("wait held job");
	fence_ns = wj.out_signal_ns;
	if (fence_ns > r.end_ns)
		fail("the held fence signalled %.1f ms after the revoke returned",
		     (fence_ns - r.end_ns) / 1e6);
	check_row(&rv, &rows[0], 1);
	check_row(&rv, &rows[1], 0);

	memset(&sub, 0, sizeof(sub));
	sub.size = sizeof(sub);
	sub.handle = at.out_handle;
	sub.length = 16;
	step("a new importer job on the revoked buffer: %s",
	     ioctl(impfd, BAR_DMABUF_IMP_IOCTL_SUBMIT, &sub) ?
	     strerror(errno) : "accepted (wrong!)");

	/* 5. restore: the importer maps again on its next job */
	rs.fd = ex.out_fd;
	xioctl(devfd, BAR_DMABUF_IOCTL_RESTORE, &rs, "restore");
	demo_read(impfd, at.out_handle, page, data, sizeof(data),
		  "submit after restore");
	step("RESTORE; the importer mapped again and read \"%s\"", data);

	printf("\nThe importer's timeline (ms since the start):\n");
	show_timeline(impfd, at.out_handle);
	show_timeline(impfd, at2.out_handle);

	printf("\n");
	tl_draw(stdout, &rv, rows, 2);
	munmap(cpu, ex.out_length);
	close(impfd);
	close(ex.out_fd);
	close(devfd);
	if (failures)
		printf("\n%s: %d thing(s) went wrong (FAILED above)\n", prog,
		       failures);
	return failures ? 1 : 0;
}
