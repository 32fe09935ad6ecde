// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf large_bar_test: buffers of 4 GiB and more.
 *
 * An sg entry's DMA length is an unsigned int, so the exporter must hand
 * a range of 4 GiB or more to the importer in several entries (exporter
 * issue: "a single scatterlist entry must stay under 4 GiB"), on both of
 * its mapping paths (dma_map_resource() before 6.19 or for a buffer of
 * several ranges; the kernel's dma-buf P2P helper for one range on 7.x).
 * Each buffer below is mapped by the importer through its PCI function
 * (behind the IOMMU in the rig), and the test checks:
 *
 *  - the mapping covers the whole buffer, no entry is longer than the
 *    largest page-aligned 32-bit length, and there are as many entries as
 *    the ranges need (MAP reports count and longest entry);
 *  - real bytes go both ways at the places a wrong split would break:
 *    across the end of each sg entry, across the buffer's and the BAR's
 *    4 GiB offsets, across range boundaries, at the last page. The
 *    importer writes, the dma-buf's mmap reads (and the other way round);
 *    mmap finds the BAR pages without the sg table, so it is the witness;
 *  - a revoke with the large mapping in place invalidates and unmaps it
 *    whole, and after a restore it maps again with the bytes still there.
 *
 * Environment: a device bound to bar_dmabuf with a memory BAR larger than
 * 4 GiB: BAR_DMABUF_LARGE_BDF, else the first of BAR_DMABUF_BDF and
 * BAR_DMABUF_BDF2 that has one (the rig's ivshmem1, 8 GiB, sparse on the
 * host). Without one every test skips, saying so. The importer module
 * (with BAR_DMABUF_IMPORTER_BDF, or its own software device).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define MIB		(1024ULL * 1024)
#define GIB		(1024 * MIB)
#define FOUR_GIB	(4 * GIB)
/* bytes moved at each checked place: two pages' worth, around the place */
#define PROBE_LEN	8192ULL
#define JOB_TIMEOUT_MS	30000

/* The longest sg entry: the largest page-aligned length in 32 bits. */
static __u64 lb_max_seg(void)
{
	__u64 page = (__u64)sysconf(_SC_PAGESIZE);

	return 0xffffffffULL & ~(page - 1);
}

/* MAP, with everything the importer reports about the entries. */
static int lb_map(int impfd, __u32 handle, struct bar_dmabuf_imp_handle *h)
{
	memset(h, 0, sizeof(*h));
	h->size = sizeof(*h);
	h->handle = handle;
	return ioctl(impfd, BAR_DMABUF_IMP_IOCTL_MAP, h) ? -errno : 0;
}

struct lb_range {
	__u64 offset;
	__u64 length;
};

FIXTURE(large)
{
	bool skipped;
	const char *bdf;
	int devfd;
	int impfd;
	int kfd;
	int bar;
	__u64 bar_size;
	int buf;
	__u64 size;		/* of the exported buffer */
	__u32 h;
};

/*
 * Each variant is one buffer: up to two ranges of the BAR, by offset and
 * length; it needs a BAR of at least @need bytes.
 */
FIXTURE_VARIANT(large)
{
	unsigned int nr;
	struct lb_range r[2];
	__u64 need;
};

/* One range of 4 GiB + 4 MiB from the start: two entries. */
FIXTURE_VARIANT_ADD(large, over_4g) {
	.nr = 1,
	.r = { { 0, FOUR_GIB + 4 * MIB } },
	.need = FOUR_GIB + 4 * MIB,
};

/* Exactly 4 GiB: one entry would have length 0. */
FIXTURE_VARIANT_ADD(large, exactly_4g) {
	.nr = 1,
	.r = { { 0, FOUR_GIB } },
	.need = FOUR_GIB,
};

/*
 * Starts 2 GiB + 4 KiB into the BAR (not 2 MiB aligned) and runs past the
 * BAR's 4 GiB offset, 4 GiB + 8 KiB long.
 */
FIXTURE_VARIANT_ADD(large, straddles_bar_4g) {
	.nr = 1,
	.r = { { 2 * GIB + 4096, FOUR_GIB + 8192 } },
	.need = 6 * GIB + 12288,
};

/*
 * Two ranges, the long one second and below the first in the BAR: a
 * buffer of several ranges (dma_map_resource() on every kernel).
 */
FIXTURE_VARIANT_ADD(large, two_ranges) {
	.nr = 2,
	.r = { { 6 * GIB, MIB }, { MIB, FOUR_GIB + 4096 } },
	.need = 6 * GIB + MIB,
};

FIXTURE_SETUP(large)
{
	static const char * const names[] = { "BAR_DMABUF_LARGE_BDF",
					      "BAR_DMABUF_BDF",
					      "BAR_DMABUF_BDF2" };
	struct bar_dmabuf_range ranges[2];
	struct bar_dmabuf_info info;
	char seen[256] = "";
	const char *why, *bdf;
	unsigned int i;
	__u64 len = 0;
	int fd;

	self->devfd = -1;
	self->impfd = -1;
	self->kfd = -1;
	self->buf = -1;
	self->bar = -1;
	why = bd_precondition(true);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	for (i = 0; i < ARRAY_SIZE(names) && self->bar < 0; i++) {
		bdf = bd_env(names[i]);
		if (!bdf)
			continue;
		fd = bd_open_dev(bdf);
		if (fd < 0)
			continue;
		if (bd_info(fd, &info)) {
			close(fd);
			continue;
		}
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen),
			 " %s", bdf);
		self->bar = bd_pick_mem_bar(&info, FOUR_GIB + 1);
		if (self->bar < 0) {
			close(fd);
			continue;
		}
		self->bdf = bdf;
		self->devfd = fd;
		self->bar_size = info.out_bars[self->bar].size;
	}
	if (self->bar < 0) {
		self->skipped = true;
		SKIP(return,
		     "no device bound to bar_dmabuf has a memory BAR over 4 GiB (looked at:%s); the rig's ivshmem1 has one (RIG_BAR1_SIZE)",
		     seen[0] ? seen : " none");
	}
	if (self->bar_size < variant->need) {
		self->skipped = true;
		SKIP(return, "BAR %d of %s has %llu bytes, this buffer needs %llu",
		     self->bar, self->bdf,
		     (unsigned long long)self->bar_size,
		     (unsigned long long)variant->need);
	}
	self->impfd = imp_open();
	ASSERT_LE(0, self->impfd);
	self->kfd = bd_kmsg_open();

	for (i = 0; i < variant->nr; i++) {
		ranges[i].offset = variant->r[i].offset;
		ranges[i].length = variant->r[i].length;
		self->size += variant->r[i].length;
	}
	ASSERT_EQ(0, bd_export(self->devfd, self->bar, ranges, variant->nr,
			       O_RDWR | O_CLOEXEC, &self->buf, &len));
	ASSERT_EQ(self->size, len);
	ASSERT_EQ(0, imp_attach(self->impfd, self->buf, 0, &self->h));
}

FIXTURE_TEARDOWN(large)
{
	/* The importer first: its close unmaps and detaches. */
	bd_close(&self->impfd);
	bd_close(&self->buf);
	bd_close(&self->devfd);
	bd_fixture_check_kmsg(_metadata, self->kfd);
	bd_close(&self->kfd);
}

/* Fewest entries any correct split gives: the buffer cut in max pieces. */
static __u64 lb_min_segs(__u64 size)
{
	return (size + lb_max_seg() - 1) / lb_max_seg();
}

/* Most entries: each range cut on its own. */
static __u64 lb_max_segs(const struct lb_range *r, unsigned int nr)
{
	__u64 n = 0;
	unsigned int i;

	for (i = 0; i < nr; i++)
		n += (r[i].length + lb_max_seg() - 1) / lb_max_seg();
	return n;
}

/*
 * The places where a wrong split shows, as buffer offsets of a PROBE_LEN
 * window around each: the start, every multiple of the longest entry
 * inside each range (where the exporter starts a new entry), every range
 * boundary, the buffer's 4 GiB offset, the BAR's 4 GiB offset, the end.
 */
static unsigned int lb_places(const struct lb_range *r, unsigned int nr,
			      __u64 size, __u64 *at, unsigned int max)
{
	unsigned int i, n = 0;
	__u64 base = 0, cut;

#define LB_ADD(off) do { if (n < max) at[n++] = (off); } while (0)
	LB_ADD(0);
	for (i = 0; i < nr; i++) {
		for (cut = lb_max_seg(); cut < r[i].length; cut += lb_max_seg())
			LB_ADD(base + cut);
		if (r[i].offset < FOUR_GIB && r[i].offset + r[i].length > FOUR_GIB)
			LB_ADD(base + FOUR_GIB - r[i].offset);
		base += r[i].length;
		LB_ADD(base);	/* the next range's start, or the end */
	}
	LB_ADD(FOUR_GIB);
	LB_ADD(FOUR_GIB + 5 * MIB + 12345);	/* somewhere well past */
#undef LB_ADD
	/* each place -> the start of its window, inside the buffer */
	for (i = 0; i < n; i++) {
		at[i] = at[i] >= PROBE_LEN / 2 ? at[i] - PROBE_LEN / 2 : 0;
		if (at[i] + PROBE_LEN > size)
			at[i] = size - PROBE_LEN;
	}
	return n;
}

static void lb_pattern(__u8 *p, __u64 off, unsigned int salt)
{
	__u64 i;

	for (i = 0; i < PROBE_LEN; i++)
		p[i] = (__u8)(((off + i) * 2654435761ULL >> 13) ^ salt ^ (i >> 8));
}

/* mmap the page-aligned window of the buffer around [off, off + PROBE_LEN). */
static __u8 *lb_window(int buf, __u64 off, void **base, size_t *len)
{
	__u64 page = (__u64)sysconf(_SC_PAGESIZE);
	__u64 start = off & ~(page - 1);
	__u64 end = (off + PROBE_LEN + page - 1) & ~(page - 1);

	*len = end - start;
	*base = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, buf,
		     (off_t)start);
	if (*base == MAP_FAILED)
		return NULL;
	return (__u8 *)*base + (off - start);
}

/* Print @log to stderr; returns "" (for use inside TH_LOG). */
static const char *lb_dump(const struct imp_log *log)
{
	imp_log_dump(log);
	return "";
}

/* An importer job over [off, off + PROBE_LEN): its status, or -errno. */
static int lb_job(int impfd, __u32 h, bool write, __u64 off, __u8 *data)
{
	__u64 job = 0;
	int ret, status = -1;

	ret = imp_submit(impfd, h, write ? BAR_DMABUF_IMP_JOB_WRITE : 0,
			 write ? BAR_DMABUF_IMP_USAGE_WRITE :
				 BAR_DMABUF_IMP_USAGE_READ,
			 off, PROBE_LEN, data, 0, &job, NULL);
	if (ret)
		return ret;
	ret = imp_wait_job(impfd, job, JOB_TIMEOUT_MS, write ? NULL : data,
			   write ? 0 : PROBE_LEN, &status, NULL);
	return ret ? ret : status;
}

/*
 * The mapping the importer got: whole, in entries none longer than the
 * 32-bit limit, as many as the ranges need.
 */
TEST_F_TIMEOUT(large, map_splits_into_entries, 300)
{
	char block[2048] = "", want[96];
	struct bar_dmabuf_imp_handle mh;
	__u64 t0 = bd_now_ns();
	const char *att, *way;
	int provable;

	if (self->skipped)
		return;
	ASSERT_EQ(0, lb_map(self->impfd, self->h, &mh));
	TH_LOG("%s BAR %d: %llu bytes in %u entries, longest %u, mapped in %lld ms",
	       self->bdf, self->bar, (unsigned long long)mh.out_length,
	       mh.out_nr_segs, mh.out_max_seg_len,
	       bd_ms_between(t0, bd_now_ns()));
	EXPECT_EQ(self->size, mh.out_length);
	EXPECT_NE(0U, mh.out_max_seg_len);
	EXPECT_GE(lb_max_seg(), mh.out_max_seg_len);
	EXPECT_LE(lb_min_segs(self->size), mh.out_nr_segs);
	EXPECT_GE(lb_max_segs(variant->r, variant->nr), mh.out_nr_segs);

	/*
	 * Which of the exporter's two ways made it: on a kernel that proves
	 * the P2P path (the rig's 7.2), a one-range buffer goes through the
	 * kernel's helper only if the range fits one sg entry (the helper
	 * may map a longer one in one piece and unmap it in several), so
	 * both ways are checked (rig: the BAR's device sits beside
	 * BAR_DMABUF_BDF, which bd_p2p_provable() is about).
	 */
	provable = bd_p2p_provable();
	if (!bd_debugfs_buffer(self->bdf, self->buf, block, sizeof(block))) {
		att = strstr(block, "  attachment");
		TH_LOG("%s", att ? att + 2 : block);
		way = "dma_map_resource";
		if (provable == 1 && variant->nr == 1 &&
		    self->size <= lb_max_seg())
			way = bd_p2p_proven_path();
		snprintf(want, sizeof(want), "): %s, 1 mapping(s)", way);
		if (provable >= 0)
			EXPECT_NE(NULL, strstr(block, want))
				TH_LOG("expected a mapping by %s", way);
	}
	EXPECT_EQ(0, imp_unmap(self->impfd, self->h));
}

/*
 * Bytes the importer writes through its DMA addresses appear in the mmap
 * at the same buffer offsets, and bytes written through the mmap are what
 * it reads, at every place a split could go wrong.
 */
TEST_F_TIMEOUT(large, dma_reaches_every_entry, 300)
{
	__u8 want[PROBE_LEN], got[PROBE_LEN];
	struct bar_dmabuf_imp_handle mh;
	__u64 at[32];
	unsigned int n, i;
	void *base;
	size_t wlen;
	__u8 *win;

	if (self->skipped)
		return;
	ASSERT_EQ(0, lb_map(self->impfd, self->h, &mh));
	ASSERT_EQ(self->size, mh.out_length);
	n = lb_places(variant->r, variant->nr, self->size, at,
		      ARRAY_SIZE(at));
	for (i = 0; i < n; i++) {
		win = lb_window(self->buf, at[i], &base, &wlen);
		ASSERT_NE(NULL, win) TH_LOG("mmap at %llu: %s",
					    (unsigned long long)at[i],
					    strerror(errno));

		/* importer -> BAR -> mmap */
		lb_pattern(want, at[i], 0x5a ^ i);
		ASSERT_EQ(0, lb_job(self->impfd, self->h, true, at[i], want))
			TH_LOG("write job at %llu",
			       (unsigned long long)at[i]);
		memcpy(got, win, PROBE_LEN);
		EXPECT_EQ(0, memcmp(want, got, PROBE_LEN))
			TH_LOG("importer wrote at buffer offset %#llx, mmap shows other bytes",
			       (unsigned long long)at[i]);

		/* mmap -> BAR -> importer */
		lb_pattern(want, at[i], 0xa5 ^ i);
		memcpy(win, want, PROBE_LEN);
		memset(got, 0, PROBE_LEN);
		ASSERT_EQ(0, lb_job(self->impfd, self->h, false, at[i], got))
			TH_LOG("read job at %llu",
			       (unsigned long long)at[i]);
		EXPECT_EQ(0, memcmp(want, got, PROBE_LEN))
			TH_LOG("mmap wrote at buffer offset %#llx, importer read other bytes",
			       (unsigned long long)at[i]);
		munmap(base, wlen);
	}
}

/*
 * A revoke with the large mapping in place: the importer is told, hands
 * the whole mapping back, the revoke returns in time; after a restore
 * it maps the whole buffer again and the bytes written before are there.
 */
TEST_F_TIMEOUT(large, revoke_while_mapped, 300)
{
	__u64 off = self->size - PROBE_LEN;
	__u8 want[PROBE_LEN], got[PROBE_LEN];
	struct bar_dmabuf_imp_handle mh;
	struct bar_dmabuf_imp_counters c;
	struct imp_log log;
	__u32 nr = 0;
	unsigned int i, inval = 0, unmap = 0;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_set_behaviour(self->impfd, self->h,
				       BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, 1));
	ASSERT_EQ(0, lb_map(self->impfd, self->h, &mh));
	ASSERT_EQ(self->size, mh.out_length);
	lb_pattern(want, off, 0x3c);
	ASSERT_EQ(0, lb_job(self->impfd, self->h, true, off, want));

	ASSERT_EQ(0, bd_revoke(self->devfd, self->buf, 0, 20000, &nr));
	EXPECT_EQ(1, nr);
	EXPECT_EQ(-ENODEV, lb_map(self->impfd, self->h, &mh));
	ASSERT_EQ(0, imp_wait_unmapped(self->impfd, self->h, 1, NULL));
	ASSERT_EQ(0, imp_read_log(self->impfd, self->h, &log));
	for (i = 0; i < log.nr; i++) {
		if (log.ev[i].type == BAR_DMABUF_IMP_EV_INVALIDATE &&
		    log.ev[i].arg == self->size)
			inval++;
		if (log.ev[i].type == BAR_DMABUF_IMP_EV_UNMAP &&
		    log.ev[i].arg == self->size)
			unmap++;
	}
	EXPECT_EQ(1, inval) TH_LOG("%s", lb_dump(&log));
	EXPECT_EQ(1, unmap) TH_LOG("%s", lb_dump(&log));
	imp_log_free(&log);
	ASSERT_EQ(0, imp_counters(self->impfd, &c));
	EXPECT_EQ(0, c.out_mappings);

	ASSERT_EQ(0, bd_restore(self->devfd, self->buf, 0, &nr));
	EXPECT_EQ(1, nr);
	ASSERT_EQ(0, lb_map(self->impfd, self->h, &mh));
	EXPECT_EQ(self->size, mh.out_length);
	memset(got, 0, sizeof(got));
	ASSERT_EQ(0, lb_job(self->impfd, self->h, false, off, got));
	EXPECT_EQ(0, memcmp(want, got, PROBE_LEN));
}

TEST_HARNESS_MAIN
