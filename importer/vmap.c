// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf_importer: a kernel CPU user of a dma-buf through
 * dma_buf_vmap() (VMAP, VMAP_RW, VUNMAP), as a driver that reads a buffer
 * with the CPU would be. Unlike an attachment it has no invalidate
 * callback: an exporter that revokes can only wait for its VUNMAP (or the
 * close of the control file).
 */
#include <linux/dma-buf.h>
#include <linux/dma-direction.h>
#include <linux/err.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "compat.h"
#include "importer.h"
#include "vmap.h"

/**
 * struct imp_vmap - one dma_buf_vmap() made for a file
 * @ref: references: the table entry (from VMAP to VUNMAP or the close of
 *	the file) and every VMAP_RW running on it
 * @owner: the file that made it; no reference: a file's entries leave the
 *	table in its release, and only its own ioctls look them up
 * @dmabuf: our dma-buf reference
 * @map: what dma_buf_vmap() returned
 * @len: the dma-buf's size
 *
 * Lifetime: the last put (VUNMAP, the file's close, or a VMAP_RW that
 * raced with either) calls dma_buf_vunmap(), drops @dmabuf and frees it.
 */
struct imp_vmap {
	struct kref ref;
	struct imp_file *owner;
	struct dma_buf *dmabuf;
	struct iosys_map map;
	size_t len;
};

/* Every vmap of every file, by handle; its lock orders lookup and removal. */
static DEFINE_XARRAY_ALLOC1(imp_vmaps);

static void imp_vmap_free(struct kref *ref)
{
	struct imp_vmap *v = container_of(ref, struct imp_vmap, ref);

	bar_dmabuf_imp_compat_vunmap(v->dmabuf, &v->map);
	dma_buf_put(v->dmabuf);
	kfree(v);
}

/* Sleeps (the vunmap takes the dma_resv lock): process context only. */
static void imp_vmap_put(struct imp_vmap *v)
{
	kref_put(&v->ref, imp_vmap_free);
}

/* A reference on @ifile's vmap @handle, or NULL. */
static struct imp_vmap *imp_vmap_get(struct imp_file *ifile, u32 handle)
{
	struct imp_vmap *v;

	xa_lock(&imp_vmaps);
	v = xa_load(&imp_vmaps, handle);
	if (v && v->owner == ifile)
		kref_get(&v->ref);
	else
		v = NULL;
	xa_unlock(&imp_vmaps);
	return v;
}

/**
 * imp_vmap_map_ioctl() - VMAP: dma_buf_vmap() of a dma-buf fd
 * @ifile: the file that will own the vmap
 * @arg: the command
 *
 * Return: 0, -EINVAL for flags or when the exporter offers no vmap of this
 * buffer (the core's answer), -EBADF, -ENOMEM, or the exporter's error.
 */
int imp_vmap_map_ioctl(struct imp_file *ifile, struct bar_dmabuf_imp_vmap *arg)
{
	struct imp_vmap *v;
	u32 id;
	int ret;

	if (arg->flags)
		return -EINVAL;
	v = bar_dmabuf_compat_zalloc(*v);
	if (!v)
		return -ENOMEM;
	v->dmabuf = dma_buf_get(arg->dmabuf_fd);
	if (IS_ERR(v->dmabuf)) {
		ret = PTR_ERR(v->dmabuf);
		goto err_free;
	}
	ret = bar_dmabuf_imp_compat_vmap(v->dmabuf, &v->map);
	if (ret)
		goto err_put_dmabuf;
	kref_init(&v->ref);
	v->owner = ifile;
	v->len = v->dmabuf->size;

	ret = xa_alloc(&imp_vmaps, &id, v, xa_limit_32b, GFP_KERNEL);
	if (ret)
		goto err_vunmap;
	arg->out_handle = id;
	arg->out_length = v->len;
	return 0;

err_vunmap:
	bar_dmabuf_imp_compat_vunmap(v->dmabuf, &v->map);
err_put_dmabuf:
	dma_buf_put(v->dmabuf);
err_free:
	kfree(v);
	return ret;
}

/**
 * imp_vmap_unmap_ioctl() - VUNMAP: hand a vmap back
 * @ifile: the file
 * @arg: the command; @arg->handle names the vmap
 *
 * The vunmap happens here, or at the end of a VMAP_RW still running on it.
 *
 * Return: 0, -EINVAL for flags or reserved, -ENOENT for a handle that is
 * not one of @ifile's vmaps.
 */
int imp_vmap_unmap_ioctl(struct imp_file *ifile,
			 struct bar_dmabuf_imp_handle *arg)
{
	struct imp_vmap *v;

	if (arg->flags || arg->reserved)
		return -EINVAL;
	xa_lock(&imp_vmaps);
	v = xa_load(&imp_vmaps, arg->handle);
	if (v && v->owner == ifile)
		__xa_erase(&imp_vmaps, arg->handle);
	else
		v = NULL;
	xa_unlock(&imp_vmaps);
	if (!v)
		return -ENOENT;
	arg->out_length = v->len;
	imp_vmap_put(v);
	return 0;
}

/**
 * imp_vmap_rw_ioctl() - VMAP_RW: a CPU copy through a vmap
 * @ifile: the file
 * @arg: the command
 *
 * Return: 0, -EINVAL for bad flags, reserved or range, -ENOENT for an
 * unknown handle, -EFAULT, -ENOMEM, or the error of
 * dma_buf_begin_cpu_access() (e.g. -ERESTARTSYS while waiting for fences).
 */
int imp_vmap_rw_ioctl(struct imp_file *ifile, struct bar_dmabuf_imp_vmap_rw *arg)
{
	bool write = arg->flags & BAR_DMABUF_IMP_VMAP_RW_WRITE;
	void __user *uptr = u64_to_user_ptr(arg->data_ptr);
	enum dma_data_direction dir;
	struct imp_vmap *v;
	void *data;
	int ret;

	if ((arg->flags & ~BAR_DMABUF_IMP_VMAP_RW_WRITE) || arg->reserved)
		return -EINVAL;
	if (!arg->length || arg->length > BAR_DMABUF_IMP_MAX_JOB)
		return -EINVAL;
	v = imp_vmap_get(ifile, arg->handle);
	if (!v)
		return -ENOENT;
	ret = -EINVAL;
	if (arg->offset > v->len || arg->length > v->len - arg->offset)
		goto out_put;

	ret = -ENOMEM;
	data = kvmalloc(arg->length, GFP_KERNEL);
	if (!data)
		goto out_put;
	ret = -EFAULT;
	if (write && copy_from_user(data, uptr, arg->length))
		goto out_free;

	dir = write ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
	ret = dma_buf_begin_cpu_access(v->dmabuf, dir);
	if (ret)
		goto out_free;
	if (write)
		iosys_map_memcpy_to(&v->map, arg->offset, data, arg->length);
	else
		iosys_map_memcpy_from(data, &v->map, arg->offset, arg->length);
	ret = dma_buf_end_cpu_access(v->dmabuf, dir);

	if (!ret && !write && copy_to_user(uptr, data, arg->length))
		ret = -EFAULT;
out_free:
	kvfree(data);
out_put:
	imp_vmap_put(v);
	return ret;
}

/**
 * imp_vmap_release_file() - vunmap every vmap a closing file still holds
 * @ifile: the file; none of its ioctls can run any more
 */
void imp_vmap_release_file(struct imp_file *ifile)
{
	struct imp_vmap *v, *entry;
	unsigned long idx;

	/*
	 * Entries of other files may be freed meanwhile: look at one only
	 * under the table's lock, take ours out one at a time, and put it
	 * (which sleeps) after dropping the lock.
	 */
	do {
		v = NULL;
		xa_lock(&imp_vmaps);
		xa_for_each(&imp_vmaps, idx, entry) {
			if (entry->owner == ifile) {
				__xa_erase(&imp_vmaps, idx);
				v = entry;
				break;
			}
		}
		xa_unlock(&imp_vmaps);
		if (v)
			imp_vmap_put(v);
	} while (v);
}
