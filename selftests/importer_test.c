// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf importer_test: the test importer's own behaviours that the
 * protocol tests do not drive (importer issue, capabilities 1 and 5, and
 * its "Bad input" list), each with the exporter's view of it where there
 * is one.
 *
 *   violation  an importer that writes after the invalidate (capability 5):
 *              in WORKER mode the write lands, because the exporter keeps
 *              the DMA addresses valid until the unmap (rule 5); in SYNC
 *              mode, under a translating IOMMU, it is a DMA fault
 *   watchdog   a held fence nobody signals expires with -ETIME, counted
 *              and logged as a failure, and lets a waiting revoke return
 *   swdev      the importer without bdf= (capability 1): its software
 *              device is refused while allow_unproven_p2p=0, accepted with
 *              1, moves real bytes and is revoked like any importer
 *   bad        importer bad input not asserted elsewhere, each with its
 *              errno and the attachment still working afterwards
 *
 * Nothing sleeps hoping for an order: waits are on the importer's log, a
 * job or the revoke thread, each with a deadline. The fixtures that change
 * a module parameter or reload the importer put it back in their teardown.
 *
 * Environment: BAR_DMABUF_BDF and the importer module; the software-device
 * test reloads bar_dmabuf_importer (it must be installed, modules.dep).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

/* Generous deadlines: TCG and KASAN make everything slow. */
#define EVENT_MS	10000	/* an event that must come */
#define RETURN_MS	30000	/* a revoke that must return */
#define BLOCKED_MS	500	/* "still blocked after several hundred ms" */
#define WINDOW_MS	300	/* late-read window of a WORKER importer */
#define WATCHDOG_MS	400	/* fence_watchdog_ms during the watchdog test */
#define JIFFY_SLACK_MS	10	/* the importer times delays in jiffies */
#define DRIVER_JOB_MS	5	/* a job of bad.two_threads_one_attachment */
#define RACE_ROUNDS	40	/* rounds of violation.detach_races_the_write */

/*
 * Our buffers live at BUF_FIRST, away from the pages the other binaries
 * use. The host-file check reads the BAR whenever the host gets to it, so
 * the bytes it checks (at HOSTFILE_PAGE) are written once and by no other
 * test of the run.
 */
#define BUF_FIRST	96
#define BUF_PAGES	4
#define HOSTFILE_PAGE	(BUF_FIRST + 2 * BUF_PAGES)
#define BAR_MIN		((HOSTFILE_PAGE + BUF_PAGES) * BD_PAGE)

#define IMP_MODULE	"bar_dmabuf_importer"
#define IMP_PARAMS	"/sys/module/" IMP_MODULE "/parameters/"

/* What a write after invalidate puts at offset 0 (importer uapi). */
static const char violation_bytes[4] = { 'B', 'A', 'D', '!' };

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 13 + i * 5 + (i >> 8) + 1);
}

/* Run one job on @h and wait for it: its status, or -errno of the ioctls. */
static int run_job(int impfd, __u32 h, bool write, __u64 off, void *data,
		   __u64 len)
{
	__u64 job = 0;
	int ret, status = -1;

	ret = imp_submit(impfd, h, write ? BAR_DMABUF_IMP_JOB_WRITE : 0,
			 write ? BAR_DMABUF_IMP_USAGE_WRITE :
				 BAR_DMABUF_IMP_USAGE_READ,
			 off, len, write ? data : NULL, 0, &job, NULL);
	if (ret)
		return ret;
	ret = imp_wait_job(impfd, job, EVENT_MS, write ? NULL : data,
			   write ? 0 : len, &status, NULL);
	return ret ? ret : status;
}

/* The importer still moves bytes both ways through @h at page @page. */
static void check_still_works(struct __test_metadata *_metadata, int impfd,
			      __u32 h, unsigned int page)
{
	unsigned char out[256], in[256];

	fill(out, sizeof(out), getpid() + page);
	EXPECT_EQ(0, run_job(impfd, h, true, page * BD_PAGE, out, sizeof(out)));
	memset(in, 0, sizeof(in));
	EXPECT_EQ(0, run_job(impfd, h, false, page * BD_PAGE, in, sizeof(in)));
	EXPECT_EQ(0, memcmp(out, in, sizeof(in)));
}

/* Index of the first event of @type in @log, or -1. */
static int log_find(const struct imp_log *log, __u32 type)
{
	unsigned int i;

	for (i = 0; i < log->nr; i++)
		if (log->ev[i].type == type)
			return (int)i;
	return -1;
}

/*
 * Why a write to an unmapped DMA address of the importer's device would
 * not fault here, or NULL when an IOMMU translates every address it uses:
 * the importer is a PCI function (bdf=) in a DMA (translating) IOMMU
 * domain, and it shares no bridge with the exporter's device (behind a
 * common switch the exporter hands out bus addresses, which never reach
 * the IOMMU).
 */
static const char *no_translation_reason(const char *exporter_bdf)
{
	static char why[256];
	char bdf[64], path[256], type[32], a[PATH_MAX], b[PATH_MAX];
	char *pa, *pb;
	int depth = 0;

	if (bd_module_param_read(IMP_MODULE, "bdf", bdf, sizeof(bdf)) ||
	    !bdf[0] || !strcmp(bdf, "(null)"))
		return "importer on its software device (no bdf=): nothing translates its DMA";
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/iommu_group/type", bdf);
	if (bd_read_file(path, type, sizeof(type)) < 0) {
		snprintf(why, sizeof(why), "%s has no IOMMU group", bdf);
		return why;
	}
	type[strcspn(type, "\n")] = '\0';
	if (strncmp(type, "DMA", 3)) {
		snprintf(why, sizeof(why),
			 "%s is in an IOMMU domain of type %s, which does not translate",
			 bdf, type);
		return why;
	}
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s", bdf);
	if (!realpath(path, a))
		return "importer's sysfs path unreadable";
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s", exporter_bdf);
	if (!realpath(path, b))
		return "exporter's sysfs path unreadable";
	/* /sys/devices/pciDDDD:BB/<bridges...>/<function>: compare bridges. */
	for (pa = a, pb = b; *pa && *pa == *pb; pa++, pb++)
		if (*pa == '/')
			depth++;
	if (depth > 4) {
		snprintf(why, sizeof(why),
			 "%s and %s share a bridge: their P2P bus addresses bypass the IOMMU",
			 bdf, exporter_bdf);
		return why;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */

FIXTURE(violation)
{
	bool skipped;
	struct bd_env e;
	int buf;
	unsigned char *cpu;
	unsigned char pattern[64];
};

FIXTURE_SETUP(violation)
{
	self->buf = -1;
	self->cpu = MAP_FAILED;
	bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped);
}

/*
 * Export BUF_PAGES pages at @first, map the first one and put a known
 * pattern ("GOOD"...) at its start: what the BAR holds before the importer
 * misbehaves.
 */
static void violation_buffer(struct __test_metadata *_metadata,
			     struct bd_env *e, unsigned int first, int *buf,
			     unsigned char **cpu, unsigned char pattern[64])
{
	*buf = bd_env_export(e, first, BUF_PAGES);
	ASSERT_LE(0, *buf) TH_LOG("%s", e->why);
	*cpu = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, *buf,
		    0);
	ASSERT_NE(MAP_FAILED, *cpu);
	fill(pattern, 64, getpid());
	memcpy(pattern, "GOOD", 4);
	memcpy(*cpu, pattern, 64);
}

FIXTURE_TEARDOWN(violation)
{
	if (self->cpu != MAP_FAILED)
		munmap(self->cpu, BD_PAGE);
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Importer capability 5 (write after invalidate), exporter's view of rule 5:
 * the importer writes "BAD!" to its old mapping after the invalidate, before
 * its late reads and its unmap (WORKER mode). The importer logs it as a
 * violation that succeeded; the exporter still kept the DMA address valid
 * and pointing at the BAR until the unmap, so there is no DMA fault, the
 * late reads see the BAR (with the bad bytes), the bytes are in the BAR
 * (restored mmap, a fresh export, the host file), and the revoke completes
 * after the unmap all the same (rule 6).
 */
TEST_F_TIMEOUT(violation, write_lands_while_mapping_valid, 120)
{
	struct bar_dmabuf_imp_counters c0, c1;
	unsigned char expect[64], back[64];
	struct bd_async_revoke ar;
	__u64 viol_ns = 0, inv, unmap;
	unsigned int i, late = 0;
	struct imp_log log;
	unsigned char *m2;
	int idx, fresh = -1;
	__u32 h;

	if (self->skipped)
		return;
	/* Its own pages: the host checks them at any time until the end. */
	violation_buffer(_metadata, &self->e, HOSTFILE_PAGE, &self->buf,
			 &self->cpu, self->pattern);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER,
			      BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE,
			      WINDOW_MS, true);

	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_VIOLATION, 1, EVENT_MS,
				    &viol_ns))
		TH_LOG("no write after invalidate%s",
		       bd_env_show_log(&self->e, h));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret) TH_LOG("revoke: %s", strerror(-ar.a.ret));
	ASSERT_EQ(0, imp_wait_unmapped(self->e.impfd, h, 1, NULL));
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));

	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	idx = log_find(&log, BAR_DMABUF_IMP_EV_VIOLATION);
	ASSERT_LE(0, idx);
	inv = imp_log_first(&log, BAR_DMABUF_IMP_EV_INVALIDATE);
	unmap = imp_log_last(&log, BAR_DMABUF_IMP_EV_UNMAP);
	/* The importer's side: one violation, at offset 0, that succeeded. */
	EXPECT_EQ(0, log.ev[idx].arg);
	EXPECT_EQ(0, log.ev[idx].result)
		TH_LOG("write after invalidate: %s%s",
		       strerror(-log.ev[idx].result),
		       bd_env_show_log(&self->e, h));
	EXPECT_EQ(c0.out_violations + 1, c1.out_violations);
	/* Invalidate, then the write, then the unmap. */
	EXPECT_NE(0, inv);
	EXPECT_NE(0, unmap);
	EXPECT_LE(inv, log.ev[idx].ts_ns);
	EXPECT_LE(log.ev[idx].ts_ns, unmap);
	/* Rule 5: the address was valid until the unmap: no fault at all. */
	EXPECT_EQ(0, imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT))
		TH_LOG("%s", bd_env_show_log(&self->e, h));
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults);
	/* The late reads after it read the BAR, bad bytes and all, cleanly. */
	for (i = 0; i < log.nr; i++) {
		if (log.ev[i].type != BAR_DMABUF_IMP_EV_LATE_READ)
			continue;
		late++;
		EXPECT_EQ(0, log.ev[i].result)
			TH_LOG("late read %u: %s", late,
			       strerror(-log.ev[i].result));
		EXPECT_LE(log.ev[idx].ts_ns, log.ev[i].ts_ns);
		EXPECT_LE(log.ev[i].ts_ns, unmap);
	}
	EXPECT_LT(0, late);
	/* Rule 6: the revoke returned after the unmap, violation or not. */
	EXPECT_LE(unmap, ar.a.end_ns + BD_UNMAP_STAMP_SLACK_NS)
		TH_LOG("%s", bd_env_show_log(&self->e, h));
	imp_log_free(&log);

	/* The exporter's view: the bytes reached the BAR. */
	memcpy(expect, self->pattern, sizeof(expect));
	memcpy(expect, violation_bytes, sizeof(violation_bytes));
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	memcpy(back, self->cpu, sizeof(back));
	EXPECT_EQ(0, memcmp(expect, back, sizeof(back)))
		TH_LOG("restored mmap reads %.4s", back);
	ASSERT_EQ(0, bd_export_one(self->e.devfd, self->e.bar,
				   HOSTFILE_PAGE * BD_PAGE, BD_PAGE, &fresh));
	m2 = mmap(NULL, BD_PAGE, PROT_READ, MAP_SHARED, fresh, 0);
	ASSERT_NE(MAP_FAILED, m2);
	EXPECT_EQ(0, memcmp(expect, m2, sizeof(expect)))
		TH_LOG("fresh export reads %.4s", m2);
	munmap(m2, BD_PAGE);
	close(fresh);
	/* In the VM: the host file behind the BAR holds them too. */
	if (bd_env("BAR_DMABUF_HOSTFILE_CHECK"))
		EXPECT_EQ(0, bd_hostfile_check(HOSTFILE_PAGE * BD_PAGE,
					       "42414421"));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Importer capability 5 against SYNC unmap (capability 3: an address torn
 * down is a DMA fault, not hidden): the importer unmapped inside the
 * invalidate callback, so its write after invalidate goes to an address
 * the exporter has already unmapped from the IOMMU. Under a translating
 * IOMMU that is a DMA fault (logged with the address, counted, the
 * violation's result -EFAULT) and the BAR is untouched.
 */
TEST_F_TIMEOUT(violation, write_after_sync_unmap_faults, 120)
{
	struct bar_dmabuf_imp_counters c0, c1;
	const char *why;
	unsigned char back[64];
	__u64 unmap;
	struct imp_log log;
	int idx, fault;
	__u32 h;

	if (self->skipped)
		return;
	why = no_translation_reason(self->e.bdf);
	if (why)
		SKIP(return, "%s", why);
	violation_buffer(_metadata, &self->e, BUF_FIRST, &self->buf,
			 &self->cpu, self->pattern);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC,
			      BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE, 0, true);
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_VIOLATION, 1, EVENT_MS,
				    NULL))
		TH_LOG("no write after invalidate%s",
		       bd_env_show_log(&self->e, h));
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));

	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	idx = log_find(&log, BAR_DMABUF_IMP_EV_VIOLATION);
	fault = log_find(&log, BAR_DMABUF_IMP_EV_DMA_FAULT);
	unmap = imp_log_first(&log, BAR_DMABUF_IMP_EV_UNMAP);
	ASSERT_LE(0, idx);
	EXPECT_EQ(-EFAULT, log.ev[idx].result)
		TH_LOG("%s", bd_env_show_log(&self->e, h));
	ASSERT_LE(0, fault) TH_LOG("%s", bd_env_show_log(&self->e, h));
	EXPECT_EQ(-EFAULT, log.ev[fault].result);
	EXPECT_NE(0, log.ev[fault].arg);	/* the DMA address */
	EXPECT_NE(0, unmap);
	EXPECT_LE(unmap, log.ev[fault].ts_ns);
	EXPECT_EQ(1, imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT));
	EXPECT_EQ(c0.out_dma_faults + 1, c1.out_dma_faults);
	EXPECT_EQ(c0.out_violations + 1, c1.out_violations);
	imp_log_free(&log);

	/* The exporter's view: the write never reached the BAR. */
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	memcpy(back, self->cpu, sizeof(back));
	EXPECT_EQ(0, memcmp(self->pattern, back, sizeof(back)))
		TH_LOG("BAR reads %.4s after a faulted write", back);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * The importer's own side of rule 5 (it writes only through a mapping it
 * still holds, even when misbehaving): a DETACH right after the invalidate
 * races the worker's write after invalidate (WORKER mode). Each round the
 * write landed while the mapping was held (0), was skipped because DETACH
 * had handed the mapping back first (-ESTALE), or never started (DETACH
 * stopped the worker); never a DMA fault, which would be a write through
 * an address the importer had already given back.
 */
TEST_F_TIMEOUT(violation, detach_races_the_write, 300)
{
	struct bar_dmabuf_imp_counters c0, c1;
	unsigned int round, landed = 0, skipped = 0, none = 0, bad = 0;
	struct bd_async_revoke ar;
	struct imp_log log;
	int idx;
	__u32 h;

	if (self->skipped)
		return;
	violation_buffer(_metadata, &self->e, BUF_FIRST, &self->buf,
			 &self->cpu, self->pattern);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));
	for (round = 0; round < RACE_ROUNDS; round++) {
		h = bd_fixture_attach(_metadata, &self->e, self->buf,
				      BAR_DMABUF_IMP_UNMAP_WORKER,
				      BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE,
				      0, true);
		ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd,
						   self->buf, 0, 60000));
		ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
					    BAR_DMABUF_IMP_EV_INVALIDATE, 1,
					    EVENT_MS, NULL));
		ASSERT_EQ(0, imp_detach(self->e.impfd, h));
		ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
		bd_async_join(&ar.a);
		ASSERT_EQ(0, ar.a.ret) TH_LOG("revoke: %s", strerror(-ar.a.ret));

		ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
		idx = log_find(&log, BAR_DMABUF_IMP_EV_VIOLATION);
		if (idx < 0)
			none++;
		else if (log.ev[idx].result == 0)
			landed++;
		else if (log.ev[idx].result == -ESTALE)
			skipped++;
		if (imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT) ||
		    imp_log_count(&log, BAR_DMABUF_IMP_EV_VIOLATION) > 1 ||
		    (idx >= 0 && log.ev[idx].result &&
		     log.ev[idx].result != -ESTALE)) {
			TH_LOG("round %u: a fault, or a write neither landed nor skipped%s",
			       round, bd_env_show_log(&self->e, h));
			bad++;
		}
		imp_log_free(&log);
		ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
		if (bad)
			break;
	}
	EXPECT_EQ(0, bad);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults);
	EXPECT_EQ(c0.out_violations + landed, c1.out_violations);
	TH_LOG("%u rounds: write landed %u, skipped after hand-back %u, not started %u",
	       round, landed, skipped, none);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * The exporter's side of an importer bug: an importer that detaches (or
 * closes) without unmapping is done with the buffer, so the exporter
 * unmaps what it left at its detach (its unmap tracepoint fires for this
 * importer then; nothing stays in the IOMMU), says so in the kernel log,
 * counts nothing left (a revoke completes at once, debugfs shows no live
 * mapping) and the buffer works for the next importer. Skips where the
 * core copies every table it hands out (CONFIG_DMABUF_DEBUG): that copy
 * is the core's, freed only by the importer's own unmap, so it leaks.
 */
TEST_F_TIMEOUT(violation, detach_without_unmap_is_cleaned_up, 120)
{
	char line[512], block[4096];
	const char *dbg = bd_env("BAR_DMABUF_DMABUF_DEBUG");
	__u32 h, h2;
	char *t;
	bool traced;
	int kfd, id;

	if (self->skipped)
		return;
	if (dbg && !strcmp(dbg, "y"))
		SKIP(return, "CONFIG_DMABUF_DEBUG: the core's copy of a table leaks");
	violation_buffer(_metadata, &self->e, BUF_FIRST, &self->buf,
			 &self->cpu, self->pattern);
	id = bd_debugfs_buffer_id(self->e.bdf, self->buf);
	ASSERT_LE(0, id);
	kfd = bd_kmsg_open();
	ASSERT_LE(0, kfd);
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER,
			      BAR_DMABUF_IMP_DETACH_WITHOUT_UNMAP, 0, true);
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, block,
				       sizeof(block)));
	EXPECT_NE(NULL, strstr(block, "live mappings: 1")) TH_LOG("%s", block);
	traced = bd_trace_start() == 0;
	ASSERT_EQ(0, imp_detach(self->e.impfd, h));
	t = traced ? bd_trace_read() : NULL;
	bd_trace_stop();
	if (t) {
		EXPECT_LE(0, bd_trace_pos(t, "unmap", self->e.bdf, id))
			TH_LOG("no unmap at detach:\n%s", t);
		free(t);
	}
	EXPECT_EQ(1, bd_kmsg_wait(kfd, "mapping(s) never unmapped; unmapped them",
				  line, sizeof(line), EVENT_MS));
	close(kfd);
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, block,
				       sizeof(block)));
	EXPECT_NE(NULL, strstr(block, "live mappings: 0")) TH_LOG("%s", block);

	/* Nothing left to wait for; and the buffer serves the next one. */
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, BLOCKED_MS, NULL));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	h2 = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
	check_still_works(_metadata, self->e.impfd, h2, 0);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

FIXTURE(watchdog)
{
	bool skipped;
	struct bd_env e;
	int buf;
	struct bd_param_saved wd;	/* fence_watchdog_ms */
};

FIXTURE_SETUP(watchdog)
{
	char val[16];
	int ret;

	self->buf = -1;
	memset(&self->wd, 0, sizeof(self->wd));
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	snprintf(val, sizeof(val), "%u", WATCHDOG_MS);
	ret = bd_param_override(&self->wd, IMP_MODULE, "fence_watchdog_ms",
				val);
	if (ret == -ENOENT) {
		self->skipped = true;
		SKIP(return, "%s has no parameter fence_watchdog_ms",
		     IMP_MODULE);
	}
	ASSERT_EQ(0, ret) TH_LOG("fence_watchdog_ms: %s", strerror(-ret));
	self->buf = bd_env_export(&self->e, BUF_FIRST, BUF_PAGES);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(watchdog)
{
	EXPECT_EQ(0, bd_param_restore(&self->wd));
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Importer capability 5 (held fences carry a safety timer): a held job
 * nobody signals expires after fence_watchdog_ms (changed at runtime),
 * its fence signals with -ETIME (the job's status), the expiry is logged
 * (EV_WATCHDOG, a kernel message) and counted as a failure, and a revoke
 * that was waiting on that fence (rule 4) returns after it.
 */
TEST_F_TIMEOUT(watchdog, held_fence_expires_and_releases_revoke, 120)
{
	struct bar_dmabuf_imp_counters c0, c1;
	struct bd_async_revoke ar;
	__u64 job = 0, start_ns = 0, wd_ns = 0, sig_ns = 0;
	struct imp_log log;
	char line[512];
	int idx, status = 0;
	__u32 h;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));
	/* SYNC unmap: only the held fence can hold the revoke. */
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 256, NULL, 0,
				&job, NULL));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_JOB_START, 1, EVENT_MS,
				    &start_ns));
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));

	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_WATCHDOG, 1,
				    EVENT_MS + WATCHDOG_MS, &wd_ns))
		TH_LOG("no watchdog%s", bd_env_show_log(&self->e, h));
	/* Finished by the watchdog: too late to signal. */
	EXPECT_EQ(-EALREADY, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, &sig_ns));
	EXPECT_EQ(-ETIME, status) TH_LOG("job status %s", strerror(-status));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret) TH_LOG("revoke: %s", strerror(-ar.a.ret));
	/* Rule 6: the revoke returned once the expired fence signalled. */
	EXPECT_LE(sig_ns, ar.a.end_ns);
	EXPECT_LE(wd_ns, sig_ns);
	/* The runtime value was honoured: not before it, from the start. */
	EXPECT_LE(WATCHDOG_MS - JIFFY_SLACK_MS, bd_ms_between(start_ns, wd_ns))
		TH_LOG("watchdog after %lld ms", bd_ms_between(start_ns, wd_ns));

	/* Logged and counted as a failure, never as a success. */
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_watchdog_expired + 1, c1.out_watchdog_expired);
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults);
	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	idx = log_find(&log, BAR_DMABUF_IMP_EV_WATCHDOG);
	ASSERT_LE(0, idx);
	EXPECT_EQ(job, log.ev[idx].arg);
	EXPECT_EQ(-ETIME, log.ev[idx].result);
	idx = log_find(&log, BAR_DMABUF_IMP_EV_FENCE_SIGNAL);
	ASSERT_LE(0, idx);
	EXPECT_EQ(-ETIME, log.ev[idx].result);
	idx = log_find(&log, BAR_DMABUF_IMP_EV_JOB_DONE);
	ASSERT_LE(0, idx);
	EXPECT_EQ(-ETIME, log.ev[idx].result);
	imp_log_free(&log);
	if (self->e.kfd >= 0)
		EXPECT_EQ(1, bd_kmsg_wait(self->e.kfd, "never signalled", line,
					  sizeof(line), EVENT_MS));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

FIXTURE(swdev)
{
	bool skipped;
	struct bd_importer_swap swap;	/* the importer as it was */
	struct bd_env e;
	int buf;
	struct bd_param_saved p2p;	/* bar_dmabuf's allow_unproven_p2p */
};

FIXTURE_SETUP(swdev)
{
	const char *why = bd_precondition(true);
	char wd[32], params[64];
	int ret;

	self->buf = -1;
	self->e.impfd = -1;
	self->e.devfd = -1;
	self->e.kfd = -1;
	memset(&self->p2p, 0, sizeof(self->p2p));
	self->swap.swapped = false;
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	if (bd_module_param_read(IMP_MODULE, "fence_watchdog_ms", wd,
				 sizeof(wd))) {
		self->skipped = true;
		SKIP(return, "parameters of the loaded %s not readable",
		     IMP_MODULE);
	}
	snprintf(params, sizeof(params), "fence_watchdog_ms=%s", wd);
	ret = bd_importer_swap(&self->swap, params);
	if (ret > 0) {
		self->skipped = true;
		SKIP(return, "%s", self->swap.why);
	}
	ASSERT_EQ(0, ret) TH_LOG("without bdf=: %s", self->swap.why);
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, BUF_FIRST, BUF_PAGES);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(swdev)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
	EXPECT_EQ(0, bd_param_restore(&self->p2p));
	EXPECT_EQ(0, bd_importer_restore(&self->swap))
		TH_LOG("%s", self->swap.why);
}

/*
 * Importer capability 1 (a software device of its own without bdf=) and
 * exporter capability 2: a non-PCI importer's P2P path can't be proven, so
 * it is refused with EXDEV while allow_unproven_p2p=0 (a message naming the
 * parameter) and accepted with 1. Then it is a full importer: jobs move
 * real bytes both ways, and a revoke with a held fence and a late unmap
 * waits for both (rules 4-6) with clean late reads (rule 5).
 */
TEST_F_TIMEOUT(swdev, software_device_imports_when_allowed, 180)
{
	unsigned char out[2 * BD_PAGE], in[2 * BD_PAGE];
	struct bar_dmabuf_imp_counters c0, c1;
	struct bd_async_revoke ar;
	__u64 len = 0, job = 0, sig_ns = 0, unmap;
	struct imp_log log;
	unsigned int i, late = 0;
	char val[64], line[512];
	unsigned char *cpu;
	int status = -1;
	__u32 h = 0;

	if (self->skipped)
		return;
	ASSERT_EQ(0, bd_module_param_read(IMP_MODULE, "bdf", val, sizeof(val)));
	EXPECT_TRUE(!val[0] || !strcmp(val, "(null)")) TH_LOG("bdf=%s", val);

	/* Unprovable path: refused unless the administrator allows it. */
	ASSERT_EQ(0, bd_param_override(&self->p2p, "bar_dmabuf",
				       "allow_unproven_p2p", "0"));
	EXPECT_EQ(-EXDEV, imp_attach(self->e.impfd, self->buf, 0, &h));
	if (self->e.kfd >= 0)
		EXPECT_EQ(1, bd_kmsg_wait(self->e.kfd, "allow_unproven_p2p",
					  line, sizeof(line), EVENT_MS));
	ASSERT_EQ(0, bd_param_override(&self->p2p, "bar_dmabuf",
				       "allow_unproven_p2p", "1"));
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, WINDOW_MS, true);
	ASSERT_EQ(0, imp_map(self->e.impfd, h, &len));
	EXPECT_EQ(BUF_PAGES * BD_PAGE, len);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));

	/* Real bytes: importer writes, CPU reads; CPU writes, importer reads. */
	cpu = mmap(NULL, BUF_PAGES * BD_PAGE, PROT_READ | PROT_WRITE,
		   MAP_SHARED, self->buf, 0);
	ASSERT_NE(MAP_FAILED, cpu);
	fill(out, sizeof(out), getpid());
	EXPECT_EQ(0, run_job(self->e.impfd, h, true, 0, out, sizeof(out)));
	EXPECT_EQ(0, memcmp(out, cpu, sizeof(out)));
	fill(out, sizeof(out), getpid() + 7);
	memcpy(cpu + 2 * BD_PAGE, out, sizeof(out));
	memset(in, 0, sizeof(in));
	EXPECT_EQ(0, run_job(self->e.impfd, h, false, 2 * BD_PAGE, in,
			     sizeof(in)));
	EXPECT_EQ(0, memcmp(out, in, sizeof(in)));

	/* A revoke waits for its held fence and its late unmap. */
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_READ, 0, 64, NULL, 0,
				&job, NULL));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_JOB_START, 1, EVENT_MS,
				    NULL));
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
		TH_LOG("revoke returned %d with the fence held", ar.a.ret);
	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, &sig_ns));
	EXPECT_EQ(0, status);
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret) TH_LOG("revoke: %s", strerror(-ar.a.ret));
	EXPECT_LE(sig_ns, ar.a.end_ns);
	ASSERT_EQ(0, imp_wait_unmapped(self->e.impfd, h, 1, NULL));
	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	unmap = imp_log_last(&log, BAR_DMABUF_IMP_EV_UNMAP);
	EXPECT_NE(0, unmap);
	EXPECT_LE(unmap, ar.a.end_ns + BD_UNMAP_STAMP_SLACK_NS)
		TH_LOG("%s", bd_env_show_log(&self->e, h));
	for (i = 0; i < log.nr; i++) {
		if (log.ev[i].type != BAR_DMABUF_IMP_EV_LATE_READ)
			continue;
		late++;
		EXPECT_EQ(0, log.ev[i].result);
	}
	EXPECT_LT(0, late);
	EXPECT_EQ(0, imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT))
		TH_LOG("%s", bd_env_show_log(&self->e, h));
	imp_log_free(&log);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults);

	/* Restored: the importer maps again and reads the BAR's data. */
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	memset(in, 0, sizeof(in));
	EXPECT_EQ(0, run_job(self->e.impfd, h, false, 2 * BD_PAGE, in,
			     sizeof(in)));
	EXPECT_EQ(0, memcmp(out, in, sizeof(in)));
	munmap(cpu, BUF_PAGES * BD_PAGE);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

FIXTURE(bad)
{
	bool skipped;
	struct bd_env e;
	int buf;
	__u32 h;
};

FIXTURE_SETUP(bad)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, BUF_FIRST, BUF_PAGES);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	self->h = bd_fixture_attach(_metadata, &self->e, self->buf,
				    BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, false);
}

FIXTURE_TEARDOWN(bad)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/* A raw importer ioctl: 0 or -errno. */
static int imp_raw(int impfd, unsigned long cmd, void *arg)
{
	return ioctl(impfd, cmd, arg) ? -errno : 0;
}

/*
 * Importer uapi (header): a struct smaller than the header's is EINVAL, a
 * larger one is accepted when its tail is zero and refused with E2BIG when
 * not; an unknown command is ENOTTY, a bad pointer EFAULT.
 */
TEST_F(bad, struct_size_rules)
{
	struct {
		struct bar_dmabuf_imp_counters c;
		__u64 tail;
	} big;
	struct bar_dmabuf_imp_counters *huge;

	if (self->skipped)
		return;
	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	EXPECT_EQ(0, imp_raw(self->e.impfd, BAR_DMABUF_IMP_IOCTL_COUNTERS,
			     &big));
	EXPECT_LE(1, big.c.out_attachments);
	big.tail = 1;
	EXPECT_EQ(-E2BIG, imp_raw(self->e.impfd,
				  BAR_DMABUF_IMP_IOCTL_COUNTERS, &big));
	big.tail = 0;
	big.c.size = sizeof(big.c) - 4;
	EXPECT_EQ(-EINVAL, imp_raw(self->e.impfd,
				   BAR_DMABUF_IMP_IOCTL_COUNTERS, &big));
	big.c.size = sizeof(big.c);
	big.c.flags = 1;
	EXPECT_EQ(-EINVAL, imp_raw(self->e.impfd,
				   BAR_DMABUF_IMP_IOCTL_COUNTERS, &big));
	EXPECT_EQ(-EFAULT, imp_raw(self->e.impfd,
				   BAR_DMABUF_IMP_IOCTL_COUNTERS, NULL));
	EXPECT_EQ(-ENOTTY, imp_raw(self->e.impfd,
				   _IO(BAR_DMABUF_IMP_TYPE, 0x7f), &big));
	/* All zero, but over 4096 bytes: refused before it is read. */
	huge = calloc(1, 8192);
	ASSERT_NE(NULL, huge);
	huge->size = 4096;
	EXPECT_EQ(0, imp_raw(self->e.impfd, BAR_DMABUF_IMP_IOCTL_COUNTERS,
			     huge));
	huge->size = 4097;
	EXPECT_EQ(-E2BIG, imp_raw(self->e.impfd, BAR_DMABUF_IMP_IOCTL_COUNTERS,
				  huge));
	free(huge);
	check_still_works(_metadata, self->e.impfd, self->h, 0);
}

/*
 * Importer uapi: DETACH with a job in flight is EBUSY; a detached handle
 * refuses every command with ENOENT except READ_LOG and WAIT_EVENT (its log
 * lives until close); a new attachment of the same buffer works.
 */
TEST_F(bad, detached_handle)
{
	struct imp_log log;
	__u64 job = 0;
	int status = -1;
	__u32 h2 = 0;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_submit(self->e.impfd, self->h,
				BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_READ, 0, 64, NULL, 0,
				&job, NULL));
	EXPECT_EQ(-EBUSY, imp_detach(self->e.impfd, self->h));
	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, NULL));
	EXPECT_EQ(0, status);
	ASSERT_EQ(0, imp_detach(self->e.impfd, self->h));

	EXPECT_EQ(-ENOENT, imp_detach(self->e.impfd, self->h));
	EXPECT_EQ(-ENOENT, imp_map(self->e.impfd, self->h, NULL));
	EXPECT_EQ(-ENOENT, imp_unmap(self->e.impfd, self->h));
	EXPECT_EQ(-ENOENT, imp_set_behaviour(self->e.impfd, self->h,
					     BAR_DMABUF_IMP_UNMAP_WORKER, 0,
					     0, 1));
	EXPECT_EQ(-ENOENT, imp_submit(self->e.impfd, self->h, 0,
				      BAR_DMABUF_IMP_USAGE_READ, 0, 64, NULL,
				      0, &job, NULL));
	ASSERT_EQ(0, imp_read_log(self->e.impfd, self->h, &log));
	EXPECT_EQ(1, imp_log_count(&log, BAR_DMABUF_IMP_EV_DETACH));
	imp_log_free(&log);
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, self->h,
				    BAR_DMABUF_IMP_EV_DETACH, 1, 0, NULL));

	ASSERT_EQ(0, imp_attach(self->e.impfd, self->buf, 0, &h2));
	EXPECT_NE(self->h, h2);
	check_still_works(_metadata, self->e.impfd, h2, 1);
}

/*
 * Importer uapi: UNMAP with nothing mapped (never mapped, or already
 * handed back) is ENOENT; MAP of a usable mapping just reports it; flags
 * or reserved fields of the handle command are EINVAL.
 */
TEST_F(bad, unmap_without_mapping)
{
	struct bar_dmabuf_imp_handle hc;
	__u64 len = 0, len2 = 0;

	if (self->skipped)
		return;
	EXPECT_EQ(-ENOENT, imp_unmap(self->e.impfd, self->h));
	ASSERT_EQ(0, imp_map(self->e.impfd, self->h, &len));
	EXPECT_EQ(BUF_PAGES * BD_PAGE, len);
	EXPECT_EQ(0, imp_map(self->e.impfd, self->h, &len2));
	EXPECT_EQ(len, len2);
	EXPECT_EQ(0, imp_unmap(self->e.impfd, self->h));
	EXPECT_EQ(-ENOENT, imp_unmap(self->e.impfd, self->h));

	memset(&hc, 0, sizeof(hc));
	hc.size = sizeof(hc);
	hc.handle = self->h;
	hc.flags = 1;
	EXPECT_EQ(-EINVAL, imp_raw(self->e.impfd, BAR_DMABUF_IMP_IOCTL_MAP,
				   &hc));
	hc.flags = 0;
	hc.reserved = 1;
	EXPECT_EQ(-EINVAL, imp_raw(self->e.impfd, BAR_DMABUF_IMP_IOCTL_MAP,
				   &hc));
	check_still_works(_metadata, self->e.impfd, self->h, 0);
}

/*
 * Importer uapi: SIGNAL of a job that is not held is EINVAL (and of a
 * finished one EALREADY), flags are EINVAL; WAIT_JOB with flags or with a
 * read buffer smaller than the job is EINVAL and leaves the job to a
 * proper wait; a wait that times out is ETIMEDOUT.
 */
TEST_F(bad, signal_and_wait_misuse)
{
	struct bar_dmabuf_imp_signal sig;
	struct bar_dmabuf_imp_wait_job wj;
	unsigned char out[128], in[128];
	__u64 job = 0, held = 0;
	int status = -1;

	if (self->skipped)
		return;
	fill(out, sizeof(out), getpid());
	ASSERT_EQ(0, run_job(self->e.impfd, self->h, true, 0, out,
			     sizeof(out)));

	/* A delayed job is not held: SIGNAL is EINVAL. */
	ASSERT_EQ(0, imp_submit(self->e.impfd, self->h, 0,
				BAR_DMABUF_IMP_USAGE_READ, 0, sizeof(in), NULL,
				3000, &job, NULL));
	EXPECT_EQ(-EINVAL, imp_signal(self->e.impfd, job));
	memset(&sig, 0, sizeof(sig));
	sig.size = sizeof(sig);
	sig.flags = 1;
	sig.job = job;
	EXPECT_EQ(-EINVAL, imp_raw(self->e.impfd, BAR_DMABUF_IMP_IOCTL_SIGNAL,
				   &sig));

	/* WAIT_JOB: flags, a buffer too small; the job is still there. */
	memset(&wj, 0, sizeof(wj));
	wj.size = sizeof(wj);
	wj.flags = 1;
	wj.job = job;
	EXPECT_EQ(-EINVAL, imp_raw(self->e.impfd,
				   BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &wj));
	EXPECT_EQ(-EINVAL, imp_wait_job(self->e.impfd, job, EVENT_MS, in,
					sizeof(in) - 1, &status, NULL));
	memset(in, 0, sizeof(in));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, in,
				  sizeof(in), &status, NULL));
	EXPECT_EQ(0, status);
	EXPECT_EQ(0, memcmp(out, in, sizeof(in)));

	/* A held job: a short wait times out, SIGNAL twice is EALREADY. */
	ASSERT_EQ(0, imp_submit(self->e.impfd, self->h,
				BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_READ, 0, 64, NULL, 0,
				&held, NULL));
	EXPECT_EQ(-ETIMEDOUT, imp_wait_job(self->e.impfd, held, 20, NULL, 0,
					   &status, NULL));
	EXPECT_EQ(0, imp_signal(self->e.impfd, held));
	EXPECT_EQ(-EALREADY, imp_signal(self->e.impfd, held));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, held, EVENT_MS, NULL, 0,
				  &status, NULL));
	EXPECT_EQ(0, status);
	check_still_works(_metadata, self->e.impfd, self->h, 1);
}

/*
 * Importer uapi: SET_BEHAVIOUR out of range (unknown flags or mode, a
 * window over 60 s, an interval of 0 or over 10 s) is EINVAL, on an unknown
 * handle ENOENT; SUBMIT with a delay over 60 s or a reserved field set is
 * EINVAL; READ_LOG and WAIT_EVENT with flags are EINVAL, on an unknown
 * handle ENOENT, READ_LOG into a bad pointer EFAULT.
 */
TEST_F(bad, fields_out_of_range)
{
	struct bar_dmabuf_imp_behaviour b;
	struct bar_dmabuf_imp_submit s;
	struct bar_dmabuf_imp_read_log rl;
	struct bar_dmabuf_imp_wait_event we;
	int fd = self->e.impfd;
	__u64 job = 0;

	if (self->skipped)
		return;
	EXPECT_EQ(-EINVAL, imp_set_behaviour(fd, self->h, 0, 1u << 7, 0, 1));
	EXPECT_EQ(-EINVAL, imp_set_behaviour(fd, self->h, 4, 0, 0, 1));
	EXPECT_EQ(-EINVAL, imp_set_behaviour(fd, self->h, 0, 0, 60001, 1));
	EXPECT_EQ(-EINVAL, imp_set_behaviour(fd, self->h, 0, 0, 0, 10001));
	EXPECT_EQ(-ENOENT, imp_set_behaviour(fd, 0x7fff, 0, 0, 0, 1));
	/* imp_set_behaviour() turns interval 0 into 1: the raw command. */
	memset(&b, 0, sizeof(b));
	b.size = sizeof(b);
	b.handle = self->h;
	EXPECT_EQ(-EINVAL, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &b));
	EXPECT_EQ(0, imp_set_behaviour(fd, self->h, BAR_DMABUF_IMP_UNMAP_WORKER,
				       0, 60000, 10000));

	EXPECT_EQ(-EINVAL, imp_submit(fd, self->h, 0, 0, 0, 64, NULL, 60001,
				      &job, NULL));
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.handle = self->h;
	s.length = 64;
	s.reserved = 1;
	EXPECT_EQ(-EINVAL, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_SUBMIT, &s));

	memset(&rl, 0, sizeof(rl));
	rl.size = sizeof(rl);
	rl.handle = self->h;
	rl.max_events = 64;
	rl.events_ptr = 8;
	EXPECT_EQ(-EFAULT, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl));
	rl.flags = 1;
	EXPECT_EQ(-EINVAL, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl));
	rl.flags = 0;
	rl.handle = 0x7fff;
	EXPECT_EQ(-ENOENT, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &rl));

	memset(&we, 0, sizeof(we));
	we.size = sizeof(we);
	we.handle = self->h;
	we.type = BAR_DMABUF_IMP_EV_ATTACH;
	we.count = 1;
	we.flags = 1;
	EXPECT_EQ(-EINVAL, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &we));
	we.flags = 0;
	EXPECT_EQ(0, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &we));
	we.handle = 0x7fff;
	EXPECT_EQ(-ENOENT, imp_raw(fd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &we));

	/* Back to the default behaviour for the check. */
	EXPECT_EQ(0, imp_set_behaviour(fd, self->h, BAR_DMABUF_IMP_UNMAP_WORKER,
				       0, 0, 1));
	check_still_works(_metadata, fd, self->h, 2);
}

/* One of two threads driving the same attachment. */
struct driver {
	int impfd;
	__u32 h;
	unsigned int page;	/* each thread writes its own page */
	unsigned int rounds;
	int bad;		/* first unexpected result, 0 if none */
	const char *what;	/* the command that gave it */
};

/* Submit a job of @d that takes DRIVER_JOB_MS and wait for it. */
static int driver_job(struct driver *d, bool write, void *data, __u64 len)
{
	__u64 job = 0;
	int ret, status = -1;

	ret = imp_submit(d->impfd, d->h, write ? BAR_DMABUF_IMP_JOB_WRITE : 0,
			 write ? BAR_DMABUF_IMP_USAGE_WRITE :
				 BAR_DMABUF_IMP_USAGE_READ,
			 d->page * BD_PAGE, len, write ? data : NULL,
			 DRIVER_JOB_MS, &job, NULL);
	if (ret)
		return ret;
	ret = imp_wait_job(d->impfd, job, EVENT_MS, write ? NULL : data,
			   write ? 0 : len, &status, NULL);
	return ret ? ret : status;
}

/*
 * Map, change the behaviour, write a pattern, read it back, again and
 * again. Each job takes a few ms, so the other thread's commands and jobs
 * come while this one's job is in flight. Everything must succeed:
 * ctl_lock serialises the commands and the two threads' jobs share one
 * queue. (UNMAP stays out: it may pull a mapping from under the other
 * thread's running job, which the uapi documents as a fault.)
 */
static int driver_fn(void *arg)
{
	struct driver *d = arg;
	unsigned char out[512], in[512];
	unsigned int i;
	int ret;

	for (i = 0; i < d->rounds && !d->bad; i++) {
		fill(out, sizeof(out), d->page * 1000 + i);
		ret = imp_map(d->impfd, d->h, NULL);
		if (ret) {
			d->what = "map";
			d->bad = ret;
			break;
		}
		ret = imp_set_behaviour(d->impfd, d->h,
					BAR_DMABUF_IMP_UNMAP_WORKER, 0,
					(i & 1) ? 10 : 0, 1);
		if (ret) {
			d->what = "set behaviour";
			d->bad = ret;
			break;
		}
		ret = driver_job(d, true, out, sizeof(out));
		if (ret) {
			d->what = "write job";
			d->bad = ret;
			break;
		}
		memset(in, 0, sizeof(in));
		ret = driver_job(d, false, in, sizeof(in));
		if (ret || memcmp(out, in, sizeof(in))) {
			d->what = ret ? "read job" : "data read back";
			d->bad = ret ? ret : -EIO;
			break;
		}
	}
	return 0;
}

/*
 * Importer issue, bad input: two threads driving the same attachment at
 * once get no error and no mixed-up data; afterwards nothing is left
 * pending and no DMA fault happened.
 */
TEST_F_TIMEOUT(bad, two_threads_one_attachment, 180)
{
	struct bar_dmabuf_imp_counters c0, c1;
	struct driver d[2];
	struct bd_async a[2];
	unsigned int i;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));
	for (i = 0; i < 2; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].impfd = self->e.impfd;
		d[i].h = self->h;
		d[i].page = i;
		d[i].rounds = 40;
		ASSERT_EQ(0, bd_async_start(&a[i], driver_fn, &d[i]));
	}
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(bd_async_wait(&a[i], 150000));
		bd_async_join(&a[i]);
		EXPECT_EQ(0, d[i].bad)
			TH_LOG("thread %u: %s: %s", i, d[i].what,
			       strerror(-d[i].bad));
	}
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_jobs_pending, c1.out_jobs_pending);
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults);
	EXPECT_EQ(0, imp_detach(self->e.impfd, self->h));
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_attachments - 1, c1.out_attachments);
	EXPECT_EQ(c0.out_mappings, c1.out_mappings);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
