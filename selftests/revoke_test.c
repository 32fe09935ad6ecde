// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf revoke_test: the exporter's revoke protocol, rule by rule
 * (../../shared/docs/revoke-protocol.md, copied in README), checked from
 * the test importer's timeline and CLOCK_MONOTONIC around the revoke call.
 *
 * Nothing here sleeps hoping for an order: a test waits for the importer's
 * log (WAIT_EVENT), a job (WAIT_JOB) or the revoke thread, each with a
 * deadline. "Still blocked after N ms" is asserted by a wait on the revoke
 * thread that must time out. Margins are generous: the VM is TCG-emulated
 * and the debug kernel runs KASAN.
 *
 * Environment: BAR_DMABUF_BDF, the importer module; BAR_DMABUF_BDF2 for the
 * two-device test.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

/* Generous deadlines: TCG and KASAN make everything slow. */
#define EVENT_MS	10000	/* an event that must come */
#define RETURN_MS	20000	/* a revoke that must return */
#define BLOCKED_MS	500	/* "still blocked after several hundred ms" */
#define BUF_PAGES	4
#define BAR_MIN		(64 * BD_PAGE)	/* the BAR the fixtures need */

/* ------------------------------------------------------------------ */

FIXTURE(fence)
{
	bool skipped;
	struct bd_env e;
	int buf;
};

FIXTURE_VARIANT(fence)
{
	__u32 usage;
};

FIXTURE_VARIANT_ADD(fence, write) {
	.usage = BAR_DMABUF_IMP_USAGE_WRITE,
};

FIXTURE_VARIANT_ADD(fence, read) {
	.usage = BAR_DMABUF_IMP_USAGE_READ,
};

FIXTURE_VARIANT_ADD(fence, bookkeep) {
	.usage = BAR_DMABUF_IMP_USAGE_BOOKKEEP,
};

FIXTURE_SETUP(fence)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, BUF_PAGES);
	ASSERT_LE(0, self->buf);
}

FIXTURE_TEARDOWN(fence)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Test 1, rules 3, 4 and 6: a revoke with a job's fence held (of every
 * dma_resv usage) notifies the importer, is still blocked several hundred
 * ms later, and returns only after the fence signalled.
 */
TEST_F_TIMEOUT(fence, held_fence_blocks_revoke, 120)
{
	struct bd_async_revoke ar;
	__u64 job = 0, sig_ns = 0;
	int status = -1;
	__u32 h;

	if (self->skipped)
		return;
	/* The importer unmaps at once, so only the fence can hold the revoke. */
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				variant->usage, 0, 256, NULL, 0, &job, NULL));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_JOB_START, 1, EVENT_MS,
				    NULL));

	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	/* Rule 3: the importer is told while the revoke is pending. */
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	/* Rule 4: still waiting for the fence. */
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
		TH_LOG("revoke returned %d with the fence unsignalled%s",
		       ar.a.ret, bd_env_show_log(&self->e, h));
	/* Rule 9: no restore while a revoke is in progress. */
	EXPECT_EQ(-EBUSY, bd_restore(self->e.devfd, self->buf, 0, NULL));

	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, &sig_ns));
	/* Done, or refused because its mapping was revoked; never a DMA fault. */
	EXPECT_TRUE(status == 0 || status == -ENODEV)
		TH_LOG("job status %s", strerror(-status));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	/* Rule 6: it returned after the fence signalled, not before. */
	EXPECT_LE(sig_ns, ar.a.end_ns)
		TH_LOG("revoke returned %lld ms before the fence signalled%s",
		       bd_ms_between(ar.a.end_ns, sig_ns), bd_env_show_log(&self->e, h));
	EXPECT_LE(BLOCKED_MS, bd_ms_between(ar.a.start_ns, ar.a.end_ns));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

FIXTURE(rv)
{
	bool skipped;
	struct bd_env e;
	int buf;
};

FIXTURE_SETUP(rv)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, BUF_PAGES);
	ASSERT_LE(0, self->buf);
}

FIXTURE_TEARDOWN(rv)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Rule 5 from the importer's side: a SYNC-mode importer unmaps inside the
 * invalidate callback, and a job already retiring on that mapping either
 * finishes its access first (status 0) or sees the unmap and touches
 * nothing (-ENODEV); never a DMA fault through an address the importer
 * had handed back. 40 rounds of SIGNAL and REVOKE at once.
 */
TEST_F_TIMEOUT(rv, sync_unmap_and_a_retiring_job, 300)
{
	unsigned int round, done = 0, gone = 0;
	int status = 0, faults = 0;
	struct imp_log log;
	__u64 job = 0;
	__u32 h;

	if (self->skipped)
		return;
	for (round = 0; round < 40 && !faults; round++) {
		h = bd_fixture_attach(_metadata, &self->e, self->buf,
				      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
		ASSERT_EQ(0, imp_submit(self->e.impfd, h,
					BAR_DMABUF_IMP_JOB_HOLD,
					BAR_DMABUF_IMP_USAGE_WRITE, 0, 4096,
					NULL, 0, &job, NULL));
		ASSERT_EQ(0, imp_signal(self->e.impfd, job));
		ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, RETURN_MS,
				       NULL));
		ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
					  &status, NULL));
		ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
		faults = imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT);
		if (faults || (status && status != -ENODEV))
			imp_log_dump(&log);
		imp_log_free(&log);
		EXPECT_TRUE(status == 0 || status == -ENODEV)
			TH_LOG("round %u: job status %s", round,
			       strerror(-status));
		if (status == -ENODEV)
			gone++;
		else if (!status)
			done++;
		ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
		ASSERT_EQ(0, imp_detach(self->e.impfd, h));
	}
	EXPECT_EQ(0, faults) TH_LOG("round %u: a job accessed a handed-back mapping",
				    round - 1);
	TH_LOG("%u rounds: access before the unmap %u, after it (ENODEV) %u",
	       round, done, gone);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Capability 6: the tracepoints tell a revoke's story, in order. With the
 * bar_dmabuf events on, a new buffer is exported, attached and mapped; a
 * revoke starts while the importer holds a fence and its mapping (WORKER
 * mode: it unmaps once its jobs are done). While the fence is held the
 * trace has revoke_start and neither fences_drained nor revoke_done; once
 * it signals: fences_drained, the importer's unmap and unmaps_drained,
 * then revoke_done (ret 0), then the restore.
 */
TEST_F_TIMEOUT(rv, tracepoints_show_the_revoke_timeline, 120)
{
	int exp, att, map, start, fences, unmap, unmaps, done, restore;
	struct bd_async_revoke ar;
	int fd, id, ret, status = 0;
	const char *bdf = self->e.bdf;
	char *t;
	__u64 job = 0;
	__u32 h;

	if (self->skipped)
		return;
	ret = bd_trace_start();
	if (ret == -ENOENT)
		SKIP(return, "no bar_dmabuf trace events (kernel without event tracing?)");
	ASSERT_EQ(0, ret) TH_LOG("tracefs: %s", strerror(-ret));
	fd = bd_env_export(&self->e, 16, 1);
	ASSERT_LE(0, fd) TH_LOG("%s", self->e.why);
	id = bd_debugfs_buffer_id(bdf, fd);
	ASSERT_LE(0, id);
	h = bd_fixture_attach(_metadata, &self->e, fd,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, NULL));
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, fd, 0,
					   RETURN_MS));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));

	/* The fence is held: the revoke has started, not drained. */
	t = bd_trace_read();
	ASSERT_NE(NULL, t);
	EXPECT_LE(0, bd_trace_pos(t, "export", bdf, id)) TH_LOG("%s", t);
	EXPECT_LE(0, bd_trace_pos(t, "attach", bdf, id));
	EXPECT_LE(0, bd_trace_pos(t, "map", bdf, id));
	EXPECT_LE(0, bd_trace_pos(t, "revoke_start", bdf, id));
	EXPECT_EQ(-1, bd_trace_pos(t, "fences_drained", bdf, id)) TH_LOG("%s", t);
	EXPECT_EQ(-1, bd_trace_pos(t, "revoke_done", bdf, id));
	free(t);

	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, NULL));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	EXPECT_EQ(0, bd_restore(self->e.devfd, fd, 0, NULL));

	t = bd_trace_read();
	bd_trace_stop();
	ASSERT_NE(NULL, t);
	exp = bd_trace_pos(t, "export", bdf, id);
	att = bd_trace_pos(t, "attach", bdf, id);
	map = bd_trace_pos(t, "map", bdf, id);
	start = bd_trace_pos(t, "revoke_start", bdf, id);
	fences = bd_trace_pos(t, "fences_drained", bdf, id);
	unmap = bd_trace_pos(t, "unmap", bdf, id);
	unmaps = bd_trace_pos(t, "unmaps_drained", bdf, id);
	done = bd_trace_pos(t, "revoke_done", bdf, id);
	restore = bd_trace_pos(t, "restore", bdf, id);
	TH_LOG("trace lines: export %d attach %d map %d revoke_start %d",
	       exp, att, map, start);
	TH_LOG("fences_drained %d unmap %d unmaps_drained %d revoke_done %d restore %d",
	       fences, unmap, unmaps, done, restore);
	EXPECT_LE(0, exp);
	EXPECT_LT(exp, att);
	EXPECT_LT(att, map);
	EXPECT_LT(map, start);
	EXPECT_LT(start, fences);
	EXPECT_LT(start, unmap);
	EXPECT_LT(unmap, unmaps);
	EXPECT_LT(fences, done);
	EXPECT_LT(unmaps, done);
	EXPECT_LT(done, restore);
	EXPECT_NE(NULL, strstr(t, "ret 0")) TH_LOG("trace:\n%s", t);
	free(t);
	close(fd);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Test 4, rule 4: a fence imported from userspace with
 * DMA_BUF_IOCTL_IMPORT_SYNC_FILE holds the revoke like the importer's own.
 * The fence comes from a held job on a second buffer, so the revoked buffer
 * has no attachment at all and only the imported fence can hold it.
 */
TEST_F_TIMEOUT(rv, imported_sync_file_blocks_revoke, 120)
{
	struct dma_buf_import_sync_file isf = { 0 };
	struct bd_async_revoke ar;
	__u64 job = 0, sig_ns = 0;
	int other, sync_fd = -1;
	__u32 h;

	if (self->skipped)
		return;
	other = bd_env_export(&self->e, BUF_PAGES, BUF_PAGES);
	ASSERT_LE(0, other);
	h = bd_fixture_attach(_metadata, &self->e, other,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h,
				BAR_DMABUF_IMP_JOB_HOLD |
				BAR_DMABUF_IMP_JOB_SYNC_FILE,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 256, NULL, 0,
				&job, &sync_fd));
	ASSERT_LE(0, sync_fd);
	EXPECT_EQ(0, bd_poll_in(sync_fd, 0));

	isf.flags = DMA_BUF_SYNC_WRITE;
	isf.fd = sync_fd;
	ASSERT_EQ(0, ioctl(self->buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &isf))
		TH_LOG("IMPORT_SYNC_FILE: %s", strerror(errno));

	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
		TH_LOG("revoke returned %d with the imported fence unsignalled",
		       ar.a.ret);

	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	EXPECT_EQ(1, bd_poll_in(sync_fd, EVENT_MS));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0, NULL,
				  &sig_ns));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	EXPECT_LE(sig_ns, ar.a.end_ns);
	close(sync_fd);
	close(other);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rules 4, 6 and 7: a batched revoke waits for a fence that comes to a
 * buffer after the wait has passed it. The batch is {A, B}: A (no
 * attachment) is drained at once, the revoke sleeps on B's held fence;
 * meanwhile a fence of a buffer C exported after the revoke began (so not
 * in the batch) is imported into A. B's fence signals: the revoke must
 * still wait for A's, and return only after it.
 */
TEST_F_TIMEOUT(rv, batch_waits_for_a_fence_added_behind_it, 120)
{
	struct dma_buf_import_sync_file isf = { .flags = DMA_BUF_SYNC_WRITE };
	struct bd_async_revoke ar;
	__u64 job_b = 0, job_c = 0, sig_c = 0;
	int b, c, sync_fd = -1;
	__u32 hb, hc;

	if (self->skipped)
		return;
	b = bd_env_export(&self->e, BUF_PAGES, BUF_PAGES);
	ASSERT_LE(0, b);
	hb = bd_fixture_attach(_metadata, &self->e, b,
			       BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, hb, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job_b, NULL));

	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, -1,
					   BAR_DMABUF_ALL_BUFFERS, 60000));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, hb,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));

	c = bd_env_export(&self->e, 2 * BUF_PAGES, BUF_PAGES);
	ASSERT_LE(0, c) TH_LOG("%s", self->e.why);
	hc = bd_fixture_attach(_metadata, &self->e, c,
			       BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, hc,
				BAR_DMABUF_IMP_JOB_HOLD |
				BAR_DMABUF_IMP_JOB_SYNC_FILE,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job_c, &sync_fd));
	isf.fd = sync_fd;
	ASSERT_EQ(0, ioctl(self->buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &isf))
		TH_LOG("IMPORT_SYNC_FILE: %s", strerror(errno));

	ASSERT_EQ(0, imp_signal(self->e.impfd, job_b));
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
		TH_LOG("revoke returned %d with a fence of A unsignalled",
		       ar.a.ret);

	ASSERT_EQ(0, imp_signal(self->e.impfd, job_c));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job_c, EVENT_MS, NULL, 0,
				  NULL, &sig_c));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	EXPECT_LE(sig_c, ar.a.end_ns);
	close(sync_fd);
	close(c);
	close(b);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Test 2, rules 5 and 6: an importer that unmaps D ms after the invalidate
 * (late reads meanwhile) holds the revoke until its unmap; the late reads
 * all see the BAR's data, with no DMA fault, because the exporter kept the
 * DMA addresses valid until the unmap.
 */
TEST_F_TIMEOUT(rv, delayed_unmap_blocks_revoke, 120)
{
	const __u32 D = 800;
	struct bar_dmabuf_imp_counters c0, c1;
	__u64 t0, t1, inv, unmap;
	struct imp_log log;
	unsigned int i, late = 0;
	__u32 h;
	int ret;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, D, true);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c0));

	t0 = bd_now_ns();
	ret = bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL);
	t1 = bd_now_ns();
	ASSERT_EQ(0, ret) TH_LOG("revoke: %s", strerror(-ret));
	ASSERT_EQ(0, imp_wait_unmapped(self->e.impfd, h, 1, NULL));
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c1));

	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	inv = imp_log_first(&log, BAR_DMABUF_IMP_EV_INVALIDATE);
	unmap = imp_log_last(&log, BAR_DMABUF_IMP_EV_UNMAP);
	EXPECT_NE(0, inv);
	EXPECT_NE(0, unmap);
	/* Rule 6: the revoke returned after the unmap... */
	EXPECT_LE(unmap, t1 + BD_UNMAP_STAMP_SLACK_NS)
		TH_LOG("%s", bd_env_show_log(&self->e, h));
	EXPECT_LE(inv, unmap);
	/*
	 * ...and not before the importer's window had passed (less 10 ms:
	 * the importer counts its window in jiffies).
	 */
	EXPECT_LE(D - 10, bd_ms_between(t0, t1))
		TH_LOG("%s", bd_env_show_log(&self->e, h));

	/* Rule 5: every late read in the window saw the BAR's data. */
	for (i = 0; i < log.nr; i++) {
		if (log.ev[i].type != BAR_DMABUF_IMP_EV_LATE_READ)
			continue;
		late++;
		EXPECT_EQ(0, log.ev[i].result)
			TH_LOG("late read %u at +%lld ms: %s", late,
			       bd_ms_between(inv, log.ev[i].ts_ns),
			       strerror(-log.ev[i].result));
		EXPECT_LE(log.ev[i].ts_ns, unmap);
	}
	EXPECT_LT(1, late);
	EXPECT_EQ(0, imp_log_count(&log, BAR_DMABUF_IMP_EV_DMA_FAULT));
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults)
		TH_LOG("%s", bd_env_show_log(&self->e, h));
	imp_log_free(&log);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* Run @p's first byte access in a child; the signal that killed it, or 0. */
static int touch_in_child(char *p, bool write)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		/* Atomic accesses: the compiler may not drop them. */
		if (write)
			__atomic_store_n(p, 0x5a, __ATOMIC_RELAXED);
		else
			(void)__atomic_load_n(p, __ATOMIC_RELAXED);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/*
 * Test 5, rules 1, 2 and 9: after a revoke, attach and map fail with
 * ENODEV, a touch of an existing mmap raises SIGBUS, a new mmap fails and
 * the importer's next job fails cleanly; a restore makes all of them work
 * again with the data intact.
 */
TEST_F_TIMEOUT(rv, revoked_refuses_everything_until_restore, 120)
{
	char pattern[BD_PAGE], back[BD_PAGE];
	__u64 job = 0;
	__u32 h, h2 = 0, nr = 0;
	int i, ret, status;
	char *cpu, *m;

	if (self->skipped)
		return;
	for (i = 0; i < (int)sizeof(pattern); i++)
		pattern[i] = (char)(i * 7 + getpid());
	cpu = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->buf, 0);
	ASSERT_NE(MAP_FAILED, cpu);
	memcpy(cpu, pattern, sizeof(pattern));

	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, &nr));
	EXPECT_EQ(1, nr);

	/* Rule 1: no new attach, no map, no mmap; rule 2: SIGBUS on touch. */
	EXPECT_EQ(-ENODEV, imp_attach(self->e.impfd, self->buf, 0, &h2));
	EXPECT_EQ(-ENODEV, imp_map(self->e.impfd, h, NULL));
	EXPECT_EQ(SIGBUS, touch_in_child(cpu, false));
	EXPECT_EQ(SIGBUS, touch_in_child(cpu, true));
	m = mmap(NULL, BD_PAGE, PROT_READ, MAP_SHARED, self->buf, 0);
	EXPECT_EQ(MAP_FAILED, m);
	if (m != MAP_FAILED)
		munmap(m, BD_PAGE);
	/* The importer's next job fails cleanly (at submit or as its status). */
	ret = imp_submit(self->e.impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ, 0,
			 256, NULL, 0, &job, NULL);
	if (!ret) {
		ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, back,
					  sizeof(back), &status, NULL));
		EXPECT_EQ(-ENODEV, status);
	} else {
		EXPECT_EQ(-ENODEV, ret);
	}

	/* Rule 9: restore, and everything works again. */
	nr = 0;
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, &nr));
	EXPECT_EQ(1, nr);
	EXPECT_EQ(0, touch_in_child(cpu, false));
	EXPECT_EQ(0, memcmp(cpu, pattern, sizeof(pattern)));
	m = mmap(NULL, BD_PAGE, PROT_READ, MAP_SHARED, self->buf, 0);
	EXPECT_NE(MAP_FAILED, m);
	if (m != MAP_FAILED)
		munmap(m, BD_PAGE);
	EXPECT_EQ(0, imp_attach(self->e.impfd, self->buf, 0, &h2));
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL));
	memset(back, 0, sizeof(back));
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ,
				0, sizeof(back), NULL, 0, &job, NULL));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, back,
				  sizeof(back), &status, NULL));
	EXPECT_EQ(0, status);
	EXPECT_EQ(0, memcmp(back, pattern, sizeof(back)));
	munmap(cpu, BD_PAGE);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Importer contract: a pinned importer (no invalidate callback) and one
 * without allow_peer2peer are refused at attach with EOPNOTSUPP; a normal
 * one then still attaches.
 */
TEST_F(rv, pinned_and_non_p2p_importers_refused)
{
	__u32 h = 0;

	if (self->skipped)
		return;
	EXPECT_EQ(-EOPNOTSUPP, imp_attach(self->e.impfd, self->buf,
					  BAR_DMABUF_IMP_ATTACH_PINNED, &h));
	EXPECT_EQ(-EOPNOTSUPP, imp_attach(self->e.impfd, self->buf,
					  BAR_DMABUF_IMP_ATTACH_NO_P2P, &h));
	EXPECT_EQ(0, imp_attach(self->e.impfd, self->buf, 0, &h));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Test 11, rules 3 and 6: an attachment that never mapped holds nothing:
 * its revoke completes at once.
 */
TEST_F(rv, never_mapped_attachment_revokes_at_once)
{
	__u64 t0, t1;
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_NEVER, 0, 0, false);
	t0 = bd_now_ns();
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL));
	t1 = bd_now_ns();
	EXPECT_GT(2000, bd_ms_between(t0, t1));
	(void)h;
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Test 11, rules 3, 5 and 6: an importer that unmaps synchronously inside
 * its invalidate callback (the reservation lock held) does not deadlock,
 * and the revoke returns after that unmap.
 */
TEST_F(rv, unmap_inside_invalidate_callback)
{
	struct imp_log log;
	__u64 t1, inv, unmap;
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL));
	t1 = bd_now_ns();
	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	inv = imp_log_first(&log, BAR_DMABUF_IMP_EV_INVALIDATE);
	unmap = imp_log_first(&log, BAR_DMABUF_IMP_EV_UNMAP);
	EXPECT_NE(0, inv);
	EXPECT_NE(0, unmap);
	EXPECT_LE(inv, unmap);
	EXPECT_LE(unmap, t1);
	imp_log_free(&log);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Test 11, rule 9: a restore followed at once by a re-map from the
 * importer's worker succeeds: the restore clears the revoked state before
 * it notifies the importers (upstream 7.2 has this window the wrong way
 * round, so the re-map there would get ENODEV).
 */
TEST_F(rv, remap_right_after_restore)
{
	struct imp_log log;
	unsigned int i, maps = 0;
	int last = 1;
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC,
			      BAR_DMABUF_IMP_REMAP_ON_RESTORE, 0, true);
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL));
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	/* The importer maps again from its worker: the second MAP event. */
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h, BAR_DMABUF_IMP_EV_MAP, 2,
				    EVENT_MS, NULL));
	ASSERT_EQ(0, imp_read_log(self->e.impfd, h, &log));
	for (i = 0; i < log.nr; i++) {
		if (log.ev[i].type == BAR_DMABUF_IMP_EV_MAP) {
			maps++;
			last = log.ev[i].result;
		}
	}
	EXPECT_LE(2, maps);
	EXPECT_EQ(0, last) TH_LOG("re-map after restore: %s%s", strerror(-last),
				  bd_env_show_log(&self->e, h));
	imp_log_free(&log);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rule 8 (and 12: revoke twice): a revoke of a revoked buffer with nothing
 * outstanding returns success at once.
 */
TEST_F(rv, revoke_twice)
{
	__u64 t0;

	if (self->skipped)
		return;
	bd_fixture_attach(_metadata, &self->e, self->buf,
			  BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL));
	t0 = bd_now_ns();
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL));
	EXPECT_GT(2000, bd_ms_between(t0, bd_now_ns()));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

FIXTURE(multi)
{
	bool skipped;
	struct bd_env e;
	int buf;
};

FIXTURE_VARIANT(multi)
{
	bool fence_first;
};

FIXTURE_VARIANT_ADD(multi, fence_first) {
	.fence_first = true,
};

FIXTURE_VARIANT_ADD(multi, unmap_first) {
	.fence_first = false,
};

FIXTURE_SETUP(multi)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, BUF_PAGES);
	ASSERT_LE(0, self->buf);
}

FIXTURE_TEARDOWN(multi)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Test 3, rules 4, 5 and 6: three attachments of one buffer, one holding a
 * fence, one that unmaps only when told, one that unmaps late from its
 * worker. The revoke returns after the last fence and the last unmap,
 * whichever comes last.
 */
TEST_F_TIMEOUT(multi, last_fence_and_last_unmap, 120)
{
	__u64 job = 0, sig_ns = 0, u2, u3;
	struct bd_async_revoke ar;
	struct imp_log log;
	__u32 h1, h2, h3;

	if (self->skipped)
		return;
	h1 = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	h2 = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	h3 = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_WORKER, 0, 300, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h1, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 256, NULL, 0,
				&job, NULL));

	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   60000));
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h1,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h2,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	/* h3 unmaps on its own; wait for it so the order below is ours. */
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h3, BAR_DMABUF_IMP_EV_UNMAP,
				    1, EVENT_MS, &u3));
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS));

	if (variant->fence_first) {
		ASSERT_EQ(0, imp_signal(self->e.impfd, job));
		EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
			TH_LOG("returned with a mapping outstanding");
		ASSERT_EQ(0, imp_unmap(self->e.impfd, h2));
	} else {
		ASSERT_EQ(0, imp_unmap(self->e.impfd, h2));
		EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
			TH_LOG("returned with a fence outstanding");
		ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	}
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0, NULL,
				  &sig_ns));
	ASSERT_TRUE(bd_async_wait(&ar.a, RETURN_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);

	ASSERT_EQ(0, imp_read_log(self->e.impfd, h2, &log));
	u2 = imp_log_last(&log, BAR_DMABUF_IMP_EV_UNMAP);
	imp_log_free(&log);
	EXPECT_NE(0, u2);
	EXPECT_LE(sig_ns, ar.a.end_ns);
	EXPECT_LE(u2, ar.a.end_ns + BD_UNMAP_STAMP_SLACK_NS);
	EXPECT_LE(u3, ar.a.end_ns);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

FIXTURE(stuck)
{
	bool skipped;
	struct bd_env e;
	int buf;
};

FIXTURE_SETUP(stuck)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, BUF_PAGES);
	ASSERT_LE(0, self->buf);
}

FIXTURE_TEARDOWN(stuck)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Does a line of debugfs bar_dmabuf/<bdf>/buffers name @who and say it is
 * stuck?
 */
static bool debugfs_names_stuck(const char *bdf, const char *who)
{
	char path[256], buf[65536], *line, *save;

	snprintf(path, sizeof(path), BD_DEBUGFS "/%s/buffers", bdf);
	if (bd_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, who) && strstr(line, "stuck"))
			return true;
	return false;
}

/*
 * Test 7, rule 8: an importer that does not unmap makes the revoke return
 * ETIMEDOUT after its timeout (not before), the buffer stays revoked, the
 * kernel log and debugfs name the importer; once it unmaps, asking again
 * returns success promptly.
 */
TEST_F_TIMEOUT(stuck, timeout_names_importer_then_resumes, 120)
{
	const __u32 T = 1500;
	const char *who;
	char line[512];
	__u64 t0, t1;
	__u32 h, h2;
	int ret;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);

	t0 = bd_now_ns();
	ret = bd_revoke(self->e.devfd, self->buf, 0, T, NULL);
	t1 = bd_now_ns();
	EXPECT_EQ(-ETIMEDOUT, ret);
	/* Not before the timeout (less one 10 ms jiffy of rounding). */
	EXPECT_LE(T - 10, bd_ms_between(t0, t1));

	/* The buffer stays revoked. */
	EXPECT_EQ(-ENODEV, imp_attach(self->e.impfd, self->buf, 0, &h2));

	/* The importer's device is named: the PCI function it maps through. */
	who = bd_env("BAR_DMABUF_IMPORTER_BDF");
	if (!who)
		who = "bar_dmabuf_importer";
	EXPECT_TRUE(debugfs_names_stuck(self->e.bdf, who))
		TH_LOG("debugfs %s/%s/buffers does not name %s as stuck",
		       BD_DEBUGFS, self->e.bdf, who);
	EXPECT_EQ(1, bd_kmsg_find(self->e.kfd, who, line, sizeof(line)))
		TH_LOG("the kernel log does not name %s", who);

	/* Release the mapping; the second call resumes and succeeds. */
	ASSERT_EQ(0, imp_unmap(self->e.impfd, h));
	t0 = bd_now_ns();
	EXPECT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, 60000, NULL));
	EXPECT_GT(5000, bd_ms_between(t0, bd_now_ns()));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
}

/* ------------------------------------------------------------------ */

#define BATCH 32

FIXTURE(batch)
{
	bool skipped;
	struct bd_env e;
	int bufs[BATCH];
};

FIXTURE_SETUP(batch)
{
	int i;

	for (i = 0; i < BATCH; i++)
		self->bufs[i] = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	for (i = 0; i < BATCH; i++) {
		self->bufs[i] = bd_env_export(&self->e, i, 1);
		ASSERT_LE(0, self->bufs[i]);
	}
}

FIXTURE_TEARDOWN(batch)
{
	int i;

	for (i = 0; i < BATCH; i++)
		bd_close(&self->bufs[i]);
	bd_env_close(&self->e);
}

/*
 * Test 8, rule 7: revoking 32 buffers at once, each with an importer that
 * unmaps D after its invalidate, takes about D, not 32 x D: the exporter
 * marks and notifies every buffer before waiting for any. A serial
 * implementation can't return within 3 x D.
 */
TEST_F_TIMEOUT(batch, all_buffers_revoked_in_parallel, 300)
{
	const __u32 D = 1500;
	__u32 h[BATCH], nr = 0;
	__u64 t0, t1;
	int i, ret;

	if (self->skipped)
		return;
	for (i = 0; i < BATCH; i++)
		h[i] = bd_fixture_attach(_metadata, &self->e, self->bufs[i],
					 BAR_DMABUF_IMP_UNMAP_WORKER, 0, D,
					 true);
	t0 = bd_now_ns();
	ret = bd_revoke(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS, 120000, &nr);
	t1 = bd_now_ns();
	ASSERT_EQ(0, ret) TH_LOG("revoke all: %s", strerror(-ret));
	EXPECT_EQ(BATCH, nr);
	TH_LOG("%d buffers with D = %u ms revoked in %lld ms", BATCH, D,
	       bd_ms_between(t0, t1));
	EXPECT_LE(D - 10, bd_ms_between(t0, t1));
	EXPECT_GT(3 * D, bd_ms_between(t0, t1));
	for (i = 0; i < BATCH; i++) {
		__u64 unmap = 0;

		EXPECT_EQ(0, imp_wait_unmapped(self->e.impfd, h[i], 1, &unmap));
		EXPECT_LE(unmap, t1 + BD_UNMAP_STAMP_SLACK_NS);
	}
	nr = 0;
	EXPECT_EQ(0, bd_restore(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS, &nr));
	EXPECT_EQ(BATCH, nr);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/* Starts with allow_unproven_p2p=0 and puts the old value back. */
FIXTURE(p2p)
{
	bool skipped;
	struct bd_env e;
	int buf;
	struct bd_param_saved saved;
};

FIXTURE_SETUP(p2p)
{
	int ret;

	self->buf = -1;
	memset(&self->saved, 0, sizeof(self->saved));
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	ret = bd_param_override(&self->saved, "bar_dmabuf",
				"allow_unproven_p2p", "0");
	if (ret == -ENOENT) {
		self->skipped = true;
		SKIP(return, "bar_dmabuf has no parameter allow_unproven_p2p");
	}
	ASSERT_EQ(0, ret) TH_LOG("allow_unproven_p2p=0: %s", strerror(-ret));
	self->buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(p2p)
{
	bd_param_restore(&self->saved);
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Exporter capability 2, the branch each kernel must take. Where the
 * kernel proves the P2P path (bd_p2p_provable(): CONFIG_PCI_P2PDMA and a
 * host bridge it trusts, as in the test VM on 7.x and the debug build) the
 * importer attaches and maps with allow_unproven_p2p=0, nothing is logged,
 * and the mapping is made the proven way (debugfs: the kernel's P2P
 * helpers from 6.19). Where it cannot (Debian's 6.1 and 6.12 have no
 * CONFIG_PCI_P2PDMA) the attach is refused with EXDEV and a message naming
 * the parameter, and with allow_unproven_p2p=1 the same importer attaches
 * and maps through dma_map_resource(). No silent unsafe default either way.
 */
TEST_F(p2p, path_proven_where_the_kernel_can_else_refused)
{
	char line[512], block[2048], want[96];
	int provable = bd_p2p_provable(), ret;
	const char *path;
	__u32 h = 0;

	if (self->skipped)
		return;
	if (provable < 0)
		SKIP(return, "P2P path provable? no BAR_DMABUF_P2PDMA, no config");
	TH_LOG("P2P path %s here", provable ? "provable" : "not provable");
	ret = imp_attach(self->e.impfd, self->buf, 0, &h);
	if (provable) {
		ASSERT_EQ(0, ret)
			TH_LOG("attach with allow_unproven_p2p=0: %s",
			       strerror(-ret));
		ASSERT_EQ(0, imp_map(self->e.impfd, h, NULL));
		/* Neither "not proven" nor "cannot prove" was logged. */
		EXPECT_EQ(0, bd_kmsg_find(self->e.kfd, "prove", line,
					  sizeof(line)))
			TH_LOG("%s", line);
		path = bd_p2p_proven_path();
	} else {
		ASSERT_EQ(-EXDEV, ret)
			TH_LOG("attach with allow_unproven_p2p=0: %s",
			       ret ? strerror(-ret) : "accepted");
		EXPECT_EQ(1, bd_kmsg_wait(self->e.kfd, "allow_unproven_p2p=1",
					  line, sizeof(line), 5000))
			TH_LOG("no message names allow_unproven_p2p");
		/* Allowed, the same importer attaches and maps. */
		ASSERT_EQ(0, bd_param_override(&self->saved, "bar_dmabuf",
					       "allow_unproven_p2p", "1"));
		ASSERT_EQ(0, imp_attach(self->e.impfd, self->buf, 0, &h));
		ASSERT_EQ(0, imp_map(self->e.impfd, h, NULL));
		path = "dma_map_resource";
	}
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, block,
				       sizeof(block)));
	snprintf(want, sizeof(want), "): %s, 1 mapping(s)", path);
	EXPECT_NE(NULL, strstr(block, want))
		TH_LOG("expected a mapping by %s:\n%s", path, block);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
