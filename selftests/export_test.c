// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf export_test: the exporter's uapi without importers.
 *
 * INFO against sysfs, EXPORT of one and several ranges, the new file's
 * flags, CPU access through mmap, and every bad input of the exporter issue
 * with its exact errno, each followed by a check that the device still
 * exports.
 *
 * Environment: BAR_DMABUF_BDF (required), BAR_DMABUF_BDF2 and
 * BAR_DMABUF_IOBAR_BDF (optional; the tests needing them skip).
 */
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>

#include <linux/dma-buf.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

/* Check that @devfd still exports one page of @bar, as after every bad input. */
static int still_exports(int devfd, int bar)
{
	int fd, ret;

	ret = bd_export_one(devfd, bar, 0, BD_PAGE, &fd);
	if (ret)
		return ret;
	close(fd);
	return 0;
}

static unsigned long read_hex_attr(const char *bdf, const char *attr)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/%s", bdf, attr);
	if (bd_read_file(path, buf, sizeof(buf)) <= 0)
		return ~0UL;
	return strtoul(buf, NULL, 16);
}

/*
 * A copy of @len bytes of @s in a page of its own that is then made
 * read-only: the kernel can read the struct there (get_user of its size,
 * copy_struct_from_user) but its copy-out faults. munmap() it after.
 */
static void *ro_copy(const void *s, size_t len)
{
	void *page;

	page = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return NULL;
	memcpy(page, s, len);
	if (mprotect(page, BD_PAGE, PROT_READ)) {
		munmap(page, BD_PAGE);
		return NULL;
	}
	return page;
}

/* The domain of a "DDDD:BB:DD.F" address (any number of domain digits). */
static unsigned long bdf_domain(const char *bdf)
{
	return strtoul(bdf, NULL, 16);
}

/* The device node and its INFO, shared by every fixture of this file. */
FIXTURE(dev)
{
	bool skipped;
	const char *bdf;
	int devfd;
	int bar;		/* a memory BAR of at least 4 pages, or -1 */
	struct bar_dmabuf_info info;
};

FIXTURE_SETUP(dev)
{
	const char *why;

	self->devfd = -1;
	why = bd_precondition(false);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	self->bdf = bd_env("BAR_DMABUF_BDF");
	self->devfd = bd_open_dev(self->bdf);
	ASSERT_LE(0, self->devfd)
		TH_LOG("open %s/%s: %s", BD_DEV_DIR, self->bdf,
		       strerror(-self->devfd));
	ASSERT_EQ(0, bd_info(self->devfd, &self->info));
	self->bar = bd_pick_mem_bar(&self->info, 4 * BD_PAGE);
}

FIXTURE_TEARDOWN(dev)
{
	bd_close(&self->devfd);
}

/*
 * Foundation issue item 7: INFO reports each BAR with the size and kind
 * that sysfs's resource file gives for the same slot.
 */
TEST_F(dev, info_matches_sysfs)
{
	struct bd_sysfs_bar sys[BAR_DMABUF_NUM_BARS];
	unsigned int bus, dev, fn, dom;
	int i, n, nmem = 0;

	if (self->skipped)
		return;
	ASSERT_EQ(0, bd_sysfs_bars(self->bdf, sys));
	ASSERT_EQ(BAR_DMABUF_NUM_BARS, self->info.out_num_bars);

	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++) {
		const struct bar_dmabuf_bar *b = &self->info.out_bars[i];
		bool mem = sys[i].size && (sys[i].flags & BD_IORESOURCE_MEM);
		bool io = sys[i].size && (sys[i].flags & BD_IORESOURCE_IO);

		TH_LOG("BAR%d: info size %#llx flags %#x, sysfs size %#llx flags %#llx",
		       i, (unsigned long long)b->size, b->flags,
		       (unsigned long long)sys[i].size,
		       (unsigned long long)sys[i].flags);
		EXPECT_EQ((__u32)i, b->index);
		EXPECT_EQ(sys[i].size, b->size);
		EXPECT_EQ(mem, !!(b->flags & BAR_DMABUF_BAR_MEM));
		EXPECT_EQ(io, !!(b->flags & BAR_DMABUF_BAR_IO));
		if (mem) {
			EXPECT_EQ(!!(sys[i].flags & BD_IORESOURCE_PREFETCH),
				  !!(b->flags & BAR_DMABUF_BAR_PREFETCH));
			EXPECT_EQ(!!(sys[i].flags & BD_IORESOURCE_MEM_64),
				  !!(b->flags & BAR_DMABUF_BAR_64BIT));
			nmem++;
		}
		if (!sys[i].size)
			EXPECT_EQ(0, b->flags);
	}
	/* The module refuses a device without memory BARs. */
	EXPECT_LT(0, nmem);

	EXPECT_EQ(read_hex_attr(self->bdf, "vendor"), self->info.out_vendor);
	EXPECT_EQ(read_hex_attr(self->bdf, "device"), self->info.out_device);
	n = sscanf(self->bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn);
	ASSERT_EQ(4, n);
	EXPECT_EQ((dom & 0xffff) << 16 | bus << 8 | dev << 3 | fn,
		  self->info.out_bdf);
	EXPECT_LT(0, self->info.out_default_timeout_ms);
}

/* The default timeout INFO reports is the module parameter's value. */
TEST_F(dev, info_default_timeout_is_parameter)
{
	char buf[32];

	if (self->skipped)
		return;
	if (bd_read_file("/sys/module/bar_dmabuf/parameters/revoke_timeout_ms",
			 buf, sizeof(buf)) <= 0)
		SKIP(return, "parameter revoke_timeout_ms not readable");
	EXPECT_EQ(strtoul(buf, NULL, 0), self->info.out_default_timeout_ms);
}

/* uapi rule: unknown flags are rejected; a short or zero size too. */
TEST_F(dev, info_bad_input)
{
	struct bar_dmabuf_info info;

	if (self->skipped)
		return;
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	info.flags = 1;
	EXPECT_EQ(-1, ioctl(self->devfd, BAR_DMABUF_IOCTL_INFO, &info));
	EXPECT_EQ(EINVAL, errno);

	EXPECT_EQ(-1, ioctl(self->devfd, BAR_DMABUF_IOCTL_INFO, NULL));
	EXPECT_EQ(EFAULT, errno);

	/* An unknown command of our type. */
	EXPECT_EQ(-1, ioctl(self->devfd, _IO(BAR_DMABUF_TYPE, 0x7f), &info));
	EXPECT_EQ(ENOTTY, errno);

	EXPECT_EQ(0, bd_info(self->devfd, &info));
}

/* Capability 8: the control node is root only (mode 0600, root owned). */
TEST_F(dev, node_is_root_only)
{
	char path[128];
	struct stat st;
	int status;
	pid_t pid;

	if (self->skipped)
		return;
	snprintf(path, sizeof(path), BD_DEV_DIR "/%s", self->bdf);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0600, st.st_mode & 0777);

	/*
	 * An unprivileged process is refused at open. It opens through
	 * directory fds taken before the drop: the test VM's / is 0700, so
	 * an absolute path would be refused whatever the node's mode; that
	 * /dev/null opens shows the way there is walkable.
	 */
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int nodes = open(BD_DEV_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
		int dev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (nodes < 0 || dev < 0 || setgroups(0, NULL) ||
		    setgid(65534) || setuid(65534))
			_exit(2);
		if (openat(dev, "null", O_RDWR | O_CLOEXEC) < 0)
			_exit(3);
		_exit(openat(nodes, self->bdf, O_RDWR | O_CLOEXEC) < 0 &&
		      errno == EACCES ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("1: opened, 2: could not drop, 3: /dev not walkable");
}

/* Capability 1: one range; the fd is a dma-buf of the asked length. */
TEST_F(dev, export_one_range)
{
	struct bar_dmabuf_range r = { .offset = BD_PAGE, .length = 2 * BD_PAGE };
	__u64 len = 0;
	int fd = -1;

	if (self->skipped)
		return;
	if (self->bar < 0)
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	ASSERT_EQ(0, bd_export(self->devfd, self->bar, &r, 1,
			       O_RDWR | O_CLOEXEC, &fd, &len));
	EXPECT_LE(0, fd);
	EXPECT_EQ(2 * BD_PAGE, len);
	EXPECT_EQ((off_t)(2 * BD_PAGE), lseek(fd, 0, SEEK_END));

	close(fd);
}

/*
 * Capability 1: exp_name and name identify device and BAR (fdinfo shows
 * what debugfs dma_buf/bufinfo does); capability 3: DMA_BUF_IOCTL_SYNC.
 */
TEST_F(dev, names_and_sync)
{
	struct dma_buf_sync sync = {
		.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW,
	};
	char path[64], info[1024], want[96];
	int fd;

	if (self->skipped)
		return;
	if (self->bar < 0)
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	ASSERT_EQ(0, bd_export_one(self->devfd, self->bar, 0, BD_PAGE, &fd));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	ASSERT_LT(0, bd_read_file(path, info, sizeof(info)));
	snprintf(want, sizeof(want), "exp_name:\tbar_dmabuf:%s", self->bdf);
	EXPECT_NE(NULL, strstr(info, want)) TH_LOG("fdinfo: %s", info);
	snprintf(want, sizeof(want), "name:\tbar%d", self->bar);
	EXPECT_NE(NULL, strstr(info, want)) TH_LOG("fdinfo: %s", info);

	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	close(fd);
}

/*
 * Issue 9 item 6: INFO's out_domain is the whole PCI domain (the one in
 * BAR_DMABUF_BDF, whatever its width), out_bdf keeps the domain's low 16
 * bits, out_reserved is 0.
 */
TEST_F(dev, info_reports_full_domain)
{
	unsigned long dom;

	if (self->skipped)
		return;
	EXPECT_EQ(128, sizeof(struct bar_dmabuf_info));
	EXPECT_EQ(120, offsetof(struct bar_dmabuf_info, out_domain));
	dom = bdf_domain(self->bdf);
	EXPECT_EQ(dom, self->info.out_domain);
	EXPECT_EQ(dom & 0xffff, self->info.out_bdf >> 16);
	EXPECT_EQ(0, self->info.out_reserved);
}

/*
 * Issue 9 item 6, the growth rule: a caller built against the 120-byte
 * INFO (before out_domain) still gets every field it knows, and nothing
 * is written past its 120 bytes.
 */
TEST_F(dev, info_old_size_writes_nothing_past_it)
{
	const size_t old = offsetof(struct bar_dmabuf_info, out_domain);
	union {
		struct bar_dmabuf_info info;
		unsigned char bytes[sizeof(struct bar_dmabuf_info) + 16];
	} u;
	size_t i;
	int b;

	if (self->skipped)
		return;
	memset(&u, 0, old);
	memset(u.bytes + old, 0x5a, sizeof(u) - old);
	u.info.size = old;
	ASSERT_EQ(0, ioctl(self->devfd, BAR_DMABUF_IOCTL_INFO, &u.info))
		TH_LOG("INFO of %zu bytes: %s", old, strerror(errno));
	for (i = old; i < sizeof(u); i++)
		EXPECT_EQ(0x5a, u.bytes[i]) TH_LOG("byte %zu written", i);
	EXPECT_EQ(self->info.out_bdf, u.info.out_bdf);
	EXPECT_EQ(self->info.out_vendor, u.info.out_vendor);
	EXPECT_EQ(self->info.out_num_bars, u.info.out_num_bars);
	for (b = 0; b < BAR_DMABUF_NUM_BARS; b++)
		EXPECT_EQ(self->info.out_bars[b].size, u.info.out_bars[b].size);
}

/*
 * Issue 9 item 2: EXPORT's answer in a read-only page (the kernel reads
 * the struct, its copy-out faults): -EFAULT, and no fd and no buffer is
 * left behind; the next export works.
 */
TEST_F(dev, export_copy_out_fault_leaves_no_fd)
{
	struct bar_dmabuf_range r = { .offset = 0, .length = BD_PAGE };
	struct bar_dmabuf_export ex = {
		.size = sizeof(ex),
		.bar_index = self->bar,
		.open_flags = O_RDWR | O_CLOEXEC,
		.nr_ranges = 1,
		.out_fd = -1,
		.ranges_ptr = (__u64)(unsigned long)&r,
	};
	int fds0, nbuf0, ret;
	void *ro;

	if (self->skipped)
		return;
	if (self->bar < 0)
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	ro = ro_copy(&ex, sizeof(ex));
	ASSERT_NE(NULL, ro);
	fds0 = bd_nr_fds();
	nbuf0 = bd_debugfs_nr_buffers(self->bdf);
	ASSERT_LE(0, fds0);
	ASSERT_LE(0, nbuf0) TH_LOG("debugfs: %s", strerror(-nbuf0));

	ret = ioctl(self->devfd, BAR_DMABUF_IOCTL_EXPORT, ro);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(fds0, bd_nr_fds()) TH_LOG("an fd was left behind");
	EXPECT_EQ(nbuf0, bd_debugfs_nr_buffers(self->bdf))
		TH_LOG("a buffer was left behind");
	munmap(ro, BD_PAGE);

	EXPECT_EQ(0, still_exports(self->devfd, self->bar));
	EXPECT_EQ(fds0, bd_nr_fds());
}

/*
 * Issue 9 item 5: DMA_BUF_IOCTL_SYNC is 0 on a live buffer; on a revoked
 * one (its CPU mappings are gone) SYNC_START and SYNC_END are both
 * -ENODEV; after RESTORE 0 again.
 */
TEST_F(dev, sync_refused_while_revoked)
{
	static const __u64 rw[] = {
		DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW,
	};
	struct dma_buf_sync sync;
	unsigned int i;
	int fd;

	if (self->skipped)
		return;
	if (self->bar < 0)
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	ASSERT_EQ(0, bd_export_one(self->devfd, self->bar, 0, BD_PAGE, &fd));
	for (i = 0; i < ARRAY_SIZE(rw); i++) {
		sync.flags = DMA_BUF_SYNC_START | rw[i];
		EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
		sync.flags = DMA_BUF_SYNC_END | rw[i];
		EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	}

	ASSERT_EQ(0, bd_revoke(self->devfd, fd, 0, 10000, NULL));
	for (i = 0; i < ARRAY_SIZE(rw); i++) {
		sync.flags = DMA_BUF_SYNC_START | rw[i];
		EXPECT_EQ(-1, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
		EXPECT_EQ(ENODEV, errno);
		sync.flags = DMA_BUF_SYNC_END | rw[i];
		EXPECT_EQ(-1, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
		EXPECT_EQ(ENODEV, errno);
	}

	ASSERT_EQ(0, bd_restore(self->devfd, fd, 0, NULL));
	for (i = 0; i < ARRAY_SIZE(rw); i++) {
		sync.flags = DMA_BUF_SYNC_START | rw[i];
		EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
		sync.flags = DMA_BUF_SYNC_END | rw[i];
		EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	}
	close(fd);
}

/* Capability 1: the whole BAR, and several ranges concatenated. */
TEST_F(dev, export_whole_bar_and_many_ranges)
{
	struct bar_dmabuf_range r[BAR_DMABUF_MAX_RANGES];
	__u64 size, len = 0;
	int i, fd = -1;

	if (self->skipped)
		return;
	if (self->bar < 0)
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	size = self->info.out_bars[self->bar].size;

	r[0].offset = 0;
	r[0].length = size;
	ASSERT_EQ(0, bd_export(self->devfd, self->bar, r, 1, O_RDWR, &fd, &len));
	EXPECT_EQ(size, len);
	close(fd);

	/* Ranges need not be in order nor disjoint: the last page, then the first. */
	r[0].offset = size - BD_PAGE;
	r[0].length = BD_PAGE;
	r[1].offset = 0;
	r[1].length = 2 * BD_PAGE;
	ASSERT_EQ(0, bd_export(self->devfd, self->bar, r, 2, O_RDWR, &fd, &len));
	EXPECT_EQ(3 * BD_PAGE, len);
	close(fd);

	/* The most ranges a buffer may hold. */
	for (i = 0; i < BAR_DMABUF_MAX_RANGES; i++) {
		r[i].offset = (i % 4) * BD_PAGE;
		r[i].length = BD_PAGE;
	}
	ASSERT_EQ(0, bd_export(self->devfd, self->bar, r, BAR_DMABUF_MAX_RANGES,
			       O_RDWR, &fd, &len));
	EXPECT_EQ(BAR_DMABUF_MAX_RANGES * BD_PAGE, len);
	close(fd);
}

/*
 * Capability 1: O_CLOEXEC and O_RDWR of open_flags are honoured, and
 * capability 3 follows the access mode: a read-only buffer maps shared
 * for reading (the same BAR bytes), never for writing; a private mapping
 * of either is refused.
 */
TEST_F(dev, export_open_flags)
{
	struct bar_dmabuf_range r = { .offset = 0, .length = BD_PAGE };
	unsigned char *rw, *ro;
	int fd, rofd;

	if (self->skipped)
		return;
	if (self->bar < 0)
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	ASSERT_EQ(0, bd_export(self->devfd, self->bar, &r, 1,
			       O_RDWR | O_CLOEXEC, &fd, NULL));
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);

	ASSERT_EQ(0, bd_export(self->devfd, self->bar, &r, 1, 0, &rofd, NULL));
	EXPECT_EQ(0, fcntl(rofd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_RDONLY, fcntl(rofd, F_GETFL) & O_ACCMODE);

	rw = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, rw);
	ro = mmap(NULL, BD_PAGE, PROT_READ, MAP_SHARED, rofd, 0);
	ASSERT_NE(MAP_FAILED, ro) TH_LOG("read-only mmap: %s", strerror(errno));
	memcpy(rw + 64, "read-only view", 15);
	__sync_synchronize();
	EXPECT_EQ(0, memcmp(ro + 64, "read-only view", 15));
	munmap(ro, BD_PAGE);
	munmap(rw, BD_PAGE);

	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE,
				   MAP_SHARED, rofd, 0));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, BD_PAGE, PROT_READ, MAP_PRIVATE,
				   rofd, 0));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, fd, 0));
	close(rofd);
	close(fd);
}

/*
 * Capability 3: bytes written through the mmap of a two-range buffer (BAR
 * pages 3, 0, 1) are read back through a one-range buffer of BAR page 1,
 * so the fault path finds each range's pages where they are.
 */
TEST_F(dev, mmap_roundtrip)
{
	struct bar_dmabuf_range ra[2] = {
		{ .offset = 3 * BD_PAGE, .length = BD_PAGE },
		{ .offset = 0, .length = 2 * BD_PAGE },
	};
	__u32 pattern[BD_PAGE / 4], back[BD_PAGE / 4];
	char *a, *b;
	int fa, fb, i;

	if (self->skipped)
		return;
	if (self->bar < 0)
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	ASSERT_EQ(0, bd_export(self->devfd, self->bar, ra, 2, O_RDWR, &fa,
			       NULL));
	ASSERT_EQ(0, bd_export_one(self->devfd, self->bar, BD_PAGE, BD_PAGE, &fb));
	a = mmap(NULL, 3 * BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
	ASSERT_NE(MAP_FAILED, a);
	b = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fb, 0);
	ASSERT_NE(MAP_FAILED, b);

	for (i = 0; i < (int)ARRAY_SIZE(pattern); i++)
		pattern[i] = 0xbd000000u ^ (getpid() << 12) ^ i;
	/* Page 2 of buffer a is BAR page 1, page 0 of buffer b. */
	memcpy(a + 2 * BD_PAGE, pattern, sizeof(pattern));
	memcpy(back, b, sizeof(back));
	EXPECT_EQ(0, memcmp(pattern, back, sizeof(back)));

	/* A mapping past the buffer's end is refused. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 2 * BD_PAGE, PROT_READ, MAP_SHARED,
				   fb, 0));

	munmap(a, 3 * BD_PAGE);
	munmap(b, BD_PAGE);
	close(fa);
	close(fb);
}

/*
 * Bad input of the exporter issue. Each variant describes one bad EXPORT
 * and the errno it must get; afterwards the device still exports.
 */
enum bad_kind {
	BAD_RANGE,		/* ranges built from @off/@len below */
	BAD_BAR_INDEX,		/* bar_index = @bar */
	BAD_UNUSED_BAR,		/* a slot with size 0 */
	BAD_NR_ZERO,		/* nr_ranges = 0 */
	BAD_NR_TOO_MANY,	/* BAR_DMABUF_MAX_RANGES + 1 */
	BAD_FLAGS,		/* flags = 1 << 31 */
	BAD_RESERVED,		/* reserved = 1 */
	BAD_OPEN_FLAGS,		/* open_flags = O_NONBLOCK */
	BAD_RANGES_PTR,		/* ranges_ptr into unmapped memory */
};

/* Range offsets and lengths relative to the BAR size S. */
#define REL_SIZE	(~0ULL)		/* S */
#define REL_SIZE_MINUS	(~0ULL - 1)	/* S - one page */

FIXTURE(bad_export)
{
	bool skipped;
	const char *bdf;
	int devfd;
	int bar;
	struct bar_dmabuf_info info;
};

FIXTURE_SETUP(bad_export)
{
	const char *why;

	self->devfd = -1;
	why = bd_precondition(false);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	self->bdf = bd_env("BAR_DMABUF_BDF");
	self->devfd = bd_open_dev(self->bdf);
	ASSERT_LE(0, self->devfd);
	ASSERT_EQ(0, bd_info(self->devfd, &self->info));
	self->bar = bd_pick_mem_bar(&self->info, 4 * BD_PAGE);
	if (self->bar < 0) {
		self->skipped = true;
		SKIP(return, "no memory BAR of 4 pages on %s", self->bdf);
	}
}

FIXTURE_TEARDOWN(bad_export)
{
	bd_close(&self->devfd);
}

FIXTURE_VARIANT(bad_export)
{
	enum bad_kind kind;
	__u32 bar;
	__u64 off;
	__u64 len;
	int err;
};

FIXTURE_VARIANT_ADD(bad_export, offset_unaligned) {
	.kind = BAD_RANGE, .off = 8, .len = 4096, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, length_unaligned) {
	.kind = BAD_RANGE, .off = 0, .len = 4095, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, length_zero) {
	.kind = BAD_RANGE, .off = 0, .len = 0, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, past_bar_end) {
	.kind = BAD_RANGE, .off = REL_SIZE_MINUS, .len = 2 * 4096, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, offset_at_bar_end) {
	.kind = BAD_RANGE, .off = REL_SIZE, .len = 4096, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, overflow_64bit) {
	.kind = BAD_RANGE, .off = 0xfffffffffffff000ULL, .len = 0x2000,
	.err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, length_huge) {
	.kind = BAD_RANGE, .off = 0, .len = 0xfffffffffffff000ULL,
	.err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, bar_index_6) {
	.kind = BAD_BAR_INDEX, .bar = 6, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, bar_index_huge) {
	.kind = BAD_BAR_INDEX, .bar = 0xffffffff, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, unused_bar_slot) {
	.kind = BAD_UNUSED_BAR, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, nr_ranges_zero) {
	.kind = BAD_NR_ZERO, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, nr_ranges_too_many) {
	.kind = BAD_NR_TOO_MANY, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, unknown_flags) {
	.kind = BAD_FLAGS, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, reserved_nonzero) {
	.kind = BAD_RESERVED, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, open_flags_unknown) {
	.kind = BAD_OPEN_FLAGS, .err = EINVAL,
};

FIXTURE_VARIANT_ADD(bad_export, ranges_ptr_bad) {
	.kind = BAD_RANGES_PTR, .err = EFAULT,
};

static __u64 rel(__u64 v, __u64 size)
{
	if (v == REL_SIZE)
		return size;
	if (v == REL_SIZE_MINUS)
		return size - BD_PAGE;
	return v;
}

/* Capability 8 and the exporter issue's bad input: exact errno, device usable. */
TEST_F(bad_export, errno_and_still_usable)
{
	struct bar_dmabuf_range r[BAR_DMABUF_MAX_RANGES + 1];
	struct bar_dmabuf_export ex;
	__u64 size;
	int i, ret;

	if (self->skipped)
		return;
	size = self->info.out_bars[self->bar].size;

	for (i = 0; i <= BAR_DMABUF_MAX_RANGES; i++) {
		r[i].offset = 0;
		r[i].length = BD_PAGE;
	}
	memset(&ex, 0, sizeof(ex));
	ex.size = sizeof(ex);
	ex.bar_index = self->bar;
	ex.open_flags = O_RDWR | O_CLOEXEC;
	ex.nr_ranges = 1;
	ex.out_fd = -1;
	ex.ranges_ptr = (__u64)(unsigned long)r;

	switch (variant->kind) {
	case BAD_RANGE:
		r[0].offset = rel(variant->off, size);
		r[0].length = variant->len;
		break;
	case BAD_BAR_INDEX:
		ex.bar_index = variant->bar;
		break;
	case BAD_UNUSED_BAR:
		for (i = 0; i < BAR_DMABUF_NUM_BARS; i++)
			if (!self->info.out_bars[i].size)
				break;
		if (i == BAR_DMABUF_NUM_BARS)
			SKIP(return, "every BAR slot of %s is used", self->bdf);
		ex.bar_index = i;
		break;
	case BAD_NR_ZERO:
		ex.nr_ranges = 0;
		break;
	case BAD_NR_TOO_MANY:
		ex.nr_ranges = BAR_DMABUF_MAX_RANGES + 1;
		break;
	case BAD_FLAGS:
		ex.flags = 1u << 31;
		break;
	case BAD_RESERVED:
		ex.reserved = 1;
		break;
	case BAD_OPEN_FLAGS:
		ex.open_flags = O_RDWR | O_NONBLOCK;
		break;
	case BAD_RANGES_PTR:
		ex.ranges_ptr = 8;	/* the zero page is never mapped */
		break;
	default:
		break;
	}

	ret = ioctl(self->devfd, BAR_DMABUF_IOCTL_EXPORT, &ex);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(variant->err, errno)
		TH_LOG("expected %s, got %s", strerror(variant->err),
		       strerror(errno));
	if (!ret)
		close(ex.out_fd);
	EXPECT_EQ(0, still_exports(self->devfd, self->bar));
}

/* ------------------------------------------------------------------ */

/*
 * The device, the importer and one 16-page buffer: data, uapi bad input of
 * revoke/restore and of the importer.
 */
FIXTURE(imp)
{
	bool skipped;
	struct bd_env e;
	int buf;
	__u32 h;
};

FIXTURE_SETUP(imp)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, 64 * BD_PAGE,
			     &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, 16);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	self->h = bd_fixture_attach(_metadata, &self->e, self->buf,
				    BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
}

FIXTURE_TEARDOWN(imp)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/* Run one job on @h and wait for it; the job's status or -errno. */
static int run_job(struct bd_env *e, __u32 h, bool write, __u64 off,
		   void *data, __u64 len)
{
	__u64 job = 0;
	int ret, status = -1;

	ret = imp_submit(e->impfd, h, write ? BAR_DMABUF_IMP_JOB_WRITE : 0,
			 write ? BAR_DMABUF_IMP_USAGE_WRITE :
				 BAR_DMABUF_IMP_USAGE_READ,
			 off, len, write ? data : NULL, 0, &job, NULL);
	if (ret)
		return ret;
	ret = imp_wait_job(e->impfd, job, 10000, write ? NULL : data,
			   write ? 0 : len, &status, NULL);
	return ret ? ret : status;
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
}

/*
 * Test 10: bytes written by an importer job (through its DMA addresses)
 * appear in the BAR as the CPU sees it through the dma-buf mmap, and in the
 * VM in the host file behind the BAR; bytes written through the mmap are
 * what an importer job reads.
 */
TEST_F(imp, data_importer_and_cpu_agree)
{
	unsigned char out[2 * BD_PAGE], in[2 * BD_PAGE];
	bool check = bd_env("BAR_DMABUF_HOSTFILE_CHECK");
	char *cpu;
	int ret;

	if (self->skipped)
		return;
	cpu = mmap(NULL, 16 * BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->buf, 0);
	ASSERT_NE(MAP_FAILED, cpu);

	/* Importer writes pages 2-3, the CPU reads them. */
	fill(out, sizeof(out), getpid());
	ret = run_job(&self->e, self->h, true, 2 * BD_PAGE, out, sizeof(out));
	ASSERT_EQ(0, ret) TH_LOG("write job: %s", strerror(-ret));
	memcpy(in, cpu + 2 * BD_PAGE, sizeof(in));
	EXPECT_EQ(0, memcmp(out, in, sizeof(in)));

	/* The CPU writes pages 5-6 (across a page boundary), the importer reads. */
	fill(out, sizeof(out), getpid() + 1);
	memcpy(cpu + 5 * BD_PAGE, out, sizeof(out));
	memset(in, 0, sizeof(in));
	ret = run_job(&self->e, self->h, false, 5 * BD_PAGE, in, sizeof(in));
	ASSERT_EQ(0, ret) TH_LOG("read job: %s", strerror(-ret));
	EXPECT_EQ(0, memcmp(out, in, sizeof(in)));

	/*
	 * In the VM the host compares its file behind ivshmem0's BAR2 (our
	 * BAR, exported from offset 0) with what the importer wrote; that
	 * check counts as a test of its own in the rig's summary.
	 */
	if (check && self->e.info.out_bars[self->e.bar].size >= 16 * BD_PAGE) {
		static const unsigned char marker[8] = {
			0xbd, 0x5a, 0xa5, 0x01, 0x10, 0xfe, 0x77, 0x3c,
		};
		char hex[2 * sizeof(marker) + 1];
		unsigned int i;

		ret = run_job(&self->e, self->h, true, 9 * BD_PAGE,
			      (void *)marker, sizeof(marker));
		ASSERT_EQ(0, ret);
		for (i = 0; i < sizeof(marker); i++)
			sprintf(hex + 2 * i, "%02x", marker[i]);
		EXPECT_EQ(0, bd_hostfile_check(9 * BD_PAGE, hex));
	}
	munmap(cpu, 16 * BD_PAGE);
}

/*
 * Capability 2 with several ranges: an importer maps a buffer made of two
 * ranges that are not adjacent in the BAR, and its DMA through each part of
 * the mapping reaches the right range (7.2's dma_buf_phys_vec_to_sgt()
 * linked every range at IOVA offset 0: the map failed with EADDRINUSE).
 */
TEST_F(imp, data_two_ranges_by_dma)
{
	struct bar_dmabuf_range r[2] = {
		{ .offset = 20 * BD_PAGE, .length = BD_PAGE },
		{ .offset = 24 * BD_PAGE, .length = BD_PAGE },
	};
	unsigned char out[2 * BD_PAGE], in[2 * BD_PAGE];
	__u64 len = 0;
	int buf = -1, ret;
	unsigned char *cpu;
	__u32 h;

	if (self->skipped)
		return;
	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, r, 2,
			       O_RDWR | O_CLOEXEC, &buf, &len));
	ASSERT_EQ(2 * BD_PAGE, len);
	h = bd_fixture_attach(_metadata, &self->e, buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
	cpu = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
	ASSERT_NE(MAP_FAILED, cpu);

	/* The CPU fills both ranges; one importer read spans the two. */
	fill(out, sizeof(out), getpid() + 7);
	memcpy(cpu, out, sizeof(out));
	memset(in, 0, sizeof(in));
	ret = run_job(&self->e, h, false, 0, in, sizeof(in));
	ASSERT_EQ(0, ret) TH_LOG("read job: %s", strerror(-ret));
	EXPECT_EQ(0, memcmp(out, in, sizeof(in)));

	/* The importer writes the second range; the CPU sees it there. */
	fill(out, BD_PAGE, getpid() + 8);
	ret = run_job(&self->e, h, true, BD_PAGE, out, BD_PAGE);
	ASSERT_EQ(0, ret) TH_LOG("write job: %s", strerror(-ret));
	EXPECT_EQ(0, memcmp(out, cpu + BD_PAGE, BD_PAGE));
	munmap(cpu, len);
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	close(buf);
}

/* Exporter bad input: revoke and restore arguments, exact errno. */
TEST_F(imp, revoke_restore_bad_input)
{
	struct bar_dmabuf_revoke rv;
	struct bar_dmabuf_restore rs;
	int pipefd[2];

	if (self->skipped)
		return;
	ASSERT_EQ(0, pipe(pipefd));
	/* An fd that is not one of our buffers, and one that is not open. */
	EXPECT_EQ(-EINVAL, bd_revoke(self->e.devfd, pipefd[0], 0, 1000, NULL));
	EXPECT_EQ(-EINVAL, bd_restore(self->e.devfd, pipefd[0], 0, NULL));
	EXPECT_EQ(-EBADF, bd_revoke(self->e.devfd, 999, 0, 1000, NULL));
	EXPECT_EQ(-EBADF, bd_restore(self->e.devfd, 999, 0, NULL));
	close(pipefd[0]);
	close(pipefd[1]);
	/* ALL_BUFFERS wants fd -1; unknown flags; reserved must be 0. */
	EXPECT_EQ(-EINVAL, bd_revoke(self->e.devfd, self->buf,
				     BAR_DMABUF_ALL_BUFFERS, 1000, NULL));
	EXPECT_EQ(-EINVAL, bd_restore(self->e.devfd, self->buf,
				      BAR_DMABUF_ALL_BUFFERS, NULL));
	EXPECT_EQ(-EINVAL, bd_revoke(self->e.devfd, self->buf, 1u << 7, 1000,
				     NULL));
	EXPECT_EQ(-EINVAL, bd_restore(self->e.devfd, self->buf, 1u << 7, NULL));
	memset(&rv, 0, sizeof(rv));
	rv.size = sizeof(rv);
	rv.fd = self->buf;
	rv.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_REVOKE, &rv));
	EXPECT_EQ(EINVAL, errno);
	/* A size shorter than the struct's known fields. */
	rv.reserved = 0;
	rv.size = 8;
	EXPECT_EQ(-1, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_REVOKE, &rv));
	EXPECT_EQ(EINVAL, errno);
	memset(&rs, 0, sizeof(rs));
	rs.size = 4;
	rs.fd = self->buf;
	EXPECT_EQ(-1, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_RESTORE, &rs));
	EXPECT_EQ(EINVAL, errno);

	/* Nothing was revoked by any of that: the importer still maps. */
	EXPECT_EQ(0, imp_map(self->e.impfd, self->h, NULL));
	EXPECT_EQ(0, run_job(&self->e, self->h, false, 0, NULL, 64));
}

/*
 * uapi rule: a struct may grow. A longer one whose extra bytes are zero is
 * accepted; non-zero extra bytes are refused with E2BIG, and so is a size
 * over 4096 even when every byte is zero (the kernel reads no further).
 */
TEST_F(imp, struct_size_rules)
{
	struct {
		struct bar_dmabuf_info info;
		__u64 tail;
	} big;
	struct bar_dmabuf_info *huge;

	if (self->skipped)
		return;
	memset(&big, 0, sizeof(big));
	big.info.size = sizeof(big);
	EXPECT_EQ(0, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_INFO, &big));
	EXPECT_EQ(self->e.info.out_bars[self->e.bar].size,
		  big.info.out_bars[self->e.bar].size);
	memset(&big, 0, sizeof(big));
	big.info.size = sizeof(big);
	big.tail = 1;
	EXPECT_EQ(-1, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_INFO, &big));
	EXPECT_EQ(E2BIG, errno);
	big.info.size = 4;
	big.tail = 0;
	EXPECT_EQ(-1, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_INFO, &big));
	EXPECT_EQ(EINVAL, errno);

	huge = calloc(1, 8192);
	ASSERT_NE(NULL, huge);
	huge->size = 4096;
	EXPECT_EQ(0, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_INFO, huge));
	huge->size = 4097;
	EXPECT_EQ(-1, ioctl(self->e.devfd, BAR_DMABUF_IOCTL_INFO, huge));
	EXPECT_EQ(E2BIG, errno);
	free(huge);
}

/* Importer bad input (importer issue): exact errno, importer still works. */
TEST_F(imp, importer_bad_input)
{
	struct bar_dmabuf_imp_read_log rl;
	struct bar_dmabuf_imp_event ev[1];
	__u64 len = 0, job = 0;
	__u32 h = 0;
	int devnull, status;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_map(self->e.impfd, self->h, &len));
	EXPECT_EQ(16 * BD_PAGE, len);

	/* ATTACH: not a dma-buf, not an fd, unknown flags. */
	devnull = open("/dev/null", O_RDWR);
	ASSERT_LE(0, devnull);
	EXPECT_EQ(-EINVAL, imp_attach(self->e.impfd, devnull, 0, &h));
	close(devnull);
	EXPECT_EQ(-EBADF, imp_attach(self->e.impfd, 999, 0, &h));
	EXPECT_EQ(-EINVAL, imp_attach(self->e.impfd, self->buf, 1u << 9, &h));

	/* MAP/UNMAP/DETACH of a handle that was never attached. */
	EXPECT_EQ(-ENOENT, imp_map(self->e.impfd, 0x7fff, NULL));
	EXPECT_EQ(-ENOENT, imp_unmap(self->e.impfd, 0x7fff));
	EXPECT_EQ(-ENOENT, imp_detach(self->e.impfd, 0x7fff));

	/* SUBMIT: out of the mapping, zero, huge, overflowing, bad fields. */
	EXPECT_EQ(-EINVAL, imp_submit(self->e.impfd, self->h, 0, 0, len, 1,
				      NULL, 0, &job, NULL));
	EXPECT_EQ(-EINVAL, imp_submit(self->e.impfd, self->h, 0, 0, len - 1,
				      2, NULL, 0, &job, NULL));
	EXPECT_EQ(-EINVAL, imp_submit(self->e.impfd, self->h, 0, 0, 0, 0,
				      NULL, 0, &job, NULL));
	EXPECT_EQ(-EINVAL, imp_submit(self->e.impfd, self->h, 0, 0, 0,
				      BAR_DMABUF_IMP_MAX_JOB + 1, NULL, 0,
				      &job, NULL));
	EXPECT_EQ(-EINVAL, imp_submit(self->e.impfd, self->h, 0, 0,
				      ~0ULL - 8, 64, NULL, 0, &job, NULL));
	EXPECT_EQ(-EINVAL, imp_submit(self->e.impfd, self->h, 1u << 9, 0, 0,
				      64, NULL, 0, &job, NULL));
	EXPECT_EQ(-EINVAL, imp_submit(self->e.impfd, self->h, 0, 3, 0, 64,
				      NULL, 0, &job, NULL));
	EXPECT_EQ(-EFAULT, imp_submit(self->e.impfd, self->h,
				      BAR_DMABUF_IMP_JOB_WRITE, 0, 0, 64,
				      (void *)8, 0, &job, NULL));
	EXPECT_EQ(-ENOENT, imp_submit(self->e.impfd, 0x7fff, 0, 0, 0, 64,
				      NULL, 0, &job, NULL));

	/* SIGNAL/WAIT_JOB: unknown, finished, retired. */
	EXPECT_EQ(-ENOENT, imp_signal(self->e.impfd, 0x7fffffff));
	ASSERT_EQ(0, imp_submit(self->e.impfd, self->h, BAR_DMABUF_IMP_JOB_HOLD,
				0, 0, 64, NULL, 0, &job, NULL));
	EXPECT_EQ(0, imp_signal(self->e.impfd, job));
	EXPECT_EQ(-EALREADY, imp_signal(self->e.impfd, job));
	EXPECT_EQ(0, imp_wait_job(self->e.impfd, job, 10000, NULL, 0, &status,
				  NULL));
	EXPECT_EQ(0, status);
	EXPECT_EQ(-ENOENT, imp_signal(self->e.impfd, job));
	EXPECT_EQ(-ENOENT, imp_wait_job(self->e.impfd, job, 0, NULL, 0, NULL,
					NULL));

	/* READ_LOG into a buffer too small: ENOSPC, and the size needed. */
	memset(&rl, 0, sizeof(rl));
	rl.size = sizeof(rl);
	rl.handle = self->h;
	rl.max_events = 1;
	rl.events_ptr = (__u64)(unsigned long)ev;
	EXPECT_EQ(-1, ioctl(self->e.impfd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_LT(1, rl.out_nr_events);

	/* WAIT_EVENT: unknown type, zero count; a timeout that passes. */
	EXPECT_EQ(-EINVAL, imp_wait_event(self->e.impfd, self->h, 0, 1, 0,
					  NULL));
	EXPECT_EQ(-EINVAL, imp_wait_event(self->e.impfd, self->h, 0x100, 1, 0,
					  NULL));
	EXPECT_EQ(-EINVAL, imp_wait_event(self->e.impfd, self->h,
					  BAR_DMABUF_IMP_EV_MAP, 0, 0, NULL));
	EXPECT_EQ(-ETIMEDOUT, imp_wait_event(self->e.impfd, self->h,
					     BAR_DMABUF_IMP_EV_WATCHDOG, 1, 10,
					     NULL));

	/* After all that, the attachment still runs jobs. */
	EXPECT_EQ(0, run_job(&self->e, self->h, false, 0, NULL, 64));
}

/*
 * Issue 9 item 2 on the importer's side: every importer command that
 * creates something, with its struct in a read-only page (readable, the
 * copy-out faults), is -EFAULT and leaves nothing behind: ATTACH no
 * attachment (the counters), SUBMIT of a held job with a sync_file no fd
 * and no job (no fence holding back a revoke, which then completes at
 * once). The same commands work afterwards.
 */
TEST_F(imp, copy_out_fault_leaves_nothing)
{
	struct bar_dmabuf_imp_counters c0, c1;
	struct bar_dmabuf_imp_attach at = {
		.size = sizeof(at),
		.dmabuf_fd = self->buf,
	};
	struct bar_dmabuf_imp_submit sub = {
		.size = sizeof(sub),
		.flags = BAR_DMABUF_IMP_JOB_HOLD | BAR_DMABUF_IMP_JOB_SYNC_FILE,
		.handle = self->h,
		.usage = BAR_DMABUF_IMP_USAGE_WRITE,
		.length = 64,
	};
	int fds0, sync_fd = -1, ret;
	__u64 job = 0;
	void *ro;
	__u32 h;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_map(self->e.impfd, self->h, NULL));
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));
	fds0 = bd_nr_fds();
	ASSERT_LE(0, fds0);

	/* ATTACH */
	ro = ro_copy(&at, sizeof(at));
	ASSERT_NE(NULL, ro);
	ret = ioctl(self->e.impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, ro);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EFAULT, errno);
	munmap(ro, BD_PAGE);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_attachments, c1.out_attachments)
		TH_LOG("ATTACH left an attachment behind");

	/* SUBMIT of a held job with a sync_file */
	ro = ro_copy(&sub, sizeof(sub));
	ASSERT_NE(NULL, ro);
	ret = ioctl(self->e.impfd, BAR_DMABUF_IMP_IOCTL_SUBMIT, ro);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EFAULT, errno);
	munmap(ro, BD_PAGE);
	EXPECT_EQ(fds0, bd_nr_fds()) TH_LOG("SUBMIT left a sync_file fd behind");
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_jobs_pending, c1.out_jobs_pending)
		TH_LOG("SUBMIT left a job behind");
	/* No held fence of an unknown job: a bounded revoke completes. */
	ret = bd_revoke(self->e.devfd, self->buf, 0, 2000, NULL);
	EXPECT_EQ(0, ret) TH_LOG("revoke: %s", strerror(-ret));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));

	/* Both work with a writable struct. */
	ASSERT_EQ(0, imp_attach(self->e.impfd, self->buf, 0, &h));
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	ASSERT_EQ(0, imp_submit(self->e.impfd, self->h,
				BAR_DMABUF_IMP_JOB_HOLD |
				BAR_DMABUF_IMP_JOB_SYNC_FILE,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, &sync_fd));
	EXPECT_LE(0, sync_fd);
	EXPECT_EQ(fds0 + 1, bd_nr_fds());
	EXPECT_EQ(0, imp_signal(self->e.impfd, job));
	EXPECT_EQ(1, bd_poll_in(sync_fd, 10000));
	EXPECT_EQ(0, imp_wait_job(self->e.impfd, job, 10000, NULL, 0, NULL,
				  NULL));
	if (sync_fd >= 0)
		close(sync_fd);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Importer issue: closing the dma-buf fd while a job is in flight is fine,
 * the attachment holds its own reference; the job completes.
 */
TEST_F(imp, close_dmabuf_with_job_in_flight)
{
	__u64 job = 0;
	int status = -1;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_submit(self->e.impfd, self->h, 0,
				BAR_DMABUF_IMP_USAGE_READ, 0, 256, NULL, 200,
				&job, NULL));
	bd_close(&self->buf);
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, 10000, NULL, 0, &status,
				  NULL));
	EXPECT_EQ(0, status);
	EXPECT_EQ(0, run_job(&self->e, self->h, false, 0, NULL, 64));
}

/* ------------------------------------------------------------------ */

#define PAT_LIST	"/sys/kernel/debug/x86/pat_memtype_list"

/*
 * The memory type x86 PAT has reserved over all of [@start, @end], from
 * pat_memtype_list ("PAT: [mem 0xS-0xE] type", E exclusive), into @type;
 * "" if no one entry covers it. -errno if the list can't be read.
 */
static int pat_type_over(__u64 start, __u64 end, char *type, size_t len)
{
	char line[256], t[64];
	unsigned long long s, e;
	FILE *f = fopen(PAT_LIST, "r");

	if (!f)
		return -errno;
	type[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem %llx-%llx] %63s", &s, &e, t) != 3)
			continue;
		if (s <= start && e >= end + 1) {
			snprintf(type, len, "%s", t);
			break;
		}
	}
	fclose(f);
	return 0;
}

/*
 * Capability 3: CPU mappings are write-combined for a prefetchable BAR,
 * uncached otherwise. On x86 with PAT a PFN put into a user mapping takes
 * the memory type reserved for its range (uncached if none), whatever the
 * VMA asked for, so the module reserves write-combining for each
 * prefetchable BAR at bind. For every device bound to bar_dmabuf: INFO's
 * WC flag is set exactly for the page-aligned prefetchable memory BARs
 * (unless the kernel log says the reservation was refused), and where PAT
 * lists its reservations, a WC BAR is covered by a write-combining one
 * and no other BAR is.
 */
TEST(cpu_mappings_write_combined_where_prefetchable)
{
	static const char * const envs[] = {
		"BAR_DMABUF_BDF", "BAR_DMABUF_BDF2", "BAR_DMABUF_IOBAR_BDF"
	};
	struct bd_sysfs_bar sys[BAR_DMABUF_NUM_BARS];
	struct bar_dmabuf_info info;
	char type[64], needle[128], line[512];
	int devfd, kfd, i, d, ndev = 0;
	bool pat = access(PAT_LIST, R_OK) == 0;

	if (!bd_module_loaded("bar_dmabuf"))
		SKIP(return, "module bar_dmabuf is not loaded");
	for (d = 0; d < (int)ARRAY_SIZE(envs); d++) {
		const char *bdf = bd_env(envs[d]);

		if (!bdf)
			continue;
		devfd = bd_open_dev(bdf);
		if (devfd < 0)
			continue;
		ndev++;
		ASSERT_EQ(0, bd_info(devfd, &info));
		close(devfd);
		ASSERT_EQ(0, bd_sysfs_bars(bdf, sys));
		for (i = 0; i < BAR_DMABUF_NUM_BARS; i++) {
			__u32 fl = info.out_bars[i].flags;
			bool want = (fl & BAR_DMABUF_BAR_MEM) &&
				    (fl & BAR_DMABUF_BAR_PREFETCH) &&
				    !(sys[i].start % BD_PAGE) &&
				    !(sys[i].size % BD_PAGE);
			bool wc = fl & BAR_DMABUF_BAR_WC;

			TH_LOG("%s BAR%d flags %#x: %s", bdf, i, fl,
			       wc ? "write-combined" : "uncached");
			if (want && !wc) {
				/* Only if the kernel log says why. */
				snprintf(needle, sizeof(needle),
					 "%s: BAR %d: cannot reserve write-combining",
					 bdf, i);
				kfd = open("/dev/kmsg",
					   O_RDONLY | O_NONBLOCK | O_CLOEXEC);
				ASSERT_LE(0, kfd);
				EXPECT_EQ(1, bd_kmsg_find(kfd, needle, line,
							  sizeof(line)))
					TH_LOG("%s BAR%d: not WC, and no message why",
					       bdf, i);
				close(kfd);
				continue;
			}
			EXPECT_FALSE(wc && !want);
			if (!pat || !sys[i].size || !(fl & BAR_DMABUF_BAR_MEM))
				continue;
			ASSERT_EQ(0, pat_type_over(sys[i].start, sys[i].end,
						   type, sizeof(type)));
			TH_LOG("%s BAR%d [%#llx-%#llx]: PAT has '%s'", bdf, i,
			       (unsigned long long)sys[i].start,
			       (unsigned long long)sys[i].end, type);
			EXPECT_EQ(wc, !strcmp(type, "write-combining"));
		}
	}
	if (!ndev)
		SKIP(return, "no device bound to bar_dmabuf");
	if (!pat)
		TH_LOG("%s unreadable (no PAT or no debugfs): INFO flags only",
		       PAT_LIST);
}

/* ------------------------------------------------------------------ */

/* Exporter bad input: an I/O BAR is refused (BAR_DMABUF_IOBAR_BDF). */
TEST(io_bar_refused)
{
	const char *bdf = bd_env("BAR_DMABUF_IOBAR_BDF");
	struct bar_dmabuf_info info;
	int devfd, fd = -1, bar, mem;

	if (!bdf)
		SKIP(return, "BAR_DMABUF_IOBAR_BDF not set (a device with an I/O BAR)");
	if (!bd_module_loaded("bar_dmabuf"))
		SKIP(return, "module bar_dmabuf is not loaded");
	devfd = bd_open_dev(bdf);
	if (devfd == -ENOENT)
		SKIP(return, "%s is not bound to bar_dmabuf", bdf);
	ASSERT_LE(0, devfd);
	ASSERT_EQ(0, bd_info(devfd, &info));
	bar = bd_pick_io_bar(&info);
	if (bar < 0)
		SKIP(return, "%s has no I/O BAR", bdf);
	EXPECT_EQ(-EINVAL, bd_export_one(devfd, bar, 0, BD_PAGE, &fd));
	/* Its memory BAR still exports. */
	mem = bd_pick_mem_bar(&info, BD_PAGE);
	if (mem >= 0) {
		EXPECT_EQ(0, bd_export_one(devfd, mem, 0, BD_PAGE, &fd));
		close(fd);
	}
	close(devfd);
}

/*
 * Several devices (exporter capability 7, BAR_DMABUF_BDF2): a buffer of one
 * device is refused by the other's node, and revoking every buffer of one
 * device never waits for the other's importers.
 */
FIXTURE(two)
{
	bool skipped;
	struct bd_env e;
	int dev2;
	int buf2;
};

FIXTURE_SETUP(two)
{
	const char *bdf2 = bd_env("BAR_DMABUF_BDF2");

	self->dev2 = -1;
	self->buf2 = -1;
	if (!bd_fixture_open(_metadata, &self->e, 64 * BD_PAGE,
			     &self->skipped))
		return;
	if (!bdf2) {
		self->skipped = true;
		SKIP(return, "BAR_DMABUF_BDF2 not set (a second device)");
	}
	self->dev2 = bd_open_dev(bdf2);
	if (self->dev2 == -ENOENT) {
		self->skipped = true;
		SKIP(return, "%s is not bound to bar_dmabuf", bdf2);
	}
	ASSERT_LE(0, self->dev2);
}

FIXTURE_TEARDOWN(two)
{
	/*
	 * The importer first: closing device 2's node is its last close,
	 * which revokes buf2 and would wait for the never-unmapping importer.
	 */
	bd_close(&self->e.impfd);
	bd_close(&self->buf2);
	bd_close(&self->dev2);
	bd_env_close(&self->e);
}

TEST_F_TIMEOUT(two, devices_are_independent, 120)
{
	struct bar_dmabuf_info info2;
	__u32 h2, nr = 0;
	__u64 t0;
	int buf1, bar2;

	if (self->skipped)
		return;
	ASSERT_EQ(0, bd_info(self->dev2, &info2));
	bar2 = bd_pick_mem_bar(&info2, BD_PAGE);
	ASSERT_LE(0, bar2);
	ASSERT_EQ(0, bd_export_one(self->dev2, bar2, 0, BD_PAGE, &self->buf2));
	buf1 = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, buf1);

	/* A buffer of device 2 is not device 1's to revoke or restore. */
	EXPECT_EQ(-EINVAL, bd_revoke(self->e.devfd, self->buf2, 0, 1000, NULL));
	EXPECT_EQ(-EINVAL, bd_restore(self->e.devfd, self->buf2, 0, NULL));

	/* Device 2's importer never unmaps; device 1's revoke-all ignores it. */
	h2 = bd_fixture_attach(_metadata, &self->e, self->buf2,
			       BAR_DMABUF_IMP_UNMAP_NEVER, 0, 0, true);
	bd_fixture_attach(_metadata, &self->e, buf1, BAR_DMABUF_IMP_UNMAP_SYNC,
			  0, 0, true);
	t0 = bd_now_ns();
	EXPECT_EQ(0, bd_revoke(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS, 30000,
			       &nr));
	EXPECT_GT(5000, bd_ms_between(t0, bd_now_ns()));
	EXPECT_EQ(1, nr);
	/* Device 2's buffer is untouched: still mapped, still attachable. */
	EXPECT_EQ(-ETIMEDOUT, imp_wait_event(self->e.impfd, h2,
					     BAR_DMABUF_IMP_EV_INVALIDATE, 1,
					     0, NULL));
	EXPECT_EQ(0, imp_attach(self->e.impfd, self->buf2, 0, &h2));
	EXPECT_EQ(0, bd_restore(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS,
				NULL));
	close(buf1);
}

TEST_HARNESS_MAIN
