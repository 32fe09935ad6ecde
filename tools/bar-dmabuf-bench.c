// SPDX-License-Identifier: GPL-2.0
/*
 * bar-dmabuf-bench: is a batched revoke really batched (rule 7)?
 *
 *   bar-dmabuf-bench [-n BUFFERS] [-d WINDOW_MS] [-i INTERVAL_MS] [-r REPS]
 *                    [-m ROUND_TRIPS]
 *
 * Needs bar_dmabuf bound to $BAR_DMABUF_BDF and bar_dmabuf_importer loaded
 * (mapping through $BAR_DMABUF_IMPORTER_BDF). Exports BUFFERS one-page
 * buffers (default 32), attaches and maps each with the test importer, which
 * is told to unmap from its worker only after a late-read window of
 * WINDOW_MS (default 200, one late read every INTERVAL_MS, default 10).
 * Then, REPS times each (default 3), interleaved:
 *
 *   batched: one REVOKE with BAR_DMABUF_ALL_BUFFERS, then RESTORE and map
 *   serial:  BUFFERS single-buffer REVOKEs one after the other (the
 *            reference measured in the same run), then RESTORE and map
 *
 * Both are timed with CLOCK_MONOTONIC around the revoke calls only. Every
 * revoke has to wait at least WINDOW_MS, the floor. If the exporter batches,
 * the batched revoke takes about one window and serial/batched is close to
 * BUFFERS; an exporter that waits buffer by buffer gives about 1.
 *
 * A second pair, when the kernel has udmabuf (/dev/udmabuf): ROUND_TRIPS
 * (default 1000) importer MAP + UNMAP of a one-page buffer of ours against
 * the same on a one-page udmabuf (memfd pages) through the same importer
 * and IOMMU, the reference; printed as microseconds per round trip and the
 * ratio ours/udmabuf. Before 6.16 the dma-buf core maps a non-dynamic
 * exporter's buffer (udmabuf) once at attach and caches it for a dynamic
 * importer, so there the reference pays no exporter map or unmap.
 *
 * Prints a table and the ratio; exits 1 on any failed call, 2 on bad usage.
 * No timed assertion: the ratio is for a human (or `make bench`) to read.
 */
#define _GNU_SOURCE	/* memfd_create, F_ADD_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <linux/types.h>
#include <linux/udmabuf.h>

#include <linux/bar_dmabuf.h>
#include <linux/bar_dmabuf_importer.h>

#define BENCH_PAGE		4096ull
#define BENCH_MAX_BUFFERS	1024
#define BENCH_MAX_REPS		100
/* A revoke may take this long on top of the window (slow TCG guests). */
#define BENCH_REVOKE_SLACK_MS	60000u

static const char *prog = "bar-dmabuf-bench";

/**
 * struct bench_buf - one exported buffer and its importer attachment
 * @fd: the dma-buf; the bench holds it until the end (the attachment holds
 *	its own reference, dropped when the importer's file is closed)
 * @handle: the importer's attachment
 */
struct bench_buf {
	int fd;
	__u32 handle;
};

/**
 * struct bench - what one run works on
 * @devfd: /dev/bar_dmabuf/<bdf>, open for writing for its whole life (the
 *	last close of the node revokes every buffer of the device)
 * @impfd: /dev/bar_dmabuf_importer; closing it detaches everything
 * @bdf: the exporting device
 * @bar: the memory BAR the buffers come from
 * @nr: number of buffers
 * @window_ms: the importer's late-read window before its unmap
 * @bufs: @nr buffers
 */
struct bench {
	int devfd;
	int impfd;
	const char *bdf;
	__u32 bar;
	unsigned int nr;
	unsigned int window_ms;
	struct bench_buf *bufs;
};

static void bench_usage(void)
{
	fprintf(stderr,
		"usage: %s [-n BUFFERS] [-d WINDOW_MS] [-i INTERVAL_MS] [-r REPS]\n"
		"       [-m ROUND_TRIPS]\n"
		"  BAR_DMABUF_BDF names the exporting device\n",
		prog);
	exit(2);
}

/* Every failure ends the run: a benchmark on a broken path means nothing. */
static void bench_fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
	exit(1);
}

/* ioctl() that treats anything but 0 as a failure (a positive return too). */
static void bench_ioctl(int fd, unsigned long cmd, void *arg, const char *what)
{
	int ret = ioctl(fd, cmd, arg);

	if (ret < 0)
		bench_fail(what, errno);
	if (ret > 0) {
		fprintf(stderr, "%s: %s: unexpected return %d\n", prog, what,
			ret);
		exit(1);
	}
}

static unsigned int bench_number(const char *s, unsigned int min,
				 unsigned int max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "%s: '%s' is not a number from %u to %u\n",
			prog, s, min, max);
		bench_usage();
	}
	return v;
}

static double bench_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		bench_fail("clock_gettime(CLOCK_MONOTONIC)", errno);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of @n values; sorts @v in place. */
static double bench_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void bench_open(struct bench *b)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/dev/bar_dmabuf/%s", b->bdf);
	b->devfd = open(path, O_RDWR | O_CLOEXEC);
	if (b->devfd < 0)
		bench_fail(path, errno);
	b->impfd = open("/dev/bar_dmabuf_importer", O_RDWR | O_CLOEXEC);
	if (b->impfd < 0)
		bench_fail("/dev/bar_dmabuf_importer", errno);
}

/* The largest memory BAR; it must hold one page per buffer. */
static void bench_pick_bar(struct bench *b)
{
	struct bar_dmabuf_info info = { .size = sizeof(info) };
	__u64 best = 0;
	unsigned int i;

	bench_ioctl(b->devfd, BAR_DMABUF_IOCTL_INFO, &info, "INFO");
	for (i = 0; i < info.out_num_bars && i < BAR_DMABUF_NUM_BARS; i++) {
		const struct bar_dmabuf_bar *bar = &info.out_bars[i];

		if (!(bar->flags & BAR_DMABUF_BAR_MEM) || bar->size <= best)
			continue;
		best = bar->size;
		b->bar = bar->index;
	}
	if (best < b->nr * BENCH_PAGE) {
		fprintf(stderr, "%s: %s has no memory BAR of %llu bytes\n",
			prog, b->bdf, b->nr * BENCH_PAGE);
		exit(1);
	}
}

static void bench_map(struct bench *b, unsigned int i)
{
	struct bar_dmabuf_imp_handle h = {
		.size = sizeof(h),
		.handle = b->bufs[i].handle,
	};

	bench_ioctl(b->impfd, BAR_DMABUF_IMP_IOCTL_MAP, &h, "importer MAP");
}

static void bench_unmap(int impfd, __u32 handle)
{
	struct bar_dmabuf_imp_handle h = {
		.size = sizeof(h),
		.handle = handle,
	};

	bench_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_UNMAP, &h, "importer UNMAP");
}

static void bench_map_all(struct bench *b)
{
	unsigned int i;

	for (i = 0; i < b->nr; i++)
		bench_map(b, i);
}

/* Page @page of our BAR as a dma-buf of its own; returns its fd. */
static int bench_export_page(struct bench *b, unsigned int page)
{
	struct bar_dmabuf_range range = {
		.offset = page * BENCH_PAGE,
		.length = BENCH_PAGE,
	};
	struct bar_dmabuf_export ex = {
		.size = sizeof(ex),
		.bar_index = b->bar,
		.open_flags = O_RDWR | O_CLOEXEC,
		.nr_ranges = 1,
		.ranges_ptr = (__u64)(unsigned long)&range,
	};

	bench_ioctl(b->devfd, BAR_DMABUF_IOCTL_EXPORT, &ex, "EXPORT");
	return ex.out_fd;
}

/* Export page i of the BAR, attach it, set the late window, map it. */
static void bench_setup(struct bench *b, unsigned int interval_ms)
{
	unsigned int i;

	b->bufs = calloc(b->nr, sizeof(*b->bufs));
	if (!b->bufs)
		bench_fail("calloc", ENOMEM);
	for (i = 0; i < b->nr; i++) {
		struct bar_dmabuf_imp_attach at = { .size = sizeof(at) };
		struct bar_dmabuf_imp_behaviour bh = {
			.size = sizeof(bh),
			.unmap_mode = BAR_DMABUF_IMP_UNMAP_WORKER,
			.late_read_window_ms = b->window_ms,
			.late_read_interval_ms = interval_ms,
		};

		b->bufs[i].fd = bench_export_page(b, i);
		at.dmabuf_fd = b->bufs[i].fd;
		bench_ioctl(b->impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, &at,
			    "importer ATTACH");
		b->bufs[i].handle = at.out_handle;
		bh.handle = at.out_handle;
		bench_ioctl(b->impfd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &bh,
			    "importer SET_BEHAVIOUR");
		bench_map(b, i);
	}
}

static __u32 bench_revoke(struct bench *b, int fd, __u32 flags)
{
	struct bar_dmabuf_revoke rv = {
		.size = sizeof(rv),
		.flags = flags,
		.fd = fd,
		.timeout_ms = b->window_ms + BENCH_REVOKE_SLACK_MS,
	};

	bench_ioctl(b->devfd, BAR_DMABUF_IOCTL_REVOKE, &rv, "REVOKE");
	return rv.out_nr_buffers;
}

/* Undo a revoke: every buffer usable and mapped again. */
static void bench_restore(struct bench *b)
{
	struct bar_dmabuf_restore rs = {
		.size = sizeof(rs),
		.flags = BAR_DMABUF_ALL_BUFFERS,
		.fd = -1,
	};

	bench_ioctl(b->devfd, BAR_DMABUF_IOCTL_RESTORE, &rs, "RESTORE");
	if (rs.out_nr_buffers != b->nr) {
		fprintf(stderr, "%s: RESTORE restored %u buffers, not %u\n",
			prog, rs.out_nr_buffers, b->nr);
		exit(1);
	}
	bench_map_all(b);
}

/* One revoke of every buffer at once; returns its time in ms. */
static double bench_batched(struct bench *b)
{
	double t0, t1;
	__u32 nr;

	t0 = bench_now_ms();
	nr = bench_revoke(b, -1, BAR_DMABUF_ALL_BUFFERS);
	t1 = bench_now_ms();
	if (nr != b->nr) {
		fprintf(stderr, "%s: batched REVOKE covered %u buffers, not %u\n",
			prog, nr, b->nr);
		exit(1);
	}
	bench_restore(b);
	return t1 - t0;
}

/* The reference: one revoke per buffer, one after the other. */
static double bench_serial(struct bench *b)
{
	double t0, t1;
	unsigned int i;

	t0 = bench_now_ms();
	for (i = 0; i < b->nr; i++) {
		if (bench_revoke(b, b->bufs[i].fd, 0) != 1) {
			fprintf(stderr, "%s: REVOKE of buffer %u did not count it\n",
				prog, i);
			exit(1);
		}
	}
	t1 = bench_now_ms();
	bench_restore(b);
	return t1 - t0;
}

/*
 * Attach @fd with the importer, unmapping only when asked, and close @fd
 * (the attachment holds its own reference). Returns the handle.
 */
static __u32 bench_attach_on_request(int impfd, int fd)
{
	struct bar_dmabuf_imp_attach at = {
		.size = sizeof(at),
		.dmabuf_fd = fd,
	};
	struct bar_dmabuf_imp_behaviour bh = {
		.size = sizeof(bh),
		.unmap_mode = BAR_DMABUF_IMP_UNMAP_ON_REQUEST,
		.late_read_interval_ms = 1,
	};

	bench_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, &at, "importer ATTACH");
	bh.handle = at.out_handle;
	bench_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &bh,
		    "importer SET_BEHAVIOUR");
	close(fd);
	return at.out_handle;
}

/* Page @page of our BAR as a buffer of its own, attached. */
static __u32 bench_ours_rt_setup(struct bench *b, unsigned int page)
{
	return bench_attach_on_request(b->impfd, bench_export_page(b, page));
}

/*
 * One page of a memfd as a udmabuf, attached. Returns 0 when the kernel has
 * no udmabuf (the pair is then skipped).
 */
static __u32 bench_udmabuf_rt_setup(struct bench *b)
{
	struct udmabuf_create c = {
		.flags = UDMABUF_FLAGS_CLOEXEC,
		.size = BENCH_PAGE,
	};
	int ufd, memfd, fd;

	ufd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (ufd < 0 && errno == ENOENT)
		return 0;
	if (ufd < 0)
		bench_fail("/dev/udmabuf", errno);
	memfd = memfd_create("bar-dmabuf-bench", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (memfd < 0)
		bench_fail("memfd_create", errno);
	if (ftruncate(memfd, BENCH_PAGE))
		bench_fail("ftruncate(memfd)", errno);
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		bench_fail("F_ADD_SEALS", errno);
	c.memfd = memfd;
	fd = ioctl(ufd, UDMABUF_CREATE, &c);
	if (fd < 0)
		bench_fail("UDMABUF_CREATE", errno);
	close(memfd);
	close(ufd);
	return bench_attach_on_request(b->impfd, fd);
}

/* Before 6.16 the core caches a non-dynamic exporter's mapping at attach. */
static void bench_note_cached_reference(void)
{
	unsigned int major = 0, minor = 0;
	struct utsname u;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return;
	if (major > 6 || (major == 6 && minor >= 16))
		return;
	printf("%s: note: %s maps udmabuf once at attach and caches it,\n",
	       prog, u.release);
	printf("%s: so there the reference pays no exporter map or unmap\n",
	       prog);
}

/* @count importer MAP + UNMAP round trips; returns microseconds per trip. */
static double bench_roundtrips(int impfd, __u32 handle, unsigned int count)
{
	struct bar_dmabuf_imp_handle h = {
		.size = sizeof(h),
		.handle = handle,
	};
	double t0, t1;
	unsigned int k;

	t0 = bench_now_ms();
	for (k = 0; k < count; k++) {
		bench_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_MAP, &h, "importer MAP");
		bench_unmap(impfd, handle);
	}
	t1 = bench_now_ms();
	return (t1 - t0) * 1e3 / count;
}

static void bench_row(const char *what, double *v, unsigned int n,
		      double *median)
{
	double lo, hi;

	*median = bench_median(v, n);
	lo = v[0];
	hi = v[n - 1];
	printf("  %-34s %10.1f %10.1f %10.1f\n", what, lo, *median, hi);
}

int main(int argc, char **argv)
{
	double batched[BENCH_MAX_REPS], serial[BENCH_MAX_REPS];
	double pair[BENCH_MAX_REPS], ours[BENCH_MAX_REPS], ref[BENCH_MAX_REPS];
	unsigned int reps = 3, interval_ms = 10, trips = 1000, r, i;
	__u32 ours_h, ref_h;
	struct bench b = { .nr = 32, .window_ms = 200 };
	double mb, ms, mp;
	char label[64];
	int opt;

	while ((opt = getopt(argc, argv, "n:d:i:r:m:h")) != -1) {
		switch (opt) {
		case 'n':
			b.nr = bench_number(optarg, 1, BENCH_MAX_BUFFERS);
			break;
		case 'd':
			b.window_ms = bench_number(optarg, 1, 60000);
			break;
		case 'i':
			interval_ms = bench_number(optarg, 1, 10000);
			break;
		case 'r':
			reps = bench_number(optarg, 1, BENCH_MAX_REPS);
			break;
		case 'm':
			trips = bench_number(optarg, 1, 1000000);
			break;
		default:
			bench_usage();
		}
	}
	if (optind != argc)
		bench_usage();
	b.bdf = getenv("BAR_DMABUF_BDF");
	if (!b.bdf || !*b.bdf) {
		fprintf(stderr, "%s: BAR_DMABUF_BDF is not set\n", prog);
		bench_usage();
	}

	bench_open(&b);
	b.nr++;		/* one more page for the round-trip pair */
	bench_pick_bar(&b);
	b.nr--;
	bench_setup(&b, interval_ms);

	printf("%s: %u buffers of %llu bytes, %s BAR%u, importer through %s\n",
	       prog, b.nr, BENCH_PAGE, b.bdf, b.bar,
	       getenv("BAR_DMABUF_IMPORTER_BDF") ?: "(its own device)");
	printf("%s: unmap from the worker after a %u ms late-read window\n",
	       prog, b.window_ms);
	printf("%s: a late read every %u ms; %u repetitions; CLOCK_MONOTONIC\n",
	       prog, interval_ms, reps);

	/* Interleaved, so a drift of the machine's speed hits both alike. */
	for (r = 0; r < reps; r++) {
		batched[r] = bench_batched(&b);
		serial[r] = bench_serial(&b);
		pair[r] = serial[r] / batched[r];
		printf("%s: repetition %u: batched %.1f ms, serial %.1f ms, ratio %.2f\n",
		       prog, r + 1, batched[r], serial[r], pair[r]);
	}

	printf("\n  %-34s %10s %10s %10s\n", "revoke of all buffers (ms)", "min",
	       "median", "max");
	bench_row("batched: 1 x REVOKE(ALL_BUFFERS)", batched, reps, &mb);
	snprintf(label, sizeof(label), "serial:  %u x REVOKE(fd)", b.nr);
	bench_row(label, serial, reps, &ms);
	printf("  %-34s %10u %10u %10u\n", "floor: late-read window D",
	       b.window_ms, b.window_ms, b.window_ms);
	bench_row("ratio serial/batched, pair by pair", pair, reps, &mp);
	printf("\n%s: ratio serial/batched (medians) = %.2f\n", prog, ms / mb);
	printf("%s: (ideal %u; an exporter that waits one by one gives ~1)\n",
	       prog, b.nr);
	printf("%s: batched/floor = %.2f, serial/(%u x floor) = %.2f\n",
	       prog, mb / b.window_ms, b.nr, ms / ((double)b.nr * b.window_ms));
	if (mb < b.window_ms)
		printf("%s: odd: the batched revoke returned before the late-read window ended\n",
		       prog);

	/* The second pair, after the revokes: REVOKE(ALL) would count it. */
	ours_h = bench_ours_rt_setup(&b, b.nr);
	ref_h = bench_udmabuf_rt_setup(&b);
	if (!ref_h) {
		printf("\n%s: no /dev/udmabuf on this kernel: round-trip pair skipped\n",
		       prog);
		goto out;
	}
	/* One untimed pass each warms caches and the IOMMU's page tables. */
	bench_roundtrips(b.impfd, ours_h, 1);
	bench_roundtrips(b.impfd, ref_h, 1);
	for (r = 0; r < reps; r++) {
		ours[r] = bench_roundtrips(b.impfd, ours_h, trips);
		ref[r] = bench_roundtrips(b.impfd, ref_h, trips);
		pair[r] = ours[r] / ref[r];
	}
	printf("\n  %-34s %10s %10s %10s\n", "importer MAP+UNMAP of a page (us)",
	       "min", "median", "max");
	bench_row("bar_dmabuf (BAR page)", ours, reps, &mb);
	bench_row("udmabuf (memfd page), reference", ref, reps, &ms);
	bench_row("ratio bar_dmabuf/udmabuf", pair, reps, &mp);
	printf("\n%s: ratio bar_dmabuf/udmabuf map+unmap (medians) = %.2f, %u round trips x %u\n",
	       prog, mb / ms, trips, reps);
	bench_note_cached_reference();

out:
	/* Closing the importer detaches (and so unmaps) everything. */
	close(b.impfd);
	for (i = 0; i < b.nr; i++)
		close(b.bufs[i].fd);
	free(b.bufs);
	close(b.devfd);
	return 0;
}
