// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf_importer: attachments, mappings, and what happens when the
 * exporter invalidates them.
 *
 * A revocable attachment is dynamic (it has an invalidate callback) and
 * allows peer-to-peer. Mappings are made and handed back under the buffer's
 * reservation lock, as the kernel requires of dynamic importers (and 6.2+
 * of every importer). On invalidate the attachment stops using the mapping
 * for new jobs at once; what happens next depends on the unmap mode:
 *
 *   WORKER      late reads of the old mapping for late_read_window_ms, then
 *               (once the jobs on it have finished) unmap from a worker
 *   SYNC        unmap inside the callback, the lock already held
 *   ON_REQUEST  late reads, then keep the mapping until UNMAP
 *   NEVER       late reads, then keep the mapping until the file is closed
 *
 * A pinned-revocable attachment (RDMA's MRs from 7.1 on) has no mode: it
 * pins and maps once at ATTACH, and its callback unmaps, unpins and leaves
 * it dead for good; it never maps again.
 */
#include <linux/dma-resv.h>
#include <linux/jiffies.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "compat.h"
#include "importer.h"

static void imp_attach_invalidate(struct dma_buf_attachment *attach);

static const struct dma_buf_attach_ops imp_attach_ops_p2p = {
	.allow_peer2peer = true,
	.BAR_DMABUF_IMP_COMPAT_INVALIDATE_OP = imp_attach_invalidate,
};

static const struct dma_buf_attach_ops imp_attach_ops_no_p2p = {
	.allow_peer2peer = false,
	.BAR_DMABUF_IMP_COMPAT_INVALIDATE_OP = imp_attach_invalidate,
};

/* The bytes a write after invalidate puts at offset 0 ("BAD!"). */
static const u8 imp_violation_pattern[4] = { 'B', 'A', 'D', '!' };

static void imp_mapping_release(struct kref *ref)
{
	kfree(container_of(ref, struct imp_mapping, ref));
}

/**
 * imp_mapping_put() - drop a reference on a mapping
 * @m: the mapping, or NULL
 *
 * Any context: the last reference only frees memory (the mapping was
 * handed back to the exporter before its list reference was dropped).
 */
void imp_mapping_put(struct imp_mapping *m)
{
	if (m)
		kref_put(&m->ref, imp_mapping_release);
}

/* Map the attachment; the new mapping becomes ia->cur. */
static struct imp_mapping *imp_map_locked(struct imp_attach *ia)
{
	struct sg_table *sgt;
	struct scatterlist *sg;
	struct imp_mapping *m;
	unsigned int i;
	int ret;

	dma_resv_assert_held(ia->dmabuf->resv);

	sgt = dma_buf_map_attachment(ia->attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		goto err_log;
	}
	m = kzalloc(struct_size(m, segs, sgt->nents), GFP_KERNEL);
	if (!m) {
		ret = -ENOMEM;
		goto err_unmap;
	}
	kref_init(&m->ref);	/* the reference of ia->maps */
	init_rwsem(&m->access);
	m->sgt = sgt;
	for_each_sgtable_dma_sg(sgt, sg, i) {
		m->segs[i].addr = sg_dma_address(sg);
		m->segs[i].len = sg_dma_len(sg);
		m->length += sg_dma_len(sg);
	}
	m->nsegs = sgt->nents;
	list_add_tail(&m->node, &ia->maps);
	ia->cur = m;
	atomic_inc(&imp_counters.mappings);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_MAP, m->length, 0);
	return m;

err_unmap:
	dma_buf_unmap_attachment(ia->attach, sgt, DMA_BIDIRECTIONAL);
err_log:
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_MAP, 0, ret);
	return ERR_PTR(ret);
}

/*
 * Take @m off the attachment and drop the list's reference. With
 * @hand_back, give it back to the exporter first (an UNMAP in the log);
 * without it (DETACH_WITHOUT_UNMAP) forget it, as a buggy importer would,
 * and leave it to the exporter's detach (counted as a violation).
 */
static void imp_drop_locked(struct imp_attach *ia, struct imp_mapping *m,
			    bool hand_back)
{
	dma_resv_assert_held(ia->dmabuf->resv);

	/* A job's access in flight finishes first; later ones see this. */
	down_write(&m->access);
	WRITE_ONCE(m->unmapped, true);
	up_write(&m->access);
	if (hand_back)
		dma_buf_unmap_attachment(ia->attach, m->sgt, DMA_BIDIRECTIONAL);
	else
		atomic_inc(&imp_counters.violations);
	m->sgt = NULL;
	list_del(&m->node);
	if (ia->cur == m)
		ia->cur = NULL;
	atomic_dec(&imp_counters.mappings);
	if (hand_back)
		imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_UNMAP,
			      m->length, 0);
	imp_mapping_put(m);
}

/* dma_buf_pin() of our own (PIN, PINNED_REVOCABLE), logged. */
static int imp_pin_locked(struct imp_attach *ia)
{
	int ret;

	dma_resv_assert_held(ia->dmabuf->resv);

	ret = dma_buf_pin(ia->attach);
	if (!ret)
		ia->pin_held = true;
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_PIN, 0, ret);
	return ret;
}

static void imp_unpin_locked(struct imp_attach *ia)
{
	dma_resv_assert_held(ia->dmabuf->resv);

	if (!ia->pin_held)
		return;
	dma_buf_unpin(ia->attach);
	ia->pin_held = false;
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_UNPIN, 0, 0);
}

/* Hand one mapping back to the exporter and drop the list's reference. */
static void imp_unmap_locked(struct imp_attach *ia, struct imp_mapping *m)
{
	imp_drop_locked(ia, m, true);
}

static void imp_drop_all_locked(struct imp_attach *ia, bool hand_back)
{
	struct imp_mapping *m, *tmp;

	list_for_each_entry_safe(m, tmp, &ia->maps, node)
		imp_drop_locked(ia, m, hand_back);
}

/*
 * PINNED_REVOCABLE: RDMA's ib_umem_dmabuf_revoke_locked(). Unmap, unpin
 * and stay dead, so nothing touches the buffer once we return; jobs still
 * queued on the mapping end with -ENODEV.
 */
static void imp_kill_locked(struct imp_attach *ia)
{
	dma_resv_assert_held(ia->dmabuf->resv);

	if (ia->dead)
		return;
	imp_drop_all_locked(ia, true);
	imp_unpin_locked(ia);
	ia->dead = true;
}

/*
 * The exporter's invalidate callback (move_notify before 7.1). Called with
 * the buffer's dma_resv lock held; takes only our spinlocks and queues work.
 */
static void imp_attach_invalidate(struct dma_buf_attachment *attach)
{
	struct imp_attach *ia = attach->importer_priv;
	struct imp_mapping *m = ia->cur, *old_late = NULL;

	dma_resv_assert_held(attach->dmabuf->resv);

	atomic_inc(&imp_counters.invalidates);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_INVALIDATE,
		      m ? m->length : 0, 0);
	if (ia->state != IMP_ATTACHED)
		return;

	if (ia->pinned_revocable) {
		imp_kill_locked(ia);
		return;
	}

	if (!m) {
		/* Nothing mapped: perhaps a restore. Map again if asked to. */
		if (ia->bflags & BAR_DMABUF_IMP_REMAP_ON_RESTORE) {
			spin_lock(&ia->lock);
			ia->remap_pending = true;
			spin_unlock(&ia->lock);
			mod_delayed_work(imp_wq, &ia->late_work, 0);
		}
		return;
	}

	/* No new job goes to the old mapping from now on. */
	ia->cur = NULL;
	m->invalidated = true;

	spin_lock(&ia->lock);
	old_late = ia->late_map;
	kref_get(&m->ref);
	ia->late_map = m;
	ia->late_deadline_ns = ktime_get_ns() +
			       (u64)ia->late_window_ms * NSEC_PER_MSEC;
	ia->late_ref_valid = false;
	ia->violation_pending =
		!!(ia->bflags & BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE);
	ia->violation_unmapped = ia->unmap_mode == BAR_DMABUF_IMP_UNMAP_SYNC;
	if (ia->unmap_mode == BAR_DMABUF_IMP_UNMAP_WORKER)
		ia->unmap_pending = true;
	spin_unlock(&ia->lock);
	/* Never the last reference: m is on ia->maps. */
	imp_mapping_put(old_late);

	if (ia->unmap_mode == BAR_DMABUF_IMP_UNMAP_SYNC)
		imp_unmap_locked(ia, m);

	mod_delayed_work(imp_wq, &ia->late_work, 0);
}

/* One late read of the start of the old mapping, compared with the first. */
static void imp_attach_late_read(struct imp_attach *ia, struct imp_mapping *m)
{
	u8 buf[IMP_LATE_READ_BYTES];
	u64 len = min_t(u64, sizeof(buf), m->length);
	int ret;

	ret = imp_dma_access(ia, m, 0, buf, len, false);
	if (!ret) {
		spin_lock(&ia->lock);
		if (ia->late_map == m && !ia->late_ref_valid) {
			memcpy(ia->late_ref, buf, len);
			ia->late_ref_valid = true;
		} else if (ia->late_map == m && memcmp(ia->late_ref, buf, len)) {
			ret = -EBADMSG;
		}
		spin_unlock(&ia->lock);
	}
	atomic_inc(&imp_counters.late_reads);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_LATE_READ, 0, ret);
}

/*
 * WRITE_AFTER_INVALIDATE: break the protocol once, on purpose, and say so.
 * Under the dma_resv lock, like a late read: a mapping handed back after
 * the invalidate (DETACH, UNMAP, close) is not written, the write would go
 * through an address we no longer own (logged with -ESTALE). The one the
 * callback handed back itself (SYNC mode) is written anyway: that write
 * is meant to fault.
 */
static void imp_attach_violation(struct imp_attach *ia, struct imp_mapping *m,
				 bool unmapped_ok)
{
	u8 buf[sizeof(imp_violation_pattern)];
	u64 len = min_t(u64, sizeof(buf), m->length);
	int ret = -ESTALE;

	dma_resv_lock(ia->dmabuf->resv, NULL);
	if (!m->unmapped || unmapped_ok) {
		memcpy(buf, imp_violation_pattern, sizeof(buf));
		ret = imp_dma_access(ia, m, 0, buf, len, true);
		atomic_inc(&imp_counters.violations);
	}
	dma_resv_unlock(ia->dmabuf->resv);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_VIOLATION, 0, ret);
}

/* WORKER mode: unmap invalidated mappings whose jobs are done. */
static bool imp_attach_unmap_idle_locked(struct imp_attach *ia)
{
	struct imp_mapping *m, *tmp;
	bool busy = false;
	unsigned int jobs;

	dma_resv_assert_held(ia->dmabuf->resv);

	list_for_each_entry_safe(m, tmp, &ia->maps, node) {
		if (!m->invalidated)
			continue;
		spin_lock(&ia->lock);
		jobs = m->jobs;
		spin_unlock(&ia->lock);
		if (jobs)
			busy = true;
		else
			imp_unmap_locked(ia, m);
	}
	return busy;
}

/*
 * The worker of an attachment: the violation write, late reads during the
 * window, then (WORKER mode) the unmap, and a remap on request. Takes the
 * dma_resv lock, never ctl_lock.
 */
static void imp_attach_late_work(struct work_struct *work)
{
	struct imp_attach *ia = container_of(to_delayed_work(work),
					     struct imp_attach, late_work);
	unsigned long interval, next;
	struct imp_mapping *m;
	bool violation, unmapped_ok, in_window, busy = false, read = false;
	u64 now = ktime_get_ns(), left = 0;

	spin_lock(&ia->lock);
	m = ia->late_map;
	if (m)
		kref_get(&m->ref);
	violation = ia->violation_pending;
	unmapped_ok = ia->violation_unmapped;
	ia->violation_pending = false;
	in_window = m && now < ia->late_deadline_ns;
	if (in_window)
		left = ia->late_deadline_ns - now;
	spin_unlock(&ia->lock);
	interval = msecs_to_jiffies(READ_ONCE(ia->late_interval_ms));
	/*
	 * The run after the last read is the window's end, not an interval
	 * past it: the unmap comes at most a tick late whatever the interval.
	 */
	next = min(interval, nsecs_to_jiffies(left) + 1);

	if (m && violation)
		imp_attach_violation(ia, m, unmapped_ok);

	/*
	 * A late read holds the dma_resv lock, which every unmap takes (our
	 * worker's, DETACH's, UNMAP's, the file's close): a mapping we have
	 * handed back is never read, even if it goes between the window
	 * check and the read.
	 */
	if (m && in_window) {
		dma_resv_lock(ia->dmabuf->resv, NULL);
		read = !m->unmapped;
		if (read)
			imp_attach_late_read(ia, m);
		dma_resv_unlock(ia->dmabuf->resv);
	}
	if (read) {
		imp_mapping_put(m);
		queue_delayed_work(imp_wq, &ia->late_work, next);
		return;
	}
	if (m) {
		spin_lock(&ia->lock);
		if (ia->late_map == m) {
			ia->late_map = NULL;
			imp_mapping_put(m);	/* the late_map reference */
		}
		spin_unlock(&ia->lock);
		imp_mapping_put(m);
	}

	dma_resv_lock(ia->dmabuf->resv, NULL);
	if (ia->state == IMP_ATTACHED) {
		if (ia->unmap_pending) {
			busy = imp_attach_unmap_idle_locked(ia);
			if (!busy) {
				spin_lock(&ia->lock);
				ia->unmap_pending = false;
				spin_unlock(&ia->lock);
			}
		}
		if (ia->remap_pending) {
			spin_lock(&ia->lock);
			ia->remap_pending = false;
			spin_unlock(&ia->lock);
			if (!ia->cur)
				imp_map_locked(ia);
		}
	}
	dma_resv_unlock(ia->dmabuf->resv);

	/* Jobs still run on an invalidated mapping: look again later. */
	if (busy)
		queue_delayed_work(imp_wq, &ia->late_work, interval);
}

/**
 * imp_attach_get_mapping() - the mapping a new job goes to, mapping if needed
 * @ia: the attachment
 *
 * Caller holds the dma_resv lock of the buffer.
 *
 * Return: the current mapping with a new reference, or the map error (the
 * exporter's -ENODEV for a revoked buffer).
 */
struct imp_mapping *imp_attach_get_mapping(struct imp_attach *ia)
{
	struct imp_mapping *m = ia->cur;

	dma_resv_assert_held(ia->dmabuf->resv);

	if (!m && ia->pinned_revocable) {
		/* mapped once, at ATTACH; RDMA refuses a revoked umem alike */
		imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_MAP, 0,
			      -EKEYREVOKED);
		return ERR_PTR(-EKEYREVOKED);
	}
	if (!m) {
		m = imp_map_locked(ia);
		if (IS_ERR(m))
			return m;
	}
	kref_get(&m->ref);
	return m;
}

/*
 * PIN and PINNED_REVOCABLE at ATTACH: pin, and for the latter map once, as
 * ib_umem_dmabuf_get_pinned_and_lock() does. An invalidate that came since
 * the attach has already killed a pinned-revocable attachment.
 */
static int imp_attach_pin(struct imp_attach *ia)
{
	struct imp_mapping *m;
	int ret;

	dma_resv_lock(ia->dmabuf->resv, NULL);
	if (ia->dead) {
		ret = -EKEYREVOKED;
		goto out_unlock;
	}
	ret = imp_pin_locked(ia);
	if (ret || !ia->pinned_revocable)
		goto out_unlock;
	m = imp_map_locked(ia);
	if (IS_ERR(m)) {
		ret = PTR_ERR(m);
		imp_unpin_locked(ia);
	}
out_unlock:
	dma_resv_unlock(ia->dmabuf->resv);
	return ret;
}

/**
 * imp_attach_create() - ATTACH: import a dma-buf fd
 * @ifile: the file the attachment belongs to
 * @arg: the command; out_handle is filled in
 *
 * Return: 0; -EINVAL for unknown flags, PINNED with a pin, or an fd that
 * is not a dma-buf; -EBADF for a bad fd; the exporter's refusal
 * (-EOPNOTSUPP for a pinned importer, -ENODEV for a revoked buffer,
 * -EINVAL for a device it cannot reach) of the attach, the pin or the
 * map; -EKEYREVOKED for a pinned-revocable one invalidated meanwhile;
 * -ENOMEM.
 */
int imp_attach_create(struct imp_file *ifile, struct bar_dmabuf_imp_attach *arg)
{
	const u32 pins = BAR_DMABUF_IMP_ATTACH_PIN |
			 BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE;
	const struct dma_buf_attach_ops *ops;
	struct dma_buf_attachment *attach;
	struct imp_attach *ia;
	struct dma_buf *dmabuf;
	u32 handle;
	int ret;

	if (arg->flags & ~(BAR_DMABUF_IMP_ATTACH_PINNED |
			   BAR_DMABUF_IMP_ATTACH_NO_P2P | pins))
		return -EINVAL;
	/* dma_buf_pin() is for dynamic importers only */
	if ((arg->flags & BAR_DMABUF_IMP_ATTACH_PINNED) && (arg->flags & pins))
		return -EINVAL;

	dmabuf = dma_buf_get(arg->dmabuf_fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	ia = bar_dmabuf_compat_zalloc(*ia);
	if (!ia) {
		ret = -ENOMEM;
		goto err_put;
	}
	ret = imp_log_init(&ia->log);
	if (ret)
		goto err_free;
	ia->file = ifile;
	ia->dmabuf = dmabuf;
	ia->pinned = !!(arg->flags & BAR_DMABUF_IMP_ATTACH_PINNED);
	ia->pin = !!(arg->flags & pins);
	ia->pinned_revocable =
		!!(arg->flags & BAR_DMABUF_IMP_ATTACH_PINNED_REVOCABLE);
	mutex_init(&ia->ctl_lock);
	spin_lock_init(&ia->lock);
	INIT_LIST_HEAD(&ia->maps);
	INIT_LIST_HEAD(&ia->ring);
	INIT_DELAYED_WORK(&ia->late_work, imp_attach_late_work);
	INIT_WORK(&ia->retire_work, imp_engine_retire_work);
	init_waitqueue_head(&ia->idle_wq);
	ia->fence_ctx = dma_fence_context_alloc(1);
	ia->unmap_mode = BAR_DMABUF_IMP_UNMAP_WORKER;
	ia->late_interval_ms = 1;

	/* Reserve the handle first, so the log names it from the start. */
	mutex_lock(&ifile->lock);
	ret = xa_alloc_cyclic(&ifile->attachments, &handle, NULL,
			      XA_LIMIT(1, U32_MAX), &ifile->next_handle,
			      GFP_KERNEL);
	mutex_unlock(&ifile->lock);
	if (ret < 0)
		goto err_log;
	ia->handle = handle;

	if (ia->pinned) {
		attach = dma_buf_attach(dmabuf, imp_dma_device());
	} else {
		ops = (arg->flags & BAR_DMABUF_IMP_ATTACH_NO_P2P) ?
		      &imp_attach_ops_no_p2p : &imp_attach_ops_p2p;
		attach = dma_buf_dynamic_attach(dmabuf, imp_dma_device(), ops,
						ia);
	}
	if (IS_ERR(attach)) {
		ret = PTR_ERR(attach);
		goto err_handle;
	}
	ia->attach = attach;
	ia->state = IMP_ATTACHED;
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_ATTACH,
		      dmabuf->size, 0);
	if (ia->pin) {
		ret = imp_attach_pin(ia);
		if (ret)
			goto err_detach;
	}
	atomic_inc(&imp_counters.attachments);

	/* Publish: from here the file's release frees ia. */
	mutex_lock(&ifile->lock);
	xa_store(&ifile->attachments, handle, ia, GFP_KERNEL);
	mutex_unlock(&ifile->lock);
	arg->out_handle = handle;
	return 0;

err_detach:
	/* no mapping and no pin left; a late invalidate finds nothing */
	dma_resv_lock(dmabuf->resv, NULL);
	ia->state = IMP_DETACHED;
	dma_resv_unlock(dmabuf->resv);
	dma_buf_detach(dmabuf, attach);
err_handle:
	mutex_lock(&ifile->lock);
	xa_erase(&ifile->attachments, handle);
	mutex_unlock(&ifile->lock);
err_log:
	imp_log_fini(&ia->log);
	mutex_destroy(&ia->ctl_lock);
err_free:
	kfree(ia);
err_put:
	dma_buf_put(dmabuf);
	return ret;
}

/**
 * imp_attach_detach() - DETACH, or the teardown of a closing file
 * @ia: the attachment
 * @force: the file is closing (its jobs were cancelled): never -EBUSY
 *
 * Unmaps every mapping under the dma_resv lock, stops the worker, detaches
 * and drops our dma-buf reference. The log stays.
 *
 * Return: 0, -ENOENT if already detached, -EBUSY while jobs are in flight,
 * -EINTR if interrupted waiting for the dma_resv lock.
 */
int imp_attach_detach(struct imp_attach *ia, bool force)
{
	struct imp_mapping *late;
	int ret = 0;

	mutex_lock(&ia->ctl_lock);
	if (ia->state != IMP_ATTACHED) {
		ret = -ENOENT;
		goto out_unlock;
	}
	spin_lock(&ia->lock);
	if (ia->jobs_inflight && !force)
		ret = -EBUSY;
	spin_unlock(&ia->lock);
	if (ret)
		goto out_unlock;

	if (force) {
		dma_resv_lock(ia->dmabuf->resv, NULL);
	} else {
		ret = dma_resv_lock_interruptible(ia->dmabuf->resv, NULL);
		if (ret)
			goto out_unlock;
	}
	ia->state = IMP_DETACHED;
	if (ia->pinned_revocable)
		imp_kill_locked(ia);
	else
		imp_drop_all_locked(ia, !(ia->bflags &
					  BAR_DMABUF_IMP_DETACH_WITHOUT_UNMAP));
	imp_unpin_locked(ia);
	dma_resv_unlock(ia->dmabuf->resv);

	/* The worker sees IMP_DETACHED and stops; wait for it. */
	cancel_delayed_work_sync(&ia->late_work);
	spin_lock(&ia->lock);
	late = ia->late_map;
	ia->late_map = NULL;
	ia->remap_pending = false;
	ia->unmap_pending = false;
	ia->violation_pending = false;
	spin_unlock(&ia->lock);
	imp_mapping_put(late);

	dma_buf_detach(ia->dmabuf, ia->attach);
	ia->attach = NULL;
	dma_buf_put(ia->dmabuf);
	ia->dmabuf = NULL;
	atomic_dec(&imp_counters.attachments);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_DETACH, 0, 0);
	imp_log_shrink(&ia->log);

out_unlock:
	mutex_unlock(&ia->ctl_lock);
	return ret;
}

/**
 * imp_attach_free() - free a detached attachment and its log
 * @ia: the attachment; detached, no job or work item left
 */
void imp_attach_free(struct imp_attach *ia)
{
	imp_log_fini(&ia->log);
	mutex_destroy(&ia->ctl_lock);
	kfree(ia);
}

/**
 * imp_attach_map_ioctl() - MAP: map now (a no-op if a usable mapping exists)
 * @ia: the attachment
 * @arg: the command; out_length, out_nr_segs and out_max_seg_len are
 *	filled in
 *
 * Return: 0, -ENOENT if detached, -EINTR, or the exporter's map error.
 */
int imp_attach_map_ioctl(struct imp_attach *ia,
			 struct bar_dmabuf_imp_handle *arg)
{
	struct imp_mapping *m;
	unsigned int i;
	int ret;

	mutex_lock(&ia->ctl_lock);
	if (ia->state != IMP_ATTACHED) {
		ret = -ENOENT;
		goto out_unlock;
	}
	ret = dma_resv_lock_interruptible(ia->dmabuf->resv, NULL);
	if (ret)
		goto out_unlock;
	m = imp_attach_get_mapping(ia);
	if (IS_ERR(m)) {
		ret = PTR_ERR(m);
	} else {
		arg->out_length = m->length;
		arg->out_nr_segs = m->nsegs;
		arg->out_max_seg_len = 0;
		for (i = 0; i < m->nsegs; i++)
			arg->out_max_seg_len = max_t(u32, arg->out_max_seg_len,
						     m->segs[i].len);
		imp_mapping_put(m);
	}
	dma_resv_unlock(ia->dmabuf->resv);
out_unlock:
	mutex_unlock(&ia->ctl_lock);
	return ret;
}

/**
 * imp_attach_unmap_ioctl() - UNMAP: hand every mapping back now
 * @ia: the attachment
 *
 * Jobs still queued on an unmapped mapping finish with -ENODEV without
 * touching the buffer, as on hardware whose translation was torn down.
 * A pinned-revocable attachment also unpins and is dead from then on.
 *
 * Return: 0, -ENOENT if detached or nothing is mapped, -EINTR.
 */
int imp_attach_unmap_ioctl(struct imp_attach *ia)
{
	int ret;

	mutex_lock(&ia->ctl_lock);
	if (ia->state != IMP_ATTACHED) {
		ret = -ENOENT;
		goto out_unlock;
	}
	ret = dma_resv_lock_interruptible(ia->dmabuf->resv, NULL);
	if (ret)
		goto out_unlock;
	if (list_empty(&ia->maps))
		ret = -ENOENT;
	else if (ia->pinned_revocable)
		imp_kill_locked(ia);
	else
		imp_drop_all_locked(ia, true);
	dma_resv_unlock(ia->dmabuf->resv);
out_unlock:
	mutex_unlock(&ia->ctl_lock);
	return ret;
}

/**
 * imp_attach_set_behaviour() - SET_BEHAVIOUR
 * @ia: the attachment
 * @arg: the command
 *
 * Return: 0, -EINVAL for unknown flags, an unknown mode, or times out of
 * range (window up to 60 s, interval 1 ms to 10 s), -ENOENT if detached.
 */
int imp_attach_set_behaviour(struct imp_attach *ia,
			     struct bar_dmabuf_imp_behaviour *arg)
{
	int ret;

	if (arg->flags & ~(BAR_DMABUF_IMP_REMAP_ON_RESTORE |
			   BAR_DMABUF_IMP_WRITE_AFTER_INVALIDATE |
			   BAR_DMABUF_IMP_DETACH_WITHOUT_UNMAP))
		return -EINVAL;
	if (arg->unmap_mode > BAR_DMABUF_IMP_UNMAP_NEVER)
		return -EINVAL;
	if (arg->late_read_window_ms > IMP_MAX_WINDOW_MS ||
	    !arg->late_read_interval_ms ||
	    arg->late_read_interval_ms > IMP_MAX_INTERVAL_MS)
		return -EINVAL;

	mutex_lock(&ia->ctl_lock);
	if (ia->state != IMP_ATTACHED) {
		ret = -ENOENT;
		goto out_unlock;
	}
	ret = dma_resv_lock_interruptible(ia->dmabuf->resv, NULL);
	if (ret)
		goto out_unlock;
	ia->unmap_mode = arg->unmap_mode;
	ia->bflags = arg->flags;
	ia->late_window_ms = arg->late_read_window_ms;
	WRITE_ONCE(ia->late_interval_ms, arg->late_read_interval_ms);
	dma_resv_unlock(ia->dmabuf->resv);
out_unlock:
	mutex_unlock(&ia->ctl_lock);
	return ret;
}
