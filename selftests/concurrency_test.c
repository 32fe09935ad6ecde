// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf concurrency_test: several threads export, attach, map,
 * submit, signal, revoke, restore, detach and close at random on one
 * device for a bounded time (BAR_DMABUF_STRESS_MS, default 8000), sharing
 * the buffers and one importer file (so two threads drive the same
 * attachment, revoke the same buffer, and race a revoke or restore with the
 * close of its fd). Every call must succeed or fail with an errno the uapi
 * documents for that situation. Afterwards the counters balance: no
 * attachment, mapping or pending job is left in the importer, no DMA fault
 * was seen (rule 5 under stress), no fence needed the watchdog, and the
 * kernel log is clean. BAR_DMABUF_STRESS_ROUNDS (default 1; `make soak`
 * runs more) repeats the run, each round on the device unbound and bound
 * again and on the importer unloaded and loaded again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define THREADS		6
#define SLOTS		8
#define HANDLES		64
#define JOBS		128
#define AREA_PAGES	64	/* buffers live in the first 64 pages */

struct shared {
	struct bd_env *e;
	__u64 deadline_ns;
	pthread_mutex_t lock;	/* protects everything below */
	int slot[SLOTS];	/* dma-buf fds, -1 if empty */
	__u32 handle[HANDLES];	/* importer handles, 0 if none */
	unsigned int nr_handles;
	__u64 job[JOBS];	/* submitted, not yet waited for, 0 if none */
	bool held[JOBS];	/* held, not yet signalled */
	__u64 held_since[JOBS];	/* when it was submitted */
	/* results */
	unsigned long ops;
	unsigned long unexpected;
	char first_bad[256];
};

struct worker {
	struct shared *sh;
	unsigned int seed;
};

/* A private reference to slot @i's buffer (dup), or -1. */
static int slot_get(struct shared *sh, unsigned int i)
{
	int fd = -1;

	pthread_mutex_lock(&sh->lock);
	if (sh->slot[i] >= 0)
		fd = fcntl(sh->slot[i], F_DUPFD_CLOEXEC, 0);
	pthread_mutex_unlock(&sh->lock);
	return fd;
}

static __u32 handle_pick(struct shared *sh, unsigned int r)
{
	__u32 h = 0;

	pthread_mutex_lock(&sh->lock);
	if (sh->nr_handles)
		h = sh->handle[r % sh->nr_handles];
	pthread_mutex_unlock(&sh->lock);
	return h;
}

/* Record @ret of @op unless it is 0 or one of the allowed errnos. */
static void check(struct shared *sh, const char *op, int ret,
		  const int *allowed)
{
	const int *a;

	if (ret >= 0)
		return;
	for (a = allowed; *a; a++)
		if (ret == -*a)
			return;
	pthread_mutex_lock(&sh->lock);
	if (!sh->unexpected++)
		snprintf(sh->first_bad, sizeof(sh->first_bad), "%s: %s", op,
			 strerror(-ret));
	pthread_mutex_unlock(&sh->lock);
}

/* errnos each operation may meet when racing with the others */
static const int ok_export[] = { ENODEV, 0 };
static const int ok_attach[] = { ENODEV, EBADF, 0 };
static const int ok_map[] = { ENODEV, ENOENT, 0 };
static const int ok_submit[] = { ENODEV, ENOENT, EBUSY, 0 };
static const int ok_signal[] = { ENOENT, EALREADY, 0 };
static const int ok_wait[] = { ENOENT, ETIMEDOUT, 0 };
static const int ok_revoke[] = { ETIMEDOUT, EBADF, 0 };
static const int ok_restore[] = { EBUSY, EBADF, 0 };
static const int ok_detach[] = { ENOENT, EBUSY, 0 };
static const int ok_behaviour[] = { ENOENT, 0 };

static void op_export(struct shared *sh, unsigned int r)
{
	unsigned int i = r % SLOTS, pages = 1 + (r >> 4) % 4;
	unsigned int first = (r >> 8) % (AREA_PAGES - pages);
	int fd = -1, ret;

	ret = bd_export_one(sh->e->devfd, sh->e->bar, first * BD_PAGE,
			    pages * BD_PAGE, &fd);
	check(sh, "export", ret, ok_export);
	if (ret)
		return;
	pthread_mutex_lock(&sh->lock);
	if (sh->slot[i] < 0) {
		sh->slot[i] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&sh->lock);
	if (fd >= 0)
		close(fd);
}

static void op_close(struct shared *sh, unsigned int r)
{
	unsigned int i = r % SLOTS;
	int fd;

	pthread_mutex_lock(&sh->lock);
	fd = sh->slot[i];
	sh->slot[i] = -1;
	pthread_mutex_unlock(&sh->lock);
	if (fd >= 0)
		close(fd);
}

static void op_attach(struct shared *sh, unsigned int r)
{
	int fd = slot_get(sh, r % SLOTS), ret;
	__u32 h = 0;

	if (fd < 0)
		return;
	ret = imp_attach(sh->e->impfd, fd, 0, &h);
	check(sh, "attach", ret, ok_attach);
	close(fd);
	if (ret)
		return;
	pthread_mutex_lock(&sh->lock);
	if (sh->nr_handles < HANDLES) {
		sh->handle[sh->nr_handles++] = h;
		h = 0;
	}
	pthread_mutex_unlock(&sh->lock);
	if (h)	/* no room to remember it */
		imp_detach(sh->e->impfd, h);
}

static void op_submit(struct shared *sh, unsigned int r)
{
	__u32 h = handle_pick(sh, r), flags = 0;
	unsigned char data[64];
	__u64 job = 0;
	unsigned int i;
	int ret;

	if (!h)
		return;
	if (r & 0x100)
		flags |= BAR_DMABUF_IMP_JOB_WRITE;
	if ((r & 0x600) == 0x600)
		flags |= BAR_DMABUF_IMP_JOB_HOLD;
	memset(data, r, sizeof(data));
	/* Offset 0 is inside every buffer (at least one page). */
	ret = imp_submit(sh->e->impfd, h, flags, (r >> 12) % 3,
			 (r >> 16) % (BD_PAGE - sizeof(data)), sizeof(data),
			 data, (r >> 20) % 20, &job, NULL);
	check(sh, "submit", ret, ok_submit);
	if (ret)
		return;
	pthread_mutex_lock(&sh->lock);
	for (i = 0; i < JOBS; i++) {
		if (!sh->job[i]) {
			sh->job[i] = job;
			sh->held[i] = flags & BAR_DMABUF_IMP_JOB_HOLD;
			sh->held_since[i] = bd_now_ns();
			job = 0;
			break;
		}
	}
	pthread_mutex_unlock(&sh->lock);
	if (job) {	/* table full: finish it now */
		if (flags & BAR_DMABUF_IMP_JOB_HOLD)
			imp_signal(sh->e->impfd, job);
		imp_wait_job(sh->e->impfd, job, 10000, NULL, 0, NULL, NULL);
	}
}

static void op_signal_or_wait(struct shared *sh, unsigned int r, bool wait)
{
	unsigned int i = r % JOBS;
	__u64 job;
	bool held;
	int ret;

	pthread_mutex_lock(&sh->lock);
	job = sh->job[i];
	held = sh->held[i];
	sh->held[i] = false;	/* signalled below */
	if (job && wait)
		sh->job[i] = 0;
	pthread_mutex_unlock(&sh->lock);
	if (!job)
		return;
	if (!wait) {
		/* Only held jobs may be signalled (EINVAL otherwise). */
		if (held)
			check(sh, "signal", imp_signal(sh->e->impfd, job),
			      ok_signal);
		return;
	}
	if (held)
		check(sh, "signal", imp_signal(sh->e->impfd, job), ok_signal);
	/* Jobs finish in order: one may wait behind a held job (ETIMEDOUT). */
	ret = imp_wait_job(sh->e->impfd, job, 2000, NULL, 0, NULL, NULL);
	check(sh, "wait job", ret, ok_wait);
}

static void op_revoke_restore(struct shared *sh, unsigned int r, bool revoke)
{
	bool all = (r & 0xf0) == 0;
	int fd = all ? -1 : slot_get(sh, r % SLOTS), ret;
	__u32 flags = all ? BAR_DMABUF_ALL_BUFFERS : 0;

	if (!all && fd < 0)
		return;
	if (revoke) {
		ret = bd_revoke(sh->e->devfd, fd, flags, 1000, NULL);
		check(sh, "revoke", ret, ok_revoke);
	} else {
		ret = bd_restore(sh->e->devfd, fd, flags, NULL);
		check(sh, "restore", ret, ok_restore);
	}
	if (fd >= 0)
		close(fd);
}

/*
 * Map, detach or change the late-read window of a random attachment. The
 * importer only ever unmaps from its worker after its jobs on the mapping
 * are done (WORKER mode): the SYNC mode and the UNMAP ioctl would have the
 * importer itself unmap under its own running jobs (its own protocol
 * breach, whose DMA faults are not the exporter's); targeted tests in
 * revoke_test cover those shapes.
 */
static void op_handle(struct shared *sh, unsigned int r)
{
	__u32 h = handle_pick(sh, r);

	if (!h)
		return;
	switch ((r >> 8) % 4) {
	case 0:
	case 1:
		check(sh, "map", imp_map(sh->e->impfd, h, NULL), ok_map);
		break;
	case 2:
		check(sh, "detach", imp_detach(sh->e->impfd, h), ok_detach);
		break;
	default:
		check(sh, "behaviour",
		      imp_set_behaviour(sh->e->impfd, h,
					BAR_DMABUF_IMP_UNMAP_WORKER,
					(r >> 16) & BAR_DMABUF_IMP_REMAP_ON_RESTORE,
					(r >> 20) % 30, 5),
		      ok_behaviour);
		break;
	}
}

/*
 * Signal held jobs older than 500 ms, so that no fence waits for the
 * importer's watchdog (which would count as a failure) and a revoke waits
 * at most that long for one.
 */
static void sweep_held(struct shared *sh)
{
	__u64 old = bd_now_ns() - 500 * BD_NSEC_PER_MSEC, ids[JOBS];
	unsigned int i, n = 0;

	pthread_mutex_lock(&sh->lock);
	for (i = 0; i < JOBS; i++) {
		if (sh->job[i] && sh->held[i] && sh->held_since[i] < old) {
			ids[n++] = sh->job[i];
			sh->held[i] = false;
		}
	}
	pthread_mutex_unlock(&sh->lock);
	for (i = 0; i < n; i++)
		check(sh, "signal", imp_signal(sh->e->impfd, ids[i]), ok_signal);
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;

	while (bd_now_ns() < sh->deadline_ns) {
		unsigned int r = rand_r(&w->seed);

		sweep_held(sh);

		switch (r % 11) {
		case 0:
			op_export(sh, r >> 4);
			break;
		case 1:
			if ((r >> 4) % 4 == 0)
				op_close(sh, r >> 6);
			break;
		case 2:
			op_attach(sh, r >> 4);
			break;
		case 3:
		case 4:
			op_submit(sh, r >> 4);
			break;
		case 5:
			op_signal_or_wait(sh, r >> 4, false);
			break;
		case 6:
			op_signal_or_wait(sh, r >> 4, true);
			break;
		case 7:
			op_revoke_restore(sh, r >> 4, true);
			break;
		case 8:
			op_revoke_restore(sh, r >> 4, false);
			break;
		default:
			op_handle(sh, r >> 4);
			break;
		}
		__atomic_add_fetch(&sh->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

FIXTURE(stress)
{
	bool skipped;
	struct bd_env e;
};

FIXTURE_SETUP(stress)
{
	bd_fixture_open(_metadata, &self->e, AREA_PAGES * BD_PAGE,
			&self->skipped);
}

FIXTURE_TEARDOWN(stress)
{
	bd_env_close(&self->e);
}

/* One round of @ms: threads, then the balance. */
static void stress_round(struct __test_metadata *_metadata, struct bd_env *e,
			 unsigned int ms)
{
	struct bar_dmabuf_imp_counters c0, c1;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct shared *sh;
	unsigned int i;
	int impfd;

	sh = calloc(1, sizeof(*sh));
	ASSERT_NE(NULL, sh);
	sh->e = e;
	pthread_mutex_init(&sh->lock, NULL);
	for (i = 0; i < SLOTS; i++)
		sh->slot[i] = -1;
	ASSERT_EQ(0, imp_counters(e->impfd, &c0));

	sh->deadline_ns = bd_now_ns() + (__u64)ms * BD_NSEC_PER_MSEC;
	for (i = 0; i < THREADS; i++) {
		w[i].sh = sh;
		w[i].seed = getpid() * 7919 + i;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_fn, &w[i]));
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	TH_LOG("%lu operations in %u ms by %d threads", sh->ops, ms, THREADS);
	EXPECT_EQ(0, sh->unexpected) TH_LOG("first: %s", sh->first_bad);

	/*
	 * Wind down: release every held job first, then wait for all (jobs of
	 * one attachment finish in order, so waiting for one before the held
	 * job queued ahead of it is signalled would wait for the watchdog),
	 * restore, close.
	 */
	for (i = 0; i < JOBS; i++)
		if (sh->job[i] && sh->held[i])
			imp_signal(e->impfd, sh->job[i]);
	for (i = 0; i < JOBS; i++) {
		if (!sh->job[i])
			continue;
		EXPECT_EQ(0, imp_wait_job(e->impfd, sh->job[i], 30000,
					  NULL, 0, NULL, NULL));
	}
	/*
	 * Closing the importer's file unmaps and detaches everything; then a
	 * revoke of all completes and a restore of all must succeed.
	 */
	bd_close(&e->impfd);
	EXPECT_EQ(0, bd_revoke(e->devfd, -1, BAR_DMABUF_ALL_BUFFERS,
			       30000, NULL));
	EXPECT_EQ(0, bd_restore(e->devfd, -1, BAR_DMABUF_ALL_BUFFERS,
				NULL));
	for (i = 0; i < SLOTS; i++)
		if (sh->slot[i] >= 0)
			close(sh->slot[i]);

	/* The importer's file is closed: nothing of it may be left. */
	impfd = imp_open();
	ASSERT_LE(0, impfd);
	ASSERT_EQ(0, imp_counters(impfd, &c1));
	close(impfd);
	EXPECT_EQ(c0.out_attachments, c1.out_attachments);
	EXPECT_EQ(c0.out_mappings, c1.out_mappings);
	EXPECT_EQ(c0.out_jobs_pending, c1.out_jobs_pending);
	/* Rule 5 under stress: no access ever hit a torn-down address. */
	EXPECT_EQ(c0.out_dma_faults, c1.out_dma_faults);
	EXPECT_EQ(c0.out_watchdog_expired, c1.out_watchdog_expired);
	EXPECT_EQ(c0.out_violations, c1.out_violations);

	/* The device still works and the kernel log is clean. */
	EXPECT_EQ(0, bd_info(e->devfd, &e->info));
	bd_fixture_check_kmsg(_metadata, e->kfd);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

/*
 * Concurrency (selftest issue), rules 1-9 under races: random operations
 * from several threads, then everything balances and no access of the
 * importer ever hit an address the exporter had torn down (rule 5). Each
 * further round first unbinds and binds the device again and reloads the
 * importer: what one round leaves behind would show in the next.
 */
TEST_F_TIMEOUT(stress, random_ops_then_counters_balance, 3600)
{
	const char *ms_env = bd_env("BAR_DMABUF_STRESS_MS");
	const char *rounds_env = bd_env("BAR_DMABUF_STRESS_ROUNDS");
	unsigned int ms = ms_env ? atoi(ms_env) : 8000;
	int round, rounds = rounds_env ? atoi(rounds_env) : 1;
	struct bd_importer_swap swap = { 0 };

	if (self->skipped)
		return;
	for (round = 0; round < rounds; round++) {
		if (round) {
			bd_close(&self->e.impfd);
			bd_close(&self->e.devfd);
			ASSERT_EQ(0, bd_way_out(BD_WAY_UNBIND, self->e.bdf));
			ASSERT_EQ(0, bd_way_back(BD_WAY_UNBIND, self->e.bdf));
			ASSERT_EQ(0, bd_importer_swap(&swap, NULL))
				TH_LOG("round %d: %s", round, swap.why);
			swap.swapped = false;	/* reloaded as it was */
			self->e.devfd = bd_open_dev(self->e.bdf);
			ASSERT_LE(0, self->e.devfd);
			self->e.impfd = imp_open();
			ASSERT_LE(0, self->e.impfd);
		}
		stress_round(_metadata, &self->e, ms);
		if (_metadata->exit_code == KSFT_FAIL)
			break;
	}
	TH_LOG("%d of %d rounds", round, rounds);
}

TEST_HARNESS_MAIN
