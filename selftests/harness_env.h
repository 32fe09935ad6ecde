/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture steps every protocol test repeats, as harness assertions:
 * open the environment (or SKIP), attach the test importer (or fail), and
 * check that the kernel log stayed clean. They use ASSERT_*, EXPECT_*,
 * SKIP and TH_LOG, which need the test's @_metadata, so they live here as
 * static inlines and not in lib.c: include this after kselftest_harness.h
 * and lib.h.
 */
#ifndef BAR_DMABUF_SELFTEST_HARNESS_ENV_H
#define BAR_DMABUF_SELFTEST_HARNESS_ENV_H

/*
 * Open @e with the importer and a BAR of at least @min_bar bytes, for a
 * FIXTURE_SETUP: true when open; false after SKIP (device or module
 * missing; *@skipped is set, see lib.h); a failed ASSERT on real errors.
 */
static inline bool bd_fixture_open(struct __test_metadata *_metadata,
				   struct bd_env *e, __u64 min_bar,
				   bool *skipped)
{
	int ret = bd_env_open(e, true, min_bar);

	if (ret > 0) {
		*skipped = true;
		SKIP(return false, "%s", e->why);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", e->why);
	return true;
}

/*
 * Attach (and map when @map) buffer @buf to the importer with the given
 * behaviour (bd_env_attach()); the handle, or a failed ASSERT.
 */
static inline __u32 bd_fixture_attach(struct __test_metadata *_metadata,
				      struct bd_env *e, int buf, __u32 mode,
				      __u32 bflags, __u32 window_ms, bool map)
{
	__u32 h = 0;

	ASSERT_EQ(0, bd_env_attach(e, buf, mode, bflags, window_ms, map, &h))
		TH_LOG("%s", e->why);
	return h;
}

/*
 * The kernel log (@kfd from bd_kmsg_open(), nothing checked if < 0) shows
 * no warning or other sign of trouble since the last look.
 */
static inline void bd_fixture_check_kmsg(struct __test_metadata *_metadata,
					 int kfd)
{
	char line[512];

	if (kfd < 0)
		return;
	EXPECT_EQ(0, bd_kmsg_find_problem(kfd, line, sizeof(line)))
		TH_LOG("kernel log: %s", line);
}

#endif /* BAR_DMABUF_SELFTEST_HARNESS_ENV_H */
