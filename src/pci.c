// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: binding to the functions named by bdf=, and the ways out that
 * come from the PCI core: unbind, hot-unplug, module unload (all through
 * remove) and a function reset (reset_prepare/reset_done).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>

#include "bar_dmabuf.h"

static struct pci_driver bar_dmabuf_pci_driver;

static bool bar_dmabuf_pci_has_mem_bar(struct pci_dev *pdev)
{
	int i;

	for (i = 0; i < PCI_STD_NUM_BARS; i++)
		if ((pci_resource_flags(pdev, i) & IORESOURCE_MEM) &&
		    pci_resource_len(pdev, i))
			return true;
	return false;
}

static void bar_dmabuf_dev_free(struct kref *kref)
{
	struct bar_dmabuf_dev *bdev =
		container_of(kref, struct bar_dmabuf_dev, kref);

	WARN_ON_ONCE(!list_empty(&bdev->buffers));
	mutex_destroy(&bdev->lock);
	pci_dev_put(bdev->pdev);
	kfree(bdev);
}

/**
 * bar_dmabuf_dev_put() - drop a reference on a device
 * @bdev: the device
 *
 * The last reference frees it (see &struct bar_dmabuf_dev.kref).
 */
void bar_dmabuf_dev_put(struct bar_dmabuf_dev *bdev)
{
	kref_put(&bdev->kref, bar_dmabuf_dev_free);
}

static void bar_dmabuf_pci_init_p2p(struct bar_dmabuf_dev *bdev)
{
	struct pci_dev *pdev = bdev->pdev;
	int i;

	/* devres: released after remove() has waited for every unmap */
	if (bar_dmabuf_compat_p2p_init(pdev))
		return;
	for (i = 0; i < PCI_STD_NUM_BARS; i++)
		if (pci_resource_flags(pdev, i) & IORESOURCE_MEM)
			bdev->providers[i] =
				bar_dmabuf_compat_p2p_provider(pdev, i);
}

/*
 * Write-combined CPU mappings of the prefetchable BARs. On x86 with PAT a
 * PFN inserted into a user mapping gets the memory type reserved for its
 * range, uncached if none, whatever the VMA asks for: so reserve WC for
 * the whole BAR here, as GPU drivers do for their apertures. If the range
 * is already held with another type the BAR stays uncached, and we say so.
 */
static void bar_dmabuf_pci_init_wc(struct bar_dmabuf_dev *bdev)
{
	struct pci_dev *pdev = bdev->pdev;
	resource_size_t start, len;
	int i, ret;

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		start = pci_resource_start(pdev, i);
		len = pci_resource_len(pdev, i);
		if (!(pci_resource_flags(pdev, i) & IORESOURCE_PREFETCH) ||
		    !len || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(len))
			continue;
		ret = arch_io_reserve_memtype_wc(start, len);
		if (ret) {
			pci_info(pdev, "BAR %d: cannot reserve write-combining (%d); its CPU mappings are uncached\n",
				 i, ret);
			continue;
		}
		bdev->wc_mtrr[i] = arch_phys_wc_add(start, len);
		bdev->wc[i] = true;
	}
}

/* After remove has waited for every mapping of the BARs. */
static void bar_dmabuf_pci_fini_wc(struct bar_dmabuf_dev *bdev)
{
	struct pci_dev *pdev = bdev->pdev;
	int i;

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		if (!bdev->wc[i])
			continue;
		arch_phys_wc_del(bdev->wc_mtrr[i]);
		arch_io_free_memtype_wc(pci_resource_start(pdev, i),
					pci_resource_len(pdev, i));
	}
}

static int bar_dmabuf_pci_probe(struct pci_dev *pdev,
				const struct pci_device_id *id)
{
	struct bar_dmabuf_dev *bdev;
	int ret;

	/* the id table matches every function; only bdf= ones are ours */
	if (!bar_dmabuf_bdf_listed(pdev))
		return -ENODEV;

	if (!bar_dmabuf_pci_has_mem_bar(pdev)) {
		pci_err(pdev, "has no memory BAR to export; check bdf= (lspci -v shows the BARs)\n");
		return -ENODEV;
	}

	bdev = bar_dmabuf_compat_zalloc(*bdev);
	if (!bdev)
		return -ENOMEM;
	kref_init(&bdev->kref);
	mutex_init(&bdev->lock);
	INIT_LIST_HEAD(&bdev->buffers);
	bdev->pdev = pci_dev_get(pdev);
	strscpy(bdev->name, pci_name(pdev), sizeof(bdev->name));

	ret = pci_enable_device_mem(pdev);
	if (ret) {
		pci_err(pdev, "cannot enable memory decoding (%d)\n", ret);
		goto err_put;
	}
	ret = pci_request_mem_regions(pdev, KBUILD_MODNAME);
	if (ret) {
		pci_err(pdev, "memory BARs are claimed by someone else (%d); see /proc/iomem\n",
			ret);
		goto err_disable;
	}
	bar_dmabuf_pci_init_p2p(bdev);
	bar_dmabuf_pci_init_wc(bdev);
	pci_set_drvdata(pdev, bdev);
	bar_dmabuf_debugfs_add(bdev);

	ret = bar_dmabuf_node_register(bdev);
	if (ret)
		goto err_debugfs;

	/* what slot_reset restores after an error recovery reset */
	pci_save_state(pdev);
	pci_info(pdev, "bound; control node /dev/bar_dmabuf/%s\n", bdev->name);
	return 0;

err_debugfs:
	bar_dmabuf_debugfs_remove(bdev);
	pci_set_drvdata(pdev, NULL);
	bar_dmabuf_pci_fini_wc(bdev);
	pci_release_mem_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_put:
	bar_dmabuf_dev_put(bdev);
	return ret;
}

/*
 * Unbind, hot-unplug and module unload all end here (rule 10). The buffers
 * become dead for good; the BAR is not given back to the PCI core before
 * every fence has signalled and every mapping is unmapped, however long
 * that takes (rule 8: it warns periodically).
 */
static void bar_dmabuf_pci_remove(struct pci_dev *pdev)
{
	struct bar_dmabuf_dev *bdev = pci_get_drvdata(pdev);

	mutex_lock(&bdev->lock);
	bdev->gone = true;
	mutex_unlock(&bdev->lock);

	bar_dmabuf_node_unregister(bdev);
	bar_dmabuf_revoke_all(bdev, BAR_DMABUF_WHY_REMOVE, 0,
			      BAR_DMABUF_SEQ_NOW, NULL);
	bar_dmabuf_debugfs_remove(bdev);

	pci_set_drvdata(pdev, NULL);
	bar_dmabuf_pci_fini_wc(bdev);
	pci_release_mem_regions(pdev);
	pci_disable_device(pdev);
	pci_info(pdev, "unbound\n");
	bar_dmabuf_dev_put(bdev);
}

/* Before a function reset: revoke everything and wait (forever). */
static void bar_dmabuf_pci_reset_prepare(struct pci_dev *pdev)
{
	struct bar_dmabuf_dev *bdev = pci_get_drvdata(pdev);

	mutex_lock(&bdev->lock);
	bdev->resetting = true;
	mutex_unlock(&bdev->lock);

	bar_dmabuf_revoke_all(bdev, BAR_DMABUF_WHY_RESET, 0,
			      BAR_DMABUF_SEQ_NOW, NULL);
}

/*
 * After it: give back what reset_prepare took, nothing else. And save the
 * config space again for error recovery's slot_reset: before 6.12 (seen on
 * 6.1) the core's pci_restore_state() after a function reset drops the
 * saved copy, and restoring nothing leaves the BARs unassigned.
 */
static void bar_dmabuf_pci_reset_done(struct pci_dev *pdev)
{
	struct bar_dmabuf_dev *bdev = pci_get_drvdata(pdev);

	pci_save_state(pdev);

	mutex_lock(&bdev->lock);
	bdev->resetting = false;
	bdev->recovering = false;
	mutex_unlock(&bdev->lock);

	bar_dmabuf_restore_all(bdev, true, NULL);
}

/*
 * PCI error recovery (AER, DPC). Whatever the channel state, the kernel
 * may reset our device: a sibling below the same port that votes
 * NEED_RESET resets the whole secondary bus, ours included, and then
 * calls our slot_reset whatever we voted. So every error_detected revokes
 * (rules 1-3 at once), and resume gives back what the recovery took, after
 * a reset (slot_reset) or none (mmio_enabled).
 *
 * The wait is bounded (rule 8's exception): the AER/DPC thread holds each
 * device's lock in turn while it walks the subtree, and an importer below
 * the same port may finish its jobs only in its own recovery callbacks;
 * waiting for it here would hang the whole hierarchy's recovery. With DPC
 * the link is down already. The DMA addresses stay valid regardless
 * (rule 5); a revoke that timed out is named in the log.
 *
 * A permanent failure (reported at the start, or, on kernels that tell
 * drivers of a failed recovery as 7.2 does, at its end) leaves the buffers
 * revoked and the device dead for EXPORT and RESTORE (-ENODEV) until a
 * later recovery succeeds or the device is bound again. A kernel that
 * does not tell (6.1, 6.12) leaves it resetting (-EBUSY, and RESTORE says
 * why in the log) until a function reset (sysfs reset: reset_done gives
 * the buffers back) or a rebind.
 */
static pci_ers_result_t bar_dmabuf_pci_error_detected(struct pci_dev *pdev,
						      pci_channel_state_t state)
{
	struct bar_dmabuf_dev *bdev = pci_get_drvdata(pdev);
	bool failed = state == pci_channel_io_perm_failure;

	pci_info(pdev, "PCI error recovery (%s): revoking every buffer\n",
		 state == pci_channel_io_normal ? "non-fatal" :
		 state == pci_channel_io_frozen ? "frozen" : "permanent failure");
	mutex_lock(&bdev->lock);
	bdev->resetting = true;
	bdev->recovering = true;
	if (failed)
		bdev->failed = true;
	mutex_unlock(&bdev->lock);

	bar_dmabuf_revoke_all(bdev, BAR_DMABUF_WHY_RECOVERY,
			      bar_dmabuf_default_timeout_ms(),
			      BAR_DMABUF_SEQ_NOW, NULL);
	if (failed) {
		pci_warn(pdev, "PCI error recovery failed: buffers stay revoked; rebind the device (unbind, bind) to use it again\n");
		return PCI_ERS_RESULT_DISCONNECT;
	}
	return state == pci_channel_io_normal ? PCI_ERS_RESULT_CAN_RECOVER :
						PCI_ERS_RESULT_NEED_RESET;
}

/* No reset came: the config space is as it was. resume gives back. */
static pci_ers_result_t bar_dmabuf_pci_mmio_enabled(struct pci_dev *pdev)
{
	return PCI_ERS_RESULT_RECOVERED;
}

/*
 * The link was reset: the function's config space is back to defaults.
 * Recovered only if the function answers as itself (a VF's vendor id
 * reads 0xffff by spec: pci_device_is_present() asks its PF).
 */
static pci_ers_result_t bar_dmabuf_pci_slot_reset(struct pci_dev *pdev)
{
	u16 vendor = pdev->vendor;

	if (!pdev->is_virtfn &&
	    pci_read_config_word(pdev, PCI_VENDOR_ID, &vendor))
		vendor = 0xffff;
	if (!pci_device_is_present(pdev) || vendor != pdev->vendor) {
		pci_warn(pdev, "does not answer after the reset (vendor id %04x); recovery fails\n",
			 vendor);
		return PCI_ERS_RESULT_DISCONNECT;
	}
	pci_restore_state(pdev);	/* resume saves it again (reset_done) */
	return PCI_ERS_RESULT_RECOVERED;
}

static void bar_dmabuf_pci_resume(struct pci_dev *pdev)
{
	struct bar_dmabuf_dev *bdev = pci_get_drvdata(pdev);

	pci_info(pdev, "PCI error recovery done: restoring the buffers it revoked\n");
	mutex_lock(&bdev->lock);
	bdev->failed = false;
	mutex_unlock(&bdev->lock);
	bar_dmabuf_pci_reset_done(pdev);
}

static const struct pci_error_handlers bar_dmabuf_pci_err_handler = {
	.error_detected = bar_dmabuf_pci_error_detected,
	.mmio_enabled = bar_dmabuf_pci_mmio_enabled,
	.slot_reset = bar_dmabuf_pci_slot_reset,
	.resume = bar_dmabuf_pci_resume,
	.reset_prepare = bar_dmabuf_pci_reset_prepare,
	.reset_done = bar_dmabuf_pci_reset_done,
};

/*
 * Every function matches; probe declines all but those named by bdf=.
 * No MODULE_DEVICE_TABLE: the module is never autoloaded.
 */
static const struct pci_device_id bar_dmabuf_pci_ids[] = {
	{ PCI_DEVICE(PCI_ANY_ID, PCI_ANY_ID) },
	{ }
};

static struct pci_driver bar_dmabuf_pci_driver = {
	.name = KBUILD_MODNAME,
	.id_table = bar_dmabuf_pci_ids,
	.probe = bar_dmabuf_pci_probe,
	.remove = bar_dmabuf_pci_remove,
	.err_handler = &bar_dmabuf_pci_err_handler,
};

/* Before registering: say exactly why a listed function can't be ours. */
static int bar_dmabuf_pci_check(unsigned int i)
{
	struct device_driver *drv;
	struct pci_dev *pdev;
	char name[BAR_DMABUF_BDF_LEN];
	int ret = 0;

	bar_dmabuf_bdf_format(i, name, sizeof(name));
	pdev = bar_dmabuf_bdf_get(i);
	if (!pdev) {
		pr_err("%s: no such PCI device; check bdf= against lspci -D\n",
		       name);
		return -ENODEV;
	}
	drv = READ_ONCE(pdev->dev.driver);
	if (!bar_dmabuf_pci_has_mem_bar(pdev)) {
		pr_err("%s: has no memory BAR to export; check bdf= (lspci -v -s %s)\n",
		       name, name);
		ret = -ENODEV;
	} else if (drv) {
		pr_err("%s: is bound to driver %s; release it first: echo %s > /sys/bus/pci/drivers/%s/unbind\n",
		       name, drv->name, name, drv->name);
		ret = -EBUSY;
	}
	pci_dev_put(pdev);
	return ret;
}

/**
 * bar_dmabuf_pci_register() - bind every function of bdf=
 *
 * Refuses (and binds nothing) unless every listed function exists, has a
 * memory BAR, is free, and then binds.
 *
 * Return: 0 or a negative errno, after a message saying what to do.
 */
int bar_dmabuf_pci_register(void)
{
	unsigned int i, n = bar_dmabuf_bdf_count();
	int ret;

	for (i = 0; i < n; i++) {
		ret = bar_dmabuf_pci_check(i);
		if (ret)
			return ret;
	}

	ret = pci_register_driver(&bar_dmabuf_pci_driver);
	if (ret)
		return ret;

	for (i = 0; i < n; i++) {
		struct pci_dev *pdev = bar_dmabuf_bdf_get(i);
		bool bound = pdev && READ_ONCE(pdev->dev.driver) ==
				     &bar_dmabuf_pci_driver.driver;
		char name[BAR_DMABUF_BDF_LEN];

		pci_dev_put(pdev);
		if (!bound) {
			bar_dmabuf_bdf_format(i, name, sizeof(name));
			pr_err("%s: could not bind (see the messages above); nothing was loaded\n",
			       name);
			pci_unregister_driver(&bar_dmabuf_pci_driver);
			return -ENODEV;
		}
	}
	return 0;
}

/**
 * bar_dmabuf_pci_unregister() - unbind everything (module unload)
 */
void bar_dmabuf_pci_unregister(void)
{
	pci_unregister_driver(&bar_dmabuf_pci_driver);
}
