// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: the dma-buf side. Export of BAR ranges, the dma_buf_ops
 * (attach/detach, pin/unpin, map/unmap, mmap, CPU access, release) and
 * the CPU fault handler. The revoke sequence itself is in revoke.c.
 *
 * We are a dynamic exporter (pin/unpin ops): before 6.16 the core maps at
 * attach time and caches the table when exporter and importer differ in
 * dynamism, and a cached table never reaches our map/unmap, so unmaps could
 * not be counted. Static importers are refused in attach, before any
 * caching happens. With CONFIG_DMABUF_MOVE_NOTIFY off (Debian's 6.1 and
 * 6.12) the core pins before every map even for dynamic importers, and
 * virtio-gpu pins for as long as it scans a buffer out: pin succeeds on
 * every live buffer.
 *
 * No kernel vmap: dma_buf_vmap() WARNs whenever an exporter's vmap op
 * fails, so an op could never refuse a revoked buffer, and no invalidation
 * reaches a vmap user. Without the op the core refuses every vmap with
 * -EINVAL, cleanly (as upstream VFIO's BAR exporter does).
 *
 * Nothing here writes state the dma-buf core owns, and nothing follows
 * dmabuf->file, which may be freed while the buffer lives on (see the
 * lifetime of &struct bar_dmabuf_buf).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/fcntl.h>
#include <linux/io.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>

#include "bar_dmabuf.h"
#include "trace.h"

static const struct dma_buf_ops bar_dmabuf_ops;

static int bar_dmabuf_attach(struct dma_buf *dmabuf,
			     struct dma_buf_attachment *attach)
{
	struct bar_dmabuf_buf *buf = dmabuf->priv;
	struct bar_dmabuf_attach *battach;
	int ret;

	if (!attach->importer_ops || !bar_dmabuf_compat_attach_revocable(attach)) {
		dev_info_ratelimited(attach->dev,
				     "%s buffer %u: refusing a pinned importer: attach with dma_buf_dynamic_attach() and an invalidate callback\n",
				     buf->bdev->name, buf->id);
		return -EOPNOTSUPP;
	}
	if (!attach->peer2peer) {
		dev_info_ratelimited(attach->dev,
				     "%s buffer %u: refusing an importer without allow_peer2peer: this is device memory\n",
				     buf->bdev->name, buf->id);
		return -EOPNOTSUPP;
	}

	battach = bar_dmabuf_compat_zalloc(*battach);
	if (!battach)
		return -ENOMEM;
	battach->attach = attach;
	INIT_LIST_HEAD(&battach->maps);
	INIT_LIST_HEAD(&battach->first.node);
	atomic_set(&battach->nr_maps, 0);
	atomic_set(&battach->nr_pins, 0);

	/* rule 1 first: a revoked buffer is -ENODEV, not -EXDEV */
	dma_resv_lock(dmabuf->resv, NULL);
	if (buf->revoked) {
		ret = -ENODEV;
		goto err_unlock;
	}
	ret = bar_dmabuf_p2p_attach(buf, battach);
	if (ret)
		goto err_unlock;
	attach->priv = battach;
	spin_lock(&buf->alock);
	list_add_tail(&battach->node, &buf->attachments);
	spin_unlock(&buf->alock);
	dma_resv_unlock(dmabuf->resv);

	trace_bar_dmabuf_attach(buf, attach->dev, battach->path);
	return 0;

err_unlock:
	dma_resv_unlock(dmabuf->resv);
	kfree(battach);
	return ret;
}

/*
 * Hand back one mapping: its DMA addresses, its table, its count. Resv
 * lock held (by the core for an unmap, by detach for a leftover).
 */
static void bar_dmabuf_unmap_one(struct bar_dmabuf_buf *buf,
				 struct bar_dmabuf_attach *battach,
				 struct bar_dmabuf_map *m)
{
	dma_resv_assert_held(buf->dmabuf->resv);

	list_del_init(&m->node);
	bar_dmabuf_p2p_unmap(buf, battach, m);
	if (m != &battach->first)
		kfree(m);
	atomic_dec(&battach->nr_maps);
	trace_bar_dmabuf_unmap(buf, battach->attach->dev);
	/* the ordered dec pairs with the waiter's queueing before its check */
	if (atomic_dec_and_test(&buf->live_maps) && wq_has_sleeper(&buf->wq))
		wake_up_all(&buf->wq);
}

/*
 * The core calls detach without the resv lock, the attachment already off
 * the buffer's list (no invalidate reaches it any more). Mappings left are
 * an importer bug: an importer that detaches is done with the buffer, so
 * they are unmapped here rather than left in its IOMMU for good, and no
 * later revoke waits for them.
 */
static void bar_dmabuf_detach(struct dma_buf *dmabuf,
			      struct dma_buf_attachment *attach)
{
	struct bar_dmabuf_buf *buf = dmabuf->priv;
	struct bar_dmabuf_attach *battach = attach->priv;
	struct bar_dmabuf_map *m, *tmp;
	int left = 0;

	spin_lock(&buf->alock);
	list_del(&battach->node);
	spin_unlock(&buf->alock);

	dma_resv_lock(dmabuf->resv, NULL);
	list_for_each_entry_safe(m, tmp, &battach->maps, node) {
		bar_dmabuf_unmap_one(buf, battach, m);
		left++;
	}
	dma_resv_unlock(dmabuf->resv);
	if (left)
		dev_warn(attach->dev,
			 "%s buffer %u: detached with %d mapping(s) never unmapped; unmapped them\n",
			 buf->bdev->name, buf->id, left);
	attach->priv = NULL;
	kfree(battach);
}

/*
 * Say once per attachment that its importer pinned explicitly. A pin
 * delays no revoke, but an importer that pins may keep its mapping past
 * the invalidate callback (RDMA's pinned path before 7.1 only warns
 * there), and the revoke then waits for it until its owner unmaps.
 *
 * Where the core pins before every map (bar_dmabuf_compat_core_pins_on_map())
 * its pin and dma_buf_pin() reach our op alike; only a surplus of pins
 * over mappings tells: @pending is 1 in the pin op there (this pin may be
 * the core's, for the map that follows), else 0. So an explicit pin shows
 * at the next pin op (the core's own before a map included) or map of the
 * attachment, not at its own pin; one never followed by a map holds
 * nothing a revoke waits for. Elsewhere every pin is explicit and is told
 * at once, except from 7.1, where only importers that promised to unmap
 * get here (bar_dmabuf_compat_pinners_unmap()): nothing to warn of.
 */
static void bar_dmabuf_pin_check(struct bar_dmabuf_buf *buf,
				 struct bar_dmabuf_attach *battach,
				 int pending)
{
	int core = 0;

	dma_resv_assert_held(buf->dmabuf->resv);

	if (battach->pin_told || bar_dmabuf_compat_pinners_unmap())
		return;
	if (bar_dmabuf_compat_core_pins_on_map())
		core = atomic_read(&battach->nr_maps) + pending;
	if (atomic_read(&battach->nr_pins) <= core)
		return;
	battach->pin_told = true;
	dev_warn(battach->attach->dev,
		 "%s buffer %u: pinned by its importer (dma_buf_pin): a revoke waits for it until its owner unmaps\n",
		 buf->bdev->name, buf->id);
}

/*
 * Called by the core with the resv lock held: by a dynamic importer that
 * pins, and on kernels without CONFIG_DMABUF_MOVE_NOTIFY before every map.
 * Never refused on a live buffer (virtio-gpu pins at import and while it
 * scans out). Pinning does not stop a revoke: the importer is still told
 * and must still unmap.
 */
static int bar_dmabuf_pin(struct dma_buf_attachment *attach)
{
	struct bar_dmabuf_buf *buf = attach->dmabuf->priv;
	struct bar_dmabuf_attach *battach = attach->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (buf->revoked)
		return -ENODEV;
	atomic_inc(&battach->nr_pins);
	bar_dmabuf_pin_check(buf, battach, 1);
	return 0;
}

static void bar_dmabuf_unpin(struct dma_buf_attachment *attach)
{
	struct bar_dmabuf_attach *battach = attach->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	atomic_dec(&battach->nr_pins);
}

/* resv lock held by the core (we refuse static importers) */
static struct sg_table *bar_dmabuf_map(struct dma_buf_attachment *attach,
				       enum dma_data_direction dir)
{
	struct bar_dmabuf_buf *buf = attach->dmabuf->priv;
	struct bar_dmabuf_attach *battach = attach->priv;
	struct bar_dmabuf_map *m;
	struct sg_table *sgt;

	dma_resv_assert_held(attach->dmabuf->resv);

	/* rule 1: no new mapping of a revoked buffer */
	if (buf->revoked)
		return ERR_PTR(-ENODEV);

	m = &battach->first;
	if (!list_empty(&m->node)) {
		m = bar_dmabuf_compat_zalloc(*m);
		if (!m)
			return ERR_PTR(-ENOMEM);
	}
	m->dir = dir;
	sgt = bar_dmabuf_p2p_map(buf, battach, m);
	if (IS_ERR(sgt)) {
		if (m != &battach->first)
			kfree(m);
		return sgt;
	}
	list_add_tail(&m->node, &battach->maps);
	atomic_inc(&battach->nr_maps);
	atomic_inc(&buf->live_maps);
	bar_dmabuf_pin_check(buf, battach, 0);
	trace_bar_dmabuf_map(buf, attach->dev, sgt->nents);
	return sgt;
}

/*
 * The resv lock is held by the core, possibly because the importer is
 * inside its invalidate callback called from our revoke: never take it
 * here, nor the device lock. This is the only place a mapping's DMA
 * addresses are released (rule 5), but for detach's leftovers.
 */
static void bar_dmabuf_unmap(struct dma_buf_attachment *attach,
			     struct sg_table *sgt,
			     enum dma_data_direction dir)
{
	struct bar_dmabuf_buf *buf = attach->dmabuf->priv;
	struct bar_dmabuf_attach *battach = attach->priv;
	struct bar_dmabuf_map *m;

	list_for_each_entry(m, &battach->maps, node) {
		if (&m->table == sgt) {
			bar_dmabuf_unmap_one(buf, battach, m);
			return;
		}
	}
	dev_warn_ratelimited(attach->dev,
			     "%s buffer %u: unmap of a table this attachment does not hold; ignored\n",
			     buf->bdev->name, buf->id);
}

/* CPU physical address of byte @off of the buffer */
static int bar_dmabuf_phys_at(struct bar_dmabuf_buf *buf, u64 off,
			      phys_addr_t *phys)
{
	u32 i;

	for (i = 0; i < buf->nr_ranges; i++) {
		if (off < buf->phys[i].len) {
			*phys = buf->phys[i].paddr + off;
			return 0;
		}
		off -= buf->phys[i].len;
	}
	return -EINVAL;
}

/*
 * Pages are inserted one fault at a time, so a revoke can zap them all
 * (rule 2) and the next touch lands here and gets SIGBUS (rule 1). The
 * resv lock orders us against the revoke's mark-and-zap.
 */
static vm_fault_t bar_dmabuf_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct bar_dmabuf_buf *buf = vma->vm_private_data;
	phys_addr_t phys;
	vm_fault_t ret;

	dma_resv_lock(buf->dmabuf->resv, NULL);
	if (buf->revoked ||
	    bar_dmabuf_phys_at(buf, (u64)vmf->pgoff << PAGE_SHIFT, &phys))
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_pfn(vma, vmf->address, PHYS_PFN(phys));
	dma_resv_unlock(buf->dmabuf->resv);
	return ret;
}

static const struct vm_operations_struct bar_dmabuf_vm_ops = {
	.fault = bar_dmabuf_vm_fault,
};

/* The core has checked the range against the buffer size. */
static int bar_dmabuf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma)
{
	struct bar_dmabuf_buf *buf = dmabuf->priv;
	pgprot_t prot;

	/*
	 * Shared mappings only. VM_MAYSHARE, not VM_SHARED: mmap() clears
	 * VM_SHARED for a read-only file (a buffer exported without O_RDWR),
	 * whose shared mapping also has no VM_MAYWRITE, so it can't become a
	 * COW mapping either.
	 */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	/* rule 1; a race with a revoke is settled by the fault handler */
	if (READ_ONCE(buf->revoked))
		return -ENODEV;

	bar_dmabuf_compat_vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND |
					    VM_DONTDUMP);
	prot = vm_get_page_prot(vma->vm_flags);
	vma->vm_page_prot = buf->bdev->wc[buf->bar] ?
			    pgprot_writecombine(prot) : pgprot_noncached(prot);
	vma->vm_private_data = buf;
	vma->vm_ops = &bar_dmabuf_vm_ops;
	return 0;
}

/*
 * DMA_BUF_IOCTL_SYNC. A revoked buffer's user mappings are gone (a touch
 * is SIGBUS), so CPU access to it is refused. The end of a write drains
 * the CPU's write-combining buffers (wmb() is sfence on x86), so an
 * importer that reads after SYNC_END sees every byte.
 */
static int bar_dmabuf_begin_cpu_access(struct dma_buf *dmabuf,
				       enum dma_data_direction dir)
{
	struct bar_dmabuf_buf *buf = dmabuf->priv;

	return READ_ONCE(buf->revoked) ? -ENODEV : 0;
}

static int bar_dmabuf_end_cpu_access(struct dma_buf *dmabuf,
				     enum dma_data_direction dir)
{
	struct bar_dmabuf_buf *buf = dmabuf->priv;

	if (dir != DMA_FROM_DEVICE) {
		/* WC stores reach the BAR before SYNC_END returns */
		wmb();
	}
	return READ_ONCE(buf->revoked) ? -ENODEV : 0;
}

static void bar_dmabuf_buf_free(struct kref *kref)
{
	struct bar_dmabuf_buf *buf =
		container_of(kref, struct bar_dmabuf_buf, kref);

	bar_dmabuf_dev_put(buf->bdev);
	kfree(buf->phys);
	kfree(buf);
}

/**
 * bar_dmabuf_buf_put() - drop a reference on a buffer
 * @buf: the buffer
 *
 * The last one frees it (see &struct bar_dmabuf_buf). May be called with
 * the device lock held: the caller then holds its own device reference.
 */
void bar_dmabuf_buf_put(struct bar_dmabuf_buf *buf)
{
	kref_put(&buf->kref, bar_dmabuf_buf_free);
}

/*
 * The dma-buf's dentry is going (the last fd, mmap, importer reference and
 * O_PATH open are gone) and the dma-buf is freed when we return. Take the
 * buffer off the list and tell a revoke waiting for it, which then lets
 * go of it without touching the dma-buf again (it looks only under the
 * device lock, and only while !released).
 */
static void bar_dmabuf_release(struct dma_buf *dmabuf)
{
	struct bar_dmabuf_buf *buf = dmabuf->priv;
	struct bar_dmabuf_dev *bdev = buf->bdev;

	mutex_lock(&bdev->lock);
	list_del(&buf->node);
	WRITE_ONCE(buf->released, true);
	mutex_unlock(&bdev->lock);
	wake_up_all(&buf->wq);

	iput(buf->inode);
	bar_dmabuf_buf_put(buf);
}

static const struct dma_buf_ops bar_dmabuf_ops = {
	.attach = bar_dmabuf_attach,
	.detach = bar_dmabuf_detach,
	.pin = bar_dmabuf_pin,
	.unpin = bar_dmabuf_unpin,
	.map_dma_buf = bar_dmabuf_map,
	.unmap_dma_buf = bar_dmabuf_unmap,
	.mmap = bar_dmabuf_mmap,
	.begin_cpu_access = bar_dmabuf_begin_cpu_access,
	.end_cpu_access = bar_dmabuf_end_cpu_access,
	.release = bar_dmabuf_release,
};

/**
 * bar_dmabuf_buf_from_fd() - the buffer behind a dma-buf fd, if it is ours
 * @fd: file descriptor
 * @out: the dma-buf, with a reference the caller drops with dma_buf_put()
 *
 * Return: the buffer, or ERR_PTR(-EBADF) for a bad fd, ERR_PTR(-EINVAL) for
 * an fd that is not one of our dma-bufs.
 */
struct bar_dmabuf_buf *bar_dmabuf_buf_from_fd(int fd, struct dma_buf **out)
{
	struct dma_buf *dmabuf = dma_buf_get(fd);

	if (IS_ERR(dmabuf))
		return ERR_CAST(dmabuf);
	if (dmabuf->ops != &bar_dmabuf_ops) {
		dma_buf_put(dmabuf);
		return ERR_PTR(-EINVAL);
	}
	*out = dmabuf;
	return dmabuf->priv;
}

/* Check the ranges against the BAR; fill @buf->phys and @buf->size. */
static int bar_dmabuf_check_ranges(struct bar_dmabuf_buf *buf,
				   const struct bar_dmabuf_range *ranges)
{
	struct pci_dev *pdev = buf->bdev->pdev;
	resource_size_t start = pci_resource_start(pdev, buf->bar);
	u64 barlen = pci_resource_len(pdev, buf->bar);
	size_t total = 0;
	u32 i;

	for (i = 0; i < buf->nr_ranges; i++) {
		u64 off = ranges[i].offset, len = ranges[i].length, end;

		if (!len || !PAGE_ALIGNED(off) || !PAGE_ALIGNED(len))
			return -EINVAL;
		if (check_add_overflow(off, len, &end) || end > barlen)
			return -EINVAL;
		if (check_add_overflow(total, (size_t)len, &total))
			return -EINVAL;
		buf->phys[i].paddr = start + off;
		buf->phys[i].len = len;
	}
	buf->size = total;
	return 0;
}

/**
 * bar_dmabuf_export() - make a dma-buf of ranges of one memory BAR
 * @bdev: the device
 * @req: the validated request (flags, reserved and open_flags checked)
 * @ranges: @req->nr_ranges ranges, copied from userspace
 *
 * The caller gives the dma-buf an fd or drops it with dma_buf_put(),
 * which frees the buffer.
 *
 * Return: the dma-buf, or ERR_PTR(-EINVAL) for a bad BAR or range,
 * -ENODEV if the device is going away, -EBUSY during a reset, -ENOMEM.
 */
struct dma_buf *bar_dmabuf_export(struct bar_dmabuf_dev *bdev,
				  const struct bar_dmabuf_export *req,
				  const struct bar_dmabuf_range *ranges)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct pci_dev *pdev = bdev->pdev;
	struct bar_dmabuf_buf *buf;
	struct dma_buf *dmabuf;
	unsigned long flags;
	char *name;
	int ret;

	if (req->bar_index >= PCI_STD_NUM_BARS)
		return ERR_PTR(-EINVAL);
	flags = pci_resource_flags(pdev, req->bar_index);
	if (!(flags & IORESOURCE_MEM) || !pci_resource_len(pdev, req->bar_index) ||
	    !PAGE_ALIGNED(pci_resource_start(pdev, req->bar_index)))
		return ERR_PTR(-EINVAL);

	buf = bar_dmabuf_compat_zalloc(*buf);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	buf->phys = kcalloc(req->nr_ranges, sizeof(*buf->phys), GFP_KERNEL);
	if (!buf->phys) {
		ret = -ENOMEM;
		goto err_free_buf;
	}
	kref_init(&buf->kref);
	buf->bdev = bdev;
	buf->bar = req->bar_index;
	buf->nr_ranges = req->nr_ranges;
	spin_lock_init(&buf->alock);
	INIT_LIST_HEAD(&buf->attachments);
	INIT_LIST_HEAD(&buf->node);
	atomic_set(&buf->live_maps, 0);
	init_waitqueue_head(&buf->wq);
	snprintf(buf->exp_name, sizeof(buf->exp_name), "bar_dmabuf:%s",
		 bdev->name);
	ret = bar_dmabuf_check_ranges(buf, ranges);
	if (ret)
		goto err_free_phys;

	name = kasprintf(GFP_KERNEL, "bar%u", buf->bar);
	if (!name) {
		ret = -ENOMEM;
		goto err_free_phys;
	}

	exp_info.ops = &bar_dmabuf_ops;
	exp_info.size = buf->size;
	exp_info.flags = req->open_flags;
	exp_info.priv = buf;
	exp_info.exp_name = buf->exp_name;

	mutex_lock(&bdev->lock);
	if (bdev->gone || bdev->failed || bdev->resetting) {
		ret = bdev->resetting && !bdev->failed ? -EBUSY : -ENODEV;
		goto err_unlock;
	}
	dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto err_unlock;
	}
	/*
	 * From here the dma-buf owns buf (our release op drops its
	 * reference). Its file is new and ours alone: hold its inode.
	 */
	buf->dmabuf = dmabuf;
	buf->inode = file_inode(dmabuf->file);
	ihold(buf->inode);
	buf->id = bdev->next_id++;
	buf->seq = bdev->next_seq++;
	kref_get(&bdev->kref);
	list_add_tail(&buf->node, &bdev->buffers);
	mutex_unlock(&bdev->lock);

	/* the initial name, before anyone else can reach the dma-buf */
	spin_lock(&dmabuf->name_lock);
	dmabuf->name = name;
	spin_unlock(&dmabuf->name_lock);

	trace_bar_dmabuf_export(buf);
	return dmabuf;

err_unlock:
	mutex_unlock(&bdev->lock);
	kfree(name);
err_free_phys:
	kfree(buf->phys);
err_free_buf:
	kfree(buf);
	return ERR_PTR(ret);
}
