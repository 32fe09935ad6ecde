// SPDX-License-Identifier: GPL-2.0
/*
 * bar_dmabuf: DMA addresses of the BAR ranges for an importer's device.
 *
 * At attach time we decide how this importer's mappings are made, once:
 *
 *  - when pci_p2pdma_distance() accepts the path from our device to the
 *    importer's PCI function (a switch-local bus address, or a host bridge
 *    the P2P core trusts): where the kernel has per-BAR P2P providers
 *    (6.19+), the P2P path for a buffer of one range: the PCI bus address
 *    on a switch-local route, else an IOVA we link in the importer's
 *    IOMMU domain, or dma_map_phys() without one. That is what the
 *    kernel's dma_buf_phys_vec_to_sgt() does, but it allocates its state
 *    and its table on every map; ours live in the mapping's record. For
 *    other buffers, and on older kernels, dma_map_resource() of each
 *    range, which gives the importer an IOVA (IOMMU) or the CPU physical
 *    address (direct), routed through the host bridge. That is not the
 *    path the kernel proved when both devices sit below one switch with
 *    no ACS redirect between them (its PCI_P2PDMA_MAP_BUS_ADDR): the
 *    traffic would go up to a root complex nobody checked can forward it,
 *    or carry a CPU address where a bus address is needed. So that case is
 *    refused like an unproven one (-EXDEV unless allow_unproven_p2p=1);
 *  - otherwise (no CONFIG_PCI_P2PDMA as on Debian's 6.1, a host bridge not
 *    on the P2P list, an importer that is not a PCI function) the path
 *    cannot be proven, and the attach fails with -EXDEV unless the
 *    administrator set allow_unproven_p2p=1; then dma_map_resource().
 *
 * Either way an sg entry never reaches 4 GiB (sg_dma_len() is 32 bits);
 * long ranges are split by the dma_map_resource() path, and the P2P path
 * takes only a range that fits one entry. Unmap undoes exactly what map
 * did, as the mapping's record says: the P2P path's IOVA, dma_map_phys()
 * or nothing (a bus address); the other path entry by entry, each entry
 * being one dma_map_resource() of its own.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "bar_dmabuf.h"

/* largest sg entry: page aligned and below 4 GiB */
#define BAR_DMABUF_MAX_SEG	((size_t)ALIGN_DOWN(UINT_MAX, PAGE_SIZE))

/* Does the P2P path map @buf: one range, one sg entry long? */
static bool bar_dmabuf_p2p_fits(struct bar_dmabuf_buf *buf)
{
	return BAR_DMABUF_COMPAT_P2P && buf->nr_ranges == 1 &&
	       buf->phys[0].len <= BAR_DMABUF_MAX_SEG;
}

/*
 * Does @bridge redirect peer-to-peer requests upstream (ACS)? A failed
 * read counts as a redirect, as in the P2P core (it tests the ~0 read):
 * the host bridge route is the safe one for a bridge that went away.
 */
static bool bar_dmabuf_p2p_acs_redirects(struct pci_dev *bridge)
{
	int pos = pci_find_ext_capability(bridge, PCI_EXT_CAP_ID_ACS);
	u16 ctrl;

	if (!pos)
		return false;
	if (pci_read_config_word(bridge, pos + PCI_ACS_CTRL, &ctrl))
		return true;
	return ctrl & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_EC);
}

/*
 * The PCI function the P2P core judges for @dev: itself or its nearest
 * PCI parent (an RDMA or DRM device hangs below its function). The
 * importer holds @dev across attach, and a device holds its parent.
 */
static struct pci_dev *bar_dmabuf_p2p_pci_of(struct device *dev)
{
	while (dev && !dev_is_pci(dev))
		dev = dev->parent;
	return dev ? to_pci_dev(dev) : NULL;
}

/*
 * Would the kernel have @client reach @provider by PCI bus address: a
 * bridge upstream of both below the host bridge, and no ACS redirect on
 * either way up to it (PCI_P2PDMA_MAP_BUS_ADDR; pci_p2pdma_map_type() is
 * not exported)? The same walk as the P2P core's; a reference on each
 * device keeps its upstream bridges.
 */
static bool bar_dmabuf_p2p_switch_local(struct pci_dev *provider,
					struct pci_dev *client)
{
	struct pci_dev *a, *b;
	bool redirect = false;

	if (!client)
		return false;
	for (a = provider; a; a = pci_upstream_bridge(a)) {
		redirect |= bar_dmabuf_p2p_acs_redirects(a);
		for (b = client; b && b != a; b = pci_upstream_bridge(b))
			;
		if (b)
			break;
	}
	if (!a)
		return false;	/* only the host bridge above both */
	for (b = client; b != a; b = pci_upstream_bridge(b))
		redirect |= bar_dmabuf_p2p_acs_redirects(b);
	return !redirect;
}

/**
 * bar_dmabuf_p2p_attach() - choose how @battach's mappings are made
 * @buf: the buffer
 * @battach: the new attachment
 *
 * Caller holds the buffer's resv lock and has seen it not revoked. The
 * distance is computed in the device's P2P state, which devres frees
 * once remove() has returned; remove marks every buffer revoked under
 * that lock before it returns, so the state is alive here. No device
 * lock: an importer may hold its own locks across dma_buf_dynamic_attach()
 * and take them in its invalidate callback, which the revoke calls with
 * the device lock held.
 *
 * Return: 0, or -EXDEV when the P2P path cannot be proven, or is a
 * switch-local one our mapping would not take, and allow_unproven_p2p is
 * off (after a message naming the parameter).
 */
int bar_dmabuf_p2p_attach(struct bar_dmabuf_buf *buf,
			  struct bar_dmabuf_attach *battach)
{
	struct bar_dmabuf_dev *bdev = buf->bdev;
	struct device *dev = battach->attach->dev;
	struct p2pdma_provider *provider = bdev->providers[buf->bar];
	bool switch_local;
	int dist;

	dma_resv_assert_held(buf->dmabuf->resv);

	dist = bar_dmabuf_compat_p2p_distance(bdev->pdev, dev);

	battach->path = BAR_DMABUF_PATH_RESOURCE;
	battach->route = BAR_DMABUF_ROUTE_UNPROVEN;
	if (dist >= 0) {
		switch_local = bar_dmabuf_p2p_switch_local(bdev->pdev,
							   bar_dmabuf_p2p_pci_of(dev));
		battach->route = switch_local ? BAR_DMABUF_ROUTE_SWITCH :
						BAR_DMABUF_ROUTE_HOST_BRIDGE;
		/* the kernel maps by bus address for a PCI device only */
		if (provider && dev_is_pci(dev) && bar_dmabuf_p2p_fits(buf)) {
			battach->path = BAR_DMABUF_PATH_HELPER;
			return 0;
		}
		if (battach->route == BAR_DMABUF_ROUTE_HOST_BRIDGE)
			return 0;
		if (READ_ONCE(bar_dmabuf_allow_unproven_p2p)) {
			dev_info_once(dev,
				      "%s: reaches the BAR through a switch, but our mapping goes through the host bridge; mapping anyway (allow_unproven_p2p=1)\n",
				      bdev->name);
			return 0;
		}
		dev_warn_ratelimited(dev,
				     "%s buffer %u: this device reaches the BAR by bus address through a PCIe switch, but the buffer can only be mapped through the host bridge (%s), which nobody proved forwards peer-to-peer; an administrator who knows it does can load bar_dmabuf with allow_unproven_p2p=1\n",
				     bdev->name, buf->id,
				     BAR_DMABUF_COMPAT_P2P ?
				     "several ranges, one of 4 GiB or more, or not a PCI function" :
				     "this kernel has no P2P providers");
		return -EXDEV;
	}
	if (READ_ONCE(bar_dmabuf_allow_unproven_p2p)) {
		dev_info_once(dev,
			      "%s: P2P path to this device not proven; mapping anyway (allow_unproven_p2p=1)\n",
			      bdev->name);
		return 0;
	}
	dev_warn_ratelimited(dev,
			     "%s buffer %u: cannot prove a P2P path from the BAR to this device (kernel without CONFIG_PCI_P2PDMA, host bridge not on the P2P list, or not a PCI device); an administrator who knows it works can load bar_dmabuf with allow_unproven_p2p=1\n",
			     bdev->name, buf->id);
	return -EXDEV;
}

static unsigned int bar_dmabuf_p2p_nents(struct bar_dmabuf_buf *buf)
{
	unsigned int n = 0;
	u32 i;

	for (i = 0; i < buf->nr_ranges; i++)
		n += DIV_ROUND_UP(buf->phys[i].len, BAR_DMABUF_MAX_SEG);
	return n;
}

/* undo the first @done entries of a table made by bar_dmabuf_p2p_map_res */
static void bar_dmabuf_p2p_unmap_res(struct device *dev, struct sg_table *sgt,
				     unsigned int done,
				     enum dma_data_direction dir)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sg(sgt->sgl, sg, done, i)
		dma_unmap_resource(dev, sg_dma_address(sg), sg_dma_len(sg),
				   dir, BAR_DMABUF_COMPAT_MMIO_ATTRS);
}

/* The table of the record @m: its own entry when one is enough. */
static int bar_dmabuf_p2p_table(struct bar_dmabuf_map *m, unsigned int nents)
{
	if (nents > 1)
		return sg_alloc_table(&m->table, nents, GFP_KERNEL);
	sg_init_table(&m->sg, 1);
	m->table.sgl = &m->sg;
	m->table.nents = 1;
	m->table.orig_nents = 1;
	return 0;
}

static void bar_dmabuf_p2p_free_table(struct bar_dmabuf_map *m)
{
	if (m->table.sgl != &m->sg)
		sg_free_table(&m->table);
}

static struct sg_table *bar_dmabuf_p2p_map_res(struct bar_dmabuf_buf *buf,
					       struct device *dev,
					       struct bar_dmabuf_map *m)
{
	unsigned int nents = bar_dmabuf_p2p_nents(buf), done = 0;
	enum dma_data_direction dir = m->dir;
	struct sg_table *sgt = &m->table;
	struct scatterlist *sg;
	int ret;
	u32 i;

	ret = bar_dmabuf_p2p_table(m, nents);
	if (ret)
		return ERR_PTR(ret);

	sg = sgt->sgl;
	for (i = 0; i < buf->nr_ranges; i++) {
		phys_addr_t phys = buf->phys[i].paddr;
		size_t left = buf->phys[i].len;

		while (left) {
			size_t len = min(left, BAR_DMABUF_MAX_SEG);
			dma_addr_t addr;

			addr = dma_map_resource(dev, phys, len, dir,
						BAR_DMABUF_COMPAT_MMIO_ATTRS);
			if (dma_mapping_error(dev, addr)) {
				ret = -ENOMEM;
				goto err_unmap;
			}
			/* no CPU side: importers get DMA addresses only */
			sg_set_page(sg, NULL, 0, 0);
			sg_dma_address(sg) = addr;
			sg_dma_len(sg) = len;
			sg = sg_next(sg);
			done++;
			phys += len;
			left -= len;
		}
	}
	sgt->nents = nents;
	return sgt;

err_unmap:
	bar_dmabuf_p2p_unmap_res(dev, sgt, done, dir);
	bar_dmabuf_p2p_free_table(m);
	return ERR_PTR(ret);
}

/* The P2P path: one range, one entry, the table in the record (@m). */
static struct sg_table *bar_dmabuf_p2p_map_one(struct bar_dmabuf_buf *buf,
					       struct bar_dmabuf_attach *battach,
					       struct bar_dmabuf_map *m)
{
	struct sg_table *sgt = &m->table;
	dma_addr_t addr;
	int ret;

	ret = bar_dmabuf_compat_p2p_map(battach->attach->dev,
					buf->bdev->providers[buf->bar],
					battach->route == BAR_DMABUF_ROUTE_SWITCH,
					buf->phys[0].paddr, buf->phys[0].len,
					m->dir, &m->p2p, &addr);
	if (ret)
		return ERR_PTR(ret);
	bar_dmabuf_p2p_table(m, 1);
	/* no CPU side: importers get DMA addresses only */
	sg_dma_address(&m->sg) = addr;
	sg_dma_len(&m->sg) = buf->phys[0].len;
	return sgt;
}

/**
 * bar_dmabuf_p2p_map() - map the buffer for an attachment
 * @buf: the buffer
 * @battach: the attachment, its path chosen at attach
 * @m: the mapping's record, its @dir set; it gets the table
 *
 * Called with the resv lock held.
 *
 * Return: the table or an ERR_PTR.
 */
struct sg_table *bar_dmabuf_p2p_map(struct bar_dmabuf_buf *buf,
				    struct bar_dmabuf_attach *battach,
				    struct bar_dmabuf_map *m)
{
	if (battach->path == BAR_DMABUF_PATH_HELPER)
		return bar_dmabuf_p2p_map_one(buf, battach, m);
	return bar_dmabuf_p2p_map_res(buf, battach->attach->dev, m);
}

/**
 * bar_dmabuf_p2p_unmap() - release exactly what bar_dmabuf_p2p_map() made
 * @buf: the buffer
 * @battach: the attachment
 * @m: the mapping's record
 *
 * Takes no lock (see bar_dmabuf_unmap()).
 */
void bar_dmabuf_p2p_unmap(struct bar_dmabuf_buf *buf,
			  struct bar_dmabuf_attach *battach,
			  struct bar_dmabuf_map *m)
{
	struct device *dev = battach->attach->dev;

	if (battach->path == BAR_DMABUF_PATH_HELPER) {
		bar_dmabuf_compat_p2p_unmap(dev, &m->p2p,
					    sg_dma_address(&m->sg),
					    buf->phys[0].len, m->dir);
		return;
	}
	bar_dmabuf_p2p_unmap_res(dev, &m->table, m->table.nents, m->dir);
	bar_dmabuf_p2p_free_table(m);
}
