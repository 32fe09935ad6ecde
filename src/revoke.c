// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: the revoke protocol (revoke-protocol.md, rules 1-10).
 *
 * Read top to bottom:
 *
 *   bar_dmabuf_revoke_mark()      rules 1, 2, 3  (device lock + resv lock)
 *   bar_dmabuf_revoke_wait_buf()  rules 4, 5     (sleeps with no lock held)
 *   bar_dmabuf_revoke_batch()     rules 6, 7, 8  (mark all, then wait all)
 *   bar_dmabuf_revoke_one/all()   the callers; rule 10 lists who calls
 *   bar_dmabuf_restore_*()        rule 9
 *
 * A batch is a range of export sequence numbers, not an array: a revoke
 * walks the device's list of buffers, so no way out allocates anything
 * and none can fail for want of memory. A buffer released while a revoke
 * waits for it (its dentry went: no importer, no mapping left) leaves the
 * list and the wait at once; the revoke's own reference (&bar_dmabuf_buf.kref)
 * keeps the struct until the revoke lets go.
 *
 * Rule 10, every way out runs bar_dmabuf_revoke_bufs(): the REVOKE ioctl
 * (ioctl.c), the last close of the control node (ioctl.c), unbind,
 * hot-unplug and module unload (pci.c remove), and a function reset
 * (pci.c reset_prepare). Dma-buf fds outlive the device: they hold the
 * buffer, the buffer holds &bar_dmabuf_dev.kref; once the device is gone
 * the buffer is dead (revoked for good).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-resv.h>
#include <linux/dma-fence.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/string.h>

#include "bar_dmabuf.h"
#include "trace.h"

static const char * const bar_dmabuf_why_names[] = {
	[BAR_DMABUF_WHY_IOCTL] = "ioctl",
	[BAR_DMABUF_WHY_CLOSE] = "last-close",
	[BAR_DMABUF_WHY_RESET] = "reset",
	[BAR_DMABUF_WHY_RECOVERY] = "error-recovery",
	[BAR_DMABUF_WHY_REMOVE] = "removal",
};

/* The only writer of &bar_dmabuf_buf.revoked (rules 1 and 9). */
static void bar_dmabuf_set_revoked(struct bar_dmabuf_buf *buf, bool revoked)
{
	lockdep_assert_held(&buf->bdev->lock);
	dma_resv_assert_held(buf->dmabuf->resv);

	WRITE_ONCE(buf->revoked, revoked);
}

/*
 * Rules 1-3 for one buffer. Returns true if this call revoked it, false if
 * it was revoked already (then only the wait is repeated: "asking again
 * resumes the wait").
 */
static bool bar_dmabuf_revoke_mark(struct bar_dmabuf_buf *buf, bool dead)
{
	struct dma_resv *resv = buf->dmabuf->resv;
	bool first = false;

	lockdep_assert_held(&buf->bdev->lock);

	dma_resv_lock(resv, NULL);
	if (dead)
		buf->dead = true;
	if (!buf->revoked) {
		/*
		 * Rule 1, mark first: from here attach and map fail with
		 * -ENODEV, the fault handler raises SIGBUS and mmap fails.
		 * All of them look at @revoked under this lock.
		 */
		bar_dmabuf_set_revoked(buf, true);
		buf->revoke_incomplete = true;
		buf->revoke_start = ktime_get();
		trace_bar_dmabuf_revoke_start(buf, dead);

		/*
		 * Rule 2: tear down every user PTE pointing at the BAR,
		 * through the inode we hold, never the dma-buf's file.
		 */
		unmap_mapping_range(buf->inode->i_mapping, 0, 0, 1);

		/*
		 * Rule 3: notify every attachment, still under the lock. An
		 * importer may unmap right here (our unmap takes no lock) or
		 * later from a worker.
		 */
		bar_dmabuf_compat_invalidate(buf->dmabuf);
		first = true;
	}
	dma_resv_unlock(resv);
	buf->revoke_waiters++;
	return first;
}

/* Rules 4 and 5 hold for @buf. Device lock held, @buf not released. */
static bool bar_dmabuf_drained(struct bar_dmabuf_buf *buf)
{
	lockdep_assert_held(&buf->bdev->lock);

	return !atomic_read(&buf->live_maps) &&
	       dma_resv_test_signaled(buf->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP);
}

/* An unsignalled fence of @buf, with a reference, or NULL. Device lock. */
static struct dma_fence *bar_dmabuf_unsignalled_fence(struct bar_dmabuf_buf *buf)
{
	struct dma_resv_iter cursor;
	struct dma_fence *fence, *found = NULL;

	lockdep_assert_held(&buf->bdev->lock);

	dma_resv_iter_begin(&cursor, buf->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP);
	dma_resv_for_each_fence_unlocked(&cursor, fence) {
		if (!dma_fence_is_signaled(fence)) {
			found = dma_fence_get(fence);
			break;
		}
	}
	dma_resv_iter_end(&cursor);
	return found;
}

/* A fence a revoke waits for wakes the buffer's queue when it signals. */
struct bar_dmabuf_fence_wake {
	struct dma_fence_cb cb;
	struct bar_dmabuf_buf *buf;
};

static void bar_dmabuf_fence_woke(struct dma_fence *fence,
				  struct dma_fence_cb *cb)
{
	struct bar_dmabuf_fence_wake *w =
		container_of(cb, struct bar_dmabuf_fence_wake, cb);

	wake_up_all(&w->buf->wq);
}

static bool bar_dmabuf_wait_over(struct bar_dmabuf_buf *buf,
				 struct dma_fence *fence)
{
	if (READ_ONCE(buf->released))
		return true;
	return fence ? dma_fence_is_signaled(fence) :
		       !atomic_read(&buf->live_maps);
}

/*
 * Rules 4 and 5: sleep, holding no lock, until @fence (rule 4) or, without
 * one, the last unmap (rule 5), or until @buf is released, for at most
 * @left jiffies. The caller holds a reference on @buf (and on @fence).
 * Returns > 0 when over, 0 on timeout, -ERESTARTSYS on a signal (a user's
 * revoke) or a fatal signal (a last close, which a killed process leaves
 * at once: the buffers are revoked already, only the wait is cut short).
 */
static long bar_dmabuf_revoke_wait_buf(struct bar_dmabuf_buf *buf,
				       struct dma_fence *fence,
				       enum bar_dmabuf_why why, long left)
{
	struct bar_dmabuf_fence_wake w = { .buf = buf };
	long ret;

	if (fence && dma_fence_add_callback(fence, &w.cb, bar_dmabuf_fence_woke))
		return 1;	/* signalled meanwhile */

	if (why == BAR_DMABUF_WHY_IOCTL)
		ret = wait_event_interruptible_timeout(buf->wq,
						       bar_dmabuf_wait_over(buf, fence),
						       left);
	else if (why == BAR_DMABUF_WHY_CLOSE)
		ret = wait_event_killable_timeout(buf->wq,
						  bar_dmabuf_wait_over(buf, fence),
						  left);
	else
		ret = wait_event_timeout(buf->wq, bar_dmabuf_wait_over(buf, fence),
					 left);
	if (fence)
		dma_fence_remove_callback(fence, &w.cb);
	return ret;
}

/* One line of rule 8's diagnostics, to debugfs (@s) or the kernel log. */
static __printf(3, 4) void bar_dmabuf_stuck_line(struct seq_file *s,
						  struct bar_dmabuf_buf *buf,
						  const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	if (s)
		seq_printf(s, "  stuck: %pV\n", &vaf);
	else
		pr_warn("%s buffer %u:   %pV\n", buf->bdev->name, buf->id, &vaf);
	va_end(args);
}

/*
 * An unsignalled fence: name the attachments whose importer's driver
 * signs it (dma-buf fences carry a driver name, not a device), so the
 * importer device is named when it can be.
 */
static void bar_dmabuf_describe_fence(struct seq_file *s,
				      struct bar_dmabuf_buf *buf,
				      struct dma_fence *fence)
{
	struct bar_dmabuf_attach *battach;
	char drv[32], tl[32], who[64] = "";
	unsigned int more = 0;

	bar_dmabuf_compat_fence_names(fence, drv, sizeof(drv), tl, sizeof(tl));
	spin_lock(&buf->alock);
	list_for_each_entry(battach, &buf->attachments, node) {
		struct device *dev = battach->attach->dev;

		if (strcmp(dev_driver_string(dev), drv))
			continue;
		if (!who[0])
			strscpy(who, dev_name(dev), sizeof(who));
		else
			more++;
	}
	spin_unlock(&buf->alock);
	if (who[0])
		bar_dmabuf_stuck_line(s, buf,
				      "fence %s/%s seqno %llu unsignalled, attachment of %s (%s)%s",
				      drv, tl, fence->seqno, who, drv,
				      more ? " or another of that driver" : "");
	else
		bar_dmabuf_stuck_line(s, buf,
				      "fence %s/%s seqno %llu unsignalled (no attachment of driver %s)",
				      drv, tl, fence->seqno, drv);
}

/**
 * bar_dmabuf_describe_stuck() - rule 8: what a revoke of @buf waits for
 * @s: debugfs file, or NULL for the kernel log
 * @buf: the buffer, on its device's list
 *
 * Names every unsignalled fence with the attachment (importer device) it
 * comes from and every attachment that still holds a mapping. Caller holds
 * the device lock (which keeps the dma-buf from being released); takes no
 * sleeping lock.
 */
void bar_dmabuf_describe_stuck(struct seq_file *s, struct bar_dmabuf_buf *buf)
{
	struct bar_dmabuf_attach *battach;
	struct dma_resv_iter cursor;
	struct dma_fence *fence;

	lockdep_assert_held(&buf->bdev->lock);

	dma_resv_iter_begin(&cursor, buf->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP);
	dma_resv_for_each_fence_unlocked(&cursor, fence)
		if (!dma_fence_is_signaled(fence))
			bar_dmabuf_describe_fence(s, buf, fence);
	dma_resv_iter_end(&cursor);

	spin_lock(&buf->alock);
	list_for_each_entry(battach, &buf->attachments, node) {
		struct device *dev = battach->attach->dev;
		int n = atomic_read(&battach->nr_maps);

		if (n)
			bar_dmabuf_stuck_line(s, buf,
					      "mapping: attachment of %s (%s) holds %d mapping(s)",
					      dev_name(dev), dev_driver_string(dev), n);
	}
	spin_unlock(&buf->alock);
}

/*
 * A batch: the buffers of one device with @first <= seq < @end, as they
 * were when it was marked. Buffers only ever leave that set (a release),
 * and the list is in seq order.
 */
struct bar_dmabuf_batch {
	struct bar_dmabuf_dev *bdev;
	enum bar_dmabuf_why why;
	u64 first, end;
};

/* The first buffer of @b at or after @pos (NULL: the head). Device lock. */
static struct bar_dmabuf_buf *bar_dmabuf_batch_next(struct bar_dmabuf_batch *b,
						    struct bar_dmabuf_buf *pos)
{
	struct list_head *head = &b->bdev->buffers;

	lockdep_assert_held(&b->bdev->lock);

	pos = pos ? pos : list_entry(head->next, struct bar_dmabuf_buf, node);
	for (; &pos->node != head; pos = list_next_entry(pos, node)) {
		if (pos->seq >= b->end)
			break;
		if (pos->seq >= b->first)
			return pos;
	}
	return NULL;
}

/* The buffer of @b after @buf, or NULL. Device lock. */
static struct bar_dmabuf_buf *bar_dmabuf_batch_after(struct bar_dmabuf_batch *b,
						     struct bar_dmabuf_buf *buf)
{
	return bar_dmabuf_batch_next(b, list_next_entry(buf, node));
}

/* The first buffer of @b not yet drained, or NULL. Device lock. */
static struct bar_dmabuf_buf *bar_dmabuf_batch_undrained(struct bar_dmabuf_batch *b)
{
	struct bar_dmabuf_buf *buf;

	for (buf = bar_dmabuf_batch_next(b, NULL); buf;
	     buf = bar_dmabuf_batch_after(b, buf))
		if (!bar_dmabuf_drained(buf))
			return buf;
	return NULL;
}

/* Rule 8 in the kernel log: what each undrained buffer of @b waits for. */
static void bar_dmabuf_report_stuck(struct bar_dmabuf_batch *b)
{
	struct bar_dmabuf_buf *buf;

	lockdep_assert_held(&b->bdev->lock);

	for (buf = bar_dmabuf_batch_next(b, NULL); buf;
	     buf = bar_dmabuf_batch_after(b, buf)) {
		if (bar_dmabuf_drained(buf))
			continue;
		pr_warn("%s buffer %u: %s revoke still waiting after %lld ms\n",
			buf->bdev->name, buf->id, bar_dmabuf_why_names[b->why],
			ktime_ms_delta(ktime_get(), buf->revoke_start));
		bar_dmabuf_describe_stuck(NULL, buf);
	}
}

/*
 * Rules 4-6 and 8 for a marked batch: walk it, and sleep on each buffer
 * not yet drained until it is, all against one deadline, so the time is
 * that of the slowest importer (rule 7). The walk holds the device lock,
 * each sleep holds none: a reference keeps the buffer, and a buffer
 * released meanwhile has left the list (the walk starts over).
 *
 * Bounded (ioctl, close): -ETIMEDOUT on expiry, the stuck ones logged.
 * Forever (reset, removal): never gives up, warns every revoke_timeout_ms.
 */
static int bar_dmabuf_revoke_wait(struct bar_dmabuf_batch *b,
				  unsigned int timeout_ms)
{
	bool forever = b->why == BAR_DMABUF_WHY_RESET ||
		       b->why == BAR_DMABUF_WHY_REMOVE;
	struct bar_dmabuf_dev *bdev = b->bdev;
	struct bar_dmabuf_buf *buf;
	unsigned long deadline;
	int ret = 0;

	if (forever)
		timeout_ms = max(bar_dmabuf_default_timeout_ms(), 1000U);
	deadline = jiffies + msecs_to_jiffies(timeout_ms);

	mutex_lock(&bdev->lock);
	buf = bar_dmabuf_batch_next(b, NULL);
	for (;;) {
		struct dma_fence *fence;
		long left, woke;

		/*
		 * Past the end: a fence may have come meanwhile to a buffer
		 * passed already (an imported sync_file, an importer's job
		 * queued before the invalidate). Done only when one pass under
		 * this lock finds the whole batch drained.
		 */
		if (!buf)
			buf = bar_dmabuf_batch_undrained(b);
		if (!buf)
			break;

		if (bar_dmabuf_drained(buf)) {
			trace_bar_dmabuf_fences_drained(buf);
			trace_bar_dmabuf_unmaps_drained(buf);
			buf = bar_dmabuf_batch_after(b, buf);
			continue;
		}
		left = (long)(deadline - jiffies);
		if (left <= 0) {
			bar_dmabuf_report_stuck(b);
			if (!forever) {
				ret = -ETIMEDOUT;
				break;
			}
			deadline = jiffies + msecs_to_jiffies(timeout_ms);
			continue;
		}

		fence = bar_dmabuf_unsignalled_fence(buf);
		kref_get(&buf->kref);
		mutex_unlock(&bdev->lock);

		woke = bar_dmabuf_revoke_wait_buf(buf, fence, b->why, left);
		if (fence)
			dma_fence_put(fence);

		mutex_lock(&bdev->lock);
		if (READ_ONCE(buf->released)) {
			/* off the list: start over (it may be our last ref) */
			bar_dmabuf_buf_put(buf);
			buf = bar_dmabuf_batch_next(b, NULL);
		} else {
			bar_dmabuf_buf_put(buf);	/* the dma-buf holds one */
		}
		if (woke < 0) {
			ret = woke;
			break;
		}
	}
	mutex_unlock(&bdev->lock);
	return ret;
}

/*
 * Mark every buffer of @b (rules 1-3, all of them before anyone waits:
 * rule 7), wait (rules 4-6, 8), then settle. Allocates nothing.
 */
static int bar_dmabuf_revoke_batch(struct bar_dmabuf_batch *b,
				   unsigned int timeout_ms, u32 *nr)
{
	struct bar_dmabuf_dev *bdev = b->bdev;
	struct bar_dmabuf_buf *buf;
	u32 count = 0;
	int ret;

	mutex_lock(&bdev->lock);
	b->end = min(b->end, bdev->next_seq);
	for (buf = bar_dmabuf_batch_next(b, NULL); buf;
	     buf = bar_dmabuf_batch_after(b, buf)) {
		bool first = bar_dmabuf_revoke_mark(buf,
						    b->why == BAR_DMABUF_WHY_REMOVE);

		/*
		 * reset_done restores only what the reset revoked: a revoke
		 * for any other reason, even one that comes while the reset
		 * waits, makes the buffer its own (revoked until RESTORE).
		 */
		if (b->why != BAR_DMABUF_WHY_RESET &&
		    b->why != BAR_DMABUF_WHY_RECOVERY)
			buf->revoked_by_reset = false;
		else if (first)
			buf->revoked_by_reset = true;
		count++;
	}
	mutex_unlock(&bdev->lock);

	ret = bar_dmabuf_revoke_wait(b, timeout_ms);

	mutex_lock(&bdev->lock);
	for (buf = bar_dmabuf_batch_next(b, NULL); buf;
	     buf = bar_dmabuf_batch_after(b, buf)) {
		bool done = bar_dmabuf_drained(buf);

		buf->revoke_waiters--;
		/* Rule 6: complete only when 4 and 5 both held. */
		if (done)
			buf->revoke_incomplete = false;
		trace_bar_dmabuf_revoke_done(buf, done ? 0 : ret ?: -ETIMEDOUT);
	}
	mutex_unlock(&bdev->lock);

	if (nr)
		*nr = count;
	return ret;
}

/**
 * bar_dmabuf_revoke_one() - revoke one buffer (REVOKE ioctl)
 * @buf: the buffer; the caller holds a dma-buf reference
 * @timeout_ms: longest wait
 *
 * Return: 0, -ETIMEDOUT (buffer stays revoked; call again to resume),
 * -ERESTARTSYS.
 */
int bar_dmabuf_revoke_one(struct bar_dmabuf_buf *buf, unsigned int timeout_ms)
{
	struct bar_dmabuf_batch b = {
		.bdev = buf->bdev, .why = BAR_DMABUF_WHY_IOCTL,
		.first = buf->seq, .end = buf->seq + 1,
	};

	return bar_dmabuf_revoke_batch(&b, timeout_ms, NULL);
}

/**
 * bar_dmabuf_revoke_all() - revoke every buffer of a device, batched
 * @bdev: the device
 * @why: the way out; reset and removal wait forever, removal kills
 * @timeout_ms: longest wait for the bounded ones
 * @end_seq: only buffers exported before &bar_dmabuf_dev.next_seq had this
 *	value (the last close passes what it saw when it began), or
 *	BAR_DMABUF_SEQ_NOW for all that exist when the marking starts
 * @nr: if not NULL, the number of buffers revoked or waited for
 *
 * Cannot fail for want of memory: it allocates nothing.
 *
 * Return: 0, -ETIMEDOUT, -ERESTARTSYS (a signal for the ioctl, a fatal one
 * for the last close; the buffers stay revoked).
 */
int bar_dmabuf_revoke_all(struct bar_dmabuf_dev *bdev, enum bar_dmabuf_why why,
			  unsigned int timeout_ms, u64 end_seq, u32 *nr)
{
	struct bar_dmabuf_batch b = {
		.bdev = bdev, .why = why, .first = 0, .end = end_seq,
	};

	return bar_dmabuf_revoke_batch(&b, timeout_ms, nr);
}

/* Rule 9 for one buffer. Returns 1 if restored, 0 if it was not revoked. */
static int bar_dmabuf_restore_locked(struct bar_dmabuf_buf *buf)
{
	struct dma_resv *resv = buf->dmabuf->resv;

	lockdep_assert_held(&buf->bdev->lock);

	if (buf->dead)
		return -ENODEV;
	/*
	 * Not while a revoke waits: it would wait for mappings the restore
	 * lets importers make again. After a revoke that timed out, nobody
	 * waits: mappings left from before are still valid (we never tear
	 * DMA addresses down), so restoring is safe.
	 */
	if (buf->revoke_waiters)
		return -EBUSY;
	if (!buf->revoked)
		return 0;

	dma_resv_lock(resv, NULL);
	/*
	 * Clear before notifying: an importer that re-maps from its worker
	 * right after the callback must find the buffer usable.
	 */
	bar_dmabuf_set_revoked(buf, false);
	buf->revoked_by_reset = false;
	buf->revoke_incomplete = false;
	bar_dmabuf_compat_invalidate(buf->dmabuf);
	dma_resv_unlock(resv);
	trace_bar_dmabuf_restore(buf);
	return 1;
}

/* A RESTORE refused during a reset: say why when it may never end. */
static int bar_dmabuf_restore_busy(struct bar_dmabuf_dev *bdev)
{
	lockdep_assert_held(&bdev->lock);

	if (bdev->recovering)
		pci_info_ratelimited(bdev->pdev,
				     "restore refused: a PCI error recovery has not given the device back; if the kernel logged \"device recovery failed\", reset the function (echo 1 > /sys/bus/pci/devices/%s/reset) or rebind it\n",
				     pci_name(bdev->pdev));
	return -EBUSY;
}

/**
 * bar_dmabuf_restore_one() - make a revoked buffer usable again
 * @buf: the buffer; the caller holds a dma-buf reference
 *
 * Return: 1 if restored, 0 if it was not revoked, -ENODEV if its device
 * is gone, -EBUSY while a revoke of it is waiting, or during a reset.
 */
int bar_dmabuf_restore_one(struct bar_dmabuf_buf *buf)
{
	struct bar_dmabuf_dev *bdev = buf->bdev;
	int ret;

	mutex_lock(&bdev->lock);
	if (bdev->gone || bdev->failed || buf->dead)
		ret = -ENODEV;
	else if (bdev->resetting)
		ret = bar_dmabuf_restore_busy(bdev);
	else
		ret = bar_dmabuf_restore_locked(buf);
	mutex_unlock(&bdev->lock);
	return ret;
}

/**
 * bar_dmabuf_restore_all() - restore every revoked buffer of a device
 * @bdev: the device
 * @reset_only: only those revoked by reset_prepare (reset_done)
 * @nr: if not NULL, the number restored
 *
 * Without @reset_only all or nothing: -EBUSY if a revoke still waits for
 * any revoked buffer.
 *
 * Return: 0, -ENODEV, -EBUSY.
 */
int bar_dmabuf_restore_all(struct bar_dmabuf_dev *bdev, bool reset_only,
			   u32 *nr)
{
	struct bar_dmabuf_buf *buf;
	u32 count = 0;
	int ret = 0;

	mutex_lock(&bdev->lock);
	if (bdev->gone || bdev->failed) {
		ret = -ENODEV;
		goto out_unlock;
	}
	if (!reset_only) {
		if (bdev->resetting) {
			ret = bar_dmabuf_restore_busy(bdev);
			goto out_unlock;
		}
		list_for_each_entry(buf, &bdev->buffers, node) {
			if (buf->revoked && buf->revoke_waiters) {
				ret = -EBUSY;
				goto out_unlock;
			}
		}
	}
	list_for_each_entry(buf, &bdev->buffers, node) {
		if (reset_only && !buf->revoked_by_reset)
			continue;
		if (bar_dmabuf_restore_locked(buf) > 0)
			count++;
	}
out_unlock:
	mutex_unlock(&bdev->lock);
	if (nr)
		*nr = count;
	return ret;
}
