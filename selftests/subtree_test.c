// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf subtree_test: PCI error recovery of a subtree that holds both
 * the exporter's device and the importer's, below one PCIe switch (the
 * layout of switch-local P2P), and the P2P route through that switch.
 *
 * - A sibling's NEED_RESET vote resets the whole bus, ours included, even
 *   for a non-fatal error: the importer is told and unmaps before the
 *   reset, and maps again after resume.
 * - An importer that can finish its work only in its own recovery
 *   callbacks does not hang the recovery: our wait is bounded.
 * - A recovery that fails (a function below the port has no driver with
 *   error handlers) leaves a way out: RESTORE reports the device dead, or
 *   works once the function is reset.
 * - The importer reaches the BAR through the switch by bus address; a
 *   buffer the kernel's helper can't map for that route is refused unless
 *   allow_unproven_p2p=1, and debugfs names the route.
 *
 * Environment: BAR_DMABUF_SW_BDF (a device bar_dmabuf was loaded for) and
 * BAR_DMABUF_SW_IMPORTER_BDF (an unbound function below the same switch;
 * the tests load the importer for it and load it back as it was), and
 * BAR_DMABUF_AER (the test VM's injector).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define EVENT_MS	10000
#define RECOVERY_S	"30"	/* the injector's wait for the recovery */
#define BOUND_MS	"1000"	/* revoke_timeout_ms for the bounded test */
/* longer than RECOVERY_S: a recovery hung on our fence times out first */
#define WATCHDOG_MS	"45000"
#define BUF_PAGES	4
#define LATE_MS		300	/* late-read window of the reset test */

/* pci_ers_result_t and pci_channel_state_t values (include/linux/pci.h) */
#define ERS_NEED_RESET	3
#define ERS_DISCONNECT	4
#define CHANNEL_FROZEN	2

static const char *sw_bdf(void)
{
	return bd_env("BAR_DMABUF_SW_BDF");
}

/*
 * Why the switch pair can't be used here (@aer: and injected into), or
 * NULL. Marks @e and @buf closed first, for the teardown.
 */
static const char *sw_unavailable(bool aer, struct bd_env *e, int *buf)
{
	const char *imp_bdf = bd_env("BAR_DMABUF_SW_IMPORTER_BDF");
	static char why[256];
	const char *no;
	char drv[64];

	*buf = -1;
	e->impfd = -1;
	e->devfd = -1;
	e->kfd = -1;

	if (!sw_bdf() || !imp_bdf)
		return "BAR_DMABUF_SW_BDF, BAR_DMABUF_SW_IMPORTER_BDF not set (no switch pair)";
	if (bd_driver_of(imp_bdf, drv, sizeof(drv)) || drv[0]) {
		snprintf(why, sizeof(why), "%s is not an unbound function",
			 imp_bdf);
		return why;
	}
	no = aer ? bd_way_unavailable(BD_WAY_AER, sw_bdf()) : NULL;
	return no ? no : bd_precondition_bdf(sw_bdf(), true);
}

/* Timestamp of the first event of @type in the device log, or 0. */
static __u64 dev_log_first(int impfd, __u32 type, __s32 *result)
{
	struct imp_log log;
	__u64 ts = 0;
	__u32 i;

	if (imp_read_log(impfd, 0, &log))
		return 0;
	for (i = 0; i < log.nr; i++) {
		if (log.ev[i].type == type) {
			ts = log.ev[i].ts_ns;
			if (result)
				*result = log.ev[i].result;
			break;
		}
	}
	imp_log_free(&log);
	return ts;
}

static void dev_log_show(int impfd)
{
	struct imp_log log;

	if (imp_read_log(impfd, 0, &log))
		return;
	imp_log_dump(&log);
	imp_log_free(&log);
}

FIXTURE(subtree)
{
	bool skipped;
	bool injected;		/* a recovery may still run at teardown */
	struct bd_importer_swap swap;
	struct bd_env e;
	struct bd_param_saved p2p, timeout, vote;
	int buf;
};

FIXTURE_SETUP(subtree)
{
	const char *imp_bdf = bd_env("BAR_DMABUF_SW_IMPORTER_BDF");
	char params[128];
	const char *why;
	int ret;

	why = sw_unavailable(false, &self->e, &self->buf);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	snprintf(params, sizeof(params), "bdf=%s fence_watchdog_ms=%s",
		 imp_bdf, WATCHDOG_MS);
	ret = bd_importer_swap(&self->swap, params);
	if (ret > 0) {
		self->skipped = true;
		SKIP(return, "%s", self->swap.why);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", self->swap.why);
	ret = bd_env_open_bdf(&self->e, sw_bdf(), true, 16 * BD_PAGE);
	ASSERT_EQ(0, ret) TH_LOG("%s", self->e.why);
	/* The route is switch_*'s business; these tests are about recovery. */
	ASSERT_EQ(0, bd_param_override(&self->p2p, "bar_dmabuf",
				       "allow_unproven_p2p", "1"));
	self->buf = bd_env_export(&self->e, 0, BUF_PAGES);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

/*
 * A recovery the test gave up on goes on once the importer lets go of its
 * fences (closing its file does): let it end before the next test.
 */
static void subtree_close(struct bd_env *e, bool injected)
{
	char line[256];

	bd_close(&e->impfd);
	if (injected)
		bd_kmsg_wait(e->kfd, "AER: device recovery", line,
			     sizeof(line), 60000);
	bd_env_close(e);
}

FIXTURE_TEARDOWN(subtree)
{
	bd_close(&self->buf);
	subtree_close(&self->e, self->injected);
	bd_param_restore(&self->vote);
	bd_param_restore(&self->timeout);
	bd_param_restore(&self->p2p);
	EXPECT_EQ(0, bd_importer_restore(&self->swap))
		TH_LOG("%s", self->swap.why);
}

/*
 * Rules 1-3 in every error_detected: a non-fatal error whose recovery a
 * sibling turns into a bus reset. The importer's invalidate and unmap come
 * before its own slot_reset (the reset is over by then), and the buffer
 * maps again after resume (rule 9).
 */
TEST_F_TIMEOUT(subtree, sibling_vote_for_reset_revokes_before_the_reset, 120)
{
	__u64 inval, unmap, reset, resume, map;
	char state[1024];
	__s32 vote = 0;
	__u64 job;
	__u32 h;
	int status;

	if (self->skipped)
		return;
	if (bd_way_unavailable(BD_WAY_AER, sw_bdf()))
		SKIP(return, "%s", bd_way_unavailable(BD_WAY_AER, sw_bdf()));
	ASSERT_EQ(0, bd_param_override(&self->vote, BD_IMP_MODULE,
				       "error_need_reset", "Y"));
	/* late reads for LATE_MS: an unmap not waited for comes that late */
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, LATE_MS, true);

	self->injected = true;
	ASSERT_EQ(0, bd_aer_inject("nonfatal", sw_bdf(), RECOVERY_S))
		TH_LOG("the recovery failed");
	self->injected = false;

	ASSERT_NE(0, dev_log_first(self->e.impfd,
				   BAR_DMABUF_IMP_EV_PCI_ERROR, &vote));
	EXPECT_EQ(ERS_NEED_RESET, vote);
	reset = dev_log_first(self->e.impfd, BAR_DMABUF_IMP_EV_PCI_SLOT_RESET,
			      NULL);
	resume = dev_log_first(self->e.impfd, BAR_DMABUF_IMP_EV_PCI_RESUME,
			       NULL);
	ASSERT_NE(0, reset) TH_LOG("the bus was not reset");
	ASSERT_NE(0, resume);

	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    &inval))
		TH_LOG("error_detected did not revoke%s",
		       bd_env_show_log(&self->e, h));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h, BAR_DMABUF_IMP_EV_UNMAP,
				    1, EVENT_MS, &unmap));
	EXPECT_GT(reset, inval) TH_LOG("invalidated after the reset%s",
				       bd_env_show_log(&self->e, h));
	/* the importer stamps its unmap after our unmap op has returned */
	EXPECT_GT(reset + BD_UNMAP_STAMP_SLACK_NS, unmap)
		TH_LOG("unmapped after the reset%s",
		       bd_env_show_log(&self->e, h));
	if (reset + BD_UNMAP_STAMP_SLACK_NS <= unmap)
		dev_log_show(self->e.impfd);

	/* resume gave it back: live, and it maps and reads again */
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, state,
				       sizeof(state)));
	EXPECT_NE(NULL, strstr(state, " live")) TH_LOG("%s", state);
	ASSERT_EQ(0, imp_map(self->e.impfd, h, NULL));
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h, BAR_DMABUF_IMP_EV_MAP, 2,
				    EVENT_MS, &map));
	EXPECT_GT(map, resume);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ,
				0, 64, NULL, 0, &job, NULL));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, NULL));
	EXPECT_EQ(0, status);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rule 8's exception, for the subtree the issue describes: the importer
 * can finish its job only in its own resume, which runs after ours. A
 * fatal error's recovery still completes (our wait gives up after
 * revoke_timeout_ms and names the buffer), the job then completes through
 * its old mapping (rule 5), and the buffer is given back.
 */
TEST_F_TIMEOUT(subtree, importer_finishing_in_its_resume_does_not_hang_recovery,
	       180)
{
	char line[512], want[96], state[1024];
	__u64 job, resume;
	__s32 vote = 0;
	__u32 h;
	int ret, status = -1;

	if (self->skipped)
		return;
	if (bd_way_unavailable(BD_WAY_AER, sw_bdf()))
		SKIP(return, "%s", bd_way_unavailable(BD_WAY_AER, sw_bdf()));
	ret = bd_param_override(&self->timeout, "bar_dmabuf",
				"revoke_timeout_ms", BOUND_MS);
	ASSERT_EQ(0, ret) TH_LOG("revoke_timeout_ms: %s", strerror(-ret));
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h,
				BAR_DMABUF_IMP_JOB_UNTIL_RESUME,
				BAR_DMABUF_IMP_USAGE_READ, 0, 64, NULL, 0,
				&job, NULL));

	self->injected = true;
	ASSERT_EQ(0, bd_aer_inject("fatal", sw_bdf(), RECOVERY_S))
		TH_LOG("the recovery did not finish within " RECOVERY_S
		       " s: it waited for a fence only the importer's resume signals");
	self->injected = false;

	snprintf(want, sizeof(want), "%s buffer", self->e.bdf);
	EXPECT_EQ(1, bd_kmsg_find(self->e.kfd,
				  "error-recovery revoke still waiting", line,
				  sizeof(line)))
		TH_LOG("the bounded wait was not reported");
	EXPECT_NE(NULL, strstr(line, want)) TH_LOG("%s", line);
	ASSERT_NE(0, dev_log_first(self->e.impfd,
				   BAR_DMABUF_IMP_EV_PCI_ERROR, &vote));
	EXPECT_EQ(ERS_NEED_RESET, vote);
	resume = dev_log_first(self->e.impfd, BAR_DMABUF_IMP_EV_PCI_RESUME,
			       NULL);
	ASSERT_NE(0, resume);

	/* its resume let the job go: it read through the old mapping */
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL, 0,
				  &status, NULL));
	EXPECT_EQ(0, status) TH_LOG("the job ended with %d", status);
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, 0, NULL));
	ASSERT_EQ(0, imp_unmap(self->e.impfd, h));

	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, state,
				       sizeof(state)));
	EXPECT_NE(NULL, strstr(state, " live")) TH_LOG("%s", state);
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL))
		TH_LOG("resume did not restore the buffer");
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * The route (rule 7's P2P check, item "paths the kernel did not prove"):
 * the importer below the same switch reaches the BAR by bus address. The
 * kernel's helper (6.19+) maps a one-range buffer that way; a mapping the
 * exporter can only make through the host bridge (dma_map_resource: all
 * buffers before 6.19, several ranges after) is refused unless
 * allow_unproven_p2p=1. debugfs names the route either way.
 */
static void expect_route(struct __test_metadata *_metadata, const char *bdf,
			 int buf, const char *path, const char *route)
{
	char block[2048], want[128];

	ASSERT_EQ(0, bd_debugfs_buffer(bdf, buf, block, sizeof(block)));
	snprintf(want, sizeof(want), "): %s, 0 mapping(s), 0 pin(s), route %s",
		 path, route);
	EXPECT_NE(NULL, strstr(block, want))
		TH_LOG("expected \"%s\" in\n%s", want, block);
}

TEST_F_TIMEOUT(subtree, switch_route_is_named_and_an_unproven_mapping_refused,
	       120)
{
	const char *helper = bd_p2p_proven_path();
	bool helpers = !strcmp(helper, "p2p-helper");
	struct bar_dmabuf_range r[2] = {
		{ .offset = 4 * BD_PAGE, .length = BD_PAGE },
		{ .offset = 6 * BD_PAGE, .length = BD_PAGE },
	};
	int provable = bd_p2p_provable();
	int two = -1, ret, status = -1;
	char line[512];
	__u64 job;
	__u32 h;

	if (self->skipped)
		return;
	if (provable < 0)
		SKIP(return, "P2P path provable? no BAR_DMABUF_P2PDMA, no config");
	ASSERT_EQ(0, bd_param_override(&self->p2p, "bar_dmabuf",
				       "allow_unproven_p2p", "0"));
	ASSERT_EQ(0, bd_export(self->e.devfd, self->e.bar, r, 2,
			       O_RDWR | O_CLOEXEC, &two, NULL));

	/* one range: only the kernel's helper maps it by bus address */
	ret = imp_attach(self->e.impfd, self->buf, 0, &h);
	if (provable && helpers) {
		ASSERT_EQ(0, ret) TH_LOG("attach: %s", strerror(-ret));
		expect_route(_metadata, self->e.bdf, self->buf, helper,
			     "switch");
		ASSERT_EQ(0, imp_submit(self->e.impfd, h, 0,
					BAR_DMABUF_IMP_USAGE_READ, 0, 64,
					NULL, 0, &job, NULL));
		ASSERT_EQ(0, imp_wait_job(self->e.impfd, job, EVENT_MS, NULL,
					  0, &status, NULL));
		EXPECT_EQ(0, status) TH_LOG("a read by bus address: %d",
					    status);
		EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	} else {
		EXPECT_EQ(-EXDEV, ret)
			TH_LOG("a one-range buffer without the helper: %s",
			       ret ? strerror(-ret) : "accepted");
	}

	/* the mapping through the host bridge: refused, then allowed */
	ret = imp_attach(self->e.impfd, two, 0, &h);
	EXPECT_EQ(-EXDEV, ret) TH_LOG("a two-range buffer: %s",
				      ret ? strerror(-ret) : "accepted");
	EXPECT_EQ(1, bd_kmsg_wait(self->e.kfd, "allow_unproven_p2p=1", line,
				  sizeof(line), 5000));
	if (provable)
		EXPECT_NE(NULL, strstr(line, "through a PCIe switch"))
			TH_LOG("the refusal does not name the switch: %s",
			       line);
	ASSERT_EQ(0, bd_param_override(&self->p2p, "bar_dmabuf",
				       "allow_unproven_p2p", "1"));
	ASSERT_EQ(0, imp_attach(self->e.impfd, two, 0, &h));
	expect_route(_metadata, self->e.bdf, two, "dma_map_resource",
		     provable ? "switch" : "unproven");
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL));
	EXPECT_EQ(0, imp_detach(self->e.impfd, h));
	bd_close(&two);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/* ------------------------------------------------------------------ */

/*
 * A recovery that fails: the importer stays where it was, so the second
 * function below the switch has no driver, and the kernel gives up ("can't
 * recover (no error_detected callback)") after our error_detected revoked.
 */
FIXTURE(failed)
{
	bool skipped;
	bool injected;
	struct bd_env e;
	int buf;
};

FIXTURE_SETUP(failed)
{
	const char *why;
	int ret;

	why = sw_unavailable(true, &self->e, &self->buf);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	ret = bd_env_open_bdf(&self->e, sw_bdf(), true, 16 * BD_PAGE);
	ASSERT_EQ(0, ret) TH_LOG("%s", self->e.why);
	self->buf = bd_env_export(&self->e, 0, BUF_PAGES);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(failed)
{
	bd_close(&self->buf);
	subtree_close(&self->e, self->injected);
	/* a test that failed half-way may leave it unbound or dead */
	if (!self->skipped)
		bd_rebind(sw_bdf());
}

/*
 * After a failed recovery, RESTORE and EXPORT either report the device
 * dead (-ENODEV: kernels that tell drivers the recovery failed, as 7.2
 * does with error_detected(perm_failure)) and a rebind brings it back, or
 * (kernels that do not tell) are refused with -EBUSY, the log says what
 * to do, and a function reset gives every buffer back.
 */
TEST_F_TIMEOUT(failed, failed_recovery_reports_dead_or_yields_to_a_reset, 180)
{
	char line[512], state[1024], want[128];
	int ret, fd = -1, kfd2;
	__u32 h, nr = 0;
	bool told;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);

	kfd2 = bd_kmsg_open();	/* a second cursor: a scan drains its fd */
	self->injected = true;
	ret = bd_aer_inject("nonfatal", sw_bdf(), RECOVERY_S);
	ASSERT_EQ(-EIO, ret) TH_LOG("the recovery did not fail: %s",
				    ret ? strerror(-ret) : "recovered");
	self->injected = false;
	EXPECT_EQ(1, bd_kmsg_find(kfd2, "can't recover", line, sizeof(line)));
	bd_close(&kfd2);
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL))
		TH_LOG("error_detected did not revoke");
	ASSERT_EQ(0, imp_wait_event(self->e.impfd, h, BAR_DMABUF_IMP_EV_UNMAP,
				    1, EVENT_MS, NULL));

	/* did the kernel tell us? then the device is dead */
	snprintf(want, sizeof(want), "%s: PCI error recovery (permanent failure)",
		 self->e.bdf);
	told = bd_kmsg_find(self->e.kfd, want, line, sizeof(line)) == 1;
	TH_LOG("the kernel %s drivers of the failed recovery",
	       told ? "tells" : "does not tell");
	ret = bd_restore(self->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS, &nr);
	if (told) {
		EXPECT_EQ(-ENODEV, ret);
		EXPECT_EQ(-ENODEV, bd_export_one(self->e.devfd, self->e.bar, 0,
						 BD_PAGE, &fd));
		snprintf(want, sizeof(want), BD_DEBUGFS "/%s/buffers",
			 self->e.bdf);
		ASSERT_LT(0, bd_read_file(want, state, sizeof(state)));
		EXPECT_NE(NULL, strstr(state, "(error recovery failed)"))
			TH_LOG("%s", state);
		/* the way back: unbind and bind */
		bd_close(&self->buf);
		bd_close(&self->e.devfd);
		ASSERT_EQ(0, bd_way_out(BD_WAY_UNBIND, self->e.bdf));
		ASSERT_EQ(0, bd_way_back(BD_WAY_UNBIND, self->e.bdf));
		self->e.devfd = bd_open_dev(self->e.bdf);
		ASSERT_LE(0, self->e.devfd);
		self->buf = bd_env_export(&self->e, 0, BUF_PAGES);
		EXPECT_LE(0, self->buf) TH_LOG("after the rebind: %s",
					       self->e.why);
	} else {
		EXPECT_EQ(-EBUSY, ret);
		EXPECT_EQ(1, bd_kmsg_wait(self->e.kfd, "reset the function",
					  line, sizeof(line), 5000))
			TH_LOG("the refusal does not say what to do");
		ASSERT_EQ(0, bd_way_out(BD_WAY_RESET, self->e.bdf));
		ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, state,
					       sizeof(state)));
		EXPECT_NE(NULL, strstr(state, " live")) TH_LOG("%s", state);
		EXPECT_EQ(0, bd_restore(self->e.devfd, -1,
					BAR_DMABUF_ALL_BUFFERS, &nr));
		EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL));
		EXPECT_EQ(0, bd_export_one(self->e.devfd, self->e.bar, 0,
					   BD_PAGE, &fd));
	}
	bd_close(&fd);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
