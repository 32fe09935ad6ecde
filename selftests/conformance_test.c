// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf conformance_test: the revoke protocol
 * (../../shared/docs/revoke-protocol.md) checked against exporters we did
 * not write, through the test importer. One FIXTURE_VARIANT per exporter:
 *
 *   bar_dmabuf  ours: BAR_DMABUF_BDF's memory BAR, REVOKE/RESTORE ioctls
 *   vfio        upstream vfio-pci's VFIO_DEVICE_FEATURE_DMA_BUF (Linux
 *               6.19+): BAR_DMABUF_VFIO_BDF is bound to vfio-pci (by
 *               driver_override; put back afterwards), opened through its
 *               group and a type1v2 container. Its revoke is clearing
 *               memory decode in the command register through the VFIO
 *               config region, its restore setting it again; the other
 *               ways out are VFIO_DEVICE_RESET and closing the device
 *   udmabuf     memfd pages through /dev/udmabuf (no revoke)
 *   vgem        a dumb buffer of vgem, exported by PRIME (no revoke)
 *   fd          any exporter, driven by the environment (named
 *               $BAR_DMABUF_CONFORMANCE_NAME, default "fd"): a buffer is
 *               the fd that $BAR_DMABUF_CONFORMANCE_EXPORT names ("PID FD"
 *               on its stdout), else the next inherited fd of
 *               $BAR_DMABUF_CONFORMANCE_FDS (default $BAR_DMABUF_FD); the
 *               ways out are the shell commands of
 *               $BAR_DMABUF_CONFORMANCE_{REVOKE,RESTORE,RESET,CLOSE}
 *               (see cf_fd_open(), README's "Conformance")
 *
 * Each TEST_F is one rule and ends in one verdict word, printed as a table
 * row "conformance | exporter | kernel | rule | verdict | expected":
 *
 *   pass         the rule holds
 *   refused / accepted   an attach the rule is about (pinned, no P2P)
 *   batched / serial     how a revoke of several buffers waits
 *   bounded / unbounded  whether a revoke gives up on an importer that
 *                never unmaps (unbounded: still waiting after
 *                UNBOUNDED_MS, with no way to ask for less)
 *   restored / revoked / dead   what a way out leaves behind
 *   n/a          the rule does not apply (no revoke, one object a buffer)
 *   absent       this kernel has no such exporter
 *   anything else names what broke (early, not-waited-<fence>,
 *                late-read-<errno>, dma-fault, wrong-data, an errno name
 *                such as EADDRINUSE, ...)
 *
 * The verdict is compared with conformance/<exporter>-<kernel>.expect
 * (lines "rule verdict"; "* verdict" for every rule not listed), found in
 * $BAR_DMABUF_CONFORMANCE_EXPECT or next to this binary. The kernel is
 * $BAR_DMABUF_CONFORMANCE_KERNEL, else the rig's $RIG_KERNEL (6.1, 6.12,
 * sid, debug). With no expectation file the rows are printed and only
 * "error" (the check could not run) fails, so on another box the table is
 * the result; BAR_DMABUF_CONFORMANCE_STRICT=1 makes a missing file fail.
 * BAR_DMABUF_CONFORMANCE_EXPORTERS (e.g. "vfio udmabuf") picks variants;
 * the others skip.
 *
 * Nothing sleeps hoping for an order: every wait is on the importer's log,
 * a job, or the thread running the revoke, with a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>
#include <linux/memfd.h>
#include <linux/pci_regs.h>
#include <linux/udmabuf.h>
#include <linux/vfio.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define EVENT_MS	10000	/* an event that must come */
#define RETURN_MS	20000	/* a revoke that must return */
#define BLOCKED_MS	300	/* "still blocked" */
#define UNBOUNDED_MS	3000	/* a bounded revoke was asked for less */
#define BOUND_MS	300	/* the bound asked of a bounded exporter */
#define WINDOW_MS	300	/* late-read window */
#define SRC_PAGES	64	/* pages of BAR or memfd a source offers */
#define LEAK_CYCLES	2048	/* map/unmap cycles of no_leak */
#define MAX_BUFS	4
#define CMD_MS		30000	/* a user's command that must end */
#define EXIT_CANNOT	77	/* an export command that cannot make it */
#define DMA_BUF_FS_MAGIC 0x444d4142	/* the dma-buf pseudo fs ("DMAB") */

/* VFIO_DEVICE_FEATURE_DMA_BUF is Linux 6.19+ uapi: older headers lack it. */
#ifndef VFIO_DEVICE_FEATURE_DMA_BUF
#define VFIO_DEVICE_FEATURE_DMA_BUF 11
struct vfio_region_dma_range {
	__u64 offset;
	__u64 length;
};

struct vfio_device_feature_dma_buf {
	__u32 region_index;
	__u32 open_flags;
	__u32 flags;
	__u32 nr_ranges;
	struct vfio_region_dma_range dma_ranges[];
};
#endif

/* The few DRM ioctls vgem needs (no libdrm headers in the test VM). */
struct cf_drm_version {
	int major, minor, patch;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};

struct cf_drm_create_dumb {
	__u32 height, width, bpp, flags;
	__u32 handle, pitch;
	__u64 size;
};

struct cf_drm_prime_handle {
	__u32 handle;
	__u32 flags;
	__s32 fd;
};

struct cf_drm_gem_close {
	__u32 handle;
	__u32 pad;
};

#define CF_DRM_IOCTL_VERSION	_IOWR('d', 0x00, struct cf_drm_version)
#define CF_DRM_IOCTL_GEM_CLOSE	_IOW('d', 0x09, struct cf_drm_gem_close)
#define CF_DRM_IOCTL_PRIME_HANDLE_TO_FD \
	_IOWR('d', 0x2d, struct cf_drm_prime_handle)
#define CF_DRM_IOCTL_MODE_CREATE_DUMB \
	_IOWR('d', 0xB2, struct cf_drm_create_dumb)

enum cf_kind { CF_BAR_DMABUF, CF_VFIO, CF_UDMABUF, CF_VGEM, CF_FD };

/* The ways out a test can take, besides the plain revoke. */
enum cf_way { CF_WAY_REVOKE, CF_WAY_RESET, CF_WAY_CLOSE };

/* The fd variant's commands: a way out (by its number), or the restore. */
enum cf_cmd { CF_CMD_RESTORE = CF_WAY_CLOSE + 1, CF_NR_CMDS };

static const char *const cf_cmd_env[CF_NR_CMDS] = {
	[CF_WAY_REVOKE] = "BAR_DMABUF_CONFORMANCE_REVOKE",
	[CF_WAY_RESET] = "BAR_DMABUF_CONFORMANCE_RESET",
	[CF_WAY_CLOSE] = "BAR_DMABUF_CONFORMANCE_CLOSE",
	[CF_CMD_RESTORE] = "BAR_DMABUF_CONFORMANCE_RESTORE",
};

/* What a rule needs of the exporter besides a buffer (cf_begin()). */
enum cf_need {
	CF_NEED_REVOKE = 1 << 0,	/* a revoke and a restore */
	CF_NEED_TWO = 1 << 1,		/* two buffers at once */
	CF_NEED_RESET = 1 << 2,		/* a reset (fd: its command) */
	CF_NEED_CLOSE = 1 << 3,		/* a close (fd: its command) */
};

/* An fd variant's export command, which may hold its buffer until EOF. */
struct cf_held {
	pid_t pid;
	int pidfd;
	int hold;	/* its stdin: our close is its cue to go */
};

/* One buffer: its fd and where its ranges lie in the source. */
struct cf_buf {
	int fd;
	unsigned int nr;
	__u64 off[2];
	__u64 len[2];
};

/* A dma-buf source: one of the exporters, opened for one test. */
struct cf_src {
	enum cf_kind kind;
	char why[384];
	/* bar_dmabuf */
	struct bd_env e;
	bool env_open;
	/* vfio */
	const char *bdf;
	char old_driver[64];
	bool bound_here;
	struct bd_param_saved unsafe;
	int container, group, device;
	__u64 cfg_off, bar_off, bar_size;
	/* udmabuf */
	int udev, memfd;
	/* vgem */
	int drm;
	/* fd */
	const char *cmd[CF_NR_CMDS];
	const char *export_cmd;
	int fds[MAX_BUFS];
	unsigned int nr_fds, nr_used;
	struct cf_held held[MAX_BUFS];
	unsigned int nr_held;
};

struct cf_fixture_data {
	bool skipped;
	const char *exporter;
	char kernel[64];
	char absent[256];	/* set: every rule's verdict is "absent" */
	struct cf_src s;
	int impfd;
	int kfd;
	struct cf_buf b[MAX_BUFS];
};

/* ---- expectations and the table ---- */

static void cf_kernel_name(char *buf, size_t len)
{
	const char *k = bd_env("BAR_DMABUF_CONFORMANCE_KERNEL");

	if (!k)
		k = bd_env("RIG_KERNEL");
	if (k && (!strcmp(k, "7") || !strcmp(k, "7.2")))
		k = "sid";
	if (!k) {
		char rel[64];

		if (bd_read_file("/proc/sys/kernel/osrelease", rel,
				 sizeof(rel)) > 0) {
			rel[strcspn(rel, "\n")] = '\0';
			snprintf(buf, len, "%s", rel);
			return;
		}
		k = "unknown";
	}
	snprintf(buf, len, "%s", k);
}

/*
 * The expected verdict of @rule into @want: 1 found, 0 the file has no
 * such rule (nor "*"), -ENOENT no file.
 */
static int cf_expected(const char *exporter, const char *kernel,
		       const char *rule, char *want, size_t len, char *path,
		       size_t plen)
{
	const char *dir = bd_env("BAR_DMABUF_CONFORMANCE_EXPECT");
	char exe[PATH_MAX], line[256], r[64], v[64], star[64] = "";
	ssize_t n;
	FILE *f;

	if (!dir) {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -ENOENT;
		exe[n] = '\0';
		snprintf(path, plen, "%s/conformance/%s-%s.expect",
			 dirname(exe), exporter, kernel);
	} else {
		snprintf(path, plen, "%s/%s-%s.expect", dir, exporter, kernel);
	}
	f = fopen(path, "r");
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || sscanf(line, "%63s %63s", r, v) != 2)
			continue;
		if (!strcmp(r, rule)) {
			snprintf(want, len, "%s", v);
			fclose(f);
			return 1;
		}
		if (!strcmp(r, "*"))
			snprintf(star, sizeof(star), "%s", v);
	}
	fclose(f);
	if (!star[0])
		return 0;
	snprintf(want, len, "%s", star);
	return 1;
}

/* Print the row of @rule and hold @verdict to its expectation. */
static void cf_verdict(struct __test_metadata *_metadata,
		       struct cf_fixture_data *self, const char *rule,
		       const char *verdict, const char *detail)
{
	char want[64] = "", path[PATH_MAX];
	int ret;

	ret = cf_expected(self->exporter, self->kernel, rule, want,
			  sizeof(want), path, sizeof(path));
	ksft_print_msg("conformance | %-10s | %-6s | %-16s | %-14s | %s%s%s\n",
		       self->exporter, self->kernel, rule, verdict,
		       ret == 1 ? want : "-", detail && *detail ? " | " : "",
		       detail ? detail : "");
	EXPECT_STRNE("error", verdict) TH_LOG("%s", detail ? detail : "");
	if (ret == -ENOENT) {
		bool strict = bd_env("BAR_DMABUF_CONFORMANCE_STRICT");

		EXPECT_FALSE(strict) TH_LOG("no expectation file %s", path);
		return;
	}
	EXPECT_EQ(1, ret) TH_LOG("%s has no line for %s", path, rule);
	if (ret == 1)
		EXPECT_STREQ(want, verdict) TH_LOG("%s: %s", path, detail);
}

/* The errno name of -@ret, for a verdict ("EADDRINUSE"). */
static const char *cf_errname(int ret)
{
	const char *n = ret ? strerrorname_np(-ret) : "0";

	return n ? n : "E?";
}

/* ---- vfio ---- */

static int cf_vfio_region(struct cf_src *s, __u32 index, __u64 *off,
			  __u64 *size)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = index };

	if (ioctl(s->device, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	*off = ri.offset;
	if (size)
		*size = ri.size;
	return 0;
}

/* Bind @s->bdf to vfio-pci if it is not, remembering its old driver. */
static int cf_vfio_bind(struct cf_src *s)
{
	char path[160];
	static char *const modprobe[] = { "modprobe", "vfio-pci", NULL };
	static char *const type1[] = { "modprobe", "vfio_iommu_type1", NULL };
	int ret;

	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK))
		bd_run(modprobe);
	if (access("/sys/module/vfio_iommu_type1", F_OK))
		bd_run(type1);
	ret = bd_driver_of(s->bdf, s->old_driver, sizeof(s->old_driver));
	if (ret)
		return ret;
	if (!strcmp(s->old_driver, "vfio-pci"))
		return 0;
	if (access("/sys/bus/pci/drivers/vfio-pci", F_OK))
		return -ENOENT;
	if (s->old_driver[0]) {
		snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/driver/unbind",
			 s->bdf);
		ret = bd_write_file(path, s->bdf);
		if (ret)
			return ret;
	}
	s->bound_here = true;
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/driver_override",
		 s->bdf);
	ret = bd_write_file(path, "vfio-pci");
	if (ret)
		return ret;
	ret = bd_write_file("/sys/bus/pci/drivers_probe", s->bdf);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/vfio-pci/%s",
		 s->bdf);
	return bd_wait_path(path, true, 10000);
}

static void cf_vfio_unbind(struct cf_src *s)
{
	char path[160];

	if (!s->bound_here)
		return;
	bd_write_file("/sys/bus/pci/drivers/vfio-pci/unbind", s->bdf);
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/driver_override",
		 s->bdf);
	bd_write_file(path, "\n");
	if (s->old_driver[0])
		bd_write_file("/sys/bus/pci/drivers_probe", s->bdf);
	s->bound_here = false;
}

static int cf_vfio_open(struct cf_src *s, char *absent, size_t alen)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_device_feature probe = {
		.argsz = sizeof(probe),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_DMA_BUF,
	};
	char path[192], target[160];
	const char *g;
	ssize_t n;
	int ret;

	s->bdf = bd_env("BAR_DMABUF_VFIO_BDF");
	if (!s->bdf) {
		snprintf(s->why, sizeof(s->why), "BAR_DMABUF_VFIO_BDF not set");
		return 1;
	}
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s", s->bdf);
	if (access(path, F_OK)) {
		snprintf(s->why, sizeof(s->why), "no PCI device %s", s->bdf);
		return 1;
	}
	ret = cf_vfio_bind(s);
	if (ret == -ENOENT) {
		snprintf(absent, alen, "no vfio-pci driver");
		return 0;
	}
	if (ret) {
		snprintf(s->why, sizeof(s->why), "bind %s to vfio-pci: %s",
			 s->bdf, strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/iommu_group", s->bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(s->why, sizeof(s->why), "%s has no IOMMU group",
			 s->bdf);
		return 1;
	}
	target[n] = '\0';
	g = strrchr(target, '/');
	snprintf(path, sizeof(path), "/dev/vfio/%s", g ? g + 1 : target);
	bd_wait_path(path, true, 10000);
	s->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	s->group = open(path, O_RDWR | O_CLOEXEC);
	if (s->container < 0 || s->group < 0) {
		snprintf(s->why, sizeof(s->why), "open /dev/vfio/vfio or %s: %s",
			 path, strerror(errno));
		return -errno;
	}
	if (ioctl(s->group, VFIO_GROUP_GET_STATUS, &st) ||
	    !(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		snprintf(s->why, sizeof(s->why),
			 "IOMMU group of %s not viable (other devices in it?)",
			 s->bdf);
		return 1;
	}
	if (ioctl(s->group, VFIO_GROUP_SET_CONTAINER, &s->container)) {
		snprintf(s->why, sizeof(s->why), "VFIO_GROUP_SET_CONTAINER: %s",
			 strerror(errno));
		return -errno;
	}
	/*
	 * The rig's intel-iommu runs without interrupt remapping
	 * (intremap=off): type1 refuses VFIO_SET_IOMMU with EPERM unless
	 * allow_unsafe_interrupts is set. Set for the test, put back after.
	 */
	ret = bd_param_override(&s->unsafe, "vfio_iommu_type1",
				"allow_unsafe_interrupts", "1");
	if (ret) {
		snprintf(s->why, sizeof(s->why),
			 "vfio_iommu_type1 allow_unsafe_interrupts: %s",
			 strerror(-ret));
		return ret;
	}
	if (ioctl(s->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		snprintf(s->why, sizeof(s->why), "VFIO_SET_IOMMU(TYPE1v2): %s",
			 strerror(errno));
		return -errno;
	}
	s->device = ioctl(s->group, VFIO_GROUP_GET_DEVICE_FD, s->bdf);
	if (s->device < 0) {
		snprintf(s->why, sizeof(s->why), "VFIO_GROUP_GET_DEVICE_FD: %s",
			 strerror(errno));
		return -errno;
	}
	if (ioctl(s->device, VFIO_DEVICE_FEATURE, &probe)) {
		snprintf(absent, alen, "VFIO_DEVICE_FEATURE_DMA_BUF: %s",
			 cf_errname(-errno));
		return 0;
	}
	/* ivshmem's shared memory is BAR2; BAR_DMABUF_VFIO_BAR for others */
	g = bd_env("BAR_DMABUF_VFIO_BAR");
	ret = cf_vfio_region(s, g ? atoi(g) : 2, &s->bar_off, &s->bar_size);
	if (!ret)
		ret = cf_vfio_region(s, VFIO_PCI_CONFIG_REGION_INDEX,
				     &s->cfg_off, NULL);
	if (ret) {
		snprintf(s->why, sizeof(s->why), "VFIO region info: %s",
			 strerror(-ret));
		return ret;
	}
	if (s->bar_size < SRC_PAGES * BD_PAGE) {
		snprintf(s->why, sizeof(s->why), "BAR of %s smaller than %llu KiB",
			 s->bdf, SRC_PAGES * BD_PAGE / 1024);
		return 1;
	}
	return 0;
}

/* Set or clear memory decode through the VFIO config region. */
static int cf_vfio_decode(struct cf_src *s, bool on)
{
	__u16 cmd;

	if (pread(s->device, &cmd, 2, s->cfg_off + PCI_COMMAND) != 2)
		return -errno;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(s->device, &cmd, 2, s->cfg_off + PCI_COMMAND) != 2)
		return -errno;
	return 0;
}

static int cf_vfio_export(struct cf_src *s, struct cf_buf *b)
{
	char raw[sizeof(struct vfio_device_feature) +
		 sizeof(struct vfio_device_feature_dma_buf) +
		 2 * sizeof(struct vfio_region_dma_range)] = { 0 };
	struct vfio_device_feature *f = (void *)raw;
	struct vfio_device_feature_dma_buf *db = (void *)f->data;
	unsigned int i;
	int fd;

	f->argsz = sizeof(*f) + sizeof(*db) + b->nr * sizeof(db->dma_ranges[0]);
	f->flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	db->region_index = 2;
	if (bd_env("BAR_DMABUF_VFIO_BAR"))
		db->region_index = atoi(bd_env("BAR_DMABUF_VFIO_BAR"));
	db->open_flags = O_RDWR | O_CLOEXEC;
	db->nr_ranges = b->nr;
	for (i = 0; i < b->nr; i++) {
		db->dma_ranges[i].offset = b->off[i];
		db->dma_ranges[i].length = b->len[i];
	}
	fd = ioctl(s->device, VFIO_DEVICE_FEATURE, f);
	return fd < 0 ? -errno : fd;
}

/* ---- udmabuf and vgem ---- */

static int cf_udmabuf_open(struct cf_src *s, char *absent, size_t alen)
{
	s->udev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (s->udev < 0) {
		snprintf(absent, alen, "no /dev/udmabuf (CONFIG_UDMABUF)");
		return 0;
	}
	s->memfd = memfd_create("conformance", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (s->memfd < 0 || ftruncate(s->memfd, SRC_PAGES * BD_PAGE) ||
	    fcntl(s->memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		snprintf(s->why, sizeof(s->why), "memfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int cf_udmabuf_export(struct cf_src *s, struct cf_buf *b)
{
	struct {
		struct udmabuf_create_list l;
		struct udmabuf_create_item it[2];
	} req = { .l = { .flags = UDMABUF_FLAGS_CLOEXEC, .count = b->nr } };
	unsigned int i;
	int fd;

	for (i = 0; i < b->nr; i++) {
		req.it[i].memfd = s->memfd;
		req.it[i].offset = b->off[i];
		req.it[i].size = b->len[i];
	}
	fd = ioctl(s->udev, UDMABUF_CREATE_LIST, &req);
	return fd < 0 ? -errno : fd;
}

static int cf_vgem_open(struct cf_src *s, char *absent, size_t alen)
{
	static char *const modprobe[] = { "modprobe", "vgem", NULL };
	char path[32], name[16];
	struct cf_drm_version v;
	int i;

	if (access("/sys/module/vgem", F_OK))
		bd_run(modprobe);
	for (i = 0; i < 16; i++) {
		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		s->drm = open(path, O_RDWR | O_CLOEXEC);
		if (s->drm < 0)
			continue;
		memset(&v, 0, sizeof(v));
		memset(name, 0, sizeof(name));
		v.name = name;
		v.name_len = sizeof(name) - 1;
		if (!ioctl(s->drm, CF_DRM_IOCTL_VERSION, &v) &&
		    !strcmp(name, "vgem"))
			return 0;
		bd_close(&s->drm);
	}
	snprintf(absent, alen, "no vgem card (CONFIG_DRM_VGEM)");
	return 0;
}

static int cf_vgem_export(struct cf_src *s, struct cf_buf *b)
{
	struct cf_drm_create_dumb cd = {
		.height = 1, .width = b->len[0] / 4, .bpp = 32,
	};
	struct cf_drm_prime_handle ph = { .flags = O_CLOEXEC | O_RDWR };
	struct cf_drm_gem_close gc = { 0 };
	int ret = 0;

	if (ioctl(s->drm, CF_DRM_IOCTL_MODE_CREATE_DUMB, &cd))
		return -errno;
	ph.handle = cd.handle;
	if (ioctl(s->drm, CF_DRM_IOCTL_PRIME_HANDLE_TO_FD, &ph))
		ret = -errno;
	/* the dma-buf holds the object; the handle is not needed */
	gc.handle = cd.handle;
	ioctl(s->drm, CF_DRM_IOCTL_GEM_CLOSE, &gc);
	return ret ? ret : ph.fd;
}

/* ---- fd: any exporter, through the user's commands ---- */

static bool cf_is_dmabuf(int fd)
{
	struct statfs st;

	return !fstatfs(fd, &st) && st.f_type == DMA_BUF_FS_MAGIC;
}

/* Is "NAME=..." @entry named in @extra (NULL-terminated "NAME=value")? */
static bool cf_env_named(char *const extra[], const char *entry)
{
	size_t n;

	for (; *extra; extra++) {
		n = strcspn(*extra, "=") + 1;
		if (!strncmp(*extra, entry, n))
			return true;
	}
	return false;
}

/*
 * Start "/bin/sh -c @cmd" as the leader of its own process group (so a
 * deadline ends all of it), with @extra added to the environment, fd @in
 * (or -1: ours) as its stdin and @out (or -1: our stderr, as our stdout is
 * KTAP) as its stdout. The pid (its pidfd in *@pidfd) or -errno. No
 * allocation after the fork: a revoke thread may run it while the test's
 * thread is in malloc().
 */
static pid_t cf_spawn(const char *cmd, char *const extra[], int in, int out,
		      int *pidfd)
{
	unsigned int n = 0, i, e = 0;
	char **envp;
	pid_t pid;
	int err;

	while (environ[n])
		n++;
	while (extra[e])
		e++;
	envp = calloc(n + e + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	memcpy(envp, extra, e * sizeof(*envp));
	for (i = 0; i < n; i++)
		if (!cf_env_named(extra, environ[i]))
			envp[e++] = environ[i];
	pid = fork();
	if (!pid) {
		setpgid(0, 0);
		if (in >= 0)
			dup2(in, STDIN_FILENO);
		dup2(out >= 0 ? out : STDERR_FILENO, STDOUT_FILENO);
		execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, envp);
		_exit(127);
	}
	err = errno;
	free(envp);
	if (pid < 0)
		return -err;
	*pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (*pidfd < 0) {
		err = errno;
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -err;
	}
	return pid;
}

/*
 * Wait up to @ms for @pid to end: its exit status (128+N for signal N), or
 * -ETIME when the deadline passed and its process group was killed.
 */
static int cf_reap(pid_t pid, int *pidfd, int ms)
{
	int status, ended = bd_poll_in(*pidfd, ms);

	if (ended <= 0)
		kill(-pid, SIGKILL);
	bd_close(pidfd);
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (ended <= 0)
		return -ETIME;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
				   128 + WTERMSIG(status);
}

/*
 * Run the command of way @c (or the restore) to its end: 0; -ETIMEDOUT
 * when it gave up waiting (exit status 5, bar-dmabuf revoke's, or 124,
 * timeout(1)'s); -ETIME past CMD_MS; -EIO for any other status.
 */
static int cf_fd_run(struct cf_src *s, int c, __u32 timeout_ms)
{
	char tmo[64], *extra[] = { tmo, NULL };
	int pidfd, ret;
	pid_t pid;

	snprintf(tmo, sizeof(tmo), "BAR_DMABUF_CONFORMANCE_TIMEOUT_MS=%u",
		 timeout_ms);
	pid = cf_spawn(s->cmd[c], extra, -1, -1, &pidfd);
	if (pid < 0)
		return pid;
	ret = cf_reap(pid, &pidfd, CMD_MS);
	if (ret < 0)
		ksft_print_msg("%s (%s): killed after %d ms\n", cf_cmd_env[c],
			       s->cmd[c], CMD_MS);
	else if (ret)
		ksft_print_msg("%s (%s): exit status %d\n", cf_cmd_env[c],
			       s->cmd[c], ret);
	if (ret <= 0)
		return ret;
	return ret == 5 || ret == 124 ? -ETIMEDOUT : -EIO;
}

/*
 * Let go of the export commands: close their stdin, wait up to @ms for
 * each to end (its exit status does not matter). 0, or -ETIME when one
 * had to be killed.
 */
static int cf_fd_release(struct cf_src *s, int ms)
{
	struct cf_held *h;
	int ret = 0;

	while (s->nr_held) {
		h = &s->held[--s->nr_held];
		bd_close(&h->hold);
		if (cf_reap(h->pid, &h->pidfd, ms) == -ETIME)
			ret = -ETIME;
	}
	return ret;
}

/* The first line of @out, within EVENT_MS: 0, -ENODATA at EOF, -errno. */
static int cf_read_line(int out, char *line, size_t len)
{
	__u64 deadline = bd_now_ns() + (__u64)EVENT_MS * BD_NSEC_PER_MSEC;
	long long left;
	size_t n = 0;
	ssize_t r;
	int ret;

	line[0] = '\0';
	while (!strchr(line, '\n')) {
		if (n == len - 1)
			return -EPROTO;
		left = bd_ms_between(bd_now_ns(), deadline);
		ret = bd_poll_in(out, left > 0 ? left : 0);
		if (ret <= 0)
			return ret ? ret : -ETIMEDOUT;
		r = read(out, line + n, len - 1 - n);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (!r)
			return n ? -EPROTO : -ENODATA;
		n += r > 0 ? r : 0;
		line[n] = '\0';
	}
	return 0;
}

/*
 * The dma-buf an export command names on @out ("PID FD": fd FD of its
 * process PID), taken with pidfd_getfd(): the fd (close-on-exec), -ENODATA
 * (no line), -EPROTO (not "PID FD"), -ENOTTY (no dma-buf), or -errno.
 */
static int cf_fd_take(int out)
{
	int ret, pid, num, pidfd, fd;
	char line[64];

	ret = cf_read_line(out, line, sizeof(line));
	if (ret)
		return ret;
	if (sscanf(line, "%d %d", &pid, &num) != 2)
		return -EPROTO;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	fd = syscall(SYS_pidfd_getfd, pidfd, num, 0);
	ret = fd < 0 ? -errno : 0;
	close(pidfd);
	if (ret || cf_is_dmabuf(fd))
		return ret ? ret : fd;
	close(fd);
	return -ENOTTY;
}

/* The next inherited fd, for a buffer of one range. */
static int cf_fd_inherited(struct cf_src *s, struct cf_buf *b)
{
	int fd;

	if (b->nr > 1) {
		snprintf(s->why, sizeof(s->why),
			 "an inherited buffer has the ranges it has");
		return -EOPNOTSUPP;
	}
	if (s->nr_used == s->nr_fds)
		return -ENOSPC;
	fd = fcntl(s->fds[s->nr_used++], F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/*
 * Run the export command with the ranges of @b in
 * BAR_DMABUF_CONFORMANCE_RANGES ("OFF:LEN[,OFF:LEN]", bytes): it names a
 * dma-buf on its stdout (cf_fd_take()) and keeps it until its stdin's EOF.
 * The fd, -EOPNOTSUPP if it exits with EXIT_CANNOT, else -errno.
 */
static int cf_fd_export(struct cf_src *s, struct cf_buf *b)
{
	char ranges[128], end[32], *extra[] = { ranges, NULL };
	struct cf_held *h = &s->held[s->nr_held];
	int in[2], out[2], ret, st;
	unsigned int i;
	size_t n;

	if (!s->export_cmd)
		return cf_fd_inherited(s, b);
	if (s->nr_held == MAX_BUFS)
		return -ENOSPC;
	n = snprintf(ranges, sizeof(ranges), "BAR_DMABUF_CONFORMANCE_RANGES=");
	for (i = 0; i < b->nr; i++)
		n += snprintf(ranges + n, sizeof(ranges) - n, "%s0x%llx:0x%llx",
			      i ? "," : "", b->off[i], b->len[i]);
	if (pipe2(in, O_CLOEXEC))
		return -errno;
	if (pipe2(out, O_CLOEXEC)) {
		ret = -errno;
		close(in[0]);
		close(in[1]);
		return ret;
	}
	h->pid = cf_spawn(s->export_cmd, extra, in[0], out[1], &h->pidfd);
	close(in[0]);
	close(out[1]);
	h->hold = in[1];
	ret = h->pid < 0 ? h->pid : cf_fd_take(out[0]);
	close(out[0]);
	if (h->pid < 0)
		bd_close(&h->hold);
	if (h->pid < 0 || ret >= 0) {
		s->nr_held += ret >= 0;
		return ret;
	}
	/* no buffer: how the command ended says why */
	bd_close(&h->hold);
	/* a command still silent is killed; the others are ending */
	st = cf_reap(h->pid, &h->pidfd, ret == -ETIMEDOUT ? 0 : CMD_MS);
	if (st == EXIT_CANNOT) {
		snprintf(s->why, sizeof(s->why),
			 "the export command cannot make %s (exit %d)",
			 ranges + strcspn(ranges, "=") + 1, EXIT_CANNOT);
		return -EOPNOTSUPP;
	}
	snprintf(end, sizeof(end), st < 0 ? "killed" : "exit status %d", st);
	ksft_print_msg("export command (%s): no dma-buf for %s: %s, %s\n",
		       s->export_cmd, ranges, ret == -ENOTTY ?
		       "the fd named is no dma-buf" : strerror(-ret), end);
	return ret == -ENODATA ? -EPROTO : ret;
}

/*
 * The fd variant's environment: BAR_DMABUF_CONFORMANCE_EXPORT (a buffer a
 * call) or BAR_DMABUF_CONFORMANCE_FDS (inherited fd numbers, "3 5"; else
 * $BAR_DMABUF_FD), and the commands of cf_cmd_env[], each optional.
 */
static int cf_fd_open(struct cf_src *s)
{
	const char *list = bd_env("BAR_DMABUF_CONFORMANCE_FDS");
	char *end;
	long v;
	int c;

	for (c = 0; c < CF_NR_CMDS; c++)
		s->cmd[c] = bd_env(cf_cmd_env[c]);
	s->export_cmd = bd_env("BAR_DMABUF_CONFORMANCE_EXPORT");
	if (s->export_cmd)
		return 0;
	if (!list)
		list = bd_env("BAR_DMABUF_FD");
	if (!list) {
		snprintf(s->why, sizeof(s->why),
			 "no BAR_DMABUF_CONFORMANCE_EXPORT, BAR_DMABUF_CONFORMANCE_FDS or BAR_DMABUF_FD");
		return 1;
	}
	for (list += strspn(list, " ,"); *list; list = end + strspn(end, " ,")) {
		v = strtol(list, &end, 10);
		if (end == list || v < 0 || v > INT_MAX ||
		    s->nr_fds == MAX_BUFS || !cf_is_dmabuf(v)) {
			snprintf(s->why, sizeof(s->why),
				 "BAR_DMABUF_CONFORMANCE_FDS: '%.32s' is not one of up to %d inherited dma-buf fds",
				 list, MAX_BUFS);
			return -EINVAL;
		}
		s->fds[s->nr_fds++] = v;
	}
	return 0;
}

/* ---- the source, whatever it is ---- */

static bool cf_revocable(const struct cf_src *s)
{
	if (s->kind == CF_FD)
		return s->cmd[CF_WAY_REVOKE] && s->cmd[CF_CMD_RESTORE];
	return s->kind == CF_BAR_DMABUF || s->kind == CF_VFIO;
}

/* Why @s cannot give what a rule @needs (enum cf_need), or NULL. */
static const char *cf_lacks(const struct cf_src *s, unsigned int needs)
{
	if ((needs & CF_NEED_REVOKE) && !cf_revocable(s))
		return s->kind == CF_FD ?
		       "no BAR_DMABUF_CONFORMANCE_REVOKE and _RESTORE" :
		       "no revoke";
	if (s->kind != CF_FD)
		return NULL;
	if ((needs & CF_NEED_TWO) && !s->export_cmd && s->nr_fds < 2)
		return "two buffers: no BAR_DMABUF_CONFORMANCE_EXPORT, one fd";
	if ((needs & CF_NEED_RESET) && !s->cmd[CF_WAY_RESET])
		return "no BAR_DMABUF_CONFORMANCE_RESET";
	/* the rules after it need buffers a close left alone */
	if ((needs & CF_NEED_CLOSE) && (!s->cmd[CF_WAY_CLOSE] || !s->export_cmd))
		return "no BAR_DMABUF_CONFORMANCE_CLOSE and _EXPORT";
	return NULL;
}

/* Nothing open yet: cf_src_close() may run on it. */
static void cf_src_init(struct cf_src *s, enum cf_kind kind)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->container = -1;
	s->group = -1;
	s->device = -1;
	s->udev = -1;
	s->memfd = -1;
	s->drm = -1;
}

static int cf_src_open(struct cf_src *s, char *absent, size_t alen)
{
	int ret;

	switch (s->kind) {
	case CF_BAR_DMABUF:
		ret = bd_env_open(&s->e, false, SRC_PAGES * BD_PAGE);
		s->env_open = true;
		if (ret)
			snprintf(s->why, sizeof(s->why), "%s", s->e.why);
		return ret;
	case CF_VFIO:
		return cf_vfio_open(s, absent, alen);
	case CF_UDMABUF:
		return cf_udmabuf_open(s, absent, alen);
	case CF_VGEM:
		return cf_vgem_open(s, absent, alen);
	case CF_FD:
		return cf_fd_open(s);
	}
	return -EINVAL;
}

static void cf_src_close(struct cf_src *s)
{
	if (s->env_open)
		bd_env_close(&s->e);
	bd_close(&s->device);
	bd_close(&s->group);
	bd_close(&s->container);
	bd_param_restore(&s->unsafe);
	if (s->kind == CF_VFIO)
		cf_vfio_unbind(s);
	bd_close(&s->udev);
	bd_close(&s->memfd);
	bd_close(&s->drm);
	if (cf_fd_release(s, RETURN_MS))
		ksft_print_msg("an export command did not end cleanly\n");
}

/*
 * Export buffer @b: @nr ranges of @pages pages from page @first on, one
 * page apart so no exporter can merge them. 0 or -errno.
 */
static int cf_export(struct cf_src *s, struct cf_buf *b, unsigned int first,
		     unsigned int pages, unsigned int nr)
{
	struct bar_dmabuf_range r[2];
	unsigned int i;
	int ret;

	b->nr = nr;
	for (i = 0; i < nr; i++) {
		b->off[i] = (first + i * (pages + 1)) * BD_PAGE;
		b->len[i] = pages * BD_PAGE;
		r[i].offset = b->off[i];
		r[i].length = b->len[i];
	}
	switch (s->kind) {
	case CF_BAR_DMABUF:
		ret = bd_export(s->e.devfd, s->e.bar, r, nr,
				O_RDWR | O_CLOEXEC, &b->fd, NULL);
		return ret;
	case CF_VFIO:
		ret = cf_vfio_export(s, b);
		break;
	case CF_UDMABUF:
		ret = cf_udmabuf_export(s, b);
		break;
	case CF_VGEM:
		if (nr != 1)
			return -EOPNOTSUPP;
		ret = cf_vgem_export(s, b);
		break;
	case CF_FD:
		ret = cf_fd_export(s, b);
		break;
	default:
		return -EINVAL;
	}
	if (ret < 0)
		return ret;
	b->fd = ret;
	return 0;
}

/* Write @len bytes at byte @off of buffer @b with the CPU. */
static int cf_cpu_write(struct cf_src *s, struct cf_buf *b, __u64 off,
			const void *data, size_t len)
{
	__u64 total = b->len[0] * b->nr;
	unsigned int i = 0;
	void *p;

	if (s->kind == CF_VFIO) {
		/* VFIO's dma-buf has no mmap: write the BAR region */
		while (off >= b->len[i])
			off -= b->len[i++];
		if (pwrite(s->device, data, len, s->bar_off + b->off[i] + off) !=
		    (ssize_t)len)
			return -errno;
		return 0;
	}
	p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	memcpy((char *)p + off, data, len);
	munmap(p, total);
	return 0;
}

/*
 * Revoke every buffer of the source, or take way @w out: blocks until the
 * exporter is done. @timeout_ms is asked of exporters that take one.
 */
static int cf_src_revoke(struct cf_src *s, enum cf_way w, __u32 timeout_ms)
{
	switch (s->kind) {
	case CF_BAR_DMABUF:
		if (w == CF_WAY_RESET)
			return bd_way_out(BD_WAY_RESET, s->e.bdf);
		if (w == CF_WAY_CLOSE) {
			bd_close(&s->e.devfd);
			return 0;
		}
		return bd_revoke(s->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS,
				 timeout_ms, NULL);
	case CF_VFIO:
		if (w == CF_WAY_RESET)
			return ioctl(s->device, VFIO_DEVICE_RESET) ? -errno : 0;
		if (w == CF_WAY_CLOSE) {
			bd_close(&s->device);
			return 0;
		}
		return cf_vfio_decode(s, false);
	case CF_FD:
		/* in command mode, the export commands' end closes too */
		if (w == CF_WAY_CLOSE && cf_fd_release(s, CMD_MS))
			return -EIO;
		return cf_fd_run(s, w, timeout_ms);
	default:
		return -EOPNOTSUPP;
	}
}

static int cf_src_restore(struct cf_src *s)
{
	if (s->kind == CF_FD)
		return cf_fd_run(s, CF_CMD_RESTORE, 0);
	if (s->kind == CF_VFIO)
		return cf_vfio_decode(s, true);
	return bd_restore(s->e.devfd, -1, BAR_DMABUF_ALL_BUFFERS, NULL);
}

/* A revoke (or way out) in a thread, so the test can watch it block. */
struct cf_async {
	struct bd_async a;
	struct cf_src *s;
	enum cf_way w;
	__u32 timeout_ms;
};

static int cf_async_fn(void *arg)
{
	struct cf_async *ca = arg;

	return cf_src_revoke(ca->s, ca->w, ca->timeout_ms);
}

static int cf_async_start(struct cf_async *ca, struct cf_src *s,
			  enum cf_way w, __u32 timeout_ms)
{
	ca->s = s;
	ca->w = w;
	ca->timeout_ms = timeout_ms;
	return bd_async_start(&ca->a, cf_async_fn, ca);
}

/* ---- importer steps ---- */

/* Attach (flags 0: revocable, P2P), set the behaviour, map if asked. */
static int cf_attach(struct cf_fixture_data *self, struct cf_buf *b,
		     __u32 mode, __u32 window_ms, bool map, __u32 *h)
{
	int ret = imp_attach(self->impfd, b->fd, 0, h);

	if (!ret)
		ret = imp_set_behaviour(self->impfd, *h, mode, 0, window_ms,
					window_ms ? 20 : 1);
	if (!ret && map)
		ret = imp_map(self->impfd, *h, NULL);
	return ret;
}

/*
 * Write a pattern with the CPU at @off of @b and read it back through the
 * importer's attachment @h: 0, -EBADMSG if the bytes differ, or the
 * failing step's -errno (a job's status included).
 */
static int cf_check_data(struct cf_fixture_data *self, struct cf_buf *b,
			 __u32 h, __u64 off, unsigned int seed)
{
	unsigned char want[64], got[64];
	int ret, status = 0;
	unsigned int i;
	__u64 job;

	for (i = 0; i < sizeof(want); i++)
		want[i] = (unsigned char)(seed * 31 + i * 7 + (off >> 12));
	ret = cf_cpu_write(&self->s, b, off, want, sizeof(want));
	if (ret)
		return ret;
	ret = imp_submit(self->impfd, h, 0, BAR_DMABUF_IMP_USAGE_READ, off,
			 sizeof(got), NULL, 0, &job, NULL);
	if (ret)
		return ret;
	ret = imp_wait_job(self->impfd, job, EVENT_MS, got, sizeof(got),
			   &status, NULL);
	if (ret)
		return ret;
	if (status)
		return status;
	return memcmp(want, got, sizeof(want)) ? -EBADMSG : 0;
}

/* Faults and late reads of @h: "pass" or what broke. */
static const char *cf_late_reads(struct cf_fixture_data *self, __u32 h,
				 char *why, size_t len)
{
	static char v[64];
	struct imp_log log;
	unsigned int i, reads = 0;
	const char *ret = "pass";

	if (imp_read_log(self->impfd, h, &log)) {
		snprintf(why, len, "read log failed");
		return "error";
	}
	for (i = 0; i < log.nr; i++) {
		if (log.ev[i].type == BAR_DMABUF_IMP_EV_DMA_FAULT) {
			snprintf(why, len, "DMA fault at 0x%llx",
				 (unsigned long long)log.ev[i].arg);
			ret = "dma-fault";
			break;
		}
		if (log.ev[i].type != BAR_DMABUF_IMP_EV_LATE_READ)
			continue;
		reads++;
		if (log.ev[i].result) {
			snprintf(v, sizeof(v), "late-read-%s",
				 cf_errname(log.ev[i].result));
			snprintf(why, len, "late read %u: %s", reads,
				 strerror(-log.ev[i].result));
			ret = v;
			break;
		}
	}
	if (!strcmp(ret, "pass") && !reads) {
		snprintf(why, len, "no late read was issued");
		ret = "error";
	}
	if (strcmp(ret, "pass"))
		imp_log_dump(&log);
	imp_log_free(&log);
	return ret;
}

/* ---- fixture ---- */

FIXTURE(cf)
{
	struct cf_fixture_data d;
};

FIXTURE_VARIANT(cf)
{
	enum cf_kind kind;
	const char *name;
};

FIXTURE_VARIANT_ADD(cf, bar_dmabuf) {
	.kind = CF_BAR_DMABUF, .name = "bar_dmabuf",
};

FIXTURE_VARIANT_ADD(cf, vfio) {
	.kind = CF_VFIO, .name = "vfio",
};

FIXTURE_VARIANT_ADD(cf, udmabuf) {
	.kind = CF_UDMABUF, .name = "udmabuf",
};

FIXTURE_VARIANT_ADD(cf, vgem) {
	.kind = CF_VGEM, .name = "vgem",
};

FIXTURE_VARIANT_ADD(cf, fd) {
	.kind = CF_FD, .name = "fd",
};

/* Is @name among BAR_DMABUF_CONFORMANCE_EXPORTERS (all when unset)? */
static bool cf_selected(const char *name)
{
	const char *list = bd_env("BAR_DMABUF_CONFORMANCE_EXPORTERS");
	size_t n = strlen(name);
	const char *p;

	if (!list)
		return true;
	for (p = strstr(list, name); p; p = strstr(p + 1, name))
		if ((p == list || p[-1] == ' ' || p[-1] == ',') &&
		    (!p[n] || p[n] == ' ' || p[n] == ','))
			return true;
	return false;
}

FIXTURE_SETUP(cf)
{
	struct cf_fixture_data *d = &self->d;
	const char *why;
	int ret, i;

	memset(d, 0, sizeof(*d));
	d->impfd = -1;
	d->kfd = -1;
	for (i = 0; i < MAX_BUFS; i++)
		d->b[i].fd = -1;
	d->exporter = variant->name;
	if (variant->kind == CF_FD && bd_env("BAR_DMABUF_CONFORMANCE_NAME"))
		d->exporter = bd_env("BAR_DMABUF_CONFORMANCE_NAME");
	cf_src_init(&d->s, variant->kind);
	cf_kernel_name(d->kernel, sizeof(d->kernel));
	if (!cf_selected(variant->name)) {
		d->skipped = true;
		SKIP(return, "not in BAR_DMABUF_CONFORMANCE_EXPORTERS");
	}
	/* ours needs BAR_DMABUF_BDF; every exporter needs the importer */
	if (variant->kind == CF_BAR_DMABUF)
		why = bd_precondition(true);
	else
		why = access(BD_IMP_NODE, F_OK) ?
		      "no " BD_IMP_NODE " (modprobe bar_dmabuf_importer)" : NULL;
	if (why) {
		d->skipped = true;
		SKIP(return, "%s", why);
	}
	d->impfd = imp_open();
	ASSERT_LE(0, d->impfd)
		TH_LOG("open %s: %s", BD_IMP_NODE, strerror(-d->impfd));
	d->kfd = bd_kmsg_open();
	ret = cf_src_open(&d->s, d->absent, sizeof(d->absent));
	if (ret > 0) {
		d->skipped = true;
		SKIP(return, "%s", d->s.why);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", d->s.why);
}

FIXTURE_TEARDOWN(cf)
{
	struct cf_fixture_data *d = &self->d;
	int i;

	/* the importer first: its close unmaps and detaches */
	bd_close(&d->impfd);
	for (i = 0; i < MAX_BUFS; i++)
		bd_close(&d->b[i].fd);
	cf_src_close(&d->s);
	bd_fixture_check_kmsg(_metadata, d->kfd);
	bd_close(&d->kfd);
}

/*
 * Every test starts so: false when it has nothing more to do (skipped, or
 * its verdict is "absent", or "n/a" when the exporter cannot give what the
 * rule @needs, enum cf_need).
 */
static bool cf_begin(struct __test_metadata *_metadata,
		     struct cf_fixture_data *d, const char *rule,
		     unsigned int needs)
{
	const char *why;

	if (d->skipped)
		return false;
	if (d->absent[0]) {
		cf_verdict(_metadata, d, rule, "absent", d->absent);
		return false;
	}
	why = cf_lacks(&d->s, needs);
	if (why) {
		cf_verdict(_metadata, d, rule, "n/a", why);
		return false;
	}
	return true;
}

/* ---- the rules ---- */

/* An attach of kind @flags: "refused" (EOPNOTSUPP), "accepted", or errno. */
static void cf_attach_rule(struct __test_metadata *_metadata,
			   struct cf_fixture_data *d, const char *rule,
			   __u32 flags)
{
	const char *v = "accepted";
	__u32 h = 0;
	int ret;

	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ret = imp_attach(d->impfd, d->b[0].fd, flags, &h);
	if (ret == -EOPNOTSUPP)
		v = "refused";
	else if (ret)
		v = cf_errname(ret);
	else
		EXPECT_EQ(0, imp_detach(d->impfd, h));
	cf_verdict(_metadata, d, rule, v, "");
}

/* Rule: an importer that cannot take an invalidate is refused. */
TEST_F(cf, attach_pinned)
{
	if (!cf_begin(_metadata, &self->d, "attach_pinned", 0))
		return;
	cf_attach_rule(_metadata, &self->d, "attach_pinned",
		       BAR_DMABUF_IMP_ATTACH_PINNED);
}

/* Rule: an importer without allow_peer2peer is refused (a BAR is no RAM). */
TEST_F(cf, attach_no_p2p)
{
	if (!cf_begin(_metadata, &self->d, "attach_no_p2p", 0))
		return;
	cf_attach_rule(_metadata, &self->d, "attach_no_p2p",
		       BAR_DMABUF_IMP_ATTACH_NO_P2P);
}

/* What the CPU wrote, the importer reads through its mapping. */
static void cf_map_rule(struct __test_metadata *_metadata,
			struct cf_fixture_data *d, const char *rule,
			unsigned int nr)
{
	const char *v = "pass";
	char why[128] = "";
	__u32 h = 0;
	int ret;

	ret = cf_export(&d->s, &d->b[0], 2, 2, nr);
	if (ret == -EOPNOTSUPP && nr > 1) {
		cf_verdict(_metadata, d, rule, "n/a", d->s.why[0] ? d->s.why :
			   "one object is one buffer");
		return;
	}
	ASSERT_EQ(0, ret) TH_LOG("export: %s", strerror(-ret));
	ret = cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_WORKER, 0, true, &h);
	if (!ret)
		ret = cf_check_data(d, &d->b[0], h, 16, 1);
	/* the last page of the last range */
	if (!ret)
		ret = cf_check_data(d, &d->b[0], h, (nr * 2 - 1) * BD_PAGE + 64,
				    2);
	if (ret == -EBADMSG)
		v = "wrong-data";
	else if (ret)
		v = cf_errname(ret);
	if (ret)
		snprintf(why, sizeof(why), "%s", strerror(-ret));
	cf_verdict(_metadata, d, rule, v, why);
}

TEST_F(cf, map_one_range)
{
	if (!cf_begin(_metadata, &self->d, "map_one_range", 0))
		return;
	cf_map_rule(_metadata, &self->d, "map_one_range", 1);
}

/* Linux 7.2's dma_buf_phys_vec_to_sgt() links every range at offset 0. */
TEST_F(cf, map_two_ranges)
{
	if (!cf_begin(_metadata, &self->d, "map_two_ranges", 0))
		return;
	cf_map_rule(_metadata, &self->d, "map_two_ranges", 2);
}

/*
 * Rule 1: marked before anyone is told. While a revoke waits for an
 * importer that holds its mapping, after that importer got its
 * invalidate, a map by another attachment and a new attach both fail
 * with ENODEV.
 */
TEST_F_TIMEOUT(cf, mark_first, 60)
{
	struct cf_fixture_data *d = &self->d;
	int map_ret, attach_ret;
	char why[128] = "";
	const char *v = "pass";
	__u32 a = 0, b = 0, c = 0;
	struct cf_async ca;

	if (!cf_begin(_metadata, &self->d, "mark_first", CF_NEED_REVOKE))
		return;
	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0,
			       true, &a));
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_WORKER, 0,
			       false, &b));
	ASSERT_EQ(0, cf_async_start(&ca, &d->s, CF_WAY_REVOKE, RETURN_MS));
	ASSERT_EQ(0, imp_wait_event(d->impfd, a, BAR_DMABUF_IMP_EV_INVALIDATE,
				    1, EVENT_MS, NULL));
	map_ret = imp_map(d->impfd, b, NULL);
	attach_ret = imp_attach(d->impfd, d->b[0].fd, 0, &c);
	if (bd_async_wait(&ca.a, 0)) {
		v = "not-waited";
		snprintf(why, sizeof(why), "the revoke returned %d at once",
			 ca.a.ret);
	} else if (map_ret != -ENODEV || attach_ret != -ENODEV) {
		v = map_ret != -ENODEV ? "map-not-refused" :
					 "attach-not-refused";
		snprintf(why, sizeof(why), "map %s, attach %s",
			 cf_errname(map_ret),
			 cf_errname(attach_ret));
	}
	cf_verdict(_metadata, d, "mark_first", v, why);
	/* a mapping made after the mark was never told: hand it back too */
	if (!map_ret)
		EXPECT_EQ(0, imp_unmap(d->impfd, b));
	EXPECT_EQ(0, imp_unmap(d->impfd, a));
	ASSERT_TRUE(bd_async_wait(&ca.a, RETURN_MS));
	bd_async_join(&ca.a);
	EXPECT_EQ(0, ca.a.ret);
	EXPECT_EQ(0, cf_src_restore(&d->s));
}

/* Rule 3: every attachment is told, mapped or not. */
TEST_F_TIMEOUT(cf, notify_all, 60)
{
	struct cf_fixture_data *d = &self->d;
	char why[128] = "";
	unsigned int i, missed = 0;
	struct imp_log log;
	__u32 h[3] = { 0 };

	if (!cf_begin(_metadata, &self->d, "notify_all", CF_NEED_REVOKE))
		return;
	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_WORKER,
				       0, i < 2, &h[i]));
	ASSERT_EQ(0, cf_src_revoke(&d->s, CF_WAY_REVOKE, RETURN_MS));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, imp_read_log(d->impfd, h[i], &log));
		if (!imp_log_count(&log, BAR_DMABUF_IMP_EV_INVALIDATE)) {
			missed++;
			snprintf(why, sizeof(why), "attachment %u (%smapped)",
				 i, i < 2 ? "" : "not ");
		}
		imp_log_free(&log);
	}
	cf_verdict(_metadata, d, "notify_all", missed ? "missed" : "pass", why);
	EXPECT_EQ(0, cf_src_restore(&d->s));
}

/*
 * Rule 4: the revoke waits for the fences of every usage, and for a fence
 * userspace put in with DMA_BUF_IOCTL_IMPORT_SYNC_FILE (a held job of an
 * attachment of another buffer). Each is signalled in turn, the revoke
 * still blocked before each; it returns after the last.
 */
TEST_F_TIMEOUT(cf, wait_fences, 90)
{
	static const char *const names[] = { "write", "read", "bookkeep",
					     "sync_file" };
	static const __u32 usage[] = { BAR_DMABUF_IMP_USAGE_WRITE,
				       BAR_DMABUF_IMP_USAGE_READ,
				       BAR_DMABUF_IMP_USAGE_BOOKKEEP };
	struct cf_fixture_data *d = &self->d;
	struct dma_buf_import_sync_file isf = { .flags = DMA_BUF_SYNC_WRITE };
	char why[128] = "", v[64] = "pass";
	__u64 job[4] = { 0 }, sig_ns = 0;
	int status, sync_fd = -1;
	struct cf_async ca;
	__u32 a = 0, o = 0;
	unsigned int i;

	if (!cf_begin(_metadata, &self->d, "wait_fences",
		      CF_NEED_REVOKE | CF_NEED_TWO))
		return;
	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ASSERT_EQ(0, cf_export(&d->s, &d->b[1], 4, 1, 1));
	/* unmaps at once: only the fences can hold the revoke */
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_SYNC, 0, true,
			       &a));
	ASSERT_EQ(0, cf_attach(d, &d->b[1], BAR_DMABUF_IMP_UNMAP_SYNC, 0, true,
			       &o));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, imp_submit(d->impfd, a, BAR_DMABUF_IMP_JOB_HOLD,
					usage[i], 0, 64, NULL, 0, &job[i],
					NULL));
	ASSERT_EQ(0, imp_submit(d->impfd, o, BAR_DMABUF_IMP_JOB_HOLD |
				BAR_DMABUF_IMP_JOB_SYNC_FILE,
				BAR_DMABUF_IMP_USAGE_WRITE, 0, 64, NULL, 0,
				&job[3], &sync_fd));
	isf.fd = sync_fd;
	ASSERT_EQ(0, ioctl(d->b[0].fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &isf))
		TH_LOG("IMPORT_SYNC_FILE: %s", strerror(errno));
	bd_close(&sync_fd);
	ASSERT_EQ(0, imp_wait_event(d->impfd, a, BAR_DMABUF_IMP_EV_JOB_START,
				    1, EVENT_MS, NULL));

	ASSERT_EQ(0, cf_async_start(&ca, &d->s, CF_WAY_REVOKE, RETURN_MS));
	EXPECT_EQ(0, imp_wait_event(d->impfd, a, BAR_DMABUF_IMP_EV_INVALIDATE,
				    1, EVENT_MS, NULL));
	for (i = 0; i < 4; i++) {
		if (!strcmp(v, "pass") && bd_async_wait(&ca.a, BLOCKED_MS)) {
			snprintf(v, sizeof(v), "not-waited-%s", names[i]);
			snprintf(why, sizeof(why),
				 "the revoke returned %d with the %s fence unsignalled",
				 ca.a.ret, names[i]);
		}
		ASSERT_EQ(0, imp_signal(d->impfd, job[i]));
	}
	ASSERT_TRUE(bd_async_wait(&ca.a, RETURN_MS));
	bd_async_join(&ca.a);
	EXPECT_EQ(0, ca.a.ret);
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, imp_wait_job(d->impfd, job[i], EVENT_MS, NULL, 0,
					  &status, i == 3 ? &sig_ns : NULL));
		/* done, or refused on the revoked mapping; never a fault */
		EXPECT_TRUE(status == 0 || status == -ENODEV)
			TH_LOG("job %u: %s", i, strerror(-status));
	}
	if (!strcmp(v, "pass") && ca.a.end_ns < sig_ns) {
		snprintf(v, sizeof(v), "not-waited-sync_file");
		snprintf(why, sizeof(why),
			 "returned %lld ms before the imported fence signalled",
			 bd_ms_between(ca.a.end_ns, sig_ns));
	}
	cf_verdict(_metadata, d, "wait_fences", v, why);
	EXPECT_EQ(0, cf_src_restore(&d->s));
}

/*
 * Rules 5 and 6 through way @w: the importer reads the old mapping for
 * WINDOW_MS after its invalidate, then unmaps; the way returns only after
 * that unmap, and every late read saw the bytes of the first (the BAR
 * still decoded, the IOVA still mapped).
 */
static void cf_unmap_rule(struct __test_metadata *_metadata,
			  struct cf_fixture_data *d, const char *rule,
			  enum cf_way w)
{
	struct bar_dmabuf_imp_counters c0, c1;
	char why[160] = "";
	const char *v;
	struct cf_async ca;
	struct imp_log log;
	__u64 unmap_ns;
	__u32 h = 0;

	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_WORKER,
			       WINDOW_MS, true, &h));
	ASSERT_EQ(0, cf_check_data(d, &d->b[0], h, 0, 3));
	ASSERT_EQ(0, imp_counters(d->impfd, &c0));
	ASSERT_EQ(0, cf_async_start(&ca, &d->s, w, RETURN_MS));
	ASSERT_TRUE(bd_async_wait(&ca.a, RETURN_MS));
	bd_async_join(&ca.a);
	EXPECT_EQ(0, ca.a.ret) TH_LOG("%s", strerror(-ca.a.ret));
	ASSERT_EQ(0, imp_wait_event(d->impfd, h, BAR_DMABUF_IMP_EV_UNMAP, 1,
				    EVENT_MS, &unmap_ns));
	ASSERT_EQ(0, imp_counters(d->impfd, &c1));
	v = cf_late_reads(d, h, why, sizeof(why));
	if (!strcmp(v, "pass") && c1.out_dma_faults != c0.out_dma_faults)
		v = "dma-fault";
	if (!strcmp(v, "pass") &&
	    ca.a.end_ns + BD_UNMAP_STAMP_SLACK_NS < unmap_ns) {
		v = "early";
		snprintf(why, sizeof(why), "returned %lld ms before the unmap",
			 bd_ms_between(ca.a.end_ns, unmap_ns));
	}
	ASSERT_EQ(0, imp_read_log(d->impfd, h, &log));
	if (!imp_log_count(&log, BAR_DMABUF_IMP_EV_INVALIDATE)) {
		v = "not-notified";
		imp_log_dump(&log);
	}
	imp_log_free(&log);
	cf_verdict(_metadata, d, rule, v, why);
}

TEST_F_TIMEOUT(cf, wait_unmap, 60)
{
	if (!cf_begin(_metadata, &self->d, "wait_unmap", CF_NEED_REVOKE))
		return;
	cf_unmap_rule(_metadata, &self->d, "wait_unmap", CF_WAY_REVOKE);
	EXPECT_EQ(0, cf_src_restore(&self->d.s));
}

/*
 * Rule 7: two buffers, each with an importer reading late for WINDOW_MS.
 * Batched: both are told before either unmaps. Serial: the second is told
 * only after the first unmapped.
 */
TEST_F_TIMEOUT(cf, batch, 60)
{
	struct cf_fixture_data *d = &self->d;
	__u64 inv[2], unmap[2];
	char why[160];
	const char *v;
	unsigned int i;
	__u32 h[2];

	if (!cf_begin(_metadata, &self->d, "batch", CF_NEED_REVOKE |
		      CF_NEED_TWO))
		return;
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, cf_export(&d->s, &d->b[i], i * 4, 1, 1));
		ASSERT_EQ(0, cf_attach(d, &d->b[i], BAR_DMABUF_IMP_UNMAP_WORKER,
				       WINDOW_MS, true, &h[i]));
	}
	ASSERT_EQ(0, cf_src_revoke(&d->s, CF_WAY_REVOKE, RETURN_MS));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, imp_wait_event(d->impfd, h[i],
					    BAR_DMABUF_IMP_EV_INVALIDATE, 1,
					    EVENT_MS, &inv[i]));
		ASSERT_EQ(0, imp_wait_event(d->impfd, h[i],
					    BAR_DMABUF_IMP_EV_UNMAP, 1,
					    EVENT_MS, &unmap[i]));
	}
	/* whichever went first, the other was told before it unmapped */
	i = inv[0] <= inv[1] ? 0 : 1;
	v = inv[1 - i] < unmap[i] ? "batched" : "serial";
	snprintf(why, sizeof(why),
		 "second told %lld ms after the first, %lld ms after its unmap",
		 bd_ms_between(inv[i], inv[1 - i]),
		 bd_ms_between(unmap[i], inv[1 - i]));
	cf_verdict(_metadata, d, "batch", v, why);
	EXPECT_EQ(0, cf_src_restore(&d->s));
}

/*
 * Rule 8: an importer that never unmaps on its own. A bounded exporter
 * gives up after the BOUND_MS asked (ETIMEDOUT); an unbounded one is still
 * waiting after UNBOUNDED_MS. The unmap then lets the revoke finish.
 */
TEST_F_TIMEOUT(cf, bounded, 60)
{
	struct cf_fixture_data *d = &self->d;
	char why[128] = "";
	const char *v;
	struct cf_async ca;
	__u32 h = 0;

	if (!cf_begin(_metadata, &self->d, "bounded", CF_NEED_REVOKE))
		return;
	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0,
			       true, &h));
	ASSERT_EQ(0, cf_async_start(&ca, &d->s, CF_WAY_REVOKE, BOUND_MS));
	if (!bd_async_wait(&ca.a, UNBOUNDED_MS)) {
		v = "unbounded";
		snprintf(why, sizeof(why), "still waiting after %d ms",
			 UNBOUNDED_MS);
		EXPECT_EQ(0, imp_unmap(d->impfd, h));
		ASSERT_TRUE(bd_async_wait(&ca.a, RETURN_MS));
		bd_async_join(&ca.a);
		EXPECT_EQ(0, ca.a.ret);
	} else {
		bd_async_join(&ca.a);
		v = ca.a.ret == -ETIMEDOUT ? "bounded" :
		    ca.a.ret ? cf_errname(ca.a.ret) : "not-waited";
		snprintf(why, sizeof(why), "returned %s after %lld ms",
			 ca.a.ret ? cf_errname(ca.a.ret) : "0",
			 bd_ms_between(ca.a.start_ns, ca.a.end_ns));
		EXPECT_EQ(0, imp_unmap(d->impfd, h));
		/* asking again resumes the wait, which now ends */
		EXPECT_EQ(0, cf_src_revoke(&d->s, CF_WAY_REVOKE, RETURN_MS));
	}
	cf_verdict(_metadata, d, "bounded", v, why);
	EXPECT_EQ(0, cf_src_restore(&d->s));
}

/* Rule 9: after a restore the importer maps again and reads the BAR. */
TEST_F_TIMEOUT(cf, restore, 60)
{
	struct cf_fixture_data *d = &self->d;
	const char *v = "pass";
	char why[128] = "";
	__u32 h = 0;
	int ret;

	if (!cf_begin(_metadata, &self->d, "restore", CF_NEED_REVOKE))
		return;
	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_WORKER, 0,
			       true, &h));
	ASSERT_EQ(0, cf_src_revoke(&d->s, CF_WAY_REVOKE, RETURN_MS));
	ASSERT_EQ(0, imp_wait_event(d->impfd, h, BAR_DMABUF_IMP_EV_UNMAP, 1,
				    EVENT_MS, NULL));
	ret = imp_map(d->impfd, h, NULL);
	if (ret != -ENODEV) {
		v = "not-revoked";
		snprintf(why, sizeof(why), "map while revoked: %s",
			 cf_errname(ret));
	} else {
		ASSERT_EQ(0, cf_src_restore(&d->s));
		ret = imp_map(d->impfd, h, NULL);
		if (!ret)
			ret = cf_check_data(d, &d->b[0], h, 128, 4);
		if (ret) {
			v = ret == -EBADMSG ? "wrong-data" : cf_errname(ret);
			snprintf(why, sizeof(why), "after restore: %s",
				 strerror(-ret));
		}
	}
	cf_verdict(_metadata, d, "restore", v, why);
}

/*
 * After way @w: can the importer map again without anyone restoring
 * ("restored"), not until a restore ("revoked"), or never ("dead")?
 */
static void cf_after_rule(struct __test_metadata *_metadata,
			  struct cf_fixture_data *d, const char *rule)
{
	const char *v = "restored";
	char why[64] = "";
	__u32 h = 0;
	int ret;

	ret = imp_attach(d->impfd, d->b[0].fd, 0, &h);
	if (!ret)
		ret = imp_map(d->impfd, h, NULL);
	if (ret == -ENODEV) {
		v = "revoked";
		if (d->s.kind == CF_BAR_DMABUF && d->s.e.devfd < 0)
			d->s.e.devfd = bd_open_dev(d->s.e.bdf);
		if ((d->s.kind == CF_BAR_DMABUF && d->s.e.devfd < 0) ||
		    (d->s.kind == CF_VFIO && d->s.device < 0) ||
		    cf_src_restore(&d->s) ||
		    imp_map(d->impfd, h, NULL) == -ENODEV)
			v = "dead";
	} else if (ret) {
		v = cf_errname(ret);
		snprintf(why, sizeof(why), "%s", strerror(-ret));
	}
	cf_verdict(_metadata, d, rule, v, why);
}

/* Rule 10: a reset (VFIO_DEVICE_RESET; ours: the PCI core's) revokes. */
TEST_F_TIMEOUT(cf, way_reset, 60)
{
	if (!cf_begin(_metadata, &self->d, "way_reset", CF_NEED_REVOKE |
		      CF_NEED_RESET))
		return;
	if (self->d.s.kind == CF_BAR_DMABUF &&
	    bd_way_unavailable(BD_WAY_RESET, self->d.s.e.bdf))
		SKIP(return, "%s", bd_way_unavailable(BD_WAY_RESET,
						      self->d.s.e.bdf));
	cf_unmap_rule(_metadata, &self->d, "way_reset", CF_WAY_RESET);
	cf_after_rule(_metadata, &self->d, "way_reset_after");
	if (self->d.s.kind == CF_BAR_DMABUF)
		EXPECT_EQ(0, bd_way_back(BD_WAY_RESET, self->d.s.e.bdf));
}

/* Rule 10: closing the device (ours: its control node) revokes. */
TEST_F_TIMEOUT(cf, way_close, 60)
{
	if (!cf_begin(_metadata, &self->d, "way_close", CF_NEED_REVOKE |
		      CF_NEED_CLOSE))
		return;
	cf_unmap_rule(_metadata, &self->d, "way_close", CF_WAY_CLOSE);
	cf_after_rule(_metadata, &self->d, "way_close_after");
}

/*
 * Nothing left: after a cycle of attach, map, revoke, restore and the
 * close of every fd, the importer holds no attachment or mapping and the
 * dma-buf core lists no more buffers than before.
 */
static int cf_nr_dmabufs(void)
{
	char *text = malloc(1 << 20), *p;
	int n = -1;

	if (!text)
		return -1;
	if (bd_read_file("/sys/kernel/debug/dma_buf/bufinfo", text,
			 1 << 20) > 0) {
		p = strstr(text, "Total ");
		if (p)
			sscanf(p, "Total %d", &n);
	}
	free(text);
	return n;
}

TEST_F_TIMEOUT(cf, no_leftover, 60)
{
	struct cf_fixture_data *d = &self->d;
	struct bar_dmabuf_imp_counters c;
	int before, after, fds;
	char why[128] = "";
	const char *v = "pass";
	__u32 h = 0;

	if (!cf_begin(_metadata, &self->d, "no_leftover", 0))
		return;
	fds = bd_nr_fds();
	before = cf_nr_dmabufs();
	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_WORKER, 0,
			       true, &h));
	ASSERT_EQ(0, cf_check_data(d, &d->b[0], h, 0, 5));
	if (cf_revocable(&d->s)) {
		ASSERT_EQ(0, cf_src_revoke(&d->s, CF_WAY_REVOKE, RETURN_MS));
		ASSERT_EQ(0, cf_src_restore(&d->s));
	}
	bd_close(&d->impfd);
	bd_close(&d->b[0].fd);
	/* the fd variant's export commands and their pipes go too */
	EXPECT_EQ(0, cf_fd_release(&d->s, RETURN_MS));
	d->impfd = imp_open();
	ASSERT_LE(0, d->impfd);
	ASSERT_EQ(0, imp_counters(d->impfd, &c));
	after = cf_nr_dmabufs();
	if (c.out_attachments || c.out_mappings || c.out_jobs_pending) {
		v = "importer-left";
		snprintf(why, sizeof(why), "%u attachments, %u mappings, %u jobs",
			 c.out_attachments, c.out_mappings, c.out_jobs_pending);
	} else if (after > before) {
		v = "dmabuf-left";
		snprintf(why, sizeof(why), "bufinfo: %d buffers, %d before",
			 after, before);
	} else if (bd_nr_fds() != fds) {
		v = "fd-left";
		snprintf(why, sizeof(why), "%d fds, %d before", bd_nr_fds(), fds);
	}
	cf_verdict(_metadata, d, "no_leftover", v, why);
}

/*
 * No leak per mapping: LEAK_CYCLES maps and unmaps of one attachment leave
 * every kmalloc cache (nearly) as it was. "leak" when one grew by half an
 * object a cycle or more (Linux 7.2's dma_buf_phys_vec_to_sgt() sets
 * orig_nents to 0, so dma_buf_free_sgt()'s sg_free_table() frees no
 * scatterlist: one kmalloc-32 object per map of a VFIO dma-buf). The debug
 * kernel's kmemleak, run by the rig after the suite, names the objects.
 */
TEST_F_TIMEOUT(cf, no_leak, 180)
{
	struct cf_fixture_data *d = &self->d;
	struct bd_slab_meter m;
	struct bd_slab k0, k1;
	unsigned int i, top = 0;
	const char *v = "pass";
	long grew = LONG_MIN;
	char why[128];
	__u32 h = 0;

	if (!cf_begin(_metadata, d, "no_leak", 0))
		return;
	ASSERT_EQ(0, cf_export(&d->s, &d->b[0], 0, 1, 1));
	ASSERT_EQ(0, cf_attach(d, &d->b[0], BAR_DMABUF_IMP_UNMAP_ON_REQUEST, 0,
			       true, &h));
	ASSERT_EQ(0, imp_unmap(d->impfd, h));
	if (bd_slab_meter_open(&m) || bd_slab_snapshot(&m, &k0)) {
		bd_slab_meter_close(&m);
		cf_verdict(_metadata, d, "no_leak", "n/a", "no slab sysfs");
		return;
	}
	for (i = 0; i < LEAK_CYCLES; i++) {
		ASSERT_EQ(0, imp_map(d->impfd, h, NULL));
		ASSERT_EQ(0, imp_unmap(d->impfd, h));
	}
	ASSERT_EQ(0, bd_slab_snapshot(&m, &k1));
	bd_slab_meter_close(&m);
	/* the kmalloc caches (kmalloc-*, their -rnd- and -cg- kinds) */
	for (i = 0; i < k1.nr; i++)
		if (!strncmp(k1.c[i].name, "kmalloc-", 8) &&
		    bd_slab_objs(&k0, k1.c[i].name) >= 0 &&
		    k1.c[i].objs - bd_slab_objs(&k0, k1.c[i].name) > grew) {
			grew = k1.c[i].objs - bd_slab_objs(&k0, k1.c[i].name);
			top = i;
		}
	if (grew >= LEAK_CYCLES / 2)
		v = "leak";
	snprintf(why, sizeof(why), "%s %+ld objects over %u map/unmap cycles",
		 grew == LONG_MIN ? "?" : k1.c[top].name, grew, LEAK_CYCLES);
	bd_slab_free(&k0);
	bd_slab_free(&k1);
	cf_verdict(_metadata, d, "no_leak", v, why);
}

TEST_HARNESS_MAIN
