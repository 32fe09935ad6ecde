// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf_importer: module entry, parameters, and the device the
 * simulated hardware is (a PCI function given by bdf=, or a software
 * platform device of its own).
 */
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/platform_device.h>

#include "compat.h"
#include "importer.h"

static char *imp_bdf;
module_param_named(bdf, imp_bdf, charp, 0444);
MODULE_PARM_DESC(bdf,
		 "PCI function (dddd:bb:dd.f) whose DMA and IOMMU setup the simulated hardware uses; it must be unbound. Empty: a software device of our own, which an exporter cannot prove to reach a BAR peer-to-peer");

unsigned int imp_fence_watchdog_ms = 20000;
module_param_named(fence_watchdog_ms, imp_fence_watchdog_ms, uint, 0644);
MODULE_PARM_DESC(fence_watchdog_ms,
		 "A held job's fence signals with -ETIME after this many ms, logged as a test failure (default 20000, at least 1)");

static bool imp_error_need_reset;
module_param_named(error_need_reset, imp_error_need_reset, bool, 0644);
MODULE_PARM_DESC(error_need_reset,
		 "In PCI error recovery, vote NEED_RESET even for a non-fatal error, as many NIC drivers do: the kernel then resets the whole bus below the port, every function on it included (default N)");

struct imp_counters imp_counters;
struct workqueue_struct *imp_wq;
/* PCI error recovery callbacks of our function (READ_LOG handle 0) */
struct imp_log imp_dev_log;

/* The device attachments are made for; set once at init. */
static struct device *imp_dev;
static struct pci_dev *imp_target;	/* bdf=: the function we bind */
static struct pci_dev *imp_pdev;	/* bdf=: set by a successful probe */
static struct platform_device *imp_swdev; /* no bdf=: our own device */

/**
 * imp_dma_device() - the device the simulated hardware does DMA as
 *
 * Return: the bound PCI function or the software device; valid from module
 * init to module exit.
 */
struct device *imp_dma_device(void)
{
	return imp_dev;
}

static int imp_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int ret;

	/* pci_add_dynid() matches every function of this vendor:device. */
	if (pdev != imp_target)
		return -ENODEV;

	ret = pci_enable_device(pdev);
	if (ret)
		return ret;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		goto err_disable;
	pci_set_master(pdev);
	pci_save_state(pdev);	/* what slot_reset puts back */
	imp_pdev = pdev;
	return 0;

err_disable:
	pci_disable_device(pdev);
	return ret;
}

static void imp_pci_remove(struct pci_dev *pdev)
{
	pci_clear_master(pdev);
	pci_disable_device(pdev);
	imp_pdev = NULL;
}

/*
 * PCI error recovery: log each callback in the device log. The vote is
 * that of a driver that can recover without a reset unless told
 * (error_need_reset); jobs submitted with UNTIL_RESUME finish in resume,
 * as on hardware that completes its work only once its link is back.
 */
static pci_ers_result_t imp_pci_error_detected(struct pci_dev *pdev,
					       pci_channel_state_t state)
{
	pci_ers_result_t vote = PCI_ERS_RESULT_CAN_RECOVER;

	if (state == pci_channel_io_perm_failure)
		vote = PCI_ERS_RESULT_DISCONNECT;
	else if (state == pci_channel_io_frozen ||
		 READ_ONCE(imp_error_need_reset))
		vote = PCI_ERS_RESULT_NEED_RESET;
	imp_log_event(&imp_dev_log, 0, BAR_DMABUF_IMP_EV_PCI_ERROR,
		      (__force u32)state, (__force s32)vote);
	return vote;
}

static pci_ers_result_t imp_pci_mmio_enabled(struct pci_dev *pdev)
{
	imp_log_event(&imp_dev_log, 0, BAR_DMABUF_IMP_EV_PCI_MMIO_ENABLED, 0,
		      0);
	return PCI_ERS_RESULT_RECOVERED;
}

static pci_ers_result_t imp_pci_slot_reset(struct pci_dev *pdev)
{
	pci_restore_state(pdev);
	pci_save_state(pdev);
	imp_log_event(&imp_dev_log, 0, BAR_DMABUF_IMP_EV_PCI_SLOT_RESET, 0, 0);
	return PCI_ERS_RESULT_RECOVERED;
}

static void imp_pci_resume(struct pci_dev *pdev)
{
	u32 n = imp_engine_resume();

	imp_log_event(&imp_dev_log, 0, BAR_DMABUF_IMP_EV_PCI_RESUME, n, 0);
}

static const struct pci_error_handlers imp_pci_err_handler = {
	.error_detected = imp_pci_error_detected,
	.mmio_enabled = imp_pci_mmio_enabled,
	.slot_reset = imp_pci_slot_reset,
	.resume = imp_pci_resume,
};

static struct pci_driver imp_pci_driver = {
	.name = IMP_NAME,
	.probe = imp_pci_probe,
	.remove = imp_pci_remove,
	.err_handler = &imp_pci_err_handler,
	/* Attachments use the device: no unbind behind our back. */
	.driver.suppress_bind_attrs = true,
};

static int imp_pci_init(void)
{
	unsigned int domain, bus, dev, fn;
	int ret;

	if (sscanf(imp_bdf, "%x:%x:%x.%x", &domain, &bus, &dev, &fn) != 4 ||
	    bus > 0xff || dev > 0x1f || fn > 7) {
		pr_err(IMP_NAME ": bdf=%s is not a PCI address; give it as dddd:bb:dd.f (see lspci -D)\n",
		       imp_bdf);
		return -EINVAL;
	}
	imp_target = pci_get_domain_bus_and_slot(domain, bus, PCI_DEVFN(dev, fn));
	if (!imp_target) {
		pr_err(IMP_NAME ": bdf=%s: no such PCI device (see lspci -D)\n",
		       imp_bdf);
		return -ENODEV;
	}
	if (imp_target->dev.driver) {
		pr_err(IMP_NAME ": %s is bound to driver %s; unbind it first (echo %s > /sys/bus/pci/devices/%s/driver/unbind)\n",
		       imp_bdf, imp_target->dev.driver->name, pci_name(imp_target),
		       pci_name(imp_target));
		ret = -EBUSY;
		goto err_put;
	}

	ret = pci_register_driver(&imp_pci_driver);
	if (ret)
		goto err_put;
	/* Match only this vendor:device, probe() picks the one function. */
	ret = pci_add_dynid(&imp_pci_driver, imp_target->vendor,
			    imp_target->device, PCI_ANY_ID, PCI_ANY_ID, 0, 0, 0);
	if (ret)
		goto err_unregister;
	if (!imp_pdev) {
		pr_err(IMP_NAME ": could not bind %s (bound elsewhere meanwhile, or it could not be enabled)\n",
		       imp_bdf);
		ret = -ENODEV;
		goto err_unregister;
	}
	imp_dev = &imp_pdev->dev;
	dev_info(imp_dev, "importer bound; DMA goes through this function\n");
	return 0;

err_unregister:
	pci_unregister_driver(&imp_pci_driver);
err_put:
	pci_dev_put(imp_target);
	imp_target = NULL;
	return ret;
}

static int imp_swdev_init(void)
{
	struct platform_device_info info = {
		.name = IMP_NAME,
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};

	imp_swdev = platform_device_register_full(&info);
	if (IS_ERR(imp_swdev))
		return PTR_ERR(imp_swdev);
	imp_dev = &imp_swdev->dev;
	dev_info(imp_dev, "importer uses a software device (no bdf=); exporters cannot prove P2P reachability for it\n");
	return 0;
}

/**
 * imp_device_init() - bind the PCI function of bdf=, or create our own device
 *
 * Return: 0 or a negative errno, after a message naming the problem.
 */
int imp_device_init(void)
{
	if (imp_bdf && *imp_bdf)
		return imp_pci_init();
	return imp_swdev_init();
}

/**
 * imp_device_exit() - undo imp_device_init()
 */
void imp_device_exit(void)
{
	if (imp_target) {
		pci_unregister_driver(&imp_pci_driver);
		pci_dev_put(imp_target);
		imp_target = NULL;
	} else {
		platform_device_unregister(imp_swdev);
	}
	imp_dev = NULL;
}

static int __init imp_init(void)
{
	int ret;

	if (!imp_fence_watchdog_ms) {
		pr_err(IMP_NAME ": fence_watchdog_ms must be at least 1\n");
		return -EINVAL;
	}
	ret = imp_log_init(&imp_dev_log);
	if (ret)
		return ret;
	imp_wq = alloc_workqueue("bar_dmabuf_imp", WQ_UNBOUND, 0);
	if (!imp_wq) {
		ret = -ENOMEM;
		goto err_log;
	}
	ret = imp_device_init();
	if (ret)
		goto err_wq;
	ret = imp_cdev_init();
	if (ret)
		goto err_device;
	return 0;

err_device:
	imp_device_exit();
err_wq:
	destroy_workqueue(imp_wq);
err_log:
	imp_log_fini(&imp_dev_log);
	return ret;
}

static void __exit imp_exit(void)
{
	/* No file is open (each holds a module reference): nothing runs. */
	imp_cdev_exit();
	imp_device_exit();
	destroy_workqueue(imp_wq);
	imp_log_fini(&imp_dev_log);
}

module_init(imp_init);
module_exit(imp_exit);

MODULE_DESCRIPTION("Test importer simulating asynchronous DMA hardware on revocable dma-bufs (unstable uapi)");
MODULE_LICENSE("GPL");
BAR_DMABUF_COMPAT_IMPORT_NS_DMA_BUF();
