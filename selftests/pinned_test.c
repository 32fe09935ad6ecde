// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf pinned_test: importers that pin (issue 10 item 4).
 *
 * - RDMA's pinned-revocable importer of 7.1+ (the test importer's
 *   BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE) unmaps and unpins in its
 *   invalidate callback, so a revoke or a PCI reset completes at once
 *   (rules 3, 5, 6, 10), and its mapping is dead for good: after the
 *   restore (rule 9) it never maps again, while a new attachment works.
 * - An explicit dma_buf_pin() is named in the kernel log (a revoke waits
 *   for such an importer until its owner unmaps); the core's own pin
 *   before a map (6.1, 6.12) is not.
 * - A pin of a live buffer is never refused (virtio-gpu pins at import and
 *   while it scans out), and it delays no revoke.
 *
 * Environment: BAR_DMABUF_BDF and the importer; BAR_DMABUF_IMPORTER_BDF
 * names the importer device the log must name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define EVENT_MS	10000
#define REVOKE_MS	5000	/* the bounded revoke's timeout */
#define PROMPT_MS	2000	/* "at once" for a revoke, under TCG and KASAN */
#define RESET_MS	20000	/* the reset's wait before we call it stuck */
#define RESTORE_WAIT_US	300000	/* time a remap on restore would need */
#define PIN_NEEDLE	"pinned by its importer (dma_buf_pin)"

/* Write 64 bytes of @seed at offset 0 through @h and read them back. */
static int roundtrip(int impfd, __u32 h, unsigned char seed)
{
	unsigned char out[64], in[64];
	int ret, status;
	__u64 job;

	memset(out, seed, sizeof(out));
	ret = imp_submit(impfd, h, BAR_DMABUF_IMP_JOB_WRITE,
			 BAR_DMABUF_IMP_USAGE_WRITE, 0, sizeof(out), out, 0,
			 &job, NULL);
	if (!ret)
		ret = imp_wait_job(impfd, job, EVENT_MS, NULL, 0, &status,
				   NULL);
	if (ret || status)
		return ret ? ret : status;
	ret = imp_submit(impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ, 0,
			 sizeof(in), NULL, 0, &job, NULL);
	if (!ret)
		ret = imp_wait_job(impfd, job, EVENT_MS, in, sizeof(in),
				   &status, NULL);
	if (ret || status)
		return ret ? ret : status;
	return memcmp(in, out, sizeof(in)) ? -EBADMSG : 0;
}

/* Events of @type in the log of @h with result @result, or -errno. */
static int count_result(int impfd, __u32 h, __u32 type, int result)
{
	struct imp_log log;
	unsigned int i;
	int n = 0, ret;

	ret = imp_read_log(impfd, h, &log);
	if (ret)
		return ret;
	for (i = 0; i < log.nr; i++)
		if (log.ev[i].type == type && log.ev[i].result == result)
			n++;
	imp_log_free(&log);
	return n;
}

static int way_fn(void *p)
{
	const char *bdf = p;

	return bd_way_out(BD_WAY_RESET, bdf);
}

FIXTURE(dead)
{
	bool skipped;
	struct bd_env e;
	int buf;
};

/* How the mapping is taken away: REVOKE (then RESTORE), or a PCI reset. */
FIXTURE_VARIANT(dead)
{
	bool reset;
};

FIXTURE_VARIANT_ADD(dead, revoke) {
	.reset = false,
};

FIXTURE_VARIANT_ADD(dead, pci_reset) {
	.reset = true,
};

FIXTURE_SETUP(dead)
{
	const char *why;

	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, 16 * BD_PAGE, &self->skipped))
		return;
	why = variant->reset ? bd_way_unavailable(BD_WAY_RESET, self->e.bdf) :
			       NULL;
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	self->buf = bd_env_export(&self->e, 0, 4);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(dead)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * Rules 3, 5, 6, 9 and 10 with RDMA's pinned-revocable importer: the way
 * out completes at once (the callback unmaps), and after the restore the
 * old attachment stays dead (even asked to remap on restore) while a new
 * one maps and moves data.
 */
TEST_F_TIMEOUT(dead, pinned_revocable_stays_dead_after_restore, 120)
{
	struct bar_dmabuf_imp_counters c0, c;
	struct bd_async a = { 0 };
	__u64 t0, t1, inv, unmap, unpin;
	char state[1024];
	int fd = self->e.impfd;
	__u32 h, h2;
	int ret;

	if (self->skipped)
		return;
	ASSERT_EQ(0, imp_counters(fd, &c0));
	ASSERT_EQ(0, imp_attach_pinned_revocable(fd, self->buf, &h));
	ASSERT_EQ(0, imp_set_behaviour(fd, h, BAR_DMABUF_IMP_UNMAP_WORKER,
				       BAR_DMABUF_IMP_REMAP_ON_RESTORE, 0, 1));
	/* pinned and mapped by ATTACH alone */
	EXPECT_EQ(1, count_result(fd, h, BAR_DMABUF_IMP_EV_PIN, 0));
	EXPECT_EQ(1, count_result(fd, h, BAR_DMABUF_IMP_EV_MAP, 0));
	ASSERT_EQ(0, imp_counters(fd, &c));
	EXPECT_EQ(c0.out_mappings + 1, c.out_mappings);
	ASSERT_EQ(0, roundtrip(fd, h, 0x5a));

	t0 = bd_now_ns();
	if (!variant->reset) {
		ret = bd_revoke(self->e.devfd, self->buf, 0, REVOKE_MS, NULL);
		t1 = bd_now_ns();
		ASSERT_EQ(0, ret) TH_LOG("the revoke: %s%s", strerror(-ret),
					 bd_env_show_log(&self->e, h));
		EXPECT_GT(PROMPT_MS, bd_ms_between(t0, t1));
	} else {
		ASSERT_EQ(0, bd_async_start(&a, way_fn, (void *)self->e.bdf));
		if (!bd_async_wait(&a, RESET_MS)) {
			TH_LOG("the reset still waits after %d ms%s", RESET_MS,
			       bd_env_show_log(&self->e, h));
			/* closing the importer unmaps: the reset goes on */
			bd_close(&self->e.impfd);
			bd_async_wait(&a, 60000);
			bd_async_join(&a);
			ASSERT_TRUE(false);
		}
		bd_async_join(&a);
		t1 = a.end_ns;
		ASSERT_EQ(0, a.ret) TH_LOG("the reset: %s", strerror(-a.ret));
	}

	/* the callback unmapped and unpinned, before the way out returned */
	ASSERT_EQ(0, imp_wait_event(fd, h, BAR_DMABUF_IMP_EV_INVALIDATE, 1,
				    EVENT_MS, &inv));
	ASSERT_EQ(0, imp_wait_event(fd, h, BAR_DMABUF_IMP_EV_UNMAP, 1, 0,
				    &unmap)) TH_LOG("no unmap%s",
						    bd_env_show_log(&self->e, h));
	ASSERT_EQ(0, imp_wait_event(fd, h, BAR_DMABUF_IMP_EV_UNPIN, 1, 0,
				    &unpin)) TH_LOG("no unpin%s",
						    bd_env_show_log(&self->e, h));
	EXPECT_LE(inv, unmap);
	EXPECT_LE(unmap, unpin);
	EXPECT_GE(t1 + BD_UNMAP_STAMP_SLACK_NS, unmap);
	ASSERT_EQ(0, imp_counters(fd, &c));
	EXPECT_EQ(c0.out_mappings, c.out_mappings);

	/* rule 9: the buffer comes back, the importer's mapping does not */
	if (!variant->reset)
		ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	ASSERT_EQ(0, bd_debugfs_buffer(self->e.bdf, self->buf, state,
				       sizeof(state)));
	EXPECT_NE(NULL, strstr(state, " live")) TH_LOG("%s", state);
	usleep(RESTORE_WAIT_US);
	EXPECT_EQ(-EKEYREVOKED, imp_map(fd, h, NULL));
	EXPECT_EQ(-EKEYREVOKED, imp_submit(fd, h, 0, BAR_DMABUF_IMP_USAGE_READ,
					   0, 64, NULL, 0, NULL, NULL));
	EXPECT_EQ(1, count_result(fd, h, BAR_DMABUF_IMP_EV_MAP, 0))
		TH_LOG("the dead attachment mapped again%s",
		       bd_env_show_log(&self->e, h));
	EXPECT_EQ(2, count_result(fd, h, BAR_DMABUF_IMP_EV_MAP, -EKEYREVOKED));
	EXPECT_EQ(1, count_result(fd, h, BAR_DMABUF_IMP_EV_PIN, 0));
	ASSERT_EQ(0, imp_counters(fd, &c));
	EXPECT_EQ(c0.out_mappings, c.out_mappings);

	/* a new attachment of the same kind works */
	ASSERT_EQ(0, imp_attach_pinned_revocable(fd, self->buf, &h2));
	EXPECT_EQ(0, roundtrip(fd, h2, 0xa5));
	EXPECT_EQ(0, imp_detach(fd, h2));
	EXPECT_EQ(1, count_result(fd, h2, BAR_DMABUF_IMP_EV_UNPIN, 0));
	EXPECT_EQ(0, imp_detach(fd, h));
	ASSERT_EQ(0, imp_counters(fd, &c));
	EXPECT_EQ(c0.out_mappings, c.out_mappings);
	EXPECT_EQ(c0.out_attachments, c.out_attachments);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

FIXTURE(pin)
{
	bool skipped;
	struct bd_env e;
	int buf;
};

FIXTURE_SETUP(pin)
{
	self->buf = -1;
	if (!bd_fixture_open(_metadata, &self->e, 16 * BD_PAGE, &self->skipped))
		return;
	self->buf = bd_env_export(&self->e, 0, 4);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
}

FIXTURE_TEARDOWN(pin)
{
	bd_close(&self->buf);
	bd_env_close(&self->e);
}

/*
 * A live buffer's pin always succeeds (virtio-gpu pins at import and keeps
 * a pin while it scans out), and the pin holds back no revoke: the
 * importer is told, unmaps, and the revoke returns at once.
 */
TEST_F(pin, live_buffer_pin_never_refused)
{
	int fd = self->e.impfd;
	__u64 t0, t1;
	__u32 h, h2;
	int ret;

	if (self->skipped)
		return;
	ret = imp_attach_pin(fd, self->buf, &h);
	ASSERT_EQ(0, ret) TH_LOG("pin of a live buffer: %s", strerror(-ret));
	EXPECT_EQ(1, count_result(fd, h, BAR_DMABUF_IMP_EV_PIN, 0));
	ASSERT_EQ(0, imp_set_behaviour(fd, h, BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0,
				       1));
	ASSERT_EQ(0, imp_map(fd, h, NULL));
	ASSERT_EQ(0, roundtrip(fd, h, 0x3c));
	/* a second importer pins the same buffer */
	ASSERT_EQ(0, imp_attach_pin(fd, self->buf, &h2));

	t0 = bd_now_ns();
	ret = bd_revoke(self->e.devfd, self->buf, 0, REVOKE_MS, NULL);
	t1 = bd_now_ns();
	ASSERT_EQ(0, ret) TH_LOG("revoke with a pin held: %s%s", strerror(-ret),
				 bd_env_show_log(&self->e, h));
	EXPECT_GT(PROMPT_MS, bd_ms_between(t0, t1));
	EXPECT_EQ(1, count_result(fd, h, BAR_DMABUF_IMP_EV_UNMAP, 0));
	/* the pin is the importer's: it keeps it across the revoke */
	EXPECT_EQ(0, count_result(fd, h, BAR_DMABUF_IMP_EV_UNPIN, 0));

	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	EXPECT_EQ(0, imp_map(fd, h, NULL));
	EXPECT_EQ(0, roundtrip(fd, h, 0xc3));
	EXPECT_EQ(0, imp_detach(fd, h2));
	EXPECT_EQ(0, imp_detach(fd, h));
	EXPECT_EQ(1, count_result(fd, h, BAR_DMABUF_IMP_EV_UNPIN, 0));
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
}

/*
 * Before 7.1 (no dma_buf_attach_revocable()) an importer that pins may be
 * one that keeps its mapping when told (RDMA's old pinned path).
 */
static bool pinners_may_keep_mappings(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return true;
	return major < 7 || (major == 7 && minor < 1);
}

/*
 * An importer's own dma_buf_pin() is named in the kernel log once, with
 * the importer device and what it means; the core's pin before each map
 * (6.1 and 6.12, without CONFIG_DMABUF_MOVE_NOTIFY) is not reported. From
 * 7.1 every importer that reaches us promised to unmap when told
 * (dma_buf_attach_revocable()): its pin is not reported either.
 */
TEST_F(pin, explicit_pin_named_in_kernel_log)
{
	const char *imp_bdf = bd_env("BAR_DMABUF_IMPORTER_BDF");
	int fd = self->e.impfd, kfd = self->e.kfd;
	char line[512], want[96];
	__u32 h, h2;

	if (self->skipped)
		return;
	if (kfd < 0)
		SKIP(return, "/dev/kmsg is not readable");
	bd_kmsg_find(kfd, PIN_NEEDLE, line, sizeof(line));

	/* a dynamic importer that only maps: the core's pins only */
	h = bd_fixture_attach(_metadata, &self->e, self->buf,
			      BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0, true);
	ASSERT_EQ(0, roundtrip(fd, h, 0x11));
	ASSERT_EQ(0, imp_unmap(fd, h));
	ASSERT_EQ(0, imp_map(fd, h, NULL));
	EXPECT_EQ(0, bd_kmsg_find(kfd, PIN_NEEDLE, line, sizeof(line)))
		TH_LOG("the core's pin before a map was reported: %s", line);

	/* an explicit pin, then a map */
	ASSERT_EQ(0, imp_attach_pin(fd, self->buf, &h2));
	ASSERT_EQ(0, imp_map(fd, h2, NULL));
	if (!pinners_may_keep_mappings()) {
		EXPECT_EQ(0, bd_kmsg_wait(kfd, PIN_NEEDLE, line, sizeof(line),
					  500))
			TH_LOG("a revocable importer's pin was reported: %s",
			       line);
		EXPECT_EQ(0, imp_detach(fd, h2));
		EXPECT_EQ(0, imp_detach(fd, h));
		bd_fixture_check_kmsg(_metadata, kfd);
		return;
	}
	ASSERT_EQ(1, bd_kmsg_wait(kfd, PIN_NEEDLE, line, sizeof(line), 2000))
		TH_LOG("no kernel message for an explicit pin");
	snprintf(want, sizeof(want), "%s buffer", self->e.bdf);
	EXPECT_NE(NULL, strstr(line, want)) TH_LOG("%s", line);
	EXPECT_NE(NULL, strstr(line, "a revoke waits for it until its owner unmaps"))
		TH_LOG("%s", line);
	if (imp_bdf)
		EXPECT_NE(NULL, strstr(line, imp_bdf))
			TH_LOG("the importer %s is not named: %s", imp_bdf,
			       line);

	/* once per attachment */
	ASSERT_EQ(0, imp_set_behaviour(fd, h2, BAR_DMABUF_IMP_UNMAP_SYNC, 0, 0,
				       1));
	ASSERT_EQ(0, roundtrip(fd, h2, 0x22));
	ASSERT_EQ(0, imp_unmap(fd, h2));
	ASSERT_EQ(0, imp_map(fd, h2, NULL));
	EXPECT_EQ(0, bd_kmsg_find(kfd, PIN_NEEDLE, line, sizeof(line)))
		TH_LOG("reported twice: %s", line);

	EXPECT_EQ(0, imp_detach(fd, h2));
	EXPECT_EQ(0, imp_detach(fd, h));
	bd_fixture_check_kmsg(_metadata, kfd);
}

TEST_HARNESS_MAIN
