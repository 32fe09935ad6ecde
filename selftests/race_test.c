// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf race_test: the interleavings that matter, forced instead of
 * hoped for (selftest issue 11, item 4).
 *
 * A userfaultfd page under an ioctl's user pointer stops its thread inside
 * the kernel at a known copy (every such copy of both modules is made with
 * no lock held, so a parked thread holds only its file and what the ioctl
 * made so far); the importer's unmap modes and held jobs stop the other
 * side between invalidate and unmap or before a fence signals. Every wait
 * is on an event with a deadline: the handler's "parked", an importer
 * event, a thread's wchan. Each test says which interleaving it forces.
 *
 * Needs CONFIG_USERFAULTFD (a SKIP without it), BAR_DMABUF_BDF and the
 * importer; the last test BAR_DMABUF_BDF2, the hot-unplug one
 * BAR_DMABUF_HOTPLUG. The tests unbind the device and put it back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/dma-buf.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define EVENT_MS	10000
#define RETURN_MS	60000
#define BLOCKED_MS	500
#define PROMPT_MS	5000	/* "at once": well inside REVOKE_MS */
#define REVOKE_MS	30000	/* a revoke's timeout in these tests */
#define BAR_MIN		(16 * BD_PAGE)

/* What every test here holds; two fixtures share it. */
#define RACE_FIELDS		\
	bool skipped;		\
	struct bd_env e;	\
	struct bd_uffd u;	\
	int buf

static bool rt_setup(struct __test_metadata *_metadata, struct bd_env *e,
		     struct bd_uffd *u, int *buf, bool *skipped)
{
	*buf = -1;
	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->wake[0] = -1;
	u->wake[1] = -1;
	return bd_fixture_open(_metadata, e, BAR_MIN, skipped);
}

static void rt_teardown(struct bd_env *e, struct bd_uffd *u, int *buf)
{
	bd_trace_stop();
	bd_uffd_close(u);
	bd_close(buf);
	bd_env_close(e);
	if (e->bdf)
		bd_rebind(e->bdf);
}

FIXTURE(race)
{
	RACE_FIELDS;
};

FIXTURE_SETUP(race)
{
	rt_setup(_metadata, &self->e, &self->u, &self->buf, &self->skipped);
}

FIXTURE_TEARDOWN(race)
{
	rt_teardown(&self->e, &self->u, &self->buf);
}

/* The ways out that take the device away. */
FIXTURE(removal)
{
	RACE_FIELDS;
};

FIXTURE_VARIANT(removal)
{
	enum bd_way way;
};

FIXTURE_VARIANT_ADD(removal, unbind) { .way = BD_WAY_UNBIND };
FIXTURE_VARIANT_ADD(removal, hot_unplug) { .way = BD_WAY_HOTPLUG };

FIXTURE_SETUP(removal)
{
	if (!rt_setup(_metadata, &self->e, &self->u, &self->buf,
		      &self->skipped))
		return;
	if (bd_way_unavailable(variant->way, self->e.bdf)) {
		self->skipped = true;
		SKIP(return, "%s", bd_way_unavailable(variant->way, self->e.bdf));
	}
}

FIXTURE_TEARDOWN(removal)
{
	rt_teardown(&self->e, &self->u, &self->buf);
}

/* Open and fill nothing yet: false after a SKIP. */
static bool race_uffd(struct __test_metadata *_metadata, struct bd_uffd *u,
		      bool wp)
{
	char why[128];
	int ret = bd_uffd_open(u, wp, why, sizeof(why));

	if (ret > 0)
		SKIP(return false, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("%s", why);
	return true;
}

/* EXPORT with the command struct and ranges wherever the test put them. */
struct export_arg {
	int devfd;
	struct bar_dmabuf_export *req;
};

static int export_fn(void *p)
{
	struct export_arg *x = p;

	return ioctl(x->devfd, BAR_DMABUF_IOCTL_EXPORT, x->req) ? -errno : 0;
}

/* Leaves *@ranges alone: it may be a missing page. */
static void export_req(struct bar_dmabuf_export *req, struct bd_env *e,
		       struct bar_dmabuf_range *ranges)
{
	memset(req, 0, sizeof(*req));
	req->size = sizeof(*req);
	req->bar_index = e->bar;
	req->open_flags = O_RDWR | O_CLOEXEC;
	req->nr_ranges = 1;
	req->ranges_ptr = (unsigned long)ranges;
}

/* The range a missing page of ranges gets once released. */
static void stage_range(struct bd_uffd *u)
{
	struct bar_dmabuf_range *r = (struct bar_dmabuf_range *)u->stage;

	r->offset = 0;
	r->length = BD_PAGE;
}

struct way_arg {
	enum bd_way way;
	const char *bdf;
};

static int way_out_fn(void *p)
{
	struct way_arg *w = p;

	return bd_way_out(w->way, w->bdf);
}

/* Take @way out of @bdf while a thread is parked: it must not wait. */
static void race_way_out(struct __test_metadata *_metadata, const char *bdf,
			 enum bd_way way)
{
	struct way_arg w = { .way = way, .bdf = bdf };
	struct bd_async out;

	ASSERT_EQ(0, bd_async_start(&out, way_out_fn, &w));
	ASSERT_TRUE(bd_async_wait(&out, RETURN_MS))
		TH_LOG("the way out waits for the parked ioctl");
	bd_async_join(&out);
	ASSERT_EQ(0, out.ret) TH_LOG("way out: %s", strerror(-out.ret));
}

/*
 * Rule 10, export against unbind and hot-unplug. EXPORT is parked in the
 * copy of its ranges (ranges_ptr on a missing page): past the node's
 * "gone" check at ioctl entry, before the device lock and before any
 * buffer exists. The device goes away completely meanwhile (its removal
 * has nothing to wait for). Released, the export must see the device
 * gone under the lock and fail ENODEV: a buffer made now would be live on
 * a removed device, its BAR given back, and no way out left to revoke it.
 */
TEST_F_TIMEOUT(removal, export_parked_before_the_lock_fails, 240)
{
	struct bar_dmabuf_export req;
	struct export_arg x = { .devfd = self->e.devfd, .req = &req };
	struct bd_async ex;
	int fds;

	if (self->skipped)
		return;
	if (!race_uffd(_metadata, &self->u, false))
		return;
	export_req(&req, &self->e, (struct bar_dmabuf_range *)self->u.page);
	stage_range(&self->u);
	ASSERT_EQ(0, bd_uffd_arm(&self->u));
	fds = bd_nr_fds();

	ASSERT_EQ(0, bd_async_start(&ex, export_fn, &x));
	ASSERT_EQ(0, bd_uffd_wait_parked(&self->u, EVENT_MS))
		TH_LOG("EXPORT never read its ranges");
	race_way_out(_metadata, self->e.bdf, variant->way);

	bd_uffd_release(&self->u, false);
	ASSERT_TRUE(bd_async_wait(&ex, RETURN_MS));
	bd_async_join(&ex);
	EXPECT_EQ(-ENODEV, ex.ret)
		TH_LOG("EXPORT after the removal: %s (fd %d)",
		       strerror(-ex.ret), req.out_fd);
	if (!ex.ret)
		close(req.out_fd);
	EXPECT_EQ(fds, bd_nr_fds());
	EXPECT_EQ(0, bd_way_back(variant->way, self->e.bdf));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * EXPORT's answer against unbind. EXPORT is parked in the copy-out of its
 * struct (a write-protected page: the copy-in reads it, the answer
 * faults): the buffer exists and is on the device's list, its fd is
 * reserved. While parked no new fd may be visible (an fd installed before
 * the answer can be used or closed by another thread before the caller
 * learns its number). The unbind completes meanwhile and must take the
 * buffer with it: released, EXPORT returns an fd of a dead buffer (attach
 * and RESTORE ENODEV). With the answer made to fault instead, EXPORT is
 * EFAULT and leaves no fd and no module reference behind.
 */
static void answer_vs_unbind(struct __test_metadata *_metadata,
			     struct bd_env *e, struct bd_uffd *u, int *buf,
			     bool fault)
{
	struct bar_dmabuf_range range = { .offset = 0, .length = BD_PAGE };
	struct bar_dmabuf_export *req;
	struct export_arg x = { .devfd = e->devfd };
	struct bd_async ex;
	int fds, refs, ret;
	__u32 h;

	if (!race_uffd(_metadata, u, true))
		return;
	req = (struct bar_dmabuf_export *)u->page;
	export_req(req, e, &range);
	x.req = req;
	ASSERT_EQ(0, bd_uffd_arm(u));
	fds = bd_nr_fds();
	refs = bd_module_refcnt("bar_dmabuf");

	ASSERT_EQ(0, bd_async_start(&ex, export_fn, &x));
	ASSERT_EQ(0, bd_uffd_wait_parked(u, EVENT_MS))
		TH_LOG("EXPORT never wrote its answer");
	EXPECT_EQ(fds, bd_nr_fds())
		TH_LOG("an fd is visible before the answer naming it");
	race_way_out(_metadata, e->bdf, BD_WAY_UNBIND);

	bd_uffd_release(u, fault);
	ASSERT_TRUE(bd_async_wait(&ex, RETURN_MS));
	bd_async_join(&ex);
	if (fault) {
		EXPECT_EQ(-EFAULT, ex.ret);
		EXPECT_EQ(fds, bd_nr_fds()) TH_LOG("a faulting answer left an fd");
		EXPECT_EQ(refs, bd_module_refcnt("bar_dmabuf"))
			TH_LOG("the buffer was not released");
	} else {
		ASSERT_EQ(0, ex.ret) TH_LOG("EXPORT: %s", strerror(-ex.ret));
		*buf = req->out_fd;
		ret = imp_attach(e->impfd, *buf, 0, &h);
		EXPECT_EQ(-ENODEV, ret) TH_LOG("the buffer outlived its device");
		if (!ret)
			imp_detach(e->impfd, h);
		bd_close(buf);
	}
	EXPECT_EQ(0, bd_rebind(e->bdf));
	bd_fixture_check_kmsg(_metadata, e->kfd);
}

TEST_F_TIMEOUT(race, export_answer_parked_then_unbind, 240)
{
	if (!self->skipped)
		answer_vs_unbind(_metadata, &self->e, &self->u, &self->buf,
				 false);
}

TEST_F_TIMEOUT(race, export_answer_faults_after_unbind, 240)
{
	if (!self->skipped)
		answer_vs_unbind(_metadata, &self->e, &self->u, &self->buf,
				 true);
}

static int close_fn(void *p)
{
	return close(*(int *)p) ? -errno : 0;
}

/*
 * Rule 10, export against the last close. EXPORT on the node's only fd is
 * parked in the copy of its ranges; another thread closes that fd.
 * close() returns at once, but the node's release (the last close) may
 * only run once the ioctl, which holds the file, is done: so the export
 * succeeds and its buffer is revoked by that last close before EXPORT
 * returns to userspace. A last close counted at close(2) (->flush) would
 * revoke nothing and leave the new buffer live with the node closed.
 */
TEST_F_TIMEOUT(race, export_parked_across_the_last_close_is_revoked, 120)
{
	struct bar_dmabuf_export req;
	struct export_arg x = { .devfd = self->e.devfd, .req = &req };
	struct bd_async ex, cl;
	char state[1024];
	int devfd, ret;
	__u32 h;

	if (self->skipped)
		return;
	if (!race_uffd(_metadata, &self->u, false))
		return;
	export_req(&req, &self->e, (struct bar_dmabuf_range *)self->u.page);
	stage_range(&self->u);
	ASSERT_EQ(0, bd_uffd_arm(&self->u));

	ASSERT_EQ(0, bd_async_start(&ex, export_fn, &x));
	ASSERT_EQ(0, bd_uffd_wait_parked(&self->u, EVENT_MS));
	devfd = self->e.devfd;
	self->e.devfd = -1;
	ASSERT_EQ(0, bd_async_start(&cl, close_fn, &devfd));
	ASSERT_TRUE(bd_async_wait(&cl, RETURN_MS))
		TH_LOG("close() of the node waits for the parked EXPORT");
	bd_async_join(&cl);
	EXPECT_EQ(0, cl.ret);

	bd_uffd_release(&self->u, false);
	ASSERT_TRUE(bd_async_wait(&ex, RETURN_MS));
	bd_async_join(&ex);
	ASSERT_EQ(0, ex.ret) TH_LOG("EXPORT: %s", strerror(-ex.ret));
	self->buf = req.out_fd;

	ret = imp_attach(self->e.impfd, self->buf, 0, &h);
	EXPECT_EQ(-ENODEV, ret)
		TH_LOG("the buffer survived the last close of the node");
	if (!ret)
		imp_detach(self->e.impfd, h);
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, state,
				       sizeof(state)));
	EXPECT_NE(NULL, strstr(state, "revoked")) TH_LOG("%s", state);

	self->e.devfd = bd_open_dev(self->e.bdf);
	ASSERT_LE(0, self->e.devfd);
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

struct submit_arg {
	int impfd;
	__u32 h;
	const void *data;
	__u64 job;
};

static int submit_fn(void *p)
{
	struct submit_arg *s = p;

	return imp_submit(s->impfd, s->h, BAR_DMABUF_IMP_JOB_WRITE,
			  BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, s->data, 0,
			  &s->job, NULL);
}

/*
 * Rule 1, a map in flight when the mark lands. The importer's SUBMIT of a
 * write job is parked in the copy of its data (data_ptr on a missing
 * page): past its attachment lookup, before it maps. A revoke marks the
 * buffer and notifies (INVALIDATE seen), then waits for the importer's
 * unmap (ON_REQUEST). Released, SUBMIT maps after the mark: the map must
 * be refused (ENODEV) and no fence may join the buffer, so the revoke
 * completes as soon as the old mapping is handed back.
 */
TEST_F_TIMEOUT(race, map_in_flight_when_the_mark_lands, 120)
{
	struct bar_dmabuf_imp_counters c;
	struct bd_async_revoke ar;
	struct submit_arg s;
	struct bd_async sub;
	struct imp_log log;
	unsigned int i, maps_failed = 0;

	if (self->skipped)
		return;
	if (!race_uffd(_metadata, &self->u, false))
		return;
	self->buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	s.impfd = self->e.impfd;
	s.h = bd_fixture_attach(_metadata, &self->e, self->buf,
				BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	s.data = self->u.page;
	memset(self->u.stage, 0x5a, BD_PAGE);
	ASSERT_EQ(0, bd_uffd_arm(&self->u));

	ASSERT_EQ(0, bd_async_start(&sub, submit_fn, &s));
	ASSERT_EQ(0, bd_uffd_wait_parked(&self->u, EVENT_MS))
		TH_LOG("SUBMIT never read its data");
	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   REVOKE_MS));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, s.h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
		TH_LOG("the revoke returned (%d) with the mapping held",
		       ar.a.ret);

	bd_uffd_release(&self->u, false);
	ASSERT_TRUE(bd_async_wait(&sub, RETURN_MS));
	bd_async_join(&sub);
	EXPECT_EQ(-ENODEV, sub.ret)
		TH_LOG("SUBMIT after the mark: %s", strerror(-sub.ret));
	if (!sub.ret)
		imp_wait_job(self->e.impfd, s.job, EVENT_MS, NULL, 0, NULL,
			     NULL);
	ASSERT_EQ(0, imp_read_log(self->e.impfd, s.h, &log));
	for (i = 0; i < log.nr; i++)
		maps_failed += log.ev[i].type == BAR_DMABUF_IMP_EV_MAP &&
			       log.ev[i].result == -ENODEV;
	EXPECT_EQ(1, maps_failed) TH_LOG("%s", bd_env_show_log(&self->e, s.h));
	imp_log_free(&log);
	ASSERT_EQ(0, imp_counters(self->e.impfd, &c));
	EXPECT_EQ(0, c.out_jobs_pending);

	ASSERT_EQ(0, imp_unmap(self->e.impfd, s.h));
	ASSERT_TRUE(bd_async_wait(&ar.a, PROMPT_MS))
		TH_LOG("the revoke still waits after the unmap");
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	EXPECT_EQ(0, imp_detach(self->e.impfd, s.h));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rules 5 and 9, a revoke against restore and detach. The revoke has
 * marked and notified (INVALIDATE seen) and waits for the unmap of an
 * ON_REQUEST importer that will detach without unmapping. While it waits
 * RESTORE (by fd and of all buffers) must be EBUSY: a restore would let
 * the importer map again under a revoke that is still waiting. The
 * importer then detaches: the exporter's detach hands the mapping back,
 * which must end the revoke at once (0); then RESTORE succeeds and the
 * buffer maps again. With CONFIG_DMABUF_DEBUG the core's copy of the
 * table would leak (only the importer's unmap frees it): the importer
 * unmaps at its detach there.
 */
TEST_F_TIMEOUT(race, revoke_waiting_refuses_restore_and_ends_at_detach, 120)
{
	const char *dbg = bd_env("BAR_DMABUF_DMABUF_DEBUG");
	__u32 bflags = BAR_DMABUF_IMP_DETACH_WITHOUT_UNMAP;
	struct bd_async_revoke ar;
	__u32 h, h2, nr = 0;

	if (self->skipped)
		return;
	if (dbg && !strcmp(dbg, "y")) {
		bflags = 0;
		TH_LOG("CONFIG_DMABUF_DEBUG: the importer unmaps at detach");
	}
	self->buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_ON_REQUEST, bflags, 0, true);

	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, self->buf, 0,
					   REVOKE_MS));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));
	EXPECT_EQ(-EBUSY, bd_restore(self->e.devfd, self->buf, 0, NULL))
		TH_LOG("RESTORE while the revoke waits");
	EXPECT_EQ(-EBUSY, bd_restore(self->e.devfd, -1,
				     BAR_DMABUF_ALL_BUFFERS, NULL))
		TH_LOG("RESTORE of all while the revoke waits");
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
		TH_LOG("the revoke returned (%d) with the mapping held",
		       ar.a.ret);

	ASSERT_EQ(0, imp_detach(self->e.impfd, h));
	ASSERT_TRUE(bd_async_wait(&ar.a, PROMPT_MS))
		TH_LOG("the revoke still waits after the detach");
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);

	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, &nr));
	EXPECT_EQ(1, nr);
	h2 = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	EXPECT_EQ(0, imp_detach(self->e.impfd, h2));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

struct tid_revoke {
	struct bd_async_revoke ar;
	pid_t tid;
};

static int tid_revoke_fn(void *p)
{
	struct tid_revoke *t = p;

	__atomic_store_n(&t->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	return bd_revoke(t->ar.devfd, -1, BAR_DMABUF_ALL_BUFFERS,
			 t->ar.timeout_ms, &t->ar.out_nr);
}

/*
 * Lifetime, the last dma-buf fd closed while a revoke of all buffers
 * sleeps on it. Buffer A (the device's only one, no importer) holds an
 * imported fence of a held job on a buffer of the second device. A
 * REVOKE of all buffers marks A and sleeps on that fence (its thread's
 * wchan is the revoke's wait). The test closes A's only fd: A is
 * released (no importer, no mapping left), which must end the revoke at
 * once with success although the fence is still held; the revoke's own
 * reference keeps A's struct until it lets go.
 */
TEST_F_TIMEOUT(race, last_dmabuf_close_while_revoke_all_sleeps_on_it, 120)
{
	struct dma_buf_import_sync_file isf = { 0 };
	struct tid_revoke t = { 0 };
	const char *bdf2 = bd_env("BAR_DMABUF_BDF2");
	struct bd_env e2;
	__u64 job = 0;
	int other, sync_fd = -1, status = 0, ret;
	pid_t tid = 0;
	__u32 h;

	if (self->skipped)
		return;
	if (!bdf2)
		SKIP(return, "BAR_DMABUF_BDF2 not set (the fence comes from it)");
	ret = bd_env_open_bdf(&e2, bdf2, false, BD_PAGE);
	if (ret > 0)
		SKIP(return, "%s", e2.why);
	ASSERT_EQ(0, ret) TH_LOG("%s", e2.why);
	other = bd_env_export(&e2, 0, 1);
	ASSERT_LE(0, other) TH_LOG("%s", e2.why);
	h = bd_fixture_attach(_metadata, &self->e, other,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h,
				BAR_DMABUF_IMP_JOB_HOLD |
				BAR_DMABUF_IMP_JOB_SYNC_FILE,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job, &sync_fd));
	self->buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	isf.flags = DMA_BUF_SYNC_WRITE;
	isf.fd = sync_fd;
	ASSERT_EQ(0, ioctl(self->buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &isf))
		TH_LOG("IMPORT_SYNC_FILE: %s", strerror(errno));

	t.ar.devfd = self->e.devfd;
	t.ar.timeout_ms = REVOKE_MS;
	ASSERT_EQ(0, bd_async_start(&t.ar.a, tid_revoke_fn, &t));
	ASSERT_EQ(0, bd_debugfs_wait(self->e.bdf, self->buf, "revoke waiting",
				     EVENT_MS));
	while (!(tid = __atomic_load_n(&t.tid, __ATOMIC_SEQ_CST)))
		usleep(1000);
	ret = bd_wait_wchan(tid, "bar_dmabuf_revoke_wait", EVENT_MS);
	if (ret == -ENOENT)
		TH_LOG("no wchan here: the revoke is marked, maybe not asleep");
	else
		ASSERT_EQ(0, ret) TH_LOG("the revoke never slept in its wait");
	EXPECT_FALSE(bd_async_wait(&t.ar.a, 0));

	bd_close(&self->buf);
	ASSERT_TRUE(bd_async_wait(&t.ar.a, PROMPT_MS))
		TH_LOG("the revoke still sleeps on a released buffer");
	bd_async_join(&t.ar.a);
	EXPECT_EQ(0, t.ar.a.ret) TH_LOG("%s", strerror(-t.ar.a.ret));
	EXPECT_EQ(1, t.ar.out_nr);
	EXPECT_EQ(0, bd_poll_in(sync_fd, 0)) TH_LOG("the job was not held");

	ASSERT_EQ(0, imp_signal(self->e.impfd, job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, NULL));
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	close(sync_fd);
	close(other);
	bd_env_close(&e2);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* Wait, checking every 10 ms, for bar_dmabuf_@event of buffer @id. */
static int wait_trace(const char *event, const char *bdf, int id,
		      int timeout_ms)
{
	__u64 end = bd_now_ns() + (__u64)timeout_ms * BD_NSEC_PER_MSEC;
	char *t;
	int pos;

	for (;;) {
		t = bd_trace_read();
		pos = t ? bd_trace_pos(t, event, bdf, id) : -1;
		free(t);
		if (pos >= 0)
			return 0;
		if (bd_now_ns() > end)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

/*
 * Rules 4, 6 and 7, a fence added behind a batch's walk (20029e9). A
 * REVOKE of all buffers {A, B}: the walk finds A drained (its
 * fences_drained tracepoint fired, so it has passed A) and sleeps on B's
 * held job. Only then a fence lands in A (a sync_file of a held job on C,
 * exported after the revoke began, so not in its batch, imported into
 * A). B's job signals: the walk reaches its end (B's fences_drained) and
 * must look at the whole batch again under the lock, find A undrained,
 * and return only after A's fence too has signalled.
 */
TEST_F_TIMEOUT(race, revoke_all_waits_for_a_fence_added_behind_its_walk, 120)
{
	struct dma_buf_import_sync_file isf = { 0 };
	struct bd_async_revoke ar;
	__u64 job_b = 0, job_c = 0;
	int a, c, sync_fd = -1, id_a, id_b, ret;
	__u32 hb, hc;

	if (self->skipped)
		return;
	ret = bd_trace_start();
	if (ret == -ENOENT)
		SKIP(return, "no bar_dmabuf tracepoints on this kernel");
	ASSERT_EQ(0, ret);
	a = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, a) TH_LOG("%s", self->e.why);
	self->buf = bd_env_export(&self->e, 1, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	id_a = bd_debugfs_buffer_id(self->e.bdf, a);
	id_b = bd_debugfs_buffer_id(self->e.bdf, self->buf);
	ASSERT_LE(0, id_a);
	ASSERT_LE(0, id_b);
	hb = bd_fixture_attach(_metadata, &self->e, self->buf,
			       BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, hb, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job_b, NULL));

	ASSERT_EQ(0, bd_async_revoke_start(&ar, self->e.devfd, -1,
					   BAR_DMABUF_ALL_BUFFERS, REVOKE_MS));
	ASSERT_EQ(0, wait_trace("fences_drained", self->e.bdf, id_a,
				EVENT_MS))
		TH_LOG("the walk never passed A");

	c = bd_env_export(&self->e, 2, 1);
	ASSERT_LE(0, c) TH_LOG("%s", self->e.why);
	hc = bd_fixture_attach(_metadata, &self->e, c,
			       BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, hc,
				BAR_DMABUF_IMP_JOB_HOLD |
				BAR_DMABUF_IMP_JOB_SYNC_FILE,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job_c, &sync_fd));
	isf.flags = DMA_BUF_SYNC_WRITE;
	isf.fd = sync_fd;
	ASSERT_EQ(0, ioctl(a, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &isf))
		TH_LOG("IMPORT_SYNC_FILE: %s", strerror(errno));

	ASSERT_EQ(0, imp_signal(self->e.impfd, job_b));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job_b, EVENT_MS, NULL, 0,
				  NULL, NULL));
	ASSERT_EQ(0, wait_trace("fences_drained", self->e.bdf, id_b,
				EVENT_MS))
		TH_LOG("the walk never saw B drained");
	EXPECT_FALSE(bd_async_wait(&ar.a, BLOCKED_MS))
		TH_LOG("the revoke returned (%d) with A's fence unsignalled",
		       ar.a.ret);

	ASSERT_EQ(0, imp_signal(self->e.impfd, job_c));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job_c, EVENT_MS, NULL, 0,
				  NULL, NULL));
	ASSERT_TRUE(bd_async_wait(&ar.a, PROMPT_MS));
	bd_async_join(&ar.a);
	EXPECT_EQ(0, ar.a.ret);
	EXPECT_EQ(2, ar.out_nr);
	bd_trace_stop();
	EXPECT_EQ(0, imp_detach(self->e.impfd, hb));
	EXPECT_EQ(0, imp_detach(self->e.impfd, hc));
	close(sync_fd);
	close(c);
	close(a);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
