// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: module entry, parameters and the bdf= list.
 *
 * Exports ranges of a PCI device's memory BARs as dma-bufs whose importers
 * can be revoked; see the revoke protocol in the project documentation.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>

#include "bar_dmabuf.h"

static char *bdf;
module_param(bdf, charp, 0444);
MODULE_PARM_DESC(bdf,
		 "PCI function(s) to export, comma separated, as DDDD:BB:DD.F (lspci -D); required");

unsigned int bar_dmabuf_revoke_timeout_ms = 10000;
module_param_named(revoke_timeout_ms, bar_dmabuf_revoke_timeout_ms, uint,
		   0644);
MODULE_PARM_DESC(revoke_timeout_ms,
		 "Longest wait of a revoke asked for with timeout 0, and the warning period of removal and reset (ms, default 10000)");

bool bar_dmabuf_allow_unproven_p2p;
module_param_named(allow_unproven_p2p, bar_dmabuf_allow_unproven_p2p, bool,
		   0644);
MODULE_PARM_DESC(allow_unproven_p2p,
		 "Accept importers whose P2P path to the BAR the kernel cannot prove (no CONFIG_PCI_P2PDMA, host bridge not on the P2P list, non-PCI importer); mapped with dma_map_resource (default N)");

/**
 * bar_dmabuf_default_timeout_ms() - the revoke timeout used for "0"
 *
 * Return: revoke_timeout_ms, at least 1.
 */
unsigned int bar_dmabuf_default_timeout_ms(void)
{
	return max(READ_ONCE(bar_dmabuf_revoke_timeout_ms), 1U);
}

struct bar_dmabuf_bdf {
	u32 domain;
	u32 bus;
	u32 devfn;
};

static struct bar_dmabuf_bdf bar_dmabuf_bdfs[BAR_DMABUF_MAX_DEVICES];
static unsigned int bar_dmabuf_nr_bdfs;

/**
 * bar_dmabuf_bdf_listed() - is this PCI function named by bdf=?
 * @pdev: the function
 *
 * Return: true if it is.
 */
bool bar_dmabuf_bdf_listed(struct pci_dev *pdev)
{
	unsigned int i;

	for (i = 0; i < bar_dmabuf_nr_bdfs; i++) {
		const struct bar_dmabuf_bdf *b = &bar_dmabuf_bdfs[i];

		if (b->domain == pci_domain_nr(pdev->bus) &&
		    b->bus == pdev->bus->number && b->devfn == pdev->devfn)
			return true;
	}
	return false;
}

/**
 * bar_dmabuf_bdf_get() - look up the Nth function of bdf=
 * @i: index
 *
 * Return: a referenced pci_dev (pci_dev_put() it) or NULL if absent.
 */
struct pci_dev *bar_dmabuf_bdf_get(unsigned int i)
{
	const struct bar_dmabuf_bdf *b = &bar_dmabuf_bdfs[i];

	return pci_get_domain_bus_and_slot(b->domain, b->bus, b->devfn);
}

/**
 * bar_dmabuf_bdf_count() - number of functions in bdf=
 *
 * Return: the count.
 */
unsigned int bar_dmabuf_bdf_count(void)
{
	return bar_dmabuf_nr_bdfs;
}

/**
 * bar_dmabuf_bdf_format() - print the Nth entry of bdf=
 * @i: index
 * @buf: output
 * @len: size of @buf
 */
void bar_dmabuf_bdf_format(unsigned int i, char *buf, size_t len)
{
	const struct bar_dmabuf_bdf *b = &bar_dmabuf_bdfs[i];

	snprintf(buf, len, "%04x:%02x:%02x.%x", b->domain, b->bus,
		 PCI_SLOT(b->devfn), PCI_FUNC(b->devfn));
}

/* "DDDD:BB:DD.F" or "BB:DD.F", hex, nothing after it */
static int bar_dmabuf_parse_one(const char *s, struct bar_dmabuf_bdf *out)
{
	unsigned int dom = 0, bus, dev, fn;
	int n = -1;

	/* %x would also take a "0x" prefix: "03:00.0x" is not an address. */
	if (!*s || s[strspn(s, "0123456789abcdefABCDEF:.")])
		return -EINVAL;
	if (sscanf(s, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) != 4 ||
	    s[n]) {
		dom = 0;
		n = -1;
		if (sscanf(s, "%x:%x.%x%n", &bus, &dev, &fn, &n) != 3 || s[n])
			return -EINVAL;
	}
	/* domains above 0xffff exist (VMD); pci_domain_nr() is an int */
	if (dom > INT_MAX || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	out->domain = dom;
	out->bus = bus;
	out->devfn = PCI_DEVFN(dev, fn);
	return 0;
}

static int bar_dmabuf_parse_bdfs(void)
{
	char *copy, *cur, *tok;
	unsigned int i;
	int ret = 0;

	if (!bdf || !*bdf) {
		pr_err("no device given: load with bdf=DDDD:BB:DD.F[,...] (addresses as printed by lspci -D)\n");
		return -EINVAL;
	}
	copy = kstrdup(bdf, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	cur = copy;
	while ((tok = strsep(&cur, ",")) != NULL) {
		struct bar_dmabuf_bdf b;

		tok = strim(tok);
		if (bar_dmabuf_parse_one(tok, &b)) {
			pr_err("bdf=: \"%s\" is not a PCI address; write DDDD:BB:DD.F, e.g. 0000:03:00.0\n",
			       tok);
			ret = -EINVAL;
			goto out_free;
		}
		if (bar_dmabuf_nr_bdfs == BAR_DMABUF_MAX_DEVICES) {
			pr_err("bdf=: more than %d devices\n",
			       BAR_DMABUF_MAX_DEVICES);
			ret = -EINVAL;
			goto out_free;
		}
		for (i = 0; i < bar_dmabuf_nr_bdfs; i++) {
			if (!memcmp(&bar_dmabuf_bdfs[i], &b, sizeof(b))) {
				pr_err("bdf=: %s is listed twice\n", tok);
				ret = -EINVAL;
				goto out_free;
			}
		}
		bar_dmabuf_bdfs[bar_dmabuf_nr_bdfs++] = b;
	}
out_free:
	kfree(copy);
	return ret;
}

static int __init bar_dmabuf_init(void)
{
	int ret;

	ret = bar_dmabuf_parse_bdfs();
	if (ret)
		return ret;

	bar_dmabuf_debugfs_init();
	ret = bar_dmabuf_pci_register();
	if (ret)
		goto err_debugfs;
	return 0;

err_debugfs:
	bar_dmabuf_debugfs_exit();
	return ret;
}

static void __exit bar_dmabuf_exit(void)
{
	/* unbinds every device: each runs the removal revoke (rule 10) */
	bar_dmabuf_pci_unregister();
	bar_dmabuf_debugfs_exit();
}

module_init(bar_dmabuf_init);
module_exit(bar_dmabuf_exit);

MODULE_DESCRIPTION("Export PCI memory BARs as revocable dma-bufs");
MODULE_AUTHOR("bar-dmabuf developers");
MODULE_LICENSE("GPL");
BAR_DMABUF_COMPAT_IMPORT_NS_DMA_BUF();
