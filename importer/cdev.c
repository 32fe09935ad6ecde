// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf_importer: the control node /dev/bar_dmabuf_importer and its
 * ioctls. Every command struct starts with its size; it is read with
 * copy_struct_from_user() so it can grow, and written back up to the
 * smaller of the two sizes.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "importer.h"
#include "vmap.h"

/**
 * imp_file_attach() - look up an attachment of a file by handle
 * @ifile: the file
 * @handle: the handle
 *
 * No lock needed: attachments are freed only when the file is released,
 * which cannot run during one of its ioctls.
 *
 * Return: the attachment (possibly detached), or NULL.
 */
struct imp_attach *imp_file_attach(struct imp_file *ifile, u32 handle)
{
	return handle ? xa_load(&ifile->attachments, handle) : NULL;
}

union imp_ioctl_buf {
	struct bar_dmabuf_imp_attach attach;
	struct bar_dmabuf_imp_handle handle;
	struct bar_dmabuf_imp_behaviour behaviour;
	struct bar_dmabuf_imp_submit submit;
	struct bar_dmabuf_imp_signal signal;
	struct bar_dmabuf_imp_wait_job wait_job;
	struct bar_dmabuf_imp_read_log read_log;
	struct bar_dmabuf_imp_wait_event wait_event;
	struct bar_dmabuf_imp_counters counters;
	struct bar_dmabuf_imp_vmap vmap;
	struct bar_dmabuf_imp_vmap_rw vmap_rw;
};

/*
 * One ioctl's state: the command's struct and a file a command created
 * for a new fd. The fd is installed only once the struct naming it has
 * been copied back, so a faulting copy-out leaves no fd behind.
 */
struct imp_ioctl_ctx {
	union imp_ioctl_buf b;
	struct file *install;	/* installed at @install_fd after copy-out */
	int install_fd;		/* reserved with get_unused_fd_flags() */
};

static int imp_ioctl_attach(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	return imp_attach_create(ifile, &b->attach);
}

/* The answer of an ATTACH could not be copied back: detach again. */
static void imp_ioctl_attach_undo(struct imp_file *ifile,
				  union imp_ioctl_buf *b)
{
	struct imp_attach *ia = imp_file_attach(ifile, b->attach.out_handle);

	/* Fails only if another thread guessed the handle and used it. */
	if (ia)
		imp_attach_detach(ia, false);
}

/* DETACH, MAP, UNMAP share struct bar_dmabuf_imp_handle. */
static struct imp_attach *imp_ioctl_handle(struct imp_file *ifile,
					   struct bar_dmabuf_imp_handle *h,
					   int *ret)
{
	struct imp_attach *ia;

	*ret = -EINVAL;
	if (h->flags || h->reserved)
		return NULL;
	/* MAP's answers; DETACH and UNMAP give 0, not the caller's bytes */
	h->out_length = 0;
	h->out_nr_segs = 0;
	h->out_max_seg_len = 0;
	ia = imp_file_attach(ifile, h->handle);
	*ret = ia ? 0 : -ENOENT;
	return ia;
}

static int imp_ioctl_detach(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct imp_attach *ia;
	int ret;

	ia = imp_ioctl_handle(ifile, &b->handle, &ret);
	return ia ? imp_attach_detach(ia, false) : ret;
}

static int imp_ioctl_map(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct imp_attach *ia;
	int ret;

	ia = imp_ioctl_handle(ifile, &b->handle, &ret);
	return ia ? imp_attach_map_ioctl(ia, &b->handle) : ret;
}

static int imp_ioctl_unmap(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct imp_attach *ia;
	int ret;

	ia = imp_ioctl_handle(ifile, &b->handle, &ret);
	return ia ? imp_attach_unmap_ioctl(ia) : ret;
}

static int imp_ioctl_behaviour(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct imp_attach *ia = imp_file_attach(ifile, b->behaviour.handle);

	return ia ? imp_attach_set_behaviour(ia, &b->behaviour) : -ENOENT;
}

static int imp_ioctl_submit(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct imp_ioctl_ctx *ctx = container_of(b, struct imp_ioctl_ctx, b);
	struct imp_attach *ia = imp_file_attach(ifile, b->submit.handle);
	int ret;

	b->submit.out_sync_fd = -1;
	if (!ia)
		return -ENOENT;
	ret = imp_engine_submit(ia, &b->submit, &ctx->install);
	if (ctx->install)
		ctx->install_fd = b->submit.out_sync_fd;
	return ret;
}

static int imp_ioctl_signal(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	return imp_engine_signal(ifile, &b->signal);
}

static int imp_ioctl_wait_job(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	return imp_engine_wait(ifile, &b->wait_job);
}

static int imp_ioctl_read_log(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct imp_attach *ia;

	if (b->read_log.flags)
		return -EINVAL;
	if (!b->read_log.handle)
		return imp_log_read(&imp_dev_log, &b->read_log);
	ia = imp_file_attach(ifile, b->read_log.handle);
	return ia ? imp_log_read(&ia->log, &b->read_log) : -ENOENT;
}

static int imp_ioctl_wait_event(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct imp_attach *ia;

	if (b->wait_event.flags)
		return -EINVAL;
	if (!b->wait_event.handle)
		return imp_log_wait(&imp_dev_log, &b->wait_event);
	ia = imp_file_attach(ifile, b->wait_event.handle);
	return ia ? imp_log_wait(&ia->log, &b->wait_event) : -ENOENT;
}

static int imp_ioctl_counters(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct bar_dmabuf_imp_counters *c = &b->counters;

	if (c->flags)
		return -EINVAL;
	c->out_attachments = atomic_read(&imp_counters.attachments);
	c->out_mappings = atomic_read(&imp_counters.mappings);
	c->out_jobs_pending = atomic_read(&imp_counters.jobs_pending);
	c->out_dma_faults = atomic_read(&imp_counters.dma_faults);
	c->out_late_reads = atomic_read(&imp_counters.late_reads);
	c->out_violations = atomic_read(&imp_counters.violations);
	c->out_watchdog_expired = atomic_read(&imp_counters.watchdog_expired);
	c->out_invalidates = atomic_read(&imp_counters.invalidates);
	return 0;
}

static int imp_ioctl_vmap(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	return imp_vmap_map_ioctl(ifile, &b->vmap);
}

/* The answer of a VMAP could not be copied back: hand the vmap back. */
static void imp_ioctl_vmap_undo(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	struct bar_dmabuf_imp_handle h = {
		.size = sizeof(h),
		.handle = b->vmap.out_handle,
	};

	imp_vmap_unmap_ioctl(ifile, &h);
}

static int imp_ioctl_vunmap(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	/* out_length is the vmap's; MAP's others give 0 */
	b->handle.out_nr_segs = 0;
	b->handle.out_max_seg_len = 0;
	return imp_vmap_unmap_ioctl(ifile, &b->handle);
}

static int imp_ioctl_vmap_rw(struct imp_file *ifile, union imp_ioctl_buf *b)
{
	return imp_vmap_rw_ioctl(ifile, &b->vmap_rw);
}

struct imp_ioctl_desc {
	unsigned int cmd;
	size_t size;	/* what the kernel knows; also the smallest accepted */
	int (*fn)(struct imp_file *ifile, union imp_ioctl_buf *b);
	/* Takes back what @fn created when its answer cannot be copied out. */
	void (*undo)(struct imp_file *ifile, union imp_ioctl_buf *b);
};

#define IMP_IOCTL(_nr, _cmd, _struct, _fn) \
	[_nr] = { .cmd = _cmd, .size = sizeof(_struct), .fn = _fn }
#define IMP_IOCTL_UNDO(_nr, _cmd, _struct, _fn, _undo) \
	[_nr] = { .cmd = _cmd, .size = sizeof(_struct), .fn = _fn, \
		  .undo = _undo }

static const struct imp_ioctl_desc imp_ioctls[] = {
	IMP_IOCTL_UNDO(BAR_DMABUF_IMP_CMD_ATTACH, BAR_DMABUF_IMP_IOCTL_ATTACH,
		       struct bar_dmabuf_imp_attach, imp_ioctl_attach,
		       imp_ioctl_attach_undo),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_DETACH, BAR_DMABUF_IMP_IOCTL_DETACH,
		  struct bar_dmabuf_imp_handle, imp_ioctl_detach),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_MAP, BAR_DMABUF_IMP_IOCTL_MAP,
		  struct bar_dmabuf_imp_handle, imp_ioctl_map),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_UNMAP, BAR_DMABUF_IMP_IOCTL_UNMAP,
		  struct bar_dmabuf_imp_handle, imp_ioctl_unmap),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_SET_BEHAVIOUR,
		  BAR_DMABUF_IMP_IOCTL_SET_BEHAVIOUR,
		  struct bar_dmabuf_imp_behaviour, imp_ioctl_behaviour),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_SUBMIT, BAR_DMABUF_IMP_IOCTL_SUBMIT,
		  struct bar_dmabuf_imp_submit, imp_ioctl_submit),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_SIGNAL, BAR_DMABUF_IMP_IOCTL_SIGNAL,
		  struct bar_dmabuf_imp_signal, imp_ioctl_signal),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_WAIT_JOB, BAR_DMABUF_IMP_IOCTL_WAIT_JOB,
		  struct bar_dmabuf_imp_wait_job, imp_ioctl_wait_job),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_READ_LOG, BAR_DMABUF_IMP_IOCTL_READ_LOG,
		  struct bar_dmabuf_imp_read_log, imp_ioctl_read_log),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_WAIT_EVENT, BAR_DMABUF_IMP_IOCTL_WAIT_EVENT,
		  struct bar_dmabuf_imp_wait_event, imp_ioctl_wait_event),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_COUNTERS, BAR_DMABUF_IMP_IOCTL_COUNTERS,
		  struct bar_dmabuf_imp_counters, imp_ioctl_counters),
	IMP_IOCTL_UNDO(BAR_DMABUF_IMP_CMD_VMAP, BAR_DMABUF_IMP_IOCTL_VMAP,
		       struct bar_dmabuf_imp_vmap, imp_ioctl_vmap,
		       imp_ioctl_vmap_undo),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_VUNMAP, BAR_DMABUF_IMP_IOCTL_VUNMAP,
		  struct bar_dmabuf_imp_handle, imp_ioctl_vunmap),
	IMP_IOCTL(BAR_DMABUF_IMP_CMD_VMAP_RW, BAR_DMABUF_IMP_IOCTL_VMAP_RW,
		  struct bar_dmabuf_imp_vmap_rw, imp_ioctl_vmap_rw),
};

static long imp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct imp_file *ifile = file->private_data;
	void __user *uptr = (void __user *)arg;
	const struct imp_ioctl_desc *desc;
	struct imp_ioctl_ctx ctx = { .install_fd = -1 };
	unsigned int nr = _IOC_NR(cmd);
	u32 usize;
	int ret;

	if (nr >= ARRAY_SIZE(imp_ioctls) || imp_ioctls[nr].cmd != cmd)
		return -ENOTTY;
	desc = &imp_ioctls[nr];

	if (get_user(usize, (u32 __user *)uptr))
		return -EFAULT;
	if (usize < desc->size)
		return -EINVAL;
	/* As clone3(): never walk more than 4 KiB of user memory. */
	if (usize > SZ_4K)
		return -E2BIG;
	/* Bytes past what we know must be zero (-E2BIG otherwise). */
	ret = copy_struct_from_user(&ctx.b, desc->size, uptr, usize);
	if (ret)
		return ret;
	/*
	 * Every command writes its struct back. Write the caller's own bytes
	 * first, so a struct that cannot be written (a read-only page) is
	 * -EFAULT before anything is created, attached, queued or mapped.
	 */
	if (copy_to_user(uptr, &ctx.b, min_t(size_t, usize, desc->size)))
		return -EFAULT;

	ret = desc->fn(ifile, &ctx.b);
	/* READ_LOG's -ENOSPC reports how many entries are needed. */
	if ((!ret || ret == -ENOSPC) &&
	    copy_to_user(uptr, &ctx.b, min_t(size_t, usize, desc->size))) {
		/* Made read-only meanwhile: take back what was created. */
		if (!ret && desc->undo)
			desc->undo(ifile, &ctx.b);
		ret = -EFAULT;
	}
	/* A new fd becomes visible only with the answer that names it. */
	if (ctx.install) {
		if (!ret) {
			fd_install(ctx.install_fd, ctx.install);
		} else {
			fput(ctx.install);
			put_unused_fd(ctx.install_fd);
		}
	}
	return ret;
}

static int imp_open(struct inode *inode, struct file *file)
{
	struct imp_file *ifile;

	ifile = bar_dmabuf_compat_zalloc(*ifile);
	if (!ifile)
		return -ENOMEM;
	mutex_init(&ifile->lock);
	xa_init_flags(&ifile->attachments, XA_FLAGS_ALLOC1);
	xa_init_flags(&ifile->jobs, XA_FLAGS_ALLOC1);
	file->private_data = ifile;
	return 0;
}

/* Cancel every job, detach and free everything the file owns. */
static int imp_release(struct inode *inode, struct file *file)
{
	struct imp_file *ifile = file->private_data;
	struct imp_attach *ia;
	struct imp_job *job;
	unsigned long idx;

	imp_engine_cancel_file(ifile);
	imp_vmap_release_file(ifile);
	xa_for_each(&ifile->attachments, idx, ia)
		imp_attach_detach(ia, true);	/* -ENOENT if detached: fine */
	xa_for_each(&ifile->jobs, idx, job) {
		xa_erase(&ifile->jobs, idx);
		imp_job_put(job);
	}
	/*
	 * A SIGNAL racing a job's first run can queue one more run of a job
	 * already retired (no longer in ifile->jobs, so not cancelled above);
	 * that run takes its attachment's lock: let it finish first.
	 */
	flush_workqueue(imp_wq);
	xa_for_each(&ifile->attachments, idx, ia) {
		xa_erase(&ifile->attachments, idx);
		imp_attach_free(ia);
	}
	xa_destroy(&ifile->jobs);
	xa_destroy(&ifile->attachments);
	mutex_destroy(&ifile->lock);
	kfree(ifile);
	return 0;
}

static const struct file_operations imp_fops = {
	.owner = THIS_MODULE,
	.open = imp_open,
	.release = imp_release,
	.unlocked_ioctl = imp_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice imp_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = IMP_NAME,
	.fops = &imp_fops,
	.mode = 0600,
};

/**
 * imp_cdev_init() - create /dev/bar_dmabuf_importer
 *
 * Return: 0 or a negative errno.
 */
int imp_cdev_init(void)
{
	return misc_register(&imp_misc);
}

/**
 * imp_cdev_exit() - remove the control node
 */
void imp_cdev_exit(void)
{
	misc_deregister(&imp_misc);
}
