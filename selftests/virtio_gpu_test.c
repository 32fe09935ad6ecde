// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf virtio_gpu_test: our exporter against a kernel importer
 * nobody here wrote (issue 12, part 2).
 *
 * virtio-gpu (6.14+) imports a foreign dma-buf as a guest blob when its
 * device offers blob resources and no virgl: dma_buf_dynamic_attach()
 * with allow_peer2peer and an invalidate callback that detaches the
 * backing from the host and unmaps at once; it pins and maps at import
 * and pins while a buffer is scanned out (drivers/gpu/drm/virtio/
 * virtgpu_prime.c, virtgpu_plane.c). The rig's gpu0 is such a device
 * (BAR_DMABUF_GPU_BDF, BAR_DMABUF_GPU_BLOB=y); gpu1
 * (BAR_DMABUF_GPU_PLAIN_BDF) has no blob resources, so its virtio-gpu is
 * a static importer like vgem's PRIME import.
 *
 * - blob_import: PRIME_FD_TO_HANDLE of one of our buffers on gpu0's
 *   render node makes a dynamic attachment with one mapping (debugfs,
 *   tracepoints), and closing the node detaches it.
 * - blob_revoke_restore_scanout, on gpu0's primary node: REVOKE completes,
 *   the unmap coming from inside virtio-gpu's invalidate callback (a
 *   stack trace of our unmap tracepoint) and QEMU detaching the
 *   resource's backing (its trace, through the rig); a fresh import of the
 *   revoked buffer is ENODEV; after RESTORE a KMS commit of a framebuffer
 *   on the same GEM object maps it again (and pins it while scanned out),
 *   and QEMU's screendump of the scanout holds the pixels written through
 *   the dma-buf's mmap: the host really read the BAR. A revoke of the
 *   scanned-out buffer completes too (the pin delays nothing). QEMU 7.2
 *   keeps its own pointer to a scanned-out blob after the backing is
 *   detached, so nothing here claims the host stops reading the memory.
 * - static_*: vgem's PRIME import and gpu1's are refused with EOPNOTSUPP,
 *   the kernel message naming the importer, and no warning.
 *
 * The rig's QEMU can follow only guest-physical addresses for virtio-gpu
 * (no iommu_platform), so gpu0 gets an identity IOMMU domain first: with a
 * DMA domain QEMU rejects the blob's IOVAs, and virtio-gpu never checks
 * that answer, so only the screendump would tell.
 *
 * Host checks go through the rig's console markers (rig/boot-and-run.sh):
 * the host answers with 4 bytes at the last page of BAR_DMABUF_BDF's BAR,
 * which the test reads through a dma-buf of that page. Off the rig
 * (no BAR_DMABUF_HOSTFILE_CHECK) those checks are skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <linux/dma-buf.h>
/* rig/fetch-kernel-tools.sh's DRM headers are the tree's own, __user kept */
#ifndef __user
#define __user
#endif
#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <drm/virtgpu_drm.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "harness_env.h"

#define FB_W		64
#define FB_H		64
#define FB_PAGES	(FB_W * FB_H * 4 / BD_PAGE)
#define FMT_XRGB8888	0x34325258	/* DRM_FORMAT_XRGB8888, 'XR24' */
#define NODE_MS		20000	/* a DRM node to appear after a bind */
#define REVOKE_MS	10000
#define HOST_MS		30000	/* the rig's answer to a marker */
#define DETACH_MS	10000
#define TRACE_DIR	"/sys/kernel/tracing"
#define UNMAP_TRIGGER	TRACE_DIR "/events/bar_dmabuf/bar_dmabuf_unmap/trigger"
#define REFUSE_NEEDLE	"refusing a pinned importer"
#define CALLBACK_SYM	"virtgpu_dma_buf_move_notify"

/* modprobe @name: 0, or bd_run()'s failure */
static int modprobe(const char *name)
{
	char *argv[3];

	argv[0] = "modprobe";
	argv[1] = (char *)name;
	argv[2] = NULL;
	return bd_run(argv);
}

/* Does this kernel's modules.dep list @file? */
static bool kernel_has_module(const char *file)
{
	static char dep[1 << 20];
	char path[128];
	struct utsname u;

	if (uname(&u))
		return true;
	snprintf(path, sizeof(path), "/lib/modules/%.60s/modules.dep", u.release);
	if (bd_read_file(path, dep, sizeof(dep)) < 0)
		return true;	/* cannot tell: let modprobe's failure stand */
	return strstr(dep, file);
}

/*
 * Load virtio-gpu without the fbdev console: it would scan out dumb blobs
 * of many host iovecs, which the rig's QEMU cannot back (no udmabuf), and
 * flood the log with the host's error answers to its flushes. The test is
 * then the only KMS client. 0, -ENOENT when the kernel has no virtio-gpu
 * module (the rig's debug kernel), or bd_run()'s failure.
 */
static int load_virtio_gpu(void)
{
	int ret;

	modprobe("virtio_pci");
	modprobe("drm_kms_helper");
	bd_write_file("/sys/module/drm_kms_helper/parameters/fbdev_emulation",
		      "N");
	ret = modprobe("virtio_gpu");
	if (ret && !bd_module_loaded("virtio_gpu") && !kernel_has_module("virtio-gpu.ko"))
		return -ENOENT;
	return ret;
}

/*
 * /dev/dri/<prefix>N of the DRM device below PCI function @bdf, waiting
 * for it to appear: 0 or -errno.
 */
static int drm_node(const char *bdf, const char *prefix, char *out,
		    size_t len)
{
	__u64 deadline = bd_now_ns() + NODE_MS * BD_NSEC_PER_MSEC;
	char dir[128];
	struct dirent *d;
	DIR *dp;

	snprintf(dir, sizeof(dir), BD_SYSFS_PCI "/%s/drm", bdf);
	do {
		dp = opendir(dir);
		if (dp) {
			while ((d = readdir(dp))) {
				if (strncmp(d->d_name, prefix, strlen(prefix)))
					continue;
				snprintf(out, len, "/dev/dri/%.40s", d->d_name);
				closedir(dp);
				return bd_wait_path(out, true, NODE_MS);
			}
			closedir(dp);
		}
		usleep(20000);
	} while (bd_now_ns() < deadline);
	return -ENOENT;
}

/* The first /dev/dri/renderD* whose driver is @name: 0 or -ENOENT. */
static int drm_node_of_driver(const char *name, char *out, size_t len)
{
	char got[32], path[64];
	struct drm_version v;
	struct dirent *d;
	int fd, found = 0;
	DIR *dp;

	dp = opendir("/dev/dri");
	if (!dp)
		return -ENOENT;
	while (!found && (d = readdir(dp))) {
		if (strncmp(d->d_name, "renderD", 7))
			continue;
		snprintf(path, sizeof(path), "/dev/dri/%.40s", d->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(&v, 0, sizeof(v));
		memset(got, 0, sizeof(got));
		v.name = got;
		v.name_len = sizeof(got) - 1;
		if (!ioctl(fd, DRM_IOCTL_VERSION, &v) && !strcmp(got, name)) {
			snprintf(out, len, "%s", path);
			found = 1;
		}
		close(fd);
	}
	closedir(dp);
	return found ? 0 : -ENOENT;
}

static int prime_import(int drmfd, int buf, __u32 *handle)
{
	struct drm_prime_handle p = { .fd = buf };

	if (ioctl(drmfd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p))
		return -errno;
	*handle = p.handle;
	return 0;
}

static void gem_close(int drmfd, __u32 handle)
{
	struct drm_gem_close c = { .handle = handle };

	ioctl(drmfd, DRM_IOCTL_GEM_CLOSE, &c);
}

static int virtgpu_param(int drmfd, __u64 param, int *value)
{
	struct drm_virtgpu_getparam g = {
		.param = param,
		.value = (__u64)(uintptr_t)value,
	};

	*value = 0;
	return ioctl(drmfd, DRM_IOCTL_VIRTGPU_GETPARAM, &g) ? -errno : 0;
}

/*
 * Give @bdf an identity IOMMU domain (unbind, write the group's type,
 * bind again): 0 or -errno, with @why filled on failure.
 */
static int identity_domain(const char *bdf, char *why, size_t len)
{
	char path[192], val[64], drv[64];
	struct dirent *d;
	int n = 0, ret;
	DIR *dp;

	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/iommu_group/type", bdf);
	if (bd_read_file(path, val, sizeof(val)) < 0) {
		snprintf(why, len, "%s: no IOMMU group type", bdf);
		return -ENOENT;
	}
	if (!strncmp(val, "identity", 8))
		return 0;
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/iommu_group/devices", bdf);
	dp = opendir(path);
	while (dp && (d = readdir(dp)))
		n += d->d_name[0] != '.';
	if (dp)
		closedir(dp);
	if (n != 1) {
		snprintf(why, len, "%s: its IOMMU group holds %d devices", bdf, n);
		return -EBUSY;
	}
	ret = bd_driver_of(bdf, drv, sizeof(drv));
	if (!ret && drv[0]) {
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", drv);
		ret = bd_write_file(path, bdf);
	}
	if (ret) {
		snprintf(why, len, "unbind %s from %s: %s", bdf, drv, strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/iommu_group/type", bdf);
	ret = bd_write_file(path, "identity");
	if (ret)
		snprintf(why, len, "write identity to %s: %s", path, strerror(-ret));
	if (drv[0]) {
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", drv);
		if (bd_write_file(path, bdf) && !ret) {
			snprintf(why, len, "bind %s to %s again", bdf, drv);
			ret = -EIO;
		}
	}
	return ret;
}

/* Our debugfs view of @gpu's attachment to @buf: 1 found, 0 not, -errno. */
static int attachment(const char *bdf, int buf, const char *gpu, int *maps,
		      int *pins)
{
	char block[4096], key[96], *hit;

	if (bd_debugfs_buffer(bdf, buf, block, sizeof(block)))
		return -ENOENT;
	snprintf(key, sizeof(key), "  %s %s (", "attachment", gpu);
	hit = strstr(block, key);
	if (!hit)
		return 0;
	hit = strstr(hit, "): ");
	if (hit)
		hit = strchr(hit, ',');
	if (!hit || sscanf(hit, ", %d mapping(s), %d pin(s)", maps, pins) != 2)
		return -EINVAL;
	return 1;
}

/* Wait until @gpu holds no attachment to @buf: 0 or -ETIMEDOUT. */
static int wait_detached(const char *bdf, int buf, const char *gpu)
{
	__u64 deadline = bd_now_ns() + DETACH_MS * BD_NSEC_PER_MSEC;
	int maps, pins;

	do {
		if (attachment(bdf, buf, gpu, &maps, &pins) == 0)
			return 0;
		usleep(20000);
	} while (bd_now_ns() < deadline);
	return -ETIMEDOUT;
}

/*
 * In @text, is there a bar_dmabuf_unmap of @gpu between lines @from and
 * @to whose stack trace (the trigger's) holds @sym?
 */
static bool unmap_from(const char *text, const char *gpu, const char *sym,
		       int from, int to)
{
	const char *line = text, *eol;
	char who[64];
	bool in = false;
	int n = 0;

	snprintf(who, sizeof(who), "importer %s ", gpu);
	for (; *line; line = *eol ? eol + 1 : eol, n++) {
		eol = strchrnul(line, '\n');
		if (n <= from || n >= to)
			continue;
		if (memmem(line, eol - line, " bar_dmabuf_unmap: ", 19)) {
			in = memmem(line, eol - line, who, strlen(who));
			continue;
		}
		if (in && memmem(line, eol - line, sym, strlen(sym)))
			return true;
		/* an event line other than the stack's own */
		if (!memmem(line, eol - line, "=>", 2) &&
		    !memmem(line, eol - line, "<stack trace>", 13))
			in = false;
	}
	return false;
}

/* The rig's answer channel: the last page of our BAR, as a dma-buf. */
struct host {
	int buf;
	__u32 *word;		/* the host writes it: atomic loads */
	unsigned long long off;	/* its byte offset in the BAR */
};

static int host_open(struct bd_env *e, struct host *h)
{
	struct bd_sysfs_bar bars[BAR_DMABUF_NUM_BARS];
	int ret;

	h->buf = -1;
	h->word = MAP_FAILED;
	ret = bd_sysfs_bars(e->bdf, bars);
	if (ret)
		return ret;
	h->off = bars[e->bar].size - BD_PAGE;
	ret = bd_export_one(e->devfd, e->bar, h->off, BD_PAGE, &h->buf);
	if (ret)
		return ret;
	h->word = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       h->buf, 0);
	return h->word == MAP_FAILED ? -errno : 0;
}

static void host_close(struct host *h)
{
	if (h->word != MAP_FAILED)
		munmap(h->word, BD_PAGE);
	if (h->buf >= 0)
		close(h->buf);
}

/*
 * Print @marker (its last field is filled with our answer offset) on the
 * console and wait for the host's answer: 1 "OK!!", 0 anything else,
 * -ETIMEDOUT.
 */
static int host_ask(struct host *h, const char *marker)
{
	__u64 deadline = bd_now_ns() + HOST_MS * BD_NSEC_PER_MSEC;
	char line[256];
	__u32 ok;
	int fd, n;

	memcpy(&ok, "OK!!", 4);
	__atomic_store_n(h->word, 0, __ATOMIC_RELAXED);
	n = snprintf(line, sizeof(line), "@@%s %llu@@\n", marker, h->off);
	fd = open("/dev/console", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, line, n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	do {
		__u32 got = __atomic_load_n(h->word, __ATOMIC_RELAXED);

		if (got)
			return got == ok;
		usleep(20000);
	} while (bd_now_ns() < deadline);
	return -ETIMEDOUT;
}

static bool on_rig(void)
{
	return bd_env("BAR_DMABUF_HOSTFILE_CHECK");
}

/* The pattern rig_gpu_pattern (rig/lib.sh) expects, through an mmap. */
static int write_pattern(int buf, unsigned int seed)
{
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE };
	__u32 *px;
	unsigned int x, y;
	int ret = 0;

	px = mmap(NULL, FB_PAGES * BD_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		  buf, 0);
	if (px == MAP_FAILED)
		return -errno;
	if (ioctl(buf, DMA_BUF_IOCTL_SYNC, &sync))
		ret = -errno;
	for (y = 0; !ret && y < FB_H; y++)
		for (x = 0; x < FB_W; x++)
			px[y * FB_W + x] = ((x + y + seed) & 0xff) << 16 |
					   ((y * 13 + seed) & 0xff) << 8 |
					   ((x * 7 + seed) & 0xff);
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE;
	if (!ret && ioctl(buf, DMA_BUF_IOCTL_SYNC, &sync))
		ret = -errno;
	munmap(px, FB_PAGES * BD_PAGE);
	return ret;
}

/* A CRTC and a connector of @fd's device: 0 or -errno. */
static int kms_pick(int fd, __u32 *crtc, __u32 *conn)
{
	struct drm_mode_card_res r = { 0 };
	__u32 crtcs[8], conns[8];

	if (ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &r))
		return -errno;
	if (!r.count_crtcs || !r.count_connectors)
		return -ENOENT;
	r.count_fbs = 0;
	r.count_encoders = 0;
	r.count_crtcs = r.count_crtcs > 8 ? 8 : r.count_crtcs;
	r.count_connectors = r.count_connectors > 8 ? 8 : r.count_connectors;
	r.crtc_id_ptr = (__u64)(uintptr_t)crtcs;
	r.connector_id_ptr = (__u64)(uintptr_t)conns;
	if (ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &r))
		return -errno;
	*crtc = crtcs[0];
	*conn = conns[0];
	return 0;
}

/* Scan @fb out on @crtc/@conn in a FB_W x FB_H mode (fb 0: off). */
static int kms_set(int fd, __u32 crtc, __u32 conn, __u32 fb)
{
	struct drm_mode_crtc c = {
		.crtc_id = crtc,
		.fb_id = fb,
	};

	if (fb) {
		c.set_connectors_ptr = (__u64)(uintptr_t)&conn;
		c.count_connectors = 1;
		c.mode_valid = 1;
		c.mode = (struct drm_mode_modeinfo) {
			.clock = 80 * 70 * 60 / 1000,
			.hdisplay = FB_W, .hsync_start = FB_W + 2,
			.hsync_end = FB_W + 6, .htotal = 80,
			.vdisplay = FB_H, .vsync_start = FB_H + 1,
			.vsync_end = FB_H + 3, .vtotal = 70,
			.vrefresh = 60, .type = DRM_MODE_TYPE_USERDEF,
			.name = "64x64",
		};
	}
	return ioctl(fd, DRM_IOCTL_MODE_SETCRTC, &c) ? -errno : 0;
}

static int add_fb(int fd, __u32 handle, __u32 *fb)
{
	struct drm_mode_fb_cmd2 f = {
		.width = FB_W,
		.height = FB_H,
		.pixel_format = FMT_XRGB8888,
		.handles = { handle },
		.pitches = { FB_W * 4 },
	};

	if (ioctl(fd, DRM_IOCTL_MODE_ADDFB2, &f))
		return -errno;
	*fb = f.fb_id;
	return 0;
}

FIXTURE(blob)
{
	bool skipped;
	struct bd_env e;
	const char *gpu;
	char render[64];
	char card[64];
	int buf;
};

FIXTURE_SETUP(blob)
{
	char why[256];
	int drmfd, blob = 0, virgl = 0, ret;

	self->buf = -1;
	self->gpu = bd_env("BAR_DMABUF_GPU_BDF");
	if (!self->gpu) {
		self->skipped = true;
		SKIP(return, "BAR_DMABUF_GPU_BDF unset: no virtio-gpu to import with");
	}
	if (!bd_env("BAR_DMABUF_GPU_BLOB") ||
	    strcmp(bd_env("BAR_DMABUF_GPU_BLOB"), "y")) {
		self->skipped = true;
		SKIP(return, "%s: no blob resources here (BAR_DMABUF_GPU_BLOB != y)",
		     self->gpu);
	}
	if (!bd_fixture_open(_metadata, &self->e, (FB_PAGES + 1) * BD_PAGE,
			     &self->skipped))
		return;
	modprobe("virtio_pci");
	ASSERT_EQ(0, identity_domain(self->gpu, why, sizeof(why)))
		TH_LOG("%s", why);
	ret = load_virtio_gpu();
	if (ret == -ENOENT) {
		self->skipped = true;
		SKIP(return, "no virtio_gpu module in this kernel");
	}
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, drm_node(self->gpu, "renderD", self->render,
			      sizeof(self->render)))
		TH_LOG("no render node below %s", self->gpu);
	ASSERT_EQ(0, drm_node(self->gpu, "card", self->card, sizeof(self->card)));
	drmfd = open(self->render, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, drmfd);
	ASSERT_EQ(0, virtgpu_param(drmfd, VIRTGPU_PARAM_RESOURCE_BLOB, &blob));
	virtgpu_param(drmfd, VIRTGPU_PARAM_3D_FEATURES, &virgl);
	close(drmfd);
	/* the rig promised blob resources and no virgl: hold it to that */
	ASSERT_EQ(1, blob);
	ASSERT_EQ(0, virgl);
	self->buf = bd_env_export(&self->e, 0, FB_PAGES);
	ASSERT_LE(0, self->buf) TH_LOG("%s", self->e.why);
	ASSERT_EQ(0, bd_trace_start());
}

FIXTURE_TEARDOWN(blob)
{
	if (self->skipped)
		return;
	bd_write_file(UNMAP_TRIGGER, "!stacktrace");
	bd_trace_stop();
	if (self->buf >= 0)
		close(self->buf);
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
	bd_env_close(&self->e);
}

/* Import on the render node: a dynamic attachment, mapped; close detaches. */
TEST_F(blob, import)
{
	int drmfd, maps = -1, pins = -1, id;
	char *text;
	__u32 h;

	drmfd = open(self->render, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, drmfd);
	ASSERT_EQ(0, prime_import(drmfd, self->buf, &h));
	ASSERT_EQ(1, attachment(self->e.bdf, self->buf, self->gpu, &maps, &pins));
	/* mapped at import (the blob's backing), unpinned after it */
	EXPECT_EQ(1, maps);
	EXPECT_EQ(0, pins);
	id = bd_debugfs_buffer_id(self->e.bdf, self->buf);
	ASSERT_LE(0, id);
	text = bd_trace_read();
	ASSERT_NE(NULL, text);
	EXPECT_LE(0, bd_trace_pos(text, "attach", self->e.bdf, id)) TH_LOG("%s", text);
	EXPECT_LE(0, bd_trace_pos(text, "map", self->e.bdf, id)) TH_LOG("%s", text);
	EXPECT_NE(NULL, strstr(text, self->gpu)) TH_LOG("%s", text);
	free(text);
	close(drmfd);
	EXPECT_EQ(0, wait_detached(self->e.bdf, self->buf, self->gpu));
}

TEST_F(blob, revoke_restore_scanout)
{
	unsigned int seed = (unsigned int)(bd_now_ns() / 1000) & 0xff;
	int card, render, maps = -1, pins = -1, id, from, to, ret;
	__u32 h = 0, h2, res, crtc = 0, conn = 0, fb = 0;
	struct drm_virtgpu_resource_info info = { 0 };
	struct host host;
	char marker[160];
	char *text;

	ASSERT_EQ(0, host_open(&self->e, &host));
	card = open(self->card, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, card);
	ASSERT_EQ(0, ioctl(card, DRM_IOCTL_SET_MASTER, 0))
		TH_LOG("not DRM master of %s: %s", self->card, strerror(errno));
	ASSERT_EQ(0, kms_pick(card, &crtc, &conn));
	ASSERT_EQ(0, prime_import(card, self->buf, &h));
	info.bo_handle = h;
	ASSERT_EQ(0, ioctl(card, DRM_IOCTL_VIRTGPU_RESOURCE_INFO, &info));
	res = info.res_handle;
	ASSERT_EQ(1, attachment(self->e.bdf, self->buf, self->gpu, &maps, &pins));
	ASSERT_EQ(1, maps);
	id = bd_debugfs_buffer_id(self->e.bdf, self->buf);
	ASSERT_LE(0, id);

	/* REVOKE: the unmap comes from virtio-gpu's callback, at once */
	ASSERT_EQ(0, bd_trace_start());
	ASSERT_EQ(0, bd_write_file(UNMAP_TRIGGER, "stacktrace"));
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, REVOKE_MS, NULL));
	bd_write_file(UNMAP_TRIGGER, "!stacktrace");
	ASSERT_EQ(1, attachment(self->e.bdf, self->buf, self->gpu, &maps, &pins));
	EXPECT_EQ(0, maps);
	text = bd_trace_read();
	ASSERT_NE(NULL, text);
	from = bd_trace_pos(text, "revoke_start", self->e.bdf, id);
	to = bd_trace_pos(text, "revoke_done", self->e.bdf, id);
	EXPECT_LE(0, from) TH_LOG("%s", text);
	EXPECT_LT(from, to) TH_LOG("%s", text);
	EXPECT_TRUE(unmap_from(text, self->gpu, CALLBACK_SYM, from, to))
		TH_LOG("no unmap by %s from %s between revoke_start and revoke_done:\n%s",
		       self->gpu, CALLBACK_SYM, text);
	free(text);
	if (on_rig()) {
		snprintf(marker, sizeof(marker),
			 "QEMU-TRACE virtio_gpu_cmd_res_back_detach res 0x%x", res);
		EXPECT_EQ(1, host_ask(&host, marker))
			TH_LOG("QEMU never detached resource %u's backing", res);
	}

	/* a revoked buffer is no new import */
	render = open(self->render, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, render);
	EXPECT_EQ(-ENODEV, prime_import(render, self->buf, &h2));
	close(render);

	/* RESTORE, pixels through the mmap, a KMS commit: it maps again */
	ASSERT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	ASSERT_EQ(0, write_pattern(self->buf, seed));
	ASSERT_EQ(0, add_fb(card, h, &fb));
	ASSERT_EQ(0, bd_trace_start());
	ret = kms_set(card, crtc, conn, fb);
	ASSERT_EQ(0, ret) TH_LOG("SETCRTC: %s", strerror(-ret));
	ASSERT_EQ(1, attachment(self->e.bdf, self->buf, self->gpu, &maps, &pins));
	EXPECT_EQ(1, maps);
	EXPECT_EQ(1, pins);	/* pinned while scanned out */
	text = bd_trace_read();
	ASSERT_NE(NULL, text);
	EXPECT_LE(0, bd_trace_pos(text, "map", self->e.bdf, id)) TH_LOG("%s", text);
	free(text);
	if (on_rig()) {
		snprintf(marker, sizeof(marker), "SCREENDUMP %d %d %u", FB_W,
			 FB_H, seed);
		EXPECT_EQ(1, host_ask(&host, marker))
			TH_LOG("the host's screendump does not hold our pixels");
	}

	/* a revoke of the scanned-out buffer: the pin delays nothing */
	ASSERT_EQ(0, bd_trace_start());
	ASSERT_EQ(0, bd_write_file(UNMAP_TRIGGER, "stacktrace"));
	ASSERT_EQ(0, bd_revoke(self->e.devfd, self->buf, 0, REVOKE_MS, NULL));
	bd_write_file(UNMAP_TRIGGER, "!stacktrace");
	ASSERT_EQ(1, attachment(self->e.bdf, self->buf, self->gpu, &maps, &pins));
	EXPECT_EQ(0, maps);
	text = bd_trace_read();
	ASSERT_NE(NULL, text);
	from = bd_trace_pos(text, "revoke_start", self->e.bdf, id);
	to = bd_trace_pos(text, "revoke_done", self->e.bdf, id);
	EXPECT_TRUE(unmap_from(text, self->gpu, CALLBACK_SYM, from, to))
		TH_LOG("%s", text);
	free(text);

	/* close: off, no fb, no handle, no node: detached */
	EXPECT_EQ(0, kms_set(card, crtc, conn, 0));
	ioctl(card, DRM_IOCTL_MODE_RMFB, &fb);
	gem_close(card, h);
	close(card);
	EXPECT_EQ(0, wait_detached(self->e.bdf, self->buf, self->gpu));
	EXPECT_EQ(0, bd_restore(self->e.devfd, self->buf, 0, NULL));
	host_close(&host);
}

/* Static importers: refused, named, no warning. */
FIXTURE(static_importer)
{
	bool skipped;
	struct bd_env e;
	char node[64];
	char name[64];	/* what the kernel message must name */
};

FIXTURE_VARIANT(static_importer)
{
	bool vgem;
};

FIXTURE_VARIANT_ADD(static_importer, vgem) {
	.vgem = true,
};

FIXTURE_VARIANT_ADD(static_importer, virtio_gpu_without_blob) {
	.vgem = false,
};

FIXTURE_SETUP(static_importer)
{
	const char *gpu = bd_env("BAR_DMABUF_GPU_PLAIN_BDF");
	int ret;

	if (!bd_fixture_open(_metadata, &self->e, BD_PAGE, &self->skipped))
		return;
	if (variant->vgem) {
		if (modprobe("vgem") &&
		    !bd_module_loaded("vgem")) {
			self->skipped = true;
			SKIP(return, "no vgem module on this kernel");
		}
		ASSERT_EQ(0, bd_wait_path("/dev/dri", true, NODE_MS));
		ret = -ENOENT;
		for (int i = 0; ret && i < NODE_MS / 20; i++) {
			ret = drm_node_of_driver("vgem", self->node, sizeof(self->node));
			if (ret)
				usleep(20000);
		}
		ASSERT_EQ(0, ret) TH_LOG("no vgem render node");
		snprintf(self->name, sizeof(self->name), "vgem");
		return;
	}
	if (!gpu) {
		self->skipped = true;
		SKIP(return, "BAR_DMABUF_GPU_PLAIN_BDF unset");
	}
	ret = load_virtio_gpu();
	if (ret == -ENOENT) {
		self->skipped = true;
		SKIP(return, "no virtio_gpu module in this kernel");
	}
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, drm_node(gpu, "renderD", self->node, sizeof(self->node)))
		TH_LOG("no render node below %s", gpu);
	snprintf(self->name, sizeof(self->name), "%s", gpu);
}

FIXTURE_TEARDOWN(static_importer)
{
	if (self->skipped)
		return;
	bd_fixture_check_kmsg(_metadata, self->e.kfd);
	bd_env_close(&self->e);
}

TEST_F(static_importer, refused)
{
	char line[512];
	int drmfd, buf;
	__u32 h;

	buf = bd_env_export(&self->e, 0, 1);
	ASSERT_LE(0, buf) TH_LOG("%s", self->e.why);
	drmfd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, drmfd);
	EXPECT_EQ(-EOPNOTSUPP, prime_import(drmfd, buf, &h));
	ASSERT_LE(0, self->e.kfd);
	ASSERT_EQ(1, bd_kmsg_wait(self->e.kfd, REFUSE_NEEDLE, line, sizeof(line),
				  5000)) TH_LOG("no \"%s\" in the kernel log", REFUSE_NEEDLE);
	EXPECT_NE(NULL, strstr(line, self->name))
		TH_LOG("the message does not name %s: %s", self->name, line);
	/* nothing was attached for good */
	EXPECT_EQ(0, wait_detached(self->e.bdf, buf, self->name));
	close(drmfd);
	close(buf);
}

TEST_HARNESS_MAIN
