// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: /sys/kernel/debug/bar_dmabuf/<bdf>/buffers, one block per
 * buffer: ranges, revoked state, attachments (importer device, live
 * mappings, pins), live mapping count, a pending revoke and how long it
 * has waited, and (rule 8) what it waits for.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "bar_dmabuf.h"

static struct dentry *bar_dmabuf_debugfs_root;

static const char *bar_dmabuf_path_name(enum bar_dmabuf_path path)
{
	return path == BAR_DMABUF_PATH_HELPER ? "p2p-helper" :
						"dma_map_resource";
}

static const char *bar_dmabuf_route_name(enum bar_dmabuf_route route)
{
	return route == BAR_DMABUF_ROUTE_SWITCH ? "switch" :
	       route == BAR_DMABUF_ROUTE_HOST_BRIDGE ? "host bridge" :
						       "unproven";
}

static void bar_dmabuf_debugfs_buf(struct seq_file *s,
				   struct bar_dmabuf_buf *buf)
{
	struct bar_dmabuf_attach *battach;
	u32 i;

	lockdep_assert_held(&buf->bdev->lock);

	seq_printf(s, "buffer %u: bar %u size %zu inode %llu %s%s\n", buf->id,
		   buf->bar, buf->size,
		   (unsigned long long)buf->inode->i_ino,
		   buf->dead ? "dead" : buf->revoked ? "revoked" : "live",
		   buf->revoked_by_reset ? " (by reset)" : "");
	for (i = 0; i < buf->nr_ranges; i++)
		seq_printf(s, "  range %u: phys %pa length %zu\n", i,
			   &buf->phys[i].paddr, buf->phys[i].len);
	seq_printf(s, "  live mappings: %d\n", atomic_read(&buf->live_maps));
	if (buf->revoke_waiters || buf->revoke_incomplete)
		seq_printf(s, "  revoke %s: %u waiter(s), started %lld ms ago\n",
			   buf->revoke_waiters ? "waiting" : "timed out",
			   buf->revoke_waiters,
			   ktime_ms_delta(ktime_get(), buf->revoke_start));

	spin_lock(&buf->alock);
	list_for_each_entry(battach, &buf->attachments, node) {
		struct device *dev = battach->attach->dev;
		int maps = atomic_read(&battach->nr_maps);

		seq_printf(s, "  attachment %s (%s): %s, %d mapping(s), %d pin(s), route %s%s\n",
			   dev_name(dev), dev_driver_string(dev),
			   bar_dmabuf_path_name(battach->path), maps,
			   atomic_read(&battach->nr_pins),
			   bar_dmabuf_route_name(battach->route),
			   maps && buf->revoked ? " <- stuck" : "");
	}
	spin_unlock(&buf->alock);

	if (buf->revoked)
		bar_dmabuf_describe_stuck(s, buf);
}

static int bar_dmabuf_debugfs_show(struct seq_file *s, void *unused)
{
	struct bar_dmabuf_dev *bdev = s->private;
	struct bar_dmabuf_buf *buf;

	mutex_lock(&bdev->lock);
	seq_printf(s, "device %s%s%s\n", bdev->name,
		   bdev->gone ? " (gone)" : "",
		   bdev->failed ? " (error recovery failed)" :
		   bdev->resetting ? " (resetting)" : "");
	list_for_each_entry(buf, &bdev->buffers, node)
		bar_dmabuf_debugfs_buf(s, buf);
	mutex_unlock(&bdev->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bar_dmabuf_debugfs);

/**
 * bar_dmabuf_debugfs_add() - create bar_dmabuf/<bdf>/buffers
 * @bdev: the device
 *
 * debugfs failures are not errors; the files are just absent.
 */
void bar_dmabuf_debugfs_add(struct bar_dmabuf_dev *bdev)
{
	bdev->debugfs = debugfs_create_dir(bdev->name, bar_dmabuf_debugfs_root);
	debugfs_create_file("buffers", 0400, bdev->debugfs, bdev,
			    &bar_dmabuf_debugfs_fops);
}

/**
 * bar_dmabuf_debugfs_remove() - remove bar_dmabuf/<bdf>/
 * @bdev: the device
 *
 * Waits for readers of the file to finish.
 */
void bar_dmabuf_debugfs_remove(struct bar_dmabuf_dev *bdev)
{
	debugfs_remove_recursive(bdev->debugfs);
	bdev->debugfs = NULL;
}

/**
 * bar_dmabuf_debugfs_init() - create /sys/kernel/debug/bar_dmabuf/
 */
void bar_dmabuf_debugfs_init(void)
{
	bar_dmabuf_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

/**
 * bar_dmabuf_debugfs_exit() - remove it
 */
void bar_dmabuf_debugfs_exit(void)
{
	debugfs_remove_recursive(bar_dmabuf_debugfs_root);
}
