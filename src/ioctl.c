// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: the per-device control node /dev/bar_dmabuf/<bdf> and its
 * ioctls (include/uapi/linux/bar_dmabuf.h). One helper per ioctl.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/dma-buf.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "bar_dmabuf.h"

/*
 * Read a command struct: the first u32 is the size userspace knows.
 * Shorter (older) structs are zero-extended, longer ones must have zeros
 * past what we know (-E2BIG otherwise). Over 4 KiB is -E2BIG at once, as
 * for clone3() and openat2(): the zero check would otherwise walk up to
 * 4 GiB of user memory.
 */
static int bar_dmabuf_copy_in(void *karg, size_t ksize, size_t minsize,
			      void __user *uarg, u32 *usize)
{
	int ret;

	if (get_user(*usize, (u32 __user *)uarg))
		return -EFAULT;
	if (*usize < minsize)
		return -EINVAL;
	if (*usize > SZ_4K)
		return -E2BIG;
	ret = copy_struct_from_user(karg, ksize, uarg, *usize);
	if (ret)
		return ret;
	return 0;
}

/* Copy the kernel's struct back, no more than userspace's size. */
static int bar_dmabuf_copy_out(void __user *uarg, u32 usize, const void *karg,
			       size_t ksize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, usize, ksize)))
		return -EFAULT;
	return 0;
}

/* mutating commands: root, or whoever the admin let open it for writing */
static bool bar_dmabuf_may_change(struct file *file)
{
	return (file->f_mode & FMODE_WRITE) || capable(CAP_SYS_ADMIN);
}

static int bar_dmabuf_ioctl_info(struct bar_dmabuf_dev *bdev,
				 void __user *uarg)
{
	struct pci_dev *pdev = bdev->pdev;
	struct bar_dmabuf_info info;
	u32 usize;
	int i, ret;

	ret = bar_dmabuf_copy_in(&info, sizeof(info),
				 offsetofend(struct bar_dmabuf_info, flags),
				 uarg, &usize);
	if (ret)
		return ret;
	if (info.flags)
		return -EINVAL;

	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	info.out_num_bars = BAR_DMABUF_NUM_BARS;
	info.out_vendor = pdev->vendor;
	info.out_device = pdev->device;
	info.out_domain = pci_domain_nr(pdev->bus);
	info.out_bdf = (info.out_domain & 0xffff) << 16 |
		       pdev->bus->number << 8 | pdev->devfn;
	info.out_default_timeout_ms = bar_dmabuf_default_timeout_ms();
	for (i = 0; i < BAR_DMABUF_NUM_BARS; i++) {
		unsigned long fl = pci_resource_flags(pdev, i);
		struct bar_dmabuf_bar *bar = &info.out_bars[i];

		bar->index = i;
		if (!pci_resource_len(pdev, i))
			continue;
		bar->size = pci_resource_len(pdev, i);
		if (fl & IORESOURCE_IO)
			bar->flags |= BAR_DMABUF_BAR_IO;
		if (fl & IORESOURCE_MEM)
			bar->flags |= BAR_DMABUF_BAR_MEM;
		if (fl & IORESOURCE_PREFETCH)
			bar->flags |= BAR_DMABUF_BAR_PREFETCH;
		if (fl & IORESOURCE_MEM_64)
			bar->flags |= BAR_DMABUF_BAR_64BIT;
		if (bdev->wc[i])
			bar->flags |= BAR_DMABUF_BAR_WC;
	}
	return bar_dmabuf_copy_out(uarg, usize, &info, sizeof(info));
}

static int bar_dmabuf_ioctl_export(struct bar_dmabuf_dev *bdev,
				   void __user *uarg)
{
	struct bar_dmabuf_range *ranges;
	struct bar_dmabuf_export req;
	struct dma_buf *dmabuf;
	u32 usize;
	int fd, ret;

	ret = bar_dmabuf_copy_in(&req, sizeof(req),
				 offsetofend(struct bar_dmabuf_export, reserved),
				 uarg, &usize);
	if (ret)
		return ret;
	if (req.flags || req.reserved)
		return -EINVAL;
	if (req.open_flags & ~(O_CLOEXEC | O_RDWR))
		return -EINVAL;
	if (!req.nr_ranges || req.nr_ranges > BAR_DMABUF_MAX_RANGES)
		return -EINVAL;

	ranges = memdup_user(u64_to_user_ptr(req.ranges_ptr),
			     array_size(req.nr_ranges, sizeof(*ranges)));
	if (IS_ERR(ranges))
		return PTR_ERR(ranges);

	dmabuf = bar_dmabuf_export(bdev, &req, ranges);
	kfree(ranges);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);

	/*
	 * Reserve the fd, write the answer, and only then install it: an
	 * answer that faults (a read-only page) leaves no fd behind, and
	 * the buffer goes with the last reference.
	 */
	fd = get_unused_fd_flags(req.open_flags & O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto err_put;
	}
	req.out_fd = fd;
	req.out_length = dmabuf->size;
	ret = bar_dmabuf_copy_out(uarg, usize, &req, sizeof(req));
	if (ret)
		goto err_put_fd;
	fd_install(fd, dmabuf->file);
	return 0;

err_put_fd:
	put_unused_fd(fd);
err_put:
	dma_buf_put(dmabuf);
	return ret;
}

/*
 * Find the buffer behind @fd and check it belongs to @bdev. A dead buffer
 * (its device went away) answers -ENODEV whichever node is asked.
 */
static int bar_dmabuf_lookup(struct bar_dmabuf_dev *bdev, int fd,
			     struct bar_dmabuf_buf **out, struct dma_buf **dmabuf)
{
	struct bar_dmabuf_buf *buf;

	buf = bar_dmabuf_buf_from_fd(fd, dmabuf);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	if (buf->bdev != bdev) {
		int ret = READ_ONCE(buf->dead) ? -ENODEV : -EINVAL;

		dma_buf_put(*dmabuf);
		return ret;
	}
	*out = buf;
	return 0;
}

static int bar_dmabuf_ioctl_revoke(struct bar_dmabuf_dev *bdev,
				   void __user *uarg)
{
	struct bar_dmabuf_revoke req;
	struct bar_dmabuf_buf *buf;
	struct dma_buf *dmabuf;
	unsigned int timeout;
	u32 usize;
	int ret;

	ret = bar_dmabuf_copy_in(&req, sizeof(req),
				 offsetofend(struct bar_dmabuf_revoke, reserved),
				 uarg, &usize);
	if (ret)
		return ret;
	if (req.flags & ~BAR_DMABUF_ALL_BUFFERS || req.reserved)
		return -EINVAL;
	timeout = req.timeout_ms ?: bar_dmabuf_default_timeout_ms();

	req.out_nr_buffers = 0;
	if (req.flags & BAR_DMABUF_ALL_BUFFERS) {
		if (req.fd != -1)
			return -EINVAL;
		ret = bar_dmabuf_revoke_all(bdev, BAR_DMABUF_WHY_IOCTL, timeout,
					    BAR_DMABUF_SEQ_NOW,
					    &req.out_nr_buffers);
	} else {
		ret = bar_dmabuf_lookup(bdev, req.fd, &buf, &dmabuf);
		if (ret)
			return ret;
		ret = bar_dmabuf_revoke_one(buf, timeout);
		req.out_nr_buffers = 1;
		dma_buf_put(dmabuf);
	}
	if (ret && ret != -ETIMEDOUT)
		return ret;
	if (bar_dmabuf_copy_out(uarg, usize, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}

static int bar_dmabuf_ioctl_restore(struct bar_dmabuf_dev *bdev,
				    void __user *uarg)
{
	struct bar_dmabuf_restore req;
	struct bar_dmabuf_buf *buf;
	struct dma_buf *dmabuf;
	u32 usize;
	int ret;

	ret = bar_dmabuf_copy_in(&req, sizeof(req),
				 offsetofend(struct bar_dmabuf_restore, fd),
				 uarg, &usize);
	if (ret)
		return ret;
	if (req.flags & ~BAR_DMABUF_ALL_BUFFERS)
		return -EINVAL;

	req.out_nr_buffers = 0;
	if (req.flags & BAR_DMABUF_ALL_BUFFERS) {
		if (req.fd != -1)
			return -EINVAL;
		ret = bar_dmabuf_restore_all(bdev, false, &req.out_nr_buffers);
	} else {
		ret = bar_dmabuf_lookup(bdev, req.fd, &buf, &dmabuf);
		if (ret)
			return ret;
		ret = bar_dmabuf_restore_one(buf);
		dma_buf_put(dmabuf);
		if (ret > 0) {
			req.out_nr_buffers = ret;
			ret = 0;
		}
	}
	if (ret)
		return ret;
	return bar_dmabuf_copy_out(uarg, usize, &req, sizeof(req));
}

static struct bar_dmabuf_dev *bar_dmabuf_file_dev(struct file *file)
{
	return file->private_data;
}

static long bar_dmabuf_node_ioctl(struct file *file, unsigned int cmd,
				  unsigned long arg)
{
	struct bar_dmabuf_dev *bdev = bar_dmabuf_file_dev(file);
	void __user *uarg = (void __user *)arg;
	bool gone;

	mutex_lock(&bdev->lock);
	gone = bdev->gone;
	mutex_unlock(&bdev->lock);
	if (gone)
		return -ENODEV;

	switch (cmd) {
	case BAR_DMABUF_IOCTL_INFO:
		return bar_dmabuf_ioctl_info(bdev, uarg);
	case BAR_DMABUF_IOCTL_EXPORT:
		if (!bar_dmabuf_may_change(file))
			return -EPERM;
		return bar_dmabuf_ioctl_export(bdev, uarg);
	case BAR_DMABUF_IOCTL_REVOKE:
		if (!bar_dmabuf_may_change(file))
			return -EPERM;
		return bar_dmabuf_ioctl_revoke(bdev, uarg);
	case BAR_DMABUF_IOCTL_RESTORE:
		if (!bar_dmabuf_may_change(file))
			return -EPERM;
		return bar_dmabuf_ioctl_restore(bdev, uarg);
	default:
		return -ENOTTY;
	}
}

/* misc_open() holds misc_mtx and set private_data to our miscdevice */
static int bar_dmabuf_node_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct bar_dmabuf_dev *bdev =
		container_of(misc, struct bar_dmabuf_dev, misc);

	kref_get(&bdev->kref);
	mutex_lock(&bdev->lock);
	bdev->open_count++;
	mutex_unlock(&bdev->lock);
	file->private_data = bdev;
	return 0;
}

/*
 * The last close of the node revokes every buffer of the device (rule 10)
 * that existed when it began: one exported by someone who opened the node
 * after that is theirs. The wait is bounded by revoke_timeout_ms and ends
 * at once for a killed process (the buffers stay revoked either way).
 */
static int bar_dmabuf_node_release(struct inode *inode, struct file *file)
{
	struct bar_dmabuf_dev *bdev = bar_dmabuf_file_dev(file);
	u64 end_seq;
	bool last;

	mutex_lock(&bdev->lock);
	last = !--bdev->open_count && !bdev->gone;
	end_seq = bdev->next_seq;
	mutex_unlock(&bdev->lock);

	if (last)
		bar_dmabuf_revoke_all(bdev, BAR_DMABUF_WHY_CLOSE,
				      bar_dmabuf_default_timeout_ms(),
				      end_seq, NULL);
	bar_dmabuf_dev_put(bdev);
	return 0;
}

static const struct file_operations bar_dmabuf_node_fops = {
	.owner = THIS_MODULE,
	.open = bar_dmabuf_node_open,
	.release = bar_dmabuf_node_release,
	.unlocked_ioctl = bar_dmabuf_node_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * bar_dmabuf_node_register() - create /dev/bar_dmabuf/<bdf>
 * @bdev: the device
 *
 * Return: 0 or a negative errno.
 */
int bar_dmabuf_node_register(struct bar_dmabuf_dev *bdev)
{
	int ret;

	snprintf(bdev->misc_name, sizeof(bdev->misc_name), "bar_dmabuf!%s",
		 bdev->name);
	bdev->misc.minor = MISC_DYNAMIC_MINOR;
	bdev->misc.name = bdev->misc_name;
	bdev->misc.fops = &bar_dmabuf_node_fops;
	bdev->misc.mode = 0600;
	bdev->misc.parent = &bdev->pdev->dev;
	ret = misc_register(&bdev->misc);
	if (ret)
		pci_err(bdev->pdev, "cannot create the control node (%d)\n",
			ret);
	return ret;
}

/**
 * bar_dmabuf_node_unregister() - remove the node; no new opens after this
 * @bdev: the device
 *
 * Files already open keep their &bar_dmabuf_dev reference and get -ENODEV.
 */
void bar_dmabuf_node_unregister(struct bar_dmabuf_dev *bdev)
{
	misc_deregister(&bdev->misc);
}
