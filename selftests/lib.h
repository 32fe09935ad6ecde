/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the bar_dmabuf selftests.
 *
 * Every helper that wraps an ioctl returns 0 (or a non-negative count) on
 * success and -errno on failure, so a test can compare the exact errno with
 * ASSERT_EQ(-EINVAL, ret). Nothing here asserts: the tests decide what is a
 * failure and what is a SKIP.
 *
 * Devices come from the environment:
 *   BAR_DMABUF_BDF            the exported device (required for every test)
 *   BAR_DMABUF_BDF2           a second exported device (several-device tests)
 *   BAR_DMABUF_IMPORTER_BDF   the PCI function the importer maps through
 *   BAR_DMABUF_IOBAR_BDF      a device bound to bar_dmabuf with an I/O BAR
 *   BAR_DMABUF_HOTPLUG        "<path> del|add" hot-unplug helper (VM only)
 */
#ifndef BAR_DMABUF_SELFTEST_LIB_H
#define BAR_DMABUF_SELFTEST_LIB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/types.h>
#include <linux/types.h>

#include <linux/bar_dmabuf.h>
#include <linux/bar_dmabuf_importer.h>

#define BD_DEV_DIR		"/dev/bar_dmabuf"
#define BD_IMP_NODE		"/dev/bar_dmabuf_importer"
#define BD_SYSFS_PCI		"/sys/bus/pci/devices"
#define BD_DEBUGFS		"/sys/kernel/debug/bar_dmabuf"
#define BD_DRIVER_DIR		"/sys/bus/pci/drivers/bar_dmabuf"
#define BD_PAGE			4096ULL

#define BD_NSEC_PER_MSEC	1000000ULL

/*
 * The importer stamps an UNMAP event just after its unmap call returned, so
 * a revoke woken by that very unmap may return before the stamp: by up to
 * 9 ms seen on the debug kernel (KASAN, lockdep) on a loaded host, when
 * the importer's worker is preempted between its unmap and the stamp.
 * Comparisons of a return time with an UNMAP stamp allow this much; a
 * revoke that does not wait for the unmap returns at least the smallest
 * late-read window or blocked-check of the suite (300 ms) early.
 */
#define BD_UNMAP_STAMP_SLACK_NS	(50 * BD_NSEC_PER_MSEC)

/* How long imp_wait_unmapped() waits for a log entry already due. */
#define BD_UNMAP_LOG_MS	10000

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#endif

/* ---- environment and device node ---- */

/* The value of @name, or NULL if it is unset or empty. */
const char *bd_env(const char *name);

/* Open /dev/bar_dmabuf/<bdf>; returns the fd or -errno. */
int bd_open_dev(const char *bdf);

/* Is the module @name loaded (/sys/module/<name> exists)? */
bool bd_module_loaded(const char *name);

/* ---- exporter ioctls ---- */

int bd_info(int devfd, struct bar_dmabuf_info *info);

/*
 * Export @nr ranges of BAR @bar. On success *@out_fd is the dma-buf and
 * *@out_len (if not NULL) its length.
 */
int bd_export(int devfd, __u32 bar, const struct bar_dmabuf_range *ranges,
	      __u32 nr, __u32 open_flags, int *out_fd, __u64 *out_len);

/* Export one range with O_RDWR | O_CLOEXEC. */
int bd_export_one(int devfd, __u32 bar, __u64 offset, __u64 length,
		  int *out_fd);

/* Revoke/restore one buffer (@buf_fd) or, with BAR_DMABUF_ALL_BUFFERS, all. */
int bd_revoke(int devfd, int buf_fd, __u32 flags, __u32 timeout_ms,
	      __u32 *out_nr);
int bd_restore(int devfd, int buf_fd, __u32 flags, __u32 *out_nr);

/*
 * The first memory BAR of @info with at least @min_size bytes, preferring
 * prefetchable ones; -1 if there is none.
 */
int bd_pick_mem_bar(const struct bar_dmabuf_info *info, __u64 min_size);

/* The first I/O BAR of @info, or -1. */
int bd_pick_io_bar(const struct bar_dmabuf_info *info);

/* ---- sysfs ---- */

/* One line of /sys/bus/pci/devices/<bdf>/resource. */
struct bd_sysfs_bar {
	__u64 start;
	__u64 end;
	__u64 flags;	/* IORESOURCE_* */
	__u64 size;	/* end - start + 1, or 0 if unused */
};

#define BD_IORESOURCE_IO	0x00000100ULL
#define BD_IORESOURCE_MEM	0x00000200ULL
#define BD_IORESOURCE_PREFETCH	0x00002000ULL
#define BD_IORESOURCE_MEM_64	0x00100000ULL

/* Parse the first six lines of the resource file; returns 0 or -errno. */
int bd_sysfs_bars(const char *bdf, struct bd_sysfs_bar bars[BAR_DMABUF_NUM_BARS]);

/*
 * Write @val to the sysfs file @path (e.g. a driver's unbind); returns 0 or
 * -errno.
 */
int bd_write_file(const char *path, const char *val);

/* Read up to @len - 1 bytes of @path into @buf, NUL terminated; bytes or -errno. */
long bd_read_file(const char *path, char *buf, size_t len);

/* The driver @bdf is bound to, into @buf ("" if none); 0 or -errno. */
int bd_driver_of(const char *bdf, char *buf, size_t len);

/*
 * Run @argv (argv[0] a path or a name looked up in PATH) and wait for it:
 * its exit status, or -errno if it could not run or died of a signal.
 */
int bd_run(char *const argv[]);

/*
 * Ask the test VM to hot-unplug ("del") or re-plug ("add") BAR_DMABUF_BDF
 * through $BAR_DMABUF_HOTPLUG and wait for it: 0, -ENOENT if unset, -EIO.
 */
int bd_hotplug(const char *op);

/*
 * In the test VM, ask the host to compare the file behind
 * BAR_DMABUF_BDF's BAR2 at @offset with @hex (through
 * $BAR_DMABUF_HOSTFILE_CHECK): 0, -ENOENT if unset, -EIO.
 */
int bd_hostfile_check(unsigned long long offset, const char *hex);

/*
 * Wait, checking every 20 ms, until @path exists (@exists true) or is gone,
 * at most @timeout_ms; 0 when it happened, -ETIMEDOUT otherwise. For state
 * that only sysfs/devtmpfs show, with no event to wait on.
 */
int bd_wait_path(const char *path, bool exists, int timeout_ms);

/*
 * Bind @bdf to bar_dmabuf again if it is bound to nothing, and wait up to
 * 30 s for its node: 0 or -ETIMEDOUT.
 */
int bd_rebind(const char *bdf);

/* The ways out of a device that come from the PCI core (rule 10). */
enum bd_way {
	BD_WAY_UNBIND,		/* echo BDF > .../drivers/bar_dmabuf/unbind */
	BD_WAY_HOTPLUG,		/* $BAR_DMABUF_HOTPLUG del */
	BD_WAY_RESET,		/* echo 1 > .../BDF/reset */
	BD_WAY_AER,		/* $BAR_DMABUF_AER: error recovery resets the link */
};

/* Why @way can't be taken with @bdf here (a SKIP reason), or NULL. */
const char *bd_way_unavailable(enum bd_way way, const char *bdf);

/*
 * Have the test VM inject an AER error of @kind ("fatal", "nonfatal") at
 * the root port above @bdf and wait for the kernel's recovery, at most
 * @timeout_s seconds (NULL: the injector's default). 0 once recovered,
 * -EIO if it failed or timed out, -ENOENT without an injector.
 */
int bd_aer_inject(const char *kind, const char *bdf, const char *timeout_s);

/* Take @way out of @bdf (blocks until the kernel is done): 0 or -errno. */
int bd_way_out(enum bd_way way, const char *bdf);

/* After bd_way_out(): put @bdf back (re-plug) and bound to bar_dmabuf. */
int bd_way_back(enum bd_way way, const char *bdf);

/* ---- time ---- */

/* CLOCK_MONOTONIC in ns, the clock the importer's log uses. */
__u64 bd_now_ns(void);

/* Milliseconds between two bd_now_ns() values (signed). */
long long bd_ms_between(__u64 from_ns, __u64 to_ns);

/* Poll @fd for POLLIN for at most @timeout_ms; 1 ready, 0 timeout, -errno. */
int bd_poll_in(int fd, int timeout_ms);

/* ---- importer ioctls ---- */

/* Open /dev/bar_dmabuf_importer; fd or -errno. */
int imp_open(void);

int imp_attach(int impfd, int dmabuf_fd, __u32 flags, __u32 *out_handle);

/*
 * Attach as RDMA's pinned-revocable importer of 7.1+
 * (BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE): pinned and mapped here, before
 * it returns; its first invalidate unmaps, unpins and kills it for good
 * (MAP and SUBMIT then -EKEYREVOKED, also after a restore).
 */
int imp_attach_pinned_revocable(int impfd, int dmabuf_fd, __u32 *out_handle);

/*
 * Attach and pin explicitly with dma_buf_pin() (BAR_DMABUF_IMP_ATTACH_PIN),
 * as a scanout does; the pin is held until DETACH, nothing is mapped yet.
 */
int imp_attach_pin(int impfd, int dmabuf_fd, __u32 *out_handle);
int imp_detach(int impfd, __u32 handle);
int imp_map(int impfd, __u32 handle, __u64 *out_length);
int imp_unmap(int impfd, __u32 handle);
int imp_set_behaviour(int impfd, __u32 handle, __u32 unmap_mode,
		      __u32 flags, __u32 window_ms, __u32 interval_ms);

/*
 * Submit a job. @flags are BAR_DMABUF_IMP_JOB_*; @data is the source of a
 * write job. *@out_job gets the job id, *@out_sync_fd (may be NULL) the
 * sync_file with BAR_DMABUF_IMP_JOB_SYNC_FILE.
 */
int imp_submit(int impfd, __u32 handle, __u32 flags, __u32 usage,
	       __u64 offset, __u64 length, const void *data, __u32 delay_ms,
	       __u64 *out_job, int *out_sync_fd);
int imp_signal(int impfd, __u64 job);

/*
 * Wait for and retire a job. Returns 0 when the job finished (its status in
 * *@out_status), -errno if the wait itself failed.
 */
int imp_wait_job(int impfd, __u64 job, __u32 timeout_ms, void *data,
		 __u64 data_len, int *out_status, __u64 *out_signal_ns);

/* Wait until the log of @handle holds @count events of @type. */
int imp_wait_event(int impfd, __u32 handle, __u32 type, __u32 count,
		   __u32 timeout_ms, __u64 *out_ts_ns);

/* A copy of the whole log of @handle, oldest first. */
struct imp_log {
	struct bar_dmabuf_imp_event *ev;
	__u32 nr;
	__u32 lost;
};

/*
 * Wait (up to BD_UNMAP_LOG_MS) until @handle's log holds @count UNMAP
 * events; the count-th one's stamp goes to @out_ts_ns. A revoke woken by
 * an importer's unmap may return before the importer logged it (see
 * BD_UNMAP_STAMP_SLACK_NS): call this before reading that log or the
 * importer's mapping count after a revoke the importer unmapped for on
 * its own (a worker, not the test's UNMAP call or a SYNC callback).
 */
int imp_wait_unmapped(int impfd, __u32 handle, __u32 count,
		      __u64 *out_ts_ns);

/* Fill @log (free it with imp_log_free()); 0 or -errno. */
int imp_read_log(int impfd, __u32 handle, struct imp_log *log);
void imp_log_free(struct imp_log *log);

/* Number of events of @type in @log, and the timestamp of the first/last. */
unsigned int imp_log_count(const struct imp_log *log, __u32 type);
__u64 imp_log_first(const struct imp_log *log, __u32 type);
__u64 imp_log_last(const struct imp_log *log, __u32 type);

/* Print the log to stderr as "# " lines, for a failing test's diagnosis. */
void imp_log_dump(const struct imp_log *log);

int imp_counters(int impfd, struct bar_dmabuf_imp_counters *c);

/* ---- a blocking call running in a thread, so the test can watch it ---- */

struct bd_async {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*fn)(void *arg);	/* returns 0 or -errno */
	void *arg;
	bool done;		/* protected by @lock */
	int ret;		/* @fn's result, valid once @done */
	__u64 start_ns;		/* just before @fn */
	__u64 end_ns;		/* just after it returned */
};

/* Start @fn(@arg) in a new thread; 0 or -errno. */
int bd_async_start(struct bd_async *a, int (*fn)(void *), void *arg);
/*
 * Wait at most @timeout_ms for it to return; true if it has. A call that
 * is expected to block is checked with a false result here.
 */
bool bd_async_wait(struct bd_async *a, int timeout_ms);
/* Join the thread (after the call returned). */
void bd_async_join(struct bd_async *a);

/* A revoke as a struct bd_async: @a.ret is bd_revoke()'s result. */
struct bd_async_revoke {
	struct bd_async a;
	int devfd;
	int buf_fd;
	__u32 flags;
	__u32 timeout_ms;
	__u32 out_nr;
};

int bd_async_revoke_start(struct bd_async_revoke *ar, int devfd, int buf_fd,
			  __u32 flags, __u32 timeout_ms);

/* ---- kernel log ---- */

/* Open /dev/kmsg positioned at its end; fd or -errno. */
int bd_kmsg_open(void);

/*
 * Read every record logged since the last call; return 1 and copy the
 * message into @line if one contains @needle, else 0 (or -errno).
 */
int bd_kmsg_find(int kfd, const char *needle, char *line, size_t len);

/*
 * Wait at most @timeout_ms for a record containing @needle (poll on
 * /dev/kmsg); 1 found (copied into @line), 0 timeout, -errno.
 */
int bd_kmsg_wait(int kfd, const char *needle, char *line, size_t len,
		 int timeout_ms);

/*
 * Like bd_kmsg_find() for the signs of a kernel problem: "WARNING:",
 * "BUG:", "Oops", "KASAN", "refcount_t", "possible recursive locking",
 * "circular locking", "INFO: task".
 */
int bd_kmsg_find_problem(int kfd, char *line, size_t len);

/* ---- helpers for common fixture setups ---- */

/*
 * What most fixtures open: the device node, the importer (optional) and a
 * kernel-log cursor, plus a memory BAR to export from.
 */
struct bd_env {
	const char *bdf;
	int devfd;
	int impfd;	/* -1 unless the importer was asked for */
	int kfd;	/* /dev/kmsg cursor, -1 if unreadable */
	int bar;
	struct bar_dmabuf_info info;
	char why[256];	/* reason of the last skip or failure */
};

/*
 * Open @e. Returns 0, 1 when a device, module or BAR is missing (a SKIP;
 * the reason is in @e->why), or -errno on a real error (also in @e->why).
 * @min_bar is the least size of the memory BAR to pick.
 */
int bd_env_open(struct bd_env *e, bool need_importer, __u64 min_bar);
/* The same for device @bdf instead of BAR_DMABUF_BDF. */
int bd_env_open_bdf(struct bd_env *e, const char *bdf, bool need_importer,
		    __u64 min_bar);
void bd_env_close(struct bd_env *e);

/* Export @pages pages at page @first of @e->bar: the fd or -errno. */
int bd_env_export(struct bd_env *e, unsigned int first, unsigned int pages);

/*
 * Attach a revocable importer to @buf, set its unmap @mode, behaviour
 * @bflags and late-read @window_ms (20 ms apart), and map it if @map.
 * 0 or -errno (the step that failed is in @e->why).
 */
int bd_env_attach(struct bd_env *e, int buf, __u32 mode, __u32 bflags,
		  __u32 window_ms, bool map, __u32 *out_handle);

/* Print the timeline of @h to stderr; returns "" (for use inside TH_LOG). */
const char *bd_env_show_log(struct bd_env *e, __u32 h);

/*
 * The reason a test needs to skip because a device or node is missing, or
 * NULL when all is there. @need_importer also requires the importer node.
 */
const char *bd_precondition(bool need_importer);
/* The same for device @bdf. */
const char *bd_precondition_bdf(const char *bdf, bool need_importer);

/*
 * Note on SKIP in FIXTURE_SETUP: kselftest_harness.h of older kernels
 * (6.1 among them) still runs the test body after the setup called SKIP().
 * So every fixture sets a field "skipped" before its SKIP() and every
 * TEST_F starts with "if (self->skipped) return;".
 */

/*
 * A module parameter changed for one test and put back by its teardown.
 * Zero it (memset, or = { 0 }) before first use.
 */
struct bd_param_saved {
	char path[192];		/* its sysfs file; "" while nothing is saved */
	char old[64];		/* its value before the first override */
};

/*
 * Write @val to parameter @param of module @module ("bar_dmabuf",
 * "bar_dmabuf_importer"), first saving the value it has now in @s; later
 * overrides through the same @s keep the first saved value. 0, -ENOENT if
 * the module or parameter does not exist (a SKIP), -EINVAL if @s saves
 * another parameter, or -errno. bd_param_restore() puts it back.
 */
int bd_param_override(struct bd_param_saved *s, const char *module,
		      const char *param, const char *val);

/* Put back what @s saved (nothing if it saved nothing); 0 or -errno. */
int bd_param_restore(struct bd_param_saved *s);

/* /sys/module/<name>/refcnt, or -errno. */
int bd_module_refcnt(const char *name);

/* ---- what the exporter's debugfs shows ---- */

/*
 * The block of bar_dmabuf/<bdf>/buffers describing the buffer behind
 * @buf_fd (found by its inode): its "buffer N:" line and the indented
 * lines after it, into @out. 0, -ENOENT if it is not listed, or -errno.
 */
int bd_debugfs_buffer(const char *bdf, int buf_fd, char *out, size_t len);

/*
 * Wait, checking every 20 ms, until the debugfs block of @buf_fd contains
 * @needle (e.g. "revoke waiting", a revoke under way), at most
 * @timeout_ms: 0, or -ETIMEDOUT. For a way out that starts asynchronously
 * (a hot-unplug is a button press the kernel acts on seconds later).
 */
int bd_debugfs_wait(const char *bdf, int buf_fd, const char *needle,
		    int timeout_ms);

/* The id debugfs gives the buffer behind @buf_fd ("buffer N:"), or -errno. */
int bd_debugfs_buffer_id(const char *bdf, int buf_fd);

/* ---- the exporter's tracepoints ---- */

/*
 * Trace the bar_dmabuf:* events from an empty buffer (tracefs mounted at
 * /sys/kernel/tracing if it is not): 0, or -ENOENT if this kernel has no
 * such events (no tracing, or the module not loaded), -errno.
 */
int bd_trace_start(void);

/*
 * All of @path, NUL-terminated, in *@out (malloc'd, the caller frees it):
 * its length, or -errno (*@out NULL). A read that fails midway, or a
 * failed realloc, ends the text there.
 */
long bd_read_all(const char *path, char **out);

/* The trace so far, one event a line in time order (free() it), or NULL. */
char *bd_trace_read(void);

/*
 * In @text (from bd_trace_read()), the line number of the first
 * bar_dmabuf_@event of buffer @id of @bdf, or -1.
 */
int bd_trace_pos(const char *text, const char *event, const char *bdf, int id);

/* Stop tracing and turn the events off again. */
void bd_trace_stop(void);

/* Number of buffers bar_dmabuf/<bdf>/buffers lists, or -errno. */
int bd_debugfs_nr_buffers(const char *bdf);

/* ---- the P2P path ---- */

/*
 * Can this kernel prove the P2P path from BAR_DMABUF_BDF's BARs to the
 * importer's device? 1 yes, 0 no, -ENOENT when nothing tells.
 * BAR_DMABUF_P2PDMA=y|n answers (the test VM sets it from the kernel's
 * config; its CPU model makes the host bridge one the kernel trusts);
 * unset, the kernel's config (/boot/config-<release>, or
 * /lib/modules/<release>/config) says whether it has CONFIG_PCI_P2PDMA.
 * The importer's software device (no BAR_DMABUF_IMPORTER_BDF) is never
 * provable.
 */
int bd_p2p_provable(void);

/*
 * The way a proven path is mapped on this kernel, as debugfs names it:
 * "p2p-helper" from 6.19 (the kernel's dma-buf P2P helpers), else
 * "dma_map_resource".
 */
const char *bd_p2p_proven_path(void);

/* Open fds of this process (/proc/self/fd), or -errno. */
int bd_nr_fds(void);

/* Close *@fd if it is open and mark it closed. */
void bd_close(int *fd);

/* Slab objects in use per cache, read by bd_slab_snapshot(). */
struct bd_slab {
	unsigned int nr;
	struct bd_slab_cache {
		char name[48];
		long objs;
	} *c;
};

/*
 * Every slab cache's shrink file and /proc/slabinfo, open, and a buffer
 * for the latter: between its shrinks and its read a snapshot allocates
 * no file (an open would take a slab of filp back from the node's list
 * as a per-CPU slab, and every free object in that slab would count as
 * in use) and no other object a count depends on. 0, or -errno (-ENOENT
 * where the kernel has no slab sysfs).
 */
struct bd_slab_meter {
	unsigned int nr;
	int *fd;
	int info;	/* /proc/slabinfo */
	char *text;	/* what it read */
	size_t room;
};

int bd_slab_meter_open(struct bd_slab_meter *m);
void bd_slab_meter_close(struct bd_slab_meter *m);

/*
 * Drop unused dentries and inodes, wait out RCU, shrink every slab cache
 * of @m (which flushes the per-CPU slabs, so the count of objects in use
 * is exact), then read each cache's objects in use from /proc/slabinfo
 * into @s, with vmap_area's count replaced by the live areas of
 * /proc/vmallocinfo. 0, or -errno.
 */
int bd_slab_snapshot(struct bd_slab_meter *m, struct bd_slab *s);

/* Objects in use in cache @name of @s, or -1 if @s has no such cache. */
long bd_slab_objs(const struct bd_slab *s, const char *name);

void bd_slab_free(struct bd_slab *s);

/* ---- loading and unloading modules (importer_test, load_test) ---- */

/*
 * The path of module @name (e.g. "bar_dmabuf_importer") from
 * /lib/modules/<release>/modules.dep; 0, -ENOENT if it is not listed.
 */
int bd_module_path(const char *name, char *path, size_t len);

/* Load the module file @path with @params (finit_module); 0 or -errno. */
int bd_module_load(const char *path, const char *params);

/*
 * Unload module @name without waiting (delete_module O_NONBLOCK): 0, or
 * -EAGAIN/-EBUSY while it is in use, -ENOENT if it is not loaded.
 */
int bd_module_unload(const char *name);

/*
 * Read parameter @param of any module @module (sysfs) into @buf, without
 * its newline (bd_param_override() changes one). 0 or -errno.
 */
int bd_module_param_read(const char *module, const char *param, char *buf,
			 size_t len);

/*
 * "name=value ..." of the @nr parameters @names of the loaded module
 * @module, for loading it again as it was; unset strings ("(null)") are
 * left out. 0, -ENOENT if one is unreadable, -ENOSPC if @len is too small.
 */
int bd_module_params_string(const char *module, const char *const *names,
			    unsigned int nr, char *buf, size_t len);

/* ---- fault injection: /proc/thread-self/fail-nth (the debug kernel) ---- */

/* The calling thread's fail-nth and the debugfs settings changed for it. */
struct bd_fault {
	int nth;		/* /proc/thread-self/fail-nth, or -1 */
	char saved[4][8];	/* the settings as they were */
};

/*
 * Open the calling thread's fail-nth and make every kind of fault
 * injection quiet and GFP_KERNEL allocations failable: 0, or 1 when this
 * kernel has no fault injection (a SKIP: the reason in @why).
 */
int bd_fault_open(struct bd_fault *f, char *why, size_t len);

/* Put the settings back and close; safe on a zeroed or failed @f. */
void bd_fault_close(struct bd_fault *f);

/* Fail the @n-th fault point this thread passes from now on. */
int bd_fault_arm(struct bd_fault *f, unsigned int n);

/*
 * Disarm; true if the armed fault was injected (fail-nth read back 0).
 * Reading is itself a fault point: if it was the one left, the read
 * fails, and that counts as not injected into the call.
 */
bool bd_fault_disarm(struct bd_fault *f);

#define BD_IMP_MODULE	"bar_dmabuf_importer"

/*
 * The importer unloaded and loaded again with other parameters for a few
 * tests, and loaded back as it was by bd_importer_restore().
 */
struct bd_importer_swap {
	bool swapped;		/* the original importer is gone */
	char ko[PATH_MAX];
	char params[512];	/* its parameters before */
	char why[256];		/* reason of a SKIP or failure */
};

/*
 * Unload the importer (nothing may hold it) and load it with @params (NULL:
 * the ones it had, a reload):
 * 0, 1 when it can't be done here (a SKIP, reason in @s->why), -errno if
 * the load failed (in @s->why; call bd_importer_restore() still).
 */
int bd_importer_swap(struct bd_importer_swap *s, const char *params);

/* Load the importer back as it was before bd_importer_swap(): 0, -errno. */
int bd_importer_restore(struct bd_importer_swap *s);

/* ---- userfaultfd: stop a thread inside the kernel at a user copy ---- */

/*
 * One page that parks the first kernel access to it. MISSING: the page is
 * empty until released (a copy_from_user() of it parks; @stage is what it
 * then holds). WP: the page holds data and is write-protected (reads go
 * through, a copy_to_user() into it parks). A handler thread reads the
 * fault, says so (bd_uffd_wait_parked()) and waits for bd_uffd_release():
 * the access then completes, or fails with EFAULT (@fault), as for a bad
 * pointer. One fault per arm.
 */
struct bd_uffd {
	int fd;			/* the userfaultfd, -1 if closed */
	bool wp;		/* write-protect mode, else missing-page */
	char *page;		/* the page, BD_PAGE bytes */
	char *stage;		/* MISSING: the bytes the page gets */
	int wake[2];		/* pipe that stops the handler early */
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool parked;		/* a fault arrived (@lock) */
	bool go;		/* released (@lock) */
	bool fault;		/* released with EFAULT (@lock) */
	__u64 addr;		/* the faulting address */
};

/*
 * Open @u in @wp or missing-page mode: 0, 1 when this kernel has no
 * userfaultfd (or no write-protect for anonymous memory; the reason is
 * in @why, a SKIP), or -errno (also in @why).
 */
int bd_uffd_open(struct bd_uffd *u, bool wp, char *why, size_t len);

/* Register the page and start the handler (fill @page/@stage first). */
int bd_uffd_arm(struct bd_uffd *u);

/* Wait at most @timeout_ms for the parked access: 0 or -ETIMEDOUT. */
int bd_uffd_wait_parked(struct bd_uffd *u, int timeout_ms);

/* Let the parked access go on (@fault: make it fail with EFAULT). */
void bd_uffd_release(struct bd_uffd *u, bool fault);

/* Release whatever is parked, stop the handler, unmap; safe to repeat. */
void bd_uffd_close(struct bd_uffd *u);

/*
 * Wait, checking every 10 ms, until thread @tid of this process sleeps
 * in a kernel function whose name starts with @func (its wchan), at most
 * @timeout_ms: 0, -ETIMEDOUT, or -ENOENT when wchan names nothing here
 * (no kallsyms).
 */
int bd_wait_wchan(pid_t tid, const char *func, int timeout_ms);

#endif /* BAR_DMABUF_SELFTEST_LIB_H */
