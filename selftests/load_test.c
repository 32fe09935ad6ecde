// SPDX-License-Identifier: GPL-2.0
/*
 * load_test: loading bar_dmabuf with a bad bdf= (foundation issue, "Bad
 * input"): a wrong, missing or malformed bdf=, a device without a memory
 * BAR, a device bound to another driver, and a list with one good and one
 * bad device. Each load must fail with its errno and one message naming the
 * problem and the fix, and leave nothing half-bound: the module is not
 * loaded and the good device has no driver. The fixture unloads the module
 * first and loads it again, with the parameters it had, afterwards.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "lib.h"

#define BAD_ABSENT	"0000:7f:1f.7"

/* 1 if sysfs lists a memory BAR for @bdf, 0 if not, -errno if unreadable. */
static int has_mem_bar(const char *bdf)
{
	struct bd_sysfs_bar bars[BAR_DMABUF_NUM_BARS];
	int i, ret;

	ret = bd_sysfs_bars(bdf, bars);
	if (ret)
		return ret;
	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++)
		if (bars[i].flags & BD_IORESOURCE_MEM)
			return 1;
	return 0;
}

/* A device with no memory BAR and no driver, for one variant; 0 or -ENOENT. */
static int find_device_without_mem_bar(char *bdf, size_t len)
{
	char drv[64];
	FILE *p;
	char name[64];
	int ret = -ENOENT;

	p = popen("ls /sys/bus/pci/devices", "r");
	if (!p)
		return -errno;
	while (ret && fgets(name, sizeof(name), p)) {
		name[strcspn(name, "\n")] = '\0';
		if (has_mem_bar(name) || bd_driver_of(name, drv, sizeof(drv)))
			continue;
		if (!drv[0]) {
			snprintf(bdf, len, "%s", name);
			ret = 0;
		}
	}
	pclose(p);
	return ret;
}

/* A device bound to a driver other than bar_dmabuf, with a memory BAR. */
static int find_device_bound_elsewhere(char *bdf, size_t len)
{
	const char *imp = bd_env("BAR_DMABUF_IMPORTER_BDF");
	char drv[64];

	if (!imp || bd_driver_of(imp, drv, sizeof(drv)) || !drv[0] ||
	    !strcmp(drv, "bar_dmabuf") || has_mem_bar(imp) != 1)
		return -ENOENT;
	snprintf(bdf, len, "%s", imp);
	return 0;
}

enum bdf_kind {
	BDF_NONE,		/* no bdf= at all */
	BDF_LITERAL,		/* the variant's string */
	BDF_NO_MEM_BAR,		/* a device found with no memory BAR */
	BDF_BOUND,		/* the importer's device, bound to it */
	BDF_GOOD_THEN_ABSENT,	/* BAR_DMABUF_BDF, then an absent one */
};

FIXTURE(load)
{
	bool skipped;
	char path[512];
	char params[512];	/* as loaded before the test */
	int kfd;
};

FIXTURE_VARIANT(load)
{
	enum bdf_kind kind;
	const char *bdf;
	int err;
	const char *msg;
};

FIXTURE_VARIANT_ADD(load, missing) {
	.kind = BDF_NONE, .err = EINVAL, .msg = "no device given",
};

FIXTURE_VARIANT_ADD(load, empty) {
	.kind = BDF_LITERAL, .bdf = "", .err = EINVAL,
	.msg = "no device given",
};

FIXTURE_VARIANT_ADD(load, malformed) {
	.kind = BDF_LITERAL, .bdf = "03:00", .err = EINVAL,
	.msg = "is not a PCI address",
};

FIXTURE_VARIANT_ADD(load, trailing_garbage) {
	.kind = BDF_LITERAL, .bdf = "0000:03:00.0x", .err = EINVAL,
	.msg = "is not a PCI address",
};

FIXTURE_VARIANT_ADD(load, function_out_of_range) {
	.kind = BDF_LITERAL, .bdf = "0000:03:00.8", .err = EINVAL,
	.msg = "is not a PCI address",
};

FIXTURE_VARIANT_ADD(load, listed_twice) {
	.kind = BDF_LITERAL, .bdf = BAD_ABSENT "," BAD_ABSENT, .err = EINVAL,
	.msg = "listed twice",
};

FIXTURE_VARIANT_ADD(load, absent) {
	.kind = BDF_LITERAL, .bdf = BAD_ABSENT, .err = ENODEV,
	.msg = "no such PCI device",
};

/*
 * Issue 9 item 6: a domain above 0xffff (VMD) is a PCI address; one that
 * does not exist is "no such PCI device", not a malformed address.
 */
FIXTURE_VARIANT_ADD(load, absent_domain_above_ffff) {
	.kind = BDF_LITERAL, .bdf = "10000:01:00.0", .err = ENODEV,
	.msg = "10000:01:00.0: no such PCI device",
};

FIXTURE_VARIANT_ADD(load, no_memory_bar) {
	.kind = BDF_NO_MEM_BAR, .err = ENODEV, .msg = "has no memory BAR",
};

FIXTURE_VARIANT_ADD(load, bound_elsewhere) {
	.kind = BDF_BOUND, .err = EBUSY, .msg = "release it first",
};

FIXTURE_VARIANT_ADD(load, good_then_absent) {
	.kind = BDF_GOOD_THEN_ABSENT, .err = ENODEV,
	.msg = "no such PCI device",
};

/* The parameters the loaded bar_dmabuf is reloaded with by the teardown. */
static const char * const saved_names[] = {
	"bdf", "revoke_timeout_ms", "allow_unproven_p2p",
};

FIXTURE_SETUP(load)
{
	const char *why = bd_precondition(false);
	int ret;

	self->kfd = -1;
	if (why) {
		self->skipped = true;
		SKIP(return, "%s", why);
	}
	if (bd_module_path("bar_dmabuf", self->path, sizeof(self->path))) {
		self->skipped = true;
		SKIP(return, "bar_dmabuf.ko is not in modules.dep (make install or dkms)");
	}
	if (bd_module_params_string("bar_dmabuf", saved_names,
				    ARRAY_SIZE(saved_names), self->params,
				    sizeof(self->params))) {
		self->skipped = true;
		SKIP(return, "parameters of the loaded bar_dmabuf not readable");
	}
	/* The module can only go if nothing holds a buffer. */
	ret = bd_module_unload("bar_dmabuf");
	if (ret) {
		self->skipped = true;
		SKIP(return, "bar_dmabuf cannot be unloaded now: %s",
		     strerror(-ret));
	}
	self->kfd = bd_kmsg_open();
}

FIXTURE_TEARDOWN(load)
{
	if (self->kfd >= 0)
		close(self->kfd);
	if (self->skipped)
		return;
	if (!bd_module_loaded("bar_dmabuf"))
		EXPECT_EQ(0, bd_module_load(self->path, self->params))
			TH_LOG("reloading with \"%s\" failed", self->params);
}

TEST_F(load, refused_with_message_and_nothing_bound)
{
	const char *good = bd_env("BAR_DMABUF_BDF");
	char bdf[128], params[256], line[512], drv[64];
	int ret;

	if (self->skipped)
		return;
	ASSERT_LE(0, self->kfd);
	switch (variant->kind) {
	case BDF_NONE:
		params[0] = '\0';
		break;
	case BDF_LITERAL:
		snprintf(params, sizeof(params), "bdf=%s", variant->bdf);
		break;
	case BDF_NO_MEM_BAR:
		if (find_device_without_mem_bar(bdf, sizeof(bdf)))
			SKIP(return, "no unbound device without a memory BAR here");
		snprintf(params, sizeof(params), "bdf=%s", bdf);
		break;
	case BDF_BOUND:
		if (find_device_bound_elsewhere(bdf, sizeof(bdf)))
			SKIP(return, "BAR_DMABUF_IMPORTER_BDF is not bound to a driver");
		snprintf(params, sizeof(params), "bdf=%s", bdf);
		break;
	case BDF_GOOD_THEN_ABSENT:
		snprintf(params, sizeof(params), "bdf=%s,%s", good, BAD_ABSENT);
		break;
	}

	ret = bd_module_load(self->path, params);
	if (!ret)	/* loaded after all: unload, the teardown reloads */
		bd_module_unload("bar_dmabuf");
	EXPECT_EQ(-variant->err, ret)
		TH_LOG("load with \"%s\": %s", params, strerror(-ret));
	EXPECT_FALSE(bd_module_loaded("bar_dmabuf"));
	EXPECT_EQ(1, bd_kmsg_wait(self->kfd, variant->msg, line, sizeof(line),
				  5000))
		TH_LOG("no kernel message containing \"%s\"", variant->msg);
	/* Exactly one line says what is wrong, without a warning. */
	EXPECT_EQ(0, bd_kmsg_find_problem(self->kfd, line, sizeof(line)))
		TH_LOG("%s", line);

	/* Nothing half-bound: the good device is free again. */
	ASSERT_EQ(0, bd_driver_of(good, drv, sizeof(drv)));
	EXPECT_STREQ("", drv);
}

TEST_HARNESS_MAIN
