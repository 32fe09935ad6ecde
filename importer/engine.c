// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf_importer: the simulated engine. Jobs and their fences.
 *
 * Each attachment is one hardware queue with its own fence context; its
 * jobs get rising seqnos and complete in submission order (a held job holds
 * back the ones behind it), which is what the dma_resv expects of fences
 * sharing a context. A job's life:
 *
 *   SUBMIT   fence added to the buffer's dma_resv, job put on the ring
 *   QUEUED   job->work runs: logs the start, then waits for delay_ms, or
 *   HELD     for SIGNAL; the same delayed_work is the watchdog (-ETIME)
 *   READY    retire_work takes it once it is at the head of the ring:
 *            the DMA access (through the job's mapping), then, inside a
 *            fence signalling section, the fence signals and waiters wake
 *   DONE     WAIT_JOB returns the status and data and retires the job
 *
 * A queued job->work holds a job reference, handed on when the work
 * re-queues itself and dropped when it does not.
 */
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sync_file.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "importer.h"

/*
 * Jobs that complete when our PCI function's error recovery resumes, each
 * holding a reference of the list. imp_resume_lock nests outside
 * imp_attach.lock; job->ia is alive while the job is on the list, since a
 * closing file takes its jobs off it before its attachments go.
 */
static LIST_HEAD(imp_resume_jobs);
static DEFINE_SPINLOCK(imp_resume_lock);

static const char *imp_fence_get_driver_name(struct dma_fence *fence)
{
	return IMP_NAME;
}

static const char *imp_fence_get_timeline_name(struct dma_fence *fence)
{
	return "engine";
}

/*
 * The fence may outlive the file and the attachment (a dma_resv or a
 * sync_file keeps it): it holds a module reference, dropped here last.
 */
static void imp_fence_release(struct dma_fence *fence)
{
	dma_fence_free(fence);
	module_put(THIS_MODULE);
}

static const struct dma_fence_ops imp_fence_ops = {
	.get_driver_name = imp_fence_get_driver_name,
	.get_timeline_name = imp_fence_get_timeline_name,
	.release = imp_fence_release,
};

static void imp_job_release(struct kref *ref)
{
	struct imp_job *job = container_of(ref, struct imp_job, ref);

	imp_mapping_put(job->map);
	if (job->fence)
		dma_fence_put(&job->fence->base);
	kvfree(job->data);
	kfree(job);
}

/**
 * imp_job_put() - drop a job reference
 * @job: the job
 */
void imp_job_put(struct imp_job *job)
{
	kref_put(&job->ref, imp_job_release);
}

/* Queue job->work, giving it a reference of its own. */
static void imp_job_kick(struct imp_job *job, unsigned long delay)
{
	kref_get(&job->ref);
	/* Already pending: that run holds a reference already. */
	if (mod_delayed_work(imp_wq, &job->work, delay))
		imp_job_put(job);
}

/* Fence signalling and bookkeeping; no allocation, no dma_resv lock. */
static void imp_job_signal(struct imp_job *job, int status)
{
	struct imp_attach *ia = job->ia;
	struct imp_mapping *m;
	bool cookie;
	u64 ns;

	/*
	 * Count and log first: whoever the fence wakes (a WAIT_JOB, a revoke,
	 * a sync_file poll) must find the signal in the log and the counter.
	 */
	ns = ktime_get_ns();
	atomic_dec(&imp_counters.jobs_pending);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_FENCE_SIGNAL,
		      job->id, status);

	cookie = dma_fence_begin_signalling();
	if (status)
		dma_fence_set_error(&job->fence->base, status);
	dma_fence_signal(&job->fence->base);

	spin_lock(&ia->lock);
	list_del(&job->node);
	job->status = status;
	job->signal_ns = ns;
	job->phase = IMP_JOB_DONE;
	job->map->jobs--;
	ia->jobs_inflight--;
	m = job->map;
	job->map = NULL;
	WRITE_ONCE(job->done, true);
	spin_unlock(&ia->lock);

	wake_up_all(&job->done_wq);
	wake_up_all(&ia->idle_wq);
	dma_fence_end_signalling(cookie);

	imp_mapping_put(m);
}

/* Finish the job at the head of the ring: its access, then its fence. */
static void imp_job_complete(struct imp_job *job, int status)
{
	struct imp_attach *ia = job->ia;

	/*
	 * The data moves before the signalling section, as a DMA transfer
	 * comes before its completion interrupt (ioremap may allocate).
	 */
	if (!status) {
		/* an unmap waits for this access, or this sees the unmap */
		down_read(&job->map->access);
		if (job->map->unmapped)
			status = -ENODEV;	/* our translation is gone */
		else
			status = imp_dma_access(ia, job->map, job->offset,
						job->data, job->length,
						job->write);
		up_read(&job->map->access);
	}
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_JOB_DONE,
		      job->id, status);
	imp_job_signal(job, status);
	imp_job_put(job);	/* the engine's reference */
}

/**
 * imp_engine_retire_work() - complete ready jobs in ring order
 * @work: imp_attach.retire_work
 */
void imp_engine_retire_work(struct work_struct *work)
{
	struct imp_attach *ia = container_of(work, struct imp_attach,
					     retire_work);
	struct imp_job *job;
	int status;

	for (;;) {
		spin_lock(&ia->lock);
		job = list_first_entry_or_null(&ia->ring, struct imp_job, node);
		if (!job || job->phase != IMP_JOB_READY) {
			spin_unlock(&ia->lock);
			return;
		}
		status = job->status;
		spin_unlock(&ia->lock);
		/* Only this work removes jobs from the ring. */
		imp_job_complete(job, status);
	}
}

/* Start, delay and watchdog of one job; see the phases at the top. */
static void imp_job_work(struct work_struct *work)
{
	struct imp_job *job = container_of(to_delayed_work(work),
					   struct imp_job, work);
	struct imp_attach *ia = job->ia;
	enum imp_job_phase phase, next;
	unsigned long delay = 0;
	bool expired = false;

	spin_lock(&ia->lock);
	phase = job->phase;
	next = phase;
	switch (phase) {
	case IMP_JOB_QUEUED:
		if (job->hold && !job->signal_requested) {
			next = IMP_JOB_HELD;
			delay = msecs_to_jiffies(max(1u, READ_ONCE(imp_fence_watchdog_ms)));
		} else if (!job->hold && job->delay_ms) {
			next = IMP_JOB_DELAYED;
			delay = msecs_to_jiffies(job->delay_ms);
		} else {
			next = IMP_JOB_READY;
		}
		break;
	case IMP_JOB_HELD:
		if (!job->signal_requested) {
			expired = true;
			job->status = -ETIME;
		}
		next = IMP_JOB_READY;
		break;
	case IMP_JOB_DELAYED:
		next = IMP_JOB_READY;
		break;
	default:
		break;
	}
	/* READY is set last, after the log entries that must precede DONE. */
	if (next != IMP_JOB_READY)
		job->phase = next;
	spin_unlock(&ia->lock);

	if (phase == IMP_JOB_QUEUED)
		imp_log_event(&ia->log, ia->handle,
			      BAR_DMABUF_IMP_EV_JOB_START, job->id, 0);
	if (expired) {
		atomic_inc(&imp_counters.watchdog_expired);
		imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_WATCHDOG,
			      job->id, -ETIME);
		dev_warn_ratelimited(imp_dma_device(),
				     "held job %llu of attachment %u never signalled: watchdog fired after %u ms\n",
				     job->id, ia->handle, imp_fence_watchdog_ms);
	}

	if (next == IMP_JOB_READY && phase != IMP_JOB_READY &&
	    phase != IMP_JOB_DONE) {
		/*
		 * Queue under the lock: once it is dropped the job may be
		 * retired and the file closed, and ia must not be touched.
		 */
		spin_lock(&ia->lock);
		job->phase = IMP_JOB_READY;
		queue_work(imp_wq, &ia->retire_work);
		spin_unlock(&ia->lock);
	} else if (next == IMP_JOB_HELD || next == IMP_JOB_DELAYED) {
		if (phase != next) {
			/* Hand our reference to the next run. */
			if (queue_delayed_work(imp_wq, &job->work, delay))
				return;
		}
	}
	imp_job_put(job);
}

static enum dma_resv_usage imp_engine_usage(u32 usage)
{
	switch (usage) {
	case BAR_DMABUF_IMP_USAGE_WRITE:
		return DMA_RESV_USAGE_WRITE;
	case BAR_DMABUF_IMP_USAGE_READ:
		return DMA_RESV_USAGE_READ;
	default:
		return DMA_RESV_USAGE_BOOKKEEP;
	}
}

static int imp_engine_check(struct bar_dmabuf_imp_submit *arg)
{
	if (arg->flags & ~(BAR_DMABUF_IMP_JOB_WRITE | BAR_DMABUF_IMP_JOB_HOLD |
			   BAR_DMABUF_IMP_JOB_SYNC_FILE |
			   BAR_DMABUF_IMP_JOB_UNTIL_RESUME))
		return -EINVAL;
	if (arg->usage > BAR_DMABUF_IMP_USAGE_BOOKKEEP || arg->reserved)
		return -EINVAL;
	if (!arg->length || arg->length > BAR_DMABUF_IMP_MAX_JOB)
		return -EINVAL;
	if (arg->offset > U64_MAX - arg->length)
		return -EINVAL;
	if (arg->delay_ms > IMP_MAX_DELAY_MS)
		return -EINVAL;
	return 0;
}

/* Everything a job needs before it touches the buffer; may sleep. */
static struct imp_job *imp_job_alloc(struct imp_attach *ia,
				     struct bar_dmabuf_imp_submit *arg)
{
	struct imp_job *job;
	int ret;

	job = bar_dmabuf_compat_zalloc(*job);
	if (!job)
		return ERR_PTR(-ENOMEM);
	kref_init(&job->ref);	/* the file's job table */
	job->ia = ia;
	INIT_LIST_HEAD(&job->node);
	INIT_LIST_HEAD(&job->resume_node);
	job->write = !!(arg->flags & BAR_DMABUF_IMP_JOB_WRITE);
	job->hold = !!(arg->flags & (BAR_DMABUF_IMP_JOB_HOLD |
				     BAR_DMABUF_IMP_JOB_UNTIL_RESUME));
	job->offset = arg->offset;
	job->length = arg->length;
	job->delay_ms = arg->delay_ms;
	init_waitqueue_head(&job->done_wq);
	INIT_DELAYED_WORK(&job->work, imp_job_work);

	job->data = kvmalloc(job->length, GFP_KERNEL);
	if (!job->data) {
		ret = -ENOMEM;
		goto err_free;
	}
	if (job->write &&
	    copy_from_user(job->data, u64_to_user_ptr(arg->data_ptr),
			   job->length)) {
		ret = -EFAULT;
		goto err_data;
	}
	job->fence = bar_dmabuf_compat_zalloc(*job->fence);
	if (!job->fence) {
		ret = -ENOMEM;
		goto err_data;
	}
	spin_lock_init(&job->fence->lock);
	return job;

err_data:
	kvfree(job->data);
err_free:
	kfree(job);
	return ERR_PTR(ret);
}

/**
 * imp_engine_submit() - SUBMIT: queue a job, its fence in the dma_resv
 * @ia: the attachment (mapped first if it is not)
 * @arg: the command; out_job and out_sync_fd are filled in
 * @out_sync: with BAR_DMABUF_IMP_JOB_SYNC_FILE, the sync_file's file; the
 *	caller installs it at @arg->out_sync_fd (reserved here) once the
 *	answer is copied out, or puts both
 *
 * Return: 0; -EINVAL for bad flags, usage, reserved, a zero, huge or
 * out-of-range length, or a delay over 60 s; -EFAULT for a bad data
 * pointer; -ENOENT if detached; the map error (-ENODEV on a revoked
 * buffer); -ENOMEM; -EMFILE; -EINTR.
 */
int imp_engine_submit(struct imp_attach *ia, struct bar_dmabuf_imp_submit *arg,
		      struct file **out_sync)
{
	struct imp_file *ifile = ia->file;
	struct sync_file *sync = NULL;
	struct imp_mapping *m;
	struct imp_job *job;
	struct dma_resv *resv;
	int fd = -1, ret;
	u32 id;

	ret = imp_engine_check(arg);
	if (ret)
		return ret;
	job = imp_job_alloc(ia, arg);
	if (IS_ERR(job))
		return PTR_ERR(job);

	/* Reserve the id (xa_load() sees NULL until the job is stored). */
	mutex_lock(&ifile->lock);
	ret = xa_alloc_cyclic(&ifile->jobs, &id, NULL, XA_LIMIT(1, U32_MAX),
			      &ifile->next_job, GFP_KERNEL);
	mutex_unlock(&ifile->lock);
	if (ret < 0)
		goto err_job;
	job->id = id;

	mutex_lock(&ia->ctl_lock);
	if (ia->state != IMP_ATTACHED) {
		ret = -ENOENT;
		goto err_unlock;
	}
	__module_get(THIS_MODULE);	/* dropped by imp_fence_release() */
	/* Each fence its own seqno, even one that never gets used. */
	dma_fence_init(&job->fence->base, &imp_fence_ops, &job->fence->lock,
		       ia->fence_ctx, ++ia->seqno);
	if (arg->flags & BAR_DMABUF_IMP_JOB_SYNC_FILE) {
		fd = get_unused_fd_flags(O_CLOEXEC);
		if (fd < 0) {
			ret = fd;
			goto err_fence;
		}
		sync = sync_file_create(&job->fence->base);
		if (!sync) {
			ret = -ENOMEM;
			goto err_fd;
		}
	}

	resv = ia->dmabuf->resv;
	ret = dma_resv_lock_interruptible(resv, NULL);
	if (ret)
		goto err_sync;
	m = imp_attach_get_mapping(ia);
	if (IS_ERR(m)) {
		ret = PTR_ERR(m);
		goto err_resv;
	}
	if (arg->offset + arg->length > m->length) {
		ret = -EINVAL;
		goto err_map;
	}
	ret = dma_resv_reserve_fences(resv, 1);
	if (ret)
		goto err_map;

	/* Nothing fails from here on. */
	job->map = m;
	job->phase = IMP_JOB_QUEUED;
	kref_get(&job->ref);	/* the engine's, until the fence signals */
	spin_lock(&ia->lock);
	m->jobs++;
	ia->jobs_inflight++;
	list_add_tail(&job->node, &ia->ring);
	spin_unlock(&ia->lock);
	dma_resv_add_fence(resv, &job->fence->base,
			   imp_engine_usage(arg->usage));
	atomic_inc(&imp_counters.jobs_pending);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_JOB_SUBMIT,
		      job->id, 0);
	dma_resv_unlock(resv);
	mutex_unlock(&ia->ctl_lock);

	mutex_lock(&ifile->lock);
	xa_store(&ifile->jobs, id, job, GFP_KERNEL);
	mutex_unlock(&ifile->lock);
	if (arg->flags & BAR_DMABUF_IMP_JOB_UNTIL_RESUME) {
		kref_get(&job->ref);
		spin_lock(&imp_resume_lock);
		list_add_tail(&job->resume_node, &imp_resume_jobs);
		spin_unlock(&imp_resume_lock);
	}
	imp_job_kick(job, 0);

	if (sync)
		*out_sync = sync->file;
	arg->out_sync_fd = fd;
	arg->out_job = id;
	return 0;

err_map:
	imp_mapping_put(m);
err_resv:
	dma_resv_unlock(resv);
	imp_log_event(&ia->log, ia->handle, BAR_DMABUF_IMP_EV_JOB_SUBMIT, 0,
		      ret);
err_sync:
	if (sync)
		fput(sync->file);
err_fd:
	if (fd >= 0)
		put_unused_fd(fd);
err_fence:
	/* Never in a dma_resv: signal it so nobody can wait on it forever. */
	dma_fence_set_error(&job->fence->base, -ECANCELED);
	dma_fence_signal(&job->fence->base);
err_unlock:
	mutex_unlock(&ia->ctl_lock);
	mutex_lock(&ifile->lock);
	xa_erase(&ifile->jobs, id);
	mutex_unlock(&ifile->lock);
err_job:
	/* An uninitialised fence is freed here, an initialised one by put. */
	if (!test_bit(DMA_FENCE_FLAG_SIGNALED_BIT, &job->fence->base.flags)) {
		kfree(job->fence);
		job->fence = NULL;
	}
	imp_job_put(job);
	return ret;
}

static struct imp_job *imp_job_lookup(struct imp_file *ifile, u64 id)
{
	struct imp_job *job = NULL;

	if (!id || id > U32_MAX)
		return NULL;
	mutex_lock(&ifile->lock);
	job = xa_load(&ifile->jobs, id);
	if (job)
		kref_get(&job->ref);
	mutex_unlock(&ifile->lock);
	return job;
}

/**
 * imp_engine_signal() - SIGNAL: let a held job complete
 * @ifile: the file
 * @arg: the command
 *
 * Return: 0; -ENOENT for an unknown or retired job; -EALREADY if it has
 * finished (or its watchdog fired) or was signalled already; -EINVAL for
 * flags or a job that is not held.
 */
int imp_engine_signal(struct imp_file *ifile, struct bar_dmabuf_imp_signal *arg)
{
	struct imp_attach *ia;
	struct imp_job *job;
	int ret = 0;

	if (arg->flags)
		return -EINVAL;
	job = imp_job_lookup(ifile, arg->job);
	if (!job)
		return -ENOENT;
	ia = job->ia;

	spin_lock(&ia->lock);
	/* A status set means the watchdog has fired (phase READY follows). */
	if (job->phase == IMP_JOB_READY || job->phase == IMP_JOB_DONE ||
	    job->signal_requested || job->status)
		ret = -EALREADY;
	else if (!job->hold)
		ret = -EINVAL;
	else
		job->signal_requested = true;
	spin_unlock(&ia->lock);

	if (!ret)
		imp_job_kick(job, 0);
	imp_job_put(job);
	return ret;
}

/**
 * imp_engine_wait() - WAIT_JOB: wait for a job, fetch its result, retire it
 * @ifile: the file
 * @arg: the command; out_status and out_signal_ns are filled in
 *
 * Return: 0 (the job's own error is in out_status); -ENOENT for an unknown
 * or already retired job; -EINVAL for flags or a read job whose @data_ptr
 * is set with @data_len smaller than the job; -ETIMEDOUT; -ERESTARTSYS;
 * -EFAULT (the job is not retired then).
 */
int imp_engine_wait(struct imp_file *ifile, struct bar_dmabuf_imp_wait_job *arg)
{
	struct imp_attach *ia;
	struct imp_job *job;
	long left;
	int ret = 0;

	if (arg->flags)
		return -EINVAL;
	job = imp_job_lookup(ifile, arg->job);
	if (!job)
		return -ENOENT;
	ia = job->ia;
	if (!job->write && arg->data_ptr && arg->data_len < job->length) {
		ret = -EINVAL;
		goto out_put;
	}

	left = wait_event_interruptible_timeout(job->done_wq,
						READ_ONCE(job->done),
						msecs_to_jiffies(arg->timeout_ms));
	if (left < 0) {
		ret = left;
		goto out_put;
	}
	spin_lock(&ia->lock);
	if (!job->done)
		ret = -ETIMEDOUT;
	arg->out_status = job->status;
	arg->out_signal_ns = job->signal_ns;
	spin_unlock(&ia->lock);
	if (ret)
		goto out_put;

	if (!job->write && arg->data_ptr && !job->status &&
	    copy_to_user(u64_to_user_ptr(arg->data_ptr), job->data,
			 job->length)) {
		ret = -EFAULT;
		goto out_put;
	}

	/* Retire: the table's reference goes, unless another waiter won. */
	mutex_lock(&ifile->lock);
	if (xa_cmpxchg(&ifile->jobs, arg->job, job, NULL, 0) == job)
		imp_job_put(job);
	else
		ret = -ENOENT;
	mutex_unlock(&ifile->lock);

out_put:
	imp_job_put(job);
	return ret;
}

/**
 * imp_engine_cancel_file() - finish or cancel every job of a closing file
 * @ifile: the file; no ioctl runs any more
 *
 * Jobs not yet ready finish with -ECANCELED without touching the buffer;
 * every fence has signalled on return.
 */
void imp_engine_cancel_file(struct imp_file *ifile)
{
	struct imp_job *job, *next;
	struct imp_attach *ia;
	unsigned long idx;
	LIST_HEAD(gone);

	spin_lock(&imp_resume_lock);
	list_for_each_entry_safe(job, next, &imp_resume_jobs, resume_node)
		if (job->ia->file == ifile)
			list_move_tail(&job->resume_node, &gone);
	spin_unlock(&imp_resume_lock);
	list_for_each_entry_safe(job, next, &gone, resume_node) {
		list_del_init(&job->resume_node);
		imp_job_put(job);
	}

	xa_for_each(&ifile->jobs, idx, job) {
		ia = job->ia;
		if (cancel_delayed_work_sync(&job->work))
			imp_job_put(job);	/* the pending run's reference */
		spin_lock(&ia->lock);
		if (job->phase != IMP_JOB_READY && job->phase != IMP_JOB_DONE) {
			job->phase = IMP_JOB_READY;
			job->status = -ECANCELED;
		}
		spin_unlock(&ia->lock);
	}
	xa_for_each(&ifile->attachments, idx, ia) {
		queue_work(imp_wq, &ia->retire_work);
		flush_work(&ia->retire_work);
	}
}

/**
 * imp_engine_resume() - our PCI function resumed from an error recovery
 *
 * Every BAR_DMABUF_IMP_JOB_UNTIL_RESUME job not finished yet completes as
 * if signalled; all leave the resume list.
 *
 * Return: the number of jobs let go.
 */
u32 imp_engine_resume(void)
{
	struct imp_job *job, *next;
	LIST_HEAD(done);
	u32 n = 0;

	spin_lock(&imp_resume_lock);
	list_for_each_entry_safe(job, next, &imp_resume_jobs, resume_node) {
		struct imp_attach *ia = job->ia;
		bool go = false;

		spin_lock(&ia->lock);
		if (job->phase != IMP_JOB_READY && job->phase != IMP_JOB_DONE &&
		    !job->signal_requested && !job->status) {
			job->signal_requested = true;
			go = true;
		}
		spin_unlock(&ia->lock);
		/* the list's reference keeps the kick's put from being last */
		if (go) {
			imp_job_kick(job, 0);
			n++;
		}
		list_move_tail(&job->resume_node, &done);
	}
	spin_unlock(&imp_resume_lock);

	list_for_each_entry_safe(job, next, &done, resume_node) {
		list_del_init(&job->resume_node);
		imp_job_put(job);
	}
	return n;
}
