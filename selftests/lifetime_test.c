// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf lifetime_test: every way out revokes (rule 10), and the
 * lifetime cases of the selftest issue (test 12).
 *
 * Each way out (driver unbind, PCIe hot-unplug, PCI reset through sysfs,
 * last close of the control node) runs with a held fence and a late unmap
 * outstanding, and must wait for both as an explicit revoke does (rules 4-6).
 * Afterwards the dma-buf fds are still valid files; for the ways that take
 * the device away they are dead for good (rule 9), for reset and close they
 * are restorable. Module unload is refused while a buffer exists (the
 * exporter's buffers hold a module reference, see src/bar_dmabuf.h).
 *
 * These tests change the device's binding and put it back. Environment:
 * BAR_DMABUF_BDF, the importer, BAR_DMABUF_HOTPLUG for the hot-unplug test
 * (set by the test VM; a real box skips it).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define EVENT_MS	10000
#define RETURN_MS	60000
#define BLOCKED_MS	500
#define LATE_MS		600	/* importer B's late-read window */
#define BAR_MIN		(64 * BD_PAGE)	/* the BAR the fixtures need */

/* ------------------------------------------------------------------ */

FIXTURE(way)
{
	bool skipped;
	struct bd_env e;
	int buf;
	char *cpu;
};

/*
 * Each way out runs twice: releasing the fence first shows it waits for
 * the mapping (rule 5), releasing the mapping first that it waits for the
 * fence (rule 4).
 */
FIXTURE_VARIANT(way)
{
	enum bd_way way;	/* unless @close */
	bool close;	/* the last close of the control node instead */
	bool dead;	/* the buffer can never be restored afterwards */
	bool fence_first;
};

FIXTURE_VARIANT_ADD(way, unbind_fence_first) {
	.way = BD_WAY_UNBIND, .dead = true, .fence_first = true,
};

FIXTURE_VARIANT_ADD(way, unbind_unmap_first) {
	.way = BD_WAY_UNBIND, .dead = true,
};

FIXTURE_VARIANT_ADD(way, hot_unplug_fence_first) {
	.way = BD_WAY_HOTPLUG, .dead = true, .fence_first = true,
};

FIXTURE_VARIANT_ADD(way, hot_unplug_unmap_first) {
	.way = BD_WAY_HOTPLUG, .dead = true,
};

FIXTURE_VARIANT_ADD(way, pci_reset_fence_first) {
	.way = BD_WAY_RESET, .fence_first = true,
};

FIXTURE_VARIANT_ADD(way, pci_reset_unmap_first) {
	.way = BD_WAY_RESET,
};

FIXTURE_VARIANT_ADD(way, aer_recovery_fence_first) {
	.way = BD_WAY_AER, .fence_first = true,
};

FIXTURE_VARIANT_ADD(way, aer_recovery_unmap_first) {
	.way = BD_WAY_AER,
};

FIXTURE_VARIANT_ADD(way, last_close_fence_first) {
	.close = true, .fence_first = true,
};

FIXTURE_VARIANT_ADD(way, last_close_unmap_first) {
	.close = true,
};

/* Put the device back after a way out: re-plugged, bound, its node there. */
static int way_back(bool close, enum bd_way way, const char *bdf)
{
	return close ? bd_rebind(bdf) : bd_way_back(way, bdf);
}

FIXTURE_SETUP(way)
{
	const char *why;

	self->buf = -1;
	self->cpu = MAP_FAILED;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	why = variant->close ? NULL :
			       bd_way_unavailable(variant->way, self->e.bdf);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	self->buf = bd_env_export(&self->e, 0, 4);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(way)
{
	if (self->cpu != MAP_FAILED)
		munmap(self->cpu, BD_PAGE);
	bd_close(&self->buf);
	bd_env_close(&self->e);
	/* Whatever happened, leave the device bound for the next test. */
	if (self->e.bdf)
		way_back(variant->close, variant->way, self->e.bdf);
}

struct way_arg {
	enum bd_way way;
	bool close;
	const char *bdf;
	int *devfd;
};

static int way_reset(void *bdf)
{
	return bd_way_out(BD_WAY_RESET, bdf);
}

static int way_out(void *p)
{
	struct way_arg *w = p;

	/* The only open file of the node: its release revokes. */
	if (w->close)
		return close(*w->devfd) ? -errno : 0;
	return bd_way_out(w->way, w->bdf);
}

/*
 * Test 9, rules 4, 5, 6 and 10 (and 12: unbind with fds open, then close
 * them): the way out waits for a held fence (importer A), a late unmap
 * with late reads (importer B) and an unmap we release (importer C), like
 * an explicit revoke; the dma-buf fd outlives it, dead or restorable as
 * the way out says; nothing warns.
 */
TEST_F_TIMEOUT(way, waits_for_fence_and_unmap, 300)
{
	struct bd_async way;
	struct way_arg w = {
		.way = variant->way,
		.close = variant->close,
		.bdf = self->e.bdf,
		.devfd = &self->e.devfd,
	};
	__u64 job = 0, sig_ns = 0, unmap_b = 0, unmap_c = 0;
	struct imp_log log;
	unsigned int i;
	__u32 ha, hb, hc, h2;
	int status = 1, ret, devfd;
	struct stat st;

	if (self->skipped)
		return;
	self->cpu = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->buf, 0);
	ASSERT_NE(MAP_FAILED, self->cpu);
	memset(self->cpu, 0xa5, 64);

	ha = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	hb = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_WORKER, 0, LATE_MS, true);
	hc = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, ha, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));

	ASSERT_EQ(0, bd_async_start(&way, way_out, &w));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, ha,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, RETURN_MS,
				    NULL))
		TH_LOG("the way out did not notify the importer");
	/* B unmaps on its own after its late reads. */
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, hb, BAR_DMABUF_IMP_EV_UNMAP,
				    1, EVENT_MS, &unmap_b));
	EXPECT_FALSE(bd_async_wait(&way, BLOCKED_MS))
		TH_LOG("the way out finished (%d) with a fence and a mapping held",
		       way.ret);
	if (variant->fence_first) {
		ASSERT_EQ(0, imp_signal(self->e.impfd, job));
		EXPECT_FALSE(bd_async_wait(&way, BLOCKED_MS))
			TH_LOG("the way out finished (%d) with a mapping held",
			       way.ret);
		ASSERT_EQ(0, imp_unmap(self->e.impfd, hc));
	} else {
		ASSERT_EQ(0, imp_unmap(self->e.impfd, hc));
		EXPECT_FALSE(bd_async_wait(&way, BLOCKED_MS))
			TH_LOG("the way out finished (%d) with a fence held",
			       way.ret);
		ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	}
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, &sig_ns));
	ASSERT_TRUE(bd_async_wait(&way, RETURN_MS));
	bd_async_join(&way);
	EXPECT_EQ(0, way.ret) TH_LOG("way out: %s", strerror(-way.ret));
	if (variant->close)
		self->e.devfd = -1;

	/* Rule 6: it went on only after the fence and the last unmap. */
	EXPECT_LE(sig_ns, way.end_ns);
	EXPECT_LE(unmap_b, way.end_ns);
	ASSERT_EQ(0, imp_read_log(self->e.impfd, hc, &log));
	unmap_c = imp_log_first(&log, BAR_DMABUF_IMP_EV_UNMAP);
	imp_log_free(&log);
	EXPECT_NE(0, unmap_c);
	EXPECT_LE(unmap_c, way.end_ns + BD_UNMAP_STAMP_SLACK_NS);

	/* Rule 5: B's late reads all saw the BAR (no early teardown). */
	ASSERT_EQ(0, imp_read_log(self->e.impfd, hb, &log));
	for (i = 0; i < log.nr; i++)
		if (log.ev[i].type == BAR_DMABUF_IMP_EV_LATE_READ)
			EXPECT_EQ(0, log.ev[i].result);
	EXPECT_LT(0, imp_log_count(&log, BAR_DMABUF_IMP_EV_LATE_READ));
	EXPECT_EQ(0, imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT));
	imp_log_free(&log);

	/* The dma-buf fd is still a valid file. */
	EXPECT_EQ(0, fstat(self->buf, &st));

	if (variant->dead || variant->close) {
		/* Revoked: no attach, SIGBUS-free check through a new mmap. */
		EXPECT_EQ(-ENODEV, imp_attach(self->e.impfd, self->buf, 0, &h2));
		EXPECT_EQ(MAP_FAILED, mmap(NULL, BD_PAGE, PROT_READ,
					   MAP_SHARED, self->buf, 0));
	}

	/* Bring the device back (unbind, unplug) or reopen the node (close). */
	EXPECT_EQ(0, way_back(variant->close, variant->way, self->e.bdf));
	if (self->e.devfd < 0 || variant->dead) {
		devfd = bd_open_dev(self->e.bdf);
		ASSERT_LE(0, devfd);
		bd_close(&self->e.devfd);
		self->e.devfd = devfd;
	}

	ret = bd_restore(self->e.devfd, self->buf, 0, NULL);
	if (variant->dead) {
		/* Rule 9: a buffer whose device went away stays dead. */
		EXPECT_EQ(-ENODEV, ret);
		EXPECT_EQ(-ENODEV, imp_attach(self->e.impfd, self->buf, 0, &h2));
	} else {
		/* reset_done or AER resume restored it; close needs RESTORE. */
		EXPECT_EQ(0, ret) TH_LOG("restore: %s", strerror(-ret));
		EXPECT_EQ(0, imp_attach(self->e.impfd, self->buf, 0, &h2));
		EXPECT_EQ(0, imp_map(self->e.impfd, h2, NULL));
		EXPECT_EQ(0xa5, (unsigned char)self->cpu[0]);
	}

	/* The device works again: a new buffer exports and maps. */
	{
		int fresh = bd_env_export(&self->e, 4, 1);

		ASSERT_LE(0, fresh) TH_LOG("%s", self->e.why);
		EXPECT_EQ(0, imp_attach(self->e.impfd, fresh, 0, &h2));
		EXPECT_EQ(0, imp_map(self->e.impfd, h2, NULL));
		close(fresh);
	}
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

FIXTURE(life)
{
	bool skipped;
	struct bd_env e;
	int buf;
};

FIXTURE_SETUP(life)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, 4);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(life)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/* Test 12: revoke, then close the dma-buf fd; the device carries on. */
TEST_F(life, revoke_then_close_fd)
{
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 50, true);
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 30000, NULL));
	bd_close(&self->buf);
	/* The importer still holds its reference; dropping it is fine too. */
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	self->buf = bd_env_export(&self->e, 0, 4);
	EXPECT_LE(0, self->buf);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Test 12, rules 4 and 6: the dma-buf fd is closed while a revoke of it
 * waits for a fence; the revoke holds its own reference and completes when
 * the fence signals; no hang, no refcount warning.
 */
TEST_F_TIMEOUT(life, close_fd_while_revoke_waits, 120)
{
	struct bd_async_revoke ar;
	__u64 job = 0;
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	bd_close(&self->buf);
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS));
	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Importer teardown and rule 4: closing the importer's control file while
 * a revoke waits on its held fence cancels the job (its fence signals with
 * an error), unmaps and detaches, which lets the revoke complete.
 */
TEST_F_TIMEOUT(life, importer_close_releases_revoke, 120)
{
	struct bd_async_revoke ar;
	__u64 job = 0;
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_NEVER, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS));
	bd_close(&self->e.impfd);
	/* Promptly: well before the importer's fence watchdog (20 s). */
	ASSERT_TRUE(bd_async_wait(&ar.a, EVENT_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rule 10 for module unload: bar_dmabuf is not unloadable while a buffer
 * exists (each buffer holds a module reference), so an unload can never
 * free the BAR under a live mapping. The control node is closed first (its
 * open file holds a module reference of its own, and its last close revokes
 * the buffer), so only the buffer can keep the module; the buffer then
 * still restores and maps.
 */
TEST_F(life, rmmod_refused_while_buffers_exist)
{
	__u32 h;
	int ret;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	bd_close(&self->e.devfd);
	ret = syscall(SYS_delete_module, "bar_dmabuf", O_NONBLOCK);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EWOULDBLOCK, errno);
	ASSERT_TRUE(bd_module_loaded("bar_dmabuf"));
	self->e.devfd = bd_open_dev(self->e.bdf);
	ASSERT_LE(0, self->e.devfd);
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Exporter bad input "the same buffer revoked from two threads at once"
 * (rules 3, 4, 6 and 8: asking again only waits again): two revokes of
 * one buffer, started together while an importer holds a fence, both
 * block, the importer is notified once, and both return success only
 * after the fence signalled; the buffer then restores once and maps.
 */
TEST_F_TIMEOUT(life, same_buffer_revoked_from_two_threads, 120)
{
	struct bd_async_revoke ar[2];
	__u64 job = 0, signal_ns = 0;
	struct imp_log log;
	int i, status = 0;
	__u32 h, nr = 0;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, bd_async_revoke_start(&ar[i], self->e.devfd,
						   self->buf, 0, 60000));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	/* Both wait for the held fence, the later one as well. */
	EXPECT_FALSE(bd_async_wait(&ar[0].a, BLOCKED_MS))
		TH_LOG("revoke thread 0 returned with the fence held");
	EXPECT_FALSE(bd_async_wait(&ar[1].a, BLOCKED_MS))
		TH_LOG("revoke thread 1 returned with the fence held");
	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, &signal_ns));
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(bd_async_wait(&ar[i].a, RETURN_MS));
		bd_async_join(&ar[i].a);
		EXPECT_EQ(0, ar[i].a.ret);
		EXPECT_EQ(1, ar[i].out_nr);
		EXPECT_LE(signal_ns, ar[i].a.end_ns);
	}
	/* One revoke, one notification. */
	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	EXPECT_EQ(1, imp_log_count(&log, BAR_DMABUF_IMP_EV_INVALIDATE))
		imp_log_dump(&log);
	imp_log_free(&log);
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, &nr));
	EXPECT_EQ(1, nr);
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rule 9 and the reset way out: reset_done restores only what the reset
 * revoked. A REVOKE of the buffer that comes while reset_prepare waits
 * (an importer holds a fence) makes the revoke the user's: after the
 * reset the buffer is still revoked (no map) until an explicit RESTORE.
 */
TEST_F_TIMEOUT(life, revoke_during_reset_outlives_reset_done, 120)
{
	struct bd_async reset;
	__u64 job = 0;
	int status = 0;
	__u32 h;

	if (self->skipped)
		return;
	if (bd_way_unavailable(BD_WAY_RESET, self->e.bdf))
		SKIP(return, "%s", bd_way_unavailable(BD_WAY_RESET, self->e.bdf));
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	ASSERT_EQ(0, bd_async_start(&reset, way_reset, (void *)self->e.bdf));
	ASSERT_EQ(0, bd_debugfs_wait(self->e.bdf, self->buf, "(by reset)",
				     RETURN_MS));
	/* The user's revoke waits for the same fence: bounded, it expires. */
	EXPECT_EQ(-ETIMEDOUT, bd_revoke(self->e.devfd, self->buf, 0,
					BLOCKED_MS, NULL));
	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, NULL));
	ASSERT_TRUE(bd_async_wait(&reset, RETURN_MS));
	bd_async_join(&reset);
	EXPECT_EQ(0, reset.ret);

	/* reset_done left it revoked: the user asked for that. */
	EXPECT_EQ(-ENODEV, imp_map(self->e.impfd, h, NULL));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/*
 * RESTORE or REVOKE racing with the close of a buffer's last fd, many
 * times over, each both ways: by that fd and for all buffers.
 */
FIXTURE(race)
{
	bool skipped;
	struct bd_env e;
};

FIXTURE_VARIANT(race)
{
	bool restore;	/* RESTORE a revoked buffer, else REVOKE a live one */
};

FIXTURE_VARIANT_ADD(race, restore) {
	.restore = true,
};

FIXTURE_VARIANT_ADD(race, revoke) {
	.restore = false,
};

FIXTURE_SETUP(race)
{
	bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped);
}

FIXTURE_TEARDOWN(race)
{
	bd_env_close(&self->e);
}

#define RACE_ROUNDS	400
#define RACE_MS		30000	/* stop early past this on a slow kernel */

/* Two threads let go at once: one calls the ioctl, one closes the fd. */
struct race_arg {
	pthread_barrier_t *go;
	int devfd;
	int fd;		/* the buffer's only fd */
	bool all;	/* the ioctl for every buffer, else by @fd */
	bool restore;
	int ret;
	__u32 nr;
};

static void *race_ioctl(void *p)
{
	struct race_arg *r = p;
	int fd = r->all ? -1 : r->fd;
	__u32 flags = r->all ? BAR_DMABUF_ALL_BUFFERS : 0;

	pthread_barrier_wait(r->go);
	if (r->restore)
		r->ret = bd_restore(r->devfd, fd, flags, &r->nr);
	else
		r->ret = bd_revoke(r->devfd, fd, flags, 10000, &r->nr);
	return NULL;
}

static void *race_close(void *p)
{
	struct race_arg *r = p;

	pthread_barrier_wait(r->go);
	close(r->fd);
	return NULL;
}

/* Wait (5 s at most) for @fn(@arg) to come back to @want; its last value. */
static int settle(int (*fn)(const char *), const char *arg, int want)
{
	__u64 deadline = bd_now_ns() + 5000 * BD_NSEC_PER_MSEC;
	int v;

	while ((v = fn(arg)) != want && bd_now_ns() < deadline)
		usleep(20000);
	return v;
}

/*
 * Test 12 "restore while the fd closes" and the exporter's bad input "a
 * revoke or restore racing with close of the fd": the ioctl and the close
 * of the buffer's only fd start together, so the buffer's last reference
 * goes either with the close or with the ioctl's own reference, or the
 * buffer is released while the ioctl for all buffers walks the device's
 * list. Each round must answer success (the buffer counted, or already
 * gone for the ioctl for all) or EBADF (closed first); nothing hangs or
 * warns (refcount, KASAN), and afterwards the counters balance: every
 * buffer released (debugfs lists what it listed before) and the module's
 * reference count back where it was (each buffer holds one).
 */
TEST_F_TIMEOUT(race, with_close_of_the_last_fd, 300)
{
	unsigned int round, bad = 0, counted = 0, missed = 0, closed = 0;
	int refcnt0, nbuf0, others, fd;
	__u64 t0 = bd_now_ns();
	pthread_barrier_t go;
	char first_bad[128] = "";

	if (self->skipped)
		return;
	refcnt0 = bd_module_refcnt("bar_dmabuf");
	nbuf0 = bd_debugfs_nr_buffers(self->e.bdf);
	ASSERT_LE(0, refcnt0);
	ASSERT_LE(0, nbuf0) TH_LOG("debugfs: %s", strerror(-nbuf0));
	/* A REVOKE for all also counts the buffers that were there before. */
	others = variant->restore ? 0 : nbuf0;
	ASSERT_EQ(0, pthread_barrier_init(&go, NULL, 2));

	for (round = 0; round < RACE_ROUNDS &&
	     bd_ms_between(t0, bd_now_ns()) < RACE_MS; round++) {
		struct race_arg r = {
			.go = &go,
			.devfd = self->e.devfd,
			.all = round & 1,
			.restore = variant->restore,
		};
		pthread_t a, b;

		fd = bd_env_export(&self->e, round % 16, 1);
		ASSERT_LE(0, fd) TH_LOG("%s", self->e.why);
		if (variant->restore)
			ASSERT_EQ(0, bd_revoke(self->e.devfd, fd, 0, 10000,
					       NULL));
		r.fd = fd;
		ASSERT_EQ(0, pthread_create(&a, NULL, race_ioctl, &r));
		ASSERT_EQ(0, pthread_create(&b, NULL, race_close, &r));
		pthread_join(a, NULL);
		pthread_join(b, NULL);

		if (r.ret == -EBADF && !r.all) {
			closed++;
		} else if (r.ret == 0 && r.nr == 1 + (r.all ? others : 0)) {
			counted++;
		} else if (r.ret == 0 && r.nr == others && r.all) {
			missed++;	/* released before the walk */
		} else if (!bad++) {
			snprintf(first_bad, sizeof(first_bad),
				 "round %u (%s): %s, %u buffer(s)", round,
				 r.all ? "all" : "by fd", strerror(-r.ret),
				 r.nr);
		}
	}
	pthread_barrier_destroy(&go);
	TH_LOG("%u rounds: %u counted, %u released first, %u closed first",
	       round, counted, missed, closed);
	EXPECT_EQ(0, bad) TH_LOG("first: %s", first_bad);

	/* Counters balance: every buffer of the loop was released. */
	EXPECT_EQ(nbuf0, settle(bd_debugfs_nr_buffers, self->e.bdf, nbuf0));
	EXPECT_EQ(refcnt0, settle(bd_module_refcnt, "bar_dmabuf", refcnt0));

	/* The device still exports, revokes and restores. */
	fd = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, fd) TH_LOG("%s", self->e.why);
	EXPECT_EQ(0, bd_revoke(self->e.devfd, fd, 0, 10000, NULL));
	EXPECT_EQ(0, bd_restore(self->e.devfd, fd, 0, NULL));
	close(fd);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/* Sets revoke_timeout_ms to 1 s for one test and puts the old value back. */
FIXTURE(removal)
{
	bool skipped;
	struct bd_env e;
	int buf;
	struct bd_param_saved saved;
};

FIXTURE_SETUP(removal)
{
	int ret;

	self->buf = -1;
	memset(&self->saved, 0, sizeof(self->saved));
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	ret = bd_param_override(&self->saved, "bar_dmabuf",
				"revoke_timeout_ms", "1000");
	if (ret == -ENOENT) {
		self->skipped = true;
		SKIP(return, "bar_dmabuf has no parameter revoke_timeout_ms");
	}
	ASSERT_EQ(0, ret) TH_LOG("revoke_timeout_ms=1000: %s", strerror(-ret));
	self->buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(removal)
{
	bd_param_restore(&self->saved);
	bd_close(&self->buf);
	bd_env_close(&self->e);
	if (self->e.bdf)
		bd_rebind(self->e.bdf);
}

/*
 * Rule 8, second half: a removal never frees the BAR under a live mapping.
 * With an importer that does not unmap, unbind keeps waiting past the
 * revoke timeout, warns (naming the importer), and completes once the
 * importer unmaps.
 */
TEST_F_TIMEOUT(removal, unbind_waits_past_timeout_and_warns, 120)
{
	struct bd_async way;
	struct way_arg w = { .way = BD_WAY_UNBIND, .bdf = self->e.bdf };
	const char *who = bd_env("BAR_DMABUF_IMPORTER_BDF");
	__u64 unmap_ns = 0;
	char line[512];
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	ASSERT_EQ(0, bd_async_start(&way, way_out, &w));
	/* The periodic warning of the removal path, naming the importer. */
	EXPECT_EQ(1, bd_kmsg_wait(self->e.kfd, "removal revoke still waiting",
				  line, sizeof(line), 20000));
	EXPECT_EQ(1, bd_kmsg_wait(self->e.kfd, who ? who : "holds", line,
				  sizeof(line), 5000));
	/* Past the timeout (1 s) it still waits: it never gives up. */
	EXPECT_FALSE(bd_async_wait(&way, 1500))
		TH_LOG("unbind finished (%d) with a mapping outstanding",
		       way.ret);
	ASSERT_EQ(0, imp_unmap(self->e.impfd, h));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h, BAR_DMABUF_IMP_EV_UNMAP,
				    1, EVENT_MS, &unmap_ns));
	ASSERT_TRUE(bd_async_wait(&way, RETURN_MS));
	bd_async_join(&way);
	EXPECT_EQ(0, way.ret);
	EXPECT_LE(unmap_ns, way.end_ns + BD_UNMAP_STAMP_SLACK_NS);
	EXPECT_EQ(0, bd_rebind(self->e.bdf));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/*
 * A buffer whose dma-buf file is gone while its dentry lives on: an
 * O_PATH open of /proc/self/fd/N holds the dentry, so closing the dma-buf
 * fd frees the struct file but the exporter's release runs only when the
 * O_PATH fd is closed. Every way out that revokes all buffers meets such a
 * buffer; it must never follow the freed file. On 7.2 (files are
 * SLAB_TYPESAFE_BY_RCU) the freed slot is the next file opened, here a
 * victim on tmpfs with private (COW) pages, which a zap "even_cows"
 * through that file's mapping would throw away.
 */
FIXTURE(opath)
{
	bool skipped;
	struct bd_env e;
	char dir[64];		/* a tmpfs (or ramfs) for the victim files */
	bool mounted;
};

FIXTURE_VARIANT(opath)
{
	enum bd_way way;	/* unless @revoke_all or @close */
	bool revoke_all;	/* REVOKE with BAR_DMABUF_ALL_BUFFERS */
	bool close;		/* the last close of the control node */
	bool removes;		/* the device goes away (and comes back) */
	unsigned int rounds;
};

FIXTURE_VARIANT_ADD(opath, revoke_all) {
	.revoke_all = true, .rounds = 32,
};

FIXTURE_VARIANT_ADD(opath, last_close) {
	.close = true, .rounds = 32,
};

FIXTURE_VARIANT_ADD(opath, unbind) {
	.way = BD_WAY_UNBIND, .removes = true, .rounds = 32,
};

/* Each round is a hot-unplug and a re-plug of seconds under TCG. */
FIXTURE_VARIANT_ADD(opath, hot_unplug) {
	.way = BD_WAY_HOTPLUG, .removes = true, .rounds = 8,
};

FIXTURE_VARIANT_ADD(opath, pci_reset) {
	.way = BD_WAY_RESET, .rounds = 32,
};

FIXTURE_VARIANT_ADD(opath, aer_recovery) {
	.way = BD_WAY_AER, .rounds = 8,
};

FIXTURE_SETUP(opath)
{
	const char *why = NULL;

	self->dir[0] = '\0';
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	if (!variant->revoke_all && !variant->close)
		why = bd_way_unavailable(variant->way, self->e.bdf);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	snprintf(self->dir, sizeof(self->dir), "/tmp/bd_opath.XXXXXX");
	if (!mkdtemp(self->dir)) {
		snprintf(self->dir, sizeof(self->dir), "/bd_opath.%d", getpid());
		ASSERT_EQ(0, mkdir(self->dir, 0700));
	}
	/* Where tmpfs mounts, use it; else the directory (rootfs) as it is. */
	self->mounted = !mount("tmpfs", self->dir, "tmpfs", 0, "size=1m");
}

FIXTURE_TEARDOWN(opath)
{
	if (self->dir[0]) {
		if (self->mounted)
			umount(self->dir);
		rmdir(self->dir);
	}
	bd_env_close(&self->e);
	if (self->e.bdf && !variant->revoke_all)
		way_back(variant->close, variant->way, self->e.bdf);
}

struct opath_arg {
	const struct _fixture_variant_opath *v;
	struct bd_env *e;
};

/* The variant's way out, as a struct bd_async function. */
static int opath_way_out(void *p)
{
	struct opath_arg *o = p;

	if (o->v->revoke_all)
		return bd_revoke(o->e->devfd, -1, BAR_DMABUF_ALL_BUFFERS,
				 10000, NULL);
	if (o->v->close) {
		/* The only open file of the node: its release revokes. */
		if (close(o->e->devfd))
			return -errno;
		o->e->devfd = -1;
		return 0;
	}
	return bd_way_out(o->v->way, o->e->bdf);
}

/*
 * Take the variant's way out (it must return within RETURN_MS), then put
 * the device back and open its node again: 0, or the step's -errno.
 */
static int opath_way(const struct _fixture_variant_opath *v, struct bd_env *e,
		     int *way_ret)
{
	struct opath_arg o = { .v = v, .e = e };
	struct bd_async a;
	int ret;

	*way_ret = -EINPROGRESS;
	ret = bd_async_start(&a, opath_way_out, &o);
	if (ret)
		return ret;
	if (!bd_async_wait(&a, RETURN_MS))
		return -ETIMEDOUT;	/* the thread is left blocked */
	bd_async_join(&a);
	*way_ret = a.ret;
	if (v->revoke_all)
		return 0;
	ret = way_back(v->close, v->way, e->bdf);
	if (ret)
		return ret;
	bd_close(&e->devfd);
	e->devfd = bd_open_dev(e->bdf);
	return e->devfd < 0 ? e->devfd : 0;
}

/*
 * The victim: @path created with a page of @shared bytes, mapped
 * MAP_PRIVATE and written with @priv (a COW page of its own). Returns the
 * mapping (the file's fd in *@fd) or MAP_FAILED.
 */
static unsigned char *victim_open(const char *path, int *fd,
				  unsigned char shared, unsigned char priv)
{
	unsigned char page[BD_PAGE];
	unsigned char *map;

	*fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (*fd < 0)
		return MAP_FAILED;
	memset(page, shared, sizeof(page));
	if (write(*fd, page, sizeof(page)) != (ssize_t)sizeof(page))
		return MAP_FAILED;
	map = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, *fd, 0);
	if (map != MAP_FAILED)
		memset(map, priv, BD_PAGE);
	return map;
}

/* How many bytes of @map are not @want. */
static unsigned int count_not(const unsigned char *map, unsigned char want)
{
	unsigned int i, n = 0;

	for (i = 0; i < BD_PAGE; i++)
		n += map[i] != want;
	return n;
}

/*
 * Issue 9 item 1: a way out that revokes every buffer never follows the
 * struct file of a buffer held only by an O_PATH reference to its dentry.
 * Each round: export, open the buffer O_PATH through /proc/self/fd, close
 * the dma-buf fd, at once open a victim file (on 7.2 it gets the freed
 * file's slot) with private COW bytes, take the way out (bounded); the
 * victim's private bytes are intact. Closing the O_PATH fd then releases
 * the buffer (debugfs and the module's reference count are back) and the
 * kernel log stays clean (the debug kernel's KASAN with SLUB_RCU_DEBUG
 * reports a use of the freed file by itself).
 */
TEST_F_TIMEOUT(opath, revoke_never_touches_a_freed_file, 600)
{
	unsigned int round, lost = 0, first_lost = ~0U;
	int buf, op, vfd, nbuf0, ref0, ret, way_ret;
	char path[64], victim[96];
	unsigned char *map;

	if (self->skipped)
		return;
	for (round = 0; round < variant->rounds; round++) {
		nbuf0 = bd_debugfs_nr_buffers(self->e.bdf);
		ref0 = bd_module_refcnt("bar_dmabuf");
		ASSERT_LE(0, nbuf0);
		ASSERT_LE(0, ref0);
		snprintf(victim, sizeof(victim), "%s/victim.%u", self->dir,
			 round);

		buf = bd_env_export(&self->e, round % 16, 1);
		ASSERT_LE(0, buf) TH_LOG("round %u: %s", round, self->e.why);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", buf);
		op = open(path, O_PATH | O_CLOEXEC);
		ASSERT_LE(0, op) TH_LOG("O_PATH open: %s", strerror(errno));
		close(buf);
		/* Nothing in between: the next file opened is the victim. */
		map = victim_open(victim, &vfd, 0x11, 0xee);
		ASSERT_NE(MAP_FAILED, map) TH_LOG("victim: %s", strerror(errno));

		ret = opath_way(variant, &self->e, &way_ret);
		ASSERT_EQ(0, ret)
			TH_LOG("round %u: the way out or back: %s", round,
			       strerror(-ret));
		EXPECT_EQ(0, way_ret)
			TH_LOG("round %u: way out: %s", round,
			       strerror(-way_ret));

		/* The victim's private page is still its own. */
		ret = count_not(map, 0xee);
		if (ret && !lost++)
			first_lost = round;
		EXPECT_EQ(0, ret)
			TH_LOG("round %u: %d private bytes of the victim lost (read 0x%02x)",
			       round, ret, map[0]);
		munmap(map, BD_PAGE);
		close(vfd);
		unlink(victim);

		/* The O_PATH reference was the last: the buffer goes. */
		close(op);
		if (!variant->removes)
			EXPECT_EQ(nbuf0, settle(bd_debugfs_nr_buffers,
						self->e.bdf, nbuf0))
				TH_LOG("round %u: buffer not released", round);
		EXPECT_EQ(ref0, settle(bd_module_refcnt, "bar_dmabuf", ref0))
			TH_LOG("round %u: module reference not dropped", round);
	}
	TH_LOG("%u rounds, %u with the victim's private bytes lost (first %d)",
	       round, lost, lost ? (int)first_lost : -1);

	/* The device still exports, and maps for an importer. */
	buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, buf) TH_LOG("%s", self->e.why);
	bd_fixture_attach(_metadata, &self->e, buf, BAR_DMABUF_IMP_UNMAP_SYNC,
			  0, 0, true);
	close(buf);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Issue 9 item 1, second half: a buffer held only by an O_PATH reference
 * has no importer and no mapping left, even when an importer attached,
 * mapped, ran a job and detached earlier (and a CPU mapping came and
 * went): every way out completes for it at once, without waiting for the
 * revoke timeout, and the importer hears nothing more of it.
 */
TEST_F_TIMEOUT(opath, buffer_held_by_opath_only_revokes_at_once, 300)
{
	struct bar_dmabuf_imp_counters c0, c1;
	unsigned char data[64];
	int buf, op, ret, way_ret, ref0, status = -1;
	struct imp_log log;
	char path[64];
	__u64 job = 0, t0;
	void *cpu;
	__u32 h;

	if (self->skipped)
		return;
	buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, buf) TH_LOG("%s", self->e.why);
	cpu = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
	ASSERT_NE(MAP_FAILED, cpu);
	memset(cpu, 0x3c, sizeof(data));
	munmap(cpu, BD_PAGE);
	h = bd_fixture_attach(_metadata, &self->e, buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ,
				0, sizeof(data), NULL, 0, &job, NULL));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, data,
				  sizeof(data), &status, NULL));
	EXPECT_EQ(0, status);
	EXPECT_EQ(0x3c, data[0]);
	ASSERT_EQ(0, imp_detach(self->e.impfd, h));
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));

	snprintf(path, sizeof(path), "/proc/self/fd/%d", buf);
	op = open(path, O_PATH | O_CLOEXEC);
	ASSERT_LE(0, op);
	close(buf);
	ref0 = bd_module_refcnt("bar_dmabuf");

	/* At once: well within the revoke timeout (10 s by default). */
	t0 = bd_now_ns();
	ret = opath_way(variant, &self->e, &way_ret);
	ASSERT_EQ(0, ret) TH_LOG("the way out or back: %s", strerror(-ret));
	EXPECT_EQ(0, way_ret) TH_LOG("way out: %s", strerror(-way_ret));
	TH_LOG("way out and back took %lld ms", bd_ms_between(t0, bd_now_ns()));
	if (variant->revoke_all || variant->close)
		EXPECT_GT(5000, bd_ms_between(t0, bd_now_ns()));

	/* Nothing reached the importer that had let go. */
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));
	EXPECT_EQ(c0.out_invalidates, c1.out_invalidates);
	EXPECT_EQ(c0.out_attachments, c1.out_attachments);
	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	EXPECT_EQ(0, imp_log_count(&log, BAR_DMABUF_IMP_EV_INVALIDATE))
		imp_log_dump(&log);
	imp_log_free(&log);

	/* The O_PATH fd held the last reference: the buffer goes with it. */
	close(op);
	EXPECT_EQ(ref0 - 1, settle(bd_module_refcnt, "bar_dmabuf", ref0 - 1))
		TH_LOG("the buffer's module reference was not dropped");
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/* The last close of the control node, the fixture's node fd its only one. */
FIXTURE(lastclose)
{
	bool skipped;
	struct bd_env e;
	int buf;
	struct bd_fault fault;
};

#define FAIL_NTH_MAX	64

FIXTURE_SETUP(lastclose)
{
	self->buf = -1;
	memset(&self->fault, 0, sizeof(self->fault));
	self->fault.nth = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(lastclose)
{
	bd_fault_close(&self->fault);
	bd_close(&self->buf);
	bd_env_close(&self->e);
	if (self->e.bdf)
		bd_rebind(self->e.bdf);
}

/*
 * Issue 9 item 3 (rule 10: no way out is skipped for want of memory): for
 * n = 1, 2, ... the n-th allocation of the closing thread fails
 * (/proc/thread-self/fail-nth, written right before close() of the node's
 * only fd; the release runs in this task on the way back from close()).
 * Whichever allocation fails, the buffer exported before is revoked (an
 * importer's attach is ENODEV), and the device works after a reopen. The
 * loop ends at the first n that the close never reached (fail-nth reads
 * back non-zero): every allocation of the path has failed once by then.
 * GFP_KERNEL allocations are injected too (failslab/ignore-gfp-wait N).
 */
TEST_F_TIMEOUT(lastclose, revoke_never_skipped_under_enomem, 300)
{
	char why[64] = "";
	unsigned int n, injected = 0;
	bool reached;
	int ret, fresh;
	__u32 h;

	if (self->skipped)
		return;
	if (bd_fault_open(&self->fault, why, sizeof(why)))
		SKIP(return, "%s", why);
	why[0] = '\0';

	for (n = 1; n <= FAIL_NTH_MAX; n++) {
		ASSERT_EQ(0, bd_fault_arm(&self->fault, n));
		ret = close(self->e.devfd) ? -errno : 0;
		self->e.devfd = -1;
		reached = bd_fault_disarm(&self->fault);
		EXPECT_EQ(0, ret) TH_LOG("n=%u: close: %s", n, strerror(-ret));

		/* Whatever failed, the buffer was revoked. */
		ret = imp_attach(self->e.impfd, self->buf, 0, &h);
		EXPECT_EQ(-ENODEV, ret)
			TH_LOG("n=%u (%s): the buffer was not revoked (attach: %s)",
			       n, reached ? "a fault was injected" :
					    "nothing failed",
			       strerror(-ret));
		if (!ret)
			imp_detach(self->e.impfd, h);

		/* The device is usable after a reopen. */
		self->e.devfd = bd_open_dev(self->e.bdf);
		ASSERT_LE(0, self->e.devfd);
		fresh = bd_env_export(&self->e, 1, 1);
		ASSERT_LE(0, fresh) TH_LOG("n=%u: %s", n, self->e.why);
		h = bd_fixture_attach(_metadata, &self->e, fresh,
				      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
		EXPECT_EQ(0, imp_detach(self->e.impfd, h));
		close(fresh);
		EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));

		if (!reached) {
			snprintf(why, sizeof(why), "n=%u never reached", n);
			break;
		}
		injected++;
	}
	TH_LOG("%u faults injected into the last close; %s", injected,
	       why[0] ? why : "stopped at the limit");
	EXPECT_NE(0, why[0]) TH_LOG("more than %d fault points in a close?",
				    FAIL_NTH_MAX);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

struct reopen_arg {
	const char *bdf;
	struct bd_env *e;
	int devfd;
	int buf;
};

/* Open the node again and export a page: the new buffer in @buf. */
static int reopen_and_export(void *p)
{
	struct reopen_arg *r = p;
	int ret;

	r->devfd = bd_open_dev(r->bdf);
	if (r->devfd < 0)
		return r->devfd;
	ret = bd_export_one(r->devfd, r->e->bar, 2 * BD_PAGE, BD_PAGE,
			    &r->buf);
	return ret;
}

static int close_fd(void *p)
{
	return close(*(int *)p) ? -errno : 0;
}

/*
 * Issue 9 item 3: the last close revokes the buffers that existed when it
 * began and nothing exported after. While that close waits for a fence an
 * importer holds on the old buffer, another thread opens the node and
 * exports; once the close returned the new buffer is still live (it
 * attaches and maps) and the old one is revoked.
 */
TEST_F_TIMEOUT(lastclose, buffer_exported_during_the_close_stays_live, 120)
{
	struct reopen_arg r = { .bdf = self->e.bdf, .e = &self->e,
				.devfd = -1, .buf = -1 };
	struct bd_async closing, other;
	bool during;
	__u64 job = 0;
	int status = 0, devfd;
	char state[1024];
	__u32 h, h2;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	devfd = self->e.devfd;
	self->e.devfd = -1;
	ASSERT_EQ(0, bd_async_start(&closing, close_fd, &devfd));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL))
		TH_LOG("the last close did not revoke");
	EXPECT_FALSE(bd_async_wait(&closing, BLOCKED_MS))
		TH_LOG("the last close returned (%d) with a fence held",
		       closing.ret);

	/* A new user of the device, while the close still waits. */
	ASSERT_EQ(0, bd_async_start(&other, reopen_and_export, &r));
	during = bd_async_wait(&other, 5000);
	TH_LOG("the export %s while the close waited",
	       during ? "finished" : "did not finish");

	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, NULL));
	ASSERT_TRUE(bd_async_wait(&closing, RETURN_MS));
	bd_async_join(&closing);
	EXPECT_EQ(0, closing.ret);
	ASSERT_TRUE(bd_async_wait(&other, RETURN_MS));
	bd_async_join(&other);
	ASSERT_EQ(0, other.ret) TH_LOG("reopen and export: %s",
				       strerror(-other.ret));
	self->e.devfd = r.devfd;

	/* The old buffer is revoked, the new one live. */
	EXPECT_EQ(-ENODEV, imp_map(self->e.impfd, h, NULL));
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, r.buf, state,
				       sizeof(state)));
	EXPECT_NE(NULL, strstr(state, " live")) TH_LOG("%s", state);
	EXPECT_EQ(0, imp_attach(self->e.impfd, r.buf, 0, &h2));
	EXPECT_EQ(0, imp_map(self->e.impfd, h2, NULL));
	close(r.buf);
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
