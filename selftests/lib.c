// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers of the bar_dmabuf selftests; see lib.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/membarrier.h>
#include <linux/userfaultfd.h>

#include "lib.h"

const char *bd_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

int bd_open_dev(const char *bdf)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), BD_DEV_DIR "/%s", bdf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

bool bd_module_loaded(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return stat(path, &st) == 0;
}

/* 0 or -errno; a positive return (never right for these ioctls) as is. */
static int bd_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

int bd_info(int devfd, struct bar_dmabuf_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return bd_ioctl(devfd, BAR_DMABUF_IOCTL_INFO, info);
}

int bd_export(int devfd, __u32 bar, const struct bar_dmabuf_range *ranges,
	      __u32 nr, __u32 open_flags, int *out_fd, __u64 *out_len)
{
	struct bar_dmabuf_export ex = {
		.size = sizeof(ex),
		.bar_index = bar,
		.open_flags = open_flags,
		.nr_ranges = nr,
		.out_fd = -1,
		.ranges_ptr = (__u64)(unsigned long)ranges,
	};
	int ret;

	ret = bd_ioctl(devfd, BAR_DMABUF_IOCTL_EXPORT, &ex);
	if (ret)
		return ret;
	*out_fd = ex.out_fd;
	if (out_len)
		*out_len = ex.out_length;
	return 0;
}

int bd_export_one(int devfd, __u32 bar, __u64 offset, __u64 length,
		  int *out_fd)
{
	struct bar_dmabuf_range r = { .offset = offset, .length = length };

	return bd_export(devfd, bar, &r, 1, O_RDWR | O_CLOEXEC, out_fd, NULL);
}

int bd_revoke(int devfd, int buf_fd, __u32 flags, __u32 timeout_ms,
	      __u32 *out_nr)
{
	struct bar_dmabuf_revoke rv = {
		.size = sizeof(rv),
		.flags = flags,
		.fd = buf_fd,
		.timeout_ms = timeout_ms,
	};
	int ret;

	ret = bd_ioctl(devfd, BAR_DMABUF_IOCTL_REVOKE, &rv);
	if (!ret && out_nr)
		*out_nr = rv.out_nr_buffers;
	return ret;
}

int bd_restore(int devfd, int buf_fd, __u32 flags, __u32 *out_nr)
{
	struct bar_dmabuf_restore rs = {
		.size = sizeof(rs),
		.flags = flags,
		.fd = buf_fd,
	};
	int ret;

	ret = bd_ioctl(devfd, BAR_DMABUF_IOCTL_RESTORE, &rs);
	if (!ret && out_nr)
		*out_nr = rs.out_nr_buffers;
	return ret;
}

int bd_pick_mem_bar(const struct bar_dmabuf_info *info, __u64 min_size)
{
	int i, best = -1;

	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++) {
		const struct bar_dmabuf_bar *b = &info->out_bars[i];

		if (!(b->flags & BAR_DMABUF_BAR_MEM) || b->size < min_size)
			continue;
		if (b->flags & BAR_DMABUF_BAR_PREFETCH)
			return i;
		if (best < 0)
			best = i;
	}
	return best;
}

int bd_pick_io_bar(const struct bar_dmabuf_info *info)
{
	int i;

	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++)
		if (info->out_bars[i].flags & BAR_DMABUF_BAR_IO)
			return i;
	return -1;
}

int bd_sysfs_bars(const char *bdf, struct bd_sysfs_bar bars[BAR_DMABUF_NUM_BARS])
{
	unsigned long long start, end, flags;
	char path[128];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/resource", bdf);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++) {
		if (fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3) {
			fclose(f);
			return -EIO;
		}
		bars[i].start = start;
		bars[i].end = end;
		bars[i].flags = flags;
		bars[i].size = end ? end - start + 1 : 0;
	}
	fclose(f);
	return 0;
}

int bd_write_file(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

long bd_read_file(const char *path, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (off + 1 < len) {
		n = read(fd, buf + off, len - 1 - off);
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (!n)
			break;
		off += n;
	}
	buf[off] = '\0';
	close(fd);
	return off;
}

int bd_driver_of(const char *bdf, char *buf, size_t len)
{
	char path[128], target[256];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno == ENOENT) {
			buf[0] = '\0';
			return 0;
		}
		return -errno;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	snprintf(buf, len, "%s", base ? base + 1 : target);
	return 0;
}

int bd_run(char *const argv[])
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	if (!WIFEXITED(status))
		return -EINTR;
	return WEXITSTATUS(status);
}

int bd_hotplug(const char *op)
{
	char *argv[3];
	int ret;

	argv[0] = (char *)bd_env("BAR_DMABUF_HOTPLUG");
	argv[1] = (char *)op;
	argv[2] = NULL;
	if (!argv[0])
		return -ENOENT;
	ret = bd_run(argv);
	return ret > 0 ? -EIO : ret;
}

int bd_hostfile_check(unsigned long long offset, const char *hex)
{
	char off[32], *argv[4];
	int ret;

	snprintf(off, sizeof(off), "%llu", offset);
	argv[0] = (char *)bd_env("BAR_DMABUF_HOSTFILE_CHECK");
	argv[1] = off;
	argv[2] = (char *)hex;
	argv[3] = NULL;
	if (!argv[0])
		return -ENOENT;
	ret = bd_run(argv);
	return ret > 0 ? -EIO : ret;
}

int bd_wait_path(const char *path, bool exists, int timeout_ms)
{
	__u64 deadline = bd_now_ns() + (__u64)timeout_ms * BD_NSEC_PER_MSEC;
	struct stat st;

	for (;;) {
		if ((stat(path, &st) == 0) == exists)
			return 0;
		if (bd_now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(20000);
	}
}

int bd_rebind(const char *bdf)
{
	char drv[64], node[128];

	if (bd_driver_of(bdf, drv, sizeof(drv)) == 0 && !drv[0])
		bd_write_file(BD_DRIVER_DIR "/bind", bdf);
	snprintf(node, sizeof(node), BD_DEV_DIR "/%s", bdf);
	return bd_wait_path(node, true, 30000);
}

/*
 * Does the kernel's AER driver serve the root port above @bdf (through
 * any switch)? Its AER service (portdrv's "pcie002") is then bound to the
 * "aer" driver.
 */
static bool bd_aer_served(const char *bdf)
{
	char path[160], real[PATH_MAX], svc[PATH_MAX + 64], *port;

	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s", bdf);
	if (!realpath(path, real))
		return false;
	while ((port = strrchr(real, '/'))) {
		*port = '\0';
		port = strrchr(real, '/');
		if (!port)
			return false;
		snprintf(svc, sizeof(svc),
			 "/sys/bus/pci_express/devices/%s:pcie002/driver",
			 port + 1);
		if (access(svc, F_OK) == 0)
			return true;
	}
	return false;
}

const char *bd_way_unavailable(enum bd_way way, const char *bdf)
{
	static char why[128];
	char path[160];

	if (way == BD_WAY_HOTPLUG && !bd_env("BAR_DMABUF_HOTPLUG"))
		return "BAR_DMABUF_HOTPLUG not set (hot-unplug needs the test VM)";
	if (way == BD_WAY_AER && !bd_env("BAR_DMABUF_AER"))
		return "BAR_DMABUF_AER not set (AER injection needs the test VM)";
	if (way == BD_WAY_AER && !bd_aer_served(bdf)) {
		snprintf(why, sizeof(why),
			 "the kernel handles no AER above %s (no CONFIG_PCIEAER, or firmware first)",
			 bdf);
		return why;
	}
	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/reset", bdf);
	if (way == BD_WAY_RESET && access(path, W_OK)) {
		snprintf(why, sizeof(why), "%s has no reset method", bdf);
		return why;
	}
	return NULL;
}

int bd_aer_inject(const char *kind, const char *bdf, const char *timeout_s)
{
	char *argv[4] = { (char *)bd_env("BAR_DMABUF_AER"), (char *)kind,
			  (char *)bdf, NULL };
	int ret;

	if (!argv[0])
		return -ENOENT;
	if (timeout_s)
		setenv("RIG_AER_TIMEOUT", timeout_s, 1);
	ret = bd_run(argv);
	return ret > 0 ? -EIO : ret;
}

int bd_way_out(enum bd_way way, const char *bdf)
{
	char path[160];

	switch (way) {
	case BD_WAY_UNBIND:
		return bd_write_file(BD_DRIVER_DIR "/unbind", bdf);
	case BD_WAY_HOTPLUG:
		return bd_hotplug("del");
	case BD_WAY_RESET:
		snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s/reset", bdf);
		return bd_write_file(path, "1");
	case BD_WAY_AER:
		return bd_aer_inject("fatal", bdf, NULL);
	}
	return -EINVAL;
}

int bd_way_back(enum bd_way way, const char *bdf)
{
	char path[160];
	int ret;

	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s", bdf);
	if (way == BD_WAY_HOTPLUG && access(path, F_OK)) {
		ret = bd_hotplug("add");
		if (ret)
			return ret;
	}
	return bd_rebind(bdf);
}

__u64 bd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

long long bd_ms_between(__u64 from_ns, __u64 to_ns)
{
	return ((long long)to_ns - (long long)from_ns) / (long long)BD_NSEC_PER_MSEC;
}

int bd_poll_in(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	__u64 deadline = bd_now_ns() + (__u64)timeout_ms * BD_NSEC_PER_MSEC;
	int ret;

	for (;;) {
		long long left = bd_ms_between(bd_now_ns(), deadline);

		ret = poll(&p, 1, left > 0 ? (int)left : 0);
		if (ret >= 0)
			return ret > 0 ? 1 : 0;
		if (errno != EINTR)
			return -errno;
	}
}

int imp_open(void)
{
	int fd = open(BD_IMP_NODE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int imp_attach(int impfd, int dmabuf_fd, __u32 flags, __u32 *out_handle)
{
	struct bar_dmabuf_imp_attach a = {
		.size = sizeof(a),
		.flags = flags,
		.dmabuf_fd = dmabuf_fd,
	};
	int ret;

	ret = bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_ATTACH, &a);
	if (!ret)
		*out_handle = a.out_handle;
	return ret;
}

int imp_attach_pinned_revocable(int impfd, int dmabuf_fd, __u32 *out_handle)
{
	return imp_attach(impfd, dmabuf_fd,
			  BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE, out_handle);
}

int imp_attach_pin(int impfd, int dmabuf_fd, __u32 *out_handle)
{
	return imp_attach(impfd, dmabuf_fd, BAR_DMABUF_IMP_ATTACH_PIN,
			  out_handle);
}

static int imp_handle_cmd(int impfd, unsigned long cmd, __u32 handle,
			  __u64 *out_length)
{
	struct bar_dmabuf_imp_handle h = {
		.size = sizeof(h),
		.handle = handle,
	};
	int ret;

	ret = bd_ioctl(impfd, cmd, &h);
	if (!ret && out_length)
		*out_length = h.out_length;
	return ret;
}

int imp_detach(int impfd, __u32 handle)
{
	return imp_handle_cmd(impfd, BAR_DMABUF_IMP_IOCTL_DETACH, handle, NULL);
}

int imp_map(int impfd, __u32 handle, __u64 *out_length)
{
	return imp_handle_cmd(impfd, BAR_DMABUF_IMP_IOCTL_MAP, handle,
			      out_length);
}

int imp_unmap(int impfd, __u32 handle)
{
	return imp_handle_cmd(impfd, BAR_DMABUF_IMP_IOCTL_UNMAP, handle, NULL);
}

int imp_set_behaviour(int impfd, __u32 handle, __u32 unmap_mode,
		      __u32 flags, __u32 window_ms, __u32 interval_ms)
{
	struct bar_dmabuf_imp_behaviour b = {
		.size = sizeof(b),
		.flags = flags,
		.handle = handle,
		.unmap_mode = unmap_mode,
		.late_read_window_ms = window_ms,
		.late_read_interval_ms = interval_ms ? interval_ms : 1,
	};

	return bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR, &b);
}

int imp_submit(int impfd, __u32 handle, __u32 flags, __u32 usage,
	       __u64 offset, __u64 length, const void *data, __u32 delay_ms,
	       __u64 *out_job, int *out_sync_fd)
{
	struct bar_dmabuf_imp_submit s = {
		.size = sizeof(s),
		.flags = flags,
		.handle = handle,
		.usage = usage,
		.offset = offset,
		.length = length,
		.data_ptr = (__u64)(unsigned long)data,
		.delay_ms = delay_ms,
		.out_sync_fd = -1,
	};
	int ret;

	ret = bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_SUBMIT, &s);
	if (ret)
		return ret;
	if (out_job)
		*out_job = s.out_job;
	if (out_sync_fd)
		*out_sync_fd = s.out_sync_fd;
	else if (s.out_sync_fd >= 0)
		close(s.out_sync_fd);
	return 0;
}

int imp_signal(int impfd, __u64 job)
{
	struct bar_dmabuf_imp_signal s = {
		.size = sizeof(s),
		.job = job,
	};

	return bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_SIGNAL, &s);
}

int imp_wait_job(int impfd, __u64 job, __u32 timeout_ms, void *data,
		 __u64 data_len, int *out_status, __u64 *out_signal_ns)
{
	struct bar_dmabuf_imp_wait_job w = {
		.size = sizeof(w),
		.job = job,
		.timeout_ms = timeout_ms,
		.data_ptr = (__u64)(unsigned long)data,
		.data_len = data_len,
	};
	int ret;

	ret = bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_JOB, &w);
	if (ret)
		return ret;
	if (out_status)
		*out_status = w.out_status;
	if (out_signal_ns)
		*out_signal_ns = w.out_signal_ns;
	return 0;
}

int imp_wait_event(int impfd, __u32 handle, __u32 type, __u32 count,
		   __u32 timeout_ms, __u64 *out_ts_ns)
{
	struct bar_dmabuf_imp_wait_event w = {
		.size = sizeof(w),
		.handle = handle,
		.type = type,
		.count = count,
		.timeout_ms = timeout_ms,
	};
	int ret;

	ret = bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT, &w);
	if (!ret && out_ts_ns)
		*out_ts_ns = w.out_ts_ns;
	return ret;
}

int imp_wait_unmapped(int impfd, __u32 handle, __u32 count,
		      __u64 *out_ts_ns)
{
	return imp_wait_event(impfd, handle, BAR_DMABUF_IMP_EV_UNMAP, count,
			      BD_UNMAP_LOG_MS, out_ts_ns);
}

int imp_read_log(int impfd, __u32 handle, struct imp_log *log)
{
	struct bar_dmabuf_imp_read_log r = {
		.size = sizeof(r),
		.handle = handle,
	};
	__u32 room = 256;
	int ret;

	memset(log, 0, sizeof(*log));
	for (;;) {
		struct bar_dmabuf_imp_event *ev;

		ev = calloc(room, sizeof(*ev));
		if (!ev)
			return -ENOMEM;
		r.max_events = room;
		r.events_ptr = (__u64)(unsigned long)ev;
		ret = bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_READ_LOG, &r);
		if (!ret) {
			log->ev = ev;
			log->nr = r.out_nr_events;
			log->lost = r.out_lost;
			return 0;
		}
		free(ev);
		if (ret != -ENOSPC || room >= (1u << 20))
			return ret;
		/* Too small: grow (out_nr_events may not have been copied). */
		room = r.out_nr_events > room ? r.out_nr_events + 64 : room * 4;
	}
}

void imp_log_free(struct imp_log *log)
{
	free(log->ev);
	memset(log, 0, sizeof(*log));
}

unsigned int imp_log_count(const struct imp_log *log, __u32 type)
{
	unsigned int i, n = 0;

	for (i = 0; i < log->nr; i++)
		n += log->ev[i].type == type;
	return n;
}

__u64 imp_log_first(const struct imp_log *log, __u32 type)
{
	unsigned int i;

	for (i = 0; i < log->nr; i++)
		if (log->ev[i].type == type)
			return log->ev[i].ts_ns;
	return 0;
}

__u64 imp_log_last(const struct imp_log *log, __u32 type)
{
	__u64 ts = 0;
	unsigned int i;

	for (i = 0; i < log->nr; i++)
		if (log->ev[i].type == type)
			ts = log->ev[i].ts_ns;
	return ts;
}

static const char *const imp_ev_names[] = {
	[BAR_DMABUF_IMP_EV_ATTACH] = "attach",
	[BAR_DMABUF_IMP_EV_MAP] = "map",
	[BAR_DMABUF_IMP_EV_JOB_SUBMIT] = "job-submit",
	[BAR_DMABUF_IMP_EV_JOB_START] = "job-start",
	[BAR_DMABUF_IMP_EV_JOB_DONE] = "job-done",
	[BAR_DMABUF_IMP_EV_FENCE_SIGNAL] = "fence-signal",
	[BAR_DMABUF_IMP_EV_INVALIDATE] = "invalidate",
	[BAR_DMABUF_IMP_EV_LATE_READ] = "late-read",
	[BAR_DMABUF_IMP_EV_UNMAP] = "unmap",
	[BAR_DMABUF_IMP_EV_DETACH] = "detach",
	[BAR_DMABUF_IMP_EV_VIOLATION] = "violation",
	[BAR_DMABUF_IMP_EV_WATCHDOG] = "watchdog",
	[BAR_DMABUF_IMP_EV_DMA_FAULT] = "dma-fault",
	[BAR_DMABUF_IMP_EV_PIN] = "pin",
	[BAR_DMABUF_IMP_EV_UNPIN] = "unpin",
};

void imp_log_dump(const struct imp_log *log)
{
	__u64 t0 = log->nr ? log->ev[0].ts_ns : 0;
	unsigned int i;

	for (i = 0; i < log->nr; i++) {
		const struct bar_dmabuf_imp_event *e = &log->ev[i];
		const char *name = "?";

		if (e->type < ARRAY_SIZE(imp_ev_names) &&
		    imp_ev_names[e->type])
			name = imp_ev_names[e->type];
		fprintf(stderr, "# +%8.3f ms h%u %-12s arg=%#llx result=%d\n",
			(double)(e->ts_ns - t0) / 1e6, e->handle, name,
			(unsigned long long)e->arg, e->result);
	}
	if (log->lost)
		fprintf(stderr, "# (%u events lost)\n", log->lost);
}

int imp_counters(int impfd, struct bar_dmabuf_imp_counters *c)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	return bd_ioctl(impfd, BAR_DMABUF_IMP_IOCTL_COUNTERS, c);
}

static void *bd_async_fn(void *arg)
{
	struct bd_async *a = arg;
	int ret;

	a->start_ns = bd_now_ns();
	ret = a->fn(a->arg);
	a->end_ns = bd_now_ns();

	pthread_mutex_lock(&a->lock);
	a->ret = ret;
	a->done = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int bd_async_start(struct bd_async *a, int (*fn)(void *), void *arg)
{
	pthread_condattr_t ca;

	memset(a, 0, sizeof(*a));
	a->fn = fn;
	a->arg = arg;
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cond, &ca);
	pthread_condattr_destroy(&ca);
	return -pthread_create(&a->thread, NULL, bd_async_fn, a);
}

bool bd_async_wait(struct bd_async *a, int timeout_ms)
{
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->lock);
	while (!a->done) {
		if (pthread_cond_timedwait(&a->cond, &a->lock, &ts) == ETIMEDOUT)
			break;
	}
	done = a->done;
	pthread_mutex_unlock(&a->lock);
	return done;
}

void bd_async_join(struct bd_async *a)
{
	pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
}

static int bd_async_revoke_fn(void *arg)
{
	struct bd_async_revoke *ar = arg;

	return bd_revoke(ar->devfd, ar->buf_fd, ar->flags, ar->timeout_ms,
			 &ar->out_nr);
}

int bd_async_revoke_start(struct bd_async_revoke *ar, int devfd, int buf_fd,
			  __u32 flags, __u32 timeout_ms)
{
	ar->devfd = devfd;
	ar->buf_fd = buf_fd;
	ar->flags = flags;
	ar->timeout_ms = timeout_ms;
	ar->out_nr = 0;
	return bd_async_start(&ar->a, bd_async_revoke_fn, ar);
}

int bd_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

/* The message part of a /dev/kmsg record: after the first ';'. */
static const char *bd_kmsg_text(const char *rec)
{
	const char *p = strchr(rec, ';');

	return p ? p + 1 : rec;
}

static int bd_kmsg_scan(int kfd, const char *const *needles, char *line,
			size_t len)
{
	char rec[2048];
	int found = 0;

	for (;;) {
		const char *const *n;
		ssize_t r;

		r = read(kfd, rec, sizeof(rec) - 1);
		if (r < 0) {
			if (errno == EPIPE || errno == EINTR)
				continue;	/* overwritten records */
			if (errno == EAGAIN)
				return found;
			return -errno;
		}
		rec[r] = '\0';
		if (found)
			continue;	/* drain the rest */
		for (n = needles; *n; n++) {
			if (strstr(bd_kmsg_text(rec), *n)) {
				snprintf(line, len, "%s", bd_kmsg_text(rec));
				found = 1;
				break;
			}
		}
	}
}

int bd_kmsg_find(int kfd, const char *needle, char *line, size_t len)
{
	const char *const needles[] = { needle, NULL };

	return bd_kmsg_scan(kfd, needles, line, len);
}

int bd_kmsg_wait(int kfd, const char *needle, char *line, size_t len,
		 int timeout_ms)
{
	__u64 deadline = bd_now_ns() + (__u64)timeout_ms * BD_NSEC_PER_MSEC;
	int ret;

	for (;;) {
		long long left;

		ret = bd_kmsg_find(kfd, needle, line, len);
		if (ret)
			return ret;
		left = bd_ms_between(bd_now_ns(), deadline);
		if (left <= 0)
			return 0;
		ret = bd_poll_in(kfd, (int)left);
		if (ret < 0)
			return ret;
	}
}

int bd_kmsg_find_problem(int kfd, char *line, size_t len)
{
	static const char *const needles[] = {
		"WARNING:", "BUG:", "Oops", "KASAN", "refcount_t",
		"possible recursive locking", "circular locking",
		"INFO: task", "UBSAN", "kmemleak", NULL,
	};

	return bd_kmsg_scan(kfd, needles, line, len);
}

const char *bd_precondition(bool need_importer)
{
	const char *bdf = bd_env("BAR_DMABUF_BDF");

	if (!bdf)
		return "BAR_DMABUF_BDF is not set (the device to export)";
	return bd_precondition_bdf(bdf, need_importer);
}

const char *bd_precondition_bdf(const char *bdf, bool need_importer)
{
	static char reason[256];
	char path[128], param[1024];
	struct stat st;

	snprintf(path, sizeof(path), BD_SYSFS_PCI "/%s", bdf);
	if (stat(path, &st)) {
		snprintf(reason, sizeof(reason), "no PCI device %s", bdf);
		return reason;
	}
	if (!bd_module_loaded("bar_dmabuf"))
		return "module bar_dmabuf is not loaded";
	/* A device the module was not asked for is not ours to test. */
	if (bd_read_file("/sys/module/bar_dmabuf/parameters/bdf", param,
			 sizeof(param)) >= 0 && !strstr(param, bdf)) {
		snprintf(reason, sizeof(reason),
			 "bar_dmabuf was loaded without bdf=%s", bdf);
		return reason;
	}
	if (need_importer && !bd_module_loaded("bar_dmabuf_importer"))
		return "module bar_dmabuf_importer is not loaded";
	return NULL;
}

int bd_env_open(struct bd_env *e, bool need_importer, __u64 min_bar)
{
	const char *bdf = bd_env("BAR_DMABUF_BDF");

	if (!bdf) {
		memset(e, 0, sizeof(*e));
		e->devfd = -1;
		e->impfd = -1;
		e->kfd = -1;
		e->bar = -1;
		snprintf(e->why, sizeof(e->why),
			 "BAR_DMABUF_BDF is not set (the device to export)");
		return 1;
	}
	return bd_env_open_bdf(e, bdf, need_importer, min_bar);
}

int bd_env_open_bdf(struct bd_env *e, const char *bdf, bool need_importer,
		    __u64 min_bar)
{
	const char *why;

	memset(e, 0, sizeof(*e));
	e->devfd = -1;
	e->impfd = -1;
	e->kfd = -1;
	e->bar = -1;
	why = bd_precondition_bdf(bdf, need_importer);
	if (why) {
		snprintf(e->why, sizeof(e->why), "%s", why);
		return 1;
	}
	e->bdf = bdf;
	e->devfd = bd_open_dev(e->bdf);
	if (e->devfd < 0) {
		snprintf(e->why, sizeof(e->why), "open %s/%s: %s", BD_DEV_DIR,
			 e->bdf, strerror(-e->devfd));
		return e->devfd;
	}
	if (bd_info(e->devfd, &e->info)) {
		snprintf(e->why, sizeof(e->why), "INFO: %s", strerror(errno));
		return -errno;
	}
	e->bar = bd_pick_mem_bar(&e->info, min_bar);
	if (e->bar < 0) {
		snprintf(e->why, sizeof(e->why),
			 "no memory BAR of %llu KiB on %s",
			 (unsigned long long)min_bar / 1024, e->bdf);
		return 1;
	}
	if (need_importer) {
		e->impfd = imp_open();
		if (e->impfd < 0) {
			snprintf(e->why, sizeof(e->why), "open %s: %s",
				 BD_IMP_NODE, strerror(-e->impfd));
			return e->impfd;
		}
	}
	e->kfd = bd_kmsg_open();
	return 0;
}

void bd_env_close(struct bd_env *e)
{
	/* The importer first: its close unmaps and detaches everything. */
	bd_close(&e->impfd);
	bd_close(&e->devfd);
	bd_close(&e->kfd);
}

int bd_env_export(struct bd_env *e, unsigned int first, unsigned int pages)
{
	int fd = -1, ret;

	ret = bd_export_one(e->devfd, e->bar, first * BD_PAGE, pages * BD_PAGE,
			    &fd);
	if (ret)
		snprintf(e->why, sizeof(e->why), "export: %s", strerror(-ret));
	return ret ? ret : fd;
}

int bd_env_attach(struct bd_env *e, int buf, __u32 mode, __u32 bflags,
		  __u32 window_ms, bool map, __u32 *out_handle)
{
	__u32 h = 0;
	int ret;

	ret = imp_attach(e->impfd, buf, 0, &h);
	if (ret) {
		snprintf(e->why, sizeof(e->why), "attach: %s", strerror(-ret));
		return ret;
	}
	ret = imp_set_behaviour(e->impfd, h, mode, bflags, window_ms,
				window_ms ? 20 : 1);
	if (ret) {
		snprintf(e->why, sizeof(e->why), "set behaviour: %s",
			 strerror(-ret));
		return ret;
	}
	if (map) {
		ret = imp_map(e->impfd, h, NULL);
		if (ret) {
			snprintf(e->why, sizeof(e->why), "map: %s",
				 strerror(-ret));
			return ret;
		}
	}
	*out_handle = h;
	return 0;
}

const char *bd_env_show_log(struct bd_env *e, __u32 h)
{
	struct imp_log log;

	if (imp_read_log(e->impfd, h, &log))
		return " (no timeline)";
	fprintf(stderr, "# timeline of attachment %u:\n", h);
	imp_log_dump(&log);
	imp_log_free(&log);
	return "";
}

int bd_param_override(struct bd_param_saved *s, const char *module,
		      const char *param, const char *val)
{
	char path[sizeof(s->path)];
	int ret;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module,
		 param);
	if (!s->path[0]) {
		ret = bd_module_param_read(module, param, s->old,
					   sizeof(s->old));
		if (ret)
			return ret;
		snprintf(s->path, sizeof(s->path), "%s", path);
	} else if (strcmp(s->path, path)) {
		return -EINVAL;
	}
	return bd_write_file(path, val);
}

int bd_param_restore(struct bd_param_saved *s)
{
	int ret;

	if (!s->path[0])
		return 0;
	ret = bd_write_file(s->path, s->old);
	if (!ret)
		s->path[0] = '\0';
	return ret;
}

int bd_module_refcnt(const char *name)
{
	char path[128], val[32];
	long n;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", name);
	n = bd_read_file(path, val, sizeof(val));
	if (n < 0)
		return n;
	return atoi(val);
}

#define BD_DEBUGFS_MAX	(256 * 1024)

/* The whole of bar_dmabuf/<bdf>/buffers, malloc'ed; NULL and *@err. */
static char *bd_debugfs_read(const char *bdf, int *err)
{
	char path[128], *text;
	long n;

	snprintf(path, sizeof(path), BD_DEBUGFS "/%s/buffers", bdf);
	text = malloc(BD_DEBUGFS_MAX);
	if (!text) {
		*err = -ENOMEM;
		return NULL;
	}
	n = bd_read_file(path, text, BD_DEBUGFS_MAX);
	if (n < 0) {
		free(text);
		*err = n;
		return NULL;
	}
	return text;
}

int bd_debugfs_buffer(const char *bdf, int buf_fd, char *out, size_t len)
{
	char key[64], *text, *line, *next, *eol, *hit;
	struct stat st;
	int ret = -ENOENT;

	if (fstat(buf_fd, &st))
		return -errno;
	text = bd_debugfs_read(bdf, &ret);
	if (!text)
		return ret;
	snprintf(key, sizeof(key), " inode %llu ",
		 (unsigned long long)st.st_ino);
	ret = -ENOENT;
	for (line = text; *line; line = next) {
		eol = strchrnul(line, '\n');
		next = *eol ? eol + 1 : eol;
		if (strncmp(line, "buffer ", 7))
			continue;
		hit = strstr(line, key);
		if (!hit || hit > eol)
			continue;
		/* its block: the indented lines that follow */
		while (*eol && eol[1] == ' ')
			eol = strchrnul(eol + 1, '\n');
		snprintf(out, len, "%.*s", (int)(eol - line), line);
		ret = 0;
		break;
	}
	free(text);
	return ret;
}

int bd_debugfs_wait(const char *bdf, int buf_fd, const char *needle,
		    int timeout_ms)
{
	__u64 deadline = bd_now_ns() + (__u64)timeout_ms * BD_NSEC_PER_MSEC;
	char block[4096];

	for (;;) {
		if (!bd_debugfs_buffer(bdf, buf_fd, block, sizeof(block)) &&
		    strstr(block, needle))
			return 0;
		if (bd_now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(20000);
	}
}

int bd_debugfs_buffer_id(const char *bdf, int buf_fd)
{
	char block[4096];
	unsigned int id;
	int ret;

	ret = bd_debugfs_buffer(bdf, buf_fd, block, sizeof(block));
	if (ret)
		return ret;
	if (sscanf(block, "buffer %u:", &id) != 1)
		return -EINVAL;
	return (int)id;
}

#define BD_TRACEFS	"/sys/kernel/tracing"

int bd_trace_start(void)
{
	struct stat st;
	int ret, fd;

	if (stat(BD_TRACEFS "/events", &st))
		mount("nodev", BD_TRACEFS, "tracefs", 0, NULL);
	if (stat(BD_TRACEFS "/events/bar_dmabuf", &st))
		return -ENOENT;
	ret = bd_write_file(BD_TRACEFS "/tracing_on", "0");
	if (ret)
		return ret;
	fd = open(BD_TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	ret = bd_write_file(BD_TRACEFS "/events/bar_dmabuf/enable", "1");
	if (ret)
		return ret;
	return bd_write_file(BD_TRACEFS "/tracing_on", "1");
}

long bd_read_all(const char *path, char **out)
{
	size_t cap = 1 << 16, len = 0;
	char *text = malloc(cap), *bigger;
	ssize_t n;
	int fd;

	*out = NULL;
	if (!text)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(text);
		return -errno;
	}
	for (;;) {
		if (cap - len < 4096) {
			bigger = realloc(text, cap * 2);
			if (!bigger)
				break;
			text = bigger;
			cap *= 2;
		}
		n = read(fd, text + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	text[len] = '\0';
	*out = text;
	return len;
}

char *bd_trace_read(void)
{
	char *text;

	bd_read_all(BD_TRACEFS "/trace", &text);
	return text;
}

int bd_trace_pos(const char *text, const char *event, const char *bdf, int id)
{
	char ev[64], who[64];
	const char *line, *eol, *hit;
	int n = 0;
	size_t wl;

	snprintf(ev, sizeof(ev), " bar_dmabuf_%s: ", event);
	wl = snprintf(who, sizeof(who), "%s buffer %d", bdf, id);
	for (line = text; *line; line = *eol ? eol + 1 : eol, n++) {
		eol = strchrnul(line, '\n');
		hit = strstr(line, ev);
		if (!hit || hit > eol)
			continue;
		hit = strstr(hit, who);
		if (hit && hit < eol && (hit[wl] == ' ' || hit + wl == eol))
			return n;
	}
	return -1;
}

void bd_trace_stop(void)
{
	bd_write_file(BD_TRACEFS "/tracing_on", "0");
	bd_write_file(BD_TRACEFS "/events/bar_dmabuf/enable", "0");
}

int bd_debugfs_nr_buffers(const char *bdf)
{
	char *text, *line;
	int n = 0;

	text = bd_debugfs_read(bdf, &n);
	if (!text)
		return n;
	for (line = text; *line; line = *line ? line + 1 : line) {
		n += !strncmp(line, "buffer ", 7);
		line = strchrnul(line, '\n');
	}
	free(text);
	return n;
}

/* Does the kernel's config say CONFIG_PCI_P2PDMA=y? 1, 0, -ENOENT. */
static int bd_kconfig_p2pdma(void)
{
	static const char *const where[] = {
		"/boot/config-%s", "/lib/modules/%s/config",
	};
	char path[256], line[256];
	struct utsname u;
	unsigned int i;
	FILE *f;
	int ret;

	if (uname(&u))
		return -errno;
	for (i = 0; i < ARRAY_SIZE(where); i++) {
		snprintf(path, sizeof(path), where[i], u.release);
		f = fopen(path, "re");
		if (!f)
			continue;
		ret = 0;
		while (fgets(line, sizeof(line), f))
			if (!strcmp(line, "CONFIG_PCI_P2PDMA=y\n"))
				ret = 1;
		fclose(f);
		return ret;
	}
	return -ENOENT;
}

int bd_p2p_provable(void)
{
	const char *v = bd_env("BAR_DMABUF_P2PDMA");

	if (!bd_env("BAR_DMABUF_IMPORTER_BDF"))
		return 0;
	if (v)
		return !strcmp(v, "y");
	return bd_kconfig_p2pdma();
}

const char *bd_p2p_proven_path(void)
{
	unsigned int major = 0, minor = 0;
	struct utsname u;

	if (!uname(&u))
		sscanf(u.release, "%u.%u", &major, &minor);
	return major > 6 || (major == 6 && minor >= 19) ? "p2p-helper" :
							  "dma_map_resource";
}

/*
 * A write to a shrink file allocates its 2-byte copy from kmalloc-8 (or
 * one of its random twins): those caches are shrunk last, after every
 * other write, so their per-CPU slabs stay flushed until the read.
 */
static bool slab_shrink_last(const char *name)
{
	size_t len = strlen(name);

	return !strncmp(name, "kmalloc", 7) && len > 2 &&
	       !strcmp(name + len - 2, "-8");
}

/* Read all of /proc/slabinfo into @m's buffer; its length, or -errno. */
static ssize_t slab_read_info(struct bd_slab_meter *m)
{
	size_t len = 0;
	ssize_t n = 0;

	if (lseek(m->info, 0, SEEK_SET))
		return -errno;
	while (len < m->room &&
	       (n = read(m->info, m->text + len, m->room - len)) > 0)
		len += n;
	if (n < 0)
		return -errno;
	if (len == m->room)
		return -EOVERFLOW;
	m->text[len] = 0;
	return len;
}

/* Open the shrink file of each cache in @dir that is (not) to go last. */
static int slab_meter_add(struct bd_slab_meter *m, DIR *dir, bool last,
			  unsigned int *cap)
{
	struct dirent *d;
	char path[300];
	int *bigger, fd;

	rewinddir(dir);
	/* aliases of merged caches are symlinks: each cache once */
	while ((d = readdir(dir))) {
		if (d->d_type != DT_DIR || d->d_name[0] == '.' ||
		    slab_shrink_last(d->d_name) != last)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
			 d->d_name);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (m->nr == *cap) {
			*cap = *cap ? 2 * *cap : 256;
			bigger = realloc(m->fd, *cap * sizeof(*m->fd));
			if (!bigger) {
				close(fd);
				return -ENOMEM;
			}
			m->fd = bigger;
		}
		m->fd[m->nr++] = fd;
	}
	return 0;
}

int bd_slab_meter_open(struct bd_slab_meter *m)
{
	DIR *dir = opendir("/sys/kernel/slab");
	unsigned int cap = 0;
	ssize_t len;

	memset(m, 0, sizeof(*m));
	m->info = -1;
	if (!dir)
		return -errno;
	len = slab_meter_add(m, dir, false, &cap);
	if (!len)
		len = slab_meter_add(m, dir, true, &cap);
	closedir(dir);
	if (!len && !m->nr)
		len = -ENOENT;
	if (len) {
		bd_slab_meter_close(m);
		return len;
	}
	m->info = open("/proc/slabinfo", O_RDONLY | O_CLOEXEC);
	if (m->info < 0)
		goto err;
	/* twice what it holds now, touched, so no read grows a thing */
	m->room = 64 * 1024;
	for (;;) {
		m->text = malloc(m->room + 1);
		if (!m->text) {
			errno = ENOMEM;
			goto err;
		}
		memset(m->text, 0, m->room + 1);
		len = slab_read_info(m);
		if (len != -EOVERFLOW)
			break;
		free(m->text);
		m->room *= 4;
	}
	if (len < 0) {
		errno = -len;
		goto err;
	}
	if ((size_t)len > m->room / 2) {
		free(m->text);
		m->room = 2 * len;
		m->text = malloc(m->room + 1);
		if (!m->text) {
			errno = ENOMEM;
			goto err;
		}
		memset(m->text, 0, m->room + 1);
	}
	return 0;
err:
	len = -errno;
	bd_slab_meter_close(m);
	return len;
}

void bd_slab_meter_close(struct bd_slab_meter *m)
{
	unsigned int i;

	for (i = 0; i < m->nr; i++)
		close(m->fd[i]);
	free(m->fd);
	if (m->info >= 0)
		close(m->info);
	free(m->text);
	memset(m, 0, sizeof(*m));
	m->info = -1;
}

/*
 * Every cache line of /proc/slabinfo but vmap_area, whose objects a
 * vfree() leaves allocated until a lazy purge userspace cannot ask for;
 * the live vmalloc areas stand in for it, as "vmallocinfo".
 */
static int slab_add_vmalloc(struct bd_slab *s)
{
	struct bd_slab_cache *c = NULL;
	unsigned int i;
	char line[512];
	long live = 0;
	FILE *f;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->c[i].name, "vmap_area"))
			c = &s->c[i];
	if (!c)
		return 0;
	f = fopen("/proc/vmallocinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		live += !strstr(line, "unpurged");
	fclose(f);
	snprintf(c->name, sizeof(c->name), "vmallocinfo");
	c->objs = live;
	return 0;
}

int bd_slab_snapshot(struct bd_slab_meter *m, struct bd_slab *s)
{
	struct bd_slab_cache *c;
	char name[48], *line, *next;
	unsigned int cap = 0, i;
	ssize_t len;
	long objs;

	memset(s, 0, sizeof(*s));
	/* 2: dentries and inodes; 4: without a log line each time */
	bd_write_file("/proc/sys/vm/drop_caches", "6");
	/* two grace periods: most objects freed by RCU are gone then */
	syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
	syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
	for (i = 0; i < m->nr; i++)
		if (pwrite(m->fd[i], "1", 1, 0) != 1)
			return -errno;
	len = slab_read_info(m);
	if (len < 0)
		return len;
	/* "name <active_objs> <num_objs> ...", after two header lines */
	for (line = m->text; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (sscanf(line, "%47s %ld", name, &objs) != 2)
			continue;
		if (s->nr == cap) {
			cap = cap ? 2 * cap : 256;
			c = realloc(s->c, cap * sizeof(*c));
			if (!c) {
				bd_slab_free(s);
				return -ENOMEM;
			}
			s->c = c;
		}
		snprintf(s->c[s->nr].name, sizeof(s->c[s->nr].name), "%s",
			 name);
		s->c[s->nr++].objs = objs;
	}
	if (!s->nr)
		return -ENOENT;
	return slab_add_vmalloc(s);
}

long bd_slab_objs(const struct bd_slab *s, const char *name)
{
	unsigned int i;

	for (i = 0; i < s->nr; i++)
		if (!strcmp(s->c[i].name, name))
			return s->c[i].objs;
	return -1;
}

void bd_slab_free(struct bd_slab *s)
{
	free(s->c);
	memset(s, 0, sizeof(*s));
}

void bd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- loading and unloading modules (importer_test, load_test) ---- */

int bd_module_path(const char *name, char *path, size_t len)
{
	char dep[512], line[512], want[128];
	struct utsname u;
	int ret = -ENOENT;
	FILE *f;

	if (uname(&u))
		return -errno;
	snprintf(want, sizeof(want), "%s.ko", name);
	snprintf(dep, sizeof(dep), "/lib/modules/%s/modules.dep", u.release);
	f = fopen(dep, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		char *base;

		if (!colon)
			continue;
		*colon = '\0';
		base = strrchr(line, '/');
		base = base ? base + 1 : line;
		/* Compressed modules end in .ko.xz etc.: match the stem. */
		if (strncmp(base, want, strlen(want)) ||
		    (base[strlen(want)] && base[strlen(want)] != '.'))
			continue;
		if (line[0] == '/')
			snprintf(path, len, "%s", line);
		else
			snprintf(path, len, "/lib/modules/%s/%s", u.release,
				 line);
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

int bd_module_load(const char *path, const char *params)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, params, 0))
		ret = -errno;
	close(fd);
	return ret;
}

int bd_module_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

int bd_module_param_read(const char *module, const char *param, char *buf,
			 size_t len)
{
	char path[256];
	long n;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", module,
		 param);
	n = bd_read_file(path, buf, len);
	if (n < 0)
		return n;
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

int bd_module_params_string(const char *module, const char *const *names,
			    unsigned int nr, char *buf, size_t len)
{
	size_t used = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < nr; i++) {
		char val[256];

		if (bd_module_param_read(module, names[i], val, sizeof(val)))
			return -ENOENT;
		if (!val[0] || !strcmp(val, "(null)"))
			continue;
		used += snprintf(buf + used, len - used, "%s%s=%s",
				 used ? " " : "", names[i], val);
		if (used >= len)
			return -ENOSPC;
	}
	return 0;
}

/*
 * Unload the importer; it goes once the last of its fences is freed
 * (closing a dma-buf frees them, a little later): retry briefly.
 */
static int bd_importer_unload(void)
{
	__u64 deadline = bd_now_ns() + 10000 * BD_NSEC_PER_MSEC;
	int ret;

	while ((ret = bd_module_unload(BD_IMP_MODULE)) == -EAGAIN ||
	       ret == -EBUSY) {
		if (bd_now_ns() > deadline)
			break;
		usleep(20000);
	}
	return ret;
}

int bd_importer_swap(struct bd_importer_swap *s, const char *params)
{
	static const char *const names[] = { "bdf", "fence_watchdog_ms" };
	int ret;

	s->swapped = false;
	s->why[0] = 0;
	if (bd_module_path(BD_IMP_MODULE, s->ko, sizeof(s->ko))) {
		snprintf(s->why, sizeof(s->why),
			 "%s.ko is not in modules.dep (make install or dkms)",
			 BD_IMP_MODULE);
		return 1;
	}
	if (bd_module_params_string(BD_IMP_MODULE, names, ARRAY_SIZE(names),
				    s->params, sizeof(s->params))) {
		snprintf(s->why, sizeof(s->why),
			 "parameters of the loaded %s not readable",
			 BD_IMP_MODULE);
		return 1;
	}
	/* The importer can go only if nothing holds one of its fences. */
	ret = bd_importer_unload();
	if (ret) {
		snprintf(s->why, sizeof(s->why), "%s cannot be unloaded now: %s",
			 BD_IMP_MODULE, strerror(-ret));
		return 1;
	}
	s->swapped = true;
	ret = bd_module_load(s->ko, params ? params : s->params);
	if (ret)
		snprintf(s->why, sizeof(s->why), "load %s with \"%.160s\": %s",
			 BD_IMP_MODULE, params ? params : s->params,
			 strerror(-ret));
	return ret;
}

int bd_importer_restore(struct bd_importer_swap *s)
{
	int ret;

	if (!s->swapped)
		return 0;
	ret = bd_importer_unload();
	if (ret && ret != -ENOENT) {
		snprintf(s->why, sizeof(s->why), "unload %s: %s",
			 BD_IMP_MODULE, strerror(-ret));
		return ret;
	}
	ret = bd_module_load(s->ko, s->params);
	if (ret) {
		snprintf(s->why, sizeof(s->why), "reload %s with \"%.160s\": %s",
			 BD_IMP_MODULE, s->params, strerror(-ret));
		return ret;
	}
	s->swapped = false;
	return 0;
}

#define BD_FAULT_DIR	"/sys/kernel/debug"

/*
 * The debugfs settings fault injection runs with (and gets back): failslab
 * also fails GFP_KERNEL allocations, and no kind of fault injection
 * prints a stack dump for each failure (the rig counts a "Call Trace" as
 * a kernel problem). fail-nth takes precedence over the rest.
 */
static const char *const bd_fault_settings[][2] = {
	{ "failslab/ignore-gfp-wait", "N" },
	{ "failslab/verbose", "0" },
	{ "fail_page_alloc/verbose", "0" },
	{ "fail_usercopy/verbose", "0" },
};

/* Save debugfs file @file into @saved (up to 8 bytes) and write @val. */
static int bd_fault_set(const char *file, char *saved, const char *val)
{
	char path[96];
	long n;

	snprintf(path, sizeof(path), BD_FAULT_DIR "/%s", file);
	n = bd_read_file(path, saved, 8);
	if (n <= 0) {
		saved[0] = '\0';
		return n ? (int)n : -ENOENT;
	}
	saved[strcspn(saved, "\n")] = '\0';
	return bd_write_file(path, val);
}

int bd_fault_open(struct bd_fault *f, char *why, size_t len)
{
	unsigned int i;
	int ret;

	memset(f, 0, sizeof(*f));
	f->nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (f->nth < 0) {
		snprintf(why, len, "no /proc/thread-self/fail-nth: %s",
			 "no CONFIG_FAULT_INJECTION (the rig's debug kernel has it)");
		return 1;
	}
	ret = bd_fault_set(bd_fault_settings[0][0], f->saved[0],
			   bd_fault_settings[0][1]);
	if (ret) {
		snprintf(why, len, "%s/%s: %s (CONFIG_FAILSLAB, %s)",
			 BD_FAULT_DIR, bd_fault_settings[0][0], strerror(-ret),
			 "CONFIG_FAULT_INJECTION_DEBUG_FS");
		bd_fault_close(f);
		return 1;
	}
	for (i = 1; i < ARRAY_SIZE(bd_fault_settings); i++)
		bd_fault_set(bd_fault_settings[i][0], f->saved[i],
			     bd_fault_settings[i][1]);
	return 0;
}

void bd_fault_close(struct bd_fault *f)
{
	char path[96];
	unsigned int i;

	if (f->nth > 0) {
		pwrite(f->nth, "0", 1, 0);
		close(f->nth);
	}
	f->nth = -1;
	for (i = 0; i < ARRAY_SIZE(bd_fault_settings); i++) {
		if (!f->saved[i][0])
			continue;
		snprintf(path, sizeof(path), BD_FAULT_DIR "/%s",
			 bd_fault_settings[i][0]);
		bd_write_file(path, f->saved[i]);
		f->saved[i][0] = '\0';
	}
}

int bd_fault_arm(struct bd_fault *f, unsigned int n)
{
	char nbuf[16];
	int len = snprintf(nbuf, sizeof(nbuf), "%u", n);

	return pwrite(f->nth, nbuf, len, 0) == len ? 0 : -errno;
}

bool bd_fault_disarm(struct bd_fault *f)
{
	char nbuf[16];
	ssize_t len;

	len = pread(f->nth, nbuf, sizeof(nbuf) - 1, 0);
	nbuf[len > 0 ? len : 0] = '\0';
	/* off again (a failed read also used the last one up) */
	pwrite(f->nth, "0", 1, 0);
	return len > 0 && !atoi(nbuf);
}

/* ---- userfaultfd ---- */

int bd_uffd_open(struct bd_uffd *u, bool wp, char *why, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	int ret;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	u->wake[0] = -1;
	u->wake[1] = -1;
	u->wp = wp;
	u->page = MAP_FAILED;
	u->fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->fd < 0) {
		ret = -errno;
		/* the sysctl exists exactly when CONFIG_USERFAULTFD does */
		if (access("/proc/sys/vm/unprivileged_userfaultfd", F_OK)) {
			snprintf(why, len, "userfaultfd(): %s (no CONFIG_USERFAULTFD)",
				 strerror(-ret));
			return 1;
		}
		snprintf(why, len, "userfaultfd(): %s", strerror(-ret));
		return ret;
	}
	if (wp)
		api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	if (ioctl(u->fd, UFFDIO_API, &api)) {
		ret = -errno;
		snprintf(why, len, "UFFDIO_API%s: %s",
			 wp ? " (write-protect)" : "", strerror(-ret));
		goto err;
	}
	u->page = mmap(NULL, BD_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	u->stage = calloc(1, BD_PAGE);
	if (u->page == MAP_FAILED || !u->stage || pipe(u->wake)) {
		ret = -ENOMEM;
		snprintf(why, len, "no memory for the userfaultfd page");
		goto err;
	}
	if (wp)
		memset(u->page, 0, BD_PAGE);	/* present: WP needs a page */
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	return 0;

err:
	close(u->fd);
	u->fd = -1;
	if (u->page != MAP_FAILED)
		munmap(u->page, BD_PAGE);
	u->page = MAP_FAILED;
	free(u->stage);
	u->stage = NULL;
	return ret;
}

/* Resolve the one fault the page gets: as asked, or with EFAULT. */
static void bd_uffd_resolve(struct bd_uffd *u, bool fault)
{
	struct uffdio_range range = {
		.start = (unsigned long)u->page, .len = BD_PAGE,
	};

	if (fault) {
		/* the retried access now fails its permission check */
		mprotect(u->page, BD_PAGE, PROT_NONE);
		ioctl(u->fd, UFFDIO_WAKE, &range);
	} else if (u->wp) {
		struct uffdio_writeprotect w = { .range = range, .mode = 0 };

		ioctl(u->fd, UFFDIO_WRITEPROTECT, &w);
	} else {
		struct uffdio_copy c = {
			.dst = (unsigned long)u->page,
			.src = (unsigned long)u->stage,
			.len = BD_PAGE,
		};

		ioctl(u->fd, UFFDIO_COPY, &c);
	}
}

static void *bd_uffd_handler(void *arg)
{
	struct bd_uffd *u = arg;
	struct pollfd p[2] = {
		{ .fd = u->fd, .events = POLLIN },
		{ .fd = u->wake[0], .events = POLLIN },
	};
	struct uffd_msg msg;
	bool fault;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (read(u->fd, &msg, sizeof(msg)) == sizeof(msg) &&
		    msg.event == UFFD_EVENT_PAGEFAULT)
			break;
	}

	pthread_mutex_lock(&u->lock);
	u->addr = msg.arg.pagefault.address;
	u->parked = true;
	pthread_cond_broadcast(&u->cond);
	while (!u->go)
		pthread_cond_wait(&u->cond, &u->lock);
	fault = u->fault;
	pthread_mutex_unlock(&u->lock);
	bd_uffd_resolve(u, fault);
	return NULL;
}

int bd_uffd_arm(struct bd_uffd *u)
{
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)u->page, .len = BD_PAGE },
		.mode = u->wp ? UFFDIO_REGISTER_MODE_WP :
				UFFDIO_REGISTER_MODE_MISSING,
	};
	int ret;

	if (ioctl(u->fd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (u->wp) {
		struct uffdio_writeprotect w = {
			.range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP,
		};

		if (ioctl(u->fd, UFFDIO_WRITEPROTECT, &w))
			return -errno;
	}
	ret = -pthread_create(&u->thread, NULL, bd_uffd_handler, u);
	if (!ret)
		u->running = true;
	return ret;
}

int bd_uffd_wait_parked(struct bd_uffd *u, int timeout_ms)
{
	struct timespec ts;
	bool parked;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&u->lock);
	while (!u->parked) {
		if (pthread_cond_timedwait(&u->cond, &u->lock, &ts) == ETIMEDOUT)
			break;
	}
	parked = u->parked;
	pthread_mutex_unlock(&u->lock);
	return parked ? 0 : -ETIMEDOUT;
}

void bd_uffd_release(struct bd_uffd *u, bool fault)
{
	if (!u->running)
		return;
	pthread_mutex_lock(&u->lock);
	if (!u->go) {
		u->go = true;
		u->fault = fault;
	}
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

void bd_uffd_close(struct bd_uffd *u)
{
	if (u->running) {
		bd_uffd_release(u, false);
		if (write(u->wake[1], "x", 1) < 0)
			perror("uffd wake");
		pthread_join(u->thread, NULL);
		u->running = false;
		pthread_cond_destroy(&u->cond);
		pthread_mutex_destroy(&u->lock);
	}
	if (u->fd >= 0)
		close(u->fd);	/* wakes any access still parked: EFAULT */
	u->fd = -1;
	if (u->wake[0] >= 0) {
		close(u->wake[0]);
		close(u->wake[1]);
		u->wake[0] = -1;
		u->wake[1] = -1;
	}
	if (u->page && u->page != MAP_FAILED)
		munmap(u->page, BD_PAGE);
	u->page = MAP_FAILED;
	free(u->stage);
	u->stage = NULL;
}

int bd_wait_wchan(pid_t tid, const char *func, int timeout_ms)
{
	char path[64], buf[128];
	__u64 end = bd_now_ns() + (__u64)timeout_ms * BD_NSEC_PER_MSEC;
	bool named = false;
	long n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", (int)tid);
	for (;;) {
		n = bd_read_file(path, buf, sizeof(buf));
		if (n > 0 && strcmp(buf, "0"))
			named = true;
		if (n > 0 && !strncmp(buf, func, strlen(func)))
			return 0;
		if (bd_now_ns() > end)
			return named ? -ETIMEDOUT : -ENOENT;
		usleep(10000);
	}
}

int bd_nr_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	int n = 0;

	if (!dir)
		return -errno;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n - 1;	/* the directory's own */
}
