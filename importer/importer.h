/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bar_dmabuf_importer: private header.
 *
 * The module simulates an asynchronous DMA engine that imports dma-bufs.
 * One open file of /dev/bar_dmabuf_importer (struct imp_file) owns
 * attachments (struct imp_attach); an attachment owns mappings
 * (struct imp_mapping) and runs jobs (struct imp_job), each with a fence
 * (struct imp_fence) in the buffer's reservation object.
 *
 * Lock order, outermost first:
 *
 *   imp_file.lock       mutex: the handle and job tables of one file
 *   imp_attach.ctl_lock mutex: one control operation at a time on an
 *                       attachment (attach state, submit order)
 *   exporter's device lock (never taken by us; named for the order)
 *   dma_resv lock       the buffer's reservation lock: mapping state
 *   imp_attach.lock     spinlock: job ring, late-read state
 *   imp_log.lock        spinlock: the timeline
 *
 * The invalidate callback runs with the dma_resv lock held by the exporter
 * and takes only imp_attach.lock and imp_log.lock; it never sleeps for
 * long and never waits for a work item. Work items (late reads, unmap,
 * remap) take the dma_resv lock but never ctl_lock, so an exporter that
 * waits for our unmap with its own locks held cannot deadlock with an
 * ioctl holding ctl_lock. The fence signalling path (engine.c) takes only
 * the two spinlocks: it never allocates and never takes the dma_resv lock.
 */
#ifndef BAR_DMABUF_IMPORTER_H
#define BAR_DMABUF_IMPORTER_H

#include <linux/atomic.h>
#include <linux/device.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <linux/bar_dmabuf_importer.h>

struct imp_file;

#define IMP_NAME		"bar_dmabuf_importer"
/* Entries one attachment's timeline can hold; later ones are counted lost. */
#define IMP_LOG_MAX		4096
/* Bytes read by one late read, from the start of the old mapping. */
#define IMP_LATE_READ_BYTES	64
/* Upper bounds on times a test may ask for, in ms. */
#define IMP_MAX_DELAY_MS	60000
#define IMP_MAX_WINDOW_MS	60000
#define IMP_MAX_INTERVAL_MS	10000
/* The last &enum bar_dmabuf_imp_event_type. */
#define IMP_EV_LAST		BAR_DMABUF_IMP_EV_PCI_RESUME

/* ---- main.c: the device we are, module parameters, counters ---- */

/**
 * struct imp_counters - module-wide counters (BAR_DMABUF_IMP_IOCTL_COUNTERS)
 * @attachments: attachments not yet detached
 * @mappings: mappings not yet handed back
 * @jobs_pending: jobs whose fence has not signalled
 * @dma_faults: accesses whose DMA address did not translate
 * @late_reads: late reads issued
 * @violations: protocol violations done on request: writes after
 *	invalidate, mappings left to the exporter at detach
 * @watchdog_expired: held fences the watchdog signalled
 * @invalidates: invalidate callbacks received
 *
 * Plain atomics, no lock; each one is changed where its event happens.
 */
struct imp_counters {
	atomic_t attachments;
	atomic_t mappings;
	atomic_t jobs_pending;
	atomic_t dma_faults;
	atomic_t late_reads;
	atomic_t violations;
	atomic_t watchdog_expired;
	atomic_t invalidates;
};

extern struct imp_counters imp_counters;
extern unsigned int imp_fence_watchdog_ms;
extern struct workqueue_struct *imp_wq;
extern struct imp_log imp_dev_log;

struct device *imp_dma_device(void);
int imp_device_init(void);
void imp_device_exit(void);

/* ---- log.c: the per-attachment timeline ---- */

/**
 * struct imp_log - bounded timeline of one attachment
 * @lock: protects every field below it
 * @nr: entries used in @ev
 * @cap: entries @ev has room for (IMP_LOG_MAX until imp_log_shrink())
 * @lost: entries dropped because @ev was full
 * @type_count: entries ever logged, per event type (lost ones included)
 * @ev: the entries, oldest first
 * @wq: woken on every new entry (WAIT_EVENT sleeps here)
 *
 * Embedded in struct imp_attach and freed with it, at the close of the file,
 * so a test can read the log after DETACH.
 */
struct imp_log {
	spinlock_t lock;	/* protects the fields below */
	u32 nr;
	u32 cap;
	u32 lost;
	u32 type_count[IMP_EV_LAST + 1];
	struct bar_dmabuf_imp_event *ev;
	wait_queue_head_t wq;
};

int imp_log_init(struct imp_log *log);
void imp_log_shrink(struct imp_log *log);
void imp_log_fini(struct imp_log *log);
void imp_log_event(struct imp_log *log, u32 handle, u32 type, u64 arg,
		   s32 result);
int imp_log_read(struct imp_log *log, struct bar_dmabuf_imp_read_log *arg);
int imp_log_wait(struct imp_log *log, struct bar_dmabuf_imp_wait_event *arg);

/* ---- attach.c: attachments and mappings ---- */

/**
 * struct imp_seg - one DMA segment of a mapping, as the hardware was told
 * @addr: DMA address (an IOVA or a bus address)
 * @len: bytes
 */
struct imp_seg {
	dma_addr_t addr;
	u64 len;
};

/**
 * struct imp_mapping - one mapping of an attachment
 * @ref: references: the attachment while the mapping is on its @node list,
 *	every job submitted on it until the job is retired, the late-read
 *	worker while it reads it
 * @node: on imp_attach.maps (dma_resv lock)
 * @sgt: what dma_buf_map_attachment() returned; NULL once unmapped
 *	(dma_resv lock)
 * @invalidated: an invalidate callback arrived (dma_resv lock)
 * @unmapped: handed back to the exporter; set under the dma_resv lock and
 *	@access held for writing, before the exporter's unmap; the engine
 *	reads it with @access held for reading across its whole access, so
 *	no job touches an address after it was handed back. Late reads and
 *	the violation hold the dma_resv lock instead
 * @access: see @unmapped; taken inside the dma_resv lock, never the
 *	other way round
 * @jobs: jobs on this mapping whose fence has not signalled (imp_attach.lock)
 * @length: bytes covered by @segs (immutable)
 * @nsegs: entries of @segs (immutable)
 * @segs: copy of the DMA addresses of @sgt (immutable): the hardware keeps
 *	the addresses it was given, so late reads and a write after invalidate
 *	use them even after @sgt is gone
 */
struct imp_mapping {
	struct kref ref;
	struct list_head node;
	struct sg_table *sgt;
	bool invalidated;
	bool unmapped;
	struct rw_semaphore access;
	unsigned int jobs;
	u64 length;
	unsigned int nsegs;
	struct imp_seg segs[];
};

enum imp_attach_state {
	IMP_ATTACHED,
	IMP_DETACHED,
};

/**
 * struct imp_attach - one attachment to a dma-buf
 * @file: the owning file (no reference: the file outlives us)
 * @handle: the name userspace uses (immutable)
 * @pinned: attached with no invalidate callback (immutable)
 * @pin: BAR_DMABUF_IMP_ATTACH_PIN: pin at ATTACH (immutable)
 * @pinned_revocable: BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE (immutable)
 * @pin_held: holds a dma_buf_pin() of its own (dma_resv lock)
 * @dead: pinned-revocable and its mapping was taken away: never maps
 *	again (dma_resv lock)
 * @dmabuf: our own reference, taken at ATTACH and dropped at detach, so the
 *	test may close its dma-buf fd with jobs in flight (ctl_lock)
 * @attach: the dma-buf attachment; NULL once detached (ctl_lock)
 * @state: attached or detached; written under ctl_lock and the dma_resv
 *	lock, so either is enough to read it
 * @ctl_lock: serialises control operations (MAP, UNMAP, SUBMIT, DETACH,
 *	SET_BEHAVIOUR) so two threads on one attachment are safe
 * @fence_ctx: the dma_fence context of this attachment's engine (immutable)
 * @seqno: last fence seqno handed out (ctl_lock)
 * @cur: the mapping jobs go to; NULL when unmapped or invalidated
 *	(dma_resv lock)
 * @maps: every mapping not yet unmapped, @cur included (dma_resv lock)
 * @unmap_mode: &enum bar_dmabuf_imp_unmap_mode (dma_resv lock)
 * @bflags: &enum bar_dmabuf_imp_behaviour_flags (dma_resv lock)
 * @late_window_ms: late-read window (dma_resv lock)
 * @late_interval_ms: pause between late reads (dma_resv lock)
 * @lock: protects @ring, @jobs_inflight and the late_* state below
 * @ring: jobs whose fence has not signalled, in submission order: they
 *	complete in this order, as on one hardware queue
 * @jobs_inflight: entries of @ring
 * @late_map: the invalidated mapping the worker reads (holds a reference)
 * @late_deadline_ns: CLOCK_MONOTONIC time at which the late-read window
 *	closes (not jiffies: under emulation jiffies can run ahead of the clock
 *	the tests read, and the window must last its full length)
 * @late_ref_valid: @late_ref holds the first late read
 * @late_ref: data of the first late read of @late_map
 * @violation_pending: WRITE_AFTER_INVALIDATE still to do
 * @violation_unmapped: the violation is aimed at a mapping the invalidate
 *	callback itself handed back (SYNC mode): done anyway, to show the
 *	fault; otherwise it is skipped if the mapping was handed back before
 *	the worker got to it
 * @remap_pending: REMAP_ON_RESTORE: map from the worker
 * @unmap_pending: WORKER mode: unmap invalidated mappings from the worker
 * @late_work: late reads, the violation write, unmap and remap; takes the
 *	dma_resv lock, never ctl_lock
 * @retire_work: completes ready jobs at the head of @ring, signals fences
 * @idle_wq: woken when @jobs_inflight drops
 * @log: the timeline
 *
 * Lifetime: allocated at ATTACH, in imp_file.attachments until the file is
 * closed, freed then (after every job and work item is done), so handles
 * and logs stay valid after DETACH. Jobs point at it without a reference.
 */
struct imp_attach {
	struct imp_file *file;
	u32 handle;
	bool pinned;
	bool pin;
	bool pinned_revocable;
	bool pin_held;
	bool dead;
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	enum imp_attach_state state;
	struct mutex ctl_lock;	/* control operations, see above */
	u64 fence_ctx;
	u64 seqno;

	struct imp_mapping *cur;
	struct list_head maps;
	u32 unmap_mode;
	u32 bflags;
	u32 late_window_ms;
	u32 late_interval_ms;

	spinlock_t lock;	/* ring, jobs_inflight, late_* */
	struct list_head ring;
	unsigned int jobs_inflight;
	struct imp_mapping *late_map;
	u64 late_deadline_ns;
	bool late_ref_valid;
	u8 late_ref[IMP_LATE_READ_BYTES];
	bool violation_pending;
	bool violation_unmapped;
	bool remap_pending;
	bool unmap_pending;

	struct delayed_work late_work;
	struct work_struct retire_work;
	wait_queue_head_t idle_wq;
	struct imp_log log;
};

int imp_attach_create(struct imp_file *ifile, struct bar_dmabuf_imp_attach *arg);
int imp_attach_detach(struct imp_attach *ia, bool force);
void imp_attach_free(struct imp_attach *ia);
int imp_attach_map_ioctl(struct imp_attach *ia,
			 struct bar_dmabuf_imp_handle *arg);
int imp_attach_unmap_ioctl(struct imp_attach *ia);
int imp_attach_set_behaviour(struct imp_attach *ia,
			     struct bar_dmabuf_imp_behaviour *arg);
struct imp_mapping *imp_attach_get_mapping(struct imp_attach *ia);
void imp_mapping_put(struct imp_mapping *m);

/* ---- engine.c: jobs and fences ---- */

enum imp_job_phase {
	IMP_JOB_QUEUED,		/* submitted, work not yet run */
	IMP_JOB_HELD,		/* waiting for SIGNAL (watchdog armed) */
	IMP_JOB_DELAYED,	/* waiting for delay_ms */
	IMP_JOB_READY,		/* may complete once it is at the ring head */
	IMP_JOB_DONE,		/* fence signalled */
};

/**
 * struct imp_fence - a job's fence
 * @base: the fence; first, so dma_fence_free() frees the whole struct
 * @lock: the fence's spinlock, living exactly as long as the fence
 *
 * Lifetime: the job, the dma_resv and any sync_file hold references. Each
 * live fence holds a module reference (dropped in its release op), since
 * a buffer's dma_resv may keep the fence after the file is closed.
 */
struct imp_fence {
	struct dma_fence base;
	spinlock_t lock;	/* the fence's own lock */
};

/**
 * struct imp_job - one job on the simulated engine
 * @ref: references: the file's job table until WAIT_JOB retires it or the
 *	file closes; the engine from submit until the fence signalled; the
 *	resume list while the job is on it
 * @id: the name userspace uses (immutable)
 * @ia: the attachment (no reference, see struct imp_attach)
 * @map: the mapping the job runs on (a reference, dropped at completion)
 * @fence: the job's fence (a reference, dropped with the job)
 * @node: on imp_attach.ring (imp_attach.lock)
 * @write: the job writes @data to the buffer (immutable)
 * @hold: the job waits for SIGNAL (immutable)
 * @resume_node: on the engine's resume list (BAR_DMABUF_IMP_JOB_UNTIL_RESUME)
 *	until our PCI function resumes or the file closes (imp_resume_lock,
 *	engine.c)
 * @offset: byte offset in the buffer (immutable)
 * @length: bytes (immutable)
 * @delay_ms: time from start to completion (immutable)
 * @data: write: the bytes to write; read: the bytes read (owned by the job)
 * @phase: &enum imp_job_phase (imp_attach.lock)
 * @signal_requested: SIGNAL arrived (imp_attach.lock)
 * @status: 0 or the job's error (imp_attach.lock until @done, then
 *	immutable)
 * @signal_ns: CLOCK_MONOTONIC time the fence signalled
 * @done: set once the fence signalled; @status and @data are final
 * @done_wq: WAIT_JOB sleeps here
 * @work: start, delay and watchdog of the job (one delayed_work re-armed per
 *	phase; no timer_list)
 */
struct imp_job {
	struct kref ref;
	u64 id;
	struct imp_attach *ia;
	struct imp_mapping *map;
	struct imp_fence *fence;
	struct list_head node;
	bool write;
	bool hold;
	struct list_head resume_node;
	u64 offset;
	u64 length;
	u32 delay_ms;
	void *data;
	enum imp_job_phase phase;
	bool signal_requested;
	int status;
	u64 signal_ns;
	bool done;
	wait_queue_head_t done_wq;
	struct delayed_work work;
};

int imp_engine_submit(struct imp_attach *ia, struct bar_dmabuf_imp_submit *arg,
		      struct file **out_sync);
int imp_engine_signal(struct imp_file *ifile, struct bar_dmabuf_imp_signal *arg);
int imp_engine_wait(struct imp_file *ifile, struct bar_dmabuf_imp_wait_job *arg);
void imp_engine_retire_work(struct work_struct *work);
void imp_engine_cancel_file(struct imp_file *ifile);
u32 imp_engine_resume(void);
void imp_job_put(struct imp_job *job);

/* ---- dma.c: accesses as the device makes them ---- */

int imp_dma_access(struct imp_attach *ia, struct imp_mapping *m, u64 offset,
		   void *buf, u64 len, bool write);

/* ---- cdev.c: the control node ---- */

/**
 * struct imp_file - one open file of the control node
 * @lock: protects the two tables (insertions and removals; lookups of
 *	attachments need no lock since they live until the file is closed)
 * @attachments: handle -> struct imp_attach
 * @jobs: job id -> struct imp_job (a reference each)
 * @next_handle: cyclic allocator state for @attachments
 * @next_job: cyclic allocator state for @jobs
 *
 * Lifetime: open to release. Release cancels every job, detaches every
 * attachment and frees them.
 */
struct imp_file {
	struct mutex lock;	/* table insertions and removals */
	struct xarray attachments;
	struct xarray jobs;
	u32 next_handle;
	u32 next_job;
};

struct imp_attach *imp_file_attach(struct imp_file *ifile, u32 handle);
int imp_cdev_init(void);
void imp_cdev_exit(void);

#endif /* BAR_DMABUF_IMPORTER_H */
