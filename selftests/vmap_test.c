// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf vmap_test: kernel vmap (dma_buf_vmap()) of our buffers, and
 * the test importer's VMAP, VMAP_RW and VUNMAP commands, a kernel CPU
 * user of a dma-buf.
 *
 * bar_dmabuf offers no kernel vmap on any kernel (issue 9 item 4): the
 * dma-buf core WARNs whenever an exporter's vmap op fails, so an op could
 * never refuse a revoked buffer, and hiding it meant switching the
 * dma-buf's op table at run time, state the core owns. So dma_buf_vmap()
 * of one of our buffers is -EINVAL, cleanly (no kernel warning), whether
 * the buffer is live, revoked or restored, of one range or several, and a
 * revoke waits for nothing vmap related.
 *
 * The importer's commands stay, for other exporters: they are checked on
 * a buffer of the system dma-buf heap (/dev/dma_heap/system) where the
 * kernel has one (not Debian's 6.1, not the rig's debug kernel: SKIP).
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
#include <sys/stat.h>

#include <linux/dma-heap.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

/* Generous deadlines: TCG and KASAN make everything slow. */
#define SHORT_MS	2000	/* a revoke with nothing to wait for */
#define BUF_PAGES	4
#define BUF_FIRST	32	/* first page of the test buffers in the BAR */
#define BUF_LEN		(BUF_PAGES * BD_PAGE)
#define HEAP_NODE	"/dev/dma_heap/system"
#define BUFINFO		"/sys/kernel/debug/dma_buf/bufinfo"

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

/* A pattern that differs per @seed, so a stale read can't pass. */
static void vm_fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7 + seed * 13 + (i >> 8));
}

/*
 * A vmap of @buf is refused with -EINVAL and nothing is left: no handle
 * (VMAP_RW and VUNMAP of what a success would have returned are -ENOENT),
 * and the kernel log is clean (no WARNING from the core).
 */
static void vm_refused(struct __test_metadata *_metadata, struct bd_env *e,
		       int buf, const char *what)
{
	unsigned char got[16];
	__u32 h = 0;
	int ret;

	ret = vm_vmap(e->impfd, buf, &h, NULL);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("vmap (%s buffer): %s", what,
				       ret ? strerror(-ret) : "succeeded");
	if (!ret) {
		vm_vunmap(e->impfd, h);
		return;
	}
	EXPECT_EQ(-ENOENT, vm_rw(e->impfd, h, false, 0, got, sizeof(got)));
	EXPECT_EQ(-ENOENT, vm_vunmap(e->impfd, h));
	bd_fixture_check_kmsg(_metadata, e->kfd);
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

FIXTURE_SETUP(vm)
{
	self->buf = -1;
	self->cpu = MAP_FAILED;
	if (!bd_fixture_open(_metadata, &self->e, (BUF_FIRST + 16) * BD_PAGE,
			     &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, BUF_FIRST, BUF_PAGES);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	self->cpu = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->buf, 0);
	ASSERT_NE(MAP_FAILED, self->cpu);
	vm_fill(self->want, BUF_LEN, (unsigned int)getpid());
	memcpy(self->cpu, self->want, BUF_LEN);
	__sync_synchronize();
}

FIXTURE_TEARDOWN(vm)
{
	if (self->cpu != MAP_FAILED)
		munmap(self->cpu, BUF_LEN);
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Issue 9 item 4: a live buffer has no kernel vmap (-EINVAL, no warning),
 * on every kernel; its CPU mapping and an importer's DMA are unaffected.
 */
TEST_F(vm, refused_on_live_buffer)
{
	if (self->skipped)
		return;
	vm_refused(_metadata, &self->e, self->buf, "live");
	EXPECT_EQ(0, memcmp(self->cpu, self->want, BUF_LEN));
	bd_fixture_attach(_metadata, &self->e, self->buf,
			  BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	vm_refused(_metadata, &self->e, self->buf, "live, mapped");
}

/*
 * Issue 9 item 4 and rules 1, 9: a revoked buffer is refused the same
 * way (no WARNING: no op that fails), and so is it after a restore.
 */
TEST_F(vm, refused_on_revoked_buffer_and_after_restore)
{
	if (self->skipped)
		return;
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 10000, NULL));
	vm_refused(_metadata, &self->e, self->buf, "revoked");
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	vm_refused(_metadata, &self->e, self->buf, "restored");
	EXPECT_EQ(0, memcmp(self->cpu, self->want, BUF_LEN));
}

/* Issue 9 item 4: buffers of several ranges, separate or adjacent, too. */
TEST_F(vm, refused_on_multi_range_buffers)
{
	struct bar_dmabuf_range sep[2] = {
		{ .offset = (BUF_FIRST + 8) * BD_PAGE, .length = BD_PAGE },
		{ .offset = (BUF_FIRST + 10) * BD_PAGE, .length = BD_PAGE },
	};
	struct bar_dmabuf_range adj[2] = {
		{ .offset = BUF_FIRST * BD_PAGE, .length = 2 * BD_PAGE },
		{ .offset = (BUF_FIRST + 2) * BD_PAGE, .length = 2 * BD_PAGE },
	};
	int fd = -1;

	if (self->skipped)
		return;
	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, sep, 2,
			       O_RDWR | O_CLOEXEC, &fd, NULL));
	vm_refused(_metadata, &self->e, fd, "separate-range");
	bd_close(&fd);
	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, adj, 2,
			       O_RDWR | O_CLOEXEC, &fd, NULL));
	vm_refused(_metadata, &self->e, fd, "adjacent-range");
	bd_close(&fd);
}

/*
 * Issue 9 item 4: with the vmap gone a revoke has nothing vmap related to
 * wait for: after vmap attempts (refused) on a buffer, by this importer
 * file and by one that stays open, a bounded revoke of it returns 0 at
 * once, for the buffer and for all buffers, and debugfs names no vmap.
 */
TEST_F(vm, revoke_waits_for_nothing_vmap_related)
{
	char state[2048];
	__u32 h = 0, nr = 0;
	int imp2, ret;
	__u64 t0;

	if (self->skipped)
		return;
	imp2 = imp_open();
	ASSERT_LE(0, imp2);
	vm_vmap(self->e.impfd, self->buf, &h, NULL);
	vm_vmap(imp2, self->buf, &h, NULL);

	t0 = bd_now_ns();
	ret = bd_revoke(self->e.devfd, self->buf, 0, SHORT_MS, NULL);
	EXPECT_EQ(0, ret) TH_LOG("revoke: %s", strerror(-ret));
	EXPECT_GT(SHORT_MS, bd_ms_between(t0, bd_now_ns()));
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, state,
				       sizeof(state)));
	EXPECT_EQ(NULL, strstr(state, "vmap")) TH_LOG("%s", state);
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));

	ret = bd_revoke(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS, SHORT_MS,
			&nr);
	EXPECT_EQ(0, ret) TH_LOG("revoke of all: %s", strerror(-ret));
	EXPECT_EQ(0, bd_restore(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS,
				NULL));
	close(imp2);
	EXPECT_EQ(0, memcmp(self->cpu, self->want, BUF_LEN));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/*
 * The importer's VMAP commands on an exporter that has a vmap: a buffer
 * of the system dma-buf heap.
 */
FIXTURE(heap)
{
	bool skipped;
	int impfd;
	int buf;
	int kfd;
	unsigned char *cpu;	/* mmap of @buf */
};

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

FIXTURE_SETUP(heap)
{
	self->impfd = -1;
	self->buf = -1;
	self->kfd = -1;
	self->cpu = MAP_FAILED;
	if (access(HEAP_NODE, R_OK)) {
		self->skipped = true;
		SKIP(return, "no %s (CONFIG_DMABUF_HEAPS_SYSTEM): %s", HEAP_NODE,
		     "the vmap commands need an exporter with vmap");
	}
	self->impfd = imp_open();
	if (self->impfd < 0) {
		self->skipped = true;
		SKIP(return, "no %s (bar_dmabuf_importer not loaded)",
		     BD_IMP_NODE);
	}
	self->kfd = bd_kmsg_open();
	self->buf = heap_alloc(BUF_LEN);
	ASSERT_LE(0, self->buf) TH_LOG("heap alloc: %s", strerror(-self->buf));
	self->cpu = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->buf, 0);
	ASSERT_NE(MAP_FAILED, self->cpu);
}

FIXTURE_TEARDOWN(heap)
{
	if (self->cpu != MAP_FAILED)
		munmap(self->cpu, BUF_LEN);
	bd_close(&self->buf);
	bd_close(&self->impfd);
	bd_close(&self->kfd);
}

/*
 * VMAP, VMAP_RW both ways, VUNMAP: the vmap sees the bytes written through
 * the heap buffer's mmap and the mmap sees what the vmap wrote; a handle
 * is gone after VUNMAP; closing the importer with a vmap held ends it.
 */
TEST_F(heap, importer_vmap_commands_work)
{
	unsigned char want[BUF_LEN], got[BUF_LEN];
	__u64 len = 0;
	__u32 h = 0;
	int imp2;

	if (self->skipped)
		return;
	vm_fill(want, BUF_LEN, 1);
	memcpy(self->cpu, want, BUF_LEN);
	ASSERT_EQ(0, vm_vmap(self->impfd, self->buf, &h, &len));
	EXPECT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, vm_rw(self->impfd, h, false, 0, got, BUF_LEN));
	EXPECT_EQ(0, memcmp(got, want, BUF_LEN));

	vm_fill(want, BD_PAGE, 2);
	ASSERT_EQ(0, vm_rw(self->impfd, h, true, BD_PAGE, want, BD_PAGE));
	EXPECT_EQ(0, memcmp(self->cpu + BD_PAGE, want, BD_PAGE));
	EXPECT_EQ(-EINVAL, vm_rw(self->impfd, h, false, BUF_LEN - 8, got, 16));

	ASSERT_EQ(0, vm_vunmap(self->impfd, h));
	EXPECT_EQ(-ENOENT, vm_vunmap(self->impfd, h));
	EXPECT_EQ(-ENOENT, vm_rw(self->impfd, h, false, 0, got, 16));

	imp2 = imp_open();
	ASSERT_LE(0, imp2);
	ASSERT_EQ(0, vm_vmap(imp2, self->buf, &h, NULL));
	close(imp2);
	EXPECT_EQ(-ENOENT, vm_vunmap(self->impfd, h));
	bd_fixture_check_kmsg(_metadata, self->kfd);
}

/* Does bufinfo list a dma-buf of inode @ino? 1, 0, or -errno. */
static int bufinfo_has(unsigned long ino)
{
	char line[512], want[32];
	FILE *f;
	int found = 0;

	f = fopen(BUFINFO, "r");
	if (!f)
		return -errno;
	snprintf(want, sizeof(want), "\t%08lu\t", ino);
	while (!found && fgets(line, sizeof(line), f))
		found = !!strstr(line, want);
	fclose(f);
	return found;
}

/*
 * Issue 9 item 2 on the importer's side: VMAP with its struct in a
 * read-only page (the copy-out faults) is -EFAULT and leaves no vmap: the
 * buffer is freed as soon as its fd is closed (no reference left in the
 * importer), as dma_buf/bufinfo shows.
 */
TEST_F(heap, vmap_copy_out_fault_leaves_no_vmap)
{
	struct bar_dmabuf_imp_vmap a = {
		.size = sizeof(a),
		.dmabuf_fd = self->buf,
	};
	struct stat st;
	void *ro;
	int ret;

	if (self->skipped)
		return;
	ASSERT_EQ(0, fstat(self->buf, &st));
	ret = bufinfo_has(st.st_ino);
	if (ret < 0)
		SKIP(return, "%s: %s", BUFINFO, strerror(-ret));
	ASSERT_EQ(1, ret) TH_LOG("bufinfo does not list inode %lu",
				 (unsigned long)st.st_ino);

	ro = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	memcpy(ro, &a, sizeof(a));
	ASSERT_EQ(0, mprotect(ro, BD_PAGE, PROT_READ));
	EXPECT_EQ(-1, ioctl(self->impfd, BAR_DMABUF_IMP_IOCTL_VMAP, ro));
	EXPECT_EQ(EFAULT, errno);
	munmap(ro, BD_PAGE);

	munmap(self->cpu, BUF_LEN);
	self->cpu = MAP_FAILED;
	bd_close(&self->buf);
	EXPECT_EQ(0, bufinfo_has(st.st_ino))
		TH_LOG("the buffer outlived its fd: the failed VMAP kept it");
	bd_fixture_check_kmsg(_metadata, self->kfd);
}

TEST_HARNESS_MAIN
