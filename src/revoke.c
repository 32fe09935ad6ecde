// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: the revoke protocol (revoke-protocol.md, rules 1-10).
 *
 * Read top to bottom:
 *
 *   bar_dmabuf_revoke_mark()      rules 1, 2, 3  (device lock + resv lock)
 *   bar_dmabuf_revoke_wait_one()  rules 4, 5     (no lock held)
 *   bar_dmabuf_revoke_bufs()      rules 6, 7, 8  (mark all, then wait all)
 *   bar_dmabuf_revoke_one/all()   the callers; rule 10 lists who calls
 *   bar_dmabuf_restore_*()        rule 9
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
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "bar_dmabuf.h"
#include "trace.h"

static const char * const bar_dmabuf_why_names[] = {
	[BAR_DMABUF_WHY_IOCTL] = "ioctl",
	[BAR_DMABUF_WHY_CLOSE] = "last-close",
	[BAR_DMABUF_WHY_RESET] = "reset",
	[BAR_DMABUF_WHY_REMOVE] = "removal",
};

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
		 * All of them look at @revoked under this lock. The buffer
		 * also loses its vmap op under it, so dma_buf_vmap(), which
		 * holds it too, refuses with -EINVAL and never calls us.
		 */
		bar_dmabuf_set_revoked(buf, true);
		buf->revoke_incomplete = true;
		buf->revoke_start = ktime_get();
		trace_bar_dmabuf_revoke_start(buf, dead);

		/* Rule 2: tear down every user PTE pointing at the BAR. */
		unmap_mapping_range(buf->dmabuf->file->f_mapping, 0, 0, 1);

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

static bool bar_dmabuf_unmapped(struct bar_dmabuf_buf *buf)
{
	return !atomic_read(&buf->live_maps);
}

/*
 * Rules 4 and 5 for one buffer, until @deadline (jiffies). No lock held:
 * importers take the resv lock to unmap. Returns 0 once both hold,
 * -ETIMEDOUT, or -ERESTARTSYS if @intr and a signal came.
 */
static int bar_dmabuf_revoke_wait_one(struct bar_dmabuf_buf *buf,
				      unsigned long deadline, bool intr)
{
	struct dma_resv *resv = buf->dmabuf->resv;
	long left, ret;

	do {
		/* Rule 4: every fence of every usage has signalled. */
		left = max_t(long, (long)(deadline - jiffies), 0);
		ret = dma_resv_wait_timeout(resv, DMA_RESV_USAGE_BOOKKEEP, intr,
					    left);
		if (ret < 0)
			return ret;
		if (!ret)
			return -ETIMEDOUT;
		trace_bar_dmabuf_fences_drained(buf);

		/*
		 * Rule 5: every mapping that existed at the mark is unmapped,
		 * and the kernel vmap, if there was one, vunmapped by its last
		 * user. No new one can appear (rule 1), so zero means done.
		 */
		left = max_t(long, (long)(deadline - jiffies), 0);
		if (intr)
			ret = wait_event_interruptible_timeout(buf->wq,
							       bar_dmabuf_unmapped(buf),
							       left);
		else
			ret = wait_event_timeout(buf->wq, bar_dmabuf_unmapped(buf),
						 left);
		if (ret < 0)
			return ret;
		if (!ret)
			return -ETIMEDOUT;
		trace_bar_dmabuf_unmaps_drained(buf);

		/* an unmap may have come with a last fence: check again */
	} while (!dma_resv_test_signaled(resv, DMA_RESV_USAGE_BOOKKEEP));
	return 0;
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
 * @buf: the buffer
 *
 * Names every unsignalled fence with the attachment (importer device) it
 * comes from, every attachment that still holds a mapping, and a kernel
 * vmap not yet vunmapped. Takes no sleeping lock.
 */
void bar_dmabuf_describe_stuck(struct seq_file *s, struct bar_dmabuf_buf *buf)
{
	struct bar_dmabuf_attach *battach;
	struct dma_resv_iter cursor;
	struct dma_fence *fence;

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

	/* no invalidation reaches it: only its users' vunmap ends it */
	if (READ_ONCE(buf->vmapped))
		bar_dmabuf_stuck_line(s, buf,
				      "vmap: a kernel dma_buf_vmap() mapping is not yet vunmapped");
}

/* Rule 8 in the kernel log: a revoke still waits for @buf. */
static void bar_dmabuf_report_stuck(struct bar_dmabuf_buf *buf, const char *why)
{
	s64 waited = ktime_ms_delta(ktime_get(), READ_ONCE(buf->revoke_start));

	pr_warn("%s buffer %u: %s revoke still waiting after %lld ms\n",
		buf->bdev->name, buf->id, why, waited);
	bar_dmabuf_describe_stuck(NULL, buf);
}

/*
 * Rules 6-8 for a batch. Each buffer comes with a file reference (it
 * cannot be released under us) and has been marked (rule 7: all of them
 * are marked, zapped and notified before anyone waits). Waits with one
 * deadline for all, so the time is that of the slowest importer.
 *
 * Bounded (ioctl, close): on expiry -ETIMEDOUT, the buffers stay revoked,
 * the stuck ones are logged. Forever (reset, removal): never gives up,
 * warns every revoke_timeout_ms.
 */
static int bar_dmabuf_revoke_wait(struct bar_dmabuf_buf **bufs, int *res,
				  unsigned int n, enum bar_dmabuf_why why,
				  unsigned int timeout_ms)
{
	bool forever = why == BAR_DMABUF_WHY_RESET ||
		       why == BAR_DMABUF_WHY_REMOVE;
	bool intr = why == BAR_DMABUF_WHY_IOCTL;
	unsigned long deadline;
	unsigned int i, pending;
	int ret = 0;

	if (forever)
		timeout_ms = max(bar_dmabuf_default_timeout_ms(), 1000U);
	do {
		deadline = jiffies + msecs_to_jiffies(timeout_ms);
		pending = 0;
		ret = 0;
		for (i = 0; i < n; i++) {
			if (!res[i])
				continue;
			res[i] = bar_dmabuf_revoke_wait_one(bufs[i], deadline,
							    intr);
			if (res[i] == -ETIMEDOUT) {
				bar_dmabuf_report_stuck(bufs[i],
							bar_dmabuf_why_names[why]);
				pending++;
			}
			if (res[i] && (!ret || ret == -ETIMEDOUT))
				ret = res[i];
			if (res[i] == -ERESTARTSYS)
				return ret;
		}
	} while (forever && pending);
	return ret;
}

/* Removal and reset have no way to fail: their bookkeeping must not. */
static gfp_t bar_dmabuf_revoke_gfp(enum bar_dmabuf_why why)
{
	if (why == BAR_DMABUF_WHY_RESET || why == BAR_DMABUF_WHY_REMOVE)
		return GFP_KERNEL | __GFP_NOFAIL;
	return GFP_KERNEL;
}

/* Mark (with the device lock), wait (without), then settle (with). */
static int bar_dmabuf_revoke_bufs(struct bar_dmabuf_dev *bdev,
				  struct bar_dmabuf_buf **bufs, unsigned int n,
				  enum bar_dmabuf_why why, unsigned int timeout_ms)
{
	int *res;
	unsigned int i;
	int ret;

	res = kcalloc(n ?: 1, sizeof(*res), bar_dmabuf_revoke_gfp(why));
	if (!res)
		return -ENOMEM;

	mutex_lock(&bdev->lock);
	for (i = 0; i < n; i++) {
		bool first = bar_dmabuf_revoke_mark(bufs[i],
						    why == BAR_DMABUF_WHY_REMOVE);

		/*
		 * reset_done restores only what the reset revoked: a revoke
		 * for any other reason, even one that comes while the reset
		 * waits, makes the buffer its own (revoked until RESTORE).
		 */
		if (why != BAR_DMABUF_WHY_RESET)
			bufs[i]->revoked_by_reset = false;
		else if (first)
			bufs[i]->revoked_by_reset = true;
		res[i] = -EINPROGRESS;
	}
	mutex_unlock(&bdev->lock);

	ret = bar_dmabuf_revoke_wait(bufs, res, n, why, timeout_ms);

	mutex_lock(&bdev->lock);
	for (i = 0; i < n; i++) {
		bufs[i]->revoke_waiters--;
		/* Rule 6: complete only when 4 and 5 both held. */
		if (!res[i])
			bufs[i]->revoke_incomplete = false;
		trace_bar_dmabuf_revoke_done(bufs[i], res[i]);
	}
	mutex_unlock(&bdev->lock);

	kfree(res);
	return ret;
}

/**
 * bar_dmabuf_revoke_one() - revoke one buffer (REVOKE ioctl)
 * @buf: the buffer; the caller holds a dma-buf reference
 * @timeout_ms: longest wait
 *
 * Return: 0, -ETIMEDOUT (buffer stays revoked; call again to resume),
 * -ERESTARTSYS, -ENOMEM.
 */
int bar_dmabuf_revoke_one(struct bar_dmabuf_buf *buf, unsigned int timeout_ms)
{
	return bar_dmabuf_revoke_bufs(buf->bdev, &buf, 1, BAR_DMABUF_WHY_IOCTL,
				      timeout_ms);
}

/**
 * bar_dmabuf_revoke_all() - revoke every buffer of a device, batched
 * @bdev: the device
 * @why: the way out; reset and removal wait forever, removal kills
 * @timeout_ms: longest wait for the bounded ones
 * @nr: if not NULL, the number of buffers revoked or waited for
 *
 * Return: as bar_dmabuf_revoke_one().
 */
int bar_dmabuf_revoke_all(struct bar_dmabuf_dev *bdev, enum bar_dmabuf_why why,
			  unsigned int timeout_ms, u32 *nr)
{
	struct bar_dmabuf_buf **bufs, *buf;
	unsigned int n = 0, max = 0, i;
	int ret;

	mutex_lock(&bdev->lock);
	list_for_each_entry(buf, &bdev->buffers, node)
		max++;
	bufs = kcalloc(max ?: 1, sizeof(*bufs), bar_dmabuf_revoke_gfp(why));
	if (!bufs) {
		mutex_unlock(&bdev->lock);
		return -ENOMEM;
	}
	/* pin each file; one in its final fput is being released: skip it */
	list_for_each_entry(buf, &bdev->buffers, node)
		if (bar_dmabuf_compat_get_file_active(&buf->dmabuf->file))
			bufs[n++] = buf;
	mutex_unlock(&bdev->lock);

	ret = bar_dmabuf_revoke_bufs(bdev, bufs, n, why, timeout_ms);
	if (nr)
		*nr = n;

	for (i = 0; i < n; i++)
		fput(bufs[i]->dmabuf->file);
	kfree(bufs);
	return ret;
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
	if (bdev->gone || buf->dead)
		ret = -ENODEV;
	else if (bdev->resetting)
		ret = -EBUSY;
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
	if (bdev->gone) {
		ret = -ENODEV;
		goto out_unlock;
	}
	if (!reset_only) {
		if (bdev->resetting) {
			ret = -EBUSY;
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
