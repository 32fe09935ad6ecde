// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf recovery_test: PCI error recovery (AER) and the revoke
 * protocol, rule 8's exception and rule 10.
 *
 * - Every error_detected revokes, whatever the channel state: a non-fatal
 *   error may still reset the device (a sibling below the port that votes
 *   NEED_RESET resets the whole bus), so the importer is told and unmaps,
 *   and resume gives the buffer back.
 * - The wait in error recovery is bounded: an importer that holds its
 *   fence (and its mapping) across the recovery does not hang it; the
 *   kernel log names it, and its old mapping stays valid until it unmaps.
 *
 * Environment: BAR_DMABUF_BDF, the importer, BAR_DMABUF_AER (the test VM's
 * injector: `$BAR_DMABUF_AER fatal|nonfatal`).
 */
#include <errno.h>
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

FIXTURE(recovery)
{
	bool skipped;
	struct bd_env e;
	struct bd_param_saved saved;
	int buf;
	__u64 held_job;		/* a held fence to let go at teardown, or 0 */
};

FIXTURE_SETUP(recovery)
{
	const char *why;

	memset(&self->saved, 0, sizeof(self->saved));
	self->buf = -1;
	self->held_job = 0;
	if (!bd_fixture_open(_metadata, &self->e, 16 * BD_PAGE, &self->skipped))
		return;
	why = bd_way_unavailable(BD_WAY_AER, self->e.bdf);
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	self->buf = bd_env_export(&self->e, 0, 4);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(recovery)
{
	char line[256];

	/*
	 * A recovery stuck on our fence (the bug the bounded test guards)
	 * goes on once the fence signals: let it finish before the next test.
	 */
	if (self->held_job) {
		imp_signal(self->e.impfd, self->held_job);
		bd_kmsg_wait(self->e.kfd, "AER: device recovery", line,
			     sizeof(line), 60000);
	}
	bd_close(&self->buf);
	bd_env_close(&self->e);
	bd_param_restore(&self->saved);
}

/*
 * Rules 1-3 and 9 in every error_detected: a non-fatal error (no reset
 * here) still revokes, and the buffer is usable again after resume.
 */
TEST_F_TIMEOUT(recovery, nonfatal_error_revokes_and_resume_restores, 120)
{
	char state[1024];
	__u32 h;

	if (self->skipped)
		return;
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_WORKER, 0, 0, true);

	ASSERT_EQ(0, bd_aer_inject("nonfatal", self->e.bdf, RECOVERY_S))
		TH_LOG("the non-fatal recovery failed");

	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL))
		TH_LOG("error_detected did not revoke%s",
		       bd_env_show_log(&self->e, h));
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h, BAR_DMABUF_IMP_EV_UNMAP,
				    1, EVENT_MS, NULL));

	/* resume gave it back: live in debugfs, and it maps again */
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, state,
				       sizeof(state)));
	EXPECT_NE(NULL, strstr(state, " live")) TH_LOG("%s", state);
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Rule 8's exception: an importer that holds a fence and its mapping
 * across a fatal error's recovery does not hang it. The recovery ends
 * after revoke_timeout_ms, the log names the importer, the buffer is
 * restored by resume, and the old mapping stays valid until its unmap.
 */
TEST_F_TIMEOUT(recovery, bounded_wait_lets_recovery_finish, 180)
{
	char line[512], want[96];
	__u32 h;
	int ret;

	if (self->skipped)
		return;
	ret = bd_param_override(&self->saved, "bar_dmabuf",
				"revoke_timeout_ms", BOUND_MS);
	ASSERT_EQ(0, ret) TH_LOG("revoke_timeout_ms: %s", strerror(-ret));
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0, 0, true);
	ASSERT_EQ(0, imp_submit(self->e.impfd, h, BAR_DMABUF_IMP_JOB_HOLD,
				BAR_DMABUF_IMP_USAGE_READ, 0, 64, NULL, 0,
				&self->held_job, NULL));

	ASSERT_EQ(0, bd_aer_inject("fatal", self->e.bdf, RECOVERY_S))
		TH_LOG("the recovery did not finish within " RECOVERY_S
		       " s while an importer held its fence");

	snprintf(want, sizeof(want), "%s buffer", self->e.bdf);
	EXPECT_EQ(1, bd_kmsg_find(self->e.kfd, "error-recovery revoke still waiting",
				  line, sizeof(line)))
		TH_LOG("the bounded wait was not reported");
	EXPECT_NE(NULL, strstr(line, want)) TH_LOG("%s", line);
	EXPECT_EQ(0, imp_wait_event(self->e.impfd, h,
				    BAR_DMABUF_IMP_EV_INVALIDATE, 1, EVENT_MS,
				    NULL));

	/* the importer finishes late: its mapping was valid all along */
	ASSERT_EQ(0, imp_signal(self->e.impfd, self->held_job));
	ASSERT_EQ(0, imp_wait_job(self->e.impfd, self->held_job, EVENT_MS,
				  NULL, 0, &ret, NULL));
	self->held_job = 0;
	EXPECT_EQ(0, ret) TH_LOG("the held job ended with %d", ret);
	ASSERT_EQ(0, imp_unmap(self->e.impfd, h));
	EXPECT_EQ(0, imp_map(self->e.impfd, h, NULL))
		TH_LOG("resume did not restore the buffer");
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

TEST_HARNESS_MAIN
