/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bar_dmabuf_importer: a test importer that simulates asynchronous DMA
 * hardware importing a dma-buf.
 *
 * UNSTABLE: this interface exists for the selftests of bar_dmabuf and for
 * developers checking an exporter's revoke behaviour. It may change in any
 * release; do not build products on it.
 *
 * Control node: /dev/bar_dmabuf_importer, mode 0600. Attachments, jobs and
 * logs belong to the open file: closing it cancels every job (its fence
 * signals with -ECANCELED), unmaps and detaches.
 *
 * Every command takes a struct whose first field is its size and whose
 * second is a flags word; unknown flags and non-zero reserved fields are
 * rejected with -EINVAL. Fields named out_* are written by the kernel.
 * A size smaller than the struct this header defines is -EINVAL; a larger
 * one is accepted if the bytes past it are zero and it is no more than 4096
 * bytes, else -E2BIG. A command on
 * an unknown handle, or (except READ_LOG and WAIT_EVENT) on a detached one,
 * fails with -ENOENT. Every command writes its struct back: one the kernel
 * cannot write (a read-only page) is -EFAULT before the command does
 * anything, so no attachment, job, vmap or sync_file fd is left behind; a
 * new fd is installed only once the struct naming it was written.
 *
 * The simulated hardware has one queue per attachment: its jobs complete
 * in submission order (a held job holds back the ones after it), as the
 * fences of one dma_fence context must. A job moves its data when it
 * completes; if its mapping was unmapped by then (UNMAP, SYNC mode) it
 * finishes with -ENODEV without touching the buffer. Defaults of a new
 * attachment: BAR_DMABUF_IMP_UNMAP_WORKER, no late reads, interval 1 ms.
 */
#ifndef _UAPI_LINUX_BAR_DMABUF_IMPORTER_H
#define _UAPI_LINUX_BAR_DMABUF_IMPORTER_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BAR_DMABUF_IMP_TYPE	0xBE

enum {
	BAR_DMABUF_IMP_CMD_ATTACH = 0x00,
	BAR_DMABUF_IMP_CMD_DETACH = 0x01,
	BAR_DMABUF_IMP_CMD_MAP = 0x02,
	BAR_DMABUF_IMP_CMD_UNMAP = 0x03,
	BAR_DMABUF_IMP_CMD_SET_BEHAVIOUR = 0x04,
	BAR_DMABUF_IMP_CMD_SUBMIT = 0x05,
	BAR_DMABUF_IMP_CMD_SIGNAL = 0x06,
	BAR_DMABUF_IMP_CMD_WAIT_JOB = 0x07,
	BAR_DMABUF_IMP_CMD_READ_LOG = 0x08,
	BAR_DMABUF_IMP_CMD_WAIT_EVENT = 0x09,
	BAR_DMABUF_IMP_CMD_COUNTERS = 0x0a,
	BAR_DMABUF_IMP_CMD_VMAP = 0x0b,
	BAR_DMABUF_IMP_CMD_VUNMAP = 0x0c,
	BAR_DMABUF_IMP_CMD_VMAP_RW = 0x0d,
};

/**
 * enum bar_dmabuf_imp_attach_flags - how to attach
 * @BAR_DMABUF_IMP_ATTACH_PINNED: attach as a pinned (static) importer with no
 *	invalidate callback; a revocable exporter refuses this
 * @BAR_DMABUF_IMP_ATTACH_NO_P2P: do not set allow_peer2peer
 * @BAR_DMABUF_IMP_ATTACH_PIN: right after attaching, pin explicitly with
 *	dma_buf_pin() (as a scanout does, or RDMA's pinned MRs before 7.1);
 *	the pin is held until DETACH. The invalidate callback still follows
 *	the unmap mode. A failed pin fails ATTACH with the exporter's error
 * @BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE: behave as RDMA's
 *	pinned-revocable importer of 7.1+
 *	(ib_umem_dmabuf_get_pinned_revocable_and_lock()): pin and map once, at
 *	ATTACH (which fails if either does). Its invalidate callback unmaps,
 *	unpins and marks the attachment dead for good, and so does UNMAP
 *	(RDMA's ib_umem_dmabuf_revoke()); the unmap mode, late reads and
 *	behaviour flags do not apply to it. A dead attachment never maps
 *	again: MAP and SUBMIT fail with -EKEYREVOKED, logged as an
 *	%BAR_DMABUF_IMP_EV_MAP with that result (RDMA refuses with -EINVAL)
 *
 * PINNED excludes PIN and PINNED_REVOCABLE (-EINVAL): dma_buf_pin() is for
 * dynamic importers only.
 */
enum bar_dmabuf_imp_attach_flags {
	BAR_DMABUF_IMP_ATTACH_PINNED = 1 << 0,
	BAR_DMABUF_IMP_ATTACH_NO_P2P = 1 << 1,
	BAR_DMABUF_IMP_ATTACH_PIN = 1 << 2,
	BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE = 1 << 3,
};

/**
 * struct bar_dmabuf_imp_attach - BAR_DMABUF_IMP_IOCTL_ATTACH
 * @size: sizeof(struct bar_dmabuf_imp_attach)
 * @flags: a combination of &enum bar_dmabuf_imp_attach_flags
 * @dmabuf_fd: the dma-buf to import; the attachment holds its own reference,
 *	so the caller may close the fd afterwards
 * @out_handle: names the attachment in later commands (never 0)
 */
struct bar_dmabuf_imp_attach {
	__u32 size;
	__u32 flags;
	__s32 dmabuf_fd;
	__u32 out_handle;
};

#define BAR_DMABUF_IMP_IOCTL_ATTACH \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_ATTACH)

/**
 * struct bar_dmabuf_imp_handle - DETACH, MAP and UNMAP
 * @size: sizeof(struct bar_dmabuf_imp_handle)
 * @flags: must be 0
 * @handle: the attachment
 * @reserved: must be 0
 * @out_length: MAP: length of the mapping in bytes
 * @out_nr_segs: MAP: entries of the exporter's sg_table (DMA side)
 * @out_max_seg_len: MAP: the longest of them, in bytes (an entry's length
 *	is 32 bits: a longer range must come in several entries)
 *
 * DETACH and UNMAP write 0 to the out_* fields; VUNMAP writes the length
 * of the vmap to @out_length and 0 to the others.
 *
 * DETACH fails with -EBUSY while jobs of the attachment are in flight. MAP
 * of a revoked buffer fails with the exporter's error (-ENODEV); MAP when a
 * usable mapping exists just reports it. UNMAP is how a test releases a
 * mapping whose unmap mode is BAR_DMABUF_IMP_UNMAP_ON_REQUEST: it hands
 * back every mapping of the attachment (-ENOENT when there is none).
 */
struct bar_dmabuf_imp_handle {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 reserved;
	__aligned_u64 out_length;
	__u32 out_nr_segs;
	__u32 out_max_seg_len;
};

#define BAR_DMABUF_IMP_IOCTL_DETACH \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_DETACH)
#define BAR_DMABUF_IMP_IOCTL_MAP \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_MAP)
#define BAR_DMABUF_IMP_IOCTL_UNMAP \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_UNMAP)

/**
 * enum bar_dmabuf_imp_unmap_mode - when the importer unmaps after an
 *	invalidate
 * @BAR_DMABUF_IMP_UNMAP_WORKER: from a worker, after the late-read window
 *	(default)
 * @BAR_DMABUF_IMP_UNMAP_SYNC: at once, inside the invalidate callback
 * @BAR_DMABUF_IMP_UNMAP_ON_REQUEST: only on BAR_DMABUF_IMP_IOCTL_UNMAP
 * @BAR_DMABUF_IMP_UNMAP_NEVER: never (until the control file is closed)
 */
enum bar_dmabuf_imp_unmap_mode {
	BAR_DMABUF_IMP_UNMAP_WORKER = 0,
	BAR_DMABUF_IMP_UNMAP_SYNC = 1,
	BAR_DMABUF_IMP_UNMAP_ON_REQUEST = 2,
	BAR_DMABUF_IMP_UNMAP_NEVER = 3,
};

/**
 * enum bar_dmabuf_imp_behaviour_flags - optional behaviour
 * @BAR_DMABUF_IMP_REMAP_ON_RESTORE: when notified while unmapped, map again
 *	at once from the worker
 * @BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE: misbehave: issue one write to the
 *	old mapping after the invalidate (logged as a violation)
 * @BAR_DMABUF_IMP_DETACH_WITHOUT_UNMAP: misbehave: DETACH (or closing the
 *	file) detaches without handing the mappings back first, leaving them
 *	to the exporter (counted as a violation)
 */
enum bar_dmabuf_imp_behaviour_flags {
	BAR_DMABUF_IMP_REMAP_ON_RESTORE = 1 << 0,
	BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE = 1 << 1,
	BAR_DMABUF_IMP_DETACH_WITHOUT_UNMAP = 1 << 2,
};

/**
 * struct bar_dmabuf_imp_behaviour - BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR
 * @size: sizeof(struct bar_dmabuf_imp_behaviour)
 * @flags: a combination of &enum bar_dmabuf_imp_behaviour_flags
 * @handle: the attachment
 * @unmap_mode: one of &enum bar_dmabuf_imp_unmap_mode
 * @late_read_window_ms: after an invalidate, keep reading the old mapping
 *	for this long before unmapping (WORKER mode); 0 = no late reads;
 *	at most 60000
 * @late_read_interval_ms: pause between two late reads, 1 to 10000
 *
 * A late read reads the first 64 bytes of the old mapping; the first one
 * is the reference the later ones are compared with. The write after
 * invalidate puts the 4 bytes "BAD!" at offset 0, before the first late
 * read. In WORKER mode the unmap also waits for the jobs still running on
 * the old mapping. Any mode but SYNC reads late when a window is set.
 */
struct bar_dmabuf_imp_behaviour {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 unmap_mode;
	__u32 late_read_window_ms;
	__u32 late_read_interval_ms;
};

#define BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_SET_BEHAVIOUR)

/**
 * enum bar_dmabuf_imp_usage - usage of a job's fence in the dma_resv
 * @BAR_DMABUF_IMP_USAGE_WRITE: DMA_RESV_USAGE_WRITE
 * @BAR_DMABUF_IMP_USAGE_READ: DMA_RESV_USAGE_READ
 * @BAR_DMABUF_IMP_USAGE_BOOKKEEP: DMA_RESV_USAGE_BOOKKEEP
 */
enum bar_dmabuf_imp_usage {
	BAR_DMABUF_IMP_USAGE_WRITE = 0,
	BAR_DMABUF_IMP_USAGE_READ = 1,
	BAR_DMABUF_IMP_USAGE_BOOKKEEP = 2,
};

/**
 * enum bar_dmabuf_imp_job_flags - what a job does
 * @BAR_DMABUF_IMP_JOB_WRITE: copy from @data_ptr into the buffer (else read
 *	from the buffer; the result is fetched with WAIT_JOB)
 * @BAR_DMABUF_IMP_JOB_HOLD: do not complete until BAR_DMABUF_IMP_IOCTL_SIGNAL
 *	(or the fence watchdog, which counts as a failure)
 * @BAR_DMABUF_IMP_JOB_SYNC_FILE: return the job's fence as a sync_file fd
 * @BAR_DMABUF_IMP_JOB_UNTIL_RESUME: like %BAR_DMABUF_IMP_JOB_HOLD, and the
 *	job also completes when our PCI function's error recovery resumes (its
 *	resume callback): hardware that finishes its work only after the
 *	recovery of its own link
 */
enum bar_dmabuf_imp_job_flags {
	BAR_DMABUF_IMP_JOB_WRITE = 1 << 0,
	BAR_DMABUF_IMP_JOB_HOLD = 1 << 1,
	BAR_DMABUF_IMP_JOB_SYNC_FILE = 1 << 2,
	BAR_DMABUF_IMP_JOB_UNTIL_RESUME = 1 << 3,
};

/* Largest length of one job. */
#define BAR_DMABUF_IMP_MAX_JOB	(1u << 20)

/**
 * struct bar_dmabuf_imp_submit - BAR_DMABUF_IMP_IOCTL_SUBMIT
 * @size: sizeof(struct bar_dmabuf_imp_submit)
 * @flags: a combination of &enum bar_dmabuf_imp_job_flags
 * @handle: the attachment; it is mapped first if it is not
 * @usage: one of &enum bar_dmabuf_imp_usage
 * @offset: byte offset into the buffer
 * @length: bytes to move, 1 to BAR_DMABUF_IMP_MAX_JOB
 * @data_ptr: WRITE: user pointer to @length bytes, copied at submit
 * @delay_ms: the job completes this long after it starts (unless held);
 *	at most 60000
 * @out_sync_fd: the fence as a sync_file, with BAR_DMABUF_IMP_JOB_SYNC_FILE,
 *	else -1
 * @out_job: names the job in SIGNAL and WAIT_JOB (never 0)
 * @reserved: must be 0
 */
struct bar_dmabuf_imp_submit {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 usage;
	__aligned_u64 offset;
	__aligned_u64 length;
	__aligned_u64 data_ptr;
	__u32 delay_ms;
	__s32 out_sync_fd;
	__aligned_u64 out_job;
	__aligned_u64 reserved;
};

#define BAR_DMABUF_IMP_IOCTL_SUBMIT \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_SUBMIT)

/**
 * struct bar_dmabuf_imp_signal - BAR_DMABUF_IMP_IOCTL_SIGNAL
 * @size: sizeof(struct bar_dmabuf_imp_signal)
 * @flags: must be 0
 * @job: a held job; -ENOENT if unknown, -EALREADY if already finished
 */
struct bar_dmabuf_imp_signal {
	__u32 size;
	__u32 flags;
	__aligned_u64 job;
};

#define BAR_DMABUF_IMP_IOCTL_SIGNAL \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_SIGNAL)

/**
 * struct bar_dmabuf_imp_wait_job - BAR_DMABUF_IMP_IOCTL_WAIT_JOB
 * @size: sizeof(struct bar_dmabuf_imp_wait_job)
 * @flags: must be 0
 * @job: the job
 * @timeout_ms: longest wait; -ETIMEDOUT when it passes
 * @data_ptr: read jobs: user buffer receiving the bytes read
 * @data_len: size of @data_ptr; must be at least the job's length for a read
 *	(-EINVAL otherwise); @data_ptr 0 skips the copy
 * @out_status: 0, or the job's error: -EFAULT for a DMA fault, -ENODEV when
 *	the buffer was revoked, -ECANCELED, -ETIME for a watchdog expiry
 * @out_signal_ns: CLOCK_MONOTONIC time its fence signalled
 *
 * Waits for a job and retires it; a job can be waited for once.
 */
struct bar_dmabuf_imp_wait_job {
	__u32 size;
	__u32 flags;
	__aligned_u64 job;
	__u32 timeout_ms;
	__s32 out_status;
	__aligned_u64 data_ptr;
	__aligned_u64 data_len;
	__aligned_u64 out_signal_ns;
};

#define BAR_DMABUF_IMP_IOCTL_WAIT_JOB \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_WAIT_JOB)

/**
 * enum bar_dmabuf_imp_event_type - entries of the timeline
 * @BAR_DMABUF_IMP_EV_ATTACH: attached
 * @BAR_DMABUF_IMP_EV_MAP: mapped, @arg bytes (@result: 0 or the map error)
 * @BAR_DMABUF_IMP_EV_JOB_SUBMIT: job @arg submitted (@result: 0 or error)
 * @BAR_DMABUF_IMP_EV_JOB_START: job @arg started on the hardware
 * @BAR_DMABUF_IMP_EV_JOB_DONE: job @arg finished (@result: its status)
 * @BAR_DMABUF_IMP_EV_FENCE_SIGNAL: the fence of job @arg signalled
 * @BAR_DMABUF_IMP_EV_INVALIDATE: the exporter's invalidate callback ran;
 *	@arg is the length of the mapping it invalidated, 0 if none was in use
 *	(e.g. the notification of a restore)
 * @BAR_DMABUF_IMP_EV_LATE_READ: a late read at offset @arg (@result: 0,
 *	-EFAULT for a DMA fault, -EBADMSG if the data differed)
 * @BAR_DMABUF_IMP_EV_UNMAP: unmapped, @arg bytes
 * @BAR_DMABUF_IMP_EV_DETACH: detached
 * @BAR_DMABUF_IMP_EV_VIOLATION: the importer broke the protocol on request
 *	(a write after invalidate); @arg is the offset (@result: 0, -EFAULT
 *	for a DMA fault, -ESTALE if not done because the mapping had been
 *	handed back before the write, other than by a SYNC-mode callback)
 * @BAR_DMABUF_IMP_EV_WATCHDOG: a held fence of job @arg expired
 * @BAR_DMABUF_IMP_EV_DMA_FAULT: an access at DMA address @arg failed to
 *	translate
 * @BAR_DMABUF_IMP_EV_PIN: dma_buf_pin() (@result: 0 or its error)
 * @BAR_DMABUF_IMP_EV_UNPIN: dma_buf_unpin()
 * @BAR_DMABUF_IMP_EV_PCI_ERROR: (device log) our PCI function's
 *	error_detected: @arg the pci_channel_state_t (1 normal, 2 frozen,
 *	3 permanent failure), @result the vote (a pci_ers_result_t)
 * @BAR_DMABUF_IMP_EV_PCI_MMIO_ENABLED: (device log) mmio_enabled
 * @BAR_DMABUF_IMP_EV_PCI_SLOT_RESET: (device log) slot_reset: the link
 *	below the port was reset
 * @BAR_DMABUF_IMP_EV_PCI_RESUME: (device log) resume; @arg the number of
 *	%BAR_DMABUF_IMP_JOB_UNTIL_RESUME jobs it let complete
 */
enum bar_dmabuf_imp_event_type {
	BAR_DMABUF_IMP_EV_ATTACH = 1,
	BAR_DMABUF_IMP_EV_MAP = 2,
	BAR_DMABUF_IMP_EV_JOB_SUBMIT = 3,
	BAR_DMABUF_IMP_EV_JOB_START = 4,
	BAR_DMABUF_IMP_EV_JOB_DONE = 5,
	BAR_DMABUF_IMP_EV_FENCE_SIGNAL = 6,
	BAR_DMABUF_IMP_EV_INVALIDATE = 7,
	BAR_DMABUF_IMP_EV_LATE_READ = 8,
	BAR_DMABUF_IMP_EV_UNMAP = 9,
	BAR_DMABUF_IMP_EV_DETACH = 10,
	BAR_DMABUF_IMP_EV_VIOLATION = 11,
	BAR_DMABUF_IMP_EV_WATCHDOG = 12,
	BAR_DMABUF_IMP_EV_DMA_FAULT = 13,
	BAR_DMABUF_IMP_EV_PIN = 14,
	BAR_DMABUF_IMP_EV_UNPIN = 15,
	BAR_DMABUF_IMP_EV_PCI_ERROR = 16,
	BAR_DMABUF_IMP_EV_PCI_MMIO_ENABLED = 17,
	BAR_DMABUF_IMP_EV_PCI_SLOT_RESET = 18,
	BAR_DMABUF_IMP_EV_PCI_RESUME = 19,
};

/**
 * struct bar_dmabuf_imp_event - one entry of the timeline
 * @ts_ns: CLOCK_MONOTONIC time of the event
 * @type: one of &enum bar_dmabuf_imp_event_type
 * @handle: the attachment
 * @arg: job id, offset or address, depending on @type
 * @result: 0 or a negative errno, depending on @type
 * @reserved: 0
 */
struct bar_dmabuf_imp_event {
	__aligned_u64 ts_ns;
	__u32 type;
	__u32 handle;
	__aligned_u64 arg;
	__s32 result;
	__u32 reserved;
};

/**
 * struct bar_dmabuf_imp_read_log - BAR_DMABUF_IMP_IOCTL_READ_LOG
 * @size: sizeof(struct bar_dmabuf_imp_read_log)
 * @flags: must be 0
 * @handle: the attachment whose log to read (its log outlives a detach
 *	until the control file is closed), or 0 for the device log: the PCI
 *	error recovery callbacks of the function bdf= bound
 * @max_events: room at @events_ptr, in entries
 * @events_ptr: user pointer to an array of &struct bar_dmabuf_imp_event
 * @out_nr_events: entries the log holds; if more than @max_events the call
 *	fails with -ENOSPC and copies nothing
 * @out_lost: entries dropped because the log was full
 *
 * Copies the attachment's whole log, oldest first. Reading does not consume.
 */
struct bar_dmabuf_imp_read_log {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 max_events;
	__aligned_u64 events_ptr;
	__u32 out_nr_events;
	__u32 out_lost;
};

#define BAR_DMABUF_IMP_IOCTL_READ_LOG \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_READ_LOG)

/**
 * struct bar_dmabuf_imp_wait_event - BAR_DMABUF_IMP_IOCTL_WAIT_EVENT
 * @size: sizeof(struct bar_dmabuf_imp_wait_event)
 * @flags: must be 0
 * @handle: the attachment, or 0 for the device log (see READ_LOG)
 * @type: the &enum bar_dmabuf_imp_event_type to wait for
 * @count: wait until the log holds at least this many events of @type
 * @timeout_ms: longest wait; -ETIMEDOUT when it passes
 * @out_ts_ns: timestamp of the @count-th such event
 */
struct bar_dmabuf_imp_wait_event {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 type;
	__u32 count;
	__u32 timeout_ms;
	__aligned_u64 out_ts_ns;
};

#define BAR_DMABUF_IMP_IOCTL_WAIT_EVENT \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_WAIT_EVENT)

/**
 * struct bar_dmabuf_imp_counters - BAR_DMABUF_IMP_IOCTL_COUNTERS
 * @size: sizeof(struct bar_dmabuf_imp_counters)
 * @flags: must be 0
 * @out_attachments: attachments alive in the whole module
 * @out_mappings: mappings alive in the whole module
 * @out_jobs_pending: jobs whose fence has not signalled
 * @out_dma_faults: accesses whose DMA address did not translate
 * @out_late_reads: late reads issued after an invalidate
 * @out_violations: protocol violations done on request
 * @out_watchdog_expired: held fences the watchdog had to signal
 * @out_invalidates: invalidate callbacks received
 *
 * Module-wide counters, so a test can check that nothing is left over.
 */
struct bar_dmabuf_imp_counters {
	__u32 size;
	__u32 flags;
	__u32 out_attachments;
	__u32 out_mappings;
	__u32 out_jobs_pending;
	__u32 out_dma_faults;
	__u32 out_late_reads;
	__u32 out_violations;
	__u32 out_watchdog_expired;
	__u32 out_invalidates;
};

#define BAR_DMABUF_IMP_IOCTL_COUNTERS \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_COUNTERS)

/**
 * struct bar_dmabuf_imp_vmap - BAR_DMABUF_IMP_IOCTL_VMAP
 * @size: sizeof(struct bar_dmabuf_imp_vmap)
 * @flags: must be 0
 * @dmabuf_fd: the dma-buf to map into the kernel with dma_buf_vmap(); the
 *	vmap holds its own reference, so the caller may close the fd
 * @out_handle: names the vmap in VMAP_RW and VUNMAP (never 0)
 * @out_length: bytes mapped (the dma-buf's size)
 *
 * A kernel user of the exporter's vmap, as a driver reading a buffer with
 * the CPU would be; not tied to any attachment. It gets no invalidate
 * callback: it keeps the mapping until VUNMAP or the close of the control
 * file. A failure is the dma-buf core's: -EINVAL when the exporter offers
 * no vmap for this buffer (bar_dmabuf: revoked, several separate ranges,
 * or Linux 6.1).
 */
struct bar_dmabuf_imp_vmap {
	__u32 size;
	__u32 flags;
	__s32 dmabuf_fd;
	__u32 out_handle;
	__aligned_u64 out_length;
};

#define BAR_DMABUF_IMP_IOCTL_VMAP \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_VMAP)

/*
 * BAR_DMABUF_IMP_IOCTL_VUNMAP takes a &struct bar_dmabuf_imp_handle whose
 * @handle is a vmap's: dma_buf_vunmap() and the dma-buf reference dropped
 * (-ENOENT for an unknown handle, or one of another file).
 */
#define BAR_DMABUF_IMP_IOCTL_VUNMAP \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_VUNMAP)

/**
 * enum bar_dmabuf_imp_vmap_rw_flags - direction of a VMAP_RW
 * @BAR_DMABUF_IMP_VMAP_RW_WRITE: copy from @data_ptr into the buffer (else
 *	from the buffer to @data_ptr)
 */
enum bar_dmabuf_imp_vmap_rw_flags {
	BAR_DMABUF_IMP_VMAP_RW_WRITE = 1 << 0,
};

/**
 * struct bar_dmabuf_imp_vmap_rw - BAR_DMABUF_IMP_IOCTL_VMAP_RW
 * @size: sizeof(struct bar_dmabuf_imp_vmap_rw)
 * @flags: a combination of &enum bar_dmabuf_imp_vmap_rw_flags
 * @handle: the vmap
 * @reserved: must be 0
 * @offset: byte offset into the buffer
 * @length: bytes to copy, 1 to BAR_DMABUF_IMP_MAX_JOB, within the buffer
 * @data_ptr: user pointer to @length bytes
 *
 * A CPU copy through the kernel mapping, between dma_buf_begin_cpu_access()
 * and dma_buf_end_cpu_access() (which wait for the buffer's fences).
 */
struct bar_dmabuf_imp_vmap_rw {
	__u32 size;
	__u32 flags;
	__u32 handle;
	__u32 reserved;
	__aligned_u64 offset;
	__aligned_u64 length;
	__aligned_u64 data_ptr;
};

#define BAR_DMABUF_IMP_IOCTL_VMAP_RW \
	_IO(BAR_DMABUF_IMP_TYPE, BAR_DMABUF_IMP_CMD_VMAP_RW)

#endif /* _UAPI_LINUX_BAR_DMABUF_IMPORTER_H */
