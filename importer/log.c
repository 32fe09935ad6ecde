// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf_importer: the per-attachment timeline.
 *
 * Every event gets a CLOCK_MONOTONIC timestamp (ktime_get_ns(), the clock
 * userspace reads with clock_gettime(CLOCK_MONOTONIC)). Logging takes one
 * spinlock and never allocates, so it is safe from the invalidate callback
 * and from the fence signalling path.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "importer.h"

/**
 * imp_log_init() - prepare an empty timeline
 * @log: the log
 *
 * Return: 0 or -ENOMEM.
 */
int imp_log_init(struct imp_log *log)
{
	spin_lock_init(&log->lock);
	init_waitqueue_head(&log->wq);
	log->ev = kvcalloc(IMP_LOG_MAX, sizeof(*log->ev), GFP_KERNEL);
	log->cap = log->ev ? IMP_LOG_MAX : 0;
	return log->ev ? 0 : -ENOMEM;
}

/**
 * imp_log_shrink() - keep only the entries written, once nothing is logged
 * @log: the log of a detached attachment
 *
 * A detached attachment's log lives until its file is closed, and a test
 * may attach and detach thousands of times: keep its entries, not room for
 * IMP_LOG_MAX of them. Later events (there should be none) count as lost.
 * Process context; takes imp_log.lock. On allocation failure the log stays
 * as it is.
 */
void imp_log_shrink(struct imp_log *log)
{
	struct bar_dmabuf_imp_event *small = NULL, *old;
	u32 nr;

	spin_lock_irq(&log->lock);
	nr = log->nr;
	spin_unlock_irq(&log->lock);
	if (nr) {
		small = kvmalloc_array(nr, sizeof(*small), GFP_KERNEL);
		if (!small)
			return;
	}
	spin_lock_irq(&log->lock);
	if (log->nr != nr) {	/* raced with a late event: try no more */
		spin_unlock_irq(&log->lock);
		kvfree(small);
		return;
	}
	if (nr)
		memcpy(small, log->ev, nr * sizeof(*small));
	old = log->ev;
	log->ev = small;
	log->cap = nr;
	spin_unlock_irq(&log->lock);
	kvfree(old);
}

/**
 * imp_log_fini() - free a timeline
 * @log: the log; nobody may log into it any more
 */
void imp_log_fini(struct imp_log *log)
{
	kvfree(log->ev);
	log->ev = NULL;
}

/**
 * imp_log_event() - append one event
 * @log: the log
 * @handle: the attachment
 * @type: &enum bar_dmabuf_imp_event_type
 * @arg: job id, offset or address
 * @result: 0 or a negative errno
 *
 * Any context; takes imp_log.lock.
 */
void imp_log_event(struct imp_log *log, u32 handle, u32 type, u64 arg,
		   s32 result)
{
	struct bar_dmabuf_imp_event *ev;
	unsigned long flags;

	spin_lock_irqsave(&log->lock, flags);
	if (type < ARRAY_SIZE(log->type_count))
		log->type_count[type]++;
	if (log->nr < log->cap) {
		ev = &log->ev[log->nr++];
		ev->ts_ns = ktime_get_ns();
		ev->type = type;
		ev->handle = handle;
		ev->arg = arg;
		ev->result = result;
		ev->reserved = 0;
	} else {
		log->lost++;
	}
	spin_unlock_irqrestore(&log->lock, flags);
	wake_up_all(&log->wq);
}

/**
 * imp_log_read() - READ_LOG: copy the whole timeline to userspace
 * @log: the log
 * @arg: the command; out_nr_events and out_lost are filled in
 *
 * Return: 0, -ENOSPC when @arg->max_events is too small (out_nr_events
 * tells how many are needed), -ENOMEM, or -EFAULT.
 */
int imp_log_read(struct imp_log *log, struct bar_dmabuf_imp_read_log *arg)
{
	struct bar_dmabuf_imp_event *copy;
	u32 nr;
	int ret = 0;

	spin_lock_irq(&log->lock);
	nr = log->nr;
	arg->out_lost = log->lost;
	spin_unlock_irq(&log->lock);

	arg->out_nr_events = nr;
	if (nr > arg->max_events)
		return -ENOSPC;
	if (!nr)
		return 0;

	copy = kvmalloc_array(nr, sizeof(*copy), GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	/* Entries never change once written: copy the first nr of them. */
	spin_lock_irq(&log->lock);
	memcpy(copy, log->ev, nr * sizeof(*copy));
	spin_unlock_irq(&log->lock);

	if (copy_to_user(u64_to_user_ptr(arg->events_ptr), copy,
			 nr * sizeof(*copy)))
		ret = -EFAULT;
	kvfree(copy);
	return ret;
}

/* The timestamp of the count-th event of @type, or 0 if it was lost. */
static bool imp_log_find(struct imp_log *log, u32 type, u32 count, u64 *ts)
{
	u32 i, seen = 0;
	bool found = false;

	spin_lock_irq(&log->lock);
	if (log->type_count[type] >= count) {
		found = true;
		*ts = 0;
		for (i = 0; i < log->nr; i++) {
			if (log->ev[i].type == type && ++seen == count) {
				*ts = log->ev[i].ts_ns;
				break;
			}
		}
	}
	spin_unlock_irq(&log->lock);
	return found;
}

/**
 * imp_log_wait() - WAIT_EVENT: sleep until the log holds enough events
 * @log: the log
 * @arg: the command; out_ts_ns is filled in
 *
 * Return: 0, -EINVAL for an unknown type or a zero count, -ETIMEDOUT, or
 * -ERESTARTSYS on a signal.
 */
int imp_log_wait(struct imp_log *log, struct bar_dmabuf_imp_wait_event *arg)
{
	unsigned long timeout;
	long left;
	u64 ts = 0;

	if (!arg->type || arg->type >= ARRAY_SIZE(log->type_count) ||
	    !arg->count)
		return -EINVAL;

	timeout = msecs_to_jiffies(arg->timeout_ms);
	left = wait_event_interruptible_timeout(log->wq,
						imp_log_find(log, arg->type,
							     arg->count, &ts),
						timeout);
	if (left < 0)
		return left;
	if (!left && !imp_log_find(log, arg->type, arg->count, &ts))
		return -ETIMEDOUT;
	arg->out_ts_ns = ts;
	return 0;
}
