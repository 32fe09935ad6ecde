// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf vmap_test: the exporter's kernel vmap (dma_buf_vmap(), an
 * iomem iosys_map of the BAR), through the test importer's VMAP, VMAP_RW
 * and VUNMAP commands, which act as a kernel CPU user of the buffer.
 *
 * What is checked: a vmap reads the bytes written through an mmap of the
 * buffer (and writes land in the BAR); a revoke with a vmap outstanding
 * waits for its vunmap (rules 5 and 6), the mapping stays usable until
 * then, and a bounded revoke names it on expiry (rule 8); a vmap after a
 * revoke fails with -EINVAL and no kernel warning (rule 1: the dma-buf
 * core WARNs when an exporter's vmap op fails, so a revoked buffer must
 * have no op at all); a restore makes vmap work again (rule 9); a buffer
 * of several separate ranges is refused cleanly, one of adjacent ranges
 * is mapped as one.
 *
 * Linux 6.1 offers no vmap (its dma_buf_vmap() tests the op outside the
 * lock a revoke could switch it under; compat/compat.h): there the only
 * test is that vmap fails cleanly, the others skip.
 *
 * Environment: BAR_DMABUF_BDF and the importer module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

/* Generous deadlines: TCG and KASAN make everything slow. */
#define RETURN_MS	20000	/* a revoke that must return */
#define BLOCKED_MS	500	/* "still blocked after several hundred ms" */
#define SHORT_MS	300	/* a bounded revoke meant to time out */
#define BUF_PAGES	4
#define BUF_FIRST	32	/* first page of the test buffers in the BAR */
#define BUF_LEN		(BUF_PAGES * BD_PAGE)

/* ---- the importer's vmap commands ---- */

static int vm_vmap(int impfd, int buf, __u32 *handle, __u64 *len)
{
	struct bar_dmabuf_imp_vmap a = {
		.size = sizeof(a),
		.dmabuf_fd = buf,
	};

	if (ioctl(impfd, BAR_DMABUF_IMP_IOCTL_VMAP, &a))
		return -errno;
	*handle = a.out_handle;
	if (len)
		*len = a.out_length;
	return 0;
}

static int vm_vunmap(int impfd, __u32 handle)
{
	struct bar_dmabuf_imp_handle a = {
		.size = sizeof(a),
		.handle = handle,
	};

	return ioctl(impfd, BAR_DMABUF_IMP_IOCTL_VUNMAP, &a) ? -errno : 0;
}

static int vm_rw(int impfd, __u32 handle, bool write, __u64 offset,
		 void *data, __u64 len)
{
	struct bar_dmabuf_imp_vmap_rw a = {
		.size = sizeof(a),
		.flags = write ? BAR_DMABUF_IMP_VMAP_RW_WRITE : 0,
		.handle = handle,
		.offset = offset,
		.length = len,
		.data_ptr = (__u64)(unsigned long)data,
	};

	return ioctl(impfd, BAR_DMABUF_IMP_IOCTL_VMAP_RW, &a) ? -errno : 0;
}

/*
 * Does this kernel get a vmap from bar_dmabuf? From 6.2 on, where
 * dma_buf_vmap() runs under the reservation lock.
 */
static bool vm_expected(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return true;
	return major > 6 || (major == 6 && minor >= 2);
}

/* A pattern that differs per @seed, so a stale read can't pass. */
static void vm_fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7 + seed * 13 + (i >> 8));
}

/* ------------------------------------------------------------------ */

FIXTURE(vm)
{
	bool skipped;
	struct bd_env e;
	int buf;
	unsigned char *cpu;	/* mmap of @buf */
	unsigned char want[BUF_LEN];
};

/*
 * The opening of both fixtures: the environment, a buffer of BUF_PAGES
 * pages at BUF_FIRST in @buf, and known bytes (@want) put into the BAR
 * through its CPU mapping @cpu.
 */
static void vm_open(struct __test_metadata *_metadata, struct bd_env *e,
		    bool *skipped, int *buf, unsigned char **cpu,
		    unsigned char *want)
{
	*buf = -1;
	*cpu = MAP_FAILED;
	if (!bd_fixture_open(_metadata, e, (BUF_FIRST + 16) * BD_PAGE, skipped))
		return;
	*buf = bd_env_export(e, BUF_FIRST, BUF_PAGES);
	ASSERT_LE(0, *buf) TH_LOG("%s", e->why);

	*cpu = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, *buf, 0);
	ASSERT_NE(MAP_FAILED, *cpu);
	vm_fill(want, BUF_LEN, (unsigned int)getpid());
	memcpy(*cpu, want, BUF_LEN);
	__sync_synchronize();	/* drain write-combining buffers */
}

/* The closing of both: the importer first, its close vunmaps. */
static void vm_close(struct bd_env *e, int *buf, unsigned char *cpu)
{
	if (cpu != MAP_FAILED)
		munmap(cpu, BUF_LEN);
	bd_close(buf);
	bd_env_close(e);
}

FIXTURE_SETUP(vm)
{
	vm_open(_metadata, &self->e, &self->skipped, &self->buf, &self->cpu,
		self->want);
}

FIXTURE_TEARDOWN(vm)
{
	vm_close(&self->e, &self->buf, self->cpu);
}

/*
 * True (after SKIP when needed) if a test that needs a vmap can't run: the
 * fixture skipped, or the kernel offers no vmap.
 */
static bool vm_no_vmap(struct __test_metadata *_metadata, bool skipped)
{
	if (skipped)
		return true;
	if (!vm_expected())
		SKIP(return true, "no vmap on Linux 6.1 (README)");
	return false;
}

/*
 * @a, a revoke or a way out (@what) started while vmap @h of buffer @buf
 * (holding @want) is outstanding on importer @impfd of @e, waits for its
 * vunmap: once debugfs shows the revoke waiting it is still blocked
 * several hundred ms later, a new vmap is refused (rule 1), @h still reads
 * the BAR (rule 5), and @a returns 0 only after the vunmap (rule 6).
 */
static void vm_waits_for_vunmap(struct __test_metadata *_metadata,
				struct bd_env *e, int buf,
				const unsigned char *want, struct bd_async *a,
				__u32 h, const char *what)
{
	unsigned char got[256];
	int impfd = e->impfd;
	__u64 vunmap_ns;
	__u32 h2 = 0;

	ASSERT_EQ(0, bd_debugfs_wait(e->bdf, buf, "revoke waiting", RETURN_MS))
		TH_LOG("%s did not start revoking", what);
	ASSERT_FALSE(bd_async_wait(a, BLOCKED_MS))
		TH_LOG("%s returned %d with a vmap outstanding", what, a->ret);

	/* Rule 1: no new vmap, not even the core's cached one. */
	EXPECT_EQ(-EINVAL, vm_vmap(impfd, buf, &h2, NULL));
	/* Rule 5: the old one stays valid until it is handed back. */
	ASSERT_EQ(0, vm_rw(impfd, h, false, 0, got, sizeof(got)));
	EXPECT_EQ(0, memcmp(got, want, sizeof(got)));
	EXPECT_FALSE(bd_async_wait(a, 0));

	vunmap_ns = bd_now_ns();
	ASSERT_EQ(0, vm_vunmap(impfd, h));
	ASSERT_TRUE(bd_async_wait(a, RETURN_MS));
	bd_async_join(a);
	EXPECT_EQ(0, a->ret);
	EXPECT_LE(vunmap_ns, a->end_ns);
}

/* Where vmap is not offered, it fails with -EINVAL and no warning. */
TEST_F(vm, refused_cleanly_where_not_offered)
{
	__u32 h = 0;

	if (self->skipped)
		return;
	if (vm_expected())
		SKIP(return, "this kernel offers vmap (the other tests)");
	ASSERT_EQ(-EINVAL, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* A vmap sees what the CPU wrote through mmap, and the reverse. */
TEST_F(vm, reads_bar_bytes_written_through_mmap)
{
	unsigned char got[BUF_LEN], put[300];
	__u64 len = 0;
	__u32 h = 0;

	if (vm_no_vmap(_metadata, self->skipped))
		return;
	ASSERT_EQ(0, vm_vmap(self->e.impfd, self->buf, &h, &len));
	EXPECT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, vm_rw(self->e.impfd, h, false, 0, got, BUF_LEN));
	EXPECT_EQ(0, memcmp(got, self->want, BUF_LEN));

	/* A write through the vmap reaches the BAR the mmap shows. */
	vm_fill(put, sizeof(put), 99);
	ASSERT_EQ(0, vm_rw(self->e.impfd, h, true, BD_PAGE - 100, put,
			   sizeof(put)));
	EXPECT_EQ(0, memcmp(self->cpu + BD_PAGE - 100, put, sizeof(put)));

	/* Bad input: clear errnos. */
	EXPECT_EQ(-EINVAL, vm_rw(self->e.impfd, h, false, BUF_LEN - 8, got, 16));
	EXPECT_EQ(-EINVAL, vm_rw(self->e.impfd, h, false, 0, got, 0));
	EXPECT_EQ(-ENOENT, vm_rw(self->e.impfd, h + 1000, false, 0, got, 16));

	ASSERT_EQ(0, vm_vunmap(self->e.impfd, h));
	EXPECT_EQ(-ENOENT, vm_vunmap(self->e.impfd, h));
	EXPECT_EQ(-ENOENT, vm_rw(self->e.impfd, h, false, 0, got, 16));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rules 1, 5 and 6: a revoke with a vmap outstanding is still blocked
 * several hundred ms later, the mapping still reads the BAR meanwhile, a
 * new vmap is refused, and the revoke returns only after the vunmap.
 */
TEST_F_TIMEOUT(vm, revoke_waits_for_vunmap, 120)
{
	struct bd_async_revoke ar;
	__u32 h = 0;

	if (vm_no_vmap(_metadata, self->skipped))
		return;
	ASSERT_EQ(0, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   RETURN_MS));
	vm_waits_for_vunmap(_metadata, &self->e, self->buf, self->want,
			    &ar.a, h, "revoke");
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rule 8: a bounded revoke times out while a vmap is held, and the kernel
 * log and debugfs name the vmap; after the vunmap asking again completes.
 */
TEST_F_TIMEOUT(vm, bounded_revoke_names_held_vmap, 120)
{
	char path[256], *text;
	char line[512];
	__u32 h = 0;
	int kfd;

	if (vm_no_vmap(_metadata, self->skipped))
		return;
	kfd = bd_kmsg_open();
	ASSERT_LE(0, kfd);
	ASSERT_EQ(0, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	EXPECT_EQ(-ETIMEDOUT, bd_revoke(self->e.devfd, self->buf, 0, SHORT_MS,
					NULL));
	EXPECT_EQ(1, bd_kmsg_wait(kfd, "dma_buf_vmap() mapping is not yet vunmapped",
				  line, sizeof(line), RETURN_MS));
	close(kfd);

	text = calloc(1, 65536);
	ASSERT_NE(NULL, text);
	snprintf(path, sizeof(path), BD_DEBUGFS "/%s/buffers", self->e.bdf);
	if (bd_read_file(path, text, 65536) >= 0)
		EXPECT_NE(NULL, strstr(text, "stuck: vmap:")) TH_LOG("%s", text);
	free(text);

	ASSERT_EQ(0, vm_vunmap(self->e.impfd, h));
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, RETURN_MS, NULL));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rules 1 and 9: after a revoke vmap fails with exactly -EINVAL (the core
 * finds no op, so nothing WARNs); after the restore it works again and
 * reads the same BAR bytes; and a later revoke does not wait for a vmap
 * long gone.
 */
TEST_F_TIMEOUT(vm, refused_after_revoke_until_restore, 120)
{
	unsigned char got[BUF_LEN];
	__u32 h = 0;

	if (vm_no_vmap(_metadata, self->skipped))
		return;
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, RETURN_MS, NULL));
	EXPECT_EQ(-EINVAL, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	EXPECT_EQ(-EINVAL, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);

	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	ASSERT_EQ(0, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	ASSERT_EQ(0, vm_rw(self->e.impfd, h, false, 0, got, BUF_LEN));
	EXPECT_EQ(0, memcmp(got, self->want, BUF_LEN));
	ASSERT_EQ(0, vm_vunmap(self->e.impfd, h));

	/* Nothing outstanding: this revoke completes at once. */
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, BLOCKED_MS, NULL));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* Closing the importer's file vunmaps, which lets a waiting revoke finish. */
TEST_F_TIMEOUT(vm, importer_close_ends_vmap, 120)
{
	struct bd_async_revoke ar;
	__u32 h = 0;

	if (vm_no_vmap(_metadata, self->skipped))
		return;
	ASSERT_EQ(0, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   RETURN_MS));
	ASSERT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS));
	bd_close(&self->e.impfd);
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Several ranges: separate ones can't be one ioremap, so vmap is refused
 * cleanly (-EINVAL, no warning); adjacent ones are mapped as one.
 */
TEST_F(vm, ranges_separate_refused_adjacent_mapped)
{
	struct bar_dmabuf_range sep[2] = {
		{ .offset = (BUF_FIRST + 8) * BD_PAGE, .length = BD_PAGE },
		{ .offset = (BUF_FIRST + 10) * BD_PAGE, .length = BD_PAGE },
	};
	struct bar_dmabuf_range adj[2] = {
		{ .offset = BUF_FIRST * BD_PAGE, .length = 2 * BD_PAGE },
		{ .offset = (BUF_FIRST + 2) * BD_PAGE, .length = 2 * BD_PAGE },
	};
	unsigned char got[BUF_LEN];
	int fd = -1;
	__u32 h = 0;

	if (vm_no_vmap(_metadata, self->skipped))
		return;
	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, sep, 2,
			       O_RDWR | O_CLOEXEC, &fd, NULL));
	EXPECT_EQ(-EINVAL, vm_vmap(self->e.impfd, fd, &h, NULL));
	bd_close(&fd);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);

	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, adj, 2,
			       O_RDWR | O_CLOEXEC, &fd, NULL));
	ASSERT_EQ(0, vm_vmap(self->e.impfd, fd, &h, NULL));
	ASSERT_EQ(0, vm_rw(self->e.impfd, h, false, 0, got, BUF_LEN));
	EXPECT_EQ(0, memcmp(got, self->want, BUF_LEN));
	ASSERT_EQ(0, vm_vunmap(self->e.impfd, h));
	bd_close(&fd);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/*
 * Rules 8 and 10 with a vmap held: every way out the device has (driver
 * unbind, hot-unplug, a PCI reset through sysfs) waits for the vunmap past
 * any timeout, the BAR still reads through the vmap meanwhile and no new
 * vmap is given, and it completes only after the vunmap. Then the buffer
 * is dead (removal: no vmap even once the device is back) or restored
 * (reset_done: vmap works again and reads the same bytes).
 */
FIXTURE(vm_way)
{
	bool skipped;
	struct bd_env e;
	int buf;
	unsigned char *cpu;
	unsigned char want[BUF_LEN];
};

FIXTURE_VARIANT(vm_way)
{
	enum bd_way way;
	bool dead;	/* the buffer can never be restored afterwards */
};

FIXTURE_VARIANT_ADD(vm_way, unbind) {
	.way = BD_WAY_UNBIND, .dead = true,
};

FIXTURE_VARIANT_ADD(vm_way, hot_unplug) {
	.way = BD_WAY_HOTPLUG, .dead = true,
};

FIXTURE_VARIANT_ADD(vm_way, pci_reset) {
	.way = BD_WAY_RESET,
};

FIXTURE_VARIANT_ADD(vm_way, aer_recovery) {
	.way = BD_WAY_AER,
};

FIXTURE_SETUP(vm_way)
{
	const char *why;

	vm_open(_metadata, &self->e, &self->skipped, &self->buf, &self->cpu,
		self->want);
	if (self->skipped)
		return;
	why = bd_way_unavailable(variant->way, self->e.bdf);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
}

FIXTURE_TEARDOWN(vm_way)
{
	vm_close(&self->e, &self->buf, self->cpu);
	/* Whatever happened, leave the device bound for the next test. */
	if (self->e.bdf)
		bd_way_back(variant->way, self->e.bdf);
}

struct vm_way_arg {
	enum bd_way way;
	const char *bdf;
};

static int vm_way_out(void *p)
{
	struct vm_way_arg *w = p;

	return bd_way_out(w->way, w->bdf);
}

TEST_F_TIMEOUT(vm_way, waits_for_vunmap, 180)
{
	struct vm_way_arg w = { .way = variant->way, .bdf = self->e.bdf };
	unsigned char got[BUF_LEN];
	struct bd_async way;
	__u32 h = 0, h2 = 0;
	int devfd;

	if (vm_no_vmap(_metadata, self->skipped))
		return;
	ASSERT_EQ(0, vm_vmap(self->e.impfd, self->buf, &h, NULL));
	ASSERT_EQ(0, bd_async_start(&way, vm_way_out, &w));
	vm_waits_for_vunmap(_metadata, &self->e, self->buf, self->want,
			    &way, h, "the way out");

	if (!variant->dead) {
		/* reset_done or resume restored it: vmap reads the BAR again. */
		ASSERT_EQ(0, vm_vmap(self->e.impfd, self->buf, &h2, NULL));
		ASSERT_EQ(0, vm_rw(self->e.impfd, h2, false, 0, got, BUF_LEN));
		EXPECT_EQ(0, memcmp(got, self->want, BUF_LEN));
		ASSERT_EQ(0, vm_vunmap(self->e.impfd, h2));
		bd_fixture_check_kmsg(_metadata, self->e.kfd);
		return;
	}

	/* Dead for good: the device back is a new device, not this buffer. */
	ASSERT_EQ(0, bd_way_back(variant->way, self->e.bdf));
	devfd = bd_open_dev(self->e.bdf);
	ASSERT_LE(0, devfd);
	EXPECT_EQ(-ENODEV, bd_restore(devfd, self->buf, 0, NULL));
	close(devfd);
	EXPECT_EQ(-EINVAL, vm_vmap(self->e.impfd, self->buf, &h2, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
