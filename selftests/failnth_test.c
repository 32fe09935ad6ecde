// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf failnth_test: every call with its 1st, 2nd, ... fault point
 * failing (issue 11 item 2), through /proc/thread-self/fail-nth: slab and
 * page allocations (GFP_KERNEL included) and user copies.
 *
 * For each call, for n = 1, 2, ... until a run passes its n-th fault point
 * no more: the call succeeds or fails with an errno it documents, what a
 * failure leaves behind is nothing (no fd, buffer, attachment, mapping or
 * job, counted by the importer, debugfs and /proc/self/fd), the protocol
 * still holds (a call that succeeded did all of what it says: a revoke
 * revoked; a removal that ran left no buffer live), and the next call
 * works. kmemleak (the rig's debug kernel) checks the rest after the run.
 *
 * Needs CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB and its debugfs (the rig's
 * debug kernel); skips elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define FAIL_NTH_MAX	200	/* more fault points than any call has */
#define EVENT_MS	10000
#define BAR_MIN		(64 * BD_PAGE)

FIXTURE(nth)
{
	bool skipped;
	struct bd_env e;
	struct bd_fault fault;
	int buf;		/* a live buffer, page 0 */
	__u32 h;		/* attached to it, mapped, unmaps in the callback */
};

FIXTURE_SETUP(nth)
{
	char why[160];

	self->buf = -1;
	memset(&self->fault, 0, sizeof(self->fault));
	self->fault.nth = -1;
	if (!bd_fixture_open(_metadata, &self->e, BAR_MIN, &self->skipped))
		return;
	if (bd_fault_open(&self->fault, why, sizeof(why))) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	self->buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	self->h = bd_fixture_attach(_metadata, &self->e, self->buf,
				    BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
}

FIXTURE_TEARDOWN(nth)
{
	bd_fault_close(&self->fault);
	bd_close(&self->buf);
	bd_env_close(&self->e);
	if (self->e.bdf)
		bd_rebind(self->e.bdf);
}

/* What a call leaves behind, to compare before and after. */
struct trace {
	int fds;
	int buffers;
	struct bar_dmabuf_imp_counters c;
};

static void take(struct bd_env *e, struct trace *t)
{
	t->fds = bd_nr_fds();
	t->buffers = bd_debugfs_nr_buffers(e->bdf);
	imp_counters(e->impfd, &t->c);
}

static bool same(const struct trace *a, const struct trace *b)
{
	return a->fds == b->fds && a->buffers == b->buffers &&
	       a->c.out_attachments == b->c.out_attachments &&
	       a->c.out_mappings == b->c.out_mappings &&
	       a->c.out_jobs_pending == b->c.out_jobs_pending;
}

/* What differs, for the log. */
static const char *diff(const struct trace *a, const struct trace *b)
{
	static char s[192];

	snprintf(s, sizeof(s),
		 "fds %d->%d, buffers %d->%d, attachments %u->%u, mappings %u->%u, jobs %u->%u",
		 a->fds, b->fds, a->buffers, b->buffers, a->c.out_attachments,
		 b->c.out_attachments, a->c.out_mappings, b->c.out_mappings,
		 a->c.out_jobs_pending, b->c.out_jobs_pending);
	return s;
}

/*
 * Take @after until it matches @before, for at most EVENT_MS: a job whose
 * SUBMIT failed late runs to its end on its own.
 */
static bool settles(struct bd_env *e, const struct trace *before,
		    struct trace *after)
{
	__u64 deadline = bd_now_ns() + EVENT_MS * BD_NSEC_PER_MSEC;

	for (;;) {
		take(e, after);
		if (same(before, after) || bd_now_ns() > deadline)
			return same(before, after);
		usleep(10000);
	}
}

/* The buffer is revoked: the importer's next map of @h is refused. */
static bool revoked(struct bd_env *e, __u32 h)
{
	int ret = imp_map(e->impfd, h, NULL);

	if (!ret)
		imp_unmap(e->impfd, h);
	return ret == -ENODEV;
}

/* What a run made, for its undo (after the fault is off again). */
struct made {
	int fd;
	__u32 h;
	__u64 job;
};

/*
 * One call under test: @prep (not armed) sets it up, @run (armed) makes
 * the one call and returns 0 or -errno, @undo (not armed) takes back what
 * a successful run made, @fini (not armed) what @prep made.
 */
struct call {
	const char *name;
	int (*prep)(struct bd_env *e, int buf, __u32 h, struct made *m);
	int (*run)(struct bd_env *e, int buf, __u32 h, struct made *m);
	void (*undo)(struct bd_env *e, struct made *m);
	void (*fini)(struct bd_env *e, struct made *m);
	int errnos[4];		/* what a failure may be, 0-terminated */
	bool keeps;		/* a success leaves a revoked buffer */
};

static int c_info(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	struct bar_dmabuf_info info;

	return bd_info(e->devfd, &info);
}

static int c_export(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return bd_export_one(e->devfd, e->bar, 4 * BD_PAGE, 2 * BD_PAGE,
			     &m->fd);
}

static void u_close(struct bd_env *e, struct made *m)
{
	close(m->fd);
}

static int c_revoke(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return bd_revoke(e->devfd, buf, 0, EVENT_MS, NULL);
}

static int c_revoke_all(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return bd_revoke(e->devfd, -1, BAR_DMABUF_ALL_BUFFERS, EVENT_MS, NULL);
}

static int c_restore(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return bd_restore(e->devfd, buf, 0, NULL);
}

static int c_attach(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_attach(e->impfd, buf, 0, &m->h);
}

static void u_detach(struct bd_env *e, struct made *m)
{
	imp_detach(e->impfd, m->h);
}

static int p_unmap(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_unmap(e->impfd, h);
}

static int c_map(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_map(e->impfd, h, NULL);
}

static int c_submit(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_submit(e->impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ, 0, 64,
			  NULL, 0, &m->job, NULL);
}

static void u_wait(struct bd_env *e, struct made *m)
{
	imp_wait_job(e->impfd, m->job, EVENT_MS, NULL, 0, NULL, NULL);
}

static int c_restore_all(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return bd_restore(e->devfd, -1, BAR_DMABUF_ALL_BUFFERS, NULL);
}

static int p_attach(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_attach(e->impfd, buf, 0, &m->h);
}

static int c_detach(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_detach(e->impfd, m->h);
}

/* whatever the run did: not attached any more (ENOENT if it was done) */
static void f_detach(struct bd_env *e, struct made *m)
{
	imp_detach(e->impfd, m->h);
}

static int p_map(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_map(e->impfd, h, NULL);
}

static int c_unmap(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_unmap(e->impfd, h);
}

static int c_behaviour(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_set_behaviour(e->impfd, h, BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0,
				 1);
}

static int c_counters(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	struct bar_dmabuf_imp_counters c;

	return imp_counters(e->impfd, &c);
}

static int c_wait_event(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_wait_event(e->impfd, h, BAR_DMABUF_IMP_EV_ATTACH, 1,
			      EVENT_MS, NULL);
}

static int p_held(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_submit(e->impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
			  BAR_DMABUF_IMP_USAGE_READ, 0, 64, NULL, 0, &m->job,
			  NULL);
}

static int c_signal(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_signal(e->impfd, m->job);
}

/* the held job goes, whether the run signalled it or not */
static void f_held(struct bd_env *e, struct made *m)
{
	imp_signal(e->impfd, m->job);
	imp_wait_job(e->impfd, m->job, EVENT_MS, NULL, 0, NULL, NULL);
}

static int p_job(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_submit(e->impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ, 0, 64,
			  NULL, 0, &m->job, NULL);
}

static int c_wait_job(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	return imp_wait_job(e->impfd, m->job, EVENT_MS, NULL, 0, NULL, NULL);
}

static int c_read_log(struct bd_env *e, int buf, __u32 h, struct made *m)
{
	struct imp_log log;
	int ret = imp_read_log(e->impfd, h, &log);

	if (!ret)
		imp_log_free(&log);	/* user memory only */
	return ret;
}

/*
 * mmap and touch in a child, armed there (fail-nth is per thread): a
 * failed allocation in the fault path must be retried, never a SIGBUS.
 */
static int c_mmap_touch(struct bd_env *e, int buf)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		char *why = getenv("BD_FAULT_N");
		struct bd_fault f;
		char msg[160];
		char *p;

		if (bd_fault_open(&f, msg, sizeof(msg)) ||
		    bd_fault_arm(&f, atoi(why)))
			_exit(90);
		p = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 buf, 0);
		if (p == MAP_FAILED) {
			bd_fault_disarm(&f);
			_exit(errno == ENOMEM ? 12 : 91);
		}
		p[0] = 0x5a;
		_exit(bd_fault_disarm(&f) ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (WIFSIGNALED(status))
		return -EPIPE;		/* the touch died: not an errno */
	switch (WEXITSTATUS(status)) {
	case 0:
		return 0;	/* nothing injected: done */
	case 1:
		return 1;	/* injected, and the touch went through */
	case 12:
		return -ENOMEM;
	default:
		return -EPROTO;
	}
}

#define FAILS	{ EFAULT, ENOMEM }

static const struct call calls[] = {
	{ "INFO", NULL, c_info, NULL, NULL, FAILS },
	{ "EXPORT", NULL, c_export, u_close, NULL, FAILS },
	{ "REVOKE", NULL, c_revoke, NULL, NULL, FAILS, true },
	{ "REVOKE all", NULL, c_revoke_all, NULL, NULL, FAILS, true },
	{ "RESTORE", c_revoke, c_restore, NULL, NULL, FAILS },
	{ "RESTORE all", c_revoke, c_restore_all, NULL, NULL, FAILS },
	{ "importer ATTACH", NULL, c_attach, u_detach, NULL, FAILS },
	{ "importer DETACH", p_attach, c_detach, NULL, f_detach, FAILS },
	{ "importer MAP", p_unmap, c_map, NULL, NULL, FAILS },
	{ "importer UNMAP", p_map, c_unmap, NULL, NULL, FAILS },
	{ "importer SET_BEHAVIOUR", NULL, c_behaviour, NULL, NULL, FAILS },
	{ "importer SUBMIT", NULL, c_submit, u_wait, NULL, FAILS },
	{ "importer SIGNAL", p_held, c_signal, NULL, f_held, FAILS },
	{ "importer WAIT_JOB", p_job, c_wait_job, NULL, f_held, FAILS },
	{ "importer WAIT_EVENT", NULL, c_wait_event, NULL, NULL, FAILS },
	{ "importer READ_LOG", NULL, c_read_log, NULL, NULL, FAILS },
	{ "importer COUNTERS", NULL, c_counters, NULL, NULL, FAILS },
};

/*
 * Run @c once, armed at @n (0: not armed), between its prep and its undo
 * and fini. -EPROTO if the prep failed.
 */
static int call_once(struct bd_fault *f, const struct call *c,
		     struct bd_env *e, int buf, __u32 h, unsigned int n,
		     bool *reached)
{
	struct made m = { .fd = -1 };
	int ret;

	*reached = false;
	if (c->prep && c->prep(e, buf, h, &m))
		return -EPROTO;
	if (n && bd_fault_arm(f, n))
		return -EPROTO;
	ret = c->run(e, buf, h, &m);
	*reached = n && bd_fault_disarm(f);
	if (!ret && c->undo)
		c->undo(e, &m);
	if (c->fini)
		c->fini(e, &m);
	return ret;
}

/* Back to the start: the buffer live, the attachment mapped. */
static void reset(struct bd_env *e, int buf, __u32 h)
{
	bd_restore(e->devfd, buf, 0, NULL);
	imp_map(e->impfd, h, NULL);	/* EBUSY if it still is */
}

static bool allowed(const struct call *c, int ret)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(c->errnos) && c->errnos[i]; i++)
		if (ret == -c->errnos[i])
			return true;
	return false;
}

/*
 * Issue 11 item 2 for the ioctls of both nodes and the importer's map:
 * whichever fault point fails, a clean errno, nothing left behind, and
 * the next call works.
 */
TEST_F_TIMEOUT(nth, every_call_fails_cleanly_at_every_fault_point, 900)
{
	struct trace before, after;
	unsigned int i, n, injected;
	bool reached, next;
	int ret;

	if (self->skipped)
		return;
	for (i = 0; i < ARRAY_SIZE(calls); i++) {
		const struct call *c = &calls[i];

		injected = 0;
		for (n = 1; n <= FAIL_NTH_MAX; n++) {
			reset(&self->e, self->buf, self->h);
			take(&self->e, &before);
			ret = call_once(&self->fault, c, &self->e, self->buf,
					self->h, n, &reached);
			ASSERT_NE(-EPROTO, ret);

			if (ret)
				EXPECT_TRUE(allowed(c, ret))
					TH_LOG("%s, fault %u: %s", c->name, n,
					       strerror(-ret));
			if (!ret && c->keeps)
				EXPECT_TRUE(revoked(&self->e, self->h))
					TH_LOG("%s, fault %u: succeeded, buffer live",
					       c->name, n);
			/* whatever happened, all comes back */
			reset(&self->e, self->buf, self->h);
			EXPECT_TRUE(settles(&self->e, &before, &after))
				TH_LOG("%s, fault %u: %s", c->name, n,
				       diff(&before, &after));
			/* the next call works */
			EXPECT_EQ(0, call_once(&self->fault, c, &self->e,
					       self->buf, self->h, 0, &next))
				TH_LOG("%s after fault %u", c->name, n);
			if (!reached) {
				EXPECT_EQ(0, ret) TH_LOG("%s: nothing failed but %s",
							 c->name,
							 strerror(-ret));
				break;
			}
			injected++;
		}
		TH_LOG("%s: %u fault points", c->name, injected);
		EXPECT_GT(FAIL_NTH_MAX, n) TH_LOG("%s: more than %d?", c->name,
						  FAIL_NTH_MAX);
	}
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * The mmap fault path: a failed allocation there is retried, the touch
 * never dies of it.
 */
TEST_F_TIMEOUT(nth, mmap_touch_survives_every_fault_point, 300)
{
	unsigned int n, injected = 0;
	char nbuf[16];
	int ret;

	if (self->skipped)
		return;
	for (n = 1; n <= FAIL_NTH_MAX; n++) {
		snprintf(nbuf, sizeof(nbuf), "%u", n);
		setenv("BD_FAULT_N", nbuf, 1);
		ret = c_mmap_touch(&self->e, self->buf);
		if (!ret)
			break;
		EXPECT_TRUE(ret == 1 || ret == -ENOMEM)
			TH_LOG("fault %u: %s", n, ret == -EPIPE ?
			       "the touch died" : strerror(-ret));
		injected++;
	}
	TH_LOG("mmap + touch: %u fault points", injected);
	EXPECT_GT(FAIL_NTH_MAX, n);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Unbind (rule 10) with its n-th fault point failing in the writing
 * thread: the removal, once it ran, left no buffer live; the device binds
 * again and works.
 */
TEST_F_TIMEOUT(nth, unbind_completes_at_every_fault_point, 600)
{
	unsigned int n, injected = 0;
	char drv[64];
	bool reached;
	int ret, fresh;
	__u32 h;

	if (self->skipped)
		return;
	for (n = 1; n <= FAIL_NTH_MAX; n++) {
		ASSERT_EQ(0, bd_fault_arm(&self->fault, n));
		ret = bd_way_out(BD_WAY_UNBIND, self->e.bdf);
		reached = bd_fault_disarm(&self->fault);
		ASSERT_EQ(0, bd_driver_of(self->e.bdf, drv, sizeof(drv)));
		if (!drv[0]) {
			/* it ran: every buffer of it is dead */
			EXPECT_EQ(-ENODEV, imp_attach(self->e.impfd, self->buf,
						      0, &h))
				TH_LOG("fault %u: a buffer survived", n);
		} else {
			EXPECT_TRUE(ret == -ENOMEM || ret == -EFAULT)
				TH_LOG("fault %u: still bound after %s", n,
				       strerror(-ret));
		}
		/* put back: bound again, a fresh buffer attaches and maps */
		bd_close(&self->e.devfd);
		bd_close(&self->buf);
		ASSERT_EQ(0, bd_way_back(BD_WAY_UNBIND, self->e.bdf));
		self->e.devfd = bd_open_dev(self->e.bdf);
		ASSERT_LE(0, self->e.devfd);
		fresh = bd_env_export(&self->e, 0, 1);
		ASSERT_LE(0, fresh) TH_LOG("fault %u: %s", n, self->e.why);
		self->buf = fresh;
		self->h = bd_fixture_attach(_metadata, &self->e, fresh,
					    BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0,
					    true);
		if (!reached)
			break;
		injected++;
	}
	TH_LOG("unbind: %u fault points", injected);
	EXPECT_GT(FAIL_NTH_MAX, n);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
