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
 * fence signalled and the importer unmapped. Ends with a restore and the
 * importer's timeline.
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

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define HOLD_MS		1500
#define WINDOW_MS	400

static const char *prog = "bar-dmabuf-demo";
static uint64_t t0;

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

static void xioctl(int fd, unsigned long cmd, void *arg, const char *what)
{
	if (ioctl(fd, cmd, arg))
		die(what);
}

struct revoke_ctx {
	int devfd;
	int buf;
	int ret;
	uint64_t end_ns;
};

static void *revoke_thread(void *arg)
{
	struct revoke_ctx *r = arg;
	struct bar_dmabuf_revoke rv = {
		.size = sizeof(rv), .fd = r->buf, .timeout_ms = 30000,
	};

	r->ret = ioctl(r->devfd, BAR_DMABUF_IOCTL_REVOKE, &rv) ? -errno : 0;
	r->end_ns = now_ns();
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

static void show_timeline(int impfd, __u32 h)
{
	struct bar_dmabuf_imp_event ev[512];
	struct bar_dmabuf_imp_read_log rl = {
		.size = sizeof(rl), .handle = h, .max_events = 512,
		.events_ptr = (uintptr_t)ev,
	};
	unsigned int i, late = 0;

	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl, "read log");
	for (i = 0; i < rl.out_nr_events; i++) {
		const char *name = ev[i].type < ARRAY_SIZE(ev_names) ?
				   ev_names[ev[i].type] : NULL;

		if (ev[i].type == BAR_DMABUF_IMP_EV_LATE_READ) {
			/* many of them: show the first and the count */
			if (late++)
				continue;
		}
		printf("    %9.1f ms  %-20s arg %llu result %d\n",
		       ((int64_t)ev[i].ts_ns - (int64_t)t0) / 1e6,
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

int main(int argc, char **argv)
{
	struct bar_dmabuf_info info = { .size = sizeof(info) };
	struct bar_dmabuf_range ranges[2];
	struct bar_dmabuf_export ex = { .size = sizeof(ex) };
	struct bar_dmabuf_imp_attach at = { .size = sizeof(at) };
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
	uint64_t signal_ns;

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
		step("unexpected: the importer unmapped with a fence still held");
	step("%d ms later the revoke is %s (fence still held)", HOLD_MS,
	     r.end_ns ? "DONE: wrong!" : "still waiting, as it must");
	sig.job = sub.out_job;
	xioctl(impfd, BAR_DMABUF_IMP_IOCTL_SIGNAL, &sig, "signal");
	signal_ns = now_ns();
	step("test signalled the held job's fence");
	pthread_join(thr, NULL);
	step("REVOKE returned %s, %.1f ms after the fence signalled (rules 4-6)",
	     r.ret ? strerror(-r.ret) : "0", (r.end_ns - signal_ns) / 1e6);
	wj.job = sub.out_job;
	wj.timeout_ms = 10000;
	ioctl(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &wj);

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
	munmap(cpu, ex.out_length);
	close(impfd);
	close(ex.out_fd);
	close(devfd);
	return r.ret ? 1 : 0;
}
