// SPDX-License-Identifier: GPL-2.0
/*
 * bar-dmabuf-bench: the figures a user of a BAR exporter asks about, each a
 * ratio against a reference measured in the same run.
 *
 *   bar-dmabuf-bench [-f FIGURES] [-d WINDOW_MS] [-i INTERVAL_MS] [-r REPS]
 *                    [-N N,N,...] [-s SCALE_N]
 *
 * FIGURES is a comma-separated subset of (default: all)
 *
 *   scaling    revoke of N one-page buffers (N from -N, default
 *              1,8,64,256,1024), each attached and mapped by the test
 *              importer, which unmaps from its worker only after a late-read
 *              window D (-d, default 100 ms). Batched (one
 *              REVOKE(ALL_BUFFERS)) / D, against our one-by-one reference (N
 *              single REVOKEs) / D and upstream VFIO's revoke of N VFIO
 *              dma-bufs of BAR_DMABUF_VFIO_BDF through one memory-disable
 *              (clearing PCI_COMMAND_MEMORY through the VFIO config region),
 *              with the same importer and the same D. The batched time is
 *              split, from the importer's timeline, for the buffer whose
 *              unmap came last: notify (start to its invalidate), drain
 *              (to its unmap: D and the importer's lateness) and tail (to
 *              the revoke's return); told_all is start to the last
 *              invalidate of all
 *   idle       REVOKE + RESTORE of one buffer with K attachments (1, 16,
 *              128) and no work: per cycle, per attachment, the slope
 *   map        importer MAP + UNMAP of 4 KiB and 2 MiB buffers: ours
 *              against udmabuf and against VFIO's exporter (same importer,
 *              same IOMMU)
 *   cpu        sequential read and write through the dma-buf mmap against
 *              sysfs resourceN and resourceN_wc of the same BAR
 *   footprint  slab growth per buffer and per attachment over 1,000 of each
 *              (udmabuf the reference), the modules' core size
 *   scale      SCALE_N buffers (-s, default 10000) exported, attached and
 *              revoked in one batch, per buffer against 64 buffers
 *
 * Needs bar_dmabuf bound to $BAR_DMABUF_BDF (allow_unproven_p2p=1 where the
 * kernel cannot prove the P2P path) and bar_dmabuf_importer loaded. Every
 * figure is printed as a human table and as a machine line
 *
 *   @@FIG <TAB> name <TAB> median <TAB> min <TAB> max
 *
 * or, when its reference does not exist on this kernel,
 *
 *   @@ABSENT <TAB> name <TAB> why
 *
 * min/median/max are over REPS repetitions (default 3; -r), each
 * repetition measuring a figure and its reference back to back, and a
 * ratio is formed repetition by repetition. Exits 1 when a figure could not
 * be measured (a call failed), 2 on bad usage; never on a number.
 */
#define _GNU_SOURCE	/* memfd_create, F_ADD_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <linux/pci_regs.h>
#include <linux/types.h>
#include <linux/udmabuf.h>
#include <linux/vfio.h>

#include <linux/bar_dmabuf.h>
#include <linux/bar_dmabuf_importer.h>

/* VFIO_DEVICE_FEATURE_DMA_BUF is Linux 6.19+ uapi: older headers lack it. */
#ifndef VFIO_DEVICE_FEATURE_DMA_BUF
#define VFIO_DEVICE_FEATURE_DMA_BUF 11
struct vfio_region_dma_range {
	__u64 offset;
	__u64 length;
};

struct vfio_device_feature_dma_buf {
	__u32 region_index;
	__u32 open_flags;
	__u32 flags;
	__u32 nr_ranges;
	struct vfio_region_dma_range dma_ranges[];
};
#endif

#define BENCH_PAGE		4096ull
#define BENCH_MAX_N		100000u
#define BENCH_MAX_REPS		100
#define BENCH_MAX_NS		8
/* A revoke may take this long on top of its windows (slow TCG guests). */
#define BENCH_REVOKE_SLACK_MS	120000u
#define BENCH_FOOT_COUNT	1000u
#define BENCH_CPU_BYTES		(4ull << 20)
/* passes over them per sample: ~20 ms under TCG, above its tick noise */
#define BENCH_CPU_PASSES	16
#define BENCH_IDLE_CYCLES	5u	/* cycles averaged into one sample */
#define BENCH_SCALE_REF		64u

static const char *prog = "bar-dmabuf-bench";

/**
 * struct bench - what one run works on
 * @devfd: /dev/bar_dmabuf/<bdf>, open for writing for the whole run (the
 *	last close of the node revokes every buffer of the device)
 * @impfd: /dev/bar_dmabuf_importer, reopened per figure: closing it
 *	detaches (and so unmaps) everything
 * @bdf: the exporting device
 * @bar: its largest memory BAR, where the buffers come from
 * @bar_size: its size
 * @wc: our mmap of that BAR is write-combined (BAR_DMABUF_BAR_WC)
 * @window_ms: the importer's late-read window D before its unmap
 * @interval_ms: pause between two late reads
 * @reps: repetitions of each figure
 */
struct bench {
	int devfd;
	int impfd;
	const char *bdf;
	__u32 bar;
	__u64 bar_size;
	bool wc;
	unsigned int window_ms;
	unsigned int interval_ms;
	unsigned int reps;
};

/**
 * struct bench_vfio - upstream vfio-pci's exporter, when this kernel has it
 * @bdf: BAR_DMABUF_VFIO_BDF
 * @absent: why there is none, or "" when @device is usable
 * @container: /dev/vfio/vfio
 * @group: the device's group
 * @device: the VFIO device fd
 * @cfg_off: offset of the config region in @device
 * @bar_size: size of BAR2 (ivshmem's memory)
 * @old_driver: the driver bound before we bound vfio-pci ("" none)
 * @bound_here: we bound vfio-pci, so unbind at the end
 * @old_unsafe: vfio_iommu_type1's allow_unsafe_interrupts before ("" kept)
 */
struct bench_vfio {
	const char *bdf;
	char absent[160];
	int container;
	int group;
	int device;
	__u64 cfg_off;
	__u64 bar_size;
	char old_driver[64];
	bool bound_here;
	char old_unsafe[8];
};

static void bench_usage(void)
{
	fprintf(stderr,
		"usage: %s [-f scaling,idle,map,cpu,footprint,scale] [-d WINDOW_MS]\n"
		"       [-i INTERVAL_MS] [-r REPS] [-N N,N,...] [-s SCALE_N]\n"
		"  BAR_DMABUF_BDF names the exporting device,\n"
		"  BAR_DMABUF_VFIO_BDF the one for vfio-pci (optional)\n",
		prog);
	exit(2);
}

/* Every failure ends the run: a benchmark on a broken path means nothing. */
static void bench_fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
	exit(1);
}

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

static void *bench_calloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		bench_fail("calloc", ENOMEM);
	return p;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * The machine line and the human row of one figure: min/median/max of @n
 * values (sorted in place). Returns the median.
 */
static double bench_fig(const char *name, double *v, unsigned int n)
{
	double med;

	qsort(v, n, sizeof(*v), bench_cmp_double);
	med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	printf("  %-44s %12.4g %12.4g %12.4g\n", name, v[0], med, v[n - 1]);
	printf("@@FIG\t%s\t%.6g\t%.6g\t%.6g\n", name, med, v[0], v[n - 1]);
	return med;
}

static void bench_absent(const char *name, const char *why)
{
	printf("  %-44s absent: %s\n", name, why);
	printf("@@ABSENT\t%s\t%s\n", name, why);
}

static void bench_header(const char *title)
{
	printf("\n%s\n  %-44s %12s %12s %12s\n", title, "figure", "min",
	       "median", "max");
}

static int bench_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static int bench_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* ---- our exporter and the importer ---- */

static void bench_open_importer(struct bench *b)
{
	b->impfd = open("/dev/bar_dmabuf_importer", O_RDWR | O_CLOEXEC);
	if (b->impfd < 0)
		bench_fail("/dev/bar_dmabuf_importer", errno);
}

/* Closing the importer's file detaches everything it attached. */
static void bench_close_importer(struct bench *b)
{
	close(b->impfd);
	b->impfd = -1;
}

static void bench_open(struct bench *b)
{
	struct bar_dmabuf_info info = { .size = sizeof(info) };
	char path[PATH_MAX];
	unsigned int i;

	snprintf(path, sizeof(path), "/dev/bar_dmabuf/%s", b->bdf);
	b->devfd = open(path, O_RDWR | O_CLOEXEC);
	if (b->devfd < 0)
		bench_fail(path, errno);
	bench_ioctl(b->devfd, BAR_DMABUF_IOCTL_INFO, &info, "INFO");
	for (i = 0; i < info.out_num_bars && i < BAR_DMABUF_NUM_BARS; i++) {
		const struct bar_dmabuf_bar *bar = &info.out_bars[i];

		if (!(bar->flags & BAR_DMABUF_BAR_MEM) || bar->size <= b->bar_size)
			continue;
		b->bar_size = bar->size;
		b->bar = bar->index;
		b->wc = bar->flags & BAR_DMABUF_BAR_WC;
	}
	if (!b->bar_size) {
		fprintf(stderr, "%s: %s has no memory BAR\n", prog, b->bdf);
		exit(1);
	}
}

/* Bytes @offset..+@length of our BAR as a dma-buf; returns its fd. */
static int bench_export(struct bench *b, __u64 offset, __u64 length)
{
	struct bar_dmabuf_range range = { .offset = offset, .length = length };
	struct bar_dmabuf_export ex = {
		.size = sizeof(ex),
		.bar_index = b->bar,
		.open_flags = O_RDWR | O_CLOEXEC,
		.nr_ranges = 1,
		.ranges_ptr = (__u64)(unsigned long)&range,
	};

	if (offset + length > b->bar_size) {
		fprintf(stderr, "%s: BAR%u of %s has %llu bytes, not %llu\n",
			prog, b->bar, b->bdf, (unsigned long long)b->bar_size,
			(unsigned long long)(offset + length));
		exit(1);
	}
	bench_ioctl(b->devfd, BAR_DMABUF_IOCTL_EXPORT, &ex, "EXPORT");
	return ex.out_fd;
}

/* Attach @fd with the importer in @mode (window @window_ms); a handle. */
static __u32 bench_attach(struct bench *b, int fd, __u32 mode,
			  unsigned int window_ms)
{
	struct bar_dmabuf_imp_attach at = {
		.size = sizeof(at),
		.dmabuf_fd = fd,
	};
	struct bar_dmabuf_imp_behaviour bh = {
		.size = sizeof(bh),
		.unmap_mode = mode,
		.late_read_window_ms = window_ms,
		.late_read_interval_ms = window_ms ? b->interval_ms : 1,
	};

	bench_ioctl(b->impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, &at,
		    "importer ATTACH");
	bh.handle = at.out_handle;
	bench_ioctl(b->impfd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &bh,
		    "importer SET_BEHAVIOUR");
	return at.out_handle;
}

static void bench_handle_op(struct bench *b, unsigned long cmd, __u32 handle,
			    const char *what)
{
	struct bar_dmabuf_imp_handle h = { .size = sizeof(h), .handle = handle };

	bench_ioctl(b->impfd, cmd, &h, what);
}

static void bench_map(struct bench *b, __u32 handle)
{
	bench_handle_op(b, BAR_DMABUF_IMP_IOCTL_MAP, handle, "importer MAP");
}

static void bench_map_all(struct bench *b, const __u32 *h, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		bench_map(b, h[i]);
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

static __u32 bench_restore(struct bench *b, int fd, __u32 flags)
{
	struct bar_dmabuf_restore rs = {
		.size = sizeof(rs),
		.flags = flags,
		.fd = fd,
	};

	bench_ioctl(b->devfd, BAR_DMABUF_IOCTL_RESTORE, &rs, "RESTORE");
	return rs.out_nr_buffers;
}

static void bench_expect(const char *what, __u32 got, __u32 want)
{
	if (got == want)
		return;
	fprintf(stderr, "%s: %s counted %u buffers, not %u\n", prog, what, got,
		want);
	exit(1);
}

/* ---- upstream VFIO's exporter ---- */

static bool bench_vfio_ok(const struct bench_vfio *v)
{
	return !v->absent[0];
}

/* Bind @v->bdf to vfio-pci by driver_override, remembering the old driver. */
static int bench_vfio_bind(struct bench_vfio *v)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	int i, ret;

	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK))
		if (system("modprobe vfio-pci >/dev/null 2>&1"))
			return -ENOENT;
	if (access("/sys/module/vfio_iommu_type1", F_OK))
		if (system("modprobe vfio_iommu_type1 >/dev/null 2>&1"))
			return -ENOENT;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", v->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		snprintf(v->old_driver, sizeof(v->old_driver), "%s",
			 strrchr(link, '/') + 1);
	}
	if (!strcmp(v->old_driver, "vfio-pci"))
		return 0;
	if (v->old_driver[0]) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/driver/unbind", v->bdf);
		ret = bench_write_file(path, v->bdf);
		if (ret)
			return ret;
	}
	v->bound_here = true;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 v->bdf);
	ret = bench_write_file(path, "vfio-pci");
	if (!ret)
		ret = bench_write_file("/sys/bus/pci/drivers_probe", v->bdf);
	if (ret)
		return ret;
	/* The group's node appears after the bind: wait for it, 10 s at most */
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/vfio-pci/%s", v->bdf);
	for (i = 0; i < 1000 && access(path, F_OK); i++)
		usleep(10000);
	return access(path, F_OK) ? -ETIMEDOUT : 0;
}

static void bench_vfio_close(struct bench_vfio *v)
{
	char path[PATH_MAX];

	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
	v->device = -1;
	v->group = -1;
	v->container = -1;
	if (v->old_unsafe[0])
		bench_write_file("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
				 v->old_unsafe);
	if (!v->bound_here)
		return;
	bench_write_file("/sys/bus/pci/drivers/vfio-pci/unbind", v->bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 v->bdf);
	bench_write_file(path, "\n");
	if (v->old_driver[0])
		bench_write_file("/sys/bus/pci/drivers_probe", v->bdf);
	v->bound_here = false;
}

/* Fills @v, or says in @v->absent why this kernel has no VFIO exporter. */
static void bench_vfio_open(struct bench_vfio *v)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct vfio_device_feature probe = {
		.argsz = sizeof(probe),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_DMA_BUF,
	};
	const char *unsafe =
		"/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	int ret;

	v->container = -1;
	v->group = -1;
	v->device = -1;
	v->bdf = getenv("BAR_DMABUF_VFIO_BDF");
	if (!v->bdf || !*v->bdf) {
		snprintf(v->absent, sizeof(v->absent), "BAR_DMABUF_VFIO_BDF not set");
		return;
	}
	ret = bench_vfio_bind(v);
	if (ret == -ENOENT) {
		snprintf(v->absent, sizeof(v->absent),
			 "no vfio-pci driver on this kernel");
		return;
	}
	if (ret)
		bench_fail("bind to vfio-pci", -ret);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 v->bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		bench_fail(path, errno);
	target[n] = '\0';
	snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(target, '/') + 1);
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0)
		bench_fail("/dev/vfio/vfio", errno);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0)
		bench_fail(path, errno);
	bench_ioctl(v->group, VFIO_GROUP_GET_STATUS, &st, "VFIO_GROUP_GET_STATUS");
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "%s: IOMMU group of %s not viable\n", prog,
			v->bdf);
		exit(1);
	}
	bench_ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container,
		    "VFIO_GROUP_SET_CONTAINER");
	/* The rig runs without interrupt remapping: type1 needs this. */
	if (bench_read_file(unsafe, v->old_unsafe, sizeof(v->old_unsafe)) ||
	    bench_write_file(unsafe, "1"))
		v->old_unsafe[0] = '\0';
	bench_ioctl(v->container, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU,
		    "VFIO_SET_IOMMU");
	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, v->bdf);
	if (v->device < 0)
		bench_fail("VFIO_GROUP_GET_DEVICE_FD", errno);
	if (ioctl(v->device, VFIO_DEVICE_FEATURE, &probe)) {
		snprintf(v->absent, sizeof(v->absent),
			 "vfio-pci of this kernel has no VFIO_DEVICE_FEATURE_DMA_BUF (%s)",
			 strerror(errno));
		return;
	}
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	bench_ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri,
		    "VFIO_DEVICE_GET_REGION_INFO(config)");
	v->cfg_off = ri.offset;
	ri.index = 2;
	bench_ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri,
		    "VFIO_DEVICE_GET_REGION_INFO(BAR2)");
	v->bar_size = ri.size;
}

/* VFIO's revoke and restore: memory decode off or on. */
static void bench_vfio_decode(struct bench_vfio *v, bool on)
{
	__u16 cmd;

	if (pread(v->device, &cmd, 2, v->cfg_off + PCI_COMMAND) != 2)
		bench_fail("VFIO config read", errno);
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(v->device, &cmd, 2, v->cfg_off + PCI_COMMAND) != 2)
		bench_fail("VFIO config write", errno);
}

/* Bytes @offset..+@length of VFIO's BAR2 as a dma-buf; returns its fd. */
static int bench_vfio_export(struct bench_vfio *v, __u64 offset, __u64 length)
{
	char raw[sizeof(struct vfio_device_feature) +
		 sizeof(struct vfio_device_feature_dma_buf) +
		 sizeof(struct vfio_region_dma_range)] = { 0 };
	struct vfio_device_feature *f = (void *)raw;
	struct vfio_device_feature_dma_buf *db = (void *)f->data;
	int fd;

	if (offset + length > v->bar_size) {
		fprintf(stderr, "%s: VFIO BAR2 of %s has %llu bytes, not %llu\n",
			prog, v->bdf, (unsigned long long)v->bar_size,
			(unsigned long long)(offset + length));
		exit(1);
	}
	f->argsz = sizeof(raw);
	f->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db->region_index = 2;
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = 1;
	db->dma_ranges[0].offset = offset;
	db->dma_ranges[0].length = length;
	fd = ioctl(v->device, VFIO_DEVICE_FEATURE, f);
	if (fd < 0)
		bench_fail("VFIO_DEVICE_FEATURE_DMA_BUF", errno);
	return fd;
}

/* ---- udmabuf ---- */

/* A memfd of @size bytes, sealed against shrinking; -1 without udmabuf. */
static int bench_memfd(__u64 size)
{
	int memfd = memfd_create("bar-dmabuf-bench",
				 MFD_ALLOW_SEALING | MFD_CLOEXEC);

	if (memfd < 0)
		bench_fail("memfd_create", errno);
	if (ftruncate(memfd, size))
		bench_fail("ftruncate(memfd)", errno);
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		bench_fail("F_ADD_SEALS", errno);
	return memfd;
}

static int bench_udmabuf_dev(void)
{
	int ufd = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);

	if (ufd < 0 && errno != ENOENT)
		bench_fail("/dev/udmabuf", errno);
	return ufd;
}

/* Bytes @offset..+@size of @memfd as a udmabuf; returns its fd. */
static int bench_udmabuf(int ufd, int memfd, __u64 offset, __u64 size)
{
	struct udmabuf_create c = {
		.memfd = memfd,
		.flags = UDMABUF_FLAGS_CLOEXEC,
		.offset = offset,
		.size = size,
	};
	int fd = ioctl(ufd, UDMABUF_CREATE, &c);

	if (fd < 0)
		bench_fail("UDMABUF_CREATE", errno);
	return fd;
}

/* Room for @n more open files. */
static void bench_nofile(unsigned int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		bench_fail("getrlimit", errno);
	if (rl.rlim_cur >= n + 64)
		return;
	rl.rlim_cur = n + 64;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		bench_fail("setrlimit(RLIMIT_NOFILE)", errno);
}

/* ---- figure 1: revoke scaling ---- */

/* One revoke-scaling set: @n buffers, each attached, late window D. */
struct bench_set {
	unsigned int n;
	int *fd;
	__u32 *h;
};

static void bench_set_attach(struct bench *b, struct bench_set *s)
{
	unsigned int i;

	s->h = bench_calloc(s->n, sizeof(*s->h));
	for (i = 0; i < s->n; i++) {
		s->h[i] = bench_attach(b, s->fd[i], BAR_DMABUF_IMP_UNMAP_WORKER,
				       b->window_ms);
		bench_map(b, s->h[i]);
	}
}

static void bench_set_free(struct bench *b, struct bench_set *s)
{
	unsigned int i;

	bench_close_importer(b);
	for (i = 0; i < s->n; i++)
		close(s->fd[i]);
	free(s->fd);
	free(s->h);
}

/* Parts of one batched revoke, from the importer's timeline (ms). */
enum bench_split_part {
	BENCH_SPLIT_NOTIFY,	/* start to the invalidate of the last to unmap */
	BENCH_SPLIT_DRAIN,	/* that invalidate to its unmap: D and lateness */
	BENCH_SPLIT_TAIL,	/* that unmap to the revoke's return */
	BENCH_SPLIT_TOLD_ALL,	/* start to the last invalidate of all */
	BENCH_SPLIT_PARTS
};

static const char * const bench_split_names[BENCH_SPLIT_PARTS] = {
	[BENCH_SPLIT_NOTIFY] = "notify",
	[BENCH_SPLIT_DRAIN] = "drain",
	[BENCH_SPLIT_TAIL] = "tail",
	[BENCH_SPLIT_TOLD_ALL] = "told_all",
};

/* Read attachment @handle's log into @ev (@room entries, grown if short). */
static __u32 bench_read_log(struct bench *b, __u32 handle,
			    struct bar_dmabuf_imp_event **ev, __u32 *room)
{
	struct bar_dmabuf_imp_read_log rl = { .size = sizeof(rl) };

	for (;;) {
		rl.handle = handle;
		rl.max_events = *room;
		rl.events_ptr = (__u64)(unsigned long)*ev;
		if (!ioctl(b->impfd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl))
			return rl.out_nr_events;
		if (errno != ENOSPC)
			bench_fail("importer READ_LOG", errno);
		*room *= 4;
		free(*ev);
		*ev = bench_calloc(*room, sizeof(**ev));
	}
}

/*
 * Attachment @handle's invalidate of a mapping and its unmap after @t0_ms
 * (the last of each), in ms; false if its log lacks one (a full log drops
 * the newest entries). @ev holds @room entries, reallocated if short.
 * The importer logs an unmap just after the call that woke the revoke, so
 * an invalidate without its unmap yet waits (10 s at most) for one more.
 */
static bool bench_log_times(struct bench *b, __u32 handle, double t0_ms,
			    struct bar_dmabuf_imp_event **ev, __u32 *room,
			    double *inv_ms, double *unmap_ms)
{
	struct bar_dmabuf_imp_wait_event we = {
		.size = sizeof(we),
		.handle = handle,
		.type = BAR_DMABUF_IMP_EV_UNMAP,
		.timeout_ms = 10000,
	};
	__u32 k, nr, pass;

	for (pass = 0; pass < 2; pass++) {
		nr = bench_read_log(b, handle, ev, room);
		*inv_ms = *unmap_ms = 0;
		we.count = 1;
		for (k = 0; k < nr; k++) {
			const struct bar_dmabuf_imp_event *e = &(*ev)[k];
			double t = e->ts_ns / 1e6;

			if (e->type == BAR_DMABUF_IMP_EV_UNMAP)
				we.count++;
			if (t < t0_ms)
				continue;
			if (e->type == BAR_DMABUF_IMP_EV_INVALIDATE && e->arg)
				*inv_ms = t;
			else if (e->type == BAR_DMABUF_IMP_EV_UNMAP)
				*unmap_ms = t;
		}
		if (!*inv_ms || *unmap_ms >= *inv_ms ||
		    ioctl(b->impfd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &we))
			break;
	}
	return *inv_ms && *unmap_ms >= *inv_ms;
}

/*
 * Where the batched revoke of @s that ran from @t0_ms to @t1_ms spent its
 * time, into @part (ms, &enum bench_split_part): the buffer whose unmap
 * came last bounds the revoke, so its notify + drain + tail is the whole.
 * False if a log could not tell.
 */
static bool bench_split(struct bench *b, struct bench_set *s, double t0_ms,
			double t1_ms, double *part)
{
	__u32 room = 256, i;
	struct bar_dmabuf_imp_event *ev = bench_calloc(room, sizeof(*ev));
	double inv, unmap, last_inv = 0, last_unmap = 0, told_all = 0;
	bool ok = true;

	for (i = 0; i < s->n && ok; i++) {
		ok = bench_log_times(b, s->h[i], t0_ms, &ev, &room, &inv,
				     &unmap);
		if (inv > told_all)
			told_all = inv;
		if (unmap > last_unmap) {
			last_unmap = unmap;
			last_inv = inv;
		}
	}
	free(ev);
	if (!ok)
		return false;
	part[BENCH_SPLIT_NOTIFY] = last_inv - t0_ms;
	part[BENCH_SPLIT_DRAIN] = last_unmap - last_inv;
	part[BENCH_SPLIT_TAIL] = t1_ms - last_unmap;
	part[BENCH_SPLIT_TOLD_ALL] = told_all - t0_ms;
	return true;
}

/* One batched revoke of @s; where it went into @part, or @part[0] = -1. */
static double bench_batched(struct bench *b, struct bench_set *s,
			    double *part)
{
	double t0, t1;

	t0 = bench_now_ms();
	bench_expect("batched REVOKE", bench_revoke(b, -1, BAR_DMABUF_ALL_BUFFERS),
		     s->n);
	t1 = bench_now_ms();
	if (!bench_split(b, s, t0, t1, part))
		part[0] = -1;
	bench_expect("RESTORE", bench_restore(b, -1, BAR_DMABUF_ALL_BUFFERS),
		     s->n);
	bench_map_all(b, s->h, s->n);
	return t1 - t0;
}

static double bench_serial(struct bench *b, struct bench_set *s)
{
	double t0, t1;
	unsigned int i;

	t0 = bench_now_ms();
	for (i = 0; i < s->n; i++)
		bench_expect("REVOKE(fd)", bench_revoke(b, s->fd[i], 0), 1);
	t1 = bench_now_ms();
	bench_expect("RESTORE", bench_restore(b, -1, BAR_DMABUF_ALL_BUFFERS),
		     s->n);
	bench_map_all(b, s->h, s->n);
	return t1 - t0;
}

static double bench_vfio_revoke(struct bench *b, struct bench_vfio *v,
				struct bench_set *s)
{
	double t0, t1;

	t0 = bench_now_ms();
	bench_vfio_decode(v, false);
	t1 = bench_now_ms();
	bench_vfio_decode(v, true);
	bench_map_all(b, s->h, s->n);
	return t1 - t0;
}

static void bench_fig_scaled(const char *fmt, unsigned int n, double *v,
			     unsigned int reps, double scale)
{
	double tmp[BENCH_MAX_REPS];
	char name[96];
	unsigned int r;

	for (r = 0; r < reps; r++)
		tmp[r] = v[r] * scale;
	snprintf(name, sizeof(name), fmt, n);
	bench_fig(name, tmp, reps);
}

static void bench_scaling(struct bench *b, struct bench_vfio *v,
			  const unsigned int *ns, unsigned int nr_ns)
{
	double bat[BENCH_MAX_REPS], ser[BENCH_MAX_REPS], vf[BENCH_MAX_REPS];
	double part[BENCH_MAX_REPS][BENCH_SPLIT_PARTS];
	double d = b->window_ms, v1[BENCH_MAX_REPS];
	unsigned int k, r, i, p;
	bool split;
	char name[96];

	printf("\n%s: revoke scaling of one-page buffers:\n", prog);
	printf("%s: importer unmaps %u ms after the invalidate (D)\n", prog,
	       b->window_ms);
	printf("%s: a late read every %u ms\n", prog, b->interval_ms);
	printf("%s: VFIO: %s\n", prog,
	       bench_vfio_ok(v) ? v->bdf : v->absent);
	/* N of ours and N of VFIO's open at once */
	for (k = 0; k < nr_ns; k++)
		bench_nofile(2 * ns[k]);
	for (k = 0; k < nr_ns; k++) {
		struct bench_set ours = { .n = ns[k] }, vs = { .n = ns[k] };
		bool with_vfio = bench_vfio_ok(v) &&
				 ns[k] * BENCH_PAGE <= v->bar_size;

		bench_open_importer(b);
		ours.fd = bench_calloc(ours.n, sizeof(int));
		for (i = 0; i < ours.n; i++)
			ours.fd[i] = bench_export(b, i * BENCH_PAGE, BENCH_PAGE);
		bench_set_attach(b, &ours);
		if (with_vfio) {
			vs.fd = bench_calloc(vs.n, sizeof(int));
			for (i = 0; i < vs.n; i++)
				vs.fd[i] = bench_vfio_export(v, i * BENCH_PAGE,
							     BENCH_PAGE);
			bench_set_attach(b, &vs);
		}
		/* Interleaved, so a drift of the machine's speed hits all. */
		split = true;
		for (r = 0; r < b->reps; r++) {
			bat[r] = bench_batched(b, &ours, part[r]);
			split &= part[r][0] >= 0;
			ser[r] = bench_serial(b, &ours);
			if (with_vfio)
				vf[r] = bench_vfio_revoke(b, v, &vs);
			printf("%s: N=%u repetition %u: batched %.1f ms, one-by-one %.1f ms",
			       prog, ours.n, r + 1, bat[r], ser[r]);
			if (with_vfio)
				printf(", VFIO %.1f ms", vf[r]);
			printf("\n");
		}
		bench_header("revoke of N buffers");
		bench_fig_scaled("scaling.batched_ms.n%u", ours.n, bat, b->reps, 1);
		bench_fig_scaled("scaling.serial_ms.n%u", ours.n, ser, b->reps, 1);
		bench_fig_scaled("scaling.batched/D.n%u", ours.n, bat, b->reps,
				 1 / d);
		bench_fig_scaled("scaling.serial/D.n%u", ours.n, ser, b->reps,
				 1 / d);
		for (p = 0; p < BENCH_SPLIT_PARTS; p++) {
			snprintf(name, sizeof(name), "scaling.batched_%s/D.n%u",
				 bench_split_names[p], ours.n);
			if (!split) {
				bench_absent(name, "an importer log was full");
				continue;
			}
			for (r = 0; r < b->reps; r++)
				v1[r] = part[r][p] / d;
			bench_fig(name, v1, b->reps);
		}
		if (with_vfio) {
			bench_fig_scaled("scaling.vfio_ms.n%u", ours.n, vf,
					 b->reps, 1);
			bench_fig_scaled("scaling.vfio/D.n%u", ours.n, vf,
					 b->reps, 1 / d);
		} else {
			snprintf(name, sizeof(name), "scaling.vfio/D.n%u", ours.n);
			bench_absent(name, bench_vfio_ok(v) ?
				     "VFIO's BAR is too small for N pages" :
				     v->absent);
		}
		/* the importer closes first: it detaches from both sets */
		bench_set_free(b, &ours);
		if (with_vfio) {
			for (i = 0; i < vs.n; i++)
				close(vs.fd[i]);
			free(vs.fd);
			free(vs.h);
		}
	}
	printf("%s: floor: every revoke waits at least D = %u ms (batched/D 1, one-by-one/D N)\n",
	       prog, b->window_ms);
}

/* ---- figure 2: idle revoke ---- */

/* Cheap figures take three times the samples: TCG timing is noisy. */
static unsigned int bench_more_reps(const struct bench *b)
{
	return b->reps * 3 > BENCH_MAX_REPS ? BENCH_MAX_REPS : b->reps * 3;
}

static void bench_idle(struct bench *b)
{
	static const unsigned int ks[] = { 1, 16, 128 };
	double cyc[3][BENCH_MAX_REPS], v[BENCH_MAX_REPS];
	double s1[BENCH_MAX_REPS], s2[BENCH_MAX_REPS];
	static __u32 h[3][128];
	unsigned int reps = bench_more_reps(b), k, r, c, i, n;
	int fd[3];
	char name[64];

	bench_open_importer(b);
	for (k = 0; k < 3; k++) {
		fd[k] = bench_export(b, k * BENCH_PAGE, BENCH_PAGE);
		for (i = 0; i < ks[k]; i++) {
			h[k][i] = bench_attach(b, fd[k],
					       BAR_DMABUF_IMP_UNMAP_SYNC, 0);
			bench_map(b, h[k][i]);
		}
	}
	/* one untimed cycle each: the first revoke of a buffer warms up */
	for (k = 0; k < 3; k++) {
		bench_expect("REVOKE(fd)", bench_revoke(b, fd[k], 0), 1);
		bench_expect("RESTORE(fd)", bench_restore(b, fd[k], 0), 1);
		bench_map_all(b, h[k], ks[k]);
	}
	for (r = 0; r < reps; r++) {
		for (k = 0; k < 3; k++) {
			double t = 0, t0;

			for (c = 0; c < BENCH_IDLE_CYCLES; c++) {
				t0 = bench_now_ms();
				bench_expect("REVOKE(fd)",
					     bench_revoke(b, fd[k], 0), 1);
				bench_expect("RESTORE(fd)",
					     bench_restore(b, fd[k], 0), 1);
				t += bench_now_ms() - t0;
				/* map again, untimed: a revoke finds K maps */
				bench_map_all(b, h[k], ks[k]);
			}
			cyc[k][r] = t * 1e3 / BENCH_IDLE_CYCLES;
		}
		s1[r] = (cyc[1][r] - cyc[0][r]) / (ks[1] - ks[0]);
		s2[r] = (cyc[2][r] - cyc[1][r]) / (ks[2] - ks[1]);
	}
	printf("\n%s: idle: REVOKE + RESTORE of one buffer, K attachments mapped\n",
	       prog);
	printf("%s: the importer unmaps in its callback; a sample is the mean of %u cycles\n",
	       prog, BENCH_IDLE_CYCLES);
	bench_header("idle revoke + restore (us)");
	for (k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "idle.cycle_us.k%u", ks[k]);
		memcpy(v, cyc[k], sizeof(v[0]) * reps);
		bench_fig(name, v, reps);
		for (r = 0; r < reps; r++)
			v[r] = cyc[k][r] / ks[k];
		snprintf(name, sizeof(name), "idle.per_att_us.k%u", ks[k]);
		bench_fig(name, v, reps);
		for (r = 0; r < reps; r++)
			v[r] = cyc[k][r] / cyc[0][r];
		snprintf(name, sizeof(name), "idle.cycle/cycle_k1.k%u", ks[k]);
		bench_fig(name, v, reps);
	}
	for (r = 0; r < reps; r++)
		v[r] = (cyc[2][r] - cyc[0][r]) / (ks[2] - ks[0]);
	bench_fig("idle.slope_us_per_att", v, reps);
	/* a sample whose 1..16 slope noise made <= 0 has no ratio */
	for (r = 0, n = 0; r < reps; r++)
		if (s1[r] > 0)
			v[n++] = s2[r] / s1[r];
	if (n)
		bench_fig("idle.slope_16-128/slope_1-16", v, n);
	else
		bench_absent("idle.slope_16-128/slope_1-16",
			     "no sample had a positive slope over 1..16");
	printf("%s: idle: growth linear in K gives a slope ratio near 1\n",
	       prog);
	bench_close_importer(b);
	for (k = 0; k < 3; k++)
		close(fd[k]);
}

/* ---- figure 3: map cost ---- */

/* @count MAP + UNMAP round trips; returns microseconds per trip. */
static double bench_roundtrips(struct bench *b, __u32 handle,
			       unsigned int count)
{
	double t0, t1;
	unsigned int k;

	t0 = bench_now_ms();
	for (k = 0; k < count; k++) {
		bench_map(b, handle);
		bench_handle_op(b, BAR_DMABUF_IMP_IOCTL_UNMAP, handle,
				"importer UNMAP");
	}
	t1 = bench_now_ms();
	return (t1 - t0) * 1e3 / count;
}

/*
 * Before 6.16 the core caches udmabuf's table: it sets cache_sgt_mapping,
 * and a dynamic importer of a static exporter is mapped once at attach.
 * No importer mode gets around that, so there is no map to compare with.
 */
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

static void bench_map_cost(struct bench *b, struct bench_vfio *v)
{
	static const struct {
		__u64 size;
		const char *tag;
		unsigned int trips;
	} sz[] = { { BENCH_PAGE, "4k", 1000 }, { 2ull << 20, "2m", 300 } };
	double ours[BENCH_MAX_REPS], ud[BENCH_MAX_REPS], vf[BENCH_MAX_REPS];
	double q[BENCH_MAX_REPS];
	unsigned int reps = bench_more_reps(b), s, r;
	char name[64];
	int ufd = bench_udmabuf_dev();

	bench_header("importer MAP + UNMAP round trip (us)");
	for (s = 0; s < 2; s++) {
		int ofd, mfd = -1, udfd = -1, vfd = -1;
		__u32 oh, uh = 0, vh = 0;
		bool with_vfio = bench_vfio_ok(v) && sz[s].size <= v->bar_size;

		bench_open_importer(b);
		ofd = bench_export(b, 0, sz[s].size);
		oh = bench_attach(b, ofd, BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0);
		if (ufd >= 0) {
			mfd = bench_memfd(sz[s].size);
			udfd = bench_udmabuf(ufd, mfd, 0, sz[s].size);
			uh = bench_attach(b, udfd, BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0);
		}
		if (with_vfio) {
			vfd = bench_vfio_export(v, 0, sz[s].size);
			vh = bench_attach(b, vfd, BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0);
		}
		/* one untimed pass each warms caches and the IOMMU tables */
		bench_roundtrips(b, oh, 1);
		if (uh)
			bench_roundtrips(b, uh, 1);
		if (vh)
			bench_roundtrips(b, vh, 1);
		for (r = 0; r < reps; r++) {
			ours[r] = bench_roundtrips(b, oh, sz[s].trips);
			if (uh)
				ud[r] = bench_roundtrips(b, uh, sz[s].trips);
			if (vh)
				vf[r] = bench_roundtrips(b, vh, sz[s].trips);
		}
		snprintf(name, sizeof(name), "map.ours/udmabuf.%s", sz[s].tag);
		if (uh) {
			for (r = 0; r < reps; r++)
				q[r] = ours[r] / ud[r];
			bench_fig(name, q, reps);
		} else {
			bench_absent(name, "no /dev/udmabuf on this kernel");
		}
		snprintf(name, sizeof(name), "map.ours/vfio.%s", sz[s].tag);
		if (vh) {
			for (r = 0; r < reps; r++)
				q[r] = ours[r] / vf[r];
			bench_fig(name, q, reps);
		} else {
			bench_absent(name, v->absent[0] ? v->absent :
				     "VFIO's BAR is too small");
		}
		snprintf(name, sizeof(name), "map.ours_us.%s", sz[s].tag);
		bench_fig(name, ours, reps);
		if (uh) {
			snprintf(name, sizeof(name), "map.udmabuf_us.%s", sz[s].tag);
			bench_fig(name, ud, reps);
		}
		if (vh) {
			snprintf(name, sizeof(name), "map.vfio_us.%s", sz[s].tag);
			bench_fig(name, vf, reps);
		}
		bench_close_importer(b);
		close(ofd);
		if (udfd >= 0)
			close(udfd);
		if (mfd >= 0)
			close(mfd);
		if (vfd >= 0)
			close(vfd);
	}
	if (ufd >= 0) {
		bench_note_cached_reference();
		close(ufd);
	}
}

/* ---- figure 4: CPU throughput ---- */

/* @passes passes of sequential 64-bit loads over @len bytes; MB/s. */
static double bench_read_mbs(const uint64_t *p, __u64 len, unsigned int passes)
{
	uint64_t sum = 0;
	double t0, t1;
	unsigned int k;
	__u64 i;

	t0 = bench_now_ms();
	for (k = 0; k < passes; k++)
		for (i = 0; i < len / 8; i++)
			sum += __atomic_load_n(&p[i], __ATOMIC_RELAXED);
	t1 = bench_now_ms();
	if (sum == 1)	/* keep the loads */
		printf(" ");
	return passes * len / 1e3 / (t1 - t0);
}

static double bench_write_mbs(uint64_t *p, __u64 len, unsigned int passes)
{
	double t0, t1;
	unsigned int k;
	__u64 i;

	t0 = bench_now_ms();
	for (k = 0; k < passes; k++)
		for (i = 0; i < len / 8; i++)
			__atomic_store_n(&p[i], i + k, __ATOMIC_RELAXED);
	__sync_synchronize();	/* sfence: WC stores reach the BAR */
	t1 = bench_now_ms();
	return passes * len / 1e3 / (t1 - t0);
}

static void *bench_mmap(int fd, __u64 len, __u64 off, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		bench_fail(what, errno);
	return p;
}

/*
 * mmap @len bytes of sysfs resource<@bar><@suffix> of @bdf, or NULL (and
 * why in @why). Sets *@fd.
 */
static void *bench_map_resource(const char *bdf, __u32 bar, const char *suffix,
				__u64 len, int *fd, char *why, size_t wlen)
{
	char path[PATH_MAX];
	void *p;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%u%s",
		 bdf, bar, suffix);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		snprintf(why, wlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p != MAP_FAILED)
		return p;
	snprintf(why, wlen, "mmap of %s: %s", path, strerror(errno));
	close(*fd);
	*fd = -1;
	return NULL;
}

static void bench_cpu(struct bench *b)
{
	double ord[BENCH_MAX_REPS], owr[BENCH_MAX_REPS];
	double rd[2][BENCH_MAX_REPS], wr[2][BENCH_MAX_REPS];
	double q[BENCH_MAX_REPS];
	static const char *const suffix[2] = { "_wc", "" };
	static const char *const tag[2] = { "wc", "uc" };
	const char *bdf2 = getenv("BAR_DMABUF_BDF2");
	unsigned int reps = bench_more_reps(b), r, k;
	__u64 len = BENCH_CPU_BYTES;
	char why[2][PATH_MAX + 64], name[64];
	const char *refdev[2];
	void *ref[2], *ours;
	int fd, rfd[2];

	if (len > b->bar_size)
		len = b->bar_size;
	fd = bench_export(b, 0, len);
	ours = bench_mmap(fd, len, 0, "mmap of the dma-buf");
	/*
	 * The kernel refuses a sysfs mmap of a BAR a driver claimed (ours,
	 * here: the range is busy); then the reference is the same BAR of the
	 * second, unclaimed device of the same model.
	 */
	for (k = 0; k < 2; k++) {
		refdev[k] = b->bdf;
		ref[k] = bench_map_resource(b->bdf, b->bar, suffix[k], len,
					    &rfd[k], why[k], sizeof(why[k]));
		if (ref[k] || !bdf2 || !*bdf2)
			continue;
		printf("%s: cpu: %s; the reference is %s's BAR%u\n", prog,
		       why[k], bdf2, b->bar);
		refdev[k] = bdf2;
		ref[k] = bench_map_resource(bdf2, b->bar, suffix[k], len,
					    &rfd[k], why[k], sizeof(why[k]));
	}
	/* untimed: the first touch of each page faults it in */
	bench_read_mbs(ours, len, 1);
	bench_write_mbs(ours, len, 1);
	for (k = 0; k < 2; k++) {
		if (!ref[k])
			continue;
		bench_read_mbs(ref[k], len, 1);
		bench_write_mbs(ref[k], len, 1);
	}
	/* ours first in even repetitions, last in odd ones */
	for (r = 0; r < reps; r++) {
		if (!(r & 1)) {
			ord[r] = bench_read_mbs(ours, len, BENCH_CPU_PASSES);
			owr[r] = bench_write_mbs(ours, len, BENCH_CPU_PASSES);
		}
		for (k = 0; k < 2; k++) {
			if (!ref[k])
				continue;
			rd[k][r] = bench_read_mbs(ref[k], len, BENCH_CPU_PASSES);
			wr[k][r] = bench_write_mbs(ref[k], len, BENCH_CPU_PASSES);
		}
		if (r & 1) {
			ord[r] = bench_read_mbs(ours, len, BENCH_CPU_PASSES);
			owr[r] = bench_write_mbs(ours, len, BENCH_CPU_PASSES);
		}
	}
	printf("\n%s: cpu: %u passes over %llu bytes of BAR%u, %s; our mmap is %s\n",
	       prog, BENCH_CPU_PASSES, (unsigned long long)len, b->bar,
	       "64-bit loads and stores in order",
	       b->wc ? "write-combined" : "uncached");
	for (k = 0; k < 2; k++)
		if (ref[k])
			printf("%s: cpu: reference resource%u%s of %s\n", prog,
			       b->bar, suffix[k], refdev[k]);
	bench_header("CPU sequential throughput (MB/s, ratios ours/sysfs)");
	for (k = 0; k < 2; k++) {
		snprintf(name, sizeof(name), "cpu.read_ours/resource%s", suffix[k]);
		if (!ref[k]) {
			bench_absent(name, why[k]);
			snprintf(name, sizeof(name), "cpu.write_ours/resource%s",
				 suffix[k]);
			bench_absent(name, why[k]);
			continue;
		}
		for (r = 0; r < reps; r++)
			q[r] = ord[r] / rd[k][r];
		bench_fig(name, q, reps);
		snprintf(name, sizeof(name), "cpu.write_ours/resource%s", suffix[k]);
		for (r = 0; r < reps; r++)
			q[r] = owr[r] / wr[k][r];
		bench_fig(name, q, reps);
		snprintf(name, sizeof(name), "cpu.read_mbs.resource_%s", tag[k]);
		bench_fig(name, rd[k], reps);
		snprintf(name, sizeof(name), "cpu.write_mbs.resource_%s", tag[k]);
		bench_fig(name, wr[k], reps);
	}
	bench_fig("cpu.read_mbs.ours", ord, reps);
	bench_fig("cpu.write_mbs.ours", owr, reps);
	for (k = 0; k < 2; k++) {
		if (ref[k])
			munmap(ref[k], len);
		if (rfd[k] >= 0)
			close(rfd[k]);
	}
	munmap(ours, len);
	close(fd);
}

/* ---- figure 5: footprint ---- */

/* Slab: of /proc/meminfo, in bytes. */
static long long bench_slab_bytes(void)
{
	char line[128];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		bench_fail("/proc/meminfo", errno);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %lld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0) {
		fprintf(stderr, "%s: no Slab: line in /proc/meminfo\n", prog);
		exit(1);
	}
	return kb * 1024;
}

enum bench_foot_kind { FOOT_OURS, FOOT_UDMABUF };

/*
 * Bytes of slab per buffer (@atts false: @n one-page buffers) or per
 * attachment (@atts: @n attachments of one buffer).
 */
static double bench_foot_one(struct bench *b, enum bench_foot_kind kind,
			     bool atts, int ufd, unsigned int n)
{
	long long before, after;
	int *fd = bench_calloc(n, sizeof(int));
	int memfd = -1, one = -1;
	unsigned int i;

	if (kind == FOOT_UDMABUF)
		memfd = bench_memfd(atts ? BENCH_PAGE : n * BENCH_PAGE);
	if (atts) {
		bench_open_importer(b);
		one = kind == FOOT_OURS ? bench_export(b, 0, BENCH_PAGE) :
		      bench_udmabuf(ufd, memfd, 0, BENCH_PAGE);
	}
	before = bench_slab_bytes();
	for (i = 0; i < n; i++) {
		if (atts)
			bench_attach(b, one, BAR_DMABUF_IMP_UNMAP_SYNC, 0);
		else if (kind == FOOT_OURS)
			fd[i] = bench_export(b, i * BENCH_PAGE, BENCH_PAGE);
		else
			fd[i] = bench_udmabuf(ufd, memfd, i * BENCH_PAGE,
					      BENCH_PAGE);
	}
	after = bench_slab_bytes();
	if (atts) {
		bench_close_importer(b);
		close(one);
	} else {
		for (i = 0; i < n; i++)
			close(fd[i]);
	}
	if (memfd >= 0)
		close(memfd);
	free(fd);
	return (double)(after - before) / n;
}

/* /sys/module/<name>/coresize, or -1 (built in, or not loaded). */
static long long bench_coresize(const char *name)
{
	char path[PATH_MAX], buf[32];

	snprintf(path, sizeof(path), "/sys/module/%s/coresize", name);
	if (bench_read_file(path, buf, sizeof(buf)))
		return -1;
	return atoll(buf);
}

static void bench_footprint(struct bench *b)
{
	double ob[BENCH_MAX_REPS], oa[BENCH_MAX_REPS];
	double ub[BENCH_MAX_REPS], ua[BENCH_MAX_REPS], q[BENCH_MAX_REPS];
	unsigned int n = BENCH_FOOT_COUNT, r;
	int ufd = bench_udmabuf_dev();
	long long ours, imp, ref;

	if (n * BENCH_PAGE > b->bar_size)
		n = b->bar_size / BENCH_PAGE;
	bench_nofile(n);
	for (r = 0; r < b->reps; r++) {
		ob[r] = bench_foot_one(b, FOOT_OURS, false, ufd, n);
		oa[r] = bench_foot_one(b, FOOT_OURS, true, ufd, n);
		if (ufd < 0)
			continue;
		ub[r] = bench_foot_one(b, FOOT_UDMABUF, false, ufd, n);
		ua[r] = bench_foot_one(b, FOOT_UDMABUF, true, ufd, n);
	}
	printf("\n%s: footprint: growth of Slab: (/proc/meminfo) over %u buffers\n",
	       prog, n);
	printf("%s: and over %u attachments of one buffer by the test importer,\n",
	       prog, n);
	printf("%s: whose own state counts too (its 128 KiB event log per\n",
	       prog);
	printf("%s: attachment: a large kmalloc counts as slab); ours-udmabuf\n",
	       prog);
	printf("%s: is what our exporter adds per attachment\n", prog);
	bench_header("kernel memory (bytes)");
	bench_fig("footprint.slab_per_buffer.ours", ob, b->reps);
	bench_fig("footprint.slab_per_attachment.ours", oa, b->reps);
	if (ufd >= 0) {
		for (r = 0; r < b->reps; r++)
			q[r] = ub[r] ? ob[r] / ub[r] : 0;
		bench_fig("footprint.per_buffer_ours/udmabuf", q, b->reps);
		for (r = 0; r < b->reps; r++)
			q[r] = ua[r] ? oa[r] / ua[r] : 0;
		bench_fig("footprint.per_attachment_ours/udmabuf", q, b->reps);
		for (r = 0; r < b->reps; r++)
			q[r] = oa[r] - ua[r];
		bench_fig("footprint.slab_per_attachment.ours-udmabuf", q,
			  b->reps);
		bench_fig("footprint.slab_per_buffer.udmabuf", ub, b->reps);
		bench_fig("footprint.slab_per_attachment.udmabuf", ua, b->reps);
		close(ufd);
	} else {
		bench_absent("footprint.per_buffer_ours/udmabuf",
			     "no /dev/udmabuf on this kernel");
	}
	/* a size is one number: min = median = max */
	ours = bench_coresize("bar_dmabuf");
	imp = bench_coresize("bar_dmabuf_importer");
	ref = bench_coresize("vfio_pci_core");
	q[0] = ours;
	bench_fig("footprint.module_core_bytes.bar_dmabuf", q, 1);
	q[0] = imp;
	bench_fig("footprint.module_core_bytes.bar_dmabuf_importer", q, 1);
	if (ref > 0) {
		q[0] = (double)ours / ref;
		bench_fig("footprint.module_core_bar_dmabuf/vfio_pci_core", q, 1);
	} else {
		bench_absent("footprint.module_core_bar_dmabuf/vfio_pci_core",
			     "vfio_pci_core not loaded as a module");
	}
	printf("%s: module sizes: /sys/module/*/coresize (text, data, bss)\n",
	       prog);
}

/* ---- figure 6: scale ---- */

/* One scale round of @n buffers: per-buffer us of setup, revoke, restore. */
static void bench_scale_round(struct bench *b, unsigned int n, double *setup,
			      double *revoke, double *restore)
{
	double t0, t1, t2, t3;
	unsigned int i;
	__u32 *h = bench_calloc(n, sizeof(*h));

	bench_open_importer(b);
	t0 = bench_now_ms();
	for (i = 0; i < n; i++) {
		int fd = bench_export(b, i * BENCH_PAGE, BENCH_PAGE);

		h[i] = bench_attach(b, fd, BAR_DMABUF_IMP_UNMAP_SYNC, 0);
		bench_map(b, h[i]);
		close(fd);	/* the attachment keeps the buffer */
	}
	t1 = bench_now_ms();
	bench_expect("batched REVOKE", bench_revoke(b, -1, BAR_DMABUF_ALL_BUFFERS),
		     n);
	t2 = bench_now_ms();
	bench_expect("RESTORE", bench_restore(b, -1, BAR_DMABUF_ALL_BUFFERS), n);
	t3 = bench_now_ms();
	bench_close_importer(b);
	free(h);
	*setup = (t1 - t0) * 1e3 / n;
	*revoke = (t2 - t1) * 1e3 / n;
	*restore = (t3 - t2) * 1e3 / n;
}

static void bench_scale(struct bench *b, unsigned int n)
{
	double s[2][BENCH_MAX_REPS], rv[2][BENCH_MAX_REPS];
	double rs[2][BENCH_MAX_REPS], q[BENCH_MAX_REPS];
	const unsigned int ns[2] = { BENCH_SCALE_REF, n };
	unsigned int r, k;
	char name[80];

	if (n * BENCH_PAGE > b->bar_size) {
		fprintf(stderr, "%s: scale: BAR%u of %s has room for %llu pages, not %u\n",
			prog, b->bar, b->bdf,
			(unsigned long long)(b->bar_size / BENCH_PAGE), n);
		exit(1);
	}
	for (r = 0; r < b->reps; r++) {
		for (k = 0; k < 2; k++)
			bench_scale_round(b, ns[k], &s[k][r], &rv[k][r],
					  &rs[k][r]);
		printf("%s: scale repetition %u, per buffer:\n", prog, r + 1);
		for (k = 0; k < 2; k++)
			printf("%s:   %u buffers: setup %.1f us, revoke %.1f us\n",
			       prog, ns[k], s[k][r], rv[k][r]);
	}
	printf("\n%s: scale: %u one-page buffers of one BAR, against %u:\n",
	       prog, n, BENCH_SCALE_REF);
	printf("%s: each attached and mapped (unmapped in the callback),\n",
	       prog);
	printf("%s: revoked in one batch and restored\n", prog);
	bench_header("per buffer");
	for (r = 0; r < b->reps; r++)
		q[r] = s[1][r] / s[0][r];
	snprintf(name, sizeof(name), "scale.setup_per_buf.n%u/n%u", n,
		 BENCH_SCALE_REF);
	bench_fig(name, q, b->reps);
	for (r = 0; r < b->reps; r++)
		q[r] = rv[1][r] / rv[0][r];
	snprintf(name, sizeof(name), "scale.revoke_per_buf.n%u/n%u", n,
		 BENCH_SCALE_REF);
	bench_fig(name, q, b->reps);
	for (r = 0; r < b->reps; r++)
		q[r] = rs[1][r] / rs[0][r];
	snprintf(name, sizeof(name), "scale.restore_per_buf.n%u/n%u", n,
		 BENCH_SCALE_REF);
	bench_fig(name, q, b->reps);
	for (k = 0; k < 2; k++) {
		snprintf(name, sizeof(name), "scale.setup_us_per_buf.n%u", ns[k]);
		bench_fig(name, s[k], b->reps);
		snprintf(name, sizeof(name), "scale.revoke_us_per_buf.n%u", ns[k]);
		bench_fig(name, rv[k], b->reps);
		snprintf(name, sizeof(name), "scale.restore_us_per_buf.n%u", ns[k]);
		bench_fig(name, rs[k], b->reps);
	}
}

/* ---- main ---- */

static bool bench_want(const char *list, const char *fig)
{
	size_t len = strlen(fig);
	const char *p = list;

	if (!list)
		return true;
	while ((p = strstr(p, fig))) {
		if ((p == list || p[-1] == ',') && (p[len] == ',' || !p[len]))
			return true;
		p += len;
	}
	return false;
}

static unsigned int bench_parse_ns(char *s, unsigned int *ns)
{
	unsigned int n = 0;
	char *tok, *save = NULL;

	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == BENCH_MAX_NS) {
			fprintf(stderr, "%s: at most %u values of N\n", prog,
				BENCH_MAX_NS);
			bench_usage();
		}
		ns[n++] = bench_number(tok, 1, BENCH_MAX_N);
	}
	if (!n)
		bench_usage();
	return n;
}

int main(int argc, char **argv)
{
	static const char *const known[] = { "scaling", "idle", "map", "cpu",
					     "footprint", "scale" };
	unsigned int ns[BENCH_MAX_NS] = { 1, 8, 64, 256, 1024 }, nr_ns = 5;
	struct bench b = { .window_ms = 100, .interval_ms = 10, .reps = 3,
			   .impfd = -1 };
	struct bench_vfio v = { .container = -1, .group = -1, .device = -1 };
	unsigned int scale_n = 10000, i;
	const char *figs = NULL;
	char *tok, *copy, *save = NULL;
	bool need_vfio;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "f:d:i:r:N:s:h")) != -1) {
		switch (opt) {
		case 'f':
			figs = optarg;
			break;
		case 'd':
			b.window_ms = bench_number(optarg, 1, 60000);
			break;
		case 'i':
			b.interval_ms = bench_number(optarg, 1, 10000);
			break;
		case 'r':
			b.reps = bench_number(optarg, 1, BENCH_MAX_REPS);
			break;
		case 'N':
			nr_ns = bench_parse_ns(optarg, ns);
			break;
		case 's':
			scale_n = bench_number(optarg, BENCH_SCALE_REF,
					       BENCH_MAX_N);
			break;
		default:
			bench_usage();
		}
	}
	if (optind != argc)
		bench_usage();
	if (figs) {
		copy = strdup(figs);
		for (tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			for (i = 0; i < 6 && strcmp(tok, known[i]); i++)
				;
			if (i == 6) {
				fprintf(stderr, "%s: unknown figure '%s'\n",
					prog, tok);
				bench_usage();
			}
		}
		free(copy);
	}
	b.bdf = getenv("BAR_DMABUF_BDF");
	if (!b.bdf || !*b.bdf) {
		fprintf(stderr, "%s: BAR_DMABUF_BDF is not set\n", prog);
		bench_usage();
	}

	bench_open(&b);
	for (i = 0; i < nr_ns; i++)
		if (ns[i] * BENCH_PAGE > b.bar_size) {
			fprintf(stderr, "%s: BAR%u of %s is too small for %u pages\n",
				prog, b.bar, b.bdf, ns[i]);
			exit(1);
		}
	printf("%s: %s BAR%u (%llu bytes), importer through %s, %u repetitions, CLOCK_MONOTONIC\n",
	       prog, b.bdf, b.bar, (unsigned long long)b.bar_size,
	       getenv("BAR_DMABUF_IMPORTER_BDF") ?: "(its own device)", b.reps);
	need_vfio = bench_want(figs, "scaling") || bench_want(figs, "map");
	if (need_vfio)
		bench_vfio_open(&v);
	else
		snprintf(v.absent, sizeof(v.absent), "not asked for");

	if (bench_want(figs, "scaling"))
		bench_scaling(&b, &v, ns, nr_ns);
	if (bench_want(figs, "idle"))
		bench_idle(&b);
	if (bench_want(figs, "map"))
		bench_map_cost(&b, &v);
	if (bench_want(figs, "cpu"))
		bench_cpu(&b);
	if (bench_want(figs, "footprint"))
		bench_footprint(&b);
	if (bench_want(figs, "scale"))
		bench_scale(&b, scale_n);

	bench_vfio_close(&v);
	close(b.devfd);
	return 0;
}
